"""File > Open URL…: recordings on a server, opened off the GUI thread. `install(window)` adds it all.

It adds the File menu entry (after Open…), a non-modal dialog whose combo box remembers the recent
URLs, and a status-bar label with the bytes fetched and the block cache's size. Opening a URL (from
the dialog, the recent files, the command line or a drop) runs `Recording.open` on a `Worker`; the
window hands it to the session when it arrives, so a slow or failing server never freezes the window
(the reader retries, then its `RemoteError` is shown like any other error).
"""

from __future__ import annotations

import logging

from PyQt6 import QtCore, QtGui, QtWidgets

from app.io.remote import is_url, remote_stats
from app.model.recording import Recording
from app.views.workers import Worker

__all__ = ["OpenUrlDialog", "UrlOpener", "install", "is_url"]

log = logging.getLogger("wavescope")
RECENT_KEY = "recent_urls"
RECENT_LIMIT = 15
STATUS_MS = 500


def _megabytes(nbytes: int) -> str:
    return f"{nbytes / 1e9:.2f} GB" if nbytes >= 1e9 else f"{nbytes / 1e6:.1f} MB"


class OpenUrlDialog(QtWidgets.QDialog):
    """A URL box (editable, with the recent URLs) and Open/Cancel; `urlChosen` on Open."""

    urlChosen = QtCore.pyqtSignal(str)

    def __init__(self, recent: list[str], parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Open a recording on a server")
        self.setMinimumWidth(640)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(QtWidgets.QLabel("URL of an NWB (HDF5) file or a zarr recording — https://, "
                                          "s3:// (public buckets) or a DANDI asset URL:"))
        self.url_box = QtWidgets.QComboBox(editable=True)
        self.url_box.addItems(recent)
        self.url_box.setCurrentText(recent[0] if recent else "")
        self.url_box.lineEdit().setPlaceholderText("https://…/recording.nwb")
        layout.addWidget(self.url_box)
        self.note = QtWidgets.QLabel("")
        self.note.setStyleSheet("color: palette(mid);")
        layout.addWidget(self.note)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Open
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        self.open_button = buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Open)
        buttons.accepted.connect(self._choose)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _choose(self) -> None:
        url = self.url_box.currentText().strip()
        if not is_url(url):
            self.note.setText("Give a URL starting with https://, http:// or s3://.")
            return
        self.urlChosen.emit(url)
        self.accept()


class UrlOpener(QtCore.QObject):
    """The Open URL features of one MainWindow (see `install`)."""

    opened = QtCore.pyqtSignal(str)
    failed = QtCore.pyqtSignal(str)

    def __init__(self, window: QtWidgets.QMainWindow):
        super().__init__(window)
        self.window = window
        self.settings: QtCore.QSettings = window.settings
        self.dialog: OpenUrlDialog | None = None
        self.pending: str | None = None
        self.worker = Worker(self, "open-url", on_result=self._opened, on_error=self._failed)
        self.status = QtWidgets.QLabel("")
        self.status.setToolTip("Recordings on a server: bytes fetched by this session, and the block "
                               "cache on disk ($WAVESCOPE_REMOTE_CACHE, $WAVESCOPE_REMOTE_CACHE_MB)")
        window.statusBar().addPermanentWidget(self.status)
        self._timer = QtCore.QTimer(self, interval=STATUS_MS, timeout=self.update_status)
        self._timer.start()
        self._add_menu_entry()

    def _add_menu_entry(self) -> None:
        self.action = QtGui.QAction("Open &URL…", self.window)
        self.action.setShortcut(QtGui.QKeySequence("Ctrl+Shift+O"))
        self.action.triggered.connect(self.show_dialog)
        for menu_action in self.window.menuBar().actions():
            menu = menu_action.menu()
            if menu is None or menu_action.text().replace("&", "") != "File":
                continue
            entries = menu.actions()
            after = next((i for i, a in enumerate(entries) if a.text().replace("&", "").startswith("Open…")), -1)
            if 0 <= after < len(entries) - 1:
                menu.insertAction(entries[after + 1], self.action)
            else:
                menu.addAction(self.action)
            return

    # -- recent URLs ------------------------------------------------------------------------------
    def recent_urls(self) -> list[str]:
        value = self.settings.value(RECENT_KEY, [])
        return [value] if isinstance(value, str) else list(value or [])

    def remember(self, url: str) -> None:
        self.settings.setValue(RECENT_KEY, [url] + [u for u in self.recent_urls() if u != url][:RECENT_LIMIT - 1])

    # -- opening ----------------------------------------------------------------------------------
    def show_dialog(self) -> OpenUrlDialog:
        """The dialog, non-modal: the window keeps working while it is up."""
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = OpenUrlDialog(self.recent_urls(), self.window)
        self.dialog.urlChosen.connect(self.open)
        self.dialog.show()
        return self.dialog

    def open(self, url: str, params: dict | None = None) -> bool:
        """Start opening `url` on the worker; True once started (the result arrives later)."""
        url = str(url).strip()
        self.pending = url
        self.window.statusBar().showMessage(f"Opening {url} …")
        self.worker.submit(Recording.open, url, dict(params or {}))
        return True

    def _opened(self, recording: Recording) -> None:
        url, self.pending = recording.datafile.file_name, None
        self.window.statusBar().clearMessage()
        self.window.session.adopt(recording, cutoff=self.window.cutoff_box.value())
        self.remember(url)
        self._remember_in_recent_files(url)
        self.update_status()
        self.opened.emit(url)

    def _failed(self, error: Exception) -> None:
        self.pending = None
        self.window.statusBar().clearMessage()
        log.error("%s", error)
        self.failed.emit(str(error))
        self.window.show_error("Cannot open the recording", str(error))

    def _remember_in_recent_files(self, url: str) -> None:
        """File > Open recent and the welcome page list the URL beside the local files."""
        window = self.window
        window.recent.remember(url)
        window.recent_menu.clear()
        for path in window.recent_files():
            window.recent_menu.addAction(path, lambda p=path: window.open_file(p))
        window.recent_menu.setEnabled(True)
        window.welcome.set_recent(window.recent_files())

    # -- status -----------------------------------------------------------------------------------
    def update_status(self) -> None:
        stats = remote_stats()
        if not stats["bytes_fetched"] and not self.pending:
            self.status.setText("")
            return
        self.status.setText(f"remote: {_megabytes(stats['bytes_fetched'])} fetched · cache "
                            f"{_megabytes(stats['cache_bytes'])} of {_megabytes(stats['cache_budget'])}")


def install(window: QtWidgets.QMainWindow) -> UrlOpener:
    """Add File > Open URL…, the recent URLs and the status-bar counters to `window`."""
    return UrlOpener(window)
