import os

import h5py
import numpy as np
import pytest

from app.io import HeaderError, MissingFieldsError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from app.io.registry import get_format
from app.io.sniff import rank_formats
from tests.conftest import synthetic_int16

PARAMS = {"h5_key": "acquisition/raw", "sampling_rate": 25000}


def write_h5(path, datasets: dict, **options) -> str:
    with h5py.File(path, "w") as handle:
        for key, array in datasets.items():
            handle.create_dataset(key, data=array, **options)
    return str(path)


@pytest.mark.parametrize("layout", ["time_major", "channel_major", "gzip_chunked", "channel_major_gzip"])
def test_layouts_read_the_same(tmp_path, layout):
    data = synthetic_int16(3000, 9)
    stored = data.T if layout.startswith("channel_major") else data
    options = {"compression": "gzip", "chunks": True} if "gzip" in layout else {}
    path = write_h5(tmp_path / f"{layout}.h5", {"acquisition/raw": stored, "events": np.arange(5)}, **options)
    with open_datafile(path, {**PARAMS, "gain": 0.25}, "hdf5") as df:
        assert df.shape == (3000, 9) and df.data_dtype == "int16"
        np.testing.assert_array_equal(df.read_range(2000, 2100, nodes=[8, 0, 4]),
                                      data[2000:2100][:, [8, 0, 4]] * np.float32(0.25))
        np.testing.assert_array_equal(df.read_range(10, 20, nodes=[3, 3, 2]), data[10:20][:, [3, 3, 2]] / 4)
    assert_conforms(path, "hdf5", {**PARAMS, "gain": 0.25}, expected=data * np.float32(0.25),
                    scratch_dir=str(tmp_path))


@pytest.mark.parametrize("dtype", ["uint16", "float32"])
def test_conformance_dtypes(tmp_path, dtype):
    base = synthetic_int16(2000, 4)
    data = (base.astype(np.int64) + (32768 if dtype == "uint16" else 0)).astype(dtype)
    path = write_h5(tmp_path / f"rec_{dtype}.h5", {"acquisition/raw": data})
    expected = (data.astype(np.float64) - (32768 if dtype == "uint16" else 0)).astype(np.float32)
    assert_conforms(path, "hdf5", PARAMS, expected=expected, scratch_dir=str(tmp_path))


def test_multi_files_three_parts(tmp_path):
    parts = [synthetic_int16(n, 6, seed=k) for k, n in enumerate((1000, 1700, 500))]
    for k, part in enumerate(parts):
        write_h5(tmp_path / f"run_{k}.h5", {"acquisition/raw": part})
    path = str(tmp_path / "run_0.h5")
    df = open_datafile(path, PARAMS, "hdf5", "multi-files")
    assert df.nb_streams == 3 and [s.t_start for s in df.streams] == [0, 1000, 2700]
    assert_conforms(path, "hdf5", PARAMS, "multi-files", expected=np.concatenate(parts),
                    scratch_dir=str(tmp_path))


def test_missing_fields(tmp_path):
    path = write_h5(tmp_path / "rec.h5", {"acquisition/raw": synthetic_int16(100, 4),
                                          "acquisition/lfp": synthetic_int16(10, 4)})
    with pytest.raises(MissingFieldsError) as caught:
        open_datafile(path, {}, "hdf5")
    assert caught.value.missing == {"h5_key": "string", "sampling_rate": "float"}
    assert "rec.h5" in str(caught.value)


def test_single_dataset_is_the_default_key(tmp_path):
    path = write_h5(tmp_path / "rec.h5", {"acquisition/raw": synthetic_int16(100, 4)})
    with pytest.raises(MissingFieldsError) as caught:
        open_datafile(path, {}, "hdf5")
    assert caught.value.missing == {"sampling_rate": "float"}
    assert open_datafile(path, {"sampling_rate": 1000}, "hdf5").h5_key == "acquisition/raw"


