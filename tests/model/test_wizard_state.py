"""The params wizard's answers and what its pages say, without Qt: real files, the real writer."""

from __future__ import annotations

import os

import numpy as np
import pytest

from app.io import open_datafile
from app.io.params import ParamsFile
from app.io.probe import read_probe
from app.model import wizard, wizard_state
from app.model.wizard_state import WizardState
from tests.model.test_wizard import write_headerless, write_openephys_recordings


@pytest.fixture
def headerless(tmp_path):
    path, raw = write_headerless(tmp_path, n_channels=12, n_samples=6000)
    state = WizardState(path=str(path))
    state.set_format("raw_binary")
    for name, value in {"nb_channels": 12, "data_dtype": "int16", "sampling_rate": "30000"}.items():
        state.set_value(name, value)
    return state, raw


def validated(state: WizardState) -> WizardState:
    state.validation = state.validation_job()()
    assert state.validation.ok, state.validation.error
    return state


def test_a_new_format_keeps_only_the_values_it_has_fields_for():
    state = WizardState(values={"h5_key": "x", "sampling_rate": 1000, "nb_channels": 4})
    state.validation = wizard.Validation(True)
    state.set_format("raw_binary")
    assert state.values == {"sampling_rate": 1000, "nb_channels": 4}
    assert state.file_format == "raw_binary" and state.validation is None
    state.set_value("nb_channels", None)
    assert state.values == {"sampling_rate": 1000} and not state.has_layout()


def test_the_validation_job_sees_the_values_of_when_it_was_made(headerless):
    state, _ = headerless
    job = state.validation_job()
    state.set_value("nb_channels", 7)
    assert job().shape == (6000, 12)
    assert not state.validation_job()().ok


def test_probe_choices_decide_mapping_and_what_is_written(headerless, tmp_path):
    state, raw = headerless
    validated(state)
    assert state.mapping_path() is None and state.probe_target() is None
    library = str(wizard.library()["linear_32"])
    state.load_probe(library)
    assert state.mapping_path() == library and state.probe_target() is None
    assert not state.set_radius(state.probe.radius)
    assert state.set_radius(55.0)
    assert state.probe_dirty and state.probe_path is None
    assert state.mapping_path() == str(tmp_path / "headerless.prb") == str(state.probe_target())
    state.set_probe(wizard.generate_probe("linear", 12), None, dirty=True)
    written = state.write(str(tmp_path / "headerless.params"), None, filter_a_copy=True)
    assert state.written is written and written.probe_path == tmp_path / "headerless.prb"
    assert read_probe(written.probe_path).total_nb_channels == 12
    params = ParamsFile.read(written.params_path)
    assert params.get("data", "overwrite") == "False" and params.get("data", "mapping") == str(written.probe_path)
    reopened = open_datafile(str(written.params_path))
    np.testing.assert_array_equal(reopened.read_range(0, 50), raw[:50].astype(np.float32))


def test_render_is_what_write_writes(headerless, tmp_path):
    state, _ = validated(headerless[0]), None
    text = state.render(None, filter_a_copy=False)
    assert "overwrite      = True" in text
    state.write(str(tmp_path / "out.params"), None, filter_a_copy=False)
    assert (tmp_path / "out.params").read_text(encoding="utf-8") == text


def test_path_messages_and_the_folder_to_browse_next(tmp_path):
    assert wizard_state.path_message("") == ("Choose a recording.", "fact")
    missing = str(tmp_path / "nope.dat")
    assert wizard_state.path_message(missing) == (f"{missing}: no such file or folder.", "error")
    assert wizard_state.path_message(str(tmp_path)) is None
    assert wizard_state.folder_of(str(tmp_path)) == str(tmp_path)
    assert wizard_state.folder_of(str(tmp_path / "a.dat")) == str(tmp_path)


def test_segment_rows_are_relative_to_the_common_folder(tmp_path):
    oebin = write_openephys_recordings(tmp_path)
    state = WizardState(path=str(oebin))
    state.set_format("openephys_binary")
    state.stream_mode = "recordings"
    result = state.validation_job()()
    rows = wizard_state.segment_rows(result.segments)
    assert [row[1] for row in rows] == ["0.000", f"{5000 / 30000:.3f}"]
    assert all(not os.path.isabs(row[0]) and row[3].endswith(row[0]) for row in rows)
    assert wizard_state.segments_message(result) == (result.summary(), "ok")
    assert wizard_state.segment_rows([]) == []


