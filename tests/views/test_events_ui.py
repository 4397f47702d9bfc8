"""Events, annotations and the peri-event dock in the real browser widgets (offscreen)."""

import itertools

import numpy as np
import pytest
from PyQt6 import QtCore, QtGui

from app.io.events import make_events
from app.io.formats.raw_binary import RawBinaryFile
from app.model.annotations import Annotations, read_sidecar
from app.model.events import EventIndex
from app.model.recording import Recording
from app.model.session import Session
from app.model.traces import TraceSource
from app.views.event_overlay import (
    ANNOTATION_EDGE_PIXEL,
    ANNOTATION_FILL_PIXEL,
    EVENT_OPAQUE,
    EVENT_PALETTE,
    EVENT_TINTS,
    EventOverlay,
    SpanIndex,
    coverage,
    event_columns,
    marker_columns,
    paint_annotations,
    paint_events,
    top_per_column,
)
from app.views.events_panel import EventsPanel
from app.views.peri_event_view import PeriEventView
from app.views.trace_view import TraceView
from tests.conftest import quiet_window, synthetic_int16

RATE = 10000.0
PARAMS = {"data_dtype": "int16", "nb_channels": 4, "sampling_rate": RATE, "file_format": "raw_binary"}
Qt = QtCore.Qt


def wait_painted(qtbot, view):
    qtbot.waitUntil(lambda: view.frame is not None and view.frame.request_id == view.source.latest_request
                    and view.painted_request == view.frame.request_id, timeout=10_000)


@pytest.fixture
def hooked_view(qtbot, make_raw, tmp_path):
    path = make_raw("rec.dat", synthetic_int16(40_000, 4, seed=3))
    datafile = RawBinaryFile(path, {k: v for k, v in PARAMS.items() if k != "file_format"})
    source = TraceSource(datafile, chunk_size=1024, prefetch_windows=0, overview_root=str(tmp_path / "ov"))
    view = TraceView()
    qtbot.addWidget(view)
    view.resize(700, 400)
    view.show()
    view.window_s = 0.5
    view.set_recording(Recording(datafile), source)
    wait_painted(qtbot, view)
    yield view
    source.close()


@pytest.fixture
def window(qtbot, tmp_path, make_raw):
    window = quiet_window(qtbot, tmp_path)
    ui = window.events_ui
    ui.show_message = lambda title, text: window.__dict__.setdefault("messages", []).append(text)
    path = make_raw("rec.dat", synthetic_int16(40_000, 4, seed=5))
    assert window.open_file(path, PARAMS)
    window.view.set_window(0, 2000)
    wait_painted(qtbot, window.view)
    yield window
    window.close()


def column_counts(image: QtGui.QImage, x: int, top: int, bottom: int, colour: str) -> int:
    rgb = QtGui.QColor(colour).rgb()
    return sum(image.pixel(x, y) == rgb for y in range(top, bottom))


# -- markers --------------------------------------------------------------------------------------------
def test_markers_are_drawn_at_the_events_columns(qtbot, hooked_view):
    view = hooked_view
    events = make_events([1000, 2500, 4000, 3000], ["TTL 1", "TTL 1", "TTL 1", "TTL 2"], "high",
                         [0, 0, 0, 400])
    overlay = EventOverlay(view, EventIndex(events))
    view.overlays.append(overlay)
    view.update()
    image = view.grab().toImage()
    rect = view.plot_rect()
    red = EVENT_PALETTE[0]
    assert overlay.channels == ["TTL 1", "TTL 2"]
    for sample in (1000, 2500, 4000):
        x = int(np.floor(overlay.x_of(sample, rect)))
        assert column_counts(image, x, rect.top(), rect.bottom(), red) >= 0.95 * rect.height()
        assert column_counts(image, x + 4, rect.top(), rect.bottom(), red) == 0
    band_mid = int(overlay.x_of(3200, rect))
    white = QtGui.QColor("#ffffff").rgb()
    inside = sum(image.pixel(band_mid, y) == white for y in range(rect.top(), rect.bottom()))
    outside = sum(image.pixel(band_mid + 40, y) == white for y in range(rect.top(), rect.bottom()))
    assert inside == 0 and outside > 0.5 * rect.height()
    start = int(np.floor(overlay.x_of(3000, rect)))
    assert column_counts(image, start, rect.top(), rect.bottom(), EVENT_PALETTE[1]) >= 0.95 * rect.height()
    text = overlay.tooltip_at(QtCore.QPointF(overlay.x_of(2500, rect), rect.center().y()))
    assert "0.2500 s  TTL 1 high" in text


