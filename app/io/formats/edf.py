"""edf: European Data Format (EDF, EDF+C/D) and its 24-bit BioSemi twin (BDF, BDF+C/D).

A 256-byte ASCII main header, then the signal headers field by field (every signal's label,
then every transducer, ...), then data records: each record holds, signal after signal, that
signal's samples for the record's duration (int16 little-endian in EDF, 3-byte two's
complement in BDF). Signals with the same number of samples per record share a rate and form
one stream (`stream_index`, in order of first appearance). physical = pmin + (digital - dmin)
* (pmax - pmin) / (dmax - dmin): the specification's formula (neo divides by dmax - dmin + 1).
`EDF Annotations` / `BDF Annotations` signals carry text (TALs): each record's first TAL gives
the record's start, so EDF+D records can leave gaps; contiguous records form a segment (stream
mode `segments`); the other TALs are events (`get_events`). Layout: edfplus.info specifications.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from app.io.datafile import DataFile
from app.io.errors import HeaderError
from app.io.events import cached_for_file, make_events
from app.io.messages import print_and_log
from app.io.units import microvolts_per

MAIN_BYTES = 256
SIGNAL_FIELDS = (("label", 16), ("transducer", 80), ("dimension", 8), ("physical_min", 8),
                 ("physical_max", 8), ("digital_min", 8), ("digital_max", 8), ("prefiltering", 80),
                 ("samples", 8), ("reserved", 32))
SIGNAL_BYTES = sum(width for _, width in SIGNAL_FIELDS)
ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")
BDF_MAGIC = b"\xffBIOSEMI"
EDF_MAGIC = b"0       "


@dataclass
class Segment:
    first_record: int
    nb_records: int
    onset: float         # seconds since the file's start date and time


def _text(raw: bytes) -> str:
    return raw.decode("latin-1").strip()


def parse_tals(raw: bytes) -> list[tuple[float, float, list[str]]]:
    """(onset s, duration s, texts) of each Time-stamped Annotation List in `raw`.

    A TAL is `+onset[\\x15duration]\\x14text\\x14...\\x14\\x00`; unused bytes are NULs.
    A TAL whose onset is not a number is skipped.
    """
    found = []
    for tal in raw.split(b"\x00"):
        if not tal:
            continue
        parts = tal.split(b"\x14")
        stamp = parts[0].split(b"\x15")
        try:
            onset = float(stamp[0])
            duration = float(stamp[1]) if len(stamp) > 1 and stamp[1] else 0.0
        except ValueError:
            continue
        texts = [p.decode("utf-8", "replace") for p in parts[1:] if p]
        found.append((onset, duration, texts))
    return found


class EdfFile(DataFile):
    """One stream (the signals of one rate) of one segment of an EDF/BDF file. Read-only."""

    description = "edf"
    title = "EDF / EDF+ / BDF / BDF+"
    extension = [".edf", ".bdf", ".rec"]
    is_writable = False
    is_streamable = ["multi-files", "segments"]
    _field_types = {"stream_index": "int", "segment_index": "int"}

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as handle:
            head = handle.read(MAIN_BYTES)
        if len(head) < MAIN_BYTES or head[:8] not in (EDF_MAGIC, BDF_MAGIC):
            return None
        try:
            int(head[252:256]) and int(head[184:192])
        except ValueError:
            return None
        kind = _text(head[192:236])[:5] or ("BDF" if head[:8] == BDF_MAGIC else "EDF")
        return 1.0, f"{kind} header"

    # -- header -----------------------------------------------------------------------------------
    def _fail(self, problem: str) -> HeaderError:
        return HeaderError(f"{self.file_name}: {problem}", self.file_name)

    def _number(self, raw: bytes, field: str, kind: type = float) -> float:
        text = _text(raw)
        try:
            value = kind(text)
        except ValueError:
            raise self._fail(f"header field {field} is {text!r}, not a number; the header is corrupt.") from None
        if kind is float and not np.isfinite(value):
            raise self._fail(f"header field {field} is {text!r}; the header is corrupt.")
        return value

    def _read_from_header(self) -> dict:
        size = os.path.getsize(self.file_name)
        with open(self.file_name, "rb") as handle:
            main = handle.read(MAIN_BYTES)
            if len(main) < MAIN_BYTES:
                raise self._fail(f"the file ends inside the 256-byte main header ({len(main)} bytes); it is "
                                 "truncated.")
            self._parse_main(main, size)
            signals = handle.read(SIGNAL_BYTES * self.nb_signals)
        if len(signals) < SIGNAL_BYTES * self.nb_signals:
            raise self._fail(f"the file ends inside the signal headers ({MAIN_BYTES + len(signals)} of "
                             f"{self._header_bytes} bytes); it is truncated.")
        self.signals = self._parse_signals(signals)
        self._layout_records(size)
        self._find_segments()
        return self._pick_stream()

    def _parse_main(self, main: bytes, size: int) -> None:
        if main[:8] == BDF_MAGIC:
            self.is_bdf = True
        elif main[:8] == EDF_MAGIC:
            self.is_bdf = False
        else:
            raise self._fail(f"starts with {main[:8]!r}, not '0' (EDF) or 0xFF BIOSEMI (BDF); this is not "
                             "an EDF/BDF file.")
        self.nb_signals = self._number(main[252:256], "number of signals", int)
        if not 1 <= self.nb_signals <= 100_000:
            raise self._fail(f"number of signals is {self.nb_signals}; the header is corrupt.")
        self._header_bytes = self._number(main[184:192], "header bytes", int)
        if self._header_bytes != MAIN_BYTES * (self.nb_signals + 1):
            raise self._fail(f"header bytes is {self._header_bytes} but {self.nb_signals} signals need "
                             f"{MAIN_BYTES * (self.nb_signals + 1)}; the header is corrupt.")
        self.variant = _text(main[192:236])[:5]
        self._declared_records = self._number(main[236:244], "number of data records", int)
        self.record_duration = self._number(main[244:252], "duration of a data record")
        if self._declared_records < -1:
            raise self._fail(f"number of data records is {self._declared_records}; the header is corrupt.")
        self.start_date = _text(main[168:176])
        self.start_time = _text(main[176:184])
        self.patient, self.recording = _text(main[8:88]), _text(main[88:168])

    def _parse_signals(self, raw: bytes) -> list[dict]:
        count = self.nb_signals
        columns, offset = {}, 0
        for name, width in SIGNAL_FIELDS:
            columns[name] = [raw[offset + i * width: offset + (i + 1) * width] for i in range(count)]
            offset += count * width
        signals = []
        for i in range(count):
            label = _text(columns["label"][i])
            where = f"signal {i} ({label})"
            signal = {"label": label, "unit": _text(columns["dimension"][i]),
                      "annotation": label in ANNOTATION_LABELS}
            for name in ("physical_min", "physical_max"):
                signal[name] = self._number(columns[name][i], f"{name} of {where}")
            for name in ("digital_min", "digital_max", "samples"):
                signal[name] = self._number(columns[name][i], f"{name} of {where}", int)
            self._check_signal(signal, where)
            signals.append(signal)
        return signals

    def _check_signal(self, signal: dict, where: str) -> None:
        limit = 2 ** 23 if self.is_bdf else 2 ** 15
        if signal["samples"] < 1:
            raise self._fail(f"samples per record of {where} is {signal['samples']}; must be at least 1.")
        if not -limit <= signal["digital_min"] < signal["digital_max"] < limit:
            raise self._fail(f"{where} has digital range {signal['digital_min']}..{signal['digital_max']}; "
                             f"it must be increasing and within +-{limit}. The header is corrupt.")
        if signal["physical_min"] == signal["physical_max"] and not signal["annotation"]:
            raise self._fail(f"{where} has equal physical min and max ({signal['physical_min']}); its gain "
                             "is undefined.")

    def _layout_records(self, size: int) -> None:
        item = 3 if self.is_bdf else 2
        fields = []
        for i, signal in enumerate(self.signals):
            shape = (item * signal["samples"],) if self.is_bdf or signal["annotation"] else (signal["samples"],)
            fields.append((f"s{i}", "u1" if self.is_bdf or signal["annotation"] else "<i2", shape))
        self._record_dtype = np.dtype(fields)
        record_bytes = self._record_dtype.itemsize
        available = max(size - self._header_bytes, 0) // record_bytes
        records = self._declared_records
        if records == -1:
            records = available
        elif records > available:
            print_and_log(f"{self.file_name}: the header declares {records} data records but only "
                          f"{available} are in the file (truncated); reading those.", "warning")
            records = available
        if records == 0:
            raise self._fail("no complete data record after the header; the file is empty or truncated.")
        self.nb_records = records
        if not self.record_duration > 0 and any(not s["annotation"] for s in self.signals):
            raise self._fail(f"duration of a data record is {self.record_duration}; it must be positive.")

    # -- segments ---------------------------------------------------------------------------------
    def _annotation_fields(self) -> list[str]:
        return [f"s{i}" for i, s in enumerate(self.signals) if s["annotation"]]

    def _records(self) -> np.memmap:
        return np.memmap(self.file_name, dtype=self._record_dtype, mode="r", offset=self._header_bytes,
                         shape=(self.nb_records,))

    def _record_onset(self, raw: bytes) -> float | None:
        tals = parse_tals(bytes(raw))
        return tals[0][0] if tals else None

    def _find_segments(self) -> None:
        """EDF+D: read each record's time-keeping TAL; elsewhere only the first record's."""
        fields = self._annotation_fields()
        if not fields:
            self.segments = [Segment(0, self.nb_records, 0.0)]
            return
        records = self._records()
        field = fields[0]
        discontinuous = self.variant in ("EDF+D", "BDF+D")
        count = self.nb_records if discontinuous else 1
        onsets = []
        for k in range(count):
            onset = self._record_onset(records[k][field])
            if onset is None:
                raise self._fail(f"data record {k} has no time-keeping annotation; an {self.variant or 'EDF+'} "
                                 "record must start with one.")
            onsets.append(onset)
        self.segments = self._group_records(onsets)

    def _group_records(self, onsets: list[float]) -> list[Segment]:
        segments = [Segment(0, 1, onsets[0])]
        tolerance = 1e-6 * max(self.record_duration, 1e-3)
        for k in range(1, len(onsets)):
            last = segments[-1]
            expected = last.onset + last.nb_records * self.record_duration
            if abs(onsets[k] - expected) <= tolerance:
                last.nb_records += 1
            else:
                segments.append(Segment(k, 1, onsets[k]))
        if len(onsets) < self.nb_records:      # continuous: one segment of every record
            segments[-1].nb_records = self.nb_records
        return segments

    # -- streams of one rate ----------------------------------------------------------------------
    def rate_groups(self) -> list[list[int]]:
        """Signal indices of each stream: data signals with the same samples per record."""
        groups: dict[int, list[int]] = {}
        for i, signal in enumerate(self.signals):
            if not signal["annotation"]:
                groups.setdefault(signal["samples"], []).append(i)
        return list(groups.values())

    def related_streams(self) -> list[tuple[str, str, dict]]:
        """The file's other sampling-rate groups (`stream_index`), e.g. EEG at 256 Hz beside
        a respiration channel at 32 Hz."""
        mine = int(self._params.get("stream_index", 0))
        segment = {"segment_index": self._params["segment_index"]} if "segment_index" in self._params else {}
        return [(self._group_title(group), self.file_name, {"stream_index": k, **segment})
                for k, group in enumerate(self.rate_groups()) if k != mine]

    def _group_title(self, group: list[int]) -> str:
        """"256 Hz (2 signals)", "32 Hz (1 signal)": a stream of one rate, as menus and lanes name it."""
        count = len(group)
        return (f"{self.signals[group[0]]['samples'] / self.record_duration:g} Hz "
                f"({count} signal{'' if count == 1 else 's'})")

    def _pick_stream(self) -> dict:
        groups = self.rate_groups()
        if not groups:
            raise self._fail("holds only annotation signals; there are no samples to show.")
        index = self._pick_stream_index([self._group_title(g) for g in groups])
        self.channels = groups[index]
        self.samples_per_record = self.signals[self.channels[0]]["samples"]
        rate = self.samples_per_record / self.record_duration
        self._choose_segment(rate)
        gain, offset = self._scaling()
        return {"nb_channels": len(self.channels), "sampling_rate": rate,
                "data_dtype": "int32" if self.is_bdf else "int16", "dtype_offset": offset, "gain": gain,
                "stream_index": index}

    def _choose_segment(self, rate: float) -> None:
        index = self._pick_segment(len(self.segments), f"{self.variant}, records with gaps")
        self.segment = self.segments[index]
        self._shape = (self.segment.nb_records * self.samples_per_record, len(self.channels))
        self._t_start = round(self.segment.onset * rate)

    def _scaling(self) -> tuple[float, float]:
        """(common gain, common raw offset); per-channel values go to _channel_gains/_channel_offsets."""
        gains, offsets = [], []
        for i in self.channels:
            s = self.signals[i]
            native = (s["physical_max"] - s["physical_min"]) / (s["digital_max"] - s["digital_min"])
            offsets.append(s["digital_min"] - s["physical_min"] / native)
            factor = (microvolts_per(s["unit"]) or 1.0)
            gains.append(native * factor)
        gains_array, offsets_array = np.array(gains), np.array(offsets)
        self._channel_offsets = None
        if not np.all(np.abs(offsets_array - offsets_array[0]) <= 1e-9 * np.abs(offsets_array).max(initial=1)):
            self._channel_offsets = offsets_array
        if not np.all(gains_array == gains_array[0]):
            self._channel_gains = gains_array
        offset = float(offsets_array[0])
        nearest = round(offset)
        return float(gains_array[0]), nearest if abs(offset - nearest) < 1e-9 else offset

    @property
    def channel_names(self) -> list[str]:
        return [self.signals[i]["label"] for i in self.channels]


    def get_description(self) -> dict:
        return self._describe_segments(super().get_description(), len(self.segments))

    def set_streams(self, stream_mode: str) -> list[DataFile]:
        if stream_mode != "segments":
            return super().set_streams(stream_mode)
        return self._segment_sources(len(self.segments), stream_index=self._params.get("stream_index", 0))

    # -- data -------------------------------------------------------------------------------------
    def _open(self, mode: str = "r") -> None:
        self.data = self._records()

    def _close(self) -> None:
        self.data = None

    def _signal_samples(self, block: np.ndarray, signal: int) -> np.ndarray:
        values = block[f"s{signal}"]
        if not self.is_bdf:
            return values.reshape(-1)
        triplets = values.reshape(-1, 3).astype(np.int32)
        word = triplets[:, 0] | (triplets[:, 1] << 8) | (triplets[:, 2] << 16)
        return (word ^ 0x800000) - 0x800000

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        t_stop = max(t_stop, t_start)
        selected = range(self.nb_channels) if nodes is None else [int(n) for n in np.asarray(nodes).ravel()]
        raw = np.empty((t_stop - t_start, len(selected)), dtype=self.data_dtype)
        if t_stop > t_start:
            spr = self.samples_per_record
            first = self.segment.first_record + t_start // spr
            stop = self.segment.first_record + -(-t_stop // spr)
            block = self.data[first:stop]
            skip = t_start - (first - self.segment.first_record) * spr
            for column, node in enumerate(selected):
                samples = self._signal_samples(block, self.channels[node])
                raw[:, column] = samples[skip: skip + t_stop - t_start]
        return self._scale_data_to_float32(raw, nodes)

    # -- annotations ------------------------------------------------------------------------------
    def _local_events(self) -> np.ndarray:
        """The annotations (TALs other than the time-keeping ones) on the timeline; an annotation
        outside every stream (in an EDF+D gap, or in another segment) has no place and is left out.

        One at the recording's end time ("Recording ends", written at the duration) falls one past
        the last sample: it is kept, on the last sample."""
        onsets, durations, labels, channels = cached_for_file(self.file_name, "edf-annotations",
                                                              self._read_annotations)
        rate = float(self.sampling_rate)
        samples = np.round((onsets - self.segment.onset) * rate).astype(np.int64)
        end = int(self.duration)
        samples[samples == end] = end - 1
        return make_events(samples, channels, labels, np.round(durations * rate).astype(np.int64))

    def _read_annotations(self) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
        """(onsets s, durations s, texts, signal labels) of every annotation; reads each record's
        annotation bytes once."""
        onsets, durations, labels, channels = [], [], [], []
        records = self._records()
        for index in (i for i, s in enumerate(self.signals) if s["annotation"]):
            field, name = f"s{index}", self.signals[index]["label"]
            for k in range(self.nb_records):
                for onset, duration, texts in parse_tals(bytes(records[k][field])):
                    for text in texts:
                        onsets.append(onset)
                        durations.append(duration)
                        labels.append(text)
                        channels.append(name)
        return np.array(onsets, dtype=np.float64), np.array(durations, dtype=np.float64), labels, channels
