"""The Events dock: every event in a table, filtered by channel and text; jump to one, or to the
next/previous event of the checked channels (N / P).

The table model reads the event array lazily (a million rows cost nothing until shown);
filters work on per-unique-value codes, so typing in the filter box never scans strings twice.
"""

from __future__ import annotations

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from app.model.events import EventIndex
from app.views.event_markers import EVENT_PALETTE

COLUMNS = ("time (s)", "channel", "duration (ms)", "label")
_FIT, _STRETCH = QtWidgets.QHeaderView.ResizeMode.ResizeToContents, QtWidgets.QHeaderView.ResizeMode.Stretch
COLUMN_MODES = (_FIT, _FIT, _FIT, _STRETCH)      # the label, often the longest text, takes the rest
ROLE = QtCore.Qt.ItemDataRole


def swatch(colour: str, size: int = 12) -> QtGui.QIcon:
    """A filled square of `colour`: an event channel's entry in the legend."""
    pixmap = QtGui.QPixmap(size, size)
    pixmap.fill(QtGui.QColor(colour))
    return QtGui.QIcon(pixmap)


def codes_of(values: np.ndarray) -> tuple[list[str], np.ndarray]:
    """(unique texts, code of each value): the text columns as small integers."""
    if not len(values):
        return [], np.zeros(0, dtype=np.int64)
    unique, inverse = np.unique(values.astype(str), return_inverse=True)
    return [str(u) for u in unique], inverse.reshape(-1).astype(np.int64)


