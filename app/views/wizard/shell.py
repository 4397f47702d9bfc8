"""The QWizard that holds the five pages, the user's answers (`state`) and the workers they share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt6 import QtCore, QtWidgets

from app.model import wizard_state
from app.model.wizard_state import WizardState
from app.views.wizard.background import PageWorkers
from app.views.wizard.data_page import DataPage
from app.views.wizard.fields_page import FieldsPage
from app.views.wizard.preview_page import PreviewPage
from app.views.wizard.probe_page import ProbePage
from app.views.wizard.write_page import WritePage

RECENT_PROBES_KEY = "wizard/recent_probes"


class ParamsWizard(QtWidgets.QWizard):
    """File -> fields -> probe -> preview -> write. `paramsWritten(path)` after Finish, and
    `openRequested(path)` when the user asked to open the recording in the browser."""

    paramsWritten = QtCore.pyqtSignal(str)
    openRequested = QtCore.pyqtSignal(str)

    def __init__(self, path: str | None = None, settings: QtCore.QSettings | None = None,
                 parent: QtWidgets.QWidget | None = None, file_format: str | None = None,
                 values: dict | None = None, suggest_max_channels: int = 1024):
        super().__init__(parent)
        self.setWindowTitle("New params file")
        self.setWizardStyle(QtWidgets.QWizard.WizardStyle.ClassicStyle)
        self.setOption(QtWidgets.QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QtWidgets.QWizard.WizardOption.HaveHelpButton, False)
        self.resize(900, 720)
        self.settings = settings or QtCore.QSettings("Wavescope", "wavescope")
        self.state = WizardState(values=dict(values or {}))
        self.workers = PageWorkers(self)
        self.suggest_max_channels = suggest_max_channels
        self.data_page = DataPage(self)
        self.fields_page = FieldsPage(self)
        self.probe_page = ProbePage(self)
        self.preview_page = PreviewPage(self)
        self.write_page = WritePage(self)
        for page in (self.data_page, self.fields_page, self.probe_page, self.preview_page, self.write_page):
            self.addPage(page)
        self.finished.connect(self._finished)
        self._forced_format = file_format
        if file_format:
            self.workers.answered.connect(self._force_format)
        if path:
            self.data_page.set_path(path)

    def _force_format(self, question: str, _result: Any) -> None:
        """The caller named the format (a reader asked for fields): it wins over the ranking, once."""
        if question == "rank" and self._forced_format:
            self.data_page.select_format(self._forced_format)
            self._forced_format = None

    def write(self, params_path: str, base: str | None):
        """The wizard's only write: the generated/edited probe, then the params file."""
        written = self.state.write(params_path, base, filter_a_copy=self.write_page.filter_a_copy())
        if written.probe_path is not None:
            self.remember_probe(str(written.probe_path))
        return written

    # -- settings -------------------------------------------------------------------------------
    def last_dir(self) -> str:
        return str(self.settings.value("last_dir", str(Path.home())))

    def remember_dir(self, path: str) -> None:
        self.settings.setValue("last_dir", wizard_state.folder_of(path))

    def recent_probes(self) -> list[str]:
        return wizard_state.recent_probes(self.settings.value(RECENT_PROBES_KEY, []))

    def remember_probe(self, path: str) -> None:
        recent = wizard_state.remember_probe(self.settings.value(RECENT_PROBES_KEY, []), path)
        if recent is not None:
            self.settings.setValue(RECENT_PROBES_KEY, recent)

    # -- the end --------------------------------------------------------------------------------
    def _finished(self, result: int) -> None:
        self.preview_page.release()
        self.workers.shutdown()
        written = self.state.written
        if result == QtWidgets.QDialog.DialogCode.Accepted and written is not None:
            path = str(written.params_path)
            self.paramsWritten.emit(path)
            if self.write_page.open_box.isChecked():
                self.openRequested.emit(path)
