"""The `wavescope` command line: gui (default), info, formats, params, check-format, demo, ...

Every command prints errors as one readable message (the file, the field, the
fix) and exits with a status from `app.exitcodes` (3: required fields are missing;
see `wavescope --help`); with --json the error is a JSON object on stdout instead.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Sequence

from app import exitcodes

EXIT_MISSING_FIELDS = exitcodes.MISSING_FIELDS

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


class CommandLineError(Exception):
    """A mistake on the command line (exit status 2); `field` is the option or key at fault."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)


def did_you_mean(word: str, choices, cutoff: float = 0.75) -> str | None:
    """The choice `word` most likely mistypes, or None."""
    close = difflib.get_close_matches(word.lower(), [str(c).lower() for c in choices], n=1, cutoff=cutoff)
    if not close:
        return None
    return next(str(c) for c in choices if str(c).lower() == close[0])


def _parse_sets(pairs: Sequence[str] | None) -> dict[str, str]:
    values = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise CommandLineError(f"--set takes KEY=VALUE, got {pair!r}; e.g. --set sampling_rate=30000.",
                                   "--set")
        key, value = pair.split("=", 1)
        values[key.strip()] = value.strip()
    return values


# -- names in --format, --set and .params files, checked before anything is opened -----------------
_ALWAYS_KNOWN = {"file_name", "file_format", "stream_mode", "segment_index", "stream_index"}


def _known_data_keys(file_format: str | None) -> set[str]:
    """[data] keys that mean something: the format's fields (every format's when it is not
    known yet), the fields every format has, and SpyKING CIRCUS's own [data] keys."""
    from app.io.datafile import MANDATORY_FIELDS
    from app.io.registry import supported_formats
    formats = supported_formats()
    classes = [formats[file_format]] if file_format in formats else list(formats.values())
    keys = set(MANDATORY_FIELDS) | _ALWAYS_KNOWN | set(_template_keys().get("data", ()))
    for klass in classes:
        keys |= set(klass._required_fields) | set(klass._default_values) | set(klass._field_types)
    return keys


def _template_keys() -> dict[str, list[str]]:
    from app.io.params import ParamsFile
    template = ParamsFile.from_template()
    return {section: template.keys(section) for section in template.sections()}


def check_format_name(name: str | None, where: str = "--format") -> None:
    """A format name that is not registered: CommandLineError with the closest name."""
    from app.io.registry import supported_formats
    if not name:
        return
    formats = supported_formats()
    if name in formats:
        return
    guess = did_you_mean(name, list(formats))
    hint = f"did you mean {guess!r}?" if guess else "see `wavescope formats` for the names."
    raise CommandLineError(f"{where}: no format named {name!r}; {hint}", "file_format")


def check_set_keys(settings: dict, file_format: str | None) -> None:
    """--set keys that mistype a known field: CommandLineError naming the field; other unknown
    keys pass with a warning (a plugin or the sorter may read them)."""
    known = _known_data_keys(file_format)
    for key in settings:
        if key in known:
            continue
        guess = did_you_mean(key, sorted(known))
        if guess:
            raise CommandLineError(f"--set {key}=...: unknown field {key!r}; did you mean {guess!r}?", key)
        logging.getLogger("wavescope").warning("--set %s: not a field of %s; passed on as is.",
                                               key, file_format or "any format")


def _params_lines(path: str) -> list[tuple[str, str, int]]:
    """(section, key, line number) of every `key = value` line of a params file."""
    found, section = [], None
    with open(path, encoding="utf-8-sig") as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.strip()
            if not text or text[0] in "#;":
                continue
            header = re.fullmatch(r"\[([^\]]*)\].*", text)
            if header:
                section = header.group(1).strip()
            elif section is not None and "=" in text:
                found.append((section, text.split("=", 1)[0].strip(), number))
    return found


