"""Pure maths of drawing traces: screen columns, min/max decimation, rasterisation.

Drawing cost follows screen pixels, not samples. Column ``j`` of a zoom level
with ``spc`` samples per column covers the timeline samples
``[floor(j * spc), floor((j + 1) * spc))``: the grid is absolute, so scrolling by
whole columns reuses every column already computed.

Arrays of traces are channel-major, ``(channels, time)``: reductions along time
then run over contiguous rows, which is what keeps them fast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def column_edges(first_column: int, n_columns: int, spc: float) -> np.ndarray:
    """Timeline sample edges (n_columns + 1, int64) of columns [first_column, first_column + n_columns)."""
    index = np.arange(first_column, first_column + n_columns + 1, dtype=np.float64)
    return np.floor(index * float(spc) + 1e-9).astype(np.int64)


def columns_covering(start: int, stop: int, spc: float) -> tuple[int, int]:
    """Columns [first, last) of the absolute grid at `spc` that hold samples of [start, stop)."""
    spc = float(spc)
    first = max(math.floor(start / spc) - 1, 0)
    while column_edges(first + 1, 0, spc)[0] <= start:
        first += 1
    last = max(math.ceil(stop / spc) - 1, first)
    while column_edges(last, 0, spc)[0] < stop:
        last += 1
    return first, last


def minmax_columns(data: np.ndarray, edges: np.ndarray,
                   maxima: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of ``data[:, edges[k]:edges[k+1]]`` per column k, as (channels, columns).

    `edges` are local indices into `data` (channel-major), non-decreasing, within
    [0, data.shape[1]]; empty columns come back as NaN. When `maxima` is given
    (a summary's per-bin maxima beside `data`'s minima), the max comes from it.
    """
    maxima = data if maxima is None else maxima
    edges = np.asarray(edges, dtype=np.int64)
    n_channels, n_columns = data.shape[0], len(edges) - 1
    widths = np.diff(edges)
    if (n_columns and data.shape[1] and widths.min() > 0 and widths.mean() < 8
            and widths.max() <= 2 * _power_below(widths.min())):
        return _minmax_doubling(data, maxima, edges, _power_below(widths.min()))
    lo = np.full((n_channels, n_columns), np.nan, dtype=np.float32)
    hi = np.full((n_channels, n_columns), np.nan, dtype=np.float32)
    filled = np.flatnonzero(widths > 0)
    if len(filled) == 0 or data.shape[1] == 0:
        return lo, hi
    starts = edges[filled]
    lo[:, filled] = np.minimum.reduceat(data, starts, axis=1)
    hi[:, filled] = np.maximum.reduceat(maxima, starts, axis=1)
    # reduceat runs each segment to the next start: a column followed by a gap
    # would swallow the gap, so fix the columns whose true end is earlier.
    ends = edges[filled + 1]
    next_starts = np.append(starts[1:], data.shape[1])
    for k in np.flatnonzero(ends < next_starts):
        column = filled[k]
        lo[:, column] = data[:, starts[k]:ends[k]].min(axis=1)
        hi[:, column] = maxima[:, starts[k]:ends[k]].max(axis=1)
    return lo, hi


