"""The log panel: a logging handler that shows the `wavescope` logger's records in the window."""

from __future__ import annotations

import logging

from PyQt6 import QtCore, QtGui, QtWidgets

_COLOURS = {logging.WARNING: "#a04a00", logging.ERROR: "#b00020", logging.CRITICAL: "#b00020"}


class _Bridge(QtCore.QObject):
    record = QtCore.pyqtSignal(int, str)


class QtLogHandler(logging.Handler):
    """Forwards records to the GUI thread through a signal (records may come from workers)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.bridge = _Bridge()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.bridge.record.emit(record.levelno, self.format(record))
        except RuntimeError:            # the panel is gone (application closing)
            pass


class LogPanel(QtWidgets.QPlainTextEdit):
    """Read-only view of the log; attaches its handler to the `wavescope` logger."""

    def __init__(self, parent: QtWidgets.QWidget | None = None, logger_name: str = "wavescope"):
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(5000)
        self.handler = QtLogHandler()
        self.handler.bridge.record.connect(self.append_record)
        self.logger = logging.getLogger(logger_name)
        self.logger.addHandler(self.handler)
        if self.logger.level == logging.NOTSET or self.logger.level > logging.INFO:
            self.logger.setLevel(logging.INFO)

    def set_session(self, session) -> None:
        """The dock contract: the log shows every recording's records, so it keeps none of the session."""

    def append_record(self, level: int, text: str) -> None:
        colour = _COLOURS.get(level)
        if colour:
            self.appendHtml(f'<span style="color:{colour}">{_escape(text)}</span>')
        else:
            self.appendPlainText(text)
        self.moveCursor(QtGui.QTextCursor.MoveOperation.End)

    def detach(self) -> None:
        self.logger.removeHandler(self.handler)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
