"""`wavescope convert` and `wavescope sort`: the job commands.

The jobs panel and `mpiexec -n N` launch `python -m app convert ...` (every rank runs the
same command line; a PyInstaller bundle runs its own executable: `app.model.jobs.wavescope_command`).
In the foreground, SIGINT, SIGTERM and SIGHUP stop the job and exit 128 + N.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path

from app import exitcodes
from app.cli.cluster import add_cluster_options, convert_on_cluster, sort_jobs, submit_jobs, wants_cluster
from app.cli.options import add_open_options, check_format_name, open_from_args

EXIT_STATUS = """exit status: 0 when done; 1 when the job cannot start or fails (a sorter's own status when it
  fails); 128+N when stopped by signal N, after every process the job started has ended:
  130 Ctrl-C (SIGINT), 143 SIGTERM, 129 SIGHUP (the terminal closed).
"""

CONVERT_EXAMPLES = """examples:
  wavescope convert rec.dat --set nb_channels=64 --set data_dtype=int16 --set sampling_rate=30000 \\
      -o rec_hp.dat --to raw_binary --filter highpass:300
  mpiexec -n 4 wavescope convert session_0.dat --stream-mode multi-files --params session.params \\
      -o all.h5 --to hdf5 --progress json
""" + EXIT_STATUS

SORT_EXAMPLES = """examples:
  wavescope sort rec.params --cpus 4 --dry-run      print the exact command only
  wavescope sort rec.params --steps filtering,whitening,clustering,fitting --cpus 8 --hostfile nodes.hosts
  wavescope sort rec.params --allow-in-place     with overwrite = True: let the filter rewrite rec.dat
  wavescope sort rec.params --sorter mountainsort5 --output rec_ms5 --param detect_threshold=6 --cpus 2
      (SpikeInterface sorters: mountainsort5, spykingcircus2, tridesclous2, kilosort4; their parameters:
       wavescope sorters params NAME; results: rec_ms5/sorting, a SpikeInterface folder)
""" + EXIT_STATUS


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add the `convert` and `sort` sub-commands (each sets `func`)."""
    _add_convert_parser(subparsers)
    _add_sort_parser(subparsers)


