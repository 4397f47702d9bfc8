"""Compact writers for Open Ephys (legacy and binary) and SpikeGLX files, following the published
layouts (Open Ephys gui-docs "Open Ephys format" / "Binary format", SpikeGLX Metadata_30).

They share no code with the readers under test: byte layouts are spelled out here with struct.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

# -- legacy Open Ephys ----------------------------------------------------------------------------
LEGACY_RECORD_SAMPLES = 1024


def legacy_header(channel: str, sample_rate: float, bit_volts: float) -> bytes:
    lines = [
        "header.format = 'Open Ephys Data Format';",
        "header.version = 0.4;",
        "header.header_bytes = 1024;",
        ("header.description = 'each record contains one 64-bit timestamp, one 16-bit sample count (N), "
         "1 uint16 recordingNumber, N 16-bit samples, and one 10-byte record marker (0 1 2 3 4 5 6 7 8 255)';"),
        "header.date_created = '15-Jun-2024 101010';",
        f"header.channel = '{channel}';",
        "header.channelType = 'Continuous';",
        f"header.sampleRate = {sample_rate:g};",
        "header.blockLength = 1024;",
        "header.bufferSize = 1024;",
        f"header.bitVolts = {bit_volts!r};",
    ]
    text = "\n".join(lines).encode("ascii")
    return text + b" " * (1024 - len(text))


def write_legacy_channel(path: Path, samples: np.ndarray, timestamps: list[int], recordings: list[int],
                         sample_rate: float, bit_volts: float, channel: str) -> None:
    """One `.continuous` file: header, then per record <q H H, 1024 x >h, marker."""
    with open(path, "wb") as handle:
        handle.write(legacy_header(channel, sample_rate, bit_volts))
        for k, (stamp, number) in enumerate(zip(timestamps, recordings)):
            block = samples[k * LEGACY_RECORD_SAMPLES:(k + 1) * LEGACY_RECORD_SAMPLES]
            handle.write(struct.pack("<qHH", stamp, LEGACY_RECORD_SAMPLES, number))
            handle.write(struct.pack(">1024h", *[int(v) for v in block]))
            handle.write(bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 255]))


def write_legacy_recording(folder: Path, data: np.ndarray, timestamps: list[int] | None = None,
                           recordings: list[int] | None = None, processor: str = "100",
                           sample_rate: float = 30000.0, bit_volts: list[float] | None = None,
                           kinds: list[str] | None = None, suffix: str = "") -> list[Path]:
    """Channel files `<processor>_<kind><n><suffix>.continuous` plus a settings `.openephys` file.

    `data` is (n_records * 1024, n_channels) int16; `kinds` names each channel (e.g. 'CH1', 'AUX1').
    """
    folder.mkdir(parents=True, exist_ok=True)
    n_records = len(data) // LEGACY_RECORD_SAMPLES
    timestamps = timestamps if timestamps is not None else [k * 1024 for k in range(n_records)]
    recordings = recordings if recordings is not None else [0] * n_records
    n_channels = data.shape[1]
    bit_volts = bit_volts or [0.195] * n_channels
    kinds = kinds or [f"CH{c + 1}" for c in range(n_channels)]
    paths = []
    for c in range(n_channels):
        path = folder / f"{processor}_{kinds[c]}{suffix}.continuous"
        write_legacy_channel(path, data[:, c], timestamps, recordings, sample_rate, bit_volts[c], kinds[c])
        paths.append(path)
    channels = "".join(f'<CHANNEL name="{k}" bitVolts="{b!r}" filename="{p.name}" position="0"/>'
                       for k, b, p in zip(kinds, bit_volts, paths))
    (folder / f"Continuous_Data{suffix}.openephys").write_text(
        f'<?xml version="1.0"?><EXPERIMENT format_version="0.4"><RECORDING number="1" samplerate="{sample_rate:g}">'
        f'<PROCESSOR id="{processor}">{channels}</PROCESSOR></RECORDING></EXPERIMENT>')
    return paths


# -- Open Ephys binary ----------------------------------------------------------------------------
def write_binary_recording(recording_dir: Path, streams: list[dict], version: str = "0.6.7") -> Path:
    """`structure.oebin` + `continuous/<folder>/continuous.dat` (+ sample numbers) per stream.

    Each stream dict: folder, data (n, c) int16, bit_volts (list), sample_rate, first_sample,
    units (list, optional). Before 0.6 the sample numbers go in timestamps.npy (int64); from 0.6
    in sample_numbers.npy, with timestamps.npy in seconds.
    """
    entries = []
    for stream in streams:
        data = np.asarray(stream["data"], dtype=np.int16)
        folder = recording_dir / "continuous" / stream["folder"]
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "continuous.dat", "wb") as handle:
            handle.writelines(struct.pack(f"<{len(row)}h", *[int(v) for v in row]) for row in data)
        numbers = stream["first_sample"] + np.arange(len(data), dtype=np.int64)
        if version.startswith(("0.4", "0.5")):
            np.save(folder / "timestamps.npy", numbers)
        else:
            np.save(folder / "sample_numbers.npy", numbers)
            np.save(folder / "timestamps.npy", numbers / float(stream["sample_rate"]))
        units = stream.get("units") or ["uV"] * data.shape[1]
        names = stream.get("names") or [f"CH{c + 1}" for c in range(data.shape[1])]
        entries.append({
            "folder_name": stream["folder"] + "/",
            "sample_rate": stream["sample_rate"],
            "source_processor_name": "Acquisition Board",
            "source_processor_id": 100,
            "stream_name": stream["folder"].split(".")[-1],
            "recorded_processor": "Record Node",
            "recorded_processor_id": 101,
            "num_channels": data.shape[1],
            "channels": [{"channel_name": n, "description": "headstage data channel", "identifier": "genericdata.continuous",
                          "history": "Acquisition Board -> Record Node", "bit_volts": b, "units": u,
                          "source_processor_index": i, "recorded_processor_index": i}
                         for i, (n, b, u) in enumerate(zip(names, stream["bit_volts"], units))],
        })
    recording_dir.mkdir(parents=True, exist_ok=True)
    oebin = recording_dir / "structure.oebin"
    oebin.write_text(json.dumps({"GUI version": version, "continuous": entries, "events": [], "spikes": []},
                                indent=4))
    return oebin


# -- SpikeGLX -------------------------------------------------------------------------------------
def write_spikeglx(bin_path: Path, data: np.ndarray, meta: dict[str, str]) -> Path:
    """`.bin` (int16 LE interleaved) and its `.meta` (key=value lines, fileSizeBytes filled in)."""
    bin_path.parent.mkdir(parents=True, exist_ok=True)
    with open(bin_path, "wb") as handle:
        rows = np.asarray(data, dtype=np.int16)
        handle.writelines(struct.pack(f"<{len(row)}h", *[int(v) for v in row]) for row in rows)
    meta = {"fileSizeBytes": str(bin_path.stat().st_size), **meta}
    meta.setdefault("fileName", f"D:/data/{bin_path.name}")
    lines = [f"{k}={v}" for k, v in meta.items()]
    bin_path.with_suffix(".meta").write_text("\n".join(lines) + "\n")
    return bin_path


def np1_meta(n_channels: int, ap_gains: list[int], lf_gains: list[int], kind: str = "ap",
             first_sample: int = 0, rate: float | None = None, im_max_int: int | None = None) -> dict[str, str]:
    """Neuropixels 1.0 imec metadata: `n_channels` electrodes + the SY word."""
    rate = rate or (30000.0 if kind == "ap" else 2500.0)
    imro = f"(0,{n_channels})" + "".join(
        f"({c} 0 0 {ap_gains[c]} {lf_gains[c]} 1)" for c in range(n_channels))
    prefix = "AP" if kind == "ap" else "LF"
    base = 0 if kind == "ap" else n_channels
    chan_map = f"({n_channels},{n_channels},1)" + "".join(
        f"({prefix}{c};{base + c}:{base + c})" for c in range(n_channels)) + f"(SY0;{2 * n_channels}:{2 * n_channels})"
    meta = {
        "typeThis": "imec",
        "imDatPrb_type": "0",
        "imDatPrb_pn": "NP1000",
        "imAiRangeMax": "0.6",
        "imAiRangeMin": "-0.6",
        "imSampRate": f"{rate:g}",
        "nSavedChans": str(n_channels + 1),
        "snsApLfSy": f"{n_channels},0,1" if kind == "ap" else f"0,{n_channels},1",
        "snsSaveChanSubset": "all",
        "firstSample": str(first_sample),
        "~imroTbl": imro,
        "~snsChanMap": chan_map,
    }
    if im_max_int is not None:
        meta["imMaxInt"] = str(im_max_int)
    return meta


def nidq_meta(mn: int, ma: int, xa: int, dw: int, first_sample: int = 0) -> dict[str, str]:
    names = ([f"MN{i}" for i in range(mn)] + [f"MA{i}" for i in range(ma)] + [f"XA{i}" for i in range(xa)]
             + [f"XD{i}" for i in range(dw)])
    total = mn + ma + xa + dw
    return {
        "typeThis": "nidq",
        "niSampRate": "25000",
        "niAiRangeMax": "5",
        "niAiRangeMin": "-5",
        "niMNGain": "200",
        "niMAGain": "2",
        "nSavedChans": str(total),
        "snsMnMaXaDw": f"{mn},{ma},{xa},{dw}",
        "snsSaveChanSubset": "all",
        "firstSample": str(first_sample),
        "niXDChans1": "0:7",
        "~snsChanMap": f"({mn},{ma},{xa},{dw},{total})" + "".join(f"({n};{i}:{i})" for i, n in enumerate(names)),
    }
