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


def test_cancel_leaves_no_process_and_no_partial_output(profile, make_raw, fake_sorter, tmp_path):
    """Ctrl-C on `--wait` cancels with scancel; the sorter's family (a daemon that escaped the
    job's session included) is gone; a killed conversion leaves no partial file."""
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
