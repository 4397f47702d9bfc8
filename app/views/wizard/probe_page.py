"""Page 3: choose a .prb (library, recent, browse) or generate one; draw it; check it against nb_channels."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PyQt6 import QtWidgets

from app.io.errors import DataFileError
from app.model import wizard as logic
from app.model.wizard_state import probe_drawing, probe_messages
from app.views.wizard.common import ERROR_COLOUR, message_html, set_buddies, status_label

if TYPE_CHECKING:
    from app.views.wizard.shell import ParamsWizard

SITE_COLOUR = "#90a4ae"
SITE_EDGE = "#37474f"
LABEL_COLOUR = "#263238"
HEADER = "header"


def spin(low: int, high: int, value: int, tip: str) -> QtWidgets.QSpinBox:
    box = QtWidgets.QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setToolTip(tip)
    return box


def micrometres(low: float, high: float, value: float, tip: str) -> QtWidgets.QDoubleSpinBox:
    box = QtWidgets.QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(1)
    box.setValue(value)
    box.setSuffix(" µm")
    box.setToolTip(tip)
    return box


class ProbePage(QtWidgets.QWizardPage):
    """The probe's source, a generator, the drawing to scale, and how the probe fits."""

    NONE = "none"

    def __init__(self, owner: ParamsWizard):
        super().__init__()
        self.owner = owner
        self.state = owner.state
        self.setTitle("Probe")
        self.setSubTitle("Where each channel sits. The sorter groups channels by this geometry; channels "
                         "the probe names that the recording lacks are drawn in red.")
        self.source_box = QtWidgets.QComboBox()
        self.source_box.setObjectName("probe-source")
        self.source_box.setToolTip("A probe from the library, one you used recently, or none for now.")
        self.source_box.setSizeAdjustPolicy(
            QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.source_box.setMinimumContentsLength(30)
        browse = QtWidgets.QPushButton("&Browse…")
        browse.clicked.connect(self._browse)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.source_box, 1)
        row.addWidget(browse)
        self.radius_box = micrometres(0, 100000, 100, "Neighbourhood radius: channels closer than this are "
                                      "treated together by the sorter.")
        self.radius_box.setObjectName("radius")
        self.radius_box.valueChanged.connect(self._radius_changed)
        form = QtWidgets.QFormLayout()
        form.addRow("Probe &file:", row)
        form.addRow("&Radius:", self.radius_box)
        set_buddies(form)
        left = QtWidgets.QVBoxLayout()
        left.addLayout(form)
        left.addWidget(self._generator())
        left.addStretch(1)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("probe-plot")
        self.plot.setAspectLocked(True)
        self.plot.setLabel("bottom", "x", units="µm")
        self.plot.setLabel("left", "y", units="µm")
        self.plot.setMinimumWidth(300)
        self.status = status_label()
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

    def _generator(self) -> QtWidgets.QGroupBox:
        self.kind_box = QtWidgets.QComboBox()
        self.kind_box.setObjectName("probe-kind")
        self.kind_box.addItems(logic.PROBE_KINDS)
        self.count_box = spin(1, 4096, 32, "Channels (linear), channels per shank (multi-shank), "
                              "or rows (grid).")
        self.columns_box = spin(1, 256, 1, "Columns (linear, grid) or shanks (multi-shank).")
        self.pitch_box = micrometres(1, 10000, 20, "Distance between neighbouring sites.")
        self.shank_pitch_box = micrometres(1, 100000, 200, "Distance between shanks.")
        generate = QtWidgets.QPushButton("&Generate")
        generate.setObjectName("generate")
        generate.clicked.connect(self.generate)
        box = QtWidgets.QGroupBox("Generate a probe")
        form = QtWidgets.QFormLayout(box)
        form.addRow("&Kind:", self.kind_box)
        form.addRow("&Count:", self.count_box)
        form.addRow("Columns / s&hanks:", self.columns_box)
        form.addRow("&Pitch:", self.pitch_box)
        form.addRow("Shank p&itch:", self.shank_pitch_box)
        form.addRow("", generate)
        set_buddies(form)
        return box

    def initializePage(self) -> None:
        if self.state.look_at_header() and self.state.probe is None:
            self.state.use_header_probe()       # the recording says where its sites are: start there
        self._fill_sources()
        if self.state.probe is None:
            self.count_box.setValue(self.state.nb_channels)
        self._show()

    def _fill_sources(self) -> None:
        self._filling = True
        self.source_box.clear()
        self.source_box.addItem("None: set the mapping later", self.NONE)
        if self.state.header is not None:
            self.source_box.addItem(f"Header: {self.state.header.summary()}", HEADER)
        for name, path in logic.library().items():
            self.source_box.addItem(f"Library: {name}", str(path))
        for path in self.owner.recent_probes():
            self.source_box.addItem(f"Recent: {path}", path)
        if self.state.probe_dirty and self.state.probe_source == HEADER:
            self.source_box.setCurrentIndex(self.source_box.findData(HEADER))
        elif self.state.probe_dirty:
            self.source_box.addItem("Generated (written on Finish)", "generated")
            self.source_box.setCurrentIndex(self.source_box.count() - 1)
        elif self.state.probe_path:
            self._select_path(self.state.probe_path)
        self._filling = False

    def _select_path(self, path: str) -> None:
        index = self.source_box.findData(path)
        if index < 0:
            self.source_box.addItem(f"File: {path}", path)
            index = self.source_box.count() - 1
        self.source_box.setCurrentIndex(index)

    def _browse(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Choose a probe file", self.owner.last_dir(),
                                                        "Probe files (*.prb *.json *.mat);;All files (*)")
        if path:
            self.load(path)

    def load(self, path: str) -> None:
        """Use the probe file at `path` (.prb parsed, never executed; .json, .mat converted)."""
        self._select_path(os.path.abspath(path))

    def _source_chosen(self) -> None:
        if self._filling:
            return
        data = self.source_box.currentData()
        if data in (None, "generated"):
            return
        if data == self.NONE:
            self.state.set_probe(None, None)
        elif data == HEADER:
            self.state.use_header_probe()
        else:
            try:
                self.state.load_probe(data)
            except DataFileError as error:
                self.state.set_probe(None, None)
                self._show(str(error))
                return
        self._show()

    def generate(self) -> None:
        probe = logic.generate_probe(self.kind_box.currentText(), self.count_box.value(),
                                     self.pitch_box.value(),
                                     shanks=self.columns_box.value(), columns=self.columns_box.value(),
                                     shank_pitch=self.shank_pitch_box.value(), radius=self.radius_box.value())
        self.state.set_probe(probe, None, dirty=True)
        self._fill_sources()
        self._show()

    def _radius_changed(self, value: float) -> None:
        if self._filling:
            return
        was_ours = self.state.probe_dirty
        if not self.state.set_radius(value):
            return
        if not was_ours:
            self._fill_sources()
        self._show()

    def _show(self, error: str = "") -> None:
        probe = self.state.probe
        self.plot.clear()
        self.check = None if probe is None else logic.check_probe(probe, self.state.nb_channels)
        if probe is not None:
            self._filling = True
            self.radius_box.setValue(probe.radius)
            self._filling = False
            self._draw(probe_drawing(probe, self.check.flagged))
        self.status.setText(message_html(*probe_messages(self.state, self.check, error)))
        self.completeChanged.emit()

    def _draw(self, drawing) -> None:
        if drawing is None:
            return
        brushes = [pg.mkBrush(ERROR_COLOUR if bad else SITE_COLOUR) for bad in drawing.flagged]
        scatter = pg.ScatterPlotItem(pos=drawing.xy, size=drawing.size, pxMode=False, brush=brushes,
                                     pen=pg.mkPen(SITE_EDGE), data=drawing.channels,
                                     tip=lambda x, y, data: f"ch {data}: ({x:g}, {y:g}) µm")
        self.plot.addItem(scatter)
        for k in range(0, len(drawing.channels), drawing.label_step):
            colour = ERROR_COLOUR if drawing.flagged[k] else LABEL_COLOUR
            label = pg.TextItem(str(drawing.channels[k]), color=colour, anchor=(0, 0.5))
            label.setPos(drawing.xy[k][0] + 0.35 * drawing.size, drawing.xy[k][1])
            self.plot.addItem(label)
        self.plot.autoRange(padding=0.15)

    def isComplete(self) -> bool:
        return self.state.probe is None or (self.check is not None and self.check.ok)
