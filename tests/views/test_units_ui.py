"""Sort results in the real browser (offscreen): the Units dock, show/hide on the traces, next
spike, the template under the mouse, and the exports. Results folders are written the way phy
lays them out (numpy files, params.py, cluster_group.tsv)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PyQt6 import QtCore, QtWidgets

from app.views.trace.spikes import MIN_MARK_PX, blend, dense_marks, mark_shape, sparse_marks
from app.views.units_dock import COLUMNS
from tests.conftest import quiet_window, synthetic_int16

RATE = 10000.0
N_CHANNELS = 4
PARAMS = {"data_dtype": "int16", "nb_channels": N_CHANNELS, "sampling_rate": RATE, "file_format": "raw_binary"}
# cluster -> (peak channel, spike samples)
CLUSTERS = {2: (1, [1_000, 1_400, 5_000, 12_000]), 5: (3, [1_200, 2_600]), 8: (0, [300, 3_000, 3_050, 20_000, 30_000])}
LABELS = {2: "good", 5: "mua", 8: "noise"}


def write_phy(folder) -> None:
    """A phy folder as Kilosort writes it: one template per cluster, spikes in time order."""
    folder.mkdir()
    times, clusters = [], []
    for cluster, (_, samples) in CLUSTERS.items():
        times += samples
        clusters += [cluster] * len(samples)
    order = np.argsort(times, kind="stable")
    np.save(folder / "spike_times.npy", np.asarray(times, dtype=np.uint64)[order])
    np.save(folder / "spike_clusters.npy", np.asarray(clusters, dtype=np.int32)[order])
    templates = np.zeros((max(CLUSTERS) + 1, 30, N_CHANNELS), dtype=np.float32)
    for cluster, (peak, _) in CLUSTERS.items():
        templates[cluster, :, peak] = -np.hanning(30) * 40
        templates[cluster, :, (peak + 1) % N_CHANNELS] = -np.hanning(30) * 10
    np.save(folder / "templates.npy", templates)
    np.save(folder / "spike_templates.npy", np.asarray(clusters, dtype=np.int32)[order])
    np.save(folder / "channel_map.npy", np.arange(N_CHANNELS, dtype=np.int32))
    (folder / "params.py").write_text(f"dat_path = 'rec.dat'\nn_channels_dat = {N_CHANNELS}\n"
                                      f"dtype = 'int16'\noffset = 0\nsample_rate = {RATE}\nhp_filtered = False\n")
    (folder / "cluster_group.tsv").write_text("cluster_id\tgroup\n" +
                                              "".join(f"{c}\t{g}\n" for c, g in LABELS.items()))


def wait_painted(qtbot, view):
    qtbot.waitUntil(lambda: view.frame is not None and view.frame.request_id == view.source.latest_request
                    and view.painted_request == view.frame.request_id, timeout=10_000)


@pytest.fixture
def window(qtbot, tmp_path, make_raw):
    window = quiet_window(qtbot, tmp_path)
    path = make_raw("rec.dat", synthetic_int16(40_000, N_CHANNELS, seed=5))
    assert window.open_file(path, PARAMS)
    window.view.set_window(0, 4_000)
    wait_painted(qtbot, window.view)
    yield window
    window.close()


@pytest.fixture
def opened(qtbot, window, tmp_path):
    """The window with the phy folder's units open."""
    write_phy(tmp_path / "phy")
    ui = window.units_ui
    with qtbot.waitSignal(ui.unitsOpened, timeout=10_000):
        ui.open_results(tmp_path / "phy")
    return window


def test_dock_lists_the_units_with_counts_and_sorts(opened):
    dock = opened.units_ui.dock
    table = dock.table
    assert table.rowCount() == 3 and opened.session.units is not None
    rows = {dock.unit_at(r): [table.item(r, c).text() for c in range(len(COLUMNS))] for r in range(3)}
    assert rows[8][2] == "5" and rows[5][2] == "2" and rows[2][2] == "4"
    assert rows[2][3] == f"{4 / 4.0:.2f}"                              # 4 spikes over 4 s
    assert rows[2][5] == opened.recording.channel_name(1) and rows[5][6] == "mua"
    # measured on the recording (a ramp plus noise here): the mean waveform's peak-to-peak, in µV
    units = opened.session.units
    assert set(units.measured_amplitudes) == {2, 5, 8} and units.measured_units == "µV"
    assert float(rows[2][4]) == pytest.approx(units.measured_amplitudes[2], abs=0.06)
    table.sortItems(2, QtCore.Qt.SortOrder.DescendingOrder)            # by spike count, numerically
    assert [dock.unit_at(r) for r in range(3)] == [8, 2, 5]
    assert "3 units, 11 spikes" in dock.summary.text()


