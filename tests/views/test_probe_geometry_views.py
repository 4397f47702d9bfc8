"""The probe view draws the header's geometry and follows a new one; the wizard's probe page starts
from the header, names where the probe came from and flags a chosen file that differs."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6 import QtCore

from app.io.probe_geometry import ProbeGeometry
from app.io.probe_interchange import write_probe_file
from app.model.session import Session
from app.views.probe_view import ProbeView
from app.views.wizard import ParamsWizard
from tests.io.test_probe_geometry import imec_meta, imro_np1, write
from tests.views.test_params_wizard import click, page_ready, to_fields

N = 16


@pytest.fixture
def spikeglx(tmp_path):
    return write(tmp_path, imec_meta(N, imro_np1(N), "NP1000"))


def test_probe_view_draws_the_header_and_follows_set_geometry(qtbot, spikeglx):
    path, _ = spikeglx
    session = Session(cache_bytes=1 << 20)
    session.open(str(path), lanes=False)
    view = ProbeView()
    qtbot.addWidget(view)
    view.set_session(session)
    header = session.recording.geometry
    np.testing.assert_array_equal(view.channels, np.arange(N))
    np.testing.assert_allclose(view.xy, header.positions)
    assert not view.message.isVisible()
    assert "from the header" in view.toolTip() and "NP1000" in view.toolTip()
    moved = ProbeGeometry(header.channels[:8], header.positions[:8] + 100, None, "file", "half.prb")
    session.set_geometry(moved)
    np.testing.assert_allclose(view.xy, moved.positions)
    session.close()


def test_wizard_probe_page_names_the_source_and_flags_a_differing_file(qtbot, spikeglx, tmp_path):
    path, _ = spikeglx
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    wizard = ParamsWizard(str(path), settings)
    qtbot.addWidget(wizard)
    wizard.show()
    to_fields(qtbot, wizard)
    page_ready(qtbot, wizard)
    click(wizard)
    page = wizard.probe_page
    assert wizard.currentPage() is page
    assert page.source_box.currentData() == "header" and "NP1000" in page.source_box.currentText()
    assert "from the recording's header" in page.status.text() and "imroTbl" in page.status.text()
    header = wizard.state.header
    wrong = ProbeGeometry(header.channels, np.column_stack([header.positions[:, 0], 20 * (np.arange(N) // 2)]),
                          None, "file", "bank0")
    chosen = write_probe_file(wrong, tmp_path / "bank0.json")
    page.load(str(chosen))
    assert wizard.state.probe_source == "file" and wizard.state.probe_mismatch
    assert "differs from the geometry in the recording's header" in page.status.text()
    agreeing = write_probe_file(header.with_source("file"), tmp_path / "same.prb", nb_channels=N + 1)
    page.load(str(agreeing))
    assert wizard.state.probe_mismatch == [] and "differs" not in page.status.text()
    assert "from a probe file" in page.status.text() and page.isComplete()
    wizard.close()


def test_probe_menu_loads_a_file_flags_the_mismatch_and_exports(qtbot, spikeglx, tmp_path):
    from app.views.main_window import MainWindow
    path, _ = spikeglx
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    errors, warnings = [], []
    window.show_error = lambda title, text: errors.append(text)
    ui = window.probe_ui
    ui.show_message = lambda title, text: warnings.append(text)
    assert not ui.load_action.isEnabled()
    assert window.open_file(str(path))
    assert ui.load_action.isEnabled() and ui.export_action.isEnabled()
    header = window.session.recording.geometry
    np.testing.assert_allclose(window.probe.xy, header.positions)
    wrong = ProbeGeometry(header.channels, header.positions[::-1], None, "file", "reversed")
    chosen = write_probe_file(wrong, tmp_path / "reversed.json")
    ui.ask_open_path = lambda: str(chosen)
    ui.load_dialog()
    assert window.session.recording.geometry.source == "file" and warnings and "differs" in warnings[0]
    np.testing.assert_allclose(window.probe.xy, wrong.positions[np.argsort(wrong.channels)])
    assert window.view.viewport.depth_order == [int(c) for c in wrong.depth_order()]     # sync: a dead channel
    ui.use_header()
    assert window.session.recording.geometry.source == "header"
    ui.ask_save_path = lambda: str(tmp_path / "out.prb")
    ui.export_dialog()
    from app.io.probe_interchange import read_probe_file
    np.testing.assert_allclose(read_probe_file(tmp_path / "out.prb").positions, header.positions)
    (tmp_path / "bad.json").write_text("{}")
    assert ui.load(str(tmp_path / "bad.json")) is None and errors and "bad.json" in errors[-1]
    window.close()
