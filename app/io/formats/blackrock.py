"""blackrock: Blackrock Microsystems continuous data (`.ns1` ... `.ns6`).

NEURALCD (file spec 2.2, 2.3, 3.0): a 314-byte basic header, one 66-byte extended header per
channel (with the analog/digital ranges that give the gain), then data packets: uint8 0x01,
timestamp (uint32; uint64 in 3.0), uint32 number of samples, int16 interleaved samples. Each
packet is a stretch between pauses: a segment, a separate stream in `segments` mode.
NEURALSG (spec 2.1): a short header and one block of int16 interleaved samples; it carries no
scaling, so `gain` must be given. Layout: Blackrock's "NEV and NSx File Specification".
"""

from __future__ import annotations

import os
import struct

import numpy as np

from app.io.datafile import DataFile
from app.io.errors import HeaderError, MissingFieldsError
from app.io.events import (
    cached_for_file,
    copy_events,
    empty_events,
    make_events,
    merge_events,
)
from app.io.messages import print_and_log
from app.io.units import microvolts_per

BASIC_CD = struct.Struct("<8sBBI16s256sII16sI")      # 314 bytes
EXTENDED_CD = struct.Struct("<2sH16sBBhhhh16sIIHIIH")  # 66 bytes
BASIC_SG = struct.Struct("<8s16sII")
KNOWN_SPECS = {(2, 2), (2, 3), (3, 0)}
# .nev basic header: char[8] NEURALEV/BREVENTS, uint8 major, minor, uint16 flags, uint32 bytes in
# headers, uint32 bytes per packet, uint32 timestamp resolution (Hz), ... (336 bytes in all).
NEV_BASIC = struct.Struct("<8sBBHIII")
NEV_DIGITAL, NEV_COMMENT = 0, 0xFFFF


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("latin-1").strip()


