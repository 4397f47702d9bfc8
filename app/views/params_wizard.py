"""The params wizard: from a recording on disk to a `.params` file the sorter reads, in five pages.

Data file -> fields -> probe -> preview -> write. The widgets only translate
between the user and `app.model.wizard`, which constructs the real DataFile for
every answer; anything that touches the file runs on a worker thread and stale
answers are dropped. Nothing is written before Finish: cancelling at any page
leaves the disk as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtWidgets

from app.io.errors import DataFileError
from app.io.probe import Probe, read_probe
from app.model import wizard as logic
from app.model.recording import Recording
from app.model.traces import TraceSource
from app.views.trace_view import TraceView

ERROR_COLOUR = "#c62828"
OK_COLOUR = "#2e7d32"
WARN_COLOUR = "#b26a00"
FACT_COLOUR = "#555555"
DEBOUNCE_MS = 250
MAX_RECENT_PROBES = 8
PREVIEW_SECONDS = 2.0
MAX_PROBE_LABELS = 256

UNITS = {"sampling_rate": "Hz", "gain": "µV per bit", "data_offset": "bytes", "dtype_offset": "ADC units"}
FIELD_HELP = {
    "sampling_rate": "Samples per second per channel, as set on the acquisition system.",
    "data_dtype": "How one sample is stored on disk (int16 for most amplifiers; uint16 for some "
                  "MEA systems; float32 for exported data).",
    "nb_channels": "Channels stored in the file, dead and auxiliary ones included.",
    "data_offset": "Bytes before the first sample: the length of a header, 0 when there is none.",
    "dtype_offset": "Value subtracted from the raw samples; 'auto' gives 32768 for uint16, 127 for uint8, "
                    "else 0.",
    "gain": "Physical unit per bit, applied after dtype_offset (µV per bit for most systems).",
    "h5_key": "Path of the dataset inside the HDF5 file that holds the samples.",
}


def _coloured(text: str, colour: str) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>")
    return f'<span style="color:{colour}">{escaped}</span>'


def _status_label() -> QtWidgets.QLabel:
    label = QtWidgets.QLabel()
    label.setWordWrap(True)
    label.setTextFormat(QtCore.Qt.TextFormat.RichText)
    label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class Jobs(QtCore.QObject):
    """Runs callables on worker threads; results come back on the GUI thread, newest per key only.

    A key stays `busy` until its newest result has been delivered, so a page that waits
    for it never sees "done" before the answer is on screen.
    """

    done = QtCore.pyqtSignal(str, object)
    _relay = QtCore.pyqtSignal(str, int, object)

    def __init__(self, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="wavescope-wizard")
        self._latest: dict[str, int] = {}
        self._waiting: set[str] = set()
        self._relay.connect(self._deliver)

    def submit(self, key: str, work: Callable[[], Any]) -> None:
        generation = self._latest.get(key, 0) + 1
        self._latest[key] = generation
        self._waiting.add(key)
        future = self._pool.submit(work)
        future.add_done_callback(lambda f: self._relay.emit(key, generation, f))

    def busy(self, key: str) -> bool:
        return key in self._waiting

    def _deliver(self, key: str, generation: int, future: Future) -> None:
        if generation != self._latest.get(key):
            return
        self._waiting.discard(key)
        if future.cancelled():
            return
        error = future.exception()
        self.done.emit(key, error if error is not None else future.result())

    def shutdown(self) -> None:
        self._latest.clear()
        self._waiting.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)


# -- field editors ----------------------------------------------------------------------------------

class FieldEditor(QtWidgets.QWidget):
    """One typed editor for a [data] field; `value()` is None while the field is not set."""

    changed = QtCore.pyqtSignal()

    def __init__(self, name: str, type_name: str, required: bool, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.name, self.type_name, self.required = name, type_name, required
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.widget = self._make()
        self.widget.setObjectName(f"field-{name}")
        layout.addWidget(self.widget, 1)
        if name in UNITS:
            layout.addWidget(QtWidgets.QLabel(UNITS[name]))
        self.setToolTip(FIELD_HELP.get(name, f"{name} ({type_name})"))
        self.setFocusProxy(self.widget)

    def _make(self) -> QtWidgets.QWidget:
        if self.name in logic.DTYPE_FIELDS:
            box = QtWidgets.QComboBox()
            box.addItems(logic.DTYPES)
            box.setPlaceholderText("choose the sample type")
            box.setCurrentIndex(-1)
            box.currentIndexChanged.connect(self.changed)
            return box
        if self.name == "sampling_rate":
            return self._combo([f"{rate:g}" for rate in logic.COMMON_RATES], "e.g. 30000",
                               QtGui.QDoubleValidator(0.001, 1e9, 6))
        if self.type_name == "int":
            box = QtWidgets.QSpinBox()
            box.setRange(-1 if self.required else -(2 ** 31), 2 ** 31 - 1)
            if self.required:
                box.setSpecialValueText("not set")
                box.setValue(-1)
            box.valueChanged.connect(self.changed)
            return box
        if self.type_name == "bool":
            box = QtWidgets.QCheckBox()
            box.toggled.connect(self.changed)
            return box
        edit = QtWidgets.QLineEdit()
        edit.setPlaceholderText(self.type_name)
        if self.type_name == "float" and self.name != "dtype_offset":
            edit.setValidator(QtGui.QDoubleValidator())
        edit.textChanged.connect(self.changed)
        return edit

    def _combo(self, items: list[str], placeholder: str, validator: QtGui.QValidator | None) -> QtWidgets.QComboBox:
        box = QtWidgets.QComboBox()
        box.setEditable(True)
        box.setInsertPolicy(QtWidgets.QComboBox.InsertPolicy.NoInsert)
        box.addItems(items)
        box.setCurrentIndex(-1)
        box.lineEdit().setPlaceholderText(placeholder)
        if validator is not None:
            box.setValidator(validator)
        box.currentTextChanged.connect(self.changed)
        return box

    def set_choices(self, choices: list[str]) -> None:
        """Offer the values the reader named (an HDF5 file's datasets) in an editable combo."""
        if isinstance(self.widget, QtWidgets.QComboBox) or not choices:
            return
        current = self.value()
        old = self.widget
        self.widget = self._combo(choices, self.type_name, None)
        self.widget.setObjectName(old.objectName())
        self.layout().replaceWidget(old, self.widget)
        old.deleteLater()
        self.setFocusProxy(self.widget)
        self.set_value(current)

    def value(self) -> Any:
        widget = self.widget
        if isinstance(widget, QtWidgets.QSpinBox):
            return None if self.required and widget.value() < 0 else widget.value()
        if isinstance(widget, QtWidgets.QCheckBox):
            return widget.isChecked()
        text = widget.currentText() if isinstance(widget, QtWidgets.QComboBox) else widget.text()
        return text.strip() or None

    def set_value(self, value: Any) -> None:
        widget = self.widget
        with QtCore.QSignalBlocker(widget):
            if isinstance(widget, QtWidgets.QSpinBox):
                widget.setValue(-1 if value is None else int(value))
            elif isinstance(widget, QtWidgets.QCheckBox):
                widget.setChecked(bool(value) and str(value).lower() not in ("false", "0", "no"))
            elif isinstance(widget, QtWidgets.QComboBox) and not widget.isEditable():
                widget.setCurrentIndex(widget.findText(_dtype_name(value)) if value is not None else -1)
            elif isinstance(widget, QtWidgets.QComboBox):
                widget.setCurrentIndex(-1)
                widget.setEditText("" if value is None else _text(value))
            else:
                widget.setText("" if value is None else _text(value))
        self.changed.emit()


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _dtype_name(value: Any) -> str:
    try:
        return np.dtype(value).name
    except TypeError:
        return str(value)


# -- page 1: data file ------------------------------------------------------------------------------

class DataPage(QtWidgets.QWizardPage):
    """Pick or drop the recording; choose its format (ranked, with reasons) and stream mode."""

    def __init__(self, owner: ParamsWizard):
        super().__init__()
        self.owner = owner
        self.setTitle("Data file")
        self.setSubTitle("Pick or drop the recording. The formats that can read it are ranked by what its "
                         "content says; choose another if you know better.")
        self.setAcceptDrops(True)
        self.path_edit = QtWidgets.QLineEdit()
        self.path_edit.setObjectName("path")
        self.path_edit.setPlaceholderText("a data file, or the folder of a folder-based recording")
        self.path_edit.setClearButtonEnabled(True)
        file_button = QtWidgets.QPushButton("&File…")
        folder_button = QtWidgets.QPushButton("F&older…")
        file_button.clicked.connect(self._browse_file)
        folder_button.clicked.connect(self._browse_folder)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(file_button)
        row.addWidget(folder_button)
        self.candidates = QtWidgets.QTreeWidget()
        self.candidates.setObjectName("candidates")
        self.candidates.setHeaderLabels(["Format", "Score", "Why"])
        self.candidates.setRootIsDecorated(False)
        self.candidates.setMaximumHeight(130)
        self.candidates.itemActivated.connect(self._candidate_chosen)
        self.candidates.itemClicked.connect(self._candidate_chosen)
        self.format_box = QtWidgets.QComboBox()
        self.format_box.setObjectName("format")
        for name, title in logic.format_titles().items():
            self.format_box.addItem(f"{title}  ({name})" if title != name else name, name)
        self.format_box.setCurrentIndex(-1)
        self.format_box.setPlaceholderText("choose the format")
        self.format_box.setToolTip("The reader to use; the ranking above is a suggestion.")
        self.stream_box = QtWidgets.QComboBox()
        self.stream_box.setObjectName("stream_mode")
        self.stream_box.setToolTip("How several parts form one timeline; None reads one part only.")
        self.stream_label = QtWidgets.QLabel("&Stream mode:")
        self.stream_label.setBuddy(self.stream_box)
        self.segments = QtWidgets.QTreeWidget()
        self.segments.setObjectName("segments")
        self.segments.setHeaderLabels(["Segment file", "Starts at (s)", "Duration (s)"])
        self.segments.setRootIsDecorated(False)
        self.status = _status_label()
        form = QtWidgets.QFormLayout()
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("&Recording:", row)
        form.itemAt(0, QtWidgets.QFormLayout.ItemRole.LabelRole).widget().setBuddy(self.path_edit)
        form.addRow("Candidates:", self.candidates)
        form.addRow("F&ormat:", self.format_box)
        form.itemAt(2, QtWidgets.QFormLayout.ItemRole.LabelRole).widget().setBuddy(self.format_box)
        form.addRow(self.stream_label, self.stream_box)
        form.addRow("Segments:", self.segments)
        header = self.segments.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        for column in (1, 2):
            header.setSectionResizeMode(column, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addStretch(1)
        layout.addWidget(self.status)
        self._rank_timer = QtCore.QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._rank_timer.timeout.connect(self._rank)
        self.path_edit.textChanged.connect(lambda _: self._rank_timer.start())
        self.format_box.currentIndexChanged.connect(self._format_changed)
        self.stream_box.currentIndexChanged.connect(self._stream_changed)
        owner.jobs.done.connect(self._job_done)
        self._set_stream_visible(False)

    # -- user actions ---------------------------------------------------------------------------
    def _browse_file(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Choose the recording", self.owner.last_dir())
        if path:
            self.set_path(path)

    def _browse_folder(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Choose the recording folder",
                                                          self.owner.last_dir())
        if path:
            self.set_path(path)

    def set_path(self, path: str) -> None:
        self.path_edit.setText(os.fspath(path))
        self._rank_timer.stop()
        self._rank()

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.set_path(urls[0])

    def _candidate_chosen(self, item: QtWidgets.QTreeWidgetItem, _column: int = 0) -> None:
        self.select_format(item.data(0, QtCore.Qt.ItemDataRole.UserRole))

    def select_format(self, name: str) -> None:
        self.format_box.setCurrentIndex(self.format_box.findData(name))

    # -- model ----------------------------------------------------------------------------------
    def _rank(self) -> None:
        path = self.path_edit.text().strip()
        self.owner.path = path
        self.candidates.clear()
        if not path or not os.path.exists(path):
            self.status.setText(_coloured(f"{path}: no such file or folder." if path else
                                          "Choose a recording.", ERROR_COLOUR if path else FACT_COLOUR))
            self.completeChanged.emit()
            return
        self.owner.remember_dir(path)
        self.status.setText(_coloured("Looking at the file…", FACT_COLOUR))
        self.owner.jobs.submit("rank", lambda: logic.format_candidates(path))
        self.completeChanged.emit()

    def _job_done(self, key: str, result: Any) -> None:
        if key == "rank":
            self._show_candidates(result)
        elif key == "segments":
            self._show_segments(result)

    def _show_candidates(self, result: Any) -> None:
        if isinstance(result, BaseException):
            self.status.setText(_coloured(f"Cannot look at the file: {result}", ERROR_COLOUR))
            return
        for candidate in result:
            item = QtWidgets.QTreeWidgetItem([candidate.name, f"{candidate.score:.2f}", candidate.reason])
            item.setData(0, QtCore.Qt.ItemDataRole.UserRole, candidate.name)
            item.setToolTip(2, candidate.reason)
            self.candidates.addTopLevelItem(item)
        for column in range(2):
            self.candidates.resizeColumnToContents(column)
        if not result:
            self.status.setText(_coloured("No format recognises this file; choose one below.", WARN_COLOUR))
        else:
            self.status.setText("")
            self.candidates.setCurrentItem(self.candidates.topLevelItem(0))
            if self.owner.file_format != result[0].name or self.format_box.currentIndex() < 0:
                self.select_format(result[0].name)
            else:
                self._refresh_segments()
        self.completeChanged.emit()

    def _format_changed(self) -> None:
        name = self.format_box.currentData()
        if name is None:
            return
        self.owner.set_format(name)
        modes = logic.stream_modes(name)
        with QtCore.QSignalBlocker(self.stream_box):
            self.stream_box.clear()
            self.stream_box.addItems(modes)
            self.stream_box.setCurrentIndex(max(modes.index(self.owner.stream_mode), 0)
                                            if self.owner.stream_mode in modes else 0)
        self.owner.stream_mode = self.stream_box.currentText()
        self._set_stream_visible(logic.offers_stream_choice(name))
        self._refresh_segments()
        self.completeChanged.emit()

    def _set_stream_visible(self, visible: bool) -> None:
        for widget in (self.stream_label, self.stream_box, self.segments):
            widget.setVisible(visible)
        form = self.layout().itemAt(0).layout()
        label = form.labelForField(self.segments)
        if label is not None:
            label.setVisible(visible)

    def _stream_changed(self) -> None:
        self.owner.stream_mode = self.stream_box.currentText()
        self._refresh_segments()

    def _refresh_segments(self) -> None:
        self.segments.clear()
        owner = self.owner
        if not owner.file_format or not os.path.exists(owner.path) or not logic.offers_stream_choice(
                owner.file_format):
            return
        path, fmt, values, mode = owner.path, owner.file_format, dict(owner.values), owner.stream_mode
        self.owner.jobs.submit("segments", lambda: logic.validate(path, fmt, values, mode))

    def _show_segments(self, result: Any) -> None:
        self.segments.clear()
        if isinstance(result, BaseException):
            self.status.setText(_coloured(str(result), ERROR_COLOUR))
            return
        if not result.ok:
            if result.missing:
                self.status.setText(_coloured("The segments are listed once the missing fields are given "
                                              "(next page).", FACT_COLOUR))
            else:
                self.status.setText(_coloured(result.error, ERROR_COLOUR))
            return
        files = [segment.file for segment in result.segments]
        root = os.path.dirname(os.path.commonpath(files)) if len(set(files)) > 1 else os.path.dirname(files[0])
        for segment in result.segments:
            item = QtWidgets.QTreeWidgetItem([os.path.relpath(segment.file, root), f"{segment.t_start_s:.3f}",
                                              f"{segment.duration_s:.3f}"])
            item.setToolTip(0, segment.file)
            self.segments.addTopLevelItem(item)
        self.status.setText(_coloured(result.summary(), OK_COLOUR))

    def isComplete(self) -> bool:
        return bool(self.owner.file_format) and os.path.exists(self.owner.path) and not self.owner.jobs.busy("rank")


# -- page 2: fields ---------------------------------------------------------------------------------

class FieldsPage(QtWidgets.QWizardPage):
    """Header facts read-only; missing fields asked with typed editors; live validation."""

    def __init__(self, owner: ParamsWizard):
        super().__init__()
        self.owner = owner
        self.setTitle("Fields")
        self.setSubTitle("What the file says is shown as fact. Give what it does not say; every change "
                         "re-opens the recording with your values.")
        self.facts_box = QtWidgets.QGroupBox("From the file")
        self.facts = QtWidgets.QFormLayout(self.facts_box)
        self.asked_box = QtWidgets.QGroupBox("Needed from you")
        self.asked = QtWidgets.QFormLayout(self.asked_box)
        self.suggest_box = QtWidgets.QGroupBox("Layouts that fit the bytes (click one to apply)")
        self.suggestions = QtWidgets.QTableWidget(0, 5)
        self.suggestions.setObjectName("suggestions")
        self.suggestions.setHorizontalHeaderLabels(["Channels", "dtype", "Offset", "Score", "Evidence"])
        self.suggestions.horizontalHeader().setStretchLastSection(True)
        self.suggestions.verticalHeader().setVisible(False)
        self.suggestions.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.suggestions.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.suggestions.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.suggestions.setMaximumHeight(150)
        self.suggestions.cellClicked.connect(lambda row, _c: self.apply_suggestion(row))
        self.suggest_note = QtWidgets.QLabel()
        box = QtWidgets.QVBoxLayout(self.suggest_box)
        box.addWidget(self.suggest_note)
        box.addWidget(self.suggestions)
        self.advanced_toggle = QtWidgets.QToolButton()
        self.advanced_toggle.setText("Advanced")
        self.advanced_toggle.setCheckable(True)
        self.advanced_toggle.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(QtCore.Qt.ArrowType.RightArrow)
        self.advanced_toggle.setAutoRaise(True)
        self.advanced_toggle.toggled.connect(self._toggle_advanced)
        self.advanced_widget = QtWidgets.QWidget()
        self.advanced = QtWidgets.QFormLayout(self.advanced_widget)
        self.advanced_widget.setVisible(False)
        self.status = _status_label()
        self.status.setObjectName("validation")
        layout = QtWidgets.QVBoxLayout(self)
        for widget in (self.facts_box, self.asked_box, self.suggest_box, self.advanced_toggle,
                       self.advanced_widget):
            layout.addWidget(widget)
        layout.addStretch(1)
        layout.addWidget(self.status)
        self.editors: dict[str, FieldEditor] = {}
        self.layouts: list[dict] = []
        self._built_for: tuple | None = None
        self._timer = QtCore.QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self.revalidate)
        self._pending = False
        owner.jobs.done.connect(self._job_done)

    # -- building -------------------------------------------------------------------------------
    def initializePage(self) -> None:
        owner = self.owner
        key = (owner.path, owner.file_format)
        if key != self._built_for:
            self._built_for = key
            self._build_editors(logic.fields_to_ask(owner.file_format, None))
            self._start_suggestions()
        self.revalidate()

    def _clear(self, form: QtWidgets.QFormLayout) -> None:
        while form.rowCount():
            form.removeRow(0)

    def _build_editors(self, asked: dict[str, str]) -> None:
        self._clear(self.asked)
        self._clear(self.advanced)
        self.editors = {}
        fmt = self.owner.file_format
        for name, type_name in asked.items():
            self._add_editor(self.asked, name, type_name, True)
        if not asked:
            self.asked.addRow(QtWidgets.QLabel("Nothing: the header gives every field."))
        for name, default in logic.advanced_fields(fmt, asked).items():
            editor = self._add_editor(self.advanced, name, logic.field_type(fmt, name), False)
            if name not in self.owner.values:
                editor.set_value(default)
        self.advanced_toggle.setVisible(self.advanced.rowCount() > 0)

    def _add_editor(self, form: QtWidgets.QFormLayout, name: str, type_name: str, required: bool) -> FieldEditor:
        editor = FieldEditor(name, type_name, required)
        if name in self.owner.values:
            editor.set_value(self.owner.values[name])
        editor.changed.connect(lambda n=name: self._edited(n))
        label = QtWidgets.QLabel(f"{name}:")
        label.setBuddy(editor)
        label.setToolTip(editor.toolTip())
        form.addRow(label, editor)
        self.editors[name] = editor
        return editor

    def _toggle_advanced(self, shown: bool) -> None:
        self.advanced_widget.setVisible(shown)
        self.advanced_toggle.setArrowType(QtCore.Qt.ArrowType.DownArrow if shown
                                          else QtCore.Qt.ArrowType.RightArrow)

    # -- suggestions ----------------------------------------------------------------------------
    def _start_suggestions(self) -> None:
        self.layouts = []
        self.suggestions.setRowCount(0)
        needs = logic.needs_layout(self.owner.file_format)
        self.suggest_box.setVisible(needs)
        if needs:
            self.suggest_note.setText("Reading a sample of the file to infer its layout…")
            path, limit = self.owner.path, self.owner.suggest_max_channels
            self.owner.jobs.submit("suggest", lambda: logic.suggest_layout(path, max_channels=limit))

    def _show_suggestions(self, result: Any) -> None:
        if isinstance(result, BaseException) or not result:
            self.suggest_note.setText("No channel count and sample type divide this file into plausible "
                                      "signals; check the file, or type the layout if you know it.")
            return
        self.layouts = result
        self.suggest_note.setText(logic.suggestions_note(result))
        self.suggestions.setRowCount(len(result))
        for row, guess in enumerate(result):
            cells = [str(guess["nb_channels"]), guess["data_dtype"], str(guess["data_offset"]),
                     f"{guess['score']:.3f}", guess["evidence"]]
            for column, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                item.setToolTip(guess["evidence"])
                self.suggestions.setItem(row, column, item)
        self.suggestions.resizeColumnsToContents()
        if not any(self.owner.values.get(k) is not None for k in ("nb_channels", "data_dtype")):
            self.apply_suggestion(0)

    def apply_suggestion(self, row: int) -> None:
        """Put the layout of suggestion `row` into the editors (and so into the values)."""
        if not 0 <= row < len(self.layouts):
            return
        self.suggestions.selectRow(row)
        for name, value in logic.layout_values(self.layouts[row], self.owner.file_format).items():
            if name in self.editors:
                self.editors[name].set_value(value)

    # -- validation -----------------------------------------------------------------------------
    def _edited(self, name: str) -> None:
        editor = self.editors.get(name)
        if editor is None:
            return
        value = editor.value()
        if value is None:
            self.owner.values.pop(name, None)
        else:
            self.owner.values[name] = value
        self._pending = True
        self.completeChanged.emit()
        self._timer.start()

    def revalidate(self) -> None:
        owner = self.owner
        self._pending = True
        self.status.setText(_coloured("Checking…", FACT_COLOUR))
        path, fmt, values, mode = owner.path, owner.file_format, dict(owner.values), owner.stream_mode
        owner.jobs.submit("validate", lambda: logic.validate(path, fmt, values, mode))
        self.completeChanged.emit()

    def _job_done(self, key: str, result: Any) -> None:
        if key == "suggest":
            self._show_suggestions(result)
        elif key == "validate" and not self._timer.isActive():
            self._show_validation(result)

    def _show_validation(self, result: Any) -> None:
        if isinstance(result, BaseException):
            result = logic.Validation(False, f"{type(result).__name__}: {result}")
        self._pending = False
        self.owner.validation = result
        asked = logic.fields_to_ask(self.owner.file_format, result)
        if set(asked) - set(self.editors):
            self._build_editors(asked)
        for name, choices in result.choices.items():
            if name in self.editors:
                self.editors[name].set_choices(choices)
                if self.editors[name].value() is None:
                    self.editors[name].set_value(choices[0])
        self._show_facts(result)
        self.status.setText(_coloured(result.summary(), OK_COLOUR if result.ok else ERROR_COLOUR))
        self.completeChanged.emit()

    def _show_facts(self, result: logic.Validation) -> None:
        self._clear(self.facts)
        for name, value in result.header.items():
            fact = QtWidgets.QLabel(f"<b>{_text(value)}</b> {UNITS.get(name, '')} "
                                    f"<span style='color:{FACT_COLOUR}'>· from header</span>")
            fact.setObjectName(f"fact-{name}")
            fact.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
            fact.setToolTip(FIELD_HELP.get(name, name))
            self.facts.addRow(f"{name}:", fact)
        if not result.header:
            self.facts.addRow(QtWidgets.QLabel("The header gives nothing (or the file has none)."))

    def busy(self) -> bool:
        """A check or a suggestion is on its way (what the page shows may still change)."""
        jobs = self.owner.jobs
        return self._timer.isActive() or jobs.busy("validate") or jobs.busy("suggest")

    def isComplete(self) -> bool:
        validation = self.owner.validation
        return (not self._pending and validation is not None and validation.ok
                and not self.owner.jobs.busy("validate"))


# -- page 3: probe ----------------------------------------------------------------------------------

class ProbePage(QtWidgets.QWizardPage):
    """Choose a .prb (library, recent, browse) or generate one; draw it; check it against nb_channels."""

    NONE = "none"

    def __init__(self, owner: ParamsWizard):
        super().__init__()
        self.owner = owner
        self.setTitle("Probe")
        self.setSubTitle("Where each channel sits. The sorter groups channels by this geometry; channels "
                         "the probe names that the recording lacks are drawn in red.")
        self.source_box = QtWidgets.QComboBox()
        self.source_box.setObjectName("probe-source")
        self.source_box.setToolTip("A probe from the library, one you used recently, or none for now.")
        self.source_box.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.source_box.setMinimumContentsLength(30)
        browse = QtWidgets.QPushButton("&Browse…")
        browse.clicked.connect(self._browse)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.source_box, 1)
        row.addWidget(browse)
        self.kind_box = QtWidgets.QComboBox()
        self.kind_box.setObjectName("probe-kind")
        self.kind_box.addItems(logic.PROBE_KINDS)
        self.count_box = self._spin(1, 4096, 32, "", "Channels (linear), channels per shank (multi-shank), "
                                    "or rows (grid).")
        self.columns_box = self._spin(1, 256, 1, "", "Columns (linear, grid) or shanks (multi-shank).")
        self.pitch_box = self._double(1, 10000, 20, " µm", "Distance between neighbouring sites.")
        self.shank_pitch_box = self._double(1, 100000, 200, " µm", "Distance between shanks.")
        generate = QtWidgets.QPushButton("&Generate")
        generate.setObjectName("generate")
        generate.clicked.connect(self.generate)
        gen_box = QtWidgets.QGroupBox("Generate a probe")
        gen = QtWidgets.QFormLayout(gen_box)
        gen.addRow("&Kind:", self.kind_box)
        gen.addRow("&Count:", self.count_box)
        gen.addRow("Columns / s&hanks:", self.columns_box)
        gen.addRow("&Pitch:", self.pitch_box)
        gen.addRow("Shank p&itch:", self.shank_pitch_box)
        gen.addRow("", generate)
        for index in range(gen.rowCount()):
            label = gen.itemAt(index, QtWidgets.QFormLayout.ItemRole.LabelRole)
            field = gen.itemAt(index, QtWidgets.QFormLayout.ItemRole.FieldRole)
            if label is not None and field is not None and field.widget() is not None:
                label.widget().setBuddy(field.widget())
        self.radius_box = self._double(0, 100000, 100, " µm", "Neighbourhood radius: channels closer than this "
                                       "are treated together by the sorter.")
        self.radius_box.setObjectName("radius")
        self.radius_box.valueChanged.connect(self._radius_changed)
        form = QtWidgets.QFormLayout()
        form.addRow("Probe &file:", row)
        form.itemAt(0, QtWidgets.QFormLayout.ItemRole.LabelRole).widget().setBuddy(self.source_box)
        form.addRow("&Radius:", self.radius_box)
        form.itemAt(1, QtWidgets.QFormLayout.ItemRole.LabelRole).widget().setBuddy(self.radius_box)
        left = QtWidgets.QVBoxLayout()
        left.addLayout(form)
        left.addWidget(gen_box)
        left.addStretch(1)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("probe-plot")
        self.plot.setAspectLocked(True)
        self.plot.setLabel("bottom", "x", units="µm")
        self.plot.setLabel("left", "y", units="µm")
        self.plot.setMinimumWidth(300)
        self.status = _status_label()
        self.status.setObjectName("probe-status")
        top = QtWidgets.QHBoxLayout()
        top.addLayout(left, 0)
        top.addWidget(self.plot, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addWidget(self.status)
        self.check: logic.ProbeCheck | None = None
        self._filling = False
        self.source_box.currentIndexChanged.connect(self._source_chosen)

    @staticmethod
    def _spin(low: int, high: int, value: int, suffix: str, tip: str) -> QtWidgets.QSpinBox:
        box = QtWidgets.QSpinBox()
        box.setRange(low, high)
        box.setValue(value)
        box.setSuffix(suffix)
        box.setToolTip(tip)
        return box

    @staticmethod
    def _double(low: float, high: float, value: float, suffix: str, tip: str) -> QtWidgets.QDoubleSpinBox:
        box = QtWidgets.QDoubleSpinBox()
        box.setRange(low, high)
        box.setDecimals(1)
        box.setValue(value)
        box.setSuffix(suffix)
        box.setToolTip(tip)
        return box

    @property
    def nb_channels(self) -> int:
        return int(self.owner.validation.shape[1])

    def initializePage(self) -> None:
        self._fill_sources()
        if self.owner.probe is None:
            self.count_box.setValue(self.nb_channels)
        self._show()

    def _fill_sources(self) -> None:
        self._filling = True
        self.source_box.clear()
        self.source_box.addItem("None: set the mapping later", self.NONE)
        for name, path in logic.library().items():
            self.source_box.addItem(f"Library: {name}", str(path))
        for path in self.owner.recent_probes():
            self.source_box.addItem(f"Recent: {path}", path)
        if self.owner.probe_dirty:
            self.source_box.addItem("Generated (written on Finish)", "generated")
            self.source_box.setCurrentIndex(self.source_box.count() - 1)
        elif self.owner.probe_path:
            self._select_path(self.owner.probe_path)
        self._filling = False

    def _select_path(self, path: str) -> None:
        index = self.source_box.findData(path)
        if index < 0:
            self.source_box.addItem(f"File: {path}", path)
            index = self.source_box.count() - 1
        self.source_box.setCurrentIndex(index)

    def _browse(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Choose a probe file", self.owner.last_dir(),
                                                        "Probe files (*.prb);;All files (*)")
        if path:
            self.load(path)

    def load(self, path: str) -> None:
        """Use the .prb at `path` (parsed, never executed)."""
        self._select_path(os.path.abspath(path))

    def _source_chosen(self) -> None:
        if self._filling:
            return
        data = self.source_box.currentData()
        if data in (None, "generated"):
            return
        if data == self.NONE:
            self.owner.set_probe(None, None)
        else:
            try:
                self.owner.set_probe(read_probe(data), data)
            except DataFileError as error:
                self.owner.set_probe(None, None)
                self._show(str(error))
                return
        self._show()

    def generate(self) -> None:
        probe = logic.generate_probe(self.kind_box.currentText(), self.count_box.value(), self.pitch_box.value(),
                                     shanks=self.columns_box.value(), columns=self.columns_box.value(),
                                     shank_pitch=self.shank_pitch_box.value(), radius=self.radius_box.value())
        self.owner.set_probe(probe, None, dirty=True)
        self._fill_sources()
        self._show()

    def _radius_changed(self, value: float) -> None:
        probe = self.owner.probe
        if self._filling or probe is None or abs(probe.radius - value) < 1e-9:
            return
        probe.radius = float(value)
        if not self.owner.probe_dirty:
            self.owner.set_probe(probe, None, dirty=True)
            self._fill_sources()
        self._show()

    def _show(self, error: str = "") -> None:
        probe = self.owner.probe
        self.plot.clear()
        self.check = None if probe is None else logic.check_probe(probe, self.nb_channels)
        if probe is not None:
            self._filling = True
            self.radius_box.setValue(probe.radius)
            self._filling = False
            self._draw(probe, self.check.flagged)
        self.status.setText(self._status_text(probe, error))
        self.completeChanged.emit()

    def _draw(self, probe: Probe, flagged: set[int]) -> None:
        sites = logic.probe_sites(probe)
        if not sites:
            return
        channels = np.array([c for c, _, _ in sites])
        xy = np.array([(x, y) for _, x, y in sites], dtype=float)
        bad = np.isin(channels, list(flagged))
        brushes = [pg.mkBrush(ERROR_COLOUR if b else "#90a4ae") for b in bad]
        size = 0.6 * logic.site_spacing(xy)
        scatter = pg.ScatterPlotItem(pos=xy, size=size, pxMode=False, brush=brushes, pen=pg.mkPen("#37474f"),
                                     data=channels, tip=lambda x, y, data: f"ch {data}: ({x:g}, {y:g}) µm")
        self.plot.addItem(scatter)
        step = max(1, int(np.ceil(len(sites) / MAX_PROBE_LABELS)))
        for k in range(0, len(sites), step):
            label = pg.TextItem(str(channels[k]), color=ERROR_COLOUR if bad[k] else "#263238", anchor=(0, 0.5))
            label.setPos(xy[k][0] + 0.35 * size, xy[k][1])
            self.plot.addItem(label)
        self.plot.autoRange(padding=0.15)

    def _status_text(self, probe: Probe | None, error: str) -> str:
        if error:
            return _coloured(error, ERROR_COLOUR)
        if probe is None:
            return _coloured("No probe: the params file leaves 'mapping' empty; SpyKING CIRCUS needs one "
                             "before it can sort.", WARN_COLOUR)
        if not self.check.ok:
            return _coloured(self.check.error, ERROR_COLOUR)
        where = ("saved as " + str(logic.default_probe_path(self.owner.path)) + " on Finish"
                 if self.owner.probe_dirty else self.owner.probe_path)
        text = _coloured(f"{len(probe.channels)} channels in {len(probe.channel_groups)} group(s), radius "
                         f"{probe.radius:g} µm; {where}.", OK_COLOUR)
        if self.check.warnings:
            text += "<br>" + _coloured("\n".join(self.check.warnings[:5]), WARN_COLOUR)
        return text

    def isComplete(self) -> bool:
        return self.owner.probe is None or (self.check is not None and self.check.ok)


# -- page 4: preview --------------------------------------------------------------------------------

class PreviewPage(QtWidgets.QWizardPage):
    """A few seconds of traces read the way the sorter reads them, ordered by probe depth."""

    def __init__(self, owner: ParamsWizard):
        super().__init__()
        self.owner = owner
        self.setTitle("Preview")
        self.setSubTitle("The first seconds as the sorter will read them. A wrong channel count or dtype "
                         "shows as noise smeared across channels or saturated traces.")
        self.view = TraceView()
        self.view.setObjectName("preview")
        self.view.setMinimumHeight(320)
        self.filter_box = QtWidgets.QCheckBox("&High-pass filter (300 Hz)")
        self.filter_box.setToolTip("Show the traces as the sorter filters them before detection.")
        self.filter_box.toggled.connect(lambda on: self.view.set_filter(on))
        self.depth_box = QtWidgets.QCheckBox("Order by probe &depth")
        self.depth_box.setChecked(True)
        self.depth_box.toggled.connect(lambda on: self.view.set_order_by_depth(on))
        self.window_box = QtWidgets.QDoubleSpinBox()
        self.window_box.setRange(0.01, 60)
        self.window_box.setDecimals(2)
        self.window_box.setSuffix(" s")
        self.window_box.setValue(PREVIEW_SECONDS)
        self.window_box.setKeyboardTracking(False)
        self.window_box.valueChanged.connect(lambda s: self.view.set_window_seconds(0.0, s))
        controls = QtWidgets.QHBoxLayout()
        controls.addWidget(self.filter_box)
        controls.addWidget(self.depth_box)
        controls.addStretch(1)
        window_label = QtWidgets.QLabel("&Window:")
        window_label.setBuddy(self.window_box)
        controls.addWidget(window_label)
        controls.addWidget(self.window_box)
        self.info = QtWidgets.QLabel()
        self.info.setWordWrap(True)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.info)
        self.source: TraceSource | None = None

    def initializePage(self) -> None:
        self.release()
        validation = self.owner.validation
        datafile = validation.datafile
        recording = Recording(datafile, self.owner.probe)
        self.source = TraceSource(datafile, cache_bytes=64 << 20, prefetch_windows=0, io_workers=1)
        self.view.window_s = min(self.window_box.value(), max(recording.duration_s, 0.01))
        self.view.filter_on = self.filter_box.isChecked()
        self.view.order_by_depth = self.depth_box.isChecked()
        self.view.set_recording(recording, self.source)
        params = validation.description
        order = "by probe depth" if self.owner.probe is not None else "in index order (no probe)"
        self.info.setText(f"{recording.nb_channels} channels × {params.get('data_dtype')}, dtype_offset "
                          f"{params.get('dtype_offset')}, gain {params.get('gain')}; "
                          f"{recording.sampling_rate:g} Hz; channels {order}.")

    def cleanupPage(self) -> None:
        self.release()

    def release(self) -> None:
        """Stop the trace source's threads and close the file."""
        if self.source is not None:
            self.view.clear()
            self.source.close()
            self.source.datafile.close()
            self.source = None


# -- page 5: write ----------------------------------------------------------------------------------

class WritePage(QtWidgets.QWizardPage):
    """Where the params go, what changes in an existing file, and the atomic write on Finish."""

    def __init__(self, owner: ParamsWizard):
        super().__init__()
        self.owner = owner
        self.setTitle("Write")
        self.setSubTitle("SpyKING CIRCUS looks for <data name>.params beside the data. An existing file is "
                         "kept as a .bak backup; its other sections are kept unless you choose a template.")
        self.path_edit = QtWidgets.QLineEdit()
        self.path_edit.setObjectName("params-path")
        browse = QtWidgets.QPushButton("&Browse…")
        browse.clicked.connect(self._browse)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        self.base_edit = QtWidgets.QLineEdit()
        self.base_edit.setObjectName("params-base")
        self.base_edit.setPlaceholderText("empty: the Wavescope template")
        self.base_edit.setToolTip("Copy the sections other than [data] (detection, clustering, ...) from "
                                  "this params file.")
        base_browse = QtWidgets.QPushButton("B&rowse…")
        base_browse.clicked.connect(self._browse_base)
        base_row = QtWidgets.QHBoxLayout()
        base_row.addWidget(self.base_edit, 1)
        base_row.addWidget(base_browse)
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
        self.status = _status_label()
        form = QtWidgets.QFormLayout()
        form.addRow("&Params file:", row)
        form.itemAt(0, QtWidgets.QFormLayout.ItemRole.LabelRole).widget().setBuddy(self.path_edit)
        form.addRow("Other &sections from:", base_row)
        form.itemAt(1, QtWidgets.QFormLayout.ItemRole.LabelRole).widget().setBuddy(self.base_edit)
        form.addRow("Probe:", self.probe_label)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.copy_box)
        layout.addWidget(self.copy_label)
        layout.addWidget(self.what)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.open_box)
        layout.addWidget(self.status)
        self.rendered = ""
        self._timer = QtCore.QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self.render)
        self.path_edit.textChanged.connect(self._path_changed)
        self.base_edit.textChanged.connect(lambda _: self._timer.start())

    def initializePage(self) -> None:
        target = logic.default_params_path(self.owner.path)
        self.path_edit.setText(str(target))
        self.base_edit.setText(str(target) if target.is_file() else "")
        probe = self.owner.probe
        if probe is None:
            self.probe_label.setText(_coloured("none (mapping left empty)", WARN_COLOUR))
        elif self.owner.probe_dirty:
            self.probe_label.setText(f"{logic.default_probe_path(self.owner.path)} (written on Finish)")
        else:
            self.probe_label.setText(self.owner.probe_path)
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
        text = self.base_edit.text().strip()
        return text or None

    def render(self) -> None:
        """Show the file to be written: its diff against an existing file, else its whole text."""
        self._timer.stop()
        try:
            self.rendered = logic.render_params(self.owner.description(), self.owner.mapping_path(), self.base(),
                                                data_file=self.owner.path)
        except (DataFileError, OSError) as error:
            self.rendered = ""
            self.what.setText(_coloured(str(error), ERROR_COLOUR))
            self.text.setPlainText("")
            self.completeChanged.emit()
            return
        self._show_copy_cost()
        target = Path(self.path_edit.text().strip())
        if target.is_file():
            diff = logic.params_diff(target, self.rendered)
            self.what.setText("Identical to the existing file." if not diff else
                              f"Changes to {target.name} (the current file is kept as a backup):")
            self.highlighter.enabled = bool(diff)
            self.text.setPlainText("\n".join(diff) if diff else self.rendered)
        else:
            self.what.setText(f"New file {target.name}:")
            self.highlighter.enabled = False
            self.text.setPlainText(self.rendered)
        self.completeChanged.emit()

    def _show_copy_cost(self) -> None:
        """What each choice costs: the copy's size and place, or the recording rewritten."""
        validation = self.owner.validation
        if validation is None or not validation.ok:
            self.copy_label.setText("")
            return
        if not self.copy_box.isChecked():
            self.copy_label.setText(_coloured(f"The filtering step will rewrite {self.owner.path} in place: "
                                              "its raw samples are not kept.", ERROR_COLOUR))
            return
        copy_path, size = logic.filtered_copy(validation, self.owner.path, self.rendered)
        samples, channels = validation.shape
        self.copy_label.setText(f"The sorter writes the filtered copy to {copy_path}: "
                                f"{logic.format_bytes(size)} ({samples:,} samples x {channels} channels x "
                                "4 bytes, float32).")

    def isComplete(self) -> bool:
        target = self.path_edit.text().strip()
        return bool(self.rendered) and bool(target) and Path(target).parent.is_dir()

    def validatePage(self) -> bool:
        if self._timer.isActive():
            self.render()
        try:
            self.owner.write(self.path_edit.text().strip(), self.base())
        except (DataFileError, OSError) as error:
            self.status.setText(_coloured(f"Nothing was written: {error}", ERROR_COLOUR))
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


