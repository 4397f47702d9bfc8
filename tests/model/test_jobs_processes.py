"""Every stop ends every process a job started: a child, a setsid grandchild and a double-forked
daemon holding the output pipe, through the runner (the GUI's path) and through signals to a real
`wavescope sort` process. Real processes throughout; psutil says who survived."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from app.model.jobs import FINISHED, JOB_MARKER, JobHistory, JobRunner, SortJob, job_processes
from tests.conftest import install_fake_sorter

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"),
                                reason="the family fixture uses POSIX sessions")


@pytest.fixture
def sorter_env(tmp_path, monkeypatch):
    """The stand-in sorter first on PATH, a recording, and the environment a job gets."""
    install_fake_sorter(tmp_path, monkeypatch)
    data = tmp_path / "rec.dat"
    data.write_bytes(b"\0" * 64)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_SC_")}
    env.update(FAKE_SC_FAMILY=str(tmp_path / "family.json"), FAKE_SC_TICK="0.001",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    return data, env, tmp_path / "family.json"


def _family(path: Path, timeout: float = 30.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, "the sorter's family did not start"
        time.sleep(0.05)
    return json.loads(path.read_text())


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _survivors(pids: dict[str, int]) -> dict[str, int]:
    return {role: pid for role, pid in pids.items() if _alive(pid)}


def _marked(job_id: str) -> list[int]:
    return [p.pid for p in job_processes(None, job_id)]


@pytest.mark.skipif(not hasattr(os, "getsid"), reason="checks sessions with os.getsid")
def test_the_family_really_escapes_a_process_tree(sorter_env):
    """Guard for the tests below: the setsid grandchild and the daemon leave the sorter's group,
    and the daemon leaves its tree, so only the stop's sweep can find them."""
    data, env, report = sorter_env
    runner = JobRunner(SortJob(params_file=str(data), steps=["filtering"]), env={**env, "FAKE_SC_HANG": "1"})
    runner.start()
    try:
        pids = _family(report)
        root = runner.process.pid
        tree = {p.pid for p in psutil.Process(root).children(recursive=True)}
        assert pids["daemon"] not in tree
        assert os.getsid(pids["setsid"]) != root and os.getsid(pids["daemon"]) != root
        assert psutil.Process(pids["daemon"]).environ()[JOB_MARKER] == runner.job.id
    finally:
        runner.stop(grace=0.5)
        runner.wait(30)


@pytest.mark.parametrize("grace", [0.5, 5.0])
def test_runner_stop_ends_every_process_of_the_job(sorter_env, grace):
    """The GUI's Stop: child, setsid grandchild and the daemon (which ignores SIGTERM) all end,
    the job reaches `stopped` although the daemon held the output pipe."""
    data, env, report = sorter_env
    job = SortJob(params_file=str(data), steps=["filtering"])
    changes = []
    runner = JobRunner(job, env={**env, "FAKE_SC_HANG": "1"}, on_change=lambda j: changes.append(j.status))
    runner.start()
    pids = _family(report)
    assert set(_survivors(pids)) == {"parent", "child", "setsid", "daemon"}
    assert runner.stop(grace=grace) >= 4
    assert runner.wait(timeout=30) is not None
    assert job.status == "stopped" and changes == ["running", "stopped"] and job.exit_code == -15
    assert _survivors(pids) == {} and _marked(job.id) == []


def test_stop_without_process_groups(sorter_env, portable):
    """Without killpg/getpgid/getsid (Windows, or --portable) the sweep alone ends the family."""
    assert not hasattr(os, "killpg") and not hasattr(os, "getpgid")
    data, env, report = sorter_env
    job = SortJob(params_file=str(data), steps=["filtering"])
    runner = JobRunner(job, env={**env, "FAKE_SC_HANG": "1"})
    runner.start()
    pids = _family(report)
    runner.stop(grace=1.0)
    assert runner.wait(timeout=30) is not None and job.status == "stopped"
    assert _survivors(pids) == {} and _marked(job.id) == []


def test_job_ends_when_its_main_process_exits_and_a_daemon_holds_the_pipe(sorter_env):
    """No stop asked: the sorter exits 0 but its family keeps the pipe open. The job still ends
    (done), within a bounded drain, and the leftovers are ended with a line saying so."""
    data, env, report = sorter_env
    job = SortJob(params_file=str(data), steps=["filtering"])
    lines = []
    runner = JobRunner(job, env=env, on_line=lines.append)
    runner.start()
    pids = _family(report)
    assert runner.wait(timeout=60) == 0
    assert job.status == "done" and job.status in FINISHED
    assert any(line.startswith("wavescope: the job left") for line in lines)
    assert "done" in lines and any(line == "daemon alive" for line in lines)
    assert _survivors(pids) == {} and _marked(job.id) == []


def _start_cli(env: dict, data: Path, history_home: Path) -> subprocess.Popen:
    env = {**env, "FAKE_SC_HANG": "1", "XDG_DATA_HOME": str(history_home)}
    return subprocess.Popen([sys.executable, "-m", "app", "sort", str(data), "--steps", "filtering"],
                            env=env, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_signal_to_wavescope_sort_ends_the_whole_job(sorter_env, tmp_path, signame):
    """A real `wavescope sort` in the foreground gets SIGTERM, SIGHUP or SIGINT (Ctrl-C): every
    process of the job ends, the command says so and exits 128 + N, without a traceback."""
    data, env, report = sorter_env
    cli = _start_cli(env, data, tmp_path / "home")
    try:
        pids = _family(report)
        (job_pid,) = [p.pid for p in psutil.Process(cli.pid).children()]
        pids["sorter"] = job_pid
        cli.send_signal(getattr(signal, signame))
        out, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
    signum = int(getattr(signal, signame))
    assert cli.returncode == 128 + signum, err
    assert "Traceback" not in err and "TypeError" not in err
    assert f"stopped by {signame}" in err and "every process it started were ended" in err
    assert "filtering" in out
    assert _survivors(pids) == {}
    (recorded,) = JobHistory(tmp_path / "home" / "wavescope" / "jobs.json").load()
    assert recorded.status == "stopped" and recorded.exit_code is not None
    assert _marked(recorded.id) == []


def test_a_second_signal_does_not_cut_the_stop_short(sorter_env, tmp_path):
    """Ctrl-C twice: the first starts the stop, the second is ignored until it is done."""
    data, env, report = sorter_env
    cli = _start_cli(env, data, tmp_path / "home")
    try:
        pids = _family(report)
        cli.send_signal(signal.SIGINT)
        time.sleep(0.2)
        if cli.poll() is None:
            cli.send_signal(signal.SIGINT)
        _, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 130 and "Traceback" not in err, err
    assert _survivors(pids) == {}
