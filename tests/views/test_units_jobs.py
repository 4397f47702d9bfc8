"""A sort job of the open recording that finishes in the Jobs dock opens its results by itself.

The job is run by the real JobRunner: a small Python script, standing in for the sorter, saves a
SpikeInterface sorting (NumpySorting.save) in a Wavescope sort output folder (DIR/sorting/ and the
run's record DIR/wavescope-run.json)."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from app.model.jobs import SortJob
from tests.views.test_units_ui import N_CHANNELS, RATE, window  # noqa: F401 - the window fixture

pytest.importorskip("spikeinterface.core")
pytestmark = pytest.mark.timeout(180)

SORTER_SCRIPT = """
import json, sys
import numpy as np
from spikeinterface.core import NumpySorting
out, fail = sys.argv[1], sys.argv[2] == "fail"
samples = np.array([500, 900, 1500, 2500, 7000])
labels = np.array([4, 6, 4, 6, 4])
NumpySorting.from_samples_and_labels([samples], [labels], sampling_frequency={rate}).save(folder=out + "/sorting")
with open(out + "/wavescope-run.json", "w") as handle:
    json.dump({{"sorter": "stand-in", "parameters": {{}}}}, handle)
print("sorted", flush=True)
sys.exit(3 if fail else 0)
"""


@dataclasses.dataclass
class ScriptSortJob(SortJob):
    """A SortJob whose sorter is a Python script writing a Wavescope sort output folder."""

    script: str = ""
    fail: bool = False

    def command(self) -> list[str]:
        return [sys.executable, self.script, str(self.output), "fail" if self.fail else "ok"]

    def results_path(self) -> str:
        return str(self.output)


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "stand_in_sorter.py"
    path.write_text(SORTER_SCRIPT.format(rate=RATE))
    return str(path)


def run(qtbot, main_window, job) -> None:
    panel = main_window.jobs_panel
    with qtbot.waitSignal(panel.jobFinished, timeout=120_000):
        panel.add_job(job)


def test_a_finished_sort_of_the_open_recording_opens_its_results(qtbot, window, script, tmp_path):  # noqa: F811
    ui = window.units_ui
    job = ScriptSortJob(params_file=window.recording.datafile.file_name, sorter="spyking-circus",
                        output=str(tmp_path / "out"), script=script)
    with qtbot.waitSignal(ui.unitsOpened, timeout=120_000):
        window.jobs_panel.add_job(job)
    assert job.status == "done"
    units = window.session.units
    assert units.ids == [4, 6] and units.unit(4).spike_train.tolist() == [500, 1500, 7000]
    assert ui.dock.table.rowCount() == 2 and window.recording.nb_channels == N_CHANNELS
    # no templates in a SpikeInterface sorting: averaged from the recording, so the spikes have a channel
    assert all(0 <= unit.peak_channel < N_CHANNELS for unit in units.units)


def test_a_failed_sort_or_another_recording_s_opens_nothing(qtbot, window, script, tmp_path):  # noqa: F811
    failed = ScriptSortJob(params_file=window.recording.datafile.file_name, output=str(tmp_path / "a"),
                           script=script, fail=True)
    run(qtbot, window, failed)
    other = tmp_path / "other.dat"
    other.write_bytes(b"\0" * 64)
    elsewhere = ScriptSortJob(params_file=str(other), output=str(tmp_path / "b"), script=script)
    run(qtbot, window, elsewhere)
    assert failed.status == "failed" and elsewhere.status == "done"
    qtbot.wait(300)
    assert window.session.units is None and not window.errors
