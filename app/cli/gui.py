"""`wavescope gui [FILE ...]`: the browser (also `wavescope FILE` and plain `wavescope`)."""

from __future__ import annotations

import argparse

from app.cli.browser import run_gui


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `gui`."""
    gui = subparsers.add_parser("gui", help="open the browser (the default command)")
    gui.add_argument("files", nargs="*")
    gui.set_defaults(func=cmd_gui)


def cmd_gui(args: argparse.Namespace) -> int:
    return run_gui(args.files)
