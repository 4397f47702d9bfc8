"""The `comm` object wrappers and the conversion engine share, and whether MPI is here at all.

mpi4py's COMM_WORLD when this process is a rank started by an MPI launcher
(and mpi4py imports), else a serial stand-in with the same few methods, so a
laptop without MPI runs the same code as one rank. MPI is optional: nothing
here needs mpi4py or an MPI library unless a launcher started several ranks,
and `mpi_runtime()` says (cheaply, without loading MPI) whether multi-rank
jobs can be offered.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INSTALL_HINT = "pip install mpi4py mpich (or load your cluster's MPI module, then pip install mpi4py)"


class MPIUnavailableError(OSError):
    """Several ranks were asked for but this installation has no working MPI."""


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


class UnavailableComm:
    """Stands for COMM_WORLD when a launcher started ranks but MPI does not load: every call
    raises MPIUnavailableError, so N copies never each convert the whole file as rank 0 of 1."""

    def __init__(self, reason: str):
        self.reason = reason

    def __getattr__(self, name: str) -> Any:
        raise MPIUnavailableError(
            f"this process was started as one of several MPI ranks, but MPI does not load here "
            f"({self.reason}). Run without mpiexec (one process), or install MPI: {INSTALL_HINT}.")


def launcher_size(environ=None) -> int | None:
    """The number of ranks the launcher started, when it says (None when unknown)."""
    environ = os.environ if environ is None else environ
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"):
        if environ.get(name, "").strip().isdigit():
            return int(environ[name])
    return None


def _world():
    # A single process does not pay for loading MPI (0.1-0.3 s on every command) nor risk a
    # launcher-less MPI_Init; under a launcher every rank joins COMM_WORLD.
    if not launched_by_mpi():
        return SerialComm(), False
    try:
        from mpi4py import MPI
        return MPI.COMM_WORLD, True
    except (ImportError, RuntimeError, OSError) as error:
        if launcher_size() == 1:
            return SerialComm(), False
        return UnavailableComm(f"{type(error).__name__}: {error}"), False


comm, HAVE_MPI = _world()


# -- is MPI available to launch ranks? ------------------------------------------------------------
@dataclass(frozen=True)
class MPIRuntime:
    """Whether multi-rank jobs can run here; `reason` says why not, with the fix."""

    available: bool
    mpiexec: str | None
    reason: str = ""


def find_mpiexec() -> str | None:
    """mpiexec beside the interpreter (a venv with the mpich wheel, or the bundle), else on PATH."""
    folders = [Path(sys.executable).parent]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        folders.append(Path(bundle) / "mpich" / "bin")
    for folder in folders:
        for name in ("mpiexec", "mpiexec.hydra", "mpiexec.exe"):
            if (folder / name).is_file() and os.access(folder / name, os.X_OK):
                return str(folder / name)
    return shutil.which("mpiexec")


def mpi_runtime() -> MPIRuntime:
    """mpi4py importable and an mpiexec found, without loading MPI (the doctor does that)."""
    mpiexec = find_mpiexec()
    try:
        has_mpi4py = importlib.util.find_spec("mpi4py") is not None
    except (ImportError, ValueError):
        has_mpi4py = False
    if not has_mpi4py:
        return MPIRuntime(False, mpiexec, f"mpi4py is not installed; jobs run as one process. To use "
                                          f"several ranks: {INSTALL_HINT}")
    if mpiexec is None:
        return MPIRuntime(False, None, f"no mpiexec beside Python or on PATH; jobs run as one process. "
                                       f"To use several ranks: {INSTALL_HINT}")
    return MPIRuntime(True, mpiexec)
