"""si_binary: a SpikeInterface binary folder (``recording.save(folder=..., format="binary")``).

Layout SpikeInterface writes: ``binary.json`` (the BinaryRecordingExtractor's kwargs: file_paths,
sampling_frequency, t_starts, num_channels (``num_chan`` before 0.100), dtype, channel_ids,
time_axis, file_offset, gain_to_uV, offset_to_uV), ``si_folder.json`` (the folder recording and
its properties), one ``traces_cached_segN.raw`` per segment (time-major, channel fastest) and
``probegroup.json`` (probeinterface's format). Read with the stdlib and numpy: SpikeInterface is
not needed. Values are µV: raw * gain_to_uV + offset_to_uV.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from app.io.datafile import DataFile
from app.io.errors import HeaderError
from app.io.fileio import open_fd
from app.io.formats.raw_binary import pread_rows

DESCRIPTOR = "binary.json"
FOLDER_DESCRIPTOR = "si_folder.json"
EXTRACTOR = "BinaryRecordingExtractor"


def find_folder(path: str) -> str | None:
    """The SpikeInterface binary folder `path` names: the folder, its binary.json or
    si_folder.json, or one of its traces files; None when there is none."""
    path = os.path.abspath(path)
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    if not os.path.isfile(os.path.join(folder, DESCRIPTOR)):
        return None
    return folder


def read_descriptor(folder: str) -> dict:
    """binary.json's content, checked to be a binary recording's description."""
    path = os.path.join(folder, DESCRIPTOR)
    with open(path, encoding="utf-8") as handle:
        content = json.load(handle)
    if not isinstance(content, dict) or EXTRACTOR not in str(content.get("class", "")) \
            or not isinstance(content.get("kwargs"), dict):
        raise HeaderError(f"{path}: not a SpikeInterface binary recording description (its class is "
                          f"{str(content.get('class') if isinstance(content, dict) else None)!r}).", path)
    return content


def _per_channel(value: Any, nb_channels: int, default: float) -> np.ndarray:
    if value is None:
        return np.full(nb_channels, default, dtype=np.float64)
    values = np.asarray(value, dtype=np.float64).reshape(-1)
    return np.full(nb_channels, values[0]) if values.size == 1 else values


def scaling(gain_to_uV: Any, offset_to_uV: Any, nb_channels: int) -> tuple[dict, Any, Any]:
    """({gain, dtype_offset}, per-channel gains or None, per-channel raw zeros or None) from
    SpikeInterface's gain_to_uV / offset_to_uV (µV = raw * gain + offset). Per channel only when
    they differ; no gain in the recording: the samples are taken as they are."""
    gains = _per_channel(gain_to_uV, nb_channels, 1.0)
    offsets = _per_channel(offset_to_uV, nb_channels, 0.0)
    zeros = np.divide(-offsets, gains, out=np.zeros(nb_channels), where=gains != 0)
    if np.all(gains == gains[0]) and np.all(zeros == zeros[0]):
        return {"gain": float(gains[0]), "dtype_offset": float(zeros[0])}, None, None
    return {"gain": 1.0, "dtype_offset": 0}, gains, zeros


def probegroup_positions(probegroup: dict, nb_channels: int) -> np.ndarray | None:
    """(nb_channels, 2) positions in µm from probeinterface's dict (``probegroup.json``); None
    when a channel has no wired contact."""
    positions = np.full((nb_channels, 2), np.nan)
    for probe in probegroup.get("probes") or []:
        xy = np.asarray(probe["contact_positions"], dtype=np.float64)[:, :2]
        wired = probe.get("device_channel_indices")
        wired = np.arange(len(xy)) if wired is None else np.asarray(wired, dtype=np.int64)
        keep = (wired >= 0) & (wired < nb_channels)
        positions[wired[keep]] = xy[keep]
    return None if np.isnan(positions).any() else positions


class SegmentsEndToEnd:
    """`segments` mode for SpikeInterface folders: a segment whose t_start is None (0 s for every
    segment, to SpikeInterface) is placed right after the previous one on Wavescope's timeline."""

    def set_streams(self, stream_mode: str) -> list[DataFile]:
        if stream_mode != "segments":
            return super().set_streams(stream_mode)
        sources = self._segment_sources(self.nb_segments)
        for previous, source in zip(sources, sources[1:]):
            if not source.has_clock:
                source._t_start = previous.t_stop
        return sources


