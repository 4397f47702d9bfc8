"""Exit statuses and --json errors of real `python -m app ...` runs (app/exitcodes.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app import exitcodes

ROOT = Path(__file__).resolve().parents[1]
RAW = ["--format", "raw_binary", "--set", "nb_channels=4", "--set", "data_dtype=int16"]


def run(*argv, cwd=None, env=None) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "app", *map(str, argv)], capture_output=True, text=True,
                          cwd=cwd, env=environ, timeout=120)


def json_error(done: subprocess.CompletedProcess) -> dict:
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    return json.loads(lines[0])


@pytest.fixture
def raw(tmp_path) -> Path:
    path = tmp_path / "rec.dat"
    np.arange(4000, dtype=np.int16).tofile(path)
    return path


def test_ok_is_0_and_help_lists_every_status(raw):
    assert run("info", raw, *RAW, "--set", "sampling_rate=1000").returncode == exitcodes.OK
    helped = run("--help")
    assert helped.returncode == 0
    for status in (exitcodes.DATA_ERROR, exitcodes.USAGE, exitcodes.MISSING_FIELDS, exitcodes.DAMAGED,
                   exitcodes.UNAVAILABLE, exitcodes.INTERNAL, exitcodes.INTERRUPTED, exitcodes.BROKEN_PIPE):
        assert f"\n  {status} " in helped.stdout


def test_readme_table_matches_the_code():
    readme = (ROOT / "README.md").read_text()
    for line in exitcodes.TABLE.splitlines()[1:10]:
        status, meaning = line.split(None, 1)
        assert f"| {status} | " in readme, f"README lacks exit status {status} ({meaning})"


def test_missing_fields_is_3_with_the_old_json_shape_and_an_error(raw):
    done = run("info", raw, "--format", "raw_binary", "--set", "nb_channels=4", "--json")
    assert done.returncode == exitcodes.MISSING_FIELDS == 3
    answer = json_error(done)
    assert answer["missing"] == {"data_dtype": "string", "sampling_rate": "float"}
    assert answer["file"] == str(raw) and answer["error"]["type"] == "MissingFieldsError"
    assert answer["error"]["status"] == 3 and answer["error"]["field"] in answer["missing"]
    text = run("info", raw, "--format", "raw_binary", "--set", "nb_channels=4")
    assert text.returncode == 3 and text.stdout == "" and "sampling_rate (float)" in text.stderr


def test_usage_errors_are_2_and_json_under_json(raw):
    done = run("info", "--json")                              # argparse: the file is required
    assert done.returncode == exitcodes.USAGE
    assert "required" in json_error(done)["error"]["message"]
    done = run("info", raw, "--set", "nb_channels", "--json")  # no '='
    assert done.returncode == 2 and json_error(done)["error"]["field"] == "--set"
    plain = run("info", raw, "--set", "nb_channels")
    assert plain.returncode == 2 and plain.stdout == "" and "KEY=VALUE" in plain.stderr


def test_data_errors_are_1_and_name_the_file(tmp_path):
    odd = tmp_path / "odd.dat"
    odd.write_bytes(b"\0" * 7)                                # not a whole sample of 4 int16 channels
    done = run("info", odd, *RAW, "--set", "sampling_rate=1000", "--json")
    assert done.returncode == exitcodes.DATA_ERROR
    error = json_error(done)["error"]
    assert error["file"] and "odd.dat" in error["message"] and "Traceback" not in done.stderr
    missing = run("events", "load", tmp_path / "nope.csv", "--json")
    assert missing.returncode == 1 and json_error(missing)["error"]["message"]


def test_truncated_header_is_4(tmp_path):
    sev = tmp_path / "cut_Wav1_Ch1.sev"
    sev.write_bytes(b"\0" * 10)                               # shorter than the 40-byte SEV header
    done = run("info", sev, "--format", "tdt", "--json")
    assert done.returncode == exitcodes.DAMAGED, done.stdout + done.stderr
    assert "truncated" in json_error(done)["error"]["message"]


def test_mistyped_command_suggests(tmp_path):
    done = run("fromats", cwd=tmp_path)
    assert done.returncode == 2 and "did you mean 'formats'" in done.stderr
    assert "no such file" not in done.stderr.lower()
    assert json_error(run("fromats", "--json", cwd=tmp_path))["error"]["field"] == "command"
    assert run("blurb", cwd=tmp_path).returncode == 2                  # no file, no command


def test_a_real_file_is_opened_even_when_named_like_a_typo(tmp_path, monkeypatch):
    from app.cli import _route, build_parser, command_names
    commands = command_names(build_parser())
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fromats").write_bytes(b"\0" * 64)
    assert _route(["fromats"], commands) == ["gui", "fromats"]
    assert _route(["rec.dat"], commands) == ["gui", "rec.dat"]     # not there: the browser says so
    assert _route(["formats", "--json"], commands) == ["formats", "--json"]


def test_mistyped_subcommand_choice_suggests():
    done = run("bench", "trace", "x.dat")
    assert done.returncode == 2 and "did you mean 'traces'" in done.stderr


def test_mistyped_format_and_set_key_suggest(raw):
    done = run("info", raw, "--format", "raw_binry", "--json")
    assert done.returncode == 2
    assert "did you mean 'raw_binary'" in json_error(done)["error"]["message"]
    done = run("info", raw, *RAW, "--set", "sampling_rat=1000", "--json")
    error = json_error(done)["error"]
    assert done.returncode == 2 and error["field"] == "sampling_rat" and "'sampling_rate'" in error["message"]
    convert = run("convert", raw, *RAW, "--set", "sampling_rate=1", "-o", raw.with_name("o.h5"),
                  "--to", "hdf55")
    assert convert.returncode == 2 and "did you mean 'hdf5'" in convert.stderr


def test_mistyped_params_keys_name_the_file_and_line(raw):
    params = raw.with_suffix(".params")
    params.write_text("[data]\nfile_format = raw_binary\nnb_channels = 4\ndata_dtype = int16\n"
                      "sampling_rat = 1000\n")
    done = run("info", params, "--json")
    error = json_error(done)["error"]
    assert done.returncode == exitcodes.DATA_ERROR
    assert (error["file"], error["field"], error["line"]) == (str(params), "sampling_rat", 5)
    assert "line 5" in error["message"] and "sampling_rate" in error["message"]
    params.write_text("[data]\nfile_format = raw_binry\n")
    done = run("info", params)
    assert done.returncode == 1 and "line 2" in done.stderr and "did you mean 'raw_binary'" in done.stderr


def test_unknown_keys_of_the_sorter_sections_only_warn_once(raw):
    params = raw.with_suffix(".params")
    params.write_text("[data]\nfile_format = raw_binary\nnb_channels = 4\ndata_dtype = int16\n"
                      "sampling_rate = 1000\n[detection]\nspike_thres = 6\n")
    done = run("info", params, "--json")
    assert done.returncode == 0
    assert json.loads(done.stdout)["nb_channels"] == 4                 # stdout stays pure JSON
    assert done.stderr.count("line 7") == 1 and "did you mean spike_thresh" in done.stderr


def test_a_reader_warning_is_printed_once_on_stderr(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "noisy_format.py").write_text(
        "from app.io.formats.raw_binary import RawBinaryFile\n"
        "from app.io.messages import print_and_log\n\n\n"
        "class NoisyFile(RawBinaryFile):\n"
        "    description = 'noisy'\n"
        "    extension = ['.noisy']\n\n"
        "    def _read_from_header(self):\n"
        "        print_and_log(f'{self.file_name}: something odd here', 'warning')\n"
        "        return super()._read_from_header()\n")
    data = tmp_path / "rec.noisy"
    np.zeros((100, 4), np.int16).tofile(data)
    done = run("info", data, "--format", "noisy", "--set", "nb_channels=4", "--set", "data_dtype=int16",
               "--set", "sampling_rate=1000", "--json", env={"WAVESCOPE_FORMATS_PATH": str(plugins)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["format"] == "noisy"
    assert done.stderr.count("something odd here") == 1


def test_a_closed_pipe_ends_quietly(tmp_path):
    child = subprocess.Popen([sys.executable, "-m", "app", "formats", "--json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    child.stdout.close()                                       # like `| head` exiting before the output
    _, err = child.communicate(timeout=120)
    assert child.returncode == exitcodes.BROKEN_PIPE
    assert b"BrokenPipeError" not in err and b"Traceback" not in err and b"Exception ignored" not in err


def test_jobs_and_events_modules_share_the_table(raw):
    done = subprocess.run([sys.executable, "-m", "app", "convert", raw, *RAW, "-o",
                           raw.with_name("out.dat"), "--progress", "json"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == exitcodes.MISSING_FIELDS
    assert json.loads(done.stdout.strip().splitlines()[-1])["missing"] == {"sampling_rate": "float"}
    events = subprocess.run([sys.executable, "-m", "app", "events", "list", raw, "--format", "raw_binry"],
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert events.returncode == exitcodes.USAGE and "did you mean 'raw_binary'" in events.stderr


def test_sort_with_the_sorter_missing_is_5_and_says_how_to_install(raw, tmp_path):
    assert run("params", raw, *RAW, "--set", "sampling_rate=1000").returncode == exitcodes.OK
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    done = run("sort", raw.with_suffix(".params"), env={"PATH": str(empty_path)})
    assert done.returncode == exitcodes.UNAVAILABLE, done.stderr
    assert "is not installed" in done.stderr and "Install it with" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_refused_in_place_sort_is_1_and_names_the_recording(raw):
    assert run("params", raw, *RAW, "--set", "sampling_rate=1000", "--set", "overwrite=True").returncode == 0
    done = run("sort", raw.with_suffix(".params"), "--steps", "filtering")
    assert done.returncode == exitcodes.DATA_ERROR, done.stdout + done.stderr
    assert "--allow-in-place" in done.stderr and str(raw) in done.stderr and "Traceback" not in done.stderr
