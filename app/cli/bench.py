"""`wavescope bench traces FILE`: frame times of the real trace view over a scripted scroll."""

from __future__ import annotations

import argparse
import json
import os

from app.cli.options import check_format_name, check_set_keys, parse_sets


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `bench traces`."""
    bench = subparsers.add_parser("bench", help="measure the browser: `bench traces FILE`")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True)
    traces = bench_sub.add_parser("traces", help="frame times of the trace view over a scripted scroll")
    traces.add_argument("file")
    traces.add_argument("--format", dest="file_format")
    traces.add_argument("--set", action="append", metavar="KEY=VALUE", default=[])
    traces.add_argument("--channels", type=int, help="show only the first N channels")
    traces.add_argument("--window", type=float, default=1.0, help="window width in seconds")
    traces.add_argument("--width", type=int, default=1920)
    traces.add_argument("--height", type=int, default=1080)
    traces.add_argument("--json", action="store_true")
    traces.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    check_format_name(args.file_format)
    settings = parse_sets(args.set)
    check_set_keys(settings, args.file_format)
    from app.views.bench import bench_traces       # Qt: only when the command runs
    result = bench_traces(args.file, args.file_format, settings, channels=args.channels,
                          window_s=args.window, width=args.width, height=args.height)
    if args.json:
        print(json.dumps({k: result[k] for k in ("window_s", "median_ms", "p95_ms", "frames")}))
    else:
        print(f"window {result['window_s']:g} s: median {result['median_ms']:.1f} ms, "
              f"95th percentile {result['p95_ms']:.1f} ms over {result['frames']} frames")
    return 0
