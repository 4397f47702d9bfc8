"""Conversion throughput next to a plain file copy of the same file.

    python -m tests.bench.bench_convert [--size-mb 1024] [--channels 64] [--ranks 2] [--repeat 3]
                                        [--folder DIR] [--chunk-seconds S]

(or WAVESCOPE_BENCH_MB=...). Generates a raw int16 recording, reads it once so
every run starts from a warm page cache, times `shutil.copyfile`, then times
`wavescope convert` raw->raw and raw->hdf5 (when the format exists) with one
process and under `mpiexec -n RANKS`. Every timed run starts after `os.sync()`
(no dirty pages left by the previous run to throttle this one), and every
conversion is paired with a copy timed just before it, so load from other
processes hits both; each line shows medians of --repeat pairs. Prints MB/s of
input converted, from the wall time of the command (interpreter start
included) and from the engine's own time, and their ratio to the copy. The
target is >= 70% of the copy with one process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from app.io.registry import supported_formats
from app.model.jobs import mpiexec_path

REPO = Path(__file__).resolve().parents[2]

RATE = 30000
BLOCK = 64 << 20


def generate(path: Path, size_mb: int, channels: int) -> int:
    """A noisy int16 recording of about `size_mb` MB; returns the number of samples."""
    frame = channels * 2
    samples = size_mb * (1 << 20) // frame
    rng = np.random.default_rng(0)
    per_block = max(BLOCK // frame, 1)
    with open(path, "wb") as handle:
        for start in range(0, samples, per_block):
            count = min(per_block, samples - start)
            handle.write(rng.integers(-3000, 3000, (count, channels), dtype=np.int16).tobytes())
    return samples


def warm(path: Path) -> None:
    with open(path, "rb") as handle:
        while handle.readinto(bytearray(BLOCK)):
            pass


def settle() -> None:
    """Write back dirty pages so one run's writes do not throttle the next one's."""
    os.sync()


def time_copy(path: Path, folder: Path) -> float:
    target = folder / "copy.dat"
    settle()
    started = time.perf_counter()
    shutil.copyfile(path, target)
    seconds = time.perf_counter() - started
    target.unlink()
    return seconds


def time_convert(path: Path, folder: Path, channels: int, to_format: str, ranks: int,
                 chunk_seconds: float | None = None, extra: list[str] = ()) -> tuple[float, float]:
    """(wall seconds of the command, seconds the engine reports); `extra`: more convert options."""
    output = folder / ("out.h5" if to_format == "hdf5" else "out.dat")
    command = [sys.executable, "-m", "app", "convert", str(path), "--format", "raw_binary",
               "--set", f"nb_channels={channels}", "--set", "data_dtype=int16", "--set", f"sampling_rate={RATE}",
               "-o", str(output), "--to", to_format, "--progress", "json", "--force"]
    if to_format == "hdf5":
        command += ["--out-set", "h5_key=data"]
    if chunk_seconds:
        command += ["--chunk-seconds", str(chunk_seconds)]
    command += list(extra)
    if ranks > 1:
        command = [mpiexec_path(), "-n", str(ranks), *command]
    settle()
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    result = json.loads(done.stdout.splitlines()[-1])["result"]
    output.unlink()
    output.with_suffix(".params").unlink(missing_ok=True)
    return wall, float(result["seconds"])


def paired_runs(source: Path, folder: Path, args: argparse.Namespace, to_format: str,
                ranks: int) -> tuple[float, float, float, float]:
    """Median (copy s, wall s, engine s, copy/engine) over runs that each time a copy right before
    the conversion: on a shared machine both then meet the same load."""
    rows = []
    for _ in range(args.repeat):
        copy = time_copy(source, folder)
        wall, engine = time_convert(source, folder, args.channels, to_format, ranks, args.chunk_seconds)
        rows.append((copy, wall, engine, copy / engine))
    return tuple(statistics.median(column) for column in zip(*rows))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=int(os.environ.get("WAVESCOPE_BENCH_MB", "1024")))
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="runs per line; medians are shown")
    parser.add_argument("--chunk-seconds", type=float, help="pass --chunk-seconds to the engine")
    parser.add_argument("--formats", default="raw_binary,hdf5", help="target formats, comma-separated")
    parser.add_argument("--folder", help="where to write (default: a temporary folder)")
    args = parser.parse_args(argv)
    folder = Path(args.folder or tempfile.mkdtemp(prefix="wavescope-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "bench.dat"
    try:
        generate(source, args.size_mb, args.channels)
        size_mb = source.stat().st_size / 1e6
        warm(source)
        print(f"input: {size_mb:.0f} MB int16, {args.channels} channels, in {folder}; medians of "
              f"{args.repeat} runs, each paired with a copy timed just before it")
        print(f"{'what':<30} {'copy MB/s':>10} {'wall MB/s':>10} {'engine MB/s':>12} {'wall/copy':>10} "
              f"{'engine/copy':>12}")
        for to_format in [f for f in args.formats.split(",") if f in supported_formats()]:
            for ranks in (1, args.ranks):
                copy, wall, engine, ratio = paired_runs(source, folder, args, to_format, ranks)
                label = f"convert -> {to_format}, {ranks} rank{'s' if ranks > 1 else ''}"
                print(f"{label:<30} {size_mb / copy:10.0f} {size_mb / wall:10.0f} {size_mb / engine:12.0f} "
                      f"{copy / wall:10.0%} {ratio:12.0%}", flush=True)
    finally:
        if not args.folder:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
