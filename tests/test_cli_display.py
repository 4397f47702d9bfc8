"""Without any display, the browser commands say so (exit 5) instead of letting Qt abort."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from app import exitcodes

ROOT = Path(__file__).resolve().parents[1]


def run_headless(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300, check=False)


def test_file_without_display_says_so(tmp_path):
    path = tmp_path / "rec.dat"
    np.zeros((100, 4), dtype=np.int16).tofile(path)
    done = run_headless([str(path)], tmp_path)
    assert done.returncode == exitcodes.UNAVAILABLE, done.stderr
    assert "there is no display" in done.stderr
    assert f"wavescope info {path}" in done.stderr and "wavescope demo --screenshot out.png" in done.stderr
    assert "Traceback" not in done.stderr and "Aborted" not in done.stderr


def test_demo_without_display_says_so_before_writing(tmp_path):
    done = run_headless(["demo", "--folder", str(tmp_path / "demo")], tmp_path)
    assert done.returncode == exitcodes.UNAVAILABLE, done.stderr
    assert "there is no display" in done.stderr and "wavescope demo --screenshot out.png" in done.stderr
    assert not (tmp_path / "demo").exists()
