"""The base contract, through raw_binary files written by the tests."""

import numpy as np
import pytest

from app.io import DamagedFileError, HeaderError, ShapeMismatchError, UnsupportedStreamMode, open_datafile
from app.io.datafile import DataFile, auto_dtype_offset, coerce_value, multi_file_parts, natural_key
from tests.conftest import synthetic_int16

PARAMS = {"data_dtype": "int16", "nb_channels": 4, "sampling_rate": 1000}


@pytest.mark.parametrize("dtype, offset", [("uint16", 32768), ("uint8", 127), ("int16", 0),
                                           ("float32", 0), ("uint32", 2**31), ("int8", 0)])
def test_auto_dtype_offset(dtype, offset):
    assert auto_dtype_offset(np.dtype(dtype)) == offset


@pytest.mark.parametrize("value, type_name, expected", [("30000", "float", 30000.0), ("64", "int", 64),
                                                        ("64.0", "int", 64), ("True", "bool", True),
                                                        (" int16 ", "string", "int16")])
def test_coerce_value(value, type_name, expected):
    assert coerce_value(value, type_name, "x") == expected


def test_coerce_rejects_fractional_int():
    with pytest.raises(HeaderError, match="nb_channels"):
        coerce_value("6.5", "int", "nb_channels", "rec.dat")


def test_natural_key_orders_numbers():
    assert sorted(["ch10", "ch2", "ch1"], key=natural_key) == ["ch1", "ch2", "ch10"]


def test_multi_file_parts_ignores_other_bases(tmp_path):
    for name in ("a_0.dat", "a_1.dat", "a_10.dat", "a_2.dat", "ab_0.dat", "a_1.bin", "a.dat"):
        (tmp_path / name).write_bytes(b"")
    parts = [p.rsplit("/", 1)[-1] for p in multi_file_parts(str(tmp_path / "a_1.dat"))]
    assert parts == ["a.dat", "a_0.dat", "a_1.dat", "a_2.dat", "a_10.dat"]


def test_parts_must_agree(make_raw, tmp_path):
    make_raw("r_0.dat", synthetic_int16(100, 4))
    make_raw("r_1.dat", synthetic_int16(100, 4))
    with pytest.raises(UnsupportedStreamMode, match="single-file"):
        open_datafile(str(tmp_path / "r_0.dat"), PARAMS, "raw_binary", "single-file")
    (tmp_path / "r_1.dat").write_bytes(b"\0" * 6)      # 3 int16 values: not a whole 4-channel frame
    with pytest.raises(ShapeMismatchError, match="r_1.dat"):
        open_datafile(str(tmp_path / "r_0.dat"), PARAMS, "raw_binary", "multi-files")


def test_get_data_and_analyze_over_streams(make_raw, tmp_path):
    parts = [synthetic_int16(n, 4, seed=n) for n in (70, 50, 90)]
    for k, part in enumerate(parts):
        make_raw(f"s_{k}.dat", part)
    whole = np.concatenate(parts).astype(np.float32)
    df = open_datafile(str(tmp_path / "s_0.dat"), PARAMS, "raw_binary", "multi-files")
    assert df.analyze(40) == (5, 10)
    data, t_offset = df.get_data(1, 40, padding=(-5, 5))
    assert t_offset == 40
    np.testing.assert_array_equal(data, whole[35:85])
    data, _ = df.get_data(5, 40, padding=(-5, 5))       # last partial chunk, clipped at the end
    np.testing.assert_array_equal(data, whole[195:210])
    assert df.stream_offsets().tolist() == [0, 70, 120, 210]


def test_set_data_across_stream_boundary(make_raw, tmp_path):
    for k in range(2):
        make_raw(f"w_{k}.dat", np.zeros((10, 4), np.int16))
    df = open_datafile(str(tmp_path / "w_0.dat"), PARAMS, "raw_binary", "multi-files")
    block = np.arange(24, dtype=np.float32).reshape(6, 4)
    df.set_data(7, block)
    df.close()
    np.testing.assert_array_equal(df.read_range(7, 13), block)
    assert np.fromfile(tmp_path / "w_1.dat", "<i2").reshape(10, 4)[:3].tolist() == block[3:].tolist()


