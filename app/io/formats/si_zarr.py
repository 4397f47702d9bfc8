"""si_zarr: a SpikeInterface zarr recording (``recording.save(folder=..., format="zarr")``).

Layout SpikeInterface writes: root attributes ``sampling_frequency``, ``num_segments``,
``probegroup`` (probeinterface's dict) and ``zarr_class_info`` naming ZarrRecordingExtractor;
arrays ``channel_ids``, ``traces_segN`` (samples, channels; compressed chunks),
``properties/gain_to_uV`` and ``properties/offset_to_uV``, optionally ``t_starts``. Read with the
`zarr` package (optional: ``pip install zarr``); SpikeInterface is not needed.
"""

from __future__ import annotations

import json
import os

import numpy as np

from app.io.datafile import DataFile
from app.io.errors import HeaderError
from app.io.formats.si_binary import SegmentsEndToEnd, probegroup_positions, scaling
from app.io.remote import is_url
from app.io.remote_zarr import zarr_store

EXTRACTOR = "ZarrRecordingExtractor"
ATTRIBUTE_FILES = (".zattrs", "zarr.json")      # zarr format 2, format 3


def _root_attributes_file(path: str) -> str | None:
    for name in ATTRIBUTE_FILES:
        candidate = os.path.join(path, name)
        if os.path.isfile(candidate):
            return candidate
    return None


class SpikeInterfaceZarrFile(SegmentsEndToEnd, DataFile):
    description = "si_zarr"
    title = "SpikeInterface zarr recording"
    extension = [".zarr"]
    is_streamable = ["multi-files", "segments"]
    _field_types = {"segment_index": "int"}

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        if not os.path.isdir(path):
            return None
        attributes = _root_attributes_file(path)
        if attributes is None:
            return None
        with open(attributes, "rb") as handle:
            if EXTRACTOR.encode() not in handle.read(1 << 20):
                return None
        return 0.95, "SpikeInterface zarr recording"

    # -- header -----------------------------------------------------------------------------------
    def _read_from_header(self) -> dict:
        try:
            import zarr
        except ImportError:
            raise HeaderError(f"{self.file_name}: a zarr recording needs the `zarr` package, which is not "
                              "installed; install it with `pip install zarr`.", self.file_name) from None
        root = zarr.open(zarr_store(self.file_name), mode="r")
        attributes = dict(root.attrs)
        if EXTRACTOR not in json.dumps(attributes.get("zarr_class_info", "")):
            raise HeaderError(f"{self.file_name}: a zarr store, but not a SpikeInterface recording (no "
                              f"{EXTRACTOR} in its zarr_class_info).", self.file_name)
        self.nb_segments = int(attributes.get("num_segments", 1))
        index = self._pick_segment(self.nb_segments, "SpikeInterface segments")
        traces = root[f"traces_seg{index}"]
        if traces.ndim != 2:
            raise HeaderError(f"{self.file_name}: traces_seg{index} has {traces.ndim} dimensions; a "
                              "recording's traces are (samples, channels).", self.file_name)
        rate = float(attributes["sampling_frequency"])
        nb_channels = int(traces.shape[1])
        self.segment_name = f"traces_seg{index}"
        self._shape = (int(traces.shape[0]), nb_channels)
        self.has_clock = False
        if "t_starts" in root:
            t_start = float(root["t_starts"][index])
            if np.isfinite(t_start):
                self.has_clock = True
                self._t_start = self._seconds_to_sample(t_start, rate, "t_starts")
        ids = root["channel_ids"][:] if "channel_ids" in root else range(nb_channels)
        self.channel_names = [str(c) for c in ids]
        properties = root["properties"] if "properties" in root else {}
        gains = properties["gain_to_uV"][:] if "gain_to_uV" in properties else None
        offsets = properties["offset_to_uV"][:] if "offset_to_uV" in properties else None
        header, self._channel_gains, self._channel_offsets = scaling(gains, offsets, nb_channels)
        probegroup = attributes.get("probegroup")
        self._positions = probegroup_positions(probegroup if isinstance(probegroup, dict) else {},
                                               nb_channels)
        header.update({"nb_channels": nb_channels, "sampling_rate": rate, "data_dtype": traces.dtype.str})
        return header

    def channel_positions(self) -> np.ndarray | None:
        return self._positions

    # -- samples ----------------------------------------------------------------------------------
    def _open(self, mode: str = "r") -> None:
        import zarr
        self._traces = zarr.open(zarr_store(self.file_name), mode="r")[self.segment_name]

    def _close(self) -> None:
        self._traces = None

    def prefetch(self, start: int, stop: int) -> None:
        """For a store on a server: read samples [start, stop) now, so that zarr fetches all their
        chunks at once (in parallel) into the remote cache instead of a few per later read."""
        if self._sources or not is_url(self.file_name):
            return
        self._ensure_open()
        start, stop = max(int(start), 0), min(int(stop), self._shape[0])
        if stop > start:
            self._traces[start:stop]

    def read_chunk_raw(self, idx, chunk_size, padding=(0, 0), nodes=None):
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        self._ensure_open()
        rows = np.asarray(self._traces[t_start:t_stop]) if t_stop > t_start else \
            np.zeros((0, self.nb_channels), dtype=self.data_dtype)
        return rows if nodes is None else np.ascontiguousarray(rows[:, np.asarray(nodes, dtype=np.intp)])

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        return self._scale_data_to_float32(self.read_chunk_raw(idx, chunk_size, padding, nodes), nodes)
