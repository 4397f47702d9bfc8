"""plexon: Plexon `.plx` continuous (slow A/D) channels.

A `.plx` is packed C structs: a 7504-byte file header, spike (DSP), event and slow-channel
headers, then data blocks with a 16-byte head each (type, 40-bit timestamp, channel, words), in
acquisition order and with no index. The file is walked once, reading block heads only, and the
offsets of the continuous blocks are kept as numpy arrays in the user cache dir, keyed by the
file's path, size and mtime, so reopening is instant and memory holds the index, never samples.
Channels sharing a rate form a stream (`stream_index` picks one, in header order); a pause
(a block starting later than the previous one ends) starts a new segment (`segments` mode).
`.pl2` files need Plexon's Windows library and are refused with a message saying so.
Layout: Plexon SDK `Plexon.h` (facts in formats-more.md).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import tempfile

import numpy as np

from app.io.datafile import DataFile
from app.io.errors import HeaderError
from app.io.events import cached_for_file, make_events
from app.io.messages import print_and_log

MAGIC = 0x58454C50
GLOBAL_BYTES, DSP_BYTES, EVENT_BYTES, SLOW_BYTES = 7504, 1020, 296, 296
BLOCK_HEAD = struct.Struct("<hHIhhhh")
HEAD_DTYPE = np.dtype([("type", "<i2"), ("upper", "<u2"), ("lower", "<u4"), ("channel", "<i2"), ("unit", "<i2"),
                       ("waveforms", "<i2"), ("words", "<i2")])
SPIKE, EVENT, CONTINUOUS = 1, 4, 5
STROBED = 257
EVENT_DEFAULT_NAMES = {STROBED: "Strobed", 258: "Start", 259: "Stop"}
SLAB_BYTES = 16 << 20
INDEX_VERSION = 1
INDEX_COLUMNS = ("offsets", "ticks", "counts", "directory")


# -- headers ----------------------------------------------------------------------------------------


def read_global_header(path: str, size: int) -> dict:
    if size < GLOBAL_BYTES:
        raise HeaderError(f"{path}: {size} bytes, shorter than the 7504-byte Plexon file header; the file is "
                          "truncated or not a .plx file.", path)
    with open(path, "rb") as handle:
        raw = handle.read(GLOBAL_BYTES)
    magic, version = struct.unpack_from("<Ii", raw, 0)
    if magic != MAGIC:
        raise HeaderError(f"{path}: magic number 0x{magic:08X} is not Plexon's 0x{MAGIC:08X} ('PLEX'); this is "
                          "not a .plx file.", path)
    if not 100 <= version <= 120:
        raise HeaderError(f"{path}: .plx version {version} is unknown (100 to 107 exist); the header is corrupt.",
                          path)
    ad_frequency, n_dsp, n_event, n_slow = struct.unpack_from("<4i", raw, 136)
    bits_spike, bits_slow, spike_max, slow_max = struct.unpack_from("<BBHH", raw, 202)
    spike_preamp = struct.unpack_from("<H", raw, 208)[0]
    header = {"version": version, "ad_frequency": ad_frequency, "n_dsp": n_dsp, "n_event": n_event,
              "n_slow": n_slow, "bits_slow": bits_slow, "slow_max_mv": slow_max, "bits_spike": bits_spike,
              "spike_preamp": spike_preamp, "spike_max_mv": spike_max}
    if ad_frequency <= 0:
        raise HeaderError(f"{path}: ADFrequency {ad_frequency} is not a positive clock rate; the header is "
                          "corrupt.", path)
    if min(n_dsp, n_event, n_slow) < 0 or max(n_dsp, n_event, n_slow) > 100_000:
        raise HeaderError(f"{path}: channel counts (DSP {n_dsp}, event {n_event}, slow {n_slow}) are "
                          "impossible; the header is corrupt.", path)
    header["data_start"] = GLOBAL_BYTES + DSP_BYTES * n_dsp + EVENT_BYTES * (n_event + n_slow)
    if header["data_start"] > size:
        raise HeaderError(f"{path}: the channel headers need {header['data_start']} bytes but the file has "
                          f"{size}; it is truncated or NumSlowChannels is corrupt.", path)
    return header


def read_slow_headers(path: str, header: dict) -> list[dict]:
    offset = GLOBAL_BYTES + DSP_BYTES * header["n_dsp"] + EVENT_BYTES * header["n_event"]
    with open(path, "rb") as handle:
        handle.seek(offset)
        raw = handle.read(SLOW_BYTES * header["n_slow"])
    channels = []
    for k in range(header["n_slow"]):
        base = k * SLOW_BYTES
        name = raw[base:base + 32].split(b"\x00", 1)[0].decode("latin-1")
        number, rate, gain, enabled, preamp = struct.unpack_from("<5i", raw, base + 32)
        channels.append({"name": name or f"AD{number:02d}", "channel": number, "rate": rate, "gain": gain,
                         "enabled": enabled, "preamp": preamp})
    return channels


def microvolts_per_bit(header: dict, channel: dict, path: str) -> float:
    """Continuous gain; from version 103 with BitsPerSlowSample (neo uses BitsPerSpikeSample)."""
    version, gain, preamp = header["version"], channel["gain"], channel["preamp"]
    if version <= 101:
        denominator = 2048 * gain * 1000.0
        numerator = 5000.0
    elif version == 102:
        denominator = 2048 * gain * preamp
        numerator = 5000.0
    else:
        denominator = 0.5 * 2.0 ** header["bits_slow"] * gain * preamp
        numerator = header["slow_max_mv"]
    if denominator == 0 or numerator == 0:
        raise HeaderError(f"{path}: channel {channel['name']} has Gain {gain}, PreAmpGain {preamp}, "
                          f"SlowMaxMagnitudeMV {header['slow_max_mv']}; its scale is undefined (header corrupt).",
                          path)
    return numerator / denominator * 1000.0


# -- the block index --------------------------------------------------------------------------------


class _BlockWalk:
    """One pass over the data blocks, reading heads only, collecting the continuous ones.

    Consecutive blocks of one length are checked together with a strided numpy view, so
    the usual file (continuous blocks of a fixed size) costs one numpy step per slab.
    """

    def __init__(self, path: str, start: int, size: int):
        self.path, self.size = path, size
        self.columns: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.singles: list[tuple[int, int, int, int]] = []
        self.buffer = bytearray(SLAB_BYTES)
        self.filled, self.slab_start = 0, start
        self.pos = start

    def run(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        with open(self.path, "rb") as handle:
            while self.pos < self.size:
                if not self._step(handle):
                    break
        self._flush()
        if not self.columns:
            return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int16), np.zeros(0, np.int32))
        return tuple(np.concatenate(parts) for parts in zip(*self.columns))

    def _refill(self, handle) -> None:
        handle.seek(self.pos)
        self.filled = handle.readinto(self.buffer)
        self.slab_start = self.pos

    def _stop(self, why: str) -> bool:
        print_and_log(f"{self.path}: {why} at byte {self.pos}; the samples before it are read, the rest is "
                      "ignored (file truncated or damaged).", "warning")
        return False

    def _step(self, handle) -> bool:
        rel = self.pos - self.slab_start
        if rel + 16 > self.filled:
            self._refill(handle)
            rel = 0
            if self.filled < 16:
                return self._stop("a data block head is cut short")
        kind, upper, lower, channel, unit, waveforms, words = BLOCK_HEAD.unpack_from(self.buffer, rel)
        if kind not in (SPIKE, EVENT, CONTINUOUS) or waveforms < 0 or words < 0:
            return self._stop(f"a data block of unknown type {kind} (or negative size)")
        length = 16 + 2 * waveforms * words
        if self.pos + length > self.size:
            return self._stop("the last data block is cut short")
        count = self._run_length(rel, kind, length)
        if count == 1:
            self._take_single(kind, (upper << 32) | lower, channel, unit, waveforms * words)
        else:
            self._take_run(rel, count, length, kind)
        self.pos += count * length
        return True

    def _take_single(self, kind: int, ticks: int, channel: int, unit: int, words: int) -> None:
        if kind == CONTINUOUS and words:
            self.singles.append((self.pos + 16, ticks, channel, words))
            if len(self.singles) >= 100_000:
                self._flush()

    def _run_length(self, rel: int, kind: int, length: int) -> int:
        """How many blocks from `rel` have this kind and length (their heads all inside the slab)."""
        nxt = rel + length
        if nxt + 16 > self.filled:
            return 1
        kind2, _, _, _, _, waveforms2, words2 = BLOCK_HEAD.unpack_from(self.buffer, nxt)
        if kind2 != kind or 16 + 2 * waveforms2 * words2 != length:
            return 1
        most = min((self.filled - rel - 16) // length + 1, (self.size - self.pos) // length)
        heads = np.ndarray((most,), HEAD_DTYPE, buffer=self.buffer, offset=rel, strides=(length,))
        same = (heads["type"] == kind) & (16 + 2 * heads["waveforms"].astype(np.int64) * heads["words"] == length)
        return most if same.all() else int(np.argmin(same))

    def _take_run(self, rel: int, count: int, length: int, kind: int) -> None:
        if kind != CONTINUOUS or length == 16:
            return
        heads = np.ndarray((count,), HEAD_DTYPE, buffer=self.buffer, offset=rel, strides=(length,))
        self._flush()
        self.columns.append((self.pos + 16 + length * np.arange(count, dtype=np.int64),
                             (heads["upper"].astype(np.int64) << 32) | heads["lower"].astype(np.int64),
                             heads["channel"].copy(), (heads["waveforms"].astype(np.int32) * heads["words"])))

    def _flush(self) -> None:
        if self.singles:
            offsets, ticks, channels, counts = zip(*self.singles)
            self.columns.append((np.array(offsets, np.int64), np.array(ticks, np.int64),
                                 np.array(channels, np.int16), np.array(counts, np.int32)))
            self.singles = []


class _EventWalk(_BlockWalk):
    """The same pass, keeping the event blocks (type 4): columns (block offset, ticks, event
    channel, unit: the strobed word for channel 257, read unsigned as neo does)."""

    def _take_single(self, kind: int, ticks: int, channel: int, unit: int, words: int) -> None:
        if kind == EVENT:
            self.singles.append((self.pos, ticks, channel, unit & 0xFFFF))
            if len(self.singles) >= 100_000:
                self._flush()

    def _take_run(self, rel: int, count: int, length: int, kind: int) -> None:
        if kind != EVENT:
            return
        heads = np.ndarray((count,), HEAD_DTYPE, buffer=self.buffer, offset=rel, strides=(length,))
        self._flush()
        self.columns.append((self.pos + length * np.arange(count, dtype=np.int64),
                             (heads["upper"].astype(np.int64) << 32) | heads["lower"].astype(np.int64),
                             heads["channel"].copy(), heads["unit"].astype(np.int32) & 0xFFFF))


def read_event_names(path: str, header: dict) -> dict[int, str]:
    """Event channel number -> name, from the event channel headers."""
    with open(path, "rb") as handle:
        handle.seek(GLOBAL_BYTES + DSP_BYTES * header["n_dsp"])
        raw = handle.read(EVENT_BYTES * header["n_event"])
    names = {}
    for base in range(0, len(raw) - EVENT_BYTES + 1, EVENT_BYTES):
        number = struct.unpack_from("<i", raw, base + 32)[0]
        names[number] = raw[base:base + 32].split(b"\x00", 1)[0].decode("latin-1").strip()
    return names


def read_events(path: str, header: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ticks, channel names, labels) of every event block, in file order. A strobed block
    (channel 257) is labelled by its word, any other by its channel's name."""
    _, ticks, numbers, units = _EventWalk(path, header["data_start"], os.path.getsize(path)).run()
    names = {**EVENT_DEFAULT_NAMES, **{k: v for k, v in read_event_names(path, header).items() if v}}
    present, which = np.unique(numbers, return_inverse=True)
    channel_of = np.array([names.get(int(n), f"Event {int(n)}") for n in present], dtype=object)
    channels = channel_of[which.reshape(-1)]
    labels = channels.copy()
    strobed = numbers == STROBED
    if strobed.any():
        words, index = np.unique(units[strobed], return_inverse=True)
        labels[strobed] = np.array([str(w) for w in words.tolist()], dtype=object)[index.reshape(-1)]
    return ticks, channels, labels


