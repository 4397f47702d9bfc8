"""`--to nwb` next to raw->raw: throughput and peak memory of the converting process.

    python -m tests.bench.bench_nwb_out [--size-mb 10240] [--channels 384] [--repeat 3] [--folder DIR]

Makes an int16 recording of --size-mb (default 10 GB, 384 channels) as a sparse file with a
random first block (its holes read as zeros at page-cache speed, so the runs time the
conversion and the writes, not the disk's reads), then runs `wavescope convert` raw->raw and
raw->nwb --repeat times each, alternating, every run after `os.sync()`. Prints the fastest run
of each (engine seconds and wall seconds of the command), the NWB/raw throughput ratio
(target >= 50 %) and the peak RSS of the converting process (os.wait4's ru_maxrss of the
child; target < 500 MB), with the load average, since the machine may be shared. Everything
written is deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
RATE = 30000
RANDOM_BLOCK = 64 << 20


def generate(path: Path, size_mb: int, channels: int) -> int:
    """A sparse int16 recording of about `size_mb` MB (whole frames); returns its samples."""
    frame = channels * 2
    samples = size_mb * (1 << 20) // frame
    rng = np.random.default_rng(0)
    head = min(RANDOM_BLOCK // frame, samples)
    with open(path, "wb") as handle:
        handle.write(rng.integers(-3000, 3000, (head, channels), dtype=np.int16).tobytes())
        handle.truncate(samples * frame)
    return samples


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run(source: Path, folder: Path, channels: int, to_format: str) -> tuple[float, float, float]:
    """(engine seconds, wall seconds, peak RSS MB) of one `wavescope convert` child."""
    output = folder / ("out.nwb" if to_format == "nwb" else "out.dat")
    command = [sys.executable, "-m", "app", "convert", str(source), "--format", "raw_binary",
               "--set", f"nb_channels={channels}", "--set", "data_dtype=int16", "--set", f"sampling_rate={RATE}",
               "--set", "gain=0.195", "-o", str(output), "--to", to_format, "--progress", "none", "--force"]
    os.sync()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    with open(folder / "stdout.txt", "w+") as stdout:
        child = subprocess.Popen(command, cwd=REPO, stdout=stdout, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"{to_format}: exit {child.returncode}: {child.stderr.read().decode()[-2000:]}")
        child.stderr.close()
        stdout.seek(0)
        text = stdout.read()
    engine = _engine_seconds(text, wall)
    for leftover in (output, output.with_suffix(".params")):
        leftover.unlink(missing_ok=True)
    return engine, wall, usage.ru_maxrss / 1024          # ru_maxrss is in KiB on Linux


def _engine_seconds(text: str, wall: float) -> float:
    """The engine's own time from the summary line ('... in 12.34 s on 1 rank(s) ...')."""
    for line in text.splitlines():
        if line.startswith("wrote ") and " s on " in line:
            return float(line.split(" in ")[-1].split(" s on ")[0])
    return wall


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=int(os.environ.get("WAVESCOPE_BENCH_MB", "10240")))
    parser.add_argument("--channels", type=int, default=384)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--folder", help="where to write (default: a temporary folder, removed after)")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="wavescope-bench-nwb-", dir=args.folder))
    source = folder / "bench.dat"
    try:
        generate(source, args.size_mb, args.channels)
        size_mb = source.stat().st_size / 1e6
        print(f"input: {size_mb:.0f} MB int16 x {args.channels} channels (sparse) in {folder}; "
              f"fastest of {args.repeat}; load before: {load()}", flush=True)
        best: dict[str, tuple[float, float, float]] = {}
        for attempt in range(args.repeat):
            for to_format in ("raw_binary", "nwb"):
                engine, wall, rss = run(source, folder, args.channels, to_format)
                print(f"  run {attempt + 1} {to_format:<10} engine {engine:7.2f} s ({size_mb / engine:6.0f} MB/s)  "
                      f"wall {wall:7.2f} s  peak RSS {rss:6.0f} MB  load {load()}", flush=True)
                old = best.get(to_format)
                best[to_format] = (min(engine, old[0]), min(wall, old[1]), max(rss, old[2])) if old else \
                    (engine, wall, rss)
        raw, nwb = best["raw_binary"], best["nwb"]
        print(f"raw->raw: {size_mb / raw[0]:.0f} MB/s (engine), {size_mb / raw[1]:.0f} MB/s (wall), "
              f"peak RSS {raw[2]:.0f} MB")
        print(f"raw->nwb: {size_mb / nwb[0]:.0f} MB/s (engine), {size_mb / nwb[1]:.0f} MB/s (wall), "
              f"peak RSS {nwb[2]:.0f} MB")
        print(f"nwb/raw throughput: {raw[0] / nwb[0]:.0%} (engine), {raw[1] / nwb[1]:.0%} (wall); target >= 50 %; "
              f"NWB peak RSS target < 500 MB; load after: {load()}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
