"""Keys, wheel and mouse of the trace view, turned into viewport calls and overlay events."""

from __future__ import annotations

from PyQt6 import QtCore, QtGui, QtWidgets

WHEEL_GAIN = 1.25
WHEEL_ZOOM = 0.8

# The trace view's own keys: (key, with Ctrl, what it does, the viewport call). The Help >
# Keyboard shortcuts sheet is made from this table, so it lists what the keys really do.
TRACE_KEYS = (
    ("Right", False, "scroll forward a tenth of the window", lambda v: v.scroll(0.1)),
    ("Left", False, "scroll back a tenth of the window", lambda v: v.scroll(-0.1)),
    ("PageDown", False, "next window", lambda v: v.page(1)),
    ("PageUp", False, "previous window", lambda v: v.page(-1)),
    ("Home", False, "start of the recording", lambda v: v.set_window_samples(0)),
    ("End", False, "end of the recording", lambda v: v.set_window_samples(float("inf"))),
    ("Plus", False, "zoom in (half the window)", lambda v: v.zoom(0.5)),
    ("Equal", False, "zoom in (half the window)", lambda v: v.zoom(0.5)),
    ("Minus", False, "zoom out (twice the window)", lambda v: v.zoom(2.0)),
    ("Up", False, "channels: scroll up one", lambda v: v.scroll_channels(-1)),
    ("Down", False, "channels: scroll down one", lambda v: v.scroll_channels(1)),
    ("Up", True, "more gain", lambda v: v.gain(WHEEL_GAIN)),
    ("Down", True, "less gain", lambda v: v.gain(0.8)),
)
KEY_CALLS = {(getattr(QtCore.Qt.Key, "Key_" + name), ctrl): call for name, ctrl, _what, call in TRACE_KEYS}
MOUSE_GESTURES = (
    ("Wheel", "scroll in time"), ("Shift+Wheel", "zoom in time around the mouse"),
    ("Ctrl+Wheel", "gain (of the selected channels, or of a lane under the mouse)"),
)


class TraceInput:
    """Mixed into TraceView: input goes to the overlays (events first, then the decorations),
    and what they leave moves the viewport."""

    def _to_overlays(self, method: str, *args) -> bool:
        """Offer an input event to the overlays; True when one of them used it."""
        return any([getattr(overlay, method)(*args) for overlay in self.overlays])

    def _to_layers(self, method: str, *args) -> bool:
        """Offer an input event to the overlays, then the decorations, until one uses it."""
        return any(getattr(layer, method)(*args) for layer in self.overlays + self.decorations)

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        if self._to_overlays("key", event.key()):
            return
        ctrl = bool(event.modifiers() & QtCore.Qt.KeyboardModifier.ControlModifier)
        call = KEY_CALLS.get((event.key(), ctrl)) or KEY_CALLS.get((event.key(), False))
        if call is None or self.recording is None:
            QtWidgets.QWidget.keyPressEvent(self, event)
            return
        call(self.viewport)

    def wheelEvent(self, event: QtGui.QWheelEvent) -> None:
        if self.recording is None:
            return
        notches = event.angleDelta().y() / 120 or event.angleDelta().x() / 120
        modifiers, y = event.modifiers(), event.position().y()
        ctrl = bool(modifiers & QtCore.Qt.KeyboardModifier.ControlModifier)
        channel, lane = self.channel_at(y), self.lane_at(y)
        if ctrl and lane is not None:
            self.scale_lane_gain(lane, WHEEL_GAIN ** notches)
        elif ctrl and channel in self.viewport.selected:
            self.viewport.scale_channel_gains(self.viewport.gain_targets(channel), WHEEL_GAIN ** notches)
        elif ctrl:
            self.viewport.gain(WHEEL_GAIN ** notches)
        elif modifiers & QtCore.Qt.KeyboardModifier.ShiftModifier:
            self.viewport.zoom_samples(WHEEL_ZOOM ** notches, self.sample_at(event.position().x()))
        else:
            self.viewport.scroll(-0.1 * notches)
        event.accept()

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:
        if event.button() == QtCore.Qt.MouseButton.LeftButton \
                and self._to_layers("press", event.position(), event.modifiers()):
            self.update()

    def contextMenuEvent(self, event: QtGui.QContextMenuEvent) -> None:
        if self.recording is not None:
            self.gain_menu(self.channel_at(event.pos().y())).exec(event.globalPos())

    def gain_menu(self, channel: int | None) -> QtWidgets.QMenu:
        """Per-channel gain actions for `channel` (or the selection it belongs to)."""
        menu = QtWidgets.QMenu(self)
        viewport = self.viewport
        targets = viewport.gain_targets(channel)
        if not targets:
            name = "no channel"
        else:
            name = (self.recording.channel_name(targets[0]) if len(targets) == 1
                    else f"{len(targets)} selected channels")
        for text, action in ((f"Gain ×2 ({name})", lambda: viewport.scale_channel_gains(targets, 2.0)),
                             (f"Gain ÷2 ({name})", lambda: viewport.scale_channel_gains(targets, 0.5)),
                             (f"Reset gain ({name})", lambda: viewport.reset_channel_gains(targets))):
            menu.addAction(text, action).setEnabled(bool(targets))
        menu.addSeparator()
        menu.addAction("Reset all channel gains", viewport.reset_channel_gains)
        return menu

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:
        if self._to_layers("move", event.position()):
            return
        if self.recording is not None and self.frame is not None:
            self.cursorMoved.emit(self.readout(event.position()))
        self.update()

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:
        self._to_layers("release", event.position())
        self.update()

    def mouseDoubleClickEvent(self, event: QtGui.QMouseEvent) -> None:
        if not self._to_layers("double_click", event.position()):
            self.update()

    @property
    def _measure(self):
        """The measure tool's (start, stop), or None."""
        return self.cursor_tool.measure

    def resizeEvent(self, event) -> None:
        QtWidgets.QWidget.resizeEvent(self, event)
        self.ring.invalidate()
        if self.source is not None:
            self.refresh()
