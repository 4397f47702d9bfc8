"""The `wavescope` command line: gui (default), info, formats, params, check-format, demo, ...

Every command prints errors as one readable message (the file, the field, the
fix) and exits non-zero; status 2 means "required fields are missing".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

EXIT_MISSING_FIELDS = 2

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
"""


def _parse_sets(pairs: Sequence[str] | None) -> dict[str, str]:
    values = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SystemExit(f"wavescope: --set takes KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        values[key.strip()] = value.strip()
    return values


def _add_open_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the recording (a data file, a folder, or a .params file)")
    parser.add_argument("--format", dest="file_format", help="the format name (see `wavescope formats`)")
    parser.add_argument("--stream-mode", help="e.g. multi-files, single-file")
    parser.add_argument("--params", help="take [data] settings from this .params file")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                        help="a data field, e.g. --set sampling_rate=30000 (repeatable)")


def _open_from_args(args):
    from app.io import open_datafile
    settings: dict = {}
    file_format, stream_mode = args.file_format, args.stream_mode
    if getattr(args, "params", None):
        from app.io.params import datafile_settings
        _, settings = datafile_settings(args.params)
        file_format = file_format or settings.pop("file_format", None)
        stream_mode = stream_mode or settings.pop("stream_mode", None)
        settings.pop("file_format", None)
        settings.pop("stream_mode", None)
    settings.update(_parse_sets(args.set))
    return open_datafile(args.file, settings, file_format, stream_mode)


def _report_missing(error, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"file": error.file_name, "format": error.file_format, "missing": error.missing}))
    else:
        print(f"wavescope: {error}", file=sys.stderr)
        print("missing fields:", file=sys.stderr)
        for key, type_name in error.missing.items():
            print(f"  {key} ({type_name})", file=sys.stderr)
    return EXIT_MISSING_FIELDS


def _distinct_gains(datafile) -> list[float] | None:
    """Per-channel gains when they differ between channels, else None."""
    gains = datafile.channel_gains
    if len(gains) and not (gains == gains[0]).all():
        return [float(g) for g in gains]
    return None


def describe(datafile) -> dict:
    """What `info` shows, as plain data."""
    rate = float(datafile.sampling_rate)
    streams = []
    offsets = datafile.stream_offsets()
    for k, stream in enumerate(datafile.streams):
        streams.append({"file": stream.file_name, "timeline_start": int(offsets[k]),
                        "t_start": int(stream.t_start), "t_stop": int(stream.t_stop),
                        "duration": int(stream.duration),
                        "duration_s": stream.duration / rate})
    params = datafile.get_description()
    mandatory = {k: params[k] for k in ("nb_channels", "sampling_rate", "data_dtype", "dtype_offset", "gain")}
    return {
        "file": datafile.file_name,
        "format": datafile.description,
        "stream_mode": datafile.stream_mode,
        **mandatory,
        "duration": int(datafile.duration),
        "duration_s": datafile.duration / rate,
        "t_start": int(datafile.t_start),
        "t_stop": int(datafile.t_stop),
        "t_start_s": datafile.t_start / rate,
        "nb_streams": datafile.nb_streams,
        "streams": streams,
        "from_header": sorted(datafile.header_fields),
        "from_params": sorted(datafile.given_fields - datafile.header_fields),
        "channel_gains": _distinct_gains(datafile),
        "params": {k: v for k, v in params.items() if k not in mandatory},
    }


def _format_duration(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours:d}:{minutes:02d}:{secs:06.3f}"