def test_recent_probes_skip_library_and_missing_files_newest_first(tmp_path):
    files = []
    for k in range(10):
        path = tmp_path / f"p{k}.prb"
        path.write_text("x")
        files.append(str(path))
    assert wizard_state.recent_probes(files[0]) == [files[0]]
    assert wizard_state.recent_probes([files[0], str(tmp_path / "gone.prb")]) == [files[0]]
    assert wizard_state.remember_probe([], str(wizard.library()["linear_32"])) is None
    recent: list[str] = []
    for path in files:
        recent = wizard_state.remember_probe(recent, path)
    assert recent == files[::-1][:wizard_state.MAX_RECENT_PROBES]
    assert wizard_state.remember_probe(recent, files[5])[:2] == [files[5], files[9]]


def test_probe_drawing_flags_missing_channels_and_thins_labels():
    probe = wizard.generate_probe("linear", 32)
    drawing = wizard_state.probe_drawing(probe, {30, 31})
    assert drawing.xy.shape == (32, 2) and drawing.flagged.sum() == 2
    assert set(drawing.channels[drawing.flagged]) == {30, 31}
    assert drawing.size == pytest.approx(0.6 * 20.0) and drawing.label_step == 1
    dense = wizard_state.probe_drawing(wizard.generate_probe("grid", 40, columns=20), set())
    assert dense.label_step == 4


def test_probe_messages_say_why(headerless):
    state, _ = validated(headerless[0]), None
    assert wizard_state.probe_messages(state, None)[0][1] == "warn"
    assert wizard_state.probe_messages(state, None, "bad file") == [("bad file", "error")]
    state.set_probe(wizard.generate_probe("linear", 32), None, dirty=True)
    check = wizard.check_probe(state.probe, 12)
    assert wizard_state.probe_messages(state, check) == [(check.error, "error")]
    state.set_probe(wizard.generate_probe("linear", 12), None, dirty=True)
    text, level = wizard_state.probe_messages(state, wizard.check_probe(state.probe, 12))[0]
    assert level == "ok" and "12 channels in 1 group(s)" in text and "headerless.prb on Finish" in text
    assert wizard_state.probe_target_text(state)[0].endswith("headerless.prb (written on Finish)")


def test_copy_cost_and_params_preview(headerless, tmp_path):
    state, _ = validated(headerless[0]), None
    text = state.render(None)
    cost, level = wizard_state.copy_cost(state, text, True)
    assert level == "" and "288 kB (6,000 samples x 12 channels x 4 bytes, float32)" in cost
    assert wizard_state.copy_cost(state, text, False)[1] == "error"
    target = tmp_path / "headerless.params"
    new = wizard_state.params_preview(str(target), text)
    assert (new.heading, new.text, new.is_diff) == ("New file headerless.params:", text, False)
    target.write_text(text, encoding="utf-8")
    assert wizard_state.params_preview(str(target), text).heading == "Identical to the existing file."
    changed = wizard_state.params_preview(str(target), text.replace("30000", "25000"))
    assert changed.is_diff and "-sampling_rate" in changed.text and "+sampling_rate" in changed.text
    assert wizard_state.can_write_to(str(target)) and not wizard_state.can_write_to(str(tmp_path / "x" / "y"))


def test_the_preview_reads_the_validated_file_and_closes_it(headerless):
    state, raw = headerless
    validated(state)
    recording, source = wizard_state.open_preview(state)
    try:
        assert recording.nb_channels == 12 and source.datafile is state.validation.datafile
        np.testing.assert_array_equal(source.chunk(0)[:, :10], raw[:10].T.astype(np.float32))
        assert "12 channels × int16" in wizard_state.preview_summary(state, recording)
    finally:
        wizard_state.close_preview(source)


def test_field_text_and_dtype_names():
    assert wizard_state.field_text(30000.0) == "30000" and wizard_state.field_text(0.195) == "0.195"
    assert wizard_state.dtype_name(np.int16) == "int16" and wizard_state.dtype_name("auto") == "auto"
    assert wizard_state.failed_validation(ValueError("x")).error == "ValueError: x"
