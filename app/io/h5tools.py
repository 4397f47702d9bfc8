"""HDF5 helpers shared by the HDF5-based formats (nwb, arf, brw, maxwell, nix, mcs_h5, ...).

Opening with clear errors, peeking at a layout for sniffers, attribute decoding, and
window reads that touch only the requested samples and channels.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import h5py
import numpy as np

from app.io.datafile import DataFile
from app.io.errors import HeaderError, ShapeMismatchError
from app.io.remote import RemoteError, is_url, open_remote, remote_file_of
from app.io.sniff import is_hdf5

# Errors h5py raises on truncated, damaged or unexpected layouts.
H5_ERRORS = (OSError, KeyError, ValueError, TypeError, IndexError, RuntimeError)


# -- HDF5 helpers shared by the HDF5-based formats --------------------------------------------------
def open_h5(file_name: str, what: str) -> h5py.File:
    """The file (or URL, through `app.io.remote`) opened read-only; a HeaderError naming the file
    when it is not readable HDF5 (a RemoteError when the server does not answer)."""
    try:
        return _h5_file(file_name)
    except RemoteError:
        raise
    except H5_ERRORS as error:
        raise HeaderError(f"{file_name}: cannot open as {what} (HDF5): {error}; the file is not HDF5 "
                          "or is truncated.", file_name) from None


def _h5_file(name: str) -> h5py.File:
    """`name` opened read-only; a URL through `app.io.remote`, without HDF5's chunk cache: the
    block cache holds the bytes, and without it HDF5 reads a window straight out of an
    unfiltered chunk instead of the whole chunk (the bytes fetched follow the window)."""
    if is_url(name):
        return h5py.File(open_remote(name), "r", rdcc_nbytes=0)
    return h5py.File(name, "r")


def peek_h5(path: str, inspect: Callable[[h5py.File], Any]) -> Any:
    """For ``sniff``: `inspect(h5file)` on an HDF5 file, None when it is not HDF5 or is damaged."""
    if not (is_url(path) or is_hdf5(path)):
        return None
    try:
        with _h5_file(path) as h5file:
            return inspect(h5file)
    except (RemoteError, *H5_ERRORS):
        return None


def text(value: Any) -> str:
    """An HDF5 string attribute or dataset value as str (bytes, numpy scalars, 1-element arrays)."""
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else ""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", "replace")
    return str(value)


def scalar(value: Any) -> float:
    """A number stored as an attribute or a dataset of shape (), (1,) or (1, 1)."""
    if isinstance(value, h5py.Dataset):
        value = value[()]
    array = np.asarray(value).reshape(-1)
    if array.size == 0:
        raise ValueError("empty value where a number was expected")
    return float(array[0])


def _slab_is_cheap(dataset: h5py.Dataset, unique: np.ndarray, channel_axis: int) -> bool:
    """Whether reading channels [min, max] as one slab costs little more than the channels alone.

    True when they are dense, when the slab touches at most twice the chunks the channels touch,
    or when the file is contiguous with time first (a time window is one run of bytes anyway).
    h5py's point selections are slow, so the slab usually wins.
    """
    low, high = int(unique[0]), int(unique[-1]) + 1
    if high - low <= 2 * len(unique):
        return True
    if dataset.chunks is None:
        return channel_axis == 1
    size = dataset.chunks[channel_axis]
    touched = len(np.unique(unique // size))
    return (high - 1) // size - low // size + 1 <= 2 * touched


def read_window(dataset: h5py.Dataset, start: int, stop: int, nodes: Sequence[int] | None = None,
                time_axis: int = 0) -> np.ndarray:
    """Raw samples [start, stop) of `nodes` as (time, channels), reading only those from disk.

    h5py's point selection wants increasing indices, so the sorted unique channels are read
    (as one slab when they are dense, else as a list) and put back in the order asked.
    A 1-D dataset is a single channel. A file on a server gets the window's bytes first, at once
    (`warm_remote_window`).
    """
    window = slice(int(start), int(stop))
    warm_remote_window(dataset, window.start, window.stop, nodes, time_axis)
    return _read_window(dataset, window, nodes, time_axis)


def _read_window(dataset: h5py.Dataset, window: slice, nodes: Sequence[int] | None, time_axis: int) -> np.ndarray:
    if dataset.ndim == 2 and time_axis == 0 and dataset.chunks is not None and \
            remote_file_of(dataset.file.filename) is not None:
        return _read_chunk_columns(dataset, window, nodes)
    if dataset.ndim == 1:
        block = dataset[window][:, None]
        return block if nodes is None else block[:, np.asarray(nodes, dtype=np.intp)]
    if nodes is None:
        block = dataset[window] if time_axis == 0 else dataset[:, window]
        return block if time_axis == 0 else block.T
    wanted = np.asarray(nodes, dtype=np.intp).reshape(-1)
    if wanted.size == 0:
        return np.zeros((window.stop - window.start, 0), dtype=dataset.dtype)
    unique, order = np.unique(wanted, return_inverse=True)
    low, high = int(unique[0]), int(unique[-1]) + 1
    dense = _slab_is_cheap(dataset, unique, 1 - time_axis)
    channels = slice(low, high) if dense else unique
    block = dataset[window, channels] if time_axis == 0 else dataset[channels, window].T
    if dense:
        block = block[:, unique - low]
    return block[:, order.reshape(-1)]


def _read_chunk_columns(dataset: h5py.Dataset, window: slice, nodes: Sequence[int] | None) -> np.ndarray:
    """`read_window` for a file on a server: one read per column of chunks holding a wanted
    channel, each into its own contiguous array. Reading all channels at once makes HDF5 copy
    a chunk row by row, each row a separate read of the file object (slow in Python); a whole
    chunk column is one read per chunk."""
    size, n_channels = dataset.chunks[1], dataset.shape[1]
    wanted = np.arange(n_channels) if nodes is None else np.asarray(nodes, dtype=np.intp).reshape(-1)
    if wanted.size == 0:
        return np.zeros((window.stop - window.start, 0), dtype=dataset.dtype)
    firsts = np.unique(wanted // size) * size
    pieces = [dataset[window, int(a):int(min(a + size, n_channels))] for a in firsts]
    block = pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=1)
    if nodes is None and block.shape[1] == n_channels:
        return block
    column = np.searchsorted(firsts, wanted, side="right") - 1
    offsets = np.concatenate([[0], np.cumsum([p.shape[1] for p in pieces[:-1]])]).astype(np.intp)
    return block[:, offsets[column] + wanted - firsts[column]]


def warm_remote_window(dataset: h5py.Dataset, start: int, stop: int, nodes: Sequence[int] | None = None,
                       time_axis: int = 0) -> None:
    """For a chunked dataset of a file on a server: fetch every byte that reading the window
    needs at once, in parallel. A dry run of the read fetches the metadata it walks (the chunk
    index, through HDF5's own lookup: its get_chunk_info walks the whole index) and only notes
    the data reads; then the noted ranges are fetched together. Compressed chunks are dry-run
    one by one (zeros do not decompress: each dry run notes its chunk, then fails). Nothing for
    a local file or a contiguous dataset (one read anyway)."""
    remote = remote_file_of(dataset.file.filename)
    if remote is None or dataset.chunks is None or stop <= start:
        return
    window = slice(int(start), int(stop))
    filtered = dataset.id.get_create_plist().get_nfilters() > 0
    pieces = _chunk_pieces(dataset, window, nodes, time_axis) if filtered else [(window, nodes)]
    with remote.dry_run() as wanted:
        for piece, channels in pieces:
            try:
                _read_window(dataset, piece, channels, time_axis)
            except H5_ERRORS:
                pass
    remote.prefetch(wanted)


def _chunk_pieces(dataset: h5py.Dataset, window: slice, nodes: Sequence[int] | None,
                  time_axis: int) -> list[tuple[slice, list[int] | None]]:
    """The window cut at chunk boundaries: (samples, channels) of each chunk it touches."""
    step = dataset.chunks[time_axis]
    times = [slice(max(t, window.start), min(t + step, window.stop))
             for t in range(window.start // step * step, window.stop, step)]
    if dataset.ndim == 1:
        return [(t, None) for t in times]
    size, n_channels = dataset.chunks[1 - time_axis], dataset.shape[1 - time_axis]
    wanted = np.arange(n_channels) if nodes is None else np.asarray(nodes, dtype=np.intp).reshape(-1)
    columns = [[int(c), min(int(c) + size, n_channels) - 1] for c in np.unique(wanted // size) * size]
    return [(t, c) for t in times for c in columns]


def read_columns(datasets: Sequence[h5py.Dataset], start: int, stop: int,
                 nodes: Sequence[int] | None = None) -> np.ndarray:
    """Raw samples [start, stop) as (time, channels) from one 1-D dataset per channel, reading
    only the channels in `nodes` (formats that store each channel on its own: arf, nix)."""
    wanted = range(len(datasets)) if nodes is None else [int(k) for k in nodes]
    out = np.empty((int(stop) - int(start), len(wanted)), dtype=datasets[0].dtype)
    for column, channel in enumerate(wanted):
        out[:, column] = datasets[channel][int(start):int(stop)]
    return out


def chain_in_time(sources: list[DataFile]) -> list[DataFile]:
    """Streams of one file on one timeline: each keeps its own t_start unless it would overlap
    the previous stream, in which case it starts where the previous one stops."""
    for before, after in itertools.pairwise(sources):
        if after._t_start < before.t_stop:
            after._t_start = before.t_stop
            after._t_stop = None
    return sources


def check_streams_agree(sources: list[DataFile], key: str) -> list[DataFile]:
    """Streams of one file must share rate, channels and dtype; the error names the streams by
    `key` (the param choosing a stream) so the user can pick one of them instead."""
    first = sources[0]
    for source in sources[1:]:
        for field in ("sampling_rate", "nb_channels", "data_dtype"):
            if source._params[field] != first._params[field]:
                raise ShapeMismatchError(
                    f"{first.file_name}: {key}={source._params[key]} has {field} {source._params[field]} "
                    f"but {key}={first._params[key]} has {first._params[field]}; the single-file streams "
                    f"cannot share one timeline. Open one of them with --set {key}=... instead.",
                    first.file_name)
    return sources


def sampled_read(datafile: DataFile, read: Any, start: int, stop: int) -> np.ndarray:
    """Run `read()`; an h5py failure (truncated file, missing filter plugin) becomes a HeaderError."""
    try:
        return read()
    except H5_ERRORS as error:
        raise HeaderError(f"{datafile.file_name}: cannot read samples [{start}, {stop}): {error}; the file "
                          "may be truncated or compressed with an HDF5 filter that is not installed.",
                          datafile.file_name) from None


# -- NWB --------------------------------------------------------------------------------------------
