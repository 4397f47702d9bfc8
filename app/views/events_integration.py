"""Events and annotations in the browser: `install_events_ui(main_window)` adds it all.

It adds the Events, Annotations and Peri-event docks, an Events menu (load an event file,
annotate mode, next/previous event with N/P, undo/redo, export), the markers overlay on the
trace view, and follows the window's recording: the recording's own events are read off the GUI
thread, its annotations come from (and are saved to) the sidecar beside it.

The trace view paints the overlay (`view.overlays`) over the traces and offers it the mouse and
keys first.
"""

from __future__ import annotations

import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PyQt6 import QtCore, QtGui, QtWidgets

from app.io.errors import DataFileError
from app.io.events import load_event_file
from app.model.annotations import Annotation, AnnotationFileError, Annotations
from app.model.events import EventIndex
from app.views.annotations_panel import AnnotationsPanel
from app.views.event_overlay import EventOverlay
from app.views.events_panel import EventsPanel
from app.views.peri_event_view import PeriEventView

log = logging.getLogger("wavescope")
SAVE_DELAY_MS = 300
EVENT_FILE_FILTERS = "Event files (*.csv *.tsv *.txt *.npy);;All files (*)"


class EventsUI(QtCore.QObject):
    """The events/annotations features of one MainWindow; see `install_events_ui`."""

    eventsLoaded = QtCore.pyqtSignal()
    _eventsRead = QtCore.pyqtSignal(object, object)        # recording, EventIndex or exception

    def __init__(self, window: QtWidgets.QMainWindow):
        super().__init__(window)
        self.window = window
        self.view = window.view
        self.recording = None
        self.annotations: Annotations | None = None
        self.index = EventIndex()
        self.can_save = True
        self.ask_open_path = self._ask_open_path
        self.show_message = lambda title, text: QtWidgets.QMessageBox.information(window, title, text)
        self.show_error = lambda title, text: window.show_error(title, text)
        self.exec_dialog = lambda dialog: dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="events")
        self._save_timer = QtCore.QTimer(self, singleShot=True, interval=SAVE_DELAY_MS, timeout=self.save)
        self._pending_sorts: dict[str, str] = {}
        self._build_widgets()
        self._attach_overlay()
        self._build_menu()
        self._connect()

    # -- construction ---------------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.overlay = EventOverlay(self.view)
        self.events_panel = EventsPanel(self.view)
        self.annotations_panel = AnnotationsPanel()
        self.annotations_panel.on_range_job = self.range_job
        self.peri_view = PeriEventView()
        self.peri_view.channels_provider = self.visible_channels
        Area = QtCore.Qt.DockWidgetArea
        self.docks = {name: self._dock(name, widget, area) for name, widget, area in [
            ("Events", self.events_panel, Area.BottomDockWidgetArea),
            ("Annotations", self.annotations_panel, Area.BottomDockWidgetArea),
            ("Peri-event", self.peri_view, Area.BottomDockWidgetArea)]}
        # tabbed with the log and jobs under the traces: the traces keep the width, the probe its column
        previous = getattr(self.window, "docks", {}).get("Jobs") or getattr(self.window, "docks", {}).get("Log")
        for name in ("Events", "Annotations", "Peri-event"):
            if previous is not None:
                self.window.tabifyDockWidget(previous, self.docks[name])
            previous = self.docks[name]
        log = getattr(self.window, "docks", {}).get("Log")
        (log or self.docks["Events"]).raise_()

    def _dock(self, name: str, widget: QtWidgets.QWidget, area) -> QtWidgets.QDockWidget:
        dock = QtWidgets.QDockWidget(name, self.window)
        dock.setObjectName(f"dock-{name.lower()}")
        dock.setWidget(widget)
        self.window.addDockWidget(area, dock)
        if isinstance(getattr(self.window, "docks", None), dict):
            self.window.docks[name] = dock
        return dock

    def _attach_overlay(self) -> None:
        self.view.overlays.append(self.overlay)

    def _build_menu(self) -> None:
        menu = self.window.menuBar().addMenu("&Events")
        self.menu = menu
        self.load_action = menu.addAction("&Load events file…", self.load_events_dialog)
        menu.addSeparator()
        menu.addAction(self.events_panel.next_action)
        menu.addAction(self.events_panel.previous_action)
        menu.addSeparator()
        self.annotate_action = menu.addAction("&Annotate mode (drag to annotate)")
        self.annotate_action.setCheckable(True)
        self.annotate_action.setShortcut(QtGui.QKeySequence("Ctrl+Shift+A"))
        self.annotate_action.toggled.connect(self._set_annotate_mode)
        for action in (self.annotations_panel.undo_action, self.annotations_panel.redo_action,
                       self.annotations_panel.delete_action, self.annotations_panel.export_action):
            menu.addAction(action)
        menu.addSeparator()
        for dock in self.docks.values():
            menu.addAction(dock.toggleViewAction())
        for action in (self.events_panel.next_action, self.events_panel.previous_action):
            action.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)

    def _connect(self) -> None:
        self._eventsRead.connect(self._events_read)
        self.view.windowChanged.connect(self._window_changed)
        self.events_panel.channelsChanged.connect(self._event_channels_changed)
        self.annotations_panel.annotationActivated.connect(self.show_annotation)
        self.overlay.selection_listeners.append(self.annotations_panel.select)
        self.annotations_panel.table.selectionModel().currentRowChanged.connect(
            lambda *_: self.overlay.select(self.annotations_panel.current_id()))
        self.window.installEventFilter(self)
        self.window.jobs_panel.jobFinished.connect(self._job_finished)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.window and event.type() == QtCore.QEvent.Type.Close:
            self.save()
            self.peri_view.shutdown()
            self._reader.shutdown(wait=True, cancel_futures=True)
        return False

    # -- the recording --------------------------------------------------------------------------------
    def _window_changed(self, *_args) -> None:
        if self.window.recording is not self.recording:
            self.recording_changed(self.window.recording)
        self.peri_view.channels_changed()

    def recording_changed(self, recording) -> None:
        """Show `recording`'s events and annotations (None: nothing). MainWindow._show_recording may
        call this; it is also noticed by itself on the view's next window change."""
        if recording is self.recording:
            return
        self.save()
        self.recording = recording
        self.set_index(EventIndex())
        self._load_annotations(recording)
        if recording is None:
            self.peri_view.set_source(None, 1.0)
            return
        lock = getattr(self.window.source, "_read_lock", None)
        self.peri_view.set_source(recording.datafile, recording.sampling_rate, lock)
        future = self._reader.submit(EventIndex.from_datafile, recording.datafile)
        future.add_done_callback(lambda f: self._eventsRead.emit(
            recording, f.exception() if f.exception() is not None else f.result()))

    def _events_read(self, recording, answer) -> None:
        if recording is not self.recording:
            return
        if isinstance(answer, BaseException):
            log.warning("%s: reading the recording's events failed: %s", recording.name, answer)
            return
        if len(self.index):
            answer.add(self.index.events)
        self.set_index(answer)
        if len(answer):
            log.info("%s: %d events on %d channel(s)", recording.name, len(answer), len(answer.channels))

    def set_index(self, index: EventIndex) -> None:
        """Show `index` in the overlay, the Events table and the peri-event choices."""
        self.index = index
        rate = self.recording.sampling_rate if self.recording is not None else 1.0
        self.overlay.set_events(index)
        self.events_panel.set_events(index, rate)
        self.peri_view.set_events(index)
        self.eventsLoaded.emit()

    def _load_annotations(self, recording) -> None:
        self.can_save = True
        annotations = None
        if recording is not None:
            path = recording.datafile.file_name
            try:
                annotations = Annotations.load(path, recording.sampling_rate)
            except AnnotationFileError as error:
                self.can_save = False
                annotations = Annotations(path, recording.sampling_rate)
                self.show_error("Annotations not loaded", f"{error}\nNew annotations will not be saved until the "
                                "sidecar is fixed or removed.")
            annotations.subscribe(lambda kind, ids: self._save_timer.start())
        self.annotations = annotations
        self.overlay.set_annotations(annotations)
        t_start = int(getattr(recording.datafile, "t_start", 0)) if recording is not None else 0
        self.annotations_panel.set_annotations(annotations, recording.sampling_rate if recording else 1.0,
                                               t_start)

    def save(self) -> str | None:
        """Write the annotations sidecar if anything changed; its path, or None."""
        self._save_timer.stop()
        annotations = self.annotations
        if annotations is None or not annotations.modified or not self.can_save:
            return None
        try:
            return annotations.save()
        except OSError as error:
            self.show_error("Annotations not saved", f"{annotations.path}: {error}")
            return None

    # -- actions --------------------------------------------------------------------------------------
    def _ask_open_path(self) -> str:
        folder = os.path.dirname(self.recording.datafile.file_name) if self.recording else str(Path.home())
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.window, "Load events", folder, EVENT_FILE_FILTERS)
        return path

    def load_events_dialog(self) -> None:
        if self.recording is None:
            self.show_error("Load events", "Open a recording first.")
            return
        path = self.ask_open_path()
        if path:
            self.load_events_file(path)

    def load_events_file(self, path: str, time_unit: str = "auto", column=None) -> int:
        """Merge the events of a .csv/.tsv/.npy file into the shown ones; how many were added."""
        try:
            loaded = load_event_file(path, time_unit, self.recording.sampling_rate, column)
        except (DataFileError, OSError, ValueError) as error:
            self.show_error("Cannot load the events", str(error))
            return 0
        index = EventIndex(self.index.events)
        index.add(loaded.events)
        self.set_index(index)
        log.info("%s", loaded.note)
        self.show_message("Events loaded", loaded.note)
        return len(loaded.events)

    def _set_annotate_mode(self, on: bool) -> None:
        self.overlay.annotate_mode = bool(on)
        if on:
            self.view.setCursor(QtCore.Qt.CursorShape.IBeamCursor)
        else:
            self.view.unsetCursor()

    def _event_channels_changed(self, checked: list) -> None:
        self.overlay.set_hidden_channels(set(self.index.channels) - set(checked))

    def show_annotation(self, annotation_id: str) -> None:
        """Bring an annotation into view (with a margin) and select it."""
        if self.annotations is None or self.recording is None:
            return
        annotation = self.annotations[annotation_id]
        stop = annotation.stop if annotation.stop is not None else annotation.start
        span = stop - annotation.start
        if span > self.view.window * 0.8:
            self.view.set_window(annotation.start - span * 0.1, span * 1.2)
        else:
            self.view.set_window((annotation.start + stop) / 2 - self.view.window / 2)
        self.overlay.select(annotation_id)

    def visible_channels(self) -> list[int]:
        frame = self.view.frame
        if frame is not None:
            return [int(c) for c in frame.channels]
        return list(self.view.visible_rows()) if self.view.recording is not None else []

    # -- range jobs -----------------------------------------------------------------------------------
    def range_job(self, kind: str, annotation: Annotation) -> object | None:
        """Queue `wavescope convert --start/--stop` of the annotation's range ('sort' then sorts the
        converted range with its .params once the conversion is done). The queued job, or None."""
        from app.io.convert import params_path_for
        from app.views.convert_dialog import ConvertDialog
        rate = self.recording.sampling_rate
        start_s, stop_s = annotation.start / rate, annotation.stop / rate
        dialog = ConvertDialog.for_datafile(self.recording.datafile, self.window)
        dialog.start.setValue(start_s)
        dialog.stop.setValue(stop_s)
        dialog.output.setText(self._range_output(annotation, dialog.output.text()))
        shown = (dialog.start.value(), dialog.stop.value())
        if not self.exec_dialog(dialog):
            return None
        job = dialog.job()
        if (dialog.start.value(), dialog.stop.value()) == shown:
            job.start, job.stop = start_s or None, stop_s       # exact, not the box's milliseconds
        if kind == "sort":
            self._pending_sorts[job.id] = params_path_for(job.output)
        self.window.jobs_panel.add_job(job)
        self.window._show_jobs()
        return job

    def _range_output(self, annotation: Annotation, default: str) -> str:
        path = Path(default)
        label = re.sub(r"[^A-Za-z0-9_-]+", "_", annotation.label).strip("_") or "range"
        stem = path.stem.removesuffix("_converted")
        return str(path.with_name(f"{stem}_{label}_{annotation.start}-{annotation.stop}{path.suffix}"))

    def _job_finished(self, job_id: str, status: str) -> None:
        params = self._pending_sorts.pop(job_id, None)
        if params is None or status != "done":
            return
        from app.model.jobs import SortJob
        self.window.jobs_panel.add_job(SortJob(params_file=params))


def install_events_ui(window: QtWidgets.QMainWindow) -> EventsUI:
    """Add events, annotations and peri-event features to `window` (a MainWindow); idempotent."""
    existing = getattr(window, "events_ui", None)
    if isinstance(existing, EventsUI):
        return existing
    ui = EventsUI(window)
    window.events_ui = ui
    if window.recording is not None:
        ui.recording_changed(window.recording)
    return ui