def test_description_reopens_the_recording(make_raw):
    path = make_raw("d.dat", synthetic_int16(100, 4))
    df = open_datafile(path, {**PARAMS, "gain": "0.5", "dtype_offset": "auto"}, "raw_binary")
    description = df.get_description()
    assert description["file_format"] == "raw_binary" and description["dtype_offset"] == 0
    again = open_datafile(path, {k: v for k, v in description.items() if k not in ("file_format", "stream_mode")},
                          description["file_format"])
    np.testing.assert_array_equal(again.read_range(0, 100), df.read_range(0, 100))


def test_missing_file_names_it(tmp_path):
    with pytest.raises(HeaderError, match="nothere.dat"):
        open_datafile(str(tmp_path / "nothere.dat"), PARAMS, "raw_binary")


def test_unknown_format_lists_known(make_raw):
    from app.io import FormatNotFoundError
    path = make_raw("d.dat", synthetic_int16(10, 4))
    with pytest.raises(FormatNotFoundError, match="raw_binary"):
        open_datafile(path, PARAMS, "no_such_format")


# -- the guard: any failure while opening or reading becomes a typed error naming the file ------


class _Flaky(DataFile):
    """A one-channel format whose header or reads fail with whatever `failure` says."""
    description = "flaky"
    title = "Flaky test format"
    failure: dict = {}

    def _read_from_header(self):
        if "header" in self.failure:
            raise self.failure["header"]
        self._shape = (10, 1)
        return {"nb_channels": 1, "sampling_rate": self.failure.get("rate", 1000.0), "data_dtype": "int16"}

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        if "read" in self.failure:
            raise self.failure["read"]
        return np.zeros((chunk_size, 1), np.float32)


def _flaky(tmp_path, **failure):
    path = tmp_path / "rec.flaky"
    path.write_bytes(b"x")
    _Flaky.failure = failure
    return str(path)


@pytest.mark.parametrize("error", [EOFError("No data left in file"), KeyError("3BData"),
                                   ZeroDivisionError("division by zero"), OverflowError("too big"),
                                   RuntimeError("bad symbol table node signature"),
                                   OSError("Unable to open file (file signature not found)")])
def test_builtin_failure_in_the_header_becomes_a_damaged_file_error(tmp_path, error):
    path = _flaky(tmp_path, header=error)
    with pytest.raises(DamagedFileError) as caught:
        _Flaky(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: cannot read the header of it as Flaky test format")
    assert "damaged" in message and type(error).__name__ in message
    assert caught.value.file_name == path and caught.value.__cause__ is error


def test_typed_errors_pass_unchanged_and_fatal_ones_are_not_swallowed(tmp_path):
    own = HeaderError("its own words", "x")
    with pytest.raises(HeaderError) as caught:
        _Flaky(_flaky(tmp_path, header=own))
    assert caught.value is own
    for fatal in (MemoryError(), KeyboardInterrupt(), SystemExit(3)):
        with pytest.raises(type(fatal)):
            _Flaky(_flaky(tmp_path, header=fatal))


def test_read_failures_are_typed_too(tmp_path):
    datafile = _Flaky(_flaky(tmp_path, read=IndexError("index 12 is out of bounds")))
    with pytest.raises(DamagedFileError, match="cannot read samples from it.*IndexError"):
        datafile.read_range(0, 5)


def test_a_damaged_header_value_is_named(tmp_path):
    with pytest.raises(DamagedFileError, match="the header gives sampling_rate = nan.*damaged"):
        _Flaky(_flaky(tmp_path, rate=float("nan")))


def test_raw_binary_given_a_folder(tmp_path):
    with pytest.raises(HeaderError, match="is a folder"):
        open_datafile(str(tmp_path), PARAMS, "raw_binary")
