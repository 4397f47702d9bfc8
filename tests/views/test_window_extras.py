"""The window's finish: default bottom layout (8 event rows at 1366×768), columns fitted, the
event colour legend, the peri-event view's default channel, View > Theme, Help > Keyboard shortcuts."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PyQt6 import QtCore, QtGui, QtWidgets

from app.io.events import make_events
from app.model.events import EventIndex, default_event_channel
from app.views import layout
from app.views.main_window import MainWindow
from tests.conftest import synthetic_int16

PARAMS = {"data_dtype": "int16", "nb_channels": 4, "sampling_rate": 1000.0, "file_format": "raw_binary"}


@pytest.fixture
def settings(tmp_path):
    return QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)


def make_window(qtbot, settings, size=(1366, 768)) -> MainWindow:
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(50)
    return window


def events_index() -> EventIndex:
    samples = np.arange(0, 3000, 100)
    channels = ["messages"] * 10 + ["TTL 1"] * 10 + ["Digital input 12"] * 10
    labels = ["recording started: 30 kHz"] * 10 + ["on"] * 20
    durations = [0] * 10 + [20] * 10 + [5] * 10
    return EventIndex(make_events(samples, channels, labels, durations))


def visible_rows(table: QtWidgets.QTableView) -> float:
    return table.viewport().height() / table.verticalHeader().defaultSectionSize()


def test_events_table_shows_eight_rows_at_1366x768(qtbot, settings):
    window = make_window(qtbot, settings)
    events = window.docks["Events"]
    assert events.isVisible() and not events.visibleRegion().isEmpty()
    table = events.widget().table
    assert visible_rows(table) >= 8
    peri = window.docks["Peri-event"]
    assert peri.isVisible() and not peri.visibleRegion().isEmpty()          # beside, not a hidden tab
    assert window.pages.height() > 0.4 * window.height()                       # the traces keep the most
    window.close()


def test_an_old_saved_layout_is_replaced(qtbot, settings):
    settings.setValue("window_state", QtCore.QByteArray(b"old"))
    settings.setValue("layout_version", 1)
    assert layout.forget_old_layout(settings)
    assert settings.value("window_state") is None and int(settings.value("layout_version")) == layout.LAYOUT_VERSION
    assert not layout.forget_old_layout(settings)


def test_columns_fit_and_legend_shows_colours(qtbot, settings, make_raw):
    window = make_window(qtbot, settings)
    path = make_raw("rec.dat", synthetic_int16(3000, 4))
    assert window.open_file(path, PARAMS)
    window.session.set_events(events_index())
    panel = window.events_ui.events_panel
    qtbot.wait(50)
    table, header = panel.table, panel.table.horizontalHeader()
    metrics = table.fontMetrics()
    assert header.sectionSize(1) >= metrics.horizontalAdvance("Digital input 12")     # channel whole
    assert header.sectionSize(3) >= metrics.horizontalAdvance("recording started: 30 kHz")  # label whole
    assert header.sectionSize(2) <= metrics.horizontalAdvance("duration (ms)") + 30   # duration narrow
    colours = {panel.channel_list.item(k).icon().pixmap(8, 8).toImage().pixelColor(4, 4).name()
               for k in range(panel.channel_list.count())}
    assert len(colours) == 3                                         # a swatch per channel: the legend
    overlay = window.events_ui.overlay
    first = panel.channel_list.item(0)
    assert first.icon().pixmap(8, 8).toImage().pixelColor(4, 4).name() == \
        overlay.colour_of(first.text()).name()
    window.close()


def test_peri_event_starts_on_a_ttl_line():
    assert default_event_channel(events_index()) == "TTL 1"
    only_text = EventIndex(make_events(np.array([1, 2]), ["messages", "messages"], ["x", "y"], [0, 0]))
    assert default_event_channel(only_text) == "messages"
    assert default_event_channel(EventIndex()) == ""


def test_peri_event_view_defaults_to_ttl(qtbot, settings, make_raw):
    window = make_window(qtbot, settings)
    assert window.open_file(make_raw("rec.dat", synthetic_int16(3000, 4)), PARAMS)
    window.session.set_events(events_index())
    assert window.events_ui.peri_view.channel_box.currentText() == "TTL 1"
    window.close()


def test_theme_menu_switches_and_is_remembered(qtbot, settings):
    window = make_window(qtbot, settings)
    theme = window.extras_ui.theme
    assert theme.theme == "system" and theme.actions["system"].isChecked()
    theme.actions["dark"].trigger()
    app = QtWidgets.QApplication.instance()
    assert app.palette().color(app.palette().ColorRole.Window).lightness() < 100
    assert window.probe.backgroundBrush().color().lightness() < 100
    assert window.view.dark and window.view.ink("background").lightness() < 40       # the trace area too
    assert QtGui.QColor.fromRgb(int(window.view.palette[0])).lightness() < 40
    image = window.view.grab().toImage()
    assert image.pixelColor(5, 5).lightness() < 60
    assert settings.value("theme") == "dark"
    window.close()
    again = make_window(qtbot, settings)
    assert again.extras_ui.theme.theme == "dark" and again.extras_ui.theme.actions["dark"].isChecked()
    again.extras_ui.theme.actions["light"].trigger()
    assert app.palette().color(app.palette().ColorRole.Window).lightness() > 150
    assert again.probe.backgroundBrush().color().lightness() > 200
    assert not again.view.dark and QtGui.QColor.fromRgb(int(again.view.palette[0])).lightness() > 240
    again.close()


def test_shortcuts_sheet_lists_the_real_keys(qtbot, settings):
    window = make_window(qtbot, settings)
    sheet = window.extras_ui.show_shortcuts()
    rows = sheet.rows
    keys = {(keys, what) for _group, keys, what in rows}
    assert ("F", "Toggle high-pass") in keys and ("N", "Next event") in keys
    assert ("Ctrl+G", "Go to time") in keys and ("F1", "Keyboard shortcuts") in keys
    assert any(what == "next window" and "Page Down" in k for k, what in keys)
    sheet.search.setText("gain")
    assert sheet.shown_rows() and all("gain" in " ".join(r).lower() for r in sheet.shown_rows())
    assert window.width_box.toolTip() and window.filter_box.toolTip() and window.car_box.toolTip()
    sheet.close()
    window.close()


def test_a_folder_of_several_recordings_asks_which(qtbot, settings, tmp_path):
    from tests.io.test_folders import write_session
    session = write_session(tmp_path, nodes=1, recordings=2)
    window = make_window(qtbot, settings)
    asked = []
    window.extras_ui.ask_recording = lambda folder, found: asked.append(found) or found[1]
    assert window.open_file(str(session))
    assert len(asked[0]) == 2 and window.recording is not None
    assert "recording2" in window.recording.datafile.file_name
    window.extras_ui.ask_recording = lambda folder, found: None          # cancelled: nothing opens, no error
    window.close_recording()
    assert not window.open_file(str(session)) and window.recording is None
    window.close()


def test_folder_chooser_lists_relative_paths(qtbot, tmp_path):
    from app.views.folder_chooser import FolderChooser
    paths = [str(tmp_path / "Record Node 101" / "experiment1" / f"recording{k}") for k in (1, 2)]
    chooser = FolderChooser(str(tmp_path), paths)
    qtbot.addWidget(chooser)
    texts = [chooser.list.item(k).text() for k in range(chooser.list.count())]
    assert texts == [os.path.join("Record Node 101", "experiment1", f"recording{k}") for k in (1, 2)]
    chooser.list.setCurrentRow(1)
    assert chooser.chosen() == paths[1]


def test_bad_channel_check_marks_tree_and_labels_and_writes_on_request(qtbot, settings, tmp_path):
    from tests.model.test_channel_check import PARAMS as BAD_PARAMS
    from tests.model.test_channel_check import write_recording
    path = write_recording(tmp_path)
    window = make_window(qtbot, settings)
    assert window.open_file(str(path), BAD_PARAMS)
    ui = window.extras_ui.bad_channels
    assert not ui.write_action.isEnabled()
    with qtbot.waitSignal(ui.checked, timeout=20_000):
        ui.check_action.trigger()
    assert sorted(window.view.channel_marks) == [1, 3, 5, 6]
    assert "flat" in window.view.channel_marks[1]
    leaf = next(item for item in window.tree.findItems("ch 1", QtCore.Qt.MatchFlag.MatchExactly
                                                       | QtCore.Qt.MatchFlag.MatchRecursive))
    assert "flat" in leaf.toolTip(0) and not leaf.icon(0).isNull()
    good = next(item for item in window.tree.findItems("ch 0", QtCore.Qt.MatchFlag.MatchExactly
                                                       | QtCore.Qt.MatchFlag.MatchRecursive))
    assert good.icon(0).isNull()
    labels = next(d for d in window.view.decorations if type(d).__name__ == "ChannelLabels")
    ys = [y for y in range(window.view.height()) if window.view.channel_at(y) == 1]
    assert ys and "flat" in labels.tooltip_at(QtCore.QPointF(5, ys[len(ys) // 2]))
    params = tmp_path / "rec.params"
    params.write_text("[data]\nfile_format = raw_binary\n")
    asked = []
    ui.ask_params_path = lambda suggested: asked.append(suggested) or str(params)
    ui.confirm = lambda text: False                                # the user says no: nothing changes
    assert ui.write() is None and params.read_text() == "[data]\nfile_format = raw_binary\n"
    assert asked[0].endswith("rec.params")
    ui.confirm = lambda text: "backup" in text
    assert ui.write() == str(params)
    assert "dead_channels" in params.read_text() and "{0: [1, 3, 5, 6]}" in params.read_text()
    assert list(tmp_path.glob("rec.params.bak*"))
    window.close_recording()
    assert window.view.channel_marks == {}
    window.close()


def test_trace_labels_get_room_for_the_files_names(qtbot, settings, tmp_path):
    from app.views.trace.decorations import MARGIN_LEFT, small_font
    from tests.views.test_channel_names import EEG, write_edf
    window = make_window(qtbot, settings)
    assert window.open_file(str(write_edf(tmp_path / "night.edf")))
    view = window.view
    metrics = QtGui.QFontMetrics(small_font())
    assert view.left_margin() > MARGIN_LEFT and view.plot_rect().left() == view.left_margin()
    assert view.left_margin() - 8 >= max(metrics.horizontalAdvance(name) for name in EEG)   # whole names
    window.close_recording()
    assert view.left_margin() == MARGIN_LEFT
    window.close()


def test_probe_dock_without_a_probe_shows_the_note_not_empty_axes(qtbot, settings, make_raw):
    window = make_window(qtbot, settings)
    assert window.open_file(make_raw("rec.dat", synthetic_int16(3000, 4)), PARAMS)
    plot = window.probe.getPlotItem()
    assert window.probe.message.isVisible()
    assert not plot.getAxis("left").isVisible() and not plot.getAxis("bottom").isVisible()
    window.close()


def test_empty_stream_tree_keeps_its_column_titles_whole(qtbot, settings):
    window = make_window(qtbot, settings)
    header = window.tree.header()
    assert window.tree.columnWidth(0) >= header.sectionSizeHint(0)
    window.close()


def test_probe_and_traces_point_at_each_other(qtbot, settings, tmp_path):
    from app.model.demo import DemoSpec, demo_params, write_demo
    first = write_demo(tmp_path / "demo", DemoSpec(parts=1, seconds_per_part=2.0))
    window = make_window(qtbot, settings)
    assert window.open_file(str(first), demo_params(first))
    view, link = window.view, window.extras_ui.probe_link
    qtbot.waitUntil(lambda: view.frame is not None, timeout=15_000)
    assert link.show_on_screen() == [] and len(link.on_screen.data) == 0      # all on screen: no rings
    window.select_channels([5, 6, 7])                                           # three shown alone
    qtbot.waitUntil(lambda: sorted(int(c) for c in view.visible_rows()) == [5, 6, 7], timeout=10_000)
    shown = link.show_on_screen()
    assert sorted(shown) == [5, 6, 7] and len(link.on_screen.data) == 3        # a ring per channel on screen
    qtbot.waitUntil(lambda: view.frame is not None and len(view.frame.channels) == 3, timeout=10_000)
    channel = int(view.frame.channels[1])
    link.mark_on_probe(channel)
    ringed = link.hover.getData()
    k = list(window.probe.channels).index(channel)
    assert (ringed[0][0], ringed[1][0]) == tuple(window.probe.xy[k])
    box = window.probe.getPlotItem().getViewBox()
    scene = box.mapViewToScene(QtCore.QPointF(*window.probe.xy[k]))
    assert link.site_at(scene) == channel
    link._probe_mouse(scene)
    assert link.band.channel == channel and link.band.row_rect(view.plot_rect()) is not None
    link._probe_mouse(QtCore.QPointF(-1000, -1000))
    assert link.band.channel is None
    window.close()
