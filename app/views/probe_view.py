"""The probe view: recording sites as a scatter in µm, the selected channels highlighted."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from app.model.recording import Recording


class ProbeView(pg.PlotWidget):
    channelsClicked = QtCore.pyqtSignal(list)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent, background="w")
        self.setAspectLocked(True)
        self.getPlotItem().setLabel("bottom", "x", units="µm")
        self.getPlotItem().setLabel("left", "y", units="µm")
        self.sites = pg.ScatterPlotItem(size=9, pen=pg.mkPen("#444"), brush=pg.mkBrush("#bbbbbb"))
        self.highlight = pg.ScatterPlotItem(size=11, pen=pg.mkPen("#e0441b", width=2),
                                            brush=pg.mkBrush("#e0441b"))
        self.addItem(self.sites)
        self.addItem(self.highlight)
        self.sites.sigClicked.connect(self._clicked)
        self.channels: np.ndarray = np.zeros(0, dtype=int)
        self.xy = np.zeros((0, 2))
        self.message = pg.TextItem("no probe: channels in index order", color="#777")

    def set_session(self, session) -> None:
        """Show the session's probe, following it (the dock contract)."""
        self._session = session
        session.subscribe(self._session_changed)
        self.set_recording(session.recording)

    def _session_changed(self, topic: str, _value) -> None:
        if topic in ("opened", "closed", "probe"):
            self.set_recording(self._session.recording)

    def set_recording(self, recording: Recording | None) -> None:
        self.sites.clear()
        self.highlight.clear()
        where = recording.positions() if recording is not None else {}
        if not where:
            self.channels, self.xy = np.zeros(0, dtype=int), np.zeros((0, 2))
            if recording is not None and self.message.scene() is None:
                self.addItem(self.message)
            return
        if self.message.scene() is not None:
            self.removeItem(self.message)
        self.channels = np.array(sorted(where), dtype=int)
        self.xy = np.array([where[c] for c in self.channels], dtype=float)
        self.sites.setData(pos=self.xy, data=self.channels,
                           tip=lambda x, y, data: f"ch {data}: ({x:g}, {y:g}) µm")
        self.autoRange()

    def set_selected(self, channels) -> None:
        wanted = np.isin(self.channels, list(channels))
        self.highlight.setData(pos=self.xy[wanted]) if wanted.any() else self.highlight.clear()

    def selected_positions(self) -> np.ndarray:
        data = self.highlight.getData()
        return np.column_stack(data) if len(data[0]) else np.zeros((0, 2))

    def _clicked(self, _item, points, *_args) -> None:
        self.channelsClicked.emit([int(p.data()) for p in points])
