from xml.etree import ElementTree

import numpy as np
import pytest
from PyQt6 import QtCore, QtGui
from scipy import signal

from app.io.formats.raw_binary import RawBinaryFile
from app.model.decimate import column_edges
from app.model.recording import Recording
from app.model.traces import TraceSource
from app.views.trace_view import BACKGROUND as BACKGROUND_COLOUR
from app.views.trace_view import TracePanel, TraceView
from tests.conftest import synthetic_int16

RATE = 10000.0
PROBE = """
total_nb_channels = 4
radius = 100
channel_groups = {
    0: {'channels': [0, 1, 2, 3], 'geometry': {0: (0, 10), 1: (0, 40), 2: (0, 20), 3: (0, 30)}},
}
"""


class LoggedRaw(RawBinaryFile):
    def __init__(self, *args, **kwargs):
        self.calls = []
        super().__init__(*args, **kwargs)

    def get_data(self, idx, chunk_size, padding=(0, 0), nodes=None):
        self.calls.append((idx, chunk_size, tuple(padding)))
        return super().get_data(idx, chunk_size, padding, nodes)


@pytest.fixture
def viewer(qtbot, make_raw, tmp_path):
    data = synthetic_int16(40_000, 4, seed=3)
    path = make_raw("rec.dat", data)
    datafile = LoggedRaw(path, {"data_dtype": "int16", "nb_channels": 4, "sampling_rate": RATE})
    recording = Recording(datafile)
    source = TraceSource(datafile, chunk_size=1024, prefetch_windows=0, overview_root=str(tmp_path / "ov"))
    view = TraceView()
    qtbot.addWidget(view)
    view.resize(700, 400)
    view.show()
    view.window_s = 0.2
    view.set_recording(recording, source)
    wait_painted(qtbot, view)
    yield view, datafile, data.astype(np.float32).T
    source.close()


def wait_painted(qtbot, view):
    qtbot.waitUntil(lambda: view.frame is not None and view.frame.request_id == view.source.latest_request
                    and view.painted_request == view.frame.request_id, timeout=10_000)
    return view.frame


def test_scrolling_reads_expected_chunks_and_shows_the_samples(qtbot, viewer):
    view, datafile, values = viewer
    frame = view.frame
    assert frame.mode == "minmax" and sorted({c[0] for c in datafile.calls}) == [0, 1]
    assert all(c[1:] == (1024, (0, 0)) for c in datafile.calls)
    datafile.calls.clear()
    qtbot.keyClick(view, QtCore.Qt.Key.Key_PageDown)
    frame = wait_painted(qtbot, view)
    assert frame.t0 == pytest.approx(2000, abs=frame.spc)
    assert sorted({c[0] for c in datafile.calls}) == [2, 3]
    edges = column_edges(frame.first_column, frame.n_columns, frame.spc)
    rows = list(frame.channels)
    for k in [0, frame.n_columns // 2, frame.n_columns - 1]:
        block = values[rows, edges[k]:edges[k + 1]]
        np.testing.assert_array_equal(frame.lo[:, k], block.min(axis=1))
        np.testing.assert_array_equal(frame.hi[:, k], block.max(axis=1))
    assert view.ring.image is not None and view.ring.index.any()


def test_keyboard_navigation_moves_by_expected_amounts(qtbot, viewer):
    view, _, _ = viewer
    window = view.window
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Right)
    assert view.t0 == pytest.approx(0.1 * window)
    qtbot.keyClick(view, QtCore.Qt.Key.Key_PageDown)
    assert view.t0 == pytest.approx(1.1 * window)
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Left)
    assert view.t0 == pytest.approx(1.0 * window)
    qtbot.keyClick(view, QtCore.Qt.Key.Key_End)
    assert view.t0 == pytest.approx(40_000 - window)
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Home)
    assert view.t0 == 0
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Minus)
    assert view.window == pytest.approx(2 * window)


