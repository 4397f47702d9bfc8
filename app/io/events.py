"""Events on a recording's timeline: the `get_events` contract and its helpers.

An event table is a numpy structured array of `EVENT_DTYPE`, sorted by `sample`:
`sample` (int64, timeline index: 0 is the first sample of the first stream, as in `read_range`),
`duration` (int64 samples, 0 for an instant), `channel` (str: the line or source, e.g. `TTL 3`,
`messages`) and `label` (str: state, code or message text). The two text fields hold Python
`str` objects (dtype object), so ten million events naming a few channels share a few strings.

A format writes `_local_events(self)`: the events of one stream with samples counted from that
stream's first sample. `timeline_events` places every stream's events on the timeline, keeps
those inside a stream (an event before the first or after the last recorded sample has no place
on the timeline), caches the table on first use and answers range queries with searchsorted.
"""

from __future__ import annotations

import csv
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from app.io.errors import HeaderError
from app.io.remote import is_url, remote_identity

EVENT_DTYPE = np.dtype([("sample", "<i8"), ("duration", "<i8"), ("channel", object), ("label", object)])
PULSE_LABEL = "high"
RISING_LABEL = "rising"
FALLING_LABEL = "falling"


def empty_events() -> np.ndarray:
    """An event table with no rows."""
    return np.zeros(0, dtype=EVENT_DTYPE)


def copy_events(events: np.ndarray) -> np.ndarray:
    """A writable copy (field by field: numpy's own copy of object records is ten times slower)."""
    out = np.zeros(len(events), dtype=EVENT_DTYPE)
    for name in EVENT_DTYPE.names:
        out[name] = events[name]
    return out


def _text_column(values: Any, count: int) -> np.ndarray:
    """`values` (one str for all rows, or one per row) as an object array of str."""
    if isinstance(values, (str, bytes)):
        column = np.empty(count, dtype=object)
        column[:] = values if isinstance(values, str) else values.decode("utf-8", "replace")
        return column
    array = np.asarray(values)
    if array.dtype == object and all(type(v) is str for v in array[: min(count, 16)]):
        return array.astype(object, copy=False)
    unique, inverse = np.unique(array, return_inverse=True)
    names = np.array([v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in unique.tolist()],
                     dtype=object)
    return names[inverse.reshape(-1)]


def make_events(samples: Any, channels: Any, labels: Any = "", durations: Any = None,
                is_sorted: bool = False) -> np.ndarray:
    """An event table from columns; `channels`/`labels` may be one str for every row."""
    samples = np.asarray(samples, dtype=np.int64).reshape(-1)
    events = np.zeros(len(samples), dtype=EVENT_DTYPE)      # np.empty of object records is slow
    events["sample"] = samples
    events["duration"] = 0 if durations is None else np.asarray(durations, dtype=np.int64).reshape(-1)
    events["channel"] = _text_column(channels, len(samples))
    events["label"] = _text_column(labels, len(samples))
    return events if is_sorted else sort_events(events)


def sort_events(events: np.ndarray) -> np.ndarray:
    """The table ordered by sample; rows with equal samples keep their order."""
    if len(events) < 2 or bool(np.all(events["sample"][1:] >= events["sample"][:-1])):
        return events
    return events[np.argsort(events["sample"], kind="stable")]


def merge_events(*tables: np.ndarray) -> np.ndarray:
    """Several event tables as one, sorted by sample (stable: earlier tables first on ties)."""
    tables = tuple(t for t in tables if t is not None and len(t))
    if not tables:
        return empty_events()
    if len(tables) == 1:
        return sort_events(tables[0])
    return sort_events(np.concatenate([t.astype(EVENT_DTYPE, copy=False) for t in tables]))


