"""The sort dialog: a sorter, its environment, its parameters and an output folder -> a SortJob.

The sorter's environment is shown with its state (app.model.sorters); a missing one can be built
from here, pip's lines shown as they come. A SpikeInterface sorter's parameters come from its own
environment (app.model.sort_run.default_params, on a worker thread), nested ones flattened to
dotted keys (``filtering.freq_min``); only the values the user changed go into the job, as text
the sorter's environment reads with the default's type. SpyKING CIRCUS reads its parameters from
the .params file. "Queue" hands the job to `on_queue` (the main window's `queue_job`). The dialog
is not modal: `open_sort_dialog` shows it and returns at once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from PyQt6 import QtCore, QtWidgets

from app.model.jobs import JobError, SortJob, sorter_names, sorter_template
from app.model.wording import for_gui, has_command_line_advice
from app.views.workers import Worker

DEFAULT_SORTER = "mountainsort5"


def flatten(params: dict, prefix: str = "") -> dict[str, object]:
    """{"filtering": {"freq_min": 150}} -> {"filtering.freq_min": 150} (dotted keys for nested groups)."""
    flat: dict[str, object] = {}
    for key, value in params.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def shown(value: object) -> str:
    """A parameter value as the table shows it: JSON, strings bare."""
    return value if isinstance(value, str) else json.dumps(value)


def build(ticket, name: str, on_line: Callable[[str], None]):
    """Worker task: `install(name)`; closing the dialog cancels it at pip's next line (nothing is left)."""
    from app.model.sorters import SorterEnvError, install

    def line(text: str) -> None:
        if ticket.cancelled():
            raise SorterEnvError(f"the build of {name}'s environment was cancelled")
        on_line(text)
    return install(name, on_line=line)


class _Lines(QtCore.QObject):
    """Lines from the install's worker thread to the GUI thread (a queued signal)."""

    line = QtCore.pyqtSignal(str)


