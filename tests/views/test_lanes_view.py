"""Stream lanes in the trace view: a SpikeGLX AP (30 kHz) + LF (2.5 kHz) pair with the same step
stays on the same pixel column at any zoom; lanes shown and hidden from the tree; a gain per lane;
a lane that starts later is drawn later."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6 import QtCore, QtGui

from app.model.lanes import lane_window, main_grid
from app.model.recording import Recording
from app.model.traces import TraceSource, stable_spc
from app.views.main_window import MainWindow
from app.views.stream_tree import StreamTree
from app.views.trace_view import TraceView
from tests.model.test_lanes import N_CHANNELS, STEP_S, step_column, write_pair


@pytest.fixture
def lanes_view(qtbot, tmp_path):
    ap, _ = write_pair(tmp_path)
    yield open_view(qtbot, ap, tmp_path)


def open_view(qtbot, ap, tmp_path):
    recording = Recording.open(str(ap), {"file_format": "spikeglx"})
    recording.open_lanes()
    source = TraceSource(recording.datafile, cache_bytes=64 << 20, overview_root=str(tmp_path / "ov"))
    view = TraceView()
    qtbot.addWidget(view)
    view.resize(760, 460)
    view.show()
    view.window_s = 0.2
    view.set_recording(recording, source)
    view.set_lanes(recording.lanes)
    wait_lanes(qtbot, view)
    return view, recording


def wait_lanes(qtbot, view):
    """Until the main frame and every shown lane's frame answer the latest requests."""
    def ready() -> bool:
        if view.frame is None or view.frame.request_id != view.source.latest_request:
            return False
        return all(view.lane_displays[k].frame is not None
                   and view.lane_displays[k].frame.request_id == view.lanes[k].source.latest_request
                   for k in view.shown_lanes())
    qtbot.waitUntil(ready, timeout=10_000)


def test_lanes_get_bands_under_the_main_traces(qtbot, lanes_view):
    view, recording = lanes_view
    assert [lane.label for lane in view.lanes] == ["imec0 LF", "NI"]
    bands = view.lane_bands()
    assert [index for index, _, _ in bands] == [0, 1]
    rect = view.plot_rect()
    assert bands[-1][1] + bands[-1][2] == rect.bottom() + 1
    assert view.main_height() == bands[0][1] - rect.top()
    assert view.lane_at(bands[0][1] + 5) == 0 and view.lane_at(rect.top() + 2) is None
    assert view.lane_displays[0].ring.image is not None
    recording.close()


@pytest.mark.parametrize("window_s", [0.8, 0.1, 0.01, 0.003])
def test_ap_and_lf_show_the_step_on_the_same_column_at_any_zoom(qtbot, lanes_view, window_s):
    view, recording = lanes_view
    view.set_window_seconds(STEP_S - window_s * 0.37, window_s)
    wait_lanes(qtbot, view)
    main, lane = view.frame, view.lane_displays[0].frame
    assert main.n_columns == lane.n_columns == view.plot_rect().width()
    assert abs(channel_step(main) - channel_step(lane)) <= 1
    recording.close()


def channel_step(frame) -> int:
    """The step column of channel 0, wherever the view's channel order (depth, from the header's
    geometry) puts its row."""
    row = int(np.flatnonzero(frame.channels == 0)[0])
    return step_column(frame.lo[row:row + 1], frame.hi[row:row + 1])


def test_scrolling_keeps_the_lanes_aligned(qtbot, lanes_view):
    view, recording = lanes_view
    view.set_window_seconds(0.3, 0.2)
    wait_lanes(qtbot, view)
    for _ in range(3):
        view.scroll_by(0.1)
        wait_lanes(qtbot, view)
        main, lane = view.frame, view.lane_displays[0].frame
        assert abs(channel_step(main) - channel_step(lane)) <= 1
    recording.close()


def test_a_lane_starting_one_second_later_is_drawn_one_second_later(qtbot, tmp_path):
    ap, _ = write_pair(tmp_path, lf_first=2500)          # LF's first sample is at 1 s
    view, recording = open_view(qtbot, ap, tmp_path)
    view.set_window_seconds(0.0, 1.0)
    wait_lanes(qtbot, view)
    lane = view.lane_displays[0].frame
    # the LF holds nothing in the main stream's [0, 1) s: every column is empty
    assert np.isnan(lane.hi).all()
    main = view.frame
    assert not np.isnan(main.hi).any()
    recording.close()


