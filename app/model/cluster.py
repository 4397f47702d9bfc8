"""Jobs on a SLURM cluster: profiles, a readable batch script, and a runner that follows it.

A cluster profile (partition, account, time, CPUs, memory, GPUs, extra `#SBATCH` lines) lives
in `cluster.json` in the user config folder. `ClusterRunner` has the interface of
`app.model.jobs.JobRunner`: it writes `job.sbatch` into a folder of the job's own, submits it
with `sbatch --parsable`, follows its state (`squeue`, then `scontrol show job` once it left the
queue, then `sacct` where accounting exists), streams the log SLURM writes as it grows, and
cancels it with `scancel` (the whole job, every step), then ends what is left of it on this
machine (processes carrying the job's WAVESCOPE_JOB_ID; there may be no cgroups to do it) and
removes partial outputs of the killed writers. Several recordings go in one job array.
Only SLURM's own commands are used; no Qt here.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from app.io import atomic
from app.io.mpi import find_mpiexec
from app.model.jobs import (
    JOB_MARKER,
    ConvertJob,
    FollowsAJob,
    Job,
    JobError,
    OutputSplitter,
    SortJob,
    default_history_path,
    stop_tree,
)

POLL_SECONDS = 0.5
FORGOTTEN_AFTER = 3         # polls in a row in which neither squeue, scontrol nor sacct knows the job
SLURM_TIMEOUT = 30.0
# SLURM's final states and what the job's status becomes
FINAL_STATES = {"COMPLETED": "done", "FAILED": "failed", "CANCELLED": "stopped", "TIMEOUT": "failed",
                "OUT_OF_MEMORY": "failed", "NODE_FAIL": "failed", "BOOT_FAIL": "failed",
                "PREEMPTED": "failed", "DEADLINE": "failed", "REVOKED": "failed", "SPECIAL_EXIT": "failed"}
RETRY_STATES = ("NODE_FAIL", "BOOT_FAIL", "PREEMPTED")      # not the job's fault: submitted again
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
TIME_PATTERN = re.compile(r"^(\d+-)?\d+(:\d+){0,2}$")
MEM_PATTERN = re.compile(r"^\d+[KMGT]?$", re.IGNORECASE)


class ClusterError(JobError):
    """A cluster job cannot be built, submitted or followed; the message says what to fix."""


# -- profiles -------------------------------------------------------------------------------------
@dataclass
class ClusterProfile:
    """Where and with what a job runs: `sbatch` options, shell lines before the command, and the
    folder for job scripts and logs (it must be visible from the compute nodes)."""

    name: str
    partition: str | None = None
    account: str | None = None
    time: str | None = None              # SLURM's forms: minutes, H:MM:SS, D-HH:MM:SS
    cpus: int | None = None              # --cpus-per-task
    mem: str | None = None               # e.g. 4G
    gpus: int | None = None              # --gres=gpu:N
    extra: list[str] = field(default_factory=list)      # more sbatch options, e.g. --qos=short
    setup: list[str] = field(default_factory=list)      # shell lines, e.g. module load mpich
    folder: str | None = None            # job folders go here (default: beside the job history)
    # How N ranks start inside the allocation: "mpiexec" (MPICH's hydra beside Python, its proxy
    # started as a srun step, `-launcher slurm`, its own PMI), or a Slurm MPI plugin name for
    # `srun --mpi=NAME` (pmi2, pmix)
    # on clusters whose MPI is built for it. The PyPI mpich 5.0.2 wheel under `srun --mpi=pmi2`
    # failed or hung in MPI_Init in 5 of 13 runs here; under mpiexec in none.
    mpi: str = "mpiexec"
    arrays: bool = True                  # several recordings as one job array

    def check(self) -> ClusterProfile:
        """Self, or ClusterError naming the field and the fix."""
        where = f"cluster profile {self.name!r}"
        if not NAME_PATTERN.match(self.name or ""):
            raise ClusterError(f"cluster profile name {self.name!r}: use letters, digits, '.', '_' and '-'")
        if self.time and not TIME_PATTERN.match(self.time):
            raise ClusterError(f"{where}: time {self.time!r} is not a SLURM time; use minutes, "
                               "H:MM:SS or D-HH:MM:SS (e.g. 2:00:00)")
        if self.mem and not MEM_PATTERN.match(self.mem):
            raise ClusterError(f"{where}: mem {self.mem!r} is not a size; use e.g. 4000M or 16G")
        for name in ("cpus", "gpus"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < (0 if name == "gpus" else 1)):
                raise ClusterError(f"{where}: {name} must be a whole number (got {value!r})")
        self.extra = [_sbatch_option(line, where) for line in self.extra]
        return self

    def sbatch_options(self) -> list[str]:
        """The profile's `#SBATCH` options, in the order the script shows them."""
        pairs = [("--partition", self.partition), ("--account", self.account), ("--time", self.time),
                 ("--mem", self.mem), ("--gres", f"gpu:{self.gpus}" if self.gpus else None)]
        return [f"{flag}={value}" for flag, value in pairs if value] + list(self.extra)

    @classmethod
    def from_dict(cls, data: dict) -> ClusterProfile:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _sbatch_option(line: str, where: str) -> str:
    text = line.strip()
    text = text[len("#SBATCH"):].strip() if text.upper().startswith("#SBATCH") else text
    if not text.startswith("-") or "\n" in text:
        raise ClusterError(f"{where}: extra line {line!r} is not an sbatch option; write it as "
                           "--option=value (e.g. --qos=short)")
    return text