class SpikeInterfaceBinaryFile(SegmentsEndToEnd, DataFile):
    description = "si_binary"
    title = "SpikeInterface binary folder"
    extension = []
    is_streamable = ["multi-files", "segments"]
    _field_types = {"segment_index": "int"}

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        folder = find_folder(path)
        if folder is None:
            return None
        with open(os.path.join(folder, DESCRIPTOR), "rb") as handle:
            head = handle.read(1 << 16)
        if EXTRACTOR.encode() not in head:
            return None
        return 0.95, "SpikeInterface binary folder (binary.json)"

    # -- header -----------------------------------------------------------------------------------
    def _read_from_header(self) -> dict:
        folder = find_folder(self.file_name)
        if folder is None:
            raise HeaderError(f"{self.file_name}: no {DESCRIPTOR} beside it; give a folder SpikeInterface "
                              "saved with format='binary', or its binary.json.", self.file_name)
        self.folder = folder
        kwargs = read_descriptor(folder)["kwargs"]
        where = os.path.join(folder, DESCRIPTOR)
        nb_channels = int(kwargs.get("num_channels", kwargs.get("num_chan")) or 0)
        if int(kwargs.get("time_axis", 0)) != 0:
            raise HeaderError(f"{where}: time_axis {kwargs.get('time_axis')} (channel-major) is not read; "
                              "save the recording again with SpikeInterface's default time_axis=0.", where)
        paths = [p if os.path.isabs(p) else os.path.join(folder, p) for p in kwargs["file_paths"]]
        self.nb_segments = len(paths)
        index = self._pick_segment(len(paths), "SpikeInterface segments")
        self.raw_path = paths[index]
        self.file_offset = int(kwargs.get("file_offset") or 0)
        dtype = np.dtype(kwargs["dtype"])
        rate = float(kwargs["sampling_frequency"])
        payload = max(os.path.getsize(self.raw_path) - self.file_offset, 0)
        frame = nb_channels * dtype.itemsize
        self.ignored_bytes = payload % frame if frame else 0
        self._shape = (payload // frame if frame else 0, nb_channels)
        t_starts = kwargs.get("t_starts")
        self.has_clock = bool(t_starts) and t_starts[index] is not None
        if self.has_clock:
            self._t_start = self._seconds_to_sample(t_starts[index], rate, "t_starts")
        self.channel_names = [str(c) for c in kwargs.get("channel_ids") or range(nb_channels)]
        header = {"nb_channels": nb_channels, "sampling_rate": rate, "data_dtype": dtype.str}
        header.update(self._scaling(kwargs, nb_channels))
        return header

    def _scaling(self, kwargs: dict, nb_channels: int) -> dict:
        header, self._channel_gains, self._channel_offsets = scaling(
            kwargs.get("gain_to_uV"), kwargs.get("offset_to_uV"), nb_channels)
        return header

    def channel_positions(self) -> np.ndarray | None:
        path = os.path.join(self.folder, "probegroup.json")
        if not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as handle:
            return probegroup_positions(json.load(handle), self.nb_channels)

    # -- samples ----------------------------------------------------------------------------------
    def _open(self, mode: str = "r") -> None:
        self._fd = open_fd(self.raw_path)
        self.data = np.memmap(self.raw_path, dtype=self.data_dtype, mode="r", offset=self.file_offset,
                              shape=self._shape) if self._shape[0] else None

    def _close(self) -> None:
        fd = self.__dict__.get("_fd")
        self._fd, self.data = None, None
        if fd is not None:
            os.close(fd)

    def _rows(self, t_start: int, t_stop: int, nodes) -> np.ndarray:
        if t_stop <= t_start:
            width = self.nb_channels if nodes is None else len(nodes)
            return np.zeros((0, width), dtype=self.data_dtype)
        if nodes is None:
            frame = self.nb_channels * np.dtype(self.data_dtype).itemsize
            return pread_rows(self._fd, self.file_offset + t_start * frame,
                              (t_stop - t_start, self.nb_channels), np.dtype(self.data_dtype))
        return np.array(self.data[t_start:t_stop][:, np.asarray(nodes, dtype=np.intp)])

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        return self._scale_data_to_float32(self.read_chunk_raw(idx, chunk_size, padding, nodes), nodes)

    def read_chunk_raw(self, idx, chunk_size, padding=(0, 0), nodes=None):
        return self._rows(*self._get_t_start_t_stop(idx, chunk_size, padding), nodes)
