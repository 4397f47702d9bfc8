"""hdf5: one 2-D dataset of an HDF5 file, read through h5py slicing.

The user names the dataset (`h5_key`); the longer axis is time, so a
(channels, time) dataset reads transposed. Reads slice only the rows and
channels asked for.
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from app.io.datafile import DataFile
from app.io.errors import HeaderError
from app.io.sniff import is_hdf5

GENERIC_EXTENSIONS = (".h5", ".hdf5", ".hdf")


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

    Not written in parallel: HDF5 writes to a chunked or compressed dataset go
    through one process (parallel HDF5 would need an MPI-enabled h5py).
    """

    description = "hdf5"
    title = "HDF5 dataset"
    extension = [".h5", ".hdf5"]
    parallel_write = False
    is_writable = True
    is_streamable = ["multi-files"]
    _required_fields = {"h5_key": "string", "sampling_rate": "float"}
    _default_values = {"dtype_offset": "auto", "gain": 1.0}

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str]:
        if not is_hdf5(path):
            return 0.0, "not an HDF5 file"
        try:
            with h5py.File(path, "r") as handle:
                first = first_2d_dataset(handle)
        except OSError:
            return 0.0, "an HDF5 signature but h5py cannot open it"
        if first is None:
            return 0.0, "an HDF5 file without 2-D datasets"
        generic = os.path.splitext(path)[1].lower() in GENERIC_EXTENSIONS
        return (0.6 if generic else 0.3), f"HDF5 with 2-D dataset(s), e.g. {first}"

    def _dataset_path(self) -> str:
        return str(self.h5_key)

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
        self._handle = open_hdf5(self.file_name, "r" if mode == "r" else "r+")
        self.data = self._handle[self._dataset_path()]

    def _close(self) -> None:
        handle = self.__dict__.get("_handle")
        self.data = None
        self._handle = None
        if handle is not None:
            handle.close()

    def _block(self, idx, chunk_size, padding, nodes) -> np.ndarray:
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        return read_block(self.data, t_start, t_stop, nodes, self._time_axis)

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        return self._scale_data_to_float32(self._block(idx, chunk_size, padding, nodes), nodes)

    def read_chunk_raw(self, idx, chunk_size, padding=(0, 0), nodes=None):
        return np.ascontiguousarray(self._block(idx, chunk_size, padding, nodes))

    def allocate(self, shape, data_dtype=None):
        """Create the file with one (time, channels) dataset at `h5_key`."""
        if data_dtype is not None:
            self._params["data_dtype"] = np.dtype(data_dtype).name
            self._resolve_dtype()
        shape = (int(shape[0]), int(shape[1]))
        with h5py.File(self.file_name, "w") as handle:
            handle.create_dataset(self._dataset_path(), shape=shape, dtype=np.dtype(self.data_dtype))
        self._shape = shape
        self._time_axis = 0

    def write_chunk(self, time, data):
        self.write_chunk_raw(time, self._unscale_data_from_float32(data))

    def write_chunk_raw(self, time, raw):
        raw = np.asarray(raw, dtype=self.data.dtype)
        time = int(time)
        if self.data.ndim == 1:
            self.data[time:time + len(raw)] = raw[:, 0]
        elif self._time_axis == 0:
            self.data[time:time + len(raw)] = raw
        else:
            self.data[:, time:time + len(raw)] = raw.T
