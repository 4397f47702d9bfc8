"""The probe dock and the traces point at each other.

- The sites of the channels on screen in the trace view are ringed on the probe when not all are (they
  follow scrolling through channels, a group shown alone, the order by depth).
- The channel under the mouse in the traces is marked on the probe, and the site under the mouse on
  the probe lights up its row in the traces (a faint band behind the row, `HoverBand`).

Everything goes through the two widgets' public faces: the probe's `channels`/`xy` and items added to
its plot; the trace view's `cursorMoved`, `windowChanged`, `visible_rows` and an overlay.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui

from app.views.trace.decorations import Decoration

ON_SCREEN = "#2a7ab0"
HOVER = "#ff9800"
HOVER_FILL = QtGui.QColor(255, 152, 0, 48)


class HoverBand(Decoration):
    """A faint band behind one channel's row of the trace view (the site hovered on the probe)."""

    def __init__(self, view):
        super().__init__(view)
        self.channel: int | None = None

    def set_channel(self, channel: int | None) -> None:
        if channel != self.channel:
            self.channel = channel
            self.view.update()

    def row_rect(self, rect: QtCore.QRect) -> QtCore.QRectF | None:
        view = self.view
        if self.channel is None or view.recording is None:
            return None
        rows = list(view.frame.channels) if view.frame is not None else view.visible_rows()
        if self.channel not in rows:
            return None
        spacing = view.spacing()
        return QtCore.QRectF(rect.left(), rect.top() + rows.index(self.channel) * spacing, rect.width(), spacing)

    def paint(self, painter: QtGui.QPainter, rect: QtCore.QRect) -> None:
        band = self.row_rect(rect)
        if band is not None:
            painter.fillRect(band, HOVER_FILL)


class ProbeLink(QtCore.QObject):
    """Keeps the probe's rings and the traces' hover band in step; see the module docstring."""

    def __init__(self, window):
        super().__init__(window)
        self.window, self.probe, self.view = window, window.probe, window.view
        self.on_screen = pg.ScatterPlotItem(size=15, pen=pg.mkPen(ON_SCREEN, width=1.5), brush=None)
        self.hover = pg.ScatterPlotItem(size=17, pen=pg.mkPen(HOVER, width=2.5), brush=None)
        for item in (self.on_screen, self.hover):
            item.setZValue(-1 if item is self.on_screen else 5)
            self.probe.addItem(item)
        self.band = HoverBand(self.view)
        self.view.overlays.append(self.band)
        self.view.windowChanged.connect(lambda *_: self.show_on_screen())
        self.view.cursorMoved.connect(lambda info: self.mark_on_probe(info.get("channel")))
        self.probe.scene().sigMouseMoved.connect(self._probe_mouse)
        window.session.subscribe(self._session_changed)

    def _session_changed(self, topic: str, _value) -> None:
        if topic in ("opened", "closed", "probe"):
            self.mark_on_probe(None)
            self.band.set_channel(None)
            QtCore.QTimer.singleShot(0, self.show_on_screen)      # after the probe has redrawn its sites

    def _points(self, channels) -> np.ndarray:
        wanted = np.isin(self.probe.channels, [int(c) for c in channels])
        return self.probe.xy[wanted] if len(self.probe.xy) else np.zeros((0, 2))

    def show_on_screen(self) -> list[int]:
        """Ring the sites of the channels the trace view shows; the channels ringed."""
        if self.view.recording is None or not len(self.probe.channels):
            self.on_screen.clear()
            return []
        channels = [int(c) for c in self.view.visible_rows()]
        ringed = [c for c in channels if c in set(self.probe.channels.tolist())]
        if len(ringed) == len(self.probe.channels):          # every site on screen: rings would say nothing
            self.on_screen.clear()
            return []
        self.on_screen.setData(pos=self._points(ringed))
        return ringed

    def mark_on_probe(self, channel: int | None) -> None:
        """The trace view's channel under the mouse, ringed on the probe (None: no ring)."""
        points = self._points([channel]) if channel is not None else np.zeros((0, 2))
        self.hover.setData(pos=points) if len(points) else self.hover.clear()

    def site_at(self, scene_pos: QtCore.QPointF) -> int | None:
        """The channel whose site is under `scene_pos` (within a site's size), or None."""
        if not len(self.probe.channels):
            return None
        box = self.probe.getPlotItem().getViewBox()
        if not box.sceneBoundingRect().contains(scene_pos):
            return None
        where = box.mapSceneToView(scene_pos)
        distances = np.hypot(self.probe.xy[:, 0] - where.x(), self.probe.xy[:, 1] - where.y())
        nearest = int(np.argmin(distances))
        pixel = box.viewPixelSize()
        reach = 8 * max(pixel[0], pixel[1])                         # about a site's drawn radius
        return int(self.probe.channels[nearest]) if distances[nearest] <= reach else None

    def _probe_mouse(self, scene_pos: QtCore.QPointF) -> None:
        channel = self.site_at(scene_pos)
        self.band.set_channel(channel)
        self.mark_on_probe(channel)


def install(window) -> ProbeLink:
    return ProbeLink(window)
