"""A recording as the browser sees it: a DataFile, its streams, its probe.

This is the data behind the stream tree: Recording -> segments (one per stream,
placed on the global timeline the DataFile concatenates) -> channel groups (from
the probe, else one group of every channel) -> channels.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np

from app.io import open_datafile
from app.io.errors import DataFileError
from app.io.remote import is_url
from app.model.lanes import Lane, open_lanes

try:
    from app.io.probe import read_probe
except ImportError:         # the probe parser is optional: index order without it
    read_probe = None

log = logging.getLogger("wavescope")


@dataclass(frozen=True)
class Segment:
    """One stream of the recording, placed on the global timeline (samples)."""

    index: int
    file_name: str
    start: int
    stop: int
    sampling_rate: float
    t_start: int

    @property
    def duration(self) -> int:
        return self.stop - self.start

    @property
    def start_s(self) -> float:
        return self.start / self.sampling_rate

    @property
    def duration_s(self) -> float:
        return self.duration / self.sampling_rate


@dataclass
class Group:
    """A channel group: a shank, a tetrode, or every channel when there is no probe."""

    id: object
    channels: list[int]
    positions: dict[int, tuple[float, float]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"group {self.id}"


class Recording:
    """A DataFile, its segments and its channel groups; owns the open DataFile."""

    def __init__(self, datafile, probe=None):
        self.datafile = datafile
        self.probe = probe
        self.sampling_rate = float(datafile.sampling_rate)
        self.nb_channels = int(datafile.nb_channels)
        self.geometry = self._initial_geometry(probe)      # app.io.probe_geometry.ProbeGeometry or None
        if probe is None and self.geometry is not None:
            self.probe = self._probe_of(self.geometry)
        self.duration = int(datafile.duration)
        self.segments = self._segments()
        self.groups = self._groups()
        self.units = str(datafile.params.get("units", "µV"))
        self.lanes: list[Lane] = []
        self._names: list[str] | None = None

    @classmethod
    def open(cls, file_name: str, params: dict | None = None, file_format: str | None = None,
             stream_mode: str | None = None, mapping: str | None = None) -> Recording:
        """Open a data or .params file; `mapping` (a .prb path) overrides the params' probe."""
        settings = dict(params or {})
        mapping = mapping or settings.pop("mapping", None)
        file_format = file_format or settings.pop("file_format", None)
        stream_mode = stream_mode or settings.pop("stream_mode", None)
        settings.pop("file_format", None)
        settings.pop("stream_mode", None)
        if mapping is None and str(file_name).endswith(".params"):
            mapping = _probe_from_params(file_name)
        datafile = open_datafile(file_name, settings, file_format, stream_mode)
        return cls(datafile, load_probe(mapping, int(datafile.nb_channels)))

    @property
    def name(self) -> str:
        return os.path.basename(self.datafile.file_name.rstrip("/"))

    @property
    def is_remote(self) -> bool:
        """Read from a server by URL: no summary is built by itself (it would read every byte)."""
        return is_url(self.datafile.file_name)

    @property
    def duration_s(self) -> float:
        return self.duration / self.sampling_rate

    def _segments(self) -> list[Segment]:
        offsets = self.datafile.stream_offsets()
        return [Segment(k, stream.file_name, int(offsets[k]), int(offsets[k + 1]),
                        float(stream.sampling_rate), int(stream.t_start))
                for k, stream in enumerate(self.datafile.streams)]

    def _groups(self) -> list[Group]:
        if self.probe is None:
            return [Group(0, list(range(self.nb_channels)))]
        groups = []
        for group_id, group in self.probe.channel_groups.items():
            channels = [int(c) for c in group.channels if 0 <= int(c) < self.nb_channels]
            positions = {int(c): tuple(map(float, xy)) for c, xy in group.geometry.items()}
            groups.append(Group(group_id, channels, positions))
        if getattr(self, "geometry", None) is not None and self.geometry.source == "header":
            placed = {c for group in groups for c in group.channels}
            others = [c for c in range(self.nb_channels) if c not in placed]
            if others:      # a sync word or aux input the header places nowhere: still browsable
                groups.append(Group("other", others))
        return groups

    def _initial_geometry(self, probe):
        from app.model.probes import header_geometry
        if probe is not None:
            from app.io.probe_geometry import ProbeGeometry
            return ProbeGeometry.from_probe(probe, "file", probe.file_name or "")
        return header_geometry(self.datafile)

    def _probe_of(self, geometry):
        from app.model.probes import probe_for
        return probe_for(geometry, self.nb_channels)

    def set_geometry(self, geometry) -> None:
        """Use `geometry` (a ProbeGeometry; None: index order) for groups, positions and depth."""
        if geometry is not None:
            geometry.check_fits(self.nb_channels, self.name)
        self.geometry = geometry
        self.probe = None if geometry is None else self._probe_of(geometry)
        self.groups = self._groups()

    def channel_names(self) -> list[str]:
        """The name of every channel, by index: the file's own names, "ch N" where it has none."""
        if self._names is None:
            self._names = datafile_channel_names(self.datafile)
        return list(self._names)

    def channel_name(self, channel: int) -> str:
        """Channel `channel`'s name (the file's own, else "ch N")."""
        names = self._names if self._names is not None else self.channel_names()
        return names[channel] if 0 <= channel < len(names) else f"ch {channel}"

    @property
    def channels(self) -> list[int]:
        """Every channel a group holds, groups in order (dead channels of a probe are left out)."""
        return [c for group in self.groups for c in group.channels]

    def positions(self) -> dict[int, tuple[float, float]]:
        """Site (x, y) in µm of every channel the probe places."""
        where: dict[int, tuple[float, float]] = {}
        for group in self.groups:
            where.update(group.positions)
        return where

    def depth_order(self) -> list[int]:
        """Channels ordered by depth (y, then x), as on the probe; index order without one."""
        where = self.positions()
        channels = self.channels
        if not where:
            return channels
        placed = sorted((c for c in channels if c in where), key=lambda c: (where[c][1], where[c][0], c))
        return placed + [c for c in channels if c not in where]

    def segment_at(self, sample: int) -> Segment:
        for segment in self.segments:
            if segment.start <= sample < segment.stop:
                return segment
        return self.segments[-1]

    def open_lanes(self) -> list[Lane]:
        """Add the other streams of this acquisition (`related_streams`) as lanes, once."""
        if not self.lanes:
            self.lanes = open_lanes(self.datafile)
        return self.lanes

    def close(self) -> None:
        for lane in self.lanes:
            lane.close()
        self.datafile.close()