def test_a_hundred_thousand_events_cost_at_most_one_line_per_column_and_channel():
    rng = np.random.default_rng(0)
    starts = np.sort(rng.integers(0, 3_000_000, 100_000))
    codes = rng.integers(0, 3, 100_000)
    durations = np.where(rng.random(100_000) < 0.1, rng.integers(1, 50_000, 100_000), 0)
    (line_codes, columns), (band_codes, c0, c1) = marker_columns(starts, durations, codes, 3, 0.0, 3000.0, 1000)
    assert len(columns) <= 3 * 1000
    narrow = durations / 3000 < 1
    expected = set(zip(codes[narrow].tolist(), (starts[narrow] // 3000).tolist()))
    assert set(zip(line_codes.tolist(), columns.tolist())) == expected
    for code in range(3):
        wide = (codes == code) & ~narrow
        expected = np.zeros(1000, dtype=bool)
        for s, d in zip(starts[wide], durations[wide]):
            expected[int(s // 3000):int(np.ceil((s + d) / 3000))] = True
        mine = band_codes == code
        np.testing.assert_array_equal(coverage(c0[mine], c1[mine], 1000), expected)


# -- annotations with the trace view's hook --------------------------------------------------------------
def test_shift_drag_edge_drag_rename_delete_undo_round_trip_through_the_sidecar(qtbot, hooked_view):
    view = hooked_view
    annotations = Annotations(view.recording.datafile.file_name, RATE)
    overlay = EventOverlay(view, annotations=annotations)
    overlay.ask_text = lambda title, current: "burst"
    view.overlays.append(overlay)
    rect = view.plot_rect()
    a, b = QtCore.QPoint(rect.left() + 100, rect.center().y()), QtCore.QPoint(rect.left() + 300, rect.center().y())
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, a)
    qtbot.mouseMove(view, b)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, b)
    assert view._measure is None
    (created,) = annotations.items()
    assert (created.start, created.stop) == (round(overlay.sample_at(a.x())), round(overlay.sample_at(b.x())))
    annotations.save()
    saved, _ = read_sidecar(annotations.path)
    assert [(s.start, s.stop, s.label) for s in saved] == [(created.start, created.stop, "annotation")]

    c = QtCore.QPoint(rect.left() + 400, rect.center().y())
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    qtbot.mouseMove(view, c)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, c)
    moved = annotations[created.id]
    assert (moved.start, moved.stop) == (created.start, round(overlay.sample_at(c.x())))

    qtbot.mouseDClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                      QtCore.QPoint(rect.left() + 200, rect.center().y()))
    assert annotations[created.id].label == "burst"
    annotations.save()
    assert [(s.start, s.stop, s.label) for s in read_sidecar(annotations.path)[0]] == \
        [(moved.start, moved.stop, "burst")]

    assert overlay.selected_id == created.id
    qtbot.keyClick(view, Qt.Key.Key_Delete)
    assert len(annotations) == 0
    annotations.save()
    assert read_sidecar(annotations.path)[0] == []
    assert annotations.undo() and annotations[created.id].label == "burst"
    assert annotations.redo() and len(annotations) == 0
    reloaded = Annotations.load(view.recording.datafile.file_name, RATE)
    assert len(reloaded) == 0


def test_annotation_bands_and_labels_are_painted(qtbot, hooked_view):
    view = hooked_view
    annotations = Annotations(view.recording.datafile.file_name, RATE)
    annotations.add(1000, 2000, "artifact")
    annotations.add(3000, None, "stim")
    overlay = EventOverlay(view, annotations=annotations)
    view.overlays.append(overlay)
    view.update()
    image = view.grab().toImage()
    rect = view.plot_rect()
    white = QtGui.QColor("#ffffff").rgb()
    mid = int(overlay.x_of(1500, rect))
    assert sum(image.pixel(mid, y) == white for y in range(rect.top() + 30, rect.bottom())) == 0
    labels = overlay._cache[1]["labels"]
    assert [text for *_, text in labels] == ["artifact", "stim"]


# -- the cheap overlay: pure pieces, patched rows, span queries, label pictures ---------------------------
def random_spans(rng, n, total, longest, n_huge=3):
    starts = np.sort(rng.integers(0, total, n))
    ends = starts + rng.integers(0, longest, n)
    huge = rng.choice(n, n_huge, replace=False)
    ends[huge] = starts[huge] + total                      # a whole-session annotation, a stuck TTL line
    return starts, ends


def test_span_index_finds_exactly_the_overlapping_spans_even_with_a_few_huge_ones():
    rng = np.random.default_rng(4)
    starts, ends = random_spans(rng, 3000, 1_000_000, 5000)
    index = SpanIndex(starts, ends, n_long=16)
    assert len(index.long) <= 16 and index.bound < 5000
    for s0, s1 in [(0, 10), (123_456.7, 130_000.2), (999_990, 2_000_000), (-50, 0), (500_000, 500_000)]:
        expected = np.flatnonzero((starts < s1) & (ends > s0))
        np.testing.assert_array_equal(index.overlapping(s0, s1), expected)
    small = SpanIndex(starts[:10], ends[:10])
    np.testing.assert_array_equal(small.overlapping(0, 2e6), np.arange(10))
    assert len(SpanIndex(np.zeros(0), np.zeros(0)).overlapping(0, 10)) == 0


def test_top_per_column_keeps_the_highest_code_of_each_column():
    columns, codes = top_per_column(np.array([2, 2, 2, 5, 7, 7]), np.array([1, 3, 0, 2, 0, 1]))
    assert columns.tolist() == [2, 5, 7] and codes.tolist() == [3, 2, 1]


def test_events_paint_tints_then_onsets_then_lines_with_the_highest_channel_on_top():
    starts = np.array([100, 100, 150, 300, 300])
    durations = np.array([0, 0, 400, 0, 0])                 # spc 10: one band (code 0) from column 15
    codes = np.array([2, 1, 0, 0, 3])
    columns = event_columns(starts, durations, codes, 4, 10.0, 10.0, 50)
    assert set(zip(*(a.tolist() for a in columns.lines))) == {(1, 0), (2, 0), (0, 20), (3, 20)}
    assert [a.tolist() for a in columns.onsets] == [[0], [5]]
    row = np.zeros(50, dtype=np.uint32)
    paint_events(row, columns, EVENT_OPAQUE, EVENT_TINTS)
    assert row[0] == EVENT_OPAQUE[2] and row[20] == EVENT_OPAQUE[3]
    assert row[5] == EVENT_OPAQUE[0] and set(row[6:20].tolist() + row[21:45].tolist()) == {EVENT_TINTS[0]}
    assert row[45] == 0 and row[1] == 0
    later = event_columns(starts, durations, codes, 4, 20.0, 10.0, 50)
    assert len(later.onsets[1]) == 0 and later.bands[1].tolist() == [0]    # the band goes on, its onset is gone


def test_a_row_painted_in_pieces_equals_the_row_painted_whole():
    rng = np.random.default_rng(7)
    e_starts, e_ends = random_spans(rng, 4000, 600_000, 900, n_huge=2)
    codes = rng.integers(0, 4, len(e_starts))
    a_starts, a_stops = random_spans(rng, 500, 600_000, 6000, n_huge=1)
    a_stops[::5] = a_starts[::5]                           # instants
    spc, first, width = 137.3, 1100, 1500

    def paint(row, at):
        paint_annotations(row, a_starts, a_stops, at, spc, ANNOTATION_FILL_PIXEL, ANNOTATION_EDGE_PIXEL)
        paint_events(row, event_columns(e_starts, e_ends - e_starts, codes, 4, at, spc, len(row)),
                     EVENT_OPAQUE, EVENT_TINTS)

    whole = np.zeros(width, dtype=np.uint32)
    paint(whole, first)
    pieces = np.zeros(width, dtype=np.uint32)
    cuts = [0, 1, 180, 181, 700, 1499, 1500]
    for lo, hi in itertools.pairwise(cuts):
        paint(pieces[lo:hi], first + lo)
    np.testing.assert_array_equal(pieces, whole)
    assert len(set(whole.tolist())) > 5


def overlay_rows_after_scrolls(qtbot, view, overlay, steps):
    """Scroll the real view by `steps` windows; after each, the overlay's row and a fresh overlay's row."""
    rect = view.plot_rect()
    image = QtGui.QImage(view.size(), QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    pairs = []
    for step in steps:
        view.set_window(view.t0 + step * view.window)
        wait_painted(qtbot, view)
        fresh = EventOverlay(view, overlay.index, overlay.annotations)
        fresh.set_hidden_channels(overlay.hidden_channels)
        painter = QtGui.QPainter(image)
        fresh.paint(painter, rect)
        painter.end()
        pairs.append((overlay._cache[1]["row"].copy(), fresh._cache[1]["row"], view.frame.first_column))
        fresh.detach()
    return pairs


def test_scrolling_patches_the_marker_row_to_exactly_what_a_full_build_draws(qtbot, hooked_view):
    view = hooked_view
    rng = np.random.default_rng(11)
    samples = np.sort(rng.integers(0, 40_000, 3000))
    durations = np.where(rng.random(3000) < 0.2, rng.integers(1, 400, 3000), 0)
    durations[5] = 30_000                                  # one pulse across most of the recording
    index = EventIndex(make_events(samples, np.array(["a", "b", "c"], dtype=object)[rng.integers(0, 3, 3000)],
                                   "high", durations))
    annotations = Annotations(view.recording.datafile.file_name, RATE)
    for start in rng.integers(0, 39_000, 300).tolist():
        annotations.add(start, start + int(rng.integers(1, 900)) if start % 3 else None, "")
    annotations.add(10, 39_990, "everything")
    overlay = EventOverlay(view, index, annotations)
    overlay.set_hidden_channels(["b"])
    view.overlays.append(overlay)
    view.set_window(2000, 3000)
    wait_painted(qtbot, view)
    pairs = overlay_rows_after_scrolls(qtbot, view, overlay, [0.1, 0.1, 0.03, -0.25, 0.7, 2.0, -0.01])
    assert len({first for *_, first in pairs}) == len(pairs)
    for patched, full, _first in pairs:
        np.testing.assert_array_equal(patched, full)
        assert patched.any()


def brute_annotation_at(overlay, x):
    """What the overlay's hit test answered before the span index: every annotation checked."""
    rect = overlay.view.plot_rect()
    spc = overlay._mapping(rect)[0]
    sample = overlay.sample_at(x, rect)
    starts, stops = overlay._a_starts, overlay._a_stops
    inside = np.where(starts == stops, np.abs(starts - sample) <= 4 * spc, (starts <= sample) & (sample < stops))
    rows = np.flatnonzero(inside)
    under = None if not len(rows) else overlay._items[int(rows[np.argmin(stops[rows] - starts[rows])])]
    ranged = stops > starts
    to_start = np.where(ranged, np.abs(starts - sample) / spc, np.inf)
    to_stop = np.where(ranged, np.abs(stops - sample) / spc, np.inf)
    best = min((to_start.min(), int(to_start.argmin()), "start"), (to_stop.min(), int(to_stop.argmin()), "stop"))
    edge = None if best[0] > 4 else (overlay._items[best[1]], best[2])
    return under, edge


def test_hit_tests_on_near_annotations_only_answer_as_a_full_scan_would(qtbot, hooked_view):
    view = hooked_view
    rng = np.random.default_rng(5)
    annotations = Annotations(view.recording.datafile.file_name, RATE)
    for start in rng.integers(0, 5000, 400).tolist():
        annotations.add(start, start + int(rng.integers(1, 300)) if start % 4 else None, "x")
    annotations.add(0, 40_000, "session")
    overlay = EventOverlay(view, annotations=annotations)
    rect = view.plot_rect()
    for x in np.linspace(rect.left(), rect.right(), 400).tolist():
        assert (overlay.annotation_at(x), overlay.edge_at(x)) == brute_annotation_at(overlay, x)


def test_labels_are_cached_pictures_reused_while_scrolling_and_text_when_exporting(qtbot, hooked_view, tmp_path):
    view = hooked_view
    annotations = Annotations(view.recording.datafile.file_name, RATE)
    annotations.add(1000, 1200, "spindle")
    annotations.add(1500, 1510, "a label far too long for its narrow band")
    overlay = EventOverlay(view, annotations=annotations)
    view.overlays.append(overlay)
    view.set_window(0, 4000)
    wait_painted(qtbot, view)
    image = view.grab().toImage()
    spindle = overlay._sprites[("spindle", None, view.devicePixelRatioF())]
    x, y = int(overlay.x_of(1000)) + 3, view.plot_rect().top() + 4
    label, band = QtGui.QColor(image.pixel(x - 1, y)), QtGui.QColor(image.pixel(x - 1, y + 60))
    assert label.blue() > band.blue() + 15 and band.blue() < 230          # a light box on the amber band
    long_sprites = [key for key in overlay._sprites if key[0].startswith("a label")]
    assert len(long_sprites) == 1 and long_sprites[0][1] == 60        # elided to the minimum width
    assert overlay._sprites[long_sprites[0]].width() <= 64 * view.devicePixelRatioF()
    view.set_window(200, 4000)
    wait_painted(qtbot, view)
    view.grab()
    assert overlay._sprites[("spindle", None, view.devicePixelRatioF())] is spindle
    path = tmp_path / "view.svg"
    view.export(str(path))
    assert "spindle" in path.read_text()


def test_showing_the_same_channels_again_keeps_the_built_row(qtbot, hooked_view):
    view = hooked_view
    overlay = EventOverlay(view, EventIndex(make_events([1000, 2000], ["a", "b"], "high")))
    view.overlays.append(overlay)
    view.grab()
    built = overlay._cache
    overlay.set_hidden_channels(set())
    view.grab()
    assert overlay._cache is built
    overlay.set_hidden_channels({"b"})
    view.grab()
    assert overlay._cache is not built
    assert overlay._cache[1]["row"][int(overlay.x_of(2000)) - view.plot_rect().left()] == 0


# -- the main window: N/P, events file, panels, range jobs ----------------------------------------------
def write_events_csv(tmp_path):
    path = tmp_path / "stim.csv"
    path.write_text("time_s,label,channel\n0.5,go,stim\n0.9,go,stim\n1.2,nogo,other\n2.0,go,stim\n")
    return str(path)


def test_load_csv_through_the_action_then_next_previous(qtbot, window, tmp_path):
    ui = window.events_ui
    ui.ask_open_path = lambda: write_events_csv(tmp_path)
    ui.load_action.trigger()
    assert "seconds" in window.messages[0] and "4 events" in window.messages[0]
    assert list(ui.index.events["sample"]) == [5000, 9000, 12000, 20000]
    view, panel = window.view, ui.events_panel
    panel.set_checked_channels(["stim"])
    visited = []
    for action in ("next", "next", "next", "previous", "previous"):
        getattr(panel, f"{action}_action").trigger()
        visited.append(view.t0 + view.window / 2)
    assert visited == [5000, 9000, 20000, 9000, 5000]
    panel.set_checked_channels(["stim", "other"])
    panel.next_action.trigger()
    panel.next_action.trigger()
    assert view.t0 + view.window / 2 == 12000
    assert ui.overlay.hidden_channels == set()


def test_events_panel_filters_and_jumps(qtbot, window, tmp_path):
    ui = window.events_ui
    ui.load_events_file(write_events_csv(tmp_path))
    panel: EventsPanel = ui.events_panel
    assert panel.model.rowCount() == 4
    panel.text_filter.setText("nogo")
    assert panel.model.rowCount() == 1 and panel.model.sample_of(0) == 12000
    panel.text_filter.setText("go")
    panel.set_checked_channels(["stim"])
    assert [panel.model.sample_of(r) for r in range(panel.model.rowCount())] == [5000, 9000, 20000]
    assert ui.overlay.hidden_channels == {"other"}
    rect = panel.table.visualRect(panel.model.index(2, 0))
    qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.view.t0 + window.view.window / 2 == 20000


def test_main_window_annotations_save_to_the_sidecar_and_come_back(qtbot, window):
    ui = window.events_ui
    view = window.view
    assert ui.overlay in view.overlays
    wait_painted(qtbot, view)
    rect = view.plot_rect()
    a, b = QtCore.QPoint(rect.left() + 50, rect.center().y()), QtCore.QPoint(rect.left() + 250, rect.center().y())
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, a)
    qtbot.mouseMove(view, b)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, b)
    (created,) = ui.annotations.items()
    qtbot.waitUntil(lambda: not ui.annotations.modified, timeout=3000)          # saved by the timer
    assert [(s.start, s.stop) for s in read_sidecar(ui.annotations.path)[0]] == [(created.start, created.stop)]
    assert ui.annotations_panel.model.rowCount() == 1 and ui.annotations_panel.current_id() == created.id
    ui.annotations_panel.model.setData(ui.annotations_panel.model.index(0, 3), "look here")
    ui.annotations_panel.delete_selected()
    ui.annotations_panel.undo()
    assert ui.annotations[created.id].note == "look here"
    path = window.recording.datafile.file_name
    window.close_recording()
    assert ui.annotations is None and ui.annotations_panel.model.rowCount() == 0
    assert window.open_file(path, PARAMS)
    assert [(a.start, a.note) for a in ui.annotations.items()] == [(created.start, "look here")]


