"""SpikeGLX `.meta` probe geometry (used by formats/spikeglx.py).

Three keys can place the electrodes, tried in this order:
- `imroTbl` with `imDatPrb_pn`: which electrode each readout channel records (bank selection),
  placed on the model's grid (app.io.neuropixels) — what probeinterface's `read_spikeglx` does;
- `snsGeomMap` (SpikeGLX 20230202+): `(pn,shanks,shankPitch,shankWidth)(s:x:z:used)...` per readout
  channel, x from its shank's left edge (kept: the shank edge is x = shank * pitch);
- `snsShankMap` (older): `(shanks,cols,rows)(s:col:row:used)...`, grid indices only (the pitch is
  assumed 32 x 20 µm, Neuropixels 1.0, and the description says so).
"""

from __future__ import annotations

import numpy as np

from app.io import neuropixels as npx
from app.io.errors import HeaderError
from app.io.probe_geometry import ProbeGeometry

SHANKMAP_PITCH = (32.0, 20.0)
NP_SHANK_PITCH = 250.0


def meta_geometry(meta: dict, readout: list[int | None], meta_path: str) -> ProbeGeometry | None:
    """Geometry of the saved channels; readout[k] is the probe readout channel of file column k
    (None for the sync word)."""
    part = meta.get("imDatPrb_pn") or ("NP1010" if "imProbeOpt" in meta else None)
    table = None
    if "imroTbl" in meta:
        try:
            part, layout, electrodes, shanks = npx.imro_selection(meta["imroTbl"], part)
            table = (layout.width, electrode_xy(layout, electrodes, shanks), shanks, f"imroTbl ({part})")
        except npx.UnknownProbe:
            table = None
        except ValueError:
            raise HeaderError(f"{meta_path}: imroTbl is not a table of integers; the .meta is damaged.",
                              meta_path) from None
    if table is None and "snsGeomMap" in meta:
        table = _geom_map(meta["snsGeomMap"], meta_path)
    if table is None and "snsShankMap" in meta:
        table = _shank_map(meta["snsShankMap"], meta_path)
    if table is None:
        return None
    width, xy, shanks, where = table
    columns = [k for k, r in enumerate(readout) if r is not None and r < len(xy)]
    picked = np.array([readout[k] for k in columns], dtype=np.int64)
    return ProbeGeometry(np.array(columns, np.int64), xy[picked].reshape(-1, 2), shanks[picked], "header",
                         f"SpikeGLX {where}, {meta_path}", "square", float(width), part or "")


def electrode_xy(layout: npx.Layout, electrodes: np.ndarray, shanks: np.ndarray) -> np.ndarray:
    return npx.electrode_positions(layout, electrodes, shanks)


def _entries(text: str) -> list[str]:
    return [e for e in text.replace(")", "(").split("(") if e.strip()]


def _geom_map(text: str, meta_path: str):
    entries = _entries(text)
    try:
        head = entries[0].split(",")
        shank_pitch = float(head[2]) if len(head) > 2 else NP_SHANK_PITCH
        rows = np.array([[float(v) for v in e.split(":")[:3]] for e in entries[1:]], dtype=np.float64)
    except (IndexError, ValueError):
        raise HeaderError(f"{meta_path}: snsGeomMap is not (pn,shanks,pitch,width)(s:x:z:used)...; the .meta "
                          "is damaged.", meta_path) from None
    if not len(rows):
        return None
    shanks = rows[:, 0].astype(np.int64)
    xy = np.column_stack([rows[:, 1] + shanks * shank_pitch, rows[:, 2]])
    return 12.0, xy, shanks, "snsGeomMap"


def _shank_map(text: str, meta_path: str):
    entries = _entries(text)
    try:
        rows = np.array([[int(v) for v in e.split(":")[:3]] for e in entries[1:]], dtype=np.int64)
    except ValueError:
        raise HeaderError(f"{meta_path}: snsShankMap is not (shanks,cols,rows)(s:col:row:used)...; the "
                          ".meta is damaged.", meta_path) from None
    if not len(rows):
        return None
    x = rows[:, 1] * SHANKMAP_PITCH[0] + rows[:, 0] * NP_SHANK_PITCH
    y = rows[:, 2] * SHANKMAP_PITCH[1]
    return 12.0, np.column_stack([x, y]).astype(np.float64), rows[:, 0], \
        "snsShankMap (grid indices; 32 x 20 µm pitch assumed)"
