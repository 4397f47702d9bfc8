"""arf: Advanced Recording Format (HDF5), as specified by C. D. Meliza (spec 2.1).

An entry is a top-level group with a ``timestamp`` attribute (seconds, microseconds since the
epoch). Each channel of sampled data is its own dataset in the entry, with ``sampling_rate``
(Hz), ``units`` (SI, may be empty) and ``datatype`` (codes below 1000 are sampled data) and an
optional ``offset`` in samples from the entry's start. Event datasets (compound records, units
"s" or "samples", datatype ≥ 1000) are not channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import h5py
import numpy as np

from app.io.datafile import DataFile, natural_key
from app.io.errors import HeaderError
from app.io.h5tools import (
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
)
from app.io.units import microvolts_per

EVENT_UNITS = {"s", "samples"}


def entries(h5file: h5py.File) -> list[str]:
    """Names of the entries (top-level groups with a timestamp), in natural order."""
    return sorted((name for name, item in h5file.items()
                   if isinstance(item, h5py.Group) and "timestamp" in item.attrs), key=natural_key)


def entry_seconds(group: h5py.Group) -> float:
    stamp = np.asarray(group.attrs["timestamp"]).reshape(-1)
    return float(stamp[0]) + (float(stamp[1]) * 1e-6 if stamp.size > 1 else 0.0)


def is_sampled(dataset: object) -> bool:
    """A time series channel: numeric, with a sampling rate, not event data."""
    if not isinstance(dataset, h5py.Dataset) or dataset.dtype.kind not in "iuf" or dataset.ndim not in (1, 2):
        return False
    if "sampling_rate" not in dataset.attrs:
        return False
    units = text(dataset.attrs.get("units", "")).strip().lower()
    return units not in EVENT_UNITS and int(scalar(dataset.attrs.get("datatype", 0))) < 1000


class ArfFile(DataFile):
    """One entry of an ARF file (``h5_key``, default the first) and its sampled channels.

    ``channel_name`` picks channels: a prefix (datasets ``<prefix><k>``, in natural order) or the
    name of one multichannel (time × channels) dataset; by default every 1-D sampled dataset of
    the entry. The channels must share sampling rate and dtype; when their lengths differ the
    recording ends with the shortest. ``t_start`` counts samples from the earliest entry of the
    file (plus the channels' ``offset``), so entries keep their spacing in time.
    """

    description = "arf"
    title = "Advanced Recording Format (HDF5)"
    extension = [".arf"]
    is_streamable = ["multi-files", "single-file"]
    _field_types = {"h5_key": "string", "channel_name": "string"}

    def __init__(self, *args, **kwargs):
        self._h5: h5py.File | None = None
        self._paths: list[str] = []
        self._entries: list[str] = []
        self._multichannel = False
        super().__init__(*args, **kwargs)

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        return peek_h5(path, cls._sniff_layout)

    @staticmethod
    def _sniff_layout(h5file: h5py.File) -> tuple[float, str] | None:
        found = entries(h5file)
        if found and ("arf_version" in h5file.attrs or "uuid" in h5file[found[0]].attrs):
            return 0.9, f"HDF5 with {len(found)} ARF entries ({found[0]})"
        return None

    # -- header -----------------------------------------------------------------------------------
    def _read_from_header(self) -> dict:
        with open_h5(self.file_name, "ARF") as h5file:
            try:
                self._entries = entries(h5file)
                entry = h5file[self._choose_entry()]
                datasets = self._choose_channels(entry)
                return self._read_channels(h5file, entry, datasets)
            except HeaderError:
                raise
            except H5_ERRORS as error:
                raise HeaderError(f"{self.file_name}: the ARF layout is damaged ({type(error).__name__}: "
                                  f"{error}); the file may be truncated.", self.file_name) from None

    def _choose_entry(self) -> str:
        if not self._entries:
            raise HeaderError(f"{self.file_name}: no ARF entry (a top-level group with a 'timestamp' "
                              "attribute) in this file.", self.file_name)
        asked = str(self._params.get("h5_key") or self._entries[0]).strip("/")
        if asked not in self._entries:
            raise HeaderError(f"{self.file_name}: no entry {asked!r}; set h5_key to one of "
                              f"{', '.join(self._entries[:20])}.", self.file_name)
        self._params["h5_key"] = asked
        return asked

    def _choose_channels(self, entry: h5py.Group) -> list[h5py.Dataset]:
        sampled = {name: entry[name] for name in sorted(entry, key=natural_key) if is_sampled(entry.get(name))}
        prefix = str(self._params.get("channel_name") or "")
        if prefix in sampled and sampled[prefix].ndim == 2:
            return [sampled[prefix]]
        if prefix:
            chosen = [d for n, d in sampled.items() if n.startswith(prefix) and n[len(prefix):].isdigit()]
        else:
            chosen = [d for d in sampled.values() if d.ndim == 1] or list(sampled.values())[:1]
        if not chosen:
            what = f"named {prefix}<k>" if prefix else "with a sampling_rate attribute"
            raise HeaderError(f"{self.file_name}: entry {entry.name} has no sampled dataset {what}; "
                              f"set channel_name to a prefix of {', '.join(sampled) or 'its datasets'}.",
                              self.file_name)
        return chosen

    def _read_channels(self, h5file: h5py.File, entry: h5py.Group, datasets: list[h5py.Dataset]) -> dict:
        first = datasets[0]
        rate = scalar(first.attrs["sampling_rate"])
        for dataset in datasets[1:]:
            if scalar(dataset.attrs["sampling_rate"]) != rate or dataset.dtype != first.dtype:
                raise HeaderError(
                    f"{self.file_name}: {dataset.name} ({scalar(dataset.attrs['sampling_rate'])} Hz, "
                    f"{dataset.dtype}) differs from {first.name} ({rate} Hz, {first.dtype}); set "
                    "channel_name to the prefix of channels recorded together.", self.file_name)
        if not rate > 0:
            raise HeaderError(f"{self.file_name}: {first.name} has sampling_rate {rate}.", self.file_name)
        self._multichannel = first.ndim == 2
        self._paths = [d.name for d in datasets]
        n_channels = first.shape[1] if self._multichannel else len(datasets)
        self._shape = (min(d.shape[0] for d in datasets), n_channels)
        earliest = min(entry_seconds(h5file[name]) for name in self._entries)
        offset = scalar(first.attrs.get("offset", 0))
        self._t_start = round((entry_seconds(entry) - earliest) * rate + offset)
        units = text(first.attrs.get("units", "")).strip().lower()
        return {"nb_channels": n_channels, "sampling_rate": rate, "data_dtype": first.dtype.str,
                "gain": microvolts_per(units) or 1.0, "dtype_offset": 0}  # unknown unit: raw

    # -- streams ----------------------------------------------------------------------------------
    def set_streams(self, stream_mode: str) -> list[DataFile]:
        """`single-file`: every entry of the file, in natural order, same channel choice."""
        if stream_mode != "single-file":
            return super().set_streams(stream_mode)
        given = {k: v for k, v in self._params.items() if k not in self.header_fields and k != "h5_key"}
        sources = [type(self)(self.file_name, {**given, "h5_key": name}) for name in self._entries]
        return chain_in_time(check_streams_agree(sources, "h5_key"))

    # -- reading ----------------------------------------------------------------------------------
    def _open(self, mode: str = "r") -> None:
        self._h5 = open_h5(self.file_name, "ARF")
        self._channels = [self._h5[path] for path in self._paths]

    def _close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
        self._h5 = None

    def _read_raw(self, t_start: int, t_stop: int, nodes: Sequence[int] | None) -> np.ndarray:
        if self._multichannel:
            return read_window(self._channels[0], t_start, t_stop, nodes)
        return read_columns(self._channels, t_start, t_stop, nodes)

    def read_chunk(self, idx: int, chunk_size: int, padding: tuple[int, int] = (0, 0),
                   nodes: Sequence[int] | None = None) -> np.ndarray:
        """One read per channel dataset asked for: ARF stores each channel on its own."""
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        self._ensure_open()
        raw = sampled_read(self, lambda: self._read_raw(t_start, t_stop, nodes), t_start, t_stop)
        return self._scale_data_to_float32(raw, nodes)
