"""`wavescope cluster profiles|add|remove`, and `--cluster PROFILE` on `wavescope convert|sort`.

A job sent with `--cluster` is written as a readable batch script (`job.sbatch` in a folder of
its own), submitted with sbatch and recorded in the job history, where the Jobs panel finds it;
`--wait` follows it to the end with its log streamed here (Ctrl-C cancels it with scancel).
`--each GLOB` queues one job per matching file of the folder given, as one job array.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import threading

from app import exitcodes
from app.cli.common import CommandLineError

CLUSTER_EXAMPLES = """examples:
  wavescope cluster add short --partition debug --time 0:30:00 --cpus 4 --mem 8G
  wavescope cluster add gpu --partition gpu --gpus 1 --extra=--qos=normal --setup "module load cuda"
  wavescope cluster profiles
  wavescope convert rec.dat --set nb_channels=64 --set data_dtype=int16 --set sampling_rate=30000 \\
      -o rec.h5 --to hdf5 --cluster short --ranks 2 --wait
  wavescope convert recordings/ --each '*.dat' --params common.params -o 'out/{stem}.h5' --to hdf5 \\
      --cluster short                      one job per recording, as a job array
  wavescope sort rec.params --cluster short --wait
  wavescope cluster jobs                   the cluster jobs, with SLURM's state now
  wavescope cluster follow 1234            its log until it ends (Ctrl-C cancels it)
  wavescope cluster cancel 1234
