"""maxwell: MaxWell Biosystems MaxOne / MaxTwo recordings (HDF5).

Two layouts, told apart by the root dataset ``version``:

* legacy MaxOne (``20160704``): ``sig`` (rows × frames, uint16) whose row numbers are the
  channel numbers of ``mapping`` (channel, electrode, x, y); ``settings/lsb`` in volts per bit;
  20 kHz.
* newer (later versions): per well and recording, ``groups/routed/raw`` (channels × frames),
  ``groups/routed/channels`` (channel number of each row, optional), ``groups/routed/frame_nos``
  (optional), and ``settings/sampling``, ``settings/lsb``, ``settings/mapping``. The well and
  recording live at ``recordings/<rec>/well<NNN>``, ``wells/well<NNN>/<rec>`` or
  ``data_store/data<NNNN>``.

The ADC is 10-bit: samples centre on 512, so ``dtype_offset = 512`` and ``gain = lsb × 1e6``.
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
    read_window,
    sampled_read,
    scalar,
    text,
)

LEGACY_VERSION = 20160704
LEGACY_RATE = 20000.0
ADC_MIDPOINT = 512


def _version(h5file: h5py.File) -> int | None:
    item = h5file.get("version")
    if not isinstance(item, h5py.Dataset):
        return None
    try:
        return int(text(item[()]).strip())
    except ValueError:
        return None


def _well_number(value: object) -> int:
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    return int(digits) if digits else 0


def recording_groups(h5file: h5py.File, well: int) -> dict[str, str]:
    """{recording name: group path} of `well` in a newer-layout file, in natural order."""
    found: dict[str, str] = {}
    recordings = h5file.get("recordings")
    if isinstance(recordings, h5py.Group):
        for rec in sorted(recordings, key=natural_key):
            if f"well{well:03d}" in recordings[rec]:
                found[rec] = f"recordings/{rec}/well{well:03d}"
    wells = h5file.get(f"wells/well{well:03d}")
    if not found and isinstance(wells, h5py.Group):
        found = {rec: f"wells/well{well:03d}/{rec}" for rec in sorted(wells, key=natural_key)}
    if not found and f"data_store/data{well:04d}" in h5file:
        found = {"rec0000": f"data_store/data{well:04d}"}
    return found


class MaxwellFile(DataFile):
    """One well and one recording of a MaxWell file (``well``, default ``0000``; ``recording``,
    default the first); ``single-file`` chains the well's recordings in time."""

    description = "maxwell"
    title = "MaxWell MaxOne / MaxTwo (HDF5)"
    extension = [".h5"]
    is_streamable = ["multi-files", "single-file"]
    _default_values = {"well": "0000"}
    _field_types = {"well": "string", "recording": "string"}

    def __init__(self, *args, **kwargs):
        self._h5: h5py.File | None = None
        self._rows = np.zeros(0, dtype=np.intp)
        self._positions: np.ndarray | None = None
        self._recordings: dict[str, str] = {}
        self._raw_path = "sig"
        super().__init__(*args, **kwargs)

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        return peek_h5(path, cls._sniff_layout)

    @staticmethod
    def _sniff_layout(h5file: h5py.File) -> tuple[float, str] | None:
        version = _version(h5file)
        if version == LEGACY_VERSION and "sig" in h5file:
            return 0.95, f"HDF5 with version {version} and sig (legacy MaxOne)"
        if version and any(name in h5file for name in ("recordings", "wells", "data_store")):
            return 0.95, f"HDF5 with version {version} and wells/recordings (MaxWell)"
        return None

    # -- header -----------------------------------------------------------------------------------
    def _read_from_header(self) -> dict:
        with open_h5(self.file_name, "MaxWell") as h5file:
            try:
                version = _version(h5file)
                if version is None:
                    raise HeaderError(f"{self.file_name}: no root 'version' dataset; this is not a "
                                      "MaxWell recording.", self.file_name)
                if version == LEGACY_VERSION:
                    return self._read_legacy(h5file)
                return self._read_newer(h5file, version)
            except HeaderError:
                raise
            except H5_ERRORS as error:
                raise HeaderError(f"{self.file_name}: the MaxWell layout is damaged or incomplete "
                                  f"({type(error).__name__}: {error}).", self.file_name) from None

    def _read_legacy(self, h5file: h5py.File) -> dict:
        mapping = h5file["mapping"][()]
        channels = np.asarray(mapping["channel"], dtype=np.intp)
        keep = channels >= 0
        self._raw_path = "sig"
        signal = self._check_raw(h5file["sig"], "sig")
        self._rows = channels[keep]
        if self._rows.size and self._rows.max() >= signal.shape[0]:
            raise HeaderError(f"{self.file_name}: mapping names channel {self._rows.max()} but sig has "
                              f"{signal.shape[0]} rows.", self.file_name)
        self._positions = np.stack([mapping["x"][keep], mapping["y"][keep]], axis=1).astype(np.float64)
        self._shape = (signal.shape[1], len(self._rows))
        return self._header(LEGACY_RATE, self._lsb(h5file["settings"]), signal)

    def _read_newer(self, h5file: h5py.File, version: int) -> dict:
        well = _well_number(self._params.get("well", "0000"))
        self._recordings = recording_groups(h5file, well)
        if not self._recordings:
            raise HeaderError(f"{self.file_name}: MaxWell version {version} has no recording for well "
                              f"{well:04d}; set well to one present in the file.", self.file_name)
        asked = str(self._params.get("recording") or next(iter(self._recordings)))
        if asked not in self._recordings:
            raise HeaderError(f"{self.file_name}: no recording {asked!r} in well {well:04d}; set recording "
                              f"to one of {', '.join(self._recordings)}.", self.file_name)
        self._params["recording"] = asked
        group = h5file[self._recordings[asked]]
        self._raw_path = f"{group.name}/groups/routed/raw"
        signal = self._check_raw(group["groups/routed/raw"], self._raw_path)
        self._shape = (signal.shape[1], signal.shape[0])
        self._rows = np.arange(signal.shape[0], dtype=np.intp)
        settings = group["settings"]
        self._positions = self._routed_positions(group, settings, signal.shape[0])
        frames = group.get("groups/routed/frame_nos")
        if isinstance(frames, h5py.Dataset) and frames.shape and frames.shape[0]:
            self._t_start = int(frames[0])
        return self._header(scalar(settings["sampling"]), self._lsb(settings), signal)

    def _check_raw(self, signal: h5py.Dataset, where: str) -> h5py.Dataset:
        if not isinstance(signal, h5py.Dataset) or signal.ndim != 2 or signal.dtype.kind not in "iu":
            shape = getattr(signal, "shape", None)
            raise HeaderError(f"{self.file_name}: {where} should be a 2-D integer (channels × frames) "
                              f"dataset, found shape {shape}.", self.file_name)
        return signal

    def _lsb(self, settings: h5py.Group) -> float:
        """Volts per bit: ``lsb``, else derived from the amplifier ``gain`` (3.3 V over 10 bits)."""
        if "lsb" in settings:
            return scalar(settings["lsb"])
        if "gain" in settings:
            return 3.3 / (1024 * scalar(settings["gain"]))
        raise HeaderError(f"{self.file_name}: settings hold neither 'lsb' nor 'gain'; the µV per bit is "
                          "unknown. Give gain (µV per bit) with --set gain=...", self.file_name)

    def _routed_positions(self, group: h5py.Group, settings: h5py.Group, n_rows: int) -> np.ndarray | None:
        """x, y of each routed row: by channel number through ``routed/channels`` when present,
        else mapping rows in order."""
        if "mapping" not in settings:
            return None
        mapping = settings["mapping"][()]
        channels = group.get("groups/routed/channels")
        if isinstance(channels, h5py.Dataset):
            where = {int(c): k for k, c in enumerate(mapping["channel"])}
            order = [where.get(int(c), -1) for c in channels[()]]
            if len(order) != n_rows or min(order, default=0) < 0:
                return None
            mapping = mapping[np.asarray(order)]
        elif len(mapping) != n_rows:
            return None
        return np.stack([mapping["x"], mapping["y"]], axis=1).astype(np.float64)

    def _header(self, rate: float, lsb: float, signal: h5py.Dataset) -> dict:
        if not rate > 0 or not lsb > 0:
            raise HeaderError(f"{self.file_name}: sampling {rate} Hz / lsb {lsb} V are not positive.",
                              self.file_name)
        return {"nb_channels": self._shape[1], "sampling_rate": rate, "data_dtype": signal.dtype.str,
                "gain": lsb * 1e6, "dtype_offset": ADC_MIDPOINT}

    def channel_positions(self) -> np.ndarray | None:
        """(nb_channels, 2) electrode x, y (µm) from the mapping table, or None."""
        return None if self._positions is None else self._positions.copy()

    # -- streams ----------------------------------------------------------------------------------
    def set_streams(self, stream_mode: str) -> list[DataFile]:
        """`single-file`: every recording of the chosen well, in order."""
        if stream_mode != "single-file":
            return super().set_streams(stream_mode)
        if not self._recordings:
            return [type(self)(self.file_name, dict(self._params))]
        given = {k: v for k, v in self._params.items() if k not in self.header_fields and k != "recording"}
        sources = [type(self)(self.file_name, {**given, "recording": rec}) for rec in self._recordings]
        return chain_in_time(check_streams_agree(sources, "recording"))

    # -- reading ----------------------------------------------------------------------------------
    def _open(self, mode: str = "r") -> None:
        self._h5 = open_h5(self.file_name, "MaxWell")
        self._signal = self._h5[self._raw_path]
        self._identity = bool(np.array_equal(self._rows, np.arange(self._signal.shape[0])))

    def _close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
        self._h5 = None

    def read_chunk(self, idx: int, chunk_size: int, padding: tuple[int, int] = (0, 0),
                   nodes: Sequence[int] | None = None) -> np.ndarray:
        """Time is the second axis: one (rows × window) hyperslab, transposed to (time, channels)."""
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        self._ensure_open()
        if nodes is None:
            rows = None if self._identity else self._rows
        else:
            rows = self._rows[np.asarray(nodes, dtype=np.intp)]
        raw = sampled_read(self, lambda: read_window(self._signal, t_start, t_stop, rows, time_axis=1),
                           t_start, t_stop)
        return self._scale_data_to_float32(raw, nodes)
