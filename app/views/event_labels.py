"""The labels of the annotations over the traces: cached pictures on screen, vector text on export."""

from __future__ import annotations

import math

from PyQt6 import QtCore, QtGui

from app.views.event_markers import LABEL_FILL, LABEL_TEXT, MAX_LABELS, MAX_SPRITES, span_columns


class AnnotationLabels:
    """Mixed into EventOverlay: lays out and paints the annotations' labels (it keeps the
    `_spans`, `_a_starts`, `_a_stops`, `_items`, `_sprites`, `_text_widths` and font state)."""

    def _labels(self, rect: QtCore.QRect, spc: float, first: float) -> list:
        """(x, y, width, text) of the labelled annotations on screen, none when more than MAX_LABELS are."""
        width = rect.width()
        visible = self._spans.overlapping(first * spc, (first + width) * spc)
        if not len(visible) or len(visible) > MAX_LABELS:
            return []
        c0, c1 = span_columns(self._a_starts[visible] / spc - first, self._a_stops[visible] / spc - first, width)
        left, y, items = rect.left() + 3.0, rect.top() + 2, self._items
        return [(left + c0v, y, float(c1v - c0v), items[k].label)
                for k, c0v, c1v in zip(visible.tolist(), c0.tolist(), c1.tolist()) if items[k].label]

    def _paint_labels(self, painter: QtGui.QPainter, labels: list) -> None:
        """Labels as cached pictures on screen (a few µs each), as vector text when exporting."""
        if not labels:
            return
        if self._label_font is None:
            self._label_font = QtGui.QFont()
            self._label_font.setPointSizeF(8.0)
            self._metrics = QtGui.QFontMetrics(self._label_font)
        if painter.device() is not self.view:
            self._draw_label_text(painter, labels)
            return
        ratio = self.view.devicePixelRatioF()
        if len(self._sprites) > MAX_SPRITES:
            self._sprites.clear()
            self._text_widths.clear()
        keys = [self._sprite_key(text, span, ratio) for _x, _y, span, text in labels]
        missing = [key for key in dict.fromkeys(keys) if key not in self._sprites]
        if missing:
            self._render_sprites(missing, ratio)
        sprites = self._sprites
        for (x, y, _span, _text), key in zip(labels, keys, strict=True):
            painter.drawImage(QtCore.QPointF(x - 2, y), sprites[key])

    def _sprite_key(self, text: str, span: float, ratio: float) -> tuple[str, int | None, float]:
        """(text, the width it is elided to or None when it fits a band `span` wide, pixel ratio)."""
        width = self._text_widths.get(text)
        if width is None:
            width = self._text_widths[text] = self._metrics.horizontalAdvance(text)
        limit = int(max(span - 6, 60))
        return text, None if width <= limit else limit, ratio

    def _render_sprites(self, keys: list[tuple[str, int | None, float]], ratio: float) -> None:
        """Label pictures for `keys`, drawn side by side with one painter, then cut apart."""
        metrics = self._metrics
        shown = [text if limit is None else metrics.elidedText(text, QtCore.Qt.TextElideMode.ElideRight, limit)
                 for text, limit, _ in keys]
        widths = [math.ceil((metrics.horizontalAdvance(text) + 4) * ratio) for text in shown]
        height = math.ceil(metrics.height() * ratio)
        sheet = QtGui.QImage(sum(widths), height, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
        sheet.setDevicePixelRatio(ratio)
        sheet.fill(LABEL_FILL)
        sheet_painter = QtGui.QPainter(sheet)
        sheet_painter.setFont(self._label_font)
        sheet_painter.setPen(LABEL_TEXT)
        left = 0
        for text, width in zip(shown, widths, strict=True):
            sheet_painter.drawText(QtCore.QPointF(left / ratio + 2, metrics.ascent()), text)
            left += width
        sheet_painter.end()
        left = 0
        for key, width in zip(keys, widths, strict=True):
            sprite = sheet.copy(left, 0, width, height)
            sprite.setDevicePixelRatio(ratio)
            self._sprites[key] = sprite
            left += width

    def _draw_label_text(self, painter: QtGui.QPainter, labels: list) -> None:
        painter.setFont(self._label_font)
        metrics = self._metrics
        height = metrics.height()
        for x, y, span, text in labels:
            shown = metrics.elidedText(text, QtCore.Qt.TextElideMode.ElideRight, int(max(span - 6, 60)))
            box = QtCore.QRectF(x - 2, y, metrics.horizontalAdvance(shown) + 4, height)
            painter.fillRect(box, LABEL_FILL)
            painter.setPen(LABEL_TEXT)
            painter.drawText(box, QtCore.Qt.AlignmentFlag.AlignCenter, shown)
