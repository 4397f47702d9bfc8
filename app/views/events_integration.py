"""Events and annotations in the browser, as dock modules: `install(window)` adds it all.

It adds the Events, Annotations and Peri-event docks (`window.add_dock`), an Events menu (load an
event file, annotate mode, next/previous event with N/P, undo/redo, export) and the markers overlay
on the trace view. It follows the window's session: on "opened" the recording's own events are read
on a `Worker` and its annotations come from (and are saved to) the sidecar beside it; both are put
in the session (`set_events`, `set_annotations`), whose docks show them.

The trace view paints the overlay (`view.overlays`) over the traces and offers it the mouse and
keys first.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from PyQt6 import QtCore, QtGui, QtWidgets

from app.io.errors import DataFileError
from app.io.events import load_event_file
from app.model.annotations import Annotation, AnnotationFileError, Annotations
from app.model.events import EventIndex, recording_events
from app.model.session import Session
from app.views.annotations_panel import AnnotationsPanel
from app.views.event_overlay import EventOverlay
from app.views.events_panel import EventsPanel
from app.views.peri_event_view import PeriEventView
from app.views.workers import Worker

log = logging.getLogger("wavescope")
SAVE_DELAY_MS = 300
EVENT_FILE_FILTERS = "Event files (*.csv *.tsv *.txt *.npy);;All files (*)"


class EventsUI(QtCore.QObject):
    """The events/annotations features of one MainWindow; see `install_events_ui`."""

    eventsLoaded = QtCore.pyqtSignal()

    def __init__(self, window: QtWidgets.QMainWindow):
        super().__init__(window)
        self.window = window
        self.view = window.view
        self.session: Session = window.session
        self.annotations: Annotations | None = None     # kept past "closed": saved then
        self.can_save = True
        self.ask_open_path = self._ask_open_path
        self.show_message = lambda title, text: QtWidgets.QMessageBox.information(window, title, text)
        self.show_error = lambda title, text: window.show_error(title, text)
        self.exec_dialog = lambda dialog: dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted
        self.reader = Worker(self, "events", on_result=self._events_read, on_error=self._events_failed)
        self._save_timer = QtCore.QTimer(self, singleShot=True, interval=SAVE_DELAY_MS, timeout=self.save)
        self._pending_sorts: dict[str, str] = {}
        self._build_widgets()
        self._attach_overlay()
        self._build_menu()
        self._connect()
        self.session.subscribe(self._session_changed)
        if self.session.recording is not None:
            self._session_changed("opened", self.session.recording)

    @property
    def recording(self):
        return self.session.recording

    @property
    def index(self) -> EventIndex:
        return self.session.events if self.session.events is not None else EventIndex()

    # -- construction ---------------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.overlay = EventOverlay(self.view)
        self.events_panel = EventsPanel(self.view)
        self.annotations_panel = AnnotationsPanel()
        self.annotations_panel.on_range_job = self.range_job
        self.peri_view = PeriEventView()
        self.peri_view.channels_provider = self.visible_channels
        bottom = QtCore.Qt.DockWidgetArea.BottomDockWidgetArea
        # tabbed with the log and jobs under the traces: the traces keep the width, the probe its column
        self.docks = {"Events": self.window.add_dock(self.events_panel, bottom, "Events", tabify_with="Jobs"),
                      "Annotations": self.window.add_dock(self.annotations_panel, bottom, "Annotations",
                                                          tabify_with="Events"),
                      "Peri-event": self.window.add_dock(self.peri_view, bottom, "Peri-event",
                                                         tabify_with="Annotations")}

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
        self.view.windowChanged.connect(lambda *_: self.peri_view.channels_changed())
        self.events_panel.channelsChanged.connect(self._event_channels_changed)
        self.annotations_panel.annotationActivated.connect(self.show_annotation)
        self.overlay.selection_listeners.append(self.annotations_panel.select)
        self.annotations_panel.table.selectionModel().currentRowChanged.connect(
            lambda *_: self.overlay.select(self.annotations_panel.current_id()))
        self.window.jobs_panel.jobFinished.connect(self._job_finished)

    def shutdown(self) -> None:
        """Save, then stop and wait for the workers (the window calls this before it goes)."""
        self.save()
        self.peri_view.shutdown()
        self.reader.close()

    # -- the recording ---------------------------------------------------------------------------------
    def _session_changed(self, topic: str, value) -> None:
        if topic == "closed":
            self.save()
            self.reader.cancel()
            self._show_annotations(None)
        elif topic == "opened":
            self._load_annotations(value)
            if not self.reader.closed:
                self.reader.submit(recording_events, value)
        elif topic == "events":
            self.overlay.set_events(self.index)
            self.eventsLoaded.emit()

    def _events_read(self, index: EventIndex) -> None:
        recording = self.recording
        if recording is None:
            return
        if len(self.index):
            index.add(self.index.events)
        self.set_index(index)
        if len(index):
            log.info("%s: %d events on %d channel(s)", recording.name, len(index), len(index.channels))

    def _events_failed(self, error: Exception) -> None:
        name = self.recording.name if self.recording is not None else "the recording"
        log.warning("%s: reading the recording's events failed: %s", name, error)

    def set_index(self, index: EventIndex) -> None:
        """Put `index` in the session: the overlay, the Events table and the peri-event choices follow."""
        self.session.set_events(index)

    def _load_annotations(self, recording) -> None:
        self.can_save = True
        path = recording.datafile.file_name
        try:
            annotations = Annotations.load(path, recording.sampling_rate)
        except AnnotationFileError as error:
            self.can_save = False
            annotations = Annotations(path, recording.sampling_rate)
            self.show_error("Annotations not loaded", f"{error}\nNew annotations will not be saved until the "
                            "sidecar is fixed or removed.")
        annotations.subscribe(lambda kind, ids: self._save_timer.start())
        self._show_annotations(annotations)
        self.session.set_annotations(annotations)

    def _show_annotations(self, annotations: Annotations | None) -> None:
        self.annotations = annotations
        self.overlay.set_annotations(annotations)

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
        self.window.queue_job(job)
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


def install(window: QtWidgets.QMainWindow) -> EventsUI:
    """Add events, annotations and peri-event features to `window` (a MainWindow with a session)."""
    return EventsUI(window)
