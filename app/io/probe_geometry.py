"""ProbeGeometry: where each recording channel sits on the probe, and where that came from.

One record for every source of geometry — a recording's header (SpikeGLX imro table, Open Ephys
settings.xml, NWB electrodes, MaxWell mapping, MEA grids), a file the user chose (.prb,
probeinterface JSON, Kilosort chanMap), a library entry, or a layout Wavescope generated — so
the probe view, depth order, the wizard, params files and sorters all read one thing.

`channels[k]` is the recording channel (index in the file) of contact k; channels with no
contact (a sync word, an aux input) are simply absent. Positions are µm, x across the probe,
y along it (depth, tip at small y).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from app.io.errors import ProbeError
from app.io.probe import ChannelGroup, Probe

SOURCES = ("header", "file", "library", "generated")
SHAPES = ("circle", "square", "rect")
DEFAULT_RADIUS = 100.0          # µm; the .prb radius when nothing better is known


@dataclass(frozen=True)
class ProbeGeometry:
    """Per-contact positions of one probe (or electrode array) wired to recording channels."""

    channels: np.ndarray                    # (n,) int64 recording channel of each contact
    positions: np.ndarray                   # (n, 2) float64 x, y in µm
    shank_ids: np.ndarray                   # (n,) int64 shank (channel group) of each contact
    source: str = "header"                  # one of SOURCES
    description: str = ""                   # where exactly: "SpikeGLX imroTbl (NP1000)", a path
    contact_shape: str = "circle"           # one of SHAPES
    contact_size: float = 0.0               # µm: radius of a circle, side of a square (0 unknown)
    model_name: str = ""                    # "NP1000", "A1x32-Poly2", ...
    annotations: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        channels = np.asarray(self.channels, dtype=np.int64).reshape(-1)
        positions = np.asarray(self.positions, dtype=np.float64)
        shanks = np.zeros(len(channels), np.int64) if self.shank_ids is None else \
            np.asarray(self.shank_ids, dtype=np.int64).reshape(-1)
        if positions.ndim != 2 or positions.shape[0] != len(channels) or positions.shape[1] < 2:
            raise ProbeError(f"{self.description or 'probe geometry'}: {len(channels)} channels but "
                             f"positions of shape {positions.shape}; give one (x, y) per channel.")
        if len(shanks) != len(channels):
            raise ProbeError(f"{self.description or 'probe geometry'}: {len(shanks)} shank ids for "
                             f"{len(channels)} channels; give one shank id per channel.")
        if len(np.unique(channels)) != len(channels):
            raise ProbeError(f"{self.description or 'probe geometry'}: a channel is wired to two "
                             "contacts; each recording channel may sit at one place only.")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {self.source!r}")
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "positions", positions[:, :2].copy())
        object.__setattr__(self, "shank_ids", shanks)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_positions(cls, positions, channels=None, shank_ids=None, **facts) -> ProbeGeometry:
        """From an (n, 2) array; rows with a NaN coordinate are channels without a contact."""
        positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
        channels = np.arange(len(positions)) if channels is None else np.asarray(channels, np.int64)
        placed = ~np.isnan(positions).any(axis=1)
        shanks = None if shank_ids is None else np.asarray(shank_ids)[placed]
        return cls(channels[placed], positions[placed], shanks, **facts)

    @classmethod
    def from_probe(cls, probe: Probe, source: str = "file", description: str = "") -> ProbeGeometry:
        """From a parsed .prb: one shank per channel group (groups numbered in file order)."""
        channels, positions, shanks = [], [], []
        for number, group in enumerate(probe.channel_groups.values()):
            for channel in group.channels:
                if channel in group.geometry:
                    channels.append(int(channel))
                    positions.append(group.geometry[channel])
                    shanks.append(number)
        return cls(np.array(channels, np.int64), np.array(positions, np.float64).reshape(-1, 2),
                   np.array(shanks, np.int64), source, description or (probe.file_name or ""),
                   annotations={"radius": float(probe.radius), "nb_channels": int(probe.total_nb_channels),
                                "group_ids": list(probe.channel_groups)})

    def with_source(self, source: str, description: str | None = None) -> ProbeGeometry:
        return replace(self, source=source, description=self.description if description is None else description)

    # -- reading ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.channels)

    @property
    def shank_count(self) -> int:
        return len(np.unique(self.shank_ids)) if len(self) else 0

    def positions_for(self, nb_channels: int) -> np.ndarray:
        """(nb_channels, 2) positions by recording channel; NaN for channels with no contact."""
        out = np.full((int(nb_channels), 2), np.nan)
        inside = self.channels < nb_channels
        out[self.channels[inside]] = self.positions[inside]
        return out

    def depth_order(self) -> np.ndarray:
        """Channels sorted by (y, x, channel): the trace view's order by depth."""
        order = np.lexsort((self.channels, self.positions[:, 0], self.positions[:, 1]))
        return self.channels[order]

    def check_fits(self, nb_channels: int, where: str = "") -> None:
        """ProbeError when a contact is wired to a channel the recording does not have."""
        outside = self.channels[(self.channels < 0) | (self.channels >= nb_channels)]
        if len(outside):
            raise ProbeError(f"{where or self.description or 'probe'}: channel(s) "
                             f"{', '.join(map(str, outside[:8].tolist()))} are outside the recording's "
                             f"{nb_channels} channels; choose the probe that matches this recording.")

    def to_probe(self, nb_channels: int | None = None, radius: float | None = None) -> Probe:
        """An app.io.probe.Probe (what .prb files hold): one channel group per shank."""
        total = int(nb_channels if nb_channels is not None else
                    self.annotations.get("nb_channels", int(self.channels.max(initial=-1)) + 1))
        if radius is None:
            radius = float(self.annotations.get("radius", DEFAULT_RADIUS))
        groups: dict = {}
        for shank in sorted(np.unique(self.shank_ids).tolist()):
            mine = np.flatnonzero(self.shank_ids == shank)
            geometry = {int(self.channels[k]): (_plain(self.positions[k, 0]), _plain(self.positions[k, 1]))
                        for k in mine}
            groups[int(shank)] = ChannelGroup([int(self.channels[k]) for k in mine], geometry, [])
        return Probe(total, float(radius), groups, self.description or None)

    def differences(self, other: ProbeGeometry, tolerance: float = 0.5) -> list[str]:
        """Why `other` does not describe the same sites (channel set, positions up to a common
        shift, shanks); [] when it does. Used to flag a chosen file against the header."""
        problems = []
        mine, theirs = set(self.channels.tolist()), set(other.channels.tolist())
        if mine != theirs:
            only_a, only_b = sorted(mine - theirs), sorted(theirs - mine)
            if only_a:
                problems.append(f"{len(only_a)} channel(s) placed by the {self.source} only "
                                f"(first: {only_a[:5]})")
            if only_b:
                problems.append(f"{len(only_b)} channel(s) placed by the {other.source} only "
                                f"(first: {only_b[:5]})")
        common = np.array(sorted(mine & theirs), dtype=np.int64)
        if len(common):
            a = self.positions_for(int(common.max()) + 1)[common]
            b = other.positions_for(int(common.max()) + 1)[common]
            shift = np.median(b - a, axis=0)
            moved = np.flatnonzero(np.abs(b - a - shift).max(axis=1) > tolerance)
            if len(moved):
                problems.append(f"{len(moved)} of {len(common)} channel(s) sit elsewhere (first: channel "
                                f"{int(common[moved[0]])} at {tuple(a[moved[0]])} vs {tuple(b[moved[0]])} µm)")
        return problems

    def summary(self) -> str:
        """One line for people: how many contacts, shanks, extent, and the source."""
        if not len(self):
            return f"no contacts ({self.source})"
        low, high = self.positions.min(axis=0), self.positions.max(axis=0)
        shanks = f", {self.shank_count} shanks" if self.shank_count > 1 else ""
        model = f" {self.model_name}" if self.model_name else ""
        return (f"{len(self)} contacts{shanks}{model}, x {low[0]:g}..{high[0]:g} µm, y {low[1]:g}..{high[1]:g} µm "
                f"(from the {self.source}: {self.description})")


