"""Compact writers of EDF+/BDF+, Axona and CED Spike2 (32-bit SON) layouts, from the published specs.

They share no code with the readers in app/io/formats, so a test that writes with them and
reads with a reader checks the reader against the layout, not against itself.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

# -- EDF / BDF ---------------------------------------------------------------------------------------


def _field(value, width: int) -> bytes:
    text = value if isinstance(value, str) else (f"{value:g}" if isinstance(value, float) else str(value))
    raw = text.encode("latin-1")[:width]
    return raw + b" " * (width - len(raw))


def edf_tal(onset: float, texts: list[str], duration: float | None = None) -> bytes:
    stamp = f"{onset:+g}".encode() + (b"\x15" + f"{duration:g}".encode() if duration is not None else b"")
    return stamp + b"\x14" + b"".join(t.encode() + b"\x14" for t in texts) + b"\x00"


def write_edf(path, signals: list[dict], record_duration: float, nb_records: int, bdf: bool = False,
              variant: str = "", record_onsets: list[float] | None = None,
              annotations: list[tuple[float, float | None, str]] | None = None,
              annotation_bytes: int = 120, declared_records: int | None = None) -> Path:
    """Write an EDF(+)/BDF(+) file. Each signal: label, unit, pmin, pmax, dmin, dmax and `digital`
    (int array of nb_records * samples per record, the digital values). With `variant`
    `EDF+C`/`EDF+D` (or BDF+), an annotation signal is appended: each record starts with its
    time-keeping TAL (`record_onsets`, default k * duration); `annotations` go in record 0."""
    item = 3 if bdf else 2
    ns = len(signals) + (1 if variant else 0)
    heads = [dict(s, samples=len(s["digital"]) // nb_records) for s in signals]
    if variant:
        lo, hi = (-(2 ** 23), 2 ** 23 - 1) if bdf else (-32768, 32767)
        heads.append({"label": "BDF Annotations" if bdf else "EDF Annotations", "unit": "", "pmin": -1,
                      "pmax": 1, "dmin": lo, "dmax": hi, "samples": -(-annotation_bytes // item)})
    main = (b"\xffBIOSEMI" if bdf else _field("0", 8)) + _field("X M 01-JAN-1970 Patient", 80)
    main += _field("Startdate 01-JAN-2020 X X X", 80) + _field("01.01.20", 8) + _field("10.00.00", 8)
    main += _field(256 * (ns + 1), 8) + _field(variant or ("24BIT" if bdf else ""), 44)
    main += _field(nb_records if declared_records is None else declared_records, 8)
    main += _field(float(record_duration), 8) + _field(ns, 4)
    columns = [("label", 16), ("transducer", 80), ("unit", 8), ("pmin", 8), ("pmax", 8), ("dmin", 8),
               ("dmax", 8), ("prefilter", 80), ("samples", 8), ("reserved", 32)]
    for name, width in columns:
        main += b"".join(_field(h.get(name, ""), width) for h in heads)
    onsets = record_onsets or [k * record_duration for k in range(nb_records)]
    body = bytearray()
    for k in range(nb_records):
        for h, s in zip(heads, signals):
            n = h["samples"]
            values = np.asarray(s["digital"][k * n:(k + 1) * n], dtype=np.int64)
            if bdf:
                values = values & 0xFFFFFF
                body += b"".join(int(v).to_bytes(3, "little") for v in values)
            else:
                body += struct.pack(f"<{n}h", *values)
        if variant:
            text = edf_tal(onsets[k], [""])
            if k == 0:
                text += b"".join(edf_tal(o, [t], d) for o, d, t in annotations or [])
            size = heads[-1]["samples"] * item
            assert len(text) <= size, "annotations do not fit the annotation signal"
            body += text + b"\x00" * (size - len(text))
    path = Path(path)
    path.write_bytes(main + bytes(body))
    return path
