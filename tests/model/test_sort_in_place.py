"""`wavescope sort` and the job runner refuse a run that would rewrite the recording, unless allowed.

The stand-in sorter proves what starts and what does not; the real SpyKING CIRCUS run that
leaves the recording byte-identical is in tests/integration/test_spyking_circus.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.model.jobs import InPlaceRefused, JobError, JobRunner, SortJob
from tests.conftest import install_fake_sorter


@pytest.fixture
def recording(tmp_path, monkeypatch) -> Path:
    install_fake_sorter(tmp_path, monkeypatch)
    monkeypatch.setattr("app.model.jobs.default_history_path", lambda: tmp_path / "jobs.json")
    data = tmp_path / "rec.dat"
    data.write_bytes(b"\1" * 64)
    return data


def write_params(data: Path, overwrite: str | None, extra: str = "") -> str:
    line = f"overwrite = {overwrite}\n" if overwrite is not None else ""
    params = data.with_suffix(".params")
    params.write_text(f"[data]\nfile_format = raw_binary\nfile_name = {data}\n{line}{extra}")
    return str(params)


@pytest.mark.parametrize("overwrite", ["True", None])        # None: SpyKING CIRCUS's default, True
def test_sort_refuses_an_in_place_run_and_names_the_file_and_the_fix(recording, capsys, overwrite):
    params = write_params(recording, overwrite)
    assert main(["sort", params, "--steps", "filtering,whitening"]) == 1
    captured = capsys.readouterr()
    assert f"{recording}: this run would rewrite the recording in place (band-pass filter)" in captured.err
    assert "set overwrite = False in [data]" in captured.err and "--allow-in-place" in captured.err
    assert "Welcome to the SpyKING CIRCUS" not in captured.out           # the sorter never started
    assert recording.read_bytes() == b"\1" * 64


def test_dry_run_prints_the_command_and_the_warning(recording, capsys):
    params = write_params(recording, "True")
    assert main(["sort", params, "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert captured.out.split()[1] == str(recording)
    assert "note:" in captured.err and "--allow-in-place" in captured.err


def test_allow_in_place_runs_it(recording, capsys):
    params = write_params(recording, "True")
    assert main(["sort", params, "--steps", "filtering", "--allow-in-place"]) == 0
    assert "Welcome to the SpyKING CIRCUS" in capsys.readouterr().out


@pytest.mark.parametrize("overwrite, extra, steps", [
    ("False", "", ["--steps", "filtering"]),                                 # a filtered copy
    ("True", "", ["--steps", "whitening,clustering"]),                       # no filtering step
    ("True", "", ["--steps", "filtering", "--preview"]),                     # previews work on a copy
    ("True", "[filtering]\nfilter = False\n", ["--steps", "filtering"]),     # nothing to write
    ("True", "[noedits]\nfilter_done = True\n", ["--steps", "filtering"]),   # already filtered
])
def test_runs_that_leave_the_recording_alone_start_without_the_flag(recording, capsys, overwrite, extra, steps):
    params = write_params(recording, overwrite, extra)
    assert main(["sort", params, *steps]) == 0, capsys.readouterr().err
    assert "Welcome to the SpyKING CIRCUS" in capsys.readouterr().out


def test_the_runner_itself_refuses_so_no_caller_can_skip_the_check(recording):
    params = write_params(recording, "True", "[filtering]\nremove_median = True\n")
    job = SortJob(params_file=params, steps=["filtering"])
    runner = JobRunner(job)
    with pytest.raises(InPlaceRefused) as caught:
        runner.start()
    assert caught.value.data_file == str(recording)
    assert caught.value.edits == ["band-pass filter", "median removal"]
    assert runner.process is None and job.status == "pending"


def test_a_params_file_that_names_no_single_recording_is_refused_not_guessed(tmp_path, capsys):
    (tmp_path / "rec.params").write_text("[data]\nfile_format = raw_binary\noverwrite = False\n")
    (tmp_path / "rec.dat").write_bytes(b"\0" * 8)
    (tmp_path / "rec.bin").write_bytes(b"\0" * 80)
    with pytest.raises(JobError, match=r"several recordings match \(rec\.bin, rec\.dat\)"):
        SortJob(params_file=str(tmp_path / "rec.params")).command()
    assert main(["sort", str(tmp_path / "rec.params"), "--dry-run"]) == 1
    assert "set file_name = " in capsys.readouterr().err


@pytest.mark.parametrize("probe_text", [None, ""])           # None: the file is not there; "": empty
def test_dry_run_warns_when_the_probe_file_is_missing_or_empty(recording, capsys, probe_text):
    probe = recording.with_name("probe.prb")
    if probe_text is not None:
        probe.write_text(probe_text)
    params = write_params(recording, "False", f"mapping = {probe}\n")
    assert main(["sort", params, "--dry-run"]) == 0
    err = capsys.readouterr().err
    state = "does not exist" if probe_text is None else "is empty"
    assert f"wavescope: warning: {params}: line 5: mapping = {probe}: the probe file {probe} {state}" in err


def test_dry_run_is_quiet_about_a_good_probe_and_warns_about_no_mapping(recording, capsys):
    probe = recording.with_name("probe.prb")
    probe.write_text("total_nb_channels = 1\nradius = 100\nchannel_groups = {}\n")
    assert main(["sort", write_params(recording, "False", f"mapping = {probe}\n"), "--dry-run"]) == 0
    assert "warning" not in capsys.readouterr().err
    params = write_params(recording, "False")
    assert main(["sort", params, "--dry-run"]) == 0
    assert f"{params}: [data] has no mapping line" in capsys.readouterr().err
