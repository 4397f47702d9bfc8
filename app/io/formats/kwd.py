"""kwd: Kwik raw data, as the Open Ephys GUI writes it (HDF5).

Each recording is ``recordings/<n>/data`` (time x channels, int16). Attributes
of ``recordings/<n>`` give ``sample_rate``, ``start_sample`` and ``start_time``;
``recordings/<n>/application_data`` gives ``channel_bit_volts`` (µV per bit, per
channel) and ``channel_sample_rates``. Any of them may be absent: the rate is
then asked for, the gain defaults to 1 and the recording starts at 0.
"""

from __future__ import annotations

import h5py
import numpy as np

from app.io.datafile import DataFile
from app.io.errors import HeaderError, MissingFieldsError
from app.io.formats.hdf5 import Hdf5File, open_hdf5
from app.io.h5tools import peek_h5


def recording_numbers(handle: h5py.File) -> list[int]:
    """Numbers n of the ``recordings/<n>`` groups holding a data set, in numeric order."""
    recordings = handle.get("recordings")
    if not isinstance(recordings, h5py.Group):
        return []
    return sorted(int(name) for name, item in recordings.items()
                  if name.isdigit() and isinstance(item, h5py.Group)
                  and isinstance(item.get("data"), h5py.Dataset))


def _as_float(value) -> float:
    """A Python float; a float32 attribute keeps its short decimal form (0.195, not 0.19499999...)."""
    return float(str(value)) if isinstance(value, np.float32) else float(value)


def _common_value(values) -> float | None:
    """The value every entry shares, or None when they differ or there are none."""
    values = np.atleast_1d(np.asarray(values))
    if values.size and np.all(values == values[0]):
        return _as_float(values[0])
    return None


class KwdFile(Hdf5File):
    """One recording of a .kwd file; `single-file` chains every recording in it.

    Read-only: conversions are written to raw_binary, numpy or hdf5.
    """

    description = "kwd"
    title = "Kwik raw data (.kwd, Open Ephys)"
    extension = [".kwd"]
    parallel_write = False
    is_writable = False
    is_streamable = ["multi-files", "single-file"]
    _required_fields = {}
    _default_values = {"recording_number": 0, "dtype_offset": "auto", "gain": 1.0}
    _field_types = {"recording_number": "int"}

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        numbers = peek_h5(path, recording_numbers)
        if not numbers:
            return None
        return 0.95, f"Kwik raw data layout ({len(numbers)} recording(s) under recordings/)"

    def _dataset_path(self) -> str:
        return f"recordings/{int(self.recording_number)}/data"

    def _file_facts(self, params: dict) -> dict:
        return {}       # the header (application_data) says it all; there is no h5_key

    def _choose_time_axis(self, shape: tuple[int, ...]) -> int:
        return 0

    def _find_dataset(self, handle: h5py.File) -> h5py.Dataset:
        item = handle.get(self._dataset_path())
        if isinstance(item, h5py.Dataset) and item.ndim == 2:
            return item
        numbers = ", ".join(str(n) for n in recording_numbers(handle)) or "none"
        raise HeaderError(f"{self.file_name}: no Kwik recording {self.recording_number} "
                          f"({self._dataset_path()}); recordings in the file: {numbers}. Set "
                          "recording_number to one of them, or use stream_mode = single-file.",
                          self.file_name)

    def _header_from(self, handle: h5py.File, dataset: h5py.Dataset) -> dict:
        recording = dataset.parent
        attrs = dict(recording.attrs)
        application = recording.get("application_data")
        app_attrs = dict(application.attrs) if isinstance(application, h5py.Group) else {}
        header: dict = {}
        rate = self._sampling_rate(attrs, app_attrs)
        if rate is not None:
            header["sampling_rate"] = rate
        elif "sampling_rate" not in self._params:
            raise MissingFieldsError(self.file_name, {"sampling_rate": "float"}, self.description)
        rate = rate if rate is not None else float(self._params["sampling_rate"])
        if "channel_bit_volts" in app_attrs:
            header["gain"] = self._set_channel_gains(app_attrs["channel_bit_volts"], dataset.shape[1])
        self._t_start = self._start_sample(attrs, app_attrs, rate)
        self._valid_samples = self._valid_sample_count(dataset)
        return header

    def _read_from_header(self) -> dict:
        header = super()._read_from_header()
        if self._valid_samples is not None:
            self._shape = (min(self._shape[0], self._valid_samples), self._shape[1])
        return header

    def _sampling_rate(self, attrs: dict, app_attrs: dict) -> float | None:
        rates = app_attrs.get("channel_sample_rates")
        if bool(app_attrs.get("is_multiSampleRate_data", 0)) and rates is not None \
                and _common_value(rates) is None:
            raise HeaderError(f"{self.file_name}: recording {self.recording_number} mixes sampling rates "
                              f"({sorted(set(np.atleast_1d(rates).tolist()))}); one timeline needs one "
                              "rate, so this recording cannot be read as a whole.", self.file_name)
        if "sample_rate" in attrs:
            return _as_float(attrs["sample_rate"])
        return _common_value(rates) if rates is not None else None

    def _set_channel_gains(self, bit_volts, n_channels: int) -> float:
        """Keep per-channel gains when they differ; the `gain` param is the first (or common) one."""
        gains = np.atleast_1d(np.asarray(bit_volts))
        if len(gains) != n_channels:
            raise HeaderError(f"{self.file_name}: channel_bit_volts of recording {self.recording_number} "
                              f"has {len(gains)} values for {n_channels} channels; the file is "
                              "inconsistent.", self.file_name)
        self._channel_gains = None if _common_value(gains) is not None else gains.astype(np.float64)
        return _as_float(gains[0])

    @staticmethod
    def _start_sample(attrs: dict, app_attrs: dict, rate: float) -> int:
        """start_sample when given, else start_time (s) x rate, else 0."""
        if "start_sample" in attrs:
            return int(attrs["start_sample"])
        for source in (attrs, app_attrs):
            if "start_time" in source:
                return int(round(float(np.atleast_1d(source["start_time"])[0]) * rate))
        return 0

    @staticmethod
    def _valid_sample_count(dataset: h5py.Dataset) -> int | None:
        """Samples written for every channel, when Open Ephys recorded fewer than the data set holds."""
        valid = dataset.attrs.get("valid_samples")
        if valid is None or np.size(valid) == 0:
            return None
        fewest = int(np.min(valid))
        return fewest if 0 < fewest < dataset.shape[0] else None

    def set_streams(self, stream_mode: str) -> list[DataFile]:
        """`single-file`: every recording in numeric order, each starting after the previous one
        ends, or later when its own start sample says so."""
        if stream_mode != "single-file":
            return super().set_streams(stream_mode)
        given = {k: v for k, v in self._params.items() if k not in self.header_fields}
        with open_hdf5(self.file_name) as handle:
            numbers = recording_numbers(handle)
        sources: list[DataFile] = []
        for number in numbers:
            source = type(self)(self.file_name, {**given, "recording_number": number})
            if sources:
                source._t_start = max(source._t_start, sources[-1].t_stop)
            source._t_stop = None
            sources.append(source)
        return sources
