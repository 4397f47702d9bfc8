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


def rank_formats(path: str) -> list[Candidate]:
    """Formats that may read `path`, best first."""
    found = []
    for name, klass in supported_formats().items():
        candidate = None
        try:        # DataFile.sniff: the format's own look at the content, else its extension
            result = klass.sniff(path)
        except Exception:  # noqa: BLE001 - a sniffer failing means "not mine"
            result = None
        if result:
            candidate = Candidate(name, float(result[0]), result[1])
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
#
# A layout is (dtype, nb_channels, data_offset). Read with the right dtype and channel count, every
# channel is a continuous signal; the wrong ones interleave unrelated values. Reading the sample
# stream, a channel's neighbouring samples are nb_channels apart, so one autocorrelation of the
# stream screens every channel count at once; the few best are then scored column by column.
# The frames run to the end of the file, which fixes the data start modulo one frame; where in the
# first bytes the samples start (after a text or binary header) is where values stop looking like
# header bytes (out of each channel's range, or padding runs) and start looking like the data.

RAW_DTYPES = ("int16", "uint16", "float32", "int32")
PROBE_BYTES = 1 << 20           # bytes per probe block (two blocks, from the middle of the file)
SCREEN_BYTES = 1 << 18          # bytes of the first probe used by the autocorrelation screen
SCORE_BYTES = 1 << 19           # bytes of each probe scored per layout: the same for every layout, as
                                # a longer stretch of signal (more variance) would look smoother
SHORTLIST = 8                   # channel counts per dtype scored column by column after the screen
MAX_HEADER_BYTES = 1 << 16      # headers are looked for in this many leading bytes
PREFIX_BYTES = MAX_HEADER_BYTES + (1 << 14)
AMBIGUITY = 0.03                # guesses scoring within 3% of the best one make the guess ambiguous
PARTIAL_FRAME_PENALTY = 0.97    # a layout that leaves a partial last frame is a little less likely


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


def lag_roughness(values: np.ndarray, max_lag: int) -> np.ndarray:
    """Mean squared difference of the sample stream at lags 1..max_lag over twice its variance:
    index M-1 is low when the stream holds M interleaved continuous channels (or a divisor of M).
    One FFT autocorrelation gives every lag."""
    x = values.astype(np.float64)
    x -= x.mean()
    n = len(x)
    max_lag = min(max_lag, n - 1)
    size = 1 << int(2 * n - 1).bit_length()
    spectrum = np.fft.rfft(x, size)
    products = np.fft.irfft(spectrum.real ** 2 + spectrum.imag ** 2, size)[1:max_lag + 1]
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    lags = np.arange(1, max_lag + 1)
    # sum_j (x[j+M] - x[j])^2 = sum_{j>=M} x^2 + sum_{j<n-M} x^2 - 2 sum_j x[j] x[j+M]
    squares = (energy[n] - energy[lags]) + energy[n - lags] - 2 * products
    variance = energy[n] / n
    if variance <= 0:
        return np.full(max_lag, np.inf)
    return squares / (n - lags) / (2 * variance)


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


def _wraps(block: np.ndarray) -> float:
    """Fraction of steps between neighbouring samples larger than half the range of a 16- or
    8-bit type: a signed signal read as unsigned (or the reverse) jumps across the range each
    time it crosses zero, which the continuity ratio alone hardly sees."""
    if block.dtype.kind not in "iu" or block.dtype.itemsize > 2 or len(block) < 2:
        return 0.0
    steps = np.abs(np.diff(block.astype(np.int32), axis=0))
    return float((steps > 1 << (8 * block.dtype.itemsize - 1)).mean())


def _saturation(values: np.ndarray, dtype: np.dtype) -> float:
    info = np.iinfo(dtype)
    return float(((values == info.min) | (values == info.max)).mean())


