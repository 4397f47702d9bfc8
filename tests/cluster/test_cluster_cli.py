"""`wavescope convert|sort --cluster` against a real one-node SLURM (tests/cluster/local_slurm.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.model.cluster import ClusterProfile, get_profile, load_profiles, query_state
from app.model.jobs import JobHistory
from tests.cluster.conftest import marked_processes, wait_for
from tests.conftest import FAKE_SORTER, synthetic_int16

pytestmark = pytest.mark.timeout(120)
OPEN = ["--set", "nb_channels=8", "--set", "data_dtype=int16", "--set", "sampling_rate=20000"]


def wavescope(*args: str, env: dict | None = None, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app", *args], check=False, capture_output=True, text=True,
                          env=env, timeout=90, **options)


@pytest.fixture
def fake_sorter(tmp_path) -> Path:
    """The stand-in `spyking-circus` first on PATH, for the job (exported by sbatch) too."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "spyking-circus"
    script.write_text(f"#!{sys.executable}\n" + FAKE_SORTER.read_text().split("\n", 1)[1])
    script.chmod(0o755)
    return bin_dir


def sorter_env(bin_dir: Path, **values) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_SC_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return {**env, **{k: str(v) for k, v in values.items()}}


def test_profiles_are_added_listed_and_removed(slurm_cluster):
    done = wavescope("cluster", "add", "short", "--partition", "debug", "--time", "0:30:00", "--cpus", "2",
                     "--mem", "1G", "--extra=--qos=normal")
    assert done.returncode == 0, done.stderr
    assert get_profile("short") == ClusterProfile(name="short", partition="debug", time="0:30:00", cpus=2,
                                                  mem="1G", extra=["--qos=normal"])
    listing = wavescope("cluster", "profiles").stdout
    assert "short: --partition=debug --time=0:30:00 --mem=1G --qos=normal --cpus-per-task=2" in listing
    bad = wavescope("cluster", "add", "wrong", "--time", "soon")
    assert bad.returncode != 0 and "time 'soon' is not a SLURM time" in bad.stderr and "Traceback" not in bad.stderr
    unknown = wavescope("convert", "x.dat", "-o", "y.dat", "--to", "raw_binary", "--cluster", "nope")
    assert unknown.returncode != 0 and "no cluster profile named 'nope'" in unknown.stderr
    assert wavescope("cluster", "remove", "short").returncode == 0
    assert load_profiles() == {}