def cmd_info(args) -> int:
    from app.io import MissingFieldsError
    try:
        datafile = _open_from_args(args)
    except MissingFieldsError as error:
        return _report_missing(error, args.json)
    info = describe(datafile)
    if args.json:
        print(json.dumps(info, default=str))
        return 0
    header = set(info["from_header"])

    def source(key):
        if key in header:
            return "header"
        return "params" if key in datafile.given_fields else "default"

    print(f"file          {info['file']}")
    print(f"format        {info['format']}" + (f" (stream mode {info['stream_mode']})" if info["stream_mode"] else ""))
    for key in ("nb_channels", "sampling_rate", "data_dtype", "dtype_offset", "gain"):
        print(f"{key:<13} {info[key]!s:<14} from {source(key)}")
    if info["channel_gains"]:
        low, high = min(info["channel_gains"]), max(info["channel_gains"])
        print(f"{'':<13} per-channel gains from {low:.6g} to {high:.6g} (unit per bit)")
    print(f"duration      {info['duration']} samples = {info['duration_s']:.3f} s "
          f"({_format_duration(info['duration_s'])})")
    print(f"t_start       {info['t_start']} samples ({info['t_start_s']:.6f} s), t_stop {info['t_stop']}")
    print(f"streams       {info['nb_streams']}")
    if info["nb_streams"] > 1:
        for k, stream in enumerate(info["streams"]):
            print(f"  [{k}] {stream['file']}: {stream['duration']} samples ({stream['duration_s']:.3f} s) "
                  f"t_start {stream['t_start']}")
    for key, value in info["params"].items():
        if key not in ("file_format", "stream_mode"):
            print(f"{key:<13} {value!s:<14} from {source(key)}")
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


def cmd_formats(args) -> int:
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


def cmd_suggest(args) -> int:
    """Ranked guesses of the layout of a headerless file, with their evidence."""
    from app.io.sniff import suggest_raw_layout
    if not os.path.isfile(args.file):
        print(f"wavescope: {args.file}: no such file", file=sys.stderr)
        return 1
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
    return 0


def cmd_params(args) -> int:
    from app.io import MissingFieldsError
    from app.io.errors import ProbeError
    from app.io.params import write_params
    if args.suggest:
        return cmd_suggest(args)
    try:
        datafile = _open_from_args(args)
    except MissingFieldsError as error:
        return _report_missing(error, False)
    if args.probe:
        if not os.path.isfile(args.probe):
            raise ProbeError(f"{args.probe}: no such probe file; give the path of a .prb file.", args.probe)
        try:
            from app.io.probe import read_probe
        except ModuleNotFoundError as error:   # no probe reader installed: the sorter checks it
            if error.name != "app.io.probe":
                raise
            read_probe = None
        if read_probe is not None:
            for warning in read_probe(args.probe).validate(datafile.nb_channels):
                print(f"warning: {warning}", file=sys.stderr)
    data_path = Path(datafile.file_name)
    out = Path(args.output) if args.output else data_path.with_suffix(".params")
    # Editing an existing params file keeps its other sections.
    base = args.params or (args.file if str(args.file).endswith(".params") else None)
    description = datafile.get_description()
    if os.path.isdir(args.file):
        description["file_name"] = os.path.abspath(args.file)   # a folder recording has no <stem>.ext
    backup = write_params(out, description, probe=args.probe, base=base)
    print(f"wrote {out}")
    if backup:
        print(f"kept the previous file as {backup}")
    if out.resolve() != data_path.resolve().with_suffix(".params"):
        print(f"note: SpyKING CIRCUS looks for {data_path.with_suffix('.params').name} beside the data; "
              "copy it there to sort.", file=sys.stderr)
    return 0


def cmd_check_format(args) -> int:
    from app.io.conformance import run_conformance
    settings = _parse_sets(args.set)
    report = run_conformance(args.file, args.file_format, settings, args.stream_mode)
    print(report.format_text())
    return 0 if report.ok else 1


def cmd_demo(args) -> int:
    from app.model.demo import default_folder, demo_params, write_demo
    folder = Path(args.folder) if args.folder else default_folder()
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
    return _run_gui([str(first)], params=params, screenshot=args.screenshot)


def _run_gui(files: Sequence[str], params: dict | None = None, screenshot: str | None = None) -> int:
    try:
        from app.views.main_window import run
    except ImportError as error:
        print(f"wavescope: the browser is not available ({error}); "
              "showing `wavescope info` of the recording instead.", file=sys.stderr)
        if files:
            return main(["info", files[0]] + [f"--set={k}={v}" for k, v in (params or {}).items()
                                              if k not in ("file_format", "stream_mode", "mapping")]
                        + (["--format", params["file_format"]] if params and "file_format" in params else [])
                        + (["--stream-mode", params["stream_mode"]] if params and "stream_mode" in params else []))
        return 1
    return run(list(files), params=params, screenshot=screenshot)


