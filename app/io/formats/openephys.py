"""openephys: the legacy Open Ephys format, one `.continuous` file per channel.

Each file: a 1024-byte text header of `header.key = value;` lines, then records of 2070 bytes:
int64 LE timestamp (sample number of the record's first sample), uint16 LE sample count (1024),
uint16 LE recording number, 1024 big-endian int16 samples, and the 10-byte marker 0..8, 255.
Gain is the header's `bitVolts`, in µV (AUX and ADC channels store volts: scaled by 1e6).

A jump in timestamps or a change of recording number starts a new segment. Segments are found
by bisection on the record headers of one channel (a few reads, whatever the file size), and
are never glued silently: without a stream mode the first segment opens (`segment_index` picks
another); stream mode `segments` puts all of them on one timeline. Files of a later acquisition
(`100_CH1_2.continuous`, ...) are another experiment: give one of them, or use `multi-files`.
"""

from __future__ import annotations

import os
import re

import numpy as np

from app.io.datafile import DataFile, natural_key
from app.io.errors import HeaderError
from app.io.events import (
    cached_for_file,
    copy_events,
    make_events,
    merge_events,
    pair_ttl_edges,
)
from app.io.messages import print_and_log

HEADER_BYTES = 1024
SAMPLES_PER_RECORD = 1024
RECORD = np.dtype([("timestamp", "<i8"), ("nb_samples", "<u2"), ("recording", "<u2"),
                   ("samples", ">i2", SAMPLES_PER_RECORD), ("marker", "u1", 10)])
MARKER = bytes(range(9)) + b"\xff"
CONTINUOUS_NAME = re.compile(
    r"(?P<processor>.+?)_(?P<kind>CH|AUX|ADC)(?P<number>\d+)(?:_(?P<experiment>\d+))?\.continuous")
KIND_ORDER = {"CH": 0, "AUX": 1, "ADC": 2}
# bitVolts is in µV for headstage channels (CH, 0.195) and in volts for AUX and ADC channels
# (0.0000374, 0.00015259): the reader returns µV for all of them.
MICROVOLTS_PER_BITVOLT = {"CH": 1.0, "AUX": 1e6, "ADC": 1e6}


def _microvolts_per_bitvolt(path: str) -> float:
    match = CONTINUOUS_NAME.fullmatch(os.path.basename(path))
    return MICROVOLTS_PER_BITVOLT[match["kind"]] if match else 1.0
HEADER_LINE = re.compile(r"header\.(\w+)\s*=\s*(.*?);")
# `.events` records after the 1024-byte header (Open Ephys format docs): event type 3 is TTL,
# event id 1 a rising and 0 a falling edge, channel counted from 0.
EVENT_RECORD = np.dtype([("timestamp", "<i8"), ("position", "<i2"), ("type", "u1"), ("processor", "u1"),
                         ("event_id", "u1"), ("channel", "u1"), ("recording", "<u2")])
TTL_EVENT = 3


def parse_continuous_header(path: str) -> dict[str, str]:
    """The `header.key = value;` pairs of a `.continuous` (or `.events`) file's 1024-byte header."""
    with open(path, "rb") as handle:
        raw = handle.read(HEADER_BYTES)
    if len(raw) < HEADER_BYTES:
        raise HeaderError(f"{path}: {len(raw)} bytes, shorter than the 1024-byte Open Ephys header; the "
                          "file is cut.", path)
    text = raw.decode("latin-1")
    fields = {key: value.strip().strip("'\"") for key, value in HEADER_LINE.findall(text)}
    if "Open Ephys Data Format" not in fields.get("format", ""):
        raise HeaderError(f"{path}: the header does not say format = 'Open Ephys Data Format'; not a "
                          "legacy Open Ephys file, or its header is damaged.", path)
    return fields


def continuous_files(folder: str) -> list[re.Match]:
    return [m for m in (CONTINUOUS_NAME.fullmatch(n) for n in os.listdir(folder)) if m]


