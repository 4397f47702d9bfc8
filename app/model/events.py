"""Event queries for the views: markers in a window, next/previous event, peri-event averages.

Qt-free. Events are the tables of `app.io.events` (sample on the recording's timeline, duration,
channel, label); an `EventIndex` holds one sorted table (the file's events, merged with any
external event files) and answers the views' questions without scanning it whole each time.
Peri-event averages read the recording only through `read_range` windows around the events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.io.events import empty_events, merge_events, select_events


def datafile_events(datafile: Any) -> np.ndarray:
    """All events of a DataFile; empty when its format has no `get_events`."""
    get_events = getattr(datafile, "get_events", None)
    return empty_events() if get_events is None else get_events()


class EventIndex:
    """One sorted event table with per-channel indices built on first use."""

    def __init__(self, events: np.ndarray | None = None):
        self._events = merge_events(events if events is not None else empty_events())
        self._reset()

    @classmethod
    def from_datafile(cls, datafile: Any) -> EventIndex:
        return cls(datafile_events(datafile))

    def _reset(self) -> None:
        self._by_channel: dict[tuple[str, ...], np.ndarray] = {}
        self._starts: dict[tuple[str, int], np.ndarray] = {}
        self._channels: list[str] | None = None
        durations = self._events["duration"]
        self._longest = int(durations.max()) if len(durations) else 0

    @property
    def events(self) -> np.ndarray:
        return self._events

    def __len__(self) -> int:
        return len(self._events)

    def add(self, events: np.ndarray) -> None:
        """Merge more events (an external event file, say) into the index."""
        self._events = merge_events(self._events, events)
        self._reset()

    @property
    def channels(self) -> list[str]:
        """The channel names, in order of first appearance on the timeline."""
        if self._channels is None:
            names = self._events["channel"]
            unique, first = np.unique(names.astype(str), return_index=True) if len(names) else ([], [])
            self._channels = [str(unique[k]) for k in np.argsort(first)]
        return list(self._channels)

    def _rows_of(self, channels: Iterable[str] | None) -> np.ndarray | None:
        """Sorted row numbers of `channels`; None means every row."""
        if channels is None:
            return None
        key = tuple(sorted(set(channels)))
        if key not in self._by_channel:
            if len(key) == 1:
                self._by_channel[key] = np.flatnonzero(self._events["channel"] == key[0])
            else:
                self._by_channel[key] = np.sort(np.concatenate(
                    [self._rows_of([c]) for c in key] or [np.zeros(0, dtype=np.intp)]))
        return self._by_channel[key]

    def in_window(self, t_start: int, t_stop: int, channels: Iterable[str] | None = None) -> np.ndarray:
        """Events that overlap [t_start, t_stop): those starting inside and pulses still on at t_start."""
        candidates = select_events(self._events, int(t_start) - self._longest, t_stop)
        ends = candidates["sample"] + np.maximum(candidates["duration"], 0)
        keep = (candidates["sample"] >= t_start) | (ends > t_start)
        if channels is not None:
            keep &= np.isin(candidates["channel"], list(channels))
        return candidates[keep]

    def _starts_of(self, channels: Iterable[str] | None) -> tuple[np.ndarray | None, np.ndarray]:
        """(rows, their start samples) of `channels`, kept for the next call."""
        rows = self._rows_of(channels)
        if rows is None:
            return None, self._events["sample"]
        key = ("starts", id(rows))
        if key not in self._starts:
            self._starts[key] = self._events["sample"][rows]
        return rows, self._starts[key]

    def next_after(self, sample: int, channels: Iterable[str] | None = None) -> np.void | None:
        """The first event starting after `sample` on `channels` (all when None), or None."""
        rows, starts = self._starts_of(channels)
        k = int(np.searchsorted(starts, int(sample), side="right"))
        if k >= len(starts):
            return None
        return self._events[k if rows is None else rows[k]]

    def previous_before(self, sample: int, channels: Iterable[str] | None = None) -> np.void | None:
        """The last event starting before `sample` on `channels` (all when None), or None."""
        rows, starts = self._starts_of(channels)
        k = int(np.searchsorted(starts, int(sample), side="left")) - 1
        if k < 0:
            return None
        return self._events[k if rows is None else rows[k]]

    def samples_of(self, channels: Iterable[str] | None = None, label: str | None = None) -> np.ndarray:
        """Start samples of the events on `channels` (and with `label`), e.g. for `peri_event`."""
        rows = self._rows_of(channels)
        events = self._events if rows is None else self._events[rows]
        if label is not None:
            events = events[events["label"] == label]
        return events["sample"].copy()


TEXT_CHANNEL_WORDS = ("message", "text", "comment", "annotation", "note")


def default_event_channel(index: EventIndex) -> str:
    """The event channel a peri-event average starts on: a stimulus line, not a log of messages.

    The first channel with pulses (events with a duration: paired TTL edges) and no text-like name,
    else the first whose name is not text-like, else the first; "" without events."""
    channels = index.channels
    if not channels:
        return ""
    events = index.events
    plain = [c for c in channels if not any(word in c.lower() for word in TEXT_CHANNEL_WORDS)]
    for channel in plain:
        if np.any(events["duration"][events["channel"] == channel] > 0):
            return channel
    return plain[0] if plain else channels[0]


@dataclass
class PeriEvent:
    """Signals around events: `mean` (window samples, channels) over `count` events, a few
    single `trials` (trials, window samples, channels), and the sample offsets `times`."""

    times: np.ndarray
    mean: np.ndarray
    trials: np.ndarray
    trial_samples: np.ndarray
    count: int
    skipped: int


class LockedReader:
    """`read_range` of a recording's DataFile under the lock its other readers (the trace source)
    take, so a peri-event average never interleaves its reads with theirs (None: no lock)."""

    def __init__(self, datafile: Any, lock: threading.Lock | None = None):
        self.datafile, self.lock = datafile, lock
        self.duration = int(datafile.duration)

    def read_range(self, t_start: int, t_stop: int, nodes: Sequence[int] | None = None) -> np.ndarray:
        if self.lock is None:
            return self.datafile.read_range(t_start, t_stop, nodes)
        with self.lock:
            return self.datafile.read_range(t_start, t_stop, nodes)


def session_reader(session: Any) -> LockedReader | None:
    """What a view reads the open recording's samples through (it never holds the DataFile):
    the session's DataFile under its trace source's read lock; None when nothing is open."""
    if session is None or session.recording is None:
        return None
    lock = session.source.read_lock if session.source is not None else None
    return LockedReader(session.recording.datafile, lock)


def recording_events(recording: Any) -> EventIndex:
    """The recording's own events, indexed (slow for some formats: call it off the GUI thread)."""
    return EventIndex.from_datafile(recording.datafile)


