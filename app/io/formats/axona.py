"""axona: Axona DacqUSB recordings: `.set` + `.bin` raw data, or `.eeg`/`.egf` continuous files.

`.set` is text, `key value` per line. `.bin` is a header-less run of 432-byte packets: 32 bytes
("ADU1"/"ADU2", packet number, digital and sync inputs, tracker), 3 samples x 64 int16 channels,
16 trailing bytes. Inside a 64-word sample the 8-channel groups are swapped pairwise (channel c
sits at slot `SLOT_GROUP[c // 8] * 8 + c % 8`). Channels recorded: the 4 of each tetrode t
with `collectMask_t 1`. µV per bit = ADC_fullscale_mv * 1000 / (gain_ch_n * 2**(bits - 1)).
`.eeg`/`.egf` (and `.eeg2`, `.egf3`...): `key value` lines up to `data_start`, then int8 (eeg)
or int16 little-endian (egf) samples; file k takes the gain of channel `EEG_ch_k - 1`.
Layout: neo `axonarawio.py`, CINPLA pyxona, Axona's file format notes.
"""

from __future__ import annotations

import os
import re

import numpy as np

from app.io.datafile import DataFile
from app.io.errors import HeaderError, MissingFieldsError
from app.io.events import cached_for_file, edges_from_words, empty_events, merge_events, pair_ttl_edges
from app.io.messages import print_and_log

PACKET = np.dtype([("head", "V32"), ("samples", "<i2", (3, 64)), ("tail", "V16")])
SLOT_GROUP = (4, 0, 5, 1, 6, 2, 7, 3)
# The 16-bit digital input (byte 8) and output (byte 416) words of a packet, read little-endian
# (formats-more.md: byte/bit order to verify on a real recording).
DIGITAL = np.dtype([("before", "V8"), ("inputs", "<u2"), ("middle", "V406"), ("outputs", "<u2"), ("after", "V14")])
SLAB_PACKETS = 1 << 16
CONTINUOUS = re.compile(r"\.(eeg|egf)(\d*)$", re.IGNORECASE)
DATA_START = b"data_start"
TRAILER = b"\r\ndata_end\r\n"
MAX_HEADER = 1 << 16


