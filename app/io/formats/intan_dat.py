"""intan_dat: Intan's header-less layouts, a folder with `info.rhd` or `info.rhs` (a header, no data).

"One file per signal type": `amplifier.dat` holds int16 samples interleaved over the amplifier
channels (0.195 µV per bit, no offset), `analogin.dat`, `dcamplifier.dat`, ... likewise.
"One file per channel": `amp-A-000.dat`, ... one int16 array per channel. Either way the arrays
are memory-mapped as they are; `time.dat` (int32 sample numbers) gives the start on the clock.
`signal` picks another signal of the same rate (analog_in, analog_out, dc_amplifier, aux, supply).
Layout: Intan's RHD/RHS application notes (facts in formats-more.md).
"""

from __future__ import annotations

import glob
import os

import numpy as np

from app.io.datafile import DataFile, natural_key
from app.io.errors import HeaderError
from app.io.formats import intan_rhs
from app.io.formats.rhd import _HeaderReader, _read_channels, _read_global
from app.io.messages import print_and_log

INFO_NAMES = ("info.rhd", "info.rhs")

# RHD board ADC scaling by eval_board_mode: (µV per bit, raw value of zero).
RHD_ADC_SCALES = {0: (50.354, 0), 1: (152.59, 32768), 13: (312.5, 32768)}


class _Signal:
    """Where one signal lives: header signal type, per-signal file, per-channel file prefix, dtype, scale."""

    def __init__(self, kind: int, combined: str, prefix: str, dtype: str, gain: float, offset: int):
        self.kind, self.combined, self.prefix = kind, combined, prefix
        self.dtype, self.gain, self.offset = dtype, gain, offset


def _signals(is_rhs: bool, board_mode: int) -> dict[str, _Signal]:
    if is_rhs:
        return {"amplifier": _Signal(0, "amplifier.dat", "amp-", "int16", 0.195, 0),
                "dc_amplifier": _Signal(0, "dcamplifier.dat", "dc-", "uint16", -19230.0, 512),
                "analog_in": _Signal(3, "analogin.dat", "board-", "uint16", 312.5, 32768),
                "analog_out": _Signal(4, "analogout.dat", "board-", "uint16", 312.5, 32768)}
    adc_gain, adc_offset = RHD_ADC_SCALES.get(board_mode, (50.354, 0))
    return {"amplifier": _Signal(0, "amplifier.dat", "amp-", "int16", 0.195, 0),
            "aux": _Signal(1, "auxiliary.dat", "aux-", "uint16", 37.4, 0),
            "supply": _Signal(2, "supply.dat", "vdd-", "uint16", 74.8, 0),
            "analog_in": _Signal(3, "analogin.dat", "board-", "uint16", adc_gain, adc_offset)}


def find_info(path: str) -> str | None:
    """The info.rhd/info.rhs that describes `path` (the info file, a .dat beside it, or the folder)."""
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    for name in INFO_NAMES:
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def has_dat_layout(folder: str) -> bool:
    return (os.path.isfile(os.path.join(folder, "amplifier.dat"))
            or bool(glob.glob(os.path.join(glob.escape(folder), "amp-*.dat"))))