def _reader(datafile_or_source: Any) -> tuple[Callable[..., np.ndarray], int]:
    datafile = datafile_or_source
    if not hasattr(datafile, "read_range") and hasattr(datafile, "datafile"):
        datafile = datafile.datafile
    if not hasattr(datafile, "read_range"):
        raise TypeError(f"{type(datafile_or_source).__name__} has no read_range and no datafile; peri_event "
                        "needs a DataFile or a TraceSource.")
    return datafile.read_range, int(datafile.duration)


def peri_event(datafile_or_source: Any, event_samples: Sequence[int] | np.ndarray,
               window: tuple[int, int] = (-1000, 1000), channels: Sequence[int] | None = None,
               max_trials: int = 1000, single_trials: int = 5,
               cancelled: Callable[[], bool] | None = None) -> PeriEvent:
    """Mean of the samples [s + window[0], s + window[1]) around each event sample s.

    Events whose window leaves the recording are skipped (`skipped` counts them). With more
    than `max_trials` events an evenly spread subset is used. Each event costs one
    `read_range(..., nodes=channels)`; `cancelled()` is polled between reads.
    """
    read_range, duration = _reader(datafile_or_source)
    before, after = int(window[0]), int(window[1])
    if after <= before:
        raise ValueError(f"peri-event window {window} is empty; give (start, stop) offsets with start < stop.")
    samples = np.sort(np.asarray(event_samples, dtype=np.int64).reshape(-1))
    inside = samples[(samples + before >= 0) & (samples + after <= duration)]
    skipped = len(samples) - len(inside)
    if len(inside) > max_trials > 0:
        inside = inside[np.unique(np.linspace(0, len(inside) - 1, max_trials).round().astype(np.intp))]
    total: np.ndarray | None = None
    kept: list[np.ndarray] = []
    count = 0
    for sample in inside.tolist():
        if cancelled is not None and cancelled():
            break
        piece = read_range(sample + before, sample + after, channels)
        total = piece.astype(np.float64) if total is None else total + piece
        if len(kept) < single_trials:
            kept.append(np.array(piece, dtype=np.float32))
        count += 1
    width = _width(channels, read_range, duration)
    length = after - before
    mean = total / count if count else np.zeros((length, width))
    trials = np.stack(kept) if kept else np.zeros((0, length, width), dtype=np.float32)
    return PeriEvent(np.arange(before, after), mean, trials, inside[:count][: len(kept)], count, skipped)


def _width(channels: Sequence[int] | None, read_range: Callable[..., np.ndarray], duration: int) -> int:
    if channels is not None:
        return len(channels)
    return read_range(0, min(1, duration)).shape[1]