def test_a_lane_starting_later_begins_at_its_offset(qtbot, tmp_path):
    ap, _ = write_pair(tmp_path, lf_first=1250)          # LF's first sample is at 0.5 s on the clock
    view, recording = open_view(qtbot, ap, tmp_path)
    assert view.lanes[0].offset_s == pytest.approx(0.5)
    view.set_window_seconds(0.0, 1.0)
    wait_lanes(qtbot, view)
    lane = view.lane_displays[0].frame
    first_data = int(np.flatnonzero(np.isfinite(lane.hi[0]))[0])
    assert first_data == pytest.approx(0.5 * lane.n_columns, abs=1)
    recording.close()


@pytest.mark.parametrize(("ap_first", "lf_first"), [(0, 500), (3000, 0), (6000, 125)])
def test_streams_with_different_starts_show_the_step_together(qtbot, tmp_path, ap_first, lf_first):
    """The step is at 0.4 s on the acquisition clock in both files, whatever each file's first sample."""
    ap, _ = write_pair(tmp_path, lf_first=lf_first, ap_first=ap_first)
    view, recording = open_view(qtbot, ap, tmp_path)
    step_view_s = STEP_S - ap_first / 30000.0
    for window_s in (0.5, 0.02):
        view.set_window_seconds(step_view_s - window_s / 2, window_s)
        wait_lanes(qtbot, view)
        main, lane = view.frame, view.lane_displays[0].frame
        expected = step_view_s * 30000.0 / main.spc - main.first_column
        assert abs(channel_step(main) - expected) <= 1
        assert abs(channel_step(main) - channel_step(lane)) <= 1
    recording.close()


def test_gain_per_lane_leaves_the_others_alone(qtbot, lanes_view):
    view, recording = lanes_view
    main_units, lf_units, ni_units = view.lane_units, view.lane_displays[0].units, view.lane_displays[1].units
    view.scale_lane_gain(0, 2.0)
    assert view.lane_displays[0].units == pytest.approx(lf_units / 2)
    assert view.lane_displays[1].units == ni_units and view.lane_units == main_units
    band = view.lane_bands()[1]
    point = QtCore.QPointF(view.plot_rect().center().x(), band[1] + band[2] / 2)
    wheel = QtGui.QWheelEvent(point, view.mapToGlobal(point), QtCore.QPoint(), QtCore.QPoint(0, 120),
                              QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.ControlModifier,
                              QtCore.Qt.ScrollPhase.NoScrollPhase, False)
    view.wheelEvent(wheel)
    assert view.lane_displays[1].units == pytest.approx(ni_units / 1.25)
    assert view.lane_displays[0].units == pytest.approx(lf_units / 2)
    recording.close()


def test_the_tree_shows_and_hides_lanes(qtbot, lanes_view):
    view, recording = lanes_view
    tree = StreamTree()
    qtbot.addWidget(tree)
    tree.set_recording(recording)
    tree.laneToggled.connect(view.set_lane_visible)
    item = tree.item_for_lane(0)
    assert item.checkState(0) == QtCore.Qt.CheckState.Checked
    full = view.main_height()
    item.setCheckState(0, QtCore.Qt.CheckState.Unchecked)
    assert view.shown_lanes() == [1] and view.main_height() > full
    wait_lanes(qtbot, view)
    tree.item_for_lane(1).setCheckState(0, QtCore.Qt.CheckState.Unchecked)
    assert view.shown_lanes() == [] and view.main_height() == view.plot_rect().height()
    item.setCheckState(0, QtCore.Qt.CheckState.Checked)
    assert view.shown_lanes() == [0]
    wait_lanes(qtbot, view)
    recording.close()


