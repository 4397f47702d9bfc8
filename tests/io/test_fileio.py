"""Positional reads and writes through each platform path: preadv, pread, and seek under a lock."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from app.io import fileio
from app.io.formats.raw_binary import RawBinaryFile

PATHS = {"preadv": (), "pread": ("preadv", "pwritev"),
         "locked seek": ("preadv", "pwritev", "pread", "pwrite")}


@pytest.fixture(params=list(PATHS))
def platform_path(request, monkeypatch):
    for name in PATHS[request.param]:
        monkeypatch.delattr(os, name, raising=False)
    return request.param


def test_read_into_and_write_at(tmp_path, platform_path):
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 4)
    fd = fileio.open_fd(path, writable=True)
    try:
        buffer = bytearray(10)
        fileio.read_into(fd, buffer, 250)
        assert bytes(buffer) == bytes(range(250, 256)) + bytes(range(4))
        fileio.write_at(fd, np.arange(4, dtype="<i2"), 1020)
        with pytest.raises(OSError, match="unexpected end of file at byte 1028"):
            fileio.read_into(fd, bytearray(16), 1020)
    finally:
        os.close(fd)
    assert path.read_bytes()[1020:] == np.arange(4, dtype="<i2").tobytes()
    assert len(path.read_bytes()) == 1028


def test_concurrent_reads_see_their_own_offsets(tmp_path, platform_path):
    """Threads share one descriptor: no read may land at another thread's position."""
    values = np.arange(200_000, dtype="<u4")
    path = tmp_path / "ramp.bin"
    values.tofile(path)
    fd = fileio.open_fd(path)
    wrong = []

    def reader(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for start in rng.integers(0, values.size - 1000, 200):
            out = np.empty(1000, dtype="<u4")
            fileio.read_into(fd, out, int(start) * 4)
            if not np.array_equal(out, values[start:start + 1000]):
                wrong.append(int(start))

    threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        os.close(fd)
    assert wrong == []


def test_raw_binary_writes_and_reads_without_posix_calls(tmp_path, portable):
    """The raw_binary writer and reader, as on Windows: no preadv/pwritev/pread/pwrite."""
    assert not hasattr(os, "pread") and not hasattr(os, "preadv")
    params = {"nb_channels": 3, "data_dtype": "int16", "sampling_rate": 1000.0, "dtype_offset": 0}
    data = (np.arange(3000, dtype=np.int16).reshape(1000, 3) - 1500).astype(np.float32)
    out = RawBinaryFile(str(tmp_path / "out.dat"), params, is_empty=True)
    out.allocate((1000, 3), "int16")
    out.open("r+")
    out.set_data(500, data[500:])
    out.set_data(0, data[:500])
    out.close()
    raw = np.fromfile(tmp_path / "out.dat", dtype="<i2").reshape(1000, 3)
    np.testing.assert_array_equal(raw, data.astype(np.int16))
    source = RawBinaryFile(str(tmp_path / "out.dat"), params)
    source.open("r")
    try:
        np.testing.assert_array_equal(source.read_chunk_raw(1, 300), raw[300:600])
    finally:
        source.close()