def cmd_bench(args) -> int:
    """`wavescope bench traces FILE`: frame times of the real trace view over a scripted scroll."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app.views.bench import bench_traces
    result = bench_traces(args.file, args.file_format, _parse_sets(args.set), channels=args.channels,
                          window_s=args.window, width=args.width, height=args.height)
    if args.json:
        print(json.dumps({k: result[k] for k in ("window_s", "median_ms", "p95_ms", "frames")}))
    else:
        print(f"window {result['window_s']:g} s: median {result['median_ms']:.1f} ms, "
              f"95th percentile {result['p95_ms']:.1f} ms over {result['frames']} frames")
    return 0


def cmd_doctor(args) -> int:
    """What this installation has and lacks: Qt, OpenGL, MPI, optional tools, folders, plugins."""
    from app.doctor import doctor
    return doctor(as_json=args.json, probe=args.probe)


def cmd_gui(args) -> int:
    return _run_gui(args.files)


def build_parser() -> argparse.ArgumentParser:
    from app import __version__
    parser = argparse.ArgumentParser(
        prog="wavescope", description="Browse extracellular recordings, write spike-sorter params, run jobs.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"wavescope {__version__}")
    sub = parser.add_subparsers(dest="command")

    gui = sub.add_parser("gui", help="open the browser (the default command)")
    gui.add_argument("files", nargs="*")
    gui.set_defaults(func=cmd_gui)

    info = sub.add_parser("info", help="what a recording holds: params, duration, streams")
    _add_open_options(info)
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(func=cmd_info)

    formats = sub.add_parser("formats", help="every supported format with its fields")
    formats.add_argument("--json", action="store_true")
    formats.set_defaults(func=cmd_formats)

    params = sub.add_parser("params", help="write a complete .params file for a recording")
    _add_open_options(params)
    params.add_argument("--probe", help="the .prb file (checked against nb_channels)")
    params.add_argument("-o", "--output", help="where to write (default: next to the data)")
    params.add_argument("--suggest", action="store_true",
                        help="for a headerless file: print ranked nb_channels/data_dtype/data_offset guesses")
    params.add_argument("--json", action="store_true", help="with --suggest: machine-readable output")
    params.set_defaults(func=cmd_params)

    check = sub.add_parser("check-format", help="run the wrapper conformance kit on a file")
    _add_open_options(check)
    check.set_defaults(func=cmd_check_format)

    demo = sub.add_parser("demo", help="open the built-in synthetic demo recording")
    demo.add_argument("--screenshot", metavar="PNG", help="render offscreen, save the picture, exit")
    demo.add_argument("--info-only", action="store_true", help="print the demo's info instead of opening it")
    demo.add_argument("--folder", help="where to write the demo (default: the user cache)")
    demo.set_defaults(func=cmd_demo)

    doctor = sub.add_parser("doctor", help="check this installation and say how to fix what is missing")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.add_argument("--probe", choices=["opengl", "mpi", "ranks"], help=argparse.SUPPRESS)
    doctor.set_defaults(func=cmd_doctor)

    bench = sub.add_parser("bench", help="measure the browser: `bench traces FILE`")
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

    from app.jobs_cli import add_job_commands
    add_job_commands(sub)
    from app.events_cli import add_events_commands
    add_events_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    known = {"gui", "info", "formats", "params", "check-format", "demo", "convert", "sort", "bench", "doctor", "events"}
    if argv and argv[0] not in known and not argv[0].startswith("-"):
        argv = ["gui"] + argv
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        args = parser.parse_args(["gui"])
    from app.io.errors import DataFileError
    try:
        return int(args.func(args) or 0)
    except DataFileError as error:
        print(f"wavescope: {error}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        print(f"wavescope: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("wavescope: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
