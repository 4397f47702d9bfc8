"""The params file model: lossless round trips, in-place edits, clear errors, safe writes."""

from __future__ import annotations

import configparser
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.io import open_datafile
from app.io.errors import ParamsError
from app.io.params import (
    KEEP_BACKUPS,
    SECTIONS,
    TEMPLATE_PATH,
    ParamsFile,
    backup_names,
    datafile_settings,
    format_value,
    in_place_edits,
    read_params,
    write_params,
)
from tests.conftest import synthetic_int16

SAMPLE = """# a note before any section
[data]
file_format    = raw_binary   # the reader
sampling_rate  = 20000        # Hz
nb_channels    = 4
mapping        =              # probe path

; another style of comment
[detection]
N_t            = 3            # ms
"""


def independent_reading(text: str) -> dict[str, dict[str, str]]:
    """How SpyKING CIRCUS reads a params file: configparser, then drop everything after '#'."""
    parser = configparser.ConfigParser()
    parser.read_string(text)
    return {section: {key: value.split("#")[0].strip() for key, value in parser.items(section)}
            for section in parser.sections()}


def test_template_has_every_section_and_round_trips_unchanged():
    template = ParamsFile.from_template()
    original = TEMPLATE_PATH.read_text(encoding="utf-8")
    assert template.text() == original
    assert template.sections() == SECTIONS
    expected = independent_reading(original)
    ours = {section: {key.lower(): value for key, value in keys.items()}
            for section, keys in template.as_dict().items()}
    assert ours == expected
    assert template.get("data", "stream_mode") == "None"
    assert template.get("data", "chunk_size") == "30"
    assert template.get("detection", "n_t") == "3"
    assert template.get("filtering", "cut_off") == "300, auto"


def test_template_holds_the_keys_spyking_circus_needs_without_a_default():
    # These have no fallback in SpyKING CIRCUS's parser: it stops when one is absent.
    template = ParamsFile.from_template()
    for section, key in [("filtering", "cut_off"), ("filtering", "filter"), ("whitening", "nb_elts"),
                         ("whitening", "max_elts"), ("whitening", "output_dim"), ("whitening", "spatial"),
                         ("clustering", "nb_elts"), ("clustering", "max_elts"), ("fitting", "amp_limits"),
                         ("extracting", "noise_thr"), ("extracting", "output_dim"), ("data", "suffix"),
                         ("data", "mapping"), ("data", "file_format")]:
        assert template.get(section, key) is not None, (section, key)


def test_round_trip_of_a_written_file_keeps_comments_and_order(tmp_path):
    path = tmp_path / "rec.params"
    path.write_text(SAMPLE)
    params = read_params(path)
    assert params.text() == SAMPLE
    assert params.sections() == ["data", "detection"]
    assert params.keys("data") == ["file_format", "sampling_rate", "nb_channels", "mapping"]
    assert params.get("data", "file_format") == "raw_binary"
    assert params.get("data", "mapping") == ""
    assert params.get("data", "missing", "fallback") == "fallback"
    assert params.as_dict() == {
        "data": {"file_format": "raw_binary", "sampling_rate": "20000", "nb_channels": "4", "mapping": ""},
        "detection": {"N_t": "3"}}


def test_set_keeps_the_inline_comment_in_its_column():
    params = ParamsFile.from_text(SAMPLE)
    params.set("data", "sampling_rate", 30000.0)
    params.set("data", "mapping", "/p/a.prb")
    lines = params.text().splitlines()
    rate = next(line for line in lines if line.startswith("sampling_rate"))
    assert rate == "sampling_rate  = 30000        # Hz"
    mapping = next(line for line in lines if line.startswith("mapping"))
    assert mapping.endswith("# probe path")
    assert mapping.index("#") == SAMPLE.splitlines()[5].index("#")
    assert independent_reading(params.text())["data"]["mapping"] == "/p/a.prb"
    assert sum(1 for line in lines if line.strip()) == sum(1 for line in SAMPLE.splitlines() if line.strip())


