"""The Jobs panel with cluster jobs on a real one-node SLURM (pytest-qt): "Run on", "Runs on", logs
while running, Stop (scancel), and the states after a restart (a new panel on the same history)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.model.jobs import ConvertJob, JobHistory, SortJob
from app.views.jobs_panel import JobsPanel
from tests.cluster.conftest import marked_processes, profile, slurm_cluster  # noqa: F401 - fixtures
from tests.cluster.test_cluster_cli import sorter_env
from tests.conftest import synthetic_int16

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("profile")]
OPEN = {"nb_channels": 8, "data_dtype": "int16", "sampling_rate": 20000}


def make_panel(qtbot, history: JobHistory) -> JobsPanel:
    panel = JobsPanel(history)
    panel.statuses = {}
    panel.jobChanged.connect(lambda job_id, status: panel.statuses.setdefault(job_id, []).append(status))
    qtbot.addWidget(panel)
    panel.show()
    return panel


@pytest.fixture
def history(tmp_path) -> JobHistory:
    return JobHistory(tmp_path / "data" / "jobs.json")


def _install(tmp_path: Path) -> Path:
    import sys

    from tests.conftest import FAKE_SORTER
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "spyking-circus"
    script.write_text(f"#!{sys.executable}\n" + FAKE_SORTER.read_text().split("\n", 1)[1])
    script.chmod(0o755)
    return bin_dir


def finished(panel: JobsPanel, job_id: str) -> bool:
    """The panel has shown the job's end (its slot ran on the GUI thread, not just the follower)."""
    return panel.statuses.get(job_id, [""])[-1] in ("done", "failed", "stopped", "interrupted")


def test_convert_and_sort_from_the_panel_finish_with_logs_while_running(qtbot, history, make_raw,
                                                                        tmp_path):
    bin_dir = _install(tmp_path)
    recording = make_raw("rec.dat", synthetic_int16(20000, 8))
    panel = make_panel(qtbot, history)
    assert [panel.run_on.itemText(i) for i in range(panel.run_on.count())] == ["local", "test"]
    panel.set_run_on("test")
    out = tmp_path / "copy.dat"
    convert = panel.add_job(ConvertJob(source=recording, output=str(out), file_format="raw_binary",
                                       settings=dict(OPEN)))
    sort = panel.add_job(SortJob(params_file=recording, steps=["filtering", "whitening"]),
                         env=sorter_env(bin_dir, FAKE_SC_TICK=0.1))
    assert convert.job.backend == sort.job.backend == "cluster"
    qtbot.waitUntil(lambda: sort.job.cluster_state == "RUNNING", timeout=60_000)
    panel.table.setCurrentItem(panel._item(sort.id))
    qtbot.waitUntil(lambda: "filtering" in panel.log_text().lower() and sort.job.cluster_state == "RUNNING",
                    timeout=30_000)
    qtbot.waitUntil(lambda: panel.runs_on(sort.id) in [f"test · {sort.job.cluster_id} {state}"
                                                       for state in ("RUNNING", "COMPLETING", "COMPLETED")])
    qtbot.waitUntil(lambda: finished(panel, sort.id) and finished(panel, convert.id), timeout=60_000)
    assert (convert.job.status, sort.job.status) == ("done", "done")
    assert panel.statuses[sort.id][0] == "queued" and panel.statuses[sort.id][-1] == "done"
    assert panel.runs_on(convert.id) == f"test · {convert.job.cluster_id} COMPLETED"
    assert out.read_bytes() == Path(recording).read_bytes()
    assert "wavescope: SLURM job" in panel.log_path(sort).read_text()


def test_local_and_cluster_jobs_side_by_side_and_after_a_restart(qtbot, history, make_raw, tmp_path):
    bin_dir = _install(tmp_path)
    recording = make_raw("rec.dat", synthetic_int16(20000, 8))
    panel = make_panel(qtbot, history)
    local = panel.add_job(ConvertJob(source=recording, output=str(tmp_path / "local.dat"),
                                     file_format="raw_binary", settings=dict(OPEN)))
    panel.set_run_on("test")
    hanging = panel.add_job(SortJob(params_file=recording), env=sorter_env(bin_dir, FAKE_SC_HANG=1))
    qtbot.waitUntil(lambda: finished(panel, local.id) and hanging.job.cluster_state == "RUNNING",
                    timeout=60_000)
    assert panel.runs_on(local.id) == "local" and local.job.status == "done"
    qtbot.waitUntil(lambda: bool(marked_processes(hanging.id)), timeout=30_000)

    panel.shutdown(grace=0.5)           # the application closes: cluster jobs go on
    panel.detach_cluster()
    panel.close()
    assert hanging.job.status == "running" and marked_processes(hanging.id)

    again = make_panel(qtbot, history)
    assert again.entries[local.id].job.status == "done" and again.runs_on(local.id) == "local"
    resumed = again.entries[hanging.id]
    assert resumed.job.status == "running" and resumed.runner is not None
    qtbot.waitUntil(lambda: again.runs_on(hanging.id).endswith("RUNNING"), timeout=10_000)
    again.table.setCurrentItem(again._item(hanging.id))
    qtbot.waitUntil(lambda: "Welcome to the SpyKING CIRCUS" in again.log_text(), timeout=10_000)

    again.stop(hanging.id)
    qtbot.waitUntil(lambda: finished(again, hanging.id), timeout=60_000)
    assert resumed.job.status == "stopped" and resumed.job.cluster_state == "CANCELLED"
    qtbot.waitUntil(lambda: not marked_processes(hanging.id), timeout=15_000)
    qtbot.waitUntil(lambda: again.runs_on(hanging.id).endswith("CANCELLED"), timeout=5_000)

    retried = again.retry(hanging.id)
    assert retried.job.backend == "cluster" and retried.id != hanging.id
    qtbot.waitUntil(lambda: retried.job.cluster_id is not None, timeout=10_000)
    assert retried.job.cluster_id != resumed.job.cluster_id
    again.stop(retried.id)
    qtbot.waitUntil(lambda: finished(again, retried.id), timeout=60_000)
    qtbot.waitUntil(lambda: not marked_processes(retried.id), timeout=15_000)
    again.detach_cluster()


