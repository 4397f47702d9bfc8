"""Stream lanes: the acquisition's other streams in bands under the main traces.

Each lane asks its own TraceSource for the main window's pixel columns mapped to its samples and
rate (`app.model.lanes.lane_window`), keeps its own gain, and draws into its own `RasterRing`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PyQt6 import QtCore, QtGui

from app.model.lanes import Lane, lane_window, main_grid
from app.model.recording import datafile_channel_names
from app.model.traces import TraceFrame
from app.model.viewport import NOISE_PER_LANE
from app.views.trace.decorations import MARGIN_RIGHT, channel_label, small_font
from app.views.trace.ring import GROUP_COLOURS, RasterRing, group_colours, raster_columns

if TYPE_CHECKING:
    from app.views.trace.canvas import TraceView

STREAM_ROW_PX = 18             # pixels per channel a stream lane asks for (it gets at most a quarter)
STREAM_HEADER_PX = 14          # the stream lane's title line


@dataclass
class StreamDisplay:
    """What the view keeps for one lane: its gain, its last frame and its picture."""

    ring: RasterRing
    units: float = 1.0                       # data units one channel row spans (the lane's own gain)
    pending_autoscale: bool = True
    frame: TraceFrame | None = None


def lane_units(frame: TraceFrame) -> float | None:
    """A stream lane's auto-scale: ±6 noise SDs of its median channel, else (TTL levels, steps)
    the span of what the frame shows; None when the frame is flat."""
    noise = frame.noise[np.isfinite(frame.noise)] if frame.noise is not None else np.zeros(0)
    if noise.size and float(np.median(noise)) > 0:
        return NOISE_PER_LANE * float(np.median(noise))
    finite = np.isfinite(frame.lo) & np.isfinite(frame.hi)
    span = float(np.max(frame.hi[finite]) - np.min(frame.lo[finite])) if finite.any() else 0.0
    return 1.25 * span if span > 0 else None


class StreamLanes:
    """The lanes of one view: their bands, their requests, their pictures."""

    def __init__(self, view: TraceView, palette: np.ndarray):
        self.view = view
        self.palette = palette
        self.lanes: list[Lane] = []
        self.displays: list[StreamDisplay] = []
        self.names: list[list[str]] = []         # each lane's own channel names (its file's, else "ch N")

    def set_lanes(self, lanes: list[Lane]) -> None:
        self.lanes = list(lanes)
        self.names = [datafile_channel_names(lane.datafile) for lane in self.lanes]
        self.displays = [StreamDisplay(RasterRing(self.palette)) for _ in self.lanes]

    def shown(self) -> list[int]:
        return [k for k, lane in enumerate(self.lanes) if lane.visible]

    def bands(self, rect: QtCore.QRect, main_rows: int) -> list[tuple[int, int, int]]:
        """(lane index, top, height) in widget pixels of each shown lane's band, header included.

        A lane gets its share of the rows, at least STREAM_ROW_PX per channel while the
        lanes together take at most a quarter of the plot each (three quarters in all)."""
        shown = self.shown()
        if not shown:
            return []
        total = main_rows + sum(self.lanes[k].nb_channels for k in shown)
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

    def autoscale(self) -> None:
        for display in self.displays:
            display.pending_autoscale = True

    def request(self, t0: float, window: float, n_columns: int, main_rate: float, deliver) -> None:
        """Ask each shown lane for the main window's columns, mapped to its own samples and rate;
        `deliver(index, future)` gets each answer on a worker thread."""
        first, spc = main_grid(t0, t0 + window, n_columns)
        for index in self.shown():
            lane, display = self.lanes[index], self.displays[index]
            start, stop = lane_window(lane, first, spc, n_columns, main_rate)
            source = lane.trace_source()
            future = source.request(start, stop, range(lane.nb_channels), n_columns,
                                    want_noise=display.pending_autoscale)
            future.add_done_callback(lambda done, k=index: deliver(k, done))

    def accept(self, index: int, frame: TraceFrame) -> bool:
        """Keep `frame` for lane `index` if it answers the lane's latest request; True if kept."""
        source = self.lanes[index].source if index < len(self.lanes) else None
        if source is None or not source.is_latest(frame):
            return False
        display = self.displays[index]
        units = lane_units(frame) if display.pending_autoscale else None
        if units is not None:                   # a flat window leaves it pending for the next one
            display.units, display.pending_autoscale = units, False
        display.frame = frame
        return True

    def scale_gain(self, index: int, factor: float) -> None:
        self.displays[index].units /= float(factor)

    def draw(self, index: int, height: int | None, raster) -> None:
        """Bring lane `index`'s ring up to its frame (`height` of its band's body; None: no band);
        `raster(index, start, stop, height)` draws columns."""
        display = self.displays[index]
        if display.frame is None or height is None:
            display.ring.reset()
            return
        frame = display.frame
        key = (frame.spc, frame.mode, frame.channels.tobytes(), height, frame.n_columns, float(display.units))
        display.ring.draw(frame, height, key, lambda start, stop: raster(index, start, stop, height))

    def raster(self, index: int, start: int, stop: int, height: int) -> np.ndarray:
        """Colour-index image (height, stop - start) of columns [start, stop) of lane `index`'s frame."""
        display = self.displays[index]
        frame = display.frame
        spacing = height / max(len(frame.channels), 1)
        baselines = (np.arange(len(frame.channels)) + 0.5) * spacing
        scales = np.full(len(frame.channels), spacing / display.units)
        colours = np.full(len(frame.channels), 1 + (index + 1) % len(GROUP_COLOURS), dtype=np.uint8)
        return raster_columns(frame, start, stop, baselines, scales, height, colours)

    def paint(self, painter: QtGui.QPainter, rect: QtCore.QRect, bands) -> None:
        """Each shown lane: a rule, its title (name, rate, offset), its channel names, its traces."""
        painter.setFont(small_font())
        metrics = QtGui.QFontMetrics(painter.font())
        for index, top, height in bands:
            lane, display = self.lanes[index], self.displays[index]
            painter.setPen(QtGui.QPen(self.view.ink("rule"), 1))
            painter.drawLine(0, top, rect.right() + MARGIN_RIGHT, top)
            painter.setPen(QtGui.QColor(group_colours(self.view.dark)[(index + 1) % len(GROUP_COLOURS)]))
            offset = f" · starts {lane.offset_s:+.3f} s" if abs(lane.offset_s) >= 5e-4 else ""
            painter.drawText(QtCore.QPointF(6, top + 11), f"{lane.label} · {lane.sampling_rate:g} Hz · "
                             f"{lane.nb_channels} ch · {display.units:.3g} {lane.units}/row{offset}")
            body = top + STREAM_HEADER_PX
            image = display.ring.image
            if image is not None and image.height() == height - STREAM_HEADER_PX:
                display.ring.paint(painter, rect.left(), body)
            rows, names = lane.nb_channels, self.names[index] if index < len(self.names) else []
            spacing = (height - STREAM_HEADER_PX) / max(rows, 1)
            painter.setPen(self.view.ink("text"))
            for row in range(0, rows, max(1, math.ceil(12 / spacing))):
                y = body + (row + 0.5) * spacing
                painter.drawText(QtCore.QRectF(0, y - 8, self.view.left_margin() - 6, 16),
                                 QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter,
                                 metrics.elidedText(channel_label(names, row),
                                                    QtCore.Qt.TextElideMode.ElideRight, self.view.left_margin() - 8))
