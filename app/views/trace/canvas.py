"""The trace viewer: hundreds of channels drawn as one image, at any zoom.

The widget asks `TraceSource` for per-column value intervals and rasterises them with numpy
(`decimate.rasterize`) into one image whose pixels map 1:1 to the screen: a pixel one trace
covers gets a light tone of its row's colour, one where two traces cross the full colour (an
anti-aliased look at no extra pass over the pixels). The image is a ring of columns
(`ring.RasterRing`), so a scroll rasterises only the new columns. Axes, labels, scale bar,
cursor and measure tool are overlays painted on top (`decorations`).

What is on screen — window, channels, gains, filter — is the `Viewport`'s: this widget turns
keys and mouse into viewport calls and redraws when the viewport says it changed.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from app.model.lanes import Lane
from app.model.recording import Recording, channel_colours
from app.model.session import Session
from app.model.traces import TraceFrame, TraceSource
from app.model.viewport import Viewport
from app.views.trace import decorations as deco
from app.views.trace.decorations import MARGIN_BOTTOM, MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP
from app.views.trace.input import TraceInput
from app.views.trace.lanes import STREAM_HEADER_PX, StreamLanes
from app.views.trace.ring import BACKGROUND, GROUP_COLOURS, HIGHLIGHT, RasterRing, make_palette, raster_columns
from app.views.trace.settings import ViewportFields

log = logging.getLogger("wavescope")
REFRESH_TOPICS = {"window", "channels", "filter", "settings", "recording"}


class TraceView(ViewportFields, TraceInput, QtWidgets.QWidget):
    """Stacked traces of the shown channels over a time window; keyboard and mouse navigation."""

    windowChanged = QtCore.pyqtSignal(float, float)          # t0, t1 in seconds
    cursorMoved = QtCore.pyqtSignal(dict)
    framePainted = QtCore.pyqtSignal(int, float)             # request id, seconds since the request
    _frameArrived = QtCore.pyqtSignal(object)
    _laneFrameArrived = QtCore.pyqtSignal(int, object)

    def __init__(self, parent: QtWidgets.QWidget | None = None, viewport: Viewport | None = None):
        super().__init__(parent)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setMinimumSize(320, 200)
        self.recording: Recording | None = None
        self.source: TraceSource | None = None
        self.session: Session | None = None
        self._unsubscribe_session = None
        self.viewport = viewport or Viewport()
        self.viewport.subscribe(self._viewport_changed)
        self.overlays: list = []            # drawn over the traces, offered the mouse and keys first
        self.cursor_tool = deco.CursorMeasure(self)
        self.decorations = [deco.SegmentMarks(self), deco.TimeAxis(self), deco.ChannelLabels(self),
                            deco.ScaleBar(self), deco.StatusBadge(self), self.cursor_tool]
        self.palette = make_palette()
        self.ring = RasterRing(self.palette)
        self.stream_lanes = StreamLanes(self, self.palette)
        self.frame: TraceFrame | None = None
        self._latest = 0
        self._requested_at: dict[int, float] = {}
        self._painted_request = -1
        self._frameArrived.connect(self._on_frame)
        self._laneFrameArrived.connect(self._on_lane_frame)

    # -- model ------------------------------------------------------------------------------------
    def set_session(self, session: Session) -> None:
        """Follow `session`: show what it opens, clear when it closes, show its lanes."""
        if self._unsubscribe_session is not None:
            self._unsubscribe_session()
        self.session = session
        self._unsubscribe_session = session.subscribe(self._session_changed)

    def _session_changed(self, topic: str, _value) -> None:
        session = self.session
        if topic == "opened":
            self.set_recording(session.recording, session.source)
            self.set_lanes(session.lanes)
        elif topic == "closed":
            self.clear()
        elif topic == "lanes":
            self.set_lanes(session.lanes)
        elif topic == "probe" and self.recording is not None:
            self.viewport.set_channel_layout(self.recording.channels, self.recording.depth_order()
                                             if self.recording.positions() else [])

    def set_recording(self, recording: Recording, source: TraceSource) -> None:
        self.recording, self.source = recording, source
        self.frame = None
        self.ring.reset()
        self.stream_lanes.set_lanes([])
        self.viewport.cutoff = source.cutoff
        order = recording.depth_order() if recording.positions() else []
        self.viewport.set_recording(recording.sampling_rate, recording.duration, recording.channels, order,
                                    recording.nb_channels)

    def clear(self) -> None:
        self.recording, self.source, self.frame = None, None, None
        self.ring.reset()
        self.stream_lanes.set_lanes([])
        self._latest = -1
        self.viewport.clear()
        self.update()

    def _viewport_changed(self, topic: str, _value) -> None:
        if topic in ("filter", "settings") and self.source is not None:
            self.source.set_cutoff(self.viewport.cutoff)
        if topic in REFRESH_TOPICS:
            self.refresh()
        elif topic == "autoscale":
            self.stream_lanes.autoscale()
            self.refresh()
        elif topic in ("gain", "selection"):
            self.ring.invalidate()
            self._redraw()

    @property
    def sampling_rate(self) -> float:
        return self.recording.sampling_rate if self.recording else 1.0

    @property
    def cutoff(self) -> float:
        return self.source.cutoff if self.source is not None else self.viewport.cutoff

    def channel_order(self) -> list[int]:
        """Every channel in display order (top first): by probe depth, shallowest on top, or by index."""
        return self.viewport.channel_order()

    def shown_channels(self) -> list[int]:
        return self.viewport.shown_channels()

    def plot_rect(self) -> QtCore.QRect:
        return QtCore.QRect(MARGIN_LEFT, MARGIN_TOP, max(self.width() - MARGIN_LEFT - MARGIN_RIGHT, 1),
                            max(self.height() - MARGIN_TOP - MARGIN_BOTTOM, 1))

    def spacing(self) -> float:
        return self.viewport.spacing(self.main_height())

    def visible_rows(self) -> list[int]:
        """The channels on screen now (the shown ones from the viewport's first channel, as many as fit)."""
        return self.viewport.visible_rows(self.main_height())

    # -- stream lanes -----------------------------------------------------------------------------
    @property
    def lanes(self) -> list[Lane]:
        return self.stream_lanes.lanes

    @property
    def lane_displays(self):
        return self.stream_lanes.displays

    def set_lanes(self, lanes: list[Lane]) -> None:
        """Show `lanes` (other streams of the acquisition) in bands under the main traces; each
        lane's `visible` says whether it has a band."""
        self.stream_lanes.set_lanes(lanes)
        self.ring.invalidate()
        self.refresh()

    def set_lane_visible(self, index: int, visible: bool) -> None:
        self.lanes[index].visible = bool(visible)
        self.ring.invalidate()
        self.refresh()

    def shown_lanes(self) -> list[int]:
        return self.stream_lanes.shown()

    def lane_bands(self) -> list[tuple[int, int, int]]:
        """(lane index, top, height) in widget pixels of each shown lane's band, header included."""
        if not self.lanes:
            return []
        return self.stream_lanes.bands(self.plot_rect(), len(self.shown_channels()))

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
        self.stream_lanes.scale_gain(index, factor)
        self._raster_lane(index)
        self.update()

    def _deliver_lane(self, index: int, future) -> None:
        if not future.cancelled() and future.exception() is None and future.result() is not None:
            self._laneFrameArrived.emit(index, future.result())

    def _on_lane_frame(self, index: int, frame: TraceFrame) -> None:
        if self.stream_lanes.accept(index, frame):
            self._raster_lane(index)
            self.update()

    def _raster_lane(self, index: int) -> None:
        band = next((b for b in self.lane_bands() if b[0] == index), None)
        self.stream_lanes.draw(index, None if band is None else band[2] - STREAM_HEADER_PX, self._lane_raster)

    def _lane_raster(self, index: int, start: int, stop: int, height: int) -> np.ndarray:
        """Colour-index image (height, stop - start) of columns [start, stop) of lane `index`'s frame."""
        return self.stream_lanes.raster(index, start, stop, height)

    # -- frames -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Ask the source for the current window; the answer arrives on `_on_frame`."""
        if self.source is None:
            return
        viewport, rect = self.viewport, self.plot_rect()
        rows = self.visible_rows()
        self._latest = -1
        future = self.source.request(viewport.t0, viewport.t0 + viewport.window, rows, rect.width(),
                                     viewport.highpass, viewport.car, want_noise=viewport.pending_autoscale)
        request_id = self.source.latest_request
        self._latest = request_id
        self._requested_at[request_id] = time.perf_counter()
        future.add_done_callback(self._deliver)
        if self.lanes:
            self.stream_lanes.request(viewport.t0, viewport.window, rect.width(), self.sampling_rate,
                                      self._deliver_lane)
        self.windowChanged.emit(viewport.t_start, viewport.t_start + viewport.duration)

    def _deliver(self, future) -> None:
        if future.cancelled():
            return
        error = future.exception()
        self._frameArrived.emit(error if error is not None else future.result())

    def _on_frame(self, frame) -> None:
        if isinstance(frame, BaseException):
            log.error("reading the traces failed: %s", frame)
            return
        if frame is None or frame.request_id != self._latest or self.recording is None:
            return
        if frame.noise is not None and self.viewport.pending_autoscale:
            if self.viewport.autoscale_from_noise(frame.noise):
                self.ring.invalidate()
        self.frame = frame
        self._redraw()

    def _lanes(self, channels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(baseline, pixels per data unit) of each row of `channels` in the main band."""
        spacing = self.spacing()
        baselines = (np.arange(len(channels)) + 0.5) * spacing
        scales = spacing / self.viewport.units * self.viewport.gains[channels]
        return baselines, scales

    def _redraw(self) -> None:
        frame = self.frame
        if frame is None:
            self.update()
            return
        viewport = self.viewport
        height = self.main_height()
        baselines, scales = self._lanes(frame.channels)
        key = (frame.spc, frame.mode, frame.filter_on, frame.car_on, frame.channels.tobytes(), height,
               frame.n_columns, float(viewport.units), viewport.gains.tobytes(),
               tuple(sorted(viewport.selected)), self.spacing())
        self.ring.draw(frame, height, key,
                       lambda start, stop: self._raster(frame, start, stop, baselines, scales, height))
        self.update()

    def _raster(self, frame: TraceFrame, start: int, stop: int, baselines, scales, height: int) -> np.ndarray:
        """Colour-index image (height, stop - start) of columns [start, stop) of `frame`."""
        colours = channel_colours(self.recording, len(GROUP_COLOURS))[frame.channels]
        selected = self.viewport.selected
        if selected:
            colours = np.where(np.isin(frame.channels, list(selected)), HIGHLIGHT, colours)
        return raster_columns(frame, start, stop, baselines, scales, height, colours)

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

    @property
    def painted_request(self) -> int:
        """The request id of the frame on screen."""
        return self._painted_request

    def paint(self, painter: QtGui.QPainter) -> None:
        """Draw everything; also used to export to PNG and SVG."""
        painter.fillRect(self.rect(), QtGui.QColor(BACKGROUND))
        rect = self.plot_rect()
        if self.recording is None:
            painter.setPen(QtGui.QColor("#777"))
            painter.drawText(self.rect(), QtCore.Qt.AlignmentFlag.AlignCenter,
                             "Open a recording: File > Open, drag a file here, or `wavescope demo`.")
            return
        self.ring.paint(painter, rect.left(), rect.top())
        if self.lanes:
            self.stream_lanes.paint(painter, rect, self.lane_bands())
        for layer in self.overlays + self.decorations:
            layer.paint(painter, rect)

    def column_grid(self, rect: QtCore.QRect | None = None) -> tuple[float, float]:
        """(samples per column, grid column at the plot's left edge) as the traces are drawn."""
        frame = self.frame
        if frame is not None:
            return float(frame.spc), float(frame.first_column)
        rect = rect or self.plot_rect()
        spc = self.viewport.window / max(rect.width(), 1)
        return spc, self.viewport.t0 / spc

    def x_of(self, sample: float, rect: QtCore.QRect | None = None) -> float:
        rect = rect or self.plot_rect()
        spc, first = self.column_grid(rect)
        return rect.left() + sample / spc - first

    def sample_at(self, x: float) -> float:
        rect = self.plot_rect()
        spc, first = self.column_grid(rect)
        return (x - rect.left() + first) * spc

    _sample_at = sample_at

    # -- readout ----------------------------------------------------------------------------------
    def channel_at(self, y: float) -> int | None:
        if self.frame is None or len(self.frame.channels) == 0:
            return None
        row = int((y - self.plot_rect().top()) // self.spacing())
        return int(self.frame.channels[row]) if 0 <= row < len(self.frame.channels) else None

    def value_per_pixel(self, channel: int) -> float:
        return self.viewport.value_per_pixel(channel, self.main_height())

    def measure(self, start: QtCore.QPointF, stop: QtCore.QPointF) -> tuple[float, float]:
        """(dt in s, dV in data units) between two points, dV on the start point's channel."""
        dt = (self.sample_at(stop.x()) - self.sample_at(start.x())) / self.sampling_rate
        channel = self.channel_at(start.y())
        dv = (start.y() - stop.y()) * self.value_per_pixel(channel) if channel is not None else 0.0
        return dt, dv

    def readout(self, point: QtCore.QPointF) -> dict:
        """Cursor time (s, sample), channel and value (exact when the chunk is cached)."""
        sample = int(self.sample_at(point.x()))
        channel = self.channel_at(point.y())
        info = {"time_s": sample / self.sampling_rate, "sample": sample, "channel": channel, "value": None,
                "units": self.recording.units if self.recording else ""}
        if channel is not None and self.source is not None and not self.viewport.car:
            info["value"] = self.source.cached_value(sample, channel, self.viewport.highpass)
        return info

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
        elif not self.grab().save(str(path)):
            raise OSError(f"{path}: could not write the picture; check the folder and the extension.")
