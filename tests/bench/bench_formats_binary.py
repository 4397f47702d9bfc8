"""Intan RHD2000 and Blackrock NSx: open a 10-minute, 384-channel file and read 1 s from the middle.

Run: python -m tests.bench.bench_formats_binary [--minutes 10] [--channels 384]
The files are sparse (truncate) behind real headers, so they cost no disk and no time to make;
the reads measure the reader (block layout, mapping, slicing, scaling), not the disk.
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import tempfile
import time
from pathlib import Path

import numpy as np

from app.io import open_datafile, supported_formats
from tests.io.writers_binary import rhd_header, write_nsx

RATE = 30000


def make_rhd(folder: Path, channels: int, samples: int) -> Path:
    """Version 2.0: 128-sample blocks of timestamps, amplifier, 3 aux, 1 supply voltage."""
    path = folder / "bench.rhd"
    header = rhd_header((2, 0), float(RATE), channels, aux=3, supply=1)
    block_bytes = 128 * 4 + channels * 128 * 2 + 3 * 32 * 2 + 2
    with open(path, "wb") as handle:
        handle.write(header)
        handle.truncate(len(header) + (samples // 128) * block_bytes)
    return path


def make_nsx(folder: Path, channels: int, samples: int) -> Path:
    """Spec 2.3, one data packet announcing `samples` samples."""
    path = folder / "bench.ns6"
    write_nsx(path, [(0, np.zeros((1, channels), np.int16))], (2, 3))
    packet = 314 + 66 * channels
    with open(path, "r+b") as handle:
        handle.seek(packet + 1 + 4)
        handle.write(struct.pack("<I", samples))
        handle.truncate(packet + 9 + samples * channels * 2)
    return path


def measure(path: Path, file_format: str, repeats: int = 5) -> dict:
    started = time.perf_counter()
    datafile = open_datafile(str(path), file_format=file_format)
    opened = time.perf_counter() - started
    middle = datafile.duration // 2
    times = []
    for k in range(repeats):
        start = middle + k * 3 * RATE           # a new window each time: no reuse of the last read
        started = time.perf_counter()
        data = datafile.read_range(start, start + RATE)
        times.append(time.perf_counter() - started)
    datafile.close()
    return {"open": opened, "first": times[0], "median": statistics.median(times), "shape": data.shape,
            "size": os.path.getsize(path)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--channels", type=int, default=384)
    args = parser.parse_args()
    samples = int(args.minutes * 60 * RATE) // 128 * 128
    supported_formats()                          # the registry's one-time import is not the open time
    with tempfile.TemporaryDirectory(prefix="wavescope-bench-") as folder:
        for name, make in (("rhd", make_rhd), ("blackrock", make_nsx)):
            path = make(Path(folder), args.channels, samples)
            result = measure(path, name)
            print(f"{name:10s} {args.channels} ch x {args.minutes:g} min ({result['size'] / 2**30:.1f} GiB sparse): "
                  f"open {result['open'] * 1e3:.1f} ms; read 1 s x all channels from the middle "
                  f"{result['shape']}: first {result['first'] * 1e3:.1f} ms, "
                  f"median of 5 {result['median'] * 1e3:.1f} ms")
            path.unlink()


if __name__ == "__main__":
    main()
