"""A new user's first look: the file's channel names (not "ch N") in the stream tree, the trace
labels and the lanes; the status badge above the traces; the time axis's last tick."""

from __future__ import annotations

import numpy as np
import pyedflib
import pytest
from PyQt6 import QtCore

from app.model.recording import Recording, datafile_channel_names
from app.model.traces import TraceSource
from app.views.stream_tree import ROLE, StreamTree
from app.views.trace.decorations import StatusBadge, time_ticks
from app.views.trace_view import TraceView

EEG = ["EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal"]


def write_edf(path, with_resp: bool = True):
    """An EDF+ of three named 256 Hz signals (and a named 32 Hz one), 4 s, written by pyedflib."""
    rates = [256] * len(EEG) + ([32] if with_resp else [])
    labels = EEG + (["Resp oro-nasal"] if with_resp else [])
    writer = pyedflib.EdfWriter(str(path), len(labels), file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        headers = []
        for label, rate in zip(labels, rates, strict=True):
            headers.append({"label": label, "dimension": "uV", "sample_frequency": rate,
                            "physical_max": 500.0, "physical_min": -500.0,
                            "digital_max": 32767, "digital_min": -32768})
        writer.setSignalHeaders(headers)
        rng = np.random.default_rng(0)
        writer.writeSamples([rng.normal(0, 50, 4 * rate) for rate in rates])
    finally:
        writer.close()
    return path


@pytest.fixture
def edf_view(qtbot, tmp_path):
    recording = Recording.open(str(write_edf(tmp_path / "night.edf")))
    recording.open_lanes()
    source = TraceSource(recording.datafile, cache_bytes=16 << 20, overview_root=str(tmp_path / "ov"))
    view = TraceView()
    qtbot.addWidget(view)
    view.resize(760, 460)
    view.show()
    view.window_s = 1.0
    view.set_recording(recording, source)
    view.set_lanes(recording.lanes)
    qtbot.waitUntil(lambda: view.frame is not None and all(view.lane_displays[k].frame is not None
                                                           for k in view.shown_lanes()), timeout=10_000)
    yield view, recording
    source.close()
    recording.close()


def test_recording_gives_the_files_names_else_ch_n(tmp_path):
    recording = Recording.open(str(write_edf(tmp_path / "night.edf")))
    assert recording.channel_names() == EEG
    assert recording.channel_name(1) == "EEG Pz-Oz" and recording.channel_name(99) == "ch 99"

    class Unnamed:
        nb_channels = 3

    class Wrong:
        nb_channels = 2
        channel_names = ["a", "b", "c"]

    class Partly:
        nb_channels = 3
        channel_names = ["a", "", None]

    assert datafile_channel_names(Unnamed()) == ["ch 0", "ch 1", "ch 2"]
    assert datafile_channel_names(Wrong()) == ["ch 0", "ch 1"]
    assert datafile_channel_names(Partly()) == ["a", "ch 1", "ch 2"]
    recording.close()


def test_stream_tree_shows_the_files_names_with_the_index_on_hover(qtbot, tmp_path):
    recording = Recording.open(str(write_edf(tmp_path / "night.edf")))
    recording.open_lanes()
    tree = StreamTree()
    qtbot.addWidget(tree)
    tree.resize(330, 400)
    tree.show()
    tree.set_recording(recording)
    leaves = [item for item in tree.findItems("", QtCore.Qt.MatchFlag.MatchContains
                                              | QtCore.Qt.MatchFlag.MatchRecursive)
              if (item.data(0, ROLE) or (None, None))[0] == "channels" and len(item.data(0, ROLE)[1]) == 1]
    assert [leaf.text(0) for leaf in leaves] == EEG
    assert leaves[2].toolTip(0) == "EOG horizontal (index 2)"
    lane = tree.item_for_lane(0)
    assert lane.text(0) == "32 Hz (1 signal)" and lane.text(1).endswith("1 ch")
    assert tree.header().stretchLastSection()
    qtbot.waitUntil(lambda: tree.header().sectionSize(1) >= tree.sizeHintForColumn(1))   # Info whole
    assert tree.header().sectionSize(0) + tree.header().sectionSize(1) <= tree.viewport().width()
    assert all(item.toolTip(1) == item.text(1) for item in tree.findItems(
        "", QtCore.Qt.MatchFlag.MatchContains | QtCore.Qt.MatchFlag.MatchRecursive) if item.text(1))
    recording.close()


def test_trace_labels_and_lane_labels_are_the_files_names(qtbot, edf_view, tmp_path):
    view, recording = edf_view
    view.export(str(tmp_path / "v.svg"))
    text = (tmp_path / "v.svg").read_text()
    # the labels are elided to the margin: each name's start is there, and no "ch N" anywhere
    for name in EEG + ["Resp oro-nasal"]:
        assert name[:5] in text
    assert "ch 0" not in text and "ch 1" not in text
    assert "32 Hz (1 signal)" in text
    labels = next(d for d in view.decorations if type(d).__name__ == "ChannelLabels")
    rect = view.plot_rect()
    row = rect.top() + 0.5 * view.spacing()
    channel = view.channel_at(row)
    assert labels.tooltip_at(QtCore.QPointF(10, row)) == f"{EEG[channel]} (index {channel})"
    assert labels.tooltip_at(QtCore.QPointF(rect.left() + 20, row)) == ""


def test_status_badge_is_above_the_first_trace(qtbot, edf_view):
    view, _ = edf_view
    view.viewport.highpass, view.viewport.car = True, True
    badge = next(d for d in view.decorations if isinstance(d, StatusBadge))
    assert "CAR" in badge.notes()
    rect = view.plot_rect()
    first_band = QtCore.QRectF(rect.left(), rect.top(), rect.width(), view.spacing())
    where = badge.text_rect(rect)
    assert where.height() >= 12 and not where.intersects(first_band)


def test_time_axis_keeps_its_last_tick():
    # the window's last pixel column can end a hair before its last second: the slack keeps that tick
    assert time_ticks(0.0, 1.0, 0.2)[-1] == pytest.approx(1.0)
    ticks = time_ticks(0.3, 0.6999999, 0.1, slack=1e-6)
    assert ticks == pytest.approx([0.3, 0.4, 0.5, 0.6, 0.7])
    assert time_ticks(0.0, 0.95, 0.2) == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])


