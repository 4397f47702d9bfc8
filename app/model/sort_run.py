"""Sort jobs of the sorters SpikeInterface runs (MountainSort5, SpykingCircus2, Tridesclous2, Kilosort 4).

Such a sorter's template (``resources/sorters/NAME.json``) has a ``spikeinterface`` entry
(``{"sorter": the run_sorter name, "keep_sorter_output": bool}``). Its job runs
``python -m app.io.si_sort run ...`` with the interpreter of the sorter's own environment
(app.model.sorters) and Wavescope's source on ``PYTHONPATH``: the recording is opened there
through app.io, the app's process never imports a sorter. SortJob (app.model.jobs) hands its
command, environment, preflight and results here. No Qt.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import app
from app.model.jobs import JobError, SorterTemplate, SortJob, sorter_template

SOURCE_ROOT = Path(app.__file__).resolve().parent.parent      # the folder holding the `app` package
RUNNER = "app.io.si_sort"


def si_settings(template: SorterTemplate) -> dict | None:
    """The template's `spikeinterface` entry, or None for a sorter Wavescope launches itself."""
    return template.spikeinterface or None


def is_si_sorter(name: str) -> bool:
    return si_settings(sorter_template(name)) is not None


def parse_param_args(items: list[str] | None) -> dict[str, str]:
    """--param KEY=VALUE ... as {KEY: "VALUE"}; the sorter's environment gives the types."""
    found: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise JobError(f"--param {item!r}: give KEY=VALUE, e.g. --param detect_threshold=6 "
                           "(`wavescope sorters params NAME` lists them)")
        found[key.strip()] = value.strip()
    return found


def _python(template: SorterTemplate) -> str:
    env = template.sorter_env()
    if not env.usable or env.python is None:
        raise JobError(missing_message(template))
    return str(env.python)


def missing_message(template: SorterTemplate) -> str:
    env = template.sorter_env()
    return f"{template.title} is not installed ({env.reason or env.state}). Install it with: {template.install}"


def _check_options(job: SortJob, template: SorterTemplate) -> None:
    for name, reason in template.unsupported.items():
        if getattr(job, name) not in (None, False, "", []):
            raise JobError(f"{template.title}: --{name} is not supported: {reason}")
    if not job.output:
        raise JobError(f"{template.title}: give --output DIR, the folder the results go to "
                       "(it must not exist yet, or be empty).")


def command(job: SortJob) -> list[str]:
    """`python -m app.io.si_sort run PARAMS --sorter S --output DIR ...` in the sorter's environment."""
    template = job.template()
    settings = si_settings(template) or {}
    _check_options(job, template)
    params = {**settings.get("fixed_params", {}), **(job.sorter_params or {})}
    argv = [_python(template), "-u", "-m", RUNNER, "run", os.path.abspath(job.params_file),
            "--sorter", settings.get("sorter", job.sorter), "--output", os.path.abspath(job.output),
            "--params-json", json.dumps(params)]
    if job.cpus:
        argv += ["--n-jobs", str(job.cpus)]
    if settings.get("keep_sorter_output"):
        argv.append("--keep-sorter-output")
    return argv


def process_environment(job: SortJob) -> dict[str, str]:
    """The sorter's environment first on PATH, Wavescope's source importable, no user site."""
    env = dict(job.template().process_environment())
    env.update({"PYTHONPATH": str(SOURCE_ROOT), "PYTHONNOUSERSITE": "1", "PYTHONUNBUFFERED": "1"})
    return env


def preflight(job: SortJob) -> None:
    """The recording's params exist and the output is free; raised before anything starts."""
    template = job.template()
    _check_options(job, template)
    if not os.path.isfile(job.params_file):
        raise JobError(f"{job.params_file}: no such params file; write one with `wavescope params DATA --probe "
                       "PROBE.prb`.")
    output = Path(os.path.abspath(job.output))
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise JobError(f"{output}: already exists and is not an empty folder; a sort never overwrites results: "
                       "choose another output folder.")
    if not output.parent.is_dir():
        raise JobError(f"{output.parent}: no such folder for the output; create it first.")


def results_path(job: SortJob) -> str | None:
    """Where a finished job's results are: OUTPUT (with OUTPUT/sorting, a SpikeInterface folder) for a
    SpikeInterface sorter; SpyKING CIRCUS's `<data>/<data>.result[-EXT].hdf5` for spyking-circus."""
    if si_settings(job.template()) is not None:
        return os.path.abspath(job.output) if job.output else None
    try:
        data = Path(job.data_file())
    except JobError:
        return None
    suffix = f"-{job.extension}" if job.extension else ""
    return str(data.with_suffix("") / f"{data.stem}.result{suffix}.hdf5")


def default_params(name: str, timeout: float = 300) -> dict[str, Any]:
    """{"params": {...}, "descriptions": {...}, "version": ...} of sorter `name`, asked of its environment."""
    template = sorter_template(name)
    settings = si_settings(template)
    if settings is None:
        raise JobError(f"{template.title} takes its parameters from the recording's .params file "
                       "(`wavescope params`), not from --param.")
    argv = [_python(template), "-m", RUNNER, "defaults", settings["sorter"]]
    env = {**{k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "VIRTUAL_ENV")},
           **process_environment_for(template)}
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              env=env, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise JobError(f"{template.title}: its environment did not answer ({error}).") from None
    if done.returncode:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise JobError(f"{template.title}: its environment cannot list the parameters ({tail}).")
    return json.loads(done.stdout)


def process_environment_for(template: SorterTemplate) -> dict[str, str]:
    return {**template.process_environment(), "PYTHONPATH": str(SOURCE_ROOT), "PYTHONNOUSERSITE": "1"}
