"""EDF: open a 10 GB file and read 1 s x all channels from its middle, ours beside neo's EDFRawIO.

Run: python -m tests.bench.bench_formats_more2 [--gigabytes 10] [--channels 64] [--rate 2048]
The file is sparse (truncate) behind a real header, so it costs no disk and no time to make.
Each reader runs in its own subprocess so its peak RSS (getrusage) is its own; neo gets a timeout.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from tests.io.writers_more2 import write_edf

CHILD_OURS = """
import json, resource, sys, time
from app.io import open_datafile, supported_formats
supported_formats()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
df = open_datafile(sys.argv[1], {}, "edf").open()
opened = time.perf_counter() - start
middle, rate = df.duration // 2, int(df.sampling_rate)
start = time.perf_counter()
block = df.read_range(middle, middle + rate)
read = time.perf_counter() - start
assert block.shape == (rate, df.nb_channels)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"open_s": opened, "read_s": read, "peak_mb": peak / 1024, "base_mb": base / 1024}))
"""

CHILD_NEO = """
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
from neo.rawio import EDFRawIO
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
reader = EDFRawIO(filename=sys.argv[1])
reader.parse_header()
opened = time.perf_counter() - start
size = reader.get_signal_size(0, 0, 0)
rate = int(reader.header["signal_channels"]["sampling_rate"][0])
start = time.perf_counter()
raw = reader.get_analogsignal_chunk(0, 0, size // 2, size // 2 + rate, stream_index=0)
reader.rescale_signal_raw_to_float(raw, dtype="float32", stream_index=0)
read = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"open_s": opened, "read_s": read, "peak_mb": peak / 1024, "base_mb": base / 1024}))
"""


def make_edf(path: Path, gigabytes: float, channels: int, rate: int) -> Path:
    record = channels * rate * 2
    records = int(gigabytes * 2**30) // record
    signals = [{"label": f"EEG {k}", "unit": "uV", "pmin": -3276.8, "pmax": 3276.7, "dmin": -32768,
                "dmax": 32767, "digital": np.zeros(rate, dtype=np.int16)} for k in range(channels)]
    write_edf(path, signals, 1.0, 1, declared_records=records)
    with open(path, "r+b") as handle:
        handle.truncate(256 * (channels + 1) + records * record)
    return path


def run_child(code: str, path: Path, timeout: float) -> dict:
    try:
        done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=False,
                              timeout=timeout, cwd=str(Path(__file__).resolve().parents[2]))
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"exit {done.returncode}: {last}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def describe(name: str, numbers: dict) -> str:
    if "error" in numbers:
        return f"{name:5s} failed: {numbers['error']}"
    return (f"{name:5s} open {numbers['open_s'] * 1e3:8.1f} ms, read 1 s x all channels "
            f"{numbers['read_s'] * 1e3:7.1f} ms, peak RSS {numbers['peak_mb']:6.1f} MB "
            f"(after imports {numbers['base_mb']:.1f} MB)")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gigabytes", type=float, default=10)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--rate", type=int, default=2048)
    parser.add_argument("--neo-timeout", type=float, default=300)
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        path = make_edf(Path(folder) / "bench.edf", args.gigabytes, args.channels, args.rate)
        print(f"EDF {path.stat().st_size / 2**30:.1f} GiB, {args.channels} ch x {args.rate} Hz (sparse)")
        results["ours"] = run_child(CHILD_OURS, path, 120)
        print(describe("ours", results["ours"]))
        results["neo"] = run_child(CHILD_NEO, path, args.neo_timeout)
        print(describe("neo", results["neo"]))
    return results


if __name__ == "__main__":
    main()