def profiles_path() -> Path:
    """WAVESCOPE_CONFIG_DIR/cluster.json, else cluster.json in the user config folder."""
    given = os.environ.get("WAVESCOPE_CONFIG_DIR")
    if given:
        return Path(given) / "cluster.json"
    import platformdirs
    return Path(platformdirs.user_config_dir("wavescope")) / "cluster.json"


def load_profiles() -> dict[str, ClusterProfile]:
    path = profiles_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise ClusterError(f"{path}: cannot read the cluster profiles ({error}); fix or remove the file") \
            from None
    entries = data.get("profiles", []) if isinstance(data, dict) else []
    profiles = {}
    for entry in entries:
        if isinstance(entry, dict) and entry.get("name"):
            profiles[entry["name"]] = ClusterProfile.from_dict(entry)
    return profiles


def _save(profiles: dict[str, ClusterProfile]) -> None:
    path = profiles_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"profiles": [asdict(profile) for profile in profiles.values()]}
    atomic.write_text(path, json.dumps(data, indent=1))


def save_profile(profile: ClusterProfile) -> None:
    """Add or replace a profile (checked first)."""
    profiles = load_profiles()
    profiles[profile.name] = profile.check()
    _save(profiles)


def remove_profile(name: str) -> None:
    profiles = load_profiles()
    if name not in profiles:
        raise ClusterError(f"no cluster profile named {name!r}; {_known(profiles)}")
    del profiles[name]
    _save(profiles)


def get_profile(name: str | None) -> ClusterProfile:
    profiles = load_profiles()
    if not name or name not in profiles:
        raise ClusterError(f"no cluster profile named {name!r}; {_known(profiles)}")
    return profiles[name]


def _known(profiles: dict) -> str:
    if not profiles:
        return ("there is none yet: add one with `wavescope cluster add NAME --partition P "
                "--time 1:00:00`")
    return f"the profiles are {', '.join(sorted(profiles))} (`wavescope cluster profiles`)"


# -- SLURM commands -------------------------------------------------------------------------------
def slurm_environment(base: dict | None = None) -> dict[str, str]:
    """`base` (default: ours) without the variables of an enclosing SLURM job (SLURM_CONF kept):
    inherited, they would steer sbatch and squeue to that job's settings."""
    env = dict(os.environ if base is None else base)
    for name in list(env):
        if name.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_", "SQUEUE_")) and name != "SLURM_CONF":
            del env[name]
    return env


