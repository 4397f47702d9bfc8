"""Benchmark: open an NWB file and read 1 s x all channels from its middle.

The file is written with h5py in the NWB layout (an ElectricalSeries under /acquisition with a
chunked int16 ``data`` dataset, conversion, offset and starting_time/rate), because pynwb takes
far longer to write gigabytes. Run on purpose, not in CI:

    .venv/bin/python tests/bench/bench_formats_hdf5.py                 # 10 min, 384 ch, 30 kHz
    .venv/bin/python tests/bench/bench_formats_hdf5.py --minutes 1 --keep /tmp/bench.nwb

Prints the write time (for context), the open time and the read times. Numbers depend on the
page cache: the file was just written, so part of it may still be in memory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import h5py
import numpy as np

from app.io import open_datafile


def write_nwb(path: str, n_samples: int, n_channels: int, rate: float, chunks: tuple[int, int]) -> None:
    """An NWB-shaped file, written one second at a time (a shifted noise block, cheap to make)."""
    rng = np.random.default_rng(0)
    block = rng.integers(-200, 200, (int(rate), n_channels), dtype=np.int16)
    with h5py.File(path, "w") as h5file:
        h5file.attrs["nwb_version"] = "2.7.0"
        h5file.attrs["neurodata_type"] = "NWBFile"
        series = h5file.create_group("acquisition/ElectricalSeries")
        series.attrs["neurodata_type"] = "ElectricalSeries"
        data = series.create_dataset("data", shape=(n_samples, n_channels), dtype=np.int16, chunks=chunks)
        data.attrs.update({"conversion": 1.95e-7, "offset": 0.0, "resolution": -1.0, "unit": "volts"})
        start = series.create_dataset("starting_time", data=0.0)
        start.attrs.update({"rate": rate, "unit": "seconds"})
        step = int(rate)
        for k, t in enumerate(range(0, n_samples, step)):
            count = min(step, n_samples - t)
            data[t:t + count] = np.roll(block, k, axis=0)[:count]


def bench(path: str, rate: float, repeats: int) -> None:
    open_times = []
    for _ in range(2):               # the first open also loads the format registry
        begin = time.perf_counter()
        datafile = open_datafile(path, {}, "nwb")
        datafile.open()
        open_times.append(time.perf_counter() - begin)
    middle = datafile.duration // 2
    one_second = int(rate)
    begin = time.perf_counter()
    datafile.read_range(middle, middle + one_second)
    first_read = time.perf_counter() - begin
    times, subset_times = [], []
    for k in range(1, repeats + 1):
        start = min(middle + (k - repeats // 2 - 1) * one_second + 7, datafile.duration - one_second)
        begin = time.perf_counter()
        chunk = datafile.read_range(start, start + one_second)
        times.append(time.perf_counter() - begin)
        begin = time.perf_counter()
        datafile.read_range(start, start + one_second, nodes=np.arange(0, datafile.nb_channels, 12)[::-1])
        subset_times.append(time.perf_counter() - begin)
    datafile.close()
    print(f"file: {path} ({os.path.getsize(path) / 2**30:.2f} GiB), shape {datafile.shape}")
    print(f"open (construct + open), 1st/2nd:  {open_times[0] * 1e3:8.1f} ms / {open_times[1] * 1e3:.1f} ms")
    print(f"first read, 1 s x all channels:    {first_read * 1e3:8.1f} ms  -> {chunk.shape} float32")
    print(f"median of {repeats} reads, 1 s x all ch:  {statistics.median(times) * 1e3:8.1f} ms")
    print(f"median, 1 s x every 12th ch (rev): {statistics.median(subset_times) * 1e3:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--channels", type=int, default=384)
    parser.add_argument("--rate", type=float, default=30000.0)
    parser.add_argument("--chunks", default="8192,64", help="HDF5 chunk shape (samples,channels)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", help="write the file here and keep it (default: a temporary file)")
    args = parser.parse_args()
    chunks = tuple(int(v) for v in args.chunks.split(","))
    n_samples = int(args.minutes * 60 * args.rate)
    folder = None if args.keep else tempfile.mkdtemp(prefix="wavescope-bench-")
    path = args.keep or os.path.join(folder, "bench.nwb")
    try:
        if not os.path.exists(path):
            begin = time.perf_counter()
            write_nwb(path, n_samples, args.channels, args.rate, chunks)
            print(f"write {args.minutes:g} min x {args.channels} ch (chunks {chunks}): "
                  f"{time.perf_counter() - begin:.1f} s")
        bench(path, args.rate, args.repeats)
    finally:
        if folder is not None:
            if os.path.exists(path):
                os.remove(path)
            os.rmdir(folder)


if __name__ == "__main__":
    main()
