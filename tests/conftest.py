"""Shared fixtures: small real files written into tmp_path."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Keep tests out of the real user config/cache (plugins, settings, demo)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.delenv("WAVESCOPE_FORMATS_PATH", raising=False)


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
