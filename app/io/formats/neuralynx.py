"""neuralynx: Neuralynx continuously sampled channels (`.ncs`), one file per channel.

Each file has a 16 KiB text header (`-Key value` lines) and 1044-byte records: uint64
timestamp (µs), uint32 channel number, uint32 sampling frequency, uint32 number of valid
samples, 512 int16 samples. The files of one folder that share a session suffix (`CSC1.ncs`
or `CSC1_0001.ncs`, ...) and a sampling rate form one recording, channels in natural order.
A short record or a timestamp that does not follow the previous record ends a segment;
segments are separate streams (`segments` mode) and are never glued.
"""

from __future__ import annotations

import os
import re

import numpy as np

from app.io.datafile import DataFile, natural_key
from app.io.errors import HeaderError, ShapeMismatchError
from app.io.events import cached_for_file, copy_events, make_events, merge_events
from app.io.messages import print_and_log

HEADER_SIZE = 16384
RECORD_SAMPLES = 512
RECORD = np.dtype([("timestamp", "<u8"), ("channel", "<u4"), ("frequency", "<u4"),
                   ("valid", "<u4"), ("samples", "<i2", (RECORD_SAMPLES,))])
RECORD_HEAD = np.dtype({"names": ["timestamp", "valid"], "formats": ["<u8", "<u4"],
                        "offsets": [0, 16], "itemsize": RECORD.itemsize})
_SESSION = re.compile(r"^(.*?)(_\d{4})?$")
# .nev event records, packed (the uint64 timestamp in µs sits unaligned at offset 6).
NEV_RECORD = np.dtype({"names": ["time", "event_id", "ttl", "text"],
                       "formats": ["<u8", "<i2", "<i2", "S128"],
                       "offsets": [6, 14, 16, 56], "itemsize": 184})


def parse_text_header(raw: bytes) -> dict[str, str]:
    """`-Key value` lines of an .ncs header (values kept as text)."""
    text = raw.split(b"\x00", 1)[0].decode("latin-1")
    found = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("-") and len(line) > 1:
            key, _, value = line[1:].partition(" ")
            found[key] = value.strip()
    return found


def session_suffix(path: str) -> str:
    """'' for `CSC1.ncs`, '_0001' for `CSC1_0001.ncs` (Cheetah's later sessions in one folder)."""
    return _SESSION.match(os.path.splitext(os.path.basename(path))[0]).group(2) or ""


def find_segments(timestamps: np.ndarray, valid: np.ndarray, sampling_rate: float,
                  tolerance_us: float) -> list[tuple[int, int]]:
    """[first, stop) record ranges of the continuous segments.

    A segment ends after a short record, or where the next timestamp differs from the one the
    previous record predicts (its start + valid samples / rate) by more than `tolerance_us`.
    """
    predicted = timestamps[:-1].astype(np.float64) + valid[:-1] * (1e6 / sampling_rate)
    jump = np.abs(timestamps[1:].astype(np.float64) - predicted) > tolerance_us
    short = valid[:-1] < RECORD_SAMPLES
    breaks = np.flatnonzero(jump | short) + 1
    limits = [0, *breaks.tolist(), len(timestamps)]
    return [(limits[k], limits[k + 1]) for k in range(len(limits) - 1)]


