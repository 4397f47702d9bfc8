"""A small popup that shows a unit's template when the mouse rests on one of its spikes.

The waveform of the template on its peak channel and its strongest neighbours (up to
MAX_CHANNELS, largest peak-to-peak first), stacked, in the unit's colour, under a title naming
the unit, its label, its peak channel and the spike's time.
"""

from __future__ import annotations

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from app.model.units import Unit

MAX_CHANNELS = 6
SIZE = QtCore.QSize(230, 200)
TITLE_PX = 34


class TemplatePopup(QtWidgets.QWidget):
    """A frameless tool-tip window drawing one unit's template."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent, QtCore.Qt.WindowType.ToolTip)
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.resize(SIZE)
        self.unit: Unit | None = None
        self.title = ""
        self.colour = QtGui.QColor("#000")
        self.names: list[str] = []
        self._waves: np.ndarray | None = None

    @property
    def unit_id(self) -> int | None:
        return None if self.unit is None else self.unit.id

    def show_unit(self, unit: Unit, colour: int, title: str, channel_name, global_pos: QtCore.QPoint) -> None:
        """Show `unit`'s template near `global_pos`; `channel_name(c)` names a recording channel."""
        self.unit, self.title, self.colour = unit, title, QtGui.QColor(f"#{int(colour):06x}")
        self._waves, self.names = None, []
        if unit.template is not None and unit.template.size:
            ptp = np.ptp(unit.template, axis=0)
            columns = np.argsort(ptp)[::-1][:MAX_CHANNELS]
            columns = columns[ptp[columns] > 0] if ptp.max() > 0 else columns[:1]
            self._waves = unit.template[:, columns].T
            channels = unit.template_channels if unit.template_channels is not None else np.arange(len(ptp))
            self.names = [channel_name(int(channels[c])) for c in columns]
        self.move(global_pos + QtCore.QPoint(16, 16))
        self.show()
        self.update()

    def paintEvent(self, event) -> None:
        painter = QtGui.QPainter(self)
        painter.fillRect(self.rect(), QtGui.QColor("#fffff4"))
        painter.setPen(QtGui.QColor("#888"))
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        painter.setPen(QtGui.QColor("#000"))
        painter.drawText(QtCore.QRect(6, 2, self.width() - 12, TITLE_PX), QtCore.Qt.TextFlag.TextWordWrap, self.title)
        waves = self._waves
        if waves is None:
            painter.drawText(QtCore.QRect(6, TITLE_PX, self.width() - 12, 30), 0, "no template")
            painter.end()
            return
        area = QtCore.QRectF(56, TITLE_PX + 4, self.width() - 64, self.height() - TITLE_PX - 10)
        rows = len(waves)
        row_height = area.height() / rows
        scale = row_height * 0.9 / max(float(np.ptp(waves, axis=1).max()), 1e-12)
        x = area.left() + np.arange(waves.shape[1]) * area.width() / max(waves.shape[1] - 1, 1)
        for k, wave in enumerate(waves):
            middle = area.top() + (k + 0.5) * row_height
            y = middle - (wave - (wave.max() + wave.min()) / 2) * scale
            path = QtGui.QPainterPath(QtCore.QPointF(x[0], y[0]))
            for xi, yi in zip(x[1:], y[1:], strict=True):
                path.lineTo(float(xi), float(yi))
            painter.setPen(QtGui.QPen(self.colour if k == 0 else self.colour.darker(130), 1.5 if k == 0 else 1.0))
            painter.drawPath(path)
            painter.setPen(QtGui.QColor("#444"))
            painter.drawText(QtCore.QRectF(4, middle - 8, 50, 16), QtCore.Qt.AlignmentFlag.AlignLeft, self.names[k])
        painter.end()