def test_set_appends_new_keys_to_their_section_and_creates_sections():
    params = ParamsFile.from_text(SAMPLE)
    params.set("data", "data_dtype", "int16")
    params.set("Data_extra", "flag", True)
    params.set("DETECTION", "x", 1)          # sections are case-sensitive, as in configparser
    assert params.keys("data")[-1] == "data_dtype"
    text = params.text()
    assert text.index("data_dtype") < text.index("[detection]")
    reread = independent_reading(text)
    assert reread["data"]["data_dtype"] == "int16"
    assert reread["Data_extra"] == {"flag": "True"}
    assert params.sections() == ["data", "detection", "Data_extra", "DETECTION"]


def test_keys_match_without_regard_to_case_like_configparser():
    params = ParamsFile.from_text(SAMPLE)
    params.set("detection", "n_t", 5)
    assert params.keys("detection") == ["N_t"]
    assert params.get("detection", "N_T") == "5"


def test_values_spyking_circus_would_cut_are_refused():
    params = ParamsFile.from_text(SAMPLE)
    with pytest.raises(ParamsError, match="'#'"):
        params.set("data", "mapping", "/probes/#1.prb")


@pytest.mark.parametrize("value, text", [(30000.0, "30000"), (0.195, "0.195"), (1e-15, "1e-15"),
                                         (np.float32(0.5), "0.5"), (np.int64(16), "16"), (True, "True"),
                                         (None, ""), ("int16", "int16"), (float("inf"), "inf")])
def test_format_value_writes_numbers_without_noise(value, text):
    assert format_value(value) == text


@pytest.mark.parametrize("text, line, fix", [
    ("sampling_rate = 20000\n[data]\n", 1, "before any [section]"),
    ("[data]\nfile_format = raw_binary\nnb_channels 4\n", 3, "key = value"),
    ("[data]\n= 4\n", 2, "without a key"),
    ("[data\nx = 1\n", 1, "malformed section"),
    ("[data]\nx = 1\nX = 2\n", 3, "set twice"),
    ("[data]\n[detection]\n[data]\n", 3, "appears twice"),
])
def test_malformed_files_name_the_file_and_line(tmp_path, text, line, fix):
    path = tmp_path / "bad.params"
    path.write_text(text)
    with pytest.raises(ParamsError) as caught:
        ParamsFile.read(path)
    message = str(caught.value)
    assert str(path) in message and f"line {line}" in message and fix in message
    assert caught.value.file_name == str(path)


def test_missing_and_binary_files_are_params_errors(tmp_path):
    with pytest.raises(ParamsError, match="no such params file"):
        ParamsFile.read(tmp_path / "nope.params")
    binary = tmp_path / "binary.params"
    binary.write_bytes(b"\xff\xfe\x00\x81[data]")
    with pytest.raises(ParamsError, match="UTF-8"):
        ParamsFile.read(binary)


def test_crlf_files_keep_their_line_endings(tmp_path):
    path = tmp_path / "dos.params"
    path.write_bytes(SAMPLE.replace("\n", "\r\n").encode())
    params = ParamsFile.read(path)
    params.set("data", "nb_channels", 8)
    params.write(path)
    raw = path.read_bytes()
    assert raw.count(b"\r\n") == SAMPLE.count("\n") and b"\r\r" not in raw
    assert b"nb_channels    = 8\r\n" in raw


