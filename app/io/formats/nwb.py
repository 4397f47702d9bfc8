"""nwb: Neurodata Without Borders 2 (HDF5), one ElectricalSeries at a time.

Every group under ``/acquisition`` or ``/processing`` whose ``neurodata_type`` is
``ElectricalSeries`` is a stream. The module also holds the HDF5 helpers the other
HDF5-based formats (arf, brw, maxwell, nix) share: opening read-only with typed
errors, windowed reads of a (time, channels) or (channels, time) dataset, and
chaining the streams of one file on a single timeline.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import h5py
import numpy as np

from app.io.datafile import DataFile, natural_key
from app.io.errors import HeaderError
from app.io.messages import print_and_log
from app.io.events import (
    cached_for_file,
    copy_events,
    empty_events,
    make_events,
    merge_events,
    pair_ttl_edges,
)
from app.io.h5tools import (  # noqa: F401 - re-exported for plugins written against nwb
    H5_ERRORS,
    chain_in_time,
    check_streams_agree,
    open_h5,
    peek_h5,
    read_columns,
    read_window,
    sampled_read,
    scalar,
    text,
    warm_remote_window,
)
from app.io.remote import is_url
from app.io.units import microvolts_per


def _walk_series(group: h5py.Group, prefix: str) -> Iterator[str]:
    for name in sorted(group, key=natural_key):
        item = group.get(name)
        if not isinstance(item, h5py.Group):
            continue
        path = f"{prefix}/{name}"
        if text(item.attrs.get("neurodata_type", "")) == "ElectricalSeries":
            yield path
        else:
            yield from _walk_series(item, path)


def producer(h5file: h5py.File) -> str:
    """Who wrote the file, in lower case, from every place writers put their name: the
    ``source_script`` dataset and its ``file_name``, ``source_script_file_name``, NWB 1's
    ``/general/source``, and the ``session_description`` (the Open Ephys GUI names itself there)."""
    found: list[str] = []
    general = h5file.get("general")
    if isinstance(general, h5py.Group):
        for name in ("source_script", "source_script_file_name", "source"):
            item = general.get(name)
            if isinstance(item, h5py.Dataset) and item.shape == ():
                found += [text(item[()]), text(item.attrs.get("file_name", ""))]
    description = h5file.get("session_description")
    if isinstance(description, h5py.Dataset) and description.shape == ():
        found.append(text(description[()]))
    return " | ".join(found).lower()


def is_open_ephys_gui(h5file: h5py.File) -> bool:
    """Whether the Open Ephys GUI (its NWB Format record engine) wrote the file."""
    return "open ephys" in producer(h5file).replace("-", " ")


def electrical_series(h5file: h5py.File) -> list[str]:
    """Paths of every ElectricalSeries: /acquisition first, then /processing, in natural order."""
    found: list[str] = []
    for top in ("acquisition", "processing"):
        if isinstance(h5file.get(top), h5py.Group):
            found.extend(_walk_series(h5file[top], f"/{top}"))
    return found


class NWBFile(DataFile):
    """One ElectricalSeries of an NWB 2 file (``electrical_series_path``, default the first).

    Scaling follows the NWB schema: volts = data × conversion × channel_conversion[c] + offset,
    so µV per bit is conversion × channel_conversion[c] × 1e6 (``gain`` / ``_channel_gains``);
    a data ``unit`` of mV or µV is honoured. Files of the Open Ephys GUI (``producer``) hold
    bit-volts in both conversion and channel_conversion: only channel_conversion counts there.
    The offset (NWB ≥ 2.4) is a voltage added after scaling; the DataFile subtracts
    ``dtype_offset`` raw units before scaling, so it becomes ``dtype_offset = -offset / (µV per
    bit) × 1e6`` (a float). When channel_conversion differs between channels one raw offset
    cannot serve them all: ``dtype_offset`` is then 0 and the offset in µV is added per read.
    """

    description = "nwb"
    title = "Neurodata Without Borders 2 (HDF5)"
    extension = [".nwb"]
    is_streamable = ["multi-files", "single-file"]
    _field_types = {"electrical_series_path": "string"}

    def __init__(self, *args: Any, **kwargs: Any):
        self._h5: h5py.File | None = None
        self._series_paths: list[str] = []
        self._positions: np.ndarray | None = None
        self._offset_uv = 0.0
        super().__init__(*args, **kwargs)

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        return peek_h5(path, cls._sniff_layout)

    @staticmethod
    def _sniff_layout(h5file: h5py.File) -> tuple[float, str] | None:
        if "nwb_version" not in h5file.attrs and "acquisition" not in h5file:
            return None
        series = electrical_series(h5file)
        if series:
            return 0.95, f"NWB file with {len(series)} ElectricalSeries ({series[0]})"
        return 0.4, "NWB file without an ElectricalSeries"

    # -- header -----------------------------------------------------------------------------------
    def _read_from_header(self) -> dict:
        with open_h5(self.file_name, "NWB") as h5file:
            try:
                self._series_paths = electrical_series(h5file)
                group = h5file[self._choose_series()]
                return self._read_series(group)
            except HeaderError:
                raise
            except H5_ERRORS as error:
                raise HeaderError(f"{self.file_name}: the NWB layout is damaged ({type(error).__name__}: "
                                  f"{error}); the file may be truncated.", self.file_name) from None

    def _choose_series(self) -> str:
        if not self._series_paths:
            raise HeaderError(f"{self.file_name}: no ElectricalSeries under /acquisition or /processing; "
                              "this NWB file holds no extracellular recording.", self.file_name)
        asked = str(self._params.get("electrical_series_path") or "").strip()
        chosen = self._series_paths[0] if not asked else None
        for path in self._series_paths:
            if asked and (path == "/" + asked.strip("/") or path.rsplit("/", 1)[-1] == asked):
                chosen = path
                break
        if chosen is None:
            raise HeaderError(f"{self.file_name}: no ElectricalSeries {asked!r}; set "
                              f"electrical_series_path to one of {', '.join(self._series_paths)}.",
                              self.file_name)
        self._params["electrical_series_path"] = chosen
        return chosen

    def _read_series(self, group: h5py.Group) -> dict:
        data = group.get("data")
        where = f"{self.file_name}: {group.name}"
        if not isinstance(data, h5py.Dataset):
            raise HeaderError(f"{where} has no 'data' dataset; the ElectricalSeries is incomplete.",
                              self.file_name)
        if data.ndim not in (1, 2) or data.dtype.kind not in "iuf":
            raise HeaderError(f"{where}/data has shape {data.shape} and dtype {data.dtype}; an "
                              "ElectricalSeries holds numbers as (time, channels).", self.file_name)
        n_channels = 1 if data.ndim == 1 else data.shape[1]
        self._shape = (data.shape[0], n_channels)
        rate = self._read_time(group, where)
        header = {"nb_channels": n_channels, "sampling_rate": rate, "data_dtype": data.dtype.str}
        header.update(self._read_scaling(group, data, n_channels, where))
        self._positions = self._read_positions(group, n_channels)
        return header

    def _read_scaling(self, group: h5py.Group, data: h5py.Dataset, n_channels: int, where: str) -> dict:
        conversion = scalar(data.attrs.get("conversion", 1.0))
        to_microvolts = self._microvolts_per_unit(data, where)
        offset_uv = scalar(data.attrs.get("offset", 0.0)) * to_microvolts
        per_channel = np.ones(n_channels)
        if "channel_conversion" in group:
            per_channel = np.asarray(group["channel_conversion"][()], dtype=np.float64).reshape(-1)
            if per_channel.size != n_channels:
                raise HeaderError(f"{where}/channel_conversion has {per_channel.size} values for "
                                  f"{n_channels} channels.", self.file_name)
            if is_open_ephys_gui(group.file):
                # The Open Ephys GUI writes each channel's bit-volts into channel_conversion AND the
                # first one into `conversion`; its own reader applies channel_conversion alone.
                conversion = 1.0
        gains = conversion * per_channel * to_microvolts
        uniform = bool(np.all(gains == gains[0]))
        self._channel_gains = None if uniform else gains
        dtype_offset: float = 0
        if offset_uv and uniform and gains[0]:
            dtype_offset = float(np.round(-offset_uv / gains[0], 9))
        elif offset_uv:
            self._offset_uv = offset_uv
        return {"gain": float(gains[0]), "dtype_offset": dtype_offset}

    def _microvolts_per_unit(self, data: h5py.Dataset, where: str) -> float:
        """µV per unit of the data's `unit` attribute: volts by the schema; writers that state
        mV or µV are believed; a unit that is no voltage is kept with a warning."""
        unit = text(data.attrs.get("unit", "volts")) or "volts"
        factor = microvolts_per(unit)
        if factor is None:
            print_and_log(f"{where}/data is in unit {unit!r}, not a voltage; values are shown in that unit, "
                          "not in µV.", "warning")
            return 1.0
        return factor

    def _read_time(self, group: h5py.Group, where: str) -> float:
        if "starting_time" in group:
            start = group["starting_time"]
            if "rate" not in start.attrs:
                raise HeaderError(f"{where}/starting_time has no 'rate' attribute; the sampling rate is "
                                  "unknown.", self.file_name)
            rate = scalar(start.attrs["rate"])
            self._t_start = self._seconds_to_sample(scalar(start), rate, "starting_time")
        elif "timestamps" in group:
            stamps = group["timestamps"][: 100_001]
            steps = np.diff(stamps)
            if steps.size == 0 or not np.median(steps) > 0:
                raise HeaderError(f"{where}/timestamps do not increase; the sampling rate is unknown.",
                                  self.file_name)
            rate = float(1.0 / np.median(steps))
            self._t_start = self._seconds_to_sample(stamps[0], rate, "timestamps[0]")
        else:
            raise HeaderError(f"{where} has neither starting_time nor timestamps; the sampling rate is "
                              "unknown.", self.file_name)
        if not rate > 0:
            raise HeaderError(f"{where}: sampling rate {rate} is not positive.", self.file_name)
        return rate

    def _read_positions(self, group: h5py.Group, n_channels: int) -> np.ndarray | None:
        """(x, y) per channel from the electrodes table: rel_x/rel_y (position on the probe)
        when present, else x/y; None when the table has neither."""
        table = group.file.get("general/extracellular_ephys/electrodes")
        rows = group.get("electrodes")
        if not isinstance(table, h5py.Group) or not isinstance(rows, h5py.Dataset):
            return None
        for x_name, y_name in (("rel_x", "rel_y"), ("x", "y")):
            if x_name in table and y_name in table:
                index = np.asarray(rows[()], dtype=np.intp).reshape(-1)
                if index.size != n_channels:
                    return None
                xy = np.stack([table[x_name][()], table[y_name][()]], axis=1).astype(np.float64)
                return xy[index]
        return None

    def channel_positions(self) -> np.ndarray | None:
        """(nb_channels, 2) electrode positions from the NWB electrodes table, or None."""
        return None if self._positions is None else self._positions.copy()

    def _header_geometry(self):
        """The electrodes table's positions with one shank per electrode group (`group_name`)."""
        if self._positions is None:
            return None
        from app.io.probe_geometry import ProbeGeometry
        with open_h5(self.file_name, "NWB") as h5:
            table = h5.get("general/extracellular_ephys/electrodes")
            rows = h5.get(f"{self.electrical_series_path}/electrodes")
            names = table.get("group_name") if isinstance(table, h5py.Group) else None
            shanks = None
            if isinstance(names, h5py.Dataset) and isinstance(rows, h5py.Dataset):
                labels = np.asarray(names.asstr()[()])[np.asarray(rows[()], dtype=np.intp).reshape(-1)]
                shanks = np.unique(labels, return_inverse=True)[1]
        return ProbeGeometry.from_positions(self._positions, shank_ids=shanks, source="header",
                                            description=f"NWB electrodes table, {self.file_name}")

    # -- streams ----------------------------------------------------------------------------------
    def related_streams(self) -> list[tuple[str, str, dict]]:
        """Every other ElectricalSeries of the file (raw and LFP, several probes), each placed by
        its own `starting_time` and rate."""
        if self.stream_mode is not None:
            return []
        return [(path.rsplit("/", 1)[-1], self.file_name, {"electrical_series_path": path})
                for path in self._series_paths if path != self.electrical_series_path]

    def set_streams(self, stream_mode: str) -> list[DataFile]:
        """`single-file`: every ElectricalSeries of the file, in order, on one timeline."""
        if stream_mode != "single-file":
            return super().set_streams(stream_mode)
        given = {k: v for k, v in self._params.items()
                 if k not in self.header_fields and k != "electrical_series_path"}
        sources = [type(self)(self.file_name, {**given, "electrical_series_path": path})
                   for path in self._series_paths]
        return chain_in_time(check_streams_agree(sources, "electrical_series_path"))

    # -- reading ----------------------------------------------------------------------------------
    def _open(self, mode: str = "r") -> None:
        self._h5 = open_h5(self.file_name, "NWB")
        self._data = self._h5[self.electrical_series_path]["data"]

    def _close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
        self._h5 = None

    def prefetch(self, start: int, stop: int) -> None:
        """For a file on a server: fetch the chunks of samples [start, stop) at once."""
        if self._sources or not is_url(self.file_name):
            return
        self._ensure_open()
        start, stop = max(int(start), 0), min(int(stop), self._shape[0])
        sampled_read(self, lambda: warm_remote_window(self._data, start, stop), start, stop)

    def read_chunk(self, idx: int, chunk_size: int, padding: tuple[int, int] = (0, 0),
                   nodes: Sequence[int] | None = None) -> np.ndarray:
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        self._ensure_open()
        raw = sampled_read(self, lambda: read_window(self._data, t_start, t_stop, nodes), t_start, t_stop)
        data = self._scale_data_to_float32(raw, nodes)
        if self._offset_uv:
            data += np.float32(self._offset_uv)
        return data

    # -- events -----------------------------------------------------------------------------------
    def _local_events(self) -> np.ndarray:
        """Events of the whole file on this recording's timeline: TTL TimeSeries (a name with
        `TTL`, data ±line; channel `<series> <line>`), IntervalSeries (±line pairs),
        AnnotationSeries (text), ndx-events Events/TTLs/LabeledEvents, and TimeIntervals tables
        (trials, epochs, ...: ranges labelled with their tags) and EventsTables. Times are seconds from the session
        start, placed at round(t x rate); a TTL series and an ElectricalSeries that both carry
        Open Ephys `sync` sample numbers are matched on those instead."""
        rate = float(self.sampling_rate)
        seconds = cached_for_file(self.file_name, f"events@{rate!r}", lambda: read_nwb_events(self.file_name, rate))
        with open_h5(self.file_name, "NWB") as h5file:
            first_sync = _first_sync(h5file[self.electrical_series_path])
            synced = cached_for_file(self.file_name, "sync-events", lambda: read_sync_events(h5file))
        events = copy_events(seconds)
        events["sample"] -= self._t_start
        if first_sync is None or not len(synced):
            return events
        synced = copy_events(synced)
        synced["sample"] -= first_sync
        return merge_events(events[~np.isin(events["channel"], np.unique(synced["channel"]))], synced)


