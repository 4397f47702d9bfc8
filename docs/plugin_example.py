"""A complete Wavescope format wrapper for a small made-up format, "toy" (.toy).

Copy this file into your plugin folder (``wavescope doctor`` prints where it is;
``WAVESCOPE_FORMATS_PATH`` overrides it), rename the class and the
`description`, and change the header parsing. Then::

    wavescope formats                       # your format is listed
    wavescope check-format rec.toy --format toy_int16

The layout of a .toy file (all little-endian):

    offset  size  field
    0       4     magic b"TOY1"
    4       4     nb_channels, uint32
    8       8     sampling_rate in Hz, float64
    16      ...   samples, int16, interleaved: sample t of channel c at 16 + 2 * (t * nb_channels + c)

Physical value = raw * gain (µV per bit); the header has no gain, so the user
may set one (``--set gain=0.195``), else it is 1.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from app.io.datafile import DataFile
from app.io.errors import HeaderError

MAGIC = b"TOY1"
HEADER = struct.Struct("<4sId")     # magic, nb_channels, sampling_rate: 16 bytes
SAMPLE_DTYPE = np.dtype("<i2")


class ToyFile(DataFile):
    """A .toy recording: the header gives every mandatory param, so nothing is asked."""

    description = "toy_int16"               # the format's name: file_format = toy_int16
    title = "Toy int16 recording (.toy)"    # what menus and `wavescope formats` show
    extension: ClassVar[list[str]] = [".toy"]
    is_writable = False                     # read-only: no write_chunk/allocate below
    _required_fields: ClassVar[dict[str, str]] = {}          # the header answers everything
    _default_values: ClassVar[dict[str, object]] = {"gain": 1.0}

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str]:
        """Content beats extension: the magic bytes make this format the first candidate."""
        with open(path, "rb") as handle:
            if handle.read(len(MAGIC)) == MAGIC:
                return 0.95, "toy magic TOY1"
        return 0.0, "no toy magic"

    def _read_from_header(self) -> dict:
        """Parse the 16-byte header, set `_shape`, return the params it gives.

        Runs when the DataFile is constructed: it reads the header only, never samples.
        """
        size = os.path.getsize(self.file_name)
        with open(self.file_name, "rb") as handle:
            raw = handle.read(HEADER.size)
        if len(raw) < HEADER.size:
            raise HeaderError(f"{self.file_name}: {size} bytes is shorter than the 16-byte toy header; "
                              "the file is truncated or not a .toy file.", self.file_name)
        magic, nb_channels, sampling_rate = HEADER.unpack(raw)
        if magic != MAGIC:
            raise HeaderError(f"{self.file_name}: starts with {magic!r}, not {MAGIC!r}; open it with "
                              "another format (see `wavescope formats`).", self.file_name)
        if nb_channels < 1 or not sampling_rate > 0:
            raise HeaderError(f"{self.file_name}: header says {nb_channels} channels at {sampling_rate} Hz; "
                              "both must be positive. The header is damaged.", self.file_name)
        frame = nb_channels * SAMPLE_DTYPE.itemsize
        payload = size - HEADER.size
        if payload % frame:
            raise HeaderError(f"{self.file_name}: {payload} sample bytes are not a whole number of "
                              f"{nb_channels}-channel int16 frames; the file is truncated.", self.file_name)
        self._shape = (payload // frame, nb_channels)
        return {"nb_channels": nb_channels, "sampling_rate": sampling_rate,
                "data_dtype": "int16", "dtype_offset": 0}

    def _open(self, mode: str = "r") -> None:
        """Map the samples; nothing is read until a chunk is sliced."""
        if self._shape[0] == 0:
            self.data = np.zeros(self._shape, dtype=SAMPLE_DTYPE)
            return
        self.data = np.memmap(self.file_name, dtype=SAMPLE_DTYPE, mode="r", offset=HEADER.size,
                              shape=self._shape)

    def _close(self) -> None:
        self.data = None

    def read_chunk(self, idx: int, chunk_size: int, padding: tuple[int, int] = (0, 0),
                   nodes: Sequence[int] | None = None) -> np.ndarray:
        """Samples of chunk `idx` (with `padding`, clipped to the file) as float32 (time, channels)."""
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        rows = self.data[t_start:t_stop]
        if nodes is not None:
            rows = rows[:, np.asarray(nodes, dtype=np.intp)]
        return self._scale_data_to_float32(rows, nodes)
