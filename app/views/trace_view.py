"""The trace viewer: hundreds of channels drawn as one image, at any zoom.

The widget asks `TraceSource` for per-column value intervals and rasterises
them with numpy (`decimate.rasterize`) into one image whose pixels map 1:1 to the
screen: a pixel one trace covers gets a light tone of its lane's colour, one
where two traces cross the full colour (an anti-aliased look at no extra pass
over the pixels); axes, labels, scale bar, cursor and measure tool are
painted on top with QPainter. Painting lines is what costs; this keeps the cost
to a few passes over the screen's pixels.

The image is a ring of columns: absolute column ``c`` of the grid lives in
buffer column ``c % width``, so scrolling by whole columns rasterises only the new
columns and moves nothing; painting draws the ring in two pieces. The buffer is
32-bit RGB that QImage wraps without a copy, so painting converts nothing.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from app.model.decimate import lane_colours, pixel_intervals, rasterize
from app.model.lanes import Lane, lane_window, main_grid
from app.model.recording import Recording, channel_colours
from app.model.traces import TraceFrame, TraceSource

MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 60, 8, 30
GROUP_COLOURS = ["#1b1b1b", "#1f3f8f", "#8f1f1f", "#1f6f2f", "#6a2c8a", "#7a4a12", "#136a6a", "#a04a00"]
HIGHLIGHT = len(GROUP_COLOURS) + 1
TONES = 16                     # colour index = coverage * TONES + lane colour; coverage 0 is background
SINGLE_TONE = 0.3              # a pixel one trace covers: its colour this far towards the background
BACKGROUND = "#ffffff"
MIN_WINDOW_S = 0.001
NOISE_PER_LANE = 12.0          # auto-scale: a lane spans ±6 noise SDs (MAD), so traces rarely collide
STREAM_ROW_PX = 18             # pixels per channel a stream lane asks for (it gets at most a quarter)
STREAM_HEADER_PX = 14          # the stream lane's title line


@dataclass
class StreamDisplay:
    """What the view keeps for one extra stream lane: its gain, its last frame and its picture,
    a ring of columns like the main stream's (grid column ``c`` in buffer column ``c % width``)."""

    units: float = 1.0                       # data units one channel row spans (the lane's own gain)
    pending_autoscale: bool = True
    frame: TraceFrame | None = None
    image: QtGui.QImage | None = None
    pixels: np.ndarray | None = None         # the 32-bit buffer `image` wraps
    index: np.ndarray | None = None          # palette index per pixel, the same ring
    ring_first: int = 0                      # grid column (the lane frame's) of the image's left edge
    raster_key: tuple | None = None          # (key, first column, lo, hi) the ring was drawn from

    def allocate(self, height: int, width: int, background: int) -> None:
        """Blank ring buffers for a (height, width) picture; `image` wraps `pixels` without copying."""
        self.index = np.zeros((height, width), dtype=np.uint8)
        self.pixels = np.full((height, width), background, dtype=np.uint32)
        self.image = QtGui.QImage(self.pixels.data, width, height, width * 4, QtGui.QImage.Format.Format_RGB32)
        self.raster_key = None


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