# -- the wizard -------------------------------------------------------------------------------------

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
        self.jobs = Jobs(self)
        self.suggest_max_channels = suggest_max_channels
        self.path = ""
        self.file_format = ""
        self.stream_mode = logic.SINGLE_STREAM
        self.values: dict[str, Any] = dict(values or {})
        self.validation: logic.Validation | None = None
        self.probe: Probe | None = None
        self.probe_path: str | None = None
        self.probe_dirty = False
        self.written: logic.WriteResult | None = None
        self.data_page = DataPage(self)
        self.fields_page = FieldsPage(self)
        self.probe_page = ProbePage(self)
        self.preview_page = PreviewPage(self)
        self.write_page = WritePage(self)
        for page in (self.data_page, self.fields_page, self.probe_page, self.preview_page, self.write_page):
            self.addPage(page)
        self.finished.connect(self._finished)
        if path:
            self.data_page.set_path(path)
        if file_format:
            self._forced_format = file_format
            self.jobs.done.connect(self._force_format)

    def _force_format(self, key: str, _result: Any) -> None:
        if key == "rank" and getattr(self, "_forced_format", None):
            self.data_page.select_format(self._forced_format)
            self._forced_format = None

    # -- state ----------------------------------------------------------------------------------
    def set_format(self, name: str) -> None:
        if name == self.file_format:
            return
        keep = set(logic.required_fields(name)) | set(logic.default_values(name)) | set(logic.MANDATORY_FIELDS)
        self.values = {k: v for k, v in self.values.items() if k in keep}
        self.file_format = name
        self.validation = None

    def set_probe(self, probe: Probe | None, path: str | None, dirty: bool = False) -> None:
        self.probe, self.probe_path, self.probe_dirty = probe, path, dirty

    def mapping_path(self) -> str | None:
        if self.probe is None:
            return None
        return str(logic.default_probe_path(self.path)) if self.probe_dirty else self.probe_path

    def description(self) -> dict[str, Any]:
        return logic.params_description(self.validation, self.path,
                                        filter_a_copy=self.write_page.copy_box.isChecked())

    def write(self, params_path: str, base: str | None) -> logic.WriteResult:
        """The wizard's only write: the generated/edited probe, then the params file."""
        save_to = logic.default_probe_path(self.path) if self.probe_dirty and self.probe is not None else None
        self.written = logic.write_all(params_path, self.description(), self.probe,
                                       probe_path=self.probe_path, save_probe_to=save_to, base=base,
                                       data_file=self.path)
        if self.written.probe_path is not None:
            self.remember_probe(str(self.written.probe_path))
        return self.written

    # -- settings -------------------------------------------------------------------------------
    def last_dir(self) -> str:
        return str(self.settings.value("last_dir", str(Path.home())))

    def remember_dir(self, path: str) -> None:
        folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
        self.settings.setValue("last_dir", folder)

    def recent_probes(self) -> list[str]:
        value = self.settings.value("wizard/recent_probes", [])
        paths = [value] if isinstance(value, str) else list(value or [])
        return [p for p in paths if os.path.isfile(p)]

    def remember_probe(self, path: str) -> None:
        path = os.path.abspath(path)
        library = {str(p) for p in logic.library().values()}
        if path in library:
            return
        recent = [p for p in self.recent_probes() if p != path]
        self.settings.setValue("wizard/recent_probes", [path] + recent[:MAX_RECENT_PROBES - 1])

    # -- the end --------------------------------------------------------------------------------
    def _finished(self, result: int) -> None:
        self.preview_page.release()
        self.jobs.shutdown()
        if result == QtWidgets.QDialog.DialogCode.Accepted and self.written is not None:
            path = str(self.written.params_path)
            self.paramsWritten.emit(path)
            if self.write_page.open_box.isChecked():
                self.openRequested.emit(path)
