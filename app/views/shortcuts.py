"""Help > Keyboard shortcuts (F1): a sheet made from the keys the window really has.

Rows come from two places, never from a hand-written list: every QAction of the window that has a
shortcut (menus, toolbar, docks), grouped by its menu, and the trace view's own key table
(`app.views.trace.input.TRACE_KEYS`) with its mouse gestures.
"""

from __future__ import annotations

from PyQt6 import QtCore, QtGui, QtWidgets

from app.views.trace.input import MOUSE_GESTURES, TRACE_KEYS

KEY_NAMES = {"PageDown": "Page Down", "PageUp": "Page Up", "Plus": "+", "Equal": "=", "Minus": "−",
             "Up": "↑", "Down": "↓", "Left": "←", "Right": "→"}
NATIVE = QtGui.QKeySequence.SequenceFormat.NativeText


def _plain(text: str) -> str:
    return text.replace("&", "").rstrip("…").strip()


def action_rows(window: QtWidgets.QMainWindow) -> list[tuple[str, str, str]]:
    """(group, keys, what) of every action of `window` with a shortcut, in menu order."""
    rows: list[tuple[str, str, str]] = []
    seen: set[int] = set()

    def walk(menu: QtWidgets.QMenu, group: str) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu(), group)
                continue
            keys = action.shortcut().toString(NATIVE)
            if keys and id(action) not in seen:
                seen.add(id(action))
                rows.append((group, keys, _plain(action.text())))

    for top in window.menuBar().actions():
        if top.menu() is not None:
            walk(top.menu(), _plain(top.text()))
    # Toolbars, the window and the docks' own widgets, not every QAction below the window: Qt's
    # widgets keep internal actions of their own, and walking them all crashed a test run once.
    others = list(window.actions())
    for bar in window.findChildren(QtWidgets.QToolBar):
        others += bar.actions()
    for dock in window.findChildren(QtWidgets.QDockWidget):
        others += dock.widget().actions() if dock.widget() is not None else []
    for action in others:
        keys = action.shortcut().toString(NATIVE)
        if keys and id(action) not in seen and action.text():
            seen.add(id(action))
            rows.append(("Toolbar and panels", keys, _plain(action.text())))
    return rows


def trace_rows() -> list[tuple[str, str, str]]:
    """(group, keys, what) of the trace view's keys and mouse gestures; keys of one meaning merged."""
    merged: dict[str, list[str]] = {}
    for name, ctrl, what, _call in TRACE_KEYS:
        merged.setdefault(what, []).append(("Ctrl+" if ctrl else "") + KEY_NAMES.get(name, name))
    rows = [("Traces (click them first)", " / ".join(keys), what) for what, keys in merged.items()]
    rows += [("Traces (mouse)", gesture, what) for gesture, what in MOUSE_GESTURES]
    return rows


def shortcut_rows(window: QtWidgets.QMainWindow) -> list[tuple[str, str, str]]:
    return action_rows(window) + trace_rows()


class ShortcutsSheet(QtWidgets.QDialog):
    """A searchable table of `shortcut_rows`; opened non-modally so it can stay beside the window."""

    def __init__(self, window: QtWidgets.QMainWindow):
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts — Wavescope")
        self.rows = shortcut_rows(window)
        self.search = QtWidgets.QLineEdit(placeholderText="search keys or actions")
        self.search.setClearButtonEnabled(True)
        self.table = QtWidgets.QTableWidget(len(self.rows), 3)
        self.table.setHorizontalHeaderLabels(["where", "keys", "what it does"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        for row, values in enumerate(self.rows):
            for column, value in enumerate(values):
                self.table.setItem(row, column, QtWidgets.QTableWidgetItem(value))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.search.textChanged.connect(self.filter)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(640, 560)

    def filter(self, text: str) -> None:
        text = text.strip().lower()
        for row, values in enumerate(self.rows):
            self.table.setRowHidden(row, bool(text) and not any(text in v.lower() for v in values))

    def shown_rows(self) -> list[tuple[str, str, str]]:
        return [r for k, r in enumerate(self.rows) if not self.table.isRowHidden(k)]


def install_help_menu(window: QtWidgets.QMainWindow):
    """Help > Keyboard shortcuts (F1), opening one sheet (raised again when already open); the
    function that opens it (and returns the sheet)."""
    menu = window.menuBar().addMenu("&Help")
    state: dict[str, ShortcutsSheet] = {}

    def show() -> ShortcutsSheet:
        sheet = state.get("sheet")
        if sheet is None:
            sheet = state["sheet"] = ShortcutsSheet(window)
        sheet.show()
        sheet.raise_()
        return sheet

    action = menu.addAction("&Keyboard shortcuts", QtGui.QKeySequence("F1"), show)
    action.setShortcutContext(QtCore.Qt.ShortcutContext.ApplicationShortcut)
    return show