def test_main_window_opens_lanes_and_remembers_which_are_shown(qtbot, tmp_path):
    ap, _ = write_pair(tmp_path)
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    window = MainWindow(settings, restore=False)
    qtbot.addWidget(window)
    assert window.open_file(str(ap), {"file_format": "spikeglx"})
    assert [lane.label for lane in window.view.lanes] == ["imec0 LF", "NI"]
    window.tree.item_for_lane(1).setCheckState(0, QtCore.Qt.CheckState.Unchecked)
    assert window.view.shown_lanes() == [0]
    window.close_recording()
    assert window.open_file(str(ap), {"file_format": "spikeglx"})
    assert window.view.shown_lanes() == [0]
    assert window.tree.item_for_lane(1).checkState(0) == QtCore.Qt.CheckState.Unchecked
    window.close_recording()


def test_the_lane_is_drawn_in_its_band(qtbot, lanes_view, tmp_path):
    view, recording = lanes_view
    view.set_window_seconds(STEP_S - 0.05, 0.1)
    wait_lanes(qtbot, view)
    qtbot.wait(50)
    image = view.grab().toImage()
    band = view.lane_bands()[0]
    column = view.plot_rect().left() + channel_step(view.frame)

    def inked(x: int) -> list[int]:
        return [y for y in range(band[1] + 14, band[1] + band[2])
                if QtGui.QColor(image.pixel(x, y)).lightness() < 200]

    before, after = inked(column - 20), inked(column + 20)
    assert len(before) >= N_CHANNELS + 1 and len(after) >= N_CHANNELS + 1
    # the step goes up: right of it the LF traces sit higher (smaller y) than left of it
    assert np.mean(after) < np.mean(before) - 1
    recording.close()


def lane_screen_order(display) -> np.ndarray:
    offset = display.ring.first % display.ring.index.shape[1]
    return np.concatenate([display.ring.index[:, offset:], display.ring.index[:, :offset]], axis=1)


@pytest.mark.parametrize(("start_s", "window_s"), [(0.3, 0.2), (0.1, 0.6)])   # LF samples, LF min/max
def test_a_lane_ring_after_scrolls_equals_a_full_redraw(qtbot, lanes_view, start_s, window_s):
    view, recording = lanes_view
    view.set_window_seconds(start_s, window_s)
    wait_lanes(qtbot, view)
    drawn = []
    whole = view._lane_raster

    def recording_raster(index, start, stop, height):
        drawn.append((index, stop - start))
        return whole(index, start, stop, height)

    view._lane_raster = recording_raster
    for fraction in (0.1, 0.1, -0.1, 0.25, -0.3):
        before = [view.lane_displays[k].ring.pixels for k in view.shown_lanes()]
        drawn.clear()
        view.scroll_by(fraction)
        wait_lanes(qtbot, view)
        for k, pixels in zip(view.shown_lanes(), before, strict=True):
            display = view.lane_displays[k]
            assert display.ring.pixels is pixels                   # drawn in place, nothing reallocated
            height, width = display.ring.index.shape
            np.testing.assert_array_equal(lane_screen_order(display), whole(k, 0, width, height))
            np.testing.assert_array_equal(display.ring.pixels, view.palette[display.ring.index])
        lf_columns = sum(columns for k, columns in drawn if k == 0)
        assert 0 < lf_columns <= abs(fraction) * view.lane_displays[0].frame.n_columns + 2
    view._lane_raster = whole
    qtbot.wait(20)
    shown = view.grab().toImage()
    index, top, _ = view.lane_bands()[0]
    picture = lane_screen_order(view.lane_displays[index])
    left = view.plot_rect().left()
    for column in (3, picture.shape[1] // 2, picture.shape[1] - 3):
        lit = np.flatnonzero(picture[:, column])[0]
        colour = QtGui.QColor(shown.pixel(left + column, top + 14 + int(lit)))
        assert colour.rgb() == int(view.palette[picture[lit, column]])
    recording.close()


def test_every_window_at_one_zoom_snaps_the_lane_to_one_grid(lanes_view):
    """A main width of 6000 / 636 samples per column scales to an LF width ending in ...0125,
    right on the digit `stable_spc` rounds at: the lane grid must not flip as the window moves."""
    view, recording = lanes_view
    lane = view.lanes[0]
    grids = set()
    for k in range(40):
        first, spc = main_grid(3000.0 + 617.3 * k, 9000.0 + 617.3 * k, 636)
        t0, t1 = lane_window(lane, first, spc, 636, 30000.0)
        grids.add(stable_spc(max(t1 - t0, 1e-6) / 636))
    assert len(grids) == 1
    recording.close()
