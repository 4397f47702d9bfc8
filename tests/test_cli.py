"""The command line, run in-process through app.cli.main."""

import json

import numpy as np

from app import exitcodes
from app.cli import EXIT_MISSING_FIELDS, main
from tests.conftest import synthetic_int16

SETS = ["--set", "nb_channels=8", "--set", "data_dtype=int16", "--set", "sampling_rate=20000"]


def test_formats_json_lists_fields(capsys):
    assert main(["formats", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    raw = rows["raw_binary"]
    assert raw["write"] and raw["parallel_write"] and "multi-files" in raw["stream_modes"]
    assert raw["required_fields"] == {"data_dtype": "string", "sampling_rate": "float", "nb_channels": "int"}
    assert raw["defaults"]["data_offset"] == 0


def test_formats_table(capsys):
    assert main(["formats"]) == 0
    assert "raw_binary" in capsys.readouterr().out


def test_info_text_and_sources(make_raw, capsys):
    path = make_raw("rec.dat", synthetic_int16(40000, 8))
    assert main(["info", path, "--format", "raw_binary"] + SETS) == 0
    out = capsys.readouterr().out
    assert "40000 samples = 2.000 s" in out
    assert "nb_channels   8" in out and "from params" in out and "gain          1.0            from default" in out


def test_info_json(make_raw, capsys):
    path = make_raw("rec.dat", synthetic_int16(1000, 8))
    assert main(["info", path, "--format", "raw_binary", "--json"] + SETS) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["duration"] == 1000 and info["nb_channels"] == 8 and info["data_dtype"] == "int16"
    assert set(info["from_params"]) >= {"nb_channels", "data_dtype", "sampling_rate"}


def test_info_missing_fields_exit_2(make_raw, capsys):
    path = make_raw("rec.dat", synthetic_int16(100, 8))
    assert main(["info", path, "--format", "raw_binary", "--json", "--set", "nb_channels=8"]) == EXIT_MISSING_FIELDS
    assert json.loads(capsys.readouterr().out)["missing"] == {"data_dtype": "string", "sampling_rate": "float"}
    assert main(["info", path, "--format", "raw_binary"]) == EXIT_MISSING_FIELDS
    err = capsys.readouterr().err
    assert "sampling_rate (float)" in err and "nb_channels (int)" in err


def test_info_bad_values_are_one_clear_line(make_raw, capsys):
    path = make_raw("rec.dat", synthetic_int16(101, 6))
    assert main(["info", path, "--format", "raw_binary"] + SETS) == 1
    err = capsys.readouterr().err
    assert err.startswith("wavescope: ") and "rec.dat" in err and "nb_channels=6" in err
    assert "Traceback" not in err


def test_info_missing_file(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope.dat")] + SETS) == 1
    assert "nope.dat" in capsys.readouterr().err


def test_check_format_report(make_raw, capsys):
    path = make_raw("rec.dat", synthetic_int16(3000, 8))
    assert main(["check-format", path, "--format", "raw_binary"] + SETS) == 0
    out = capsys.readouterr().out
    assert "[PASS] chunked reads equal one whole read" in out and " 0 failed" in out


def test_check_format_reports_a_broken_wrapper(tmp_path, monkeypatch, capsys):
    """A wrapper that applies its gain twice fails the kit, with the check named."""
    folder = tmp_path / "formats"
    folder.mkdir()
    (folder / "twice.py").write_text(
        "from app.io.formats.raw_binary import RawBinaryFile\n"
        "class Twice(RawBinaryFile):\n"
        "    description = 'twice'\n"
        "    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):\n"
        "        return super().read_chunk(idx, chunk_size, padding, nodes) * self.gain\n")
    monkeypatch.setenv("WAVESCOPE_FORMATS_PATH", str(folder))
    from app.io.registry import supported_formats
    supported_formats(reload=True)
    try:
        data = (synthetic_int16(2000, 8) // 3).astype(np.int16)
        path = tmp_path / "rec.dat"
        data.tofile(path)
        assert main(["check-format", str(path), "--format", "twice", "--set", "gain=0.3"] + SETS) == 1
        assert "[FAIL] gain and dtype_offset applied once" in capsys.readouterr().out
    finally:
        monkeypatch.delenv("WAVESCOPE_FORMATS_PATH")
        supported_formats(reload=True)


def test_demo_info_only(tmp_path, capsys):
    assert main(["demo", "--info-only", "--folder", str(tmp_path)]) == 0
    first = capsys.readouterr()
    assert "nb_streams    2" in first.out and "duration      3600000" in first.out
    assert (tmp_path / "demo_1.dat").stat().st_size == 60 * 30000 * 64 * 2
    assert "writing the demo recording" in first.err
    assert main(["demo", "--info-only", "--folder", str(tmp_path)]) == 0
    again = capsys.readouterr()  # the demo is already there: nothing is written, nothing said
    assert "writing the demo recording" not in again.err and "nb_streams    2" in again.out


def test_wrong_extension_says_what_it_suggests(tmp_path, capsys):
    path = tmp_path / "session.nwb"
    path.write_text("this is a text file, not NWB")
    assert main(["info", str(path)]) == exitcodes.DAMAGED      # damaged, not "missing fields" of raw_binary
    err = capsys.readouterr().err
    assert "session.nwb" in err and "damaged" in err and "extension says nwb" in err and "not HDF5" in err
    assert "missing" not in err
    assert main(["info", str(path), "--format", "nwb"]) == exitcodes.DAMAGED     # "not HDF5 or truncated"
    err = capsys.readouterr().err
    assert "session.nwb" in err and "not HDF5" in err and "Traceback" not in err


def test_bench_traces_json_last_line(make_raw, capsys):
    path = make_raw("rec.dat", synthetic_int16(60000, 8))
    assert main(["bench", "traces", path, "--format", "raw_binary", "--window", "0.5", "--width", "640",
                 "--height", "360", "--json"] + SETS) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result) == {"window_s", "median_ms", "p95_ms", "frames"}
    assert result["window_s"] == 0.5 and result["frames"] > 10 and 0 < result["median_ms"] <= result["p95_ms"]
