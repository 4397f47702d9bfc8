"""`wavescope doctor`: the command; what it checks and says lives in `app.doctor`."""

from __future__ import annotations

import argparse


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `doctor`."""
    doctor = subparsers.add_parser("doctor",
                                   help="check this installation and say how to fix what is missing")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.add_argument("--probe", choices=["opengl", "mpi", "ranks", "platform"], help=argparse.SUPPRESS)
    doctor.add_argument("--clean", action="store_true", help="remove partial outputs of killed conversions")
    doctor.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    """What this installation has and lacks: Qt, OpenGL, MPI, optional tools, folders, plugins."""
    from app.doctor import doctor
    return doctor(as_json=args.json, probe=args.probe, clean=args.clean)