def test_filter_and_car_change_the_drawn_data_as_scipy_predicts(qtbot, viewer):
    view, _, values = viewer
    view.set_window(3000, 60)
    view.set_filter(True, 300.0)
    frame = wait_painted(qtbot, view)
    assert frame.mode == "samples" and frame.filter_on
    sos = signal.butter(3, 300.0, "highpass", fs=RATE, output="sos")
    whole = signal.sosfiltfilt(sos, values, axis=1)
    start = frame.sample_start
    expected = whole[list(frame.channels), start:start + frame.samples.shape[1]]
    assert np.abs(frame.samples - expected).max() < 0.01 * np.abs(whole).max()
    view.set_filter(False)
    view.set_car(True)
    frame = wait_painted(qtbot, view)
    shown = values[list(frame.channels)]
    expected = (shown - np.median(shown, axis=0))[:, frame.sample_start:frame.sample_start
                                                  + frame.samples.shape[1]]
    np.testing.assert_allclose(frame.samples, expected, atol=1e-3)


def test_probe_order_reorders_channels(qtbot, viewer, tmp_path):
    view, datafile, _ = viewer
    (tmp_path / "p.prb").write_text(PROBE)
    recording = Recording.open(datafile.file_name, datafile.params, "raw_binary", mapping=str(tmp_path / "p.prb"))
    view.set_recording(recording, view.source)
    frame = wait_painted(qtbot, view)
    assert list(frame.channels) == [1, 3, 2, 0]             # shallowest (largest y) on top
    view.set_order_by_depth(False)
    frame = wait_painted(qtbot, view)
    assert list(frame.channels) == [0, 1, 2, 3]
    view.set_hidden([2])
    frame = wait_painted(qtbot, view)
    assert list(frame.channels) == [0, 1, 3]


