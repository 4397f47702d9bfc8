"""Conversions killed and starved: the kill matrix and the full-disk matrix, counted.

    python -m tests.bench.bench_reliability [--formats raw_binary,numpy,mda,hdf5] [--ranks 1,2]
                                            [--samples 150000] [--timeout 60] [--verbose]

Kill matrix: every writable format, one process and `mpiexec -n 2`, SIGINT, SIGTERM and
SIGKILL sent to the command (and, under mpiexec, SIGKILL to one rank) early, mid-way and
late in the run (after the first progress line, at half and at 90 % of the chunks). A
killed run may leave its partial; the next conversion into the folder must remove it.
Full-disk matrix: every writable format, one process and two ranks, on an 8 MB tmpfs
(root only), with an output too large from the start and with the disk filled mid-run.

Prints the runs and five counts that must all be zero: leftovers (partial or output files
that should not be there), hangs (no exit within --timeout), builtin-exception tracebacks,
unexpected process deaths (a signal or SIGBUS nobody sent; a failure with no message).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

from app.model.jobs import mpiexec_path

REPO = Path(__file__).resolve().parents[2]
RATE = 20000
CHANNELS = 8
OPEN = ["--format", "raw_binary", "--set", f"nb_channels={CHANNELS}", "--set", "data_dtype=int16",
        "--set", f"sampling_rate={RATE}"]
FORMAT_ARGS = {"raw_binary": [], "numpy": [], "mda": [], "hdf5": ["--out-set", "h5_key=data"]}
EXTENSIONS = {"raw_binary": ".dat", "numpy": ".npy", "mda": ".mda", "hdf5": ".h5"}
POINTS = {"early": 0.0, "mid": 0.5, "late": 0.9}
SIGBUS_CODES = {-signal.SIGBUS, 128 + signal.SIGBUS, signal.SIGBUS, -signal.SIGSEGV, 128 + signal.SIGSEGV}


@dataclass
class Tally:
    counts: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def problem(self, kind: str, label: str, detail: str) -> None:
        self.counts[kind] += 1
        self.problems.append(f"{kind:<11} {label}: {detail}")


def _command(ranks: int, *args: str) -> list[str]:
    launcher = [mpiexec_path(), "-n", str(ranks)] if ranks > 1 else []
    return [*launcher, sys.executable, "-m", "app", "convert", *args]


def _env(cache: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(cache)}


def _stray(folder: Path, allowed: set[str]) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name not in allowed)


def _tracebacks(text: str) -> bool:
    return "Traceback (most recent call last)" in text


def _kill_group(process: subprocess.Popen) -> None:
    """The launched command and everything under it (a hang is ended so the matrix goes on)."""
    try:
        family = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    for member in [*family]:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    process.kill()


def _family(process: subprocess.Popen) -> list[psutil.Process]:
    try:
        return psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _wait_gone(family: list[psutil.Process], timeout: float) -> None:
    """Until the launcher's proxies and ranks have exited: mpiexec may end before them."""
    psutil.wait_procs(family, timeout=timeout)


def _wait_for(process: subprocess.Popen, fraction: float) -> bool:
    """Read progress lines until `fraction` of the chunks are done; False if the run ended first."""
    for line in process.stdout:
        try:
            step = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "done" in step and step["done"] >= max(1, fraction * step["total"]):
            return True
    return False


def _target(process: subprocess.Popen, whom: str) -> psutil.Process | subprocess.Popen:
    if whom == "command":
        return process
    ranks = [p for p in psutil.Process(process.pid).children(recursive=True)
             if "-m app convert" in " ".join(p.cmdline())]
    return ranks[-1]


def kill_run(tally: Tally, src: Path, folder: Path, fmt: str, ranks: int, sig: signal.Signals, whom: str,
             point: str, timeout: float, env: dict) -> None:
    label = f"kill {fmt} n={ranks} {sig.name}->{whom} {point}"
    out = folder / f"out{EXTENSIONS[fmt]}"
    process = subprocess.Popen(_command(ranks, str(src), *OPEN, "-o", str(out), "--to", fmt, *FORMAT_ARGS[fmt],
                                        "--chunk-seconds", "0.0005", "--progress", "json"),
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    tally.counts["runs"] += 1
    tally.counts["kill runs"] += 1
    sent = _wait_for(process, POINTS[point])
    family = _family(process)
    if sent:
        try:
            _target(process, whom).send_signal(sig)
        except (psutil.NoSuchProcess, ProcessLookupError, IndexError):
            sent = False
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        stdout, stderr = process.communicate()
        tally.problem("hangs", label, f"no exit within {timeout:.0f} s")
    code = process.returncode
    if not sent:
        tally.counts["finished before the signal"] += 1
    if _tracebacks(stderr):
        tally.problem("tracebacks", label, stderr.strip().splitlines()[-1])
    killed = sig == signal.SIGKILL and sent
    if code in SIGBUS_CODES or (code != 0 and not killed and code < 0):
        tally.problem("deaths", label, f"exit status {code}")
    elif code != 0 and not killed and not (stderr.strip() or stdout.strip()):
        tally.problem("deaths", label, f"exit status {code} with no message")
    _wait_gone(family, timeout)
    if killed:
        tally.counts["partials left by SIGKILL"] += sum(".partial-" in n for n in os.listdir(folder))
        tally.counts["runs"] += 1
        follow = subprocess.run(_command(1, str(src), *OPEN, "-o", str(folder / "next.dat"), "--stop", "0.01",
                                         "--force"), cwd=REPO, capture_output=True, text=True, env=env,
                                timeout=timeout, check=False)
        if follow.returncode != 0:
            tally.problem("deaths", label + " (next run)", follow.stderr.strip()[-300:])
        for name in ("next.dat", "next.params", "next.params.bak"):
            if (folder / name).exists():
                os.unlink(folder / name)
    allowed = {src.name}
    if code == 0:
        allowed |= {out.name, out.with_suffix(".params").name}
    for name in _stray(folder, allowed):
        tally.problem("leftovers", label, name)
        os.unlink(folder / name)
    for name in (out.name, out.with_suffix(".params").name):
        if (folder / name).exists():
            os.unlink(folder / name)


def kill_matrix(tally: Tally, formats: list[str], ranks_list: list[int], samples: int, timeout: float,
                root: Path) -> None:
    for fmt in formats:
        for ranks in ranks_list:
            folder = root / f"kill_{fmt}_{ranks}"
            folder.mkdir()
            src = folder / "rec.dat"
            np.random.default_rng(0).integers(-3000, 3000, (samples, CHANNELS), dtype=np.int16).tofile(src)
            env = _env(root / "cache")
            targets = ["command"] + (["rank"] if ranks > 1 else [])
            for whom in targets:
                signals = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL) if whom == "command" else (
                    signal.SIGTERM, signal.SIGKILL)
                for sig in signals:
                    for point in POINTS:
                        kill_run(tally, src, folder, fmt, ranks, sig, whom, point, timeout, env)


