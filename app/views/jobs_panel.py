"""The Jobs panel: a queue of conversion and sorting jobs, their progress and live logs.

Each job runs through `app.model.jobs.JobRunner` (a child process in its own session) or on SLURM
(app.views.jobs_cluster); runner callbacks reach the GUI thread as Qt signals. Local jobs start one
at a time unless `max_concurrent` says more; the history and the logs (`logs/<id>.log`) survive restarts.
"""

from __future__ import annotations

import copy
import shlex
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from PyQt6 import QtCore, QtGui, QtWidgets

from app.io.errors import DataFileError
from app.model.jobs import FINISHED, ConvertJob, Job, JobError, JobHistory, JobRunner, SortJob, stop_tree
from app.views.jobs_cluster import ClusterJobs

STOP_GRACE = 5.0
LOG_LINES = 5000
SUMMARY_LINES = 6
COLUMNS = ("Job", "State", "Progress", "Elapsed", "ETA", "Runs on")


@dataclass
class JobEntry:
    """A job in the panel: the job, its runner while it runs, and what its log view shows."""

    job: Job
    env: dict | None = None
    runner: JobRunner | None = None
    lines: deque = field(default_factory=lambda: deque(maxlen=LOG_LINES))
    tail: str | None = None             # the in-place (progress) line under the last full line
    tail_sticky: bool = False           # a progress summary kept when a full line follows
    progress: float | None = None
    error: str | None = None
    log_handle: object | None = None

    @property
    def id(self) -> str:
        return self.job.id

    def command_text(self) -> str:
        try:
            return shlex.join(self.job.argv or self.job.command())
        except (JobError, OSError, ValueError) as problem:
            return f"(no command: {problem})"

    def state_text(self) -> str:
        status = self.job.status
        if status in ("failed", "stopped") and self.job.exit_code is not None:
            return f"{status} (exit {self.job.exit_code})"
        return status


def progress_text(line: str) -> str | None:
    """`wavescope convert --progress json` lines as a short human line; None for other lines."""
    import json
    if not line.startswith('{"done"'):
        return None
    try:
        data = json.loads(line)
        return f"chunk {data['done']}/{data['total']} ({data['done'] / data['total']:.0%}), " \
               f"{data.get('elapsed', 0):.1f} s"
    except (ValueError, KeyError, TypeError, ZeroDivisionError):
        return None


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def eta_seconds(job: Job, fraction: float | None) -> float | None:
    """Remaining time from the elapsed time and the progress made, once there is some."""
    if job.status != "running" or not fraction or fraction <= 0 or job.duration is None:
        return None
    return job.duration * (1 - fraction) / fraction


class _Bridge(QtCore.QObject):
    """Runner callbacks (worker thread) -> queued signals handled on the GUI thread."""

    line = QtCore.pyqtSignal(str, str)
    progressLine = QtCore.pyqtSignal(str, str, bool)
    progress = QtCore.pyqtSignal(str, float)
    changed = QtCore.pyqtSignal(str)


