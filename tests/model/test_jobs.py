"""Job specs, command lines, history, output parsing and the runner, against real processes."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import psutil
import pytest

from app import exitcodes
from app.io.mpi import mpi_runtime
from app.model.jobs import (
    ConvertJob,
    Job,
    JobError,
    JobHistory,
    JobRunner,
    OutputSplitter,
    SortJob,
    parse_progress,
    sorter_names,
    sorter_template,
    strip_ansi,
)
from tests.conftest import install_fake_sorter

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_sorter(tmp_path, monkeypatch):
    """The stand-in `spyking-circus` first on PATH, and a recording with its params beside it."""
    script = install_fake_sorter(tmp_path, monkeypatch)
    data = tmp_path / "rec.dat"
    data.write_bytes(b"\0" * 64)
    (tmp_path / "rec.params").write_text("[data]\nfile_format = raw_binary\noverwrite = False\n")
    return script, data


def _env(**values) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_SC_")}
    env.update({k: str(v) for k, v in values.items()})
    return env


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# -- templates and commands -----------------------------------------------------------------------
def test_spyking_circus_command_uses_the_launcher_options(fake_sorter):
    script, data = fake_sorter
    job = SortJob(params_file=str(data), steps=["filtering", "whitening"], cpus=4, hostfile="nodes.hosts",
                  preview=True, extension="merged", output="out")
    assert job.command() == [str(script), str(data), "-m", "filtering,whitening", "-c", "4",
                             "-H", "nodes.hosts", "-p", "-e", "merged", "-o", "out"]
    # Without --steps the template's default steps are named (SpyKING CIRCUS's own add merging, headless-unsafe).
    assert SortJob(params_file=str(data)).command() == [str(script), str(data), "-m",
                                                         "filtering,whitening,clustering,fitting"]
    assert "spyking-circus" in job.describe() and "4 CPUs" in job.describe()


def test_params_file_resolves_to_its_data_file(fake_sorter):
    script, data = fake_sorter
    job = SortJob(params_file=str(data.with_suffix(".params")), cpus=2)
    assert job.command()[:2] == [str(script), str(data)]


def test_unsupported_options_and_unknown_steps_are_refused(fake_sorter):
    _, data = fake_sorter
    with pytest.raises(JobError, match="GPU"):
        SortJob(params_file=str(data), gpus=1).command()
    with pytest.raises(JobError, match="unknown step"):
        SortJob(params_file=str(data), steps=["filtering", "sorting"]).command()
    with pytest.raises(JobError, match="known sorters"):
        sorter_template("no-such-sorter")


def test_templates_and_install_hints(fake_sorter, monkeypatch):
    assert {"spyking-circus", "kilosort4"} <= set(sorter_names())
    circus = sorter_template("spyking-circus")
    assert circus.is_installed() and circus.missing_message() is None
    monkeypatch.setenv("PATH", "/nonexistent")
    assert "pip install spyking-circus" in circus.missing_message()
    # Kilosort 4 runs headless through SpikeInterface in its own environment, never its GUI.
    kilosort = sorter_template("kilosort4")
    assert kilosort.spikeinterface == {"sorter": "kilosort4", "keep_sorter_output": True}
    assert kilosort.is_installed() or "wavescope sorters install kilosort4" in kilosort.missing_message()
    _, data = fake_sorter
    with pytest.raises(JobError, match="give --output DIR"):
        SortJob(params_file=str(data), sorter="kilosort4").command()


def test_convert_job_without_mpi_refuses_ranks_and_runs_one_process(portable):
    with pytest.raises(JobError, match="2 MPI ranks asked for, but mpi4py is not installed.*pip install"):
        ConvertJob(source="in.dat", output="out.dat", ranks=2).command()
    serial = ConvertJob(source="in.dat", output="out.dat").command()
    assert serial[:4] == [sys.executable, "-m", "app", "convert"]


def test_convert_job_in_a_bundle_runs_the_bundle_itself(monkeypatch):
    """A PyInstaller bundle has no `-m`: its executable is `wavescope` itself."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    command = ConvertJob(source="in.dat", output="out.dat").command()
    assert command[:3] == [sys.executable, "convert", "in.dat"]
    assert command[command.index("--output") + 1] == "out.dat" and "-m" not in command


