"""Conversions that go wrong: bad options under MPI, a full disk, killed processes.

Real subprocesses, real mpiexec, real files; the full-disk cases write into a small tmpfs
mounted for the test (root only: skipped elsewhere, with the reason).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from app.io import atomic
from app.io import convert as engine
from app.io.convert import ConvertSpec, convert
from app.io.partials import find_partials, host_tag, partial_name, remembered_folders
from app.model.jobs import mpiexec_path
from tests.conftest import synthetic_int16

REPO = Path(__file__).resolve().parents[2]
RATE = 20000
OPEN = ["--format", "raw_binary", "--set", "nb_channels=8", "--set", "data_dtype=int16",
        "--set", f"sampling_rate={RATE}"]
WRITABLE = {"raw_binary": [], "numpy": [], "mda": [], "hdf5": ["--out-set", "h5_key=data"]}
HAVE_MPI = importlib.util.find_spec("mpi4py") is not None and os.path.exists(mpiexec_path())
needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason="needs mpi4py and mpiexec")
pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def env(tmp_path):
    """The subprocesses' environment, with a cache folder of their own (the partials list)."""
    return {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(tmp_path / "cache")}


def _command(ranks: int, *args: str) -> list[str]:
    launcher = [mpiexec_path(), "-n", str(ranks)] if ranks > 1 else []
    return [*launcher, sys.executable, "-m", "app", "convert", *args]


def _run(ranks: int, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(_command(ranks, *args), cwd=REPO, capture_output=True, text=True, timeout=90,
                          check=False, env=env)


def _partials(folder) -> list[str]:
    return [name for name in os.listdir(folder) if ".partial-" in name]


# -- 1. MPI: every rank shares a failure ----------------------------------------------------------
@needs_mpi
@pytest.mark.parametrize("setting, words", [("data_dtype=foo", "data_dtype 'foo'"), ("gain=abc", "gain='abc'")])
def test_bad_out_setting_under_mpi_ends_every_rank_with_one_message(make_raw, tmp_path, env, setting, words):
    src = make_raw("rec.dat", synthetic_int16(20000, 8))
    done = _run(2, env, src, *OPEN, "-o", str(tmp_path / "out.dat"), "--out-set", setting)
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("wavescope:")]
    assert len(lines) == 1 and words in lines[0], done.stderr        # rank 0 says it, once
    assert "Traceback" not in done.stderr
    assert sorted(set(os.listdir(tmp_path)) - {"cache"}) == ["rec.dat"]