class NeuralynxFile(DataFile):
    """A folder of `.ncs` files read as one recording; opened on one file or on the folder."""

    description = "neuralynx"
    title = "Neuralynx (.ncs, one file per channel)"
    extension = [".ncs"]
    parallel_write = False
    is_writable = False
    is_streamable = ["multi-files", "segments"]
    _required_fields = {}
    _default_values = {}
    _field_types = {"segment_index": "int", "gap_tolerance_us": "float"}

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        if os.path.isdir(path):
            if any(name.lower().endswith(".ncs") for name in os.listdir(path)):
                return 0.9, "folder of Neuralynx .ncs files"
            return None
        with open(path, "rb") as handle:
            head = handle.read(2048)
        if head.startswith(b"########") and b"-SamplingFrequency" in head and b"-ADBitVolts" in head:
            return 1.0, "Neuralynx text header"
        return None

    # -- header -----------------------------------------------------------------------------------
    def _read_from_header(self) -> dict:
        files = self._channel_files()
        headers = [self._file_header(path) for path in files]
        rate = headers[0]["rate"]
        kept = [(path, h) for path, h in zip(files, headers) if h["rate"] == rate]
        if len(kept) < len(files):
            others = [os.path.basename(p) for p, h in zip(files, headers) if h["rate"] != rate]
            print_and_log(f"{self.file_name}: {', '.join(others)} sampled at another rate than "
                          f"{rate} Hz are left out of this recording.", "warning")
        self.channel_files = [path for path, _ in kept]
        self.channel_names = [h["name"] for _, h in kept]
        self._channel_gains = np.array([h["gain"] for _, h in kept], dtype=np.float64)
        self._locate_segment(rate, [h["records"] for _, h in kept])
        gains = self._channel_gains
        gain = float(gains[0]) if np.all(gains == gains[0]) else 1.0
        return {"nb_channels": len(kept), "sampling_rate": rate, "data_dtype": "int16",
                "dtype_offset": 0, "gain": gain}

    def _channel_files(self) -> list[str]:
        if os.path.isdir(self.file_name):
            folder = self.file_name
            names = sorted((n for n in os.listdir(folder) if n.lower().endswith(".ncs")), key=natural_key)
            if not names:
                raise HeaderError(f"{folder}: no .ncs file in this folder; pick a Neuralynx session folder.",
                                  folder)
            suffix = session_suffix(names[0])
        else:
            folder = os.path.dirname(os.path.abspath(self.file_name))
            suffix = session_suffix(self.file_name)
            names = sorted((n for n in os.listdir(folder) if n.lower().endswith(".ncs")), key=natural_key)
        return [os.path.join(folder, n) for n in names if session_suffix(n) == suffix]

    def _file_header(self, path: str) -> dict:
        size = os.path.getsize(path)
        if size < HEADER_SIZE:
            raise HeaderError(f"{path}: {size} bytes, shorter than the 16384-byte Neuralynx header; "
                              "the file is truncated.", path)
        with open(path, "rb") as handle:
            fields = parse_text_header(handle.read(HEADER_SIZE))
        try:
            rate = float(fields["SamplingFrequency"])
            bit_volts = float(fields["ADBitVolts"].split()[0])
        except (KeyError, ValueError, IndexError):
            raise HeaderError(f"{path}: the header lacks a numeric -SamplingFrequency or -ADBitVolts; "
                              "this is not a Neuralynx .ncs file or its header is damaged.", path) from None
        if not (rate > 0 and np.isfinite(rate)):
            raise HeaderError(f"{path}: -SamplingFrequency {rate} is not a positive rate.", path)
        inverted = fields.get("InputInverted", "False").strip().lower() == "true"
        records, rest = divmod(size - HEADER_SIZE, RECORD.itemsize)
        if rest:
            print_and_log(f"{path}: the last {rest} bytes are not a whole 1044-byte record (file "
                          "truncated?); they are ignored.", "warning")
        name = fields.get("AcqEntName") or os.path.splitext(os.path.basename(path))[0]
        return {"rate": rate, "gain": bit_volts * 1e6 * (-1 if inverted else 1), "records": records,
                "name": name}

    def _locate_segment(self, rate: float, record_counts: list[int]) -> None:
        """Find the segments from the first file's record heads and pick `segment_index`."""
        records = record_counts[0]
        for path, count in zip(self.channel_files, record_counts):
            if count != records:
                raise ShapeMismatchError(
                    f"{path}: {count} records but {os.path.basename(self.channel_files[0])} has {records}; "
                    "the channels of one recording must have the same records (exclude the odd file).", path)
        if records == 0:
            raise HeaderError(f"{self.channel_files[0]}: no data record after the header; the file is "
                              "empty or truncated.", self.channel_files[0])
        heads = np.memmap(self.channel_files[0], dtype=RECORD_HEAD, mode="r", offset=HEADER_SIZE,
                          shape=(records,))
        timestamps, valid = np.array(heads["timestamp"]), np.array(heads["valid"])
        del heads
        if np.any(valid > RECORD_SAMPLES) or np.any(valid == 0):
            bad = int(np.flatnonzero((valid > RECORD_SAMPLES) | (valid == 0))[0])
            raise HeaderError(f"{self.channel_files[0]}: record {bad} says it holds {int(valid[bad])} "
                              "valid samples (1 to 512 are possible); the file is corrupt.", self.channel_files[0])
        tolerance = float(self._params.get("gap_tolerance_us", 1e6 / rate))
        self.segments = find_segments(timestamps, valid, rate, tolerance)
        index = self._pick_segment(len(self.segments), "pauses in acquisition")
        first, stop = self.segments[index]
        self._first_record = first
        self._shape = ((stop - first - 1) * RECORD_SAMPLES + int(valid[stop - 1]), len(self.channel_files))
        self._t_start = round(int(timestamps[first]) * rate / 1e6)

    def get_description(self) -> dict:
        return self._describe_segments(super().get_description(), len(self.segments))

    # -- streams ----------------------------------------------------------------------------------
    def set_streams(self, stream_mode: str) -> list[DataFile]:
        if stream_mode != "segments":
            return super().set_streams(stream_mode)
        return self._segment_sources(len(self.segments))

    # -- events -----------------------------------------------------------------------------------
    def _local_events(self) -> np.ndarray:
        """Records of the session's `.nev` files: one channel per (event id, TTL value), named
        `TTL <value> (event <id>)`, labelled with the event string; on the timeline."""
        folder = os.path.dirname(self.channel_files[0])
        suffix = session_suffix(self.channel_files[0])
        paths = [os.path.join(folder, n) for n in sorted(os.listdir(folder), key=natural_key)
                 if n.lower().endswith(".nev") and session_suffix(n) == suffix]
        events = merge_events(*(cached_for_file(p, "events", lambda p=p: read_nev_events(p)) for p in paths))
        events = copy_events(events)
        rate = float(self.sampling_rate)
        events["sample"] = np.round(events["sample"] * (rate / 1e6)).astype(np.int64) - self._t_start
        return events

    # -- data -------------------------------------------------------------------------------------
    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        channels = range(self.nb_channels) if nodes is None else [int(n) for n in nodes]
        out = np.zeros((max(t_stop - t_start, 0), len(channels)), dtype=np.int16)
        if t_stop > t_start:
            first = t_start // RECORD_SAMPLES
            stop = (t_stop - 1) // RECORD_SAMPLES + 1
            for column, channel in enumerate(channels):
                samples = self._read_records(channel, first, stop)
                out[:, column] = samples[t_start - first * RECORD_SAMPLES: t_stop - first * RECORD_SAMPLES]
        return self._scale_data_to_float32(out, nodes)

    def _read_records(self, channel: int, first: int, stop: int) -> np.ndarray:
        """Samples of records [first, stop) of this segment in one channel's file (one seek + read)."""
        path = self.channel_files[channel]
        with open(path, "rb") as handle:
            handle.seek(HEADER_SIZE + (self._first_record + first) * RECORD.itemsize)
            raw = handle.read((stop - first) * RECORD.itemsize)
        records = np.frombuffer(raw, dtype=RECORD)
        if len(records) != stop - first:
            raise HeaderError(f"{path}: the file ended while reading records {first} to {stop}; was it "
                              "truncated after opening?", path)
        return records["samples"].reshape(-1)


def read_nev_events(path: str) -> np.ndarray:
    """The records of a Neuralynx `.nev` file, `sample` in µs."""
    count = max(os.path.getsize(path) - HEADER_SIZE, 0) // NEV_RECORD.itemsize
    if os.path.getsize(path) < HEADER_SIZE:
        raise HeaderError(f"{path}: shorter than the 16384-byte Neuralynx header; the file is truncated.", path)
    records = np.array(np.memmap(path, dtype=NEV_RECORD, mode="r", offset=HEADER_SIZE, shape=(count,)))
    pairs = np.stack([records["event_id"], records["ttl"]], axis=1).astype(np.int64)
    unique, inverse = np.unique(pairs, axis=0, return_inverse=True) if count else (pairs, np.zeros(0, np.intp))
    names = np.array([f"TTL {ttl} (event {event})" for event, ttl in unique.tolist()], dtype=object)
    return make_events(records["time"].astype(np.int64), names[inverse.reshape(-1)], records["text"])