def slot_of(channel: int) -> int:
    """Position of `channel` (0-63) inside a 64-word sample of a `.bin` packet."""
    return SLOT_GROUP[channel // 8] * 8 + channel % 8


def parse_key_values(raw: bytes) -> dict[str, str]:
    found = {}
    for line in raw.decode("cp1252", "replace").splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            found[key] = value.strip()
    return found


class AxonaFile(DataFile):
    """The `.bin` raw channels of a trial (given its `.set` or `.bin`), or one `.eeg`/`.egf` file."""

    description = "axona"
    title = "Axona DacqUSB (.set/.bin, .eeg, .egf)"
    extension = [".set", ".bin", ".eeg", ".egf"]
    is_writable = False
    is_streamable = ["multi-files"]

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        if not os.path.isfile(path):
            return None
        stem, ext = os.path.splitext(path)
        if CONTINUOUS.search(path):
            with open(path, "rb") as handle:
                head = handle.read(4096)
            return (0.95, f"Axona {ext} header") if b"num_chans" in head and DATA_START in head else None
        if ext.lower() in (".set", ".bin") and os.path.isfile(stem + ".set") and os.path.isfile(stem + ".bin"):
            with open(stem + ".bin", "rb") as handle:
                magic = handle.read(4)
            if magic in (b"ADU1", b"ADU2"):
                return 0.95, f"Axona trial ({os.path.basename(stem)}.set + .bin, {magic.decode()} packets)"
        return None

    # -- header -----------------------------------------------------------------------------------
    def _fail(self, problem: str, path: str | None = None) -> HeaderError:
        return HeaderError(f"{path or self.file_name}: {problem}", path or self.file_name)

    def _read_from_header(self) -> dict:
        stem = os.path.splitext(self.file_name)[0]
        self.set_path = stem + ".set"
        self.settings = self._read_set() if os.path.isfile(self.set_path) else None
        if CONTINUOUS.search(self.file_name):
            return self._read_continuous()
        if self.settings is None:
            raise self._fail(f"no {os.path.basename(self.set_path)} beside it; an Axona .bin needs its .set "
                             "file for the rate, the channels and the gains.")
        self.data_path = stem + ".bin"
        if not os.path.isfile(self.data_path):
            raise self._fail(f"no {os.path.basename(self.data_path)} beside the .set file; this trial has no "
                             "raw data (open its .eeg or .egf instead).", self.set_path)
        return self._read_bin()

    def _read_set(self) -> dict[str, str]:
        with open(self.set_path, "rb") as handle:
            raw = handle.read(1 << 20)
        settings = parse_key_values(raw)
        if not any(key.startswith("gain_ch_") for key in settings):
            raise self._fail("has no gain_ch_<n> lines; it is not an Axona .set file or it is truncated.",
                             self.set_path)
        return settings

    def _setting(self, key: str, kind: type = float, path: str | None = None):
        source = self.settings if path is None else self._continuous_header
        value = source.get(key)
        if value is None:
            raise self._fail(f"has no {key} line; the header is incomplete.", path or self.set_path)
        try:
            number = kind(value.split()[0]) if value.split() else kind("")
        except ValueError:
            raise self._fail(f"{key} is {value!r}, not a number; the header is corrupt.",
                             path or self.set_path) from None
        return number

    def _channel_gain(self, channel: int, bits: int) -> float:
        fullscale = self._setting("ADC_fullscale_mv")
        gain = self._setting(f"gain_ch_{channel}")
        if not fullscale > 0 or not gain > 0:
            raise self._fail(f"ADC_fullscale_mv {fullscale} and gain_ch_{channel} {gain} must be positive.",
                             self.set_path)
        return fullscale * 1000.0 / (gain * 2 ** (bits - 1))

    # -- .bin -------------------------------------------------------------------------------------
    def _recorded_channels(self) -> list[int]:
        tetrodes = []
        for key, value in self.settings.items():
            if key.startswith("collectMask_") and key[12:].isdigit() and value.split()[:1] == ["1"]:
                tetrodes.append(int(key[12:]))
        channels = [4 * (t - 1) + k for t in sorted(tetrodes) if 1 <= t <= 16 for k in range(4)]
        if not channels:
            raise self._fail("no tetrode is recorded (no collectMask_<t> set to 1 for t in 1-16).", self.set_path)
        return channels

    def _read_bin(self) -> dict:
        if self.settings.get("mode128channels", "0").split()[:1] not in ([], ["0"]):
            raise self._fail("was recorded in 128-channel mode; this reader handles the 64-channel packet "
                             "layout only.", self.set_path)
        rate = self._setting("rawRate")
        if not rate > 0:
            raise self._fail(f"rawRate is {rate}; it must be positive.", self.set_path)
        self.channels = self._recorded_channels()
        self._slots = np.array([slot_of(c) for c in self.channels], dtype=np.intp)
        gains = np.array([self._channel_gain(c, 16) for c in self.channels])
        size = os.path.getsize(self.data_path)
        packets = size // PACKET.itemsize
        if size % PACKET.itemsize:
            print_and_log(f"{self.data_path}: {size % PACKET.itemsize} bytes after the last whole 432-byte "
                          "packet (truncated); ignored.", "warning")
        if packets == 0:
            raise self._fail("holds no whole 432-byte packet; it is empty or truncated.", self.data_path)
        with open(self.data_path, "rb") as handle:
            magic = handle.read(4)
        if magic not in (b"ADU1", b"ADU2"):
            raise self._fail(f"starts with {magic!r}, not ADU1/ADU2; it is not Axona raw data.", self.data_path)
        self._data_offset, self._packets = 0, packets
        self._shape = (3 * packets, len(self.channels))
        if np.any(gains != gains[0]):
            self._channel_gains = gains
        return {"nb_channels": len(self.channels), "sampling_rate": rate, "data_dtype": "int16",
                "dtype_offset": 0, "gain": float(gains[0])}

    # -- .eeg / .egf ------------------------------------------------------------------------------
    def _read_continuous(self) -> dict:
        self.data_path = self.file_name
        with open(self.file_name, "rb") as handle:
            head = handle.read(MAX_HEADER)
        end = head.find(DATA_START)
        if end < 0:
            raise self._fail("no data_start marker in its first 64 KiB; the header is truncated or this is "
                             "not an Axona .eeg/.egf file.")
        self._continuous_header = parse_key_values(head[:end])
        path = self.file_name
        count = self._setting("num_chans", int, path)
        width = self._setting("bytes_per_sample", int, path)
        rate = self._setting("sample_rate", float, path)
        if count < 1 or width not in (1, 2) or not rate > 0:
            raise self._fail(f"num_chans {count}, bytes_per_sample {width}, sample_rate {rate}: expected at "
                             "least one channel, 1 or 2 bytes and a positive rate; the header is corrupt.")
        kind = CONTINUOUS.search(self.file_name).group(1).lower()
        self._data_offset = end + len(DATA_START)
        self._shape = (self._continuous_samples(kind, count, width), count)
        found = {"nb_channels": count, "sampling_rate": rate, "data_dtype": "int8" if width == 1 else "int16",
                 "dtype_offset": 0}
        found.update(self._continuous_gain(width))
        return found

    def _continuous_samples(self, kind: str, count: int, width: int) -> int:
        size = os.path.getsize(self.file_name)
        with open(self.file_name, "rb") as handle:
            handle.seek(max(size - len(TRAILER), 0))
            if handle.read() == TRAILER:
                size -= len(TRAILER)
        room = (size - self._data_offset) // (count * width)
        declared_key = "num_EEG_samples" if kind == "eeg" else "num_EGF_samples"
        declared = self._setting(declared_key, int, self.file_name) if declared_key in \
            self._continuous_header else room
        if declared > room:
            print_and_log(f"{self.file_name}: {declared_key} is {declared} but only {room} samples are in "
                          "the file (truncated); reading those.", "warning")
        samples = min(declared, room)
        if samples <= 0:
            raise self._fail("holds no samples after data_start; it is empty or truncated.")
        return samples

    def _continuous_gain(self, width: int) -> dict:
        if "gain" in self.given_fields:
            return {}
        if self.settings is None:
            raise MissingFieldsError(self.file_name, {"gain": "float"}, self.description)
        number = CONTINUOUS.search(self.file_name).group(2) or "1"
        source = self._setting(f"EEG_ch_{number}", int)
        if source < 1:
            raise self._fail(f"EEG_ch_{number} is {source}: continuous file {number} has no source channel.",
                             self.set_path)
        self.channels = [source - 1]
        return {"gain": self._channel_gain(source - 1, 8 * width)}

    # -- events -----------------------------------------------------------------------------------
    def _local_events(self) -> np.ndarray:
        """Pulses on the 16 digital input lines (`DIN <bit>`) and 16 output lines (`DOUT <bit>`) of
        the `.bin` packets, at the packet's first sample (3 samples per packet). `.eeg`/`.egf`
        files carry no digital lines. Read on the first call, cached per file."""
        if CONTINUOUS.search(self.file_name):
            return empty_events()
        return cached_for_file(self.data_path, "axona-digital", self._scan_digital)

    def _scan_digital(self) -> np.ndarray:
        packets = np.memmap(self.data_path, dtype=DIGITAL, mode="r", shape=(self._packets,))
        tables = []
        for field, prefix in (("inputs", "DIN"), ("outputs", "DOUT")):
            found, previous = [], None
            for first in range(0, self._packets, SLAB_PACKETS):
                words = np.array(packets[first:first + SLAB_PACKETS][field])
                found.append(edges_from_words(words, first, previous))
                previous = int(words[-1])
            packet, bits, rising = (np.concatenate(parts) for parts in zip(*found))
            tables.append(pair_ttl_edges(3 * packet, bits, rising, names=lambda bit, p=prefix: f"{p} {bit}"))
        del packets
        return merge_events(*tables)

    # -- data -------------------------------------------------------------------------------------
    def _open(self, mode: str = "r") -> None:
        if CONTINUOUS.search(self.file_name):
            self.data = np.memmap(self.data_path, dtype=np.dtype(self.data_dtype).newbyteorder("<"), mode="r",
                                  offset=self._data_offset, shape=self._shape)
        else:
            self.data = np.memmap(self.data_path, dtype=PACKET, mode="r", shape=(self._packets,))

    def _close(self) -> None:
        self.data = None

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        t_stop = max(t_stop, t_start)
        picked = None if nodes is None else np.asarray(nodes, dtype=np.intp)
        if CONTINUOUS.search(self.file_name):
            rows = self.data[t_start:t_stop]
            return self._scale_data_to_float32(rows if picked is None else rows[:, picked], nodes)
        first, stop = t_start // 3, -(-t_stop // 3)
        samples = self.data[first:stop]["samples"].reshape(-1, 64)
        slots = self._slots if picked is None else self._slots[picked]
        skip = t_start - 3 * first
        return self._scale_data_to_float32(samples[skip: skip + t_stop - t_start][:, slots], nodes)
