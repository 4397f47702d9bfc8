"""Event markers and annotations drawn over the trace view, and the mouse work on annotations.

`EventOverlay` paints on the TraceView's painter after the traces: a thin line per event (one
per pixel column and event channel, however many events fall in it), a shaded band for events
with a duration, and labelled translucent bands for the user's annotations. It reads the view's
state only (`frame.spc`, `frame.first_column`, `t0`, `window`, `plot_rect()`). All markers are
one row of pixels tiled down the plot; a scroll by whole columns patches the last row with the
uncovered columns only, found by binary search (`SpanIndex`), and labels are cached pictures.

The TraceView forwards its mouse and key events to `press`, `move`, `release`, `double_click`
and `key`; each says whether it used the event. Shift-drag (or any drag in annotate mode)
creates an annotation, dragging an edge moves it, Delete removes the selected one and a
double-click renames it. Every edit goes through `Annotations`, so undo/redo and the sidecar
see it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from app.model.annotations import Annotation, Annotations
from app.model.events import EventIndex

EVENT_PALETTE = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#e377c2", "#8c564b",
                 "#bcbd22", "#7f7f7f"]
ANNOTATION_FILL = QtGui.QColor(255, 176, 0, 56)
ANNOTATION_EDGE = QtGui.QColor(196, 120, 0, 200)
SELECTED_EDGE = QtGui.QColor(140, 80, 0, 235)          # dark amber: apart from every event colour
LABEL_FILL = QtGui.QColor(255, 248, 225, 220)
LABEL_TEXT = QtGui.QColor("#6b4500")
EDGE_GRAB_PX = 4.0
MAX_LABELS = 200
MAX_SPRITES = 4096                                     # cached label pictures before the cache starts over
MAX_TOOLTIP_EVENTS = 8


# -- pixel geometry (pure numpy) ----------------------------------------------------------------------
def span_columns(x0: np.ndarray, x1: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel spans [x0, x1) as whole columns [c0, c1), at least one column wide, clipped to the plot."""
    c0 = np.floor(x0).astype(np.int64)
    c1 = np.maximum(np.ceil(x1).astype(np.int64), c0 + 1)
    return np.minimum(np.maximum(c0, 0), width), np.minimum(np.maximum(c1, 0), width)


def coverage(c0: np.ndarray, c1: np.ndarray, width: int) -> np.ndarray:
    """Which of `width` columns some span [c0, c1) covers (a difference array: O(spans + width))."""
    steps = np.bincount(c0, minlength=width + 1)[:width + 1] - np.bincount(c1, minlength=width + 1)[:width + 1]
    return np.cumsum(steps[:width]) > 0


@dataclass
class EventColumns:
    """Where a run of columns draws its events: `lines` (codes, columns) unique per (code, column)
    and ordered by column then code; `bands` (codes, c0, c1) clipped whole-column spans; `onsets`
    (codes, columns) of the bands that start inside the run."""

    lines: tuple[np.ndarray, np.ndarray]
    bands: tuple[np.ndarray, np.ndarray, np.ndarray]
    onsets: tuple[np.ndarray, np.ndarray]


