"""Shared fixtures: small real files written into tmp_path."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
PORTABLE_DIR = Path(__file__).resolve().parent / "fixtures" / "portable"


def pytest_addoption(parser):
    parser.addoption("--portable", action="store_true",
                     help="run as on a platform without os.preadv/pwritev/pread/pwrite/killpg/getpgid/"
                          "getsid and without MPI (mpi4py hidden), here and in child Python processes")


def pytest_configure(config):
    """Portable mode starts before collection, so module-level skips already see no MPI."""
    if config.getoption("--portable") or os.environ.get("WAVESCOPE_FORCE_PORTABLE") == "1":
        os.environ["WAVESCOPE_FORCE_PORTABLE"] = "1"
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PORTABLE_DIR),
                                                                 os.environ.get("PYTHONPATH")]))
        _portable_module().force_portable()


def _portable_module():
    """tests/fixtures/portable/sitecustomize.py, loaded by path (another sitecustomize may exist)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("wavescope_portable", PORTABLE_DIR / "sitecustomize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def portable(monkeypatch):
    """This one test without the POSIX-only calls and without MPI (the --portable mode, scoped)."""
    for name in _portable_module().POSIX_ONLY:
        monkeypatch.delattr(os, name, raising=False)
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", None)


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Keep tests out of the real user config/cache (plugins, settings, demo)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.delenv("WAVESCOPE_FORMATS_PATH", raising=False)
    monkeypatch.delenv("WAVESCOPE_SORTERS_DIR", raising=False)      # sorter envs: app.model.sorters
    monkeypatch.delenv("WAVESCOPE_CONFIG_DIR", raising=False)


def synthetic_int16(n_samples: int, n_channels: int, seed: int = 0) -> np.ndarray:
    """A known signal: a ramp per channel plus noise, as int16 (time, channels)."""
    rng = np.random.default_rng(seed)
    ramp = (np.arange(n_samples)[:, None] % 1000) - 500
    data = ramp + 100 * np.arange(n_channels)[None, :] + rng.integers(-50, 50, (n_samples, n_channels))
    return data.astype(np.int16)


@pytest.fixture
def make_raw(tmp_path):
    """Write interleaved samples the way the layout says: (t * n_channels + c) * itemsize + offset."""

    def write(name: str, data: np.ndarray, header: bytes = b"") -> str:
        path = tmp_path / name
        with open(path, "wb") as handle:
            handle.write(header)
            for row in data:                       # row by row: independent of numpy's tofile order
                handle.write(row.astype(data.dtype.newbyteorder("<")).tobytes())
        return str(path)

    return write


FAKE_SORTER = Path(__file__).resolve().parent / "fixtures" / "fake_spyking_circus.py"


def install_fake_sorter(folder: Path, monkeypatch) -> Path:
    """The stand-in `spyking-circus` (tests/fixtures/fake_spyking_circus.py), run by this Python,
    first on PATH; its path. For unit tests of the launcher: the real sorter runs in tests/integration."""
    bin_dir = Path(folder) / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "spyking-circus"
    script.write_text(f"#!{sys.executable}\n" + FAKE_SORTER.read_text().split("\n", 1)[1])
    script.chmod(script.stat().st_mode | 0o111)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return script


def quiet_window(qtbot, tmp_path):
    """A shown MainWindow with its own settings file, whose error dialogs are collected in
    `window.errors` instead of opening (a modal dialog would hang the test)."""
    from PyQt6 import QtCore

    from app.views.main_window import MainWindow
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.__dict__["errors"] = []
    window.show_error = lambda title, text: window.errors.append(text)
    qtbot.addWidget(window)
    window.show()
    return window