def _plain(value: float) -> float | int:
    """A position as a plain Python number: integral values as int (the .prb reads cleaner)."""
    value = float(value)
    return int(value) if value.is_integer() and abs(value) < 1e15 else value


def grid_geometry(rows: np.ndarray, cols: np.ndarray, pitch: float, **facts) -> ProbeGeometry:
    """An electrode array from each channel's (row, column) on its grid and the grid pitch."""
    positions = np.column_stack([np.asarray(cols, np.float64), np.asarray(rows, np.float64)]) * float(pitch)
    return ProbeGeometry(np.arange(len(positions)), positions, None, **facts)


MEA_LABEL = r"(?:El_?|E)?(\d)(\d)"
MCS_MEA_PITCH = 200.0       # µm, the standard 60MEA200/30 (8 x 8 grid without corners)


def mea_label_geometry(labels: list[str], pitch: float = MCS_MEA_PITCH, description: str = "") -> ProbeGeometry | None:
    """A Multi Channel Systems 8 x 8 MEA from electrode labels "12" / "El_12" (column 1, row 2,
    both 1..8); None unless every label names a distinct grid electrode."""
    import re
    cells = [re.fullmatch(MEA_LABEL, str(label).strip()) for label in labels]
    if not cells or any(c is None for c in cells):
        return None
    cols = np.array([int(c.group(1)) for c in cells]) - 1
    rows = np.array([int(c.group(2)) for c in cells]) - 1
    if cols.min() < 0 or rows.min() < 0 or cols.max() > 7 or rows.max() > 7 or \
            len(set(zip(cols.tolist(), rows.tolist()))) != len(cells):
        return None
    return grid_geometry(rows, cols, pitch, source="header", model_name="MEA 8x8",
                         description=f"{description}: MEA electrode labels (column, row) x {pitch:g} µm pitch "
                                     "(60MEA200/30 assumed)")
