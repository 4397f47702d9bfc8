"""What the browser shows of the sorted units: which are shown (hide, solo), which is selected,
each unit's colour, and the queries the trace overlay and the Go menu make (no widgets).

`UnitsDisplay` wraps one `Units` and notifies "visibility" (hide/solo changed) and "selection";
`version` grows with every visibility change so a drawing cache can key on it.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from app.model.units import Units
from app.model.viewport import Observable

GOLDEN = 0.618033988749895


def unit_colours(count: int) -> np.ndarray:
    """`count` distinct RGB colours (0xRRGGBB, uint32): hues a golden angle apart, two tones
    alternating, saturated enough to stand out on dark traces over a white background."""
    colours = np.zeros(count, dtype=np.uint32)
    for k in range(count):
        hue = (0.02 + k * GOLDEN) % 1.0
        red, green, blue = colorsys.hsv_to_rgb(hue, 0.85, 0.85 if k % 2 == 0 else 0.65)
        colours[k] = (round(red * 255) << 16) | (round(green * 255) << 8) | round(blue * 255)
    return colours


@dataclass(frozen=True)
class SpikeMarks:
    """Spikes to draw: sample, unit index (in `Units.units`) and display row of each."""

    samples: np.ndarray
    unit_indices: np.ndarray
    rows: np.ndarray


class UnitsDisplay(Observable):
    """Hide, solo and selection over one `Units`; the shown units' spikes in a window."""

    def __init__(self, units: Units) -> None:
        super().__init__()
        self.units = units
        self.hidden: set[int] = set()
        self.solo: set[int] = set()             # when not empty, only these units are shown
        self.selected: int | None = None
        self.version = 0
        self.colours = unit_colours(len(units))
        self._shown = np.ones(len(units), dtype=bool)

    # -- visibility ---------------------------------------------------------------------------------
    def is_shown(self, unit_id: int) -> bool:
        if self.solo:
            return unit_id in self.solo
        return unit_id not in self.hidden

    def shown_ids(self) -> list[int]:
        return [i for i in self.units.ids if self.is_shown(i)]

    @property
    def shown_mask(self) -> np.ndarray:
        """Per unit index: is it drawn."""
        return self._shown

    def set_shown(self, unit_id: int, shown: bool) -> None:
        """Show or hide one unit (its checkbox); a hidden unit stays hidden through a solo's end."""
        self.units.unit(unit_id)
        (self.hidden.discard if shown else self.hidden.add)(unit_id)
        self._changed()

    def set_all_shown(self, shown: bool) -> None:
        self.hidden = set() if shown else set(self.units.ids)
        self._changed()

    def set_solo(self, unit_ids: Iterable[int] | None) -> None:
        """Show only `unit_ids` (None or empty: end the solo, the checkboxes rule again)."""
        chosen = set() if unit_ids is None else {int(i) for i in unit_ids}
        for unit_id in chosen:
            self.units.unit(unit_id)
        self.solo = chosen
        self._changed()

    def toggle_solo(self, unit_id: int) -> None:
        self.set_solo(None if self.solo == {unit_id} else [unit_id])

    def _changed(self) -> None:
        self._shown = np.array([self.is_shown(i) for i in self.units.ids], dtype=bool)
        self.version += 1
        self.notify("visibility", self.shown_ids())

    # -- selection ----------------------------------------------------------------------------------
    def select(self, unit_id: int | None) -> None:
        if unit_id is not None:
            self.units.unit(unit_id)
        if unit_id != self.selected:
            self.selected = unit_id
            self.notify("selection", unit_id)

    def next_spike(self, sample: float) -> int | None:
        """The selected unit's first spike after `sample` (None: no unit selected, or none after)."""
        if self.selected is None:
            return None
        return self.units.next_spike(self.selected, int(np.floor(sample)))

    def previous_spike(self, sample: float) -> int | None:
        """The selected unit's last spike before `sample`."""
        if self.selected is None:
            return None
        return self.units.previous_spike(self.selected, int(np.ceil(sample)))

    # -- queries for drawing ------------------------------------------------------------------------
    def marks(self, start: float, stop: float, row_of_channel: np.ndarray) -> SpikeMarks:
        """Shown units' spikes with start <= sample < stop whose peak channel has a display row.

        `row_of_channel[c]` is channel c's row on screen, -1 when it is not on screen; it has one
        extra last element (-1) so that a unit without a peak channel (-1) maps to no row."""
        spikes = self.units.spikes_in_window(int(np.ceil(start)), int(np.ceil(stop)))
        channels = spikes.channels
        channels = np.where(channels < len(row_of_channel) - 1, channels, -1)
        rows = row_of_channel[channels]
        keep = (rows >= 0) & self._shown[spikes.unit_indices]
        return SpikeMarks(spikes.samples[keep], spikes.unit_indices[keep], rows[keep])

    def spike_near(self, sample: float, channel: int, tolerance: float) -> tuple[int, int] | None:
        """(unit id, spike sample) of the shown spike on `channel` nearest to `sample` within
        `tolerance` samples, or None."""
        spikes = self.units.spikes_in_window(int(np.floor(sample - tolerance)), int(np.ceil(sample + tolerance)) + 1,
                                             channels=[channel])
        keep = self._shown[spikes.unit_indices]
        samples, owners = spikes.samples[keep], spikes.unit_indices[keep]
        if not len(samples):
            return None
        k = int(np.argmin(np.abs(samples - sample)))
        if abs(samples[k] - sample) > tolerance:
            return None
        return self.units.units[int(owners[k])].id, int(samples[k])


def row_lookup(channels: Iterable[int], nb_channels: int) -> np.ndarray:
    """channel -> display row (-1 off screen) for channels shown in order `channels`, with the
    extra last element `UnitsDisplay.marks` wants."""
    lookup = np.full(nb_channels + 1, -1, dtype=np.int64)
    shown = np.fromiter(channels, dtype=np.int64)
    valid = (shown >= 0) & (shown < nb_channels)
    lookup[shown[valid]] = np.flatnonzero(valid)
    return lookup
