import os
import struct

import numpy as np
import pytest

from app.io import HeaderError, MissingFieldsError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from app.io.registry import get_format
from tests.conftest import synthetic_int16
from tests.io.writers_binary import write_mda


def test_reads_column_major_channels_by_samples(tmp_path):
    data = synthetic_int16(1200, 5)
    path = write_mda(tmp_path / "raw.mda", data)
    df = open_datafile(path, {"sampling_rate": 30000})
    assert df.description == "mda"
    assert df.shape == (1200, 5)
    assert (df.data_dtype, df.dtype_offset, df.gain) == ("int16", 0, 1.0)
    np.testing.assert_array_equal(df.read_range(100, 300, nodes=[4, 2]), data[100:300][:, [4, 2]])


def test_sampling_rate_is_required(tmp_path):
    path = write_mda(tmp_path / "raw.mda", synthetic_int16(100, 2))
    with pytest.raises(MissingFieldsError) as caught:
        open_datafile(path, {}, "mda")
    assert caught.value.missing == {"sampling_rate": "float"}


@pytest.mark.parametrize("dtype", ["int16", "uint16", "float32", "int32", "uint8", "float64", "uint32"])
def test_conformance_every_dtype(tmp_path, dtype):
    base = synthetic_int16(2500, 4).astype(np.int64)
    data = {"uint16": base + 32768, "uint8": base % 200, "uint32": base + 5000}.get(dtype, base).astype(dtype)
    path = write_mda(tmp_path / f"raw_{dtype}.mda", data)
    offset = {"uint16": 32768, "uint8": 127, "uint32": 2**31}.get(dtype, 0)
    expected = ((data.astype(np.float64) - offset) * 0.5).astype(np.float32)
    assert_conforms(path, "mda", {"sampling_rate": 20000, "gain": 0.5}, None, expected=expected,
                    scratch_dir=str(tmp_path))


def test_int64_dimensions(tmp_path):
    data = synthetic_int16(300, 3)
    path = write_mda(tmp_path / "big.mda", data, int64_dims=True)
    df = open_datafile(path, {"sampling_rate": 1000})
    np.testing.assert_array_equal(df.read_range(0, 300), data)


def test_writes_layout_other_tools_read(tmp_path):
    klass = get_format("mda")
    out = klass(str(tmp_path / "out.mda"), {"sampling_rate": 1000, "nb_channels": 3, "data_dtype": "int16"},
                is_empty=True)
    out.allocate((400, 3), "int16")
    out.open("r+")
    data = synthetic_int16(400, 3).astype(np.float32)
    out.set_data(200, data[200:])            # the second half first, as another rank would
    out.set_data(0, data[:200])
    out.close()
    raw = (tmp_path / "out.mda").read_bytes()
    assert struct.unpack("<5i", raw[:20]) == (-4, 2, 2, 3, 400)
    stored = np.frombuffer(raw[20:], "<i2").reshape(3, 400, order="F")
    np.testing.assert_array_equal(stored.T, data.astype(np.int16))


def test_sniffed_by_consistent_header(tmp_path):
    path = write_mda(tmp_path / "firings_like.mda", synthetic_int16(50, 2))
    assert guess_format(path) == "mda"


def _write_at(path, offset: int, data: bytes) -> str:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)
    return path


@pytest.mark.parametrize("damage, words", [
    (lambda p: _write_at(p, 0, struct.pack("<i", 7)), "dtype code 7"),
    (lambda p: _write_at(p, 4, struct.pack("<i", 4)), "4 bytes per entry"),
    (lambda p: _write_at(p, 8, struct.pack("<i", 0)), "0 dimensions"),
    (lambda p: _write_at(p, 12, struct.pack("<i", 0)), "at least one channel"),
    (lambda p: _write_at(p, 16, struct.pack("<i", 10**6)), "truncated"),
    (lambda p: os.truncate(p, 8), "shorter than an mda header"),
    (lambda p: os.truncate(p, 14), "inside the list of dimensions"),
])
def test_corrupt_header_names_file_and_fault(tmp_path, damage, words):
    path = write_mda(tmp_path / "bad.mda", synthetic_int16(50, 2))
    damage(path)
    with pytest.raises(HeaderError) as caught:
        open_datafile(path, {"sampling_rate": 1000}, "mda")
    assert "bad.mda" in str(caught.value) and words in str(caught.value)
