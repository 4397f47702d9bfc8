"""Event markers and annotations drawn over the trace view, and the mouse work on annotations.

`EventOverlay` paints on the TraceView's painter after the traces: a thin line per event (one
per pixel column and event channel, however many events fall in it), a shaded band for events
with a duration, and labelled translucent bands for the user's annotations. It reads the view's
state only (`frame.spc`, `frame.first_column`, `t0`, `window`, `plot_rect()`), queries the
visible window by binary search, and keeps the painter paths of the last (window, width).

The TraceView forwards its mouse and key events to `press`, `move`, `release`, `double_click`
and `key`; each says whether it used the event. Shift-drag (or any drag in annotate mode)
creates an annotation, dragging an edge moves it, Delete removes the selected one and a
double-click renames it. Every edit goes through `Annotations`, so undo/redo and the sidecar
see it.
"""

from __future__ import annotations

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
EDGE_GRAB_PX = 4.0
MAX_LABELS = 200
MAX_TOOLTIP_EVENTS = 8


# -- pixel geometry (pure numpy) ----------------------------------------------------------------------
def span_columns(x0: np.ndarray, x1: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel spans [x0, x1) as whole columns [c0, c1), at least one column wide, clipped to the plot."""
    c0 = np.floor(x0).astype(np.int64)
    c1 = np.maximum(np.ceil(x1).astype(np.int64), c0 + 1)
    return np.clip(c0, 0, width), np.clip(c1, 0, width)


def coverage(c0: np.ndarray, c1: np.ndarray, width: int) -> np.ndarray:
    """Which of `width` columns some span [c0, c1) covers (a difference array: O(spans + width))."""
    steps = np.bincount(c0, minlength=width + 1)[:width + 1] - np.bincount(c1, minlength=width + 1)[:width + 1]
    return np.cumsum(steps[:width]) > 0


def marker_columns(starts: np.ndarray, durations: np.ndarray, codes: np.ndarray, n_codes: int,
                   first_column: float, spc: float, width: int):
    """Where to draw events on a `width`-pixel plot whose column 0 is grid column `first_column`.

    Events narrower than a pixel become lines: (codes, columns), unique per (code, column), so
    a zoomed-out view of a million events draws at most n_codes * width lines. Longer events
    become bands: (codes, c0, c1) whole-column spans clipped to the plot.
    """
    x0 = starts / spc - first_column
    x1 = (starts + np.maximum(durations, 0)) / spc - first_column
    wide = (x1 - x0) >= 1.0
    column = np.floor(x0[~wide]).astype(np.int64)
    inside = (column >= 0) & (column < width)
    table = np.zeros(max(n_codes, 1) * width, dtype=bool)
    table[codes[~wide][inside] * width + column[inside]] = True
    cells = np.flatnonzero(table)
    lines = (cells // width, cells % width)
    keep = wide & (x1 > 0) & (x0 < width)
    c0, c1 = span_columns(x0[keep], x1[keep], width)
    return lines, (codes[keep], c0, c1)


def premultiplied(colour: QtGui.QColor) -> int:
    """`colour` as one ARGB32-premultiplied pixel value."""
    alpha = colour.alpha()
    scale = alpha / 255.0
    return (alpha << 24) | (round(colour.red() * scale) << 16) | (round(colour.green() * scale) << 8) \
        | round(colour.blue() * scale)


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
        self._starts = np.ascontiguousarray(events["sample"], dtype=np.int64)
        self._durations = np.ascontiguousarray(events["duration"], dtype=np.int64)
        lookup = {name: k for k, name in enumerate(self.channels)}
        self._codes = np.fromiter((lookup[str(c)] for c in events["channel"]), dtype=np.int64, count=len(events))
        self._longest = int(self._durations.max()) if len(events) else 0
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
        self.hidden_channels = {str(c) for c in channels}
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
        (built with numpy, cached per window and width) tiled down the rect as a brush: one draw
        call however many events and annotations are visible.
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
        row = np.zeros(rect.width(), dtype=np.uint32)
        labels = self._build_annotations(row, spc, first)
        self._build_events(row, spc, first)
        image = brush = None
        if row.any():
            image = QtGui.QImage(row.data, len(row), 1, 4 * len(row), QtGui.QImage.Format.Format_ARGB32_Premultiplied)
            brush = QtGui.QBrush(image)         # tiled down the rect: 3x cheaper than stretching the row
        labels = [(x + rect.left(), rect.top() + 2, span, text) for x, span, text in labels]
        return {"row": row, "image": image, "brush": brush, "labels": labels}

    def _visible_events(self, s0: float, s1: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(starts, durations, codes) of the shown channels' events overlapping [s0, s1), by binary search."""
        lo = int(np.searchsorted(self._starts, s0 - self._longest, side="left"))
        hi = int(np.searchsorted(self._starts, s1, side="right"))
        codes = self._codes[lo:hi]
        if not self.hidden_channels:
            return self._starts[lo:hi], self._durations[lo:hi], codes
        hidden = [k for k, name in enumerate(self.channels) if name in self.hidden_channels]
        shown = ~np.isin(codes, hidden)
        rows = np.flatnonzero(shown) + lo
        return self._starts[rows], self._durations[rows], codes[shown]

    def _build_events(self, row: np.ndarray, spc: float, first: float) -> None:
        """Event bands (tinted) then lines and band onsets (opaque) into `row`, a colour per channel."""
        if not len(self._starts):
            return
        width = len(row)
        starts, durations, codes = self._visible_events(first * spc, (first + width) * spc)
        (line_codes, columns), (band_codes, c0, c1) = marker_columns(
            starts, durations, codes, len(self.channels), first, spc, width)
        opaque = np.array([premultiplied(QtGui.QColor(c)) for c in EVENT_PALETTE], dtype=np.uint32)
        tints = np.array([premultiplied(_with_alpha(c, 40)) for c in EVENT_PALETTE], dtype=np.uint32)
        for code in np.unique(band_codes).tolist():
            mine = band_codes == code
            row[coverage(c0[mine], c1[mine], width)] = tints[code % len(tints)]
        onsets = c0 < width
        row[c0[onsets]] = opaque[band_codes[onsets] % len(opaque)]
        row[columns] = opaque[line_codes % len(opaque)]

    def _build_annotations(self, row: np.ndarray, spc: float, first: float) -> list:
        """Annotation fills and edges into `row`; the labels to draw as (x, width, text)."""
        if not len(self._a_starts):
            return []
        width = len(row)
        s0, s1 = first * spc, (first + width) * spc
        visible = np.flatnonzero((self._a_starts < s1) & (np.maximum(self._a_stops, self._a_starts + 1) > s0))
        if not len(visible):
            return []
        x0 = self._a_starts[visible] / spc - first
        x1 = self._a_stops[visible] / spc - first
        c0, c1 = span_columns(x0, x1, width)
        ranged = (x1 - x0) >= 1.0
        row[coverage(c0[ranged], c1[ranged], width)] = premultiplied(ANNOTATION_FILL)
        row[c0[(x0 >= 0) & (x0 < width)]] = premultiplied(ANNOTATION_EDGE)
        row[(c1 - 1)[ranged & (x1 > 0) & (x1 <= width)]] = premultiplied(ANNOTATION_EDGE)
        if len(visible) > MAX_LABELS:
            return []
        return [(float(c0v) + 3, float(c1v - c0v), self._items[k].label)
                for k, c0v, c1v in zip(visible.tolist(), c0.tolist(), c1.tolist()) if self._items[k].label]

    def _paint_labels(self, painter: QtGui.QPainter, labels: list) -> None:
        if not labels:
            return
        font = QtGui.QFont()
        font.setPointSizeF(8.0)
        painter.setFont(font)
        metrics = QtGui.QFontMetrics(font)
        height = metrics.height()
        for x, y, span, text in labels:
            shown = metrics.elidedText(text, QtCore.Qt.TextElideMode.ElideRight, int(max(span - 6, 60)))
            box = QtCore.QRectF(x - 2, y, metrics.horizontalAdvance(shown) + 4, height)
            painter.fillRect(box, QtGui.QColor(255, 248, 225, 220))
            painter.setPen(QtGui.QColor("#6b4500"))
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

    def annotation_at(self, x: float) -> Annotation | None:
        """The shortest annotation under x (instants within a few pixels), or None."""
        if not len(self._a_starts):
            return None
        rect = self.view.plot_rect()
        slack = EDGE_GRAB_PX * self._mapping(rect)[0]
        sample = self.sample_at(x, rect)
        instant = self._a_starts == self._a_stops
        inside = np.where(instant, np.abs(self._a_starts - sample) <= slack,
                          (self._a_starts <= sample) & (sample < self._a_stops))
        rows = np.flatnonzero(inside)
        if not len(rows):
            return None
        return self._items[int(rows[np.argmin(self._a_stops[rows] - self._a_starts[rows])])]

    def edge_at(self, x: float) -> tuple[Annotation, str] | None:
        """(annotation, 'start' or 'stop') whose edge is within a few pixels of x; ranges only."""
        if not len(self._a_starts):
            return None
        rect = self.view.plot_rect()
        spc = self._mapping(rect)[0]
        sample = self.sample_at(x, rect)
        ranged = self._a_stops > self._a_starts
        to_start = np.where(ranged, np.abs(self._a_starts - sample) / spc, np.inf)
        to_stop = np.where(ranged, np.abs(self._a_stops - sample) / spc, np.inf)
        k_start, k_stop = int(np.argmin(to_start)), int(np.argmin(to_stop))
        best = min((to_start[k_start], k_start, "start"), (to_stop[k_stop], k_stop, "stop"))
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


def _with_alpha(name: str, alpha: int) -> QtGui.QColor:
    colour = QtGui.QColor(name)
    colour.setAlpha(alpha)
    return colour
