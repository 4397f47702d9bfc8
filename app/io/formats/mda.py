"""mda: MountainSort arrays (`.mda`), as in `raw.mda`.

Header: int32 dtype code, int32 bytes per entry, int32 number of dimensions (negative: the
dimensions are int64), the dimensions. Data are column-major with dimensions (channels,
samples), which is time-major with the channel fastest on disk, like raw_binary. The file
does not carry the sampling rate, so it is required. Writable, rows in place with pwrite:
never through the memory map, where a full disk is a SIGBUS instead of an error.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from app.io.datafile import DataFile
from app.io.errors import HeaderError
from app.io.formats.raw_binary import pwrite_rows

DTYPE_CODES = {-2: "uint8", -3: "float32", -4: "int16", -5: "int32", -6: "uint16", -7: "float64",
               -8: "uint32"}
CODE_OF_DTYPE = {name: code for code, name in DTYPE_CODES.items()}
MAX_DIMS = 50


def parse_mda_header(raw: bytes, file_name: str) -> tuple[np.dtype, list[int], int]:
    """(dtype, dims, header size) from the first bytes of an .mda file."""
    if len(raw) < 12:
        raise HeaderError(f"{file_name}: {len(raw)} bytes, shorter than an mda header; the file is "
                          "truncated or not an .mda file.", file_name)
    code, entry_bytes, nb_dims = struct.unpack_from("<iii", raw)
    if code not in DTYPE_CODES:
        raise HeaderError(f"{file_name}: dtype code {code} is not one of {sorted(DTYPE_CODES)} (complex "
                          "-1 is not a sample type); this is not a real-valued .mda file.", file_name)
    dtype = np.dtype(DTYPE_CODES[code]).newbyteorder("<")
    if entry_bytes != dtype.itemsize:
        raise HeaderError(f"{file_name}: {entry_bytes} bytes per entry, but {dtype.name} takes "
                          f"{dtype.itemsize}; the header is corrupt.", file_name)
    if nb_dims == 0 or abs(nb_dims) > MAX_DIMS:
        raise HeaderError(f"{file_name}: {nb_dims} dimensions; an mda array has 1 to {MAX_DIMS}.", file_name)
    kind = "q" if nb_dims < 0 else "i"
    size = 12 + abs(nb_dims) * struct.calcsize(kind)
    if len(raw) < size:
        raise HeaderError(f"{file_name}: the file ends inside the list of dimensions; it is truncated.",
                          file_name)
    dims = list(struct.unpack_from(f"<{abs(nb_dims)}{kind}", raw, 12))
    if any(d < 0 for d in dims):
        raise HeaderError(f"{file_name}: negative dimension in {dims}; the header is corrupt.", file_name)
    return dtype, dims, size


def mda_header(dtype: np.dtype, dims: list[int]) -> bytes:
    """The header of an array of `dims`; dimensions beyond int32 switch to the int64 form."""
    code = CODE_OF_DTYPE[np.dtype(dtype).name]
    if max(dims) < 2**31:
        return struct.pack(f"<iii{len(dims)}i", code, np.dtype(dtype).itemsize, len(dims), *dims)
    return struct.pack(f"<iii{len(dims)}q", code, np.dtype(dtype).itemsize, -len(dims), *dims)


class MDAFile(DataFile):
    """A 2-D `.mda` array (channels, samples)."""

    description = "mda"
    title = "MountainSort (.mda)"
    extension = [".mda"]
    parallel_write = True
    is_writable = True
    _required_fields = {"sampling_rate": "float"}
    _default_values = {"dtype_offset": "auto", "gain": 1.0}

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as handle:
            raw = handle.read(12 + MAX_DIMS * 8)
        try:
            dtype, dims, size = parse_mda_header(raw, path)
        except HeaderError:
            return None
        expected = size + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
        if expected != os.path.getsize(path):
            return None
        with_ext = path.lower().endswith(".mda")
        return (0.9 if with_ext else 0.4), f"mda header: {dtype.name} {dims}, size matches"

    def _read_from_header(self) -> dict:
        with open(self.file_name, "rb") as handle:
            raw = handle.read(12 + MAX_DIMS * 8)
        dtype, dims, self._data_offset = parse_mda_header(raw, self.file_name)
        while len(dims) > 2 and dims[-1] == 1:
            dims.pop()
        if len(dims) == 1:
            dims.append(1)
        if len(dims) != 2 or dims[0] < 1:
            raise HeaderError(f"{self.file_name}: dimensions {dims} are not (channels, samples) with at "
                              "least one channel.", self.file_name)
        channels, samples = dims
        payload = os.path.getsize(self.file_name) - self._data_offset
        if payload < channels * samples * dtype.itemsize:
            raise HeaderError(f"{self.file_name}: the header announces {channels} x {samples} "
                              f"{dtype.name} values ({channels * samples * dtype.itemsize} bytes) but "
                              f"{payload} bytes follow; the file is truncated.", self.file_name)
        self._shape = (samples, channels)
        return {"nb_channels": channels, "data_dtype": dtype.name}

    def _open(self, mode: str = "r") -> None:
        self._fd = None
        if self._shape[0] == 0:
            self.data = np.zeros(self._shape, dtype=self.data_dtype)
            return
        self.data = np.memmap(self.file_name, dtype=np.dtype(self.data_dtype).newbyteorder("<"),
                              mode="r", offset=self._data_offset, shape=self._shape)
        if mode == "r+":
            self._fd = os.open(self.file_name, os.O_RDWR)

    def _close(self) -> None:
        fd = self.__dict__.get("_fd")
        self.data, self._fd = None, None
        if fd is not None:
            os.close(fd)

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        rows = self.data[t_start:max(t_stop, t_start)]
        if nodes is not None:
            rows = rows[:, np.asarray(nodes, dtype=np.intp)]
        return self._scale_data_to_float32(rows, nodes)

    def allocate(self, shape, data_dtype=None):
        """Write the header and reserve the samples (sparse); `write_chunk` fills rows in place."""
        if data_dtype is not None:
            self._params["data_dtype"] = np.dtype(data_dtype).name
            self._resolve_dtype()
        dtype = np.dtype(self.data_dtype)
        if dtype.name not in CODE_OF_DTYPE:
            raise HeaderError(f"{self.file_name}: mda cannot store {dtype.name}; use one of "
                              f"{', '.join(CODE_OF_DTYPE)}.", self.file_name)
        samples, channels = int(shape[0]), int(shape[1])
        header = mda_header(dtype, [channels, samples])
        with open(self.file_name, "wb") as handle:
            handle.write(header)
            handle.truncate(len(header) + samples * channels * dtype.itemsize)
        self._data_offset = len(header)
        self._shape = (samples, channels)

    def write_chunk(self, time, data):
        self.write_chunk_raw(time, self._unscale_data_from_float32(data))

    def write_chunk_raw(self, time, raw):
        time = int(time)
        raw = np.asarray(raw, dtype=np.dtype(self.data_dtype).newbyteorder("<"))
        if self.__dict__.get("_fd") is None:
            raise HeaderError(f"{self.file_name}: open the file with open('r+') before writing.", self.file_name)
        if raw.ndim != 2 or raw.shape[1] != self._shape[1] or not 0 <= time <= self._shape[0] - len(raw):
            raise IndexError(f"{self.file_name}: cannot write {raw.shape} samples at {time} into an "
                             f"array of shape {self._shape}.")
        itemsize = raw.dtype.itemsize
        pwrite_rows(self._fd, self._data_offset + time * self._shape[1] * itemsize, raw)
