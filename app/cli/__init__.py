"""The `wavescope` command line: gui (default), info, formats, params, check-format, demo, ...

One module per command group under `app/cli/`; each has `add_commands(subparsers)` and is
named once in `COMMANDS`. Command modules import shared helpers from `app.cli.common` and
`app.cli.options`, never this package, and `app.views` only inside the command that needs it.
Every command prints errors as one readable message (the file, the field, the fix) and exits
with a status from `app.exitcodes` (3: required fields are missing; see `wavescope --help`);
with --json the error is a JSON object on stdout instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from app import exitcodes
from app.cli.common import (CommandLineError, Parser, broken_pipe, did_you_mean, log_warnings_to_stderr,
                            report_error, run_command, wants_json)

EXIT_MISSING_FIELDS = exitcodes.MISSING_FIELDS

# The command modules, in the order `wavescope --help` lists them: a new command is a module
# with `add_commands(subparsers)` and one line here.
COMMANDS = (
    "app.cli.gui",
    "app.cli.recording",      # info, formats, params, check-format
    "app.cli.demo",
    "app.cli.doctor",
    "app.cli.bench",
    "app.cli.jobs",           # convert, sort
    "app.cli.sorters",        # sorters list, install, use
    "app.cli.events",
    "app.cli.probe",          # probe: print or export a recording's probe geometry
)

EXAMPLES = """examples:
  wavescope demo                              open the built-in demo recording
  wavescope recording.dat                     open a recording in the browser
  wavescope info rec.dat --set nb_channels=64 --set data_dtype=int16 --set sampling_rate=30000
  wavescope formats --json                    every format, its fields and stream modes
  wavescope params rec.dat --set sampling_rate=30000 --probe probe.prb
  wavescope params rec.dat --suggest           guess nb_channels/data_dtype/data_offset of a headerless file
  wavescope check-format rec.npy --set sampling_rate=20000
  wavescope convert rec.params -o rec.h5 --to hdf5 --filter highpass:300
  mpiexec -n 4 wavescope convert rec.params -o out.dat --to raw_binary
  wavescope sort rec.params --steps filtering,whitening,clustering --cpus 4 --dry-run
  wavescope events list rec.oebin --channel "TTL 1"   TTL pulses, messages and annotations
  wavescope doctor                            what is installed, what is missing, how to fix it
  wavescope bench traces rec.dat --set nb_channels=384 --set data_dtype=int16 --set sampling_rate=30000

""" + exitcodes.TABLE


def build_parser() -> argparse.ArgumentParser:
    """The `wavescope` parser with every command of `COMMANDS`."""
    from app import __version__
    parser = Parser(
        prog="wavescope", description="Browse extracellular recordings, write spike-sorter params, run jobs.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"wavescope {__version__}")
    subparsers = parser.add_subparsers(dest="command")
    for name in COMMANDS:
        importlib.import_module(name).add_commands(subparsers)
    return parser


def command_names(parser: argparse.ArgumentParser) -> list[str]:
    """The sub-command names `parser` knows."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def _route(argv: list[str], commands: list[str]) -> list[str]:
    """`wavescope FILE ...` opens the browser. A command's exact name is the command (open a
    file called `info` with `wavescope gui info` or `./info`); any other word that exists as a
    path is a file; one that does not exist and mistypes a command is a usage error, as is a
    bare word that is no path at all."""
    first = argv[0] if argv else None
    if first is None or first.startswith("-") or first in commands:
        return argv
    if os.path.exists(first):
        return ["gui"] + argv
    guess = did_you_mean(first, commands, cutoff=0.6)
    if guess:
        raise CommandLineError(f"unknown command {first!r} (and no file of that name); "
                               f"did you mean {guess!r}?", "command")
    if not any(sep in first for sep in "/\\.") and not os.path.splitext(first)[1]:
        raise CommandLineError(f"{first!r} is neither a command nor a file; commands: "
                               f"{', '.join(commands)}.", "command")
    return ["gui"] + argv


def main(argv: Sequence[str] | None = None) -> int:
    """`wavescope ...` (also `python -m app ...`): the command's exit status, never a traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    log_warnings_to_stderr()
    as_json = wants_json(argv)
    Parser.json_errors = as_json
    try:
        parser = build_parser()
        try:
            argv = _route(argv, command_names(parser))
        except CommandLineError as error:
            if as_json:
                return report_error(error, True)
            parser.print_usage(sys.stderr)
            return report_error(error, False)
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            args = parser.parse_args(["gui"])
        return run_command(args.func, args, as_json)
    except BrokenPipeError:
        return broken_pipe()
    except KeyboardInterrupt:
        print("wavescope: interrupted", file=sys.stderr)
        return exitcodes.INTERRUPTED
