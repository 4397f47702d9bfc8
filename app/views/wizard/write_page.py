"""Page 5: where the params go, what changes in an existing file, and the atomic write on Finish."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt6 import QtCore, QtGui, QtWidgets

from app.io.errors import DataFileError
from app.model import wizard as logic
from app.model.wizard_state import can_write_to, copy_cost, params_preview, probe_target_text
from app.views.wizard.common import (
    DEBOUNCE_MS,
    ERROR_COLOUR,
    FACT_COLOUR,
    OK_COLOUR,
    message_html,
    set_buddies,
    status_label,
)

if TYPE_CHECKING:
    from app.views.wizard.shell import ParamsWizard


class WritePage(QtWidgets.QWizardPage):
    """The target path, the template for the other sections, the filtered-copy choice and the diff."""

    def __init__(self, owner: ParamsWizard):
        super().__init__()
        self.owner = owner
        self.state = owner.state
        self.setTitle("Write")
        self.setSubTitle("SpyKING CIRCUS looks for <data name>.params beside the data. An existing file is "
                         "kept as a .bak backup; its other sections are kept unless you choose a template.")
        self.path_edit = QtWidgets.QLineEdit()
        self.path_edit.setObjectName("params-path")
        self.base_edit = QtWidgets.QLineEdit()
        self.base_edit.setObjectName("params-base")
        self.base_edit.setPlaceholderText("empty: the Wavescope template")
        self.base_edit.setToolTip("Copy the sections other than [data] (detection, clustering, ...) from "
                                  "this params file.")
        self.probe_label = QtWidgets.QLabel()
        self.probe_label.setWordWrap(True)
        self.what = QtWidgets.QLabel()
        self.text = QtWidgets.QPlainTextEdit()
        self.text.setObjectName("params-text")
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QtWidgets.QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont))
        self.highlighter = DiffHighlighter(self.text.document())
        self.copy_box = QtWidgets.QCheckBox("&Filter a copy, never the recording (overwrite = False)")
        self.copy_box.setObjectName("filter-copy")
        self.copy_box.setChecked(True)
        self.copy_box.setToolTip("SpyKING CIRCUS band-pass filters the data before sorting. Checked: it "
                                 "writes a filtered float32 copy. Unchecked: it rewrites the recording.")
        self.copy_label = QtWidgets.QLabel()
        self.copy_label.setObjectName("filter-copy-cost")
        self.copy_label.setWordWrap(True)
        self.copy_box.toggled.connect(lambda _: self.render())
        self.open_box = QtWidgets.QCheckBox("&Open the recording in the browser when done")
        self.open_box.setChecked(True)
        self.status = status_label()
        form = QtWidgets.QFormLayout()
        form.addRow("&Params file:", self._with_browse(self.path_edit, "&Browse…", self._browse))
        form.addRow("Other &sections from:",
                    self._with_browse(self.base_edit, "B&rowse…", self._browse_base))
        form.addRow("Probe:", self.probe_label)
        set_buddies(form)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        for widget in (self.copy_box, self.copy_label, self.what):
            layout.addWidget(widget)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.open_box)
        layout.addWidget(self.status)
        self.rendered = ""
        self._timer = QtCore.QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self.render)
        self.path_edit.textChanged.connect(self._path_changed)
        self.base_edit.textChanged.connect(lambda _: self._timer.start())

    @staticmethod
    def _with_browse(edit: QtWidgets.QLineEdit, text: str, browse) -> QtWidgets.QHBoxLayout:
        button = QtWidgets.QPushButton(text)
        button.clicked.connect(browse)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(button)
        return row

    def initializePage(self) -> None:
        target = logic.default_params_path(self.state.path)
        self.path_edit.setText(str(target))
        self.base_edit.setText(str(target) if target.is_file() else "")
        self.probe_label.setText(message_html(probe_target_text(self.state)))
        self.render()

    def _path_changed(self) -> None:
        self._timer.start()
        self.completeChanged.emit()

    def _browse(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Write the params file", self.path_edit.text(),
                                                        "Params files (*.params)")
        if path:
            self.path_edit.setText(path)

    def _browse_base(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Copy the other sections from",
                                                        self.owner.last_dir(), "Params files (*.params)")
        if path:
            self.base_edit.setText(path)

    def base(self) -> str | None:
        return self.base_edit.text().strip() or None

    def filter_a_copy(self) -> bool:
        return self.copy_box.isChecked()

    def render(self) -> None:
        """Show the file to be written: its diff against an existing file, else its whole text."""
        self._timer.stop()
        try:
            self.rendered = self.state.render(self.base(), self.filter_a_copy())
        except (DataFileError, OSError) as error:
            self.rendered = ""
            self.what.setText(message_html((str(error), "error")))
            self.text.setPlainText("")
            self.completeChanged.emit()
            return
        self.copy_label.setText(message_html(copy_cost(self.state, self.rendered, self.filter_a_copy())))
        shown = params_preview(self.path_edit.text().strip(), self.rendered)
        self.what.setText(shown.heading)
        self.highlighter.enabled = shown.is_diff
        self.text.setPlainText(shown.text)
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return bool(self.rendered) and can_write_to(self.path_edit.text().strip())

    def validatePage(self) -> bool:
        if self._timer.isActive():
            self.render()
        try:
            self.owner.write(self.path_edit.text().strip(), self.base())
        except (DataFileError, OSError) as error:
            self.status.setText(message_html((f"Nothing was written: {error}", "error")))
            return False
        return True


class DiffHighlighter(QtGui.QSyntaxHighlighter):
    """Unified-diff colours: removed lines red, added lines green, hunk headers grey."""

    def __init__(self, document: QtGui.QTextDocument):
        super().__init__(document)
        self.enabled = False
        self._formats = {}
        for prefix, colour in (("-", ERROR_COLOUR), ("+", OK_COLOUR), ("@", FACT_COLOUR)):
            text_format = QtGui.QTextCharFormat()
            text_format.setForeground(QtGui.QColor(colour))
            self._formats[prefix] = text_format

    def highlightBlock(self, text: str) -> None:
        if self.enabled and text[:1] in self._formats:
            self.setFormat(0, len(text), self._formats[text[:1]])