def test_convert_this_range_queues_a_convert_job_with_exact_start_stop(qtbot, window):
    ui = window.events_ui
    ui.exec_dialog = lambda dialog: True
    annotation = ui.annotations.add(1234, 5678, "quiet part")
    job = ui.range_job("convert", annotation)
    assert job.start == pytest.approx(1234 / RATE) and job.stop == pytest.approx(5678 / RATE)
    command = job.command()
    assert command[command.index("--start") + 1] == repr(1234 / RATE)
    assert job.output.endswith("rec_quiet_part_1234-5678.dat")
    assert job.id in window.jobs_panel.entries
    window.jobs_panel.shutdown()


# -- peri-event -----------------------------------------------------------------------------------------
def test_peri_event_mean_matches_numpy(qtbot, make_raw):
    rng = np.random.default_rng(1)
    data = rng.normal(0, 20, (30_000, 3))
    onsets = np.arange(2000, 28_000, 1300)
    response = np.outer(np.hanning(80), [300.0, -150.0, 60.0])
    for onset in onsets:
        data[onset + 20:onset + 100] += response
    path = make_raw("peri.dat", np.round(data).astype(np.int16))
    session = Session()
    session.open(path, {"data_dtype": "int16", "nb_channels": 3, "sampling_rate": RATE,
                        "file_format": "raw_binary"})
    values = np.round(data).astype(np.int16).astype(np.float64)
    view = PeriEventView()
    qtbot.addWidget(view)
    view.show()
    view.set_session(session)
    view.channels_provider = lambda: [2, 0]
    session.set_events(EventIndex(make_events(np.append(onsets, 29_990), "stim", "go")))
    assert view.channel_box.currentText() == "stim"
    view.before.setValue(-5.0)
    view.after.setValue(15.0)
    view.compute()
    latest = view.compute()                               # the first request is dropped
    with qtbot.waitSignal(view.resultShown, timeout=10_000) as shown:
        pass
    assert shown.args == [latest]
    expected = np.mean([values[s - 50:s + 150][:, [2, 0]] for s in onsets], axis=0)
    np.testing.assert_allclose(view.shown_mean(), expected, atol=1e-4)
    assert view.result.count == len(onsets) and view.result.skipped == 1
    assert len(view.result.trials) == 5
    view.shutdown()
    session.close()


def test_closing_the_window_waits_for_the_event_workers(qtbot, window, tmp_path):
    ui = window.events_ui
    ui.load_events_file(write_events_csv(tmp_path))
    peri = ui.peri_view
    peri.channels_provider = lambda: [0, 1, 2, 3]
    ticket = peri.compute()
    assert ticket is not None
    window.close()
    assert peri.worker.closed and ui.reader.closed and not peri.worker.busy()
    assert peri.compute() is None                              # nothing new starts on a closed view
