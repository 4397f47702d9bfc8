"""SLURM on one local node: how long the node takes to start, a trivial job, a convert job and a cancel.

Run (as root, SLURM from Debian's packages, installed when missing):
    python -m tests.bench.bench_slurm [--repeat 3] [--samples 2000000]
Each number is the fastest of --repeat runs, with the spread and the load average beside it (the
machine is shared: single runs vary). "trivial job" is sbatch -> COMPLETED as ClusterRunner sees
it (poll every 0.1 s); "convert job" is `wavescope convert` of a raw int16 file through
ClusterRunner; "cancel" is Stop (scancel + sweep) until no process of the job is left.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from app.model.cluster import ClusterProfile, ClusterRunner, query_state, slurm
from app.model.jobs import ConvertJob, job_processes
from tests.cluster.local_slurm import LocalSlurm


def report(name: str, times: list[float]) -> None:
    best = min(times)
    print(f"{name:<28} fastest {best:7.3f} s   spread {best:.3f}-{max(times):.3f} s   "
          f"(n={len(times)}, load {' '.join(Path('/proc/loadavg').read_text().split()[:3])})", flush=True)


def trivial_job(folder: Path) -> float:
    script = folder / "trivial.sbatch"
    script.write_text(f"#!/bin/bash\n#SBATCH --output={folder}/trivial.log\ntrue\n")
    start = time.perf_counter()
    job_id = slurm("sbatch", "--parsable", str(script)).stdout.strip()
    while query_state(job_id)[0] not in ("COMPLETED", "FAILED"):
        time.sleep(0.1)
    return time.perf_counter() - start


def convert_job(profile: ClusterProfile, source: Path, output: Path) -> float:
    job = ConvertJob(source=str(source), output=str(output), file_format="raw_binary",
                     settings={"nb_channels": 32, "data_dtype": "int16", "sampling_rate": 30000}, force=True)
    job.backend, job.cluster = "cluster", profile.name
    start = time.perf_counter()
    runner = ClusterRunner(job, profile=profile, poll=0.1)
    runner.start()
    runner.wait(300)
    if job.status != "done":
        raise SystemExit(f"the convert job ended {job.status}: {list(runner.lines)[-5:]}")
    return time.perf_counter() - start


def cancel(profile: ClusterProfile) -> float:
    job = ConvertJob(source="/dev/null", output="/dev/null", file_format="raw_binary")
    job.backend, job.cluster = "cluster", profile.name
    folder = Path(profile.folder) / "sleeper"
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "sleep.sbatch"
    script.write_text(f"#!/bin/bash\n#SBATCH --output={folder}/sleep.log\nexport WAVESCOPE_JOB_ID={job.id}\n"
                      "sleep 300 & sleep 300\n")
    job.cluster_id = slurm("sbatch", "--parsable", str(script)).stdout.strip()
    job.log, job.status = str(folder / "sleep.log"), "running"
    runner = ClusterRunner(job, profile=profile, poll=0.1)
    runner.resume()
    while job.cluster_state != "RUNNING" or not job_processes(None, marker=job.id):
        time.sleep(0.05)
    start = time.perf_counter()
    runner.stop()
    runner.wait(60)
    while job_processes(None, marker=job.id):
        time.sleep(0.01)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--samples", type=int, default=2_000_000, help="samples of the 32-channel file")
    args = parser.parse_args(argv)
    reason = LocalSlurm.unavailable()
    if reason:
        print(f"skipped: {reason}")
        return
    starts = []
    for _ in range(args.repeat):
        began = time.perf_counter()
        cluster = LocalSlurm.start()
        starts.append(time.perf_counter() - began)
        if len(starts) < args.repeat:
            cluster.stop()
    report("node start (to idle)", starts)
    os.environ["SLURM_CONF"] = cluster.conf
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            profile = ClusterProfile(name="bench", folder=str(folder / "jobs"))
            first = trivial_job(folder)
            print(f"{'first job after a start':<28} {first:7.3f} s", flush=True)
            report("trivial job", [trivial_job(folder) for _ in range(args.repeat)])
            source = folder / "rec.dat"
            np.random.default_rng(0).integers(-500, 500, (args.samples, 32), dtype=np.int16).tofile(source)
            size = source.stat().st_size / 1e6
            report(f"convert job ({size:.0f} MB)",
                   [convert_job(profile, source, folder / "out.dat") for _ in range(args.repeat)])
            report("cancel (to no process)", [cancel(profile) for _ in range(args.repeat)])
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