class BlackrockFile(DataFile):
    """One `.nsX` file; its channels share one sampling rate. Read-only."""

    description = "blackrock"
    title = "Blackrock NSx (.ns1 to .ns6)"
    extension = [".ns1", ".ns2", ".ns3", ".ns4", ".ns5", ".ns6"]
    parallel_write = False
    is_writable = False
    is_streamable = ["multi-files", "segments"]
    _required_fields = {}
    _default_values = {}
    _field_types = {"segment_index": "int"}

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as handle:
            head = handle.read(10)
        if head.startswith(b"NEURALCD"):
            return 1.0, f"Blackrock NEURALCD header (spec {head[8]}.{head[9]})"
        if head.startswith(b"NEURALSG"):
            return 1.0, "Blackrock NEURALSG header (spec 2.1)"
        return None

    # -- header -----------------------------------------------------------------------------------
    def _read_from_header(self) -> dict:
        self._file_size = os.path.getsize(self.file_name)
        with open(self.file_name, "rb") as handle:
            head = handle.read(BASIC_CD.size)
        if head[:8] == b"NEURALCD":
            found = self._read_cd(head)
        elif head[:8] == b"NEURALSG":
            found = self._read_sg(head)
        else:
            raise HeaderError(f"{self.file_name}: starts with {head[:8]!r}, not NEURALCD or NEURALSG; "
                              "this is not a Blackrock .nsX file.", self.file_name)
        self._choose_segment()
        return found

    def _need(self, size: int, have: int, what: str) -> None:
        if have < size:
            raise HeaderError(f"{self.file_name}: the file ends inside {what} ({have} of {size} bytes); "
                              "it is truncated.", self.file_name)

    def _read_cd(self, head: bytes) -> dict:
        self._need(BASIC_CD.size, len(head), "the basic header")
        (_, major, minor, header_bytes, _, _, period, resolution, _, count) = BASIC_CD.unpack(head)
        if (major, minor) not in KNOWN_SPECS:
            raise HeaderError(f"{self.file_name}: file spec {major}.{minor} is not one of 2.2, 2.3, 3.0; "
                              "the header is corrupt or from an unknown release.", self.file_name)
        if count == 0 or period == 0 or resolution == 0:
            raise HeaderError(f"{self.file_name}: channel_count {count}, period {period}, time resolution "
                              f"{resolution}: none may be 0; the header is corrupt.", self.file_name)
        if header_bytes != BASIC_CD.size + count * EXTENDED_CD.size:
            raise HeaderError(f"{self.file_name}: bytes in headers is {header_bytes} but {count} channels "
                              f"need {BASIC_CD.size + count * EXTENDED_CD.size}; the header is corrupt.",
                              self.file_name)
        if major == 3 and resolution == 1_000_000_000:
            raise HeaderError(f"{self.file_name}: spec 3.0 with nanosecond (PTP) timestamps stores one "
                              "timestamp per sample; this reader does not support it yet.", self.file_name)
        self._need(header_bytes, self._file_size, "the channel headers")
        with open(self.file_name, "rb") as handle:
            handle.seek(BASIC_CD.size)
            extended = handle.read(count * EXTENDED_CD.size)
        self.spec = f"{major}.{minor}"
        self._stamp_format = "<BQI" if major == 3 else "<BII"
        self._resolution, self._period = resolution, period
        self._data_start, self.nb_file_channels = header_bytes, count
        scales = [self._channel_scale(extended, k) for k in range(count)]
        gains = [gain for gain, _ in scales]
        self._channel_gains = np.array(gains, dtype=np.float64)
        self._packets = self._scan_packets()
        common = float(gains[0]) if all(g == gains[0] for g in gains) else 1.0
        return {"nb_channels": count, "sampling_rate": resolution / period, "data_dtype": "int16",
                "dtype_offset": self._common_offset([offset for _, offset in scales]), "gain": common}

    def _common_offset(self, offsets: list[float]) -> float:
        """The raw value of analog zero, shared by all channels (0 for the usual symmetric ranges)."""
        if any(abs(o - offsets[0]) > 1e-6 for o in offsets):
            print_and_log(f"{self.file_name}: channels place analog zero at different raw values "
                          f"({min(offsets)} to {max(offsets)}); using {offsets[0]} for all.", "warning")
        nearest = round(offsets[0])
        return nearest if abs(offsets[0] - nearest) < 1e-6 else offsets[0]

    def _channel_scale(self, extended: bytes, k: int) -> tuple[float, float]:
        """(gain in µV per bit, raw value of analog zero) from a channel's digital and analog ranges."""
        fields = EXTENDED_CD.unpack_from(extended, k * EXTENDED_CD.size)
        kind, electrode, label = fields[0], fields[1], _text(fields[2])
        min_digital, max_digital, min_analog, max_analog, units = fields[5:10]
        if kind != b"CC":
            raise HeaderError(f"{self.file_name}: extended header {k} starts with {kind!r}, not b'CC'; "
                              "the header is corrupt.", self.file_name)
        if max_digital == min_digital:
            raise HeaderError(f"{self.file_name}: channel {label or electrode} has equal min and max "
                              f"digital values ({min_digital}); its gain is undefined.", self.file_name)
        unit = _text(units)
        factor = microvolts_per(unit)
        if factor is None:
            print_and_log(f"{self.file_name}: channel {label or electrode} is in unit {unit!r}; its gain "
                          "is kept in that unit.", "warning")
            factor = 1.0
        if max_analog == min_analog:
            raise HeaderError(f"{self.file_name}: channel {label or electrode} has equal min and max "
                              f"analog values ({min_analog}); its gain would be 0, so the extended header "
                              "is damaged.", self.file_name)
        per_bit = (max_analog - min_analog) / (max_digital - min_digital)
        return per_bit * factor, min_digital - min_analog / per_bit

    def _read_sg(self, head: bytes) -> dict:
        self._need(BASIC_SG.size, len(head), "the basic header")
        _, _, period, count = BASIC_SG.unpack_from(head)
        if count == 0 or period == 0:
            raise HeaderError(f"{self.file_name}: channel_count {count} and period {period} may not be 0; "
                              "the header is corrupt.", self.file_name)
        self._data_start = BASIC_SG.size + 4 * count
        self._need(self._data_start, self._file_size, "the channel ids")
        if "gain" not in self._params:
            raise MissingFieldsError(self.file_name, {"gain": "float"}, self.description)
        self.spec, self.nb_file_channels = "2.1", count
        self._resolution, self._period = 30000, period
        samples = (self._file_size - self._data_start) // (2 * count)
        self._packets = [(0, self._data_start, samples)]
        return {"nb_channels": count, "sampling_rate": 30000 / period, "data_dtype": "int16",
                "dtype_offset": 0}

    def _scan_packets(self) -> list[tuple[int, int, int]]:
        """(timestamp, data offset, samples) of each data packet, reading only packet heads."""
        packets, offset = [], self._data_start
        frame = 2 * self.nb_file_channels
        head_size = struct.calcsize(self._stamp_format)
        with open(self.file_name, "rb") as handle:
            while offset < self._file_size:
                handle.seek(offset)
                head = handle.read(head_size)
                if len(head) < head_size:
                    print_and_log(f"{self.file_name}: {len(head)} stray bytes at the end (truncated "
                                  "packet header); ignored.", "warning")
                    break
                flag, stamp, samples = struct.unpack(self._stamp_format, head)
                if flag != 1:
                    raise HeaderError(f"{self.file_name}: data packet at byte {offset} starts with "
                                      f"{flag}, not 1; the file is corrupt.", self.file_name)
                room = (self._file_size - offset - head_size) // frame
                if samples == 0:
                    samples = room      # a count never written (recording cut short) runs to the end
                elif samples > room:
                    print_and_log(f"{self.file_name}: the packet at byte {offset} declares {samples} "
                                  f"samples but only {room} are in the file (truncated).", "warning")
                    samples = room
                if samples:
                    packets.append((stamp, offset + head_size, samples))
                offset += head_size + samples * frame
        if not packets:
            raise HeaderError(f"{self.file_name}: no data packet with samples after the header; the file "
                              "is empty or truncated.", self.file_name)
        return packets

    def _choose_segment(self) -> None:
        index = self._pick_segment(len(self._packets))
        stamp, self._segment_offset, samples = self._packets[index]
        self._shape = (samples, self.nb_file_channels)
        self._t_start = round(stamp / self._period)

    def get_description(self) -> dict:
        return self._describe_segments(super().get_description(), len(self._packets))

    # -- streams ----------------------------------------------------------------------------------
    def set_streams(self, stream_mode: str) -> list[DataFile]:
        if stream_mode != "segments":
            return super().set_streams(stream_mode)
        return self._segment_sources(len(self._packets))

    # -- data -------------------------------------------------------------------------------------
    def _open(self, mode: str = "r") -> None:
        self.data = np.memmap(self.file_name, dtype="<i2", mode="r", offset=self._segment_offset,
                              shape=self._shape)

    def _close(self) -> None:
        self.data = None

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        rows = self.data[t_start:max(t_stop, t_start)]
        if nodes is not None:
            rows = rows[:, np.asarray(nodes, dtype=np.intp)]
        return self._scale_data_to_float32(rows, nodes)

    # -- events -----------------------------------------------------------------------------------
    def _local_events(self) -> np.ndarray:
        """Digital port words (`digital`, label = the word) and serial words (`serial`) and
        comments (`comments`) from the `.nev` beside this file, on the timeline."""
        nev = os.path.splitext(self.file_name)[0] + ".nev"
        if not os.path.isfile(nev):
            return empty_events()
        resolution, events = cached_for_file(nev, "events", lambda: read_nev_events(nev))
        events = copy_events(events)
        rate = float(self.sampling_rate)
        events["sample"] = np.round(events["sample"] * (rate / resolution)).astype(np.int64) - self._t_start
        return events


