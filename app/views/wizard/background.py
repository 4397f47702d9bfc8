"""The wizard's questions to the file, asked off the GUI thread: one shared `Worker` per question.

Each question ("rank", "segments", "suggest", "validate") has its own latest-wins
worker (app/views/workers.py): asking again supersedes the previous answer, which
is dropped. A question stays `busy` until its newest answer has been delivered, so
a page that waits for it never sees "done" before the answer is on screen.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from PyQt6 import QtCore

from app.views.workers import Worker


class PageWorkers(QtCore.QObject):
    """`ask(question, work)`; `answered(question, result_or_error)` on the GUI thread, newest only."""

    answered = QtCore.pyqtSignal(str, object)

    def __init__(self, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self._workers: dict[str, Worker] = {}
        self._waiting: set[str] = set()

    def ask(self, question: str, work: Callable[[], Any]) -> None:
        worker = self._workers.get(question)
        if worker is None:
            deliver = partial(self._deliver, question)
            worker = Worker(self, name=f"wizard-{question}", on_result=deliver, on_error=deliver)
            self._workers[question] = worker
        self._waiting.add(question)
        worker.submit(work)

    def busy(self, question: str) -> bool:
        return question in self._waiting

    def _deliver(self, question: str, result: Any) -> None:
        self._waiting.discard(question)
        self.answered.emit(question, result)

    def shutdown(self) -> None:
        """Drop every pending answer and stop the threads (waits for a task already running)."""
        self._waiting.clear()
        for worker in self._workers.values():
            worker.close()
        self._workers.clear()