class SortDialog(QtWidgets.QDialog):
    """Pick a sorter and its parameters for a params file; `job()` is the SortJob it describes."""

    def __init__(self, params_file: str = "", parent: QtWidgets.QWidget | None = None,
                 on_queue: Callable[[SortJob], None] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Sort")
        self.on_queue = on_queue
        self.defaults: dict[str, object] = {}
        self.loader = Worker(self, "sorter parameters", on_result=self.show_defaults, on_error=self._defaults_failed)
        self.builder = Worker(self, "sorter environment", on_result=self._built, on_error=self._build_failed)
        self.lines = _Lines(self)
        self.lines.line.connect(self._install_line)
        self._build(params_file)
        self.finished.connect(lambda _: (self.loader.close(), self.builder.close()))
        self.sorter_changed()

    # -- layout -----------------------------------------------------------------------------------
    def _build(self, params_file: str) -> None:
        form = QtWidgets.QFormLayout()
        self.params_file = QtWidgets.QLineEdit(params_file)
        self.params_file.editingFinished.connect(self._params_changed)
        form.addRow("Params file", self._with_browse(self.params_file, self._browse_params))
        self.sorter = QtWidgets.QComboBox()
        for name in sorter_names():
            self.sorter.addItem(sorter_template(name).title, name)
        self.sorter.setCurrentIndex(max(self.sorter.findData(DEFAULT_SORTER), 0))
        self.sorter.currentIndexChanged.connect(self.sorter_changed)
        form.addRow("Sorter", self.sorter)
        self.env_state = QtWidgets.QLabel()
        self.env_state.setWordWrap(True)
        self.build_button = QtWidgets.QPushButton("Build its environment")
        self.build_button.clicked.connect(self.build_environment)
        state = QtWidgets.QHBoxLayout()
        state.addWidget(self.env_state, 1)
        state.addWidget(self.build_button)
        form.addRow("Environment", state)
        self.install_log = QtWidgets.QPlainTextEdit(readOnly=True)
        self.install_log.setMaximumBlockCount(2000)
        self.install_log.setVisible(False)
        self.install_bar = QtWidgets.QProgressBar()
        self.install_bar.setRange(0, 0)                     # busy: pip says no total
        self.install_bar.setVisible(False)
        self.table = QtWidgets.QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Parameter", "Value", "Description"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemChanged.connect(lambda _: self.update_command())
        self.params_note = QtWidgets.QLabel()
        self.params_note.setWordWrap(True)
        self.output = QtWidgets.QLineEdit()
        self.output.textChanged.connect(lambda _: self.update_command())
        form.addRow("Output folder", self._with_browse(self.output, self._browse_output))
        self.cpus = QtWidgets.QSpinBox(minimum=0, maximum=256, specialValueText="sorter's default")
        self.cpus.valueChanged.connect(lambda _: self.update_command())
        form.addRow("CPUs", self.cpus)
        self.command = QtWidgets.QLabel(wordWrap=True, textInteractionFlags=QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        self.queue_button = buttons.addButton("Queue", QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.queue)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        for part in (form, self.install_bar, self.install_log, self.params_note, self.table, self.command, buttons):
            layout.addLayout(part) if isinstance(part, QtWidgets.QLayout) else layout.addWidget(part)
        self.resize(760, 600)

    def _with_browse(self, edit: QtWidgets.QLineEdit, browse: Callable[[], None]) -> QtWidgets.QWidget:
        box = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        button = QtWidgets.QPushButton("Browse…")
        button.clicked.connect(browse)
        row.addWidget(button)
        return box

    def _browse_params(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Params file", os.path.dirname(self.params_file.text()),
                                                        "Params files (*.params);;All files (*)")
        if path:
            self.params_file.setText(path)
            self._params_changed()

    def _browse_output(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Output folder", os.path.dirname(self.output.text()))
        if path:
            self.output.setText(path)

    # -- state ------------------------------------------------------------------------------------
    def sorter_name(self) -> str:
        return self.sorter.currentData()

    def is_spikeinterface(self) -> bool:
        return bool(sorter_template(self.sorter_name()).spikeinterface)

    def default_output(self) -> str:
        params = self.params_file.text().strip()
        if not params:
            return ""
        return f"{os.path.splitext(os.path.abspath(params))[0]}-{self.sorter_name()}"

    def _params_changed(self) -> None:
        if self.is_spikeinterface():
            self.output.setText(self.default_output())
        self.update_command()

    def sorter_changed(self) -> None:
        """A sorter was chosen: its environment's state, its output folder, its parameters."""
        from app.model.sorters import environment
        name = self.sorter_name()
        env = environment(name, probe=False)
        versions = ", ".join(f"{k} {v}" for k, v in env.versions.items())
        where = f" in {env.prefix}" if env.prefix else ""
        reason = env.reason if env.reason and not env.usable else ""
        if has_command_line_advice(reason):      # the dialog has a button for it
            reason = "build it with the button on the right"
        self.env_state.setText(f"{env.state}{where}" + (f" ({versions})" if versions else "")
                               + (f" — {reason}" if reason else ""))
        self.build_button.setVisible(not env.usable)
        si = self.is_spikeinterface()
        self.output.setEnabled(si)
        self.output.setText(self.default_output() if si else "")
        self.cpus.setEnabled(True)
        self.defaults = {}
        self.table.setRowCount(0)
        if not si:
            self.params_note.setText(f"{sorter_template(name).title} reads its parameters from the .params file "
                                     "(edit it with the params wizard).")
        elif not env.usable:
            self.params_note.setText("Build the environment to see and edit the sorter's parameters.")
        else:
            self.params_note.setText("Loading the sorter's default parameters…")
            from app.model.sort_run import default_params
            self.loader.submit(default_params, name)
        self.update_command()

    def show_defaults(self, found: dict) -> None:
        """The sorter's defaults in the table (values editable, changed ones go into the job)."""
        self.defaults = flatten(found.get("params", {}))
        notes = found.get("descriptions", {})
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.defaults))
        for row, (key, value) in enumerate(self.defaults.items()):
            name = QtWidgets.QTableWidgetItem(key)
            name.setFlags(name.flags() & ~QtCore.Qt.ItemFlag.ItemIsEditable)
            note = QtWidgets.QTableWidgetItem(str(notes.get(key.split(".")[0], "")))
            note.setFlags(note.flags() & ~QtCore.Qt.ItemFlag.ItemIsEditable)
            note.setToolTip(note.text())
            self.table.setItem(row, 0, name)
            self.table.setItem(row, 1, QtWidgets.QTableWidgetItem(shown(value)))
            self.table.setItem(row, 2, note)
        self.table.blockSignals(False)
        self.table.resizeColumnsToContents()
        version = found.get("version")
        self.params_note.setText(f"{len(self.defaults)} parameters" + (f" of {self.sorter_name()} {version}"
                                 if version else "") + "; the defaults are shown, change a value to override it.")
        self.update_command()

    def _defaults_failed(self, error: Exception) -> None:
        self.params_note.setText(f"The parameters could not be listed: {error}")

    def set_value(self, key: str, text: str) -> None:
        """Set a parameter's value as the user would type it."""
        row = list(self.defaults).index(key)
        self.table.item(row, 1).setText(text)

    def sorter_params(self) -> dict[str, str]:
        """The values that differ from the defaults, as typed."""
        changed = {}
        for row, (key, value) in enumerate(self.defaults.items()):
            text = self.table.item(row, 1).text().strip()
            if text != shown(value).strip():
                changed[key] = text
        return changed

    # -- the job ----------------------------------------------------------------------------------
    def job(self) -> SortJob:
        si = self.is_spikeinterface()
        return SortJob(params_file=os.path.abspath(self.params_file.text().strip()), sorter=self.sorter_name(),
                       cpus=self.cpus.value() or None, output=(self.output.text().strip() or None) if si else None,
                       sorter_params=self.sorter_params() if si else {})

    def check(self) -> str | None:
        """None when the job can be queued, else why not (said in the dialog)."""
        if not self.params_file.text().strip():
            return "Choose the recording's .params file."
        job = self.job()
        try:
            template = job.template()
            missing = template.missing_message()
            if missing:
                return (f"{template.title} is not installed: build its environment first." if
                        has_command_line_advice(missing) else for_gui(missing))
            job.command()
            job.preflight()
        except JobError as error:
            return str(error)
        return None

    def update_command(self) -> None:
        problem = self.check()
        if problem is None:
            self.command.setText(" ".join(self.job().command()))
        else:
            self.command.setText(f"⚠ {problem}")
        self.queue_button.setEnabled(problem is None)

    def queue(self) -> None:
        problem = self.check()
        if problem is not None:
            self.command.setText(f"⚠ {problem}")
            return
        if self.on_queue is not None:
            self.on_queue(self.job())
        self.accept()

    # -- building an environment ------------------------------------------------------------------
    def build_environment(self) -> None:
        """Build the sorter's managed environment on a worker thread, pip's lines in the log."""
        name = self.sorter_name()
        self.build_button.setEnabled(False)
        self.install_log.clear()
        self.install_log.setVisible(True)
        self.install_bar.setVisible(True)
        self.env_state.setText(f"building {name}'s environment…")
        self.builder.submit(build, name, self.lines.line.emit, pass_ticket=True)

    def _install_line(self, text: str) -> None:
        self.install_log.appendPlainText(text)

    def _built(self, env) -> None:
        self.install_bar.setVisible(False)
        self.build_button.setEnabled(True)
        self.sorter_changed()

    def _build_failed(self, error: Exception) -> None:
        self.install_bar.setVisible(False)
        self.build_button.setEnabled(True)
        self.env_state.setText(f"the build failed: {error}")


def open_sort_dialog(params_file: str, parent: QtWidgets.QWidget | None,
                     on_queue: Callable[[SortJob], None]) -> SortDialog:
    """Show the dialog without blocking; it deletes itself when closed."""
    dialog = SortDialog(params_file, parent, on_queue)
    dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    return dialog