def check_params_file(path: str, file_format: str | None = None) -> None:
    """Mistyped names in a params file: in [data] an error naming the line (a misread recording
    is worse than a refusal), in the sorter's sections a warning."""
    from app.io.errors import ParamsError
    from app.io.params import ParamsFile
    params = ParamsFile.read(path)                     # malformed lines raise with their line first
    file_format = file_format or params.get("data", "file_format") or None
    template = _template_keys()
    known_data = _known_data_keys(file_format)
    log = logging.getLogger("wavescope")
    for section, key, line in _params_lines(path):
        where = f"{path}: line {line}"
        if section == "data" and key == "file_format" and file_format:
            from app.io.registry import supported_formats
            if file_format not in supported_formats():
                guess = did_you_mean(file_format, list(supported_formats()))
                error = ParamsError(f"{where}: no format named {file_format!r}; "
                                    + (f"did you mean {guess!r}?" if guess else "see `wavescope formats`."),
                                    path)
                error.field, error.line = "file_format", line
                raise error
        if section == "data" and key.lower() not in known_data:
            guess = did_you_mean(key, sorted(known_data))
            if guess:
                error = ParamsError(f"{where}: [data] {key} is not a known field; did you mean {guess}? "
                                    "Fix the name in the file.", path)
                error.field, error.line = key, line
                raise error
            log.warning("%s: [data] %s is not a field of %s; it is passed on as is.",
                        where, key, file_format or "any format")
        elif section != "data" and section in template and key.lower() not in template[section]:
            guess = did_you_mean(key, template[section])
            log.warning("%s: [%s] %s is not a SpyKING CIRCUS parameter%s; the sorter ignores it.",
                        where, section, key, f" (did you mean {guess}?)" if guess else "")


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
    check_format_name(file_format)
    params_file = getattr(args, "params", None)
    for path in (params_file, args.file):
        if path and str(path).endswith(".params") and os.path.isfile(path):
            check_params_file(str(path), file_format)
    if params_file:
        from app.io.params import datafile_settings
        _, settings = datafile_settings(params_file)
        file_format = file_format or settings.pop("file_format", None)
        stream_mode = stream_mode or settings.pop("stream_mode", None)
        settings.pop("file_format", None)
        settings.pop("stream_mode", None)
    given = _parse_sets(args.set)
    check_set_keys(given, file_format)
    settings.update(given)
    return open_datafile(args.file, settings, file_format, stream_mode)


# -- errors -> exit status and message ---------------------------------------------------------------
_USER_ERRORS = ("JobError", "AnnotationFileError")


def _is_damaged(error: BaseException) -> bool:
    """A header or layout that contradicts itself: the file is damaged or truncated."""
    from app.io.errors import HeaderError
    if getattr(error, "damaged", False) or type(error).__name__ in ("DamagedFileError", "TruncatedFileError"):
        return True
    return isinstance(error, HeaderError) and bool(re.search(r"\b(damaged|truncated|corrupt)", str(error)))


def exit_status(error: BaseException) -> int:
    """The `app.exitcodes` status of an error that ended a command."""
    from app.io.errors import DataFileError, MissingFieldsError
    if isinstance(getattr(error, "exit_status", None), int):
        return error.exit_status                  # an error that knows its status
    if isinstance(error, CommandLineError):
        return exitcodes.USAGE
    if isinstance(error, BrokenPipeError):
        return exitcodes.BROKEN_PIPE
    if isinstance(error, KeyboardInterrupt):
        return exitcodes.interrupted_status(error)
    if isinstance(error, MissingFieldsError):
        return exitcodes.MISSING_FIELDS
    if _is_damaged(error):
        return exitcodes.DAMAGED
    if isinstance(error, ImportError):
        return exitcodes.UNAVAILABLE
    if isinstance(error, (DataFileError, OSError, ValueError)) or type(error).__name__ in _USER_ERRORS:
        return exitcodes.DATA_ERROR
    return exitcodes.INTERNAL


def error_message(error: BaseException) -> str:
    from app.io.errors import DataFileError
    if isinstance(error, KeyboardInterrupt):
        return str(error) or "interrupted"
    if isinstance(error, ImportError):
        return (f"{error}; it is not installed here (`wavescope doctor` says what is missing and how to "
                "install it).")
    if isinstance(error, (DataFileError, CommandLineError)) or type(error).__name__ in _USER_ERRORS:
        return str(error)
    if exit_status(error) == exitcodes.INTERNAL:
        return (f"internal error ({type(error).__name__}: {error}); please report it "
                "(set WAVESCOPE_DEBUG=1 to see where it happened).")
    return f"{type(error).__name__}: {error}"


def error_json(error: BaseException) -> dict:
    """`{"error": {...}}` for --json; missing fields keep their `{"file", "format", "missing"}` keys."""
    from app.io.errors import MissingFieldsError
    body = {"type": type(error).__name__, "message": error_message(error),
            "file": getattr(error, "file_name", None), "field": getattr(error, "field", None),
            "status": exit_status(error)}
    for extra in ("line", "candidates"):
        if getattr(error, extra, None):
            body[extra] = getattr(error, extra)
    if isinstance(error, MissingFieldsError):
        body["field"] = next(iter(error.missing), None)
        return {"file": error.file_name, "format": error.file_format, "missing": error.missing, "error": body}
    return {"error": body}


def report_error(error: BaseException, as_json: bool) -> int:
    """Print `error` the way the user asked (a JSON object on stdout, or lines on stderr); its status."""
    from app.io.errors import MissingFieldsError
    status = exit_status(error)
    if status == exitcodes.INTERNAL and os.environ.get("WAVESCOPE_DEBUG"):
        import traceback
        traceback.print_exception(error, file=sys.stderr)
    if getattr(error, "said_by_another_rank", False):
        return status                      # an MPI rank: rank 0 reports the failure they share
    if as_json:
        print(json.dumps(error_json(error), default=str), flush=True)
        return status
    print(f"wavescope: {error_message(error)}", file=sys.stderr)
    if isinstance(error, MissingFieldsError):
        print("missing fields:", file=sys.stderr)
        for key, type_name in error.missing.items():
            print(f"  {key} ({type_name})", file=sys.stderr)
    return status


