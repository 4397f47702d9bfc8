"""A folder holding several recordings is listed, never opened at a guess (library, CLI, GUI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.io import open_datafile
from app.io.folders import SeveralRecordingsError, recordings_in
from tests.conftest import synthetic_int16
from tests.io.writers_ephys import write_binary_recording

ROOT = Path(__file__).resolve().parents[2]
AP = "Neuropix-PXI-100.ProbeA-AP"


def write_session(tmp_path: Path, nodes: int, recordings: int) -> Path:
    session = tmp_path / "2024-05-01_mouse3"
    for n in range(nodes):
        for r in range(recordings):
            parts = [{"folder": AP, "data": synthetic_int16(600, 4, seed=n + r), "bit_volts": [0.195] * 4,
                      "sample_rate": 30000.0, "first_sample": 1000 * r}]
            write_binary_recording(session / f"Record Node {101 + n}" / "experiment1" / f"recording{r + 1}", parts)
    return session


def test_lists_every_recording_in_natural_order(tmp_path):
    session = write_session(tmp_path, nodes=2, recordings=2)
    found = [os.path.relpath(p, session) for p in recordings_in(str(session))]
    assert found == [os.path.join(f"Record Node {n}", "experiment1", f"recording{r}")
                     for n in (101, 102) for r in (1, 2)]
    assert recordings_in(str(session / "missing")) == []


def test_several_recordings_are_refused_with_the_list(tmp_path):
    session = write_session(tmp_path, nodes=1, recordings=3)
    with pytest.raises(SeveralRecordingsError) as caught:
        open_datafile(str(session))
    message = str(caught.value)
    assert "holds 3 recordings" in message and "recording3" in message
    assert caught.value.exit_status == 2 and len(caught.value.recordings) == 3
    named = caught.value.recordings[1]
    with open_datafile(named) as datafile:                     # the one named opens
        assert datafile.nb_channels == 4 and datafile.t_start == 1000


def test_a_folder_of_one_recording_still_opens(tmp_path):
    session = write_session(tmp_path, nodes=1, recordings=1)
    with open_datafile(str(session)) as datafile:
        assert datafile.nb_channels == 4


def test_cli_lists_them_and_exits_2(tmp_path):
    session = write_session(tmp_path, nodes=2, recordings=1)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "app", "info", str(session)], capture_output=True, text=True, check=False,
                          env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "holds 2 recordings" in done.stderr and "Record Node 102" in done.stderr
    assert "Traceback" not in done.stderr
    one = recordings_in(str(session))[1]
    done = subprocess.run([sys.executable, "-m", "app", "info", one], capture_output=True, text=True, env=env, check=False,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "nb_channels" in done.stdout
