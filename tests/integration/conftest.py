"""The managed SpyKING CIRCUS environment, built once per cache by `wavescope sorters install`.

WAVESCOPE_SORTERS_DIR points at ``~/.cache/wavescope-tests/sorters`` (or WAVESCOPE_TEST_CACHE),
so CI builds the venv once per run and a developer's machine once; WAVESCOPE_CONFIG_DIR points
at an empty folder so a user's own `sorters use` choice does not leak in. Building needs PyPI:
when it fails and PyPI cannot be reached the tests skip and say so; any other failure fails.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("WAVESCOPE_TEST_CACHE", Path.home() / ".cache" / "wavescope-tests"))
REPOSITORY = Path(__file__).resolve().parents[2]


def pypi_unreachable() -> str | None:
    """Why PyPI cannot be reached, or None when it answers."""
    try:
        with urllib.request.urlopen("https://pypi.org/simple/spyking-circus/", timeout=15):
            return None
    except OSError as error:
        return f"PyPI cannot be reached ({error})"


@pytest.fixture(scope="session")
def sorter_env_vars(tmp_path_factory) -> dict[str, str]:
    """The variables the integration tests and their processes run with."""
    return {"WAVESCOPE_SORTERS_DIR": str(CACHE / "sorters"),
            "WAVESCOPE_CONFIG_DIR": str(tmp_path_factory.mktemp("wavescope-config"))}


@pytest.fixture(autouse=True)
def _sorter_env_vars(sorter_env_vars, monkeypatch) -> None:
    """Set for each integration test only: the tests elsewhere see the user's own settings."""
    for name, value in sorter_env_vars.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def circus_env(sorter_env_vars):
    """SpyKING CIRCUS's managed environment (app.model.sorters.SorterEnv), installed if needed
    by a real `wavescope sorters install spyking-circus`."""
    with pytest.MonkeyPatch.context() as patch:      # the variables, only while it is built
        for name, value in sorter_env_vars.items():
            patch.setenv(name, value)
        return _installed_circus()


def _installed_circus():
    from app.model.sorters import INSTALLED, environment
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "sorters.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # one builder when several test runs start at once
        env = environment("spyking-circus")
        if env.state == INSTALLED:
            return env
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "app", "sorters", "install", "spyking-circus"],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=1800,
                              cwd=REPOSITORY, env={**os.environ, "PYTHONPATH": str(REPOSITORY)}, check=False)
        seconds = time.perf_counter() - started
        if done.returncode:
            reason = pypi_unreachable()
            if reason:
                pytest.skip(f"SpyKING CIRCUS environment unavailable: {reason}")
            pytest.fail(f"`wavescope sorters install spyking-circus` failed ({done.returncode}):\n"
                        f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        print(f"\n`wavescope sorters install spyking-circus` built the env in {seconds:.1f} s")
        print(done.stdout.splitlines()[-1])
        env = environment("spyking-circus")
        assert env.state == INSTALLED, env.reason
        return env
