"""The DataFile contract: one subclass per file format.

The public contract follows the one SpyKING CIRCUS documents for custom
wrappers (``_read_from_header``, ``read_chunk``, ``_open``/``_close``,
``_required_fields``, ...), so such a wrapper ports by changing its imports.
Differences on purpose: errors are exceptions (see ``errors.py``), constructing
never loads samples, and reads may span the parts of a multi-file recording.

Time is counted in samples. A DataFile's timeline runs from 0 to
``duration`` across all its streams (the concatenation); ``t_start`` and
``t_stop`` place it on the acquisition system's clock.
"""

from __future__ import annotations

import functools
import math
import os
import re
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from app.io.events import select_events, timeline_events
from app.io.messages import print_and_log
from app.io.remote import is_url
from app.io.errors import (
    DamagedFileError,
    DataFileError,
    HeaderError,
    MissingFieldsError,
    ShapeMismatchError,
    UnsupportedStreamMode,
)

if TYPE_CHECKING:
    from app.io.probe_geometry import ProbeGeometry

MANDATORY_FIELDS = {
    "nb_channels": "int",
    "sampling_rate": "float",
    "data_dtype": "string",
    "dtype_offset": "string",
    "gain": "float",
}

# Beyond these a value is a typo or a damaged header, never a recording.
MAX_CHANNELS = 1 << 16
MAX_SAMPLING_RATE = 1e9

# The hooks a wrapper writes that touch the file, with what each does in the user's words.
# DataFile.__init_subclass__ guards each: any failure inside becomes a typed error naming the
# file, so a format need not repeat the try/except (see DataFile._damaged).
GUARDED_HOOKS = {
    "_read_from_header": "read the header of",
    "_open": "open",
    "read_chunk": "read samples from",
    "read_chunk_raw": "read samples from",
    "_local_events": "read the events of",
    "set_streams": "find the streams of",
    "channel_positions": "read the channel positions of",
    "_header_geometry": "read the probe geometry in the header of",
    "related_streams": "find the streams related to",
}

# Never the file's fault: these pass through the guard unchanged.
PASS_THROUGH = (DataFileError, NotImplementedError, MemoryError)

_BOOL_WORDS = {"true": True, "yes": True, "1": True, "on": True,
               "false": False, "no": False, "0": False, "off": False}


def coerce_value(value: Any, type_name: str, field: str, file_name: str = "") -> Any:
    """Convert `value` (often a string from a params file or ``--set``) to `type_name`."""
    if value is None:
        return None
    where = f"{file_name}: " if file_name else ""
    try:
        if type_name == "int":
            if isinstance(value, str):
                value = value.strip()
                as_float = float(value)
                if as_float != int(as_float):
                    raise ValueError(value)
                return int(as_float)
            return int(value)
        if type_name == "float":
            return float(value.strip() if isinstance(value, str) else value)
        if type_name == "bool":
            if isinstance(value, str):
                return _BOOL_WORDS[value.strip().lower()]
            return bool(value)
        if type_name == "string":
            return value.strip() if isinstance(value, str) else value
    except (ValueError, KeyError, TypeError, OverflowError):
        value = _short(value)
        raise HeaderError(
            f"{where}field {field!r} must be {type_name}, got {value!r}; fix the value in the params "
            f"file or with --set {field}=...", file_name or None) from None
    return value


def _short(value: Any, limit: int = 40) -> Any:
    """`value` as shown in a message: a 5,000-digit number is cut, not printed."""
    text = str(value)
    return value if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _guard(function: Callable, doing: str) -> Callable:
    """`function` (a DataFile hook) with every failure turned into a typed error."""
    @functools.wraps(function)
    def guarded(self, *args, **kwargs):
        try:
            return function(self, *args, **kwargs)
        except PASS_THROUGH:
            raise
        except Exception as error:  # noqa: BLE001 - any failure reading a file is the file's
            raise self._damaged(error, doing) from error
    guarded._guarded = True
    return guarded


def normalize_dtype(value: Any, file_name: str = "") -> np.dtype:
    """A numpy dtype from a params value ('int16', '<i2', 'uint16', ...)."""
    try:
        dtype = np.dtype(value)
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "iuf" or dtype.itemsize > 8:
        raise HeaderError(
            f"{file_name}: data_dtype {value!r} is not a numeric sample type; use one of "
            "int8, uint8, int16, uint16, int32, uint32, float32, float64.", file_name or None)
    return dtype