def test_time_axis_of_a_window_ends_on_a_tick(qtbot, edf_view):
    view, _ = edf_view
    rect, rate = view.plot_rect(), view.sampling_rate
    start, stop = view.sample_at(rect.left()) / rate, view.sample_at(rect.right() + 1) / rate
    pixel = (stop - start) / rect.width()
    assert time_ticks(start, stop, 0.2, slack=0.5 * pixel)[-1] == pytest.approx(view.viewport.t0 / rate + 1.0)


def test_peri_event_lanes_are_named_like_the_file(qtbot, tmp_path):
    from app.io.events import make_events
    from app.model.events import EventIndex
    from app.model.session import Session
    from app.views.peri_event_view import PeriEventView

    session = Session()
    session.open(str(write_edf(tmp_path / "night.edf", with_resp=False)), {})
    view = PeriEventView()
    qtbot.addWidget(view)
    view.show()
    view.set_session(session)
    view.channels_provider = lambda: [2, 0]
    session.set_events(EventIndex(make_events(np.array([256, 512, 768]), "stim", "go")))
    view.before.setValue(-10.0)
    view.after.setValue(20.0)
    with qtbot.waitSignal(view.resultShown, timeout=10_000):
        view.compute()
    ticks = view.plot.getAxis("left")._tickLevels[0]
    assert [name for _, name in ticks] == [EEG[2], EEG[0]]
    assert [curve.name() for curve in view.mean_curves] == [EEG[2], EEG[0]]
    view.shutdown()
    session.close()


def test_gain_menu_names_the_channel(qtbot, edf_view):
    view, _ = edf_view
    channel = int(view.frame.channels[0])
    assert EEG[channel] in view.gain_menu(channel).actions()[0].text()


def test_a_high_pass_above_nyquist_draws_unfiltered_and_says_why(qtbot, edf_view):
    """The default 300 Hz display filter cannot apply to 256 Hz EEG: frames still come (unfiltered),
    the lane too, and the badge says why, instead of "loading…" forever."""
    view, _ = edf_view
    view.viewport.highpass = True
    assert not view.source.filter_applies()
    previous = view.frame
    view.refresh()
    qtbot.waitUntil(lambda: view.frame is not None and view.frame is not previous, timeout=10_000)
    badge = next(d for d in view.decorations if isinstance(d, StatusBadge))
    assert any("above this recording's Nyquist (128 Hz)" in note for note in badge.notes())
    raw = view.source.chunk(0, filter_on=False)
    np.testing.assert_array_equal(view.source.chunk(0, filter_on=True), raw)
