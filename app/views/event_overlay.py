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

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from app.model.annotations import Annotation, Annotations
from app.model.events import EventIndex
from app.views.event_labels import AnnotationLabels
# the marker geometry is re-exported: tests and callers import it from here
from app.views.event_markers import (  # noqa: F401
    ANNOTATION_EDGE_PIXEL, ANNOTATION_FILL_PIXEL, EDGE_GRAB_PX, EVENT_OPAQUE, EVENT_PALETTE, EVENT_TINTS,
    MAX_TOOLTIP_EVENTS, SELECTED_EDGE, SpanIndex, coverage, event_columns, marker_columns,
    paint_annotations, paint_events, top_per_column,
)


@dataclass
class _Drag:
    kind: str                   # "create" or "edge"
    anchor: float               # sample where the drag started (create) or the fixed edge (edge)
    current: float
    annotation_id: str | None = None
    edge: str | None = None     # "start" or "stop"


class EventOverlay(AnnotationLabels):
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
        return self.view.column_grid(rect)

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
        rate = self.view.viewport.sampling_rate
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
        duration = self.view.viewport.total
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