@pytest.mark.skipif(not mpi_runtime().available, reason="needs mpi4py and mpiexec")
def test_convert_job_command_runs_the_engine(tmp_path):
    job = ConvertJob(source="in.dat", output="out.h5", to_format="hdf5", file_format="raw_binary",
                     settings={"nb_channels": 4}, out_settings={"h5_key": "data"}, highpass=300.0,
                     channels="0-3", ranks=2, force=True)
    command = job.command()
    assert command[1:3] == ["-n", "2"] and command[0].endswith("mpiexec")
    assert command[3:7] == [sys.executable, "-m", "app", "convert"]
    tail = command[7:]
    for expected in (["--to", "hdf5"], ["--filter", "highpass:300"], ["--set", "nb_channels=4"],
                     ["--out-set", "h5_key=data"], ["--progress", "json"], ["--channels", "0-3"]):
        position = tail.index(expected[0])
        assert tail[position:position + 2] == expected
    assert "--force" in tail and "--verify" not in tail
    assert ConvertJob(source="a", output="b").command()[0] == sys.executable


# -- history --------------------------------------------------------------------------------------
def test_history_round_trip_and_interrupted_jobs(tmp_path):
    history = JobHistory(tmp_path / "data" / "jobs.json")
    finished = SortJob(params_file="rec.params", cpus=2, status="done", exit_code=0, started=1.0, ended=5.0)
    dead = ConvertJob(source="a.dat", output="b.dat", status="running", started=time.time() - 60, pid=2 ** 22 + 7)
    alive = ConvertJob(source="c.dat", output="d.dat", status="running", started=time.time(), pid=os.getpid())
    for job in (finished, dead, alive):
        history.record(job)
    loaded = {job.id: job for job in history.load()}
    assert loaded[finished.id] == finished
    assert loaded[dead.id].status == "interrupted"
    assert loaded[alive.id].status == "running"
    assert isinstance(loaded[dead.id], ConvertJob) and loaded[dead.id].output == "b.dat"
    assert [p.name for p in history.path.parent.iterdir()] == ["jobs.json"]
    history.path.write_text("{ not json")
    assert history.load() == []


def test_history_default_path_is_in_the_user_data_dir():
    assert JobHistory().path.parts[-2:] == ("wavescope", "jobs.json")
    assert Job.from_dict(SortJob(params_file="x").to_dict()).params_file == "x"


# -- output parsing -------------------------------------------------------------------------------
def test_splitter_keeps_lines_and_in_place_updates():
    splitter = OutputSplitter()
    pieces = splitter.feed(b"\x1b[32mhello\x1b[0m\n\r 10%|#| 1/10\r 5")
    pieces += splitter.feed(b"0%|#####| 5/10\r")
    pieces += splitter.feed(b"\n\xc3")
    pieces += splitter.feed(b"\xa9t\xc3\xa9\r\nlast", final=True)
    assert pieces == [("hello", False), (" 10%|#| 1/10", True), (" 50%|#####| 5/10", False),
                      ("\u00e9t\u00e9", False), ("last", False)]
    assert OutputSplitter().feed(b"a\rb\r\rc\n") == [("a", True), ("b", True), ("c", False)]


def test_progress_parsing():
    assert parse_progress('{"done": 3, "total": 12, "elapsed": 1.0}') == 0.25
    assert parse_progress("clustering  45%|####5     | 45/100 [00:01<00:01]") == 0.45
    assert parse_progress("nothing here") is None
    assert strip_ansi("\x1b[1;31mred\x1b[0m \x1b]0;title\x07x") == "red x"


# -- the runner, with real processes --------------------------------------------------------------
def test_runner_streams_lines_progress_and_exit_code(fake_sorter):
    _, data = fake_sorter
    job = SortJob(params_file=str(data), steps=["filtering", "fitting"], cpus=3)
    seen, fractions, changes = [], [], []
    runner = JobRunner(job, on_line=seen.append, on_progress=fractions.append,
                       on_change=lambda j: changes.append(j.status), env=_env(FAKE_SC_EXIT=3))
    runner.start()
    assert runner.wait(timeout=30) == 3
    assert job.status == "failed" and job.exit_code == 3 and job.duration > 0
    assert changes == ["running", "failed"]
    assert seen[0] == "##### Welcome to the SpyKING CIRCUS (stand-in) #####"
    given = json.loads(seen[1])["args"]
    assert given["method"] == "filtering,fitting" and given["cpu"] == 3
    assert seen[2].startswith("filtering") and seen[2].endswith("100%|##########| 10/10")
    assert seen[-1] == "done" and not any("\x1b" in line or "\r" in line for line in seen)
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and len(fractions) == 22
    assert runner.progress == 1.0 and runner.progress_line.startswith("fitting")


