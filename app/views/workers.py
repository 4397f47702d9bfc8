"""One way to compute off the GUI thread: a "latest request wins" worker.

    worker = Worker(self, on_result=self.show, on_error=self.failed, on_progress=self.progress)
    ticket = worker.submit(compute, a, b)                 # compute(a, b) on a worker thread
    ticket = worker.submit(scan, path, pass_ticket=True)  # scan(ticket, path): may poll
                                                          # ticket.cancelled() and call ticket.progress(f)

A submit cancels every earlier ticket of the worker; a result, an error or a progress report reaches
the callbacks (on the GUI thread, through a queued signal) only while its ticket is still the latest
and not cancelled, so a view always shows its latest request. Tasks run one at a time in submit order;
a task whose ticket was cancelled before it started does not run.

`close()` cancels and waits for the running task: after it returns no thread emits into the worker,
so a view that closes its workers before it goes never receives a late answer on a dying widget.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PyQt6 import QtCore

log = logging.getLogger("wavescope")
_ids = itertools.count(1)


class TaskError(Exception):
    """A worker task failed with an exception that is not one of Wavescope's typed errors.

    `cause` is the original exception; the message names the task and what went wrong."""

    def __init__(self, task: str, cause: BaseException):
        super().__init__(f"{task} failed: {type(cause).__name__}: {cause}")
        self.task, self.cause = task, cause


def typed_error(task: str, error: BaseException) -> Exception:
    """`error` itself when it is a typed Wavescope error (or OSError, which names its file),
    else a `TaskError` around it."""
    from app.io.errors import DataFileError
    from app.model.annotations import AnnotationFileError
    from app.model.jobs import JobError
    if isinstance(error, (DataFileError, AnnotationFileError, JobError, OSError)):
        return error
    return TaskError(task, error)


class Ticket:
    """One submitted request: its id, its cancellation flag and its progress report."""

    def __init__(self, worker: Worker, name: str):
        self.id = next(_ids)
        self.name = name
        self._worker = worker
        self._cancelled = threading.Event()
        self.done = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    def cancelled(self) -> bool:
        """True once a newer request, `cancel()` or the worker's `close()` made this one moot."""
        return self._cancelled.is_set()

    def progress(self, fraction: float) -> None:
        """Report progress (0..1) from the task; dropped when the ticket is no longer the latest."""
        if not self.cancelled():
            self._worker.report_progress(self.id, float(fraction))

    def __repr__(self) -> str:
        return f"Ticket({self.id}, {self.name!r}{', cancelled' if self.cancelled() else ''})"


class Worker(QtCore.QObject):
    """Runs one task at a time off the GUI thread; only the latest ticket's answers are delivered.

    Signals (on the GUI thread): `resultReady(ticket, result)`, `errorRaised(ticket, error)`,
    `progressed(ticket, fraction)`; the optional callbacks get the result / error / fraction."""

    resultReady = QtCore.pyqtSignal(object, object)
    errorRaised = QtCore.pyqtSignal(object, object)
    progressed = QtCore.pyqtSignal(object, float)
    _finished = QtCore.pyqtSignal(int, bool, object)       # ticket id, ok, result or error
    _progressed = QtCore.pyqtSignal(int, float)

    def __init__(self, parent: QtCore.QObject | None = None, name: str = "worker",
                 on_result: Callable[[Any], None] | None = None,
                 on_error: Callable[[Exception], None] | None = None,
                 on_progress: Callable[[float], None] | None = None):
        super().__init__(parent)
        self.name = name
        self.on_result, self.on_error, self.on_progress = on_result, on_error, on_progress
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._latest: Ticket | None = None
        self._closed = False
        self._finished.connect(self._deliver, QtCore.Qt.ConnectionType.QueuedConnection)
        self._progressed.connect(self._deliver_progress, QtCore.Qt.ConnectionType.QueuedConnection)
        if parent is not None:
            parent.destroyed.connect(self.close)

    def report_progress(self, ticket_id: int, fraction: float) -> None:
        """A ticket's progress, from the task's thread; delivered on the GUI thread while it is the latest."""
        self._progressed.emit(ticket_id, fraction)

    @property
    def latest(self) -> Ticket | None:
        return self._latest

    @property
    def closed(self) -> bool:
        return self._closed

    def busy(self) -> bool:
        """True while the latest ticket has not finished."""
        return self._latest is not None and not self._latest.done.is_set()

    def submit(self, fn: Callable[..., Any], *args: Any, pass_ticket: bool = False) -> Ticket:
        """Run `fn(*args)` (or `fn(ticket, *args)` with `pass_ticket`) after cancelling earlier tickets."""
        if self._closed:
            raise RuntimeError(f"worker {self.name} is closed; create a new one to submit {fn!r}")
        self.cancel()
        ticket = Ticket(self, getattr(fn, "__name__", self.name))
        self._latest = ticket
        self._executor.submit(self._run, ticket, fn, args, pass_ticket)
        return ticket

    def _run(self, ticket: Ticket, fn: Callable[..., Any], args: tuple, pass_ticket: bool) -> None:
        try:
            if ticket.cancelled():
                return
            try:
                result = fn(ticket, *args) if pass_ticket else fn(*args)
            except Exception as error:           # delivered as a typed error, never raised in a thread
                if not ticket.cancelled():
                    self._finished.emit(ticket.id, False, typed_error(ticket.name, error))
                return
            if not ticket.cancelled():
                self._finished.emit(ticket.id, True, result)
        finally:
            ticket.done.set()

    def _current(self, ticket_id: int) -> Ticket | None:
        ticket = self._latest
        if self._closed or ticket is None or ticket.id != ticket_id or ticket.cancelled():
            return None
        return ticket

    def _deliver(self, ticket_id: int, ok: bool, value: Any) -> None:
        ticket = self._current(ticket_id)
        if ticket is None:
            return
        if ok:
            self.resultReady.emit(ticket, value)
            if self.on_result is not None:
                self.on_result(value)
            return
        self.errorRaised.emit(ticket, value)
        if self.on_error is not None:
            self.on_error(value)
        elif not self.receivers(self.errorRaised):
            log.warning("%s", value)

    def _deliver_progress(self, ticket_id: int, fraction: float) -> None:
        ticket = self._current(ticket_id)
        if ticket is None:
            return
        self.progressed.emit(ticket, fraction)
        if self.on_progress is not None:
            self.on_progress(fraction)

    def cancel(self) -> None:
        """Cancel the latest ticket: its answers are dropped, its task may stop early by polling."""
        if self._latest is not None:
            self._latest.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the latest task finished (for scripts and tests); False on timeout."""
        return self._latest is None or self._latest.done.wait(timeout)

    def close(self) -> None:
        """Cancel, wait for the running task, refuse new ones; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)
