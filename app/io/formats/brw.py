"""brw: 3Brain BrainWave 3.x (HDF5) from BioCAM MEAs.

Layout: ``3BRecInfo/3BRecVars/`` holds one-element datasets (SamplingRate, MaxVolt, MinVolt,
BitDepth, SignalInversion, NRecFrames); ``3BData/Raw`` holds the samples, flat and interleaved
(frame-major, channel fastest; ``3BData`` attribute Version 101/102 or absent) or as a
(frames, channels) table (Version 100); ``3BRecInfo/3BMeaStreams/Raw/Chs`` gives the (Row, Col)
of each channel on the electrode grid. BRW 4.x files (``Well_A1/...`` plus JSON
``ExperimentSettings``) are recognised and refused with a clear error.
"""

from __future__ import annotations

from collections.abc import Sequence

import h5py
import numpy as np

from app.io.datafile import DataFile
from app.io.errors import HeaderError
from app.io.h5tools import H5_ERRORS, open_h5, peek_h5, read_window, sampled_read, scalar

REC_VARS = "3BRecInfo/3BRecVars"
BIOCAM_PITCH = 42.0      # µm between electrode centres on the BioCAM 4096 chip
RAW = "3BData/Raw"
CHANNELS = "3BRecInfo/3BMeaStreams/Raw/Chs"


def _is_brw4(h5file: h5py.File) -> bool:
    return "ExperimentSettings" in h5file or any(name.startswith("Well_") for name in h5file)


