"""spike2: CED Spike2 `.smr` files (32-bit SON filing system).

A 512-byte file header (systemID, usPerTime, timePerADC, dTimeBase, number of channel slots),
then one 140-byte header per channel slot (kind, first block, number of blocks, divider,
scale/offset/units), then data blocks: each a 20-byte head (previous/next block, start/end
time in ticks, channel, items) and its items. Waveform channels (kind 1: int16 Adc, kind 9:
float32 RealWave) sampled at the same interval form one stream (`stream_index`, in the order of
their first channel); a block starting more than one interval after the previous one ends a
segment (stream mode `segments`). Adc value = raw * scale / 6553.6 + offset in the channel's
units. Layout: Lidierth's SON library for MATLAB; neo `spike2rawio.py`. `.smrx` (64-bit SON)
needs CED's sonpy, which ships only Windows binaries: it is refused with a message.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

import numpy as np

from app.io.datafile import DataFile
from app.io.errors import HeaderError
from app.io.events import cached_for_file, copy_events, make_events, merge_events, pair_ttl_edges
from app.io.units import microvolts_per

FILE_HEAD = struct.Struct("<h10s8shhhihhhhhid")          # the first 52 bytes
CHANNEL_HEAD = struct.Struct("<hiiihhhhhh72siih10sfBx")   # 124 bytes, then the kind's fields
WAVE_TAIL = struct.Struct("<ff6sh")                       # scale or min, offset or max, units, divide
BLOCK_HEAD = struct.Struct("<iiiihh")
CHANNEL_BYTES = 140
WAVE_KINDS = {1: "<i2", 9: "<f4"}
DISKBLOCK = 512
EVENT_FALL, EVENT_RISE, EVENT_LEVEL, MARKER, TEXT_MARK = 2, 3, 4, 5, 8
EVENT_KINDS = (EVENT_FALL, EVENT_RISE, EVENT_LEVEL, MARKER, TEXT_MARK)


def pascal(raw: bytes) -> str:
    """A Pascal string: a length byte, then the text (padded)."""
    if not raw:
        return ""
    return raw[1:1 + min(raw[0], len(raw) - 1)].decode("latin-1").strip()


def _marker_labels(codes: np.ndarray) -> np.ndarray:
    """A marker's label: its first code, or all four codes when the others are used."""
    words, index = np.unique(codes.astype(np.int64) @ (1 << np.arange(0, 32, 8)), return_inverse=True)
    names = [str(w & 0xFF) if w < 256 else " ".join(str((w >> s) & 0xFF) for s in range(0, 32, 8))
             for w in words.tolist()]
    return np.array(names, dtype=object)[index.reshape(-1)]


@dataclass
class WaveChannel:
    number: int
    title: str
    dtype: str
    interval: int                 # ticks between samples
    gain: float                   # µV (or the channel's unit) per raw unit
    offset: float                 # raw value of physical zero
    units: str
    blocks: np.ndarray = field(default=None)     # rows: data offset, items, start tick, end tick


