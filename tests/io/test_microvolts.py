"""Every reader returns µV: a sine of known amplitude in µV, written in each format with its
scaling stated in V, mV or µV (both mu characters where the format's text encoding has them),
reads back as the same µV values.

The writers are the shared test writers (the vendors' layouts, spelled out with struct / numpy /
h5py); the unit factors below are written out here, independent of app/io/units.py. NIX (neo's
NixIO in V / mV / µV) is in test_nix.py; the Open Ephys GUI's NWB files in test_nwb_producers.py.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from app.io import open_datafile
from tests.io.writers import write_mcs_raw
from tests.io.writers_binary import write_nsx
from tests.io.writers_ephys import write_binary_recording
from tests.io.writers_more2 import write_edf, write_mcs_h5, write_smr

MICRO_SIGN, GREEK_MU = "\u00b5V", "\u03bcV"
UV_PER = {"V": 1e6, "volts": 1e6, "mV": 1e3, "uV": 1.0, MICRO_SIGN: 1.0, GREEK_MU: 1.0}
N = 2000
RATE = 20000.0
AMPLITUDES_UV = np.array([150.0, 60.0])


def counts(step_uv: float) -> np.ndarray:
    """(N, 2) integer samples of a 100 Hz sine of AMPLITUDES_UV µV at `step_uv` µV per count."""
    sine = np.sin(2 * np.pi * 100 * np.arange(N) / RATE)[:, None] * AMPLITUDES_UV
    return np.round(sine / step_uv).astype(np.int64)


def write_edf_file(tmp_path: Path, unit: str) -> tuple[str, np.ndarray]:
    step_uv = 0.5                                         # 16000 µV over 32000 counts
    digital = counts(step_uv)
    top = 16000.0 / UV_PER[unit]
    signals = [{"label": f"ch{k}", "unit": unit, "pmin": -top, "pmax": top, "dmin": -32000, "dmax": 32000,
                "digital": digital[:, k]} for k in range(2)]
    path = write_edf(tmp_path / "rec.edf", signals, record_duration=0.1, nb_records=N // 2000)
    return str(path), digital * step_uv


def write_nsx_file(tmp_path: Path, unit: str) -> tuple[str, np.ndarray]:
    analog = round(8000 / UV_PER[unit]) or 1               # whole numbers in the file's unit
    step_uv = 2 * analog * UV_PER[unit] / 64000
    digital = counts(step_uv)
    path = write_nsx(tmp_path / "rec.ns5", [(0, digital.astype(np.int16))],
                     ranges=[((-32000, 32000), (-analog, analog), unit)] * 2)
    return path, digital * step_uv


def write_mcs_h5_file(tmp_path: Path, unit: str) -> tuple[str, np.ndarray]:
    exponent = {1e6: -7, 1e3: -4, 1.0: -1}[UV_PER[unit]]   # 5 x 10^exponent unit = 0.5 µV
    step_uv = 0.5
    digital = counts(step_uv)
    path = write_mcs_h5(tmp_path / "rec.h5", [{"data": digital.T.astype(np.int32), "tick": 50, "factor": 5,
                                                "exponent": exponent, "unit": unit}])
    return str(path), digital * step_uv


def write_smr_file(tmp_path: Path, unit: str) -> tuple[str, np.ndarray]:
    step_uv = 0.5
    scale = np.float32(step_uv / UV_PER[unit] * 6553.6)       # value = raw × scale / 6553.6
    digital = counts(step_uv)
    channels = [{"slot": k, "kind": 1, "title": f"ch{k}", "interval": 50, "scale": float(scale), "offset": 0.0,
                 "units": unit, "blocks": [(0, digital[:, k].astype(np.int16))]} for k in range(2)]
    path = write_smr(tmp_path / "rec.smr", channels, slots=2)
    return str(path), digital * (float(scale) / 6553.6 * UV_PER[unit])


def write_mcs_raw_file(tmp_path: Path, unit: str) -> tuple[str, np.ndarray]:
    step_uv = 0.5
    digital = counts(step_uv)
    gain = f"El = {step_uv / UV_PER[unit]:.10g}{unit}/AD"
    path = write_mcs_raw(tmp_path / "rec.raw", (digital + 32768).astype(np.uint16), sampling_rate=RATE,
                         gain_line=gain)
    return str(path), digital * step_uv


def write_oebin_file(tmp_path: Path, unit: str) -> tuple[str, np.ndarray]:
    step_uv = 0.195
    digital = counts(step_uv)
    oebin = write_binary_recording(tmp_path / "Record Node 101" / "experiment1" / "recording1", [{
        "folder": "Acquisition_Board-100.Rhythm Data", "data": digital, "sample_rate": RATE, "first_sample": 0,
        "bit_volts": [step_uv / UV_PER[unit]] * 2, "units": [unit] * 2}])
    return str(oebin), digital * step_uv


def write_arf_file(tmp_path: Path, unit: str) -> tuple[str, np.ndarray]:
    digital = counts(0.5)
    path = tmp_path / "rec.arf"
    with h5py.File(path, "w") as handle:
        handle.attrs["arf_library"] = "arf"
        handle.attrs["arf_version"] = "2.1"
        entry = handle.create_group("entry")
        entry.attrs["timestamp"] = np.array([1_600_000_000, 0], dtype=np.int64)
        entry.attrs["uuid"] = "00000000-0000-0000-0000-000000000000"
        for k in range(2):
            dataset = entry.create_dataset(f"pen{k}", data=digital[:, k] * 0.5 / UV_PER[unit])
            dataset.attrs.update({"units": unit, "sampling_rate": RATE, "datatype": 2})
    return str(path), digital * 0.5


def write_nwb_file(tmp_path: Path, unit: str) -> tuple[str, np.ndarray]:
    digital = counts(0.5)
    path = tmp_path / "rec.nwb"
    with h5py.File(path, "w") as handle:
        handle.attrs["nwb_version"] = "2.5.0"
        series = handle.create_group("acquisition/raw")
        series.attrs["neurodata_type"] = "ElectricalSeries"
        data = series.create_dataset("data", data=digital.astype(np.int16))
        data.attrs.update({"conversion": 0.5 / UV_PER[unit], "unit": unit})
        start = series.create_dataset("starting_time", data=0.0)
        start.attrs["rate"] = RATE
    return str(path), digital * 0.5


def write_hdf5_file(tmp_path: Path, unit: str) -> tuple[str, np.ndarray]:
    digital = counts(0.5)
    path = tmp_path / "rec.h5"
    with h5py.File(path, "w") as handle:
        handle["traces"] = digital * 0.5 / UV_PER[unit]
        handle["traces"].attrs.update({"unit": unit, "sampling_rate": RATE})
    return str(path), digital * 0.5


ASCII = ["V", "mV", "uV"]
WRITERS = {
    "edf": (write_edf_file, ASCII + [MICRO_SIGN]),               # latin-1 header: the micro sign only
    "blackrock": (write_nsx_file, ["mV", "uV"]),                 # whole-number ranges: no V
    "mcs_h5": (write_mcs_h5_file, ASCII + [MICRO_SIGN, GREEK_MU]),
    "spike2": (write_smr_file, ASCII + [MICRO_SIGN]),
    "mcs_raw_binary": (write_mcs_raw_file, ASCII + [MICRO_SIGN]),   # cp1252 header
    "openephys_binary": (write_oebin_file, ASCII + [MICRO_SIGN, GREEK_MU]),
    "arf": (write_arf_file, ASCII + ["volts", MICRO_SIGN, GREEK_MU]),
    "nwb": (write_nwb_file, ["volts", "mV", "uV", GREEK_MU]),
    "hdf5": (write_hdf5_file, ASCII + [MICRO_SIGN, GREEK_MU]),
}
NEEDS = {"mcs_raw_binary": {"data_dtype": "uint16"}}      # the export header does not name its sample type
CASES = [(name, unit) for name, (_, units) in WRITERS.items() for unit in units]


@pytest.mark.parametrize("file_format, unit", CASES, ids=[f"{f}-{u}" for f, u in CASES])
def test_reader_returns_microvolts(tmp_path, file_format, unit):
    writer, _ = WRITERS[file_format]
    path, expected_uv = writer(tmp_path, unit)
    df = open_datafile(path, dict(NEEDS.get(file_format, {})), file_format)
    values = df.read_range(0, N)[:, :2]
    np.testing.assert_allclose(values, expected_uv, rtol=1e-5, atol=1e-3)
    peak = np.abs(values).max(axis=0)
    assert np.all(np.abs(peak - AMPLITUDES_UV) <= 0.5 * max(float(np.abs(np.diff(expected_uv[:, 0])).min()), 1.0)
                  + AMPLITUDES_UV * 1e-3)