def pair_ttl_edges(samples: Any, lines: Any, states: Any,
                   names: Callable[[Any], str] | None = None) -> np.ndarray:
    """TTL edges -> events: a rising edge followed by a falling edge on the same line is one
    pulse (`label` 'high', `duration` = fall - rise); an edge without a partner stays an instant
    labelled 'rising' or 'falling'.

    `states` is truthy for a rising edge. `names(line)` gives the channel name (default
    `TTL <line>`). Edges on one line are taken in sample order; edges at the same sample keep
    their input order, so a rise then a fall at one sample is a pulse of duration 0.
    """
    samples = np.asarray(samples, dtype=np.int64).reshape(-1)
    lines = np.asarray(lines).reshape(-1)
    rising = np.asarray(states).reshape(-1).astype(bool)
    if not len(samples):
        return empty_events()
    if np.any(samples[1:] < samples[:-1]):
        by_time = np.argsort(samples, kind="stable")
        samples, lines, rising = samples[by_time], lines[by_time], rising[by_time]
    unique, line_index = _codes(lines)
    small = line_index.astype(np.uint16) if len(unique) <= 1 << 16 else line_index
    order = np.argsort(small, kind="stable")           # a radix sort for 16-bit keys
    grouped_lines, grouped_rising, grouped_samples = line_index[order], rising[order], samples[order]
    starts = np.zeros(len(samples), dtype=bool)
    starts[:-1] = grouped_rising[:-1] & ~grouped_rising[1:] & (grouped_lines[:-1] == grouped_lines[1:])
    ends = np.zeros(len(samples), dtype=bool)
    ends[1:] = starts[:-1]
    grouped_durations = np.zeros(len(samples), dtype=np.int64)
    grouped_durations[:-1][starts[:-1]] = np.diff(grouped_samples)[starts[:-1]]
    # Back to time order: the rows are already sorted by sample there.
    keep = np.empty(len(samples), dtype=bool)
    keep[order] = ~ends
    durations = np.empty(len(samples), dtype=np.int64)
    durations[order] = grouped_durations
    kind = np.empty(len(samples), dtype=np.int8)
    kind[order] = np.where(starts, 0, np.where(grouped_rising, 1, 2))
    rows = np.flatnonzero(keep)
    labels = np.array([PULSE_LABEL, RISING_LABEL, FALLING_LABEL], dtype=object)[kind[rows]]
    namer = names or (lambda line: f"TTL {line}")
    channel_names = np.array([namer(v) for v in unique.tolist()], dtype=object)
    return make_events(samples[rows], channel_names[line_index[rows]], labels, durations[rows], is_sorted=True)


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unique values, index of each value in them); a lookup table for small non-negative ints."""
    if values.dtype.kind in "iu" and len(values) and values.min() >= 0 and values.max() < 1 << 20:
        present = np.flatnonzero(np.bincount(values.astype(np.intp)))
        table = np.zeros(int(present[-1]) + 1, dtype=np.intp)
        table[present] = np.arange(len(present))
        return present.astype(values.dtype), table[values.astype(np.intp)]
    unique, inverse = np.unique(values, return_inverse=True)
    return unique, inverse.reshape(-1)


def edges_from_words(words: np.ndarray, first_sample: int = 0, previous: int | None = None,
                     bits: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(samples, bits, rising) of every bit change in a run of digital words.

    `previous` is the word before `words[0]` (None: the first word sets the initial state and
    is no edge). Only `bits` are looked at (default all bits of the word type).
    """
    words = np.asarray(words).reshape(-1)
    width = 8 * words.dtype.itemsize
    words = words.astype(np.uint64)
    if previous is None:
        before, after, offset = words[:-1], words[1:], first_sample + 1
    else:
        before = np.concatenate([np.array([previous], dtype=np.uint64), words[:-1]])
        after, offset = words, first_sample
    changed = np.flatnonzero(after ^ before)
    if not len(changed):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=bool)
    old, new = before[changed], after[changed]
    look = np.asarray(bits if bits is not None else range(width), dtype=np.uint64)
    flips = (((old ^ new)[:, None] >> look[None, :]) & np.uint64(1)).astype(bool)
    rows, columns = np.nonzero(flips)
    is_rising = ((new[rows] >> look[columns]) & np.uint64(1)).astype(bool)
    return changed[rows].astype(np.int64) + offset, look[columns].astype(np.int64), is_rising


