"""A multi-resolution min/max summary of a recording, for zoomed-far-out views.

Level k holds, per channel, the min and max of bins of ``base_bin * 8**k``
samples, channel-major: an array (2, channels, bins) whose [0] is the minima and
[1] the maxima. The finest bin is chosen so the finest level holds at most 1/64 of
the data's bytes (all levels together about 1/56). An integer source of up to 16
bits is summarised as stored (int16/uint16) and scaled to physical units when read,
with the per-channel offsets and gains kept beside the levels; other sources are
summarised as float32 physical values.

It is built once in the background, one bounded block at a time: each block is
reduced to the finest bins, every coarser level is reduced from the one below as
bins arrive, and bins reach the files through plain positioned writes, so resident
memory stays at a few blocks whatever the recording's length. It is kept in the user
cache folder under a key made of the files' identity (path, size, mtime) and the
format params, so reopening a recording reuses it. The folder has a size budget
(`summary_budget`): after each build the least recently used summaries of other
recordings are removed until the total fits; using a summary marks it as used.

The summary is of the unfiltered data: a view that shows it with a display
filter on says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from app.io.remote import is_url, remote_identity
from app.model.decimate import minmax_columns

OVERVIEW_VERSION = 2
LEVEL_FACTOR = 8            # bins of level k + 1 are this many bins of level k
DATA_RATIO = 64             # the finest level holds at most 1/DATA_RATIO of the data's bytes
SMALLEST_LEVEL = 1024       # no coarser level once one would have fewer bins than this
DEFAULT_BUDGET = 2 << 30    # bytes of summaries kept in the cache folder, all recordings together
BUDGET_ENV = "WAVESCOPE_SUMMARY_BUDGET"
_READ_BYTES = 16 << 20      # raw bytes read per block while building
_FLUSH_BYTES = 8 << 20      # bins buffered per level before they are written
_STALE_PARTIAL_S = 24 * 3600

log = logging.getLogger("wavescope")
_in_use: dict[str, int] = {}        # summary folders open in this process -> count (never evicted)
_in_use_lock = threading.Lock()


def cache_root() -> Path:
    import platformdirs
    return Path(platformdirs.user_cache_dir("wavescope")) / "overview"


def summary_budget() -> int:
    """The cache folder's budget in bytes: $WAVESCOPE_SUMMARY_BUDGET (e.g. ``500M``, ``4G``,
    or plain bytes) or 2 GiB."""
    text = os.environ.get(BUDGET_ENV, "").strip().upper().removesuffix("B")
    if not text:
        return DEFAULT_BUDGET
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(text[-1], 1)
    try:
        return int(float(text.rstrip("KMGT")) * scale)
    except ValueError:
        log.warning("%s=%r is not a size such as 2G or 500M; using 2G", BUDGET_ENV, os.environ[BUDGET_ENV])
        return DEFAULT_BUDGET


def storage_dtype(datafile) -> np.dtype | None:
    """int16/uint16 when the source is an integer of up to 16 bits with raw access, else None
    (the summary then holds float32 physical values)."""
    raw = np.dtype(datafile.data_dtype)
    if raw.kind not in "iu" or raw.itemsize > 2:
        return None
    if datafile.duration and datafile.read_range_raw(0, 1) is None:
        return None
    return np.dtype(np.uint16 if raw == np.uint16 else np.int16)


def base_bin_for(source_itemsize: int, stored_itemsize: int) -> int:
    """The finest bin (a power of two, at least 64 samples) whose level is at most
    1/DATA_RATIO of the data: 2 values of `stored_itemsize` per bin of `source_itemsize` samples."""
    size = 64
    while 2 * stored_itemsize * DATA_RATIO > size * source_itemsize:
        size *= 2
    return size


def level_sizes(duration: int, base_bin: int) -> list[int]:
    """Bin sizes of the levels: base_bin, then x8 while a level keeps SMALLEST_LEVEL bins."""
    sizes, n_bins = [base_bin], max(-(-duration // base_bin), 1)
    while -(-n_bins // LEVEL_FACTOR) >= SMALLEST_LEVEL:
        n_bins = -(-n_bins // LEVEL_FACTOR)
        sizes.append(sizes[-1] * LEVEL_FACTOR)
    return sizes


def overview_key(datafile) -> str:
    """A digest of what makes the summary valid: each part's path, size and mtime, the params."""
    parts = []
    for stream in datafile.streams:
        if is_url(stream.file_name):
            parts.append([stream.file_name, *remote_identity(stream.file_name)])
            continue
        stat = os.stat(stream.file_name)
        parts.append([os.path.abspath(stream.file_name), stat.st_size, stat.st_mtime_ns])
    identity = {"version": OVERVIEW_VERSION, "factor": LEVEL_FACTOR, "ratio": DATA_RATIO, "parts": parts,
                "description": {k: str(v) for k, v in sorted(datafile.get_description().items())}}
    return hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