def event_columns(starts: np.ndarray, durations: np.ndarray, codes: np.ndarray, n_codes: int,
                  first: float, spc: float, width: int) -> EventColumns:
    """The events' pixels on the `width` columns from grid column `first` (`spc` samples per column).

    An event shorter than a column is a line in the column of its start; a longer one is a band.
    Which it is depends on `spc` only, and with an integer `first` every column comes out the same
    whether it is computed alone or with its neighbours, so a scrolled row can be patched.
    """
    x0 = starts / spc - first
    wide = np.maximum(durations, 0) / spc >= 1.0
    column = np.floor(x0[~wide]).astype(np.int64)
    inside = (column >= 0) & (column < width)
    n_codes = max(n_codes, 1)
    table = np.zeros(width * n_codes, dtype=bool)
    table[column[inside] * n_codes + codes[~wide][inside]] = True
    cells = np.flatnonzero(table)
    x0, band_codes = x0[wide], codes[wide]
    x1 = (starts[wide] + durations[wide]) / spc - first
    keep = (x1 > 0) & (x0 < width)
    c0, c1 = span_columns(x0[keep], x1[keep], width)
    starting = (x0[keep] >= 0) & (x0[keep] < width)
    return EventColumns((cells % n_codes, cells // n_codes), (band_codes[keep], c0, c1),
                        (band_codes[keep][starting], c0[starting]))


def marker_columns(starts: np.ndarray, durations: np.ndarray, codes: np.ndarray, n_codes: int,
                   first_column: float, spc: float, width: int):
    """(lines, bands) of `event_columns`: at most n_codes * width lines however many events."""
    columns = event_columns(starts, durations, codes, n_codes, first_column, spc, width)
    return columns.lines, columns.bands


def top_per_column(columns: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One (column, code) per column of `columns` (ascending): the highest code, drawn on top."""
    if not len(columns):
        return columns, codes
    starts_run = np.empty(len(columns), dtype=bool)
    starts_run[0] = True
    np.not_equal(columns[1:], columns[:-1], out=starts_run[1:])
    heads = np.flatnonzero(starts_run)
    return columns[heads], np.maximum.reduceat(codes, heads)


def top_band_codes(codes: np.ndarray, c0: np.ndarray, c1: np.ndarray, width: int) -> np.ndarray:
    """Per column, the highest code of the spans [c0, c1) covering it, -1 where none does.

    One difference array per code, all in one bincount, so the cost does not grow with a loop
    over the codes.
    """
    n = int(codes.max()) + 1
    base = codes * (width + 1)
    steps = np.bincount(base + c0, minlength=n * (width + 1)) - np.bincount(base + c1, minlength=n * (width + 1))
    covered = np.cumsum(steps.reshape(n, width + 1)[:, :width], axis=1) > 0
    top = n - 1 - np.argmax(covered[::-1], axis=0)
    top[~covered.any(axis=0)] = -1
    return top


def paint_events(row: np.ndarray, columns: EventColumns, opaque: np.ndarray, tints: np.ndarray) -> None:
    """Event pixels into `row`: band tints, then band onsets, then lines; the highest code on top."""
    band_codes, c0, c1 = columns.bands
    if len(band_codes):
        top = top_band_codes(band_codes, c0, c1, len(row))
        covered = top >= 0
        row[covered] = tints[top[covered] % len(tints)]
    onset_codes, onsets = columns.onsets
    order = np.argsort(onsets, kind="stable")
    for at, codes in (top_per_column(onsets[order], onset_codes[order]),
                      top_per_column(columns.lines[1], columns.lines[0])):
        row[at] = opaque[codes % len(opaque)]


def paint_annotations(row: np.ndarray, starts: np.ndarray, stops: np.ndarray, first: float, spc: float,
                      fill: int, edge: int) -> None:
    """Annotation fills (spans of a column or more) then edges into the `len(row)` columns from `first`."""
    width = len(row)
    x0, x1 = starts / spc - first, stops / spc - first
    ranged = (stops - starts) / spc >= 1.0
    c0, c1 = span_columns(x0[ranged], x1[ranged], width)
    row[coverage(c0, c1, width)] = fill
    opening = np.floor(x0).astype(np.int64)
    closing = np.ceil(x1[ranged]).astype(np.int64) - 1
    for at in (opening, closing):
        row[at[(at >= 0) & (at < width)]] = edge


class SpanIndex:
    """Spans [start, end) sorted by start, asked which overlap [s0, s1) in O(log n + answer).

    All but the `n_long` longest spans are at most `bound` long, so their candidates are one
    slice of the starts; the long ones (a whole-session annotation, a long pulse) are checked
    one by one, so they never turn a query into a scan.
    """

    def __init__(self, starts: np.ndarray, ends: np.ndarray, n_long: int = 256):
        self.starts = np.ascontiguousarray(starts, dtype=np.int64)
        self.ends = np.ascontiguousarray(ends, dtype=np.int64)
        lengths = self.ends - self.starts
        cut = len(lengths) - n_long - 1
        self.bound = int(np.partition(lengths, cut)[cut]) if cut >= 0 else int(lengths.max(initial=0))
        self.long = np.flatnonzero(lengths > self.bound)

    def __len__(self) -> int:
        return len(self.starts)

    def overlapping(self, s0: float, s1: float) -> np.ndarray:
        """Indices (ascending) of the spans with start < s1 and end > s0."""
        # integer keys: a float key would make searchsorted copy the starts to float64 first
        s0, s1 = math.floor(s0), math.ceil(s1)
        lo = int(np.searchsorted(self.starts, np.int64(s0 - self.bound), side="left"))
        hi = max(int(np.searchsorted(self.starts, np.int64(s1), side="left")), lo)
        rows = np.arange(lo, hi)[self.ends[lo:hi] > s0]
        if not len(self.long):
            return rows
        early = self.long[self.long < lo]
        return np.concatenate([early[self.ends[early] > s0], rows])


def premultiplied(colour: QtGui.QColor) -> int:
    """`colour` as one ARGB32-premultiplied pixel value."""
    alpha = colour.alpha()
    scale = alpha / 255.0
    return (alpha << 24) | (round(colour.red() * scale) << 16) | (round(colour.green() * scale) << 8) \
        | round(colour.blue() * scale)


def _with_alpha(name: str, alpha: int) -> QtGui.QColor:
    colour = QtGui.QColor(name)
    colour.setAlpha(alpha)
    return colour


EVENT_OPAQUE = np.array([premultiplied(QtGui.QColor(c)) for c in EVENT_PALETTE], dtype=np.uint32)
EVENT_TINTS = np.array([premultiplied(_with_alpha(c, 40)) for c in EVENT_PALETTE], dtype=np.uint32)
ANNOTATION_FILL_PIXEL = premultiplied(ANNOTATION_FILL)
ANNOTATION_EDGE_PIXEL = premultiplied(ANNOTATION_EDGE)


# -- drag state ---------------------------------------------------------------------------------------
@dataclass
class _Drag:
    kind: str                   # "create" or "edge"
    anchor: float               # sample where the drag started (create) or the fixed edge (edge)
    current: float
    annotation_id: str | None = None
    edge: str | None = None     # "start" or "stop"


class EventOverlay:
    """Paints events and annotations over a TraceView and edits annotations with the mouse."""

    def __init__(self, view: QtWidgets.QWidget, index: EventIndex | None = None,
                 annotations: Annotations | None = None):
        self.view = view
        self.annotate_mode = False
        self.create_modifier = QtCore.Qt.KeyboardModifier.ShiftModifier
        self.default_label = "annotation"
        self.hidden_channels: set[str] = set()
        self.show_tooltips = True
        self.ask_text: Callable[[str, str], str | None] = self._ask_text
        self.selected_id: str | None = None
        self.selection_listeners: list[Callable[[str | None], None]] = []
        self._drag: _Drag | None = None
        self._cache: tuple | None = None
        self._row: tuple | None = None
        self._label_font: QtGui.QFont | None = None
        self._metrics: QtGui.QFontMetrics | None = None
        self._sprites: dict[tuple, QtGui.QImage] = {}
        self._text_widths: dict[str, int] = {}
        self._events_version = 0
        self._annotations_version = 0
        self._unsubscribe: Callable[[], None] | None = None
        self.annotations: Annotations | None = None
        self.set_events(index or EventIndex())
        self.set_annotations(annotations)

    # -- model ----------------------------------------------------------------------------------------
    def set_events(self, index: EventIndex) -> None:
        """Show the events of `index`; contiguous copies of its columns make each query cheap."""
        self.index = index
        events = index.events
        self.channels = index.channels
        self._durations = np.ascontiguousarray(events["duration"], dtype=np.int64)
        starts = np.asarray(events["sample"], dtype=np.int64)
        self._events = SpanIndex(starts, starts + np.maximum(self._durations, 0))
        self._starts = self._events.starts
        self._codes = np.zeros(len(events), dtype=np.int64)
        if len(events):
            names, inverse = np.unique(events["channel"].astype(str), return_inverse=True)
            lookup = {name: k for k, name in enumerate(self.channels)}
            self._codes = np.array([lookup[str(name)] for name in names], dtype=np.int64)[inverse.reshape(-1)]
        self._events_version += 1
        self.view.update()

    def set_annotations(self, annotations: Annotations | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.annotations = annotations
        self.selected_id = None
        if annotations is not None:
            self._unsubscribe = annotations.subscribe(self._annotations_changed)
        self._annotations_changed("reset", ())

    def _annotations_changed(self, kind: str, ids: tuple[str, ...]) -> None:
        items = self.annotations.items() if self.annotations is not None else []
        self._items = items
        self._a_starts = np.array([a.start for a in items], dtype=np.int64)
        self._a_stops = np.array([a.start if a.stop is None else a.stop for a in items], dtype=np.int64)
        self._spans = SpanIndex(self._a_starts, np.maximum(self._a_stops, self._a_starts + 1))
        if self.selected_id is not None and (self.annotations is None or self.selected_id not in
                                             {a.id for a in items}):
            self._select(None)
        self._annotations_version += 1
        self.view.update()

    def colour_of(self, channel: str) -> QtGui.QColor:
        """The marker colour of an event channel (stable for the loaded index)."""
        k = self.channels.index(channel) if channel in self.channels else 0
        return QtGui.QColor(EVENT_PALETTE[k % len(EVENT_PALETTE)])

    def set_hidden_channels(self, channels) -> None:
        hidden = {str(c) for c in channels}
        if hidden == self.hidden_channels:
            return
        self.hidden_channels = hidden
        self._events_version += 1
        self.view.update()

    # -- view geometry --------------------------------------------------------------------------------
    def _mapping(self, rect: QtCore.QRect) -> tuple[float, float]:
        """(samples per column, grid column at the rect's left edge), as the traces are drawn."""
        view = self.view
        frame = view.frame
        spc = frame.spc if frame is not None else view.window / max(rect.width(), 1)
        first = frame.first_column if frame is not None else view.t0 / spc
        return float(spc), float(first)

    def x_of(self, sample: float, rect: QtCore.QRect | None = None) -> float:
        rect = rect or self.view.plot_rect()
        spc, first = self._mapping(rect)
        return rect.left() + sample / spc - first

    def sample_at(self, x: float, rect: QtCore.QRect | None = None) -> float:
        rect = rect or self.view.plot_rect()
        spc, first = self._mapping(rect)
        return (x - rect.left() + first) * spc

    # -- painting -------------------------------------------------------------------------------------
    def paint(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        """Draw annotations and events inside `rect` (the view's plot rectangle).

        Every marker spans the plot's height, so the markers of a frame are one row of pixels
        (built with numpy) tiled down the rect as a brush: one draw call however many events
        and annotations are visible. A scroll by whole columns reuses the previous row and
        computes only the columns it uncovers, as the traces' ring does.
        """
        if self.view.recording is None:
            return
        spc, first = self._mapping(rect)
        key = (spc, first, rect.left(), rect.top(), rect.width(), rect.height(),
               self._events_version, self._annotations_version)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._build(rect, spc, first))
        layers = self._cache[1]
        painter.save()
        painter.setClipRect(rect)
        if layers["brush"] is not None:
            painter.setBrushOrigin(rect.left(), rect.top())
            painter.fillRect(rect, layers["brush"])
        self._paint_labels(painter, layers["labels"])
        self._paint_selection(painter, rect)
        self._paint_drag(painter, rect)
        painter.restore()

    def _build(self, rect: QtCore.QRect, spc: float, first: float) -> dict:
        row = self._marker_row(spc, first, rect.width())
        image = brush = None
        if row.any():
            # the brush outlives this call inside Qt: give it its own copy of the row (a few KB)
            image = QtGui.QImage(row.data, len(row), 1, 4 * len(row),
                                 QtGui.QImage.Format.Format_ARGB32_Premultiplied).copy()
            brush = QtGui.QBrush(image)         # tiled down the rect: 3x cheaper than stretching the row
        return {"row": row, "image": image, "brush": brush, "labels": self._labels(rect, spc, first)}

    def _marker_row(self, spc: float, first: float, width: int) -> np.ndarray:
        """The pixel row of grid columns [first, first + width), patched from the last one when it overlaps."""
        key = (spc, width, self._events_version, self._annotations_version)
        row = np.zeros(width, dtype=np.uint32)
        shift = None
        if self._row is not None and self._row[0] == key and first.is_integer() and self._row[1].is_integer():
            shift = int(first - self._row[1])
        if shift is None or abs(shift) >= width:
            self._paint_columns(row, first, spc)
        else:
            old = self._row[2]
            if shift >= 0:
                row[:width - shift] = old[shift:]
                self._paint_columns(row[width - shift:], first + width - shift, spc)
            else:
                row[-shift:] = old[:width + shift]
                self._paint_columns(row[:-shift], first, spc)
        self._row = (key, first, row)
        return row

    def _paint_columns(self, row: np.ndarray, first: float, spc: float) -> None:
        """Annotations then events of the `len(row)` grid columns from `first` into `row` (all zero)."""
        if not len(row):
            return
        s0, s1 = (first - 1) * spc, (first + len(row) + 1) * spc
        if len(self._spans):
            rows = self._spans.overlapping(s0, s1)
            paint_annotations(row, self._a_starts[rows], self._a_stops[rows], first, spc,
                              ANNOTATION_FILL_PIXEL, ANNOTATION_EDGE_PIXEL)
        if len(self._events):
            rows = self._events.overlapping(s0, s1)
            codes = self._codes[rows]
            if self.hidden_channels:
                shown = np.array([name not in self.hidden_channels for name in self.channels])
                rows, codes = rows[shown[codes]], codes[shown[codes]]
            columns = event_columns(self._starts[rows], self._durations[rows], codes, len(self.channels),
                                    first, spc, len(row))
            paint_events(row, columns, EVENT_OPAQUE, EVENT_TINTS)

    def _labels(self, rect: QtCore.QRect, spc: float, first: float) -> list:
        """(x, y, width, text) of the labelled annotations on screen, none when more than MAX_LABELS are."""
        width = rect.width()
        visible = self._spans.overlapping(first * spc, (first + width) * spc)
        if not len(visible) or len(visible) > MAX_LABELS:
            return []
        c0, c1 = span_columns(self._a_starts[visible] / spc - first, self._a_stops[visible] / spc - first, width)
        left, y, items = rect.left() + 3.0, rect.top() + 2, self._items
        return [(left + c0v, y, float(c1v - c0v), items[k].label)
                for k, c0v, c1v in zip(visible.tolist(), c0.tolist(), c1.tolist()) if items[k].label]

    def _paint_labels(self, painter: QtGui.QPainter, labels: list) -> None:
        """Labels as cached pictures on screen (a few µs each), as vector text when exporting."""
        if not labels:
            return
        if self._label_font is None:
            self._label_font = QtGui.QFont()
            self._label_font.setPointSizeF(8.0)
            self._metrics = QtGui.QFontMetrics(self._label_font)
        if painter.device() is not self.view:
            self._draw_label_text(painter, labels)
            return
        ratio = self.view.devicePixelRatioF()
        if len(self._sprites) > MAX_SPRITES:
            self._sprites.clear()
            self._text_widths.clear()
        keys = [self._sprite_key(text, span, ratio) for _x, _y, span, text in labels]
        missing = [key for key in dict.fromkeys(keys) if key not in self._sprites]
        if missing:
            self._render_sprites(missing, ratio)
        sprites = self._sprites
        for (x, y, _span, _text), key in zip(labels, keys, strict=True):
            painter.drawImage(QtCore.QPointF(x - 2, y), sprites[key])

    def _sprite_key(self, text: str, span: float, ratio: float) -> tuple[str, int | None, float]:
        """(text, the width it is elided to or None when it fits a band `span` wide, pixel ratio)."""
        width = self._text_widths.get(text)
        if width is None:
            width = self._text_widths[text] = self._metrics.horizontalAdvance(text)
        limit = int(max(span - 6, 60))
        return text, None if width <= limit else limit, ratio

    def _render_sprites(self, keys: list[tuple[str, int | None, float]], ratio: float) -> None:
        """Label pictures for `keys`, drawn side by side with one painter, then cut apart."""
        metrics = self._metrics
        shown = [text if limit is None else metrics.elidedText(text, QtCore.Qt.TextElideMode.ElideRight, limit)
                 for text, limit, _ in keys]
        widths = [math.ceil((metrics.horizontalAdvance(text) + 4) * ratio) for text in shown]
        height = math.ceil(metrics.height() * ratio)
        sheet = QtGui.QImage(sum(widths), height, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
        sheet.setDevicePixelRatio(ratio)
        sheet.fill(LABEL_FILL)
        sheet_painter = QtGui.QPainter(sheet)
        sheet_painter.setFont(self._label_font)
        sheet_painter.setPen(LABEL_TEXT)
        left = 0
        for text, width in zip(shown, widths, strict=True):
            sheet_painter.drawText(QtCore.QPointF(left / ratio + 2, metrics.ascent()), text)
            left += width
        sheet_painter.end()
        left = 0
        for key, width in zip(keys, widths, strict=True):
            sprite = sheet.copy(left, 0, width, height)
            sprite.setDevicePixelRatio(ratio)
            self._sprites[key] = sprite
            left += width

    def _draw_label_text(self, painter: QtGui.QPainter, labels: list) -> None:
        painter.setFont(self._label_font)
        metrics = self._metrics
        height = metrics.height()
        for x, y, span, text in labels:
            shown = metrics.elidedText(text, QtCore.Qt.TextElideMode.ElideRight, int(max(span - 6, 60)))
            box = QtCore.QRectF(x - 2, y, metrics.horizontalAdvance(shown) + 4, height)
            painter.fillRect(box, LABEL_FILL)
            painter.setPen(LABEL_TEXT)
            painter.drawText(box, QtCore.Qt.AlignmentFlag.AlignCenter, shown)

    def _paint_selection(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        if self.selected_id is None or self.annotations is None or self._drag is not None:
            return
        annotation = self.annotations[self.selected_id]
        stop = annotation.start if annotation.stop is None else annotation.stop
        self._paint_span(painter, rect, annotation.start, stop, SELECTED_EDGE, fill=False)

    def _paint_drag(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        drag = self._drag
        if drag is None:
            return
        start, stop = sorted((drag.anchor, drag.current))
        self._paint_span(painter, rect, start, stop, SELECTED_EDGE, fill=True)

    def _paint_span(self, painter: QtGui.QPainter, rect: QtCore.QRect, start: float, stop: float,
                    colour: QtGui.QColor, fill: bool) -> None:
        x0, x1 = self.x_of(start, rect), self.x_of(stop, rect)
        span = QtCore.QRectF(x0, rect.top(), max(x1 - x0, 1.0), rect.height())
        if fill:
            painter.fillRect(span, QtGui.QColor(colour.red(), colour.green(), colour.blue(), 40))
        painter.setPen(QtGui.QPen(colour, 2))
        painter.drawLine(QtCore.QPointF(x0, rect.top()), QtCore.QPointF(x0, rect.bottom()))
        painter.drawLine(QtCore.QPointF(x1, rect.top()), QtCore.QPointF(x1, rect.bottom()))

    # -- hit testing ----------------------------------------------------------------------------------
    def events_near(self, x: float, pixels: float = 3.0) -> np.ndarray:
        """The events drawn within `pixels` of x (a band counts when x is inside it)."""
        rect = self.view.plot_rect()
        lo, hi = self.sample_at(x - pixels, rect), self.sample_at(x + pixels + 1, rect)
        events = self.index.in_window(int(np.floor(lo)), int(np.ceil(hi)))
        if self.hidden_channels and len(events):
            events = events[~np.isin(events["channel"].astype(str), list(self.hidden_channels))]
        return events

    def _near(self, x: float) -> tuple[np.ndarray, float, float]:
        """(rows of the annotations within EDGE_GRAB_PX of x, the sample at x, samples per pixel)."""
        rect = self.view.plot_rect()
        spc = self._mapping(rect)[0]
        sample = self.sample_at(x, rect)
        slack = EDGE_GRAB_PX * spc
        return self._spans.overlapping(sample - slack - 1, sample + slack + 1), sample, spc

    def annotation_at(self, x: float) -> Annotation | None:
        """The shortest annotation under x (instants within a few pixels), or None."""
        if not len(self._a_starts):
            return None
        rows, sample, spc = self._near(x)
        starts, stops = self._a_starts[rows], self._a_stops[rows]
        inside = np.where(starts == stops, np.abs(starts - sample) <= EDGE_GRAB_PX * spc,
                          (starts <= sample) & (sample < stops))
        rows = rows[inside]
        if not len(rows):
            return None
        return self._items[int(rows[np.argmin(self._a_stops[rows] - self._a_starts[rows])])]

    def edge_at(self, x: float) -> tuple[Annotation, str] | None:
        """(annotation, 'start' or 'stop') whose edge is within a few pixels of x; ranges only."""
        if not len(self._a_starts):
            return None
        rows, sample, spc = self._near(x)
        rows = rows[self._a_stops[rows] > self._a_starts[rows]]
        if not len(rows):
            return None
        to_start = np.abs(self._a_starts[rows] - sample) / spc
        to_stop = np.abs(self._a_stops[rows] - sample) / spc
        k_start, k_stop = int(np.argmin(to_start)), int(np.argmin(to_stop))
        best = min((to_start[k_start], int(rows[k_start]), "start"), (to_stop[k_stop], int(rows[k_stop]), "stop"))
        if best[0] > EDGE_GRAB_PX:
            return None
        return self._items[best[1]], best[2]

    def tooltip_at(self, pos: QtCore.QPointF) -> str:
        """What is under the mouse: nearby events (time, channel, label, duration) and annotations."""
        if self.view.recording is None or not self.view.plot_rect().contains(pos.toPoint()):
            return ""
        rate = self.view.sampling_rate
        lines = []
        events = self.events_near(pos.x())
        for event in events[:MAX_TOOLTIP_EVENTS]:
            duration = f", {int(event['duration']) / rate * 1000:.4g} ms" if event["duration"] else ""
            label = f" {event['label']}" if event["label"] else ""
            lines.append(f"{int(event['sample']) / rate:.4f} s  {event['channel']}{label}{duration}")
        if len(events) > MAX_TOOLTIP_EVENTS:
            lines.append(f"… {len(events) - MAX_TOOLTIP_EVENTS} more events")
        annotation = self.annotation_at(pos.x())
        if annotation is not None:
            span = (f"{annotation.start / rate:.4f} s" if annotation.stop is None
                    else f"{annotation.start / rate:.4f}–{annotation.stop / rate:.4f} s")
            note = f"\n{annotation.note}" if annotation.note else ""
            lines.append(f"annotation “{annotation.label}” {span}{note}")
        return "\n".join(lines)

    # -- interaction ----------------------------------------------------------------------------------
    def _select(self, annotation_id: str | None) -> None:
        if annotation_id == self.selected_id:
            return
        self.selected_id = annotation_id
        for listener in list(self.selection_listeners):
            listener(annotation_id)
        self.view.update()

    def select(self, annotation_id: str | None) -> None:
        """Select an annotation (the panel's current row); Delete and rename act on it."""
        self._select(annotation_id)

    def _clamped_sample(self, x: float) -> int:
        duration = self.view.recording.duration if self.view.recording is not None else 0
        return int(np.clip(round(self.sample_at(x)), 0, max(duration, 0)))

    def press(self, pos: QtCore.QPointF, modifiers=QtCore.Qt.KeyboardModifier.NoModifier) -> bool:
        """A left press: start creating (Shift or annotate mode) or moving an edge; True if used."""
        if self.annotations is None or self.view.recording is None:
            return False
        if not self.view.plot_rect().contains(pos.toPoint()):
            return False
        if self.annotate_mode or bool(modifiers & self.create_modifier):
            sample = self._clamped_sample(pos.x())
            self._drag = _Drag("create", sample, sample)
            self.view.update()
            return True
        edge = self.edge_at(pos.x())
        if edge is not None:
            annotation, which = edge
            fixed = annotation.stop if which == "start" else annotation.start
            moving = annotation.start if which == "start" else annotation.stop
            self._drag = _Drag("edge", fixed, moving, annotation.id, which)
            self._select(annotation.id)
            self.view.update()
            return True
        under = self.annotation_at(pos.x())
        self._select(under.id if under is not None else None)
        return False

    def move(self, pos: QtCore.QPointF) -> bool:
        """Follow a drag (True), or show what is under the mouse in a tooltip (False)."""
        if self._drag is not None:
            self._drag.current = self._clamped_sample(pos.x())
            self.view.update()
            return True
        near_edge = self.annotations is not None and self.edge_at(pos.x()) is not None \
            and self.view.plot_rect().contains(pos.toPoint())
        if near_edge:
            self.view.setCursor(QtCore.Qt.CursorShape.SizeHorCursor)
        else:
            self.view.unsetCursor()
        if self.show_tooltips:
            text = self.tooltip_at(pos)
            if text:
                QtWidgets.QToolTip.showText(self.view.mapToGlobal(pos.toPoint()), text, self.view)
            else:
                QtWidgets.QToolTip.hideText()
        return False

    def release(self, pos: QtCore.QPointF) -> bool:
        """End a drag: add the new annotation or move the edge (one undo step); True if used."""
        drag, self._drag = self._drag, None
        if drag is None:
            return False
        drag.current = self._clamped_sample(pos.x())
        start, stop = sorted((int(drag.anchor), int(drag.current)))
        if drag.kind == "create":
            too_short = abs(self.x_of(drag.current) - self.x_of(drag.anchor)) < 3
            annotation = self.annotations.add(start, None if too_short else stop, self.default_label)
            self._select(annotation.id)
        elif (start, stop) != self._span_of(drag.annotation_id):
            self.annotations.update(drag.annotation_id, start=start, stop=stop)
        self.view.update()
        return True

    def _span_of(self, annotation_id: str) -> tuple[int, int | None]:
        annotation = self.annotations[annotation_id]
        return annotation.start, annotation.stop

    def cancel_drag(self) -> None:
        self._drag = None
        self.view.update()

    def double_click(self, pos: QtCore.QPointF) -> bool:
        """Rename the annotation under the mouse; True if there was one."""
        if self.annotations is None or not self.view.plot_rect().contains(pos.toPoint()):
            return False
        annotation = self.annotation_at(pos.x())
        if annotation is None:
            return False
        self._select(annotation.id)
        self.rename(annotation.id)
        return True

    def rename(self, annotation_id: str) -> None:
        label = self.ask_text("Rename the annotation", self.annotations[annotation_id].label)
        if label is not None and label != self.annotations[annotation_id].label:
            self.annotations.update(annotation_id, label=label)

    def key(self, key) -> bool:
        """Delete/Backspace removes the selected annotation, Escape cancels a drag; True if used."""
        Key = QtCore.Qt.Key
        if key == Key.Key_Escape and self._drag is not None:
            self.cancel_drag()
            return True
        if key in (Key.Key_Delete, Key.Key_Backspace) and self.selected_id is not None \
                and self.annotations is not None:
            self.annotations.remove(self.selected_id)
            return True
        return False

    def _ask_text(self, title: str, current: str) -> str | None:
        text, ok = QtWidgets.QInputDialog.getText(self.view, title, "Label", text=current)
        return text if ok else None

    def detach(self) -> None:
        """Stop listening to the annotations (before the overlay is dropped)."""
        self.set_annotations(None)

