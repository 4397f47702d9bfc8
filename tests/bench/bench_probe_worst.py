"""Hostile ``.prb`` files: each is read in a fresh process that reports its verdict, time and peak RSS.

Run: python -m tests.bench.bench_probe_worst [--timeout 60] [--only NAME ...]
Every probe file must be accepted or refused within 2 s and 300 MB; the test suite asserts the verdict
and the memory (tests/io/test_probe_limits.py), this script prints the times too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

def real_probe_4096() -> str:
    """A 4096-channel, 4-shank probe written plainly, with geometry and a neighbour graph (~2 MB)."""
    lines = ["total_nb_channels = 4096", "radius = 100", "channel_groups = {"]
    for shank in range(4):
        ids = range(shank * 1024, (shank + 1) * 1024)
        lines.append(f"    {shank}: {{")
        lines.append("        'channels': [" + ", ".join(map(str, ids)) + "],")
        lines.append("        'geometry': {")
        lines += [f"            {c}: ({shank * 250 + (c % 2) * 32.0}, {(c % 1024) // 2 * 20.0})," for c in ids]
        lines.append("        },")
        edges = [(a, b) for a in ids for b in ids if 0 < b - a <= 40]
        lines.append("        'graph': [" + ", ".join(f"({a}, {b})" for a, b in edges) + "],")
        lines.append("    },")
    return "\n".join(lines + ["}", ""])


# name -> a function writing the file's text; every one of them must be refused
WORST_CASES = {
    "zeros_8mb": lambda: "x = [" + "0," * (4 << 20) + "]\n",
    "zeros_32mb": lambda: "x = [" + "0," * (16 << 20) + "]\n",
    "int_of_4299_digits_loop": lambda: "s = '7' * 4299\nfor t in [s] * 2000000:\n    x = int(t)\n",
    "deep_brackets": lambda: "x = " + "[" * 100_000 + "]" * 100_000 + "\n",
    "deep_parentheses": lambda: "x = " + "(" * 100_000 + "1" + ")" * 100_000 + "\n",
    "deep_unary_minus": lambda: "x = " + "-" * 500_000 + "1\n",
    "long_addition_chain": lambda: "x = 1" + " + 1" * 1_000_000 + "\n",
    "huge_exponent": lambda: "x = 10**10**10\n",
    "string_repetition": lambda: "x = 'a' * 10**10\n",
    "nested_comprehensions": lambda: "x = [[j for j in range(10**6)] for i in range(10**6)]\n",
    "enumerate_tuples": lambda: "x = [list(enumerate(range(10**6))) for i in range(100)]\n",
    # the same attacks scaled to sit just inside the caps and the step budget
    "zeros_at_the_byte_cap": lambda: "x = [" + "0," * ((4 << 20) // 2 - 8) + "]\n",
    "zeros_at_the_item_cap": lambda: "x = [" + "0," * 999_990 + "]\n",
    "sums_at_the_code_cap": lambda: "x = [" + "0+0," * 16_000 + "]\n",
    "int_of_400_digits_loop": lambda: "s = '7' * 400\nfor t in [s] * 100000:\n    x = int(t)\n",
    "comprehensions_filling_the_budget": lambda: "x = [[j for j in range(1000)] for i in range(500)]\n",
    "enumerate_filling_the_budget": lambda: "x = [list(enumerate(range(10**5))) for i in range(100)]\n",
    "string_doubling": lambda: "s = 'a'\nfor i in range(40):\n    s = s + s\n",
}

# accepted: the largest real probe the caps are sized for
REAL_CASES = {"real_4096_channels_with_graph": real_probe_4096}

# Runs in the child: read one probe, print verdict, seconds and peak RSS (MB) as JSON.
CHILD = """
import json, resource, sys, time
from app.io.errors import ProbeError
from app.io.probe import read_probe
start = time.perf_counter()
try:
    read_probe(sys.argv[1])
    verdict, message = "accepted", ""
except ProbeError as error:
    verdict, message = "refused", str(error)[-300:]
seconds = time.perf_counter() - start
# VmHWM: this interpreter's own peak. ru_maxrss would also count the parent's resident size at
# fork (the peak carries over exec), so a test run that has grown would be measured instead.
try:
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"verdict": verdict, "seconds": seconds, "peak_mb": peak, "message": message}))
"""


def measure(path: str | os.PathLike, timeout: float = 60.0, memory_limit_mb: int = 8192) -> dict:
    """Read `path` in a fresh interpreter; {'verdict', 'seconds', 'peak_mb', 'message'}.

    A child that runs past `timeout` or dies (e.g. out of its `memory_limit_mb` address space)
    gets verdict 'timeout' or 'crashed'.
    """
    def limit() -> None:
        import resource
        size = memory_limit_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True,
                              timeout=timeout, env=env, preexec_fn=limit)
    except subprocess.TimeoutExpired:
        return {"verdict": "timeout", "seconds": timeout, "peak_mb": float("nan"), "message": ""}
    if done.returncode != 0:
        return {"verdict": "crashed", "seconds": float("nan"), "peak_mb": float("nan"),
                "message": done.stderr[-300:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--memory-limit-mb", type=int, default=8192)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, write in {**WORST_CASES, **REAL_CASES}.items():
            if args.only and name not in args.only:
                continue
            path = Path(folder) / f"{name}.prb"
            path.write_text(write())
            result = measure(path, args.timeout, args.memory_limit_mb)
            results[name] = result
            print(f"{name:<26} {path.stat().st_size:>11,} B  {result['verdict']:<9} "
                  f"{result['seconds']:7.2f} s  peak {result['peak_mb']:8.1f} MB  {result['message'][-90:]!r}",
                  flush=True)
            path.unlink()
    return results


if __name__ == "__main__":
    main()