def overview_folder(datafile, root: str | os.PathLike | None = None) -> Path:
    return Path(root or cache_root()) / overview_key(datafile)


class Overview:
    """The levels of a finished summary, memory-mapped from the cache folder.

    `offsets`/`gains` (per channel, float32) turn stored integer bins into physical
    values; both are None when the levels already hold float32 physical values.
    """

    def __init__(self, folder: Path, levels: list[tuple[int, np.ndarray]], duration: int,
                 offsets: np.ndarray | None = None, gains: np.ndarray | None = None):
        self.folder = folder
        self.levels = levels
        self.duration = duration
        self.offsets = offsets
        self.gains = gains
        _mark_in_use(folder)
        weakref.finalize(self, _release, os.path.abspath(folder))

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Overview | None:
        """The summary in `folder`, or None when it is absent, incomplete or of an older version;
        loading marks it as recently used."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "meta.json").read_text())
            if meta.get("version") != OVERVIEW_VERSION:
                return None
            levels = [(int(size), np.load(folder / f"level_{size}.npy", mmap_mode="r"))
                      for size in meta["bin_sizes"]]
        except (OSError, ValueError, KeyError):
            return None
        touch(folder)
        scale = [None if meta.get(key) is None else np.asarray(meta[key], dtype=np.float32)
                 for key in ("offsets", "gains")]
        return cls(folder, levels, int(meta["duration"]), *scale)

    @property
    def base_bin(self) -> int:
        return self.levels[0][0]

    def level_for(self, spc: float) -> tuple[int, np.ndarray] | None:
        """The coarsest level whose bins are no wider than a column, or None if columns are too narrow."""
        chosen = None
        for size, array in self.levels:
            if size <= spc:
                chosen = (size, array)
        return chosen

    def columns(self, edges: np.ndarray, channels: Sequence[int] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Per-column (min, max) in physical units, (channels, columns), for timeline sample `edges`.

        Column boundaries snap down to bin boundaries: an error under one column.
        """
        edges = np.asarray(edges, dtype=np.int64)
        level = self.level_for(float(edges[-1] - edges[0]) / max(len(edges) - 1, 1))
        if level is None:
            raise ValueError("columns narrower than the summary's finest bins; read raw samples")
        size, array = level
        bins = np.clip(edges // size, 0, array.shape[2])
        first, last = int(bins[0]), int(bins[-1])
        rows = slice(None) if channels is None else np.asarray(channels, dtype=np.intp)
        if channels is not None and np.array_equal(rows, np.arange(array.shape[1])):
            rows = slice(None)                      # a slice of the memmap, not a fancy-index gather
        minima = np.ascontiguousarray(array[0][rows, first:last])
        maxima = np.ascontiguousarray(array[1][rows, first:last])
        lo, hi = minmax_columns(minima, bins - first, maxima)
        return self._physical(lo, hi, rows)

    def _physical(self, lo: np.ndarray, hi: np.ndarray, rows) -> tuple[np.ndarray, np.ndarray]:
        """Stored values -> physical ones, (raw - offset) * gain in float32 like the readers;
        a negative gain swaps min and max."""
        lo, hi = lo.astype(np.float32, copy=False), hi.astype(np.float32, copy=False)
        if self.gains is None:
            return lo, hi
        offsets, gains = self.offsets[rows][:, None], self.gains[rows][:, None]
        lo, hi = (lo - offsets) * gains, (hi - offsets) * gains
        return np.minimum(lo, hi), np.maximum(lo, hi)


def build_overview(datafile, folder: str | os.PathLike, chunk_size: int | None = None,
                   progress: Callable[[float], None] | None = None,
                   cancel: threading.Event | None = None,
                   read_lock: threading.Lock | None = None,
                   budget: int | None = None) -> Overview | None:
    """Compute the summary of `datafile` into `folder`; reuse a finished one.

    Returns None when cancelled (nothing half-written is left behind). `read_lock`
    serialises reads with other users of the same DataFile. Once built, older
    summaries beside `folder` are evicted to fit `budget` (default `summary_budget()`).
    `chunk_size` is accepted for callers that pass their read size; blocks are sized here.
    """
    folder = Path(folder)
    done = Overview.load(folder)
    if done is not None:
        return done
    scratch = folder.with_name(folder.name + ".partial")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        meta = _write_levels(datafile, scratch, progress, cancel, read_lock)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    if meta is None:
        shutil.rmtree(scratch, ignore_errors=True)
        return None
    meta["key"] = folder.name
    (scratch / "meta.json").write_text(json.dumps(meta))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(scratch, folder)
    result = Overview.load(folder)
    evict(folder.parent, summary_budget() if budget is None else budget, keep={folder.name})
    return result


def _write_levels(datafile, scratch: Path, progress, cancel, read_lock) -> dict | None:
    duration, n_channels = int(datafile.duration), int(datafile.nb_channels)
    stored = storage_dtype(datafile)
    raw = stored is not None
    stored = stored or np.dtype(np.float32)
    source_itemsize = np.dtype(datafile.data_dtype).itemsize
    sizes = level_sizes(duration, base_bin_for(source_itemsize, stored.itemsize))
    chain = None
    for size in reversed(sizes):
        chain = _LevelWriter(scratch / f"level_{size}.npy", stored, n_channels,
                             max(-(-duration // size), 1), chain)
    block = max(_READ_BYTES // max(n_channels * max(source_itemsize, 4), 1) // sizes[0], 1) * sizes[0]
    try:
        for start in range(0, duration, block):
            if cancel is not None and cancel.is_set():
                return None
            stop = min(start + block, duration)
            with read_lock or contextlib.nullcontext():
                data = datafile.read_range_raw(start, stop) if raw else datafile.read_range(start, stop)
            chain.push(np.stack(bin_minmax(data, sizes[0])))
            if progress is not None:
                progress(stop / (duration + block))
        if duration == 0:
            chain.push(np.zeros((2, n_channels, 1), dtype=stored))
        chain.finish()
    finally:
        chain.close()
    if progress is not None:
        progress(1.0)
    scale = {"offsets": None, "gains": None}
    if raw:
        scale = {"offsets": datafile.channel_offsets.tolist(), "gains": datafile.channel_gains.tolist()}
    return {"version": OVERVIEW_VERSION, "duration": duration, "nb_channels": n_channels, "bin_sizes": sizes,
            "dtype": stored.str, "data_bytes": duration * n_channels * source_itemsize, **scale}


class _LevelWriter:
    """One level's .npy file, filled in order as bins arrive; reduces them for the next level.

    Bins reach the file by seek + write, not through a memory map: written pages
    belong to the page cache, not to this process, so the build's resident memory
    is the few bins buffered here, not the level.
    """

    def __init__(self, path: Path, dtype: np.dtype, n_channels: int, n_bins: int,
                 child: _LevelWriter | None):
        header = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(2, n_channels, n_bins))
        self.offset = int(header.offset)
        del header
        self.handle = open(path, "r+b")
        self.dtype, self.n_channels, self.n_bins, self.child = dtype, n_channels, n_bins, child
        self.written = 0
        self.pending: list[np.ndarray] = []
        self.pending_bytes = 0
        self.carry: np.ndarray | None = None

    def push(self, bins: np.ndarray) -> None:
        """Append (2, channels, k) bins: [0] minima, [1] maxima."""
        self.pending.append(bins)
        self.pending_bytes += bins.nbytes
        if self.pending_bytes >= _FLUSH_BYTES:
            self._flush()
        if self.child is None:
            return
        joined = bins if self.carry is None else np.concatenate([self.carry, bins], axis=2)
        whole = joined.shape[2] // LEVEL_FACTOR * LEVEL_FACTOR
        if whole:
            self.child.push(reduce_bins(joined[:, :, :whole], LEVEL_FACTOR))
        self.carry = joined[:, :, whole:].copy()

    def finish(self) -> None:
        """Write what is buffered; a last partial group of bins makes the child's last bin."""
        self._flush()
        if self.written != self.n_bins:
            raise ValueError(f"{self.handle.name}: summary has {self.written} bins, expected {self.n_bins}")
        if self.child is not None:
            if self.carry is not None and self.carry.shape[2]:
                self.child.push(reduce_bins(self.carry, self.carry.shape[2]))
            self.child.finish()

    def close(self) -> None:
        self.handle.close()
        if self.child is not None:
            self.child.close()

    def _flush(self) -> None:
        if not self.pending:
            return
        block = np.concatenate(self.pending, axis=2).astype(self.dtype, copy=False)
        self.pending, self.pending_bytes = [], 0
        count, itemsize = block.shape[2], self.dtype.itemsize
        for half in range(2):
            for channel in range(self.n_channels):
                row = (half * self.n_channels + channel) * self.n_bins + self.written
                self.handle.seek(self.offset + row * itemsize)
                self.handle.write(np.ascontiguousarray(block[half, channel]).tobytes())
        self.written += count


def reduce_bins(bins: np.ndarray, factor: int) -> np.ndarray:
    """(2, channels, n) bins -> (2, channels, n // factor): min of minima, max of maxima."""
    n = bins.shape[2] // factor * factor
    groups = bins[:, :, :n].reshape(2, bins.shape[1], n // factor, factor)
    return np.stack([groups[0].min(axis=2), groups[1].max(axis=2)])


def bin_minmax(data: np.ndarray, bin_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of consecutive `bin_size`-sample bins of time-major `data` (time, channels),
    channel-major out (channels, bins); a last partial bin counts."""
    n_full = data.shape[0] // bin_size
    body = data[:n_full * bin_size].reshape(n_full, bin_size, data.shape[1])
    minima, maxima = body.min(axis=1), body.max(axis=1)
    if data.shape[0] > n_full * bin_size:
        tail = data[n_full * bin_size:]
        minima = np.vstack([minima, tail.min(axis=0, keepdims=True)])
        maxima = np.vstack([maxima, tail.max(axis=0, keepdims=True)])
    return np.ascontiguousarray(minima.T), np.ascontiguousarray(maxima.T)


# -- the cache folder's budget ----------------------------------------------------------------------
def touch(folder: str | os.PathLike) -> None:
    """Mark a summary as used now (eviction removes the least recently used first)."""
    try:
        os.utime(Path(folder) / "meta.json")
    except OSError:
        pass


def _mark_in_use(folder: Path) -> None:
    name = os.path.abspath(folder)
    with _in_use_lock:
        _in_use[name] = _in_use.get(name, 0) + 1


def _release(folder: str) -> None:
    with _in_use_lock:
        count = _in_use.get(folder, 0) - 1
        if count > 0:
            _in_use[folder] = count
        else:
            _in_use.pop(folder, None)


def folder_bytes(folder: Path) -> int:
    return sum(entry.stat().st_size for entry in folder.iterdir() if entry.is_file())


def cached_summaries(root: str | os.PathLike) -> list[tuple[float, int, Path]]:
    """(last used, bytes, folder) of the finished summaries under `root`, least recently used first."""
    found = []
    root = Path(root)
    if not root.is_dir():
        return found
    for folder in root.iterdir():
        try:
            if folder.is_dir() and not folder.name.endswith(".partial"):
                used = (folder / "meta.json").stat().st_mtime if (folder / "meta.json").exists() else 0.0
                found.append((used, folder_bytes(folder), folder))
        except OSError:
            continue
    return sorted(found, key=lambda item: item[0])


def evict(root: str | os.PathLike, budget: int, keep: set[str] = frozenset()) -> list[Path]:
    """Remove whole summaries, least recently used first, until those under `root` fit `budget`.

    Never removes one named in `keep`, one open in this process, or a build in progress;
    partial folders left by a crashed build are removed after a day. Returns what was removed.
    """
    removed = []
    summaries = cached_summaries(root)
    total = sum(size for _, size, _ in summaries)
    with _in_use_lock:
        busy = set(_in_use)
    for _, size, folder in summaries:
        if total <= budget:
            break
        if folder.name in keep or os.path.abspath(folder) in busy:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
            total -= size
            log.info("summary cache over %d bytes: removed %s (%d bytes)", budget, folder, size)
    for partial in Path(root).glob("*.partial"):
        try:
            if time.time() - partial.stat().st_mtime > _STALE_PARTIAL_S:
                shutil.rmtree(partial, ignore_errors=True)
        except OSError:
            continue
    return removed
