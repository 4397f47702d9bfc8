import logging

import pytest
from PyQt6 import QtCore, QtWidgets

from app.views.main_window import MainWindow, MissingFieldsDialog
from tests.conftest import synthetic_int16

PARAMS = {"data_dtype": "int16", "nb_channels": 4, "sampling_rate": 1000.0, "file_format": "raw_binary"}


@pytest.fixture
def settings(tmp_path):
    return QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings):
    window = MainWindow(settings=settings)
    window.show_error = lambda title, text: window.__dict__.setdefault("errors", []).append(text)
    qtbot.addWidget(window)
    window.show()
    yield window
    window.close()


def wait_frame(qtbot, window):
    view = window.view
    qtbot.waitUntil(lambda: view.frame is not None and view.frame.request_id == view.source.latest_request,
                    timeout=10_000)


def test_tree_segment_selection_moves_the_view(qtbot, window, make_raw, tmp_path):
    make_raw("rec_0.dat", synthetic_int16(5000, 4))
    make_raw("rec_1.dat", synthetic_int16(3000, 4))
    assert window.open_file(str(tmp_path / "rec_0.dat"), {**PARAMS, "stream_mode": "multi-files"})
    wait_frame(qtbot, window)
    item = window.tree.item_for_segment(1)
    assert item is not None
    window.tree.setCurrentItem(item)
    assert window.view.t0 == 5000
    wait_frame(qtbot, window)
    assert window.view.frame.t0 == pytest.approx(5000, abs=window.view.frame.spc)


def test_group_selection_shows_its_channels(qtbot, window, make_raw):
    path = make_raw("rec.dat", synthetic_int16(3000, 4))
    assert window.open_file(path, PARAMS)
    window.select_channels([2, 0])
    assert window.view.shown_channels() == [0, 2] and window.view.selected == {0, 2}


def test_missing_fields_ask_then_open_or_give_up(qtbot, window, make_raw):
    path = make_raw("rec.dat", synthetic_int16(3000, 4))
    asked = []
    window.ask_missing_fields = lambda error: asked.append(dict(error.missing)) or None
    assert not window.open_file(path, {"file_format": "raw_binary"})
    assert "nb_channels" in asked[0] and window.recording is None and window.isVisible()
    window.ask_missing_fields = lambda error: {"data_dtype": "int16", "nb_channels": "4",
                                               "sampling_rate": "1000"}
    assert window.open_file(path, {"file_format": "raw_binary"})
    assert window.recording.nb_channels == 4


def test_missing_fields_dialog_lists_fields(qtbot):
    from app.io.errors import MissingFieldsError
    dialog = MissingFieldsDialog(MissingFieldsError("x.dat", {"nb_channels": "int", "gain": "float"}))
    qtbot.addWidget(dialog)
    assert set(dialog.editors) == {"nb_channels", "gain"}
    dialog.editors["nb_channels"].setText(" 32 ")
    assert dialog.values() == {"nb_channels": "32"}


def test_bad_file_goes_to_a_dialog(qtbot, window, make_raw):
    path = make_raw("odd.dat", synthetic_int16(3001, 3)[:, :1])
    assert not window.open_file(path, PARAMS)
    assert window.errors and "nb_channels" in window.errors[0]
    assert not window.open_file("/no/such/file.dat", PARAMS)


def test_settings_and_recent_files_persist(qtbot, settings, make_raw):
    path = make_raw("rec.dat", synthetic_int16(20000, 4))
    first = MainWindow(settings=settings)
    qtbot.addWidget(first)
    assert first.open_file(path, PARAMS)
    first.filter_box.setChecked(True)
    first.view.set_window_seconds(0, 2.5)
    first.close()
    second = MainWindow(settings=settings)
    qtbot.addWidget(second)
    assert second.recent_files()[0].endswith("rec.dat")
    assert second.open_file(path, PARAMS)
    assert second.view.filter_on and second.filter_box.isChecked()
    assert second.view.window == pytest.approx(2.5 * 1000)
    second.close()


def test_log_panel_shows_wavescope_records(qtbot, window):
    logging.getLogger("wavescope").warning("probe missing for test")
    qtbot.waitUntil(lambda: "probe missing for test" in window.log_panel.toPlainText(), timeout=3000)


def test_missing_fields_can_hand_over_to_the_wizard(qtbot, window, make_raw):
    from app.views.main_window import WIZARD_KEY
    from app.views.params_wizard import ParamsWizard
    path = make_raw("rec.dat", synthetic_int16(3000, 4))
    window.ask_missing_fields = lambda error: {WIZARD_KEY: "1"}
    assert not window.open_file(path, {"file_format": "raw_binary", "nb_channels": "4"})
    wizards = [w for w in window.findChildren(ParamsWizard)]
    assert len(wizards) == 1 and wizards[0].isVisible()
    wizards[0].reject()