def build_index(path: str, start: int, size: int) -> dict[str, np.ndarray]:
    """Continuous blocks grouped by channel (file order within each): data offsets, ticks, sample
    counts; `directory` rows are (channel, first block, end block)."""
    offsets, ticks, channels, counts = _BlockWalk(path, start, size).run()
    order = np.argsort(channels, kind="stable")
    channels = channels[order]
    numbers, first, per_channel = np.unique(channels, return_index=True, return_counts=True)
    directory = np.stack([numbers.astype(np.int64), first, first + per_channel], axis=1).reshape(-1, 3)
    return {"offsets": offsets[order], "ticks": ticks[order], "counts": counts[order], "directory": directory}


def index_folder(path: str) -> str:
    import platformdirs
    stat = os.stat(path)
    key = f"{INDEX_VERSION}|{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:24]
    return os.path.join(platformdirs.user_cache_dir("wavescope"), "plexon-index", digest)


def load_index(path: str, start: int, size: int) -> dict[str, np.ndarray]:
    """The cached index of `path` (memory-mapped), built and saved on the first open."""
    folder = index_folder(path)
    try:
        return {name: np.load(os.path.join(folder, f"{name}.npy"), mmap_mode="r") for name in INDEX_COLUMNS}
    except (OSError, ValueError):
        pass
    index = build_index(path, start, size)
    try:
        os.makedirs(os.path.dirname(folder), exist_ok=True)
        scratch = tempfile.mkdtemp(prefix=".building-", dir=os.path.dirname(folder))
        for name in INDEX_COLUMNS:
            np.save(os.path.join(scratch, f"{name}.npy"), index[name])
        try:
            os.replace(scratch, folder)
        except OSError:                     # another process saved it first
            shutil.rmtree(scratch, ignore_errors=True)
    except OSError as error:
        print_and_log(f"{path}: could not cache the block index ({error}); the next open walks the file "
                      "again.", "warning")
    return index


