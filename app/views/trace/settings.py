"""The trace view's commands and fields, each a thin pass-through to its `Viewport`.

Kept so callers (the main window, the docks, scripts) can say ``view.set_window(...)`` or read
``view.t0``; the logic and the state are the viewport's.
"""

from __future__ import annotations

from app.model.viewport import Viewport


class ViewportFields:
    """Mixed into TraceView: its viewport's state and commands under the view's names."""

    viewport: Viewport

    # -- fields -----------------------------------------------------------------------------------
    t0 = property(lambda self: self.viewport.t0)
    window = property(lambda self: self.viewport.window)
    car_on = property(lambda self: self.viewport.car)
    hidden = property(lambda self: self.viewport.hidden)
    selected = property(lambda self: self.viewport.selected)
    channel_gains = property(lambda self: self.viewport.gains)
    min_spacing = property(lambda self: self.viewport.min_spacing)
    top_row = property(lambda self: self.viewport.first_channel)

    @property
    def window_s(self) -> float:
        """The window width (s) a recording opens with."""
        return self.viewport.window_s

    @window_s.setter
    def window_s(self, seconds: float) -> None:
        self.viewport.window_s = float(seconds)

    @property
    def filter_on(self) -> bool:
        return self.viewport.highpass

    @filter_on.setter
    def filter_on(self, on: bool) -> None:
        """Preset before a recording opens (no redraw: use `set_filter` after)."""
        self.viewport.highpass = bool(on)

    @property
    def order_by_depth(self) -> bool:
        return self.viewport.order == "depth"

    @order_by_depth.setter
    def order_by_depth(self, on: bool) -> None:
        """Preset before a recording opens (no redraw: use `set_order_by_depth` after)."""
        self.viewport.order = "depth" if on else "index"

    @property
    def lane_units(self) -> float:
        """Data units one channel row spans (the amplitude)."""
        return self.viewport.units

    # -- navigation -------------------------------------------------------------------------------
    def set_window(self, t0: float, window: float | None = None) -> None:
        """Show samples [t0, t0 + window), clamped to the recording."""
        if self.recording is not None:
            self.viewport.set_window_samples(t0, window)

    def set_window_seconds(self, t0_s: float, width_s: float | None = None) -> None:
        if self.recording is not None:
            self.viewport.set_window(t0_s, width_s)

    def scroll_by(self, fraction: float) -> None:
        self.viewport.scroll(fraction)

    def zoom_time(self, factor: float, anchor: float | None = None) -> None:
        """Multiply the window width by `factor`, keeping timeline sample `anchor` in place."""
        self.viewport.zoom_samples(factor, anchor)

    def scale_gain(self, factor: float) -> None:
        self.viewport.gain(factor)

    def autoscale(self) -> None:
        """Set the amplitude so a row spans ±6 noise SDs (MAD) of the median channel (each stream
        lane from its own noise)."""
        self.viewport.request_autoscale()

    def set_filter(self, on: bool, cutoff: float | None = None) -> None:
        self.viewport.set_filter(on, cutoff)

    def set_car(self, on: bool) -> None:
        self.viewport.set_car(on)

    def set_order_by_depth(self, on: bool) -> None:
        self.viewport.set_order("depth" if on else "index")

    def set_hidden(self, channels) -> None:
        self.viewport.set_hidden(channels)

    def show_only(self, channels) -> None:
        self.viewport.show_only(channels)

    def set_selected(self, channels) -> None:
        self.viewport.set_selected(channels)

    def gain_targets(self, channel: int | None) -> list[int]:
        return self.viewport.gain_targets(channel)

    def scale_channel_gains(self, channels, factor: float) -> None:
        self.viewport.scale_channel_gains(channels, factor)

    def reset_channel_gains(self, channels=None) -> None:
        self.viewport.reset_channel_gains(channels)

    def set_min_spacing(self, pixels: float) -> None:
        """Pixels per channel row; 0 fits every shown channel in the view."""
        self.viewport.set_min_spacing(pixels)

    def scroll_rows(self, rows: int) -> None:
        self.viewport.scroll_channels(rows)

    # -- settings ---------------------------------------------------------------------------------
    def view_settings(self) -> dict:
        settings = self.viewport.settings()
        if self.source is not None:
            settings["cutoff"] = self.source.cutoff
        return settings

    def apply_settings(self, settings: dict) -> None:
        self.viewport.apply_settings(settings)
