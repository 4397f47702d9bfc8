"""Page 1: pick or drop the recording; choose its format (ranked, with reasons) and stream mode."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from PyQt6 import QtCore, QtGui, QtWidgets

from app.model import wizard as logic
from app.model.wizard_state import path_message, segment_rows, segments_message
from app.views.wizard.common import DEBOUNCE_MS, message_html, set_buddies, status_label

if TYPE_CHECKING:
    from app.views.wizard.shell import ParamsWizard


class DataPage(QtWidgets.QWizardPage):
    """The recording's path, the formats that may read it, the stream mode and its segments."""

    def __init__(self, owner: ParamsWizard):
        super().__init__()
        self.owner = owner
        self.state = owner.state
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
        self.candidates = self._tree("candidates", ["Format", "Score", "Why"])
        self.candidates.setMaximumHeight(130)
        self.candidates.itemActivated.connect(self._candidate_chosen)
        self.candidates.itemClicked.connect(self._candidate_chosen)
        self.format_box = self._format_box()
        self.stream_box = QtWidgets.QComboBox()
        self.stream_box.setObjectName("stream_mode")
        self.stream_box.setToolTip("How several parts form one timeline; None reads one part only.")
        self.stream_label = QtWidgets.QLabel("&Stream mode:")
        self.segments = self._tree("segments", ["Segment file", "Starts at (s)", "Duration (s)"])
        header = self.segments.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        for column in (1, 2):
            header.setSectionResizeMode(column, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.status = status_label()
        self.form = QtWidgets.QFormLayout()
        self.form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.addRow("&Recording:", row)
        self.form.addRow("Candidates:", self.candidates)
        self.form.addRow("F&ormat:", self.format_box)
        self.form.addRow(self.stream_label, self.stream_box)
        self.form.addRow("Segments:", self.segments)
        set_buddies(self.form)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addStretch(1)
        layout.addWidget(self.status)
        self._rank_timer = QtCore.QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._rank_timer.timeout.connect(self._rank)
        self.path_edit.textChanged.connect(lambda _: self._rank_timer.start())
        self.format_box.currentIndexChanged.connect(self._format_changed)
        self.stream_box.currentIndexChanged.connect(self._stream_changed)
        owner.workers.answered.connect(self._answered)
        self._set_stream_visible(False)

    @staticmethod
    def _tree(name: str, headers: list[str]) -> QtWidgets.QTreeWidget:
        tree = QtWidgets.QTreeWidget()
        tree.setObjectName(name)
        tree.setHeaderLabels(headers)
        tree.setRootIsDecorated(False)
        return tree

    @staticmethod
    def _format_box() -> QtWidgets.QComboBox:
        box = QtWidgets.QComboBox()
        box.setObjectName("format")
        for name, title in logic.format_titles().items():
            box.addItem(f"{title}  ({name})" if title != name else name, name)
        box.setCurrentIndex(-1)
        box.setPlaceholderText("choose the format")
        box.setToolTip("The reader to use; the ranking above is a suggestion.")
        return box

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

    # -- asking the model -----------------------------------------------------------------------
    def _rank(self) -> None:
        path = self.path_edit.text().strip()
        self.state.path = path
        self.candidates.clear()
        problem = path_message(path)
        if problem is not None:
            self.status.setText(message_html(problem))
            self.completeChanged.emit()
            return
        self.owner.remember_dir(path)
        self.status.setText(message_html(("Looking at the file…", "fact")))
        self.owner.workers.ask("rank", lambda: logic.format_candidates(path))
        self.completeChanged.emit()

    def _answered(self, question: str, result: Any) -> None:
        if question == "rank":
            self._show_candidates(result)
        elif question == "segments":
            self._show_segments(result)

    def _show_candidates(self, result: Any) -> None:
        if isinstance(result, BaseException):
            self.status.setText(message_html((f"Cannot look at the file: {result}", "error")))
            return
        for candidate in result:
            item = QtWidgets.QTreeWidgetItem([candidate.name, f"{candidate.score:.2f}", candidate.reason])
            item.setData(0, QtCore.Qt.ItemDataRole.UserRole, candidate.name)
            item.setToolTip(2, candidate.reason)
            self.candidates.addTopLevelItem(item)
        for column in range(2):
            self.candidates.resizeColumnToContents(column)
        if not result:
            self.status.setText(message_html(("No format recognises this file; choose one below.", "warn")))
        else:
            self.status.setText("")
            self.candidates.setCurrentItem(self.candidates.topLevelItem(0))
            if self.state.file_format != result[0].name or self.format_box.currentIndex() < 0:
                self.select_format(result[0].name)
            else:
                self._refresh_segments()
        self.completeChanged.emit()

    def _format_changed(self) -> None:
        name = self.format_box.currentData()
        if name is None:
            return
        self.state.set_format(name)
        modes = logic.stream_modes(name)
        with QtCore.QSignalBlocker(self.stream_box):
            self.stream_box.clear()
            self.stream_box.addItems(modes)
            mode = self.state.stream_mode
            self.stream_box.setCurrentIndex(modes.index(mode) if mode in modes else 0)
        self.state.stream_mode = self.stream_box.currentText()
        self._set_stream_visible(logic.offers_stream_choice(name))
        self._refresh_segments()
        self.completeChanged.emit()

    def _set_stream_visible(self, visible: bool) -> None:
        for widget in (self.stream_label, self.stream_box, self.segments):
            widget.setVisible(visible)
        label = self.form.labelForField(self.segments)
        if label is not None:
            label.setVisible(visible)

    def _stream_changed(self) -> None:
        self.state.stream_mode = self.stream_box.currentText()
        self._refresh_segments()

    def _refresh_segments(self) -> None:
        self.segments.clear()
        state = self.state
        if state.file_format and state.exists() and logic.offers_stream_choice(state.file_format):
            self.owner.workers.ask("segments", state.validation_job())

    def _show_segments(self, result: Any) -> None:
        self.segments.clear()
        if isinstance(result, BaseException):
            self.status.setText(message_html((str(result), "error")))
            return
        for relative, start, duration, full in segment_rows(result.segments if result.ok else []):
            item = QtWidgets.QTreeWidgetItem([relative, start, duration])
            item.setToolTip(0, full)
            self.segments.addTopLevelItem(item)
        self.status.setText(message_html(segments_message(result)))

    def isComplete(self) -> bool:
        return (bool(self.state.file_format) and self.state.exists()
                and not self.owner.workers.busy("rank"))
