"""Viewport: what is on screen — the time window, the channels, their gains and the display filter.

Pure state and logic, no Qt: views draw what the viewport says and turn user actions into its
calls (zoom, scroll, page, gain, channel scrolling); the viewport clamps, then notifies its
subscribers, who redraw. Time is kept in timeline samples of the main stream (exact, what the
TraceSource asks for) and offered in seconds too (`t_start`, `duration`).

Topics: "window" (time window), "channels" (order, hidden, first channel, spacing),
"gain" (amplitude or per-channel gains), "autoscale", "selection", "filter" (high-pass, cutoff, CAR),
"recording" (a new recording's extent), "settings" (several at once).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

MIN_WINDOW_S = 0.001            # the narrowest window: 1 ms
NOISE_PER_LANE = 12.0           # auto-scale: a channel row spans ±6 noise SDs (MAD)
DEFAULT_UNITS = 200.0           # data units one channel row spans before auto-scale
DEFAULT_CUTOFF = 300.0
ORDERS = ("depth", "index")

Callback = Callable[[str, Any], None]


class Observable:
    """A tiny observer: `subscribe(callback)` returns the function that unsubscribes it."""

    def __init__(self) -> None:
        self._subscribers: list[Callback] = []

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)
        return unsubscribe

    def notify(self, topic: str, value: Any = None) -> None:
        for callback in list(self._subscribers):
            callback(topic, value)


class Viewport(Observable):
    """The window (samples [t0, t0 + window)), channel range, gains, spacing, filter, CAR and order."""

    def __init__(self, window_s: float = 1.0) -> None:
        super().__init__()
        self.sampling_rate = 1.0
        self.total = 0                     # samples in the recording; 0 when nothing is open
        self.window_s = float(window_s)    # the preferred width, kept across recordings
        self.t0 = 0.0
        self.window = float(window_s)
        self.channels: list[int] = []      # every channel, index order
        self.depth_order: list[int] = []   # channels deepest first, [] without a probe
        self.order = "depth"
        self.hidden: set[int] = set()
        self.selected: set[int] = set()
        self.first_channel = 0             # row of the shown channels at the top of the screen
        self.min_spacing = 0.0             # pixels per channel; 0 fits every shown channel
        self.units = DEFAULT_UNITS         # data units one channel row spans (the amplitude)
        self.gains = np.ones(0)            # per-channel display gain
        self.saved_gains: np.ndarray | None = None
        self.pending_autoscale = True
        self.highpass = False
        self.cutoff = DEFAULT_CUTOFF
        self.car = False

    # -- the recording ----------------------------------------------------------------------------
    def set_recording(self, sampling_rate: float, total: int, channels: Iterable[int],
                      depth_order: Iterable[int] = (), nb_channels: int | None = None) -> None:
        """A new recording: window at the start with the preferred width, gains restored when the
        saved ones fit, nothing hidden or selected."""
        self.sampling_rate, self.total = float(sampling_rate), int(total)
        self.channels = sorted(int(c) for c in channels)
        self.depth_order = [int(c) for c in depth_order]
        count = int(nb_channels if nb_channels is not None else (max(self.channels) + 1 if self.channels else 0))
        self.gains = np.ones(count)
        if self.saved_gains is not None and len(self.saved_gains) == count:
            self.gains = self.saved_gains.copy()
        self.hidden, self.selected, self.first_channel = set(), set(), 0
        self.t0 = 0.0
        self.window = self._clamp_width(self.window_s * self.sampling_rate)
        self.pending_autoscale = True
        self.notify("recording")

    def set_channel_layout(self, channels: Iterable[int], depth_order: Iterable[int] = ()) -> None:
        """A new probe for the same recording: its channels and depth order; time, gains kept."""
        self.channels = sorted(int(c) for c in channels)
        self.depth_order = [int(c) for c in depth_order]
        self.hidden &= set(self.channels)
        self.selected &= set(self.channels)
        self.first_channel = 0
        self.notify("channels")

    def clear(self) -> None:
        self.total, self.channels, self.depth_order = 0, [], []
        self.notify("recording")

    @property
    def is_open(self) -> bool:
        return self.total > 0

    # -- time -------------------------------------------------------------------------------------
    @property
    def t_start(self) -> float:
        """Left edge of the window in seconds."""
        return self.t0 / self.sampling_rate

    @property
    def duration(self) -> float:
        """Width of the window in seconds."""
        return self.window / self.sampling_rate

    @property
    def min_window(self) -> float:
        return MIN_WINDOW_S * self.sampling_rate

    @property
    def max_window(self) -> float:
        return float(max(self.total, 1))

    def _clamp_width(self, window: float) -> float:
        return float(np.clip(window, self.min_window, self.max_window))

    def set_window_samples(self, t0: float, window: float | None = None) -> None:
        """Show samples [t0, t0 + window), the width within 1 ms..the whole recording and the
        window inside the recording."""
        if window is not None:
            self.window = self._clamp_width(window)
        self.t0 = float(np.clip(t0, 0, max(self.total - self.window, 0)))
        self.notify("window", (self.t0, self.window))

    def set_window(self, t_start: float, duration: float | None = None) -> None:
        """Show [t_start, t_start + duration) seconds (the width kept when None)."""
        rate = self.sampling_rate
        self.set_window_samples(t_start * rate, None if duration is None else duration * rate)

    def scroll(self, fraction: float) -> None:
        """Move the window by `fraction` of its width (negative: back in time)."""
        self.set_window_samples(self.t0 + fraction * self.window)

    def page(self, pages: int = 1) -> None:
        self.scroll(float(pages))

    def zoom(self, factor: float, anchor: float | None = None) -> None:
        """Multiply the width by `factor`, keeping time `anchor` (seconds; the centre when None)
        at the same place on screen."""
        anchor_sample = self.t0 + self.window / 2 if anchor is None else anchor * self.sampling_rate
        self.zoom_samples(factor, anchor_sample)

    def zoom_samples(self, factor: float, anchor: float | None = None) -> None:
        anchor = self.t0 + self.window / 2 if anchor is None else float(anchor)
        position = (anchor - self.t0) / self.window
        window = self._clamp_width(self.window * factor)
        self.set_window_samples(anchor - position * window, window)

    def set_preferred_width(self, window_s: float) -> None:
        """The width (seconds) the next recording opens with; applied now when one is open."""
        self.window_s = float(window_s)
        if self.is_open:
            self.set_window_samples(self.t0, self.window_s * self.sampling_rate)

    # -- channels ---------------------------------------------------------------------------------
    def channel_order(self) -> list[int]:
        """Every channel top first: by probe depth (shallowest on top) or by index."""
        if self.order == "depth" and self.depth_order:
            return list(reversed(self.depth_order))
        return list(self.channels)

    def shown_channels(self) -> list[int]:
        return [c for c in self.channel_order() if c not in self.hidden]

    def spacing(self, height: float) -> float:
        """Pixels per channel row in a band `height` pixels tall."""
        return max(height / max(len(self.shown_channels()), 1), self.min_spacing)

    def fit(self, height: float) -> int:
        """How many channel rows fit in `height` pixels."""
        return max(int(height / self.spacing(height) + 1e-6), 1)

    def visible_rows(self, height: float) -> list[int]:
        """The channels on screen in a band `height` pixels tall, from `first_channel` (clamped)."""
        shown = self.shown_channels()
        fit = self.fit(height)
        self.first_channel = int(np.clip(self.first_channel, 0, max(len(shown) - fit, 0)))
        return shown[self.first_channel:self.first_channel + fit]

    def scroll_channels(self, rows: int) -> None:
        self.first_channel += int(rows)
        self.notify("channels")

    def set_order(self, order: str) -> None:
        if order not in ORDERS:
            raise ValueError(f"channel order {order!r}: use one of {', '.join(ORDERS)}")
        self.order = order
        self.notify("channels")

    def set_hidden(self, channels: Iterable[int]) -> None:
        self.hidden = {int(c) for c in channels}
        self.notify("channels")

    def show_only(self, channels: Iterable[int]) -> None:
        keep = {int(c) for c in channels}
        self.set_hidden(c for c in self.channels if c not in keep)

    def set_min_spacing(self, pixels: float) -> None:
        self.min_spacing = max(float(pixels), 0.0)
        self.notify("channels")

    def set_selected(self, channels: Iterable[int]) -> None:
        self.selected = {int(c) for c in channels}
        self.notify("selection")

    # -- amplitude --------------------------------------------------------------------------------
    def gain(self, factor: float) -> None:
        """Multiply every trace's amplitude by `factor`."""
        self.units /= float(factor)
        self.notify("gain")

    def gain_targets(self, channel: int | None) -> list[int]:
        """The channels a per-channel gain action applies to: the selection when `channel` is in it
        (or no channel is given), else `channel` alone."""
        if channel is None or channel in self.selected:
            return sorted(self.selected)
        return [int(channel)]

    def scale_channel_gains(self, channels: Iterable[int], factor: float) -> None:
        """Multiply the display gain of `channels` by `factor` (the data are untouched)."""
        channels = [int(c) for c in channels]
        if not channels or not len(self.gains):
            return
        self.gains[channels] *= float(factor)
        self._gains_changed()

    def reset_channel_gains(self, channels: Iterable[int] | None = None) -> None:
        if not len(self.gains):
            return
        if channels is None:
            self.gains[:] = 1.0
        else:
            self.gains[[int(c) for c in channels]] = 1.0
        self._gains_changed()

    def _gains_changed(self) -> None:
        self.saved_gains = self.gains.copy()
        self.notify("gain")

    def request_autoscale(self) -> None:
        """Ask for the amplitude to follow the noise of the next frame (topic "autoscale")."""
        self.pending_autoscale = True
        self.notify("autoscale")

    def autoscale_from_noise(self, noise: np.ndarray) -> bool:
        """Set the amplitude so a row spans ±6 noise SDs of the median channel; True when it changed.
        The request is answered either way (a flat window keeps the current amplitude)."""
        self.pending_autoscale = False
        finite = noise[np.isfinite(noise)]
        level = float(np.median(finite)) if finite.size else 0.0
        if level <= 0:
            return False
        self.units = NOISE_PER_LANE * level
        return True

    def value_per_pixel(self, channel: int, height: float) -> float:
        """Data units per pixel of `channel` in a band `height` pixels tall."""
        return self.units / (self.spacing(height) * self.gains[channel])

    # -- display filter ---------------------------------------------------------------------------
    def set_filter(self, on: bool, cutoff: float | None = None) -> None:
        self.highpass = bool(on)
        if cutoff is not None:
            self.cutoff = float(cutoff)
        self.pending_autoscale = True
        self.notify("filter")

    def set_car(self, on: bool) -> None:
        self.car = bool(on)
        self.notify("filter")

    # -- settings ---------------------------------------------------------------------------------
    def settings(self) -> dict:
        """What is kept across sessions (QSettings-friendly values)."""
        gains = self.gains if len(self.gains) else self.saved_gains
        return {"window_s": self.duration if self.is_open else self.window_s, "filter_on": self.highpass,
                "cutoff": self.cutoff, "car_on": self.car, "order_by_depth": self.order == "depth",
                "min_spacing": self.min_spacing,
                "channel_gains": "" if gains is None else ",".join(f"{g:g}" for g in gains)}

    def apply_settings(self, settings: dict) -> None:
        """Restore `settings` (as `settings()` gives them); bad or foreign values are ignored."""
        self.highpass = as_bool(settings.get("filter_on", self.highpass))
        self.car = as_bool(settings.get("car_on", self.car))
        self.order = "depth" if as_bool(settings.get("order_by_depth", self.order == "depth")) else "index"
        self.min_spacing = float(settings.get("min_spacing", self.min_spacing))
        gains = parse_gains(settings.get("channel_gains"))
        if gains is not None:
            self.saved_gains = gains
            if len(gains) == len(self.gains):
                self.gains = gains.copy()
        if "cutoff" in settings:
            self.cutoff = float(settings["cutoff"])
        if "window_s" in settings:
            self.window_s = float(settings["window_s"])
            if self.is_open:
                self.window = self.window_s * self.sampling_rate
        if self.is_open:
            self.window = self._clamp_width(self.window)
            self.t0 = float(np.clip(self.t0, 0, max(self.total - self.window, 0)))
        self.notify("settings")


def parse_gains(value: Any) -> np.ndarray | None:
    """Saved per-channel gains ("1,2,0.5", or a list from some QSettings backends); None if absent or bad."""
    if value is None or value == "":
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        gains = np.asarray([float(item) for item in items], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return gains if len(gains) and bool(np.all(np.isfinite(gains) & (gains > 0))) else None


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