def test_missing_fields_dialog_offers_the_wizard(qtbot):
    from app.io import MissingFieldsError
    dialog = MissingFieldsDialog(MissingFieldsError("x.dat", {"sampling_rate": "float"}, "raw_binary"))
    qtbot.addWidget(dialog)
    button = [b for b in dialog.findChildren(QtWidgets.QPushButton) if "wizard" in b.text().lower()][0]
    button.click()
    assert dialog.result() == MissingFieldsDialog.USE_WIZARD


def test_params_file_opens_with_its_probe(qtbot, window, make_raw, tmp_path):
    """A params file as `wavescope params` writes it ([data] mapping) brings its probe: depth order."""
    from app.cli import main
    from app.io.probe import linear_probe, write_probe
    path = make_raw("rec.dat", synthetic_int16(3000, 4))
    probe = linear_probe(4)
    probe.channel_groups[0].geometry = {c: (0.0, float(40 - 10 * c)) for c in range(4)}   # reversed depth
    write_probe(probe, tmp_path / "rec.prb")
    assert main(["params", path, "--format", "raw_binary", "--set", "nb_channels=4", "--set", "data_dtype=int16",
                 "--set", "sampling_rate=1000", "--probe", str(tmp_path / "rec.prb")]) == 0
    assert window.open_file(str(tmp_path / "rec.params"))
    assert window.recording.probe is not None
    assert window.recording.depth_order()[0] == 3


def test_welcome_page_until_a_recording_opens(qtbot, window, make_raw):
    assert window.pages.currentWidget() is window.welcome
    path = make_raw("rec.dat", synthetic_int16(3000, 4))
    assert window.open_file(path, PARAMS)
    assert window.pages.currentWidget() is window.panel
    assert window.welcome.recent.item(0).data(QtCore.Qt.ItemDataRole.UserRole) == path
    window.close_recording()
    assert window.pages.currentWidget() is window.welcome


def test_try_the_demo_from_the_welcome_page(qtbot, window, monkeypatch, tmp_path):
    import app.model.demo as demo
    write = demo.write_demo
    monkeypatch.setattr(demo, "default_folder", lambda: tmp_path / "demo")
    monkeypatch.setattr(demo, "write_demo", lambda folder: write(folder, demo.DemoSpec(seconds_per_part=0.5)))
    window.welcome.demo_button.click()
    qtbot.waitUntil(lambda: window.recording is not None, timeout=20_000)
    assert window.recording.nb_channels == 64 and len(window.recording.segments) == 2
    assert window.pages.currentWidget() is window.panel


class CountingDock(QtWidgets.QLabel):
    """A dock in the shape every dock has: it takes the session and follows it."""

    def set_session(self, session):
        self.topics = []
        session.subscribe(lambda topic, value: self.topics.append(topic))


def test_add_dock_gives_the_session_a_panels_entry_and_a_remembered_place(qtbot, settings, make_raw):
    Area = QtCore.Qt.DockWidgetArea
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    widget = CountingDock("counts")
    dock = window.add_dock(widget, Area.RightDockWidgetArea, "Counts", shortcut="Ctrl+Shift+K")
    assert window.docks["Counts"] is dock and dock.objectName() == "dock-counts"
    entries = {a.text(): a for a in window.panels_menu.actions()}
    assert set(entries) >= {"Streams", "Probe", "Log", "Jobs", "Events", "Annotations", "Peri-event", "Counts"}
    assert entries["Counts"].shortcut().toString() == "Ctrl+Shift+K"
    assert window.open_file(make_raw("rec.dat", synthetic_int16(3000, 4)), PARAMS)
    window.close_recording()
    assert {"opened", "annotations", "closed"} <= set(widget.topics) and widget.topics[-1] == "closed"
    window.show()
    dock.hide()
    window.close()
    second = MainWindow(settings=settings)                 # the saved state is applied to a later dock too
    qtbot.addWidget(second)
    later = second.add_dock(CountingDock("again"), Area.RightDockWidgetArea, "Counts")
    second.show()
    assert later.isHidden() and second.docks["Probe"].isVisible()
    second.close()


def test_a_dock_without_set_session_is_refused_with_the_fix(qtbot, window):
    with pytest.raises(TypeError, match="set_session"):
        window.add_dock(QtWidgets.QLabel("no session"), QtCore.Qt.DockWidgetArea.RightDockWidgetArea, "Bare")
