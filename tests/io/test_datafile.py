"""The base contract, through raw_binary files written by the tests."""

import numpy as np
import pytest

from app.io import HeaderError, ShapeMismatchError, UnsupportedStreamMode, open_datafile
from app.io.datafile import auto_dtype_offset, coerce_value, multi_file_parts, natural_key
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