def select_events(events: np.ndarray, t_start: int | None = None, t_stop: int | None = None) -> np.ndarray:
    """Rows whose `sample` is in [t_start, t_stop) (None: unbounded), by binary search."""
    lo = 0 if t_start is None else int(np.searchsorted(events["sample"], int(t_start), side="left"))
    hi = len(events) if t_stop is None else int(np.searchsorted(events["sample"], int(t_stop), side="left"))
    return events[lo:max(hi, lo)]


# -- the timeline of a DataFile ---------------------------------------------------------------------
def local_events(stream: Any) -> np.ndarray:
    """One stream's events, samples counted from its first sample (DataFile._local_events)."""
    return stream._local_events()


def timeline_events(datafile: Any, t_start: int | None = None, t_stop: int | None = None) -> np.ndarray:
    """Every stream's events placed on the timeline of `datafile`, those in [t_start, t_stop);
    read-only. Computed on each call: `DataFile.get_events` keeps the result."""
    offsets = datafile.stream_offsets()
    pieces = []
    for k, stream in enumerate(datafile.streams):
        events = local_events(stream)
        inside = (events["sample"] >= 0) & (events["sample"] < int(offsets[k + 1] - offsets[k]))
        fresh = not inside.all()
        if fresh:
            events = events[inside]
        if offsets[k]:
            events = events if fresh else copy_events(events)
            events["sample"] += int(offsets[k])
        pieces.append(events)
    merged = merge_events(*pieces)
    merged.flags.writeable = False      # shared with per-file caches: callers copy to change it
    return select_events(merged, t_start, t_stop)


_FILE_CACHE: OrderedDict[tuple, Any] = OrderedDict()
_FILE_CACHE_SIZE = 16
_FILE_CACHE_LOCK = threading.Lock()


def cached_for_file(path: str, key: str, load: Callable[[], Any]) -> Any:
    """`load()` once per (file, key) while the file's size and mtime stay the same.

    Several DataFiles (segments, triggers) share one event file; reading it once serves them all.
    Keeps the 16 most recent results in memory.
    """
    token = (path, key, *remote_identity(path)) if is_url(path) else \
        (os.path.abspath(path), key, os.stat(path).st_size, os.stat(path).st_mtime_ns)
    with _FILE_CACHE_LOCK:
        if token in _FILE_CACHE:
            _FILE_CACHE.move_to_end(token)
            return _FILE_CACHE[token]
    value = load()
    with _FILE_CACHE_LOCK:
        _FILE_CACHE[token] = value
        while len(_FILE_CACHE) > _FILE_CACHE_SIZE:
            _FILE_CACHE.popitem(last=False)
    return value


# -- external event files ---------------------------------------------------------------------------
SECONDS_NAMES = {"seconds", "second", "sec", "secs", "s", "time_s", "times_s", "t_s", "onset", "onsets",
                 "time_sec", "onset_s", "start_time", "start_s"}
SAMPLES_NAMES = {"sample", "samples", "sample_number", "sample_numbers", "sample_index", "samp", "frame",
                 "frames", "index", "onset_sample", "start_sample"}
NEUTRAL_TIME_NAMES = {"time", "times", "t", "timestamp", "timestamps", "ts", "start", "event_time"}
DURATION_NAMES = {"duration", "durations", "dur", "length", "width"}
LABEL_NAMES = {"label", "labels", "name", "event", "event_type", "trial_type", "code", "value", "message",
               "text", "description", "condition", "state", "type"}
CHANNEL_NAMES = {"channel", "line", "source", "stream"}


