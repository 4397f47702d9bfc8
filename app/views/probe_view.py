"""The probe view: recording sites as a scatter in µm, the selected channels highlighted.

The axes read plain µm (pyqtgraph's automatic SI prefix would make "kµm" or "mµm" of them); with
no probe, a centred, wrapped note says so, sized to the dock whatever its width."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from app.model.recording import Recording
from app.views.follow import FollowsRecording


class ProbeView(FollowsRecording, pg.PlotWidget):
    channelsClicked = QtCore.pyqtSignal(list)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent, background="w")
        self.setAspectLocked(True)
        for side, name in (("bottom", "x"), ("left", "y")):
            axis = self.getPlotItem().getAxis(side)
            axis.enableAutoSIPrefix(False)
            axis.setLabel(name, units="µm")
        self.sites = pg.ScatterPlotItem(size=9, pen=pg.mkPen("#444"), brush=pg.mkBrush("#bbbbbb"))
        self.highlight = pg.ScatterPlotItem(size=11, pen=pg.mkPen("#e0441b", width=2),
                                            brush=pg.mkBrush("#e0441b"))
        self.addItem(self.sites)
        self.addItem(self.highlight)
        self.sites.sigClicked.connect(self._clicked)
        self.channels: np.ndarray = np.zeros(0, dtype=int)
        self.xy = np.zeros((0, 2))
        self.message = QtWidgets.QLabel("No probe: channels are shown in index order.", self)
        self.message.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #777; background: transparent;")
        self.message.hide()
        self._recording: Recording | None = None

    def set_recording(self, recording: Recording | None) -> None:
        self._recording = recording
        self.sites.clear()
        self.highlight.clear()
        where = recording.positions() if recording is not None else {}
        if not where:
            self.channels, self.xy = np.zeros(0, dtype=int), np.zeros((0, 2))
            self.message.setVisible(recording is not None)
            self._place_message()
            return
        self.message.hide()
        geometry = recording.geometry
        self.setToolTip(geometry.summary() if geometry is not None else "")     # where the sites came from
        self.channels = np.array(sorted(where), dtype=int)
        self.xy = np.array([where[c] for c in self.channels], dtype=float)
        self.sites.setData(pos=self.xy, data=self.channels, tip=self._tip)
        self.autoRange()

    def _tip(self, x: float, y: float, data) -> str:
        channel = int(data)
        name = self._recording.channel_name(channel) if self._recording is not None else f"ch {channel}"
        return f"{name} (index {channel}): ({x:g}, {y:g}) µm"

    def _place_message(self) -> None:
        """The no-probe note: centred, wrapped to the widget less a small border."""
        self.message.setGeometry(self.rect().adjusted(8, 8, -8, -8))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if "message" in self.__dict__:          # pyqtgraph resizes during its own __init__
            self._place_message()

    def set_selected(self, channels) -> None:
        wanted = np.isin(self.channels, list(channels))
        self.highlight.setData(pos=self.xy[wanted]) if wanted.any() else self.highlight.clear()

    def selected_positions(self) -> np.ndarray:
        data = self.highlight.getData()
        return np.column_stack(data) if len(data[0]) else np.zeros((0, 2))

    def _clicked(self, _item, points, *_args) -> None:
        self.channelsClicked.emit([int(p.data()) for p in points])
