"""The stream tree: Recording -> lanes (streams at their own rates) -> segments -> channel groups -> channels.

Selecting a segment asks to move the view there; selecting groups or channels
asks to show or highlight them; ticking a lane asks to show or hide it. The tree
emits; the main window decides.
"""

from __future__ import annotations

from PyQt6 import QtCore, QtGui, QtWidgets

from app.model.recording import Recording
from app.views.follow import FollowsRecording

ROLE = QtCore.Qt.ItemDataRole.UserRole


class StreamTree(FollowsRecording, QtWidgets.QTreeWidget):
    segmentSelected = QtCore.pyqtSignal(int)           # segment index
    channelsSelected = QtCore.pyqtSignal(list)         # channel ids
    laneToggled = QtCore.pyqtSignal(int, bool)         # lane index, shown

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setHeaderLabels(["Recording", "Info"])
        self.header().setStretchLastSection(True)       # the Info column takes what is left, never cut
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.itemSelectionChanged.connect(self._selection_changed)
        self.itemChanged.connect(self._item_changed)
        self.recording: Recording | None = None

    def set_recording(self, recording: Recording | None) -> None:
        self.clear()
        self.recording = recording
        if recording is None:
            return
        root = QtWidgets.QTreeWidgetItem([recording.name, (f"{recording.duration_s:.1f} s · "
                                          f"{recording.nb_channels} ch · {recording.sampling_rate:g} Hz")])
        root.setData(0, ROLE, ("recording", None))
        self.addTopLevelItem(root)
        self._add_lanes(root, recording)
        segments = QtWidgets.QTreeWidgetItem(root, ["Segments", str(len(recording.segments))])
        segments.setData(0, ROLE, ("none", None))
        for segment in recording.segments:
            item = QtWidgets.QTreeWidgetItem(segments, [
                f"segment {segment.index}: {segment.file_name.rsplit('/', 1)[-1]}",
                f"{segment.start_s:.2f} s + {segment.duration_s:.2f} s"])
            item.setToolTip(0, segment.file_name)
            item.setData(0, ROLE, ("segment", segment.index))
        groups = QtWidgets.QTreeWidgetItem(root, ["Channel groups", str(len(recording.groups))])
        groups.setData(0, ROLE, ("channels", recording.channels))
        names = recording.channel_names()
        for group in recording.groups:
            item = QtWidgets.QTreeWidgetItem(groups, [group.label, f"{len(group.channels)} ch"])
            item.setData(0, ROLE, ("channels", list(group.channels)))
            for channel in group.channels:
                where = group.positions.get(channel)
                info = f"({where[0]:g}, {where[1]:g}) µm" if where else ""
                leaf = QtWidgets.QTreeWidgetItem(item, [names[channel], info])
                leaf.setToolTip(0, f"{names[channel]} (index {channel})")
                leaf.setData(0, ROLE, ("channels", [channel]))
        every = QtCore.Qt.MatchFlag.MatchContains | QtCore.Qt.MatchFlag.MatchRecursive
        for item in self.findItems("", every):
            for column in (0, 1):
                if item.text(column) and not item.toolTip(column):
                    item.setToolTip(column, item.text(column))
        root.setExpanded(True)
        segments.setExpanded(True)
        groups.setExpanded(True)
        self.fit_columns()

    def mark_channels(self, marks: dict[int, str]) -> None:
        """Flag the channel leaves in `marks` ({channel: why}): a warning icon, the reason in the tooltip."""
        icon = self.style().standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MessageBoxWarning)
        every = QtCore.Qt.MatchFlag.MatchContains | QtCore.Qt.MatchFlag.MatchRecursive
        for item in self.findItems("", every):
            kind, channels = item.data(0, ROLE) or (None, [])
            if kind != "channels" or len(channels) != 1 or item.childCount():
                continue
            why = marks.get(int(channels[0]))
            item.setIcon(0, icon if why else QtGui.QIcon())
            base = item.toolTip(0).split(" — ")[0]
            item.setToolTip(0, f"{base} — {why}" if why else base)

    def fit_columns(self) -> None:
        """Both columns whole when they fit; else the Recording column gives way (its names elide,
        their tooltips say them in full) down to under half the width, and Info gets the rest."""
        header = self.header()
        wanted = [max(self.sizeHintForColumn(k), header.sectionSizeHint(k)) for k in (0, 1)]   # titles whole
        room = self.viewport().width()
        first = wanted[0] if sum(wanted) <= room else max(room - wanted[1], int(room * 0.45), 60)
        self.setColumnWidth(0, max(first, 1))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit_columns()

    def _add_lanes(self, root: QtWidgets.QTreeWidgetItem, recording: Recording) -> None:
        """A check box per stream of the acquisition; the main stream is always shown."""
        if not recording.lanes:
            return
        self.blockSignals(True)
        node = QtWidgets.QTreeWidgetItem(root, ["Streams", str(1 + len(recording.lanes))])
        node.setData(0, ROLE, ("none", None))
        main = QtWidgets.QTreeWidgetItem(node, ["main stream",
                                                f"{recording.sampling_rate:g} Hz · {recording.nb_channels} ch"])
        main.setCheckState(0, QtCore.Qt.CheckState.Checked)
        main.setFlags(main.flags() & ~QtCore.Qt.ItemFlag.ItemIsUserCheckable)
        main.setData(0, ROLE, ("none", None))
        for index, lane in enumerate(recording.lanes):
            offset = f" · {lane.offset_s:+.3f} s" if abs(lane.offset_s) >= 5e-4 else ""
            info = f"{lane.sampling_rate:g} Hz · {lane.nb_channels} ch{offset}"
            item = QtWidgets.QTreeWidgetItem(node, [lane.label, info])
            item.setToolTip(0, str(lane.datafile.file_name))
            item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, QtCore.Qt.CheckState.Checked if lane.visible else QtCore.Qt.CheckState.Unchecked)
            item.setData(0, ROLE, ("lane", index))
        node.setExpanded(True)
        self.blockSignals(False)

    def item_for_lane(self, index: int) -> QtWidgets.QTreeWidgetItem | None:
        for item in self.findItems("", QtCore.Qt.MatchFlag.MatchContains | QtCore.Qt.MatchFlag.MatchRecursive):
            if item.data(0, ROLE) == ("lane", index):
                return item
        return None

    def _item_changed(self, item: QtWidgets.QTreeWidgetItem, column: int) -> None:
        kind, value = item.data(0, ROLE) or ("none", None)
        if kind == "lane" and column == 0:
            self.laneToggled.emit(int(value), item.checkState(0) == QtCore.Qt.CheckState.Checked)

    def item_for_segment(self, index: int) -> QtWidgets.QTreeWidgetItem | None:
        for item in self.findItems("segment", QtCore.Qt.MatchFlag.MatchStartsWith
                                   | QtCore.Qt.MatchFlag.MatchRecursive):
            if item.data(0, ROLE) == ("segment", index):
                return item
        return None

    def _selection_changed(self) -> None:
        channels: list[int] = []
        for item in self.selectedItems():
            kind, value = item.data(0, ROLE) or ("none", None)
            if kind == "segment":
                self.segmentSelected.emit(int(value))
            elif kind == "channels":
                channels.extend(c for c in value if c not in channels)
        if channels:
            self.channelsSelected.emit(channels)
