"""First-run page and error dialog: what a newcomer sees before any recording is open,
and how any failure is shown (a sentence, the details on demand, a copy button)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from PyQt6 import QtCore, QtGui, QtWidgets

from app.io.errors import MissingFieldsError
from app.io.remote import is_url
from app.model.wording import for_gui

WIZARD_KEY = "__wizard__"   # the missing-fields dialog's answer "use the params wizard instead"


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
            if not os.path.exists(path) and not is_url(path):
                item.setForeground(QtGui.QBrush(QtGui.QColor("gray")))
                item.setToolTip(f"{path} (not found)")
            self.recent.addItem(item)
        self.recent.setVisible(bool(paths))
        self.recent_label.setVisible(bool(paths))


class RecentFiles:
    """The recently opened paths, newest first, kept in the window's QSettings."""

    def __init__(self, settings: QtCore.QSettings, limit: int = 10):
        self.settings, self.limit = settings, limit

    def paths(self) -> list[str]:
        value = self.settings.value("recent_files", [])
        return [value] if isinstance(value, str) else list(value or [])

    def remember(self, path: str) -> None:
        path = path if is_url(path) else os.path.abspath(path)
        self.settings.setValue("recent_files", [path] + [p for p in self.paths() if p != path][:self.limit - 1])


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
        self.message = QtWidgets.QLabel(for_gui(message))        # the GUI's words; details keep the original
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


class MissingFieldsDialog(QtWidgets.QDialog):
    """Lists the fields the file does not give, with their types, and lets the user type them."""

    def __init__(self, error: MissingFieldsError, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Missing fields")
        layout = QtWidgets.QVBoxLayout(self)
        name = os.path.basename(error.file_name or "the file")
        text = QtWidgets.QLabel(f"<b>{name}</b> does not say these values"
                                f"{' for format ' + error.file_format if error.file_format else ''}. "
                                "Type them to open it:")
        text.setWordWrap(True)
        layout.addWidget(text)
        form = QtWidgets.QFormLayout()
        self.editors: dict[str, QtWidgets.QLineEdit] = {}
        for field, type_name in error.missing.items():
            editor = QtWidgets.QLineEdit()
            editor.setPlaceholderText(type_name)
            editor.setObjectName(field)
            form.addRow(f"{field} ({type_name})", editor)
            self.editors[field] = editor
        layout.addLayout(form)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        wizard = buttons.addButton("Params &wizard…", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
        wizard.setToolTip("Guided set-up: header facts, suggestions for headerless files, probe, preview")
        wizard.clicked.connect(lambda: self.done(self.USE_WIZARD))
        layout.addWidget(buttons)

    USE_WIZARD = 2

    def values(self) -> dict[str, str]:
        return {k: e.text().strip() for k, e in self.editors.items() if e.text().strip()}

    @classmethod
    def ask(cls, error: MissingFieldsError, parent: QtWidgets.QWidget | None = None) -> dict | None:
        dialog = cls(error, parent)
        result = dialog.exec()
        if result == cls.USE_WIZARD:
            return {WIZARD_KEY: "1"}
        if result != QtWidgets.QDialog.DialogCode.Accepted:
            return None
        return dialog.values() or None
