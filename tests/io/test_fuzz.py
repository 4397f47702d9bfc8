"""Damaged and hostile files: every outcome is a read or a typed error, never a builtin
exception, a hang or a dead process (the corpus and its runner are in fuzz_corpus.py)."""

from __future__ import annotations

import numpy as np
import pytest

from app import exitcodes
from app.cli import main
from app.io import DamagedFileError, DataFileError, HeaderError, open_datafile, supported_formats
from tests.io.fuzz_corpus import NOT_FUZZED, SEEDS, Case, build_corpus, run_corpus

# A true hang never ends; a damaged HDF5 file can make libhdf5 allocate and fill gigabytes
# for seconds before it fails, so the limit is generous.
TIMEOUT_S = 120


def test_every_builtin_format_has_a_seed():
    builtin = {name for name, klass in supported_formats().items() if klass.__module__.startswith("app.io.formats")}
    assert builtin - set(SEEDS) - set(NOT_FUZZED) == set()


def test_damaged_files_of_every_format_read_or_raise_typed_errors(tmp_path):
    cases = build_corpus(tmp_path, scale=1)
    assert len(cases) > 500
    report = run_corpus(cases, workers=2, timeout=TIMEOUT_S)
    print(f"{report.files} files: {dict(report.counts)}")
    assert report.bad == 0, "\n".join(report.failures[:40])
    # two attempts per case (with the format, sniffed); both outcomes occur
    assert sum(report.counts.values()) == 2 * len(cases)
    assert report.counts["read"] > 100 and report.counts["typed"] > 100


_HANG_AND_CRASH = '''
import os, signal, time
from app.io.datafile import DataFile

class Hangs(DataFile):
    description = "fuzz_hangs"
    def _read_from_header(self):
        while True:
            time.sleep(1)

class Crashes(DataFile):
    description = "fuzz_crashes"
    def _read_from_header(self):
        os.kill(os.getpid(), signal.SIGSEGV)
'''


def test_runner_counts_hangs_and_deaths_and_goes_on(tmp_path, monkeypatch):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "fuzz_bad.py").write_text(_HANG_AND_CRASH)
    monkeypatch.setenv("WAVESCOPE_FORMATS_PATH", str(plugins))
    data = tmp_path / "rec.dat"
    data.write_bytes(np.zeros((100, 2), np.int16).tobytes())
    good = {"nb_channels": 2, "data_dtype": "int16", "sampling_rate": 1000}
    cases = [Case("fuzz_hangs", str(data), {}, "hangs"), Case("fuzz_crashes", str(data), {}, "crashes"),
             Case("raw_binary", str(data), good, "fine")]
    report = run_corpus(cases, workers=1, timeout=3)
    assert report.counts["hang"] == 1 and report.counts["death"] == 1
    assert report.counts["read"] == 2            # the worker was replaced and read the last case twice
    assert report.bad == 2


def test_cut_sample_numbers_of_open_ephys_binary_is_typed(tmp_path):
    seed = SEEDS["openephys_binary"](tmp_path)
    numbers = next(tmp_path.rglob("sample_numbers.npy"))
    numbers.write_bytes(b"")
    with pytest.raises(DataFileError, match="sample_numbers.npy"):
        open_datafile(str(tmp_path / seed.entry))


def test_damaged_edf_says_damaged_and_why(tmp_path, capsys):
    seed = SEEDS["edf"](tmp_path)
    path = tmp_path / seed.entry
    damaged = bytearray(path.read_bytes())
    damaged[:8] = b"XXXXXXXX"                   # no longer sniffed as EDF: raw_binary would want fields
    path.write_bytes(bytes(damaged))
    with pytest.raises(DamagedFileError, match="damaged.*extension says edf.*XXXXXXXX"):
        open_datafile(str(path))
    assert main(["info", str(path)]) == exitcodes.DAMAGED
    err = capsys.readouterr().err
    assert "damaged" in err and "rec.edf" in err and "missing" not in err and "Traceback" not in err


@pytest.mark.parametrize("field, value, words", [
    ("nb_channels", "1e400", "nb_channels.*must be int"),
    ("nb_channels", "9" * 5000, "nb_channels.*5000 characters"),
    ("nb_channels", "0", "nb_channels = 0 is out of range.*from 1 to 65536"),
    ("nb_channels", "99999999999", "nb_channels = 99999999999 is out of range.*from 1 to 65536"),
    ("sampling_rate", "0", "sampling_rate = 0.0 is out of range.*above 0"),
    ("sampling_rate", "-30000", "sampling_rate = -30000.0 is out of range"),
    ("sampling_rate", "nan", "sampling_rate = nan is out of range"),
    ("sampling_rate", "inf", "sampling_rate = inf is out of range"),
    ("gain", "inf", "gain = inf is out of range.*finite number other than 0"),
    ("gain", "0", "gain = 0.0 is out of range"),
    ("dtype_offset", "nan", "dtype_offset = nan is out of range"),
    ("data_dtype", "object", "data_dtype 'object' is not a numeric sample type"),
])
def test_out_of_range_params_name_the_field(tmp_path, capsys, field, value, words):
    data = tmp_path / "rec.dat"
    data.write_bytes(np.zeros((100, 4), np.int16).tobytes())
    settings = {"nb_channels": "4", "data_dtype": "int16", "sampling_rate": "20000", field: value}
    with pytest.raises(HeaderError, match=words) as caught:
        open_datafile(str(data), settings, "raw_binary")
    assert str(data) in str(caught.value) and len(str(caught.value)) < 600
    sets = [f"--set={k}={v}" for k, v in settings.items()]
    for command in ("info", "params"):
        assert main([command, str(data), "--format", "raw_binary", *sets]) == 1
        assert field in capsys.readouterr().err
    assert not (tmp_path / "rec.params").exists()


def test_a_folder_where_a_file_is_expected(tmp_path):
    params = tmp_path / "root.params"
    params.write_text("[data]\nfile_format = raw_binary\nfile_name = /\nnb_channels = 4\n"
                      "data_dtype = int16\nsampling_rate = 20000\n")
    with pytest.raises(HeaderError, match="is a folder"):
        open_datafile(str(params))