@pytest.mark.parametrize("key", ["acquisition/missing", "acquisition", "cube"])
def test_wrong_key_lists_2d_datasets(tmp_path, key):
    path = write_h5(tmp_path / "rec.h5", {"acquisition/raw": synthetic_int16(100, 4),
                                          "lfp/data": np.zeros((3, 50), np.float32),
                                          "cube": np.zeros((2, 2, 2))})
    with pytest.raises(HeaderError) as caught:
        open_datafile(path, {**PARAMS, "h5_key": key}, "hdf5")
    message = str(caught.value)
    assert "rec.h5" in message and repr(key) in message
    assert "acquisition/raw (100, 4)" in message and "lfp/data (3, 50)" in message
    assert caught.value.candidates == ["acquisition/raw", "lfp/data"]


def test_not_hdf5_and_truncated(tmp_path, make_raw):
    fake = make_raw("fake.h5", synthetic_int16(100, 4))
    with pytest.raises(HeaderError, match="fake.h5: not an HDF5 file"):
        open_datafile(fake, PARAMS, "hdf5")
    path = write_h5(tmp_path / "cut.h5", {"acquisition/raw": synthetic_int16(2000, 4)})
    content = (tmp_path / "cut.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(content[: len(content) // 2])
    with pytest.raises(HeaderError, match="cut.h5"):
        open_datafile(path, PARAMS, "hdf5")


def test_write_creates_time_major_dataset(tmp_path):
    out = get_format("hdf5")(str(tmp_path / "out.h5"), {**PARAMS, "nb_channels": 5, "data_dtype": "int16"},
                             is_empty=True)
    out.allocate((800, 5), "int16")
    out.open("r+")
    data = synthetic_int16(800, 5).astype(np.float32)
    out.set_data(400, data[400:])
    out.set_data(0, data[:400])
    out.close()
    with h5py.File(tmp_path / "out.h5", "r") as handle:
        np.testing.assert_array_equal(handle["acquisition/raw"][:], data.astype(np.int16))


def test_write_into_channel_major_dataset(tmp_path):
    data = synthetic_int16(600, 3)
    path = write_h5(tmp_path / "rec.h5", {"acquisition/raw": np.zeros((3, 600), np.int16)})
    df = open_datafile(path, PARAMS, "hdf5")
    df.set_data(0, data.astype(np.float32))
    df.close()
    with h5py.File(path, "r") as handle:
        np.testing.assert_array_equal(handle["acquisition/raw"][:], data.T)


def test_opening_does_not_read_samples(tmp_path):
    path = tmp_path / "huge.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("acquisition/raw", shape=(2**27, 64), dtype="int16", chunks=(4096, 64))
    df = open_datafile(str(path), PARAMS, "hdf5")
    assert df.shape == (2**27, 64)
    chunk = df.read_range(df.duration - 10, df.duration, nodes=[40, 2])
    assert chunk.shape == (10, 2) and not chunk.any()


def test_sniffing(tmp_path, make_raw):
    path = write_h5(tmp_path / "rec.h5", {"acquisition/raw": synthetic_int16(100, 4)})
    assert guess_format(path) == "hdf5"
    assert rank_formats(path)[0].reason.endswith("acquisition/raw")
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as handle:
        handle.create_group("nothing")
    assert "hdf5" not in [c.name for c in rank_formats(str(empty))]
    fake = make_raw("fake.hdf5", synthetic_int16(100, 4))
    assert "hdf5" not in [c.name for c in rank_formats(fake)]


def _new_output(path, nb_channels: int = 6, **params):
    out = get_format("hdf5")(str(path), {**PARAMS, "nb_channels": nb_channels, "data_dtype": "int16",
                                         "gain": 0.5, **params}, is_empty=True)
    return out


def test_allocate_makes_a_contiguous_dataset_with_reserved_storage(tmp_path):
    path = tmp_path / "out.h5"
    _new_output(path).allocate((5000, 6), "int16")
    with h5py.File(path, "r") as handle:
        dataset = handle["acquisition/raw"]
        plist = dataset.id.get_create_plist()
        assert dataset.shape == (5000, 6) and dataset.dtype == np.dtype("<i2")
        assert dataset.chunks is None and dataset.compression is None and plist.get_nfilters() == 0
        assert plist.get_layout() == h5py.h5d.CONTIGUOUS
        assert plist.get_alloc_time() == h5py.h5d.ALLOC_TIME_EARLY
        assert plist.get_fill_time() == h5py.h5d.FILL_TIME_NEVER
        assert dataset.id.get_storage_size() == 5000 * 6 * 2
        offset = dataset.id.get_offset()
        assert dict(dataset.attrs) == {"sampling_rate": 25000.0, "gain": 0.5, "dtype_offset": 0.0}
    assert os.path.getsize(path) >= offset + 5000 * 6 * 2


def test_in_place_writes_read_back_through_h5py_and_the_reader(tmp_path):
    path = tmp_path / "out.h5"
    data = synthetic_int16(3000, 6, seed=4)
    out = _new_output(path)
    out.allocate((3000, 6), "int16")
    out.open("r+")
    out.set_data_raw(2000, data[2000:])
    out.set_data(0, data[:1000] * np.float32(0.5))
    out.set_data_raw(1000, data[1000:2000])
    np.testing.assert_array_equal(out.read_range(995, 1005, nodes=[5, 1]), data[995:1005][:, [5, 1]] / 2)
    out.close()
    with h5py.File(path, "r") as handle:
        np.testing.assert_array_equal(handle["acquisition/raw"][:], data)
        assert handle["acquisition/raw"].attrs["sampling_rate"] == 25000.0
    with open_datafile(str(path), {**PARAMS, "gain": 0.5}, "hdf5") as back:
        np.testing.assert_array_equal(back.read_range(0, 3000), data * np.float32(0.5))


def test_two_writers_fill_disjoint_rows_of_one_file(tmp_path):
    path = tmp_path / "out.h5"
    data = synthetic_int16(4000, 3, seed=5)
    _new_output(path, 3).allocate((4000, 3), "int16")
    writers = [get_format("hdf5")(str(path), {**PARAMS, "gain": 0.5}).open("r+") for _ in range(2)]
    for start in range(0, 4000, 500):
        writers[start // 500 % 2].set_data_raw(start, data[start:start + 500])
    for writer in writers:
        writer.close()
    with h5py.File(path, "r") as handle:
        np.testing.assert_array_equal(handle["acquisition/raw"][:], data)


def test_in_place_write_keeps_a_big_endian_dataset_big_endian(tmp_path):
    data = synthetic_int16(700, 4, seed=6)
    path = write_h5(tmp_path / "be.h5", {"acquisition/raw": np.zeros((700, 4), ">i2")})
    with open_datafile(path, PARAMS, "hdf5") as df:
        df.set_data(0, data.astype(np.float32))
    with h5py.File(path, "r") as handle:
        assert handle["acquisition/raw"].dtype == np.dtype(">i2")
        np.testing.assert_array_equal(handle["acquisition/raw"][:], data)


@pytest.mark.parametrize("options", [{"chunks": (128, 4), "compression": "gzip"}, {"chunks": (64, 2)}])
def test_chunked_datasets_are_written_through_h5py(tmp_path, options):
    data = synthetic_int16(900, 4, seed=7)
    path = write_h5(tmp_path / "chunked.h5", {"acquisition/raw": np.zeros((900, 4), np.int16)}, **options)
    with open_datafile(path, PARAMS, "hdf5") as df:
        df.set_data(100, data[100:].astype(np.float32))
        df.set_data(0, data[:100].astype(np.float32))
    with h5py.File(path, "r") as handle:
        assert handle["acquisition/raw"].chunks == options["chunks"]
        np.testing.assert_array_equal(handle["acquisition/raw"][:], data)


def test_in_place_write_outside_the_dataset_is_refused(tmp_path):
    path = tmp_path / "out.h5"
    out = _new_output(path)
    out.allocate((100, 6), "int16")
    out.open("r+")
    with pytest.raises(IndexError, match="out.h5"):
        out.set_data_raw(90, synthetic_int16(20, 6))
    out.close()
