"""PyInstaller runtime hook: point mpi4py at the bundled MPI library.

mpi4py dlopens libmpi by name from its install prefix, which a bundle does not
have; naming the bundled copy makes it load. A user's own MPI4PY_LIBMPI wins.
When nothing loads, app.io.mpi falls back to a serial comm.
"""

import os
import sys

_bundle = getattr(sys, "_MEIPASS", "")
for _name in ("libmpi.so.12", "libmpi.12.dylib", "libmpi.dylib"):
    _path = os.path.join(_bundle, _name)
    if os.path.isfile(_path):
        os.environ.setdefault("MPI4PY_LIBMPI", _path)
        break
