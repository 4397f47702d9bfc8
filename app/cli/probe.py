"""`wavescope probe FILE`: the probe geometry of a recording's header or of a probe file, printed
or exported (`--export OUT.json|.prb|.mat`: probeinterface JSON, SpyKING CIRCUS .prb, Kilosort
channel map)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from app import exitcodes
from app.cli.options import open_from_args

EXAMPLES = """examples:
  wavescope probe run_g0_t0.imec0.ap.bin                     the imro table's electrode positions
  wavescope probe run_g0_t0.imec0.ap.bin --export probe.json  for probeinterface / SpikeInterface
  wavescope probe "Record Node 101" --export chanMap.mat      a Kilosort channel map
  wavescope probe theirs.prb --export clean.prb               a probeinterface .prb made plain
  wavescope probe --library cambridgeneurotech/ASSY-156-P-1 --export assy.prb
"""
PROBE_FILES = (".prb", ".json", ".mat")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `probe`."""
    parser = subparsers.add_parser("probe", help="print or export a recording's probe geometry",
                                   epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", nargs="?", help="a recording (data file, folder, .params) or a probe file "
                        "(.prb, .json, .mat)")
    parser.add_argument("--format", dest="file_format", help="the format name (see `wavescope formats`)")
    parser.add_argument("--stream-mode", help="e.g. multi-files, single-file")
    parser.add_argument("--params", help="take [data] settings from this .params file")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                        help="a data field, e.g. --set sampling_rate=30000 (repeatable)")
    parser.set_defaults(func=cmd_probe)
    parser.add_argument("--library", metavar="MAKER/NAME",
                        help="a probeinterface library probe (fetched once, then cached)")
    parser.add_argument("--export", metavar="OUT", help="write the geometry to OUT (.json, .prb or .mat)")
    parser.add_argument("--radius", type=float, help="with --export .prb: the neighbourhood radius in µm")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _geometry(args: argparse.Namespace):
    """(geometry or None, nb_channels or None, sampling rate or None)."""
    from app.cli.common import CommandLineError
    from app.io.probe_interchange import library_probe, read_probe_file
    if args.library:
        maker, _, name = args.library.partition("/")
        if not name:
            raise CommandLineError(f"--library {args.library}: give MAKER/NAME, e.g. "
                                   "cambridgeneurotech/ASSY-156-P-1")
        return library_probe(maker, name), None, None
    if not args.file:
        raise CommandLineError("give a recording or a probe file, or --library MAKER/NAME")
    if Path(args.file).suffix.lower() in PROBE_FILES and os.path.isfile(args.file):
        return read_probe_file(args.file), None, None
    datafile = open_from_args(args)
    return datafile.channel_geometry(), int(datafile.nb_channels), float(datafile.sampling_rate)


def cmd_probe(args: argparse.Namespace) -> int:
    from app.io.probe_interchange import default_radius, write_probe_file
    geometry, nb_channels, rate = _geometry(args)
    if geometry is None:
        message = f"{args.file}: its header places no channel; give a probe file (.prb, .json, .mat)."
        print(json.dumps({"error": message}) if args.json else message)
        return exitcodes.DATA_ERROR
    if args.export:
        radius = args.radius if args.radius is not None else (
            geometry.annotations.get("radius") or default_radius(geometry))
        out = write_probe_file(geometry, args.export, nb_channels, radius, rate)
        if not args.json:
            print(f"wrote {out} ({geometry.summary()})")
    if args.json:
        print(json.dumps({"source": geometry.source, "description": geometry.description,
                          "model_name": geometry.model_name, "nb_channels": nb_channels,
                          "channels": geometry.channels.tolist(), "positions": geometry.positions.tolist(),
                          "shank_ids": geometry.shank_ids.tolist(), "contact_shape": geometry.contact_shape,
                          "contact_size": geometry.contact_size, "exported": args.export}))
    elif not args.export:
        print(geometry.summary())
        print(f"{'channel':>8} {'x (µm)':>10} {'y (µm)':>10} {'shank':>6}")
        for channel, (x, y), shank in zip(geometry.channels, geometry.positions, geometry.shank_ids):
            print(f"{int(channel):>8} {x:>10g} {y:>10g} {int(shank):>6}")
    return 0
