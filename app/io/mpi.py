"""The `comm` object wrappers and the conversion engine share.

mpi4py's COMM_WORLD when this process is a rank started by an MPI launcher
(and mpi4py imports), else a serial stand-in with the same few methods, so a
laptop without MPI runs the same code as one rank.
"""

from __future__ import annotations

import os
from typing import Any


class SerialComm:
    """One process, rank 0 of 1: collective calls return what one rank would get."""

    rank = 0
    size = 1

    def Get_rank(self) -> int:  # noqa: N802 - mpi4py's names
        return 0

    def Get_size(self) -> int:  # noqa: N802
        return 1

    def Barrier(self) -> None:  # noqa: N802
        pass

    barrier = Barrier

    def bcast(self, obj: Any, root: int = 0) -> Any:
        return obj

    def gather(self, obj: Any, root: int = 0) -> list:
        return [obj]

    def allgather(self, obj: Any) -> list:
        return [obj]

    def send(self, obj: Any, dest: int, tag: int = 0) -> None:
        raise RuntimeError("send needs MPI: there is no other rank in a serial run")

    def recv(self, source: int = 0, tag: int = 0) -> Any:
        raise RuntimeError("recv needs MPI: there is no other rank in a serial run")


# Variables the common launchers (MPICH/hydra, Open MPI, Intel MPI, Slurm's PMI/PMIx) set in each rank.
LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "PMI_FD", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE",
                      "MPI_LOCALNRANKS", "HYDRA_CONTROL_FD")


def launched_by_mpi(environ=None) -> bool:
    """True inside a rank started by mpiexec/srun (or when WAVESCOPE_MPI=1 forces MPI)."""
    environ = os.environ if environ is None else environ
    forced = environ.get("WAVESCOPE_MPI", "").strip().lower()
    if forced in ("0", "no", "false", "off"):
        return False
    return forced in ("1", "yes", "true", "on") or any(name in environ for name in LAUNCHER_VARIABLES)


def _world():
    # A single process does not pay for loading MPI (0.1-0.3 s on every command) nor risk a
    # launcher-less MPI_Init; under a launcher every rank joins COMM_WORLD.
    if not launched_by_mpi():
        return SerialComm(), False
    try:
        from mpi4py import MPI
        return MPI.COMM_WORLD, True
    except (ImportError, RuntimeError, OSError):
        return SerialComm(), False


comm, HAVE_MPI = _world()