def test_convert_job_from_the_cli_finishes_with_its_script_and_log(profile, make_raw, tmp_path):
    source = make_raw("rec.dat", synthetic_int16(20000, 8))
    out = tmp_path / "copy.dat"
    done = wavescope("convert", source, *OPEN, "-o", str(out), "--to", "raw_binary", "--cluster", "test", "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    assert out.read_bytes() == Path(source).read_bytes()
    job = JobHistory().load()[-1]
    assert (job.backend, job.cluster, job.status, job.cluster_state, job.exit_code) == \
        ("cluster", "test", "done", "COMPLETED", 0)
    script = Path(job.script).read_text()
    assert "#SBATCH --partition=debug" in script and "#SBATCH --time=5:00" in script
    assert f"export WAVESCOPE_JOB_ID={job.id}" in script and " convert " in script
    assert f"submitted {job.describe()} as SLURM job {job.cluster_id}" in done.stdout
    log = Path(job.log).read_text()
    assert f"wavescope: SLURM job {job.cluster_id} on " in log and f'"output": "{out}"' in log
    assert "wavescope: SLURM job" in done.stdout and '{"done"' not in done.stdout


def test_sort_job_from_the_cli_streams_its_log_while_it_runs(profile, make_raw, fake_sorter, tmp_path):
    recording = make_raw("rec.dat", synthetic_int16(2000, 8))
    env = sorter_env(fake_sorter, FAKE_SC_TICK=0.15)
    process = subprocess.Popen([sys.executable, "-m", "app", "sort", recording, "--steps", "filtering",
                                "--cluster", "test", "--wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    seen_running = []
    for line in process.stdout:
        history = JobHistory().load()
        if history and history[-1].cluster_id:
            state, _ = query_state(history[-1].cluster_id)
            seen_running.append((line.strip(), state))
    assert process.wait(60) == 0, process.stderr.read()
    job = JobHistory().load()[-1]
    assert job.status == "done" and job.cluster_state == "COMPLETED"
    assert any(state == "RUNNING" and "filtering" in line.lower() for line, state in seen_running), seen_running
    assert "spyking-circus" in Path(job.script).read_text()


def test_cancel_ends_every_process_of_a_sort_daemons_included(profile, make_raw, fake_sorter, tmp_path):
    """Ctrl-C on `--wait` cancels with scancel; the sorter's family (a daemon that escaped the
    job's session included) is gone; partial outputs: the conversion test below."""
    recording = make_raw("rec.dat", synthetic_int16(2000, 8))
    family = tmp_path / "family.json"
    env = sorter_env(fake_sorter, FAKE_SC_HANG=1, FAKE_SC_FAMILY=family)
    process = subprocess.Popen([sys.executable, "-m", "app", "sort", recording, "--cluster", "test", "--wait"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    wait_for(lambda: Path(f"{family}.daemon").exists(), timeout=60)
    job = JobHistory().load()[-1]
    assert marked_processes(job.id)
    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 130
    job = JobHistory().load()[-1]
    assert job.status == "stopped" and job.cluster_state == "CANCELLED"
    assert marked_processes(job.id) == []
    assert "cancelled" in process.stderr.read()


def test_mpi_convert_on_two_tasks_under_srun_matches_one_process(profile, make_raw, tmp_path):
    pytest.importorskip("mpi4py", reason="MPI ranks need mpi4py (pip install mpi4py mpich)")
    source = make_raw("rec.dat", synthetic_int16(40000, 8))
    one, two = tmp_path / "one.h5", tmp_path / "two.h5"
    options = [*OPEN, "--to", "hdf5", "--filter", "highpass:300", "--chunk-seconds", "0.1"]
    assert wavescope("convert", source, "-o", str(one), *options).returncode == 0
    done = wavescope("convert", source, "-o", str(two), *options, "--cluster", "test", "--ranks", "2", "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    job = JobHistory().load()[-1]
    assert "#SBATCH --ntasks=2" in Path(job.script).read_text()
    # the profile's default: MPICH's mpiexec, its proxy started as a srun step of the allocation
    assert Path(job.argv[0]).name == "mpiexec" and job.argv[1:5] == ["-launcher", "slurm", "-n", "2"]
    assert '"ranks": 2' in Path(job.log).read_text()
    assert two.read_bytes() == one.read_bytes()


def test_three_recordings_run_as_one_job_array(profile, make_raw, tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    sources = [make_raw(f"recordings/rec{i}.dat", synthetic_int16(4000, 8, seed=i)) for i in range(3)]
    missing = wavescope("convert", str(folder), "--each", "*.dat", *OPEN, "-o", str(tmp_path / "out" / "{stem}.dat"),
                        "--to", "raw_binary", "--cluster", "test")
    assert missing.returncode == 2 and "out does not exist; create it first" in missing.stderr
    (tmp_path / "out").mkdir()
    done = wavescope("convert", str(folder), "--each", "*.dat", *OPEN, "-o", str(tmp_path / "out" / "{stem}.dat"),
                     "--to", "raw_binary", "--cluster", "test", "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    jobs = sorted(JobHistory().load()[-3:], key=lambda job: job.cluster_id)
    array_id = jobs[0].cluster_id.split("_")[0]
    assert [job.cluster_id for job in jobs] == [f"{array_id}_{i}" for i in range(3)]
    assert all(job.status == "done" and job.cluster_state == "COMPLETED" for job in jobs)
    assert len({job.script for job in jobs}) == 1 and "#SBATCH --array=0-2" in Path(jobs[0].script).read_text()
    for source in sources:
        assert (tmp_path / "out" / Path(source).name).read_bytes() == Path(source).read_bytes()
    assert [f"[{i}] wavescope: SLURM job {array_id}_{i} on" in done.stdout for i in range(3)] == [True] * 3


def test_cancelled_conversion_leaves_no_partial_output(profile, make_raw, tmp_path):
    source = make_raw("rec.dat", synthetic_int16(400000, 8))
    out = tmp_path / "out" / "copy.dat"
    out.parent.mkdir()
    process = subprocess.Popen([sys.executable, "-m", "app", "convert", source, *OPEN, "-o", str(out),
                                "--to", "raw_binary", "--filter", "highpass:300", "--chunk-seconds", "0.002",
                                "--cluster", "test", "--wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    wait_for(lambda: any(".partial-" in name for name in os.listdir(out.parent)), timeout=60)
    job = JobHistory().load()[-1]
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 143
    job = JobHistory().load()[-1]
    assert job.status == "stopped" and job.cluster_state == "CANCELLED"
    assert marked_processes(job.id) == [] and os.listdir(out.parent) == []


def test_sort_each_recording_of_a_folder_as_a_job_array(profile, make_raw, fake_sorter, tmp_path):
    for i in range(2):
        make_raw(f"rec{i}.dat", synthetic_int16(2000, 8, seed=i))
    done = wavescope("sort", str(tmp_path), "--each", "rec*.dat", "--steps", "filtering", "--cluster", "test",
                     "--wait", env=sorter_env(fake_sorter))
    assert done.returncode == 0, done.stdout + done.stderr
    jobs = sorted(JobHistory().load()[-2:], key=lambda job: job.cluster_id)
    assert [Path(job.params_file).name for job in jobs] == ["rec0.dat", "rec1.dat"]
    assert all(job.status == "done" and job.cluster_id.endswith(f"_{i}") for i, job in enumerate(jobs))
    assert "[1] done" in done.stdout


def test_a_job_slurm_no_longer_knows_ends_interrupted_with_the_reason(profile, tmp_path):
    from app.model.cluster import ClusterRunner, sacct_state
    from app.model.jobs import ConvertJob
    job = ConvertJob(source="a.dat", output=str(tmp_path / "b.dat"), backend="cluster", cluster="test",
                     cluster_id="987654", status="running", log=str(tmp_path / "gone.log"))
    lines = []
    runner = ClusterRunner(job, on_line=lines.append, poll=0.1)
    runner.resume()
    runner.wait(30)
    assert job.status == "interrupted" and "SLURM no longer knows job 987654" in lines[-1]
    assert sacct_state("987654") == (None, None)        # no accounting on this cluster: no answer, no error


def test_a_submitted_job_is_listed_followed_and_cancelled_from_the_cli(profile, make_raw, fake_sorter):
    recording = make_raw("rec.dat", synthetic_int16(2000, 8))
    env = sorter_env(fake_sorter, FAKE_SC_HANG=1)
    submitted = wavescope("sort", recording, "--cluster", "test", env=env)
    assert submitted.returncode == 0, submitted.stderr
    job = JobHistory().load()[-1]
    wait_for(lambda: job.cluster_id in wavescope("cluster", "jobs").stdout and
             f"{job.cluster_id} RUNNING" in wavescope("cluster", "jobs").stdout, timeout=60)
    follower = subprocess.Popen([sys.executable, "-m", "app", "cluster", "follow", job.cluster_id],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert "Welcome to the SpyKING CIRCUS" in follower.stdout.readline() + follower.stdout.readline()
    cancelled = wavescope("cluster", "cancel", job.id)
    assert cancelled.returncode == 0 and f"cancelled SLURM job {job.cluster_id}" in cancelled.stdout
    assert follower.wait(60) != 0                       # the job it followed was cancelled
    assert marked_processes(job.id) == []
    listing = wavescope("cluster", "jobs").stdout
    assert f"{job.id}  test {job.cluster_id} CANCELLED  stopped" in listing
    missing = wavescope("cluster", "follow", "nope")
    assert missing.returncode == 2 and "no cluster job 'nope'" in missing.stderr
