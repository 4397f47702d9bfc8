"""numpy: a ``.npy`` array, memory-mapped.

The npy header gives the dtype, the shape and the memory order. A 2-D array may
be stored (time, channels) or (channels, time): the longer axis is time. Either
way the samples are mapped, never loaded, and a read slices only the rows asked.
"""

from __future__ import annotations

import os
import tokenize
from typing import NamedTuple

import numpy as np

from app.io.datafile import DataFile
from app.io.errors import HeaderError
from app.io.fileio import open_fd
from app.io.formats.raw_binary import pread_rows, pwrite_rows

MAGIC = b"\x93NUMPY"


class NpyLayout(NamedTuple):
    """Where and how the samples lie in a .npy file."""

    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    data_offset: int

    @property
    def time_axis(self) -> int:
        """0 for (time, channels) and 1-D arrays, 1 for (channels, time); ties read as time first."""
        return 1 if len(self.shape) == 2 and self.shape[1] > self.shape[0] else 0

    @property
    def time_major(self) -> bool:
        """True when the samples of one time step lie together on disk (C order (time, channels),
        Fortran order (channels, time), or 1-D): then rows are read and written with pread/pwrite."""
        if len(self.shape) == 1:
            return True
        return self.fortran_order == bool(self.time_axis)

    @property
    def recording_shape(self) -> tuple[int, int]:
        if len(self.shape) == 1:
            return (self.shape[0], 1)
        return (self.shape[1], self.shape[0]) if self.time_axis else (self.shape[0], self.shape[1])


def read_npy_layout(file_name: str) -> NpyLayout:
    """Parse the npy header; HeaderError (never numpy's ValueError) for anything malformed."""
    with open(file_name, "rb") as handle:
        try:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(handle)
            elif version == (2, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(handle)
            else:
                raise ValueError(f"npy format version {version[0]}.{version[1]} is not supported")
        except (ValueError, TypeError, SyntaxError, EOFError, OverflowError, tokenize.TokenError) as error:
            raise HeaderError(f"{file_name}: not a valid .npy header ({type(error).__name__}: {error}); the "
                              "file is corrupt, truncated or not written by numpy.save.", file_name) from None
        if any(int(n) < 0 for n in shape):
            raise HeaderError(f"{file_name}: the .npy header gives the shape {shape}; a dimension is "
                              "negative, so the header is damaged.", file_name)
        return NpyLayout(tuple(int(n) for n in shape), bool(fortran_order), np.dtype(dtype), handle.tell())


class NumpyFile(DataFile):
    """A 1-D (one channel) or 2-D .npy array; only `sampling_rate` is asked.

    Files this class allocates are C-order (time, channels), so ranks write
    disjoint rows in place (`parallel_write`).
    """

    description = "numpy"
    title = "NumPy array (.npy)"
    extension = [".npy"]
    parallel_write = True
    is_writable = True
    _required_fields = {"sampling_rate": "float"}
    _default_values = {"dtype_offset": "auto", "gain": 1.0}

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str]:
        with open(path, "rb") as handle:
            if handle.read(len(MAGIC)) == MAGIC:
                return 0.95, "NumPy .npy magic"
        return 0.0, "no NumPy .npy magic"

    def _read_from_header(self) -> dict:
        self._layout = read_npy_layout(self.file_name)
        layout = self._layout
        if len(layout.shape) not in (1, 2):
            raise HeaderError(f"{self.file_name}: the array has shape {layout.shape}; a recording is "
                              "1-D (one channel) or 2-D (time x channels, or channels x time).",
                              self.file_name)
        if layout.dtype.kind not in "iuf" or layout.dtype.itemsize > 8:
            raise HeaderError(f"{self.file_name}: samples of type {layout.dtype} cannot be a recording; "
                              "save an integer or float array.", self.file_name)
        needed = layout.data_offset + int(np.prod(layout.shape)) * layout.dtype.itemsize
        size = os.path.getsize(self.file_name)
        if size < needed:
            raise HeaderError(f"{self.file_name}: the header announces {layout.shape} {layout.dtype} "
                              f"({needed} bytes) but the file has {size} bytes; it is truncated.",
                              self.file_name)
        self._shape = layout.recording_shape
        return {"nb_channels": self._shape[1], "data_dtype": layout.dtype.str}

    def _open(self, mode: str = "r") -> None:
        layout = self._layout
        self._fd = None
        if 0 in layout.shape:
            self.data = np.zeros(self._shape, dtype=layout.dtype)
            return
        array = np.memmap(self.file_name, dtype=layout.dtype, mode=mode, offset=layout.data_offset,
                          shape=layout.shape, order="F" if layout.fortran_order else "C")
        if array.ndim == 1:
            self.data = array[:, None]
        else:
            self.data = array.T if layout.time_axis else array
        if layout.time_major:
            self._fd = open_fd(self.file_name, writable=mode != "r")

    def _close(self) -> None:
        fd = self.__dict__.get("_fd")
        self.data, self._fd = None, None
        if fd is not None:
            os.close(fd)

    def _row_offset(self, t: int) -> int:
        return self._layout.data_offset + t * self._shape[1] * self._layout.dtype.itemsize

    def _rows(self, t_start: int, t_stop: int, nodes) -> np.ndarray:
        """Raw samples [t_start, t_stop) of `nodes`; whole time-major rows come with one pread."""
        if nodes is None and self._fd is not None and t_stop > t_start:
            return pread_rows(self._fd, self._row_offset(t_start), (t_stop - t_start, self._shape[1]),
                              self._layout.dtype)
        rows = self.data[t_start:t_stop]
        return rows if nodes is None else rows[:, np.asarray(nodes, dtype=np.intp)]

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        return self._scale_data_to_float32(self._rows(t_start, t_stop, nodes), nodes)

    def read_chunk_raw(self, idx, chunk_size, padding=(0, 0), nodes=None):
        rows = self._rows(*self._get_t_start_t_stop(idx, chunk_size, padding), nodes)
        return np.array(rows, order="C") if isinstance(rows, np.memmap) else rows

    def allocate(self, shape, data_dtype=None):
        """Write a valid .npy header for a C-order (time, channels) array; samples stay sparse."""
        if data_dtype is not None:
            self._params["data_dtype"] = np.dtype(data_dtype).name
            self._resolve_dtype()
        shape = (int(shape[0]), int(shape[1]))
        array = np.lib.format.open_memmap(self.file_name, mode="w+", dtype=np.dtype(self.data_dtype),
                                          shape=shape)
        del array
        self._layout = read_npy_layout(self.file_name)
        self._shape = shape

    def write_chunk(self, time, data):
        self.write_chunk_raw(time, self._unscale_data_from_float32(data))

    def write_chunk_raw(self, time, raw):
        time = int(time)
        raw = np.asarray(raw, dtype=self._layout.dtype)
        if raw.ndim != 2 or raw.shape[1] != self._shape[1] or not 0 <= time <= self._shape[0] - len(raw):
            raise IndexError(f"{self.file_name}: cannot write {raw.shape} samples at {time} into an "
                             f"array of shape {self._shape}.")
        if self._fd is not None:
            pwrite_rows(self._fd, self._row_offset(time), raw)
        else:
            self.data[time:time + len(raw)] = raw