def _mount_tmpfs(folder: Path) -> str | None:
    """None when mounted, else why not."""
    if os.geteuid() != 0:
        return "not root"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)],
                          capture_output=True, text=True, check=False)
    return None if done.returncode == 0 else done.stderr.strip()


def _fill(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\1" * 65536)
    except OSError:
        pass
    finally:
        os.close(fd)


def disk_run(tally: Tally, src: Path, disk: Path, fmt: str, ranks: int, case: str, timeout: float,
             env: dict) -> None:
    label = f"disk {fmt} n={ranks} {case}"
    out = disk / f"out{EXTENSIONS[fmt]}"
    stop = ["--stop", str(250000 / RATE)] if case == "filled mid-run" else []
    process = subprocess.Popen(_command(ranks, str(src), *OPEN, "-o", str(out), "--to", fmt, *FORMAT_ARGS[fmt],
                                        "--chunk-seconds", "0.002", "--progress", "json", *stop),
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    tally.counts["runs"] += 1
    tally.counts["disk runs"] += 1
    if case == "filled mid-run" and _wait_for(process, 0.0):
        _fill(disk / "filler")
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        _, stderr = process.communicate()
        tally.problem("hangs", label, f"no exit within {timeout:.0f} s")
    if _tracebacks(stderr):
        tally.problem("tracebacks", label, stderr.strip().splitlines()[-1])
    expected = "No space left" if case == "filled mid-run" else "the output needs"
    if process.returncode != 1 or expected not in stderr or ".partial-" in stderr:
        tally.problem("deaths", label, f"exit status {process.returncode}: {stderr.strip()[-300:]}")
    for name in _stray(disk, {"filler"}):
        tally.problem("leftovers", label, name)
    for name in os.listdir(disk):
        os.unlink(disk / name)


def disk_matrix(tally: Tally, formats: list[str], ranks_list: list[int], timeout: float, root: Path) -> str | None:
    disk = root / "small"
    disk.mkdir()
    why_not = _mount_tmpfs(disk)
    if why_not:
        return why_not
    try:
        src = root / "big.dat"          # 11.2 MB: too large for the 8 MB disk; its first 4 MB fit
        np.random.default_rng(1).integers(-3000, 3000, (700000, CHANNELS), dtype=np.int16).tofile(src)
        for fmt in formats:
            for ranks in ranks_list:
                for case in ("too large", "filled mid-run"):
                    disk_run(tally, src, disk, fmt, ranks, case, timeout, _env(root / "cache"))
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default=",".join(FORMAT_ARGS))
    parser.add_argument("--ranks", default="1,2")
    parser.add_argument("--samples", type=int, default=150000)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--verbose", action="store_true", help="list every problem")
    args = parser.parse_args(argv)
    formats = args.formats.split(",")
    ranks_list = [int(r) for r in args.ranks.split(",")]
    if not os.path.exists(mpiexec_path()):
        ranks_list = [r for r in ranks_list if r == 1]
        print("no mpiexec: one process only")
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="wavescope-reliability-") as folder:
        kill_matrix(tally, formats, ranks_list, args.samples, args.timeout, Path(folder))
        skipped = disk_matrix(tally, formats, ranks_list, args.timeout, Path(folder))
    if skipped:
        print(f"full-disk matrix skipped: {skipped}")
    counts = tally.counts
    print(f"runs {counts['runs']}  leftovers {counts['leftovers']}  hangs {counts['hangs']}  "
          f"tracebacks {counts['tracebacks']}  unexpected deaths {counts['deaths']}")
    print(f"(kill matrix {counts['kill runs']} runs + {counts['partials left by SIGKILL']} next runs, "
          f"full-disk matrix {counts['disk runs']} runs)")
    print(f"(partials left by SIGKILL and removed by the next run: {counts['partials left by SIGKILL']}; "
          f"runs that finished before the signal: {counts['finished before the signal']})")
    for line in tally.problems if args.verbose else tally.problems[:20]:
        print("  " + line)
    return 0 if not tally.problems else 1


if __name__ == "__main__":
    sys.exit(main())
