"""The "latest request wins" worker with real threads and a real Qt event loop."""

import threading

import pytest
from PyQt6 import QtWidgets

from app.io.errors import HeaderError
from app.views.workers import TaskError, Worker


@pytest.fixture
def worker(qtbot):
    results, errors, progress = [], [], []
    worker = Worker(name="test", on_result=results.append, on_error=errors.append, on_progress=progress.append)
    worker.results, worker.errors, worker.progress = results, errors, progress
    yield worker
    worker.close()


def test_only_the_latest_result_is_delivered(qtbot, worker):
    release = threading.Event()
    started = threading.Event()

    def slow(value):
        started.set()
        release.wait(5)
        return value

    first = worker.submit(slow, "old")
    assert started.wait(5)
    second = worker.submit(lambda: "new")
    assert first.cancelled() and not second.cancelled()
    release.set()
    qtbot.waitUntil(lambda: worker.results == ["new"], timeout=5000)
    qtbot.wait(50)                                  # any late answer of the first would be here by now
    assert worker.results == ["new"] and worker.errors == []


def test_a_queued_task_cancelled_before_it_starts_never_runs(qtbot, worker):
    release = threading.Event()
    ran = []
    worker.submit(lambda: release.wait(5))
    worker.submit(ran.append, "middle")
    last = worker.submit(ran.append, "last")
    release.set()
    with qtbot.waitSignal(worker.resultReady, timeout=5000) as delivered:
        pass
    assert delivered.args[0] is last and ran == ["last"]


def test_errors_reach_on_error_typed(qtbot, worker):
    def broken():
        raise ZeroDivisionError("division by zero")

    def bad_header():
        raise HeaderError("rec.dat: header field 'nb_channels' is 0; give it in the params")

    worker.submit(broken)
    qtbot.waitUntil(lambda: len(worker.errors) == 1, timeout=5000)
    (error,) = worker.errors
    assert isinstance(error, TaskError) and isinstance(error.cause, ZeroDivisionError)
    assert "broken failed: ZeroDivisionError" in str(error)
    worker.submit(bad_header)
    qtbot.waitUntil(lambda: len(worker.errors) == 2, timeout=5000)
    assert isinstance(worker.errors[1], HeaderError) and worker.results == []


def test_progress_and_cancellation_polled_by_the_task(qtbot, worker):
    go_on = threading.Event()
    seen_cancel = threading.Event()

    def scan(ticket, steps):
        for k in range(steps):
            ticket.progress((k + 1) / steps)
        go_on.wait(5)
        while not ticket.cancelled():
            ticket.done.wait(0.001)
        seen_cancel.set()
        return "stopped"

    ticket = worker.submit(scan, 4, pass_ticket=True)
    qtbot.waitUntil(lambda: worker.progress == [0.25, 0.5, 0.75, 1.0], timeout=5000)
    go_on.set()
    ticket.cancel()
    assert seen_cancel.wait(5)
    qtbot.wait(50)
    assert worker.results == []                     # a cancelled ticket delivers nothing


def test_close_waits_for_the_running_task_and_nothing_arrives_after(qtbot):
    widget = QtWidgets.QWidget()
    results = []
    worker = Worker(widget, on_result=results.append)
    started, finished = threading.Event(), threading.Event()

    def slow():
        started.set()
        threading.Event().wait(0.2)
        finished.set()
        return "late"

    worker.submit(slow)
    assert started.wait(5)
    worker.close()
    assert finished.is_set()                        # close returned only after the task ended
    widget.deleteLater()
    qtbot.wait(50)
    assert results == [] and worker.closed
    with pytest.raises(RuntimeError, match="closed"):
        worker.submit(slow)


def test_the_parent_going_closes_the_worker(qtbot):
    widget = QtWidgets.QWidget()
    worker = Worker(widget)
    started, finished = threading.Event(), threading.Event()

    def slow():
        started.set()
        threading.Event().wait(0.2)
        finished.set()

    worker.submit(slow)
    assert started.wait(5)
    widget.deleteLater()
    qtbot.waitUntil(finished.is_set, timeout=5000)
    qtbot.waitUntil(lambda: worker.closed, timeout=5000)