def test_write_is_atomic_and_keeps_the_newest_backups(tmp_path):
    path = tmp_path / "rec.params"
    assert ParamsFile.from_text(SAMPLE).write(path) is None
    first = path.read_text()
    second = ParamsFile.from_text(SAMPLE)
    second.set("data", "nb_channels", 8)
    backup = second.write(path)
    assert backup == tmp_path / "rec.params.bak"
    assert backup.read_text() == first
    assert read_params(path).get("data", "nb_channels") == "8"
    third = ParamsFile.from_text(SAMPLE)
    third.set("data", "nb_channels", 12)
    assert third.write(path) == tmp_path / "rec.params.bak"          # the newest backup
    assert read_params(tmp_path / "rec.params.bak").get("data", "nb_channels") == "8"
    assert (tmp_path / "rec.params.bak.1").read_text() == first       # the one before, one step older
    assert third.write(path) is None                                  # same text: no write, no backup
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_backups_are_bounded_to_the_newest_ones(tmp_path):
    path = tmp_path / "rec.params"
    (tmp_path / "rec.params.bak.9").write_text("from an older numbering")
    for channels in range(1, 13):
        params = ParamsFile.from_text(SAMPLE)
        params.set("data", "nb_channels", channels)
        params.write(path)
    backups = sorted(p.name for p in tmp_path.iterdir() if ".bak" in p.name)
    assert backups == ["rec.params.bak"] + [f"rec.params.bak.{n}" for n in range(1, KEEP_BACKUPS)]
    assert KEEP_BACKUPS == 5
    kept = [read_params(p).get("data", "nb_channels") for p in backup_names(path)]
    assert kept == ["11", "10", "9", "8", "7"]                         # newest first, oldest removed
    assert read_params(path).get("data", "nb_channels") == "12"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "rec.params"
    path.write_text(SAMPLE)

    def refuse(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        ParamsFile.from_text(SAMPLE.replace("20000", "1")).write(path)
    monkeypatch.undo()
    assert path.read_text() == SAMPLE
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_write_keeps_the_permissions_of_the_file_it_replaces(tmp_path):
    path = tmp_path / "rec.params"
    path.write_text(SAMPLE)
    os.chmod(path, 0o640)
    ParamsFile.from_text(SAMPLE).write(path)
    assert path.stat().st_mode & 0o777 == 0o640


# -- params <-> recordings --------------------------------------------------------------------------
@pytest.fixture
def recording(make_raw):
    data = synthetic_int16(3000, 6, seed=3)
    return make_raw("rec.dat", data, header=b"\x00" * 16), data


def description_for(data_file: str) -> dict:
    return {"file_format": "raw_binary", "stream_mode": None, "nb_channels": 6, "sampling_rate": 20000.0,
            "data_dtype": "int16", "dtype_offset": 0, "gain": 0.5, "data_offset": 16}


def test_write_params_then_datafile_settings(recording, tmp_path):
    data_file, _ = recording
    out = tmp_path / "rec.params"
    probe = tmp_path / "probe.prb"
    probe.write_text("total_nb_channels = 6\n")
    assert write_params(out, description_for(data_file), probe=str(probe)) is None
    reread = independent_reading(out.read_text())
    assert reread["data"]["sampling_rate"] == "20000"
    assert reread["data"]["stream_mode"] == "None"
    assert reread["data"]["mapping"] == str(probe.resolve())
    assert set(reread) == set(SECTIONS)
    found, settings = datafile_settings(out)
    assert found == data_file
    assert settings == {"file_format": "raw_binary", "stream_mode": "None", "nb_channels": "6",
                        "sampling_rate": "20000", "data_dtype": "int16", "dtype_offset": "0", "gain": "0.5",
                        "data_offset": "16"}


def test_write_params_from_a_base_keeps_its_other_sections_and_drops_stale_fields(recording, tmp_path):
    data_file, _ = recording
    base = tmp_path / "base.params"
    base.write_text(SAMPLE.replace("[data]", "[data]\nh5_key = /old  # from another format")
                    .replace("N_t            = 3", "N_t            = 7"))
    out = tmp_path / "rec.params"
    write_params(out, description_for(data_file), base=str(base))
    params = read_params(out)
    assert params.get("detection", "N_t") == "7"
    assert params.get("data", "h5_key") is None
    assert params.get("data", "mapping") == ""
    assert "# the reader" in out.read_text()


def test_without_file_name_the_data_file_is_the_one_spyking_circus_pairs_it_with(tmp_path):
    (tmp_path / "rec.params").write_text("[data]\nfile_format = raw_binary\n")
    (tmp_path / "rec.dat").write_bytes(b"x" * 10)
    for other in ("rec.meta", "rec.h5", "rec.npy", "rec.mda"):       # larger, other formats' names
        (tmp_path / other).write_bytes(b"x" * 1000)
    (tmp_path / "rec.prb").write_text("total_nb_channels = 1\n")
    (tmp_path / "rec").mkdir()                        # the sorter's output folder
    assert datafile_settings(tmp_path / "rec.params")[0] == str(tmp_path / "rec.dat")
    (tmp_path / "rec.params").write_text("[data]\nfile_format = hdf5\n")
    assert datafile_settings(tmp_path / "rec.params")[0] == str(tmp_path / "rec.h5")


def test_several_matching_files_is_an_error_that_names_them_and_the_fix(tmp_path):
    (tmp_path / "rec.params").write_text("[data]\nfile_format = raw_binary\n")
    (tmp_path / "rec.dat").write_bytes(b"x" * 10)
    (tmp_path / "rec.bin").write_bytes(b"x" * 9999)
    with pytest.raises(ParamsError) as caught:
        datafile_settings(tmp_path / "rec.params")
    message = str(caught.value)
    assert "several recordings match (rec.bin, rec.dat)" in message
    assert "set file_name = " in message and "[data]" in message and "rec.params" in message


def test_datafile_settings_errors_say_what_was_looked_for(tmp_path):
    params = tmp_path / "lonely.params"
    params.write_text("[data]\nfile_format = raw_binary\n")
    with pytest.raises(ParamsError, match=r"no lonely\{\.dat,\.bin,\.raw\} beside it.*found beside it: "
                                          r"nothing.*Fix: set file_name"):
        datafile_settings(params)
    (tmp_path / "lonely.h5").write_bytes(b"x")
    with pytest.raises(ParamsError, match=r"found beside it: lonely\.h5\."):
        datafile_settings(params)
    params.write_text("[data]\nfile_format = no_such_format\n")
    with pytest.raises(ParamsError, match=r"file_format is no_such_format.*Fix: set file_name"):
        datafile_settings(params)
    params.write_text("[detection]\nN_t = 3\n")
    with pytest.raises(ParamsError, match=r"no \[data\] section"):
        datafile_settings(params)


def test_an_explicit_file_name_is_exactly_that_file_or_an_error(recording, tmp_path):
    data_file, _ = recording
    (tmp_path / "rec.bin").write_bytes(b"x" * 9999)    # would be ambiguous by name: file_name decides
    params = tmp_path / "rec.params"
    params.write_text(f"[data]\nfile_format = raw_binary\nfile_name = {data_file}\n")
    assert datafile_settings(params)[0] == data_file
    params.write_text("[data]\nfile_format = raw_binary\nfile_name = gone.dat\n")
    with pytest.raises(ParamsError, match=r"file_name = gone\.dat names .*gone\.dat, which does not exist; "
                                          r"fix file_name"):
        datafile_settings(params)


def test_write_params_names_its_data_file_and_drops_a_file_name_it_did_not_get(recording, tmp_path):
    data_file, _ = recording
    out = tmp_path / "rec.params"
    write_params(out, description_for(data_file), data_file=data_file)
    assert read_params(out).get("data", "file_name") == data_file
    assert out.read_text().count("file_name") == 1
    (tmp_path / "rec.bin").write_bytes(b"x" * 9999)
    assert datafile_settings(out)[0] == data_file
    other = tmp_path / "other.params"
    write_params(other, description_for(data_file), base=str(out))      # e.g. a converted copy
    assert read_params(other).get("data", "file_name") is None


def test_rewriting_keeps_every_tuned_value_and_changes_only_the_recordings_fields(recording, tmp_path):
    data_file, _ = recording
    out = tmp_path / "rec.params"
    write_params(out, description_for(data_file), data_file=data_file)
    tuned = read_params(out)
    tuned.set("detection", "spike_thresh", 9)
    tuned.set("data", "output_dir", "/results")
    tuned.set("data", "overwrite", True)
    tuned.set("extra", "mine", "kept")
    tuned.write(out)
    before = read_params(out).as_dict()
    backup = write_params(out, {**description_for(data_file), "sampling_rate": 30000.0},
                          data_file=data_file)
    after = read_params(out).as_dict()
    assert after["detection"]["spike_thresh"] == "9"
    assert after["data"]["output_dir"] == "/results" and after["data"]["overwrite"] == "True"
    assert after["extra"] == {"mine": "kept"}
    changed = {(section, key) for section in after for key in after[section]
               if before.get(section, {}).get(key) != after[section][key]}
    assert changed == {("data", "sampling_rate")}
    assert read_params(backup).get("data", "sampling_rate") == "20000"


def test_in_place_edits_say_what_the_filtering_step_would_write_into_the_recording():
    template = ParamsFile.from_template()
    assert template.get("data", "overwrite") == "False" and in_place_edits(template) == []
    template.set("data", "overwrite", "True")
    assert in_place_edits(template) == ["band-pass filter"]
    template.set("filtering", "remove_median", "yes")
    template.set("filtering", "common_ground", "{1: 3}")
    template.set("triggers", "clean_artefact", "on")
    assert in_place_edits(template) == ["band-pass filter", "median removal", "common ground removal",
                                        "artefact removal"]
    template.set("noedits", "filter_done", "True")                  # the sorter skips what is done
    template.set("noedits", "median_done", "Started")               # interrupted: it is not done
    assert in_place_edits(template) == ["median removal", "common ground removal", "artefact removal"]
    bare = ParamsFile.from_text("[data]\nfile_format = raw_binary\n")
    assert in_place_edits(bare) == ["band-pass filter"]            # SpyKING CIRCUS's own defaults
    bare.set("filtering", "filter", "False")
    assert in_place_edits(bare) == []


def test_datafile_settings_follows_an_explicit_file_name(recording, tmp_path):
    data_file, _ = recording
    other = tmp_path / "elsewhere.params"
    other.write_text("[data]\nfile_format = raw_binary\nfile_name = rec.dat\n")
    found, settings = datafile_settings(other)
    assert found == data_file and "file_name" not in settings


def test_open_datafile_reads_a_params_file(recording, tmp_path):
    data_file, data = recording
    write_params(tmp_path / "rec.params", description_for(data_file))
    datafile = open_datafile(str(tmp_path / "rec.params"))
    assert datafile.file_name == data_file
    assert (datafile.nb_channels, datafile.sampling_rate, datafile.data_offset) == (6, 20000.0, 16)
    assert datafile.duration == 3000
    with datafile:
        chunk = datafile.read_range(100, 400)
    np.testing.assert_array_equal(chunk, data[100:400].astype(np.float32) * 0.5)


# -- property: our reading always agrees with SpyKING CIRCUS's --------------------------------------

_names = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
_values = st.from_regex(r"[A-Za-z0-9_.,/() -]{0,20}", fullmatch=True).map(str.strip)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["data", "detection", "extra"]), _names, _values), max_size=12))
def test_any_sequence_of_sets_reads_back_the_same_through_configparser(edits):
    params = ParamsFile.from_template()
    expected = {section: {key.lower(): value for key, value in keys.items()}
                for section, keys in params.as_dict().items()}
    for section, key, value in edits:
        params.set(section, key, value)
        expected.setdefault(section, {})[key.lower()] = value
    assert independent_reading(params.text()) == expected
    assert ParamsFile.from_text(params.text()).text() == params.text()
