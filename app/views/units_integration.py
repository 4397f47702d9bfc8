"""Sort results in the browser, as one module: `install(window)` adds it all.

It adds the Units dock (`window.add_dock`), File > Open sort results…, Go > Next / Previous spike
of the selected unit (`]` and `[`, the window centred on the spike), the spikes overlay on the
traces (`app.views.trace.spikes`) with the unit's template in a popup under the mouse, and the
dock's exports: the shown units' spike trains into the Events panel (one event channel per unit,
through the session's events) or to a CSV file. Results are read on a `Worker` and put in the
session (`Session.set_units`); when a sort job of the open recording finishes in the Jobs dock,
its results open by themselves.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from PyQt6 import QtCore, QtGui, QtWidgets

from app.io.errors import DataFileError
from app.model.events import EventIndex
from app.model.jobs import JobError, SortJob
from app.model.session import Session
from app.model.sort_results import job_results_path, read_units, results_target, same_file, write_spike_csv
from app.model.units_display import UnitsDisplay
from app.views.trace.spikes import SpikeOverlay
from app.views.unit_template import TemplatePopup
from app.views.units_dock import UnitsDock
from app.views.workers import Worker

log = logging.getLogger("wavescope")
RESULT_FILTERS = ("Sort results (*.hdf5 params.py spike_times.npy spikes.npy numpysorting_info.json "
                  "spikeinterface_log.json wavescope-run.json);;All files (*)")


class UnitsUI(QtCore.QObject):
    """The sort-results features of one MainWindow; see `install`."""

    unitsOpened = QtCore.pyqtSignal(str)         # the results read
    csvWritten = QtCore.pyqtSignal(str, int)     # path, spikes

    def __init__(self, window: QtWidgets.QMainWindow):
        super().__init__(window)
        self.window = window
        self.view = window.view
        self.session: Session = window.session
        self.display: UnitsDisplay | None = None
        self.ask_results_path = self._ask_results_path
        self.ask_csv_path = self._ask_csv_path
        self.show_error = lambda title, text: window.show_error(title, text)
        self._last_spike: int | None = None
        self._quiet = False
        self.reader = Worker(self, "sort results", on_result=self._units_read, on_error=self._read_failed)
        self.writer = Worker(self, "spike CSV", on_result=self._csv_written,
                             on_error=lambda error: self.show_error("Spike trains not written", str(error)))
        self.overlay = SpikeOverlay(self.view)
        self.view.overlays.insert(0, self.overlay)
        self.overlay.hover_listeners.append(self._hover)
        self.popup = TemplatePopup(self.view)
        self.view.installEventFilter(self)                  # the popup goes when the mouse leaves
        self.view.windowChanged.connect(lambda *_: self.popup.hide())
        self.dock = UnitsDock()
        self.dock.unitActivated.connect(lambda unit_id: self.next_spike())
        self.window.add_dock(self.dock, QtCore.Qt.DockWidgetArea.BottomDockWidgetArea, "Units",
                             tabify_with="Events" if "Events" in window.docks else None)
        self._build_actions()
        self.session.subscribe(self._session_changed)
        window.jobs_panel.jobFinished.connect(self._job_finished)

    # -- construction -------------------------------------------------------------------------------
    def _menu(self, title: str) -> QtWidgets.QMenu:
        return next(a.menu() for a in self.window.menuBar().actions() if a.text() == title)

    def _build_actions(self) -> None:
        file_menu = self._menu("&File")
        self.open_action = QtGui.QAction("Open sort &results…", self.window)
        self.open_action.triggered.connect(self.open_dialog)
        anchor = next((a for a in file_menu.actions() if a.text() == "&Quit"), None)
        file_menu.insertAction(anchor, self.open_action)
        file_menu.insertSeparator(anchor)
        go = self._menu("&Go")
        go.addSeparator()
        self.next_action = go.addAction("Next spike of the unit", QtGui.QKeySequence("]"), self.next_spike)
        self.previous_action = go.addAction("Previous spike of the unit", QtGui.QKeySequence("["),
                                            self.previous_spike)
        tools = self.dock.tools
        self.events_action = tools.addAction("Export as events", self.export_as_events)
        self.events_action.setToolTip("the shown units' spike trains in the Events panel, one channel per unit")
        self.csv_action = tools.addAction("Export CSV…", self.export_csv_dialog)
        self.close_action = tools.addAction("Close", lambda: self.session.set_units(None))

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if watched is self.view and event.type() == QtCore.QEvent.Type.Leave:
            self.popup.hide()
        return False

    def shutdown(self) -> None:
        self.reader.close()
        self.writer.close()

    # -- the session --------------------------------------------------------------------------------
    def _session_changed(self, topic: str, value) -> None:
        if topic == "units":
            self._show(value)
        elif topic == "closed":
            self.reader.cancel()
            self._show(None)

    def _show(self, units) -> None:
        self.display = UnitsDisplay(units) if units is not None else None
        if self.display is not None:
            self.display.subscribe(self._display_changed)
        self._last_spike = None
        self.popup.hide()
        self.overlay.set_display(self.display)
        self.dock.set_display(self.display)

    def _display_changed(self, topic: str, _value) -> None:
        if topic == "visibility":
            self.overlay.invalidate()

    # -- opening ------------------------------------------------------------------------------------
    def _ask_results_path(self) -> str:
        recording = self.session.recording
        folder = os.path.dirname(recording.datafile.file_name) if recording else str(Path.home())
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.window, "Open sort results (a file in the results "
                                                        "folder)", folder, RESULT_FILTERS)
        return path

    def open_dialog(self) -> None:
        if self.session.recording is None:
            self.show_error("Open sort results", "Open the recording that was sorted first.")
            return
        path = self.ask_results_path()
        if path:
            self.open_results(results_target(path))

    def open_results(self, path: str | os.PathLike, quiet: bool = False) -> None:
        """Read the sort results at `path` (any layout `read_units` knows) for the open recording,
        off the GUI thread; `quiet` logs a failure instead of showing it (a job's results)."""
        recording = self.session.recording
        if recording is None:
            self.show_error("Open sort results", "Open the recording that was sorted first.")
            return
        self._quiet = quiet
        lock = self.session.source.read_lock if self.session.source is not None else None
        self.reader.submit(read_units, os.fspath(path), recording, lock)

    def _units_read(self, units) -> None:
        if self.session.recording is None:
            return
        self.session.set_units(units)
        self.window.show_dock("Units")
        log.info("%s: %d units, %d spikes", units.source, len(units), units.spike_count)
        self.unitsOpened.emit(units.source)

    def _read_failed(self, error: Exception) -> None:
        if self._quiet:
            log.warning("the sort results were not opened: %s", error)
        else:
            self.show_error("Cannot open the sort results", str(error))

    def _job_finished(self, job_id: str, status: str) -> None:
        """A sort of the open recording finished: open what it found."""
        entry = self.window.jobs_panel.entries.get(job_id)
        recording = self.session.recording
        if status != "done" or entry is None or recording is None or not isinstance(entry.job, SortJob):
            return
        try:
            ours = same_file(entry.job.data_file(), recording.datafile.file_name)
            path = job_results_path(entry.job) if ours else None
        except (JobError, DataFileError, OSError) as error:
            log.warning("sort job %s: its results were not opened: %s", job_id, error)
            return
        if path is not None:
            self.open_results(path, quiet=True)

    # -- going to spikes ----------------------------------------------------------------------------
    def _reference(self) -> float:
        """Where next/previous count from: the last spike gone to while it is on screen, else the centre."""
        view = self.view
        t0, window = float(view.viewport.t0), float(view.viewport.window)
        last = self._last_spike
        return float(last) if last is not None and t0 <= last < t0 + window else t0 + window / 2

    def next_spike(self) -> int | None:
        return self._go(+1)

    def previous_spike(self) -> int | None:
        return self._go(-1)

    def _go(self, direction: int) -> int | None:
        display = self.display
        if display is None or self.session.recording is None:
            return None
        if display.selected is None:
            self.window.statusBar().showMessage("Select a unit in the Units dock first.", 4000)
            return None
        reference = self._reference()
        sample = display.next_spike(reference) if direction > 0 else display.previous_spike(reference)
        if sample is None:
            self.window.statusBar().showMessage(f"No {'later' if direction > 0 else 'earlier'} spike of "
                                                f"unit {display.selected}.", 4000)
            return None
        self._last_spike = sample
        self.view.set_window(sample - self.view.viewport.window / 2)
        return sample

    # -- the template under the mouse ---------------------------------------------------------------
    def _hover(self, hit: tuple[int, int] | None, pos: QtCore.QPointF) -> None:
        display = self.display
        if hit is None or display is None:
            self.popup.hide()
            return
        unit_id, sample = hit
        unit = display.units.unit(unit_id)
        recording = self.session.recording
        name = recording.channel_name
        peak = name(unit.peak_channel) if unit.peak_channel >= 0 else "?"
        title = (f"unit {unit_id} ({unit.label}), peak {peak}\n"
                 f"spike at {sample / recording.sampling_rate:.4f} s")
        colour = display.colours[display.units.ids.index(unit_id)]
        self.popup.show_unit(unit, colour, title, name, self.view.mapToGlobal(pos.toPoint()))

    # -- exports ------------------------------------------------------------------------------------
    def export_as_events(self) -> int:
        """The shown units' spike trains into the session's events (channel `unit <id>`); how many."""
        display = self.display
        if display is None:
            return 0
        table = display.units.as_events(display.shown_ids())
        index = EventIndex(self.session.events.events if self.session.events is not None else None)
        index.add(table)
        self.session.set_events(index)
        self.window.statusBar().showMessage(f"{len(table):,} spikes of {len(display.shown_ids())} units added "
                                            "to the events.", 6000)
        return len(table)

    def _ask_csv_path(self) -> str:
        source = self.display.units.source if self.display is not None else str(Path.home())
        default = str(Path(source).with_name(Path(source).stem + "_spikes.csv"))
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self.window, "Export spike trains", default,
                                                        "CSV files (*.csv)")
        return path

    def export_csv_dialog(self) -> None:
        if self.display is None:
            self.show_error("Export spike trains", "Open sort results first.")
            return
        path = self.ask_csv_path()
        if path:
            self.export_csv(path)

    def export_csv(self, path: str) -> None:
        """Write the shown units' spikes to `path` (atomically, off the GUI thread)."""
        display, recording = self.display, self.session.recording
        names = recording.channel_names() if recording is not None else None
        self.writer.submit(lambda: (path, write_spike_csv(display.units, path, display.shown_ids(), names)))

    def _csv_written(self, result: tuple[str, int]) -> None:
        path, count = result
        self.window.statusBar().showMessage(f"{count:,} spikes written to {path}", 6000)
        self.csvWritten.emit(path, count)


def install(window: QtWidgets.QMainWindow) -> UnitsUI:
    """Add the Units dock, the spikes overlay and the sort-results actions to `window`."""
    return UnitsUI(window)
