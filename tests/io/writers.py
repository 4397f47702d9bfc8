"""Writers that follow the published layouts, independent of the readers under test."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np


def write_mcs_raw(path: Path, data: np.ndarray, sampling_rate: float = 25000, adc_zero: int = 32768,
                  gain_line: str = "El = 0.1000µV/AD", names: Sequence[str] | None = None,
                  magic: bool = True, end: bytes = b"EOH\r\n") -> Path:
    """An MC_DataTool export: cp1252 CRLF header closed by EOH, then interleaved samples."""
    names = list(names) if names is not None else [f"El_{k + 1:02d}" for k in range(data.shape[1])]
    lines = ["MC_DataTool binary conversion"] if magic else []
    lines += ["Version 2.6.15", 'MC_REC file = "C:\\Data\\slice1.mcd"', f"Sample rate = {sampling_rate:g}",
              f"ADC zero = {adc_zero}", gain_line, "Streams = " + ";".join(names)]
    header = "".join(line + "\r\n" for line in lines).encode("cp1252") + end
    with open(path, "wb") as handle:
        handle.write(header)
        handle.writelines(row.astype(data.dtype.newbyteorder("<")).tobytes() for row in data)
    return path


def write_kwd(path: Path, recordings: Sequence[np.ndarray], sample_rate: float = 30000.0,
              bit_volts: Sequence[float] | None = None, start_samples: Sequence[int] | None = None,
              start_times: Sequence[int] | None = None, with_rate: bool = True) -> Path:
    """A Kwik raw data file as the Open Ephys KWD writer lays it out (recordings/<n>/...)."""
    with h5py.File(path, "w") as handle:
        handle.attrs["kwik_version"] = np.uint16(2)
        for number, data in enumerate(recordings):
            group = handle.create_group(f"recordings/{number}")
            group.attrs["name"] = f"Open Ephys Recording {number}"
            if start_times is not None:
                group.attrs["start_time"] = np.uint64(start_times[number])
            if start_samples is not None:
                group.attrs["start_sample"] = np.uint32(start_samples[number])
            if with_rate:
                group.attrs["sample_rate"] = np.float32(sample_rate)
            group.attrs["bit_depth"] = np.uint32(16)
            app = group.create_group("application_data")
            if bit_volts is not None:
                app.attrs["channel_bit_volts"] = np.asarray(bit_volts, dtype=np.float32)
            app.attrs["is_multiSampleRate_data"] = np.uint8(0)
            app.attrs["channel_sample_rates"] = np.full(data.shape[1], sample_rate, dtype=np.float32)
            group.create_dataset("data", data=data.astype(np.int16), chunks=(256, data.shape[1]),
                                 maxshape=(None, data.shape[1]))
    return path