class LoadedEvents(NamedTuple):
    """The events of an external file and a sentence saying how its columns were read."""

    events: np.ndarray
    note: str


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def _read_table(path: str) -> tuple[list[str] | None, list[list[str]]]:
    """(header or None, rows) of a .csv/.tsv file; the first row is a header when it holds no number,
    or text above a number of the next row."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        text = handle.read()
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    if delimiter == "," and "," not in text.split("\n", 1)[0] and "\t" in text.split("\n", 1)[0]:
        delimiter = "\t"
    rows = [row for row in csv.reader(text.splitlines(), delimiter=delimiter)
            if row and not row[0].lstrip().startswith("#") and any(c.strip() for c in row)]
    if not rows:
        return None, []
    first, second = rows[0], rows[1] if len(rows) > 1 else []
    names_a_number_column = any(not _is_number(a) and _is_number(b) for a, b in zip(first, second))
    if names_a_number_column or not any(_is_number(cell) for cell in first):
        return [cell.strip() for cell in first], rows[1:]
    return None, rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _npy_columns(path: str) -> tuple[list[str] | None, list[np.ndarray]]:
    array = np.load(path, allow_pickle=False)
    if array.dtype.names:
        return list(array.dtype.names), [np.asarray(array[name]).reshape(-1) for name in array.dtype.names]
    if array.ndim == 1:
        return None, [array]
    if array.ndim == 2:
        return None, [array[:, k] for k in range(array.shape[1])]
    raise HeaderError(f"{path}: a {array.ndim}-D array; an event file holds times as a 1-D array, "
                      "(n, k) columns or a structured array.", path)


def _pick_time_column(path: str, names: list[str], columns: list[np.ndarray], column: Any) -> int:
    if column is not None:
        if isinstance(column, int) or (isinstance(column, str) and column.isdigit() and column not in names):
            index = int(column)
            if not 0 <= index < len(columns):
                raise HeaderError(f"{path}: column {index} does not exist (the file has {len(columns)}).", path)
            return index
        normal = [_normal(n) for n in names]
        if _normal(str(column)) not in normal:
            raise HeaderError(f"{path}: no column {column!r}; the columns are {', '.join(names)}.", path,
                              candidates=names)
        return normal.index(_normal(str(column)))
    time_names = SECONDS_NAMES | SAMPLES_NAMES | NEUTRAL_TIME_NAMES
    for index, name in enumerate(_normal(n) for n in names):
        if name in time_names or name.startswith(("time_", "onset_", "sample_")):
            return index
    for index, values in enumerate(columns):
        if _numeric(values) is not None:
            return index
    raise HeaderError(f"{path}: no numeric column to use as event times; name one with column=...", path)


def _numeric(values: np.ndarray) -> np.ndarray | None:
    if values.dtype.kind in "iuf":
        return values.astype(np.float64)
    try:
        return np.array([float(v) for v in values.tolist()], dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _guess_unit(name: str, values: np.ndarray) -> tuple[str, str]:
    """('s' or 'samples', why)."""
    normal = _normal(name) if name else ""
    if normal in SECONDS_NAMES or normal.endswith(("_s", "_sec", "_seconds")):
        return "s", f"the column name {name!r} says seconds"
    if normal in SAMPLES_NAMES or normal.startswith("sample") or normal.endswith(("_sample", "_samples")):
        return "samples", f"the column name {name!r} says samples"
    fractional = bool(np.any(values != np.round(values)))
    if fractional:
        return "s", "its values have fractions, so they are seconds"
    return "samples", "its values are all whole numbers, so they are sample indices"


def load_event_file(path: str, time_unit: str = "auto", sampling_rate: float | None = None,
                    column: Any = None) -> LoadedEvents:
    """Events from a `.csv`, `.tsv` or `.npy` file with one time per row.

    The time column is `column` (a name or index) or the first column named like a time
    (`time`, `t`, `timestamp`, `seconds`, `sample`, `onset`, ...), else the first numeric one.
    `time_unit` 's' or 'samples' says how to read it; 'auto' decides from the column name, then
    from the values (fractions mean seconds). Seconds need `sampling_rate` to become samples.
    Optional columns: duration (same unit), label/code/value/trial_type, channel/line.
    The returned `note` says which columns and unit were chosen and why.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise HeaderError(f"{path}: no such event file; check the path.", path)
    if path.lower().endswith(".npy"):
        names, columns = _npy_columns(path)
    elif path.lower().endswith((".csv", ".tsv", ".txt")):
        header, rows = _read_table(path)
        width = max((len(r) for r in rows), default=0 if header is None else len(header))
        names = header
        columns = [np.array([r[k].strip() if k < len(r) else "" for r in rows], dtype=object) for k in range(width)]
    else:
        raise HeaderError(f"{path}: unknown event file type; use .csv, .tsv or .npy.", path)
    named = names is not None
    names = names if named else [f"column {k}" for k in range(len(columns))]
    if not columns or not len(columns[0]):
        return LoadedEvents(empty_events(), f"{os.path.basename(path)}: no rows.")
    time_index = _pick_time_column(path, names if named else [], columns, column)
    times = _numeric(columns[time_index])
    if times is None or not np.all(np.isfinite(times)):
        raise HeaderError(f"{path}: column {names[time_index]!r} holds values that are not finite numbers; "
                          "it cannot be the event times.", path)
    unit, why = _choose_unit(path, time_unit, names[time_index] if named else "", times)
    if unit == "s" and not sampling_rate:
        raise HeaderError(f"{path}: the times are in seconds ({why}); give sampling_rate to place them "
                          "on the recording's samples, or time_unit='samples'.", path)
    scale = float(sampling_rate) if unit == "s" else 1.0
    extras = _extra_columns(names if named else [], columns, time_index)
    durations = _numeric(extras["duration"]) if "duration" in extras else None
    durations = None if durations is None else np.round(np.nan_to_num(durations) * scale)
    channel = extras.get("channel", os.path.splitext(os.path.basename(path))[0])
    label = extras.get("label", "")
    events = make_events(np.round(times * scale), channel, _as_text(label), durations)
    used = ", ".join(f"{what} from {names[k]!r}" for what, k in extras.get("_used", []))
    note = (f"{os.path.basename(path)}: {len(events)} events; times from column {names[time_index]!r} read as "
            f"{'seconds x ' + format(scale, 'g') + ' Hz' if unit == 's' else 'samples'} ({why})"
            + (f"; {used}" if used else "") + ".")
    return LoadedEvents(events, note)


