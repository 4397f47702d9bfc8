"""Conversion and sorting jobs: specs, exact command lines, a history, and a runner.

A job is plain data (a dataclass) that knows its command line; `JobRunner`
runs it as a child process in its own session, streams its output as lines,
follows its progress, and stops the whole process tree (MPI ranks included).
No Qt here: the jobs panel observes a runner through callbacks.
"""

from __future__ import annotations

import codecs
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import psutil

from app.io import atomic
from app.io.convert_options import SPEC_FIELDS, ConvertSpec, spec_arguments, spec_from_dict, spec_to_dict
from app.paths import RESOURCES

SORTERS_DIR = RESOURCES / "sorters"
FINISHED = ("done", "failed", "stopped", "interrupted")


def wavescope_command(*args: str) -> list[str]:
    """The command line that runs `wavescope ARGS...` in a child process: this interpreter with
    `-m app`, or in a PyInstaller bundle (no `-m` there) the bundle's own executable."""
    if getattr(sys, "frozen", False):
        return [sys.executable, *args]
    return [sys.executable, "-m", "app", *args]


class JobError(ValueError):
    """A job cannot be built as asked (unknown sorter, unsupported option, missing file)."""


class InPlaceRefused(JobError):
    """A sort whose params would rewrite the raw recording, not allowed by the user."""

    def __init__(self, message: str, data_file: str, edits: list[str]):
        super().__init__(message)
        self.data_file, self.edits = data_file, edits


# -- sorter templates -----------------------------------------------------------------------------
@dataclass
class SorterTemplate:
    """A sorter's command line, from `resources/sorters/<name>.json`.

    `command` items may use {executable}, {python} and {input}; `options` maps a
    SortJob field to its flag (`join` for lists, flags without value for booleans);
    `unsupported` maps a field to the reason it cannot be given.
    """

    name: str
    title: str
    command: list[str]
    install: str
    executable: str | None = None
    module: str | None = None
    input: str = "data_file"
    options: dict[str, dict] = field(default_factory=dict)
    unsupported: dict[str, str] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    default_steps: list[str] = field(default_factory=list)
    in_place_steps: list[str] = field(default_factory=list)   # steps that may write into the recording
    failure_pattern: str | None = None     # a line that means a step failed although the sorter exits 0
    environment: dict | None = None        # how its own environment is built (app.model.sorters)
    spikeinterface: dict | None = None     # run through SpikeInterface's run_sorter (app.model.sort_run)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SorterTemplate:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def sorter_env(self):
        """This sorter's environment (app.model.sorters): a managed venv or the user's interpreter."""
        from app.model.sorters import environment
        return environment(self.name, probe=False)

    def is_installed(self) -> bool:
        env = self.sorter_env()
        if env.usable:
            return not self.executable or env.executable(self.executable) is not None
        if self.module:
            return importlib.util.find_spec(self.module) is not None
        return shutil.which(self.executable or "") is not None

    def missing_message(self) -> str | None:
        """None when installed, else what is missing and how to install it."""
        if self.is_installed():
            return None
        env = self.sorter_env()
        if self.spikeinterface:
            what = f"its environment is not built ({env.reason or env.state})"
        elif env.usable:
            what = f"{self.executable} is not in its environment {env.prefix}"
        else:
            what = f"the Python module {self.module}" if self.module else f"{self.executable} (no environment)"
        return f"{self.title} is not installed: {what}. Install it with: {self.install}"

    def resolved(self) -> dict[str, str]:
        """{executable}, {python} for the command: the sorter environment's when there is one (the
        `bin/` of its venv), else a `self.executable` on PATH (a user's activated env)."""
        env = self.sorter_env()
        if env.usable and env.python is not None:
            found = env.executable(self.executable) if self.executable else None
            executable = str(found) if found else str(env.prefix / "bin" / (self.executable or ""))
            return {"executable": executable, "python": str(env.python)}
        return {"executable": shutil.which(self.executable or "") or self.executable or "",
                "python": sys.executable}

    def process_environment(self) -> dict[str, str]:
        """Variables the sorter's process needs: its environment's `bin` first on PATH (the
        launcher finds `mpiexec` and its sub-commands there), no Python paths of the app."""
        env = self.sorter_env()
        if not env.usable or env.prefix is None:
            return {}
        scripts = env.prefix / ("Scripts" if os.name == "nt" else "bin")
        return {"PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONNOUSERSITE": "1"}

    def command_for(self, job: SortJob) -> list[str]:
        values = {**self.resolved(),
                  "input": job.data_file() if self.input == "data_file" else job.params_file}
        command = [part.format(**values) for part in self.command]
        for name, reason in self.unsupported.items():
            if _given(getattr(job, name)):
                raise JobError(f"{self.title}: --{name} is not supported: {reason}")
        unknown = [step for step in job.steps or [] if self.steps and step not in self.steps]
        if unknown:
            raise JobError(f"{self.title}: unknown step(s) {', '.join(unknown)}; "
                           f"the steps are {', '.join(self.steps)}.")
        for name, option in self.options.items():
            value = getattr(job, name)
            if name == "steps" and not value:
                value = self.default_steps      # ours, said: the sorter's own may differ (merging)
            command += _option_args(option, value)
        return command


