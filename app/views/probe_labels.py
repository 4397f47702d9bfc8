"""Channel labels beside probe sites that never print over each other.

At a 10–20 µm pitch a label is taller than the gap between sites, so labelling every site (or every
n-th, fixed in µm) overprints at one zoom and wastes room at another. `SiteLabels` keeps every label
item and, whenever the view's range or size changes, shows a subset chosen greedily in screen pixels:
a label shows only where its box overlaps no label already shown.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore

GAP_PX = 2


def free_boxes(boxes: np.ndarray, obstacles: np.ndarray | None = None) -> np.ndarray:
    """Which of `boxes` (n, 4: left, top, right, bottom in pixels, in priority order) to show: each
    one that overlaps none shown before it, nor any of `obstacles` (the sites themselves)."""
    shown = np.zeros(len(boxes), dtype=bool)
    sites = np.asarray(obstacles if obstacles is not None else np.zeros((0, 4)), dtype=float).reshape(-1, 4)
    kept: list[np.ndarray] = []
    for k, box in enumerate(boxes):
        if overlaps(sites, box, 0.0).any() or (kept and overlaps(np.asarray(kept), box, GAP_PX).any()):
            continue
        kept.append(box)
        shown[k] = True
    return shown


def overlaps(others: np.ndarray, box: np.ndarray, gap: float) -> np.ndarray:
    return ((others[:, 0] < box[2] + gap) & (box[0] < others[:, 2] + gap)
            & (others[:, 1] < box[3] + gap) & (box[1] < others[:, 3] + gap))


class SiteLabels:
    """Label items for sites of diameter `size` (µm) at `xy` (µm) on `plot`, right of each site,
    re-chosen on every range or size change."""

    def __init__(self, plot: pg.PlotWidget, xy: np.ndarray, texts: list[str], colours: list, size: float):
        self.plot, self.xy, self.size = plot, np.asarray(xy, dtype=float), float(size)
        self.items = []
        offset_um = 0.6 * self.size
        self.anchors = self.xy + np.array([offset_um, 0.0])
        for (x, y), text, colour in zip(self.xy, texts, colours, strict=True):
            item = pg.TextItem(text, color=colour, anchor=(0, 0.5))
            item.setPos(x + offset_um, y)
            plot.addItem(item)
            self.items.append(item)
        self.box = plot.getPlotItem().getViewBox()
        self.box.sigRangeChanged.connect(self.relayout)
        self.box.sigResized.connect(self.relayout)
        self.relayout()

    def relayout(self, *_args) -> None:
        if not self.items:
            return
        view = self.box
        sizes = np.array([[item.textItem.boundingRect().width(), item.textItem.boundingRect().height()]
                          for item in self.items])
        points = [view.mapViewToScene(QtCore.QPointF(float(x), float(y))) for x, y in self.anchors]
        left = np.array([p.x() for p in points])
        middle = np.array([p.y() for p in points])
        boxes = np.column_stack([left, middle - sizes[:, 1] / 2, left + sizes[:, 0], middle + sizes[:, 1] / 2])
        for item, show in zip(self.items, free_boxes(boxes, self._site_boxes()), strict=True):
            item.setVisible(bool(show))

    def _site_boxes(self) -> np.ndarray:
        half = self.size / 2
        corners = [(self.box.mapViewToScene(QtCore.QPointF(x - half, y + half)),
                    self.box.mapViewToScene(QtCore.QPointF(x + half, y - half))) for x, y in self.xy]
        return np.array([[min(a.x(), b.x()), min(a.y(), b.y()), max(a.x(), b.x()), max(a.y(), b.y())]
                         for a, b in corners]).reshape(-1, 4)

    def shown(self) -> list[str]:
        return [item.textItem.toPlainText() for item in self.items if item.isVisible()]

    def detach(self) -> None:
        for signal in (self.box.sigRangeChanged, self.box.sigResized):
            try:
                signal.disconnect(self.relayout)
            except TypeError:
                pass