def test_a_job_submitted_from_the_cli_is_followed_by_the_panel(qtbot, make_raw, tmp_path):
    import subprocess
    import sys
    recording = make_raw("rec.dat", synthetic_int16(20000, 8))
    out = tmp_path / "copy.dat"
    done = subprocess.run([sys.executable, "-m", "app", "convert", recording, "--set", "nb_channels=8",
                           "--set", "data_dtype=int16", "--set", "sampling_rate=20000", "-o", str(out),
                           "--to", "raw_binary", "--cluster", "test"], check=False, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "submitted convert rec.dat" in done.stdout, done.stderr
    panel = make_panel(qtbot, JobHistory())
    (entry,) = panel.cluster_entries()
    assert entry.job.cluster == "test" and entry.job.cluster_id in done.stdout
    qtbot.waitUntil(lambda: finished(panel, entry.id), timeout=60_000)
    assert entry.job.status == "done" and panel.runs_on(entry.id).endswith("COMPLETED")
    assert out.read_bytes() == Path(recording).read_bytes()
    assert JobHistory().load()[-1].status == "done"
    panel.detach_cluster()


def test_three_recordings_queued_from_the_panel_as_one_job_array(qtbot, history, make_raw, tmp_path):
    panel = make_panel(qtbot, history)
    sources = [make_raw(f"rec{i}.dat", synthetic_int16(4000, 8, seed=i)) for i in range(3)]
    jobs = [ConvertJob(source=source, output=str(tmp_path / f"out{i}.dat"), file_format="raw_binary",
                       settings=dict(OPEN)) for i, source in enumerate(sources)]
    entries = panel.add_job_array(jobs, "test")
    array_id = jobs[0].cluster_id.split("_")[0]
    assert [entry.job.cluster_id for entry in entries] == [f"{array_id}_{i}" for i in range(3)]
    qtbot.waitUntil(lambda: all(finished(panel, entry.id) for entry in entries), timeout=60_000)
    assert [entry.job.status for entry in entries] == ["done"] * 3
    assert [panel.runs_on(entry.id) for entry in entries] == [f"test · {array_id}_{i} COMPLETED" for i in range(3)]
    for i, source in enumerate(sources):
        assert (tmp_path / f"out{i}.dat").read_bytes() == Path(source).read_bytes()
    refused = panel.add_job_array([ConvertJob(source=sources[0], output=str(tmp_path / "x.dat"))], "nope")
    assert refused[0].job.status == "failed" and "no cluster profile named 'nope'" in refused[0].error


def test_sort_several_recordings_from_the_file_menu_as_a_job_array(qtbot, make_raw, tmp_path, monkeypatch):
    from PyQt6 import QtCore

    from app.views.main_window import MainWindow
    bin_dir = _install(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    window = MainWindow(settings=QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    assert "Sort se&veral recordings…" in [action.text() for action in window.menuBar().actions()[0].menu().actions()]
    recordings = [make_raw(f"rec{i}.dat", synthetic_int16(2000, 8, seed=i)) for i in range(2)]
    panel = window.jobs_panel
    panel.statuses = {}
    panel.jobChanged.connect(lambda job_id, status: panel.statuses.setdefault(job_id, []).append(status))
    panel.set_run_on("test")
    entries = window.sort_several(recordings)
    assert len({entry.job.script for entry in entries}) == 1 and entries[0].job.cluster_id.endswith("_0")
    qtbot.waitUntil(lambda: all(finished(panel, entry.id) for entry in entries), timeout=60_000)
    assert [entry.job.status for entry in entries] == ["done", "done"]
    window.jobs_panel.detach_cluster()
    window.close()
