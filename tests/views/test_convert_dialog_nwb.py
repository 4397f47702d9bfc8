"""The convert dialog offers NWB; the command it shows writes an NWB file that reads back."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from app.io import open_datafile
from app.views.convert_dialog import ConvertDialog, writable_formats
from tests.conftest import synthetic_int16

REPO = Path(__file__).resolve().parents[2]
OPEN = {"nb_channels": 4, "data_dtype": "int16", "sampling_rate": 20000.0, "gain": 0.5}


def test_dialog_offers_nwb_and_its_command_writes_it(qtbot, make_raw):
    pytest.importorskip("pynwb", reason="pynwb is not installed (extra nwb)")
    assert "nwb" in writable_formats()
    data = synthetic_int16(6000, 4)
    path = make_raw("rec.dat", data)
    dialog = ConvertDialog.for_datafile(open_datafile(path, dict(OPEN), "raw_binary"))
    qtbot.addWidget(dialog)
    if dialog.ranks.isEnabled():                # MPI installed: NWB brings the ranks back to 1
        dialog.ranks.setValue(2)
    dialog.to_format.setCurrentText("nwb")
    assert dialog.output.text().endswith(".nwb") and dialog.ranks.value() == 1
    assert dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled(), dialog.problem.text()
    command = dialog.job().command()
    assert command[command.index("--to") + 1] == "nwb"
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    with open_datafile(dialog.output.text()) as back:
        assert back.description == "nwb"
        np.testing.assert_allclose(back.read_range(0, 6000), data * 0.5)
