"""The `comm` object: serial without a launcher, COMM_WORLD under mpiexec."""

import os
import subprocess
import sys
from pathlib import Path

from app.io.mpi import SerialComm, launched_by_mpi

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


def test_plain_process_is_serial_and_mpiexec_ranks_join():
    env = {k: v for k, v in os.environ.items() if k not in ("PMI_RANK", "PMI_SIZE", "WAVESCOPE_MPI")}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.split() == ["False", "0", "1"]
    mpiexec = Path(sys.executable).with_name("mpiexec")
    out = subprocess.run([str(mpiexec), "-n", "2", sys.executable, "-c", PROBE], capture_output=True, text=True,
                         env=env, timeout=120)
    assert sorted(out.stdout.splitlines()) == ["True 0 2", "True 1 2"], out.stderr
