"""Sorted spikes drawn on the traces: a short coloured mark on each spike's peak channel.

A mark spans the spike's waveform in time (PRE_MS before to POST_MS after the spike, at least
MIN_MARK_PX wide) and most of its channel's row, in its unit's colour blended over the traces
(ALPHA), so the waveform shows through. Hidden units (`UnitsDisplay`) are not drawn, nor spikes
off screen.

The marks go into the traces' own picture (`ring.RasterRing`), into exactly the columns it has
just rasterised (`TraceView.raster_hooks`): a scroll marks only the uncovered columns, kept
columns keep their marks, and painting costs nothing more than the traces' own blit, however many
spikes are on screen. The marks of the window the view asks for are computed at once
(`prepare`, on `windowChanged`), while the traces are computed on their worker, so the frame
waits only for the blend of a few thousand pixels. Showing or hiding units redraws the picture.

`SpikeOverlay` also implements the trace overlay protocol (`decorations.Overlay`) for the mouse:
the spike under the mouse goes to `hover_listeners`, a click on one selects its unit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PyQt6 import QtCore, QtGui

from app.model.traces import TraceFrame, stable_spc
from app.model.units_display import UnitsDisplay, row_lookup
from app.views.trace.decorations import Decoration
from app.views.trace.ring import RasterRing

PRE_MS, POST_MS = 0.5, 1.0          # the mark covers the waveform around the spike
MIN_MARK_PX = 2
MAX_HALF_HEIGHT_PX = 9.0
ROW_FILL = 0.42                      # half the mark's height, as a fraction of the row spacing
ALPHA = 0.7
HOVER_PX = 4                         # a spike within this many pixels is under the mouse
DENSE_ABOVE = 20_000                 # more spikes than this in a span: drawn as a picture of cells


def blend(colours: np.ndarray, pixels: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """RGB32 `pixels` with 0xRRGGBB `colours` laid over them at opacity `alpha` (in 1/256ths:
    red and blue are blended together in one uint32, two bytes apart, then green)."""
    top = np.uint32(round(alpha * 256))
    under = np.uint32(256) - top
    colours, pixels = colours.astype(np.uint32, copy=False), pixels.astype(np.uint32, copy=False)
    red_blue = ((colours & 0xFF00FF) * top + (pixels & 0xFF00FF) * under) >> 8
    green = ((colours & 0x00FF00) * top + (pixels & 0x00FF00) * under) >> 8
    return (red_blue & 0xFF00FF) | (green & 0x00FF00) | np.uint32(0xFF000000)


def ring_spans_for(shift: int | None, first: int, width: int) -> list[tuple[int, int]]:
    """Grid columns a RasterRing rasterises when it moves by `shift` columns to `first` (None:
    all): the same rule as `ring.ring_spans`, in grid columns."""
    if shift is None or abs(shift) >= width // 2:
        return [(first, first + width)]
    if shift > 0:
        return [(first + width - shift, first + width)]
    if shift < 0:
        return [(first, first - shift + 1)]
    return []


@dataclass(frozen=True)
class MarkShape:
    """Where marks go in a ring `width` x `height`: rows `spacing` pixels apart, marks `tall` pixels
    high from their row's `top` pixel (one per display row)."""

    width: int
    height: int
    tall: int
    top: np.ndarray


def mark_shape(n_rows: int, spacing: float, width: int, height: int) -> MarkShape:
    half = min(max(spacing * ROW_FILL, 1.0), MAX_HALF_HEIGHT_PX)
    tall = max(min(int(np.ceil(2 * half)) + 1, height), 1)
    # marks of the first and last rows are nudged inside the band rather than cut
    top = np.clip(np.floor((np.arange(n_rows) + 0.5) * spacing - half).astype(np.int64), 0, max(height - tall, 0))
    return MarkShape(width, height, tall, top)


def sparse_marks(c0: np.ndarray, c1: np.ndarray, rows: np.ndarray, colours: np.ndarray, g0: int, g1: int,
                 shape: MarkShape) -> tuple[np.ndarray, np.ndarray]:
    """(flat ring pixel, colour) of marks covering grid columns [c0, c1) of display rows `rows`,
    cut to [g0, g1); a later mark covers an earlier one."""
    reach = (c1 > g0) & (c0 < g1)
    c0, c1, rows, colours = c0[reach], c1[reach], rows[reach], colours[reach]
    if not len(c0):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint32)
    span = int((c1 - c0).max())
    # a mark's columns past its end or outside [g0, g1) repeat its last or edge column: the same
    # pixel written twice by the same mark, which keeps every array rectangular (no masks)
    cols = np.clip(np.minimum(c0[:, None] + np.arange(span), c1[:, None] - 1), g0, g1 - 1) % shape.width
    first_pixel = shape.top[rows] * shape.width
    flat = (first_pixel[:, None] + np.arange(shape.tall) * shape.width)[:, :, None] + cols[:, None, :]
    return flat.reshape(-1), np.repeat(colours, shape.tall * span)