class EventTableModel(QtCore.QAbstractTableModel):
    """Rows `rows` of an event table, formatted on demand."""

    def __init__(self, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.events = EventIndex().events
        self.rows = np.zeros(0, dtype=np.int64)
        self.sampling_rate = 1.0

    def set_rows(self, events: np.ndarray, rows: np.ndarray, sampling_rate: float) -> None:
        self.beginResetModel()
        self.events, self.rows, self.sampling_rate = events, rows, float(sampling_rate)
        self.endResetModel()

    def rowCount(self, parent: QtCore.QModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def columnCount(self, parent: QtCore.QModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation, role=ROLE.DisplayRole):
        if role == ROLE.DisplayRole and orientation == QtCore.Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: QtCore.QModelIndex, role=ROLE.DisplayRole):
        if not index.isValid() or role not in (ROLE.DisplayRole, ROLE.UserRole):
            return None
        event = self.events[int(self.rows[index.row()])]
        if role == ROLE.UserRole:
            return int(event["sample"])
        column = index.column()
        if column == 0:
            return f"{int(event['sample']) / self.sampling_rate:.4f}"
        if column == 1:
            return str(event["channel"])
        if column == 3:
            return str(event["label"])
        duration = int(event["duration"])
        return f"{duration / self.sampling_rate * 1000:.4g}" if duration else ""

    def sample_of(self, row: int) -> int:
        return int(self.events["sample"][int(self.rows[row])])

    def row_of_sample(self, sample: int) -> int | None:
        """The first shown row at `sample`, or None."""
        samples = self.events["sample"][self.rows]
        k = int(np.searchsorted(samples, sample))
        return k if k < len(samples) and samples[k] == sample else None


class EventsPanel(QtWidgets.QWidget):
    """Event table with channel and text filters; N/P jump the view to the next/previous event."""

    channelsChanged = QtCore.pyqtSignal(list)        # the checked channel names
    jumped = QtCore.pyqtSignal(int)                  # the event sample the view was moved to

    def __init__(self, view=None, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.view = view
        self.index = EventIndex()
        self.sampling_rate = 1.0
        self._current: int | None = None
        self._build()
        self.next_action = QtGui.QAction("Next event", self, shortcut=QtGui.QKeySequence("N"),
                                         triggered=lambda: self.step(+1))
        self.next_action.setToolTip("Move the view to the next event of the checked channels (N)")
        self.previous_action = QtGui.QAction("Previous event", self, shortcut=QtGui.QKeySequence("P"),
                                             triggered=lambda: self.step(-1))
        self.previous_action.setToolTip("Move the view to the previous event of the checked channels (P)")

    def _build(self) -> None:
        self.channel_list = QtWidgets.QListWidget()
        self.channel_list.setToolTip("Event channels: the swatch is the channel's marker colour on the "
                                     "traces; uncheck a channel to hide its events")
        self.channel_list.setMinimumWidth(120)
        self.channel_list.setMaximumWidth(180)
        self.channel_list.itemChanged.connect(lambda _item: self._channels_changed())
        self.text_filter = QtWidgets.QLineEdit(placeholderText="filter by label or channel text")
        self.text_filter.setClearButtonEnabled(True)
        self.text_filter.textChanged.connect(lambda _text: self.apply_filter())
        self.model = EventTableModel(self)
        self.table = QtWidgets.QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(20)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        for column, mode in enumerate(COLUMN_MODES):       # channel and label whole; duration as narrow
            header.setSectionResizeMode(column, mode)
        self.table.clicked.connect(lambda index: self.jump_to_row(index.row()))
        self.table.activated.connect(lambda index: self.jump_to_row(index.row()))
        self.count = QtWidgets.QLabel("no events")
        # channels (the colour legend) and the filter beside the table: every pixel of height for rows
        side = QtWidgets.QVBoxLayout()
        side.addWidget(self.text_filter)
        side.addWidget(self.channel_list, 1)
        rows = QtWidgets.QVBoxLayout()
        rows.addWidget(self.table, 1)
        rows.addWidget(self.count)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(side)
        layout.addLayout(rows, 1)

    # -- data -----------------------------------------------------------------------------------------
    def set_session(self, session) -> None:
        """Show the session's events, following it (the dock contract)."""
        self._session = session
        session.subscribe(self._session_changed)
        self._session_changed("opened", None)

    def _session_changed(self, topic: str, _value) -> None:
        if topic not in ("opened", "closed", "events"):
            return
        recording, events = self._session.recording, self._session.events
        self.set_events(events if events is not None else EventIndex(),
                        recording.sampling_rate if recording is not None else 1.0)

    def set_events(self, index: EventIndex, sampling_rate: float) -> None:
        """Show the events of `index` (every channel checked)."""
        self.index, self.sampling_rate = index, float(sampling_rate)
        events = index.events
        self._channel_names, self._channel_codes = codes_of(events["channel"])
        self._label_names, self._label_codes = codes_of(events["label"])
        self._current = None
        self.channel_list.blockSignals(True)
        self.channel_list.clear()
        for name in index.channels:
            item = QtWidgets.QListWidgetItem(name)
            item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(QtCore.Qt.CheckState.Checked)
            item.setIcon(swatch(EVENT_PALETTE[len(self.channel_list) % len(EVENT_PALETTE)]))
            self.channel_list.addItem(item)
        self.channel_list.blockSignals(False)
        self.apply_filter()

    def checked_channels(self) -> list[str]:
        return [self.channel_list.item(k).text() for k in range(self.channel_list.count())
                if self.channel_list.item(k).checkState() == QtCore.Qt.CheckState.Checked]

    def set_checked_channels(self, channels) -> None:
        wanted = {str(c) for c in channels}
        self.channel_list.blockSignals(True)
        for k in range(self.channel_list.count()):
            item = self.channel_list.item(k)
            item.setCheckState(QtCore.Qt.CheckState.Checked if item.text() in wanted
                               else QtCore.Qt.CheckState.Unchecked)
        self.channel_list.blockSignals(False)
        self._channels_changed()

    def _channels_changed(self) -> None:
        self.apply_filter()
        self.channelsChanged.emit(self.checked_channels())

    def filtered_rows(self) -> np.ndarray:
        """Rows of the event table passing the channel and text filters, in time order."""
        if not len(self.index):
            return np.zeros(0, dtype=np.int64)
        checked = set(self.checked_channels())
        keep = np.isin(self._channel_codes, [k for k, n in enumerate(self._channel_names) if n in checked])
        text = self.text_filter.text().strip().lower()
        if text:
            labels = [k for k, n in enumerate(self._label_names) if text in n.lower()]
            channels = [k for k, n in enumerate(self._channel_names) if text in n.lower()]
            keep &= np.isin(self._label_codes, labels) | np.isin(self._channel_codes, channels)
        return np.flatnonzero(keep)

    def apply_filter(self) -> None:
        rows = self.filtered_rows()
        self.model.set_rows(self.index.events, rows, self.sampling_rate)
        total = len(self.index)
        self.count.setText(f"{len(rows)} of {total} events" if total else "no events")

    # -- navigation -----------------------------------------------------------------------------------
    def jump_to_row(self, row: int) -> None:
        if 0 <= row < self.model.rowCount():
            self.jump_to(self.model.sample_of(row))

    def jump_to(self, sample: int) -> None:
        """Centre the view on `sample` and remember it as the current event."""
        self._current = int(sample)
        if self.view is not None and self.view.recording is not None:
            self.view.set_window(sample - self.view.window / 2)
        row = self.model.row_of_sample(int(sample))
        if row is not None:
            self.table.selectRow(row)
        self.jumped.emit(int(sample))

    def _position(self) -> float:
        """Where N/P count from: the current event while it is on screen, else the view's centre."""
        view = self.view
        if view is None or view.recording is None:
            return float(self._current or 0)
        if self._current is not None and view.t0 <= self._current < view.t0 + view.window:
            return float(self._current)
        return view.t0 + view.window / 2

    def step(self, direction: int) -> int | None:
        """Jump to the next (+1) or previous (-1) event of the checked channels; its sample or None."""
        channels = self.checked_channels()
        if not channels:
            return None
        position = self._position()
        if direction > 0:
            event = self.index.next_after(int(np.floor(position)), channels)
        else:
            event = self.index.previous_before(int(np.ceil(position)), channels)
        if event is None:
            return None
        self.jump_to(int(event["sample"]))
        return int(event["sample"])