class OpenEphysFile(DataFile):
    """The channels of one processor of a legacy Open Ephys recording.

    The data "file" is the recording folder, its `*.openephys` settings file, or any of its
    `.continuous` files. Params: `processor` (default: the given file's, else the first in
    natural order), `channel_kinds` (comma list of CH, AUX, ADC; default CH when the processor
    has CH channels, else all), `segment_index` (default 0).
    """

    description = "openephys"
    title = "Open Ephys legacy (.continuous)"
    extension = [".continuous", ".openephys"]
    is_streamable = ["multi-files", "segments"]
    _field_types = {"processor": "string", "channel_kinds": "string", "segment_index": "int"}
    _default_values = {"segment_index": 0}

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        if os.path.isdir(path):
            if continuous_files(path):
                return 0.9, "folder of Open Ephys .continuous files"
            return None
        if path.endswith(".openephys") and continuous_files(os.path.dirname(os.path.abspath(path))):
            return 0.95, "Open Ephys settings file beside .continuous files"
        with open(path, "rb") as handle:
            if b"Open Ephys Data Format" in handle.read(HEADER_BYTES):
                return 0.95, "Open Ephys data format header"
        return None

    # -- which files ------------------------------------------------------------------------------
    def _channel_paths(self) -> list[str]:
        path = os.path.abspath(self.file_name)
        folder = path if os.path.isdir(path) else os.path.dirname(path)
        found = continuous_files(folder)
        given = CONTINUOUS_NAME.fullmatch(os.path.basename(path)) if os.path.isfile(path) else None
        if not found:
            raise HeaderError(f"{self.file_name}: no <processor>_CH<n>.continuous files in {folder}.",
                              self.file_name)
        processors = sorted({m["processor"] for m in found}, key=natural_key)
        processor = self._params.get("processor") or (given["processor"] if given else processors[0])
        experiment = given["experiment"] if given else settings_experiment(path)
        mine = [m for m in found if m["processor"] == processor and m["experiment"] == experiment]
        if not mine:
            raise HeaderError(f"{self.file_name}: no .continuous files of processor {processor!r}; set "
                              f"processor to one of {', '.join(processors)}.", self.file_name)
        kinds = self._kinds(mine)
        chosen = sorted((m for m in mine if m["kind"] in kinds),
                        key=lambda m: (KIND_ORDER[m["kind"]], int(m["number"])))
        if not chosen:
            raise HeaderError(f"{self.file_name}: processor {processor} has no {'/'.join(kinds)} channels.",
                              self.file_name)
        self._params["processor"] = processor
        return [os.path.join(folder, m.group(0)) for m in chosen]

    def _kinds(self, matches: list[re.Match]) -> list[str]:
        text = self._params.get("channel_kinds")
        if text:
            kinds = [k.strip().upper() for k in str(text).split(",") if k.strip()]
            unknown = [k for k in kinds if k not in KIND_ORDER]
            if unknown:
                raise HeaderError(f"{self.file_name}: channel_kinds {text!r} names {unknown}; use a comma "
                                  "list of CH, AUX, ADC.", self.file_name)
            return kinds
        present = {m["kind"] for m in matches}
        return ["CH"] if "CH" in present else sorted(present, key=KIND_ORDER.get)

    # -- header -----------------------------------------------------------------------------------
    def _read_from_header(self) -> dict:
        self.channel_paths = self._channel_paths()
        rates, gains = set(), []
        for path in self.channel_paths:
            fields = parse_continuous_header(path)
            try:
                rates.add(float(fields["sampleRate"]))
                gains.append(float(fields["bitVolts"]) * _microvolts_per_bitvolt(path))
            except (KeyError, ValueError):
                raise HeaderError(f"{path}: the header lacks a numeric sampleRate or bitVolts; it is "
                                  "damaged.", path) from None
            if str(fields.get("header_bytes", HEADER_BYTES)).strip() != str(HEADER_BYTES):
                raise HeaderError(f"{path}: header_bytes = {fields['header_bytes']}, expected 1024.", path)
        if len(rates) != 1 or min(rates) <= 0:
            raise HeaderError(f"{self.file_name}: the channels disagree on sampleRate ({sorted(rates)}) "
                              "or it is not positive.", self.file_name)
        self._nb_records = self._count_records()
        self._locate_segment()
        gains = np.array(gains)
        values, counts = np.unique(gains, return_counts=True)
        common = float(values[np.argmax(counts)])
        if not np.all(gains == common):
            self._channel_gains = gains
        return {"nb_channels": len(self.channel_paths), "sampling_rate": rates.pop(),
                "data_dtype": "int16", "dtype_offset": 0, "gain": common,
                "processor": self._params["processor"]}

    def _header_geometry(self):
        """Neuropixels geometry from the settings.xml beside the .continuous files (one probe)."""
        from app.io.formats._openephys_geometry import settings_geometry, settings_path
        first = CONTINUOUS_NAME.fullmatch(os.path.basename(self.channel_paths[0]))
        settings = settings_path(os.path.dirname(self.channel_paths[0]), first["experiment"] if first else None)
        return settings_geometry(settings, None, int(self.nb_channels))

    def _count_records(self) -> int:
        sizes = [os.path.getsize(p) - HEADER_BYTES for p in self.channel_paths]
        count = min(sizes) // RECORD.itemsize
        if count == 0:
            raise HeaderError(f"{self.channel_paths[int(np.argmin(sizes))]}: no whole 2070-byte record "
                              "after the header; the file is empty or cut.", self.channel_paths[0])
        if any(s != sizes[0] or s % RECORD.itemsize for s in sizes):
            print_and_log(f"{self.file_name}: the .continuous files end unevenly or mid-record; reading "
                          f"the {count} whole records all channels have.", "warning")
        return count

    def _record_headers(self) -> np.memmap:
        return np.memmap(self.channel_paths[0], dtype=RECORD, mode="r", offset=HEADER_BYTES,
                         shape=(self._nb_records,))

    def _check_record(self, records: np.memmap, index: int) -> None:
        record = records[index]
        if int(record["nb_samples"]) != SAMPLES_PER_RECORD or bytes(record["marker"]) != MARKER:
            raise HeaderError(
                f"{self.channel_paths[0]}: record {index} has {int(record['nb_samples'])} samples and marker "
                f"{bytes(record['marker']).hex()}, not 1024 and {MARKER.hex()}; the file is damaged or not "
                "record-aligned.", self.channel_paths[0])

    def _locate_segment(self) -> None:
        records = self._record_headers()
        self._check_record(records, 0)
        self._check_record(records, self._nb_records - 1)
        starts = segment_starts(records["timestamp"], records["recording"])
        bounds = starts + [self._nb_records]
        self.nb_segments = len(starts)
        index = int(self._params["segment_index"])
        if not 0 <= index < self.nb_segments:
            raise HeaderError(f"{self.file_name}: segment_index {index} does not exist; the recording has "
                              f"{self.nb_segments} segment(s) (0 to {self.nb_segments - 1}).", self.file_name)
        if self.nb_segments > 1 and self.stream_mode is None:
            print_and_log(f"{self.file_name}: {self.nb_segments} segments (timestamp jumps or new "
                          f"recordings); showing segment {index}. Use stream_mode = segments for all.")
        self._first_record = bounds[index]
        self._shape = ((bounds[index + 1] - bounds[index]) * SAMPLES_PER_RECORD, len(self.channel_paths))
        self._t_start = int(records["timestamp"][bounds[index]])

    # -- samples ----------------------------------------------------------------------------------
    def _open(self, mode: str = "r") -> None:
        self._channel_records: dict[int, np.memmap] = {}

    def _close(self) -> None:
        self._channel_records = {}

    def _records(self, channel: int) -> np.memmap:
        """The records of one channel, mapped on first use."""
        if channel not in self._channel_records:
            self._channel_records[channel] = np.memmap(
                self.channel_paths[channel], dtype=RECORD, mode="r", offset=HEADER_BYTES,
                shape=(self._nb_records,))
        return self._channel_records[channel]

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        self._ensure_open()
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        channels = range(self.nb_channels) if nodes is None else [int(n) for n in nodes]
        raw = np.zeros((max(t_stop - t_start, 0), len(channels)), dtype=np.int16)
        if t_stop > t_start:
            first = self._first_record + t_start // SAMPLES_PER_RECORD
            last = self._first_record + (t_stop - 1) // SAMPLES_PER_RECORD + 1
            skip = t_start % SAMPLES_PER_RECORD
            for column, channel in enumerate(channels):
                samples = self._records(channel)[first:last]["samples"].reshape(-1)
                raw[:, column] = samples[skip:skip + t_stop - t_start]
        return self._scale_data_to_float32(raw, nodes)

    # -- events -----------------------------------------------------------------------------------
    def _local_events(self) -> np.ndarray:
        """TTL pulses (`TTL <line>`, line = channel + 1 as the GUI shows it) from the `.events`
        file and text from `messages.events`, on the timeline; loaded on the first call."""
        folder = os.path.dirname(self.channel_paths[0])
        suffix = CONTINUOUS_NAME.fullmatch(os.path.basename(self.channel_paths[0]))["experiment"]
        suffix = f"_{suffix}" if suffix else ""
        tables = []
        for name in (f"{self.processor}{suffix}.events", f"all_channels{suffix}.events"):
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                tables.append(cached_for_file(path, "ttl", lambda path=path: read_ttl_events(path)))
                break
        messages = os.path.join(folder, f"messages{suffix}.events")
        if os.path.isfile(messages):
            tables.append(cached_for_file(messages, "text", lambda: read_message_events(messages)))
        events = copy_events(merge_events(*tables))
        events["sample"] -= self._t_start
        return events

    # -- streams ----------------------------------------------------------------------------------
    def set_streams(self, stream_mode: str) -> list[DataFile]:
        if stream_mode != "segments":
            return super().set_streams(stream_mode)
        return self._segment_sources(self.nb_segments, processor=self.processor)