def auto_dtype_offset(dtype: np.dtype) -> int:
    """The 'auto' dtype_offset: the unsigned types are centred on their midpoint.

    uint8 -> 127 follows the long-standing SpyKING CIRCUS convention (not 128).
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "u":
        return 0
    if dtype.itemsize == 1:
        return 127
    return 2 ** (8 * dtype.itemsize - 1)


def natural_key(text: str) -> list:
    """Sort key that orders 'ch2' before 'ch10'."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def multi_file_parts(file_name: str) -> list[str]:
    """The parts of a `multi-files` recording: `base.ext`, `base_0.ext`, `base_1.ext`, ...

    Given any one part, returns all siblings with the same base and extension in
    natural order; a file without siblings is a one-part recording.
    """
    folder, name = os.path.split(os.path.abspath(file_name))
    stem, ext = os.path.splitext(name)
    match = re.fullmatch(r"(.*)_(\d+)", stem)
    base = match.group(1) if match else stem
    pattern = re.compile(re.escape(base) + r"(?:_(\d+))?" + re.escape(ext))
    parts = []
    for entry in os.listdir(folder):
        found = pattern.fullmatch(entry)
        if found:
            number = -1 if found.group(1) is None else int(found.group(1))
            parts.append((number, os.path.join(folder, entry)))
    parts.sort()
    return [path for _, path in parts] or [os.path.abspath(file_name)]


