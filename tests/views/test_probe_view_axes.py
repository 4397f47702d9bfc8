"""The probe view's axes read plain µm (no "kµm" on a Neuropixels probe, no "mµm" without a probe),
and the no-probe note fits a narrow dock."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6 import QtCore

from app.io.formats.raw_binary import RawBinaryFile
from app.model.recording import Recording, load_probe
from app.views.probe_view import ProbeView
from tests.conftest import synthetic_int16

N = 384
NEUROPIXELS = f"""
total_nb_channels = {N}
radius = 100
channel_groups = {{0: {{'channels': list(range({N})),
                        'geometry': {{c: ((c % 2) * 32, (c // 2) * 20) for c in range({N})}}}}}}
"""


def recording(tmp_path, make_raw, probe: bool) -> Recording:
    path = make_raw("np.dat", synthetic_int16(1000, N, seed=1))
    datafile = RawBinaryFile(path, {"data_dtype": "int16", "nb_channels": N, "sampling_rate": 30000.0})
    prb = tmp_path / "np.prb"
    prb.write_text(NEUROPIXELS)
    return Recording(datafile, load_probe(str(prb), N) if probe else None)


def axis_texts(view: ProbeView) -> list[str]:
    return [view.getPlotItem().getAxis(side).labelString() for side in ("bottom", "left")]


@pytest.mark.parametrize("probe", [True, False])
def test_axes_read_plain_micrometres(qtbot, tmp_path, make_raw, probe):
    view = ProbeView()
    qtbot.addWidget(view)
    view.resize(260, 520)
    view.show()
    view.set_recording(recording(tmp_path, make_raw, probe))
    qtbot.wait(20)
    if probe:
        assert view.xy[:, 1].max() == pytest.approx(3820)
    for text in axis_texts(view):
        assert "(µm)" in text and "kµm" not in text and "mµm" not in text
    assert all(view.getPlotItem().getAxis(side).autoSIPrefixScale == 1.0 for side in ("bottom", "left"))


def test_no_probe_note_fits_a_narrow_dock(qtbot, tmp_path, make_raw):
    view = ProbeView()
    qtbot.addWidget(view)
    view.resize(180, 300)            # the probe dock at 1366x768
    view.show()
    view.set_recording(recording(tmp_path, make_raw, False))
    note = view.message
    qtbot.waitUntil(note.isVisible)
    assert view.rect().contains(note.geometry())
    needed = note.fontMetrics().boundingRect(note.contentsRect(), int(QtCore.Qt.TextFlag.TextWordWrap
                                                                      | QtCore.Qt.AlignmentFlag.AlignCenter),
                                             note.text())
    assert note.contentsRect().contains(needed)
    tip = view._tip(0.0, 20.0, np.int64(2))
    assert tip == "ch 2 (index 2): (0, 20) µm"