class IntanDatFile(DataFile):
    """Intan header-less `.dat` layouts beside `info.rhd`/`info.rhs`; opened on any of the files or the folder."""

    description = "intan_dat"
    title = "Intan one-file-per-signal / per-channel (.dat + info.rhd/.rhs)"
    extension = [".dat"]
    parallel_write = False
    is_writable = False
    _required_fields = {}
    _default_values = {}
    _field_types = {"signal": "string"}

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        info = find_info(path)
        if info is None or not has_dat_layout(os.path.dirname(info)):
            return None
        if os.path.isfile(path) and not (path.endswith(".dat") or os.path.basename(path) in INFO_NAMES):
            return None
        return 1.0, f"Intan header-less layout ({os.path.basename(info)} with .dat files)"

    # -- header -----------------------------------------------------------------------------------
    def _read_from_header(self) -> dict:
        info_path = find_info(self.file_name)
        if info_path is None:
            raise HeaderError(f"{self.file_name}: no info.rhd or info.rhs beside it; Intan's .dat layouts need "
                              "that header file (copy it back into the folder).", self.file_name)
        self.info_path, self.folder = info_path, os.path.dirname(info_path)
        rate, channels, signals = self._read_info(info_path)
        signal = str(self._params.get("signal", "amplifier"))
        if signal not in signals:
            raise HeaderError(f"{self.file_name}: signal {signal!r} is not one of {', '.join(signals)}; fix the "
                              "signal param.", self.file_name, candidates=list(signals))
        self._signal = signals[signal]
        names = [c["native_name"] for c in channels if c["signal_type"] == self._signal.kind]
        combined = os.path.join(self.folder, self._signal.combined)
        if os.path.isfile(combined):
            self.layout = "one file per signal type"
            samples = self._combined_layout(combined, len(names))
        else:
            self.layout = "one file per channel"
            samples, names = self._per_channel_layout(names)
        self.channel_names = names
        self._shape = (samples, len(names))
        self._t_start = self._first_time()
        return {"nb_channels": len(names), "sampling_rate": rate, "data_dtype": self._signal.dtype,
                "dtype_offset": self._signal.offset, "gain": self._signal.gain}

    def _read_info(self, info_path: str) -> tuple[float, list[dict], dict[str, _Signal]]:
        is_rhs = info_path.endswith(".rhs")
        with open(info_path, "rb") as handle:
            reader = _HeaderReader(handle, info_path, "RHS" if is_rhs else "RHD")
            if is_rhs:
                info = intan_rhs.read_rhs_global(reader, info_path)
                channels = intan_rhs.read_rhs_channels(reader, info_path)
                return info["sampling_rate"], channels, _signals(True, info["board_mode"])
            info = _read_global(reader, info_path)
            channels = _read_channels(reader, info_path)
        return float(info["sampling_rate"]), channels, _signals(False, info["eval_board_mode"])

    def _combined_layout(self, path: str, nb_channels: int) -> int:
        if nb_channels == 0:
            raise HeaderError(f"{self.info_path}: the header lists no enabled channel of {path}'s signal, so "
                              "its channel count is unknown.", self.info_path)
        self._files = [path]
        samples, rest = divmod(os.path.getsize(path), 2 * nb_channels)
        if rest:
            print_and_log(f"{path}: {rest} bytes at the end are not a whole sample of {nb_channels} channels "
                          "(truncated?); ignored.", "warning")
        if samples == 0:
            raise HeaderError(f"{path}: no whole sample of {nb_channels} channels; the file is empty.", path)
        return samples

    def _per_channel_layout(self, names: list[str]) -> tuple[int, list[str]]:
        prefix = self._signal.prefix
        paths = [os.path.join(self.folder, f"{prefix}{name}.dat") for name in names]
        present = [(n, p) for n, p in zip(names, paths) if os.path.isfile(p)]
        if len(present) < len(names):
            print_and_log(f"{self.folder}: {len(names) - len(present)} channel(s) listed in "
                          f"{os.path.basename(self.info_path)} have no {prefix}*.dat file; they are left out.",
                          "warning")
        if not present and prefix == "amp-":
            found = sorted(glob.glob(os.path.join(glob.escape(self.folder), "amp-*.dat")), key=natural_key)
            present = [(os.path.basename(p)[4:-4], p) for p in found]
        if not present:
            raise HeaderError(f"{self.folder}: neither {self._signal.combined} nor {prefix}*.dat files for the "
                              "channels of the header; this folder holds no such signal.", self.folder)
        self._files = [p for _, p in present]
        sizes = [os.path.getsize(p) // 2 for p in self._files]
        if min(sizes) != max(sizes):
            print_and_log(f"{self.folder}: channel files hold {min(sizes)} to {max(sizes)} samples; reading the "
                          f"first {min(sizes)}.", "warning")
        if min(sizes) == 0:
            raise HeaderError(f"{self._files[sizes.index(0)]}: the channel file is empty.", self._files[0])
        return min(sizes), [n for n, _ in present]

    def _first_time(self) -> int:
        path = os.path.join(self.folder, "time.dat")
        if not os.path.isfile(path) or os.path.getsize(path) < 4:
            return 0
        return int(np.fromfile(path, dtype="<i4", count=1)[0])

    # -- data -------------------------------------------------------------------------------------
    def _open(self, mode: str = "r") -> None:
        dtype = np.dtype(self._signal.dtype).newbyteorder("<")
        samples, channels = self._shape
        if len(self._files) == 1 and self.layout == "one file per signal type":
            self._arrays = [np.memmap(self._files[0], dtype=dtype, mode="r", shape=(samples, channels))]
        else:
            self._arrays = [np.memmap(p, dtype=dtype, mode="r", shape=(samples,)) for p in self._files]

    def _close(self) -> None:
        self._arrays = []

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        t_stop = max(t_stop, t_start)
        chosen = np.arange(self.nb_channels) if nodes is None else np.asarray(nodes, dtype=np.intp)
        if self.layout == "one file per signal type":
            rows = self._arrays[0][t_start:t_stop]
            rows = rows if nodes is None else rows[:, chosen]
        else:
            rows = np.empty((t_stop - t_start, len(chosen)), dtype=self._signal.dtype)
            for column, channel in enumerate(chosen):
                rows[:, column] = self._arrays[channel][t_start:t_stop]
        return self._scale_data_to_float32(rows, nodes)
