"""hdf5: one 2-D dataset of an HDF5 file, read through h5py slicing.

The user names the dataset (`h5_key`), or the file has exactly one 2-D
dataset; the longer axis is time, so a (channels, time) dataset reads
transposed. Reads slice only the rows and channels asked for. What the file
says about itself fills the params the user did not give: the sampling rate,
gain and dtype_offset Wavescope's writer stores as attributes of the dataset
(or of the file), under the names common writers use (``STORED_NAMES``), and
a voltage ``unit`` when no gain is stored.

Writes go in place when they can: a contiguous, allocated, time-major dataset
is one run of bytes at a fixed offset of the file, so rows are written there
with pwrite, with no HDF5 handle open. Several processes can then write
disjoint rows of one file at once, and the file stays valid HDF5 (only sample
bytes change, never metadata). Every dataset `allocate` creates is of that
kind. Other layouts (chunked, compressed, channel-major) are written through
h5py by a single process.
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from app.io.datafile import DataFile
from app.io.errors import HeaderError
from app.io.fileio import open_fd
from app.io.formats.raw_binary import pread_rows, pwrite_rows
from app.io.h5tools import H5_ERRORS, peek_h5, scalar, text
from app.io.sniff import is_hdf5
from app.io.units import microvolts_per

GENERIC_EXTENSIONS = (".h5", ".hdf5", ".hdf")
DEFAULT_KEY = "data"            # where the writer puts the samples unless told otherwise
# param -> attribute names that hold it, first found wins (dataset attributes before the file's);
# gain is in µV per raw unit (SpikeInterface's `gain_to_uV` is the same quantity).
STORED_NAMES = {
    "sampling_rate": ("sampling_rate", "sampling_frequency", "sample_rate", "samplerate", "rate", "fs", "srate"),
    "gain": ("gain", "gain_to_uV", "gain_to_uv"),
    "dtype_offset": ("dtype_offset",),
}
UNIT_NAMES = ("unit", "units")


def datasets_2d(handle: h5py.File) -> list[tuple[str, tuple[int, ...]]]:
    """(path, shape) of every 2-D dataset in the file, in visiting order."""
    found = []

    def visit(name: str, item) -> None:
        if isinstance(item, h5py.Dataset) and item.ndim == 2:
            found.append((name, tuple(item.shape)))

    handle.visititems(visit)
    return found


def first_2d_dataset(handle: h5py.File) -> str | None:
    """Path of the first 2-D dataset met, without walking the rest of a large file."""

    def visit(name: str, item) -> str | None:
        return name if isinstance(item, h5py.Dataset) and item.ndim == 2 else None

    return handle.visititems(visit)


def stored_params(*holders: h5py.AttributeManager) -> dict:
    """The params the attributes give, by ``STORED_NAMES``, the first holder first (the
    dataset's before the file's); a voltage ``unit`` gives the gain (µV per unit) when no gain
    is stored."""
    found: dict = {}
    for attrs in holders:
        for param, names in STORED_NAMES.items():
            for name in names:
                if param not in found and name in attrs:
                    try:
                        found[param] = float(scalar(attrs[name]))
                    except (TypeError, ValueError):
                        continue
        for name in UNIT_NAMES:
            if "gain" not in found and name in attrs and microvolts_per(text(attrs[name])):
                found["gain"] = microvolts_per(text(attrs[name]))
    return found


def open_hdf5(file_name: str, mode: str = "r") -> h5py.File:
    """h5py.File, or HeaderError naming the file when it is not (or no longer) valid HDF5."""
    if not is_hdf5(file_name):
        raise HeaderError(f"{file_name}: not an HDF5 file (no HDF5 signature); choose the format that "
                          "matches the file.", file_name)
    try:
        return h5py.File(file_name, mode)
    except OSError as error:
        raise HeaderError(f"{file_name}: the HDF5 file cannot be opened ({error}); it may be truncated "
                          "or still being written.", file_name) from None


def create_contiguous(handle: h5py.File, path: str, shape: tuple[int, ...], dtype: np.dtype) -> h5py.Dataset:
    """A contiguous dataset whose storage is reserved now and never filled.

    Early allocation gives the samples a fixed byte range (`contiguous_offset`)
    before anything is written; no fill value means creating a 10 GB dataset
    writes no 10 GB of zeros (the file is extended sparsely). Times are not
    tracked, so the same request gives the same bytes.
    """
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.CONTIGUOUS)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    dcpl.set_obj_track_times(False)
    parent, _, name = path.strip("/").rpartition("/")
    group = handle.require_group(parent) if parent else handle
    space = h5py.h5s.create_simple(shape)
    identifier = h5py.h5d.create(group.id, name.encode(), h5py.h5t.py_create(dtype), space, dcpl=dcpl)
    return h5py.Dataset(identifier)


def contiguous_offset(dataset: h5py.Dataset) -> int | None:
    """Byte offset of the dataset's samples in its file when they are one contiguous, allocated
    run inside that file (not external, not virtual, not chunked); None otherwise."""
    if dataset.id.get_create_plist().get_layout() != h5py.h5d.CONTIGUOUS:
        return None
    offset = dataset.id.get_offset()
    return None if offset is None or dataset.id.get_storage_size() == 0 else int(offset)


def read_block(dataset: h5py.Dataset, t_start: int, t_stop: int, nodes, time_axis: int) -> np.ndarray:
    """Samples [t_start, t_stop) of `nodes` (all when None) as (time, channels) raw values.

    h5py selects channels only in increasing order, so the distinct channels are
    read sorted and put back in the order asked. A dense selection, or a chunked
    dataset whose chunks span every channel (HDF5 reads whole chunks anyway),
    reads the contiguous channel range instead, which HDF5 does much faster.
    """
    if dataset.ndim == 1:
        block = dataset[t_start:t_stop][:, None]
        return block if nodes is None else block[:, np.asarray(nodes, dtype=np.intp)]
    if nodes is None:
        return dataset[t_start:t_stop] if time_axis == 0 else dataset[:, t_start:t_stop].T
    nodes = np.asarray(nodes, dtype=np.intp)
    if nodes.size == 0:
        return np.zeros((t_stop - t_start, 0), dtype=dataset.dtype)
    wanted, inverse = np.unique(nodes, return_inverse=True)
    low, high = int(wanted[0]), int(wanted[-1]) + 1
    channel_axis = 1 - time_axis
    whole_chunks = dataset.chunks is not None and dataset.chunks[channel_axis] >= dataset.shape[channel_axis]
    if whole_chunks or 2 * len(wanted) >= high - low:
        channels, pick = slice(low, high), nodes - low
    else:
        channels, pick = list(wanted), inverse
    block = dataset[t_start:t_stop, channels] if time_axis == 0 else dataset[channels, t_start:t_stop].T
    return block[:, pick]


class Hdf5File(DataFile):
    """A 2-D dataset (time x channels or channels x time) of any HDF5 file.

    `parallel_write` holds for the files `allocate` creates (contiguous,
    time-major, written in place by pwrite). An existing dataset of another
    layout opened for writing is written through h5py, which is safe from one
    process only; conversions never do that, they always write a new file.
    """

    description = "hdf5"
    title = "HDF5 dataset"
    extension = [".h5", ".hdf5"]
    parallel_write = True
    is_writable = True
    is_streamable = ["multi-files"]
    _required_fields = {"h5_key": "string", "sampling_rate": "float"}
    _default_values = {"dtype_offset": "auto", "gain": 1.0}
    _write_default_values = {"h5_key": DEFAULT_KEY}     # what a conversion writes unless told

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        first = peek_h5(path, first_2d_dataset)
        if first is None:
            return None
        generic = os.path.splitext(path)[1].lower() in GENERIC_EXTENSIONS
        return (0.6 if generic else 0.3), f"HDF5 with 2-D dataset(s), e.g. {first}"

    def _dataset_path(self) -> str:
        return str(self.h5_key)

    def _fill_from_params(self, params: dict) -> None:
        """The given params over what the file says (``_file_facts``) over the defaults; the
        file's facts count as header fields, not as the user's."""
        facts = {} if self.is_empty else self._file_facts(params)
        given = {k: v for k, v in params.items() if v is not None and str(v).strip() != ""}
        super()._fill_from_params({**facts, **given})
        for key in facts.keys() - given.keys():
            self.given_fields.discard(key)
            self.header_fields.add(key)

    def _file_facts(self, params: dict) -> dict:
        """`h5_key` when the file holds exactly one 2-D dataset, and the params stored on the
        dataset and the file; nothing when the file cannot be read (the header read says why)."""
        if not os.path.isfile(self.file_name) or not is_hdf5(self.file_name):
            return {}
        facts: dict = {}
        try:
            with h5py.File(self.file_name, "r") as handle:
                key = str(params.get("h5_key") or "").strip()
                if not key:
                    candidates = datasets_2d(handle)
                    if len(candidates) == 1:
                        key = facts["h5_key"] = candidates[0][0]
                dataset = handle.get(key) if key else None
                holders = [dataset.attrs] if isinstance(dataset, h5py.Dataset) else []
                facts.update(stored_params(*holders, handle.attrs))
        except H5_ERRORS:
            return {}
        return facts

    def _read_from_header(self) -> dict:
        with open_hdf5(self.file_name) as handle:
            dataset = self._find_dataset(handle)
            shape = tuple(int(n) for n in dataset.shape)
            dtype = dataset.dtype
            header = self._header_from(handle, dataset)
        if dtype.kind not in "iuf" or dtype.itemsize > 8:
            raise HeaderError(f"{self.file_name}: dataset {self._dataset_path()} holds {dtype} values, "
                              "not samples; choose another h5_key.", self.file_name)
        self._time_axis = self._choose_time_axis(shape)
        n_samples = shape[self._time_axis]
        n_channels = 1 if len(shape) == 1 else shape[1 - self._time_axis]
        self._shape = (n_samples, n_channels)
        return {"nb_channels": n_channels, "data_dtype": dtype.str, **header}

    def _choose_time_axis(self, shape: tuple[int, ...]) -> int:
        """The longer axis is time; a square dataset reads as (time, channels)."""
        return 1 if len(shape) == 2 and shape[1] > shape[0] else 0

    def _header_from(self, handle: h5py.File, dataset: h5py.Dataset) -> dict:
        """Extra params a subclass reads from the file's metadata."""
        return {}

    def _find_dataset(self, handle: h5py.File) -> h5py.Dataset:
        path = self._dataset_path()
        item = handle.get(path)
        if isinstance(item, h5py.Dataset) and item.ndim in (1, 2):
            return item
        candidates = datasets_2d(handle)
        listed = ", ".join(f"{name} {shape}" for name, shape in candidates[:20]) or "none"
        what = "is not a 1-D or 2-D dataset" if item is not None else "does not exist"
        error = HeaderError(f"{self.file_name}: {path!r} {what}; 2-D datasets in the file: {listed}. "
                            "Set h5_key to one of them.", self.file_name)
        error.candidates = [name for name, _ in candidates]
        raise error

    def _open(self, mode: str = "r") -> None:
        """Reading opens h5py read-only. Writing looks at the dataset read-only first: in place
        needs no HDF5 handle (and takes no HDF5 write lock, so other processes may write too);
        any other layout is reopened read-write through h5py."""
        self._fd = None
        self._handle = open_hdf5(self.file_name, "r")
        self.data = self._handle[self._dataset_path()]
        if mode == "r":
            return
        in_place = self._in_place_target(self.data)
        self._close_handle()
        if in_place is None:
            self._handle = open_hdf5(self.file_name, "r+")
            self.data = self._handle[self._dataset_path()]
            return
        self._in_place = in_place
        self._fd = open_fd(self.file_name, writable=True)

    def _in_place_target(self, dataset: h5py.Dataset) -> tuple[int, np.dtype, tuple[int, int]] | None:
        """(byte offset, stored dtype, (samples, channels)) of a dataset written in place, or None
        when its layout needs h5py (chunked, compressed, external, unallocated, channel-major)."""
        offset = contiguous_offset(dataset)
        if offset is None or (dataset.ndim == 2 and self._time_axis != 0):
            return None
        return offset, dataset.dtype, (int(dataset.shape[0]), self._shape[1])

    def _close_handle(self) -> None:
        handle = self.__dict__.get("_handle")
        self.data, self._handle = None, None
        if handle is not None:
            handle.close()

    def _close(self) -> None:
        self._close_handle()
        fd = self.__dict__.get("_fd")
        self._fd = None
        if fd is not None:
            os.close(fd)

    def _block(self, idx, chunk_size, padding, nodes) -> np.ndarray:
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        if self.__dict__.get("_fd") is None:
            return read_block(self.data, t_start, t_stop, nodes, self._time_axis)
        offset, dtype, shape = self._in_place
        rows = pread_rows(self._fd, offset + t_start * shape[1] * dtype.itemsize,
                          (max(t_stop - t_start, 0), shape[1]), dtype)
        return rows if nodes is None else rows[:, np.asarray(nodes, dtype=np.intp)]

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        return self._scale_data_to_float32(self._block(idx, chunk_size, padding, nodes), nodes)

    def read_chunk_raw(self, idx, chunk_size, padding=(0, 0), nodes=None):
        return np.ascontiguousarray(self._block(idx, chunk_size, padding, nodes))

    def allocate(self, shape, data_dtype=None):
        """Create the file with one contiguous (time, channels) dataset at `h5_key`, its storage
        reserved, and the recording's sampling_rate, gain and dtype_offset as attributes."""
        if data_dtype is not None:
            self._params["data_dtype"] = np.dtype(data_dtype).name
            self._resolve_dtype()
        shape = (int(shape[0]), int(shape[1]))
        with h5py.File(self.file_name, "w") as handle:
            dataset = create_contiguous(handle, self._dataset_path(), shape, np.dtype(self.data_dtype))
            dataset.attrs["sampling_rate"] = float(self.sampling_rate)
            dataset.attrs["gain"] = float(self.gain)
            dataset.attrs["dtype_offset"] = float(self.dtype_offset)
        self._shape = shape
        self._time_axis = 0

    def write_chunk(self, time, data):
        self.write_chunk_raw(time, self._unscale_data_from_float32(data))

    def write_chunk_raw(self, time, raw):
        time = int(time)
        if self.__dict__.get("_fd") is not None:
            self._write_in_place(time, raw)
            return
        raw = np.asarray(raw, dtype=self.data.dtype)
        if self.data.ndim == 1:
            self.data[time:time + len(raw)] = raw[:, 0]
        elif self._time_axis == 0:
            self.data[time:time + len(raw)] = raw
        else:
            self.data[:, time:time + len(raw)] = raw.T

    def _write_in_place(self, time: int, raw: np.ndarray) -> None:
        """pwrite whole rows at their place in the dataset, in the dataset's own byte order."""
        offset, dtype, shape = self._in_place
        raw = np.asarray(raw, dtype=dtype)
        if raw.ndim != 2 or raw.shape[1] != shape[1] or not 0 <= time <= shape[0] - len(raw):
            raise IndexError(f"{self.file_name}: cannot write {raw.shape} samples at {time} into "
                             f"dataset {self._dataset_path()} of shape {shape}.")
        pwrite_rows(self._fd, offset + time * shape[1] * dtype.itemsize, raw)
