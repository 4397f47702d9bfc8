"""nix: NIX files (G-Node, HDF5 backend) holding sampled signals.

Layout: ``data/<block>/data_arrays/<array>/data`` with the array's ``unit`` and
``expansion_origin`` attributes and an optional ``polynom_coefficients`` dataset; ``dimensions/<k>`` groups describe
each axis, the one of ``dimension_type`` "sample" is time (``sampling_interval`` and ``offset``
in its ``unit``, a time such as "ms" or an inverse frequency such as "1/kHz").

A signal is either one 2-D array (time along its sample dimension) or a family of 1-D arrays
named ``<base><sep><k>`` sharing rate, offset, length and dtype: neo's NixIO writes each
channel of an AnalogSignal as ``neo.analogsignal.<id>.<k>``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import h5py
import numpy as np

from app.io.datafile import DataFile
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

SECONDS = {"s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ns": 1e-9, "min": 60.0}
HERTZ = {"hz": 1.0, "khz": 1e3, "mhz": 1e6}
CHANNEL_SUFFIX = re.compile(r"^(.*?)[._-]?(\d+)$")


def seconds_per_unit(unit: str) -> float | None:
    """Seconds in one `unit` of a sample dimension: 'ms' -> 1e-3, '1/kHz' -> 1e-3; None if unknown."""
    unit = unit.strip().replace(" ", "")
    if unit.startswith("1/"):
        per_second = HERTZ.get(unit[2:].lower())
        return None if per_second is None else 1.0 / per_second
    return SECONDS.get(unit)


@dataclass
class Signal:
    """One stream: its arrays (one 2-D, or one 1-D per channel) and their shared description;
    `label` is the name neo gave it (an AnalogSignal's `name`), "" for other writers."""

    name: str
    paths: list[str] = field(default_factory=list)
    time_axis: int = 0
    key: tuple = ()
    label: str = ""

    def is_named(self, asked: str) -> bool:
        return asked in (self.name, self.label)


def neo_name(group: h5py.Group) -> str:
    """The name neo's NixIO kept for an object it wrote under a generated NIX name
    (``metadata/properties/neo_name``), "" when there is none."""
    found = group.get("metadata/properties/neo_name")
    if not isinstance(found, h5py.Dataset) or found.size == 0:
        return ""
    return text(np.asarray(found[()]).reshape(-1)[0])


def _sample_axis(array: h5py.Group, ndim: int) -> tuple[int, h5py.Group] | None:
    dimensions = array.get("dimensions")
    if not isinstance(dimensions, h5py.Group):
        return None
    for axis in range(ndim):
        dimension = dimensions.get(str(axis + 1))
        if dimension is not None and text(dimension.attrs.get("dimension_type", "")) == "sample":
            return axis, dimension
    return None


def describe_array(array: h5py.Group) -> tuple | None:
    """(rate, t_start s, n_samples, dtype, unit, coefficients, origin, time_axis, n_channels)
    of a sampled data array, None when the array is not a time series."""
    data = array.get("data")
    if not isinstance(data, h5py.Dataset) or data.ndim not in (1, 2) or data.dtype.kind not in "iuf":
        return None
    found = _sample_axis(array, data.ndim)
    if found is None:
        return None
    axis, dimension = found
    unit = seconds_per_unit(text(dimension.attrs.get("unit", "s")))
    interval = scalar(dimension.attrs["sampling_interval"]) * (unit or 0.0)
    if not interval > 0:
        return None
    offset = scalar(dimension.attrs.get("offset", 0.0)) * unit
    stored = array.get("polynom_coefficients")        # nixio keeps them as a dataset
    stored = stored[()] if isinstance(stored, h5py.Dataset) else array.attrs.get("polynom_coefficients", ())
    coefficients = tuple(np.asarray(stored, dtype=float).reshape(-1))
    origin = scalar(array.attrs.get("expansion_origin", 0.0))
    n_channels = 1 if data.ndim == 1 else data.shape[1 - axis]
    return (1.0 / interval, offset, data.shape[axis], data.dtype.str,
            text(array.attrs.get("unit", "")), coefficients, origin, axis, n_channels)


def block_signals(block: h5py.Group) -> list[Signal]:
    """The signals of a block in the order they were written."""
    signals: list[Signal] = []
    families: dict[tuple, Signal] = {}
    arrays = block.get("data_arrays")
    for name in (arrays if isinstance(arrays, h5py.Group) else []):
        described = describe_array(arrays[name])
        if described is None:
            continue
        path = arrays[name].name
        match = CHANNEL_SUFFIX.match(name)
        if arrays[name]["data"].ndim == 1 and match:
            family = (match.group(1), *described)
            if family in families:
                families[family].paths.append(path)
                continue
            families[family] = Signal(match.group(1), [path], 0, described, neo_name(arrays[name]))
            signals.append(families[family])
        else:
            signals.append(Signal(name, [path], described[-2], described, neo_name(arrays[name])))
    for signal in signals:
        if len(signal.paths) > 1:
            signal.paths.sort(key=lambda p: int(CHANNEL_SUFFIX.match(p.rsplit("/", 1)[-1]).group(2)))
    return signals


class NixFile(DataFile):
    """One signal of one block of a NIX file (``block``, default the first block with a signal;
    ``data_array``, default its first signal: a 2-D array's name or a 1-D family's base name;
    either may also be the name neo gave the Block or AnalogSignal).

    Values are ``c0 + c1 × (raw − expansion_origin)`` in ``unit``: ``gain = c1`` × µV per unit
    (units other than volts keep their own scale) and ``dtype_offset = origin − c0 / c1``.
    """

    description = "nix"
    title = "NIX (HDF5)"
    extension = [".nix"]
    is_streamable = ["multi-files", "single-file"]
    _field_types = {"block": "string", "data_array": "string"}

    def __init__(self, *args, **kwargs):
        self._h5: h5py.File | None = None
        self._signal: Signal | None = None
        self._signals: list[Signal] = []
        super().__init__(*args, **kwargs)

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        return peek_h5(path, cls._sniff_layout)

    @staticmethod
    def _sniff_layout(h5file: h5py.File) -> tuple[float, str] | None:
        if text(h5file.attrs.get("format", "")) == "nix" and "data" in h5file:
            return 0.95, "HDF5 with format = nix"
        return None

    # -- header -----------------------------------------------------------------------------------
    def _read_from_header(self) -> dict:
        with open_h5(self.file_name, "NIX") as h5file:
            try:
                block = self._choose_block(h5file)
                self._signals = block_signals(block)
                self._signal = self._choose_signal(block)
                return self._read_signal(self._signal)
            except HeaderError:
                raise
            except H5_ERRORS as error:
                raise HeaderError(f"{self.file_name}: the NIX layout is damaged ({type(error).__name__}: "
                                  f"{error}); the file may be truncated.", self.file_name) from None

    def _choose_block(self, h5file: h5py.File) -> h5py.Group:
        blocks = h5file.get("data")
        names = list(blocks) if isinstance(blocks, h5py.Group) else []
        asked = str(self._params.get("block") or "")
        if asked and asked not in names:
            by_neo_name = [n for n in names if neo_name(blocks[n]) == asked]
            if not by_neo_name:
                raise HeaderError(f"{self.file_name}: no NIX block {asked!r}; set block to one of "
                                  f"{', '.join(names) or '(none)'}.", self.file_name)
            asked = by_neo_name[0]
        candidates = [asked] if asked else [n for n in names if block_signals(blocks[n])]
        if not candidates:
            raise HeaderError(f"{self.file_name}: no block holds a sampled data array (one with a "
                              "'sample' dimension); nothing to read as a recording.", self.file_name)
        self._params["block"] = candidates[0]
        return blocks[candidates[0]]

    def _choose_signal(self, block: h5py.Group) -> Signal:
        asked = str(self._params.get("data_array") or "")
        chosen = [s for s in self._signals if s.is_named(asked)] if asked else self._signals[:1]
        if not chosen:
            names = ", ".join(f"{s.name} ({s.label})" if s.label else s.name
                              for s in self._signals[:20]) or "(none)"
            raise HeaderError(f"{self.file_name}: block {block.name} has no sampled data array "
                              f"{asked!r}; set data_array to one of {names}.", self.file_name)
        self._params["data_array"] = chosen[0].name
        return chosen[0]

    def _read_signal(self, signal: Signal) -> dict:
        rate, offset, n_samples, dtype, unit, coefficients, origin, _, n_channels = signal.key
        coefficients = coefficients or (0.0, 1.0)
        if len(coefficients) == 1 or any(coefficients[2:]) or not coefficients[1]:
            raise HeaderError(f"{self.file_name}: data array {signal.name} has polynom_coefficients "
                              f"{list(coefficients)}; only a linear conversion (c0 + c1 x) maps to a "
                              "gain and an offset.", self.file_name)
        c0, c1 = coefficients[0], coefficients[1]
        self._shape = (n_samples, n_channels * len(signal.paths))
        self._t_start = self._seconds_to_sample(offset, rate, "offset")
        return {"nb_channels": self._shape[1], "sampling_rate": rate, "data_dtype": dtype,
                "gain": c1 * (microvolts_per(unit) or 1.0),
                "dtype_offset": float(np.round(origin - c0 / c1, 9))}

    # -- streams ----------------------------------------------------------------------------------
    def set_streams(self, stream_mode: str) -> list[DataFile]:
        """`single-file`: every signal of the block in the order written (neo: segment order)."""
        if stream_mode != "single-file":
            return super().set_streams(stream_mode)
        given = {k: v for k, v in self._params.items() if k not in self.header_fields and k != "data_array"}
        sources = [type(self)(self.file_name, {**given, "data_array": s.name}) for s in self._signals]
        return chain_in_time(check_streams_agree(sources, "data_array"))

    # -- reading ----------------------------------------------------------------------------------
    def _open(self, mode: str = "r") -> None:
        self._h5 = open_h5(self.file_name, "NIX")
        self._datasets = [self._h5[path]["data"] for path in self._signal.paths]

    def _close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
        self._h5 = None

    def _read_raw(self, t_start: int, t_stop: int, nodes: Sequence[int] | None) -> np.ndarray:
        if len(self._datasets) > 1 or self._datasets[0].ndim == 1:
            return read_columns(self._datasets, t_start, t_stop, nodes)
        return read_window(self._datasets[0], t_start, t_stop, nodes, self._signal.time_axis)

    def read_chunk(self, idx: int, chunk_size: int, padding: tuple[int, int] = (0, 0),
                   nodes: Sequence[int] | None = None) -> np.ndarray:
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        self._ensure_open()
        raw = sampled_read(self, lambda: self._read_raw(t_start, t_stop, nodes), t_start, t_stop)
        return self._scale_data_to_float32(raw, nodes)
