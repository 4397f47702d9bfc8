"""The Units dock: one row per sorted unit (shown, id, spikes, rate, amplitude, peak channel,
label), sortable by any column; the checkbox shows or hides the unit's spikes on the traces,
Solo shows the selected units only, and the current row is the unit that Go > Next spike follows.

The dock edits a `UnitsDisplay` (the integration module makes one per opened sorting) and follows
it, so the overlay, the menu and the table agree.
"""

from __future__ import annotations

import math

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from app.model.units_display import UnitsDisplay

COLUMNS = ("shown", "unit", "spikes", "rate (Hz)", "amplitude (µV)", "peak channel", "label")
ROLE = QtCore.Qt.ItemDataRole
SORT_ROLE = ROLE.UserRole + 1
ID_ROLE = ROLE.UserRole


class SortItem(QtWidgets.QTableWidgetItem):
    """A cell that sorts by its SORT_ROLE value (numbers as numbers, NaN last)."""

    def __lt__(self, other: QtWidgets.QTableWidgetItem) -> bool:
        mine, theirs = self.data(SORT_ROLE), other.data(SORT_ROLE)
        if isinstance(mine, float) and math.isnan(mine):
            return False
        if isinstance(theirs, float) and math.isnan(theirs):
            return True
        try:
            return mine < theirs
        except TypeError:
            return str(mine) < str(theirs)


def unit_amplitude(display: UnitsDisplay, unit_id: int) -> tuple[float, str]:
    """(value, units) of the unit's amplitude: the peak-to-peak of its mean waveform on its peak
    channel measured on the recording, else its template's when the templates are in µV; NaN else."""
    units = display.units
    if unit_id in units.measured_amplitudes:
        return units.measured_amplitudes[unit_id], units.measured_units
    unit = units.unit(unit_id)
    if unit.template is None or units.template_units != "µV" or unit.template_channels is None:
        return float("nan"), ""
    column = np.flatnonzero(np.asarray(unit.template_channels) == unit.peak_channel)
    return (float(np.ptp(unit.template[:, column[0]])), "µV") if len(column) else (float("nan"), "")


