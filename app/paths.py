"""Where Wavescope's own files are.

The repository keeps them in `resources/` at its top; a wheel or the bundle installs them
inside the package, as `app/resources` (setup.py maps one to the other).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _resources() -> Path:
    installed, checkout = _PACKAGE / "resources", _PACKAGE.parent / "resources"
    return installed if installed.is_dir() else checkout


RESOURCES = _resources()
