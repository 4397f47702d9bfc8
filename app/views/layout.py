"""The window's default dock layout, and when a saved one is too old to keep.

The bottom row holds two groups side by side: the tables (Log, Jobs, Events, Annotations as tabs,
Events in front) and the Peri-event plot. Its default height shows at least `EVENT_ROWS` rows of
the events table, even on a 1366×768 screen. A layout saved by an older version of this arrangement
(`LAYOUT_VERSION`) is dropped instead of restored, so nobody keeps the old 110-pixel strip.
"""

from __future__ import annotations

from PyQt6 import QtCore, QtWidgets

LAYOUT_VERSION = 2
EVENT_ROWS = 8
EVENTS_SHARE = 0.6              # of the bottom row's width: the table, the rest the peri-event plot
TRACE_SHARE_MIN = 0.45          # the traces keep at least this share of the window's height


def forget_old_layout(settings: QtCore.QSettings) -> bool:
    """Drop a saved window state of an older layout version; True when one was dropped."""
    try:
        saved = int(settings.value("layout_version", 0) or 0)
    except (TypeError, ValueError):
        saved = 0
    if saved == LAYOUT_VERSION:
        return False
    dropped = settings.value("window_state") is not None
    settings.remove("window_state")
    settings.setValue("layout_version", LAYOUT_VERSION)
    return dropped


def arrange_bottom(window: QtWidgets.QMainWindow) -> None:
    """Peri-event beside the tabbed tables instead of one more tab behind them."""
    docks = window.docks
    if "Peri-event" not in docks:
        return
    peri = docks["Peri-event"]
    window.removeDockWidget(peri)
    window.addDockWidget(QtCore.Qt.DockWidgetArea.BottomDockWidgetArea, peri, QtCore.Qt.Orientation.Horizontal)
    peri.show()
    if "Events" in docks:
        docks["Events"].raise_()


def bottom_height(window: QtWidgets.QMainWindow) -> int:
    """The bottom row's height that shows `EVENT_ROWS` rows of the events table (capped so the
    traces keep `TRACE_SHARE_MIN` of the window)."""
    panel = window.docks["Events"].widget() if "Events" in window.docks else None
    table = getattr(panel, "table", None)
    if table is None:
        return max(120, window.height() // 6)
    dock = window.docks["Events"]
    chrome = dock.height() - table.viewport().height()      # title, header, frame, count line, margins
    peri = window.docks.get("Peri-event")
    tabs = peri.height() - dock.height() if peri is not None and peri.isVisible() else 0    # the tab bar
    wanted = EVENT_ROWS * table.verticalHeader().defaultSectionSize() + max(chrome, 60) + max(tabs, 0) + 2
    return int(min(wanted, window.height() * (1 - TRACE_SHARE_MIN)))


def apply_default_sizes(window: QtWidgets.QMainWindow) -> None:
    """Widths and heights of the default layout, once the window has its size."""
    docks = window.docks
    height = bottom_height(window)
    bottom = [d for name, d in docks.items() if name in ("Events", "Peri-event")
              and window.dockWidgetArea(d) == QtCore.Qt.DockWidgetArea.BottomDockWidgetArea]
    if bottom:
        window.resizeDocks(bottom, [height] * len(bottom), QtCore.Qt.Orientation.Vertical)
    if "Events" in docks and "Peri-event" in docks:
        share = max(420, int(window.width() * EVENTS_SHARE))
        window.resizeDocks([docks["Events"], docks["Peri-event"]], [share, window.width() - share],
                           QtCore.Qt.Orientation.Horizontal)
