"""A ring of columns: one picture of traces that scrolls by rasterising only the new columns.

Absolute grid column ``c`` lives in buffer column ``c % width``, so scrolling by whole columns
rasterises only the columns that came into view and moves nothing; painting draws the ring in
two pieces. The buffer is 32-bit RGB that QImage wraps without a copy. The main band and every
stream lane are each one `RasterRing`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PyQt6 import QtCore, QtGui

from app.model.decimate import lane_colours, pixel_intervals, rasterize
from app.model.traces import TraceFrame

GROUP_COLOURS = ["#1b1b1b", "#1f3f8f", "#8f1f1f", "#1f6f2f", "#6a2c8a", "#7a4a12", "#136a6a", "#a04a00"]
HIGHLIGHT = len(GROUP_COLOURS) + 1
TONES = 16                     # colour index = coverage * TONES + lane colour; coverage 0 is background
SINGLE_TONE = 0.3              # a pixel one trace covers: its colour this far towards the background
BACKGROUND = "#ffffff"
# the dark theme's trace area: the same eight groups, light on near-black
DARK_GROUP_COLOURS = ["#dcdcdc", "#8fb0ff", "#ff9a8f", "#8fdc9f", "#d2a6f2", "#e6b978", "#7fd6d6", "#ffad70"]
DARK_BACKGROUND = "#17181b"
# the colours the trace area writes and rules with, by theme (False: light, True: dark)
INK = {False: {"background": BACKGROUND, "text": "#333333", "axis": "#444444", "strong": "#000000",
               "faint": "#777777", "rule": "#999999", "segment": "#2a7ab0", "badge": "#a04a00"},
       True: {"background": DARK_BACKGROUND, "text": "#d0d0d0", "axis": "#b0b0b0", "strong": "#f0f0f0",
              "faint": "#8c8c90", "rule": "#5a5a60", "segment": "#5aa8e0", "badge": "#f0a050"}}


def group_colours(dark: bool = False) -> list[str]:
    return DARK_GROUP_COLOURS if dark else GROUP_COLOURS


def make_palette(dark: bool = False) -> np.ndarray:
    """256 RGB32 colours: background, one faint tone per lane colour (one trace), full colours
    (two traces cross); light on dark when `dark`."""
    background = DARK_BACKGROUND if dark else BACKGROUND
    colours = [QtGui.QColor(c) for c in group_colours(dark) + ["#e0441b" if not dark else "#ff6a40"]]
    table = [QtGui.QColor(background).rgb()] + [toward(c, background, SINGLE_TONE).rgb() for c in colours]
    palette = np.full(256, table[0], dtype=np.uint32)
    palette[TONES:TONES + len(table)] = table
    palette[2 * TONES + 1:2 * TONES + 1 + len(colours)] = [c.rgb() for c in colours]
    return palette


def toward(colour: QtGui.QColor, other: str, fraction: float) -> QtGui.QColor:
    """`colour` moved `fraction` of the way to `other` (a lighter tone on a light background)."""
    target = QtGui.QColor(other)
    return QtGui.QColor(*(round(a + (b - a) * fraction) for a, b in
                          zip(colour.getRgb()[:3], target.getRgb()[:3], strict=True)))


def raster_columns(frame: TraceFrame, start: int, stop: int, baselines: np.ndarray, scales: np.ndarray,
                   height: int, colours: np.ndarray) -> np.ndarray:
    """Colour-index image (height, stop - start) of columns [start, stop) of `frame`, each row of
    traces in its colour class `colours` (the main band and the lanes alike)."""
    previous = (frame.lo[:, start - 1], frame.hi[:, start - 1]) if start > 0 else None
    top, bottom = pixel_intervals(frame.lo[:, start:stop], frame.hi[:, start:stop], baselines, scales,
                                  height, previous)
    # neighbouring rows go to different passes, so a pixel lit by both is where traces cross
    coverage = rasterize(top[0::2], bottom[0::2], height).view(np.uint8) \
        + rasterize(top[1::2], bottom[1::2], height).view(np.uint8)
    coverage *= np.uint8(TONES)
    coverage += lane_colours(baselines, colours, height)[:, None]
    return coverage


def ring_shift(previous: tuple | None, key: tuple, frame: TraceFrame) -> int | None:
    """Grid columns `frame` moved by since a ring was drawn from `previous` = (key, first column,
    lo, hi): only when the drawing key is the same, it moved less than half the width and the
    columns both frames hold are unchanged; else None (redraw everything).

    Columns compare by their float bits (NaN equals NaN; another NaN or a signed zero counts as a
    change): five times cheaper than a NaN-aware comparison, and never reuses a changed column."""
    if previous is None or previous[0] != key:
        return None
    _, first, lo, hi = previous
    shift = frame.first_column - first
    width = frame.n_columns
    if abs(shift) >= width // 2:
        return None
    new, old = (slice(0, width - shift), slice(shift, width)) if shift >= 0 else \
        (slice(-shift, width), slice(0, width + shift))
    same = _same_bits(frame.lo[:, new], lo[:, old]) and _same_bits(frame.hi[:, new], hi[:, old])
    return shift if same else None


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    as_int = np.dtype(f"u{a.dtype.itemsize}")
    return bool(np.array_equal(a.view(as_int), b.view(as_int)))


def ring_spans(shift: int | None, width: int) -> list[tuple[int, int]]:
    """The frame columns [start, stop) to rasterise after a move of `shift` columns (None: all).
    Scrolling back, the old first column gets a new left neighbour: it is redrawn with its join."""
    if shift is None:
        return [(0, width)]
    if shift > 0:
        return [(width - shift, width)]
    if shift < 0:
        return [(0, -shift + 1)]
    return []


def write_ring(index: np.ndarray, pixels: np.ndarray, palette: np.ndarray, block: np.ndarray,
               column: int) -> None:
    """Put colour-index `block`, whose first column is grid column `column`, into the ring
    (`index` and its RGB `pixels`), wrapping at the right edge."""
    width = index.shape[1]
    offset = column % width
    head = min(block.shape[1], width - offset)
    for source, target in ((slice(0, head), slice(offset, offset + head)),
                           (slice(head, block.shape[1]), slice(0, block.shape[1] - head))):
        index[:, target] = block[:, source]
        pixels[:, target] = palette[block[:, source]]


def paint_ring(painter: QtGui.QPainter, image: QtGui.QImage, first: int, left: int, top: int) -> None:
    """Draw ring `image` (grid column `first` at buffer column ``first % width``) at (left, top)
    in two pieces, left edge first."""
    width, height = image.width(), image.height()
    offset = first % width
    painter.drawImage(QtCore.QRect(left, top, width - offset, height), image,
                      QtCore.QRect(offset, 0, width - offset, height))
    if offset:
        painter.drawImage(QtCore.QRect(left + width - offset, top, offset, height),
                          image, QtCore.QRect(0, 0, offset, height))


class RasterRing:
    """The picture of one band of traces (the main stream or a lane) as a ring of columns."""

    def __init__(self, palette: np.ndarray):
        self.palette = palette
        self.image: QtGui.QImage | None = None
        self.pixels: np.ndarray | None = None    # the 32-bit buffer `image` wraps
        self.index: np.ndarray | None = None     # palette index per pixel, the same ring
        self.first = 0                           # grid column at the picture's left edge
        self.key: tuple | None = None            # (key, first column, lo, hi) the ring was drawn from
        self.drawn: list[tuple[int, int]] = []   # grid columns [start, stop) the last `draw` rasterised

    def allocate(self, height: int, width: int) -> None:
        """Blank buffers for a (height, width) picture; `image` wraps `pixels` without copying."""
        self.index = np.zeros((height, width), dtype=np.uint8)
        self.pixels = np.full((height, width), self.palette[0], dtype=np.uint32)
        self.image = QtGui.QImage(self.pixels.data, width, height, width * 4, QtGui.QImage.Format.Format_RGB32)
        self.key = None

    def invalidate(self) -> None:
        """Redraw every column next time (the drawing changed, not the data)."""
        self.key = None

    def recolour(self) -> None:
        """The palette changed (the theme): repaint the pixels from the kept colour indices."""
        if self.index is not None and self.pixels is not None:
            self.pixels[...] = self.palette[self.index]

    def reset(self) -> None:
        self.image, self.pixels, self.index, self.key = None, None, None, None

    def draw(self, frame: TraceFrame, height: int, key: tuple,
             raster: Callable[[int, int], np.ndarray]) -> None:
        """Bring the ring up to `frame`: after a scroll only the new columns go through
        `raster(start, stop)`; the pixels equal a whole redraw's."""
        width = frame.n_columns
        if self.index is None or self.index.shape != (height, width):
            self.allocate(height, width)
        spans = ring_spans(ring_shift(self.key, key, frame), width)
        for start, stop in spans:
            write_ring(self.index, self.pixels, self.palette, raster(start, stop), frame.first_column + start)
        self.drawn = [(frame.first_column + start, frame.first_column + stop) for start, stop in spans]
        self.first = frame.first_column
        self.key = (key, frame.first_column, frame.lo, frame.hi)

    def paint(self, painter: QtGui.QPainter, left: int, top: int) -> None:
        if self.image is not None:
            paint_ring(painter, self.image, self.first, left, top)

    def screen_order(self) -> np.ndarray:
        """The colour indices as on screen (left edge first)."""
        offset = self.first % self.index.shape[1]
        return np.concatenate([self.index[:, offset:], self.index[:, :offset]], axis=1)