def settings_experiment(path: str) -> str | None:
    """`Continuous_Data_2.openephys` describes experiment 2, whose files end in `_2`."""
    found = re.fullmatch(r".*_(\d+)\.openephys", os.path.basename(path))
    return found.group(1) if found else None


def segment_starts(timestamps: np.ndarray, recordings: np.ndarray) -> list[int]:
    """Indices of the records that start a segment (always 0).

    A run of records is one segment when its ends share a recording number and their timestamps
    are exactly 1024 samples per record apart; otherwise it is split in two and both halves are
    checked. Only O(segments x log(records)) record headers are read.
    """
    starts = [0]
    pending = [(0, len(timestamps) - 1)]
    while pending:
        first, last = pending.pop()
        if last <= first:
            continue
        if (recordings[first] == recordings[last]
                and int(timestamps[last]) - int(timestamps[first]) == (last - first) * SAMPLES_PER_RECORD):
            continue
        if last == first + 1:
            starts.append(last)
            continue
        middle = (first + last) // 2
        pending.extend([(middle, last), (first, middle)])
    return sorted(starts)


def read_ttl_events(path: str) -> np.ndarray:
    """TTL pulses of a legacy `.events` file, samples on the acquisition clock."""
    parse_continuous_header(path)
    count = (os.path.getsize(path) - HEADER_BYTES) // EVENT_RECORD.itemsize
    if count <= 0:
        return make_events([], "", "")
    records = np.memmap(path, dtype=EVENT_RECORD, mode="r", offset=HEADER_BYTES, shape=(count,))
    ttl = records[records["type"] == TTL_EVENT]
    several = len(np.unique(ttl["processor"])) > 1
    lines = ttl["processor"].astype(np.int64) * 256 + ttl["channel"] + 1

    def name(line: int) -> str:
        return f"{line // 256} TTL {line % 256}" if several else f"TTL {line % 256}"

    return pair_ttl_edges(ttl["timestamp"], lines, ttl["event_id"] == 1, names=name)


def read_message_events(path: str) -> np.ndarray:
    """`messages.events`: one `timestamp, text` line per message (channel `messages`)."""
    samples, texts = [], []
    with open(path, "rb") as handle:
        for line in handle.read().decode("utf-8", "replace").splitlines():
            stamp, sep, text = line.partition(",")
            if sep and stamp.strip().lstrip("-").isdigit():
                samples.append(int(stamp))
                texts.append(text.strip().rstrip("\x00"))
    return make_events(samples, "messages", np.array(texts, dtype=object))