@needs_mpi
def test_a_rank_killed_mid_run_ends_the_job_and_the_next_run_clears_its_partial(make_raw, tmp_path, env):
    src = make_raw("rec.dat", synthetic_int16(150000, 8))
    out = tmp_path / "out.dat"
    process = subprocess.Popen(_command(2, src, *OPEN, "-o", str(out), "--chunk-seconds", "0.00005",
                                        "--progress", "json"),
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert json.loads(process.stdout.readline())["done"] >= 1
        ranks = [p for p in psutil.Process(process.pid).children(recursive=True)
                 if "-m app convert" in " ".join(p.cmdline())]
        assert len(ranks) == 2
        ranks[-1].send_signal(signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode != 0
    assert "KILLED" in (stdout + stderr).upper(), stdout + stderr     # mpiexec says which rank died
    assert not out.exists()
    second = _run(1, env, src, *OPEN, "-o", str(tmp_path / "again.dat"))
    assert second.returncode == 0, second.stderr
    assert _partials(tmp_path) == []


# -- 2. a full disk -------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """An 8 MB tmpfs (root only); unmounted after the test."""
    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.parametrize("ranks", [1, pytest.param(2, marks=needs_mpi)])
def test_mda_larger_than_the_disk_is_refused_cleanly(make_raw, small_disk, env, ranks):
    src = make_raw("rec.dat", synthetic_int16(700000, 8))          # 11.2 MB into 8 MB
    out = small_disk / "out.mda"
    done = _run(ranks, env, src, *OPEN, "-o", str(out), "--to", "mda")
    assert done.returncode == 1, done.stderr
    assert f"{out}: the output needs" in done.stderr and str(small_disk) in done.stderr
    assert "Traceback" not in done.stderr
    assert os.listdir(small_disk) == []


def _fill(path: Path) -> None:
    """Write `path` until the disk is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError, match="No space left"):
            while True:
                os.write(fd, b"\1" * 65536)
    finally:
        os.close(fd)


@pytest.mark.parametrize("ranks", [1, pytest.param(2, marks=needs_mpi)])
def test_disk_filled_during_an_mda_conversion_fails_cleanly(make_raw, small_disk, env, ranks):
    src = make_raw("rec.dat", synthetic_int16(300000, 8))          # 4.8 MB: fits when it starts
    out = small_disk / "out.mda"
    process = subprocess.Popen(_command(ranks, src, *OPEN, "-o", str(out), "--to", "mda", "--chunk-seconds",
                                        "0.002", "--progress", "json"),
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert json.loads(process.stdout.readline())["done"] >= 1
        _fill(small_disk / "filler")
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1, stderr
    error = json.loads(stdout.splitlines()[-1])["error"]       # --progress json: errors are JSON too
    assert error["message"].startswith(f"{out}: No space left on device"), stdout
    assert ".partial-" not in stdout + stderr
    assert "Traceback" not in stderr
    assert os.listdir(small_disk) == ["filler"]


# -- 3. partials of killed processes --------------------------------------------------------------
def _kill_mid_run(src: str, out: Path, env: dict) -> None:
    process = subprocess.Popen(_command(1, src, *OPEN, "-o", str(out), "--chunk-seconds", "0.00005",
                                        "--progress", "json"),
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert json.loads(process.stdout.readline())["done"] >= 1
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
        process.communicate()


def test_sigkill_leaves_a_partial_that_doctor_lists_and_the_next_run_removes(make_raw, tmp_path, env,
                                                                              monkeypatch):
    from app import doctor
    src = make_raw("rec.dat", synthetic_int16(150000, 8))
    out = tmp_path / "out.dat"
    _kill_mid_run(src, out, env)
    left = find_partials(str(tmp_path))
    assert len(left) == 1 and left[0].stale and left[0].target == str(out) and left[0].size > 0
    monkeypatch.setenv("XDG_CACHE_HOME", env["XDG_CACHE_HOME"])
    assert str(tmp_path) in remembered_folders()
    checks = doctor.check_partials()
    assert not checks[0].ok and "doctor --clean" in checks[0].fix
    assert any(left[0].path in c.detail and str(out) in c.detail for c in checks[1:])
    # Not ours to remove: a partial another host writes, one a live process writes, a look-alike.
    foreign = tmp_path / f".x.partial-{host_tag()}zz-1.dat"
    alive = Path(partial_name(str(tmp_path / "y.dat"), os.getpid()))
    lookalike = tmp_path / ".z.partial-abc.dat"
    for path in (foreign, alive, lookalike):
        path.write_bytes(b"keep")
    done = _run(1, env, src, *OPEN, "-o", str(tmp_path / "next.dat"))
    assert done.returncode == 0, done.stderr
    assert "removed a partial output" in done.stderr and left[0].path in done.stderr
    assert not os.path.exists(left[0].path)
    assert all(path.exists() for path in (foreign, alive, lookalike))


def test_doctor_clean_removes_stale_partials(make_raw, tmp_path, env):
    src = make_raw("rec.dat", synthetic_int16(150000, 8))
    _kill_mid_run(src, tmp_path / "out.dat", env)
    assert len(_partials(tmp_path)) == 1
    done = subprocess.run([sys.executable, "-m", "app.doctor", "--clean"], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False, env=env)
    assert done.returncode == 0 and "1 partial output(s) removed" in done.stdout, done.stdout + done.stderr
    assert _partials(tmp_path) == []


def test_output_is_fsynced_before_the_rename_and_the_folder_after(make_raw, tmp_path, monkeypatch):
    from tests.io.test_convert import _source
    src = make_raw("rec.dat", synthetic_int16(3000, 8))
    out = tmp_path / "out.dat"
    events = []
    real_fsync, real_replace = atomic.fsync_path, os.replace
    monkeypatch.setattr(atomic, "fsync_path", lambda path, folder=False: (
        events.append(("fsync", path, os.path.exists(out))), real_fsync(path, folder)))
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: (events.append(("replace", a, b)), real_replace(a, b)))
    convert(_source(src), ConvertSpec(str(out), write_params=False))
    assert [e[0] for e in events] == ["fsync", "replace", "fsync"]
    assert ".partial-" in events[0][1] and events[0][2] is False
    assert events[2][1] == str(tmp_path)
    assert np.array_equal(np.fromfile(out, np.int16), np.fromfile(src, np.int16))


def test_a_stale_partial_is_only_ours_by_name_host_and_dead_pid(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    time.sleep(0.05)
    stale = Path(partial_name(str(tmp_path / "rec.dat"), dead.pid))
    stale.write_bytes(b"x" * 10)
    (tmp_path / ".rec.partial-123.dat").write_bytes(b"old naming, not ours to judge")
    found = find_partials(str(tmp_path))
    assert [(p.path, p.size, p.stale, p.target) for p in found] == [
        (str(stale), 10, True, str(tmp_path / "rec.dat"))]