def wants_json(argv: Sequence[str]) -> bool:
    """Whether the command line asks for machine-readable output (--json, --progress json)."""
    argv = list(argv)
    return ("--json" in argv or "--progress=json" in argv
            or any(a == "--progress" and b == "json" for a, b in zip(argv, argv[1:])))


def run_command(func, args, as_json: bool) -> int:
    """Run a command's function; every error becomes its message and exit status, never a traceback."""
    try:
        status = int(func(args) or 0)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        return _broken_pipe()
    except (Exception, KeyboardInterrupt) as error:      # the command line's last line of defence
        try:
            return report_error(error, as_json)
        except BrokenPipeError:
            return _broken_pipe()


def _broken_pipe() -> int:
    """The reader of stdout went away (`| head`): stop quietly; point stdout at nothing so the
    interpreter's final flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return exitcodes.BROKEN_PIPE


class _StderrLog(logging.Handler):
    """Warnings of the `wavescope` logger, once, on the stderr of the moment (`warning: ...`).

    Without a handler, `print_and_log` printed a warning to stdout and logging's last-resort
    handler printed it again to stderr (and --json output was no longer JSON)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(f"{record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)
        except (OSError, ValueError):
            pass


def _log_warnings_to_stderr() -> None:
    logger = logging.getLogger("wavescope")
    if not any(isinstance(handler, _StderrLog) for handler in logger.handlers):
        logger.addHandler(_StderrLog(logging.WARNING))


class Parser(argparse.ArgumentParser):
    """argparse with JSON usage errors under --json and "did you mean" for a mistyped choice."""

    json_errors = False

    def error(self, message: str):
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            options = re.findall(r"[\w.-]+", choice.group(2))
            guess = did_you_mean(choice.group(1), options, cutoff=0.6)
            if guess:
                message += f"; did you mean {guess!r}?"
        if Parser.json_errors:
            print(json.dumps(error_json(CommandLineError(f"{self.prog}: {message}"))), flush=True)
            self.exit(exitcodes.USAGE)
        super().error(message)


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
                        "duration_s": stream.duration / rate,
                        "ignored_bytes": int(getattr(stream, "ignored_bytes", 0))})
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
        "ignored_bytes": sum(s["ignored_bytes"] for s in streams),   # partial last frames, not read
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
    datafile = _open_from_args(args)
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
    if info["ignored_bytes"]:
        print(f"ignored       {info['ignored_bytes']} bytes after the last whole frame (a partial frame: "
              "the acquisition stopped mid-write?)")
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


def cmd_params(args) -> int:
    from app.io.errors import ProbeError
    from app.io.params import write_params
    if args.suggest:
        return cmd_suggest(args)
    datafile = _open_from_args(args)
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
    backup = write_params(out, description, probe=args.probe, base=base, data_file=datafile.file_name)
    print(f"wrote {out}")
    if backup:
        print(f"kept the previous file as {backup}")
    if out.resolve() != data_path.resolve().with_suffix(".params"):
        print(f"note: SpyKING CIRCUS looks for {data_path.with_suffix('.params').name} beside the data; "
              "copy it there to sort.", file=sys.stderr)
    return 0


def cmd_check_format(args) -> int:
    from app.io.conformance import run_conformance
    check_format_name(args.file_format)
    settings = _parse_sets(args.set)
    check_set_keys(settings, args.file_format)
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
        from app.views.launch import run
    except ImportError as error:
        print(f"wavescope: the browser is not available ({error}); "
              "showing `wavescope info` of the recording instead.", file=sys.stderr)
        if files:
            return main(["info", files[0]] + [f"--set={k}={v}" for k, v in (params or {}).items()
                                              if k not in ("file_format", "stream_mode", "mapping")]
                        + (["--format", params["file_format"]] if params and "file_format" in params else [])
                        + (["--stream-mode", params["stream_mode"]] if params and "stream_mode" in params else []))
        return exitcodes.UNAVAILABLE
    return run(list(files), params=params, screenshot=screenshot)


def cmd_bench(args) -> int:
    """`wavescope bench traces FILE`: frame times of the real trace view over a scripted scroll."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    check_format_name(args.file_format)
    settings = _parse_sets(args.set)
    check_set_keys(settings, args.file_format)
    from app.views.bench import bench_traces
    result = bench_traces(args.file, args.file_format, settings, channels=args.channels,
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
    return doctor(as_json=args.json, probe=args.probe, clean=args.clean)


def cmd_gui(args) -> int:
    return _run_gui(args.files)


def build_parser() -> argparse.ArgumentParser:
    from app import __version__
    parser = Parser(
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
    doctor.add_argument("--clean", action="store_true", help="remove partial outputs of killed conversions")
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
    argv = list(sys.argv[1:] if argv is None else argv)
    _log_warnings_to_stderr()
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
        return _broken_pipe()
    except KeyboardInterrupt:
        print("wavescope: interrupted", file=sys.stderr)
        return exitcodes.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
