"""TraceSource: what the trace view asks for, computed off the GUI thread.

The view asks "channels C, samples [t0, t1), N screen columns, filter/CAR on or
off" and gets a Future of a `TraceFrame`: per-column min/max (or interpolated
samples when zoomed in) ready to rasterise. Behind it:

- reads on a fixed grid of chunks through ``datafile.get_data(idx, chunk_size,
  padding)``; the padding absorbs the display filter's edges and is trimmed;
- a byte-bounded LRU cache of chunks (time-major float32, as read) and of their
  per-column min/max on the current zoom's column grid;
- background prefetch of the chunks in the scroll direction, stale requests
  cancelled;
- the multi-resolution summary (`overview.py`) for windows too wide to read raw.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from app.io import filters
from app.io.errors import DataFileError
from app.model.decimate import (
    column_edges,
    columns_covering,
    interpolate_columns,
    minmax_rows,
    robust_std,
)
from app.model.overview import Overview, build_overview, overview_folder

DEFAULT_CUTOFF = 300.0
FILTER_ORDER = filters.FILTER_ORDER
CHUNK_BYTES = 12 << 20
NOISE_SAMPLES = 4096        # samples per channel the auto-scale's noise estimate looks at


def default_chunk_size(nb_channels: int) -> int:
    """A power of two of samples so a chunk of all channels as float32 is about 12 MB."""
    samples = CHUNK_BYTES // (4 * max(int(nb_channels), 1))
    return int(min(max(1 << max(int(samples).bit_length() - 1, 0), 1024), 1 << 16))


def filter_padding(sampling_rate: float, cutoff: float) -> int:
    """Samples read on each side of a chunk so the display high-pass has no edge effects:
    the padding of the one high-pass (app.io.filters), the same as a conversion's."""
    return filters.padding(filters.highpass_sos(cutoff, sampling_rate))


def highpass(data: np.ndarray, sampling_rate: float, cutoff: float, axis: int = -1) -> np.ndarray:
    """Zero-phase Butterworth high-pass (app.io.filters), float32 out."""
    return filters.apply(data, filters.highpass_sos(cutoff, sampling_rate), axis=axis)


def common_median_reference(data: np.ndarray, axis: int = 0) -> np.ndarray:
    """`data` minus, at each sample, the median across its channels (along `axis`)."""
    return (data - np.median(data, axis=axis, keepdims=True)).astype(np.float32)


def stable_spc(spc: float) -> float:
    """`spc` rounded to 12 significant digits: a window of the same width at another `t0`
    gives (t0 + width) - t0 a few ulps off, and the column grid must not change with it."""
    return float(f"{spc:.12g}")


class ChunkCache:
    """LRU of numpy arrays bounded by their total size in bytes (thread-safe)."""

    def __init__(self, budget_bytes: int):
        self.budget = int(budget_bytes)
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def get(self, key: Hashable) -> np.ndarray | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: np.ndarray) -> None:
        """Store `value`, evicting the least recently used; an item over the whole budget is not kept."""
        if value.nbytes > self.budget:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._items[key] = value
            self._bytes += value.nbytes
            while self._bytes > self.budget:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= evicted.nbytes

    def discard(self, key: Hashable) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes

    def key_list(self) -> list[Hashable]:
        """A snapshot of the keys, least recently used first."""
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


@dataclass
class TraceFrame:
    """What one screen of traces needs: per-column value intervals of the shown channels.

    `lo`/`hi` are (channels, columns) in the data's units; column k covers timeline
    samples [edges[k], edges[k+1]). In ``samples`` mode (zoomed in) `samples` holds
    the raw block (channels, n) starting at `sample_start` and lo == hi are the
    values interpolated at column centres.
    """

    request_id: int
    first_column: int
    spc: float
    edges: np.ndarray
    channels: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    mode: str
    filter_on: bool
    car_on: bool
    samples: np.ndarray | None = None
    sample_start: int = 0
    approximate: bool = False
    noise: np.ndarray | None = None
    reused_columns: int = 0
    chunks: list[int] = field(default_factory=list)

    @property
    def t0(self) -> int:
        return int(self.edges[0])

    @property
    def t1(self) -> int:
        return int(self.edges[-1])

    @property
    def n_columns(self) -> int:
        return self.lo.shape[1]


@dataclass
class _Request:
    request_id: int
    first_column: int
    spc: float
    n_columns: int
    channels: np.ndarray
    cutoff: float | None
    car: bool
    want_noise: bool
    direction: int


