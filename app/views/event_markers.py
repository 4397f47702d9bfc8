"""Event and annotation markers as pixels: pure numpy geometry over one row of screen columns.

`EventOverlay` (app.views.event_overlay) tiles the row these functions fill down the plot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PyQt6 import QtGui

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
