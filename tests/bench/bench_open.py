"""Opening a 100 GB raw file and reading one window: cost follows the window, not the file.

Run: python -m tests.bench.bench_open [--size-gb 100] [--channels 384]
Prints the `wavescope info` wall time (a fresh process), the in-process open time, and for a
1 s x all-channels read from the middle: time, bytes returned and pages the process faulted in.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def file_pages_resident() -> int:
    """Pages of mapped files resident in this process (Linux RssFile), a measure of what was touched."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssFile:"):
                return int(line.split()[1]) // 4
    return -1


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-gb", type=float, default=100)
    parser.add_argument("--channels", type=int, default=384)
    parser.add_argument("--rate", type=float, default=30000)
    args = parser.parse_args(argv)
    from app.io import open_datafile

    frame = args.channels * 2
    size = int(args.size_gb * 1e9) // frame * frame
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "huge.dat")
        with open(path, "wb") as handle:
            handle.truncate(size)                      # sparse: no disk used
        sets = ["--set", f"nb_channels={args.channels}", "--set", "data_dtype=int16",
                "--set", f"sampling_rate={args.rate}"]
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "app", "info", path, "--format", "raw_binary", *sets],
                       check=True, capture_output=True)
        results["info_process_s"] = time.perf_counter() - start

        start = time.perf_counter()
        df = open_datafile(path, {"nb_channels": args.channels, "data_dtype": "int16",
                                  "sampling_rate": args.rate}, "raw_binary")
        results["open_s"] = time.perf_counter() - start
        window = int(args.rate)
        middle = df.duration // 2
        df.read_range(0, 1)                            # open the memmap outside the measurement
        faults = file_pages_resident()
        start = time.perf_counter()
        data = df.read_range(middle, middle + window)
        results["read_1s_ms"] = (time.perf_counter() - start) * 1e3
        touched = file_pages_resident() - faults
        results["bytes_in_window"] = window * frame
        results["pages_in_window"] = -(-window * frame // 4096)
        results["pages_faulted"] = touched
        results["result_shape"] = data.shape
        df.close()
    print(f"file: {size / 1e9:.1f} GB sparse raw, {args.channels} ch int16 at {args.rate:g} Hz")
    print(f"wavescope info (new process): {results['info_process_s'] * 1e3:.0f} ms")
    print(f"open_datafile in process:     {results['open_s'] * 1e3:.2f} ms")
    print(f"read 1 s x all channels mid-file: {results['read_1s_ms']:.1f} ms; window "
          f"{results['pages_in_window']} pages of file data; file pages mapped in by the read: "
          f"{results['pages_faulted']}")
    return results


if __name__ == "__main__":
    main()