class TraceSource:
    """Serves `TraceFrame`s of one DataFile from a chunk cache fed by background reads."""

    def __init__(self, datafile, cache_bytes: int = 1 << 30, chunk_size: int | None = None,
                 cutoff: float = DEFAULT_CUTOFF, prefetch_windows: float = 1.0, io_workers: int = 2,
                 overview_root: str | None = None):
        self.datafile = datafile
        datafile.open()
        self.nb_channels = int(datafile.nb_channels)
        self.sampling_rate = float(datafile.sampling_rate)
        self.duration = int(datafile.duration)
        self.chunk_size = int(chunk_size or default_chunk_size(self.nb_channels))
        self.cutoff = float(cutoff)
        self.prefetch_windows = float(prefetch_windows)
        self.cache = ChunkCache(cache_bytes)
        self.overview: Overview | None = None
        self.overview_progress = 0.0
        self._overview_root = overview_root
        self._overview_cancel = threading.Event()
        self._overview_thread: threading.Thread | None = None
        self._read_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._inflight: dict[Hashable, Future] = {}
        self._prefetching: list[Future] = []
        self._latest = 0
        self._last_first_column: int | None = None
        self._columns: dict = {}
        self._io = ThreadPoolExecutor(max(io_workers, 1), thread_name_prefix="wavescope-read")
        self._frames = ThreadPoolExecutor(1, thread_name_prefix="wavescope-frame")
        self._load_existing_overview()

    @property
    def read_lock(self) -> threading.Lock:
        """The lock every read of the DataFile takes; other readers of it (peri-event) share it."""
        return self._read_lock

    @property
    def latest_request(self) -> int:
        """The id of the newest `request`: frames with another id are stale."""
        return self._latest

    def is_latest(self, frame: TraceFrame) -> bool:
        """Whether `frame` answers the newest request (older ones are dropped by the view)."""
        return frame.request_id == self._latest

    def set_cutoff(self, cutoff: float) -> None:
        """A new display high-pass cutoff; column summaries of the old one are forgotten
        (filtered chunks are cached per cutoff)."""
        if float(cutoff) != self.cutoff:
            self.cutoff = float(cutoff)
            self.forget_columns()

    def filter_applies(self) -> bool:
        """Whether the display high-pass can be designed here: its cut-off below the Nyquist
        frequency (a 256 Hz EEG channel cannot be high-passed at 300 Hz); when it cannot, frames
        are drawn unfiltered and the view says why."""
        return 0 < self.cutoff < self.sampling_rate / 2

    def forget_columns(self) -> None:
        """Drop the per-column summaries of the last frame, so the next one recomputes them."""
        self._columns = {}

    @property
    def n_chunks(self) -> int:
        return max(-(-self.duration // self.chunk_size), 0)

    def padding(self, filter_on: bool) -> tuple[int, int]:
        """The padding every chunk read uses in this display-filter state."""
        if not (filter_on and self.filter_applies()):
            return (0, 0)
        pad = filter_padding(self.sampling_rate, self.cutoff)
        return (-pad, pad)

    # -- chunks -----------------------------------------------------------------------------------
    def chunk(self, index: int, filter_on: bool = False) -> np.ndarray:
        """Chunk `index` of all channels indexed channel-major (a transposed view of the cached
        time-major block), float32, display-filtered when asked."""
        return self._chunk_rows(index, filter_on).T

    def _chunk_rows(self, index: int, filter_on: bool) -> np.ndarray:
        """Chunk `index` time-major (samples, channels): as read, and what column summaries want."""
        filter_on = filter_on and self.filter_applies()
        key = ("chunk", index, self.cutoff if filter_on else None)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        return self._shared(key, lambda: self._read_chunk(index, filter_on))

    def _car_chunk(self, index: int, filter_on: bool, channels: np.ndarray) -> np.ndarray:
        return self._car_rows(index, filter_on, channels).T

    def _car_rows(self, index: int, filter_on: bool, channels: np.ndarray) -> np.ndarray:
        filter_on = filter_on and self.filter_applies()
        key = ("car", index, self.cutoff if filter_on else None, channels.tobytes())
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        return self._shared(key, lambda: common_median_reference(
            self._chunk_rows(index, filter_on)[:, channels], axis=1))

    def _shared(self, key: Hashable, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """Compute `key` once even when the frame thread and a prefetch want it together."""
        with self._state_lock:
            running = self._inflight.get(key)
            mine = running is None
            if mine:
                running = Future()
                running.set_running_or_notify_cancel()
                self._inflight[key] = running
        if not mine:
            return running.result()
        try:
            value = compute()
            self.cache.put(key, value)
            running.set_result(value)
            return value
        except BaseException as error:
            running.set_exception(error)
            raise
        finally:
            with self._state_lock:
                self._inflight.pop(key, None)

    def _read_chunk(self, index: int, filter_on: bool) -> np.ndarray:
        padding = self.padding(filter_on)
        with self._read_lock:
            data, _ = self.datafile.get_data(index, self.chunk_size, padding)
        start = index * self.chunk_size
        head = start - max(start + padding[0], 0)
        length = min(start + self.chunk_size, self.duration) - start
        block = np.asarray(data, dtype=np.float32)
        if filter_on:
            block = highpass(block, self.sampling_rate, self.cutoff, axis=0)
        return np.ascontiguousarray(block[head:head + length])

    def cached_value(self, sample: int, channel: int, filter_on: bool = False) -> float | None:
        """The value at timeline `sample` if its chunk is cached (never reads: safe on the GUI thread)."""
        if not 0 <= sample < self.duration:
            return None
        filter_on = filter_on and self.filter_applies()
        block = self.cache.get(("chunk", sample // self.chunk_size, self.cutoff if filter_on else None))
        return None if block is None else float(block[sample % self.chunk_size, channel])

    # -- frames -----------------------------------------------------------------------------------
    def request(self, t0: float, t1: float, channels: Sequence[int], n_columns: int,
                filter_on: bool = False, car_on: bool = False,
                callback: Callable[[TraceFrame | None], None] | None = None,
                want_noise: bool = False) -> Future:
        """Ask for timeline samples [t0, t1) of `channels` on `n_columns` columns.

        The window snaps to the absolute column grid. The Future's result is a
        `TraceFrame`, or None when a newer request made this one stale; `callback`
        gets the same value on a worker thread.
        """
        n_columns = max(int(n_columns), 1)
        spc = stable_spc(max(float(t1) - float(t0), 1e-6) / n_columns)
        first = math.floor(float(t0) / spc + 0.5)
        with self._state_lock:
            self._latest += 1
            direction = 0 if self._last_first_column is None else int(np.sign(first - self._last_first_column))
            self._last_first_column = first
            request = _Request(self._latest, first, spc, n_columns, np.asarray(channels, dtype=np.intp),
                               self.cutoff if filter_on and self.filter_applies() else None, bool(car_on),
                               want_noise, direction)
            for future in self._prefetching:
                future.cancel()
            self._prefetching = []
        future = self._frames.submit(self._frame, request)
        if callback is not None:
            future.add_done_callback(lambda done: callback(None if done.cancelled() or done.exception()
                                                           else done.result()))
        return future

    def frame(self, t0: float, t1: float, channels: Sequence[int], n_columns: int,
              filter_on: bool = False, car_on: bool = False, want_noise: bool = False) -> TraceFrame:
        """`request` and wait: for scripts and tests, never for the GUI thread."""
        return self.request(t0, t1, channels, n_columns, filter_on, car_on, want_noise=want_noise).result()

    def _stale(self, request: _Request) -> bool:
        return request.request_id != self._latest

    def _frame(self, request: _Request) -> TraceFrame | None:
        if self._stale(request):
            return None
        edges = column_edges(request.first_column, request.n_columns, request.spc)
        mode = self._mode(request, edges)
        if mode == "samples":
            frame = self._samples_frame(request, edges)
        elif mode == "minmax":
            frame = self._columns_frame(request, edges, mode)
        elif mode == "overview":
            frame = self._columns_frame(request, edges, mode)
            frame.approximate = request.cutoff is not None or request.car
        else:
            frame = self._preview_frame(request, edges)
        if frame is None:
            return None
        if request.want_noise and mode in ("samples", "minmax"):
            frame.noise = self._noise(request, edges)
        if mode in ("samples", "minmax"):
            self._prefetch(request, edges)
        return frame

    def _mode(self, request: _Request, edges: np.ndarray) -> str:
        if request.spc < 1:
            return "samples"
        window_bytes = (edges[-1] - edges[0]) * self.nb_channels * 4
        use_overview = (self.overview is not None and request.spc >= self.overview.base_bin
                        and (window_bytes > self.cache.budget // 4
                             or (request.cutoff is None and not request.car)))
        if use_overview:
            return "overview"
        if window_bytes <= self.cache.budget // 2:
            return "minmax"
        return "preview"

    def _chunk_range(self, start: int, stop: int) -> range:
        start, stop = max(int(start), 0), min(int(stop), self.duration)
        if stop <= start:
            return range(0)
        return range(start // self.chunk_size, (stop - 1) // self.chunk_size + 1)

    def _pieces(self, request: _Request, start: int, stop: int) -> list[tuple[int, np.ndarray]] | None:
        """The shown channels' data over [start, stop) as timeline pieces; None when stale."""
        pieces = []
        identity = self._is_identity(request.channels)
        self._hint([i for i in self._chunk_range(start, stop) if ("chunk", i, request.cutoff) not in self.cache],
                   request.cutoff is not None)
        for index in self._chunk_range(start, stop):
            if self._stale(request):
                return None
            if request.car:
                block = self._car_chunk(index, request.cutoff is not None, request.channels)
            else:
                block = self.chunk(index, request.cutoff is not None)
                block = block if identity else block[request.channels]
            pieces.append((index * self.chunk_size, block))
        return pieces

    def _hint(self, indices: list[int], filter_on: bool) -> None:
        """Tell the file that chunks `indices` come next, so that a file on a server fetches
        them in one go (`DataFile.prefetch`); a failure here shows on the read that follows."""
        if len(indices) < 2:
            return
        padding = self.padding(filter_on)
        try:
            with self._read_lock:
                self.datafile.prefetch(indices[0] * self.chunk_size + padding[0],
                                       (indices[-1] + 1) * self.chunk_size + padding[1])
        except DataFileError:
            pass

    def _columns_frame(self, request: _Request, edges: np.ndarray, mode: str) -> TraceFrame | None:
        key = (mode, request.spc, request.cutoff, request.car, request.channels.tobytes())
        n = request.n_columns
        lo = np.full((len(request.channels), n), np.nan, dtype=np.float32)
        hi = np.full_like(lo, np.nan)
        reused = self._reuse(key, request.first_column, lo, hi)
        missing = np.flatnonzero(~reused)
        for block in _runs(missing):
            part = self._compute_columns(request, edges[block[0]:block[-1] + 2], mode,
                                         request.first_column + int(block[0]))
            if part is None:
                return None
            lo[:, block[0]:block[-1] + 1], hi[:, block[0]:block[-1] + 1] = part
        self._columns = {key: (request.first_column, lo, hi)}
        chunks = list(self._chunk_range(edges[0], edges[-1])) if mode == "minmax" else []
        return TraceFrame(request.request_id, request.first_column, request.spc, edges, request.channels,
                          lo, hi, mode, request.cutoff is not None, request.car,
                          reused_columns=int(reused.sum()), chunks=chunks)

    def _reuse(self, key, first_column: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Copy the columns the previous frame already computed at this zoom; mark them."""
        reused = np.zeros(lo.shape[1], dtype=bool)
        previous = self._columns.get(key)
        if previous is None:
            return reused
        old_first, old_lo, old_hi = previous
        start = max(first_column, old_first)
        stop = min(first_column + lo.shape[1], old_first + old_lo.shape[1])
        if stop > start:
            target = slice(start - first_column, stop - first_column)
            source = slice(start - old_first, stop - old_first)
            lo[:, target], hi[:, target] = old_lo[:, source], old_hi[:, source]
            reused[target] = True
            # A column at the end of the recording may have been partial: recompute it.
            reused &= ~np.isnan(lo).all(axis=0)
        return reused

    def _compute_columns(self, request: _Request, edges: np.ndarray, mode: str, first: int):
        """Min/max of columns [first, first + len(edges) - 1) whose sample edges are `edges`."""
        if mode == "overview":
            return self.overview.columns(edges, request.channels)
        n_columns = len(edges) - 1
        lo = np.full((len(request.channels), n_columns), np.nan, dtype=np.float32)
        hi = np.full_like(lo, np.nan)
        for index in self._chunk_range(edges[0], edges[-1]):
            if self._stale(request):
                return None
            chunk_first, summary = self._chunk_columns(index, request)
            start, stop = max(first, chunk_first), min(first + n_columns, chunk_first + summary.shape[2])
            if stop <= start:
                continue
            target, source = slice(start - first, stop - first), slice(start - chunk_first, stop - chunk_first)
            np.fmin(lo[:, target], summary[0][:, source], out=lo[:, target])
            np.fmax(hi[:, target], summary[1][:, source], out=hi[:, target])
        return lo, hi

    def _summary_key(self, index: int, request: _Request) -> tuple:
        return ("columns", index, request.spc, request.cutoff, request.car, request.channels.tobytes())

    def _chunk_columns(self, index: int, request: _Request) -> tuple[int, np.ndarray]:
        """(first column, (2, channels, columns) min/max) of the grid columns chunk `index` touches.

        Kept in the chunk cache, so a column grid once summarised (or prefetched)
        costs nothing to redraw; columns straddling two chunks hold this chunk's part.
        """
        start = index * self.chunk_size
        first, _ = columns_covering(start, start + 1, request.spc)
        key = self._summary_key(index, request)
        summary = self.cache.get(key)
        if summary is None:
            summary = self._shared(key, lambda: self._summarise_chunk(index, request))
        return first, summary

    def _summarise_chunk(self, index: int, request: _Request) -> np.ndarray:
        filter_on = request.cutoff is not None
        if request.car:
            rows = self._car_rows(index, filter_on, request.channels)
        else:
            rows = self._chunk_rows(index, filter_on)
            if not self._is_identity(request.channels):
                rows = rows[:, request.channels]
        start = index * self.chunk_size
        first, last = columns_covering(start, start + rows.shape[0], request.spc)
        local = np.clip(column_edges(first, last - first, request.spc) - start, 0, rows.shape[0])
        return np.stack(minmax_rows(rows, local))

    def _is_identity(self, channels: np.ndarray) -> bool:
        return len(channels) == self.nb_channels and bool(np.array_equal(channels, np.arange(self.nb_channels)))

    def _samples_frame(self, request: _Request, edges: np.ndarray) -> TraceFrame | None:
        start = max(int(edges[0]) - 1, 0)
        stop = min(int(edges[-1]) + 2, self.duration)
        pieces = self._pieces(request, start, stop)
        if pieces is None:
            return None
        samples = _join(pieces, start, stop, len(request.channels))
        positions = (np.arange(request.first_column, request.first_column + request.n_columns) + 0.5) \
            * request.spc
        values = interpolate_columns(samples, start, positions)
        outside = (positions < 0) | (positions > self.duration - 1)
        values[:, outside] = np.nan
        return TraceFrame(request.request_id, request.first_column, request.spc, edges, request.channels,
                          values, values.copy(), "samples", request.cutoff is not None, request.car,
                          samples=samples, sample_start=start,
                          chunks=list(self._chunk_range(start, stop)))

    def _preview_frame(self, request: _Request, edges: np.ndarray) -> TraceFrame | None:
        """A quick, sparse look at a window too wide to read: short snippets at spread columns."""
        n = request.n_columns
        picks = np.unique(np.linspace(0, n - 1, min(n, 400)).astype(np.int64))
        lo = np.full((len(request.channels), n), np.nan, dtype=np.float32)
        hi = np.full_like(lo, np.nan)
        for column in picks:
            if self._stale(request):
                return None
            start = int(edges[column])
            stop = min(start + max(min(int(edges[column + 1]) - start, 64), 1), self.duration)
            if start < 0 or start >= stop:      # a lane starting after the main stream: nothing yet
                continue
            with self._read_lock:
                snippet = self.datafile.read_range(start, stop, request.channels)
            lo[:, column], hi[:, column] = snippet.min(axis=0), snippet.max(axis=0)
        owner = picks[np.clip(np.searchsorted(picks, np.arange(n), side="right") - 1, 0, len(picks) - 1)]
        lo, hi = lo[:, owner], hi[:, owner]
        return TraceFrame(request.request_id, request.first_column, request.spc, edges, request.channels,
                          lo, hi, "preview", request.cutoff is not None, request.car, approximate=True)

    def _noise(self, request: _Request, edges: np.ndarray) -> np.ndarray:
        """MAD noise of each shown channel over the window's first samples (time-major, no copy
        to channel-major: this is on the path of the first frame)."""
        start = max(int(edges[0]), 0)
        stop = min(start + NOISE_SAMPLES, int(edges[-1]), self.duration)
        parts = []
        for index in self._chunk_range(start, stop):
            if request.car:
                rows = self._car_rows(index, request.cutoff is not None, request.channels)
            else:
                rows = self._chunk_rows(index, request.cutoff is not None)
                rows = rows if self._is_identity(request.channels) else rows[:, request.channels]
            offset = index * self.chunk_size
            parts.append(rows[max(start - offset, 0):stop - offset])
        if not parts:
            return np.ones(len(request.channels), dtype=np.float32)
        return robust_std(np.concatenate(parts) if len(parts) > 1 else parts[0], axis=0).astype(np.float32)

    def _prefetch(self, request: _Request, edges: np.ndarray) -> None:
        """Queue the chunks one window ahead in the scroll direction (forward when still), with
        their column summaries at this zoom so the next page is ready to draw."""
        window_bytes = (edges[-1] - edges[0]) * self.nb_channels * 4
        if self.prefetch_windows <= 0 or window_bytes * (1 + self.prefetch_windows) > self.cache.budget // 2:
            return
        span = int((edges[-1] - edges[0]) * self.prefetch_windows)
        if request.direction < 0:
            wanted = self._chunk_range(edges[0] - span, edges[0])
            wanted = list(reversed(wanted))
        else:
            wanted = self._chunk_range(edges[-1], edges[-1] + span)
        filter_on = request.cutoff is not None
        summarise = request.spc >= 1
        with self._state_lock:
            self._prefetching.append(self._io.submit(self._hint, sorted(wanted), filter_on))
            for index in wanted:
                if summarise:
                    self._prefetching.append(self._io.submit(self._chunk_columns, index, request))
                elif ("chunk", index, request.cutoff) not in self.cache:
                    self._prefetching.append(self._io.submit(self.chunk, index, filter_on))

    # -- summary ----------------------------------------------------------------------------------
    def _load_existing_overview(self) -> None:
        try:
            self.overview = Overview.load(overview_folder(self.datafile, self._overview_root))
        except OSError:
            self.overview = None

    def build_overview(self, on_done: Callable[[Overview | None], None] | None = None,
                       on_progress: Callable[[float], None] | None = None) -> threading.Thread:
        """Build (or load) the summary on a background thread; `on_done` runs there when finished."""
        def progress(fraction: float) -> None:
            self.overview_progress = fraction
            if on_progress is not None:
                on_progress(fraction)

        def work() -> None:
            try:
                result = build_overview(self.datafile, overview_folder(self.datafile, self._overview_root),
                                        self.chunk_size, progress, self._overview_cancel, self._read_lock)
            except (OSError, ValueError, DataFileError) as error:     # a damaged file: no summary
                import logging
                logging.getLogger("wavescope").warning("summary not built: %s", error)
                result = None
            if result is not None:
                self.overview = result
                self.forget_columns()
            if on_done is not None:
                on_done(result)

        self._overview_cancel.clear()
        self._overview_thread = threading.Thread(target=work, name="wavescope-overview", daemon=True)
        self._overview_thread.start()
        return self._overview_thread

    def close(self) -> None:
        """Stop background work; the DataFile stays with its owner."""
        self._overview_cancel.set()
        with self._state_lock:
            self._latest += 1
            for future in self._prefetching:
                future.cancel()
        # queued work is dropped; running work (one chunk, one frame) is waited for, so no worker
        # calls back into a view that is being destroyed
        self._frames.shutdown(wait=True, cancel_futures=True)
        self._io.shutdown(wait=True, cancel_futures=True)
        if self._overview_thread is not None:
            self._overview_thread.join(timeout=5)


def _runs(indices: np.ndarray) -> list[np.ndarray]:
    """Split sorted column indices into runs of consecutive ones."""
    if len(indices) == 0:
        return []
    breaks = np.flatnonzero(np.diff(indices) > 1) + 1
    return np.split(indices, breaks)


def _join(pieces: list[tuple[int, np.ndarray]], start: int, stop: int, n_channels: int) -> np.ndarray:
    """Samples [start, stop) cut out of the pieces, as one channel-major array."""
    out = np.zeros((n_channels, max(stop - start, 0)), dtype=np.float32)
    for piece_start, data in pieces:
        lo, hi = max(start, piece_start), min(stop, piece_start + data.shape[1])
        if hi > lo:
            out[:, lo - start:hi - start] = data[:, lo - piece_start:hi - piece_start]
    return out
