"""mcs_h5: Multi Channel Systems HDF5 from Multi Channel DataManager / Experimenter.

Root attribute McsHdf5ProtocolType = `RawData`. Samples live in
`/Data/Recording_<r>/AnalogStream/Stream_<s>/ChannelData` (channels x samples); `InfoChannel`
has one row per channel: RowIndex (its row in ChannelData), Label, Unit, Tick (µs per sample),
ADZero, ConversionFactor, Exponent. value = (raw - ADZero) * ConversionFactor * 10**Exponent in
Unit. `ChannelDataTimeStamps` rows [t0 µs, first index, last index] are the contiguous blocks;
several rows are gaps, each block a segment (stream mode `segments`). Each AnalogStream is a
stream (`stream_index`, within `recording`). Layout: MCS McsPyDataTools `McsPy/McsData.py`.
"""

from __future__ import annotations

import h5py
import numpy as np

from app.io.datafile import DataFile
from app.io.errors import HeaderError
from app.io.events import cached_for_file, copy_events, empty_events, make_events, merge_events
from app.io.h5tools import H5_ERRORS, open_h5, peek_h5, read_window, sampled_read, text
from app.io.units import microvolts_per

NEEDED = ("RowIndex", "Tick", "ADZero", "ConversionFactor", "Exponent")


def _attr_text(attrs, name: str) -> str:
    return text(attrs.get(name, b"")) if name in attrs else ""


