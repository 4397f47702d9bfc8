"""Neuropixels electrode positions: which electrode each readout channel uses, and where it is.

Shared by the SpikeGLX and Open Ephys readers. Geometry per probe part number follows IMEC's
probe table (Bill Karsh's ProbeTable, also the source probeinterface builds from): electrode
e of a shank sits at row e // cols, column e % cols; x = column * x pitch (+ the row stagger on
even rows) + shank * shank pitch, y = row * y pitch, so the first column's centre is x = 0 as
probeinterface places it.

Which electrode a readout channel uses comes from the imro table (`imroTbl`): NP1.0-style
entries `(channel bank ref apGain lfGain hp)` give electrode = bank * 384 + channel; NP2.0
single-shank entries `(channel bankMask ref electrode)` and multi-shank entries
`(channel shank bank ref electrode)` give it directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# imro entry layouts
BANKED = "banked"           # (channel bank ref apGain lfGain [hp]): electrode = bank * 384 + channel
DIRECT = "direct"           # (channel bankMask ref electrode)
SHANKED = "shanked"         # (channel shank bank ref electrode)


@dataclass(frozen=True)
class Layout:
    """The electrode grid of one Neuropixels model (µm)."""

    cols: int
    x_pitch: float
    y_pitch: float
    stagger: float              # extra x of even rows (0, 2, 4, ...)
    shanks: int = 1
    shank_pitch: float = 0.0
    width: float = 12.0         # square contact side
    imro: str = BANKED
    rows: int = 480             # rows of electrodes per shank

    @property
    def per_shank(self) -> int:
        return self.cols * self.rows


_NP1 = Layout(2, 32, 20, 16)
_NP1_FLAT = Layout(2, 32, 20, 0)
_NP1_LONG = Layout(2, 87, 20, 16, rows=1248)
_NP1_WIDE = Layout(2, 103, 20, 0, rows=2208)
_NP2 = Layout(2, 32, 15, 0, imro=DIRECT, rows=640)
_NP2_4 = Layout(2, 32, 15, 0, 4, 250, imro=SHANKED, rows=640)

LAYOUTS: dict[str, Layout] = {
    **{pn: _NP1 for pn in ("NP1000", "NP1001", "NP1010", "NP1011", "NP1012", "NP1013", "NP1014",
                           "PRB_1_2_0480_2", "PRB_1_4_0480_1", "PRB_1_4_0480_1_C")},
    **{pn: _NP1_FLAT for pn in ("NP1015", "NP1016", "NP1017")},
    **{pn: _NP1_LONG for pn in ("NP1020", "NP1021", "NP1030", "NP1031")},
    **{pn: _NP1_WIDE for pn in ("NP1022", "NP1032", "NP1033", "NP1040", "NP1041", "NP1042", "NP1050", "NP1051")},
    "NP1100": Layout(8, 6, 6, 0, width=5, rows=48),
    "NP1120": Layout(2, 4.5, 4.5, 0, width=3.5, rows=192),
    "NP1121": Layout(1, 0, 3, 0, width=2.5, rows=384),
    "NP1122": Layout(16, 3, 3, 0, width=2.5, rows=24),
    "NP1123": Layout(12, 4.5, 4.5, 0, width=3.5, rows=32),
    "NP1200": Layout(2, 32, 31, 20, rows=64), "NP1210": Layout(2, 32, 31, 20, rows=64),
    "NP1300": Layout(2, 48, 20, 0), "NP1400": Layout(2, 48, 20, 0),
    **{pn: _NP2 for pn in ("NP2000", "NP2003", "NP2004", "NP2005", "PRB2_1_2_0640_0", "NP3010", "NP3011",
                           "NP3012")},
    "NP2006": Layout(2, 32, 15, 16, imro=DIRECT, rows=640),
    "NP2300": Layout(2, 48, 15, 0, imro=DIRECT, rows=640),
    **{pn: _NP2_4 for pn in ("NP2010", "NP2013", "NP2014", "NP2020", "NP2021", "PRB2_4_2_0640_0",
                             "NP3020", "NP3021", "NP3022", "NP3023", "NP3024")},
    "NP3000": Layout(1, 0, 15, 0, rows=128),
}

# The model an old imro type code means when the .meta does not name the part number.
TYPE_TO_PART = {0: "NP1000", 21: "NP2000", 24: "NP2010", 1020: "NP1020", 1030: "NP1030", 1100: "NP1100",
                1120: "NP1120", 1121: "NP1121", 1122: "NP1122", 1123: "NP1123", 1200: "NP1200",
                1300: "NP1300", 2003: "NP2003", 2013: "NP2013", 2020: "NP2020", 3010: "NP3010",
                3020: "NP3020", 3022: "NP3022"}


class UnknownProbe(ValueError):
    """The imro table or part number is one this module cannot place (e.g. NP1110 UHD2)."""


def electrode_positions(layout: Layout, electrodes: np.ndarray, shanks: np.ndarray | None = None) -> np.ndarray:
    """(n, 2) x, y of electrodes (per-shank numbering) on `shanks`."""
    electrodes = np.asarray(electrodes, dtype=np.int64)
    row, col = np.divmod(electrodes, layout.cols)
    x = col * layout.x_pitch + (row % 2 == 0) * layout.stagger
    if shanks is not None:
        x = x + np.asarray(shanks, dtype=np.float64) * layout.shank_pitch
    return np.column_stack([x.astype(np.float64), (row * layout.y_pitch).astype(np.float64)])


def catalogue_positions(layout: Layout, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions and shanks of electrodes numbered across the whole probe (shank after shank),
    as Open Ephys' SELECTED_ELECTRODES numbers them."""
    shanks, electrodes = np.divmod(np.asarray(indices, dtype=np.int64), layout.per_shank)
    return electrode_positions(layout, electrodes, shanks), shanks


