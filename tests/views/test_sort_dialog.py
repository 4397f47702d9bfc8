"""The sort dialog (non-modal): a sorter, its environment's state, its parameters, an output -> a SortJob."""

from __future__ import annotations

import json

import pytest
from PyQt6 import QtWidgets

from app.cli import main
from app.model.jobs import sorter_names
from app.model.wording import has_command_line_advice
from app.views.sort_dialog import SortDialog, flatten, open_sort_dialog
from tests.conftest import install_fake_sorter, synthetic_int16

DEFAULTS = {"params": {"detect_threshold": 5.5, "scheme": "2", "whiten": True, "whitening_seed": None,
                       "filtering": {"freq_min": 150, "ftype": "bessel"}},
            "descriptions": {"detect_threshold": "Detection threshold", "filtering": "the high-pass filter"},
            "version": "0.5.9"}


@pytest.fixture
def params_file(tmp_path, make_raw, capsys, monkeypatch):
    """A recording, its probe and the params `wavescope params` writes; no sorter installed anywhere."""
    monkeypatch.setenv("WAVESCOPE_SORTERS_DIR", str(tmp_path / "sorters"))
    monkeypatch.setenv("WAVESCOPE_CONFIG_DIR", str(tmp_path / "config"))
    make_raw("rec.dat", synthetic_int16(3000, 4))
    (tmp_path / "probe.prb").write_text("total_nb_channels = 4\nradius = 100\nchannel_groups = {1: {'channels': "
                                        "[0, 1, 2, 3], 'graph': [], 'geometry': {c: (0, 20 * c) for c in range(4)}}}\n")
    status = main(["params", str(tmp_path / "rec.dat"), "--format", "raw_binary", "--probe", str(tmp_path / "probe.prb"),
                   "--set", "data_dtype=int16", "--set", "nb_channels=4", "--set", "sampling_rate=20000"])
    assert status == 0, capsys.readouterr().err
    return tmp_path / "rec.params"


def test_flatten_gives_dotted_keys_for_nested_groups():
    assert flatten({"a": 1, "g": {"x": 2, "h": {"y": None}}, "empty": {}}) == \
        {"a": 1, "g.x": 2, "g.h.y": None, "empty": {}}


def test_a_missing_environment_is_said_and_offered_and_blocks_the_queue(qtbot, params_file):
    queued = []
    dialog = SortDialog(str(params_file), on_queue=queued.append)
    qtbot.addWidget(dialog)
    dialog.show()
    assert {dialog.sorter.itemData(k) for k in range(dialog.sorter.count())} == set(sorter_names())
    assert {"mountainsort5", "spykingcircus2", "tridesclous2", "kilosort4", "spyking-circus"} <= set(sorter_names())
    assert dialog.sorter_name() == "mountainsort5"
    assert dialog.env_state.text().startswith("not installed") and dialog.build_button.isVisibleTo(dialog)
    assert "Build the environment" in dialog.params_note.text()
    assert dialog.output.text() == str(params_file.with_name("rec-mountainsort5"))
    assert not dialog.queue_button.isEnabled()
    assert "is not installed: build its environment first" in dialog.command.text()
    # the GUI says what to do in its own words: no command to type (issue 16)
    assert not has_command_line_advice(dialog.command.text() + dialog.env_state.text())
    dialog.queue()
    assert queued == [] and dialog.isVisible()


def test_parameters_show_their_defaults_and_only_changes_go_into_the_job(qtbot, params_file):
    dialog = SortDialog(str(params_file))
    qtbot.addWidget(dialog)
    dialog.show_defaults(DEFAULTS)      # what default_params returns from the sorter's environment
    rows = {dialog.table.item(r, 0).text(): dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())}
    assert rows == {"detect_threshold": "5.5", "scheme": "2", "whiten": "true", "whitening_seed": "null",
                    "filtering.freq_min": "150", "filtering.ftype": "bessel"}
    assert dialog.table.item(0, 2).text() == "Detection threshold" and "0.5.9" in dialog.params_note.text()
    assert dialog.sorter_params() == {}
    dialog.set_value("whitening_seed", "7")
    dialog.set_value("filtering.freq_min", "300")
    dialog.cpus.setValue(2)
    job = dialog.job()
    assert job.sorter == "mountainsort5" and job.cpus == 2
    assert job.sorter_params == {"whitening_seed": "7", "filtering.freq_min": "300"}
    assert job.output == str(params_file.with_name("rec-mountainsort5"))
    assert job.results_path() == job.output
    dialog.sorter.setCurrentIndex(dialog.sorter.findData("tridesclous2"))
    assert dialog.output.text().endswith("rec-tridesclous2") and dialog.table.rowCount() == 0


def test_spyking_circus_queues_a_job_in_the_jobs_panel_way(qtbot, params_file, tmp_path, monkeypatch):
    install_fake_sorter(tmp_path, monkeypatch)          # a stand-in `spyking-circus` first on PATH
    queued = []
    dialog = open_sort_dialog(str(params_file), None, queued.append)     # deletes itself when closed
    assert dialog.isVisible() and not dialog.isModal()
    dialog.sorter.setCurrentIndex(dialog.sorter.findData("spyking-circus"))
    assert not dialog.output.isEnabled() and "reads its parameters from the .params file" in dialog.params_note.text()
    assert dialog.queue_button.isEnabled(), dialog.command.text()
    dialog.queue()
    assert len(queued) == 1 and dialog.result() == QtWidgets.QDialog.DialogCode.Accepted
    job = queued[0]
    assert job.sorter == "spyking-circus" and job.params_file == str(params_file) and job.sorter_params == {}
    assert job.results_path() == str(tmp_path / "rec" / "rec.result.hdf5")
    assert json.loads(json.dumps(job.to_dict()))["sorter_params"] == {}