# -- events ---------------------------------------------------------------------------------------
def _walk_typed(h5file: h5py.File) -> Iterator[tuple[str, h5py.Group]]:
    """Every group with a neurodata_type, by hand through hard links: h5py's visititems asks
    HDF5 for each object's storage info, which walks every chunked dataset's whole chunk index
    (each leaf one round trip when the file is on a server)."""
    found: list[tuple[str, h5py.Group]] = []

    def visit(group: h5py.Group, depth: int) -> None:
        for name in sorted(group):
            if depth > 64 or not isinstance(group.get(name, getlink=True), h5py.HardLink):
                continue
            item = group.get(name)
            if isinstance(item, h5py.Group):
                if "neurodata_type" in item.attrs:
                    found.append((text(item.attrs["neurodata_type"]), item))
                visit(item, depth + 1)

    visit(h5file, 0)
    return iter(found)


def _is_ttl_series(kind: str, group: h5py.Group) -> bool:
    data = group.get("data")
    return (kind == "TimeSeries" and "ttl" in group.name.rsplit("/", 1)[-1].lower() and "timestamps" in group
            and isinstance(data, h5py.Dataset) and data.ndim == 1 and data.dtype.kind in "iu")


def _series_name(group: h5py.Group) -> str:
    return group.name.rsplit("/", 1)[-1]


