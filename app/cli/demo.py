"""`wavescope demo`: write the synthetic demo recording and open it (or print its info)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.browser import no_display, run_gui, say_no_display
from app.cli.describe import describe


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `demo`."""
    demo = subparsers.add_parser("demo", help="open the built-in synthetic demo recording")
    demo.add_argument("--screenshot", metavar="PNG", help="render offscreen, save the picture, exit")
    demo.add_argument("--info-only", action="store_true", help="print the demo's info instead of opening it")
    demo.add_argument("--folder", help="where to write the demo (default: the user cache)")
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from app.model.demo import default_folder, demo_is_current, demo_params, write_demo
    folder = Path(args.folder) if args.folder else default_folder()
    if not (args.info_only or args.screenshot) and no_display():
        return say_no_display([])
    if not demo_is_current(folder):
        print(f"writing the demo recording into {folder} ...", file=sys.stderr)
    first = write_demo(folder)
    params = demo_params(first)
    if args.info_only:
        from app.io import open_datafile
        settings = {k: v for k, v in params.items() if k not in ("file_format", "stream_mode", "mapping")}
        datafile = open_datafile(str(first), settings, "raw_binary", "multi-files")
        for key, value in describe(datafile).items():
            if key != "streams":
                print(f"{key:<13} {value}")
        return 0
    return run_gui([str(first)], params=params, screenshot=args.screenshot)
