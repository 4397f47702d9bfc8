"""The conversion engine, one process: data, subsets, filter, safety of the output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import signal as sps

from app.io import DataFileError, open_datafile
from app.io.convert import (
    ConvertError,
    ConvertSpec,
    convert,
    filter_padding,
    highpass_sos,
    parse_channels,
    parse_filter,
)
from app.io.formats.raw_binary import RawBinaryFile
from app.io.registry import supported_formats
from tests.conftest import synthetic_int16

REPO = Path(__file__).resolve().parents[2]
RATE = 20000
PARAMS = {"data_dtype": "int16", "nb_channels": 8, "sampling_rate": RATE}


def _source(path, params=PARAMS, stream_mode=None):
    return open_datafile(str(path), dict(params), "raw_binary", stream_mode)


def _read_raw(path, dtype="int16", nb_channels=8) -> np.ndarray:
    return np.fromfile(path, dtype=dtype).reshape(-1, nb_channels)


def _leftovers(folder) -> list[str]:
    return [name for name in os.listdir(folder) if ".partial-" in name]


def test_int16_copy_is_byte_identical_with_params_file(make_raw, tmp_path):
    data = synthetic_int16(30000, 8)
    src = make_raw("rec.dat", data)
    out = tmp_path / "copy.dat"
    result = convert(_source(src, {**PARAMS, "gain": 0.195}), ConvertSpec(str(out), verify=True,
                                                                          chunk_seconds=0.1))
    assert out.read_bytes() == Path(src).read_bytes()
    assert result.nb_samples == 30000 and result.nb_channels == 8
    assert result.verified and result.max_difference <= 0.195 / 2 * 1.001
    if result.params_file:
        from app.io.params import datafile_settings
        data_file, settings = datafile_settings(result.params_file)
        assert os.path.samefile(data_file, out)
        assert float(settings["gain"]) == pytest.approx(0.195)
    assert not _leftovers(tmp_path)


@pytest.mark.parametrize("chunk_seconds", [0.0173, 0.25, 5.0])
def test_chunk_size_does_not_change_the_output(make_raw, tmp_path, chunk_seconds):
    data = synthetic_int16(12345, 8, seed=3)
    src = make_raw("rec.dat", data)
    out = tmp_path / f"out_{chunk_seconds}.dat"
    convert(_source(src), ConvertSpec(str(out), chunk_seconds=chunk_seconds, dtype="float32",
                                      write_params=False))
    np.testing.assert_array_equal(_read_raw(out, "float32"), data.astype(np.float32))


def test_channels_start_stop_subset(make_raw, tmp_path):
    data = synthetic_int16(20000, 8, seed=1)
    src = make_raw("rec.dat", data)
    out = tmp_path / "subset.dat"
    spec = ConvertSpec(str(out), channels=parse_channels("6,0-2"), start=0.1, stop=0.35, chunk_seconds=0.03)
    result = convert(_source(src), spec)
    expected = data[2000:7000][:, [6, 0, 1, 2]]
    np.testing.assert_array_equal(_read_raw(out, nb_channels=4), expected)
    assert result.nb_samples == 5000 and result.nb_channels == 4


def test_multi_files_are_concatenated(make_raw, tmp_path):
    parts = [synthetic_int16(n, 8, seed=k) for k, n in enumerate((3000, 1700, 2500))]
    for k, part in enumerate(parts):
        make_raw(f"session_{k}.dat", part)
    out = tmp_path / "all.dat"
    convert(_source(tmp_path / "session_0.dat", stream_mode="multi-files"),
            ConvertSpec(str(out), chunk_seconds=0.05, verify=True))
    np.testing.assert_array_equal(_read_raw(out), np.concatenate(parts))


def test_uint16_becomes_centred_int16(make_raw, tmp_path):
    data = synthetic_int16(4000, 8)
    unsigned = (data.astype(np.int32) + 32768).astype(np.uint16)
    src = make_raw("rec.dat", unsigned)
    out = tmp_path / "signed.dat"
    result = convert(_source(src, {**PARAMS, "data_dtype": "uint16"}),
                     ConvertSpec(str(out), dtype="int16", verify=True))
    np.testing.assert_array_equal(_read_raw(out), data)
    assert result.max_difference == 0


def test_highpass_matches_whole_signal_filtfilt(make_raw, tmp_path):
    rng = np.random.default_rng(5)
    t = np.arange(40000) / RATE
    slow = 3000 * np.sin(2 * np.pi * 7 * t)[:, None]
    data = (slow + rng.normal(0, 200, (40000, 8))).astype(np.int16)
    src = make_raw("rec.dat", data)
    expected = sps.sosfiltfilt(highpass_sos(300, RATE), data.astype(np.float64), axis=0)
    edge = 2000
    outputs = []
    for chunk_seconds in (0.01, 0.37, 10.0):
        out = tmp_path / f"hp_{chunk_seconds}.dat"
        convert(_source(src), ConvertSpec(str(out), highpass=parse_filter("highpass:300"), dtype="float32",
                                          chunk_seconds=chunk_seconds, write_params=False))
        outputs.append(_read_raw(out, "float32"))
    scale = np.abs(expected).max()
    for got in outputs:
        np.testing.assert_allclose(got[edge:-edge], expected[edge:-edge], atol=1e-5 * scale)
        np.testing.assert_allclose(got, outputs[-1], atol=1e-5 * scale)
    assert np.abs(outputs[0]).mean() < np.abs(data).mean() / 3


def test_filter_padding_follows_the_cutoff():
    low, high = filter_padding(highpass_sos(100, RATE)), filter_padding(highpass_sos(1000, RATE))
    assert low > high > 0


def test_refuses_to_overwrite_the_input(make_raw, tmp_path):
    data = synthetic_int16(2000, 8)
    src = make_raw("rec.dat", data)
    before = Path(src).read_bytes()
    for force in (False, True):
        with pytest.raises(ConvertError, match="input"):
            convert(_source(src), ConvertSpec(src, force=force, dtype="float32"))
    assert Path(src).read_bytes() == before


def test_existing_output_needs_force(make_raw, tmp_path):
    src = make_raw("rec.dat", synthetic_int16(2000, 8))
    out = tmp_path / "out.dat"
    out.write_bytes(b"keep me")
    with pytest.raises(ConvertError, match="--force"):
        convert(_source(src), ConvertSpec(str(out)))
    assert out.read_bytes() == b"keep me"
    convert(_source(src), ConvertSpec(str(out), force=True))
    assert out.read_bytes() == Path(src).read_bytes()


def test_verify_reports_clipping(make_raw, tmp_path):
    data = (synthetic_int16(3000, 8).astype(np.float32) * 40)
    src = make_raw("loud.dat", data)
    out = tmp_path / "clipped.dat"
    result = convert(_source(src, {**PARAMS, "data_dtype": "float32"}),
                     ConvertSpec(str(out), dtype="int16", verify=True))
    assert result.verified is False
    assert result.max_difference > 1000


def test_bad_requests_name_the_fix(make_raw, tmp_path):
    src = make_raw("rec.dat", synthetic_int16(2000, 8))
    cases = [(ConvertSpec(str(tmp_path / "a.dat"), channels=[8]), "channels"),
             (ConvertSpec(str(tmp_path / "a.dat"), start=5.0), "--start"),
             (ConvertSpec(str(tmp_path / "missing" / "a.dat")), "does not exist"),
             (ConvertSpec(str(tmp_path / "a.dat"), highpass=20000), "Nyquist")]
    for spec, words in cases:
        with pytest.raises(ConvertError, match=words):
            convert(_source(src), spec)
    with pytest.raises(ConvertError):
        parse_filter("lowpass:300")
    assert parse_channels("3, 1-2,7") == [3, 1, 2, 7]
    assert not list(tmp_path.glob("a.dat*"))


class _FailingRaw(RawBinaryFile):
    """A recording whose disk fails after a while (a test fixture, not the engine)."""

    description = "test_failing_raw"

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        self._fail_late(padding)
        return super().read_chunk(idx, chunk_size, padding, nodes)

    def read_chunk_raw(self, idx, chunk_size, padding=(0, 0), nodes=None):
        self._fail_late(padding)
        return super().read_chunk_raw(idx, chunk_size, padding, nodes)

    @staticmethod
    def _fail_late(padding):
        if padding[0] >= 1000:
            raise OSError("disk went away")


def test_a_failure_leaves_no_partial_output(make_raw, tmp_path):
    src = make_raw("rec.dat", synthetic_int16(3000, 8))
    out = tmp_path / "out.dat"
    with pytest.raises(DataFileError, match="disk went away"):     # typed, naming the cause
        convert(_FailingRaw(src, dict(PARAMS)), ConvertSpec(str(out), chunk_seconds=0.01))
    assert not out.exists() and not _leftovers(tmp_path)


@pytest.mark.skipif("hdf5" not in supported_formats(), reason="the hdf5 format is not in this build")
def test_raw_to_hdf5(make_raw, tmp_path):
    import h5py
    data = synthetic_int16(7000, 8)
    src = make_raw("rec.dat", data)
    out = tmp_path / "rec.h5"
    convert(_source(src), ConvertSpec(str(out), to_format="hdf5"))      # h5_key: the writer's default
    with h5py.File(out, "r") as handle:
        np.testing.assert_array_equal(handle["data"][:], data)
    result = convert(_source(src), ConvertSpec(str(out), to_format="hdf5", out_settings={"h5_key": "traces"},
                                               chunk_seconds=0.07, verify=True, force=True))
    with h5py.File(out, "r") as handle:
        np.testing.assert_array_equal(handle["traces"][:], data)
    assert result.verified


def _cli(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app", *args], check=False, cwd=REPO,
                          capture_output=True, text=True, timeout=60, **kwargs)


def _open_args(path) -> list[str]:
    return [str(path), "--format", "raw_binary", "--set", "nb_channels=8", "--set", "data_dtype=int16",
            "--set", f"sampling_rate={RATE}"]


def test_cli_json_progress_and_verify(make_raw, tmp_path):
    src = make_raw("rec.dat", synthetic_int16(10000, 8))
    out = tmp_path / "out.dat"
    done = _cli("convert", *_open_args(src), "-o", str(out), "--chunk-seconds", "0.1", "--progress", "json",
                "--verify")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    steps = [line for line in lines if "done" in line]
    assert [s["done"] for s in steps] == list(range(1, 6)) and steps[-1]["total"] == 5
    assert lines[-1]["result"]["verified"] is True
    again = _cli("convert", *_open_args(src), "-o", str(out))
    assert again.returncode == 1 and "--force" in again.stderr


def test_sigterm_leaves_no_output(make_raw, tmp_path):
    src = make_raw("rec.dat", synthetic_int16(60000, 8))
    out = tmp_path / "slow.dat"
    process = subprocess.Popen([sys.executable, "-m", "app", "convert", *_open_args(src), "-o", str(out),
                                "--chunk-seconds", "0.00005", "--progress", "json"], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(process.stdout.readline())
        assert first["done"] < first["total"]
        assert _leftovers(tmp_path)
        process.send_signal(signal.SIGTERM)
        process.stdout.read()
        code = process.wait(timeout=30)
    finally:
        process.kill()
    assert code == 128 + signal.SIGTERM      # 143: the exit status `wavescope convert --help` documents
    assert not out.exists() and not _leftovers(tmp_path)
    assert not (tmp_path / "slow.params").exists()


# -- the raw path: identity conversions copy stored samples ----------------------------------------
class _CountingRaw(RawBinaryFile):
    """Records which read the engine used (a fixture around the real reader)."""

    description = "test_counting_raw"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = {"raw": 0, "float": 0}

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        self.calls["float"] += 1
        return super().read_chunk(idx, chunk_size, padding, nodes)

    def read_chunk_raw(self, idx, chunk_size, padding=(0, 0), nodes=None):
        self.calls["raw"] += 1
        return super().read_chunk_raw(idx, chunk_size, padding, nodes)


class _FloatOnlyRaw(RawBinaryFile):
    """The same file without raw access: the engine must fall back to the float path."""

    description = "test_float_only_raw"

    def read_chunk_raw(self, idx, chunk_size, padding=(0, 0), nodes=None):
        return None


def _output_bytes(path) -> bytes:
    if str(path).endswith(".h5"):
        import h5py
        with h5py.File(path, "r") as handle:
            return handle["data"][:].tobytes()
    if str(path).endswith(".npy"):
        return np.load(path).tobytes()
    return Path(path).read_bytes()


@pytest.mark.parametrize("to_format,suffix", [("raw_binary", ".dat"), ("numpy", ".npy"), ("hdf5", ".h5")])
def test_identity_takes_the_raw_path_with_the_float_path_bytes(make_raw, tmp_path, to_format, suffix):
    data = synthetic_int16(9000, 8, seed=4)
    src = make_raw("rec.dat", data)
    params = {**PARAMS, "gain": 0.195}
    spec = {"to_format": to_format, "chunk_seconds": 0.07, "out_settings": {"h5_key": "data"}
            if to_format == "hdf5" else {}, "channels": [5, 1, 2], "start": 0.01, "write_params": False}
    counting = _CountingRaw(src, dict(params))
    fast = convert(counting, ConvertSpec(str(tmp_path / f"fast{suffix}"), **spec))
    assert counting.calls["raw"] > 0 and counting.calls["float"] == 0
    convert(_FloatOnlyRaw(src, dict(params)), ConvertSpec(str(tmp_path / f"slow{suffix}"), **spec))
    assert _output_bytes(fast.output) == _output_bytes(tmp_path / f"slow{suffix}")
    expected = np.ascontiguousarray(data[200:][:, [5, 1, 2]])
    assert _output_bytes(fast.output) == expected.tobytes()


def test_changes_to_samples_take_the_float_path(make_raw, tmp_path):
    src = make_raw("rec.dat", synthetic_int16(4000, 8))
    cases = [({"highpass": 300.0}, PARAMS), ({"dtype": "float32"}, PARAMS),
             ({"out_settings": {"gain": 2.0}}, PARAMS), ({}, {**PARAMS, "dtype_offset": 10})]
    for k, (change, params) in enumerate(cases):
        counting = _CountingRaw(src, dict(params))
        convert(counting, ConvertSpec(str(tmp_path / f"out{k}.dat"), write_params=False, **change))
        assert counting.calls == {"raw": 0, "float": counting.calls["float"]} and counting.calls["float"] > 0


def test_raw_path_spans_multi_files_and_numpy_layouts(make_raw, tmp_path):
    parts = [synthetic_int16(n, 8, seed=k) for k, n in enumerate((3000, 1700, 2500))]
    np.save(tmp_path / "run_0.npy", parts[0])
    np.save(tmp_path / "run_1.npy", np.ascontiguousarray(parts[1].T))     # (channels, time): mapped
    np.save(tmp_path / "run_2.npy", np.asfortranarray(parts[2].T))        # time-major on disk: pread
    source = open_datafile(str(tmp_path / "run_0.npy"), {"sampling_rate": RATE}, "numpy", "multi-files")
    whole = np.concatenate(parts)
    np.testing.assert_array_equal(source.read_range_raw(100, 7000), whole[100:7000])
    np.testing.assert_array_equal(source.read_range_raw(2900, 4800, nodes=[7, 0]), whole[2900:4800][:, [7, 0]])
    assert source.read_range_raw(10, 10).shape == (0, 8)
    out = tmp_path / "all.dat"
    convert(source, ConvertSpec(str(out), chunk_seconds=0.04, write_params=False))
    np.testing.assert_array_equal(_read_raw(out), whole)


def test_raw_writes_refuse_rows_outside_the_file(make_raw, tmp_path):
    out = RawBinaryFile(str(tmp_path / "w.dat"), dict(PARAMS), is_empty=True)
    out.allocate((100, 8), "int16")
    with out.open("r+"):
        out.set_data_raw(90, np.ones((10, 8), np.int16))
        with pytest.raises(IndexError):
            out.write_chunk_raw(95, np.ones((10, 8), np.int16))
    assert os.path.getsize(tmp_path / "w.dat") == 1600
    assert _read_raw(tmp_path / "w.dat")[90:].tolist() == [[1] * 8] * 10