class JobsPanel(ClusterJobs, QtWidgets.QWidget):
    """Queue, state, progress, command line and log of each job; Stop, Retry, open output/log."""

    jobChanged = QtCore.pyqtSignal(str, str)        # job id, status (queued, running, done, ...)
    jobFinished = QtCore.pyqtSignal(str, str)       # job id, final status

    def __init__(self, history: JobHistory | None = None, max_concurrent: int = 1,
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.history = history or JobHistory()
        self.log_dir = self.history.path.parent / "logs"
        self.entries: dict[str, JobEntry] = {}
        self.open_url = QtGui.QDesktopServices.openUrl
        self._bridge = _Bridge()
        self._bridge.line.connect(self._on_line)
        self._bridge.progressLine.connect(self._on_progress_line)
        self._bridge.progress.connect(self._on_progress)
        self._bridge.changed.connect(self._on_changed)
        self._build(max_concurrent)
        self._timer = QtCore.QTimer(self, interval=500, timeout=self._tick)
        self._timer.start()
        self._load_history()
        self._init_cluster()

    def set_session(self, session) -> None:
        """The dock contract: jobs outlive recordings, so the panel keeps none of the session."""

    def _build(self, max_concurrent: int) -> None:
        self.table = QtWidgets.QTreeWidget()
        self.table.setHeaderLabels(list(COLUMNS))
        self.table.setRootIsDecorated(False)
        self.table.setColumnWidth(0, 320)
        self.table.currentItemChanged.connect(lambda *_: self._show_selected())
        self.command = QtWidgets.QLineEdit(readOnly=True)
        self.command.setPlaceholderText("the exact command line of the selected job")
        self.summary = QtWidgets.QLabel("", wordWrap=True)
        self.summary.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.log_view = QtWidgets.QPlainTextEdit(readOnly=True)
        self.log_view.setMaximumBlockCount(LOG_LINES)
        self.log_view.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont))
        self.concurrent_box = QtWidgets.QSpinBox(minimum=1, maximum=64, value=max_concurrent)
        self.concurrent_box.setToolTip("how many jobs run at the same time")
        self.concurrent_box.valueChanged.connect(lambda _: self._schedule())
        buttons = QtWidgets.QHBoxLayout()
        self.stop_button = self._button(buttons, "Stop", self.stop_selected)
        self.retry_button = self._button(buttons, "Retry", self.retry_selected)
        self._button(buttons, "Open output folder", self.open_output_folder)
        self._button(buttons, "Open log", self.open_log)
        buttons.addStretch(1)
        buttons.addWidget(QtWidgets.QLabel("At once"))
        buttons.addWidget(self.concurrent_box)
        details = QtWidgets.QWidget()
        column = QtWidgets.QVBoxLayout(details)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(buttons)
        column.addWidget(self.command)
        column.addWidget(self.summary)
        column.addWidget(self.log_view, 1)
        splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(details)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter)

    def _button(self, row: QtWidgets.QHBoxLayout, text: str, slot) -> QtWidgets.QPushButton:
        button = QtWidgets.QPushButton(text)
        button.clicked.connect(slot)
        row.addWidget(button)
        return button

    @property
    def max_concurrent(self) -> int:
        return self.concurrent_box.value()

    def set_max_concurrent(self, count: int) -> None:
        self.concurrent_box.setValue(int(count))

    # -- the queue --------------------------------------------------------------------------------
    def add_job(self, job: Job, env: dict | None = None) -> JobEntry | None:
        """Queue `job` (run with `env` when given); it starts when a slot is free.

        A sort that would rewrite its recording is queued only if the user confirms
        it in a dialog naming the file; None when they do not.
        """
        if not self.confirm_in_place(job):
            return None
        job.status = "queued"
        entry = JobEntry(job, env=env)
        self._add_entry(entry)
        self.history.record(job)
        self.table.setCurrentItem(self._item(entry.id))
        self.jobChanged.emit(job.id, job.status)
        self._schedule()
        return entry

    def confirm_in_place(self, job: Job) -> bool:
        """True when `job` may be queued: it leaves its recording alone, or the user said it may not."""
        if not isinstance(job, SortJob) or job.allow_in_place:
            return True
        try:
            edits = job.in_place_edits()
            data_file, params_file = (job.data_file(), job.params_path()) if edits else ("", "")
        except (JobError, DataFileError, OSError):
            return True                      # it cannot start: it fails at once with the reason
        if not edits:
            return True
        job.allow_in_place = ask_in_place(self, data_file, params_file, edits)
        return job.allow_in_place

    def _add_entry(self, entry: JobEntry) -> None:
        self.entries[entry.id] = entry
        item = QtWidgets.QTreeWidgetItem([entry.job.describe(), entry.state_text(), "", "", ""])
        item.setData(0, QtCore.Qt.ItemDataRole.UserRole, entry.id)
        item.setToolTip(0, entry.command_text())
        self.table.addTopLevelItem(item)
        bar = QtWidgets.QProgressBar(minimum=0, maximum=1000, textVisible=True)
        bar.setValue(1000 if entry.job.status == "done" else 0)
        self.table.setItemWidget(item, 2, bar)

    def running(self) -> list[JobEntry]:
        return [e for e in self.local_entries() if e.job.status == "running" and e.runner is not None]

    def _schedule(self) -> None:
        free = self.max_concurrent - len(self.running())
        for entry in [e for e in self.entries.values() if e.job.status == "queued"][:max(free, 0)]:
            self._start(entry)

    def _start(self, entry: JobEntry) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        entry.lines.clear()
        entry.tail, entry.progress, entry.error = None, None, None
        entry.log_handle = open(self.log_path(entry), "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed when the job ends
        entry.log_handle.write(f"$ {entry.command_text()}\n")
        job_id, bridge = entry.id, self._bridge
        entry.runner = self.runner_class(entry.job)(
            entry.job, env=entry.env,
            on_line=lambda text: self._from_worker_line(entry, text),
            on_progress_line=lambda text: bridge.progressLine.emit(job_id, text, False),
            on_progress=lambda fraction: bridge.progress.emit(job_id, fraction),
            on_change=lambda job: bridge.changed.emit(job_id))
        try:
            entry.runner.start()
        except (JobError, OSError, ValueError) as problem:
            self._failed_to_start(entry, problem)

    def _failed_to_start(self, entry: JobEntry, problem: Exception) -> None:
        job = entry.job
        job.status, job.ended, job.exit_code = "failed", time.time(), None
        entry.runner, entry.error = None, f"cannot start: {problem}"
        entry.log_handle.write(entry.error + "\n")
        self._append_line(entry, entry.error)
        self._on_changed(entry.id)

    def _from_worker_line(self, entry: JobEntry, text: str) -> None:
        """Worker thread: the log file gets every full line; JSON progress shows in place."""
        summary = progress_text(text)
        if summary is not None:
            self._bridge.progressLine.emit(entry.id, summary, True)
            return
        handle = entry.log_handle
        if handle is not None and not handle.closed:
            handle.write(text + "\n")
        self._bridge.line.emit(entry.id, text)

    # -- signals from the runners (GUI thread) ----------------------------------------------------
    def _on_line(self, job_id: str, text: str) -> None:
        entry = self.entries.get(job_id)
        if entry is not None:
            self._append_line(entry, text)

    def _append_line(self, entry: JobEntry, text: str) -> None:
        """A full line supersedes a terminal progress line (as on a terminal), not a summary."""
        replace = entry.tail is not None and not entry.tail_sticky
        if entry.tail is not None and entry.tail_sticky:
            entry.lines.append(entry.tail)
        entry.tail = None
        entry.lines.append(text)
        if self._selected() is entry:
            self._show_line(text, replace)

    def _on_progress_line(self, job_id: str, text: str, sticky: bool) -> None:
        entry = self.entries.get(job_id)
        if entry is None:
            return
        replace = entry.tail is not None
        entry.tail, entry.tail_sticky = text, sticky
        if self._selected() is entry:
            self._show_line(text, replace)

    def _show_line(self, text: str, replace_last: bool) -> None:
        """Append `text`, or write it over the last line (a progress bar redrawn in place)."""
        if not replace_last or self.log_view.document().isEmpty():
            self.log_view.appendPlainText(text)
            return
        cursor = QtGui.QTextCursor(self.log_view.document().lastBlock())
        cursor.movePosition(QtGui.QTextCursor.MoveOperation.EndOfBlock,
                            QtGui.QTextCursor.MoveMode.KeepAnchor)
        cursor.insertText(text)

    def _on_progress(self, job_id: str, fraction: float) -> None:
        entry = self.entries.get(job_id)
        if entry is not None:
            entry.progress = fraction
            self._refresh_row(entry)

    def _on_changed(self, job_id: str) -> None:
        entry = self.entries.get(job_id)
        if entry is None:
            return
        job = entry.job
        if job.status in FINISHED:
            self._finished(entry)
        self.history.record(job)
        self._refresh_row(entry)
        if self._selected() is entry:
            self._show_summary(entry)
        self.jobChanged.emit(job.id, job.status)
        if job.status in FINISHED:
            self.jobFinished.emit(job.id, job.status)
            self._schedule()

    def _finished(self, entry: JobEntry) -> None:
        if entry.job.status == "done":
            entry.progress = 1.0
        handle, entry.log_handle = entry.log_handle, None
        if handle is not None:
            if entry.tail is not None:
                handle.write(entry.tail + "\n")
            handle.write(f"# {entry.state_text()} after {format_seconds(entry.job.duration)}\n")
            handle.close()
        entry.runner = None

    # -- actions ----------------------------------------------------------------------------------
    def stop(self, job_id: str, grace: float = STOP_GRACE) -> None:
        """Stop a job without blocking: its whole process tree gets SIGTERM, then SIGKILL after
        `grace` seconds, on a helper thread. A queued job is just taken off the queue."""
        entry = self.entries[job_id]
        job = entry.job
        if job.status == "queued":
            job.status, job.ended = "stopped", time.time()
            self._on_changed(job_id)
        elif entry.runner is not None and job.status == "running":
            threading.Thread(target=entry.runner.stop, args=(grace,), daemon=True,
                             name=f"stop-{job_id}").start()
        elif job.status == "running" and job.pid:
            threading.Thread(target=self._stop_detached, args=(job_id, grace), daemon=True).start()

    def _stop_detached(self, job_id: str, grace: float) -> None:
        """A job left running by a previous session: stop its tree by pid."""
        job = self.entries[job_id].job
        stop_tree(job.pid, grace, marker=job.id)
        job.status, job.ended = "stopped", time.time()
        self._bridge.changed.emit(job_id)

    def retry(self, job_id: str) -> JobEntry:
        """Queue a fresh copy of a finished job (same spec, same environment)."""
        old = self.entries[job_id]
        job = copy.deepcopy(old.job)
        job.id = uuid.uuid4().hex[:12]
        job.started = job.ended = job.exit_code = job.pid = job.argv = None
        job.created = time.time()
        if isinstance(job, SortJob):
            job.allow_in_place = False       # asked again: the recording may have changed since
        return self.add_job(job, env=old.env)

    def stop_selected(self) -> None:
        entry = self._selected()
        if entry is not None:
            self.stop(entry.id)

    def retry_selected(self) -> None:
        entry = self._selected()
        if entry is not None and entry.job.status in FINISHED:
            self.retry(entry.id)

    def output_folder(self, entry: JobEntry) -> Path:
        job = entry.job
        target = job.output if isinstance(job, ConvertJob) else getattr(job, "params_file", "")
        return Path(target or ".").resolve().parent

    def open_output_folder(self) -> None:
        entry = self._selected()
        if entry is not None:
            self.open_url(QtCore.QUrl.fromLocalFile(str(self.output_folder(entry))))

    def log_path(self, entry: JobEntry) -> Path:
        return self.log_dir / f"{entry.id}.log"

    def open_log(self) -> None:
        entry = self._selected()
        if entry is not None and self.log_path(entry).exists():
            self.open_url(QtCore.QUrl.fromLocalFile(str(self.log_path(entry))))

    def shutdown(self, grace: float = 2.0) -> None:
        """Stop every running job and wait for them (the application is closing)."""
        runners = [e.runner for e in self.running()]
        threads = [threading.Thread(target=r.stop, args=(grace,)) for r in runners]
        for thread in threads:
            thread.start()
        for thread, runner in zip(threads, runners):
            thread.join(grace + 5)
            runner.wait(5)
        QtCore.QCoreApplication.processEvents()

    # -- display ----------------------------------------------------------------------------------
    def _item(self, job_id: str) -> QtWidgets.QTreeWidgetItem | None:
        for row in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(row)
            if item.data(0, QtCore.Qt.ItemDataRole.UserRole) == job_id:
                return item
        return None

    def _selected(self) -> JobEntry | None:
        item = self.table.currentItem()
        return None if item is None else self.entries.get(item.data(0, QtCore.Qt.ItemDataRole.UserRole))

    def progress_bar(self, job_id: str) -> QtWidgets.QProgressBar:
        return self.table.itemWidget(self._item(job_id), 2)

    def _refresh_row(self, entry: JobEntry) -> None:
        item = self._item(entry.id)
        if item is None:
            return
        item.setText(1, entry.state_text())
        item.setText(3, format_seconds(entry.job.duration))
        item.setText(4, format_seconds(eta_seconds(entry.job, entry.progress)))
        if entry.progress is not None:
            self.progress_bar(entry.id).setValue(round(entry.progress * 1000))
        item.setToolTip(0, entry.command_text())

    def _tick(self) -> None:
        for entry in self.running():
            self._refresh_row(entry)

    def _show_selected(self) -> None:
        entry = self._selected()
        self.log_view.clear()
        if entry is None:
            self.command.clear()
            self.summary.clear()
            return
        self.command.setText(entry.command_text())
        self.command.setCursorPosition(0)
        lines = list(entry.lines) or self._log_file_tail(entry)
        self.log_view.setPlainText("\n".join(lines + ([entry.tail] if entry.tail is not None else [])))
        self._show_summary(entry)

    def _show_summary(self, entry: JobEntry) -> None:
        """State in words; a failed job also shows its exit code and its last lines."""
        job = entry.job
        text = f"{job.describe()}: {entry.state_text()}"
        if job.status == "failed":
            last = [line for line in (list(entry.lines) or self._log_file_tail(entry)) if line.strip()]
            detail = entry.error or "\n".join(last[-SUMMARY_LINES:])
            text += f"\n{detail}" if detail else ""
        self.summary.setText(text)

    def _log_file_tail(self, entry: JobEntry) -> list[str]:
        try:
            text = self.log_path(entry).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        return text.splitlines()[-LOG_LINES:]

    def log_text(self) -> str:
        return self.log_view.toPlainText()

    def command_text_for(self, job_id: str) -> str:
        """The exact command line of a job, shell-quoted (what the command field shows)."""
        return self.entries[job_id].command_text()

    # -- history ----------------------------------------------------------------------------------
    def _load_history(self) -> None:
        """Past jobs, newest last. JobHistory marks a job whose process is gone `interrupted`;
        a queued one is too: it does not start by itself in a new session."""
        for job in self.history.load():
            if job.status in ("queued", "pending"):
                job.status = "interrupted"
            self._add_entry(JobEntry(job, progress=1.0 if job.status == "done" else None))


def ask_in_place(parent: QtWidgets.QWidget | None, data_file: str, params_file: str, edits: list[str]) -> bool:
    """Ask before a sort rewrites `data_file`; True only when the user chose to modify it."""
    box = QtWidgets.QMessageBox(parent)
    box.setObjectName("confirm-in-place")
    box.setIcon(QtWidgets.QMessageBox.Icon.Warning)
    box.setWindowTitle("Modify the recording?")
    box.setText(f"This sort would rewrite the recording itself:\n{data_file}")
    box.setInformativeText(
        f"Its params ({params_file}) say overwrite = True, so the filtering step writes "
        f"{', '.join(edits)} into the raw file; the original samples are not kept.\n\n"
        "To keep the recording as it is, cancel and set overwrite = False in [data]: the sorter then "
        "filters a float32 copy.")
    modify = box.addButton("Modify the recording", QtWidgets.QMessageBox.ButtonRole.DestructiveRole)
    modify.setObjectName("modify-recording")
    cancel = box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)
    box.exec()
    return box.clickedButton() is modify
