"""Sorted spikes drawn over the traces: a short coloured mark on each spike's peak channel.

`SpikeOverlay` implements the trace overlay protocol (`decorations.Overlay`). A mark spans the
spike's waveform in time (PRE_MS before to POST_MS after the spike, at least MIN_MARK_PX wide) and
most of its channel's row, in its unit's colour, half transparent so the trace shows through.
Hidden units (`UnitsDisplay`) are not drawn, nor spikes off screen.

The marks are rasterised with numpy into a ring of columns like the traces' (`ring.py`): grid
column ``c`` lives in buffer column ``c % width``, so a scroll by whole columns draws only the
spikes of the uncovered columns, and a frame costs one binary search and one image blit however
many spikes are on screen. The new columns are drawn as soon as the view asks for a window
(`prepare`, on `windowChanged`), while the traces are computed on their worker, so a scroll's
frame waits only for the blit. Anything else that changes the picture (zoom, rows, height, hide/solo)
redraws it whole.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PyQt6 import QtCore, QtGui

from app.model.traces import stable_spc
from app.model.units_display import UnitsDisplay, row_lookup
from app.views.trace.decorations import Decoration
from app.views.trace.ring import paint_ring

PRE_MS, POST_MS = 0.5, 1.0          # the mark covers the waveform around the spike
MIN_MARK_PX = 2
MAX_HALF_HEIGHT_PX = 9.0
ROW_FILL = 0.42                      # half the mark's height, as a fraction of the row spacing
ALPHA = 0xB4
HOVER_PX = 4                         # a spike within this many pixels is under the mouse


def premultiplied(colours: np.ndarray, alpha: int = ALPHA) -> np.ndarray:
    """0xRRGGBB colours as premultiplied ARGB32 pixels of opacity `alpha`."""
    colours = colours.astype(np.uint32)
    channels = [((colours >> shift) & 0xFF) * alpha // 255 for shift in (16, 8, 0)]
    return (np.uint32(alpha) << 24) | (channels[0] << 16) | (channels[1] << 8) | channels[2]


def column_slices(g0: int, g1: int, width: int) -> list[slice]:
    """Buffer columns of grid columns [g0, g1) in a ring `width` wide (at most two pieces)."""
    if g1 - g0 >= width:
        return [slice(0, width)]
    a, b = g0 % width, g1 % width
    if g1 <= g0:
        return []
    return [slice(a, b)] if a < b else [slice(a, width), slice(0, b)]


class SpikeOverlay(Decoration):
    """Paints the shown units' spikes over a TraceView; reports the spike under the mouse."""

    def __init__(self, view):
        super().__init__(view)
        self.display: UnitsDisplay | None = None
        self.hover_listeners: list[Callable[[tuple[int, int] | None, QtCore.QPointF], None]] = []
        self._colours = np.zeros(0, dtype=np.uint32)
        self._key: tuple | None = None
        self._first = 0
        self._pixels: np.ndarray | None = None
        self._image: QtGui.QImage | None = None
        self._inked = False
        view.windowChanged.connect(self.prepare)

    def set_display(self, display: UnitsDisplay | None) -> None:
        self.display = display
        self._colours = premultiplied(display.colours) if display is not None else np.zeros(0, np.uint32)
        self.invalidate()

    def invalidate(self) -> None:
        """Redraw every mark next time (hide/solo or the units changed)."""
        self._key = None
        self.view.update()

    # -- painting -----------------------------------------------------------------------------------
    def paint(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        view, display, frame = self.view, self.display, self.view.frame
        if display is None or frame is None or view.recording is None or not len(frame.channels):
            return
        spc, first = view.column_grid(rect)
        height, width = view.main_height(), int(frame.n_columns)
        spacing = view.spacing()
        key = (spc, width, height, spacing, frame.channels.tobytes(), display.version, id(display))
        self._update(key, round(first), frame.channels, spc, width, height, spacing)
        if self._inked:
            paint_ring(painter, self._image, self._first, rect.left(), rect.top())

    def prepare(self, *_) -> None:
        """Draw the marks of the window just asked for, before its traces arrive. The column grid
        is the one `TraceSource.request` makes; were it to differ, `paint` draws them again."""
        view, display = self.view, self.display
        if display is None or view.recording is None or view.source is None:
            return
        channels = np.asarray(view.visible_rows(), dtype=np.intp)
        if not len(channels):
            return
        width = max(view.plot_rect().width(), 1)
        viewport = view.viewport
        spc = stable_spc(max(float(viewport.window), 1e-6) / width)
        first = int(np.floor(float(viewport.t0) / spc + 0.5))
        height, spacing = view.main_height(), view.spacing()
        key = (spc, width, height, spacing, channels.tobytes(), display.version, id(display))
        self._update(key, first, channels, spc, width, height, spacing)

    def _update(self, key: tuple, first: int, channels: np.ndarray, spc: float, width: int, height: int,
                spacing: float) -> None:
        """Bring the ring to grid columns [first, first + width): only the uncovered ones after a scroll."""
        if self._key != key or self._pixels is None:
            if self._pixels is None or self._pixels.shape != (height, width):
                self._pixels = np.zeros((height, width), dtype=np.uint32)
                self._image = QtGui.QImage(self._pixels.data, width, height, width * 4,
                                           QtGui.QImage.Format.Format_ARGB32_Premultiplied)
            spans = [(first, first + width)]
            self._key, self._inked = key, False
            self._rows = row_lookup(channels, self.view.recording.nb_channels)
        else:
            shift = first - self._first
            if shift == 0:
                spans = []
            elif abs(shift) >= width:
                spans = [(first, first + width)]
            elif shift > 0:
                spans = [(self._first + width, first + width)]
            else:
                spans = [(first, self._first)]
        for g0, g1 in spans:
            self._draw_columns(g0, g1, spc, width, height, spacing)
        self._first = first

    def _draw_columns(self, g0: int, g1: int, spc: float, width: int, height: int, spacing: float) -> None:
        """Clear grid columns [g0, g1) of the ring and draw the marks that reach into them."""
        pixels = self._pixels
        for piece in column_slices(g0, g1, width):
            pixels[:, piece] = 0
        rate = self.view.sampling_rate
        pre, post = PRE_MS * rate / 1000, POST_MS * rate / 1000
        marks = self.display.marks(g0 * spc - post - MIN_MARK_PX * spc, g1 * spc + pre + spc, self._rows)
        if not len(marks.samples):
            return
        samples = marks.samples.astype(np.float64)
        c0 = np.floor((samples - pre) / spc).astype(np.int64)
        c1 = np.maximum(np.floor((samples + post) / spc).astype(np.int64) + 1, c0 + MIN_MARK_PX)
        span = int((c1 - c0).max())
        half = min(max(spacing * ROW_FILL, 1.0), MAX_HALF_HEIGHT_PX)
        tall = min(int(np.ceil(2 * half)) + 1, height)
        # marks of the first and last rows are nudged inside the band rather than cut
        r0 = np.clip(np.floor((marks.rows + 0.5) * spacing - half).astype(np.int64), 0, height - tall)
        cols = c0[:, None] + np.arange(span)
        inside = (cols < c1[:, None]) & (cols >= g0) & (cols < g1)
        flat = (r0[:, None] + np.arange(tall))[:, :, None] * width + (cols % width)[:, None, :]
        colours = self._colours[marks.unit_indices]
        if inside.all():
            pixels.reshape(-1)[flat.reshape(len(c0), -1)] = colours[:, None]
        else:
            inside = np.broadcast_to(inside[:, None, :], flat.shape)
            pixels.reshape(-1)[flat[inside]] = np.broadcast_to(colours[:, None, None], flat.shape)[inside]
        self._inked = True

    def screen_pixels(self) -> np.ndarray:
        """The marks as last painted (premultiplied ARGB, left edge first); empty before any."""
        if self._pixels is None:
            return np.zeros((0, 0), dtype=np.uint32)
        offset = self._first % self._pixels.shape[1]
        return np.concatenate([self._pixels[:, offset:], self._pixels[:, :offset]], axis=1)

    # -- the mouse ----------------------------------------------------------------------------------
    def spike_at(self, pos: QtCore.QPointF) -> tuple[int, int] | None:
        """(unit id, sample) of the shown spike under `pos`, or None."""
        view = self.view
        if self.display is None or view.recording is None or not view.plot_rect().contains(pos.toPoint()):
            return None
        channel = view.channel_at(pos.y())
        if channel is None:
            return None
        spc = view.column_grid()[0]
        rate = view.sampling_rate
        tolerance = max(HOVER_PX * spc, POST_MS * rate / 1000)
        return self.display.spike_near(view.sample_at(pos.x()), channel, tolerance)

    def move(self, pos: QtCore.QPointF) -> bool:
        if self.display is not None and self.hover_listeners:
            hit = self.spike_at(pos)
            for listener in list(self.hover_listeners):
                listener(hit, pos)
        return False

    def press(self, pos: QtCore.QPointF, modifiers) -> bool:
        """A click on a spike selects its unit (the click goes on to the other layers)."""
        hit = self.spike_at(pos)
        if hit is not None:
            self.display.select(hit[0])
        return False
