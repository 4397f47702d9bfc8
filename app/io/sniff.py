"""Format detection: rank the formats that could read a file, each with a reason.

A format may define a classmethod ``sniff(path) -> (score, reason) | None``
looking at content (magic bytes, HDF5 layout, text headers); otherwise its
extensions decide. Scores are in [0, 1]; raw_binary reads anything and stays last.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

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
            # a format that looks at content has the last word on its own files
            try:
                result = sniff(path)
            except Exception:  # noqa: BLE001 - a sniffer failing means "not mine"
                result = None
            if result:
                candidate = Candidate(name, float(result[0]), result[1])
        else:
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


# -- headerless raw binary: infer nb_channels, data_dtype, data_offset ----------------------------

RAW_DTYPES = ("int16", "uint16", "float32", "int32")
SAMPLE_BYTES = 1 << 20          # bytes read per probe block
MAX_HEADER_BYTES = 1 << 16


def text_header_length(prefix: bytes) -> int:
    """Length of a leading text header (key/value lines), 0 when the file starts with samples.

    The header ends after an `EOH` line, or where printable text stops being the rule.
    """
    end_marker = prefix.find(b"EOH\r\n")
    if end_marker < 0:
        end_marker = prefix.find(b"EOH\n")
    if 0 <= end_marker < MAX_HEADER_BYTES:
        return prefix.index(b"\n", end_marker) + 1
    printable = set(range(32, 127)) | {9, 10, 13}
    run = 0
    for byte in prefix[:MAX_HEADER_BYTES]:
        if byte not in printable:
            break
        run += 1
    if run < 64 or prefix[:run].count(b"\n") < 2:
        return 0
    # a header padded with NULs to a round size is common: skip the padding too
    while run < len(prefix) and prefix[run] == 0 and run % 512:
        run += 1
    return run


def _continuity(block: np.ndarray) -> float:
    """1 - lag-1 autocorrelation, median over non-constant columns: ~0 for smooth signals,
    ~1 for white noise, larger when neighbouring rows come from different channels."""
    x = block.astype(np.float32)
    x -= x.mean(axis=0)
    variance = (x * x).mean(axis=0)
    step = np.diff(x, axis=0)
    alive = variance > 1e-12 * max(1.0, float(variance.max(initial=0.0)))
    if not alive.any():
        return float("inf")
    ratio = (step[:, alive] ** 2).mean(axis=0) / (2 * variance[alive])
    return float(np.median(ratio))


def _plausible_floats(values: np.ndarray) -> tuple[bool, str]:
    finite = np.isfinite(values)
    if finite.mean() < 0.999:
        return False, f"{100 * (1 - finite.mean()):.1f}% of values are NaN/inf as float32"
    magnitude = np.abs(values[finite])
    tiny = ((magnitude > 0) & (magnitude < 1e-30)).mean()
    if tiny > 0.01 or magnitude.max(initial=0) > 1e12:
        return False, "values span impossible magnitudes as float32"
    return True, ""


def _saturation(values: np.ndarray, dtype: np.dtype) -> float:
    info = np.iinfo(dtype)
    return float(((values == info.min) | (values == info.max)).mean())


def _read_items(handle, offset: int, dtype: np.dtype, file_size: int, where: float,
                extra: int) -> tuple[np.ndarray, int]:
    """About SAMPLE_BYTES of samples from fraction `where` of the payload, and the index
    (in samples since `offset`) of the first one."""
    items = (file_size - offset) // dtype.itemsize
    take = min(items, SAMPLE_BYTES // dtype.itemsize + extra)
    first = int((items - take) * where)
    handle.seek(offset + first * dtype.itemsize)
    return np.frombuffer(handle.read(take * dtype.itemsize), dtype=dtype), first


def _frames(items: np.ndarray, first: int, channels: int) -> np.ndarray:
    """The whole frames of `channels` within `items` (which start at sample index `first`)."""
    skip = (-first) % channels
    usable = (len(items) - skip) // channels * channels
    return items[skip: skip + usable].reshape(-1, channels)


def suggest_raw_layout(path: str, max_channels: int = 1024, top: int = 10) -> list[dict]:
    """Ranked guesses of (nb_channels, data_dtype, data_offset) for a headerless file.

    Evidence: the payload must divide into whole frames; each channel of the right layout
    is a continuous signal (neighbouring samples alike), while a wrong channel count or
    dtype interleaves unrelated values; float32 must give finite plausible values; integer
    data should not sit on the type's limits. Returns dicts with nb_channels, data_dtype,
    data_offset, score (higher is better, in [0, 1]) and evidence (a sentence), best first.
    """
    file_size = os.path.getsize(path)
    prefix = read_prefix(path, MAX_HEADER_BYTES)
    header = text_header_length(prefix)
    offsets = [0] if header == 0 else [header, 0]
    found = []
    with open(path, "rb") as handle:
        for offset in offsets:
            payload = file_size - offset
            for dtype_name in RAW_DTYPES:
                dtype = np.dtype(dtype_name).newbyteorder("<")
                if payload <= 0 or payload % dtype.itemsize:
                    continue
                found += _score_dtype(handle, offset, dtype, file_size, max_channels, header)
    _prefer_narrow_types(found)
    found.sort(key=lambda c: -c["score"])
    return found[:top]


def _prefer_narrow_types(found: list[dict]) -> None:
    """Two int16 channels read as one int32 still look smooth (the high half dominates):
    when int16 with twice the channels explains the bytes as well, int32 is the worse guess."""
    by_key = {(c["data_dtype"], c["nb_channels"], c["data_offset"]): c for c in found}
    for candidate in found:
        if candidate["data_dtype"] != "int32":
            continue
        for narrow in ("int16", "uint16"):
            twin = by_key.get((narrow, 2 * candidate["nb_channels"], candidate["data_offset"]))
            if twin and twin["score"] >= 0.9 * candidate["score"]:
                candidate["score"] = round(min(candidate["score"], twin["score"]) * 0.9, 4)
                candidate["evidence"] += f"; the same bytes read as {narrow} x {twin['nb_channels']} are as smooth"
                break


def _score_dtype(handle, offset, dtype, file_size, max_channels, header) -> list[dict]:
    payload = file_size - offset
    results = []
    probes = [_read_items(handle, offset, dtype, file_size, w, max_channels) for w in (0.25, 0.75)]
    values = probes[0][0]
    if dtype.kind == "f":
        ok, _ = _plausible_floats(values)
        if not ok:
            return []
    saturation = _saturation(values, dtype) if dtype.kind in "iu" else 0.0
    for channels in range(1, max_channels + 1):
        frame = channels * dtype.itemsize
        if payload % frame or payload // frame < 64:
            continue
        blocks = [_frames(items, first, channels) for items, first in probes]
        if min(len(b) for b in blocks) < 16:
            continue
        roughness = float(np.mean([_continuity(b) for b in blocks]))
        if not np.isfinite(roughness):
            continue
        score = 1.0 / (1.0 + 4.0 * roughness)
        score *= 1.0 - min(0.5, 5 * saturation)
        if offset and offset == header:
            score = min(1.0, score * 1.05)
        evidence = (f"{payload // frame} whole frames of {channels} x {dtype.name}"
                    f"{f' after a {offset}-byte text header' if offset else ''}; "
                    f"channel signals {'smooth' if roughness < 0.5 else 'rough'} "
                    f"(1 - lag-1 autocorrelation {roughness:.3f})")
        if saturation > 0.001:
            evidence += f"; {100 * saturation:.1f}% of samples at the type's limits"
        results.append({"nb_channels": channels, "data_dtype": dtype.name, "data_offset": int(offset),
                        "score": round(score, 4), "evidence": evidence})
    return results