def datafile_channel_names(datafile) -> list[str]:
    """The names a reader gives its channels (`channel_names`), one per channel; "ch N" for a
    channel it leaves unnamed, and for every channel when it names none or names the wrong count."""
    count = int(datafile.nb_channels)
    try:
        names = getattr(datafile, "channel_names", None)
        names = list(names() if callable(names) else names or [])
    except (DataFileError, AttributeError, KeyError, IndexError, TypeError, ValueError):
        names = []
    if len(names) != count:
        names = []
    named = [str(name).strip() if name is not None else "" for name in names] or [""] * count
    return [name or f"ch {k}" for k, name in enumerate(named)]


def load_probe(mapping: str | None, nb_channels: int):
    """The probe in `mapping`, or None (logged) when absent, unreadable or not fitting."""
    if not mapping or read_probe is None:
        return None
    if not os.path.exists(mapping):
        log.warning("probe file %s not found; channels are shown in index order", mapping)
        return None
    try:
        probe = read_probe(mapping)
        if hasattr(probe, "validate"):
            for warning in probe.validate(nb_channels) or []:
                log.warning("%s", warning)
    except DataFileError as error:
        log.warning("%s; channels are shown in index order", error)
        return None
    return probe


def _probe_from_params(params_path: str) -> str | None:
    """The probe a .params file names ([data] or [probe] mapping), resolved beside the file."""
    try:
        from app.io.params import ParamsFile
    except ImportError:
        return None
    try:
        params = ParamsFile.read(params_path)
        # SpyKING CIRCUS 1.1 keeps the probe in [data] mapping; older files in [probe]
        value = params.get("data", "mapping") if "data" in params.sections() else None
        if not value and "probe" in params.sections():
            value = params.get("probe", "mapping")
    except (DataFileError, OSError):
        return None
    if not value:
        return None
    value = os.path.expanduser(str(value))
    return value if os.path.isabs(value) else os.path.join(os.path.dirname(params_path), value)


def channel_colours(recording: Recording, palette_size: int) -> np.ndarray:
    """A colour class (1..palette_size) per channel: its group's position in the group list."""
    colours = np.ones(recording.nb_channels, dtype=np.uint8)
    for k, group in enumerate(recording.groups):
        colours[group.channels] = 1 + k % palette_size
    return colours
