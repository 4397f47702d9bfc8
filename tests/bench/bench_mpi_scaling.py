"""Does a second MPI rank ever cost more than it brings? One rank against `mpiexec -n 2`.

    python -m tests.bench.bench_mpi_scaling [--size-mb 1152] [--channels 64] [--repeat 5]
                                            [--cases identity,filtered,hdf5] [--folder DIR]

On a 2-core machine single conversion runs vary tenfold (page cache, write-back), so
each case is run --repeat times with one process and with two ranks, alternating, every
run after `os.sync()` from a warm page cache. The time compared is the engine's own
(`--progress json` reports it: the conversion without interpreter and MPI start-up);
mpiexec's start-up is timed apart, as `mpiexec -n 2 python -c pass`. Each line prints
the fastest run, the median and the spread (slowest - fastest) of both, and the ratio of
the fastest two-rank run to the fastest one-rank run (the target: <= 1.1).

Cases: identity (int16 raw -> raw, a pure copy), filtered (raw -> raw, high-pass at
300 Hz, float32 out: compute-bound), hdf5 (raw -> HDF5, a format change).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.model.jobs import mpiexec_path
from tests.bench.bench_convert import generate, time_convert, warm

CASES = {
    "identity": ("raw_binary", []),
    "filtered": ("raw_binary", ["--filter", "highpass:300", "--dtype", "float32"]),
    "hdf5": ("hdf5", []),
}


def mpiexec_startup(repeat: int) -> float:
    """Fastest wall time of `mpiexec -n 2 python -c pass` (launcher and interpreters, no work)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([mpiexec_path(), "-n", "2", sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return min(times)


def describe(times: list[float]) -> str:
    return f"{min(times):6.2f} s {statistics.median(times):6.2f} s {max(times) - min(times):6.2f} s"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=int(os.environ.get("WAVESCOPE_BENCH_MB", "1152")))
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--folder", help="where to write (default: a temporary folder)")
    args = parser.parse_args(argv)
    folder = Path(args.folder or tempfile.mkdtemp(prefix="wavescope-mpi-"))
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "bench.dat"
    try:
        generate(source, args.size_mb, args.channels)
        warm(source)
        load = f"{os.getloadavg()[0]:.2f}"
        print(f"input: {source.stat().st_size / 1e6:.0f} MB int16, {args.channels} channels; "
              f"{args.repeat} runs each; load average {load}")
        print(f"mpiexec -n 2 start-up (fastest): {mpiexec_startup(args.repeat):.2f} s")
        print(f"{'case':<10} {'ranks':>5}  {'fastest':>8} {'median':>8} {'spread':>8}")
        for case in args.cases.split(","):
            to_format, extra = CASES[case]
            times: dict[int, list[float]] = {1: [], 2: []}
            for _ in range(args.repeat):
                for ranks in (1, 2):
                    times[ranks].append(time_convert(source, folder, args.channels, to_format, ranks,
                                                     extra=extra)[1])
            for ranks in (1, 2):
                print(f"{case:<10} {ranks:>5}  {describe(times[ranks])}")
            print(f"{case:<10} ratio of fastest runs, 2 ranks / 1: {min(times[2]) / min(times[1]):.2f}",
                  flush=True)
    finally:
        if not args.folder:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