class UnitsDock(QtWidgets.QWidget):
    """The sorted units in a table; show/hide, solo, select."""

    unitActivated = QtCore.pyqtSignal(int)           # double-click: go to the unit's next spike

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.display: UnitsDisplay | None = None
        self.session = None
        self._unsubscribe = None
        self._filling = False
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemChanged.connect(self._item_changed)
        self.table.currentCellChanged.connect(lambda row, *_: self._current_changed(row))
        self.table.cellDoubleClicked.connect(lambda row, _column: self._activated(row))
        self.summary = QtWidgets.QLabel("No sort results: File > Open sort results…")
        self.summary.setWordWrap(True)
        buttons = QtWidgets.QHBoxLayout()
        self.solo_button = QtWidgets.QPushButton("Solo")
        self.solo_button.setCheckable(True)
        self.solo_button.setToolTip("show only the selected units (again: show the checked ones)")
        self.solo_button.clicked.connect(self.toggle_solo)
        self.show_all_button = QtWidgets.QPushButton("Show all", clicked=lambda: self._show_all(True))
        self.hide_all_button = QtWidgets.QPushButton("Hide all", clicked=lambda: self._show_all(False))
        self.tools = QtWidgets.QToolBar()
        self.tools.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        for button in (self.solo_button, self.show_all_button, self.hide_all_button):
            buttons.addWidget(button)
        buttons.addWidget(self.tools)
        buttons.addStretch(1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)

    def set_session(self, session) -> None:
        """The dock contract; channel names come from the session's recording."""
        self.session = session

    # -- the display --------------------------------------------------------------------------------
    def set_display(self, display: UnitsDisplay | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.display = display
        if display is not None:
            self._unsubscribe = display.subscribe(self._display_changed)
        self._fill()

    def _channel_name(self, channel: int) -> str:
        recording = self.session.recording if self.session is not None else None
        if channel < 0:
            return ""
        return recording.channel_name(channel) if recording is not None else str(channel)

    def _fill(self) -> None:
        display = self.display
        self._filling = True
        self.table.setSortingEnabled(False)
        self.table.setRowCount(0)
        if display is None:
            self.summary.setText("No sort results: File > Open sort results…")
            self._filling = False
            return
        units = display.units
        rows = units.summary()
        self.table.setRowCount(len(rows))
        for row, summary in enumerate(rows):
            amplitude, amplitude_units = unit_amplitude(display, summary.id)
            amplitude_text = "" if math.isnan(amplitude) else f"{amplitude:.1f}" + (
                "" if amplitude_units in ("µV", "") else f" {amplitude_units}")
            values = [(None, None), (str(summary.id), summary.id), (f"{summary.count:,}", summary.count),
                      ("" if math.isnan(summary.rate) else f"{summary.rate:.2f}", summary.rate),
                      (amplitude_text, amplitude),
                      (self._channel_name(summary.peak_channel), summary.peak_channel),
                      (summary.label, summary.label)]
            for column, (text, key) in enumerate(values):
                item = SortItem(text or "")
                item.setData(ID_ROLE, summary.id)
                item.setData(SORT_ROLE, key if column else int(display.is_shown(summary.id)))
                self.table.setItem(row, column, item)
            shown = self.table.item(row, 0)
            shown.setFlags(shown.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
            shown.setCheckState(QtCore.Qt.CheckState.Checked if summary.id not in display.hidden
                                else QtCore.Qt.CheckState.Unchecked)
            shown.setBackground(QtGui.QColor(f"#{int(display.colours[row]):06x}"))
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()
        self.summary.setText(f"{len(units)} units, {units.spike_count:,} spikes ({units.sorter}): {units.source}")
        self._filling = False
        self._show_solo()

    def row_of(self, unit_id: int) -> int:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 1).data(ID_ROLE) == unit_id:
                return row
        return -1

    def unit_at(self, row: int) -> int | None:
        item = self.table.item(row, 1) if row >= 0 else None
        return None if item is None else int(item.data(ID_ROLE))

    def selected_units(self) -> list[int]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.unit_at(row) for row in rows if self.unit_at(row) is not None]

    # -- user actions -------------------------------------------------------------------------------
    def _item_changed(self, item: QtWidgets.QTableWidgetItem) -> None:
        if self._filling or self.display is None or item.column() != 0:
            return
        self.display.set_shown(int(item.data(ID_ROLE)), item.checkState() == QtCore.Qt.CheckState.Checked)

    def _current_changed(self, row: int) -> None:
        if not self._filling and self.display is not None:
            unit_id = self.unit_at(row)
            if unit_id is not None:
                self.display.select(unit_id)

    def _activated(self, row: int) -> None:
        unit_id = self.unit_at(row)
        if unit_id is not None:
            self.unitActivated.emit(unit_id)

    def toggle_solo(self) -> None:
        """Solo the selected units, or end the solo."""
        if self.display is None:
            return
        chosen = self.selected_units() or ([self.display.selected] if self.display.selected is not None else [])
        self.display.set_solo(None if self.display.solo or not chosen else chosen)

    def _show_all(self, shown: bool) -> None:
        if self.display is not None:
            self.display.set_all_shown(shown)

    # -- following the display ----------------------------------------------------------------------
    def _display_changed(self, topic: str, value) -> None:
        if topic == "visibility":
            self._filling = True
            for row in range(self.table.rowCount()):
                item = self.table.item(row, 0)
                unit_id = int(item.data(ID_ROLE))
                item.setCheckState(QtCore.Qt.CheckState.Unchecked if unit_id in self.display.hidden
                                   else QtCore.Qt.CheckState.Checked)
            self._filling = False
            self._show_solo()
        elif topic == "selection" and value is not None:
            row = self.row_of(value)
            if row >= 0 and row != self.table.currentRow():
                self.table.setCurrentCell(row, 1)

    def _show_solo(self) -> None:
        """Rows of units the solo hides are greyed; the Solo button says whether a solo is on."""
        display = self.display
        self.solo_button.setChecked(bool(display and display.solo))
        grey = QtGui.QColor("#999")
        for row in range(self.table.rowCount()):
            shown = display.is_shown(int(self.table.item(row, 0).data(ID_ROLE)))
            for column in range(1, self.table.columnCount()):
                self.table.item(row, column).setData(ROLE.ForegroundRole, None if shown else grey)