def dense_marks(c0: np.ndarray, rows: np.ndarray, colours: np.ndarray, g0: int, g1: int,
                shape: MarkShape) -> tuple[np.ndarray, np.ndarray]:
    """`sparse_marks` of MIN_MARK_PX-wide marks, for many spikes: one (row, column) cell picture
    (the last spike of a cell wins), spread to the marks' pixel rows. O(spikes + pixels), no sort."""
    n_rows, n_cols = len(shape.top), g1 - g0
    cells = np.full((n_rows, n_cols), -1, dtype=np.int32)
    flat_cells = cells.reshape(-1)
    order = np.arange(len(c0), dtype=np.int32)
    first_cell = rows * n_cols + (c0 - g0)
    for step in range(MIN_MARK_PX):
        column = c0 - g0 + step
        inside = (column >= 0) & (column < n_cols)
        flat_cells[first_cell[inside] + step] = order[inside]
    row_of_pixel = np.full(shape.height, -1, dtype=np.int64)
    row_of_pixel[(shape.top[:, None] + np.arange(shape.tall)).reshape(-1)] = np.repeat(np.arange(n_rows), shape.tall)
    pixel_rows = np.flatnonzero(row_of_pixel >= 0)
    picture = cells[row_of_pixel[pixel_rows]]
    y, x = np.nonzero(picture >= 0)
    return pixel_rows[y] * shape.width + (g0 + x) % shape.width, colours[picture[y, x]]


class SpikeOverlay(Decoration):
    """Draws the shown units' spikes into a TraceView's traces; reports the spike under the mouse."""

    def __init__(self, view):
        super().__init__(view)
        self.display: UnitsDisplay | None = None
        self.hover_listeners: list[Callable[[tuple[int, int] | None, QtCore.QPointF], None]] = []
        self._colours = np.zeros(0, dtype=np.uint32)
        self._rows: tuple[bytes, np.ndarray] | None = None
        self._prepared: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        view.windowChanged.connect(self.prepare)
        view.raster_hooks.append(self.ring_drawn)

    def set_display(self, display: UnitsDisplay | None) -> None:
        self.display, self._rows = display, None
        self._colours = display.colours.astype(np.uint32) if display is not None else np.zeros(0, np.uint32)
        self.invalidate()

    def invalidate(self) -> None:
        """Redraw the traces and every mark (hide/solo or the units changed)."""
        self._prepared = {}
        self.view.ring.invalidate()
        if self.view.source is not None:
            self.view.refresh()

    def paint(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        """Nothing: the marks are in the traces' picture."""

    # -- drawing ------------------------------------------------------------------------------------
    def _geometry(self, spc: float, width: int, channels: np.ndarray) -> tuple:
        view = self.view
        return (spc, width, view.main_height(), view.spacing(), channels.tobytes(),
                self.display.version, id(self.display))

    def prepare(self, *_) -> None:
        """Compute the marks of the columns the ring will draw for the window just asked for. The
        column grid is the one `TraceSource.request` makes; if the ring draws other columns,
        `ring_drawn` computes theirs then."""
        view, display = self.view, self.display
        previous, self._prepared = self._prepared, {}
        if display is None or view.recording is None or view.source is None:
            return
        channels = np.asarray(view.visible_rows(), dtype=np.intp)
        width = max(view.plot_rect().width(), 1)
        if not len(channels) or view.ring.pixels is None or view.ring.pixels.shape[1] != width:
            return
        viewport = view.viewport
        spc = stable_spc(max(float(viewport.window), 1e-6) / width)
        first = int(np.floor(float(viewport.t0) / spc + 0.5))
        geometry = self._geometry(spc, width, channels)
        ring = view.ring
        shift = first - ring.first if ring.key is not None and ring.key[0][0] == spc else None
        for span in ring_spans_for(shift, first, width):
            key = (geometry, span)
            self._prepared[key] = previous[key] if key in previous else self._marks(span, geometry, channels)

    def ring_drawn(self, ring: RasterRing, frame: TraceFrame) -> None:
        """Blend the marks of the columns `ring` has just rasterised (`ring.drawn`) into its pixels."""
        if self.display is None or self.view.recording is None or not len(frame.channels) or not ring.drawn:
            return
        geometry = self._geometry(float(frame.spc), int(frame.n_columns), frame.channels)
        flat_pixels = ring.pixels.reshape(-1)
        for span in ring.drawn:
            marks = self._prepared.pop((geometry, span), None)
            flat, colours = marks if marks is not None else self._marks(span, geometry, frame.channels)
            if len(flat):
                flat_pixels[flat] = blend(colours, flat_pixels[flat])
        self._prepared = {}

    def _row_lookup(self, channels: np.ndarray) -> np.ndarray:
        key = channels.tobytes()
        if self._rows is None or self._rows[0] != key:
            self._rows = (key, row_lookup(channels, self.view.recording.nb_channels))
        return self._rows[1]

    def _marks(self, span: tuple[int, int], geometry: tuple, channels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(flat pixel index in the ring, colour) of every mark pixel in grid columns [g0, g1)."""
        spc, width, height, spacing = geometry[:4]
        g0, g1 = span
        rate = self.view.sampling_rate
        pre, post = PRE_MS * rate / 1000, POST_MS * rate / 1000
        marks = self.display.marks(g0 * spc - post - MIN_MARK_PX * spc, g1 * spc + pre + spc,
                                   self._row_lookup(channels))
        if not len(marks.samples) or height < 1:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint32)
        samples = marks.samples.astype(np.float64)
        colours = self._colours[marks.unit_indices]
        shape = mark_shape(len(channels), spacing, width, height)
        c0 = np.floor((samples - pre) / spc).astype(np.int64)
        if len(samples) > DENSE_ABOVE and pre + post <= spc * MIN_MARK_PX:
            return dense_marks(c0, marks.rows, colours, g0, g1, shape)
        c1 = np.maximum(np.floor((samples + post) / spc).astype(np.int64) + 1, c0 + MIN_MARK_PX)
        return sparse_marks(c0, c1, marks.rows, colours, g0, g1, shape)

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
        tolerance = max(HOVER_PX * spc, POST_MS * view.sampling_rate / 1000)
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
