"""The Jobs panel against real child processes: `wavescope convert` and a stand-in sorter."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from app.model.jobs import ConvertJob, JobHistory, SortJob
from app.views.jobs_panel import JobsPanel
from tests.conftest import synthetic_int16

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "fake_spyking_circus.py"
RATE = 20000
OPEN = {"nb_channels": 8, "data_dtype": "int16", "sampling_rate": RATE}

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def history(tmp_path) -> JobHistory:
    return JobHistory(tmp_path / "data" / "jobs.json")


@pytest.fixture
def panel(qtbot, history):
    panel = JobsPanel(history)
    panel.statuses = {}
    panel.jobChanged.connect(lambda job_id, status: panel.statuses.setdefault(job_id, []).append(status))
    panel.opened = []
    panel.open_url = lambda url: panel.opened.append(url.toLocalFile()) or True
    qtbot.addWidget(panel)
    panel.show()
    yield panel
    panel.shutdown(grace=0.5)


@pytest.fixture
def sorter_env(tmp_path):
    """An environment with the stand-in `spyking-circus` first on PATH (only for the job)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "spyking-circus"
    script.write_text(f"#!{sys.executable}\n" + FIXTURE.read_text().split("\n", 1)[1])
    script.chmod(script.stat().st_mode | stat.S_IXUSR)

    def env(**values) -> dict:
        base = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_SC_")}
        base["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
        return {**base, **{k: str(v) for k, v in values.items()}}

    return env


@pytest.fixture
def recording(make_raw) -> str:
    return make_raw("rec.dat", synthetic_int16(20000, 8))


def convert_job(source: str, output: Path, **extra) -> ConvertJob:
    return ConvertJob(source=source, output=str(output), file_format="raw_binary",
                      settings=dict(OPEN), **{"chunk_seconds": 0.05, **extra})


def wait_status(qtbot, panel, job_id: str, *statuses: str, timeout: int = 60_000) -> None:
    """Until the panel has shown one of `statuses` (its slot ran, not just the worker thread)."""
    qtbot.waitUntil(lambda: panel.statuses.get(job_id, [""])[-1] in statuses, timeout=timeout)


def leftovers(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if ".partial-" in name]


def test_two_jobs_run_in_turn_with_progress_and_clean_logs(qtbot, panel, recording, sorter_env, tmp_path):
    out = tmp_path / "copy.dat"
    convert = panel.add_job(convert_job(recording, out))
    sort = panel.add_job(SortJob(params_file=recording, steps=["filtering", "whitening"], cpus=2),
                         env=sorter_env(FAKE_SC_TICK=0.02))
    bar_values = []
    panel.progress_bar(convert.id).valueChanged.connect(bar_values.append)
    assert panel.entries[sort.id].job.status == "queued"
    wait_status(qtbot, panel, sort.id, "done", "failed")
    assert panel.statuses[convert.id] == ["queued", "running", "done"]
    assert panel.statuses[sort.id] == ["queued", "running", "done"]
    assert convert.job.ended <= sort.job.started               # one at a time by default
    assert len(set(bar_values)) >= 3 and bar_values[-1] == 1000
    assert panel.progress_bar(sort.id).value() == 1000
    assert out.read_bytes() == Path(recording).read_bytes() and not leftovers(tmp_path)

    panel.table.setCurrentItem(panel._item(sort.id))
    text = panel.log_text()
    assert "\x1b" not in text and "[32m" not in text
    lines = text.splitlines()
    assert len(lines) <= 6                                      # header, args, two bars, done
    assert [line.split()[0] for line in lines if "%|" in line] == ["filtering", "whitening"]
    assert all("100%" in line for line in lines if "%|" in line)
    assert panel.command.text().split()[1:] == [recording, "-m", "filtering,whitening", "-c", "2"]
    assert panel.command.isReadOnly()

    panel.table.setCurrentItem(panel._item(convert.id))
    lines = panel.log_text().splitlines()
    assert sum(line.startswith("chunk ") for line in lines) == 1
    assert any(line.startswith("chunk 20/20") for line in lines)
    assert "-m app convert" in panel.command.text() and str(out) in panel.command.text()


def test_stop_kills_the_whole_tree(qtbot, panel, recording, sorter_env, tmp_path):
    pidfile = tmp_path / "pids.json"
    entry = panel.add_job(SortJob(params_file=recording),
                          env=sorter_env(FAKE_SC_CHILD_PIDFILE=pidfile, FAKE_SC_HANG=1, FAKE_SC_IGNORE_TERM=1))
    qtbot.waitUntil(lambda: pidfile.exists() and pidfile.read_text().endswith("}"), timeout=30_000)
    pids = json.loads(pidfile.read_text())
    tree = [pids["parent"], *pids["children"]]
    assert all(psutil.pid_exists(pid) for pid in tree)
    panel.stop(entry.id, grace=0.5)
    # The sorter ignores SIGTERM, so only the SIGKILL after the grace ends it: alive here means
    # stop() returned without waiting for the tree on the GUI thread.
    assert psutil.Process(pids["parent"]).status() != psutil.STATUS_ZOMBIE
    wait_status(qtbot, panel, entry.id, "stopped")
    for pid in tree:
        try:
            assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            pass
    assert panel.entries[entry.id].state_text().startswith("stopped")
    assert panel.statuses[entry.id][-1] == "stopped"


def test_stopping_a_conversion_leaves_no_output(qtbot, panel, recording, tmp_path):
    out = tmp_path / "slow.dat"
    entry = panel.add_job(convert_job(recording, out, chunk_seconds=0.00005))
    qtbot.waitUntil(lambda: (entry.progress or 0) > 0 and bool(leftovers(tmp_path)), timeout=30_000)
    panel.stop(entry.id)
    wait_status(qtbot, panel, entry.id, "stopped")
    assert not out.exists() and not leftovers(tmp_path)
    assert not (tmp_path / "slow.params").exists()


def test_failure_shows_exit_code_and_last_lines_and_retry_requeues(qtbot, panel, recording, sorter_env):
    first = panel.add_job(SortJob(params_file=recording, steps=["filtering"]), env=sorter_env(FAKE_SC_EXIT=3))
    wait_status(qtbot, panel, first.id, "failed")
    panel.table.setCurrentItem(panel._item(first.id))
    assert first.job.exit_code == 3
    assert panel._item(first.id).text(1) == "failed (exit 3)"
    summary = panel.summary.text()
    assert "failed (exit 3)" in summary and summary.rstrip().endswith("done")
    panel.retry_selected()
    retried = [e for e in panel.entries.values() if e.id != first.id]
    assert len(retried) == 1 and retried[0].job.params_file == first.job.params_file
    wait_status(qtbot, panel, retried[0].id, "failed")
    assert panel.statuses[retried[0].id] == ["queued", "running", "failed"]


def test_failed_conversion_leaves_nothing_under_the_final_name(qtbot, panel, make_raw, tmp_path):
    source = make_raw("odd.dat", synthetic_int16(1001, 8))
    out = tmp_path / "out.dat"
    entry = panel.add_job(ConvertJob(source=source, output=str(out), file_format="raw_binary",
                                     settings={**OPEN, "nb_channels": 3}))
    wait_status(qtbot, panel, entry.id, "failed")
    assert entry.job.exit_code == 1
    panel.table.setCurrentItem(panel._item(entry.id))
    assert "nb_channels" in panel.summary.text()
    assert not out.exists() and not leftovers(tmp_path)


def test_history_and_logs_survive_a_restart(qtbot, panel, history, recording, sorter_env, tmp_path):
    entry = panel.add_job(SortJob(params_file=recording, steps=["filtering"]), env=sorter_env())
    wait_status(qtbot, panel, entry.id, "done")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    cut_short = ConvertJob(source=recording, output=str(tmp_path / "x.dat"), status="running",
                           started=time.time() - 5, pid=gone.pid)
    history.record(cut_short)
    again = JobsPanel(history)
    qtbot.addWidget(again)
    assert again.entries[entry.id].job.status == "done"
    assert again.entries[cut_short.id].job.status == "interrupted"
    again.table.setCurrentItem(again._item(entry.id))
    assert "filtering" in again.log_text() and again.log_text().startswith("$ ")
    assert again.command.text() == panel.command_text_for(entry.id)
    again.open_url = panel.open_url
    again.open_log()
    again.open_output_folder()
    assert panel.opened == [str(again.log_path(again.entries[entry.id])), str(Path(recording).parent)]


def test_concurrency_setting_runs_jobs_together(qtbot, panel, recording, sorter_env):
    panel.set_max_concurrent(2)
    entries = [panel.add_job(SortJob(params_file=recording), env=sorter_env(FAKE_SC_HANG=1)) for _ in range(3)]
    qtbot.waitUntil(lambda: [e.job.status for e in entries] == ["running", "running", "queued"],
                    timeout=30_000)
    panel.stop(entries[2].id)
    assert entries[2].job.status == "stopped"
    for entry in entries[:2]:
        panel.stop(entry.id, grace=0.5)
    for entry in entries[:2]:
        wait_status(qtbot, panel, entry.id, "stopped")
    assert np.all([e.runner is None for e in entries])


def test_convert_dialog_builds_the_job_the_panel_runs(qtbot, panel, recording, tmp_path):
    from app.io import open_datafile
    from app.views.convert_dialog import ConvertDialog
    datafile = open_datafile(recording, dict(OPEN), "raw_binary")
    dialog = ConvertDialog.for_datafile(datafile)
    qtbot.addWidget(dialog)
    assert "hdf5" in [dialog.to_format.itemText(i) for i in range(dialog.to_format.count())]
    dialog.to_format.setCurrentText("hdf5")
    assert dialog.output.text().endswith(".h5") and dialog.out_fields.text() == "h5_key=data"
    dialog.channels.setText("1-3,7")
    dialog.start.setValue(0.25)
    dialog.ranks.setValue(2)
    command = dialog.command.toPlainText()
    for words in ("--to hdf5", "--channels 1-3,7", "--start 0.25", "--out-set h5_key=data", "-n 2"):
        assert words in command
    dialog.channels.setText("1-x")
    assert "channel" in dialog.problem.text() and not dialog.buttons.button(
        dialog.buttons.StandardButton.Ok).isEnabled()
    dialog.channels.setText("1-3,7")
    dialog.ranks.setValue(1)
    job = dialog.job()
    assert dialog.command.toPlainText().split() == job.command()
    entry = panel.add_job(job)
    wait_status(qtbot, panel, entry.id, "done", "failed")
    assert entry.job.status == "done", panel.summary.text()
    import h5py
    with h5py.File(job.output, "r") as handle:
        np.testing.assert_array_equal(handle["data"][:], synthetic_int16(20000, 8)[5000:, [1, 2, 3, 7]])


def test_main_window_has_the_jobs_dock_and_menu_actions(qtbot, tmp_path, recording, monkeypatch):
    from PyQt6 import QtCore, QtWidgets

    from app.views.main_window import MainWindow
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    errors = []
    window.show_error = lambda title, text: errors.append(text)
    qtbot.addWidget(window)
    assert window.docks["Jobs"].widget() is window.jobs_panel
    file_menu = window.menuBar().actions()[0].menu()
    texts = [action.text().replace("&", "") for action in file_menu.actions()]
    assert "Convert this recording…" in texts and "Sort with params…" in texts
    window.convert_dialog()
    assert errors == ["Open a recording first."]
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", lambda *a, **k: (recording, ""))
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    window.sort_dialog()
    assert "pip install spyking-circus" in errors[-1] and not window.jobs_panel.entries
    window.close()