def read_nwb_events(file_name: str, rate: float) -> np.ndarray:
    """Every event object of an NWB file, `sample` = round(seconds x rate) on the session clock."""
    tables = []
    with open_h5(file_name, "NWB") as h5file:
        for kind, group in _walk_typed(h5file):
            try:
                tables.append(_events_of(kind, group, rate))
            except H5_ERRORS as error:
                raise HeaderError(f"{file_name}: {group.name} ({kind}) cannot be read as events "
                                  f"({type(error).__name__}: {error}).", file_name) from None
    return merge_events(*tables)


EVENT_KINDS = ("AnnotationSeries", "IntervalSeries", "TTLs", "LabeledEvents", "Events")


def _events_of(kind: str, group: h5py.Group, rate: float) -> np.ndarray:
    name = _series_name(group)
    if kind == "TimeIntervals":
        return _interval_table(group, rate)
    if kind == "EventsTable":
        return _events_table(group, rate)
    is_ttl = _is_ttl_series(kind, group)
    if (kind not in EVENT_KINDS and not is_ttl) or "timestamps" not in group:
        return empty_events()
    samples = np.round(np.asarray(group["timestamps"][()], dtype=np.float64) * rate).astype(np.int64)
    if kind == "AnnotationSeries":
        return make_events(samples, name, group["data"][()])
    if kind == "Events":
        return make_events(samples, name, "")
    if kind in ("LabeledEvents", "TTLs") and "labels" in group.attrs:
        labels = np.array([text(v) for v in np.atleast_1d(group.attrs["labels"])], dtype=object)
        index = np.asarray(group["data"][()]).astype(np.intp)
        return make_events(samples, name, labels[np.clip(index, 0, len(labels) - 1)])
    data = np.asarray(group["data"][()]).astype(np.int64)
    return pair_ttl_edges(samples, np.abs(data), data > 0, names=lambda line: f"{name} {line}")


