"""Run a SpikeInterface sorter on a Wavescope recording, inside the SORTER's environment.

Started by the sorter environment's interpreter with Wavescope's source on ``sys.path``
(``python -m app.io.si_sort run ...``, see app.model.sort_run); never imported by the app's own
process for a sort. The recording is opened through app.io and app.io.si_bridge (lazy, µV,
channel locations from the params' probe), sorted with ``spikeinterface.sorters.run_sorter``,
and written atomically::

    OUTPUT/sorting/               the sorting, a SpikeInterface folder (spikeinterface.load,
                                  app.io.sorting.read_spikeinterface)
    OUTPUT/wavescope-run.json     sorter, parameters, versions, input files and their sha256, times
    OUTPUT/spikeinterface_log.json, spikeinterface_params.json   run_sorter's record
    OUTPUT/sorter_output/         the sorter's own files, for sorters that keep them (Kilosort 4)

Everything is written into a hidden partial beside OUTPUT (app.io.partials) renamed to OUTPUT
when complete. A failure leaves no OUTPUT: its log goes to ``OUTPUT.failed.log`` and one clear
line to stderr (exit 1). ``python -m app.io.si_sort defaults SORTER`` prints the sorter's
default parameters and their descriptions as JSON. No Qt, no app.model.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import platform
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from app.io import atomic, partials
from app.io.errors import DataFileError

RUN_RECORD = "wavescope-run.json"
SORTING_FOLDER = "sorting"
FAILED_LOG_SUFFIX = ".failed.log"
JOB_KWARGS = ("n_jobs", "chunk_duration", "progress_bar", "pool_engine", "mp_context", "max_threads_per_worker")
STAGES = 5


class SortRunError(Exception):
    """A sort that cannot run or did not finish; the message names the file, the value and the fix."""


def failed_log_path(output: str | os.PathLike) -> Path:
    """Where a failed run leaves its log: beside OUTPUT, never in it."""
    return Path(os.path.abspath(output) + FAILED_LOG_SUFFIX)


# -- parameters -----------------------------------------------------------------------------------
def coerce_params(given: dict[str, Any], defaults: dict[str, Any], sorter: str) -> dict[str, Any]:
    """`given` ({"key": "text"} from --param KEY=VALUE, or typed values) as the sorter's types.

    A dotted key sets a nested parameter (``filtering.freq_min=300``). Text takes the type of
    the default: bool (true/false), int, float, str; a None, list or dict default reads JSON or a
    Python literal. "none"/"null" give None. An unknown key is an error listing the known ones."""
    params = json.loads(json.dumps(defaults, default=str))
    for key, value in given.items():
        path = str(key).split(".")
        level, default = params, defaults
        for depth, part in enumerate(path):
            if not isinstance(default, dict) or part not in default:
                known = ", ".join(sorted(default)) if isinstance(default, dict) else "(none: not a group)"
                raise SortRunError(f"--param {key}: {sorter} has no parameter {'.'.join(path[:depth + 1])!r}; "
                                   f"its parameters here are: {known} (see `wavescope sorters params {sorter}`).")
            if depth < len(path) - 1:
                level, default = level[part], default[part]
        level[path[-1]] = _coerce(key, value, default[path[-1]])
    return params


def _coerce(key: str, value: Any, default: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.lower() in ("none", "null"):
        return None
    try:
        if isinstance(default, bool):
            lowered = text.lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError("not true or false")
        if isinstance(default, int):
            number = float(text)
            if not number.is_integer():
                raise ValueError(f"{text} is not a whole number")
            return int(number)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, str):
            return value
    except ValueError as error:
        raise SortRunError(f"--param {key}={value}: expected a {type(default).__name__} like the default "
                           f"{default!r} ({error}).") from None
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError):
            continue
    return value


def split_job_kwargs(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the sorter's own parameters, SpikeInterface job kwargs among them)."""
    own = {k: v for k, v in params.items() if k not in JOB_KWARGS}
    return own, {k: v for k, v in params.items() if k in JOB_KWARGS}


def default_params(sorter: str) -> dict[str, Any]:
    """{"params": defaults, "descriptions": {...}, "version": ...} of a SpikeInterface sorter."""
    import spikeinterface.sorters as ss
    sorter_class = _sorter_class(sorter)
    defaults = ss.get_default_sorter_params(sorter)
    descriptions = ss.get_sorter_params_description(sorter)
    version = None
    if sorter_class.is_installed():
        try:
            version = str(sorter_class.get_sorter_version())
        except Exception:  # noqa: BLE001 - a sorter's own version query may fail; the defaults stand
            version = None
    return {"sorter": sorter, "installed": bool(sorter_class.is_installed()), "version": version,
            "params": json.loads(json.dumps(defaults, default=str)),
            "descriptions": {k: str(v) for k, v in (descriptions or {}).items()}}