def minmax_rows(data: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of time-major `data` (time, channels) over rows [edges[k], edges[k+1]),
    every column non-empty; channel-major out (channels, columns), like `minmax_columns`.

    A time-major row holds every channel contiguously, so each step is one
    vectorised operation across channels: the j-th sample of every column at once
    when columns are narrow (a gather of whole rows), or one whole column when they
    are few and wide. Either way a handful of passes, never a call per channel and column.
    """
    edges = np.asarray(edges, dtype=np.int64)
    starts, stops = edges[:-1], edges[1:]
    widest = int((stops - starts).max()) if len(starts) else 0
    if len(starts) == 0:
        return (np.zeros((data.shape[1], 0), np.float32),) * 2
    if len(starts) <= widest:
        lo = np.stack([data[a:b].min(axis=0) for a, b in zip(starts, stops, strict=True)])
        hi = np.stack([data[a:b].max(axis=0) for a, b in zip(starts, stops, strict=True)])
    else:
        lo = data[starts]
        hi = lo.copy()
        rows = np.empty_like(lo)
        last = stops - 1
        for offset in range(1, widest):
            np.take(data, np.minimum(starts + offset, last), axis=0, out=rows)
            np.minimum(lo, rows, out=lo)
            np.maximum(hi, rows, out=hi)
    return (np.ascontiguousarray(lo.T, dtype=np.float32), np.ascontiguousarray(hi.T, dtype=np.float32))


def _power_below(n: int) -> int:
    return 1 << (int(n).bit_length() - 1)


def _minmax_doubling(data: np.ndarray, maxima: np.ndarray, edges: np.ndarray, span: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Min/max of narrow columns whose widths lie in [span, 2 * span], span a power of two.

    After k halvings ``lo[:, i]`` is the min of ``data[:, i:i + span]``; a column
    [a, b) is then covered by the two windows starting at a and b - span (min and
    max ignore the overlap). Short columns are where `reduceat` is slowest: its cost
    is per column and channel, this one's is a few passes over the data.
    """
    lo, hi = data, maxima
    step = 1
    while step < span:
        lo = np.minimum(lo[:, :-step], lo[:, step:])
        hi = np.maximum(hi[:, :-step], hi[:, step:])
        step *= 2
    starts, lasts = edges[:-1], edges[1:] - span
    return (np.minimum(lo[:, starts], lo[:, lasts]).astype(np.float32, copy=False),
            np.maximum(hi[:, starts], hi[:, lasts]).astype(np.float32, copy=False))


def minmax_pieces(pieces: Sequence[tuple[int, np.ndarray]], edges: np.ndarray,
                  n_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-column min/max over data held in several timeline pieces (start, (channels, n)).

    A column straddling two pieces takes the min/max of both parts; columns that
    no piece covers are NaN.
    """
    edges = np.asarray(edges, dtype=np.int64)
    n_columns = len(edges) - 1
    lo = np.full((n_channels, n_columns), np.nan, dtype=np.float32)
    hi = np.full((n_channels, n_columns), np.nan, dtype=np.float32)
    for start, data in pieces:
        stop = start + data.shape[1]
        first = max(int(np.searchsorted(edges, start, side="right")) - 1, 0)
        last = min(int(np.searchsorted(edges, stop, side="left")), n_columns)
        if first >= last:
            continue
        local = np.clip(edges[first:last + 1] - start, 0, data.shape[1])
        part_lo, part_hi = minmax_columns(data, local)
        lo[:, first:last] = np.fmin(lo[:, first:last], part_lo)
        hi[:, first:last] = np.fmax(hi[:, first:last], part_hi)
    return lo, hi


def interpolate_columns(data: np.ndarray, first_sample: int, positions: np.ndarray) -> np.ndarray:
    """Linear interpolation of channel-major `data` (first column at timeline sample
    `first_sample`) at fractional timeline `positions`; clamped at the ends."""
    if data.shape[1] == 0:
        return np.full((data.shape[0], len(positions)), np.nan, dtype=np.float32)
    x = np.clip(np.asarray(positions, dtype=np.float64) - first_sample, 0, data.shape[1] - 1)
    left = np.minimum(np.floor(x).astype(np.int64), data.shape[1] - 1)
    right = np.minimum(left + 1, data.shape[1] - 1)
    fraction = (x - left).astype(np.float32)
    return data[:, left] * (1 - fraction) + data[:, right] * fraction


def pixel_intervals(lo: np.ndarray, hi: np.ndarray, baselines: np.ndarray, scales: np.ndarray,
                    height: int, previous: tuple[np.ndarray, np.ndarray] | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Pixel rows [top, bottom] that each (channel, column) value interval covers.

    Values map to ``row = baseline - value * scale`` (rows grow downwards). Each
    interval is stretched to reach its left neighbour's so a trace stays one
    connected line (the join is drawn in the right column); `previous` = (lo, hi) of the column just left of the block.
    Empty columns (NaN) get an empty interval (top > bottom); a NaN neighbour joins nothing.
    """
    b = np.asarray(baselines, dtype=np.float32)[:, None]
    s = np.asarray(scales, dtype=np.float32)[:, None]
    top, bottom = _rows(hi, b, s), _rows(lo, b, s)
    if previous is not None:
        left_top = _rows(np.asarray(previous[1], np.float32)[:, None], b, s)[:, 0]
        left_bottom = _rows(np.asarray(previous[0], np.float32)[:, None], b, s)[:, 0]
    else:
        left_top, left_bottom = top[:, 0], bottom[:, 0]
    # fmin/fmax take the other operand where one is NaN: a gap on the left joins nothing
    joined_top, joined_bottom = np.empty_like(top), np.empty_like(bottom)
    np.fmin(top[:, 1:], bottom[:, :-1], out=joined_top[:, 1:])
    np.fmin(top[:, 0], left_bottom, out=joined_top[:, 0])
    np.fmax(bottom[:, 1:], top[:, :-1], out=joined_bottom[:, 1:])
    np.fmax(bottom[:, 0], left_top, out=joined_bottom[:, 0])
    np.clip(joined_top, -1, height, out=joined_top)
    np.clip(joined_bottom, -1, height, out=joined_bottom)
    empty = np.isnan(top)
    if empty.any():
        joined_top[empty], joined_bottom[empty] = height, -1
    return joined_top.astype(np.int32), joined_bottom.astype(np.int32)


def _rows(values: np.ndarray, baselines: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Pixel rows of `values`: rint(baseline - value * scale), float32, in one buffer."""
    rows = np.multiply(values, -scales, dtype=np.float32)
    rows += baselines
    return np.rint(rows, out=rows)


def rasterize(top: np.ndarray, bottom: np.ndarray, height: int) -> np.ndarray:
    """Coverage image (height, columns), bool: pixel (y, x) is lit when some channel's
    interval [top, bottom] in column x contains y.

    Each interval writes its bottom row at its top pixel; a running maximum down
    each column then tells, for every pixel, the lowest row reached by an interval
    starting at or above it: the pixel is lit when that reach is at or below it.
    The running maximum goes row by row, each row one vectorised call.
    """
    n_columns = top.shape[1]
    top = np.clip(top, 0, height)
    bottom = np.clip(bottom, -1, height - 1)
    valid = (bottom >= top) & (top < height)
    columns = np.broadcast_to(np.arange(n_columns), top.shape)
    index = (top * n_columns + columns)[valid]
    reach = bottom[valid].astype(np.int16 if height < 32767 else np.int32)
    reach_at = np.full(height * n_columns, -1, dtype=reach.dtype)
    reach_at[index] = reach
    lost = reach_at[index] < reach           # intervals sharing a top pixel: keep the longest
    if lost.any():
        np.maximum.at(reach_at, index[lost], reach[lost])
    reach_at = reach_at.reshape(height, n_columns)
    for row in range(1, height):
        np.maximum(reach_at[row], reach_at[row - 1], out=reach_at[row])
    return reach_at >= np.arange(height, dtype=reach.dtype)[:, None]


def lane_colours(baselines: np.ndarray, colours: np.ndarray, height: int) -> np.ndarray:
    """Colour index (uint8) of each pixel row: the colour of the channel whose baseline is nearest."""
    order = np.argsort(baselines)
    sorted_lines = np.asarray(baselines, dtype=np.float64)[order]
    if len(sorted_lines) == 0:
        return np.zeros(height, dtype=np.uint8)
    rows = np.arange(height, dtype=np.float64)
    right = np.clip(np.searchsorted(sorted_lines, rows), 0, len(sorted_lines) - 1)
    left = np.clip(right - 1, 0, len(sorted_lines) - 1)
    nearest = np.where(np.abs(sorted_lines[left] - rows) <= np.abs(sorted_lines[right] - rows), left, right)
    return np.asarray(colours, dtype=np.uint8)[order][nearest]


def robust_std(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Noise level per row: 1.4826 * median absolute deviation (spikes barely move it)."""
    median_of = np.median if np.isfinite(values).all() else np.nanmedian
    median = median_of(values, axis=axis, keepdims=True)
    return 1.4826 * median_of(np.abs(values - median), axis=axis)