def test_runner_records_success_in_history(fake_sorter, tmp_path):
    _, data = fake_sorter
    history = JobHistory(tmp_path / "jobs.json")
    job = SortJob(params_file=str(data), steps=["filtering"])
    runner = JobRunner(job, on_change=history.record, env=_env())
    runner.start()
    assert runner.wait(timeout=30) == 0
    (loaded,) = history.load()
    assert loaded.status == "done" and loaded.exit_code == 0 and loaded.argv == job.command()


@pytest.mark.parametrize("ignore_term", [False, True])
def test_stop_kills_the_whole_tree(fake_sorter, tmp_path, ignore_term):
    _, data = fake_sorter
    pidfile = tmp_path / "pids.json"
    env = _env(FAKE_SC_CHILD_PIDFILE=pidfile, FAKE_SC_HANG=1, FAKE_SC_TICK=0.01,
               **({"FAKE_SC_IGNORE_TERM": 1} if ignore_term else {}))
    job = SortJob(params_file=str(data), steps=["filtering"])
    runner = JobRunner(job, env=env)
    runner.start()
    deadline = time.monotonic() + 20
    while not (pidfile.exists() and pidfile.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = json.loads(pidfile.read_text())
    tree = [pids["parent"], *pids["children"]]
    assert all(psutil.pid_exists(pid) for pid in tree)
    runner.stop(grace=1.0)
    assert runner.wait(timeout=10) is not None
    assert job.status == "stopped"
    assert job.exit_code == (-9 if ignore_term else -15)
    assert all(_gone(pid) for pid in tree)


def test_stop_reaches_mpi_ranks(tmp_path):
    """A conversion under mpiexec: stopping the job ends mpiexec and both ranks."""
    if not mpi_runtime().available:
        pytest.skip(mpi_runtime().reason)
    data = tmp_path / "rec.dat"
    data.write_bytes(b"\0" * (8 * 2 * 200000))
    job = ConvertJob(source=str(data), output=str(tmp_path / "out.dat"), file_format="raw_binary",
                     settings={"nb_channels": 8, "data_dtype": "int16", "sampling_rate": 20000},
                     chunk_seconds=0.00005, ranks=2)
    started = []
    runner = JobRunner(job, on_progress=started.append, cwd=str(REPO))
    runner.start()
    deadline = time.monotonic() + 30
    while not started and time.monotonic() < deadline:
        time.sleep(0.05)
    tree = [runner.process.pid] + [p.pid for p in psutil.Process(runner.process.pid).children(recursive=True)]
    assert len(tree) >= 3
    runner.stop(grace=5.0)
    assert runner.wait(timeout=20) is not None
    assert job.status == "stopped"
    assert all(_gone(pid) for pid in tree)
    assert sorted(os.listdir(tmp_path)) == ["rec.dat"]


# -- the `sort` command ---------------------------------------------------------------------------
def test_sort_command_dry_run_and_live_run(fake_sorter, capsys, monkeypatch):
    from app.cli import main
    script, data = fake_sorter
    params = str(data.with_suffix(".params"))
    assert main(["sort", params, "--cpus", "2", "--steps", "filtering", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{script} {data} -m filtering -c 2"]
    monkeypatch.setenv("FAKE_SC_EXIT", "4")
    assert main(["sort", params, "--steps", "filtering,whitening"]) == 4
    out = capsys.readouterr()
    assert out.out.splitlines()[1] == "##### Welcome to the SpyKING CIRCUS (stand-in) #####"
    assert "failed (exit 4" in out.err
    (recorded,) = JobHistory().load()
    assert recorded.status == "failed" and recorded.steps == ["filtering", "whitening"]
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["sort", params]) == exitcodes.UNAVAILABLE      # not installed here
    assert "pip install spyking-circus" in capsys.readouterr().err