class TraceView(QtWidgets.QWidget):
    """Stacked traces of the shown channels over a time window; keyboard and mouse navigation."""

    windowChanged = QtCore.pyqtSignal(float, float)          # t0, t1 in seconds
    cursorMoved = QtCore.pyqtSignal(dict)
    framePainted = QtCore.pyqtSignal(int, float)             # request id, seconds since the request
    _frameArrived = QtCore.pyqtSignal(object)
    _laneFrameArrived = QtCore.pyqtSignal(int, object)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setMinimumSize(320, 200)
        self.recording: Recording | None = None
        self.source: TraceSource | None = None
        # drawn over the traces, and offered the mouse and keys first (events, annotations)
        self.overlays: list = []
        # other streams of the acquisition, at their own rates, in bands under the main traces
        self.lanes: list[Lane] = []
        self.lane_displays: list[StreamDisplay] = []
        self.t0 = 0.0
        self.window = 1.0                  # samples; set from `window_s` when a recording opens
        self.window_s = 1.0
        self.filter_on = False
        self.car_on = False
        self.order_by_depth = True
        self.lane_units = 200.0            # data units spanned by one channel lane
        self.channel_gains: np.ndarray = np.ones(0)
        self.min_spacing = 0.0             # pixels per channel; 0 fits every shown channel
        self.top_row = 0
        self.hidden: set[int] = set()
        self.selected: set[int] = set()
        self.frame: TraceFrame | None = None
        self.pending_autoscale = True
        self._image: QtGui.QImage | None = None
        self._index: np.ndarray | None = None         # palette index per pixel, ring of columns
        self._pixels: np.ndarray | None = None        # the same as 32-bit RGB, what _image wraps
        self._ring_first = 0                          # first grid column of the image in the ring
        self._labels: tuple | None = None             # (key, QImage) of the channel labels
        self._saved_gains: np.ndarray | None = None
        self._raster_key = None
        self._latest = 0
        self._requested_at: dict[int, float] = {}
        self._painted_request = -1
        self._cursor: QtCore.QPointF | None = None
        self._measure: tuple[QtCore.QPointF, QtCore.QPointF] | None = None
        colours = [QtGui.QColor(c) for c in GROUP_COLOURS + ["#e0441b"]]
        self._colour_table = [QtGui.QColor(BACKGROUND).rgb()] + [_toward(c, BACKGROUND, SINGLE_TONE).rgb()
                                                                for c in colours]
        self._palette = np.full(256, self._colour_table[0], dtype=np.uint32)
        self._palette[TONES:TONES + len(self._colour_table)] = self._colour_table
        self._palette[2 * TONES + 1:2 * TONES + 1 + len(colours)] = [c.rgb() for c in colours]
        self._frameArrived.connect(self._on_frame)
        self._laneFrameArrived.connect(self._on_lane_frame)

    # -- model ------------------------------------------------------------------------------------
    def set_recording(self, recording: Recording, source: TraceSource) -> None:
        self.recording, self.source = recording, source
        self.channel_gains = np.ones(recording.nb_channels)
        if self._saved_gains is not None and len(self._saved_gains) == recording.nb_channels:
            self.channel_gains = self._saved_gains.copy()
        self.hidden, self.selected = set(), set()
        self.frame, self._image, self._raster_key = None, None, None
        self.lanes, self.lane_displays = [], []
        self.t0 = 0.0
        rate = recording.sampling_rate
        self.window = float(np.clip(self.window_s * rate, MIN_WINDOW_S * rate, max(recording.duration, 1)))
        self.pending_autoscale = True
        self.refresh()

    def clear(self) -> None:
        self.recording, self.source, self.frame, self._image = None, None, None, None
        self.lanes, self.lane_displays = [], []
        self._latest = -1
        self.update()

    @property
    def sampling_rate(self) -> float:
        return self.recording.sampling_rate if self.recording else 1.0

    def channel_order(self) -> list[int]:
        """Every channel in display order (top first): by probe depth, shallowest on top, or by index."""
        if self.recording is None:
            return []
        if self.order_by_depth and self.recording.positions():
            return list(reversed(self.recording.depth_order()))
        return sorted(self.recording.channels)

    def shown_channels(self) -> list[int]:
        return [c for c in self.channel_order() if c not in self.hidden]

    def plot_rect(self) -> QtCore.QRect:
        return QtCore.QRect(MARGIN_LEFT, MARGIN_TOP, max(self.width() - MARGIN_LEFT - MARGIN_RIGHT, 1),
                            max(self.height() - MARGIN_TOP - MARGIN_BOTTOM, 1))

    def spacing(self) -> float:
        shown = max(len(self.shown_channels()), 1)
        return max(self.main_height() / shown, self.min_spacing)

    def visible_rows(self) -> list[int]:
        """The channels on screen now (the shown ones from `top_row`, as many as fit)."""
        shown = self.shown_channels()
        fit = max(int(self.main_height() / self.spacing() + 1e-6), 1)
        self.top_row = int(np.clip(self.top_row, 0, max(len(shown) - fit, 0)))
        return shown[self.top_row:self.top_row + fit]

    # -- navigation -------------------------------------------------------------------------------
    def set_window(self, t0: float, window: float | None = None) -> None:
        """Show samples [t0, t0 + window), clamped to the recording."""
        if self.recording is None:
            return
        duration = self.recording.duration
        if window is not None:
            self.window = float(np.clip(window, MIN_WINDOW_S * self.sampling_rate, max(duration, 1)))
        self.t0 = float(np.clip(t0, 0, max(duration - self.window, 0)))
        self.refresh()

    def set_window_seconds(self, t0_s: float, width_s: float | None = None) -> None:
        rate = self.sampling_rate
        self.set_window(t0_s * rate, None if width_s is None else width_s * rate)

    def scroll_by(self, fraction: float) -> None:
        self.set_window(self.t0 + fraction * self.window)

    def zoom_time(self, factor: float, anchor: float | None = None) -> None:
        """Multiply the window width by `factor`, keeping timeline sample `anchor` in place."""
        anchor = self.t0 + self.window / 2 if anchor is None else anchor
        position = (anchor - self.t0) / self.window
        window = float(np.clip(self.window * factor, MIN_WINDOW_S * self.sampling_rate,
                               max(self.recording.duration, 1)))
        self.set_window(anchor - position * window, window)

    def scale_gain(self, factor: float) -> None:
        self.lane_units /= factor
        self._raster_key = None
        self._redraw()

    def autoscale(self) -> None:
        """Set the amplitude so a lane spans ±6 noise SDs (MAD) of the median channel (each stream
        lane from its own noise)."""
        self.pending_autoscale = True
        for display in self.lane_displays:
            display.pending_autoscale = True
        self.refresh()

    def set_filter(self, on: bool, cutoff: float | None = None) -> None:
        if cutoff is not None and self.source is not None and cutoff != self.source.cutoff:
            self.source.cutoff = float(cutoff)
            self.source._columns = {}
        self.filter_on = bool(on)
        self.pending_autoscale = True
        self.refresh()

    def set_car(self, on: bool) -> None:
        self.car_on = bool(on)
        self.refresh()

    def set_order_by_depth(self, on: bool) -> None:
        self.order_by_depth = bool(on)
        self.refresh()

    def set_hidden(self, channels) -> None:
        self.hidden = {int(c) for c in channels}
        self.refresh()

    def show_only(self, channels) -> None:
        keep = {int(c) for c in channels}
        self.set_hidden([c for c in range(self.recording.nb_channels) if c not in keep])

    def set_selected(self, channels) -> None:
        self.selected = {int(c) for c in channels}
        self._raster_key = None
        self._redraw()

    def gain_targets(self, channel: int | None) -> list[int]:
        """The channels a per-channel gain action applies to: the selection when `channel` is in it
        (or no channel is given), else `channel` alone."""
        if channel is None or channel in self.selected:
            return sorted(self.selected)
        return [channel]

    def scale_channel_gains(self, channels, factor: float) -> None:
        """Multiply the display gain of `channels` by `factor` (the data are untouched)."""
        channels = [int(c) for c in channels]
        if not channels or self.recording is None:
            return
        self.channel_gains[channels] *= float(factor)
        self._gains_changed()

    def reset_channel_gains(self, channels=None) -> None:
        if self.recording is None:
            return
        if channels is None:
            self.channel_gains[:] = 1.0
        else:
            self.channel_gains[[int(c) for c in channels]] = 1.0
        self._gains_changed()

    def _gains_changed(self) -> None:
        self._saved_gains = self.channel_gains.copy()
        self._raster_key = None
        self._redraw()

    def set_min_spacing(self, pixels: float) -> None:
        """Pixels per channel lane; 0 fits every shown channel in the view."""
        self.min_spacing = max(float(pixels), 0.0)
        self._raster_key = None
        self.refresh()

    # -- stream lanes -----------------------------------------------------------------------------
    def set_lanes(self, lanes: list[Lane]) -> None:
        """Show `lanes` (other streams of the acquisition) in bands under the main traces; each
        lane's `visible` says whether it has a band."""
        self.lanes = list(lanes)
        self.lane_displays = [StreamDisplay() for _ in self.lanes]
        self._raster_key = None
        self.refresh()

    def set_lane_visible(self, index: int, visible: bool) -> None:
        self.lanes[index].visible = bool(visible)
        self._raster_key = None
        self.refresh()

    def shown_lanes(self) -> list[int]:
        return [k for k, lane in enumerate(self.lanes) if lane.visible]

    def lane_bands(self) -> list[tuple[int, int, int]]:
        """(lane index, top, height) in widget pixels of each shown lane's band, header included.

        A lane gets its share of the rows, at least STREAM_ROW_PX per channel while the
        lanes together take at most a quarter of the plot each (three quarters in all)."""
        shown = self.shown_lanes()
        if not shown:
            return []
        rect = self.plot_rect()
        total = len(self.shown_channels()) + sum(self.lanes[k].nb_channels for k in shown)
        wanted = [max(rect.height() * self.lanes[k].nb_channels / max(total, 1),
                      min(self.lanes[k].nb_channels * STREAM_ROW_PX + STREAM_HEADER_PX, rect.height() / 4))
                  for k in shown]
        squeeze = min(1.0, 0.75 * rect.height() / sum(wanted))
        heights = [max(int(h * squeeze), STREAM_HEADER_PX + 4) for h in wanted]
        top = rect.bottom() + 1 - sum(heights)
        bands = []
        for k, height in zip(shown, heights, strict=True):
            bands.append((k, top, height))
            top += height
        return bands

    def main_height(self) -> int:
        """Pixel rows of the main stream's band: the plot less the shown lanes' bands."""
        lanes = sum(height for _, _, height in self.lane_bands())
        return max(self.plot_rect().height() - lanes, 1)

    def lane_at(self, y: float) -> int | None:
        """The lane whose band holds widget row `y`, or None (the main traces)."""
        for index, top, height in self.lane_bands():
            if top <= y < top + height:
                return index
        return None

    def scale_lane_gain(self, index: int, factor: float) -> None:
        """Multiply lane `index`'s amplitude by `factor` (its own gain; the main one is untouched)."""
        display = self.lane_displays[index]
        display.units /= float(factor)
        self._raster_lane(index)
        self.update()

    def _request_lanes(self, n_columns: int) -> None:
        """Ask each shown lane for the main window's columns, mapped to its own samples and rate."""
        first, spc = main_grid(self.t0, self.t0 + self.window, n_columns)
        for index in self.shown_lanes():
            lane, display = self.lanes[index], self.lane_displays[index]
            t0, t1 = lane_window(lane, first, spc, n_columns, self.sampling_rate)
            source = lane.trace_source()
            future = source.request(t0, t1, range(lane.nb_channels), n_columns,
                                    want_noise=display.pending_autoscale)
            future.add_done_callback(lambda done, k=index: self._deliver_lane(k, done))

    def _deliver_lane(self, index: int, future) -> None:
        if not future.cancelled() and future.exception() is None and future.result() is not None:
            self._laneFrameArrived.emit(index, future.result())

    def _on_lane_frame(self, index: int, frame: TraceFrame) -> None:
        source = self.lanes[index].source if index < len(self.lanes) else None
        if source is None or frame.request_id != source._latest:
            return
        display = self.lane_displays[index]
        units = _lane_units(frame) if display.pending_autoscale else None
        if units is not None:                   # a flat window leaves it pending for the next one
            display.units, display.pending_autoscale = units, False
        display.frame = frame
        self._raster_lane(index)
        self.update()

    def _raster_lane(self, index: int) -> None:
        """Bring lane `index`'s ring up to its frame: after a scroll only the new columns are
        rasterised, the same pixels a whole redraw (`_lane_raster` of every column) gives."""
        display = self.lane_displays[index]
        band = next((b for b in self.lane_bands() if b[0] == index), None)
        if display.frame is None or band is None:
            display.image, display.raster_key = None, None
            return
        frame, height = display.frame, band[2] - STREAM_HEADER_PX
        width = frame.n_columns
        if display.index is None or display.index.shape != (height, width):
            display.allocate(height, width, int(self._palette[0]))
        key = (frame.spc, frame.mode, frame.channels.tobytes(), height, width, float(display.units))
        for start, stop in ring_spans(ring_shift(display.raster_key, key, frame), width):
            block = self._lane_raster(index, start, stop, height)
            write_ring(display.index, display.pixels, self._palette, block, frame.first_column + start)
        display.ring_first = frame.first_column
        display.raster_key = (key, frame.first_column, frame.lo, frame.hi)

    def _lane_raster(self, index: int, start: int, stop: int, height: int) -> np.ndarray:
        """Colour-index image (height, stop - start) of columns [start, stop) of lane `index`'s frame."""
        display = self.lane_displays[index]
        frame = display.frame
        spacing = height / max(len(frame.channels), 1)
        baselines = (np.arange(len(frame.channels)) + 0.5) * spacing
        scales = np.full(len(frame.channels), spacing / display.units)
        previous = (frame.lo[:, start - 1], frame.hi[:, start - 1]) if start > 0 else None
        top, bottom = pixel_intervals(frame.lo[:, start:stop], frame.hi[:, start:stop], baselines, scales,
                                      height, previous)
        coverage = rasterize(top[0::2], bottom[0::2], height).view(np.uint8) \
            + rasterize(top[1::2], bottom[1::2], height).view(np.uint8)
        colours = np.full(len(frame.channels), 1 + (index + 1) % len(GROUP_COLOURS), dtype=np.uint8)
        coverage *= np.uint8(TONES)
        coverage += lane_colours(baselines, colours, height)[:, None]
        return coverage

    def _paint_lanes(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        """Each shown lane: a rule, its title (name, rate, offset), its channel labels, its traces."""
        painter.setFont(_small_font())
        for index, top, height in self.lane_bands():
            lane, display = self.lanes[index], self.lane_displays[index]
            painter.setPen(QtGui.QPen(QtGui.QColor("#999"), 1))
            painter.drawLine(0, top, rect.right() + MARGIN_RIGHT, top)
            painter.setPen(QtGui.QColor(GROUP_COLOURS[(index + 1) % len(GROUP_COLOURS)]))
            offset = f" · starts {lane.offset_s:+.3f} s" if abs(lane.offset_s) >= 5e-4 else ""
            painter.drawText(QtCore.QPointF(6, top + 11), f"{lane.label} · {lane.sampling_rate:g} Hz · "
                             f"{lane.nb_channels} ch · {display.units:.3g} {lane.units}/row{offset}")
            body = top + STREAM_HEADER_PX
            if display.image is not None and display.image.height() == height - STREAM_HEADER_PX:
                paint_ring(painter, display.image, display.ring_first, rect.left(), body)
            rows = lane.nb_channels
            spacing = (height - STREAM_HEADER_PX) / max(rows, 1)
            painter.setPen(QtGui.QColor("#333"))
            for row in range(0, rows, max(1, math.ceil(12 / spacing))):
                y = body + (row + 0.5) * spacing
                painter.drawText(QtCore.QRectF(0, y - 8, MARGIN_LEFT - 6, 16),
                                 QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter,
                                 f"ch {row}")

    # -- frames -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Ask the source for the current window; the answer arrives on `_on_frame`."""
        if self.source is None:
            return
        rows = self.visible_rows()
        rect = self.plot_rect()
        self._latest = -1
        future = self.source.request(self.t0, self.t0 + self.window, rows, rect.width(),
                                     self.filter_on, self.car_on, want_noise=self.pending_autoscale)
        request_id = self.source._latest
        self._latest = request_id
        self._requested_at[request_id] = time.perf_counter()
        future.add_done_callback(self._deliver)
        if self.lanes:
            self._request_lanes(rect.width())
        rate = self.sampling_rate
        self.windowChanged.emit(self.t0 / rate, (self.t0 + self.window) / rate)

    def _deliver(self, future) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            self._frameArrived.emit(error)
            return
        self._frameArrived.emit(future.result())

    def _on_frame(self, frame) -> None:
        if isinstance(frame, BaseException):
            import logging
            logging.getLogger("wavescope").error("reading the traces failed: %s", frame)
            return
        if frame is None or frame.request_id != self._latest or self.recording is None:
            return
        if frame.noise is not None and self.pending_autoscale:
            noise = float(np.median(frame.noise[np.isfinite(frame.noise)])) if frame.noise.size else 0.0
            if noise > 0:
                self.lane_units = NOISE_PER_LANE * noise
                self._raster_key = None
            self.pending_autoscale = False
        self.frame = frame
        self._redraw()

    def _lanes(self, channels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        spacing = self.spacing()
        baselines = (np.arange(len(channels)) + 0.5) * spacing
        scales = spacing / self.lane_units * self.channel_gains[channels]
        return baselines, scales

    def _redraw(self) -> None:
        frame = self.frame
        if frame is None:
            self.update()
            return
        height, width = self.main_height(), frame.n_columns
        baselines, scales = self._lanes(frame.channels)
        key = (frame.spc, frame.mode, frame.filter_on, frame.car_on, frame.channels.tobytes(), height,
               width, float(self.lane_units), self.channel_gains.tobytes(), tuple(sorted(self.selected)),
               self.spacing())
        if self._image is None or self._index.shape != (height, width):
            self._allocate(height, width)
        for start, stop in ring_spans(ring_shift(self._raster_key, key, frame), width):
            self._raster_into_ring(frame, start, stop, baselines, scales, height)
        self._ring_first = frame.first_column
        self._raster_key = (key, frame.first_column, frame.lo, frame.hi)
        self.update()

    def _allocate(self, height: int, width: int) -> None:
        """The ring buffers for a (height, width) image; the QImage wraps `_pixels` without copying."""
        self._index = np.zeros((height, width), dtype=np.uint8)
        self._pixels = np.full((height, width), self._palette[0], dtype=np.uint32)
        self._image = QtGui.QImage(self._pixels.data, width, height, width * 4, QtGui.QImage.Format.Format_RGB32)
        self._raster_key = None

    def _raster_into_ring(self, frame: TraceFrame, start: int, stop: int, baselines, scales,
                          height: int) -> None:
        """Rasterise columns [start, stop) of `frame` into the ring at their grid columns."""
        block = self._raster(frame, start, stop, baselines, scales, height)
        write_ring(self._index, self._pixels, self._palette, block, frame.first_column + start)

    def _raster(self, frame: TraceFrame, start: int, stop: int, baselines, scales, height: int) -> np.ndarray:
        """Colour-index image (height, stop - start) of columns [start, stop) of `frame`."""
        previous = (frame.lo[:, start - 1], frame.hi[:, start - 1]) if start > 0 else None
        top, bottom = pixel_intervals(frame.lo[:, start:stop], frame.hi[:, start:stop], baselines, scales,
                                      height, previous)
        # neighbouring lanes go to different passes, so a pixel lit by both is where traces cross
        coverage = rasterize(top[0::2], bottom[0::2], height).view(np.uint8) \
            + rasterize(top[1::2], bottom[1::2], height).view(np.uint8)
        colours = channel_colours(self.recording, len(GROUP_COLOURS))[frame.channels]
        if self.selected:
            colours = np.where(np.isin(frame.channels, list(self.selected)), HIGHLIGHT, colours)
        coverage *= np.uint8(TONES)
        coverage += lane_colours(baselines, colours, height)[:, None]
        return coverage

    # -- painting ---------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        painter = QtGui.QPainter(self)
        self.paint(painter)
        painter.end()
        frame = self.frame
        if frame is not None and frame.request_id != self._painted_request:
            self._painted_request = frame.request_id
            started = self._requested_at.pop(frame.request_id, None)
            if started is not None:
                self.framePainted.emit(frame.request_id, time.perf_counter() - started)

    def paint(self, painter: QtGui.QPainter) -> None:
        """Draw everything; also used to export to PNG and SVG."""
        painter.fillRect(self.rect(), QtGui.QColor(BACKGROUND))
        rect = self.plot_rect()
        if self.recording is None:
            painter.setPen(QtGui.QColor("#777"))
            painter.drawText(self.rect(), QtCore.Qt.AlignmentFlag.AlignCenter,
                             "Open a recording: File > Open, drag a file here, or `wavescope demo`.")
            return
        if self._image is not None:
            self._paint_ring(painter, rect)
        if self.lanes:
            self._paint_lanes(painter, rect)
        for overlay in self.overlays:
            overlay.paint(painter, rect)
        self._paint_segments(painter, rect)
        self._paint_time_axis(painter, rect)
        self._paint_channel_labels(painter, rect)
        self._paint_scale_bar(painter, rect)
        self._paint_status(painter, rect)
        self._paint_cursor(painter, rect)

    def _paint_ring(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        paint_ring(painter, self._image, self._ring_first, rect.left(), rect.top())

    def _x_of(self, sample: float, rect: QtCore.QRect) -> float:
        frame = self.frame
        spc = frame.spc if frame is not None else self.window / max(rect.width(), 1)
        first = frame.first_column if frame is not None else self.t0 / spc
        return rect.left() + sample / spc - first

    def _sample_at(self, x: float) -> float:
        rect = self.plot_rect()
        frame = self.frame
        spc = frame.spc if frame is not None else self.window / max(rect.width(), 1)
        first = frame.first_column if frame is not None else self.t0 / spc
        return (x - rect.left() + first) * spc

    def _paint_time_axis(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        rate = self.sampling_rate
        start, stop = self._sample_at(rect.left()) / rate, self._sample_at(rect.right() + 1) / rate
        step = nice_step(stop - start, max(rect.width() // 110, 2))
        painter.setPen(QtGui.QPen(QtGui.QColor("#444"), 1))
        painter.drawLine(rect.left(), rect.bottom() + 1, rect.right(), rect.bottom() + 1)
        painter.setFont(_small_font())
        tick = math.ceil(start / step) * step
        while tick <= stop:
            x = self._x_of(tick * rate, rect)
            painter.drawLine(QtCore.QPointF(x, rect.bottom() + 1), QtCore.QPointF(x, rect.bottom() + 5))
            painter.drawText(QtCore.QRectF(x - 50, rect.bottom() + 6, 100, 16),
                             QtCore.Qt.AlignmentFlag.AlignHCenter, format_seconds(tick, step))
            tick += step
        painter.drawText(QtCore.QRectF(0, rect.bottom() + 6, MARGIN_LEFT - 16, 16),
                         QtCore.Qt.AlignmentFlag.AlignRight, "time (s)")

    def _paint_channel_labels(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        """Labels change only with the channels, spacing or selection: drawn once, then blitted."""
        channels = self.frame.channels if self.frame is not None else np.asarray(self.visible_rows())
        key = (np.asarray(channels).tobytes(), self.spacing(), tuple(sorted(self.selected)), rect.height(),
               self.devicePixelRatioF())
        if self._labels is None or self._labels[0] != key or painter.device() is not self:
            image = self._label_image(channels, rect)
            if painter.device() is not self:          # export: draw vector text, keep the cache
                self._draw_labels(painter, channels, rect.top())
                return
            self._labels = (key, image)
        painter.drawImage(QtCore.QPointF(0, rect.top()), self._labels[1])

    def _label_image(self, channels, rect: QtCore.QRect) -> QtGui.QImage:
        ratio = self.devicePixelRatioF()
        image = QtGui.QImage(int(MARGIN_LEFT * ratio), int(rect.height() * ratio),
                             QtGui.QImage.Format.Format_ARGB32_Premultiplied)
        image.setDevicePixelRatio(ratio)
        image.fill(QtCore.Qt.GlobalColor.transparent)
        label_painter = QtGui.QPainter(image)
        self._draw_labels(label_painter, channels, 0)
        label_painter.end()
        return image

    def _draw_labels(self, painter: QtGui.QPainter, channels, top: float) -> None:
        spacing = self.spacing()
        every = max(1, math.ceil(12 / spacing))
        painter.setFont(_small_font())
        for row in range(0, len(channels), every):
            y = top + (row + 0.5) * spacing
            gain = self.channel_gains[int(channels[row])] if len(self.channel_gains) else 1.0
            painter.setPen(QtGui.QColor("#e0441b" if int(channels[row]) in self.selected else "#333"))
            text = f"ch {int(channels[row])}" + ("" if gain == 1 else f" ×{gain:g}")
            painter.drawText(QtCore.QRectF(0, y - 8, MARGIN_LEFT - 6, 16),
                             QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter, text)

    def _paint_segments(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        pen = QtGui.QPen(QtGui.QColor("#2a7ab0"), 1, QtCore.Qt.PenStyle.DashLine)
        painter.setPen(pen)
        for segment in self.recording.segments[1:]:
            x = self._x_of(segment.start, rect)
            if rect.left() <= x <= rect.right():
                painter.drawLine(QtCore.QPointF(x, rect.top()), QtCore.QPointF(x, rect.bottom()))
                painter.drawText(QtCore.QPointF(x + 3, rect.top() + 12), f"segment {segment.index}")

    def _paint_scale_bar(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        """Amplitude bar in the right margin, beside the traces and never over them (the time
        axis gives the time scale)."""
        spacing = self.spacing()
        amplitude = nice_step(self.lane_units * 0.8, 1)
        height = min(amplitude * spacing / self.lane_units, self.main_height() - 20)
        x, bottom = rect.right() + 10, rect.top() + self.main_height() - 1
        painter.setPen(QtGui.QPen(QtGui.QColor("#000"), 2))
        painter.drawLine(QtCore.QPointF(x, bottom), QtCore.QPointF(x, bottom - height))
        painter.drawLine(QtCore.QPointF(x - 3, bottom - height), QtCore.QPointF(x + 3, bottom - height))
        painter.drawLine(QtCore.QPointF(x - 3, bottom), QtCore.QPointF(x + 3, bottom))
        painter.setFont(_small_font())
        painter.setPen(QtGui.QColor("#222"))
        painter.drawText(QtCore.QRectF(x + 5, bottom - height - 16, MARGIN_RIGHT - 16, 16),
                         QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignBottom,
                         f"{amplitude:g}")
        painter.drawText(QtCore.QRectF(x + 5, bottom - height, MARGIN_RIGHT - 16, 16),
                         QtCore.Qt.AlignmentFlag.AlignLeft, self.recording.units)

    def _paint_status(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        notes = []
        if self.frame is None:
            notes.append("loading…")
        elif self.frame.mode == "preview":
            notes.append("preview (summary not built yet)")
        elif self.frame.approximate:
            notes.append("summary of unfiltered data")
        if self.filter_on:
            notes.append(f"high-pass {self.source.cutoff:g} Hz")
        if self.car_on:
            notes.append("CAR")
        if notes:
            painter.setFont(_small_font())
            painter.setPen(QtGui.QColor("#a04a00"))
            painter.drawText(QtCore.QPointF(rect.left() + 6, rect.top() + 12), " · ".join(notes))

    def _paint_cursor(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        if self._measure is not None:
            start, stop = self._measure
            painter.setPen(QtGui.QPen(QtGui.QColor("#e0441b"), 1, QtCore.Qt.PenStyle.DashLine))
            painter.drawRect(QtCore.QRectF(start, stop).normalized())
            dt, dv = self.measure(start, stop)
            painter.drawText(stop + QtCore.QPointF(8, -6), f"dt = {dt * 1000:.3g} ms   dV = {dv:.4g} "
                             f"{self.recording.units}")
        elif self._cursor is not None and rect.contains(self._cursor.toPoint()):
            painter.setPen(QtGui.QPen(QtGui.QColor(224, 68, 27, 120), 1))
            painter.drawLine(QtCore.QPointF(self._cursor.x(), rect.top()),
                             QtCore.QPointF(self._cursor.x(), rect.bottom()))

    # -- readout ----------------------------------------------------------------------------------
    def channel_at(self, y: float) -> int | None:
        if self.frame is None or len(self.frame.channels) == 0:
            return None
        row = int((y - self.plot_rect().top()) // self.spacing())
        return int(self.frame.channels[row]) if 0 <= row < len(self.frame.channels) else None

    def value_per_pixel(self, channel: int) -> float:
        return self.lane_units / (self.spacing() * self.channel_gains[channel])

    def measure(self, start: QtCore.QPointF, stop: QtCore.QPointF) -> tuple[float, float]:
        """(dt in s, dV in data units) between two points, dV on the start point's channel."""
        dt = (self._sample_at(stop.x()) - self._sample_at(start.x())) / self.sampling_rate
        channel = self.channel_at(start.y())
        dv = (start.y() - stop.y()) * self.value_per_pixel(channel) if channel is not None else 0.0
        return dt, dv

    def readout(self, point: QtCore.QPointF) -> dict:
        """Cursor time (s, sample), channel and value (exact when the chunk is cached)."""
        sample = int(self._sample_at(point.x()))
        channel = self.channel_at(point.y())
        info = {"time_s": sample / self.sampling_rate, "sample": sample, "channel": channel, "value": None,
                "units": self.recording.units if self.recording else ""}
        if channel is not None and self.source is not None and not self.car_on:
            info["value"] = self.source.cached_value(sample, channel, self.filter_on)
        return info

    # -- export -----------------------------------------------------------------------------------
    def export(self, path: str) -> None:
        """The visible view as PNG (pixels) or SVG (vector axes, the traces as an embedded image)."""
        if str(path).lower().endswith(".svg"):
            from PyQt6 import QtSvg
            generator = QtSvg.QSvgGenerator()
            generator.setFileName(str(path))
            generator.setSize(self.size())
            generator.setViewBox(self.rect())
            generator.setTitle("Wavescope traces")
            painter = QtGui.QPainter(generator)
            self.paint(painter)
            painter.end()
        else:
            if not self.grab().save(str(path)):
                raise OSError(f"{path}: could not write the picture; check the folder and the extension.")

    # -- settings ---------------------------------------------------------------------------------
    def view_settings(self) -> dict:
        gains = self.channel_gains if len(self.channel_gains) else self._saved_gains
        return {"window_s": self.window / self.sampling_rate, "filter_on": self.filter_on,
                "cutoff": self.source.cutoff if self.source else 300.0, "car_on": self.car_on,
                "order_by_depth": self.order_by_depth, "min_spacing": self.min_spacing,
                "channel_gains": "" if gains is None else ",".join(f"{g:g}" for g in gains)}

    def apply_settings(self, settings: dict) -> None:
        self.filter_on = _as_bool(settings.get("filter_on", self.filter_on))
        self.car_on = _as_bool(settings.get("car_on", self.car_on))
        self.order_by_depth = _as_bool(settings.get("order_by_depth", self.order_by_depth))
        self.min_spacing = float(settings.get("min_spacing", self.min_spacing))
        gains = _parse_gains(settings.get("channel_gains"))
        if gains is not None:
            self._saved_gains = gains
            if self.recording is not None and len(gains) == self.recording.nb_channels:
                self.channel_gains = gains.copy()
                self._raster_key = None
        if self.source is not None and "cutoff" in settings:
            self.source.cutoff = float(settings["cutoff"])
        if "window_s" in settings:
            self.window_s = float(settings["window_s"])
            if self.recording is not None:
                self.window = self.window_s * self.sampling_rate
        if self.recording is not None:
            self.set_window(self.t0, self.window)

    # -- input ------------------------------------------------------------------------------------
    def _to_overlays(self, method: str, *args) -> bool:
        """Offer an input event to the overlays; True when one of them used it."""
        return any([getattr(overlay, method)(*args) for overlay in self.overlays])

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        if self._to_overlays("key", event.key()):
            return
        key, modifiers = event.key(), event.modifiers()
        ctrl = bool(modifiers & QtCore.Qt.KeyboardModifier.ControlModifier)
        Key = QtCore.Qt.Key
        actions = {
            Key.Key_Right: lambda: self.scroll_by(0.1), Key.Key_Left: lambda: self.scroll_by(-0.1),
            Key.Key_PageDown: lambda: self.scroll_by(1.0), Key.Key_PageUp: lambda: self.scroll_by(-1.0),
            Key.Key_Home: lambda: self.set_window(0), Key.Key_End: lambda: self.set_window(float("inf")),
            Key.Key_Plus: lambda: self.zoom_time(0.5), Key.Key_Equal: lambda: self.zoom_time(0.5),
            Key.Key_Minus: lambda: self.zoom_time(2.0),
            Key.Key_Up: (lambda: self.scale_gain(1.25)) if ctrl else (lambda: self._scroll_rows(-1)),
            Key.Key_Down: (lambda: self.scale_gain(0.8)) if ctrl else (lambda: self._scroll_rows(1)),
        }
        action = actions.get(key)
        if action is None or self.recording is None:
            super().keyPressEvent(event)
            return
        action()

    def _scroll_rows(self, rows: int) -> None:
        self.top_row += rows
        self.refresh()

    def wheelEvent(self, event: QtGui.QWheelEvent) -> None:
        if self.recording is None:
            return
        notches = event.angleDelta().y() / 120 or event.angleDelta().x() / 120
        modifiers = event.modifiers()
        channel = self.channel_at(event.position().y())
        lane = self.lane_at(event.position().y())
        if modifiers & QtCore.Qt.KeyboardModifier.ControlModifier and lane is not None:
            self.scale_lane_gain(lane, 1.25 ** notches)
        elif modifiers & QtCore.Qt.KeyboardModifier.ControlModifier and channel in self.selected:
            self.scale_channel_gains(self.gain_targets(channel), 1.25 ** notches)
        elif modifiers & QtCore.Qt.KeyboardModifier.ControlModifier:
            self.scale_gain(1.25 ** notches)
        elif modifiers & QtCore.Qt.KeyboardModifier.ShiftModifier:
            self.zoom_time(0.8 ** notches, self._sample_at(event.position().x()))
        else:
            self.scroll_by(-0.1 * notches)
        event.accept()

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:
        if (event.button() == QtCore.Qt.MouseButton.LeftButton
                and self._to_overlays("press", event.position(), event.modifiers())):
            return
        if (event.button() == QtCore.Qt.MouseButton.LeftButton and self.recording is not None
                and event.position().x() < MARGIN_LEFT):
            self._select_from_label(event)
            return
        if event.button() == QtCore.Qt.MouseButton.LeftButton and self.recording is not None:
            self._measure = (event.position(), event.position())
            self.update()

    def _select_from_label(self, event: QtGui.QMouseEvent) -> None:
        """Click a channel label to select it; Ctrl+click adds or removes it."""
        channel = self.channel_at(event.position().y())
        if channel is None:
            return
        if event.modifiers() & QtCore.Qt.KeyboardModifier.ControlModifier:
            self.set_selected(self.selected ^ {channel})
        else:
            self.set_selected(set() if self.selected == {channel} else {channel})

    def contextMenuEvent(self, event: QtGui.QContextMenuEvent) -> None:
        if self.recording is None:
            return
        self.gain_menu(self.channel_at(event.pos().y())).exec(event.globalPos())

    def gain_menu(self, channel: int | None) -> QtWidgets.QMenu:
        """Per-channel gain actions for `channel` (or the selection it belongs to)."""
        menu = QtWidgets.QMenu(self)
        targets = self.gain_targets(channel)
        name = (f"ch {targets[0]}" if len(targets) == 1 else f"{len(targets)} selected channels") \
            if targets else "no channel"
        for text, action in ((f"Gain ×2 ({name})", lambda: self.scale_channel_gains(targets, 2.0)),
                             (f"Gain ÷2 ({name})", lambda: self.scale_channel_gains(targets, 0.5)),
                             (f"Reset gain ({name})", lambda: self.reset_channel_gains(targets))):
            menu.addAction(text, action).setEnabled(bool(targets))
        menu.addSeparator()
        menu.addAction("Reset all channel gains", self.reset_channel_gains)
        return menu

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:
        if self._to_overlays("move", event.position()):
            return
        self._cursor = event.position()
        if self._measure is not None:
            self._measure = (self._measure[0], event.position())
        if self.recording is not None and self.frame is not None:
            self.cursorMoved.emit(self.readout(event.position()))
        self.update()

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:
        if self._to_overlays("release", event.position()):
            self.update()
            return
        if self._measure is not None:
            start, stop = self._measure
            if (stop - start).manhattanLength() < 3:
                self._measure = None
        self.update()

    def mouseDoubleClickEvent(self, event: QtGui.QMouseEvent) -> None:
        if self._to_overlays("double_click", event.position()):
            return
        self._measure = None
        self.update()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._raster_key = None
        if self.source is not None:
            self.refresh()


class TracePanel(QtWidgets.QWidget):
    """The trace view with its time scrollbar over the whole recording."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.view = TraceView(self)
        self.scrollbar = QtWidgets.QScrollBar(QtCore.Qt.Orientation.Horizontal, self)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._make_toolbar())
        layout.addWidget(self.view, 1)
        layout.addWidget(self.scrollbar)
        self._syncing = False
        self.scrollbar.valueChanged.connect(self._scrolled)
        self.view.windowChanged.connect(self._window_changed)

    def _make_toolbar(self) -> QtWidgets.QToolBar:
        """Display controls: lane spacing and the selected channels' gain."""
        bar = QtWidgets.QToolBar(self)
        bar.setIconSize(QtCore.QSize(14, 14))
        bar.addWidget(QtWidgets.QLabel(" Spacing "))
        self.spacing_box = QtWidgets.QSpinBox(bar)
        self.spacing_box.setRange(0, 400)
        self.spacing_box.setSuffix(" px")
        self.spacing_box.setSpecialValueText("fit")
        self.spacing_box.setToolTip("Pixels per channel; 'fit' shows every channel")
        self.spacing_box.valueChanged.connect(self.view.set_min_spacing)
        bar.addWidget(self.spacing_box)
        bar.addSeparator()
        bar.addWidget(QtWidgets.QLabel(" Selected gain "))
        for text, tip, action in (
                ("×2", "Double the selected channels' gain (Ctrl+wheel over one)",
                 lambda: self.view.scale_channel_gains(self.view.gain_targets(None), 2.0)),
                ("÷2", "Halve the selected channels' gain",
                 lambda: self.view.scale_channel_gains(self.view.gain_targets(None), 0.5)),
                ("reset", "Reset the selected channels' gain (all when none selected)",
                 lambda: self.view.reset_channel_gains(self.view.gain_targets(None) or None))):
            bar.addAction(text, action).setToolTip(tip)
        return bar

    def sync_controls(self) -> None:
        """Show the view's settings in the toolbar (they may have been restored from settings)."""
        self.spacing_box.blockSignals(True)
        self.spacing_box.setValue(round(self.view.min_spacing))
        self.spacing_box.blockSignals(False)

    def _window_changed(self, t0: float, t1: float) -> None:
        recording = self.view.recording
        if recording is None:
            return
        self.sync_controls()
        self._syncing = True
        total_ms = int(recording.duration_s * 1000)
        page = max(int((t1 - t0) * 1000), 1)
        self.scrollbar.setRange(0, max(total_ms - page, 0))
        self.scrollbar.setPageStep(page)
        self.scrollbar.setSingleStep(max(page // 10, 1))
        self.scrollbar.setValue(int(t0 * 1000))
        self._syncing = False

    def _scrolled(self, value: int) -> None:
        if not self._syncing and self.view.recording is not None:
            self.view.set_window(value / 1000 * self.view.sampling_rate)


def _lane_units(frame: TraceFrame) -> float | None:
    """A stream lane's auto-scale: ±6 noise SDs of its median channel, else (TTL levels, steps)
    the span of what the frame shows; None when the frame is flat."""
    noise = frame.noise[np.isfinite(frame.noise)] if frame.noise is not None else np.zeros(0)
    if noise.size and float(np.median(noise)) > 0:
        return NOISE_PER_LANE * float(np.median(noise))
    finite = np.isfinite(frame.lo) & np.isfinite(frame.hi)
    span = float(np.max(frame.hi[finite]) - np.min(frame.lo[finite])) if finite.any() else 0.0
    return 1.25 * span if span > 0 else None


def _toward(colour: QtGui.QColor, other: str, fraction: float) -> QtGui.QColor:
    """`colour` moved `fraction` of the way to `other` (a lighter tone on a light background)."""
    target = QtGui.QColor(other)
    return QtGui.QColor(*(round(a + (b - a) * fraction) for a, b in
                          zip(colour.getRgb()[:3], target.getRgb()[:3], strict=True)))


def _small_font() -> QtGui.QFont:
    font = QtGui.QFont()
    font.setPointSizeF(8.0)
    return font


def _duration_text(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:g} ms"
    return f"{seconds * 1e6:g} µs"


def _parse_gains(value) -> np.ndarray | None:
    """Saved per-channel gains ("1,2,0.5", or a list from some QSettings backends); None if absent or bad."""
    if value is None or value == "":
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        gains = np.asarray([float(item) for item in items], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return gains if len(gains) and bool(np.all(np.isfinite(gains) & (gains > 0))) else None


def _as_bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
