"""The Jobs panel asks, in a real dialog naming the file, before a sort that rewrites its recording."""

from __future__ import annotations

from pathlib import Path

import pytest
from PyQt6 import QtCore, QtWidgets

from app.model.jobs import JobHistory, SortJob
from app.views.jobs_panel import JobsPanel
from tests.conftest import install_fake_sorter


pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def panel(qtbot, tmp_path):
    panel = JobsPanel(JobHistory(tmp_path / "data" / "jobs.json"))
    qtbot.addWidget(panel)
    panel.show()
    yield panel
    panel.shutdown(grace=0.5)


@pytest.fixture
def in_place(tmp_path, monkeypatch) -> Path:
    """rec.dat whose params say overwrite = True, and the stand-in sorter on PATH."""
    install_fake_sorter(tmp_path, monkeypatch)
    data = tmp_path / "rec.dat"
    data.write_bytes(b"\0" * 64)
    (tmp_path / "rec.params").write_text(f"[data]\nfile_format = raw_binary\nfile_name = {data}\n"
                                         "overwrite = True\n")
    return data


def answer_dialog(qtbot, button_name: str | None, seen: list[str]) -> None:
    """When the confirmation shows, note its text and press `button_name` (None: Escape)."""
    def act() -> None:
        box = QtWidgets.QApplication.activeModalWidget()
        if not isinstance(box, QtWidgets.QMessageBox) or box.objectName() != "confirm-in-place":
            QtCore.QTimer.singleShot(20, act)
            return
        seen.append(box.text() + "\n" + box.informativeText())
        if button_name is None:
            box.reject()
        else:
            box.findChild(QtWidgets.QPushButton, button_name).click()
    QtCore.QTimer.singleShot(0, act)


def test_declining_queues_nothing(qtbot, panel, in_place):
    seen: list[str] = []
    answer_dialog(qtbot, None, seen)
    entry = panel.add_job(SortJob(params_file=str(in_place.with_suffix(".params")), steps=["filtering"]))
    assert entry is None and panel.entries == {}
    assert str(in_place) in seen[0] and "band-pass filter" in seen[0] and "overwrite = False" in seen[0]
    assert in_place.read_bytes() == b"\0" * 64


def test_accepting_queues_the_run_with_the_users_permission(qtbot, panel, in_place):
    seen: list[str] = []
    answer_dialog(qtbot, "modify-recording", seen)
    entry = panel.add_job(SortJob(params_file=str(in_place.with_suffix(".params")), steps=["filtering"]))
    assert entry is not None and entry.job.allow_in_place
    assert len(seen) == 1 and str(in_place) in seen[0]
    qtbot.waitUntil(lambda: entry.job.status == "done", timeout=60_000)
    # A retry asks again.
    answer_dialog(qtbot, None, seen)
    assert panel.retry(entry.id) is None and len(seen) == 2


def test_a_copy_or_other_steps_run_without_a_question(qtbot, panel, in_place):
    seen: list[str] = []
    entry = panel.add_job(SortJob(params_file=str(in_place.with_suffix(".params")), steps=["whitening"]))
    assert entry is not None and not entry.job.allow_in_place
    params = in_place.with_suffix(".params")
    params.write_text(params.read_text().replace("overwrite = True", "overwrite = False"))
    assert panel.add_job(SortJob(params_file=str(params))) is not None
    assert seen == []