def drawn_units(qtbot, view) -> set[int]:
    """The units with a mark at one of their spikes on screen: the traces' picture differs there
    from its own colours (`ring.index` keeps the traces without the marks)."""
    wait_painted(qtbot, view)
    ring, frame = view.ring, view.frame
    marked = ring.pixels != ring.palette[ring.index]
    rows = list(frame.channels)
    found = set()
    for cluster, (peak, samples) in CLUSTERS.items():
        for sample in samples:
            column = int(np.floor(sample / frame.spc))
            if peak in rows and frame.first_column <= column < frame.first_column + frame.n_columns:
                y = int((rows.index(peak) + 0.5) * view.spacing())
                if marked[y, column % frame.n_columns]:
                    found.add(cluster)
    return found


def test_show_hide_and_solo_change_what_is_drawn(qtbot, opened):
    ui, view = opened.units_ui, opened.view
    display = ui.display
    assert drawn_units(qtbot, view) == {2, 5, 8}       # 300, 1000, 1200, 1400, 2600, 3000, 3050 in [0, 4000)
    item = ui.dock.table.item(ui.dock.row_of(5), 0)
    item.setCheckState(QtCore.Qt.CheckState.Unchecked)
    assert display.hidden == {5} and drawn_units(qtbot, view) == {2, 8}
    ui.dock.table.selectRow(ui.dock.row_of(8))
    ui.dock.solo_button.click()
    assert display.solo == {8} and drawn_units(qtbot, view) == {8}
    ui.dock.solo_button.click()
    assert not display.solo and drawn_units(qtbot, view) == {2, 8}
    opened.viewport.show_only([0, 2, 3])          # unit 2's peak channel (1) off screen: not drawn
    assert drawn_units(qtbot, view) == {8}
    view.set_window(2_000, 4_000)                 # a scroll: the kept columns keep their marks
    assert drawn_units(qtbot, view) == {8}
    ui.session.set_units(None)
    assert drawn_units(qtbot, view) == set()


def test_next_and_previous_spike_centre_the_window(qtbot, opened):
    ui, viewport = opened.units_ui, opened.viewport
    assert ui.next_spike() is None                # no unit selected yet
    ui.dock.table.setCurrentCell(ui.dock.row_of(8), 1)
    assert ui.display.selected == 8
    opened.view.set_window(10_000, 4_000)          # centre 12000
    ui.next_action.trigger()
    assert viewport.t0 + viewport.window / 2 == pytest.approx(20_000, abs=1)
    ui.next_action.trigger()
    assert viewport.t0 + viewport.window / 2 == pytest.approx(30_000, abs=1)
    ui.previous_action.trigger()
    ui.previous_action.trigger()
    assert viewport.t0 + viewport.window / 2 == pytest.approx(3_050, abs=1)
    ui.previous_action.trigger()                   # 3000: the last spike gone to counts, not the centre
    assert ui._last_spike == 3_000


def test_template_popup_under_the_mouse(qtbot, opened):
    ui, view = opened.units_ui, opened.view
    rect = view.plot_rect()
    row = list(view.frame.channels).index(3)       # unit 5's peak channel
    point = QtCore.QPoint(round(view.x_of(2_600)), round(rect.top() + (row + 0.5) * view.spacing()))
    qtbot.mouseMove(view, point)
    qtbot.waitUntil(lambda: ui.popup.isVisible(), timeout=5_000)
    assert ui.popup.unit_id == 5 and "unit 5 (mua)" in ui.popup.title and "0.2600 s" in ui.popup.title
    assert ui.popup.names[0] == opened.recording.channel_name(3)
    qtbot.mouseMove(view, QtCore.QPoint(rect.left() + 2, rect.top() + 2))
    qtbot.waitUntil(lambda: not ui.popup.isVisible(), timeout=5_000)
    qtbot.mouseMove(view, point)
    qtbot.waitUntil(lambda: ui.popup.isVisible(), timeout=5_000)
    QtWidgets.QApplication.sendEvent(view, QtCore.QEvent(QtCore.QEvent.Type.Leave))
    assert not ui.popup.isVisible()


def test_export_as_events_adds_an_event_channel_per_unit(qtbot, opened):
    ui = opened.units_ui
    ui.display.set_shown(5, False)
    assert ui.export_as_events() == 9
    events = opened.session.events
    assert set(events.channels) >= {"unit 2", "unit 8"} and "unit 5" not in events.channels
    unit_8 = events.events[events.events["channel"] == "unit 8"]
    assert unit_8["sample"].tolist() == CLUSTERS[8][1] and set(unit_8["label"]) == {"noise"}
    panel = opened.events_ui.events_panel
    qtbot.waitUntil(lambda: panel.model.rowCount() >= 9, timeout=5_000)


def test_export_csv_writes_the_shown_spike_trains(qtbot, opened, tmp_path):
    ui = opened.units_ui
    ui.display.set_solo([2])
    path = tmp_path / "spikes.csv"
    ui.ask_csv_path = lambda: str(path)
    with qtbot.waitSignal(ui.csvWritten, timeout=10_000):
        ui.export_csv_dialog()
    rows = list(csv.reader(path.open()))
    assert [int(r[1]) for r in rows[1:]] == CLUSTERS[2][1]
    assert rows[1][4] == opened.recording.channel_name(1)