class _Probe(NamedTuple):
    """Bytes read from `start` (a byte position in the file)."""

    start: int
    data: bytes

    def values(self, dtype: np.dtype, phase: int) -> tuple[np.ndarray, int]:
        """The samples whose first byte is at `phase` modulo the item size, and that first byte."""
        skip = (phase - self.start) % dtype.itemsize
        count = (len(self.data) - skip) // dtype.itemsize
        return np.frombuffer(self.data, dtype=dtype, count=count, offset=skip), self.start + skip

    def frames(self, dtype: np.dtype, align: int, channels: int, max_bytes: int = SCORE_BYTES) -> np.ndarray:
        """Whole frames of `channels` within the first `max_bytes` of this probe, frames starting at
        `align` modulo a frame."""
        values, first = self.values(dtype, align % dtype.itemsize)
        skip = (-((first - align) // dtype.itemsize)) % channels
        rows = (min(len(values), max_bytes // dtype.itemsize) - skip) // channels
        return values[skip: skip + rows * channels].reshape(rows, channels)


def _read_probes(handle, file_size: int) -> list[_Probe]:
    """Two blocks from the middle of the file, clear of any header."""
    low = min(PREFIX_BYTES, file_size // 4)
    span = max(0, file_size - low - PROBE_BYTES)
    probes = []
    for where in (0.25, 0.75):
        start = low + int(span * where)
        handle.seek(start)
        probes.append(_Probe(start, handle.read(PROBE_BYTES)))
    return probes


def _phases(file_size: int, text_end: int, itemsize: int) -> list[int]:
    """Byte phases (data start modulo the item size) worth trying: the one whole frames up to the
    end of the file give, and the one right after a text header (a partial last frame)."""
    return sorted({file_size % itemsize, text_end % itemsize})


def suggest_raw_layout(path: str, max_channels: int = 1024, top: int = 10) -> list[dict]:
    """Ranked guesses of (nb_channels, data_dtype, data_offset) for a headerless file.

    Evidence: each channel of the right layout is a continuous signal (neighbouring samples
    alike), while a wrong channel count or dtype interleaves unrelated values; float32 must
    give finite plausible values; integer data should not sit on the type's limits; the samples
    start where the header's bytes stop. Returns dicts with nb_channels, data_dtype, data_offset,
    score (higher is better, in [0, 1]), evidence (a sentence) and ambiguous (True on the best
    guesses when others score within AMBIGUITY of the best: the bytes do not decide), best first.
    """
    file_size = os.path.getsize(path)
    with open(path, "rb") as handle:
        prefix = handle.read(PREFIX_BYTES)
        probes = _read_probes(handle, file_size)
    context = _Context(file_size, prefix, text_header_length(prefix), max_channels)
    found: dict[tuple[str, int], dict] = {}
    for dtype_name in RAW_DTYPES:
        dtype = np.dtype(dtype_name).newbyteorder("<")
        for phase in _phases(file_size, context.text_end, dtype.itemsize):
            for guess in _score_dtype(context, probes, dtype, phase):
                key = (guess["data_dtype"], guess["nb_channels"])
                if key not in found or found[key]["score"] < guess["score"]:
                    found[key] = guess
    ranked = list(found.values())
    _prefer_narrow_types(ranked)
    ranked.sort(key=lambda c: -c["score"])
    _flag_ambiguous(ranked)
    return ranked[:top]


class _Context(NamedTuple):
    file_size: int
    prefix: bytes
    text_end: int
    max_channels: int


def _prefer_narrow_types(found: list[dict]) -> None:
    """Two int16 channels read as one int32 still look smooth (the high half dominates):
    when int16 with twice the channels explains the bytes as well, int32 is the worse guess."""
    by_key = {(c["data_dtype"], c["nb_channels"]): c for c in found}
    for candidate in found:
        if candidate["data_dtype"] != "int32":
            continue
        for narrow in ("int16", "uint16"):
            twin = by_key.get((narrow, 2 * candidate["nb_channels"]))
            if twin and twin["score"] >= 0.9 * candidate["score"]:
                candidate["score"] = round(min(candidate["score"], twin["score"]) * 0.9, 4)
                candidate["evidence"] += f"; the same bytes read as {narrow} x {twin['nb_channels']} are as smooth"
                break


def _flag_ambiguous(ranked: list[dict]) -> None:
    """Mark the guesses that score within AMBIGUITY of the best when there are several."""
    for candidate in ranked:
        candidate["ambiguous"] = False
    if len(ranked) < 2:
        return
    close = [c for c in ranked if c["score"] >= ranked[0]["score"] * (1 - AMBIGUITY)]
    if len(close) < 2:
        return
    for candidate in close:
        candidate["ambiguous"] = True
        candidate["evidence"] += (f"; ambiguous: {len(close) - 1} other layout(s) score within "
                                  f"{100 * AMBIGUITY:.0f}% of the best")


def _score_dtype(context: _Context, probes: list[_Probe], dtype: np.dtype, phase: int) -> list[dict]:
    values = probes[0].values(dtype, phase)[0]
    if len(values) < 64:
        return []
    if dtype.kind == "f":
        ok, _ = _plausible_floats(values)
        if not ok:
            return []
    saturation = _saturation(values, dtype) if dtype.kind in "iu" else 0.0
    screen = lag_roughness(values[:SCREEN_BYTES // dtype.itemsize], context.max_channels)
    screen = np.nan_to_num(screen, nan=np.inf)
    results = []
    for channels in (np.argsort(screen, kind="stable")[:SHORTLIST] + 1).tolist():
        guess = _score_layout(context, probes, dtype, phase, channels, saturation)
        if guess is not None:
            results.append(guess)
    return results


def _score_layout(context: _Context, probes: list[_Probe], dtype: np.dtype, phase: int,
                  channels: int, saturation: float) -> dict | None:
    frame = channels * dtype.itemsize
    if context.file_size // frame < 64:
        return None
    # whole frames up to the end of the file fix the data start modulo one frame
    align = context.file_size % frame if context.file_size % dtype.itemsize == phase else phase
    blocks = [probe.frames(dtype, align, channels) for probe in probes]
    if min(len(b) for b in blocks) < 16:
        return None
    roughness = float(np.mean([_continuity(b) for b in blocks]))
    if not np.isfinite(roughness):
        return None
    wraps = _wraps(blocks[0])
    offset, start = data_offset(context, dtype, channels, align, blocks[0])
    ignored = (context.file_size - offset) % frame
    score = 1.0 / (1.0 + 4.0 * roughness)
    score *= 1.0 - min(0.5, 5 * saturation)
    score *= 1.0 - min(0.5, 10 * wraps)
    if ignored:
        score *= PARTIAL_FRAME_PENALTY
    kind = "text " if offset and offset == context.text_end else ""
    evidence = (f"{(context.file_size - offset) // frame} whole frames of {channels} x {dtype.name}"
                f"{f' after a {offset}-byte {kind}header' if offset else ''}; "
                f"channel signals {'smooth' if roughness < 0.5 else 'rough'} "
                f"(1 - lag-1 autocorrelation {roughness:.3f})")
    if ignored:
        evidence += f"; the last {ignored} bytes are a partial frame"
    if saturation > 0.001:
        evidence += f"; {100 * saturation:.1f}% of samples at the type's limits"
    if wraps > 0.001:
        evidence += f"; {100 * wraps:.1f}% of steps wrap around the type's range"
    return {"nb_channels": channels, "data_dtype": dtype.name, "data_offset": int(offset),
            "score": round(score, 4), "evidence": evidence}


def _data_like(values: np.ndarray, channel: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Which `values` could be samples of their channel: inside the channel's range in the
    `reference` frames (widened by half of it) and not in a run of 8 identical values (padding)."""
    low, high = reference.min(axis=0).astype(np.float64), reference.max(axis=0).astype(np.float64)
    margin = 0.5 * (high - low)
    x = values.astype(np.float64)
    with np.errstate(invalid="ignore"):
        inside = (x >= (low - margin)[channel]) & (x <= (high + margin)[channel])
        if values.dtype.kind == "f":
            # text read as float32 is mostly tiny (1e-19) or huge: tiny is as foreign as huge
            # and exact zeros (NUL padding) are only samples in a channel that has some
            floor = 1e-6 * max(float((high - low).max(initial=0.0)), 1e-30)
            zeros = (reference == 0).any(axis=0)[channel]
            inside &= np.where(x == 0, zeros, np.abs(x) >= floor)
    same = values[1:] == values[:-1]
    if len(same) >= 7:
        runs = np.convolve(same.astype(np.int8), np.ones(7, np.int8), mode="valid") == 7
        padding = np.zeros(len(values), bool)
        for shift in range(8):
            padding[shift: shift + len(runs)] |= runs
        inside &= ~padding
    return inside


def data_offset(context: _Context, dtype: np.dtype, channels: int, align: int,
                reference: np.ndarray) -> tuple[int, int]:
    """(data_offset, byte where the samples appear to start) for this layout.

    The start is the split of the first bytes into a header (values unlike the data) and samples
    (values like `reference`) that misclassifies the fewest values; the offset is the data start
    nearest to it that leaves whole frames to the end of the file (the text header's end first),
    or the apparent start itself when no such offset is near (a partial last frame)."""
    itemsize, frame = dtype.itemsize, channels * dtype.itemsize
    phase = align % itemsize
    start = _apparent_start(context.prefix, dtype, channels, align, reference)
    text_end = context.text_end
    if align % frame == context.file_size % frame:
        if text_end and (text_end - align) % frame == 0 and abs(text_end - start) <= 64:
            return text_end, start     # header padding may look like samples: the text's end decides
        nearest = align % frame + round((start - align % frame) / frame) * frame
        options = [o for o in (nearest - frame, nearest, nearest + frame) if 0 <= o <= MAX_HEADER_BYTES]
        best = min(options, key=lambda o: (abs(o - start), -_roundness(o)), default=None)
        if best is not None and abs(best - start) <= max(16, 8 * itemsize):
            return best, start
    return _natural_start(start, text_end, itemsize), start


def _apparent_start(prefix: bytes, dtype: np.dtype, channels: int, align: int,
                    reference: np.ndarray) -> int:
    """The byte that splits `prefix` into header values (unlike the data) then samples (like
    `reference`, frames at `align`) with the fewest values on the wrong side."""
    itemsize = dtype.itemsize
    phase = align % itemsize
    count = (len(prefix) - phase) // itemsize
    values = np.frombuffer(prefix, dtype=dtype, count=count, offset=phase)
    channel = (np.arange(count) + (phase - align) // itemsize) % channels
    good = _data_like(values, channel, reference)
    seen_good = np.concatenate([[0], np.cumsum(good)])
    seen_bad = np.arange(count + 1) - seen_good
    wrong_side = seen_good + (seen_bad[-1] - seen_bad)
    limit = min(count, MAX_HEADER_BYTES // itemsize) + 1
    return phase + int(np.argmin(wrong_side[:limit])) * itemsize


def _roundness(offset: int) -> int:
    """How round a byte count is (trailing zero bits), for headers padded to a round size."""
    return (offset & -offset).bit_length() if offset else 64


def _natural_start(start: int, text_end: int, itemsize: int) -> int:
    """A data start when no offset leaves whole frames: the text header's end when near."""
    if text_end and abs(text_end - start) <= 2 * itemsize and (text_end - start) % itemsize == 0:
        return text_end
    return start


def explain_remainder(path: str, offset: int, dtype: np.dtype, nb_channels: int) -> str:
    """Why bytes left after the last whole frame of this layout mean the layout is wrong, not a
    partial last frame: a text header not skipped, or another channel count that divides evenly
    and reads as continuous signals where `nb_channels` does not. "" when nothing says so."""
    file_size = os.path.getsize(path)
    frame = nb_channels * dtype.itemsize
    with open(path, "rb") as handle:
        prefix = handle.read(PREFIX_BYTES)
        header = text_header_length(prefix)
        if header > offset and (file_size - header) % frame == 0:
            return f"the file starts with a {header}-byte text header: set data_offset={header}"
        probe = _read_probes(handle, file_size)[0]
    payload = file_size - offset
    given_block = probe.frames(dtype, offset, nb_channels)
    if len(given_block) < 16:
        return ""                      # too few frames to judge the signals
    given = _continuity(given_block)
    better = []
    for count in range(1, 1025):
        if count != nb_channels and payload % (count * dtype.itemsize) == 0:
            block = probe.frames(dtype, offset, count)
            if len(block) >= 16:
                better.append((_continuity(block), count))
    if not better or not np.isfinite(given):
        return ""
    # the right layout is the smoothest reading of extracellular data (what suggest_raw_layout
    # relies on); a count that divides evenly and reads clearly smoother says the given one is wrong
    roughness, count = min(better)
    if roughness < 0.8 * given:
        return (f"the bytes read as continuous signals with nb_channels={count} (1 - lag-1 "
                f"autocorrelation {roughness:.2f}, {given:.2f} with {nb_channels})")
    return ""