# -- the input ------------------------------------------------------------------------------------
def input_files(datafile: Any) -> list[Path]:
    """The files holding the recording's samples (each part of a multi-file recording)."""
    names = [getattr(part, "file_name", None) for part in getattr(datafile, "streams", None) or [datafile]]
    found: list[Path] = []
    for name in names or [datafile.file_name]:
        path = Path(name or datafile.file_name)
        found += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return list(dict.fromkeys(found))


def sha256_of(path: Path, block: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()


def probe_of(params_file: str) -> str | None:
    """The probe file the params' [data] mapping names (relative to the params' folder), or None."""
    if not params_file.endswith(".params"):
        return None
    from app.io.params import ParamsFile
    value = (ParamsFile.read(params_file).get("data", "mapping") or "").split("#", 1)[0].strip()
    if not value:
        return None
    path = Path(os.path.expanduser(value))
    if not path.is_absolute():
        beside = Path(params_file).resolve().parent / path
        path = beside if beside.exists() else path.resolve()
    if not path.is_file():
        raise SortRunError(f"{params_file}: [data] mapping = {value}: the probe file {path} does not exist; "
                           "fix the path (the sorter needs the channel locations).")
    return str(path)


def open_recording(params_file: str) -> tuple[Any, Any, str | None]:
    """(DataFile, SpikeInterface recording, probe path) of a .params file or a data file."""
    from app.io import open_datafile
    from app.io.si_bridge import to_si_recording
    probe = probe_of(params_file)
    datafile = open_datafile(params_file)
    if probe is None and datafile.channel_positions() is None:
        raise SortRunError(f"{params_file}: no probe: [data] has no mapping and the file stores no channel "
                           "locations; the sorter needs them. Write the params with a probe: "
                           "wavescope params DATA --probe PROBE.prb")
    return datafile, to_si_recording(datafile, probe), probe


# -- running --------------------------------------------------------------------------------------
def stage(number: int, text: str) -> None:
    """One line per stage; its percentage moves the jobs panel's bar (app.model.jobs.parse_progress)."""
    print(f"wavescope: {round(100 * (number - 1) / STAGES)}% [{number}/{STAGES}] {text}", flush=True)


def _sorter_class(sorter: str) -> Any:
    import spikeinterface.sorters as ss
    try:
        return ss.sorter_dict[sorter]
    except KeyError:
        raise SortRunError(f"SpikeInterface {_si_version()} has no sorter {sorter!r}; it has: "
                           f"{', '.join(sorted(ss.sorter_dict))}.") from None


def _si_version() -> str:
    import spikeinterface
    return spikeinterface.__version__


def _versions(sorter: str) -> dict[str, str]:
    import numpy
    import spikeinterface

    import app
    found = {"python": platform.python_version(), "numpy": numpy.__version__,
             "spikeinterface": spikeinterface.__version__, "wavescope": app.__version__}
    try:
        found[sorter] = str(_sorter_class(sorter).get_sorter_version())
    except Exception:  # noqa: BLE001 - the version is informative; a failing query does not stop the run
        found[sorter] = "unknown"
    return found


def check_output(output: Path) -> None:
    """OUTPUT must not hold anything: a sort never overwrites files."""
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise SortRunError(f"{output}: already exists and is not an empty folder; a sort never overwrites "
                           "results: choose another --output, or move that one away.")
    if not output.parent.is_dir():
        raise SortRunError(f"{output.parent}: no such folder for --output; create it first.")


def run(sorter: str, params_file: str, output: str | os.PathLike, given: dict[str, Any] | None = None,
        n_jobs: int | None = None, keep_sorter_output: bool = False) -> Path:
    """Sort `params_file`'s recording with `sorter` into `output` (see the module's docstring)."""
    import spikeinterface.core as si
    import spikeinterface.sorters as ss

    output = Path(os.path.abspath(output))
    check_output(output)
    partials.remove_stale(str(output.parent))
    partial = Path(partials.partial_name(str(output), os.getpid()))
    started = time.time()
    try:
        partial.mkdir()
        stage(1, f"opening {params_file}")
        datafile, recording, probe = open_recording(params_file)
        defaults = ss.get_default_sorter_params(sorter)
        params = coerce_params(given or {}, defaults, sorter)
        if n_jobs:
            params = _with_n_jobs(params, n_jobs)
        own, job_kwargs = split_job_kwargs(params)
        si.set_global_job_kwargs(**{**job_kwargs, "progress_bar": True})
        stage(2, "hashing the input files")
        inputs = [{"path": str(p), "size": p.stat().st_size, "sha256": sha256_of(p)} for p in input_files(datafile)]
        stage(3, f"running {sorter} on {recording.get_num_channels()} channels, "
                 f"{recording.get_total_duration():.1f} s")
        sort_started = time.time()
        sorting = ss.run_sorter(sorter, recording, folder=str(partial / "run"), verbose=True, raise_error=True,
                                **params)
        sort_seconds = time.time() - sort_started
        stage(4, f"saving {len(sorting.unit_ids)} units")
        sorting.save(folder=partial / SORTING_FOLDER)
        _keep_run_files(partial, keep_sorter_output)
        record = {"sorter": sorter, "params": own, "job_kwargs": job_kwargs, "given": given or {},
                  "versions": _versions(sorter), "input": {"params_file": os.path.abspath(params_file),
                                                           "format": datafile.description, "probe": probe,
                                                           "files": inputs},
                  "units": len(sorting.unit_ids), "spikes": int(sum(sorting.count_num_spikes_per_unit().values())),
                  "started": started, "sort_seconds": round(sort_seconds, 2), "output": str(output)}
        record["ended"] = time.time()
        for key in ("started", "ended"):
            record[f"{key}_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record[key]))
        atomic.write_text(partial / RUN_RECORD, json.dumps(record, indent=1, default=str) + "\n")
        stage(5, f"publishing {output}")
        if output.is_dir():
            output.rmdir()                              # the empty folder the user chose
        atomic.publish(partial, output)
        failed_log_path(output).unlink(missing_ok=True)
    except BaseException:
        _keep_failed_log(partial, output)
        atomic.remove(partial)
        raise
    return output


def _with_n_jobs(params: dict[str, Any], n_jobs: int) -> dict[str, Any]:
    """--cpus: n_jobs where the sorter takes it (top level, or its `job_kwargs`)."""
    params = dict(params)
    if "n_jobs" in params:
        params["n_jobs"] = n_jobs
    if isinstance(params.get("job_kwargs"), dict):
        params["job_kwargs"] = {**params["job_kwargs"], "n_jobs": n_jobs}
    return params


def _keep_run_files(partial: Path, keep_sorter_output: bool) -> None:
    """run_sorter's record beside the sorting; its working folder only when the sorter keeps it."""
    run_folder = partial / "run"
    for name in ("spikeinterface_log.json", "spikeinterface_params.json"):
        if (run_folder / name).is_file():
            os.replace(run_folder / name, partial / name)
    if keep_sorter_output and (run_folder / "sorter_output").is_dir():
        os.replace(run_folder / "sorter_output", partial / "sorter_output")
    atomic.remove(run_folder)


def _keep_failed_log(partial: Path, output: Path) -> None:
    """The error and run_sorter's log beside OUTPUT, for a run that did not finish."""
    text = [f"wavescope: the sort into {output} did not finish ({time.strftime('%Y-%m-%d %H:%M:%S')})",
            traceback.format_exc()]
    log = partial / "run" / "spikeinterface_log.json"
    if log.is_file():
        text.append("run_sorter's log:\n" + log.read_text(encoding="utf-8", errors="replace"))
    try:
        failed_log_path(output).write_text("\n".join(text), encoding="utf-8")
    except OSError:
        pass


def _one_line(error: BaseException) -> str:
    """The useful last line of an error (a sorter's error carries its whole trace)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return (lines[-1] if lines else type(error).__name__)[:500]


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.io.si_sort", description=__doc__.split("\n")[0])
    actions = parser.add_subparsers(dest="action", required=True)
    sort = actions.add_parser("run", help="sort a recording into OUTPUT")
    sort.add_argument("params", help="the recording's .params file (or a data file that stores its probe)")
    sort.add_argument("--sorter", required=True)
    sort.add_argument("--output", required=True)
    sort.add_argument("--params-json", default="{}", help="the sorter's parameters: {key: value or text}")
    sort.add_argument("--n-jobs", type=int)
    sort.add_argument("--keep-sorter-output", action="store_true")
    defaults = actions.add_parser("defaults", help="the sorter's default parameters as JSON")
    defaults.add_argument("sorter")
    args = parser.parse_args(argv)
    stops = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    previous = {signum: signal.signal(signum, _stop) for signum in stops}
    try:
        return _main(args)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _main(args: argparse.Namespace) -> int:
    try:
        if args.action == "defaults":
            print(json.dumps(default_params(args.sorter), indent=1))
            return 0
        started = time.perf_counter()
        output = run(args.sorter, args.params, args.output, json.loads(args.params_json), args.n_jobs,
                     args.keep_sorter_output)
        print(f"wavescope: 100% {args.sorter} finished in {time.perf_counter() - started:.1f} s; results in "
              f"{output} (sorting in {output / SORTING_FOLDER}, record in {output / RUN_RECORD})", flush=True)
        return 0
    except KeyboardInterrupt as stopped:
        print(f"wavescope: {stopped or 'interrupted'}; nothing was written to {args.output}", file=sys.stderr)
        return 130
    except (SortRunError, DataFileError) as error:
        print(f"wavescope: error: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - a sorter's failure: one clear line, the trace in the log
        where = getattr(args, "output", None)
        outcome = f"; nothing was written to {where}; the full log is in {failed_log_path(where)}" if where else ""
        print(f"wavescope: error: {args.sorter} failed ({type(error).__name__}: {_one_line(error)}){outcome}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())       # the exit status of the run, as an exception like the rest of app/io