def test_export_png_and_svg(qtbot, viewer, tmp_path):
    view, _, _ = viewer
    view.export(str(tmp_path / "v.png"))
    view.export(str(tmp_path / "v.svg"))
    image = QtGui.QImage(str(tmp_path / "v.png"))
    assert not image.isNull() and image.width() == view.width()
    assert (tmp_path / "v.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    root = ElementTree.parse(tmp_path / "v.svg").getroot()
    assert root.tag.endswith("svg")
    assert "ch 0" in (tmp_path / "v.svg").read_text()


def test_gain_and_measure(qtbot, viewer):
    view, _, _ = viewer
    units = view.lane_units
    view.wheelEvent(QtGui.QWheelEvent(QtCore.QPointF(100, 100), QtCore.QPointF(100, 100), QtCore.QPoint(),
                                      QtCore.QPoint(0, 120), QtCore.Qt.MouseButton.NoButton,
                                      QtCore.Qt.KeyboardModifier.ControlModifier,
                                      QtCore.Qt.ScrollPhase.NoScrollPhase, False))
    assert view.lane_units == pytest.approx(units / 1.25)
    rect = view.plot_rect()
    start = QtCore.QPointF(rect.left() + 10, rect.top() + 20)
    stop = QtCore.QPointF(rect.left() + 10 + 100, rect.top() + 10)
    dt, dv = view.measure(start, stop)
    assert dt == pytest.approx(100 * view.frame.spc / RATE)
    assert dv == pytest.approx(10 * view.value_per_pixel(view.channel_at(start.y())))


def full_raster(view):
    """The image a from-scratch rasterisation of the current frame gives, in screen order."""
    frame = view.frame
    baselines, scales = view._lanes(frame.channels)
    return view._raster(frame, 0, frame.n_columns, baselines, scales, view.plot_rect().height())


def screen_order(view):
    offset = view.ring.first % view.ring.index.shape[1]
    return np.concatenate([view.ring.index[:, offset:], view.ring.index[:, :offset]], axis=1)


def test_ring_image_after_scrolls_equals_a_full_redraw(qtbot, viewer):
    view, _, _ = viewer
    for fraction in (0.1, 0.1, -0.1, 0.25, -0.3):
        before = view.ring.pixels
        view.scroll_by(fraction)
        wait_painted(qtbot, view)
        assert view.ring.pixels is before                        # drawn in place, nothing reallocated
        np.testing.assert_array_equal(screen_order(view), full_raster(view))
    offset = view.ring.first % view.ring.index.shape[1]
    assert view.ring.pixels[0, offset] == view.palette[view.ring.index[0, offset]]
    shown = view.grab().toImage()
    rect = view.plot_rect()
    lit = np.flatnonzero(screen_order(view)[:, 5])[0]
    colour = QtGui.QColor(shown.pixel(rect.left() + 5, rect.top() + int(lit)))
    assert colour.rgb() == int(view.palette[screen_order(view)[lit, 5]])


def test_channel_gain_menu_wheel_and_settings(qtbot, viewer):
    view, _, _ = viewer
    rect = view.plot_rect()
    y = rect.top() + 1.5 * view.spacing()                 # second lane
    channel = view.channel_at(y)
    view.gain_menu(channel).actions()[0].trigger()        # gain ×2 of that channel alone
    assert view.channel_gains[channel] == 2 and view.channel_gains.sum() == 5
    _, scales = view._lanes(view.frame.channels)
    row = list(view.frame.channels).index(channel)
    assert scales[row] == pytest.approx(2 * scales[(row + 1) % 4])
    view.set_selected([0, 1])
    wheel = QtGui.QWheelEvent(QtCore.QPointF(rect.left() + 50, view.plot_rect().top() + 0.5 * view.spacing()
                                             + list(view.frame.channels).index(0) * view.spacing()),
                              QtCore.QPointF(), QtCore.QPoint(), QtCore.QPoint(0, 120),
                              QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.ControlModifier,
                              QtCore.Qt.ScrollPhase.NoScrollPhase, False)
    units = view.lane_units
    view.wheelEvent(wheel)
    assert view.lane_units == units                       # over a selected channel: only the selection
    expected = np.ones(4)
    expected[channel] = 2
    expected[[0, 1]] *= 1.25
    np.testing.assert_allclose(view.channel_gains, expected)
    saved = view.view_settings()
    view.reset_channel_gains()
    assert (view.channel_gains == 1).all()
    view.apply_settings(saved)
    np.testing.assert_allclose(view.channel_gains, expected)
    view.set_recording(view.recording, view.source)          # reopening keeps the saved gains
    np.testing.assert_allclose(view.channel_gains, expected)
    view.apply_settings({**saved, "channel_gains": "1,2"})   # another file's gains: ignored
    np.testing.assert_allclose(view.channel_gains, expected)


def test_spacing_box_scrolls_channels_and_is_saved(qtbot, viewer):
    view, _, _ = viewer
    panel = TracePanel()
    qtbot.addWidget(panel)
    panel.resize(700, 400)
    panel.show()
    panel.view.window_s = 0.2
    panel.view.set_recording(view.recording, view.source)
    wait_painted(qtbot, panel.view)
    panel_box = panel.spacing_box
    panel_box.setValue(150)
    frame = wait_painted(qtbot, panel.view)
    assert panel.view.spacing() == 150 and len(frame.channels) == int(panel.view.plot_rect().height() // 150)
    assert panel.view.view_settings()["min_spacing"] == 150
    panel.view.apply_settings({"min_spacing": 0})
    wait_painted(qtbot, panel.view)
    assert panel_box.value() == 0 and len(panel.view.frame.channels) == 4


def test_scale_bar_is_drawn_outside_the_traces(qtbot, viewer):
    view, _, _ = viewer
    view.ring.invalidate()
    view.ring.pixels[:] = view.palette[0]
    view.ring.index[:] = 0
    view.frame = view.frame                                 # no traces in the ring: only decorations
    image = view.grab().toImage()
    rect = view.plot_rect()
    background = QtGui.QColor(BACKGROUND_COLOUR).rgb()
    inside = [image.pixel(x, y) for x in range(rect.left() + 1, rect.right(), 7)
              for y in range(rect.top() + 16, rect.bottom() - 1, 5)]
    assert set(inside) == {background}
    margin = [image.pixel(x, y) for x in range(rect.right() + 2, view.width())
              for y in range(rect.top(), rect.bottom())]
    assert any(p != background for p in margin)


def test_autoscale_gives_each_lane_six_noise_sds_each_side(qtbot, viewer):
    view, _, values = viewer
    frame = view.frame
    shown = values[list(frame.channels), frame.t0:min(frame.t0 + 8192, frame.t1)]
    median = np.median(shown, axis=1, keepdims=True)
    noise = np.median(1.4826 * np.median(np.abs(shown - median), axis=1))
    assert view.lane_units == pytest.approx(12 * noise, rel=1e-3)