class BrwFile(DataFile):
    """A BRW 3.x recording; samples in µV.

    3Brain's conversion is ``µV = SignalInversion × (raw × (MaxVolt − MinVolt) / 2**BitDepth +
    MinVolt)``. In DataFile terms ``(raw − dtype_offset) × gain``: ``gain = SignalInversion ×
    (MaxVolt − MinVolt) / 2**BitDepth`` (negative for inverted signals) and ``dtype_offset =
    −MinVolt × 2**BitDepth / (MaxVolt − MinVolt)`` (2048 for a symmetric 12-bit range).
    """

    description = "brw"
    title = "3Brain BrainWave 3.x (HDF5)"
    extension = [".brw"]

    def __init__(self, *args, **kwargs):
        self._h5: h5py.File | None = None
        self._positions: np.ndarray | None = None
        self._flat = True
        super().__init__(*args, **kwargs)

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        return peek_h5(path, cls._sniff_layout)

    @staticmethod
    def _sniff_layout(h5file: h5py.File) -> tuple[float, str] | None:
        if "3BRecInfo" in h5file and "3BData" in h5file:
            return 0.95, "HDF5 with 3BRecInfo and 3BData (3Brain BRW 3.x)"
        if _is_brw4(h5file):
            return 0.6, "HDF5 with Well_ groups / ExperimentSettings (3Brain BRW 4.x)"
        return None

    # -- header -----------------------------------------------------------------------------------
    def _read_from_header(self) -> dict:
        with open_h5(self.file_name, "BRW") as h5file:
            if "3BRecInfo" not in h5file and _is_brw4(h5file):
                raise HeaderError(f"{self.file_name}: this is a BRW 4.x file (Well_ groups, JSON "
                                  "ExperimentSettings); only BRW 3.x is supported yet. Export it as "
                                  "BRW 3.x or HDF5 from BrainWave.", self.file_name)
            try:
                return self._read_v3(h5file)
            except HeaderError:
                raise
            except H5_ERRORS as error:
                raise HeaderError(f"{self.file_name}: the BRW 3.x layout is damaged or incomplete "
                                  f"({type(error).__name__}: {error}); it needs {REC_VARS}/"
                                  "(SamplingRate, MaxVolt, MinVolt, BitDepth, SignalInversion, "
                                  f"NRecFrames) and {RAW}.", self.file_name) from None

    def _read_v3(self, h5file: h5py.File) -> dict:
        rec_vars = h5file[REC_VARS]
        rate = scalar(rec_vars["SamplingRate"])
        max_volt, min_volt = scalar(rec_vars["MaxVolt"]), scalar(rec_vars["MinVolt"])
        bit_depth = int(scalar(rec_vars["BitDepth"]))
        inversion = scalar(rec_vars["SignalInversion"])
        n_frames = int(scalar(rec_vars["NRecFrames"]))
        if inversion not in (1.0, -1.0) or max_volt <= min_volt or n_frames <= 0 or rate <= 0:
            raise HeaderError(f"{self.file_name}: implausible BRW variables (SignalInversion {inversion}, "
                              f"MaxVolt {max_volt}, MinVolt {min_volt}, NRecFrames {n_frames}, "
                              f"SamplingRate {rate}).", self.file_name)
        n_channels = self._read_shape(h5file[RAW], n_frames)
        step = (max_volt - min_volt) / 2 ** bit_depth
        self._positions = self._read_grid(h5file, n_channels)
        return {"nb_channels": n_channels, "sampling_rate": rate, "data_dtype": h5file[RAW].dtype.str,
                "gain": inversion * step, "dtype_offset": float(np.round(-min_volt / step, 9))}

    def _read_shape(self, raw: h5py.Dataset, n_frames: int) -> int:
        if raw.ndim == 2:
            self._flat = False
            self._shape = (min(raw.shape[0], n_frames), raw.shape[1])
            return raw.shape[1]
        if raw.ndim != 1 or raw.shape[0] < n_frames or raw.shape[0] % n_frames:
            raise HeaderError(f"{self.file_name}: {RAW} has shape {raw.shape}, which is not NRecFrames "
                              f"({n_frames}) whole frames; the file is truncated or NRecFrames is wrong.",
                              self.file_name)
        self._shape = (n_frames, raw.shape[0] // n_frames)
        return self._shape[1]

    def _read_grid(self, h5file: h5py.File, n_channels: int) -> np.ndarray | None:
        table = h5file.get(CHANNELS)
        if not isinstance(table, h5py.Dataset) or table.dtype.names is None or len(table) != n_channels:
            return None
        names = {name.lower(): name for name in table.dtype.names}
        if "row" not in names or "col" not in names:
            return None
        rows = table[()]
        return np.stack([rows[names["col"]], rows[names["row"]]], axis=1).astype(np.float64)

    def channel_positions(self) -> np.ndarray | None:
        """(nb_channels, 2) as (Col, Row) on the electrode grid (grid units, not µm), or None."""
        return None if self._positions is None else self._positions.copy()

    def _header_geometry(self):
        """The electrode grid in µm as probeinterface's `read_3brain` places it: x = (Row - 1),
        y = (Col - 1) (1-based in the file) x 42 µm, the BioCAM 4096 chip's pitch (assumed: BRW 3
        does not store it)."""
        if self._positions is None:
            return None
        from app.io.probe_geometry import grid_geometry
        return grid_geometry(self._positions[:, 0] - 1, self._positions[:, 1] - 1, BIOCAM_PITCH, source="header",
                             model_name="3Brain BioCAM", contact_shape="square", contact_size=21.0,
                             description=f"BRW 3BMeaStreams/Raw/Chs grid x {BIOCAM_PITCH:g} µm (assumed), "
                                         f"{self.file_name}")

    # -- reading ----------------------------------------------------------------------------------
    def _open(self, mode: str = "r") -> None:
        self._h5 = open_h5(self.file_name, "BRW")
        self._raw = self._h5[RAW]

    def _close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
        self._h5 = None

    def _read_raw(self, t_start: int, t_stop: int, nodes: Sequence[int] | None) -> np.ndarray:
        if not self._flat:
            return read_window(self._raw, t_start, t_stop, nodes)
        width = self._shape[1]
        frames = self._raw[t_start * width: t_stop * width].reshape(t_stop - t_start, width)
        return frames if nodes is None else frames[:, np.asarray(nodes, dtype=np.intp)]

    def read_chunk(self, idx: int, chunk_size: int, padding: tuple[int, int] = (0, 0),
                   nodes: Sequence[int] | None = None) -> np.ndarray:
        """Interleaved frames are read whole (they are contiguous on disk), then channels picked."""
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        self._ensure_open()
        raw = sampled_read(self, lambda: self._read_raw(t_start, t_stop, nodes), t_start, t_stop)
        return self._scale_data_to_float32(raw, nodes)
