"""A multi-resolution min/max summary of a recording, for zoomed-far-out views.

Level k holds, per channel, the min and max of bins of ``BASE_BIN * 2**k``
samples, channel-major: an array (2, channels, bins) whose [0] is the minima and
[1] the maxima. It is built once in the background, chunk by chunk, and kept in
the user cache directory under a key made of the files' identity (path, size,
mtime) and the format params, so reopening a recording reuses it.

The summary is of the unfiltered data: a view that shows it with a display
filter on says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from app.model.decimate import minmax_columns

OVERVIEW_VERSION = 1
BASE_BIN = 64               # samples per bin of the finest level
SMALLEST_LEVEL = 1024       # stop halving once a level has fewer bins than this
_BLOCK_BINS = 1 << 16       # bins per step when halving a level (bounds memory)


def cache_root() -> Path:
    import platformdirs
    return Path(platformdirs.user_cache_dir("wavescope")) / "overview"


def overview_key(datafile) -> str:
    """A digest of what makes the summary valid: each part's path, size and mtime, the params."""
    parts = []
    for stream in datafile.streams:
        stat = os.stat(stream.file_name)
        parts.append([os.path.abspath(stream.file_name), stat.st_size, stat.st_mtime_ns])
    identity = {"version": OVERVIEW_VERSION, "base_bin": BASE_BIN, "parts": parts,
                "description": {k: str(v) for k, v in sorted(datafile.get_description().items())}}
    return hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


def overview_folder(datafile, root: str | os.PathLike | None = None) -> Path:
    return Path(root or cache_root()) / overview_key(datafile)


class Overview:
    """The levels of a finished summary, memory-mapped from the cache folder."""

    def __init__(self, folder: Path, levels: list[tuple[int, np.ndarray]], duration: int):
        self.folder = folder
        self.levels = levels
        self.duration = duration

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Overview | None:
        """The summary in `folder`, or None when it is absent or incomplete."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "meta.json").read_text())
            levels = [(int(size), np.load(folder / f"level_{size}.npy", mmap_mode="r"))
                      for size in meta["bin_sizes"]]
        except (OSError, ValueError, KeyError):
            return None
        return cls(folder, levels, int(meta["duration"]))

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
        """Per-column (min, max), (channels, columns), for timeline sample `edges`.

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
        return minmax_columns(minima, bins - first, maxima)


def build_overview(datafile, folder: str | os.PathLike, chunk_size: int,
                   progress: Callable[[float], None] | None = None,
                   cancel: threading.Event | None = None,
                   read_lock: threading.Lock | None = None) -> Overview | None:
    """Compute the summary of `datafile` into `folder`, chunk by chunk; reuse a finished one.

    Returns None when cancelled (nothing half-written is left behind). `read_lock`
    serialises reads with other users of the same DataFile.
    """
    folder = Path(folder)
    done = Overview.load(folder)
    if done is not None:
        return done
    if chunk_size % BASE_BIN:
        raise ValueError(f"chunk_size {chunk_size} must be a multiple of {BASE_BIN}")
    scratch = folder.with_name(folder.name + ".partial")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        sizes = _write_levels(datafile, scratch, chunk_size, progress, cancel, read_lock)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    if sizes is None:
        shutil.rmtree(scratch, ignore_errors=True)
        return None
    meta = {"duration": int(datafile.duration), "nb_channels": int(datafile.nb_channels),
            "bin_sizes": sizes, "key": folder.name}
    (scratch / "meta.json").write_text(json.dumps(meta))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(scratch, folder)
    return Overview.load(folder)


def _write_levels(datafile, scratch: Path, chunk_size: int, progress, cancel, read_lock) -> list[int] | None:
    duration, n_channels = int(datafile.duration), int(datafile.nb_channels)
    n_bins = max(-(-duration // BASE_BIN), 1)
    base = np.lib.format.open_memmap(scratch / f"level_{BASE_BIN}.npy", mode="w+",
                                     dtype=np.float32, shape=(2, n_channels, n_bins))
    n_chunks = -(-duration // chunk_size)
    for index in range(n_chunks):
        if cancel is not None and cancel.is_set():
            return None
        if read_lock is not None:
            with read_lock:
                data, _ = datafile.get_data(index, chunk_size)
        else:
            data, _ = datafile.get_data(index, chunk_size)
        minima, maxima = bin_minmax(data, BASE_BIN)
        first = index * chunk_size // BASE_BIN
        base[0, :, first:first + minima.shape[1]] = minima
        base[1, :, first:first + maxima.shape[1]] = maxima
        if progress is not None:
            progress((index + 1) / (n_chunks + 1))
    base.flush()
    sizes = [BASE_BIN]
    level = base
    while level.shape[2] >= 2 * SMALLEST_LEVEL:
        if cancel is not None and cancel.is_set():
            return None
        level = _halve(level, scratch / f"level_{sizes[-1] * 2}.npy")
        sizes.append(sizes[-1] * 2)
    del base, level
    if progress is not None:
        progress(1.0)
    return sizes


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


def _halve(level: np.ndarray, path: Path) -> np.ndarray:
    """The next level: bins twice as wide (pairs merged; an odd last bin stays alone)."""
    n_bins = level.shape[2]
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                    shape=(2, level.shape[1], -(-n_bins // 2)))
    for start in range(0, n_bins, _BLOCK_BINS):
        block = np.asarray(level[:, :, start:start + _BLOCK_BINS])
        if block.shape[2] % 2:
            block = np.concatenate([block, block[:, :, -1:]], axis=2)
        target = slice(start // 2, start // 2 + block.shape[2] // 2)
        out[0, :, target] = np.minimum(block[0, :, 0::2], block[0, :, 1::2])
        out[1, :, target] = np.maximum(block[1, :, 0::2], block[1, :, 1::2])
    out.flush()
    return out