def read_nev_events(path: str) -> tuple[float, np.ndarray]:
    """(timestamp resolution in Hz, digital/serial/comment events with `sample` in .nev ticks)."""
    with open(path, "rb") as handle:
        head = handle.read(NEV_BASIC.size)
    if len(head) < NEV_BASIC.size or head[:8] not in (b"NEURALEV", b"BREVENTS"):
        raise HeaderError(f"{path}: does not start with NEURALEV or BREVENTS; not a Blackrock .nev file.", path)
    _, major, _, _, header_bytes, packet_bytes, resolution = NEV_BASIC.unpack(head)
    stamp = "<u8" if major >= 3 else "<u4"
    payload = packet_bytes - np.dtype(stamp).itemsize - 2
    if resolution == 0 or payload < 4:
        raise HeaderError(f"{path}: timestamp resolution {resolution} and packet size {packet_bytes} cannot be "
                          "right; the header is corrupt.", path)
    count = max(os.path.getsize(path) - header_bytes, 0) // packet_bytes
    packets = np.memmap(path, mode="r", offset=header_bytes, shape=(count,),
                        dtype=np.dtype([("time", stamp), ("id", "<u2"), ("payload", "u1", (payload,))]))
    ids = np.asarray(packets["id"])
    digital = packets[ids == NEV_DIGITAL]
    reason = digital["payload"][:, 0]
    digital = digital[(reason & 0x81) != 0]
    words = digital["payload"][:, 2].astype(np.int64) | (digital["payload"][:, 3].astype(np.int64) << 8)
    channels = np.where(digital["payload"][:, 0] & 0x80, "serial", "digital").astype(object)
    tables = [make_events(digital["time"], channels, words)]
    comments = packets[ids == NEV_COMMENT]
    texts = [_comment_text(row["payload"]) for row in comments]
    tables.append(make_events(comments["time"], "comments", np.array(texts, dtype=object)))
    del packets
    return float(resolution), merge_events(*tables)


def _comment_text(payload: np.ndarray) -> str:
    """uint8 char set (0 latin-1, 1 UTF-16), uint8 flag, uint32 colour or time, text NUL-padded."""
    raw = payload[6:].tobytes()
    if payload[0] == 1:
        return raw.decode("utf-16-le", "replace").split("\x00", 1)[0]
    return raw.split(b"\x00", 1)[0].decode("latin-1")
