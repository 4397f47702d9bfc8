"""What is painted over the traces, one small item each, all behind one `Overlay` protocol.

An overlay paints itself on the view's painter inside the plot rectangle and is offered the
mouse and keys (`press`, `move`, `release`, `double_click`, `key`), returning True when it used
the event. The time axis, segment marks, channel labels, scale bar, status badge and the
cursor/measure tool are overlays; so is the events overlay (`app.views.event_overlay`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol

import numpy as np
from PyQt6 import QtCore, QtGui

if TYPE_CHECKING:
    from app.views.trace.canvas import TraceView

# the top margin holds the status badge (what the picture is), above the first trace, never over it
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 60, 18, 30
MARKED = "#b26a00"     # the label of a channel the bad-channel check flagged
LABEL_PAD = 8          # the channel-label picture reaches this far past the plot, so no label is cut in half


class Overlay(Protocol):
    def paint(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None: ...
    def press(self, pos: QtCore.QPointF, modifiers) -> bool: ...
    def move(self, pos: QtCore.QPointF) -> bool: ...
    def release(self, pos: QtCore.QPointF) -> bool: ...
    def double_click(self, pos: QtCore.QPointF) -> bool: ...
    def key(self, key: int) -> bool: ...


class Decoration:
    """An overlay of the trace view that ignores input unless it says otherwise."""

    def __init__(self, view: TraceView):
        self.view = view

    def paint(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        raise NotImplementedError

    def press(self, pos: QtCore.QPointF, modifiers) -> bool:
        return False

    def move(self, pos: QtCore.QPointF) -> bool:
        return False

    def release(self, pos: QtCore.QPointF) -> bool:
        return False

    def double_click(self, pos: QtCore.QPointF) -> bool:
        return False

    def key(self, key: int) -> bool:
        return False


def nice_step(span: float, target: int) -> float:
    """A 1-2-5 step that cuts `span` into about `target` pieces."""
    if span <= 0:
        return 1.0
    raw = span / max(target, 1)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


def format_seconds(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step))) if step > 0 else 0
    return f"{value:.{min(decimals, 6)}f}"


def time_ticks(start: float, stop: float, step: float, slack: float = 0.0) -> list[float]:
    """Multiples of `step` in [start - slack, stop + slack], each counted from its index (no sum
    of steps drifting past `stop` and losing the last tick); `slack` absorbs the sub-pixel
    difference between the window's end and the last pixel column's time."""
    if step <= 0 or stop < start:
        return []
    first = math.ceil((start - slack) / step - 1e-9)
    last = math.floor((stop + slack) / step + 1e-9)
    return [k * step for k in range(first, last + 1)]


def channel_label(names, channel: int) -> str:
    """The name `names` gives `channel`, else "ch N"."""
    return str(names[channel]) if 0 <= channel < len(names) else f"ch {channel}"


def small_font() -> QtGui.QFont:
    font = QtGui.QFont()
    font.setPointSizeF(8.0)
    return font


class SegmentMarks(Decoration):
    """A dashed line where each stream (segment) of the recording starts."""

    def paint(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        painter.setPen(QtGui.QPen(self.view.ink("segment"), 1, QtCore.Qt.PenStyle.DashLine))
        for segment in self.view.recording.segments[1:]:
            x = self.view.x_of(segment.start, rect)
            if rect.left() <= x <= rect.right():
                painter.drawLine(QtCore.QPointF(x, rect.top()), QtCore.QPointF(x, rect.bottom()))
                painter.drawText(QtCore.QPointF(x + 3, rect.top() + 12), f"segment {segment.index}")


class TimeAxis(Decoration):
    """Seconds under the plot, on a 1-2-5 step."""

    def paint(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        view = self.view
        rate = view.sampling_rate
        start, stop = view.sample_at(rect.left()) / rate, view.sample_at(rect.right() + 1) / rate
        step = nice_step(stop - start, max(rect.width() // 110, 2))
        painter.setPen(QtGui.QPen(view.ink("axis"), 1))
        painter.drawLine(rect.left(), rect.bottom() + 1, rect.right(), rect.bottom() + 1)
        painter.setFont(small_font())
        pixel = (stop - start) / max(rect.width(), 1)
        for tick in time_ticks(start, stop, step, slack=0.5 * pixel):
            x = view.x_of(tick * rate, rect)
            painter.drawLine(QtCore.QPointF(x, rect.bottom() + 1), QtCore.QPointF(x, rect.bottom() + 5))
            painter.drawText(QtCore.QRectF(x - 50, rect.bottom() + 6, 100, 16),
                             QtCore.Qt.AlignmentFlag.AlignHCenter, format_seconds(tick, step))
        painter.drawText(QtCore.QRectF(0, rect.bottom() + 6, rect.left() - 16, 16),
                         QtCore.Qt.AlignmentFlag.AlignRight, "time (s)")


class ChannelLabels(Decoration):
    """Each row's channel name (the file's, else "ch N"; elided to the margin) and its gain, left of
    the row; hovering shows the full name and index, a click selects the channel, Ctrl+click toggles
    it. The labels change only with the channels, spacing or selection: drawn once, then blitted."""

    def __init__(self, view: TraceView):
        super().__init__(view)
        self._cache: tuple | None = None        # (key, QImage)

    def paint(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        view = self.view
        channels = view.frame.channels if view.frame is not None else np.asarray(view.visible_rows())
        key = (id(view.recording), np.asarray(channels).tobytes(), view.spacing(), tuple(sorted(view.selected)),
               rect.height(), view.devicePixelRatioF(), tuple(sorted(view.channel_marks)), view.dark, view.left_margin())
        if painter.device() is not view:          # export: vector text, the cache kept
            self._draw(painter, channels, rect.top())
            return
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._image(channels, rect))
        painter.drawImage(QtCore.QPointF(0, rect.top() - LABEL_PAD), self._cache[1])

    def _image(self, channels, rect: QtCore.QRect) -> QtGui.QImage:
        ratio = self.view.devicePixelRatioF()
        image = QtGui.QImage(int(self.view.left_margin() * ratio), int((rect.height() + 2 * LABEL_PAD) * ratio),
                             QtGui.QImage.Format.Format_ARGB32_Premultiplied)
        image.setDevicePixelRatio(ratio)
        image.fill(QtCore.Qt.GlobalColor.transparent)
        label_painter = QtGui.QPainter(image)
        self._draw(label_painter, channels, LABEL_PAD)
        label_painter.end()
        return image

    def _draw(self, painter: QtGui.QPainter, channels, top: float) -> None:
        view = self.view
        spacing, gains, selected = view.spacing(), view.channel_gains, view.selected
        names = view.recording.channel_names() if view.recording is not None else []
        painter.setFont(small_font())
        metrics = QtGui.QFontMetrics(painter.font())
        for row in range(0, len(channels), max(1, math.ceil(12 / spacing))):
            channel = int(channels[row])
            y = top + (row + 0.5) * spacing
            gain = gains[channel] if len(gains) else 1.0
            marked = channel in view.channel_marks
            painter.setPen(QtGui.QColor("#e0441b") if channel in selected else QtGui.QColor(MARKED) if marked
                           else view.ink("text"))
            suffix = ("" if gain == 1 else f" ×{gain:g}") + (" ⚠" if marked else "")
            room = view.left_margin() - 8 - metrics.horizontalAdvance(suffix)
            text = metrics.elidedText(channel_label(names, channel), QtCore.Qt.TextElideMode.ElideRight,
                                      room) + suffix
            painter.drawText(QtCore.QRectF(0, y - 8, view.left_margin() - 6, 16),
                             QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter, text)

    def tooltip_at(self, pos: QtCore.QPointF) -> str:
        """'name (index N)' of the label under `pos`, or '' off the labels."""
        view = self.view
        if view.recording is None or pos.x() >= view.left_margin() or view.lane_at(pos.y()) is not None:
            return ""
        channel = view.channel_at(pos.y())
        if channel is None:
            return ""
        mark = view.channel_marks.get(channel)
        return f"{view.recording.channel_name(channel)} (index {channel})" + (f" — {mark}" if mark else "")

    def move(self, pos: QtCore.QPointF) -> bool:
        text = self.tooltip_at(pos)
        if text != self.view.toolTip():
            self.view.setToolTip(text)
        return False

    def press(self, pos: QtCore.QPointF, modifiers) -> bool:
        view = self.view
        if view.recording is None or pos.x() >= view.left_margin():
            return False
        channel = view.channel_at(pos.y())
        if channel is not None:
            selected = view.selected
            if modifiers & QtCore.Qt.KeyboardModifier.ControlModifier:
                view.set_selected(selected ^ {channel})
            else:
                view.set_selected(set() if selected == {channel} else {channel})
        return True


class ScaleBar(Decoration):
    """Amplitude bar in the right margin, beside the traces and never over them (the time axis
    gives the time scale)."""

    def paint(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        view = self.view
        units, spacing, band = view.lane_units, view.spacing(), view.main_height()
        amplitude = nice_step(units * 0.8, 1)
        height = min(amplitude * spacing / units, band - 20)
        x, bottom = rect.right() + 10, rect.top() + band - 1
        painter.setPen(QtGui.QPen(view.ink("strong"), 2))
        painter.drawLine(QtCore.QPointF(x, bottom), QtCore.QPointF(x, bottom - height))
        painter.drawLine(QtCore.QPointF(x - 3, bottom - height), QtCore.QPointF(x + 3, bottom - height))
        painter.drawLine(QtCore.QPointF(x - 3, bottom), QtCore.QPointF(x + 3, bottom))
        painter.setFont(small_font())
        painter.setPen(view.ink("text"))
        painter.drawText(QtCore.QRectF(x + 5, bottom - height - 16, MARGIN_RIGHT - 16, 16),
                         QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignBottom,
                         f"{amplitude:g}")
        painter.drawText(QtCore.QRectF(x + 5, bottom - height, MARGIN_RIGHT - 16, 16),
                         QtCore.Qt.AlignmentFlag.AlignLeft, view.recording.units)


class StatusBadge(Decoration):
    """What the picture is: loading, a preview, a summary, filtered, referenced; written in the top
    margin, above the first trace and never over it."""

    def notes(self) -> list[str]:
        view, frame, viewport = self.view, self.view.frame, self.view.viewport
        notes = []
        if frame is None:
            notes.append("loading…")
        elif frame.mode == "preview":
            notes.append("preview (summary not built yet)")
        elif frame.approximate:
            notes.append("summary of unfiltered data")
        if viewport.highpass and view.source is not None and not view.source.filter_applies():
            notes.append(f"high-pass off: {view.cutoff:g} Hz is above this recording's Nyquist "
                         f"({view.source.sampling_rate / 2:g} Hz)")
        elif viewport.highpass:
            notes.append(f"high-pass {view.cutoff:g} Hz")
        if viewport.car:
            notes.append("CAR")
        return notes

    def text_rect(self, rect: QtCore.QRect) -> QtCore.QRectF:
        """Where the badge is written: the top margin over the plot, clear of the traces."""
        return QtCore.QRectF(rect.left(), 0, rect.width(), rect.top())

    def paint(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        notes = self.notes()
        if notes:
            painter.setFont(small_font())
            painter.setPen(self.view.ink("badge"))
            painter.drawText(self.text_rect(rect), QtCore.Qt.AlignmentFlag.AlignLeft
                             | QtCore.Qt.AlignmentFlag.AlignVCenter, " · ".join(notes))


class CursorMeasure(Decoration):
    """A vertical cursor line under the mouse; a left drag measures dt and dV."""

    def __init__(self, view: TraceView):
        super().__init__(view)
        self.cursor: QtCore.QPointF | None = None
        self.measure: tuple[QtCore.QPointF, QtCore.QPointF] | None = None

    def paint(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        if self.measure is not None:
            start, stop = self.measure
            painter.setPen(QtGui.QPen(QtGui.QColor("#e0441b"), 1, QtCore.Qt.PenStyle.DashLine))
            painter.drawRect(QtCore.QRectF(start, stop).normalized())
            dt, dv = self.view.measure(start, stop)
            painter.drawText(stop + QtCore.QPointF(8, -6), f"dt = {dt * 1000:.3g} ms   dV = {dv:.4g} "
                             f"{self.view.recording.units}")
        elif self.cursor is not None and rect.contains(self.cursor.toPoint()):
            painter.setPen(QtGui.QPen(QtGui.QColor(224, 68, 27, 120), 1))
            painter.drawLine(QtCore.QPointF(self.cursor.x(), rect.top()),
                             QtCore.QPointF(self.cursor.x(), rect.bottom()))

    def press(self, pos: QtCore.QPointF, modifiers) -> bool:
        if self.view.recording is None:
            return False
        self.measure = (pos, pos)
        return True

    def move(self, pos: QtCore.QPointF) -> bool:
        self.cursor = pos
        if self.measure is not None:
            self.measure = (self.measure[0], pos)
        return False

    def release(self, pos: QtCore.QPointF) -> bool:
        if self.measure is not None:
            start, stop = self.measure
            if (stop - start).manhattanLength() < 3:
                self.measure = None
        return False

    def double_click(self, pos: QtCore.QPointF) -> bool:
        self.measure = None
        return False
