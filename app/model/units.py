"""Units: what a sorter found, as one model the views query (no widgets).

Built from an `app.io.sorting.Sorting`. Each unit keeps its spike train (int64 samples, sorted),
label (good/mua/noise/unsorted), template and peak channel (the channel where the template's
peak-to-peak is largest). All spikes are also kept merged in one array sorted by sample, with the
unit index of each, so that "which spikes fall in this window on these channels" is two binary
searches plus a mask over the spikes in the window, whatever the number of units.

A spike is drawn on its unit's peak channel: that is the channel a window query filters on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from app.io.events import make_events
from app.io.sorting import Sorting

NO_CHANNEL = -1


@dataclass(frozen=True)
class Unit:
    id: int
    spike_train: np.ndarray
    label: str
    peak_channel: int                   # NO_CHANNEL when there is no template
    template: np.ndarray | None         # (n_samples, len(template_channels))
    template_channels: np.ndarray | None
    amplitudes: np.ndarray | None


@dataclass(frozen=True)
class UnitSummary:
    id: int
    label: str
    peak_channel: int
    count: int
    rate: float                         # Hz over the recording; nan when its duration is unknown
    median_amplitude: float             # nan without amplitudes


@dataclass(frozen=True)
class WindowSpikes:
    """Spikes in a window: sample, index of the unit in `Units.units`, and its peak channel."""

    samples: np.ndarray
    unit_indices: np.ndarray
    channels: np.ndarray


def peak_channel(template: np.ndarray | None, channels: np.ndarray | None = None) -> int:
    """The recording channel where `template` (n_samples, n_columns) has its largest peak-to-peak."""
    if template is None or template.ndim != 2 or template.size == 0:
        return NO_CHANNEL
    column = int(np.argmax(np.ptp(template, axis=0)))
    return int(channels[column]) if channels is not None else column


class Units:
    """The units of one sorting of one recording."""

    def __init__(self, sorting: Sorting, n_samples: int | None = None, sampling_rate: float | None = None):
        self.source = sorting.source
        self.sorter = sorting.sorter
        self.template_units = sorting.template_units
        self.sampling_rate = sampling_rate or sorting.sampling_rate
        self.n_samples = n_samples
        self.measured_amplitudes: dict[int, float] = {}   # unit id -> peak-to-peak on its peak channel,
        self.measured_units = ""                           # in these units, averaged on the recording
        self.units: list[Unit] = []
        for found in sorting.units:
            train = np.asarray(found.spike_train, dtype=np.int64)
            amplitudes = found.amplitudes
            if len(train) > 1 and np.any(train[1:] < train[:-1]):
                order = np.argsort(train, kind="stable")
                train = train[order]
                amplitudes = None if amplitudes is None else amplitudes[order]
            self.units.append(Unit(found.id, train, found.label, peak_channel(found.template, found.template_channels),
                                   found.template, found.template_channels, amplitudes))
        self._index_of = {unit.id: k for k, unit in enumerate(self.units)}
        self._peak = np.array([u.peak_channel for u in self.units], dtype=np.int64)
        self._merge()

    def _merge(self) -> None:
        """All spikes sorted by sample, each with its unit index (stable: unit order on ties)."""
        counts = np.array([len(u.spike_train) for u in self.units], dtype=np.int64)
        samples = (np.concatenate([u.spike_train for u in self.units]) if self.units
                   else np.zeros(0, dtype=np.int64))
        owners = np.repeat(np.arange(len(self.units), dtype=np.int32), counts)
        order = np.argsort(samples, kind="stable")
        self._samples = samples[order]
        self._owners = owners[order]

    def __len__(self) -> int:
        return len(self.units)

    @property
    def ids(self) -> list[int]:
        return [u.id for u in self.units]

    @property
    def spike_count(self) -> int:
        return len(self._samples)

    def unit(self, unit_id: int) -> Unit:
        try:
            return self.units[self._index_of[unit_id]]
        except KeyError:
            raise KeyError(f"no unit {unit_id}; units are {self.ids[:10]}...") from None

    def duration_seconds(self) -> float | None:
        if self.n_samples is None or not self.sampling_rate:
            return None
        return self.n_samples / self.sampling_rate

    def summary(self) -> list[UnitSummary]:
        """Per unit: spike count, rate over the recording, median amplitude."""
        duration = self.duration_seconds()
        rows = []
        for u in self.units:
            count = len(u.spike_train)
            rate = count / duration if duration else float("nan")
            amplitude = (float(np.median(u.amplitudes)) if u.amplitudes is not None and len(u.amplitudes)
                         else float("nan"))
            rows.append(UnitSummary(u.id, u.label, u.peak_channel, count, rate, amplitude))
        return rows

    def spikes_in_window(self, start: int, stop: int, channels: Iterable[int] | None = None,
                         unit_ids: Iterable[int] | None = None) -> WindowSpikes:
        """Spikes with start <= sample < stop, of units whose peak channel is in `channels`
        (None: all) and, if given, among `unit_ids`."""
        lo, hi = np.searchsorted(self._samples, [start, stop])
        samples = self._samples[lo:hi]
        owners = self._owners[lo:hi]
        keep = self._unit_mask(channels, unit_ids)
        if keep is not None:
            selected = keep[owners]
            samples, owners = samples[selected], owners[selected]
        return WindowSpikes(samples, owners, self._peak[owners])

    def _unit_mask(self, channels: Iterable[int] | None, unit_ids: Iterable[int] | None) -> np.ndarray | None:
        """Which units are wanted (per unit index), or None for all of them."""
        if channels is None and unit_ids is None:
            return None
        keep = np.ones(len(self.units), dtype=bool)
        if channels is not None:
            keep &= np.isin(self._peak, np.fromiter(channels, dtype=np.int64))
        if unit_ids is not None:
            chosen = np.zeros(len(self.units), dtype=bool)
            chosen[[self._index_of[i] for i in unit_ids if i in self._index_of]] = True
            keep &= chosen
        return keep

    def next_spike(self, unit_id: int, sample: int) -> int | None:
        """The unit's first spike strictly after `sample`, or None."""
        train = self.unit(unit_id).spike_train
        k = int(np.searchsorted(train, sample, side="right"))
        return int(train[k]) if k < len(train) else None

    def previous_spike(self, unit_id: int, sample: int) -> int | None:
        """The unit's last spike strictly before `sample`, or None."""
        train = self.unit(unit_id).spike_train
        k = int(np.searchsorted(train, sample, side="left"))
        return int(train[k - 1]) if k > 0 else None

    def as_events(self, unit_ids: Iterable[int] | None = None) -> np.ndarray:
        """Spike trains as an event table (app.io.events.EVENT_DTYPE): one instant per spike,
        channel `unit <id>`, label the unit's label; sorted by sample."""
        keep = self._unit_mask(None, unit_ids)
        samples, owners = self._samples, self._owners
        if keep is not None:
            selected = keep[owners]
            samples, owners = samples[selected], owners[selected]
        names = np.array([f"unit {u.id}" for u in self.units], dtype=object)
        labels = np.array([u.label for u in self.units], dtype=object)
        return make_events(samples, names[owners] if len(owners) else "", labels[owners] if len(owners) else "",
                           is_sorted=True)