def _given(value: Any) -> bool:
    return value not in (None, False, "", [])


def _option_args(option: dict, value: Any) -> list[str]:
    if not _given(value):
        return []
    if value is True:
        return [option["flag"]]
    if isinstance(value, (list, tuple)):
        value = option.get("join", ",").join(str(v) for v in value)
    return [option["flag"], str(value)]


def sorter_names() -> list[str]:
    return sorted(path.stem for path in SORTERS_DIR.glob("*.json"))


def sorter_template(name: str) -> SorterTemplate:
    path = SORTERS_DIR / f"{name}.json"
    if not path.is_file():
        raise JobError(f"no sorter template named {name!r}; known sorters: {', '.join(sorter_names())}.")
    return SorterTemplate.load(path)


# -- job specs ------------------------------------------------------------------------------------
@dataclass
class Job:
    """What every job records: identity, state, outcome."""

    kind: ClassVar[str] = "job"
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    status: str = "pending"
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    exit_code: int | None = None
    pid: int | None = None
    argv: list[str] | None = None
    backend: str = "local"              # "cluster": submitted to SLURM (app.model.cluster)
    cluster: str | None = None          # the cluster profile's name
    cluster_id: str | None = None       # SLURM's job id ("123", or "123_4" for an array task)
    cluster_state: str | None = None    # SLURM's last word on it (PENDING, RUNNING, COMPLETED, ...)
    script: str | None = None           # the generated job.sbatch
    log: str | None = None              # the log SLURM writes (streamed while it grows)

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended or time.time()) - self.started

    def command(self) -> list[str]:
        raise NotImplementedError

    def preflight(self) -> None:
        """Raise JobError when the job must not start as it stands (checked by JobRunner.start)."""

    def process_environment(self) -> dict[str, str]:
        """Variables set for the job's process on top of the runner's (a sorter's PATH)."""
        return {}

    def outcome(self, code: int, lines: list[str]) -> tuple[int, str | None]:
        """The job's exit status from its process's `code` and output, and why it differs (None)."""
        return code, None

    def describe(self) -> str:
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {"kind": self.kind, **asdict(self)}

    @staticmethod
    def from_dict(data: dict) -> Job:
        classes = {klass.kind: klass for klass in (ConvertJob, SortJob)}
        klass = classes.get(data.get("kind", ""))
        if klass is None:
            raise JobError(f"unknown job kind {data.get('kind')!r} in the job history")
        known = klass.init_keys()
        return klass(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def init_keys(cls) -> set[str]:
        """The keywords the constructor takes (the keys `from_dict` keeps)."""
        return {f.name for f in fields(cls)}


def mpiexec_path() -> str:
    """The mpiexec next to this Python (the mpich wheel), else the one on PATH."""
    from app.io.mpi import find_mpiexec
    return find_mpiexec() or "mpiexec"


@dataclass(init=False)
class ConvertJob(Job):
    """`wavescope convert`, as one process or under mpiexec (`ranks` > 1).

    What to convert to is a ConvertSpec (app.io.convert_options), the one record of the
    convert options; the job adds how to open the source and how to launch the engine.
    The spec's options can also be given and read as the job's own (``ConvertJob(output=...,
    highpass=300)``, ``job.output``), the form older job histories are stored in.
    """

    kind: ClassVar[str] = "convert"
    source: str = ""
    file_format: str | None = None
    stream_mode: str | None = None
    params_file: str | None = None
    settings: dict = field(default_factory=dict)
    spec: ConvertSpec = field(default_factory=lambda: ConvertSpec(output=""))
    ranks: int = 1
    hostfile: str | None = None

    def __init__(self, spec: ConvertSpec | dict | None = None, **values: Any):
        options = {key: values.pop(key) for key in list(values) if key in SPEC_FIELDS}
        for own in fields(self):
            if own.name == "spec":
                continue
            if own.name in values:
                setattr(self, own.name, values.pop(own.name))
            elif own.default_factory is not MISSING:
                setattr(self, own.name, own.default_factory())
            else:
                setattr(self, own.name, own.default)
        if values:
            raise TypeError(f"ConvertJob() got unexpected keywords {sorted(values)}")
        if isinstance(spec, dict):
            spec = spec_from_dict(spec)
        base = spec_to_dict(spec) if spec is not None else {"output": ""}
        self.spec = spec_from_dict({**base, **options})

    @classmethod
    def init_keys(cls) -> set[str]:
        return super().init_keys() | SPEC_FIELDS

    def to_dict(self) -> dict:
        data = super().to_dict()
        data["spec"] = spec_to_dict(self.spec)
        return data

    def command(self) -> list[str]:
        command: list[str] = []
        if self.ranks > 1:
            from app.io.mpi import mpi_runtime
            runtime = mpi_runtime()
            if not runtime.available:
                raise JobError(f"{self.ranks} MPI ranks asked for, but {runtime.reason}")
            command += [runtime.mpiexec, "-n", str(self.ranks)]
            command += ["-f", self.hostfile] if self.hostfile else []
        command += wavescope_command("convert", self.source, "--progress", "json")
        pairs = [("--format", self.file_format), ("--stream-mode", self.stream_mode),
                 ("--params", self.params_file)]
        for flag, value in pairs:
            command += [flag, str(value)] if value is not None else []
        for key, value in self.settings.items():
            command += ["--set", f"{key}={value}"]
        return command + spec_arguments(self.spec)

    def describe(self) -> str:
        spec = self.spec
        extra = f" on {self.ranks} ranks" if self.ranks > 1 else ""
        filt = f", high-pass {spec.highpass:g} Hz" if spec.highpass else ""
        return f"convert {Path(self.source).name} -> {Path(spec.output).name} ({spec.to_format}{filt}){extra}"


def _spec_option(name: str) -> property:
    return property(lambda job: getattr(job.spec, name), lambda job, value: setattr(job.spec, name, value),
                    doc=f"the spec's `{name}`")


for _name in SPEC_FIELDS:
    setattr(ConvertJob, _name, _spec_option(_name))


@dataclass
class SortJob(Job):
    """A spike sorter run on a recording, from the sorter's JSON template."""

    kind: ClassVar[str] = "sort"
    params_file: str = ""
    sorter: str = "spyking-circus"
    steps: list[str] | None = None
    cpus: int | None = None
    gpus: int | None = None
    hostfile: str | None = None
    preview: bool = False
    extension: str | None = None
    output: str | None = None
    allow_in_place: bool = False       # the user agreed that the sorter rewrites the recording
    sorter_params: dict = field(default_factory=dict)   # a SpikeInterface sorter's parameters (--param)

    def template(self) -> SorterTemplate:
        return sorter_template(self.sorter)

    def data_file(self) -> str:
        """The recording the params file describes (SpyKING CIRCUS is launched on the data file)."""
        return resolve_data_file(self.params_file)

    def params_path(self) -> str:
        """The params file the sorter reads: started on DATA, SpyKING CIRCUS reads `<DATA stem>.params`."""
        return os.path.splitext(self.data_file())[0] + ".params"

    def command(self) -> list[str]:
        if self.template().spikeinterface:
            from app.model import sort_run
            return sort_run.command(self)
        return self.template().command_for(self)

    def process_environment(self) -> dict[str, str]:
        if self.template().spikeinterface:
            from app.model import sort_run
            return sort_run.process_environment(self)
        return self.template().process_environment()

    def results_path(self) -> str | None:
        """Where the results of this job are once it is done (app.model.sort_run.results_path)."""
        from app.model import sort_run
        return sort_run.results_path(self)

    def outcome(self, code: int, lines: list[str]) -> tuple[int, str | None]:
        """SpyKING CIRCUS 1.1 exits 0 when a step failed: its "Step ... failed" line makes it a failure."""
        pattern = self.template().failure_pattern
        if code != 0 or not pattern:
            return code, None
        failed = next((line for line in lines if re.search(pattern, line)), None)
        if failed is None:
            return code, None
        return 1, f"wavescope: the sorter exited 0 but reported a failure ({failed.strip(' |-')[:200]}); " \
                  "the job failed (exit 1)"

    def in_place_edits(self) -> list[str]:
        """What this run would write into the recording itself ([] for a copy, a preview, other steps)."""
        template = self.template()
        steps = self.steps or template.default_steps
        if self.preview or not any(step in template.in_place_steps for step in steps):
            return []
        if not os.path.isfile(self.params_path()):
            return []                      # the sorter stops at once: it has no params to read
        from app.io.params import ParamsFile, in_place_edits
        return in_place_edits(ParamsFile.read(self.params_path()))

    def preflight(self) -> None:
        """Refuse a run that would rewrite the raw recording unless `allow_in_place`."""
        if self.template().spikeinterface:
            from app.model import sort_run
            return sort_run.preflight(self)         # SpikeInterface reads the recording, never writes it
        if self.allow_in_place:
            return
        edits = self.in_place_edits()
        if edits:
            data_file = self.data_file()
            raise InPlaceRefused(in_place_message(data_file, self.params_path(), edits), data_file, edits)

    def describe(self) -> str:
        steps = ",".join(self.steps) if self.steps else "default steps"
        cpus = f", {self.cpus} CPUs" if self.cpus else ""
        if self.sorter not in ("spyking-circus",) and self.output and not self.steps:
            steps = f"-> {Path(self.output).name}"      # a SpikeInterface sorter's results folder
        return f"{self.sorter} on {Path(self.params_file).name} ({steps}{cpus})"


def in_place_message(data_file: str, params_file: str, edits: list[str]) -> str:
    """Why a sort is refused: the file it would rewrite, what it would do, and the two ways on."""
    return (f"{data_file}: this run would rewrite the recording in place ({', '.join(edits)}), because "
            f"overwrite is True in [data] of {params_file} (SpyKING CIRCUS's default when the line is "
            "missing); nothing was started. To keep the "
            "recording as it is, set overwrite = False in [data] (the sorter then filters a float32 "
            "copy); to let it modify the recording anyway, pass --allow-in-place.")


def resolve_data_file(path: str) -> str:
    """A data file given as such, or the one a .params file names (see `datafile_settings`)."""
    if not path.endswith(".params"):
        return path
    from app.io.errors import DataFileError
    from app.io.params import datafile_settings
    try:
        data_file, _ = datafile_settings(path)
    except DataFileError as error:
        raise JobError(str(error)) from None
    return os.fspath(data_file)


# -- history --------------------------------------------------------------------------------------
def default_history_path() -> Path:
    import platformdirs
    return Path(platformdirs.user_data_dir("wavescope")) / "jobs.json"


class JobHistory:
    """The jobs of past sessions in a JSON file, written atomically.

    A job still marked running whose process is gone was cut short: it loads as
    `interrupted`.
    """

    def __init__(self, path: str | os.PathLike | None = None, keep: int = 200):
        self.path = Path(path) if path else default_history_path()
        self.keep = keep
        self._lock = threading.Lock()

    def load(self) -> list[Job]:
        try:
            entries = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return []
        jobs = []
        for entry in entries if isinstance(entries, list) else []:
            try:
                job = Job.from_dict(entry)
            except (JobError, TypeError):
                continue
            if job.backend == "local" and job.status in ("running", "pending") and job.started \
                    and not _alive(job.pid, job.started):
                job.status = "interrupted"
            jobs.append(job)
        return jobs

    def save(self, jobs: list[Job]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps([job.to_dict() for job in jobs[-self.keep:]], indent=1)
        atomic.write_text(self.path, text)

    def record(self, job: Job) -> None:
        """Add or update `job` (by id)."""
        with self._lock:
            jobs = [j for j in self.load() if j.id != job.id]
            jobs.append(job)
            self.save(jobs)


def _alive(pid: int | None, started: float) -> bool:
    if not pid:
        return False
    try:
        process = psutil.Process(pid)
        return process.create_time() <= started + 1 and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


# -- output parsing -------------------------------------------------------------------------------
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s?%")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def parse_progress(text: str) -> float | None:
    """A fraction in [0, 1] from our JSON progress lines or a tqdm-like 'NN%'; else None."""
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
            return min(max(data["done"] / data["total"], 0.0), 1.0) if data.get("total") else None
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
    found = PERCENT.findall(text)
    if not found:
        return None
    return min(float(found[-1]) / 100.0, 1.0)


class OutputSplitter:
    """Bytes of a terminal program -> (text, in_place) pieces, colour codes removed.

    A piece ending in newline is a line; one ending in a lone carriage return
    is an in-place update (a progress bar), superseded by the next piece.
    """

    def __init__(self):
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, data: bytes, final: bool = False) -> list[tuple[str, bool]]:
        text = self._pending + self._decoder.decode(data, final)
        pieces, start = [], 0
        for match in re.finditer(r"\r\n|\n|\r", text):
            if match.group() == "\r" and match.end() == len(text) and not final:
                break
            piece = strip_ansi(text[start:match.start()])
            in_place = match.group() == "\r"
            if piece or not in_place:
                pieces.append((piece, in_place))
            start = match.end()
        self._pending = text[start:]
        if final and self._pending:
            pieces.append((strip_ansi(self._pending), False))
            self._pending = ""
        return pieces


# -- running --------------------------------------------------------------------------------------
def runner_for(job: Job) -> type:
    """The runner class of `job`: JobRunner here, ClusterRunner (app.model.cluster) on SLURM."""
    if job.backend == "cluster":
        from app.model.cluster import ClusterRunner
        return ClusterRunner
    return JobRunner


# Every process a job starts inherits this variable (value: the job id), so a double-forked
# daemon that re-parents to init and leaves the session is still found as the job's.
JOB_MARKER = "WAVESCOPE_JOB_ID"
DRAIN_SECONDS = 2.0         # output still read after the job's main process exits
KILL_WAIT_SECONDS = 2.0     # after SIGKILL, how long processes get to vanish


def _groups_of(pid: int | None) -> set[tuple[str, int]]:
    """The process group and session of `pid` (POSIX), never ours: those are shared by the job only."""
    found: set[tuple[str, int]] = set()
    if pid is None:
        return found
    for kind, get in (("pgid", getattr(os, "getpgid", None)), ("sid", getattr(os, "getsid", None))):
        if get is None:
            continue
        try:
            value, own = get(pid), get(0)
        except OSError:
            continue
        if value != own:
            found.add((kind, value))
    return found


def _in_groups(pid: int, groups: set[tuple[str, int]]) -> bool:
    for kind, value in groups:
        get = getattr(os, "getpgid" if kind == "pgid" else "getsid", None)
        try:
            if get is not None and get(pid) == value:
                return True
        except OSError:
            pass
    return False


def _carries_marker(process: psutil.Process, marker: str) -> bool:
    try:
        return process.environ().get(JOB_MARKER) == marker
    except (psutil.Error, OSError):     # another user's process, or a platform that hides it
        return False


def job_processes(pid: int | None, marker: str | None = None,
                  groups: set[tuple[str, int]] | None = None) -> list[psutil.Process]:
    """Every live process of a job: `pid` and its descendants, the members of its process group
    and session (POSIX), and every process whose environment carries `marker` (where readable)."""
    found: dict[int, psutil.Process] = {}
    if pid is not None:
        try:
            root = psutil.Process(pid)
            found[pid] = root
            found.update((child.pid, child) for child in root.children(recursive=True))
        except psutil.Error:
            pass
    groups = _groups_of(pid) if groups is None else groups
    if marker or groups:
        ours = {os.getpid(), *(parent.pid for parent in psutil.Process().parents())}
        for process in psutil.process_iter():
            if process.pid in found or process.pid in ours:
                continue
            if _in_groups(process.pid, groups) or (marker and _carries_marker(process, marker)):
                found[process.pid] = process
    for process in list(found.values()):
        try:
            found.update((child.pid, child) for child in process.children(recursive=True))
        except psutil.Error:
            pass
    return [process for process in found.values() if _running(process)]


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def stop_tree(pid: int | None, grace: float = 5.0, root: subprocess.Popen | None = None,
              marker: str | None = None) -> int:
    """End every process of a job: SIGTERM (TerminateProcess on Windows), SIGKILL after `grace` s.

    The job's processes are listed BEFORE any signal (a parent that dies first would
    orphan its children out of reach), then again before SIGKILL (for what was started
    meanwhile). The root is waited through `root` when given, so its exit status stays
    with the Popen object. Returns how many processes were signalled.
    """
    groups = _groups_of(pid)
    # The root is never waited through psutil: that would reap it and lose its status to Popen.
    own = {root.pid} if root is not None else set()
    members = [p for p in job_processes(pid, marker, groups) if p.pid not in own]
    _signal(root, groups, members, signal.SIGTERM)
    deadline = time.monotonic() + grace
    if root is not None:
        try:
            root.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    _, alive = psutil.wait_procs(members, timeout=max(deadline - time.monotonic(), 0.05))
    known = own | {p.pid for p in members}
    late = [p for p in job_processes(None, marker, groups) if p.pid not in known]
    root_alive = root is not None and root.poll() is None
    if alive or late or root_alive or groups:
        _signal(root if root_alive else None, groups, alive + late, _KILL)
        psutil.wait_procs(alive + late, timeout=KILL_WAIT_SECONDS)
    if root is not None:
        try:
            root.wait(timeout=KILL_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            pass
    return len(members) + len(late) + (root is not None)


_KILL = getattr(signal, "SIGKILL", None)     # None on Windows: psutil's kill() is TerminateProcess


def _signal(root: subprocess.Popen | None, groups: set[tuple[str, int]],
            processes: list[psutil.Process], signum: int | None) -> None:
    """`signum` (SIGTERM, or _KILL for a kill) to the root, its process group and `processes`."""
    killpg = getattr(os, "killpg", None)
    for kind, value in groups:
        if kind == "pgid" and killpg is not None and signum is not None:
            try:
                killpg(value, signum)
            except OSError:
                pass
    if root is not None and root.poll() is None:
        try:
            root.terminate() if signum == signal.SIGTERM else root.kill()
        except OSError:
            pass
    for process in processes:
        try:
            process.terminate() if signum == signal.SIGTERM else process.kill()
        except psutil.Error:
            pass


def _session_options() -> dict:
    """Start the job as the leader of a new session (POSIX) or a new process group (Windows)."""
    if os.name == "nt":
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    return {"start_new_session": True}


class FollowsAJob:
    """What every runner (local: JobRunner, SLURM: app.model.cluster.ClusterRunner) shares: its
    `job`, an `on_change(job)` callback, the thread that follows the job and the event set when
    the job has ended."""

    job: Job
    on_change: Callable[[Job], None] | None
    on_progress: Callable[[float], None] | None
    on_progress_line: Callable[[str], None] | None
    progress: float | None
    progress_line: str
    _thread: threading.Thread | None
    _ended: threading.Event

    def _notify_change(self) -> None:
        if self.on_change:
            self.on_change(self.job)

    def _took_progress(self, text: str, in_place: bool) -> bool:
        """A progress fraction in `text` goes to `on_progress`, an in-place line (a progress bar
        redrawn) to `on_progress_line`; True when `text` was in place, so not a line of the log."""
        fraction = parse_progress(text)
        if fraction is not None:
            self.progress = fraction
            if self.on_progress:
                self.on_progress(fraction)
        if in_place:
            self.progress_line = text
            if self.on_progress_line:
                self.on_progress_line(text)
        return in_place

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code once the job ended and its output is read; None on timeout."""
        if self._thread is None:
            raise RuntimeError("the job was not started")
        # An Event, not Thread.join: a signal handler's exception interrupting join() can leave
        # the thread looking finished while it is not (a CPython race), an Event stays truthful.
        return self.job.exit_code if self._ended.wait(timeout) else None


class JobRunner(FollowsAJob):
    """Runs one job as a child process in its own session and follows it.

    Callbacks run on a worker thread: `on_line(text)` for each complete line,
    `on_progress_line(text)` for in-place updates, `on_progress(fraction)`,
    `on_change(job)` when the job starts and ends. The job ends when its main
    process exits: its output is then drained for at most DRAIN_SECONDS, and
    processes it left behind holding the output (daemons) are ended, so the
    state always reaches done, failed or stopped.
    """

    def __init__(self, job: Job, on_line: Callable[[str], None] | None = None,
                 on_progress_line: Callable[[str], None] | None = None,
                 on_progress: Callable[[float], None] | None = None,
                 on_change: Callable[[Job], None] | None = None,
                 env: dict | None = None, cwd: str | None = None, max_lines: int = 10000):
        self.job = job
        self.on_line, self.on_progress_line = on_line, on_progress_line
        self.on_progress, self.on_change = on_progress, on_change
        self.env, self.cwd = env, cwd
        self.lines: deque[str] = deque(maxlen=max_lines)
        self.progress_line = ""
        self.progress: float | None = None
        self.process: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._reader: threading.Thread | None = None
        self._splitter = OutputSplitter()
        self._output_lock = threading.Lock()
        self._detached = False          # the reader's output no longer counts (the job ended)
        self._stopping = False
        self._ended = threading.Event()

    def start(self) -> None:
        self.job.preflight()
        command = self.job.command()
        self.job.argv = command
        env = dict(os.environ if self.env is None else self.env)
        extra = self.job.process_environment()
        if extra:                   # a sorter's environment: none of the app's Python paths
            for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
                env.pop(name, None)
        env.update(extra)
        env[JOB_MARKER] = self.job.id
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env, cwd=self.cwd,
                                        **_session_options())
        self.job.pid, self.job.started, self.job.status = self.process.pid, time.time(), "running"
        self._notify_change()
        self._reader = threading.Thread(target=self._read, name=f"job-{self.job.id}-output", daemon=True)
        self._reader.start()
        self._thread = threading.Thread(target=self._follow, name=f"job-{self.job.id}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        """Reader thread: the output until EOF (which a leftover daemon may hold back)."""
        stream = self.process.stdout
        while True:
            try:
                data = os.read(stream.fileno(), 65536)
            except OSError:
                data = b""
            with self._output_lock:
                if self._detached:
                    break
                for text, in_place in self._splitter.feed(data, final=not data):
                    self._handle(text, in_place)
            if not data:
                break
        stream.close()

    def _follow(self) -> None:
        """Follower thread: the main process's exit, a bounded drain, then the job's end."""
        code = self.process.wait()
        self._reader.join(DRAIN_SECONDS)
        if self._reader.is_alive():
            # Something the job started still holds the output pipe: the job is over, so are they.
            ended = stop_tree(None, grace=1.0, marker=self.job.id)
            with self._output_lock:
                if not self._detached:
                    self._handle(f"wavescope: the job left {ended} process(es) holding its output; "
                                 f"they were ended", False)
            self._reader.join(DRAIN_SECONDS)
        with self._output_lock:
            if self._reader.is_alive():
                self._detached = True
                for text, in_place in self._splitter.feed(b"", final=True):
                    self._handle(text, in_place)
        self._finish(code)

    def _handle(self, text: str, in_place: bool) -> None:
        if self._took_progress(text, in_place):
            return
        self.lines.append(text)
        if self.on_line:
            self.on_line(text)

    def _finish(self, code: int) -> None:
        job = self.job
        if not self._stopping:
            with self._output_lock:
                code, why = job.outcome(code, list(self.lines))
                if why:
                    self._handle(why, False)
        job.exit_code, job.ended = code, time.time()
        job.status = "stopped" if self._stopping else ("done" if code == 0 else "failed")
        try:
            self._notify_change()
        finally:
            self._ended.set()

    def stop(self, grace: float = 5.0) -> int:
        """End every process of the job (SIGTERM, then SIGKILL after `grace` s), even when its main
        process already exited and a daemon it started lives on. Returns how many were signalled."""
        if self.process is None or self._ended.is_set():
            return 0
        self._stopping = True
        if self.process.poll() is not None:     # reaped: its pid may already be another process's
            return stop_tree(None, grace, marker=self.job.id)
        return stop_tree(self.process.pid, grace, root=self.process, marker=self.job.id)