def test_file_menu_opens_the_results_of_a_picked_file(qtbot, window, tmp_path):
    write_phy(tmp_path / "phy")
    ui = window.units_ui
    ui.ask_results_path = lambda: str(tmp_path / "phy" / "params.py")     # picked inside the folder
    assert ui.open_action in window.menuBar().actions()[0].menu().actions()
    with qtbot.waitSignal(ui.unitsOpened, timeout=10_000):
        ui.open_action.trigger()
    assert window.session.units.ids == [2, 5, 8] and window.docks["Units"].isVisible()


def test_bad_results_folder_is_a_clear_error(qtbot, opened, tmp_path):
    ui = opened.units_ui
    (tmp_path / "empty").mkdir()
    ui.open_results(tmp_path / "empty")
    qtbot.waitUntil(lambda: bool(opened.errors), timeout=10_000)
    assert "no sorter output found" in opened.errors[-1] and str(tmp_path / "empty") in opened.errors[-1]
    assert opened.session.units is not None        # the units shown stay


def test_a_click_on_a_spike_selects_its_unit_in_the_dock(qtbot, opened):
    ui, view = opened.units_ui, opened.view
    rect = view.plot_rect()
    row = list(view.frame.channels).index(1)       # unit 2's peak channel
    point = QtCore.QPoint(round(view.x_of(1_400)), round(rect.top() + (row + 0.5) * view.spacing()))
    qtbot.mouseClick(view, QtCore.Qt.MouseButton.LeftButton, pos=point)
    assert ui.display.selected == 2
    assert ui.dock.unit_at(ui.dock.table.currentRow()) == 2
    ui.dock.hide_all_button.click()
    assert ui.display.shown_ids() == [] and ui.dock.table.item(0, 0).checkState() == QtCore.Qt.CheckState.Unchecked
    ui.dock.show_all_button.click()
    assert ui.display.shown_ids() == [2, 5, 8]
    opened.close_recording()
    assert ui.display is None and ui.dock.table.rowCount() == 0


def screen_pixels(view) -> np.ndarray:
    ring = view.ring
    offset = ring.first % ring.pixels.shape[1]
    return np.concatenate([ring.pixels[:, offset:], ring.pixels[:, :offset]], axis=1)


@pytest.mark.parametrize("width", [400, 4_000, 20_000])
def test_scrolled_marks_equal_a_whole_redraw(qtbot, opened, width):
    view = opened.view
    view.set_window(0, width)
    wait_painted(qtbot, view)
    marked = 0
    for t0 in (width * 0.1, width * 0.35, width * 0.2, 1_234.0, 0.0):
        view.set_window(t0, width)
        wait_painted(qtbot, view)
        scrolled = screen_pixels(view).copy()
        view.ring.invalidate()
        view.refresh()
        wait_painted(qtbot, view)
        # column 0: the traces' own join to the column left of the screen differs after a scroll
        np.testing.assert_array_equal(scrolled[:, 1:], screen_pixels(view)[:, 1:])
        ring = view.ring
        marked += int(np.count_nonzero(ring.pixels != ring.palette[ring.index]))
    assert marked > 0


def test_dense_marks_equal_sparse_marks_where_marks_do_not_overlap():
    shape = mark_shape(n_rows=40, spacing=12.0, width=300, height=480)
    rng = np.random.default_rng(4)
    cells = rng.choice(40 * 100, 500, replace=False)            # distinct (row, column) cells, 3 apart
    rows, c0 = cells // 100, (cells % 100) * 3 + 1_000 - 5
    colours = rng.integers(0, 1 << 24, 500).astype(np.uint32)
    g0, g1 = 1_000, 1_250
    sparse = sparse_marks(c0, c0 + MIN_MARK_PX, rows, colours, g0, g1, shape)
    dense = dense_marks(c0, rows, colours, g0, g1, shape)
    as_dict = [dict(zip(flat.tolist(), colour.tolist(), strict=True)) for flat, colour in (sparse, dense)]
    assert as_dict[0] == as_dict[1] and len(as_dict[0]) > 1_000


def test_blend_lays_a_colour_over_the_traces():
    rng = np.random.default_rng(1)
    colours = rng.integers(0, 1 << 24, 1_000).astype(np.uint32)
    pixels = rng.integers(0, 1 << 24, 1_000).astype(np.uint32) | np.uint32(0xFF000000)
    out = blend(colours, pixels, 0.7)
    for shift in (16, 8, 0):
        expected = ((colours >> shift) & 0xFF) * 0.7 + ((pixels >> shift) & 0xFF) * 0.3
        assert np.abs(((out >> shift) & 0xFF) - expected).max() <= 1.5
    assert np.all(out >> 24 == 0xFF)
    assert blend(np.array([0xFFFFFF], np.uint32), np.array([0xFFFFFFFF], np.uint32))[0] == 0xFFFFFFFF
