import numpy as np
import pytest

from app.io import HeaderError, MissingFieldsError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from app.io.registry import get_format
from app.io.sniff import rank_formats
from tests.conftest import synthetic_int16

RATE = {"sampling_rate": 20000}


def save(path, array) -> str:
    np.save(path, array)
    return str(path)


@pytest.mark.parametrize("layout", ["time_major", "channel_major", "fortran_time_major",
                                    "fortran_channel_major", "big_endian"])
def test_both_orientations_and_orders_read_the_same(tmp_path, layout):
    data = synthetic_int16(3000, 7)
    stored = {"time_major": data, "channel_major": np.ascontiguousarray(data.T),
              "fortran_time_major": np.asfortranarray(data),
              "fortran_channel_major": np.asfortranarray(data.T),
              "big_endian": data.astype(">i2")}[layout]
    path = save(tmp_path / f"{layout}.npy", stored)
    with open_datafile(path, {**RATE, "gain": 0.5}, "numpy") as df:
        assert df.shape == (3000, 7) and df.nb_channels == 7
        np.testing.assert_array_equal(df.read_range(1000, 1100, nodes=[6, 2]),
                                      data[1000:1100][:, [6, 2]] * np.float32(0.5))
    assert_conforms(path, "numpy", {**RATE, "gain": 0.5}, expected=data * np.float32(0.5),
                    scratch_dir=str(tmp_path))


@pytest.mark.parametrize("dtype", ["uint16", "float32", "int32"])
def test_conformance_dtypes(tmp_path, dtype):
    base = synthetic_int16(2500, 4)
    data = (base.astype(np.int64) + (32768 if dtype == "uint16" else 0)).astype(dtype)
    path = save(tmp_path / f"rec_{dtype}.npy", data)
    expected = (data.astype(np.float64) - (32768 if dtype == "uint16" else 0)).astype(np.float32)
    df = open_datafile(path, RATE, "numpy")
    assert df.data_dtype == dtype and df.header_fields == {"nb_channels", "data_dtype"}
    assert_conforms(path, "numpy", RATE, expected=expected, scratch_dir=str(tmp_path))


def test_one_dimensional_array_is_one_channel(tmp_path):
    data = synthetic_int16(4000, 1)[:, 0]
    path = save(tmp_path / "mono.npy", data)
    df = open_datafile(path, RATE, "numpy")
    assert df.shape == (4000, 1)
    assert_conforms(path, "numpy", RATE, expected=data[:, None], scratch_dir=str(tmp_path))


def test_multi_files_three_parts(tmp_path):
    parts = [synthetic_int16(n, 5, seed=k) for k, n in enumerate((1100, 600, 1400))]
    for k, part in enumerate(parts):
        save(tmp_path / f"run_{k}.npy", part.T if k == 1 else part)    # parts may differ in orientation
    path = str(tmp_path / "run_0.npy")
    df = open_datafile(path, RATE, "numpy", "multi-files")
    assert df.nb_streams == 3 and [s.t_start for s in df.streams] == [0, 1100, 1700]
    assert_conforms(path, "numpy", RATE, "multi-files", expected=np.concatenate(parts),
                    scratch_dir=str(tmp_path))


def test_missing_sampling_rate(tmp_path):
    path = save(tmp_path / "rec.npy", synthetic_int16(100, 3))
    with pytest.raises(MissingFieldsError) as caught:
        open_datafile(path, {}, "numpy")
    assert caught.value.missing == {"sampling_rate": "float"}
    assert "rec.npy" in str(caught.value)


@pytest.mark.parametrize("damage", ["magic", "header_text", "cut_header", "cut_data", "three_d", "object"])
def test_corrupt_files_raise_header_error(tmp_path, damage):
    path = tmp_path / "bad.npy"
    if damage == "three_d":
        np.save(path, np.zeros((4, 3, 2), dtype=np.int16))
    elif damage == "object":
        np.save(path, np.array([[1, "a"]], dtype=object), allow_pickle=True)
    else:
        np.save(path, synthetic_int16(500, 4))
        content = path.read_bytes()
        content = {"magic": b"\x93NUMPX" + content[6:],
                   "header_text": content[:10] + b"{'descr': <i2, 'shape'" + content[32:],
                   "cut_header": content[:40],
                   "cut_data": content[:-10]}[damage]
        path.write_bytes(content)
    with pytest.raises(HeaderError, match="bad.npy"):
        open_datafile(str(path), RATE, "numpy")


def test_write_rows_in_any_order(tmp_path):
    klass = get_format("numpy")
    target = tmp_path / "out.npy"
    out = klass(str(target), {**RATE, "nb_channels": 6, "data_dtype": "int16"}, is_empty=True)
    out.allocate((1000, 6), "int16")
    out.open("r+")
    data = synthetic_int16(1000, 6).astype(np.float32)
    out.set_data(600, data[600:])
    out.set_data(0, data[:600])
    out.close()
    np.testing.assert_array_equal(np.load(target), data.astype(np.int16))


def test_opening_does_not_read_samples(tmp_path):
    path = tmp_path / "huge.npy"
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(
            handle, {"descr": "<i2", "fortran_order": False, "shape": (64, 2**26)})
        handle.truncate(handle.tell() + 64 * 2**26 * 2)         # sparse 8 GiB, channels x time
    df = open_datafile(str(path), RATE, "numpy")
    assert df.shape == (2**26, 64)
    chunk = df.read_range(df.duration - 10, df.duration, nodes=[63, 0])
    assert chunk.shape == (10, 2) and not chunk.any()


def test_sniffing(tmp_path, make_raw):
    path = save(tmp_path / "rec.npy", synthetic_int16(100, 3))
    assert guess_format(path) == "numpy"
    renamed = tmp_path / "rec.bin"
    renamed.write_bytes((tmp_path / "rec.npy").read_bytes())
    assert rank_formats(str(renamed))[0].name == "numpy"
    fake = make_raw("fake.npy", synthetic_int16(100, 3))
    assert "numpy" not in [c.name for c in rank_formats(fake)]
