"""`wavescope info`, `formats`, `check-format` and `params`: what a recording holds, what the
readers are, whether a reader keeps its contract, and the .params file that reopens it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from app.cli.describe import print_info
from app.cli.options import (add_open_options, check_format_name, check_set_keys, open_from_args,
                             parse_sets)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `info`, `formats`, `params` and `check-format`."""
    info = subparsers.add_parser("info", help="what a recording holds: params, duration, streams")
    add_open_options(info)
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(func=cmd_info)

    formats = subparsers.add_parser("formats", help="every supported format with its fields")
    formats.add_argument("--json", action="store_true")
    formats.set_defaults(func=cmd_formats)

    params = subparsers.add_parser("params", help="write a complete .params file for a recording")
    add_open_options(params)
    params.add_argument("--probe", help="the .prb file (checked against nb_channels)")
    params.add_argument("--no-header-probe", action="store_true",
                        help="without --probe, leave mapping empty instead of writing <stem>.header.prb "
                             "from the geometry in the recording's header")
    params.add_argument("-o", "--output", help="where to write (default: next to the data)")
    params.add_argument("--suggest", action="store_true",
                        help="for a headerless file: print ranked nb_channels/data_dtype/data_offset guesses")
    params.add_argument("--json", action="store_true", help="with --suggest: machine-readable output")
    params.set_defaults(func=cmd_params)

    check = subparsers.add_parser("check-format", help="run the wrapper conformance kit on a file")
    add_open_options(check)
    check.set_defaults(func=cmd_check_format)


def cmd_info(args: argparse.Namespace) -> int:
    print_info(open_from_args(args), args.json)
    return 0


def _format_rows() -> list[dict]:
    from app.io.registry import supported_formats
    rows = []
    for name, klass in supported_formats().items():
        rows.append({
            "name": name,
            "title": klass.title or name,
            "read": True,
            "write": bool(klass.is_writable),
            "parallel_write": bool(klass.parallel_write),
            "extensions": list(klass.extension),
            "stream_modes": list(klass.is_streamable),
            "required_fields": dict(klass._required_fields),
            "defaults": {k: v for k, v in klass._default_values.items()},
            "module": klass.__module__,
        })
    return rows


def cmd_formats(args: argparse.Namespace) -> int:
    from app.io.registry import plugin_errors, plugin_notices
    rows = _format_rows()
    if args.json:
        print(json.dumps(rows, default=str, indent=1))
        return 0
    print(f"{'format':<18} {'rw':<3} {'par':<4} {'extensions':<22} {'stream modes':<26} required fields")
    for row in rows:
        rw = "rw" if row["write"] else "r"
        required = ", ".join(f"{k}:{v}" for k, v in row["required_fields"].items()) or "-"
        print(f"{row['name']:<18} {rw:<3} {'yes' if row['parallel_write'] else '-':<4} "
              f"{' '.join(row['extensions']) or '(any)':<22} {', '.join(row['stream_modes']):<26} {required}")
        if row["defaults"]:
            print(f"{'':<18} defaults: " + ", ".join(f"{k}={v}" for k, v in row["defaults"].items()))
    for notice in plugin_notices:
        print(f"note: {notice}")
    if plugin_errors:
        print("rejected plugins (not loaded):")
    for problem in plugin_errors:
        print(f"  {problem}")
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    """Ranked guesses of the layout of a headerless file, with their evidence."""
    from app.io.sniff import suggest_raw_layout
    if not os.path.isfile(args.file):
        from app.io.errors import DataFileError
        raise DataFileError(f"{args.file}: no such file; check the path.", args.file)
    candidates = suggest_raw_layout(args.file)
    if args.json:
        print(json.dumps(candidates))
        return 0
    if not candidates:
        print(f"{args.file}: no channel count and dtype divide this file into plausible signals.")
        return 1
    print(f"{'rank':<5}{'nb_channels':<13}{'data_dtype':<12}{'data_offset':<13}{'score':<8}evidence")
    for rank, c in enumerate(candidates, 1):
        print(f"{rank:<5}{c['nb_channels']:<13}{c['data_dtype']:<12}{c['data_offset']:<13}"
              f"{c['score']:<8.3f}{c['evidence']}")
    if candidates[0]["ambiguous"]:
        print("ambiguous: the best layouts score alike, the bytes do not decide; "
              "check the acquisition's notes.")
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    """Write the .params that reopens the recording: named and written the way the params
    wizard does (`app.model.wizard`), so the CLI and the wizard cannot disagree."""
    from app.io.errors import ProbeError
    from app.io.probe import read_probe
    from app.model.wizard import default_params_path, write_all
    if args.suggest:
        return cmd_suggest(args)
    datafile = open_from_args(args)
    if args.probe:
        if not os.path.isfile(args.probe):
            raise ProbeError(f"{args.probe}: no such probe file; give the path of a .prb file.", args.probe)
        for warning in read_probe(args.probe).validate(datafile.nb_channels):
            print(f"warning: {warning}", file=sys.stderr)
    # A folder recording is named by its folder, any other by its data file (also when given
    # through its .params): `<stem>.params` beside it is where SpyKING CIRCUS looks.
    recording = args.file if os.path.isdir(args.file) else datafile.file_name
    beside = default_params_path(recording)
    out = Path(args.output) if args.output else beside
    # Editing an existing params file keeps its other sections.
    base = args.params or (args.file if str(args.file).endswith(".params") else None)
    description = datafile.get_description()
    if os.path.isdir(args.file):
        description["file_name"] = os.path.abspath(args.file)   # a folder recording has no <stem>.ext
    probe_path = args.probe
    if not probe_path and not args.no_header_probe:
        from app.model.probes import write_header_probe
        header = write_header_probe(datafile, out)
        if header is not None:
            probe_path = str(header[0])
            print(f"wrote {probe_path} (probe from the header: {header[1].summary()})")
    written = write_all(out, description, probe_path=probe_path, base=base, data_file=datafile.file_name)
    print(f"wrote {out}")
    if written.params_backup:
        print(f"kept the previous file as {written.params_backup}")
    if out.resolve() != beside.resolve():
        print(f"note: SpyKING CIRCUS looks for {beside.name} beside the data; copy it there to sort.",
              file=sys.stderr)
    return 0


def cmd_check_format(args: argparse.Namespace) -> int:
    from app.io.conformance import run_conformance
    check_format_name(args.file_format)
    settings = parse_sets(args.set)
    check_set_keys(settings, args.file_format)
    report = run_conformance(args.file, args.file_format, settings, args.stream_mode)
    print(report.format_text())
    return 0 if report.ok else 1