def _entity_times(dataset: h5py.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps µs, durations µs) of one EventEntity: row 0 timestamps, row 1 durations when
    present (MCS's readers store events x rows or rows x events; a 1-D dataset is timestamps)."""
    values = np.asarray(dataset[...], dtype=np.int64)
    if values.ndim == 2 and values.shape[0] > 5 >= values.shape[1]:
        values = values.T
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    durations = values[1] if len(values) > 1 else np.zeros(values.shape[1], np.int64)
    return values[0], np.maximum(durations, 0)


def read_mcs_events(group: h5py.Group) -> np.ndarray:
    """Events of every `EventStream/Stream_<s>/EventEntity_<id>` under a recording group, sample
    and duration in µs. Channel = the entity's InfoEvent Label, label = its source channels."""
    tables = []
    streams = group.get("EventStream")
    for stream in ([] if streams is None else [streams[n] for n in sorted(streams, key=_number_of)]):
        info = stream["InfoEvent"][...] if "InfoEvent" in stream else np.zeros(0, [("EventID", "<i4")])
        fields = info.dtype.names or ()
        described = {int(row["EventID"]): row for row in info} if "EventID" in fields else {}
        for name in sorted((n for n in stream if n.startswith("EventEntity_")), key=_number_of):
            row = described.get(_number_of(name))
            channel = text(row["Label"]) if row is not None and "Label" in fields else ""
            source = text(row["SourceChannelLabels"]) if row is not None and "SourceChannelLabels" in fields else ""
            times, durations = _entity_times(stream[name])
            tables.append(make_events(times, channel or name, source, durations))
    return merge_events(*tables)


def _number_of(name: str) -> int:
    tail = name.rpartition("_")[2]
    return int(tail) if tail.isdigit() else -1


class McsH5File(DataFile):
    """One AnalogStream of one recording of an MCS HDF5 file; values in µV for volt channels."""

    description = "mcs_h5"
    title = "Multi Channel Systems HDF5 (.h5)"
    extension = [".h5"]
    is_writable = False
    is_streamable = ["multi-files", "segments"]
    _field_types = {"recording": "int", "stream_index": "int", "segment_index": "int"}

    def __init__(self, *args, **kwargs):
        self._h5: h5py.File | None = None
        super().__init__(*args, **kwargs)

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        return peek_h5(path, cls._sniff_layout)

    @staticmethod
    def _sniff_layout(h5file: h5py.File) -> tuple[float, str] | None:
        if _attr_text(h5file.attrs, "McsHdf5ProtocolType") == "RawData" and "Data" in h5file:
            return 0.95, "HDF5 with McsHdf5ProtocolType RawData (Multi Channel DataManager)"
        return None

    # -- header -----------------------------------------------------------------------------------
    def _fail(self, problem: str, candidates=None) -> HeaderError:
        return HeaderError(f"{self.file_name}: {problem}", self.file_name, candidates)

    def _read_from_header(self) -> dict:
        with open_h5(self.file_name, "MCS HDF5") as h5file:
            if _attr_text(h5file.attrs, "McsHdf5ProtocolType") != "RawData":
                raise self._fail("root attribute McsHdf5ProtocolType is not 'RawData'; this is not an MCS "
                                 "raw-data HDF5 file (CMOS-MEA files use another schema).")
            try:
                return self._read_stream(h5file)
            except HeaderError:
                raise
            except H5_ERRORS as error:
                raise self._fail(f"the MCS stream layout is damaged or incomplete ({type(error).__name__}: "
                                 f"{error}); it needs ChannelData, InfoChannel ({', '.join(NEEDED)}) and "
                                 "ChannelDataTimeStamps.") from None

    def _numbered(self, group: h5py.Group, prefix: str) -> dict[int, str]:
        found = {}
        for name in group:
            head, _, number = name.partition("_")
            if head == prefix and number.isdigit():
                found[int(number)] = name
        return found

    def _choose(self, group: h5py.Group, prefix: str, field: str) -> h5py.Group:
        found = self._numbered(group, prefix)
        wanted = int(self._params.get(field, min(found) if found else 0))
        if wanted not in found:
            names = [f"{prefix}_{k}" for k in sorted(found)]
            raise self._fail(f"{field} {wanted}: there is no {group.name}/{prefix}_{wanted}; set {field} to "
                             f"one of {sorted(found) or 'none'}.", names)
        self._params[field] = wanted
        return group[found[wanted]]

    def _read_stream(self, h5file: h5py.File) -> dict:
        if "Data" not in h5file:
            raise self._fail("has no /Data group; not an MCS raw-data file.")
        recording = self._choose(h5file["Data"], "Recording", "recording")
        if "AnalogStream" not in recording:
            raise self._fail(f"{recording.name} has no AnalogStream; the recording holds no sampled data.")
        stream = self._choose(recording["AnalogStream"], "Stream", "stream_index")
        self.stream_path = stream.name
        self.stream_label = _attr_text(stream.attrs, "Label")
        info = stream["InfoChannel"][...]
        missing = [name for name in NEEDED if name not in (info.dtype.names or ())]
        if missing:
            raise self._fail(f"{stream.name}/InfoChannel lacks {', '.join(missing)}.")
        shape = stream["ChannelData"].shape
        self._rows = info["RowIndex"].astype(np.intp)
        if len(shape) != 2 or len(info) == 0 or self._rows.min() < 0 or self._rows.max() >= shape[0]:
            raise self._fail(f"{stream.name}: ChannelData has shape {shape} but InfoChannel lists RowIndex "
                             f"{self._rows.tolist()[:8]}; the two disagree.")
        rate = self._rate(info)
        self.channel_names = [text(v) for v in info["Label"]] if "Label" in info.dtype.names else []
        self._blocks = self._time_blocks(stream, shape[1])
        self._choose_segment(rate)
        gain, offset = self._scaling(info)
        return {"nb_channels": len(info), "sampling_rate": rate, "data_dtype": stream["ChannelData"].dtype.name,
                "dtype_offset": offset, "gain": gain, "recording": self._params["recording"],
                "stream_index": self._params["stream_index"]}

    def _rate(self, info: np.ndarray) -> float:
        ticks = info["Tick"].astype(np.int64)
        if ticks.min() <= 0 or np.any(ticks != ticks[0]):
            raise self._fail(f"{self.stream_path}: InfoChannel Tick is {sorted(set(ticks.tolist()))} µs; one "
                             "positive sample period is expected per stream.")
        self._tick = int(ticks[0])
        return 1e6 / self._tick

    def _time_blocks(self, stream: h5py.Group, samples: int) -> np.ndarray:
        """Rows (t0 µs, first index, stop index) of the contiguous blocks."""
        if "ChannelDataTimeStamps" not in stream:
            return np.array([[0, 0, samples]], dtype=np.int64)
        stamps = np.asarray(stream["ChannelDataTimeStamps"][...], dtype=np.int64)
        if stamps.ndim == 2 and stamps.shape[1] != 3 and stamps.shape[0] == 3:
            stamps = stamps.T
        if stamps.ndim != 2 or stamps.shape[1] != 3 or len(stamps) == 0:
            raise self._fail(f"{self.stream_path}/ChannelDataTimeStamps has shape {stamps.shape}; rows of "
                             "[t0, first index, last index] are expected.")
        blocks = stamps.copy()
        blocks[:, 2] += 1
        if np.any(blocks[:, 1] < 0) or np.any(blocks[:, 2] <= blocks[:, 1]) or blocks[:, 2].max() > samples:
            raise self._fail(f"{self.stream_path}/ChannelDataTimeStamps index ranges "
                             f"{stamps[:, 1:].tolist()[:4]} do not fit the {samples} samples of ChannelData.")
        return blocks

    def _choose_segment(self, rate: float) -> None:
        index = self._pick_segment(len(self._blocks), "gaps in ChannelDataTimeStamps")
        t0, self._first, stop = (int(v) for v in self._blocks[index])
        self._shape = (stop - self._first, len(self._rows))
        self._t_start = round(t0 / self._tick)

    def _scaling(self, info: np.ndarray) -> tuple[float, float]:
        units = [text(u) for u in info["Unit"]] if "Unit" in info.dtype.names else ["V"] * len(info)
        factors = np.array([microvolts_per(u) or 1.0 for u in units])
        gains = info["ConversionFactor"].astype(np.float64) * 10.0 ** info["Exponent"].astype(np.float64) * factors
        offsets = info["ADZero"].astype(np.float64)
        if np.any(gains != gains[0]):
            self._channel_gains = gains
        if np.any(offsets != offsets[0]):
            self._channel_offsets = offsets
        self.units = ["µV" if microvolts_per(u) else u for u in units]
        offset = float(offsets[0])
        return float(gains[0]), int(offset) if offset == int(offset) else offset


    def get_description(self) -> dict:
        return self._describe_segments(super().get_description(), len(self._blocks))

    def set_streams(self, stream_mode: str) -> list[DataFile]:
        if stream_mode != "segments":
            return super().set_streams(stream_mode)
        return self._segment_sources(len(self._blocks), recording=self._params["recording"],
                                     stream_index=self._params["stream_index"])

    def _header_geometry(self):
        """An 8 x 8 MEA placed from its electrode labels ("12" = column 1, row 2), else None."""
        from app.io.probe_geometry import mea_label_geometry
        return mea_label_geometry(self.channel_names, description=f"MCS {self.file_name}")

    # -- events -----------------------------------------------------------------------------------
    def _local_events(self) -> np.ndarray:
        """The recording's EventStream entities (timestamps µs, durations where given) at sample =
        µs / Tick from this stream's first sample; read on the first call, cached per file."""
        recording = self.stream_path.rsplit("/", 2)[0]
        in_us = cached_for_file(self.file_name, f"mcs-events {recording}", lambda: self._read_events(recording))
        if not len(in_us):
            return empty_events()
        events = copy_events(in_us)
        first = np.round(in_us["sample"] / self._tick).astype(np.int64)
        last = np.round((in_us["sample"] + in_us["duration"]) / self._tick).astype(np.int64)
        events["sample"], events["duration"] = first - self._t_start, last - first
        return events

    def _read_events(self, recording: str) -> np.ndarray:
        with open_h5(self.file_name, "MCS HDF5") as h5file:
            try:
                return read_mcs_events(h5file[recording])
            except H5_ERRORS as error:
                raise self._fail(f"the EventStream of {recording} is damaged ({type(error).__name__}: {error}); "
                                 "its EventEntity datasets hold rows of timestamps and durations in µs.") from None

    # -- data -------------------------------------------------------------------------------------
    def _open(self, mode: str = "r") -> None:
        self._h5 = open_h5(self.file_name, "MCS HDF5")
        self.data = self._h5[self.stream_path]["ChannelData"]

    def _close(self) -> None:
        self.data = None
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        t_stop = max(t_stop, t_start)
        rows = self._rows if nodes is None else self._rows[np.asarray(nodes, dtype=np.intp)]
        first = self._first
        raw = sampled_read(self, lambda: read_window(self.data, first + t_start, first + t_stop, rows, 1),
                           t_start, t_stop)
        return self._scale_data_to_float32(raw, nodes)
