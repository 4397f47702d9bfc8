"""The Probe menu of the browser: load a probe file (.prb, probeinterface .json, Kilosort .mat)
for the open recording, go back to the header's geometry, export the geometry in use.

`install(window)` adds it; the session does the work (`app.model.probes`), the probe view, stream
tree and trace order follow the session's "probe" topic. A file that places the channels
differently from the header is used, and the difference is said in a message box.
"""

from __future__ import annotations

from PyQt6 import QtCore, QtWidgets

from app.io.errors import DataFileError
from app.model import probes

PROBE_FILES = "Probe files (*.prb *.json *.mat);;All files (*)"
EXPORT_FILES = "probeinterface JSON (*.json);;SpyKING CIRCUS probe (*.prb);;Kilosort channel map (*.mat)"


class ProbeUI(QtCore.QObject):
    """The Probe menu of one MainWindow; dialogs are attributes so tests can answer them."""

    def __init__(self, window: QtWidgets.QMainWindow):
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.ask_open_path = lambda: QtWidgets.QFileDialog.getOpenFileName(
            window, "Load a probe file", "", PROBE_FILES)[0]
        self.ask_save_path = lambda: QtWidgets.QFileDialog.getSaveFileName(
            window, "Export the probe", "probe.json", EXPORT_FILES)[0]
        self.show_message = lambda title, text: QtWidgets.QMessageBox.warning(window, title, text)
        self.show_error = lambda title, text: window.show_error(title, text)
        menu = window.menuBar().addMenu("&Probe")
        self.load_action = menu.addAction("&Load probe file…", self.load_dialog)
        self.header_action = menu.addAction("Use the &header's geometry", self.use_header)
        self.export_action = menu.addAction("&Export probe…", self.export_dialog)
        self.session.subscribe(self._session_changed)
        self._session_changed("closed", None)

    def _session_changed(self, topic: str, _value) -> None:
        if topic in ("opened", "closed", "probe"):
            is_open = self.session.is_open
            for action in (self.load_action, self.header_action):
                action.setEnabled(is_open)
            self.export_action.setEnabled(is_open and self.session.recording.geometry is not None)

    def _status(self, choice: probes.ProbeChoice) -> None:
        self.window.statusBar().showMessage(choice.describe().splitlines()[0], 10_000)

    def load_dialog(self) -> None:
        path = self.ask_open_path()
        if path:
            self.load(path)

    def load(self, path: str) -> probes.ProbeChoice | None:
        """Use the probe file at `path`; errors and a header mismatch are shown, never raised."""
        try:
            choice = probes.load_into(self.session, path)
        except DataFileError as error:
            self.show_error("Cannot use this probe file", str(error))
            return None
        self._status(choice)
        if choice.mismatch:
            self.show_message("The probe differs from the recording's header",
                              "\n".join(probes.mismatch_messages(choice.mismatch)))
        return choice

    def use_header(self) -> probes.ProbeChoice:
        choice = probes.header_into(self.session)
        self._status(choice)
        return choice

    def export_dialog(self) -> None:
        path = self.ask_save_path()
        if path:
            try:
                written = probes.export(self.session, path)
            except DataFileError as error:
                self.show_error("Cannot export the probe", str(error))
                return
            self.window.statusBar().showMessage(f"Wrote {written}", 10_000)


def install(window: QtWidgets.QMainWindow) -> ProbeUI:
    """Add the Probe menu to `window` (a MainWindow with a session)."""
    return ProbeUI(window)
