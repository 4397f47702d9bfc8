"""Compile the nsstub Neuroshare library for the tests (needs a C compiler)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).with_name("nsstub.c")


def find_compiler() -> str | None:
    """The machine's C compiler (`$CC`, `cc`, `gcc` or `clang`), or None."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def library_suffix() -> str:
    if sys.platform == "darwin":
        return ".dylib"
    return ".dll" if os.name == "nt" else ".so"


def compile_shared(source: Path, target: Path, defines: tuple[str, ...] = ()) -> Path:
    """Compile one C file into the shared library `target`; RuntimeError when that fails."""
    compiler = find_compiler()
    if compiler is None:
        raise RuntimeError("no C compiler (cc, gcc or clang) on PATH")
    command = [compiler, *(f"-D{d}" for d in defines), "-shared", "-fPIC", "-O1", "-Wall",
               "-o", str(target), str(source)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"compiling failed: {' '.join(command)}\n{done.stderr}")
    return Path(target)


def build_stub(out_dir: Path, pack4: bool) -> Path:
    """Build the stub into `out_dir`: 4-byte struct packing (as MSVC vendor builds) when
    `pack4`, else the compiler's natural alignment."""
    name = ("nsstub_pack4" if pack4 else "nsstub_natural") + library_suffix()
    return compile_shared(SOURCE, Path(out_dir) / name, ("STUB_PACK4",) if pack4 else ())