def _interval_table(group: h5py.Group, rate: float) -> np.ndarray:
    """A TimeIntervals table: ranges [start_time, stop_time), labelled with the row's tags."""
    if "start_time" not in group or "stop_time" not in group:
        return empty_events()
    starts = np.round(np.asarray(group["start_time"][()], dtype=np.float64) * rate).astype(np.int64)
    stops = np.round(np.asarray(group["stop_time"][()], dtype=np.float64) * rate).astype(np.int64)
    labels = np.full(len(starts), "", dtype=object)
    if "tags" in group and "tags_index" in group:
        tags = [text(t) for t in group["tags"][()]]
        ends = np.asarray(group["tags_index"][()], dtype=np.int64)
        begins = np.concatenate([[0], ends[:-1]])
        labels = np.array([",".join(tags[a:b]) for a, b in zip(begins, ends)], dtype=object)
    elif "label" in group and isinstance(group["label"], h5py.Dataset):
        labels = np.array([text(v) for v in group["label"][()]], dtype=object)
    return make_events(starts, _series_name(group), labels, np.maximum(stops - starts, 0))


def _events_table(group: h5py.Group, rate: float) -> np.ndarray:
    """An NWB EventsTable: `timestamp` (s), optional `duration` (s) and `annotation` text."""
    if "timestamp" not in group:
        return empty_events()
    samples = np.round(np.asarray(group["timestamp"][()], dtype=np.float64) * rate).astype(np.int64)
    durations = None
    if "duration" in group:
        durations = np.round(np.nan_to_num(np.asarray(group["duration"][()], dtype=np.float64)) * rate)
    labels = group["annotation"][()] if "annotation" in group else ""
    return make_events(samples, _series_name(group), labels, durations)


def _first_sync(group: h5py.Group) -> int | None:
    sync = group.get("sync")
    return int(sync[0]) if isinstance(sync, h5py.Dataset) and sync.ndim == 1 and len(sync) else None


def read_sync_events(h5file: h5py.File) -> np.ndarray:
    """TTL series of the Open Ephys NWB plugin, placed by their `sync` sample numbers."""
    tables = []
    for kind, group in _walk_typed(h5file):
        if _is_ttl_series(kind, group) and isinstance(group.get("sync"), h5py.Dataset):
            data = np.asarray(group["data"][()]).astype(np.int64)
            name = _series_name(group)
            tables.append(pair_ttl_edges(group["sync"][()], np.abs(data), data > 0,
                                         names=lambda line, name=name: f"{name} {line}"))
    return merge_events(*tables)


__all__ = ["NWBFile", "chain_in_time", "check_streams_agree", "electrical_series", "open_h5", "peek_h5",
           "read_columns", "read_window", "sampled_read", "scalar", "text"]
