"""The trace view with its toolbar (spacing, selected channels' gain) and time scrollbar."""

from __future__ import annotations

from PyQt6 import QtCore, QtWidgets

from app.model.viewport import Viewport
from app.views.trace.canvas import TraceView


class TracePanel(QtWidgets.QWidget):
    """The trace view with its time scrollbar over the whole recording."""

    def __init__(self, parent: QtWidgets.QWidget | None = None, viewport: Viewport | None = None):
        super().__init__(parent)
        self.view = TraceView(self, viewport)
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
            self.view.viewport.set_window(value / 1000)
