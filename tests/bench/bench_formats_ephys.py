"""SpikeGLX and Open Ephys binary: open a 10-minute, 384-channel recording and read 1 s from the middle.

Run: python -m tests.bench.bench_formats_ephys [--minutes 10] [--channels 384]
The sample files are sparse (truncate) behind real headers, so they cost no disk and no time to
make; the reads therefore measure the reader (mapping, slicing, scaling), not the disk.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from tests.io.writers_ephys import np1_meta, write_binary_recording, write_spikeglx

RATE = 30000


def make_spikeglx(folder: Path, channels: int, samples: int) -> Path:
    path = write_spikeglx(folder / "bench_g0_t0.imec0.ap.bin", np.zeros((1, channels + 1), np.int16),
                          np1_meta(channels, [500] * channels, [250] * channels))
    size = (channels + 1) * 2 * samples
    with open(path, "r+b") as handle:
        handle.truncate(size)
    meta = path.with_suffix(".meta")
    lines = [f"fileSizeBytes={size}" if line.startswith("fileSizeBytes=") else line
             for line in meta.read_text().splitlines()]
    meta.write_text("\n".join(lines) + "\n")
    return path


def make_openephys_binary(folder: Path, channels: int, samples: int) -> Path:
    stream = {"folder": "Neuropix-PXI-100.ProbeA-AP", "data": np.zeros((1, channels), np.int16),
              "bit_volts": [0.195] * channels, "sample_rate": float(RATE), "first_sample": 0}
    oebin = write_binary_recording(folder / "Record Node 101" / "experiment1" / "recording1", [stream])
    with open(oebin.parent / "continuous" / stream["folder"] / "continuous.dat", "r+b") as handle:
        handle.truncate(channels * 2 * samples)
    return oebin


def measure(path: Path, file_format: str, repeats: int) -> dict[str, float]:
    from app.io import open_datafile

    start = time.perf_counter()
    datafile = open_datafile(str(path), {}, file_format).open()
    opened = time.perf_counter() - start
    middle = datafile.duration // 2
    timings, subset = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        block = datafile.read_range(middle, middle + RATE)
        timings.append(time.perf_counter() - start)
        start = time.perf_counter()
        datafile.read_range(middle, middle + RATE, nodes=np.arange(0, datafile.nb_channels, 12))
        subset.append(time.perf_counter() - start)
    assert block.shape == (RATE, datafile.nb_channels)
    datafile.close()
    return {"open_ms": opened * 1e3, "read_1s_all_first_ms": timings[0] * 1e3,
            "read_1s_all_median_ms": statistics.median(timings) * 1e3,
            "read_1s_32ch_median_ms": statistics.median(subset) * 1e3,
            "channels": datafile.nb_channels, "duration_s": datafile.duration / RATE}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--channels", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    samples = int(args.minutes * 60 * RATE)
    from app.io import supported_formats
    supported_formats()                       # load the registry once, outside the timings
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "sglx").mkdir()
        results["spikeglx"] = measure(make_spikeglx(root / "sglx", args.channels, samples), "spikeglx",
                                      args.repeats)
        results["openephys_binary"] = measure(make_openephys_binary(root / "oe", args.channels, samples),
                                              "openephys_binary", args.repeats)
    for name, numbers in results.items():
        print(f"{name:17s} {numbers['channels']} ch x {numbers['duration_s']:.0f} s: "
              f"open {numbers['open_ms']:.1f} ms, 1 s x all channels from the middle "
              f"{numbers['read_1s_all_first_ms']:.1f} ms first / {numbers['read_1s_all_median_ms']:.1f} ms "
              f"median, 1 s x every 12th channel {numbers['read_1s_32ch_median_ms']:.1f} ms median")
    return results


if __name__ == "__main__":
    main()