# -- convert --------------------------------------------------------------------------------------
def _add_convert_parser(subparsers: argparse._SubParsersAction) -> None:
    from app.io.convert_options import add_convert_options
    parser = subparsers.add_parser(
        "convert", help="convert a recording to another format (chunked, MPI-parallel)",
        epilog=CONVERT_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_open_options(parser)
    add_convert_options(parser)
    parser.add_argument("--progress", choices=["json", "bar", "none"],
                        help="json: one line per chunk for the GUI (default: a bar on a terminal)")
    add_cluster_options(parser, ranks=True)
    parser.set_defaults(func=_stoppable(cmd_convert), to_format=None)     # None: from -o's extension


def _progress_printer(mode: str):
    """(callback, close) for --progress; the GUI reads the json lines."""
    if mode == "json":
        def emit(done, total, elapsed):
            # One write per line: a stop signal between a line and its newline would glue the
            # error's JSON to it.
            sys.stdout.write(json.dumps({"done": done, "total": total, "elapsed": round(elapsed, 3)}) + "\n")
            sys.stdout.flush()
        return emit, lambda: None
    if mode == "bar":
        from tqdm import tqdm
        bars = []

        def update(done, total, elapsed):
            if not bars:
                bars.append(tqdm(total=total, unit="chunk", file=sys.stderr))
            bars[0].update(done - bars[0].n)
        return update, lambda: [bar.close() for bar in bars]
    return None, lambda: None


def cmd_convert(args: argparse.Namespace) -> int:
    from app.io.convert import convert
    from app.io.convert_options import spec_from_args
    from app.io.mpi import comm
    if args.to_format is None:
        args.to_format = "nwb" if str(args.output).lower().endswith(".nwb") else "raw_binary"
    if wants_cluster(args):
        return convert_on_cluster(args)
    check_format_name(args.to_format, "--to")
    spec = spec_from_args(args, base_params=args.params)
    source = open_from_args(args)
    mode = args.progress or ("bar" if sys.stderr.isatty() else "none")
    progress, close = _progress_printer(mode) if comm.Get_rank() == 0 else (None, lambda: None)
    try:
        if spec.to_format == "nwb":
            from app.io.nwb_out import convert_to_nwb
            result = convert_to_nwb(source, spec, progress, comm, annotations=_annotations_of(source))
        else:
            result = convert(source, spec, progress)
    finally:
        close()
    if comm.Get_rank() != 0:
        return 0
    return _report_conversion(result, mode == "json")


def _annotations_of(source) -> list:
    """The user's annotations of `source` (its sidecar) for outputs that carry them (NWB)."""
    from app.io.messages import print_and_log
    from app.model.annotations import AnnotationFileError, Annotations
    try:
        return Annotations.load(source.file_name).items()
    except AnnotationFileError as error:
        print_and_log([f"{error} The output is written without the annotations."], "warning")
        return []


def _report_conversion(result, as_json: bool) -> int:
    rate_mb = result.nb_samples * result.nb_channels * 4 / 1e6 / max(result.seconds, 1e-9)
    summary = {"output": result.output, "params": result.params_file, "samples": result.nb_samples,
               "channels": result.nb_channels, "seconds": round(result.seconds, 3), "ranks": result.ranks,
               "max_difference": result.max_difference, "tolerance": result.tolerance,
               "verified": result.verified}
    if as_json:
        print(json.dumps({"result": summary}), flush=True)
    else:
        print(f"wrote {result.output}: {result.nb_samples} samples x {result.nb_channels} channels in "
              f"{result.seconds:.2f} s on {result.ranks} rank(s) ({rate_mb:.0f} MB/s as float32)")
        if result.params_file:
            print(f"wrote {result.params_file}")
        if result.verified is not None:
            verdict = "ok" if result.verified else "FAILED"
            print(f"verify {verdict}: max difference {result.max_difference:.6g} "
                  f"(allowed {result.tolerance:.6g})")
    return 0 if result.verified in (None, True) else 1


# -- sort -----------------------------------------------------------------------------------------
def _add_sort_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sort", help="run a spike sorter (SpyKING CIRCUS, ...) on a recording",
        epilog=SORT_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("params", help="the recording's .params file (or its data file)")
    parser.add_argument("--sorter", default="spyking-circus", help="sorter template name")
    parser.add_argument("--steps", help="comma-separated steps (sorter-specific)")
    parser.add_argument("--cpus", type=int, help="number of CPUs (MPI processes)")
    parser.add_argument("--gpus", type=int, help="number of GPUs, where the sorter takes it")
    parser.add_argument("--hostfile", help="MPI hostfile")
    parser.add_argument("--preview", action="store_true", help="the sorter's preview mode")
    parser.add_argument("--extension", help="result extension (merging/converting steps)")
    parser.add_argument("--output", help="SpikeInterface sorters: the results folder (required, new or empty); "
                                         "SpyKING CIRCUS: its output option")
    parser.add_argument("--param", action="append", metavar="KEY=VALUE",
                        help="a SpikeInterface sorter's parameter (repeatable; dotted keys for nested ones)")
    parser.add_argument("--dry-run", action="store_true", help="print the command, do not run it")
    parser.add_argument("--allow-in-place", action="store_true",
                        help="let the sorter rewrite the recording itself (params with overwrite = True); "
                             "without it such a run is refused")
    add_cluster_options(parser)
    parser.set_defaults(func=_stoppable(cmd_sort))


class SorterUnavailable(Exception):
    """The chosen sorter is not installed here; its message says how to install it."""

    exit_status = exitcodes.UNAVAILABLE


def probe_warnings(params_path: str) -> list[str]:
    """What is wrong with the probe file the params name (`mapping` in [data]); the sorter stops on it.

    A relative path is read from the current folder, as the sorter (started here) reads it."""
    try:
        with open(params_path, encoding="utf-8-sig") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return []                           # no params to read: the sorter itself says so
    section, found = None, None
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if text.startswith("["):
            section = text.strip("[]").strip().lower()
        elif section == "data" and "=" in text and text.split("=", 1)[0].strip().lower() == "mapping":
            found = (number, text.split("=", 1)[1].split("#", 1)[0].strip())
    if found is None:
        return [f"{params_path}: [data] has no mapping line; the sorter needs the probe file "
                "(mapping = /path/to/probe.prb)"]
    number, value = found
    where = f"{params_path}: line {number}: mapping"
    if not value:
        return [f"{where} is empty; give the probe file (mapping = /path/to/probe.prb)"]
    path = Path(os.path.abspath(os.path.expanduser(value)))
    if not path.is_file():
        return [f"{where} = {value}: the probe file {path} does not exist; fix the path"]
    if path.stat().st_size == 0:
        return [f"{where} = {value}: the probe file {path} is empty; write its channel groups into it"]
    return []


def cmd_sort(args: argparse.Namespace) -> int:
    from app.model.jobs import InPlaceRefused, JobError, JobHistory, JobRunner, SortJob, sorter_template
    from app.model.sort_run import parse_param_args
    template = sorter_template(args.sorter)
    if args.param and not template.spikeinterface:
        raise JobError(f"{template.title} takes its parameters from the .params file, not --param")
    sorter_params = parse_param_args(args.param)

    def make_job(params: str) -> SortJob:
        return SortJob(params_file=os.path.abspath(params), sorter=args.sorter,
                       steps=args.steps.split(",") if args.steps else None, cpus=args.cpus, gpus=args.gpus,
                       hostfile=args.hostfile, preview=args.preview, extension=args.extension,
                       output=args.output, allow_in_place=args.allow_in_place,
                       sorter_params=dict(sorter_params))
    if template.spikeinterface:
        missing = template.missing_message()
        if missing and not args.dry_run:
            raise SorterUnavailable(missing)
    if wants_cluster(args) and not args.dry_run:
        return submit_jobs(sort_jobs(args, make_job), args.cluster, args.wait)
    job = make_job(args.params)
    try:
        command = job.command()
        print(" ".join(_quote(part) for part in command), flush=True)
        for warning in probe_warnings(job.params_file if template.spikeinterface else job.params_path()):
            print(f"wavescope: warning: {warning}", file=sys.stderr)
        job.preflight()
    except InPlaceRefused as refused:
        if not args.dry_run:
            raise
        print(f"wavescope: note: {refused}", file=sys.stderr)     # nothing runs: say what a run would do
        return exitcodes.OK
    if args.dry_run:
        return exitcodes.OK
    missing = template.missing_message()
    if missing:
        raise SorterUnavailable(missing)
    code = _run_live(job, JobRunner, JobHistory())
    results = job.results_path() if template.spikeinterface else None
    if code == 0 and results and not (Path(results) / "sorting").is_dir():
        _say(f"wavescope: error: the sorter exited 0 but {results}/sorting is missing; no results", sys.stderr)
        return exitcodes.DATA_ERROR
    return code


# -- stop signals ---------------------------------------------------------------------------------
STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")      # SIGHUP does not exist on Windows
STOP_WAIT_S = 30.0      # after asking the job to stop: its grace period, the kill and the drain


class StopRequested(KeyboardInterrupt):
    """A stop signal reached a foreground command; it ends its job, then exits 128 + signum."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _stoppable(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """`command` with the stop signals turned into StopRequested while it runs."""
    @wraps(command)
    def run(args: argparse.Namespace) -> int:
        with stop_signals():
            return command(args)
    return run


@contextmanager
def stop_signals() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise StopRequested (main thread only), once: signals that
    follow while the job is being stopped are ignored, so the stop itself is never cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum, frame):
        if not received:
            received.append(signum)
            raise StopRequested(signum)

    numbers = [getattr(signal, name) for name in STOP_SIGNALS if hasattr(signal, name)]
    previous = {signum: signal.signal(signum, handler) for signum in numbers}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _say(text: str, stream=None, end: str = "\n") -> None:
    """Print, tolerating a terminal that went away (SIGHUP) or a closed pipe."""
    try:
        print(text, end=end, file=stream or sys.stdout, flush=True)
    except (OSError, ValueError):
        pass


def _run_live(job, runner_class, history) -> int:
    """Run with the output shown as it comes; SIGINT (Ctrl-C), SIGTERM and SIGHUP end the job's
    whole process tree and exit 128 + the signal's number."""
    in_place = sys.stderr.isatty()

    def show_progress(text: str) -> None:
        if in_place:
            _say("\r" + text[-200:], sys.stderr, end="")

    runner = runner_class(job, on_line=_say, on_progress_line=show_progress, on_change=history.record)
    stopped: KeyboardInterrupt | None = None
    try:
        runner.start()
        while runner.wait(timeout=0.5) is None:
            pass
    except KeyboardInterrupt as request:       # StopRequested, or a bare Ctrl-C off the main thread
        stopped = request
        with _ignoring_stop_signals():
            runner.stop()
            try:
                runner.wait(STOP_WAIT_S)
            except RuntimeError:        # stopped before it started
                pass
    if in_place:
        _say("", sys.stderr)
    _say(f"{job.describe()}: {job.status} (exit {job.exit_code}, {job.duration or 0:.1f} s)", sys.stderr)
    if stopped is not None:
        reason = str(stopped) or "interrupted"
        _say(f"wavescope: {reason}; the sorter and every process it started were ended", sys.stderr)
        return getattr(stopped, "exit_code", 130)
    code = job.exit_code
    if code is None:
        return 1
    return code if code >= 0 else 128 - code


@contextmanager
def _ignoring_stop_signals() -> Iterator[None]:
    """While a stop runs: further stop signals change nothing (a bare handler, main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    numbers = [getattr(signal, name) for name in STOP_SIGNALS if hasattr(signal, name)]
    previous = {signum: signal.signal(signum, lambda *_: None) for signum in numbers}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _quote(part: str) -> str:
    import shlex
    return shlex.quote(part)
