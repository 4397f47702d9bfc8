"""`wavescope params`: a complete params file, or exit 2 with the fields still missing."""

from __future__ import annotations

import configparser

import numpy as np
import pytest

from app.cli import EXIT_MISSING_FIELDS, main
from app.io import open_datafile
from app.io.params import SECTIONS
from tests.conftest import synthetic_int16

FIELDS = ["--set", "data_dtype=int16", "--set", "nb_channels=5", "--set", "sampling_rate=25000.0",
          "--set", "gain=0.25"]


def test_params_with_every_field_writes_a_file_that_reopens_the_same_samples(make_raw, tmp_path, capsys):
    data = synthetic_int16(2000, 5, seed=7)
    path = make_raw("rec.dat", data)
    probe = tmp_path / "probe.prb"
    probe.write_text("total_nb_channels = 5\nradius = 100\n"
                     "channel_groups = {0: {'channels': list(range(5)), 'graph': [],"
                     " 'geometry': {i: (0, 20 * i) for i in range(5)}}}\n")
    assert main(["params", path, "--format", "raw_binary", "--probe", str(probe), *FIELDS]) == 0
    params_path = tmp_path / "rec.params"
    assert f"wrote {params_path}" in capsys.readouterr().out

    parser = configparser.ConfigParser()
    parser.read(params_path)
    assert parser.sections() == SECTIONS
    data_section = {key: value.split("#")[0].strip() for key, value in parser.items("data")}
    assert data_section["file_format"] == "raw_binary"
    assert data_section["sampling_rate"] == "25000"
    assert data_section["stream_mode"] == "None"
    assert data_section["mapping"] == str(probe)

    with open_datafile(str(params_path)) as reopened:
        assert (reopened.nb_channels, reopened.sampling_rate, reopened.gain) == (5, 25000.0, 0.25)
        samples = reopened.read_range(0, 2000)
    np.testing.assert_array_equal(samples, data.astype(np.float32) * np.float32(0.25))


def test_params_with_fields_missing_exits_3_and_lists_them_with_types(make_raw, tmp_path, capsys):
    path = make_raw("rec.dat", synthetic_int16(100, 2))
    status = main(["params", path, "--format", "raw_binary", "--set", "nb_channels=2"])
    assert status == EXIT_MISSING_FIELDS == 3
    err = capsys.readouterr().err
    assert "data_dtype (string)" in err and "sampling_rate (float)" in err
    assert "nb_channels (" not in err
    assert not (tmp_path / "rec.params").exists()


def test_running_twice_keeps_a_backup_and_edits_in_place(make_raw, tmp_path, capsys):
    path = make_raw("rec.dat", synthetic_int16(100, 5))
    params_path = tmp_path / "rec.params"
    assert main(["params", path, "--format", "raw_binary", *FIELDS]) == 0
    first = params_path.read_text()
    capsys.readouterr()
    # Editing the params file itself: its own values stay, --set overrides one.
    assert main(["params", str(params_path), "--set", "sampling_rate=30000"]) == 0
    out = capsys.readouterr().out
    backup = tmp_path / "rec.params.bak"
    assert f"kept the previous file as {backup}" in out
    assert backup.read_text() == first
    with open_datafile(str(params_path)) as reopened:
        assert (reopened.sampling_rate, reopened.nb_channels, reopened.gain) == (30000.0, 5, 0.25)


def test_output_elsewhere_is_written_with_a_note(make_raw, tmp_path, capsys):
    path = make_raw("rec.dat", synthetic_int16(100, 5))
    out = tmp_path / "other" / "x.params"
    out.parent.mkdir()
    assert main(["params", path, "--format", "raw_binary", "-o", str(out), *FIELDS]) == 0
    assert out.exists() and not (tmp_path / "rec.params").exists()
    assert "rec.params beside the data" in capsys.readouterr().err


def test_a_missing_probe_file_is_an_error(make_raw, tmp_path, capsys):
    path = make_raw("rec.dat", synthetic_int16(100, 5))
    status = main(["params", path, "--format", "raw_binary", "--probe", str(tmp_path / "no.prb"), *FIELDS])
    assert status == 1
    assert "no.prb: no such probe file" in capsys.readouterr().err


def test_a_probe_that_does_not_fit_the_recording_writes_nothing(make_raw, tmp_path, capsys):
    pytest.importorskip("app.io.probe", reason="the probe reader is not installed")
    path = make_raw("rec.dat", synthetic_int16(100, 5))
    probe = tmp_path / "big.prb"
    probe.write_text("total_nb_channels = 8\nradius = 50\n"
                     "channel_groups = {0: {'channels': [0, 7], 'graph': [],"
                     " 'geometry': {0: (0, 0), 7: (0, 20)}}}\n")
    status = main(["params", path, "--format", "raw_binary", "--probe", str(probe), *FIELDS])
    assert status == 1
    assert "big.prb" in capsys.readouterr().err
    assert not (tmp_path / "rec.params").exists()


def test_running_params_again_keeps_hand_tuned_values_and_bounds_the_backups(make_raw, tmp_path, capsys):
    path = make_raw("rec.dat", synthetic_int16(100, 5))
    params_path = tmp_path / "rec.params"
    assert main(["params", path, "--format", "raw_binary", *FIELDS]) == 0
    text = params_path.read_text()
    assert "overwrite      = False" in text and f"file_name      = {path}" in text
    params_path.write_text(text.replace("spike_thresh   = 6", "spike_thresh   = 9")
                           .replace("overwrite      = False", "overwrite      = True"))
    for rate in range(20001, 20009):                     # eight rewrites, each a real change
        assert main(["params", path, "--format", "raw_binary", *FIELDS, "--set", f"sampling_rate={rate}"]) == 0
    parser = configparser.ConfigParser()
    parser.read(params_path)
    value = lambda section, key: parser.get(section, key).split("#")[0].strip()  # noqa: E731
    assert value("detection", "spike_thresh") == "9" and value("data", "overwrite") == "True"
    assert value("data", "sampling_rate") == "20008"
    backups = sorted(p.name for p in tmp_path.iterdir() if ".params.bak" in p.name)
    assert backups == ["rec.params.bak", "rec.params.bak.1", "rec.params.bak.2", "rec.params.bak.3",
                       "rec.params.bak.4"]
    capsys.readouterr()


def test_params_names_and_writes_the_file_as_the_wizard_does(make_raw, tmp_path, capsys):
    """One rule for where the .params goes and what it says: the wizard model's."""
    from app.model.wizard import default_params_path, render_params
    path = make_raw("rec.dat", synthetic_int16(1000, 5, seed=3))
    assert main(["params", path, "--format", "raw_binary", *FIELDS]) == 0
    written = default_params_path(path)
    assert written == tmp_path / "rec.params" and f"wrote {written}" in capsys.readouterr().out
    datafile = open_datafile(path, {"data_dtype": "int16", "nb_channels": "5", "sampling_rate": "25000.0",
                                    "gain": "0.25"}, "raw_binary")
    expected = render_params(datafile.get_description(), data_file=datafile.file_name)
    assert written.read_text(encoding="utf-8") == expected
