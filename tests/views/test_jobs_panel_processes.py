"""The Jobs panel ends every process of a job (child, setsid grandchild, a double-forked daemon that
holds the output pipe) and shows the end state; the convert dialog offers MPI ranks only with MPI."""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
from pathlib import Path

import numpy as np
import psutil
import pytest

from app.model.jobs import JobHistory, SortJob, job_processes
from app.views.jobs_panel import JobsPanel

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "fake_spyking_circus.py"

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(not hasattr(signal, "SIGHUP"),
                                 reason="the family fixture uses POSIX sessions")]


@pytest.fixture
def panel(qtbot, tmp_path):
    panel = JobsPanel(JobHistory(tmp_path / "data" / "jobs.json"))
    panel.statuses = []
    panel.jobChanged.connect(lambda job_id, status: panel.statuses.append(status))
    qtbot.addWidget(panel)
    panel.show()
    yield panel
    panel.shutdown(grace=0.5)


@pytest.fixture
def family_job(tmp_path):
    """A SortJob on the stand-in sorter whose family reports its pids to `family.json`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "spyking-circus"
    script.write_text(f"#!{sys.executable}\n" + FIXTURE.read_text().split("\n", 1)[1])
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    data = tmp_path / "rec.dat"
    data.write_bytes(b"\0" * 64)
    report = tmp_path / "family.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_SC_")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", FAKE_SC_FAMILY=str(report),
               FAKE_SC_TICK="0")
    return SortJob(params_file=str(data), steps=["filtering"]), env, report


def _pids(qtbot, report: Path) -> dict[str, int]:
    qtbot.waitUntil(report.exists, timeout=30_000)
    return json.loads(report.read_text())


def _survivors(pids: dict[str, int]) -> list[str]:
    alive = []
    for role, pid in pids.items():
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(role)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_stop_ends_the_daemon_too_and_the_row_says_stopped(qtbot, panel, family_job):
    job, env, report = family_job
    entry = panel.add_job(job, env={**env, "FAKE_SC_HANG": "1"})
    pids = _pids(qtbot, report)
    assert len(_survivors(pids)) == 4
    panel.stop(entry.id, grace=0.5)
    qtbot.waitUntil(lambda: panel.statuses[-1:] == ["stopped"], timeout=60_000)
    assert _survivors(pids) == [] and job_processes(None, job.id) == []
    assert panel._item(entry.id).text(1).startswith("stopped") and entry.runner is None


def test_a_daemon_holding_the_pipe_does_not_keep_the_job_running(qtbot, panel, family_job):
    job, env, report = family_job
    entry = panel.add_job(job, env=env)
    pids = _pids(qtbot, report)
    qtbot.waitUntil(lambda: panel.statuses[-1:] == ["done"], timeout=60_000)
    assert panel._item(entry.id).text(1) == "done"
    assert _survivors(pids) == []
    assert any(line.startswith("wavescope: the job left") for line in entry.lines)


def test_convert_dialog_offers_ranks_only_with_mpi(qtbot, make_raw, portable):
    from app.io import open_datafile
    from app.views.convert_dialog import ConvertDialog
    path = make_raw("rec.dat", np.zeros((1000, 4), dtype=np.int16))
    dialog = ConvertDialog.for_datafile(open_datafile(path, {"nb_channels": 4, "data_dtype": "int16",
                                                             "sampling_rate": 1000}, "raw_binary"))
    qtbot.addWidget(dialog)
    assert not dialog.ranks.isEnabled() and dialog.ranks.value() == 1
    assert "mpi4py is not installed" in dialog.mpi_note.text()
    assert "mpiexec" not in dialog.command.toPlainText()
    assert dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()
