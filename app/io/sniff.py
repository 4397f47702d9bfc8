"""Format detection: rank the formats that could read a file, each with a reason.

A format may define a classmethod ``sniff(path) -> (score, reason) | None``
looking at content (magic bytes, HDF5 layout, text headers); otherwise its
extensions decide. Scores are in [0, 1]; raw_binary reads anything and stays last.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from app.io.registry import supported_formats


class Candidate(NamedTuple):
    name: str
    score: float
    reason: str


def _extension_score(klass, path: str) -> Candidate | None:
    ext = os.path.splitext(path)[1].lower()
    if ext and ext in [e.lower() for e in klass.extension]:
        return Candidate(klass.description, 0.5, f"extension {ext}")
    return None


def rank_formats(path: str) -> list[Candidate]:
    """Formats that may read `path`, best first."""
    found = []
    for name, klass in supported_formats().items():
        candidate = None
        sniff = getattr(klass, "sniff", None)
        if sniff is not None:
            try:
                result = sniff(path)
            except (OSError, ValueError):
                result = None
            if result:
                candidate = Candidate(name, float(result[0]), result[1])
        if candidate is None:
            candidate = _extension_score(klass, path)
        if candidate is None and name == "raw_binary" and os.path.isfile(path):
            candidate = Candidate(name, 0.05, "any file can be read as headerless samples")
        if candidate is not None and candidate.score > 0:
            found.append(candidate)
    found.sort(key=lambda c: -c.score)
    return found


def read_prefix(path: str, size: int = 8192) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def is_hdf5(path: str) -> bool:
    """HDF5 files carry their signature at offset 0, 512, 1024, 2048, ..."""
    try:
        with open(path, "rb") as handle:
            offset = 0
            size = os.path.getsize(path)
            while offset < min(size, 1 << 20):
                handle.seek(offset)
                if handle.read(8) == b"\x89HDF\r\n\x1a\n":
                    return True
                offset = 512 if offset == 0 else offset * 2
    except OSError:
        return False
    return False
