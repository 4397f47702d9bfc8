"""Channels > Check channels / Write suspicious channels to params: the bad-channel check in the GUI.

The check (`app.model.channel_check`) runs on a Worker; its findings mark the stream tree (a warning
icon, the reason in the tooltip) and the trace labels (amber, ⚠). Writing them to `dead_channels`
happens only on request and never silently: the user picks the params file; an existing one is
rewritten with a backup kept (and says so), a new one describes the recording.
"""

from __future__ import annotations

import logging
import os

from PyQt6 import QtCore, QtWidgets

from app.model.channel_check import (
    ChannelCheck,
    check_session,
    dead_channels_by_group,
    session_params,
    write_dead_channels,
)
from app.views.workers import Worker

log = logging.getLogger("wavescope")


class BadChannelsUI(QtCore.QObject):
    """The check's menu, worker and marks for one MainWindow."""

    checked = QtCore.pyqtSignal(object)          # the ChannelCheck shown

    def __init__(self, window: QtWidgets.QMainWindow):
        super().__init__(window)
        self.window = window
        self.result: ChannelCheck | None = None
        self.worker = Worker(self, "channel-check", on_result=self.show_result, on_error=self._failed)
        self.ask_params_path = self._ask_params_path               # tests inject the answers
        self.confirm = self._confirm
        menu = window.menuBar().addMenu("&Channels")
        self.check_action = menu.addAction("&Check channels for problems", self.run)
        self.check_action.setToolTip("Find flat, saturated, very noisy or silent channels (reads a few "
                                     "short windows of the recording)")
        self.write_action = menu.addAction("&Write suspicious channels to params…", self.write)
        self.write_action.setEnabled(False)
        self.clear_action = menu.addAction("C&lear the marks", self.clear)
        window.session.subscribe(self._session_changed)

    def _session_changed(self, topic: str, _value) -> None:
        if topic in ("opened", "closed"):
            self.worker.cancel()
            self.clear()

    def run(self):
        """Start the check of the open recording; the ticket, or None with nothing open."""
        if self.window.session.recording is None:
            return None
        self.window.statusBar().showMessage("Checking the channels…")
        session = self.window.session
        return self.worker.submit(lambda ticket: check_session(session, ticket.cancelled), pass_ticket=True)

    def show_result(self, result: ChannelCheck) -> None:
        self.result = result
        marks = {c: result.describe(c) for c in result.suspicious}
        self._mark(marks)
        self.write_action.setEnabled(bool(marks))
        recording = self.window.session.recording
        names = ", ".join(f"{recording.channel_name(c)} ({'/'.join(result.reasons[c])})"
                          for c in result.suspicious) if recording is not None else ""
        text = f"{len(marks)} suspicious channel(s): {names}" if marks else "No suspicious channel found."
        self.window.statusBar().showMessage(text, 15000)
        log.info("channel check: %s", text)
        self.checked.emit(result)

    def _failed(self, error: Exception) -> None:
        self.window.statusBar().clearMessage()
        self.window.show_error("Cannot check the channels", str(error))

    def _mark(self, marks: dict[int, str]) -> None:
        self.window.tree.mark_channels(marks)
        self.window.view.channel_marks = marks
        self.window.view.update()

    def clear(self) -> None:
        self.result = None
        self.write_action.setEnabled(False)
        self._mark({})

    def write(self) -> str | None:
        """Ask where, then write the flagged channels to that params file's dead_channels; its path."""
        session = self.window.session
        if self.result is None or not self.result.suspicious or session.recording is None:
            return None
        description, data_file, suggested = session_params(session)
        path = self.ask_params_path(suggested)
        if not path:
            return None
        dead = dead_channels_by_group(self.result.suspicious, session.recording.groups)
        if os.path.isfile(path) and not self.confirm(
                f"Set dead_channels in {path}?\nThe file is rewritten; its current version is kept "
                f"as a backup beside it ({os.path.basename(path)}.bak)."):
            return None
        try:
            backup = write_dead_channels(path, dead, description, data_file)
        except (OSError, ValueError) as error:
            self.window.show_error("Cannot write the params file", str(error))
            return None
        kept = f"; the previous version is kept as {backup}" if backup else ""
        self.window.statusBar().showMessage(f"dead_channels written to {path}{kept}", 15000)
        log.info("dead_channels %s written to %s%s", dead, path, kept)
        return path

    def _ask_params_path(self, suggested: str) -> str:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self.window, "Write the suspicious channels to a params file", suggested, "Params files (*.params)",
            options=QtWidgets.QFileDialog.Option.DontConfirmOverwrite)
        return path

    def _confirm(self, text: str) -> bool:
        answer = QtWidgets.QMessageBox.question(self.window, "Write dead_channels", text)
        return answer == QtWidgets.QMessageBox.StandardButton.Yes

    def shutdown(self) -> None:
        self.worker.close()