def _choose_unit(path: str, time_unit: str, name: str, times: np.ndarray) -> tuple[str, str]:
    if time_unit in ("s", "seconds"):
        return "s", "time_unit='s' was given"
    if time_unit in ("samples", "sample"):
        return "samples", "time_unit='samples' was given"
    if time_unit != "auto":
        raise HeaderError(f"{path}: time_unit {time_unit!r} is not 'auto', 's' or 'samples'.", path)
    return _guess_unit(name, times)


def _extra_columns(names: list[str], columns: list[np.ndarray], time_index: int) -> dict[str, Any]:
    found: dict[str, Any] = {"_used": []}
    for index, name in enumerate(names):
        if index == time_index:
            continue
        normal = _normal(name)
        for what, group in (("duration", DURATION_NAMES), ("label", LABEL_NAMES), ("channel", CHANNEL_NAMES)):
            if normal in group and what not in found:
                found[what] = columns[index]
                found["_used"].append((what, index))
    if not names and len(columns) > 1 and "label" not in found:
        found["label"] = columns[1 if time_index == 0 else 0]
        found["_used"].append(("label", 1 if time_index == 0 else 0))
    return found


def _as_text(values: Any) -> Any:
    if isinstance(values, str):
        return values
    array = np.asarray(values)
    if array.dtype.kind == "f" and np.all(array == np.round(array)):
        return array.astype(np.int64)
    return array


def events_to_rows(events: np.ndarray) -> Iterable[tuple[int, int, str, str]]:
    """(sample, duration, channel, label) tuples, for writers and tests."""
    return zip(events["sample"].tolist(), events["duration"].tolist(), events["channel"].tolist(),
               events["label"].tolist())
