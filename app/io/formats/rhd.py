"""rhd: Intan RHD2000 traditional format (`.rhd`), header and data blocks in one file.

The recording is the amplifier channels. Data follow the header in fixed-size blocks
(60 samples per block for major version 1, 128 from version 2); inside a block every
signal group is stored channel by channel, so a window is read block by block with a
structured dtype over a memmap and only the amplifier field is kept.
Layout: Intan's "RHD2000 Application Note: Data File Formats".
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

import numpy as np

from app.io.datafile import DataFile
from app.io.errors import HeaderError
from app.io.events import cached_for_file, edges_from_words, empty_events, pair_ttl_edges
from app.io.formats._intan import block_rows, count_blocks, map_blocks, sniff_magic

MAGIC = 0xC6912702
AMPLIFIER_GAIN = 0.195          # µV per bit
AMPLIFIER, AUX, SUPPLY, ADC, DIGITAL_IN, DIGITAL_OUT = range(6)
SIGNAL_TYPES = (AMPLIFIER, AUX, SUPPLY, ADC, DIGITAL_IN, DIGITAL_OUT)


class _HeaderReader:
    """Sequential little-endian reads that raise HeaderError naming the file and the field."""

    def __init__(self, handle: BinaryIO, file_name: str, label: str = "RHD"):
        self.handle = handle
        self.file_name = file_name
        self.label = label
        self.size = os.fstat(handle.fileno()).st_size

    def _take(self, count: int, field: str) -> bytes:
        raw = self.handle.read(count)
        if len(raw) != count:
            raise HeaderError(f"{self.file_name}: the {self.label} header ends inside {field} (offset "
                              f"{self.handle.tell()} of a {self.size}-byte file); the file is "
                              f"truncated or not an Intan .{self.label.lower()} file.", self.file_name)
        return raw

    def values(self, fmt: str, field: str) -> tuple:
        return struct.unpack("<" + fmt, self._take(struct.calcsize("<" + fmt), field))

    def value(self, fmt: str, field: str):
        return self.values(fmt, field)[0]

    def qstring(self, field: str) -> str:
        length = self.value("I", field)
        if length == 0xFFFFFFFF:
            return ""
        left = self.size - self.handle.tell()
        if length > left:
            raise HeaderError(f"{self.file_name}: QString {field} claims {length} bytes but only "
                              f"{left} remain in the file; the header is corrupt.", self.file_name)
        if length % 2:
            raise HeaderError(f"{self.file_name}: QString {field} has an odd length {length}; UTF-16 "
                              "text has an even number of bytes, the header is corrupt.", self.file_name)
        return self._take(length, field).decode("utf-16-le", errors="replace")

    def tell(self) -> int:
        return self.handle.tell()


def _read_global(reader: _HeaderReader, file_name: str) -> dict:
    magic = reader.value("I", "the magic number")
    if magic != MAGIC:
        raise HeaderError(f"{file_name}: magic number 0x{magic:08X} is not Intan RHD2000's "
                          f"0x{MAGIC:08X}; this is not an .rhd file (an .rhs file needs another reader).",
                          file_name)
    major, minor = reader.values("hh", "the version")
    if not (1 <= major <= 3 and 0 <= minor < 100):
        raise HeaderError(f"{file_name}: RHD version {major}.{minor} is unknown (1.0 to 3.x exist); "
                          "the header is corrupt or from a newer Intan release.", file_name)
    info = {"version": (major, minor)}
    info["sampling_rate"] = reader.value("f", "sample_rate")
    reader.values("h6fh2f", "the filter settings")
    info["notes"] = [reader.qstring(f"note {k}") for k in (1, 2, 3)]
    info["num_temp_sensors"] = reader.value("h", "num_temp_sensor_channels") if (major, minor) >= (1, 1) else 0
    info["eval_board_mode"] = reader.value("h", "eval_board_mode") if (major, minor) >= (1, 3) else 0
    info["reference_channel"] = reader.qstring("reference_channel") if major >= 2 else ""
    if not (info["sampling_rate"] > 0 and np.isfinite(info["sampling_rate"])):
        raise HeaderError(f"{file_name}: sample_rate {info['sampling_rate']} is not a positive rate; "
                          "the header is corrupt.", file_name)
    if info["num_temp_sensors"] < 0:
        raise HeaderError(f"{file_name}: num_temp_sensor_channels is {info['num_temp_sensors']}; "
                          "the header is corrupt.", file_name)
    return info


def _read_channels(reader: _HeaderReader, file_name: str) -> list[dict]:
    """Enabled channels of enabled groups, in file order (the order of the data)."""
    nb_groups = reader.value("h", "number_of_signal_groups")
    if nb_groups < 0:
        raise HeaderError(f"{file_name}: number_of_signal_groups is {nb_groups}; the header is corrupt.",
                          file_name)
    channels = []
    for group in range(nb_groups):
        reader.qstring(f"group {group} name")
        reader.qstring(f"group {group} prefix")
        enabled, count, _ = reader.values("hhh", f"group {group} channel counts")
        if count < 0:
            raise HeaderError(f"{file_name}: signal group {group} has {count} channels; the header "
                              "is corrupt.", file_name)
        if not (enabled and count):
            continue
        for _ in range(count):
            native = reader.qstring(f"group {group} channel name")
            custom = reader.qstring(f"group {group} custom channel name")
            fields = reader.values("hhhhhhhhhh2f", f"channel {native} fields")
            signal_type, channel_enabled = fields[2], fields[3]
            if signal_type not in SIGNAL_TYPES:
                raise HeaderError(f"{file_name}: channel {native} has signal type {signal_type} "
                                  "(0 to 5 exist); the header is corrupt.", file_name)
            if channel_enabled:
                channels.append({"native_name": native, "custom_name": custom, "signal_type": signal_type,
                                 "native_order": fields[0]})
    return channels


def block_dtype(version: tuple[int, int], counts: dict[int, int], num_temp: int) -> tuple[np.dtype, int]:
    """The numpy dtype of one data block and its number of samples."""
    samples = 128 if version[0] >= 2 else 60
    stamp = "<i4" if version >= (1, 2) else "<u4"
    fields = [("timestamp", stamp, (samples,)), ("amplifier", "<u2", (counts[AMPLIFIER], samples))]
    if counts[AUX]:
        fields.append(("aux", "<u2", (counts[AUX], samples // 4)))
    if counts[SUPPLY]:
        fields.append(("supply", "<u2", (counts[SUPPLY],)))
    if num_temp:
        fields.append(("temperature", "<i2", (num_temp,)))
    if counts[ADC]:
        fields.append(("adc", "<u2", (counts[ADC], samples)))
    if counts[DIGITAL_IN]:
        fields.append(("digital_in", "<u2", (samples,)))
    if counts[DIGITAL_OUT]:
        fields.append(("digital_out", "<u2", (samples,)))
    return np.dtype(fields), samples


class RHDFile(DataFile):
    """Intan RHD2000 `.rhd`: amplifier channels as uint16, 0.195 µV per bit around 32768."""

    description = "rhd"
    title = "Intan RHD2000 (.rhd)"
    extension = [".rhd"]
    parallel_write = False
    is_writable = False
    _required_fields = {}
    _default_values = {}

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        return sniff_magic(path, MAGIC, "RHD2000", "info.rhd")

    def _read_from_header(self) -> dict:
        with open(self.file_name, "rb") as handle:
            reader = _HeaderReader(handle, self.file_name)
            info = _read_global(reader, self.file_name)
            channels = _read_channels(reader, self.file_name)
            self._data_offset = reader.tell()
        counts = {kind: sum(c["signal_type"] == kind for c in channels) for kind in SIGNAL_TYPES}
        if counts[AMPLIFIER] == 0:
            raise HeaderError(f"{self.file_name}: no enabled amplifier channel in the header; the "
                              "recording has nothing to read (enable amplifier channels when saving).",
                              self.file_name)
        self._block, self._block_samples = block_dtype(info["version"], counts, info["num_temp_sensors"])
        self.channel_names = [c["custom_name"] or c["native_name"] for c in channels
                              if c["signal_type"] == AMPLIFIER]
        self.version = info["version"]
        nb_blocks = count_blocks(self.file_name, self._data_offset, self._block.itemsize)
        if nb_blocks == 0 and self._has_dat_siblings():
            raise HeaderError(f"{self.file_name}: a header without data blocks, beside Intan .dat files (the "
                              "one-file-per-signal or per-channel layout); open it with file_format=intan_dat.",
                              self.file_name)
        self._shape = (nb_blocks * self._block_samples, counts[AMPLIFIER])
        self._t_start = self._first_timestamp() if nb_blocks else 0
        return {"nb_channels": counts[AMPLIFIER], "sampling_rate": float(info["sampling_rate"]),
                "data_dtype": "uint16", "dtype_offset": 32768, "gain": AMPLIFIER_GAIN}

    def _has_dat_siblings(self) -> bool:
        folder = os.path.dirname(os.path.abspath(self.file_name))
        return any(name == "amplifier.dat" or (name.startswith("amp-") and name.endswith(".dat"))
                   for name in os.listdir(folder))

    def _first_timestamp(self) -> int:
        with open(self.file_name, "rb") as handle:
            handle.seek(self._data_offset)
            kind = "<i" if self.version >= (1, 2) else "<I"
            return int(struct.unpack(kind, handle.read(4))[0])

    def _open(self, mode: str = "r") -> None:
        self._blocks = map_blocks(self.file_name, self._block, self._data_offset,
                                  self._shape[0] // self._block_samples)

    def _close(self) -> None:
        self._blocks = None

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        width = self.nb_channels if nodes is None else len(nodes)
        if t_stop <= t_start:
            return np.zeros((0, width), dtype=np.float32)
        rows = block_rows(self._blocks, "amplifier", self._block_samples, t_start, t_stop, nodes)
        return self._scale_data_to_float32(rows, nodes)

    # -- events -----------------------------------------------------------------------------------
    def _local_events(self) -> np.ndarray:
        """Pulses on the board's digital inputs, one channel per enabled input (its custom name,
        e.g. `DIGITAL-IN-01`; bit = the input's native order). The digital words of all blocks
        are read on the first call (O(file)) and kept in memory per file."""
        if "digital_in" not in (self._block.names or ()) or not self._shape[0]:
            return empty_events()
        with open(self.file_name, "rb") as handle:
            reader = _HeaderReader(handle, self.file_name)
            _read_global(reader, self.file_name)
            inputs = [c for c in _read_channels(reader, self.file_name) if c["signal_type"] == DIGITAL_IN]
        names = {int(c["native_order"]): c["custom_name"] or c["native_name"] for c in inputs}
        return cached_for_file(self.file_name, "digital_in", lambda: self._scan_digital_in(names))

    def _scan_digital_in(self, names: dict[int, str]) -> np.ndarray:
        nb_blocks = self._shape[0] // self._block_samples
        blocks = np.memmap(self.file_name, dtype=self._block, mode="r", offset=self._data_offset,
                           shape=(nb_blocks,))
        step = max(1, (1 << 18) // self._block_samples)
        found, previous = [], None
        for first in range(0, nb_blocks, step):
            words = np.array(blocks[first:first + step]["digital_in"]).reshape(-1)
            found.append(edges_from_words(words, first * self._block_samples, previous, bits=sorted(names)))
            previous = int(words[-1])
        del blocks
        samples, bits, rising = (np.concatenate(parts) for parts in zip(*found))
        return pair_ttl_edges(samples, bits, rising, names=lambda bit: names[int(bit)])
