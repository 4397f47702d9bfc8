"""Page 4: a few seconds of traces read the way the sorter reads them, ordered by probe depth."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt6 import QtWidgets

from app.model.traces import TraceSource
from app.model.wizard_state import close_preview, open_preview, preview_summary
from app.views.trace_view import TraceView

if TYPE_CHECKING:
    from app.views.wizard.shell import ParamsWizard

PREVIEW_SECONDS = 2.0


class PreviewPage(QtWidgets.QWizardPage):
    """The browser's trace view on the validated recording; its file is closed when the page is left."""

    def __init__(self, owner: ParamsWizard):
        super().__init__()
        self.owner = owner
        self.state = owner.state
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
        recording, self.source = open_preview(self.state)
        self.view.window_s = min(self.window_box.value(), max(recording.duration_s, 0.01))
        self.view.filter_on = self.filter_box.isChecked()
        self.view.order_by_depth = self.depth_box.isChecked()
        self.view.set_recording(recording, self.source)
        self.info.setText(preview_summary(self.state, recording))

    def cleanupPage(self) -> None:
        self.release()

    def release(self) -> None:
        """Stop the trace source's threads and close the file."""
        if self.source is not None:
            self.view.clear()
            close_preview(self.source)
            self.source = None
