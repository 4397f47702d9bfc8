"""Damaged and hostile files of every format: how many read, how many give typed errors, and
how many give what must never happen (builtin exceptions, invalid params accepted, hangs,
dead processes).

Run: python -m tests.bench.bench_fuzz [--scale 10] [--workers 2] [--timeout 120] [--seed 0]
The corpus is tests/io/fuzz_corpus.py: per damaged file of a seed, `scale` times 18 mutants
(cut in the header, cut mid-sample, byte flips, smashed numeric fields) plus an empty file.
Prints the counts, the failures, and which low-level causes DataFile's generic guard typed
(a format with many of those would give better messages by checking its header itself).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a case is a hang")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--formats", help="comma-separated subset")
    args = parser.parse_args(argv)
    from tests.io.fuzz_corpus import NOT_FUZZED, OUTCOMES, build_corpus, run_corpus

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        cases = build_corpus(Path(folder), scale=args.scale, seed=args.seed,
                             formats=args.formats.split(",") if args.formats else None)
        built_s = time.perf_counter() - start
        start = time.perf_counter()
        report = run_corpus(cases, workers=args.workers, timeout=args.timeout)
        run_s = time.perf_counter() - start
    per_format = Counter(case.fmt for case in cases)
    print(f"corpus: {report.files} files over {len(per_format)} formats (built in {built_s:.1f} s, "
          f"opened with their format and sniffed in {run_s:.1f} s); not fuzzed: {', '.join(NOT_FUZZED)}")
    print(f"{'reads':<24}{report.counts['read']}")
    print(f"{'typed errors':<24}{report.counts['typed']}")
    for outcome, label in (("builtin", "builtin exceptions"), ("invalid", "invalid params accepted"),
                           ("accepted", "bad params read"), ("hang", "hangs"), ("death", "process deaths")):
        assert outcome in OUTCOMES
        print(f"{label:<24}{report.counts[outcome]}")
    for failure in report.failures[:50]:
        print(f"  {failure[:300]}")
    if report.guarded:
        print("typed by DataFile's generic guard (format, low-level cause): "
              + ", ".join(f"{fmt} {cause} x{n}" for (fmt, cause), n in sorted(report.guarded.items())))
    return {"files": report.files, **{k: report.counts[k] for k in OUTCOMES}, "run_s": run_s}


if __name__ == "__main__":
    main()
