import numpy as np
import pytest

from app.io import MissingFieldsError, ShapeMismatchError, open_datafile
from app.io.conformance import assert_conforms
from tests.conftest import synthetic_int16

PARAMS = {"data_dtype": "int16", "nb_channels": 8, "sampling_rate": 20000}


def test_reads_samples_written_by_layout(make_raw):
    data = synthetic_int16(5000, 8)
    path = make_raw("rec.dat", data)
    with open_datafile(path, {**PARAMS, "gain": 0.5}, "raw_binary") as df:
        assert df.shape == (5000, 8)
        out = df.read_range(100, 200, nodes=[3, 1])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, data[100:200][:, [3, 1]] * np.float32(0.5))


def test_header_offset_and_uint16_auto_offset(make_raw):
    data = (synthetic_int16(1000, 4).astype(np.int32) + 32768).astype(np.uint16)
    path = make_raw("rec.bin", data, header=b"H" * 64)
    df = open_datafile(path, {"data_dtype": "uint16", "nb_channels": 4, "sampling_rate": 1000,
                              "data_offset": 64}, "raw_binary")
    assert df.dtype_offset == 32768
    np.testing.assert_array_equal(df.read_range(0, 1000), data.astype(np.float32) - 32768)


@pytest.mark.parametrize("dtype", ["int16", "uint16", "float32", "int32", "uint8"])
def test_conformance(make_raw, tmp_path, dtype):
    base = synthetic_int16(3000, 6)
    data = (base.astype(np.int64) + (32768 if dtype == "uint16" else 0)).astype(dtype) \
        if dtype != "uint8" else (base % 200).astype(np.uint8)
    path = make_raw(f"rec_{dtype}.dat", data)
    expected = (data.astype(np.float64) - {"uint16": 32768, "uint8": 127}.get(dtype, 0)) * 0.25
    assert_conforms(path, "raw_binary", {**PARAMS, "nb_channels": 6, "data_dtype": dtype, "gain": 0.25},
                    expected=expected.astype(np.float32), scratch_dir=str(tmp_path))


def test_multi_files_three_parts(make_raw, tmp_path):
    parts = [synthetic_int16(n, 8, seed=k) for k, n in enumerate((1200, 800, 1500))]
    for k, part in enumerate(parts):
        make_raw(f"session_{k}.dat", part)
    path = str(tmp_path / "session_0.dat")
    df = open_datafile(path, PARAMS, "raw_binary", "multi-files")
    assert df.nb_streams == 3 and df.duration == 3500
    assert [s.t_start for s in df.streams] == [0, 1200, 2000]
    np.testing.assert_array_equal(df.read_range(0, 3500), np.concatenate(parts).astype(np.float32))
    np.testing.assert_array_equal(df.get_snippet(1150, 100), np.concatenate(parts)[1150:1250])
    assert_conforms(path, "raw_binary", PARAMS, "multi-files", expected=np.concatenate(parts),
                    scratch_dir=str(tmp_path))


def test_natural_order_of_parts(make_raw, tmp_path):
    for k in (10, 2, 1, 0):
        make_raw(f"p_{k}.dat", np.full((10, 2), k, dtype=np.int16))
    df = open_datafile(str(tmp_path / "p_2.dat"), {**PARAMS, "nb_channels": 2}, "raw_binary", "multi-files")
    assert df.read_range(0, 40)[::10, 0].tolist() == [0, 1, 2, 10]


def test_missing_fields_lists_types(make_raw):
    path = make_raw("rec.dat", synthetic_int16(100, 4))
    with pytest.raises(MissingFieldsError) as caught:
        open_datafile(path, {"nb_channels": 4}, "raw_binary")
    assert caught.value.missing == {"data_dtype": "string", "sampling_rate": "float"}
    assert "rec.dat" in str(caught.value) and "--set" in str(caught.value)


def test_size_not_multiple_of_frame_names_candidates(make_raw):
    path = make_raw("rec.dat", synthetic_int16(1000, 6))
    with pytest.raises(ShapeMismatchError) as caught:
        open_datafile(path, {**PARAMS, "nb_channels": 7}, "raw_binary")
    message = str(caught.value)
    assert "rec.dat" in message and "nb_channels=6" in message
    assert "nb_channels=6" in caught.value.candidates


def test_bad_dtype_and_bad_value(make_raw):
    from app.io import HeaderError
    path = make_raw("rec.dat", synthetic_int16(100, 4))
    with pytest.raises(HeaderError, match="data_dtype"):
        open_datafile(path, {**PARAMS, "data_dtype": "complex64"}, "raw_binary")
    with pytest.raises(HeaderError, match="nb_channels"):
        open_datafile(path, {**PARAMS, "nb_channels": "four"}, "raw_binary")


def test_write_and_parallel_layout(tmp_path):
    from app.io.registry import get_format
    klass = get_format("raw_binary")
    out = klass(str(tmp_path / "out.dat"), PARAMS, is_empty=True)
    out.allocate((1000, 8), "int16")
    out.open("r+")
    data = synthetic_int16(1000, 8).astype(np.float32)
    out.set_data(500, data[500:])     # write the second half first, as another rank would
    out.set_data(0, data[:500])
    out.close()
    raw = np.fromfile(tmp_path / "out.dat", dtype="<i2").reshape(1000, 8)
    np.testing.assert_array_equal(raw, data.astype(np.int16))


def test_opening_does_not_read_samples(tmp_path):
    path = tmp_path / "huge.dat"
    with open(path, "wb") as handle:
        handle.truncate(10 * 2**30)        # sparse 10 GiB
    df = open_datafile(str(path), {**PARAMS, "nb_channels": 64}, "raw_binary")
    assert df.duration == 10 * 2**30 // 128
    chunk = df.read_range(df.duration - 10, df.duration)
    assert chunk.shape == (10, 64) and not chunk.any()
