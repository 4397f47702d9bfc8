"""The browser window: the trace view around one Session, and its docks.

Every panel is a dock added with `add_dock` (View > Panels, remembered layout) and takes the
window's session through `set_session`; `app.views.launch.run` starts the window.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import traceback
from pathlib import Path

from PyQt6 import QtCore, QtGui, QtWidgets

from app.io.errors import DataFileError, MissingFieldsError
from app.io.folders import SeveralRecordingsError
from app.model.jobs import JobHistory
from app.model.recording import Recording
from app.model.session import Session
from app.model.traces import TraceSource
from app.views import (events_integration, jobs_actions, open_url, probe_integration, units_integration,
                       window_extras)
from app.views.jobs_panel import JobsPanel
from app.views.log_panel import LogPanel
from app.views.probe_view import ProbeView
from app.views.stream_tree import StreamTree
from app.views.trace import TracePanel
from app.views.welcome import WIZARD_KEY, ErrorDialog, MissingFieldsDialog, RecentFiles, WelcomePage
from app.views.workers import Worker

log = logging.getLogger("wavescope")
OVERVIEW_AUTO_BYTES = 20 << 30          # build the summary by itself for recordings up to 20 GB
OPEN_KEYS = ("file_format", "stream_mode", "mapping")


class MainWindow(QtWidgets.QMainWindow):
    """One recording at a time; panels are docks whose layout persists."""

    overviewProgress = QtCore.pyqtSignal(float)
    overviewDone = QtCore.pyqtSignal(bool)

    def __init__(self, settings: QtCore.QSettings | None = None, restore: bool = True):
        super().__init__()
        self.setWindowTitle("Wavescope")
        self.settings = settings or QtCore.QSettings("Wavescope", "wavescope")
        self.recent = RecentFiles(self.settings)
        self.ask_missing_fields = lambda error: MissingFieldsDialog.ask(error, self)
        self.show_error = self._error_dialog
        self.panel = TracePanel(self)
        self.view = self.panel.view
        self.viewport = self.view.viewport
        self.session = Session(cache_bytes=self._cache_bytes())
        self.view.set_session(self.session)
        self.welcome = WelcomePage(self.open_dialog, self.open_demo, self.open_file)
        self.pages = QtWidgets.QStackedWidget()
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(self.panel)
        self.setCentralWidget(self.pages)
        self.demo_worker = Worker(self, "demo", on_result=self._demo_written, on_error=self._demo_failed)
        self.docks: dict[str, QtWidgets.QDockWidget] = {}
        self._state_restored = False
        self.resize(1400, 900)
        self._build_status_bar()
        self._build_toolbar()
        self._build_menus()
        self.url_opener = open_url.install(self)
        self.session.subscribe(self._session_changed)
        self._build_docks()
        self._connect()
        self.setAcceptDrops(True)
        self._default_layout_pending = True
        if restore:
            self._restore_settings()
        self._state_restored = True

    @property
    def recording(self) -> Recording | None:
        return self.session.recording

    @property
    def source(self) -> TraceSource | None:
        return self.session.source

    # -- docks ------------------------------------------------------------------------------------
    def add_dock(self, widget: QtWidgets.QWidget, area: QtCore.Qt.DockWidgetArea, title: str,
                 object_name: str | None = None, shortcut: str | None = None,
                 tabify_with: str | None = None) -> QtWidgets.QDockWidget:
        """Add `widget` as a dock: an entry in View > Panels (with an optional `shortcut`), its place and
        visibility remembered with the window state under `object_name`, tabbed with the dock titled
        `tabify_with` when given. The widget gets the session through its `set_session(session)`."""
        set_session = getattr(widget, "set_session", None)
        if not callable(set_session):
            raise TypeError(f"dock {title!r}: {type(widget).__name__} has no set_session(session); "
                            "every dock takes the session (one that needs none ignores it)")
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(object_name or f"dock-{title.lower()}")
        dock.setWidget(widget)
        # added after the saved layout was applied: its remembered place, else the given one
        if not (self._state_restored and self.restoreDockWidget(dock)):
            self.addDockWidget(area, dock)
            if tabify_with is not None:
                self.tabifyDockWidget(self.docks[tabify_with], dock)
        action = dock.toggleViewAction()
        if shortcut:
            action.setShortcut(QtGui.QKeySequence(shortcut))
        self.panels_menu.addAction(action)
        self.docks[title] = dock
        set_session(self.session)
        return dock

    def show_dock(self, title: str) -> None:
        """Show the dock titled `title` and bring its tab to the front."""
        self.docks[title].show()
        self.docks[title].raise_()

    def _build_docks(self) -> None:
        Area = QtCore.Qt.DockWidgetArea
        self.tree = StreamTree()
        self.probe = ProbeView()
        self.log_panel = LogPanel()
        self.jobs_panel = JobsPanel(JobHistory())
        self.add_dock(self.tree, Area.LeftDockWidgetArea, "Streams")
        self.add_dock(self.probe, Area.RightDockWidgetArea, "Probe")
        self.add_dock(self.log_panel, Area.BottomDockWidgetArea, "Log")
        self.add_dock(self.jobs_panel, Area.BottomDockWidgetArea, "Jobs", tabify_with="Log")
        self.events_ui = events_integration.install(self)
        self.probe_ui = probe_integration.install(self)
        self.units_ui = units_integration.install(self)
        for dock in self.docks.values():
            if self.dockWidgetArea(dock) == Area.BottomDockWidgetArea:
                dock.widget().setMinimumHeight(80)          # the bottom row may be slim: its tables scroll
        self.docks["Log"].raise_()
        self.resizeDocks([self.docks["Streams"], self.docks["Probe"]], [330, 240], QtCore.Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["Log"]], [110], QtCore.Qt.Orientation.Vertical)
        self.extras_ui = window_extras.install(self)         # layout, theme, help, bad channels

    # -- construction -----------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        self.cursor_label = QtWidgets.QLabel("")
        self.window_label = QtWidgets.QLabel("")
        self.progress_label = QtWidgets.QLabel("")
        bar = self.statusBar()
        bar.addWidget(self.cursor_label, 1)
        bar.addPermanentWidget(self.progress_label)
        bar.addPermanentWidget(self.window_label)

    def _build_toolbar(self) -> None:
        bar = self.addToolBar("View")
        bar.setObjectName("toolbar-view")
        bar.addWidget(QtWidgets.QLabel(" Window "))
        self.width_box = QtWidgets.QDoubleSpinBox(decimals=3, minimum=0.001, maximum=1e7, suffix=" s")
        self.width_box.setValue(1.0)
        self.width_box.setKeyboardTracking(False)
        bar.addWidget(self.width_box)
        bar.addWidget(QtWidgets.QLabel("  Go to "))
        self.goto_box = QtWidgets.QDoubleSpinBox(decimals=3, minimum=0.0, maximum=1e9, suffix=" s")
        self.goto_box.setKeyboardTracking(False)
        bar.addWidget(self.goto_box)
        bar.addSeparator()
        self.filter_box = QtWidgets.QCheckBox("High-pass")
        bar.addWidget(self.filter_box)
        self.cutoff_box = QtWidgets.QDoubleSpinBox(decimals=1, minimum=0.1, maximum=20000, suffix=" Hz")
        self.cutoff_box.setValue(300.0)
        self.cutoff_box.setKeyboardTracking(False)
        bar.addWidget(self.cutoff_box)
        self.car_box = QtWidgets.QCheckBox("CAR")
        bar.addWidget(self.car_box)
        self.order_box = QtWidgets.QComboBox()
        self.order_box.addItems(["by depth", "by index"])
        bar.addWidget(self.order_box)
        bar.addSeparator()
        self.autoscale_action = bar.addAction("Auto-scale", self.view.autoscale)
        self.autoscale_action.setShortcut("A")

    def _build_menus(self) -> None:
        menu = self.menuBar().addMenu("&File")
        menu.addAction("&Open…", QtGui.QKeySequence.StandardKey.Open, self.open_dialog)
        menu.addAction("&New params…", QtGui.QKeySequence("Ctrl+N"), lambda: self.new_params())
        self.recent_menu = menu.addMenu("Open &recent")
        menu.addAction("&Export view…", QtGui.QKeySequence("Ctrl+E"), self.export_dialog)
        menu.addSeparator()
        menu.addAction("&Convert this recording…", self.convert_dialog)
        menu.addAction("&Sort with params…", self.sort_dialog)
        menu.addAction("Sort with a so&rter…", lambda: jobs_actions.sort_recording(self))
        menu.addAction("Sort se&veral recordings…", self.sort_several)
        menu.addSeparator()
        menu.addAction("&Quit", QtGui.QKeySequence.StandardKey.Quit, self.close)
        view = self.menuBar().addMenu("&View")
        view.addAction("Toggle high-pass", QtGui.QKeySequence("F"), self.filter_box.toggle)
        view.addAction("Toggle CAR", QtGui.QKeySequence("C"), self.car_box.toggle)
        view.addAction("Order by depth / index", QtGui.QKeySequence("O"),
                       lambda: self.order_box.setCurrentIndex(1 - self.order_box.currentIndex()))
        view.addAction("Build summary for zoomed-out views", self.build_overview)
        view.addSeparator()
        self.panels_menu = view.addMenu("&Panels")
        go = self.menuBar().addMenu("&Go")
        go.addAction("Go to time…", QtGui.QKeySequence("Ctrl+G"), self._focus_goto)
        go.addAction("Start", QtGui.QKeySequence("Ctrl+Home"), lambda: self.view.set_window(0))
        go.addAction("End", QtGui.QKeySequence("Ctrl+End"), lambda: self.view.set_window(float("inf")))
        self._update_recent_menu()

    def _connect(self) -> None:
        self.view.cursorMoved.connect(self._show_cursor)
        self.view.windowChanged.connect(self._window_changed)
        self.width_box.valueChanged.connect(lambda s: self.view.set_window(self.view.t0, s * self.view.sampling_rate)
                                            if self.recording else None)
        self.goto_box.valueChanged.connect(lambda s: self.view.set_window_seconds(s) if self.recording else None)
        self.filter_box.toggled.connect(lambda on: self.view.set_filter(on, self.cutoff_box.value()))
        self.cutoff_box.valueChanged.connect(lambda hz: self.view.set_filter(self.filter_box.isChecked(), hz))
        self.car_box.toggled.connect(self.view.set_car)
        self.order_box.currentIndexChanged.connect(lambda i: self.view.set_order_by_depth(i == 0))
        self.tree.segmentSelected.connect(self.go_to_segment)
        self.tree.channelsSelected.connect(self.select_channels)
        self.tree.laneToggled.connect(self._lane_toggled)
        self.probe.channelsClicked.connect(self.select_channels)
        self.overviewProgress.connect(lambda f: self.progress_label.setText(f"summary {f:.0%}"))
        self.overviewDone.connect(self._overview_done)

    # -- opening ----------------------------------------------------------------------------------
    def open_file(self, path: str, params: dict | None = None) -> bool:
        """Open `path` (data or .params); ask for missing fields; errors go to a dialog. True if opened."""
        if open_url.is_url(path):
            return self.url_opener.open(str(path), params)
        params = dict(params or {})
        for _attempt in range(5):
            try:
                self.session.open(str(path), params, cutoff=self.cutoff_box.value())
            except MissingFieldsError as error:
                given = self.ask_missing_fields(error)
                if not given:
                    log.warning("%s", error)
                    return False
                if given.get(WIZARD_KEY):
                    self.new_params(str(path), error, {k: v for k, v in params.items() if k not in OPEN_KEYS})
                    return False
                params.update(given)
                continue
            except SeveralRecordingsError as several:            # a folder: list them and ask
                return self.extras_ui.choose_recording(several, params)
            except (DataFileError, OSError, ValueError) as error:
                log.error("%s", error)
                self.show_error("Cannot open the recording", str(error))
                return False
            self._remember(str(path))
            return True
        return False

    def new_params(self, path: str | None = None, error: MissingFieldsError | None = None,
                   values: dict | None = None):
        """Open the params wizard (on `path` when given); its "open" answer opens the recording."""
        from app.views.params_wizard import ParamsWizard
        wizard = ParamsWizard(path, self.settings, self, file_format=error.file_format if error else None,
                              values=values)
        wizard.openRequested.connect(self.open_file)
        wizard.open()
        return wizard

    def _error_dialog(self, title: str, text: str) -> None:
        """A sentence for the user; the traceback, when there is one, behind "Show details"."""
        details = traceback.format_exc() if sys.exc_info()[0] is not None else ""
        ErrorDialog(title, text, details, self).exec()

    def open_demo(self) -> None:
        """Write the demo recording once (in the background) and open it."""
        from app.model.demo import default_folder, write_demo
        if self.demo_worker.busy():
            return
        self.statusBar().showMessage("Writing the demo recording (first time only)…")
        self.demo_worker.submit(write_demo, default_folder())

    def _demo_written(self, first) -> None:
        from app.model.demo import demo_params
        self.statusBar().clearMessage()
        self.open_file(str(first), demo_params(first))

    def _demo_failed(self, error: Exception) -> None:
        self.statusBar().clearMessage()
        self.show_error("Cannot write the demo recording", str(error))

    def _session_changed(self, topic: str, value) -> None:
        """The one place the window learns that a recording opened or closed."""
        if topic == "opened":
            self._show_recording(value)
        elif topic == "closed":
            self._show_welcome()

    def _show_recording(self, recording: Recording) -> None:
        self.pages.setCurrentWidget(self.panel)
        self.view.apply_settings(self._saved_view_settings())
        self._sync_controls()
        self._show_lanes(recording)
        self.setWindowTitle(f"Wavescope — {recording.name}")
        self.goto_box.setMaximum(recording.duration_s)
        self.width_box.setMaximum(max(recording.duration_s, 0.001))
        log.info("opened %s: %d channels, %.3f s, %d segment(s)", recording.datafile.file_name,
                 recording.nb_channels, recording.duration_s, len(recording.segments))
        if not (self.source.overview or recording.is_remote) and self._data_bytes(recording) <= OVERVIEW_AUTO_BYTES:
            self.build_overview()

    def _show_lanes(self, recording: Recording) -> None:
        """The acquisition's other streams as lanes; which are shown is remembered per file (small
        lanes such as NI or aux start shown, a second band of a whole probe starts hidden)."""
        lanes = recording.lanes
        shown = self.settings.value(self._lanes_key(recording))
        if isinstance(shown, str):
            for lane in lanes:
                lane.visible = lane.label in shown.split("|")
        self.view.set_lanes(lanes)

    def _lane_toggled(self, index: int, shown: bool) -> None:
        if self.recording is None:
            return
        self.view.set_lane_visible(index, shown)
        self.settings.setValue(self._lanes_key(self.recording),
                               "|".join(lane.label for lane in self.recording.lanes if lane.visible))

    @staticmethod
    def _lanes_key(recording: Recording) -> str:
        path = os.path.abspath(recording.datafile.file_name)
        return "lanes/" + hashlib.sha1(path.encode("utf-8")).hexdigest()[:16]

    def build_overview(self) -> None:
        if self.source is None or self.source.overview is not None:
            return
        source = self.source
        self.source.build_overview(on_done=lambda result: self.overviewDone.emit(result is not None)
                                   if self.source is source else None,
                                   on_progress=self.overviewProgress.emit)

    def _overview_done(self, ok: bool) -> None:
        self.progress_label.setText("summary ready" if ok else "")
        if ok:
            self.view.refresh()

    def close_recording(self) -> None:
        self.session.close()
        self._show_welcome()

    def _show_welcome(self) -> None:
        self.setWindowTitle("Wavescope")
        self.view.clear()
        self.welcome.set_recent(self.recent_files())
        self.pages.setCurrentWidget(self.welcome)

    @staticmethod
    def _data_bytes(recording: Recording) -> int:
        return sum(os.path.getsize(s.file_name) for s in recording.segments if os.path.exists(s.file_name))

    def _cache_bytes(self) -> int:
        return int(self.settings.value("cache_mb", 1024)) << 20

    def open_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open a recording", self.last_dir())
        if path:
            self.settings.setValue("last_dir", os.path.dirname(path))
            self.open_file(path)

    def export_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export the view", self.last_dir(),
                                                        "PNG image (*.png);;SVG drawing (*.svg)")
        if path:
            try:
                self.view.export(path)
            except OSError as error:
                self.show_error("Export failed", str(error))

    def last_dir(self) -> str:
        return str(self.settings.value("last_dir", str(Path.home())))

    def _remember(self, path: str) -> None:
        self.recent.remember(path)
        self._update_recent_menu()

    def recent_files(self) -> list[str]:
        return self.recent.paths()

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.recent.paths():
            self.recent_menu.addAction(path, lambda p=path: self.open_file(p))
        self.recent_menu.setEnabled(bool(self.recent.paths()))
        self.welcome.set_recent(self.recent.paths())

    # -- reactions --------------------------------------------------------------------------------
    def go_to_segment(self, index: int) -> None:
        if self.recording is not None:
            self.view.set_window(self.recording.segments[index].start)

    def select_channels(self, channels: list) -> None:
        """Highlight `channels` in the traces and on the probe; a group shows only its channels."""
        if self.recording is None:
            return
        channels = [int(c) for c in channels]
        if len(channels) > 1:
            self.view.show_only(channels)
        self.view.set_selected(channels)
        self.probe.set_selected(channels)

    def _show_cursor(self, info: dict) -> None:
        value = "" if info["value"] is None else f"  value {info['value']:.2f} {info['units']}"
        channel = "" if info["channel"] is None else f"  ch {info['channel']}"
        self.cursor_label.setText(f"t = {info['time_s']:.4f} s (sample {info['sample']}){channel}{value}")

    def _window_changed(self, t0: float, t1: float) -> None:
        self.window_label.setText(f"window {t0:.3f} – {t1:.3f} s ({(t1 - t0) * 1000:.4g} ms)")
        for box, value in ((self.goto_box, t0), (self.width_box, t1 - t0)):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)

    def _focus_goto(self) -> None:
        self.goto_box.setFocus()
        self.goto_box.selectAll()

    def _sync_controls(self) -> None:
        for box, value in ((self.filter_box, self.view.filter_on), (self.car_box, self.view.car_on)):
            box.blockSignals(True)
            box.setChecked(value)
            box.blockSignals(False)
        self.order_box.blockSignals(True)
        self.order_box.setCurrentIndex(0 if self.view.order_by_depth else 1)
        self.order_box.blockSignals(False)

    # -- persistence ------------------------------------------------------------------------------
    def _saved_view_settings(self) -> dict:
        self.settings.beginGroup("view")
        values = {key: self.settings.value(key) for key in self.settings.childKeys()}
        self.settings.endGroup()
        return {k: v for k, v in values.items() if v is not None}

    def save_settings(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        if self.recording is not None:
            self.settings.beginGroup("view")
            for key, value in self.view.view_settings().items():
                self.settings.setValue(key, value)
            self.settings.endGroup()
        self.settings.sync()

    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        if self._default_layout_pending:
            # once the window has its size: a bottom row showing 8 event rows, the traces the rest
            self._default_layout_pending = False
            QtCore.QTimer.singleShot(0, self.extras_ui.default_sizes)

    def _restore_settings(self) -> None:
        self._default_layout_pending = self.settings.value("window_state") is None
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.value("window_state")
        if state is not None:
            self.restoreState(state)
        saved = self._saved_view_settings()
        if "cutoff" in saved:
            self.cutoff_box.setValue(float(saved["cutoff"]))
        self.view.apply_settings(saved)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.save_settings()
        self.events_ui.shutdown()
        self.units_ui.shutdown()
        self.demo_worker.close()
        self.close_recording()
        self.jobs_panel.shutdown()
        self.log_panel.detach()
        super().closeEvent(event)

    # -- jobs: convert and sort (the Jobs dock runs them) ------------------------------------------
    def queue_job(self, job) -> None:
        """Queue `job` (convert, sort) in the Jobs dock and show it."""
        self.jobs_panel.add_job(job)
        self.show_dock("Jobs")

    convert_dialog = jobs_actions.convert_recording
    sort_dialog = jobs_actions.sort_with_params
    sort_several = jobs_actions.sort_several

    # -- drag and drop ----------------------------------------------------------------------------
    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            self.open_file(paths[0])
            event.acceptProposedAction()

