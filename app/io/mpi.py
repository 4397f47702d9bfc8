"""The `comm` object wrappers and the conversion engine share.

mpi4py's COMM_WORLD when mpi4py imports (and an MPI library loads), else a
serial stand-in with the same few methods, so a laptop without MPI runs the
same code as one rank.
"""

from __future__ import annotations

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


def _world():
    try:
        from mpi4py import MPI
        return MPI.COMM_WORLD, True
    except (ImportError, RuntimeError, OSError):
        return SerialComm(), False


comm, HAVE_MPI = _world()