def layout_for(part_number: str | None, imro_type: str) -> tuple[str, Layout]:
    """The part number and layout of a probe from the .meta's part number or the imro header."""
    if part_number and part_number in LAYOUTS:
        return part_number, LAYOUTS[part_number]
    if imro_type in LAYOUTS:
        return imro_type, LAYOUTS[imro_type]
    try:
        guess = TYPE_TO_PART.get(int(imro_type))
    except ValueError:
        guess = None
    if guess is None:
        raise UnknownProbe(f"probe {part_number or imro_type!r} (imro type {imro_type}) is not one whose "
                           "electrode layout Wavescope knows; give a probe file (.prb or probeinterface JSON)")
    return guess, LAYOUTS[guess]


def imro_selection(imro: str, part_number: str | None = None) -> tuple[str, Layout, np.ndarray, np.ndarray]:
    """From an `imroTbl` text: part number, layout, and per readout channel (in channel order)
    the electrode and shank it records."""
    entries = [e.replace(",", " ").split() for e in imro.replace(")", "(").split("(") if e.strip()]
    if not entries:
        raise UnknownProbe("imroTbl is empty")
    head = entries[0]
    imro_type = "0" if len(head) == 3 else head[0]      # Phase3A headers: (serial, option, count)
    part, layout = layout_for(part_number, imro_type)
    table = np.array([[int(v) for v in entry] for entry in entries[1:]], dtype=np.int64)
    if not len(table):
        raise UnknownProbe("imroTbl has no channel entries")
    table = table[np.argsort(table[:, 0], kind="stable")]
    if layout.imro == BANKED:
        return part, layout, table[:, 1] * 384 + table[:, 0], np.zeros(len(table), np.int64)
    if layout.imro == DIRECT:
        return part, layout, table[:, 3], np.zeros(len(table), np.int64)
    return part, layout, table[:, 4], table[:, 1]