class DataFile:
    """Base class of every format wrapper.

    Subclasses set the class attributes below and write ``_read_from_header``,
    ``_open``, ``_close`` and ``read_chunk`` (plus ``write_chunk`` when
    writable, ``set_streams`` for their own stream modes).
    """

    description = "base"            # the format's name, as in params files (file_format = ...)
    title = ""                      # a human-readable name for menus and `wavescope formats`
    extension: Sequence[str] = []   # file extensions, with the dot
    parallel_write = False          # ranks may write disjoint chunks in place
    is_writable = False
    is_streamable = ["multi-files"]
    # `_shape`, `_t_start`, `_t_stop`, `_params` are instance state, set up in __init__.
    _required_fields: dict[str, str] = {}
    _default_values: dict[str, Any] = {}
    # Types of optional fields that may come as strings; the mandatory ones are known already.
    _field_types: dict[str, str] = {}
    # Values of `_required_fields` a conversion may use when writing this format and neither the
    # user nor the source gives them (hdf5: the dataset name).
    _write_default_values: dict[str, Any] = {}
    # Bytes after the last whole frame that are not read (a partial last frame); `info` reports them.
    ignored_bytes = 0
    # The events of the whole timeline once `get_events` has loaded them (read-only array).
    _timeline_events: np.ndarray | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, doing in GUARDED_HOOKS.items():
            function = cls.__dict__.get(name)
            if callable(function) and not getattr(function, "_guarded", False):
                setattr(cls, name, _guard(function, doing))

    def __init__(self, file_name: str, params: dict | None = None, is_empty: bool = False,
                 stream_mode: str | None = None):
        self.file_name = os.fspath(file_name)
        self.is_empty = is_empty
        self.stream_mode = None if stream_mode in (None, "", "None", "none") else stream_mode
        self._shape: tuple[int, int] | None = None
        self._t_start = 0
        self._t_stop: int | None = None
        self._sources: list[DataFile] = []
        self._is_open = False
        self._mode = "r"
        self._channel_gains: np.ndarray | None = None     # per-channel gain when channels differ
        self._channel_offsets: np.ndarray | None = None   # per-channel raw zero when channels differ
        self.header_fields: set[str] = set()    # params the file's header gave
        self.given_fields: set[str] = set()     # params the caller gave (the rest are defaults)
        self._params: dict[str, Any] = {}
        self._fill_from_params(params or {})

        if is_empty:
            self._check_complete()
            self._check_ranges()
            self._shape = (0, int(self._params["nb_channels"]))
        else:
            if not os.path.exists(self.file_name) and not is_url(self.file_name):
                raise HeaderError(f"{self.file_name}: no such file; check the path.", self.file_name)
            try:
                self._load_header()
            except PASS_THROUGH:
                raise
            except Exception as error:  # noqa: BLE001 - a header value the checks did not foresee
                raise self._damaged(error, "read the header of") from error

    def _load_header(self) -> None:
        header = self._read_from_header() or {}
        self._fill_from_header(header)
        self._check_complete()
        self._check_ranges()
        if self._shape is None:
            raise HeaderError(f"{self.file_name}: the {self.description} reader found no data "
                              "shape in the header.", self.file_name)
        self._shape = (int(self._shape[0]), int(self._shape[1]))
        if self._shape[0] < 0:
            raise DamagedFileError(f"{self.file_name}: the header gives {self._shape[0]} samples; the "
                                   "file is damaged.", self.file_name, "negative duration")
        if self._shape[1] != self._params["nb_channels"]:
            raise ShapeMismatchError(
                f"{self.file_name}: the data hold {self._shape[1]} channels but nb_channels is "
                f"{self._params['nb_channels']}; remove nb_channels from the params or fix it.",
                self.file_name)
        if self.stream_mode is not None:
            self._set_sources(self.stream_mode)

    # -- typed errors -----------------------------------------------------------------------------
    def _damaged(self, error: Exception, doing: str) -> DataFileError:
        """The typed error for a low-level failure while `doing` something to this file."""
        name, kind = self.file_name, self.title or self.description
        cause = f"{type(error).__name__}: {_short(error, 200)}"
        if isinstance(error, IsADirectoryError) or (os.path.isdir(name) and isinstance(error, OSError)):
            return HeaderError(f"{name}: is a folder, and the {self.description} format reads a file "
                               "here; give the recording's data file, or the --format of a folder "
                               f"recording ({cause}).", name)
        if isinstance(error, PermissionError):
            return DataFileError(f"{name}: cannot {doing} it: permission denied ({cause}); check the "
                                 "file's permissions.", name)
        if isinstance(error, OSError) and error.errno not in (None, 0) and not isinstance(error, FileNotFoundError):
            return DataFileError(f"{name}: cannot {doing} it: the system reports an I/O error ({cause}); "
                                 "check the disk or the network share.", name)
        return DamagedFileError(
            f"{name}: cannot {doing} it as {kind}: the file is damaged (cut short or corrupted) or is "
            f"not a {kind} file ({cause}). Check that the copy is complete, or give the right --format.",
            name, cause)

    def _out_of_range(self, field: str, value: Any, allowed: str) -> DataFileError:
        value = _short(value)
        if field in self.header_fields:
            return DamagedFileError(f"{self.file_name}: the header gives {field} = {value}, but it must "
                                    f"be {allowed}; the file is damaged.", self.file_name,
                                    f"{field} out of range")
        return HeaderError(f"{self.file_name}: {field} = {value} is out of range; it must be {allowed}. "
                           f"Fix it in the [data] section of the params file or with --set {field}=...",
                           self.file_name)

    def _seconds_to_sample(self, seconds: Any, rate: Any, field: str) -> int:
        """round(seconds x rate) for a start time in the header; a typed error naming `field`
        when the header's time or rate is not a finite number."""
        value = float(seconds) * float(rate)
        if not math.isfinite(value) or abs(value) > 2.0 ** 62:
            raise DamagedFileError(f"{self.file_name}: the header gives {field} = {_short(seconds)} s at "
                                   f"{_short(rate)} Hz, not a time a recording can start at; the header "
                                   "is damaged.", self.file_name, f"{field} out of range")
        return round(value)

    def _check_ranges(self) -> None:
        """The mandatory fields, whoever gave them, within the range a recording can have."""
        checks = (
            ("nb_channels", lambda v: isinstance(v, (int, np.integer)) and 1 <= v <= MAX_CHANNELS,
             f"a whole number from 1 to {MAX_CHANNELS}"),
            ("sampling_rate", lambda v: 0 < float(v) <= MAX_SAMPLING_RATE,
             f"a number of Hz above 0 and at most {MAX_SAMPLING_RATE:g}"),
            ("gain", lambda v: math.isfinite(float(v)) and float(v) != 0, "a finite number other than 0"),
            ("dtype_offset", lambda v: abs(float(v)) <= 2.0 ** 64, "a finite number within ±2**64"),
        )
        for field, ok, allowed in checks:
            value = self._params.get(field)
            if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
                continue                        # checked again once the header has spoken
            try:
                good = bool(ok(value))
            except (TypeError, ValueError, OverflowError):
                good = False
            if not good:
                raise self._out_of_range(field, value, allowed)
        for field, values in (("gain", self._channel_gains), ("dtype_offset", self._channel_offsets)):
            if values is None:
                continue
            values = np.asarray(values, dtype=np.float64)
            bad = np.flatnonzero(~np.isfinite(values))     # a zero gain is a flat channel: allowed
            if bad.size:
                raise self._out_of_range(field, f"{values[bad[0]]} on channel {bad[0]}", "finite")

    # -- parameters -------------------------------------------------------------------------------
    def _field_type(self, key: str) -> str | None:
        return (self._required_fields.get(key) or MANDATORY_FIELDS.get(key)
                or self._field_types.get(key))

    def _fill_from_params(self, params: dict) -> None:
        given = {}
        for key, value in dict(self._default_values).items():
            given[key] = value
        for key, value in params.items():
            if value is None or (isinstance(value, str) and value.strip() == ""):
                continue
            given[key] = value
            self.given_fields.add(key)
        for key, value in given.items():
            type_name = self._field_type(key)
            self._params[key] = coerce_value(value, type_name, key, self.file_name) if type_name else value
        missing = {k: t for k, t in self._required_fields.items() if k not in self._params}
        if missing:
            raise MissingFieldsError(self.file_name, missing, self.description)
        self._resolve_dtype()
        self._check_ranges()

    def _fill_from_header(self, header: dict) -> None:
        for key, value in header.items():
            type_name = self._field_type(key)
            self._params[key] = coerce_value(value, type_name, key, self.file_name) if type_name else value
            self.header_fields.add(key)
        self._resolve_dtype()

    def _resolve_dtype(self) -> None:
        if "data_dtype" in self._params:
            dtype = normalize_dtype(self._params["data_dtype"], self.file_name)
            self._params["data_dtype"] = dtype.name if dtype.byteorder in "=|" else dtype.str
            offset = self._params.get("dtype_offset", "auto")
            if isinstance(offset, str):
                if offset.strip().lower() == "auto":
                    offset = auto_dtype_offset(dtype)
                else:
                    offset = coerce_value(offset, "float", "dtype_offset", self.file_name)
            if not isinstance(offset, (int, np.integer)):
                offset = float(offset)
                if math.isfinite(offset) and offset == int(offset):
                    offset = int(offset)
            self._params["dtype_offset"] = offset

    def _check_complete(self) -> None:
        self._params.setdefault("gain", 1.0)
        self._params.setdefault("dtype_offset", "auto")
        self._resolve_dtype()
        missing = {k: t for k, t in MANDATORY_FIELDS.items() if k not in self._params}
        if missing:
            raise MissingFieldsError(self.file_name, missing, self.description)

    def __getattr__(self, key: str) -> Any:
        # Wrappers read their params as attributes (self.nb_channels, self.data_offset, ...).
        params = self.__dict__.get("_params")
        if params is not None and key in params:
            return params[key]
        raise AttributeError(f"{type(self).__name__} has no attribute {key!r}")

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    def get_description(self) -> dict[str, Any]:
        """The params that reopen this recording: what goes in the [data] section."""
        description = {"file_format": self.description,
                       "stream_mode": self.stream_mode or "None"}
        for key, value in self._params.items():
            if isinstance(value, (np.generic,)):
                value = value.item()
            description[key] = value
        return description

    # -- shape and time ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        if self._sources:
            return (sum(s.duration for s in self._sources), self.nb_channels)
        return self._shape

    @property
    def duration(self) -> int:
        """Number of samples on the whole timeline (all streams)."""
        return self.shape[0]

    @property
    def t_start(self) -> int:
        return self._sources[0].t_start if self._sources else self._t_start

    @property
    def t_stop(self) -> int:
        if self._sources:
            return self._sources[-1].t_stop
        return self._t_stop if self._t_stop is not None else self._t_start + self._shape[0]

    @property
    def nb_streams(self) -> int:
        return len(self._sources) if self._sources else 1

    @property
    def streams(self) -> list[DataFile]:
        """The parts of the timeline, each a DataFile; a single-stream file is its own stream."""
        return list(self._sources) if self._sources else [self]

    def stream_offsets(self) -> np.ndarray:
        """Timeline index of each stream's first sample, plus the total duration at the end."""
        durations = [s.duration for s in self.streams]
        return np.concatenate([[0], np.cumsum(durations, dtype=np.int64)])

    # -- optional hooks a format may write (each has a working default) ----------------------------
    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        """How sure this format is that it reads `path`: (score in (0, 1], reason) or None.

        Called for every candidate format when a file is opened without a format, so it
        reads at most a few KB and never raises on a foreign file (an exception counts as
        None). A format that looks at content has the last word on its own files. The
        default judges by the extension alone: 0.5 when it is one of `extension`.
        """
        ext = os.path.splitext(path)[1].lower()
        if ext and ext in [e.lower() for e in cls.extension]:
            return 0.5, f"extension {ext}"
        return None

    @classmethod
    def sniffs_content(cls) -> bool:
        """True when the format writes its own `sniff` (it looks inside the file)."""
        return getattr(cls.sniff, "__func__", None) is not DataFile.sniff.__func__

    def _local_events(self) -> np.ndarray:
        """This stream's events (app.io.events.EVENT_DTYPE), samples counted from the stream's
        first sample; `get_events` places them on the timeline. Default: no events."""
        from app.io.events import empty_events
        return empty_events()

    def related_streams(self) -> list[tuple[str, str, dict]]:
        """Other streams of the same acquisition, often at other rates (an LF beside an AP band,
        an NI board, aux inputs): (label, file_name, params) that open each with this format.
        The browser shows them as lanes on one clock, placed by their own `t_start` and rate."""
        return []

    def prefetch(self, start: int, stop: int) -> None:
        """A hint: timeline samples [start, stop) will be read soon. A format reading a file on a
        server fetches them now, all at once (`app.io.remote`); the default does nothing."""

    def channel_positions(self) -> np.ndarray | None:
        """(nb_channels, 2) site positions in µm when the file knows them (a probe in the
        header), else None; the probe view and the wizard use it when no .prb is given."""
        return None

    def channel_geometry(self) -> ProbeGeometry | None:
        """The probe geometry the file's header carries (an app.io.probe_geometry.ProbeGeometry,
        source "header"), or None: the format's `_header_geometry`, else `channel_positions`."""
        from app.io.probe_geometry import ProbeGeometry
        geometry = self._header_geometry()
        if geometry is None:
            positions = self.channel_positions()
            if positions is None:
                return None
            geometry = ProbeGeometry.from_positions(positions, source="header",
                                                    description=f"{self.title or self.description} header")
        geometry.check_fits(int(self.nb_channels), self.file_name)
        return geometry

    def _header_geometry(self) -> ProbeGeometry | None:
        """Hook: a format whose header knows more than positions (shanks, contact size, model)
        returns a ProbeGeometry here; None falls back to `channel_positions`."""
        return None

    @property
    def channel_offsets(self) -> np.ndarray:
        """Per-channel raw value of physical zero; the scalar `dtype_offset` when uniform."""
        if self._channel_offsets is not None:
            return np.array(self._channel_offsets, dtype=np.float64)
        return np.full(self.nb_channels, float(self.dtype_offset))

    @property
    def channel_gains(self) -> np.ndarray:
        """Per-channel gain (physical unit per bit); the scalar `gain` when uniform."""
        if self._channel_gains is not None:
            return np.asarray(self._channel_gains, dtype=np.float64)
        return np.full(self.nb_channels, float(self.gain))

    # -- streams ----------------------------------------------------------------------------------
    def _set_sources(self, stream_mode: str) -> None:
        if stream_mode not in self.is_streamable:
            raise UnsupportedStreamMode(self.file_name, stream_mode, self.description, self.is_streamable)
        sources = self.set_streams(stream_mode)
        if not sources:
            raise HeaderError(f"{self.file_name}: stream mode {stream_mode} found no streams.",
                              self.file_name)
        first = sources[0]
        for source in sources[1:]:
            for key in ("nb_channels", "data_dtype"):
                if source._params.get(key) != first._params.get(key):
                    raise ShapeMismatchError(
                        f"{source.file_name}: {key} is {source._params.get(key)} but "
                        f"{first.file_name} has {first._params.get(key)}; every part of a "
                        f"{stream_mode} recording must match.", source.file_name)
            if abs(float(source.sampling_rate) - float(first.sampling_rate)) > 1e-6 * float(first.sampling_rate):
                raise ShapeMismatchError(
                    f"{source.file_name}: sampling_rate {source.sampling_rate} differs from "
                    f"{first.sampling_rate} in {first.file_name}; parts of one recording share a rate.",
                    source.file_name)
        self._sources = sources

    def set_streams(self, stream_mode: str) -> list[DataFile]:
        """The DataFiles making up the timeline in `stream_mode`; `multi-files` is generic."""
        if stream_mode != "multi-files":
            raise UnsupportedStreamMode(self.file_name, stream_mode, self.description, self.is_streamable)
        given = {k: v for k, v in self._params.items() if k not in self.header_fields}
        sources: list[DataFile] = []
        for path in multi_file_parts(self.file_name):
            source = type(self)(path, given)
            if sources:
                source._t_start = sources[-1].t_stop
                source._t_stop = None
            sources.append(source)
        return sources

    # -- segments: formats whose files hold several pieces of acquisition (pauses, gaps) ----------
    def _pick_segment(self, count: int, why: str = "acquisition paused") -> int:
        """The `segment_index` param, checked against `count` segments; says so in the log when
        the file has more than the one shown (segments are never glued silently)."""
        index = int(self._params.get("segment_index", 0))
        if not 0 <= index < count:
            raise HeaderError(f"{self.file_name}: segment_index {index} does not exist; the file has "
                              f"{count} segment(s) (0 to {count - 1}).", self.file_name)
        if count > 1 and self.stream_mode is None and "segment_index" not in self.given_fields:
            print_and_log(f"{self.file_name}: {count} segments ({why}); showing segment {index}. "
                          "Open with stream_mode=segments to see them all.", "info")
        return index

    def _pick_stream_index(self, choices: Sequence[str]) -> int:
        """The `stream_index` param checked against the file's streams of different rates
        (`choices` describes each); says so in the log when more than the one shown exist."""
        index = int(self._params.get("stream_index", 0))
        if not 0 <= index < len(choices):
            listing = "; ".join(f"{k}: {choice}" for k, choice in enumerate(choices))
            raise HeaderError(f"{self.file_name}: stream_index {index} does not exist; streams are "
                              f"{listing}.", self.file_name, candidates=list(range(len(choices))))
        if len(choices) > 1 and self.stream_mode is None and "stream_index" not in self.given_fields:
            print_and_log(f"{self.file_name}: {len(choices)} streams of different rates; showing "
                          f"{choices[index]}. Set stream_index to see another.", "info")
        return index

    def _segment_sources(self, count: int, **fixed: Any) -> list[DataFile]:
        """One instance per segment, for a format's `segments` stream mode."""
        given = {k: v for k, v in self._params.items()
                 if k not in self.header_fields and k not in ("segment_index", "nb_segments")}
        given.update(fixed)
        return [type(self)(self.file_name, {**given, "segment_index": k}) for k in range(count)]

    def _describe_segments(self, description: dict, count: int) -> dict:
        if self.stream_mode is None and count > 1:
            description["segment_index"] = int(self._params.get("segment_index", 0))
            description["nb_segments"] = count
        return description

    # -- opening ----------------------------------------------------------------------------------
    def open(self, mode: str = "r") -> DataFile:
        if self._is_open and self._mode == mode:
            return self
        if self._is_open:
            self.close()
        for source in self._sources:
            source.open(mode)
        if not self._sources:
            self._open(mode)
        self._is_open = True
        self._mode = mode
        return self

    def close(self) -> None:
        for source in self._sources:
            source.close()
        if self._is_open and not self._sources:
            self._close()
        self._is_open = False
        self._mode = "r"

    def __enter__(self) -> DataFile:
        return self.open(self._mode)

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            if self.__dict__.get("_is_open"):
                self.close()
        except Exception:  # noqa: BLE001 - never raise from a finaliser
            pass

    def _ensure_open(self) -> None:
        if not self._is_open:
            self.open(self._mode)

    # -- methods a wrapper writes -----------------------------------------------------------------
    def _read_from_header(self) -> dict:
        """Read the header; set ``_shape`` (and ``_t_start``); return the params it gives."""
        raise NotImplementedError

    def _open(self, mode: str = "r") -> None:
        pass

    def _close(self) -> None:
        pass

    def read_chunk(self, idx: int, chunk_size: int, padding: tuple[int, int] = (0, 0),
                   nodes: Sequence[int] | None = None) -> np.ndarray:
        """Samples [idx*chunk_size + padding[0], (idx+1)*chunk_size + padding[1]) of this
        file, clipped to it, as float32 (time, channels); `nodes` selects channels."""
        raise NotImplementedError

    def write_chunk(self, time: int, data: np.ndarray) -> None:
        raise NotImplementedError(f"format {self.description} cannot be written")

    def read_chunk_raw(self, idx: int, chunk_size: int, padding: tuple[int, int] = (0, 0),
                       nodes: Sequence[int] | None = None) -> np.ndarray | None:
        """The samples `read_chunk` returns, as stored: `data_dtype`, unscaled, (time, channels).

        Optional: None means this format has no raw access (use `read_chunk`).
        Conversions that change no sample use it to skip the float32 round trip.
        """
        return None

    def write_chunk_raw(self, time: int, raw: np.ndarray) -> None:
        """Write samples already in `data_dtype` (no scaling) at local index `time`; optional."""
        raise NotImplementedError(f"format {self.description} has no raw writes")

    @classmethod
    def writes_raw(cls) -> bool:
        """True when the format overrides `write_chunk_raw`."""
        return cls.write_chunk_raw is not DataFile.write_chunk_raw

    def allocate(self, shape: tuple[int, int], data_dtype: str | None = None) -> None:
        """Create an empty file of `shape` (samples, channels) for writing."""
        raise NotImplementedError(f"format {self.description} cannot be written")

    # -- helpers the base gives -------------------------------------------------------------------
    def _get_t_start_t_stop(self, idx: int, chunk_size: int,
                            padding: tuple[int, int] = (0, 0)) -> tuple[int, int]:
        """Local sample bounds of chunk `idx` with `padding` (negative first, positive second),
        clipped to this file."""
        t_start = int(idx) * int(chunk_size) + int(padding[0])
        t_stop = (int(idx) + 1) * int(chunk_size) + int(padding[1])
        local_duration = self._shape[0]
        return max(t_start, 0), max(min(t_stop, local_duration), 0)

    def _read_array(self, array: np.ndarray, idx: int, chunk_size: int, padding: tuple[int, int] = (0, 0),
                    nodes: Sequence[int] | None = None) -> np.ndarray:
        """`read_chunk` for a (samples, channels) array or memmap: the window, the `nodes`, scaled."""
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        rows = array[t_start:t_stop]
        if nodes is not None:
            rows = rows[:, np.asarray(nodes, dtype=np.intp)]
        return self._scale_data_to_float32(rows, nodes)

    def _scale_data_to_float32(self, data: np.ndarray, nodes: Sequence[int] | None = None) -> np.ndarray:
        """Raw samples -> float32 physical values: (raw - dtype_offset) * gain."""
        out = np.asarray(data, dtype=np.float32)
        if out is data or (isinstance(data, np.memmap) and np.shares_memory(out, data)):
            out = out.copy()
        if self._channel_offsets is not None:
            offsets = np.asarray(self._channel_offsets, dtype=np.float32)
            out -= offsets if nodes is None else offsets[np.asarray(nodes)]
        elif self.dtype_offset != 0:
            out -= np.float32(self.dtype_offset)
        if self._channel_gains is not None:
            gains = np.asarray(self._channel_gains, dtype=np.float32)
            out *= gains if nodes is None else gains[np.asarray(nodes)]
        elif float(self.gain) != 1.0:
            out *= np.float32(self.gain)
        return np.ascontiguousarray(out)

    def _unscale_data_from_float32(self, data: np.ndarray, nodes: Sequence[int] | None = None) -> np.ndarray:
        """Float32 physical values -> raw samples of `data_dtype` (rounded and clipped)."""
        dtype = np.dtype(self.data_dtype)
        # float32 holds every value of the types up to 16 bits exactly; wider types need float64
        work = np.float32 if dtype.itemsize <= 2 or dtype == np.float32 else np.float64
        out = np.array(data, dtype=work)
        if self._channel_gains is not None:
            gains = np.asarray(self._channel_gains, dtype=work)
            out /= gains if nodes is None else gains[np.asarray(nodes)]
        elif float(self.gain) != 1.0:
            out /= work(self.gain)
        if self._channel_offsets is not None:
            offsets = np.asarray(self._channel_offsets, dtype=work)
            out += offsets if nodes is None else offsets[np.asarray(nodes)]
        elif self.dtype_offset != 0:
            out += work(self.dtype_offset)
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            np.rint(out, out=out)
            np.minimum(out, info.max, out=out)
            np.maximum(out, info.min, out=out)
        return out.astype(dtype, copy=False)

    def analyze(self, chunk_size: int) -> tuple[int, int]:
        """(number of whole chunks, length of the last partial chunk) over the timeline."""
        nb_chunks = self.duration // int(chunk_size)
        return int(nb_chunks), int(self.duration - nb_chunks * int(chunk_size))

    def read_range(self, t_start: int, t_stop: int, nodes: Sequence[int] | None = None) -> np.ndarray:
        """Samples [t_start, t_stop) of the timeline (across streams) as float32 (time, channels)."""
        pieces = [source.read_chunk(0, count, (local, local), nodes)
                  for source, local, count in self._stream_pieces(t_start, t_stop)]
        return self._join_pieces(pieces, nodes, np.float32)

    def read_range_raw(self, t_start: int, t_stop: int,
                       nodes: Sequence[int] | None = None) -> np.ndarray | None:
        """`read_range` in `data_dtype`, unscaled; None when a stream has no raw access."""
        pieces = []
        for source, local, count in self._stream_pieces(t_start, t_stop):
            piece = source.read_chunk_raw(0, count, (local, local), nodes)
            if piece is None:
                return None
            pieces.append(piece)
        return self._join_pieces(pieces, nodes, np.dtype(self.data_dtype))

    def _stream_pieces(self, t_start: int, t_stop: int) -> list[tuple[DataFile, int, int]]:
        """(stream, local first sample, count) covering timeline samples [t_start, t_stop)."""
        t_start, t_stop = int(t_start), int(t_stop)
        if not 0 <= t_start <= t_stop <= self.duration:
            raise IndexError(f"{self.file_name}: samples [{t_start}, {t_stop}) fall outside "
                             f"[0, {self.duration}).")
        self._ensure_open()
        if not self._sources:
            return [(self, t_start, t_stop - t_start)]
        offsets = self.stream_offsets()
        pieces = []
        first = int(np.searchsorted(offsets, t_start, side="right")) - 1
        for k in range(max(first, 0), len(self._sources)):
            lo, hi = max(t_start, offsets[k]), min(t_stop, offsets[k + 1])
            if lo >= hi:
                if offsets[k] >= t_stop:
                    break
                continue
            pieces.append((self._sources[k], int(lo - offsets[k]), int(hi - lo)))
        return pieces

    def _join_pieces(self, pieces: list[np.ndarray], nodes: Sequence[int] | None,
                     dtype: np.dtype) -> np.ndarray:
        if not pieces:
            width = self.nb_channels if nodes is None else len(nodes)
            return np.zeros((0, width), dtype=dtype)
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=0)

    def get_data(self, idx: int, chunk_size: int, padding: tuple[int, int] = (0, 0),
                 nodes: Sequence[int] | None = None) -> tuple[np.ndarray, int]:
        """Chunk `idx` of the whole timeline with `padding`, clipped to the timeline.

        Returns (data, t_offset) like SpyKING CIRCUS: t_offset is `t_start` plus the
        timeline index of the chunk's first unpadded sample.
        """
        start = int(idx) * int(chunk_size)
        lo = max(start + int(padding[0]), 0)
        hi = min(start + int(chunk_size) + int(padding[1]), self.duration)
        return self.read_range(lo, max(hi, lo), nodes), self.t_start + start

    def get_snippet(self, global_time: int, length: int, nodes: Sequence[int] | None = None) -> np.ndarray:
        """`length` samples from timeline index `global_time` (may span streams)."""
        return self.read_range(global_time, int(global_time) + int(length), nodes)

    def get_events(self, t_start: int | None = None, t_stop: int | None = None) -> np.ndarray:
        """Events on the timeline (app.io.events.EVENT_DTYPE: sample, duration, channel, label)
        whose sample is in [t_start, t_stop): each stream's `_local_events()` placed by
        `stream_offsets()`, loaded on the first call and kept; empty for formats without events."""
        if self._timeline_events is None:
            self._timeline_events = timeline_events(self)
        return select_events(self._timeline_events, t_start, t_stop)

    def set_data(self, time: int, data: np.ndarray) -> None:
        """Write float32 `data` at timeline index `time` (into the right stream)."""
        self._write_across_streams(time, data, "write_chunk")

    def set_data_raw(self, time: int, raw: np.ndarray) -> None:
        """`set_data` for samples already in `data_dtype` (see `write_chunk_raw`)."""
        self._write_across_streams(time, raw, "write_chunk_raw")

    def _write_across_streams(self, time: int, data: np.ndarray, method: str) -> None:
        if not self.is_writable:
            raise NotImplementedError(f"format {self.description} cannot be written")
        if not self._is_open or self._mode == "r":
            self.open("r+")
        if not self._sources:
            getattr(self, method)(int(time), data)
            return
        offsets = self.stream_offsets()
        done = 0
        while done < len(data):
            position = int(time) + done
            k = int(np.searchsorted(offsets, position, side="right")) - 1
            count = min(len(data) - done, int(offsets[k + 1]) - position)
            getattr(self._sources[k], method)(position - int(offsets[k]), data[done:done + count])
            done += count

    def __repr__(self) -> str:
        shape = self.shape if self._shape is not None else "?"
        return f"<{type(self).__name__} {self.description} {self.file_name!r} shape={shape}>"
