"""First-run page and error dialog: what a newcomer sees before any recording is open,
and how any failure is shown (a sentence, the details on demand, a copy button)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from PyQt6 import QtCore, QtGui, QtWidgets


class WelcomePage(QtWidgets.QWidget):
    """Open a recording, try the demo, or pick a recent file; dropping a file anywhere opens it."""

    def __init__(self, open_dialog: Callable[[], None], open_demo: Callable[[], None],
                 open_file: Callable[[str], object], parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._open_file = open_file
        layout = QtWidgets.QVBoxLayout(self)
        layout.addStretch(2)
        title = QtWidgets.QLabel("<h1>Wavescope</h1>")
        title.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        subtitle = QtWidgets.QLabel("Browse extracellular recordings from any acquisition system, "
                                    "write spike-sorter params, run conversion and sorting jobs.")
        subtitle.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        subtitle.setWordWrap(True)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addSpacing(18)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addStretch(1)
        self.open_button = QtWidgets.QPushButton("Open recording…")
        self.open_button.setToolTip("A data file, a folder, or a .params file (Ctrl+O)")
        self.open_button.clicked.connect(open_dialog)
        self.demo_button = QtWidgets.QPushButton("Try the demo")
        self.demo_button.setToolTip("A synthetic 64-channel recording with spikes, written to the user cache")
        self.demo_button.clicked.connect(open_demo)
        for button in (self.open_button, self.demo_button):
            button.setMinimumWidth(180)
            button.setMinimumHeight(36)
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        layout.addSpacing(18)
        self.recent = QtWidgets.QListWidget()
        self.recent.setMinimumWidth(560)
        self.recent.setMaximumWidth(760)
        self.recent.setMaximumHeight(180)
        self.recent.itemActivated.connect(lambda item: self._open_file(item.data(QtCore.Qt.ItemDataRole.UserRole)))
        self.recent_label = QtWidgets.QLabel("Recent recordings")
        row = QtWidgets.QHBoxLayout()
        row.addStretch(1)
        column = QtWidgets.QVBoxLayout()
        column.addWidget(self.recent_label)
        column.addWidget(self.recent)
        row.addLayout(column)
        row.addStretch(1)
        layout.addLayout(row)
        hint = QtWidgets.QLabel("Tip: drop a recording or a .params file anywhere on this window.")
        hint.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        hint.setStyleSheet("color: palette(mid);")
        layout.addSpacing(12)
        layout.addWidget(hint)
        layout.addStretch(3)

    def set_recent(self, paths: Sequence[str]) -> None:
        self.recent.clear()
        for path in paths:
            item = QtWidgets.QListWidgetItem(f"{os.path.basename(path)}  —  {os.path.dirname(path)}")
            item.setData(QtCore.Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path)
            if not os.path.exists(path):
                item.setForeground(QtGui.QBrush(QtGui.QColor("gray")))
                item.setToolTip(f"{path} (not found)")
            self.recent.addItem(item)
        self.recent.setVisible(bool(paths))
        self.recent_label.setVisible(bool(paths))


class ErrorDialog(QtWidgets.QDialog):
    """One readable sentence first; the full details (e.g. a traceback) behind a toggle; a copy button."""

    def __init__(self, title: str, message: str, details: str = "", parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(520)
        layout = QtWidgets.QVBoxLayout(self)
        row = QtWidgets.QHBoxLayout()
        icon = QtWidgets.QLabel()
        icon.setPixmap(self.style().standardIcon(
            QtWidgets.QStyle.StandardPixmap.SP_MessageBoxCritical).pixmap(36, 36))
        icon.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop)
        row.addWidget(icon)
        self.message = QtWidgets.QLabel(message)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.message, 1)
        layout.addLayout(row)
        self.details = QtWidgets.QPlainTextEdit(details or message)
        self.details.setReadOnly(True)
        self.details.setMinimumHeight(160)
        self.details.setVisible(False)
        layout.addWidget(self.details)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        self.toggle = buttons.addButton("Show details", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
        self.toggle.clicked.connect(self._toggle_details)
        self.copy = buttons.addButton("Copy details", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
        self.copy.clicked.connect(self.copy_details)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)
        self._full_text = f"{title}\n\n{message}" + (f"\n\n{details}" if details and details != message else "")

    def _toggle_details(self) -> None:
        shown = not self.details.isVisible()
        self.details.setVisible(shown)
        self.toggle.setText("Hide details" if shown else "Show details")
        self.adjustSize()

    def copy_details(self) -> None:
        QtWidgets.QApplication.clipboard().setText(self._full_text)