def slurm(*command: str, env: dict | None = None, timeout: float = SLURM_TIMEOUT) -> subprocess.CompletedProcess:
    """Run a SLURM client command; ClusterError when it is not installed or does not answer."""
    try:
        return subprocess.run(list(command), check=False, capture_output=True, text=True, timeout=timeout,
                              env=slurm_environment(env), stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise ClusterError(f"{command[0]} is not installed here: SLURM's client commands (sbatch, "
                           "squeue, scancel) are needed on this machine (Debian: apt install slurm-client)") \
            from None
    except subprocess.TimeoutExpired:
        raise ClusterError(f"{command[0]} did not answer within {timeout:.0f} s (is slurmctld up?)") from None


def query_state(cluster_id: str) -> tuple[str | None, int | None]:
    """(SLURM state, exit code) of a job: squeue while it is queued or running, then
    `scontrol show job` (it remembers finished jobs for MinJobAge), then `sacct` (accounting);
    (None, None) when none of them knows it. The exit code is negative for a signal."""
    done = slurm("squeue", "-h", "-j", cluster_id, "-o", "%T")
    lines = done.stdout.split() if done.returncode == 0 else []
    if lines and lines[0] not in FINAL_STATES:
        return lines[0], None
    done = slurm("scontrol", "show", "job", "-o", cluster_id)
    if done.returncode == 0 and "JobState=" in done.stdout:
        state = re.search(r"JobState=(\S+)", done.stdout).group(1)
        code = re.search(r"ExitCode=(\d+):(\d+)", done.stdout)
        return state, _exit_code(code.group(1), code.group(2)) if code else None
    return sacct_state(cluster_id)


def sacct_state(cluster_id: str) -> tuple[str | None, int | None]:
    """(state, exit code) from SLURM's accounting; (None, None) without accounting or record."""
    done = slurm("sacct", "-n", "-P", "-X", "-j", cluster_id, "-o", "State,ExitCode")
    rows = [row.split("|") for row in done.stdout.splitlines() if "|" in row] if done.returncode == 0 else []
    if not rows or not rows[0][0]:
        return None, None
    state = rows[0][0].split()[0]                   # "CANCELLED by 0" -> CANCELLED
    code = rows[0][1].split(":") if len(rows[0]) > 1 else []
    return state, _exit_code(*code) if len(code) == 2 and all(part.isdigit() for part in code) else None


def _exit_code(code: str, signal_number: str) -> int:
    return -int(signal_number) if int(signal_number) and not int(code) else int(code)


# -- the batch script -----------------------------------------------------------------------------
def job_folder(job: Job, profile: ClusterProfile) -> Path:
    base = Path(profile.folder).expanduser() if profile.folder else default_history_path().parent / "cluster"
    return base / job.id


def step_command(job: Job, profile: ClusterProfile) -> list[str]:
    """What runs inside the allocation: a sort as its template says (the sorter environment's
    programs), a conversion as `python -m app convert`, on N ranks under `mpiexec -n N` or
    `srun --mpi=PLUGIN -n N` (the profile's `mpi`). A rank that fails ends the whole step."""
    if isinstance(job, ConvertJob):
        single = copy.deepcopy(job)
        single.ranks, single.hostfile = 1, None
        command = single.command()
        if job.ranks > 1:
            command = [*rank_launcher(profile), "-n", str(job.ranks), *command]
        return command
    return job.command()


def rank_launcher(profile: ClusterProfile) -> list[str]:
    """The words that start N ranks (before `-n N`): the mpiexec beside Python when the profile
    says "mpiexec" and there is one (its proxy a srun step of the job), else srun with the
    profile's MPI plugin (pmi2 by default)."""
    if profile.mpi == "mpiexec":
        mpiexec = find_mpiexec()
        if mpiexec:
            return [mpiexec, "-launcher", "slurm"]
    plugin = "pmi2" if profile.mpi == "mpiexec" else profile.mpi
    return ["srun", "--kill-on-bad-exit=1", f"--mpi={plugin}"]


def _tasks(job: Job, profile: ClusterProfile) -> tuple[int, int | None]:
    """(--ntasks, --cpus-per-task) of a job."""
    if isinstance(job, ConvertJob):
        return max(job.ranks, 1), profile.cpus
    if isinstance(job, SortJob):
        return 1, job.cpus or profile.cpus
    return 1, profile.cpus


def _environment_lines(job: Job) -> list[str]:
    """What the job's process needs beyond the exported environment (a sorter's PATH)."""
    extra = job.process_environment()
    lines = ["unset PYTHONPATH PYTHONHOME VIRTUAL_ENV"] if extra else []
    for name, value in extra.items():
        current = os.environ.get(name, "")
        if name == "PATH" and current and value.endswith(current):
            lines.append(f"export PATH={shlex.quote(value[:-len(current)])}\"$PATH\"")
        else:
            lines.append(f"export {name}={shlex.quote(value)}")
    return lines


def write_script(jobs: list[Job], profile: ClusterProfile, folder: Path, cwd: str) -> Path:
    """`folder/job.sbatch` for one job, or for a job array (one task per job, logs task-N.log)."""
    from app import __version__
    first = jobs[0]
    ntasks, cpus = _tasks(first, profile)
    array = len(jobs) > 1
    name = f"wavescope-{first.kind}" + ("" if array else f"-{_stem(first)}")
    log = folder / ("task-%a.log" if array else "job.log")
    options = [f"--job-name={name}", f"--output={log}", f"--chdir={cwd}", f"--ntasks={ntasks}"]
    options += [f"--cpus-per-task={cpus}"] if cpus else []
    options += profile.sbatch_options()
    options += [f"--array=0-{len(jobs) - 1}"] if array else []
    job_ref = "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}" if array else "${SLURM_JOB_ID}"
    lines = ["#!/bin/bash",
             (f"# Wavescope {__version__}: {len(jobs)} job(s), profile {profile.name!r}, written "
              f"{time.strftime('%Y-%m-%d %H:%M:%S')}"),
             *(f"#   {job.id}: {job.describe()}" for job in jobs),
             "# Submit it again with: sbatch " + shlex.quote(str(folder / "job.sbatch")),
             *(f"#SBATCH {shlex.quote(option)}" if " " in option else f"#SBATCH {option}" for option in options),
             "", *_environment_lines(first), *profile.setup,
             f'echo "wavescope: SLURM job {job_ref} on $(hostname), $(date)"']
    runs = [(job.id, shlex.join(step_command(job, profile))) for job in jobs]
    if not array:
        lines += [f"export {JOB_MARKER}={runs[0][0]}", runs[0][1]]
    else:
        lines.append('case "$SLURM_ARRAY_TASK_ID" in')
        for index, (job_id, command) in enumerate(runs):
            lines += [f"  {index})", f"    export {JOB_MARKER}={job_id}", f"    {command} ;;"]
        lines += ['  *) echo "wavescope: no task $SLURM_ARRAY_TASK_ID in this array" >&2; exit 2 ;;', "esac"]
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "job.sbatch"
    atomic.write_text(script, "\n".join(lines) + "\n")
    return script


def _stem(job: Job) -> str:
    source = job.source if isinstance(job, ConvertJob) else getattr(job, "params_file", "") or job.id
    return re.sub(r"[^A-Za-z0-9_.-]", "_", Path(source).stem)[:40] or job.id


def sbatch(script: Path, env: dict | None = None) -> str:
    """Submit; SLURM's job id (ClusterError with sbatch's own words when it refuses)."""
    done = slurm("sbatch", "--parsable", str(script), env=env)
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
        raise ClusterError(f"sbatch refused {script}: {reason}")
    return done.stdout.strip().split(";")[0]


def submit(jobs: list[Job], profile: ClusterProfile, env: dict | None = None, cwd: str | None = None) -> str:
    """Submit `jobs` (of one kind and sorter) as one job, or as one job array when there are several
    (or one job each when the profile says the scheduler has no arrays). Sets each job's backend,
    cluster id, script, log and status ("running": in SLURM's hands); returns the first id."""
    if not jobs:
        raise ClusterError("nothing to submit")
    if len(jobs) > 1 and not profile.arrays:
        return [submit([job], profile, env, cwd) for job in jobs][0]  # noqa: RUF015 - every one is submitted
    if len({(job.kind, getattr(job, "sorter", None)) for job in jobs}) > 1:
        raise ClusterError("one job array holds jobs of one kind (and one sorter): submit them apart")
    for job in jobs:
        job.preflight()
    cwd = cwd or os.getcwd()
    folder = job_folder(jobs[0], profile)
    script = write_script(jobs, profile, folder, cwd)
    full_env = dict(os.environ if env is None else env)
    cluster_id = sbatch(script, full_env)
    for index, job in enumerate(jobs):
        job.backend, job.cluster, job.script = "cluster", profile.name, str(script)
        job.cluster_id = f"{cluster_id}_{index}" if len(jobs) > 1 else cluster_id
        job.log = str(folder / (f"task-{index}.log" if len(jobs) > 1 else "job.log"))
        job.cluster_state, job.status, job.argv = "PENDING", "running", step_command(job, profile)
        job.started = job.ended = job.exit_code = job.pid = None
    return cluster_id


def cancel(job: Job, grace: float = 2.0) -> int:
    """scancel the job (every step), then end what it left on this machine (processes with its
    WAVESCOPE_JOB_ID: without cgroups SLURM misses daemons) and its partial outputs; how many
    processes were ended here."""
    if job.cluster_id:
        slurm("scancel", job.cluster_id)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            state, _ = query_state(job.cluster_id)
            if state is None or state in FINAL_STATES:
                break
            time.sleep(0.1)
    ended = stop_tree(None, grace=1.0, marker=job.id)
    remove_partials(job)
    return ended


def remove_partials(job: Job) -> list[str]:
    """The partial outputs of a conversion's dead writers (its output folder's stale partials)."""
    if not isinstance(job, ConvertJob) or not job.output:
        return []
    from app.io.partials import remove_stale
    return [partial.path for partial in remove_stale(os.path.dirname(os.path.abspath(job.output)))]


# -- the runner -----------------------------------------------------------------------------------
class ClusterRunner(FollowsAJob):
    """Submits one job to SLURM and follows it, with JobRunner's callbacks and methods.

    `start()` submits and follows, `resume()` follows a job submitted earlier (another session,
    a job array). The job's status is "running" from submission on; `job.cluster_state` says
    SLURM's word (PENDING, RUNNING, ...); `job.started` is when SLURM first said RUNNING.
    `retries`: how many times a job that ended by no fault of its own (NODE_FAIL, BOOT_FAIL,
    PREEMPTED) is submitted again.
    """

    def __init__(self, job: Job, on_line: Callable[[str], None] | None = None,
                 on_progress_line: Callable[[str], None] | None = None,
                 on_progress: Callable[[float], None] | None = None,
                 on_change: Callable[[Job], None] | None = None,
                 env: dict | None = None, cwd: str | None = None, max_lines: int = 10000,
                 profile: ClusterProfile | None = None, retries: int = 1, poll: float = POLL_SECONDS):
        self.job = job
        self.on_line, self.on_progress_line = on_line, on_progress_line
        self.on_progress, self.on_change = on_progress, on_change
        self.env, self.cwd, self.profile = env, cwd, profile
        self.retries, self.poll = retries, poll
        self.lines: deque[str] = deque(maxlen=max_lines)
        self.progress_line = ""
        self.progress: float | None = None
        self._offset = 0
        self._splitter = OutputSplitter()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._detached = threading.Event()
        self._ended = threading.Event()

    def submit(self) -> str:
        """Write the script and sbatch it, without following (`wavescope ... --cluster` alone)."""
        profile = self.profile or get_profile(self.job.cluster)
        self.profile = profile
        cluster_id = submit([self.job], profile, self.env, self.cwd)
        self._notify_change()
        return cluster_id

    def start(self) -> None:
        self.submit()
        self.resume()

    def resume(self) -> None:
        """Follow a job already submitted (its log is read again from the start)."""
        if not self.job.cluster_id:
            raise ClusterError(f"job {self.job.id} was never submitted to SLURM")
        self._offset, self._splitter = 0, OutputSplitter()
        self._thread = threading.Thread(target=self._follow, name=f"cluster-{self.job.id}", daemon=True)
        self._thread.start()

    def detach(self) -> None:
        """Stop following (the job keeps running on the cluster)."""
        self._detached.set()

    # -- following --------------------------------------------------------------------------------
    def _follow(self) -> None:
        try:
            self._follow_until_end()
        except Exception as error:      # noqa: BLE001 - a follower that dies silently leaves the job "running"
            self._emit(f"wavescope: could not follow SLURM job {self.job.cluster_id}: {error}")
            self._finish("failed", None)

    def _follow_until_end(self) -> None:
        job, misses = self.job, 0
        while not self._detached.is_set():
            try:
                state, code = query_state(job.cluster_id)
            except ClusterError as error:
                state, code = None, None
                self._emit(f"wavescope: {error}")
            self._read_log()
            if state is None:
                misses += 1
                if misses >= FORGOTTEN_AFTER:
                    self._emit(f"wavescope: SLURM no longer knows job {job.cluster_id} (it ended longer "
                               "ago than slurmctld remembers, and there is no accounting); see its log "
                               f"{job.log}")
                    self._finish("interrupted", None)
                    return
            else:
                misses = 0
                self._update_state(state)
                if state in FINAL_STATES:
                    if state in RETRY_STATES and self.retries > 0 and not self._stopping:
                        self._resubmit(state)
                        continue
                    self._finish(FINAL_STATES[state], code)
                    return
            self._detached.wait(self.poll)

    def _update_state(self, state: str) -> None:
        job = self.job
        changed = state != job.cluster_state
        job.cluster_state = state
        if state not in ("PENDING", "CONFIGURING") and job.started is None:
            job.started, changed = time.time(), True
        if changed:
            self._notify_change()

    def _resubmit(self, state: str) -> None:
        self.retries -= 1
        old = self.job.cluster_id
        self.job.cluster_id = sbatch(Path(self.job.script), self.env)
        self._offset, self._splitter = 0, OutputSplitter()
        self._emit(f"wavescope: SLURM job {old} ended {state} (not the job's fault); "
                   f"submitted again as {self.job.cluster_id}")
        self._notify_change()

    def _read_log(self, final: bool = False) -> None:
        if not self.job.log:
            return
        try:
            with open(self.job.log, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except OSError:
            data = b""
        self._offset += len(data)
        for text, in_place in self._splitter.feed(data, final=final):
            self._handle(text, in_place)

    def _handle(self, text: str, in_place: bool) -> None:
        if not self._took_progress(text, in_place):
            self._emit(text)

    def _emit(self, text: str) -> None:
        self.lines.append(text)
        if self.on_line:
            self.on_line(text)

    def _finish(self, status: str, code: int | None) -> None:
        job = self.job
        time.sleep(min(self.poll, 0.2))         # the last bytes of a log on a shared file system
        self._read_log(final=True)
        if self._stopping or status == "stopped":
            status = "stopped"
        elif status == "done" and code is not None:
            code, why = job.outcome(code, list(self.lines))
            if why:
                self._emit(why)
            status = "done" if code == 0 else "failed"
        if status != "done":
            removed = remove_partials(job)
            if removed:
                self._emit(f"wavescope: removed {len(removed)} partial output(s) of the ended job")
        job.exit_code, job.ended, job.status = code, time.time(), status
        if job.started is None:
            job.started = job.ended
        try:
            self._notify_change()
        finally:
            self._ended.set()

    # -- JobRunner's interface (running, wait: FollowsAJob) ----------------------------------------
    def stop(self, grace: float = 5.0) -> int:
        """scancel the job (every step) and sweep what it left here; returns how many processes
        were ended here. The follower then sees CANCELLED and ends the job as stopped."""
        if self._ended.is_set() or not self.job.cluster_id:
            return 0
        self._stopping = True
        return cancel(self.job, grace=min(grace, 5.0))


def follow(jobs: list[Job], **callbacks) -> list[ClusterRunner]:
    """Runners following `jobs` (submitted earlier), started."""
    runners = [ClusterRunner(job, **callbacks) for job in jobs]
    for runner in runners:
        runner.resume()
    return runners
