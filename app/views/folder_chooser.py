"""The folder chooser: a folder holding several recordings lists them, and the user picks one.

Shown instead of opening one of them silently (`app.io.folders`). Each row shows the recording's
path relative to the folder; double-click or Open picks it.
"""

from __future__ import annotations

import os

from PyQt6 import QtCore, QtWidgets


class FolderChooser(QtWidgets.QDialog):
    """Pick one of `recordings` (paths) found below `folder`; `chosen()` is the picked path."""

    def __init__(self, folder: str, recordings: list[str], parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Choose a recording")
        self.folder, self.recordings = folder, list(recordings)
        text = QtWidgets.QLabel(f"<b>{os.path.basename(folder) or folder}</b> holds "
                                f"{len(self.recordings)} recordings. Which one do you want to open?")
        text.setWordWrap(True)
        self.list = QtWidgets.QListWidget()
        for path in self.recordings:
            item = QtWidgets.QListWidgetItem(os.path.relpath(path, folder))
            item.setToolTip(path)
            item.setData(QtCore.Qt.ItemDataRole.UserRole, path)
            self.list.addItem(item)
        self.list.setCurrentRow(0)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        self.buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Open
                                                  | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.buttons)
        self.resize(560, 320)

    def chosen(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else str(item.data(QtCore.Qt.ItemDataRole.UserRole))

    @classmethod
    def ask(cls, folder: str, recordings: list[str], parent: QtWidgets.QWidget | None = None) -> str | None:
        """The chosen recording's path, or None when cancelled (modal)."""
        dialog = cls(folder, recordings, parent)
        return dialog.chosen() if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted else None