"""


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cluster", help="SLURM cluster profiles for `convert`/`sort --cluster`",
        epilog=CLUSTER_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="cluster_command", required=True)
    listing = commands.add_parser("profiles", help="list the cluster profiles")
    listing.add_argument("--json", action="store_true", help="as JSON")
    listing.set_defaults(func=cmd_profiles)
    add = commands.add_parser("add", help="add or replace a cluster profile")
    add.add_argument("name")
    add.add_argument("--partition")
    add.add_argument("--account")
    add.add_argument("--time", help="time limit: minutes, H:MM:SS or D-HH:MM:SS")
    add.add_argument("--cpus", type=int, help="CPUs per task")
    add.add_argument("--mem", help="memory, e.g. 8G")
    add.add_argument("--gpus", type=int, help="GPUs (--gres=gpu:N)")
    add.add_argument("--extra", action="append", default=[], metavar="OPTION",
                     help="another sbatch option, e.g. --extra=--qos=short (repeatable)")
    add.add_argument("--setup", action="append", default=[], metavar="LINE",
                     help="a shell line run before the job, e.g. 'module load mpich' (repeatable)")
    add.add_argument("--folder", help="where job scripts and logs go (visible from the compute nodes)")
    add.add_argument("--mpi", default="mpiexec",
                     help="how ranks start in the allocation: mpiexec (MPICH beside Python; default) or a Slurm "
                          "MPI plugin for srun --mpi=NAME, e.g. pmi2 or pmix")
    add.add_argument("--no-arrays", action="store_true", help="submit several recordings one job each")
    add.set_defaults(func=cmd_add)
    remove = commands.add_parser("remove", help="remove a cluster profile")
    remove.add_argument("name")
    remove.set_defaults(func=cmd_remove)
    jobs = commands.add_parser("jobs", help="the cluster jobs of the job history, with SLURM's state now")
    jobs.set_defaults(func=cmd_jobs)
    follow = commands.add_parser("follow", help="follow a submitted job to its end, its log shown (Ctrl-C "
                                 "cancels it)")
    follow.add_argument("job", help="the job's id (as `wavescope cluster jobs` shows) or SLURM's job id")
    follow.set_defaults(func=_stoppable_follow)
    cancel = commands.add_parser("cancel", help="cancel a submitted job (scancel, every step)")
    cancel.add_argument("job", help="the job's id or SLURM's job id")
    cancel.set_defaults(func=cmd_cancel)


def cmd_profiles(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from app.model.cluster import load_profiles, profiles_path
    profiles = load_profiles()
    if args.json:
        print(json.dumps([asdict(profile) for profile in profiles.values()], indent=1))
        return exitcodes.OK
    if not profiles:
        print(f"no cluster profiles yet ({profiles_path()}); add one with: wavescope cluster add NAME "
              "--partition P --time 1:00:00")
    for profile in profiles.values():
        options = " ".join(profile.sbatch_options()) or "(SLURM's defaults)"
        cpus = f" --cpus-per-task={profile.cpus}" if profile.cpus else ""
        print(f"{profile.name}: {options}{cpus}")
    return exitcodes.OK


def cmd_add(args: argparse.Namespace) -> int:
    from app.model.cluster import ClusterProfile, profiles_path, save_profile
    profile = ClusterProfile(name=args.name, partition=args.partition, account=args.account, time=args.time,
                             cpus=args.cpus, mem=args.mem, gpus=args.gpus, extra=args.extra, setup=args.setup,
                             folder=os.path.abspath(args.folder) if args.folder else None, mpi=args.mpi,
                             arrays=not args.no_arrays)
    save_profile(profile)
    print(f"saved cluster profile {profile.name!r} in {profiles_path()}")
    return exitcodes.OK


def cmd_remove(args: argparse.Namespace) -> int:
    from app.model.cluster import remove_profile
    remove_profile(args.name)
    print(f"removed cluster profile {args.name!r}")
    return exitcodes.OK


def _cluster_jobs(history) -> list:
    return [job for job in history.load() if job.backend == "cluster"]


def _find(history, wanted: str):
    found = [job for job in _cluster_jobs(history) if wanted in (job.id, job.cluster_id)]
    if not found:
        raise CommandLineError(f"no cluster job {wanted!r} in the job history; `wavescope cluster jobs` "
                               "lists them", "job")
    return found[-1]


def cmd_jobs(args: argparse.Namespace) -> int:
    from app.model.cluster import query_state
    from app.model.jobs import JobHistory
    jobs = _cluster_jobs(JobHistory())
    if not jobs:
        print("no cluster jobs in the job history")
    for job in jobs:
        state = job.cluster_state
        if job.status == "running" and job.cluster_id:
            state = query_state(job.cluster_id)[0] or "(unknown to SLURM now)"
        print(f"{job.id}  {job.cluster} {job.cluster_id or '-'} {state or '-'}  {job.status}  {job.describe()}")
    return exitcodes.OK


def _stoppable_follow(args: argparse.Namespace) -> int:
    from app.cli.jobs import stop_signals
    with stop_signals():
        return cmd_follow(args)


def cmd_follow(args: argparse.Namespace) -> int:
    from app.model.jobs import JobHistory
    history = JobHistory()
    job = _find(history, args.job)
    if job.status != "running":
        print(f"{job.describe()}: {job.status} (SLURM job {job.cluster_id} {job.cluster_state}); log {job.log}")
        return exitcodes.OK if job.status == "done" else 1
    return follow_jobs([job], history)


def cmd_cancel(args: argparse.Namespace) -> int:
    import time

    from app.model.cluster import cancel, query_state
    from app.model.jobs import JobHistory
    history = JobHistory()
    job = _find(history, args.job)
    if job.status != "running":
        print(f"{job.describe()}: already {job.status}")
        return exitcodes.OK
    ended = cancel(job)
    job.cluster_state = query_state(job.cluster_id)[0] or job.cluster_state
    job.status, job.ended = "stopped", time.time()
    history.record(job)
    print(f"cancelled SLURM job {job.cluster_id} ({job.cluster_state})"
          + (f"; ended {ended} process(es) left here" if ended else ""))
    return exitcodes.OK


# -- --cluster on convert and sort ----------------------------------------------------------------
def add_cluster_options(parser: argparse.ArgumentParser, ranks: bool = False) -> None:
    group = parser.add_argument_group("on a SLURM cluster")
    group.add_argument("--cluster", metavar="PROFILE", help="submit to SLURM with this cluster profile "
                       "(`wavescope cluster profiles`) instead of running here")
    group.add_argument("--wait", action="store_true", help="with --cluster: follow the job to its end, "
                       "its log shown as it grows (Ctrl-C cancels it)")
    group.add_argument("--each", metavar="GLOB", help="with --cluster: one job per file matching GLOB in "
                       "the folder given (a job array); name outputs with {stem}")
    if ranks:
        group.add_argument("--ranks", type=int, default=1, help="with --cluster: MPI ranks (srun -n N)")


def wants_cluster(args: argparse.Namespace) -> bool:
    if getattr(args, "each", None) and not args.cluster:
        raise CommandLineError("--each queues jobs on a cluster: give --cluster PROFILE too", "--each")
    if getattr(args, "wait", False) and not args.cluster:
        raise CommandLineError("--wait follows a cluster job: give --cluster PROFILE too", "--wait")
    if getattr(args, "cluster", None):
        from app.model.cluster import get_profile
        get_profile(args.cluster)               # an unknown profile is said before anything else
        return True
    return False


def _each(folder: str, pattern: str) -> list[str]:
    if not os.path.isdir(folder):
        raise CommandLineError(f"{folder}: with --each, give the folder the pattern applies to", "--each")
    found = sorted(glob.glob(os.path.join(glob.escape(os.path.abspath(folder)), pattern)))
    if not found:
        raise CommandLineError(f"{folder}: no file matches {pattern!r}", "--each")
    return found


def convert_on_cluster(args: argparse.Namespace) -> int:
    """`wavescope convert ... --cluster PROFILE`: check each recording opens here, then submit."""
    from app.cli.options import check_format_name, open_from_args, parse_sets
    from app.io.convert_options import spec_from_args
    from app.model.jobs import ConvertJob
    check_format_name(args.to_format, "--to")
    if args.ranks < 1:
        raise CommandLineError(f"--ranks must be 1 or more (got {args.ranks})", "--ranks")
    sources = _each(args.file, args.each) if args.each else [args.file]
    if args.each and "{stem}" not in args.output and "{name}" not in args.output:
        raise CommandLineError("with --each, name each output after its recording: -o 'out/{stem}.h5'", "-o")
    jobs = []
    for source in sources:
        stem, name = os.path.splitext(os.path.basename(source))[0], os.path.basename(source)
        one = argparse.Namespace(**{**vars(args), "file": source})
        open_from_args(one).close()                 # a recording that does not open fails here, not there
        spec = spec_from_args(args)
        spec.output = os.path.abspath(args.output.replace("{stem}", stem).replace("{name}", name))
        if not os.path.isdir(os.path.dirname(spec.output)):
            raise CommandLineError(f"{spec.output}: the folder {os.path.dirname(spec.output)} does not exist; "
                                   "create it first", "-o")
        jobs.append(ConvertJob(spec=spec, source=os.path.abspath(source), file_format=args.file_format,
                               stream_mode=args.stream_mode,
                               params_file=os.path.abspath(args.params) if args.params else None,
                               settings=parse_sets(args.set), ranks=args.ranks))
    return submit_jobs(jobs, args.cluster, args.wait)


def sort_jobs(args: argparse.Namespace, make_job) -> list:
    """The sort job(s) of `wavescope sort ... --cluster`: one per --each match, else one."""
    sources = _each(args.params, args.each) if args.each else [args.params]
    return [make_job(os.path.abspath(source)) for source in sources]


def submit_jobs(jobs: list, profile_name: str, wait: bool) -> int:
    from app.model.cluster import get_profile, submit
    from app.model.jobs import JobHistory
    profile = get_profile(profile_name)
    history = JobHistory()
    submit(jobs, profile)
    for job in jobs:
        history.record(job)
        print(f"submitted {job.describe()} as SLURM job {job.cluster_id} ({profile.name}); "
              f"script {job.script}, log {job.log}", flush=True)
    if not wait:
        return exitcodes.OK
    return follow_jobs(jobs, history)


def follow_jobs(jobs: list, history) -> int:
    """Follow submitted jobs to their end, their lines printed as they come (prefixed by the
    job's number when there are several); a stop signal cancels them all."""
    from app.cli.jobs import STOP_WAIT_S, _ignoring_stop_signals, _say
    from app.model.cluster import ClusterRunner
    lock = threading.Lock()

    def printer(index: int):
        def line(text: str) -> None:
            if text.startswith('{"done"'):
                return                      # progress lines of `convert --progress json`
            with lock:
                _say(f"[{index}] {text}" if len(jobs) > 1 else text)
        return line

    runners = [ClusterRunner(job, on_line=printer(index), on_change=history.record)
               for index, job in enumerate(jobs)]
    stopped: KeyboardInterrupt | None = None
    try:
        for runner in runners:
            runner.resume()
        for runner in runners:
            while runner.wait(timeout=0.5) is None:
                pass
    except KeyboardInterrupt as request:
        stopped = request
        with _ignoring_stop_signals():
            for runner in runners:
                runner.stop()
            for runner in runners:
                runner.wait(STOP_WAIT_S)
    for job in jobs:
        _say(f"{job.describe()}: {job.status} (SLURM job {job.cluster_id} {job.cluster_state}, "
             f"exit {job.exit_code})", sys.stderr)
    if stopped is not None:
        _say(f"wavescope: {stopped or 'interrupted'}; the SLURM job(s) were cancelled", sys.stderr)
        return getattr(stopped, "exit_code", 130)
    failed = [job for job in jobs if job.status != "done"]
    if not failed:
        return exitcodes.OK
    code = failed[0].exit_code
    return code if code and code > 0 else 1
