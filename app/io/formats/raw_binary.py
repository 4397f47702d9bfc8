"""raw_binary: headerless interleaved samples (time-major, channel fastest)."""

from __future__ import annotations

import os

import numpy as np

from app.io.datafile import DataFile, normalize_dtype
from app.io.errors import HeaderError, ShapeMismatchError
from app.io.fileio import open_fd, read_into, write_at
from app.io.messages import print_and_log

COMMON_DTYPES = ("int16", "uint16", "float32", "int32", "uint8", "int8", "float64")


def divisor_candidates(payload: int, nb_channels: int, dtype: np.dtype, limit: int = 6) -> list[str]:
    """Channel counts and dtypes that would divide `payload` bytes evenly, nearest first."""
    found = []
    for count in sorted(range(1, 1025), key=lambda c: abs(c - nb_channels)):
        if payload % (count * dtype.itemsize) == 0:
            found.append(f"nb_channels={count}")
        if len(found) >= limit // 2:
            break
    for name in COMMON_DTYPES:
        if name != dtype.name and payload % (nb_channels * np.dtype(name).itemsize) == 0:
            found.append(f"data_dtype={name}")
    return found[:limit]


def pread_rows(fd: int, offset: int, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    """A fresh (rows, channels) array read at byte `offset`: one copy from the page cache, no page
    faults on a mapping, no shared file position (safe across threads; see app.io.fileio)."""
    out = np.empty(shape, dtype=dtype)
    read_into(fd, out.reshape(-1).view(np.uint8), offset)
    return out


def pwrite_rows(fd: int, offset: int, rows: np.ndarray) -> None:
    """Write a C-contiguous array at byte `offset` (no mapping of the target)."""
    write_at(fd, np.ascontiguousarray(rows).reshape(-1).view(np.uint8), offset)


class RawBinaryFile(DataFile):
    description = "raw_binary"
    title = "Raw binary (headerless, interleaved)"
    extension = []
    parallel_write = True
    is_writable = True
    _required_fields = {"data_dtype": "string", "sampling_rate": "float", "nb_channels": "int"}
    _default_values = {"data_offset": 0, "dtype_offset": "auto", "gain": 1.0}
    _field_types = {"data_offset": "int"}
    # bytes after the last whole frame (a partial frame), not read; set when the header is read
    ignored_bytes = 0

    def _frame_bytes(self) -> int:
        return int(self.nb_channels) * np.dtype(self.data_dtype).itemsize

    def _read_from_header(self) -> dict:
        if os.path.isdir(self.file_name):
            raise HeaderError(f"{self.file_name}: is a folder; raw_binary reads one file of samples. Give "
                              "the data file's path (in a .params file: file_name).", self.file_name)
        if self.nb_channels < 1:
            raise HeaderError(f"{self.file_name}: nb_channels must be at least 1, got {self.nb_channels}.",
                              self.file_name)
        if self.data_offset < 0:
            raise HeaderError(f"{self.file_name}: data_offset must be >= 0, got {self.data_offset}.",
                              self.file_name)
        payload = os.path.getsize(self.file_name) - int(self.data_offset)
        if payload < 0:
            raise HeaderError(f"{self.file_name}: data_offset {self.data_offset} is beyond the end of "
                              f"the file ({payload + self.data_offset} bytes).", self.file_name)
        frame = self._frame_bytes()
        self.ignored_bytes = payload % frame
        if self.ignored_bytes:
            self._accept_partial_frame(payload, frame)
        self._shape = (payload // frame, int(self.nb_channels))
        return {}

    def _accept_partial_frame(self, payload: int, frame: int) -> None:
        """Bytes after the last whole frame: an acquisition stopped mid-write, read like SpyKING
        CIRCUS and SpikeInterface do (whole frames only, said in the log), unless the layout itself
        is wrong: no whole frame at all, a text header not skipped, or another channel count
        that divides evenly and reads as continuous signals where the given one does not."""
        from app.io.sniff import explain_remainder   # sniff imports the registry, which imports us

        dtype = normalize_dtype(self.data_dtype)
        candidates = divisor_candidates(payload, self.nb_channels, dtype)
        remainder = payload % frame
        layout = f"{self.nb_channels} channels x {dtype.itemsize} bytes ({dtype.name})"
        wrong = "the file holds no whole frame" if payload < frame else explain_remainder(
            self.file_name, int(self.data_offset), dtype, int(self.nb_channels))
        if wrong:
            raise ShapeMismatchError(
                f"{self.file_name}: {payload} data bytes are not a whole number of frames of {layout}; "
                f"{remainder} bytes are left over and {wrong}. Check nb_channels, data_dtype and "
                f"data_offset" + (f"; these would divide evenly: {', '.join(candidates)}." if candidates
                                  else "."), self.file_name, candidates)
        cut = "" if remainder % dtype.itemsize == 0 else f", not even a whole number of {dtype.name} samples"
        print_and_log(
            f"{self.file_name}: the last {remainder} bytes are a partial frame (a frame is {layout}"
            f"{cut}) and are ignored: the acquisition stopped mid-write? {payload // frame} whole frames "
            "are read." + (f" If the recording was not cut short the layout is wrong; these would divide "
                           f"evenly: {', '.join(candidates)}." if candidates else ""), "warning")

    def _open(self, mode: str = "r") -> None:
        self._fd = None
        if self._shape[0] == 0:
            self.data = np.zeros((0, self.nb_channels), dtype=self.data_dtype)
            return
        self.data = np.memmap(self.file_name, dtype=self.data_dtype, mode=mode,
                              offset=int(self.data_offset), shape=self._shape)
        self._fd = open_fd(self.file_name, writable=mode != "r")

    def _close(self) -> None:
        fd = self.__dict__.get("_fd")
        self.data, self._fd = None, None
        if fd is not None:
            os.close(fd)

    def _rows(self, t_start: int, t_stop: int, nodes) -> np.ndarray:
        """Raw samples [t_start, t_stop) of `nodes`: whole rows with pread, a subset from the map."""
        if nodes is None:
            if t_stop <= t_start:
                return np.zeros((0, self.nb_channels), dtype=self.data.dtype)
            return pread_rows(self._fd, int(self.data_offset) + t_start * self._frame_bytes(),
                              (t_stop - t_start, self._shape[1]), self.data.dtype)
        return self.data[t_start:t_stop][:, np.asarray(nodes, dtype=np.intp)]

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        return self._scale_data_to_float32(self._rows(t_start, t_stop, nodes), nodes)

    def read_chunk_raw(self, idx, chunk_size, padding=(0, 0), nodes=None):
        return self._rows(*self._get_t_start_t_stop(idx, chunk_size, padding), nodes)

    def allocate(self, shape, data_dtype=None):
        if data_dtype is not None:
            self._params["data_dtype"] = np.dtype(data_dtype).name
            self._resolve_dtype()
        size = int(self.data_offset) + int(shape[0]) * int(shape[1]) * np.dtype(self.data_dtype).itemsize
        with open(self.file_name, "wb") as handle:
            handle.truncate(size)
        self._shape = (int(shape[0]), int(shape[1]))

    def write_chunk(self, time, data):
        self.write_chunk_raw(time, self._unscale_data_from_float32(data))

    def write_chunk_raw(self, time, raw):
        raw = np.asarray(raw, dtype=self.data.dtype)
        if raw.ndim != 2 or raw.shape[1] != self._shape[1] or not 0 <= int(time) <= self._shape[0] - len(raw):
            raise IndexError(f"{self.file_name}: cannot write {raw.shape} samples at {time} into a "
                             f"file of shape {self._shape}.")
        pwrite_rows(self._fd, int(self.data_offset) + int(time) * self._frame_bytes(), raw)