def find_segments(ticks: np.ndarray, counts: np.ndarray, ticks_per_sample: float) -> list[tuple[int, int]]:
    """[first, end) block ranges without pauses: a block starting more than one sample after the
    previous block's last sample opens a new segment."""
    ticks = np.asarray(ticks, dtype=np.float64)
    expected = ticks[:-1] + np.asarray(counts[:-1], dtype=np.float64) * ticks_per_sample
    breaks = np.flatnonzero(ticks[1:] - expected > ticks_per_sample) + 1
    limits = [0, *breaks.tolist(), len(ticks)]
    return [(limits[k], limits[k + 1]) for k in range(len(limits) - 1)]


# -- the format -------------------------------------------------------------------------------------


class PlexonFile(DataFile):
    """One stream (the slow channels of one rate) of a `.plx` file; read-only."""

    description = "plexon"
    title = "Plexon (.plx)"
    extension = [".plx", ".pl2"]
    parallel_write = False
    is_writable = False
    is_streamable = ["multi-files", "segments"]
    _required_fields = {}
    _default_values = {}
    _field_types = {"stream_index": "int", "segment_index": "int"}

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as handle:
            head = handle.read(8)
        if len(head) == 8 and struct.unpack("<I", head[:4])[0] == MAGIC:
            return 1.0, f"Plexon PLEX header, version {struct.unpack('<i', head[4:])[0]}"
        if path.lower().endswith(".pl2"):
            return 0.5, "extension .pl2 (Plexon PL2; needs Plexon's library)"
        return None

    # -- header -----------------------------------------------------------------------------------
    def _read_from_header(self) -> dict:
        if self.file_name.lower().endswith(".pl2"):
            raise HeaderError(f"{self.file_name}: Plexon .pl2 files have no published byte layout; they are read "
                              "only through Plexon's PL2FileReader library (Windows). Export the recording to "
                              ".plx (Plexon's PL2 to PLX converter) or to another format.", self.file_name)
        size = os.path.getsize(self.file_name)
        self.header = read_global_header(self.file_name, size)
        slow = read_slow_headers(self.file_name, self.header)
        index = load_index(self.file_name, self.header["data_start"], size)
        rate, channels = self._pick_stream(slow, index["directory"])
        self.channel_names = [c["name"] for c in channels]
        self._channel_gains = np.array([microvolts_per_bit(self.header, c, self.file_name) for c in channels])
        self._locate_segment(index, channels, rate)
        gains = self._channel_gains
        return {"nb_channels": len(channels), "sampling_rate": float(rate), "data_dtype": "int16",
                "dtype_offset": 0, "gain": float(gains[0]) if np.all(gains == gains[0]) else 1.0}

    def _pick_stream(self, slow: list[dict], directory: np.ndarray) -> tuple[int, list[dict]]:
        """Channels with samples, grouped by rate in header order; `stream_index` picks a group."""
        recorded = {int(row[0]): (int(row[1]), int(row[2])) for row in directory}
        groups: dict[int, list[dict]] = {}
        for channel in slow:
            if channel["channel"] in recorded and channel["rate"] > 0:
                groups.setdefault(channel["rate"], []).append({**channel, "blocks": recorded[channel["channel"]]})
        if not groups:
            raise HeaderError(f"{self.file_name}: no continuous channel holds samples; the file has only spikes "
                              "and events, or its data blocks are damaged.", self.file_name)
        self.streams_found = [(rate, [c["name"] for c in members]) for rate, members in groups.items()]
        index = self._pick_stream_index([f"{rate} Hz ({len(names)} channels)"
                                         for rate, names in self.streams_found])
        rate = list(groups)[index]
        return rate, groups[rate]

    def _locate_segment(self, index: dict, channels: list[dict], rate: int) -> None:
        ticks_per_sample = self.header["ad_frequency"] / rate
        per_channel = []
        for channel in channels:
            first, end = channel["blocks"]
            segments = find_segments(index["ticks"][first:end], index["counts"][first:end], ticks_per_sample)
            per_channel.append([(first + a, first + b) for a, b in segments])
        self.nb_segments = len(per_channel[0])
        if any(len(s) != self.nb_segments for s in per_channel):
            raise HeaderError(f"{self.file_name}: the channels of the {rate} Hz stream pause at different times "
                              f"({sorted({len(s) for s in per_channel})} segments); open another stream_index.",
                              self.file_name)
        segment = self._pick_segment(self.nb_segments)
        self._offsets, self._starts = [], []
        for blocks in per_channel:
            first, end = blocks[segment]
            self._offsets.append(np.asarray(index["offsets"][first:end]))
            counts = np.asarray(index["counts"][first:end], dtype=np.int64)
            self._starts.append(np.concatenate([[0], np.cumsum(counts)]))
        samples = min(int(s[-1]) for s in self._starts)
        if samples != max(int(s[-1]) for s in self._starts):
            print_and_log(f"{self.file_name}: channels of the {rate} Hz stream hold different numbers of "
                          f"samples; reading the first {samples}.", "warning")
        first_block = per_channel[0][segment][0]
        self._shape = (samples, len(channels))
        self._t_start = round(int(index["ticks"][first_block]) / ticks_per_sample)

    def get_description(self) -> dict:
        return self._describe_segments(super().get_description(), self.nb_segments)

    # -- streams ----------------------------------------------------------------------------------
    def set_streams(self, stream_mode: str) -> list[DataFile]:
        if stream_mode != "segments":
            return super().set_streams(stream_mode)
        return self._segment_sources(self.nb_segments)

    # -- events -----------------------------------------------------------------------------------
    def _local_events(self) -> np.ndarray:
        """Event channels and strobed words (block type 4) at sample = ticks x rate / ADFrequency
        from this stream's first sample; spikes are not events. The file is walked once, on the
        first call, and the result shared by every stream of the file."""
        ticks, channels, labels = cached_for_file(self.file_name, "plexon-events",
                                                  lambda: read_events(self.file_name, self.header))
        ticks_per_sample = self.header["ad_frequency"] / float(self.sampling_rate)
        samples = np.round(ticks / ticks_per_sample).astype(np.int64) - self._t_start
        return make_events(samples, channels, labels)

    # -- data -------------------------------------------------------------------------------------
    def _open(self, mode: str = "r") -> None:
        self._words = np.memmap(self.file_name, dtype="<i2", mode="r", shape=(os.path.getsize(self.file_name) // 2,))

    def _close(self) -> None:
        self._words = None

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        t_stop = max(t_stop, t_start)
        chosen = range(self.nb_channels) if nodes is None else [int(n) for n in nodes]
        out = np.empty((t_stop - t_start, len(chosen)), dtype=np.int16)
        if t_stop > t_start:
            for column, channel in enumerate(chosen):
                self._copy_channel(channel, t_start, t_stop, out[:, column])
        return self._scale_data_to_float32(out, nodes)

    def _copy_channel(self, channel: int, t_start: int, t_stop: int, out: np.ndarray) -> None:
        starts, offsets = self._starts[channel], self._offsets[channel]
        first = int(np.searchsorted(starts, t_start, side="right")) - 1
        last = int(np.searchsorted(starts, t_stop - 1, side="right")) - 1
        for block in range(first, last + 1):
            lo, hi = max(t_start, int(starts[block])), min(t_stop, int(starts[block + 1]))
            word = int(offsets[block]) // 2 + lo - int(starts[block])
            out[lo - t_start:hi - t_start] = self._words[word:word + hi - lo]
