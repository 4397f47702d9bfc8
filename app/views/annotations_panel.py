"""The Annotations dock: the recording's annotations as an editable list.

Label and note are edited in place; Delete, Undo and Redo act on the `Annotations` model (the
overlay on the traces sees the same model); Export writes CSV, TSV or, for an NWB recording,
a copy of the NWB file with the annotations as a TimeIntervals table. "Convert this range" and
"Sort this range" hand the selected annotation to a callback the main window provides (it
builds the `wavescope convert --start/--stop` job and queues it in the Jobs panel).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from PyQt6 import QtCore, QtGui, QtWidgets

from app.model.annotations import Annotation, Annotations

COLUMNS = ("start (s)", "stop (s)", "label", "note")
ROLE = QtCore.Qt.ItemDataRole
EXPORT_FILTERS = "CSV (*.csv);;TSV (*.tsv)"
NWB_FILTER = "NWB copy with the annotations (*.nwb)"


class AnnotationTableModel(QtCore.QAbstractTableModel):
    """The annotations in time order; label and note are editable and go through the model."""

    def __init__(self, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.annotations: Annotations | None = None
        self.items: list[Annotation] = []
        self.sampling_rate = 1.0

    def reset(self, annotations: Annotations | None, sampling_rate: float) -> None:
        self.beginResetModel()
        self.annotations, self.sampling_rate = annotations, float(sampling_rate or 1.0)
        self.items = annotations.items() if annotations is not None else []
        self.endResetModel()

    def rowCount(self, parent: QtCore.QModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self.items)

    def columnCount(self, parent: QtCore.QModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation, role=ROLE.DisplayRole):
        if role == ROLE.DisplayRole and orientation == QtCore.Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def flags(self, index: QtCore.QModelIndex):
        flags = super().flags(index)
        return flags | QtCore.Qt.ItemFlag.ItemIsEditable if index.column() >= 2 else flags

    def data(self, index: QtCore.QModelIndex, role=ROLE.DisplayRole):
        if not index.isValid() or role not in (ROLE.DisplayRole, ROLE.EditRole):
            return None
        annotation = self.items[index.row()]
        column = index.column()
        if column == 0:
            return f"{annotation.start / self.sampling_rate:.4f}"
        if column == 1:
            return "" if annotation.stop is None else f"{annotation.stop / self.sampling_rate:.4f}"
        return annotation.label if column == 2 else annotation.note

    def setData(self, index: QtCore.QModelIndex, value, role=ROLE.EditRole) -> bool:
        if role != ROLE.EditRole or index.column() < 2 or self.annotations is None:
            return False
        field = "label" if index.column() == 2 else "note"
        annotation = self.items[index.row()]
        if getattr(annotation, field) != str(value):
            self.annotations.update(annotation.id, **{field: str(value)})
        return True

    def row_of(self, annotation_id: str | None) -> int | None:
        for row, annotation in enumerate(self.items):
            if annotation.id == annotation_id:
                return row
        return None


class AnnotationsPanel(QtWidgets.QWidget):
    """List, edit, delete, undo/redo and export annotations; range jobs through `on_range_job`."""

    annotationActivated = QtCore.pyqtSignal(str)      # id of the annotation clicked in the list

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.annotations: Annotations | None = None
        self.sampling_rate = 1.0
        self.t_start = 0
        self.on_range_job: Callable[[str, Annotation], None] | None = None
        self.ask_save_path = self._ask_save_path
        self.show_error = lambda title, text: QtWidgets.QMessageBox.warning(self, title, text)
        self._unsubscribe: Callable[[], None] | None = None
        self._build_actions()
        self._build()
        self._update_actions()

    def _build_actions(self) -> None:
        self.undo_action = QtGui.QAction("Undo annotation edit", self, triggered=self.undo,
                                         shortcut=QtGui.QKeySequence.StandardKey.Undo)
        self.redo_action = QtGui.QAction("Redo annotation edit", self, triggered=self.redo,
                                         shortcut=QtGui.QKeySequence.StandardKey.Redo)
        self.delete_action = QtGui.QAction("Delete annotation", self, triggered=self.delete_selected)
        self.export_action = QtGui.QAction("Export annotations…", self, triggered=self.export_dialog)

    def _build(self) -> None:
        self.model = AnnotationTableModel(self)
        self.table = QtWidgets.QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.clicked.connect(lambda index: self._activated(index.row()))
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._update_actions())
        buttons = QtWidgets.QGridLayout()
        self.buttons = {}
        for k, (name, slot) in enumerate([("Delete", self.delete_selected), ("Undo", self.undo),
                                          ("Redo", self.redo), ("Export…", self.export_dialog),
                                          ("Convert this range…", lambda: self.range_job("convert")),
                                          ("Sort this range…", lambda: self.range_job("sort"))]):
            button = QtWidgets.QPushButton(name)
            button.clicked.connect(slot)
            buttons.addWidget(button, k // 3, k % 3)
            self.buttons[name] = button
        self.hint = QtWidgets.QLabel("Shift-drag on the traces to annotate a range; double-click one to "
                                     "rename it, drag its edges to move them.", wordWrap=True)
        self.hint.setStyleSheet("color: #666")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.hint)

    # -- model ----------------------------------------------------------------------------------------
    def set_session(self, session) -> None:
        """Show the session's annotations, following it (the dock contract)."""
        self._session = session
        session.subscribe(self._session_changed)
        self._session_changed("opened", None)

    def _session_changed(self, topic: str, _value) -> None:
        if topic not in ("opened", "closed", "annotations"):
            return
        recording = self._session.recording
        rate = recording.sampling_rate if recording is not None else 1.0
        t_start = recording.segments[0].t_start if recording is not None and recording.segments else 0
        self.set_annotations(self._session.annotations, rate, t_start)

    def set_annotations(self, annotations: Annotations | None, sampling_rate: float = 1.0,
                        t_start: int = 0) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.annotations, self.sampling_rate, self.t_start = annotations, float(sampling_rate or 1.0), t_start
        if annotations is not None:
            self._unsubscribe = annotations.subscribe(lambda kind, ids: self._changed())
        self._changed()

    def _changed(self) -> None:
        current = self.current_id()
        self.model.reset(self.annotations, self.sampling_rate)
        self.select(current)
        self._update_actions()

    def current_id(self) -> str | None:
        row = self.table.currentIndex().row()
        return self.model.items[row].id if 0 <= row < len(self.model.items) else None

    def current(self) -> Annotation | None:
        annotation_id = self.current_id()
        return self.annotations[annotation_id] if annotation_id is not None else None

    def select(self, annotation_id: str | None) -> None:
        """Make `annotation_id` the current row (none when None or gone)."""
        row = self.model.row_of(annotation_id)
        if row is None:
            self.table.clearSelection()
            self.table.setCurrentIndex(QtCore.QModelIndex())
        elif row != self.table.currentIndex().row():
            self.table.selectRow(row)
        self._update_actions()

    def _activated(self, row: int) -> None:
        if 0 <= row < len(self.model.items):
            self.annotationActivated.emit(self.model.items[row].id)

    def _update_actions(self) -> None:
        has = self.annotations is not None
        selected = self.current_id() is not None
        self.undo_action.setEnabled(has and self.annotations.can_undo)
        self.redo_action.setEnabled(has and self.annotations.can_redo)
        self.delete_action.setEnabled(selected)
        self.export_action.setEnabled(has and len(self.annotations) > 0)
        for name, enabled in (("Delete", selected), ("Undo", self.undo_action.isEnabled()),
                              ("Redo", self.redo_action.isEnabled()), ("Export…", self.export_action.isEnabled()),
                              ("Convert this range…", selected and self.on_range_job is not None),
                              ("Sort this range…", selected and self.on_range_job is not None)):
            self.buttons[name].setEnabled(enabled)

    # -- edits ----------------------------------------------------------------------------------------
    def delete_selected(self) -> None:
        annotation_id = self.current_id()
        if annotation_id is not None and self.annotations is not None:
            self.annotations.remove(annotation_id)

    def undo(self) -> None:
        if self.annotations is not None:
            self.annotations.undo()

    def redo(self) -> None:
        if self.annotations is not None:
            self.annotations.redo()

    def range_job(self, kind: str) -> None:
        """Hand the selected annotation's range to the main window's job builder."""
        annotation = self.current()
        if annotation is None or self.on_range_job is None:
            return
        if annotation.stop is None:
            self.show_error("Range job", "This annotation is an instant; select a range.")
            return
        self.on_range_job(kind, annotation)

    # -- export ---------------------------------------------------------------------------------------
    def _recording_is_nwb(self) -> bool:
        return self.annotations is not None and self.annotations.recording_path.lower().endswith(".nwb")

    def _ask_save_path(self, title: str, default: str, filters: str) -> str:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, title, default, filters)
        return path

    def export_dialog(self) -> None:
        if self.annotations is None:
            return
        stem = os.path.splitext(self.annotations.recording_path.rstrip(os.sep))[0]
        filters = EXPORT_FILTERS + (f";;{NWB_FILTER}" if self._recording_is_nwb() else "")
        path = self.ask_save_path("Export annotations", stem + "_annotations.csv", filters)
        if path:
            self.export(path)

    def export(self, path: str) -> str | None:
        """Write the annotations to `path`: .csv, .tsv, or .nwb (a copy of the NWB recording)."""
        try:
            if path.lower().endswith(".nwb"):
                if not self._recording_is_nwb():
                    raise ValueError(f"{path}: NWB export copies the NWB recording; this recording is not NWB. "
                                     "Export CSV or TSV instead.")
                return self.annotations.export_nwb(self.annotations.recording_path, path, t_start=self.t_start)
            return self.annotations.export_table(path, t_start=self.t_start)
        except (OSError, ValueError) as error:
            self.show_error("Export failed", str(error))
            return None