class Spike2File(DataFile):
    """One stream (waveform channels of one sampling interval) of one segment of a `.smr` file."""

    description = "spike2"
    title = "CED Spike2 (.smr, 32-bit SON)"
    extension = [".smr", ".smrx"]
    is_writable = False
    is_streamable = ["multi-files", "segments"]
    _field_types = {"stream_index": "int", "segment_index": "int"}

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as handle:
            head = handle.read(FILE_HEAD.size)
        if len(head) < FILE_HEAD.size:
            return None
        system, copyright_text = struct.unpack_from("<h10s", head)
        if 1 <= system <= 9 and copyright_text.startswith(b"(C) CED"):
            return 1.0, f"CED SON header (system id {system})"
        if path.lower().endswith(".smrx"):
            return 0.5, "extension .smrx (64-bit SON)"
        return None

    # -- header -----------------------------------------------------------------------------------
    def _fail(self, problem: str) -> HeaderError:
        return HeaderError(f"{self.file_name}: {problem}", self.file_name)

    def _read_from_header(self) -> dict:
        if self.file_name.lower().endswith(".smrx"):
            raise self._fail("is a 64-bit SON (.smrx) file; reading it needs CED's sonpy library, which "
                             "ships only for Windows. Save it from Spike2 as a 32-bit .smr file.")
        self._size = os.path.getsize(self.file_name)
        with open(self.file_name, "rb") as handle:
            head = handle.read(512)
            self._parse_file_head(head)
            slots = handle.read(CHANNEL_BYTES * self.nb_slots)
        if len(slots) < CHANNEL_BYTES * self.nb_slots:
            raise self._fail(f"the file ends inside the channel headers ({512 + len(slots)} of "
                             f"{512 + CHANNEL_BYTES * self.nb_slots} bytes); it is truncated.")
        self._mm = np.memmap(self.file_name, dtype=np.uint8, mode="r")
        self.waves = [w for k in range(self.nb_slots) if (w := self._wave_channel(slots, k)) is not None]
        return self._pick_stream()

    def _parse_file_head(self, head: bytes) -> None:
        if len(head) < 512:
            raise self._fail(f"the file ends inside the 512-byte file header ({len(head)} bytes); it is "
                             "truncated.")
        (system, copyright_text, _, self.us_per_time, self.time_per_adc, _, _, slots, channel_size, _, _, _,
         _, time_base) = FILE_HEAD.unpack_from(head)
        if not 1 <= system <= 9 or not copyright_text.startswith(b"(C) CED"):
            raise self._fail(f"system id {system} and copyright {copyright_text!r} are not a CED SON header; "
                             "this is not a Spike2 .smr file.")
        if slots < 1 or channel_size != CHANNEL_BYTES or self.us_per_time < 1:
            raise self._fail(f"{slots} channel slots of {channel_size} bytes, usPerTime {self.us_per_time}: "
                             "the header is corrupt.")
        if system >= 6 and not (np.isfinite(time_base) and 0 < time_base < 1):
            raise self._fail(f"dTimeBase is {time_base}; the header is corrupt.")
        self.system_id, self.nb_slots = system, slots
        self.time_base = 1e-6 if system < 6 else time_base
        # neo and the SON library count block offsets in 512-byte units in system 9 ("big") files
        self._pointer_unit = DISKBLOCK if system == 9 else 1

    def _wave_channel(self, slots: bytes, k: int) -> WaveChannel | None:
        fields = CHANNEL_HEAD.unpack_from(slots, k * CHANNEL_BYTES)
        first_block, blocks, divider, title, kind = fields[2], fields[4], fields[12], fields[14], fields[16]
        if kind not in WAVE_KINDS or blocks <= 0:
            return None
        scale, offset, units, divide = WAVE_TAIL.unpack_from(slots, k * CHANNEL_BYTES + CHANNEL_HEAD.size)
        interval = divide * self.time_per_adc if self.system_id < 6 else divider
        name = pascal(title) or f"channel {k + 1}"
        if interval <= 0:
            raise self._fail(f"channel {k + 1} ({name}) has a sample interval of {interval} ticks; the header "
                             "is corrupt.")
        unit = pascal(units)
        factor = microvolts_per(unit) or 1.0
        if kind == 1:
            if scale == 0 or not np.isfinite(scale) or not np.isfinite(offset):
                raise self._fail(f"channel {k + 1} ({name}) has scale {scale} and offset {offset}; its gain "
                                 "is undefined.")
            native = scale / 6553.6
            gain, raw_offset = native * factor, -offset / native
        else:
            gain, raw_offset = factor, 0.0
        channel = WaveChannel(k, name, WAVE_KINDS[kind], interval, gain, raw_offset,
                              "µV" if microvolts_per(unit) else unit)
        channel.blocks = self._walk_blocks(channel, first_block, blocks)
        return channel

    def _walk_blocks(self, channel: WaveChannel, first: int, count: int) -> np.ndarray:
        """(data offset, items, start tick, end tick) of each block, following the linked list."""
        rows, position = [], first
        item = np.dtype(channel.dtype).itemsize
        for number in range(count):
            offset = position * self._pointer_unit
            if position < 0 or offset + BLOCK_HEAD.size > self._size:
                raise self._fail(f"block {number} of channel {channel.number + 1} ({channel.title}) points to "
                                 f"byte {offset}, outside the file ({self._size} bytes); the file is truncated "
                                 "or corrupt.")
            _, successor, start, end, _, items = BLOCK_HEAD.unpack_from(self._mm, offset)
            if items <= 0 or offset + BLOCK_HEAD.size + items * item > self._size or end < start:
                raise self._fail(f"block {number} of channel {channel.number + 1} ({channel.title}) at byte "
                                 f"{offset} holds {items} items from tick {start} to {end}; the file is "
                                 "truncated or corrupt.")
            rows.append((offset + BLOCK_HEAD.size, items, start, end))
            position = successor
        return np.array(rows, dtype=np.int64)

    # -- streams and segments ---------------------------------------------------------------------
    def rate_groups(self) -> list[list[WaveChannel]]:
        groups: dict[tuple[int, str], list[WaveChannel]] = {}
        for channel in self.waves:
            groups.setdefault((channel.interval, channel.dtype), []).append(channel)
        return list(groups.values())

    def _pick_stream(self) -> dict:
        groups = self.rate_groups()
        if not groups:
            raise self._fail("has no waveform (Adc or RealWave) channel with data.")
        index = self._pick_stream_index([f"{self._rate(g[0]):g} Hz ({', '.join(c.title for c in g)})"
                                         for g in groups])
        self.channels = groups[index]
        rate = self._rate(self.channels[0])
        self.segments = self._segments()
        self._choose_segment()
        gains = np.array([c.gain for c in self.channels])
        offsets = np.array([c.offset for c in self.channels])
        if np.any(gains != gains[0]):
            self._channel_gains = gains
        self._channel_offsets = offsets if np.any(np.abs(offsets - offsets[0]) > 1e-6) else None
        return {"nb_channels": len(self.channels), "sampling_rate": rate,
                "data_dtype": np.dtype(self.channels[0].dtype).name, "dtype_offset": self._whole(offsets[0]),
                "gain": float(gains[0]), "stream_index": index}

    @staticmethod
    def _whole(offset: float) -> float:
        """The raw offset, rounded when float32 scale/offset fields only blur a whole number."""
        nearest = round(float(offset))
        return nearest if abs(offset - nearest) <= 1e-6 * max(1.0, abs(offset)) else float(offset)

    def _rate(self, channel: WaveChannel) -> float:
        return 1e6 / (channel.interval * self.us_per_time * (self.time_base * 1e6))

    def _channel_segments(self, channel: WaveChannel) -> list[np.ndarray]:
        blocks = channel.blocks
        gaps = np.nonzero(blocks[1:, 2] - blocks[:-1, 3] > channel.interval)[0] + 1
        return np.split(blocks, gaps)

    def _segments(self) -> list[tuple[int, int]]:
        """(first tick, samples) of each segment, common to the stream's channels."""
        per_channel = [self._channel_segments(c) for c in self.channels]
        counts = {len(s) for s in per_channel}
        if len(counts) > 1:
            raise self._fail(f"the channels of this stream pause at different times ({sorted(counts)} "
                             "segments); open them one stream at a time is not possible yet.")
        self._channel_blocks = per_channel
        return [(min(int(s[k][0, 2]) for s in per_channel), min(int(s[k][:, 1].sum()) for s in per_channel))
                for k in range(counts.pop())]

    def _choose_segment(self) -> None:
        index = self._pick_segment(len(self.segments), "recording paused")
        self.segment_index = index
        first_tick, samples = self.segments[index]
        self._shape = (samples, len(self.channels))
        self._t_start = round(first_tick / self.channels[0].interval)

    @property
    def channel_names(self) -> list[str]:
        return [c.title for c in self.channels]


    def get_description(self) -> dict:
        return self._describe_segments(super().get_description(), len(self.segments))

    def set_streams(self, stream_mode: str) -> list[DataFile]:
        if stream_mode != "segments":
            return super().set_streams(stream_mode)
        return self._segment_sources(len(self.segments), stream_index=self._params.get("stream_index", 0))

    # -- events -----------------------------------------------------------------------------------
    def _local_events(self) -> np.ndarray:
        """Event channels (falling/rising edges; level channels paired into pulses), Marker channels
        (label = marker code) and TextMark channels (label = text), at sample = tick / this
        stream's interval. AdcMark and RealMark (spike shapes) are not events. Read on the first
        call and shared by every stream of the file."""
        in_ticks = cached_for_file(self.file_name, "spike2-events", self._read_events)
        events = copy_events(in_ticks)
        interval = float(self.channels[0].interval)
        first = np.round(in_ticks["sample"] / interval).astype(np.int64)
        last = np.round((in_ticks["sample"] + in_ticks["duration"]) / interval).astype(np.int64)
        events["sample"], events["duration"] = first - self._t_start, last - first
        return events

    def _read_events(self) -> np.ndarray:
        """Every event channel's events with `sample` and `duration` in ticks."""
        with open(self.file_name, "rb") as handle:
            handle.seek(512)
            slots = handle.read(CHANNEL_BYTES * self.nb_slots)
        tables = []
        for k in range(self.nb_slots):
            fields = CHANNEL_HEAD.unpack_from(slots, k * CHANNEL_BYTES)
            first_block, blocks, extra, title, kind = fields[2], fields[4], fields[5], fields[14], fields[16]
            if kind in EVENT_KINDS and blocks > 0:
                name = pascal(title) or f"channel {k + 1}"
                initially_low = slots[k * CHANNEL_BYTES + CHANNEL_HEAD.size] != 0
                items = self._event_items(k, name, kind, first_block, blocks, max(extra, 0))
                tables.append(self._channel_events(name, kind, items, initially_low))
        return merge_events(*tables)

    def _event_items(self, slot: int, name: str, kind: int, first: int, count: int, extra: int) -> np.ndarray:
        """The items of one event channel, following its block list: int32 ticks, then for
        markers 4 uint8 codes and `extra` bytes (a TextMark's text)."""
        fields = [("tick", "<i4")]
        if kind in (MARKER, TEXT_MARK):
            fields.append(("codes", "u1", (4,)))
        if kind == TEXT_MARK and extra:
            fields.append(("text", f"S{extra}"))
        item = np.dtype(fields)
        pieces, position = [], first
        for number in range(count):
            offset = position * self._pointer_unit
            if position < 0 or offset + BLOCK_HEAD.size > self._size:
                raise self._fail(f"block {number} of event channel {slot + 1} ({name}) points to byte {offset}, "
                                 f"outside the file ({self._size} bytes); the file is truncated or corrupt.")
            _, successor, _, _, _, items = BLOCK_HEAD.unpack_from(self._mm, offset)
            end = offset + BLOCK_HEAD.size + items * item.itemsize
            if items < 0 or end > self._size:
                raise self._fail(f"block {number} of event channel {slot + 1} ({name}) at byte {offset} holds "
                                 f"{items} items of {item.itemsize} bytes, past the end of the file.")
            pieces.append(np.frombuffer(self._mm[offset + BLOCK_HEAD.size:end], dtype=item))
            position = successor
        return np.concatenate(pieces) if pieces else np.zeros(0, item)

    @staticmethod
    def _channel_events(name: str, kind: int, items: np.ndarray, initially_low: bool) -> np.ndarray:
        ticks = items["tick"].astype(np.int64)
        if kind in (EVENT_FALL, EVENT_RISE):
            return pair_ttl_edges(ticks, np.zeros(len(ticks), np.int8), np.full(len(ticks), kind == EVENT_RISE),
                                  names=lambda _: name)
        if kind == EVENT_LEVEL:
            # edges alternate; the first one leaves the initial level
            rising = (np.arange(len(ticks)) % 2 == 0) == initially_low
            return pair_ttl_edges(ticks, np.zeros(len(ticks), np.int8), rising, names=lambda _: name)
        if kind == MARKER:
            return make_events(ticks, name, _marker_labels(items["codes"]))
        texts = items["text"] if "text" in items.dtype.names else np.zeros(len(items), "S1")
        labels = [t.split(b"\x00", 1)[0].decode("latin-1").strip() for t in texts.tolist()]
        return make_events(ticks, name, np.array(labels, dtype=object))

    # -- data -------------------------------------------------------------------------------------
    def _read_channel(self, node: int, t_start: int, t_stop: int) -> np.ndarray:
        blocks = self._channel_blocks[node][self.segment_index]
        dtype = np.dtype(self.channels[node].dtype)
        firsts = np.concatenate([[0], np.cumsum(blocks[:, 1])])
        low = int(np.searchsorted(firsts, t_start, side="right")) - 1
        high = int(np.searchsorted(firsts, t_stop, side="left"))
        pieces = []
        for k in range(low, high):
            begin, items = int(blocks[k, 0]), int(blocks[k, 1])
            values = self._mm[begin: begin + items * dtype.itemsize].view(dtype)
            lo, hi = max(t_start - int(firsts[k]), 0), min(t_stop - int(firsts[k]), items)
            pieces.append(values[lo:hi])
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype)

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        t_stop = max(t_stop, t_start)
        selected = range(self.nb_channels) if nodes is None else [int(n) for n in np.asarray(nodes).ravel()]
        raw = np.empty((t_stop - t_start, len(selected)), dtype=self.data_dtype)
        for column, node in enumerate(selected):
            raw[:, column] = self._read_channel(node, t_start, t_stop)
        return self._scale_data_to_float32(raw, nodes)
