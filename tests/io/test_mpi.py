"""The `comm` object: serial without a launcher, COMM_WORLD under mpiexec."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.io.mpi import SerialComm, launched_by_mpi, launcher_size, mpi_runtime

REPO = Path(__file__).resolve().parents[2]
PORTABLE = REPO / "tests" / "fixtures" / "portable"

# one write per rank: two ranks share the pipe, and print() writes the newline separately
PROBE = ("import sys; from app.io.mpi import comm, HAVE_MPI; "
         "sys.stdout.write(f'{HAVE_MPI} {comm.Get_rank()} {comm.Get_size()}\\n')")


def test_launcher_detection():
    assert not launched_by_mpi({})
    assert launched_by_mpi({"PMI_RANK": "0"}) and launched_by_mpi({"OMPI_COMM_WORLD_SIZE": "2"})
    assert launched_by_mpi({"WAVESCOPE_MPI": "1"}) and not launched_by_mpi({"PMI_RANK": "0", "WAVESCOPE_MPI": "0"})


def test_serial_stand_in():
    comm = SerialComm()
    assert comm.bcast(5) == 5 and comm.gather("x") == ["x"] and comm.Get_size() == 1


@pytest.mark.skipif(not mpi_runtime().available, reason="needs mpi4py and mpiexec")
def test_plain_process_is_serial_and_mpiexec_ranks_join():
    env = {k: v for k, v in os.environ.items() if k not in ("PMI_RANK", "PMI_SIZE", "WAVESCOPE_MPI")}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.split() == ["False", "0", "1"]
    mpiexec = Path(sys.executable).with_name("mpiexec")
    out = subprocess.run([str(mpiexec), "-n", "2", sys.executable, "-c", PROBE], capture_output=True, text=True,
                         env=env, timeout=120)
    assert sorted(out.stdout.splitlines()) == ["True 0 2", "True 1 2"], out.stderr


def test_runtime_says_why_without_mpi4py(portable):
    runtime = mpi_runtime()
    assert not runtime.available
    assert "mpi4py is not installed" in runtime.reason and "pip install mpi4py mpich" in runtime.reason
    assert launcher_size({"PMI_SIZE": "4"}) == 4 and launcher_size({}) is None


def _convert_as_rank(tmp_path, size: str) -> subprocess.CompletedProcess:
    """`wavescope convert` as if mpiexec started it as rank 0 of `size`, with mpi4py hidden."""
    np.arange(400, dtype="<i2").tofile(tmp_path / "in.dat")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI", "OMPI", "PMIX", "HYDRA"))}
    env.update(PMI_RANK="0", PMI_SIZE=size, WAVESCOPE_FORCE_PORTABLE="1",
               PYTHONPATH=os.pathsep.join([str(PORTABLE), str(REPO)]))
    command = [sys.executable, "-m", "app", "convert", str(tmp_path / "in.dat"),
               "--format", "raw_binary", "--set", "nb_channels=4", "--set", "data_dtype=int16", "--set", "sampling_rate=1000",
               "-o", str(tmp_path / "out.dat")]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


def test_ranks_without_mpi_refuse_clearly(tmp_path):
    """Several ranks but no MPI: each would convert everything as rank 0 of 1 — refused instead."""
    done = _convert_as_rank(tmp_path, "2")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "started as one of several MPI ranks, but MPI does not load here" in done.stderr
    assert not (tmp_path / "out.dat").exists()


def test_one_rank_without_mpi_runs_serially(tmp_path):
    done = _convert_as_rank(tmp_path, "1")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.dat").read_bytes() == (tmp_path / "in.dat").read_bytes()
