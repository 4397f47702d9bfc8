"""The window's finish, as one dock-style module: `install(window)` adds it all.

The default dock layout (`app.views.layout`), View > Theme (`app.views.theme`), Help > Keyboard
shortcuts (`app.views.shortcuts`), tooltips on the toolbar's controls, and the bad-channel check
(`app.views.bad_channels_ui`). Kept out of main_window.py so that file stays a short read.
"""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from app.io.folders import SeveralRecordingsError
from app.views import layout, probe_link
from app.views.bad_channels_ui import BadChannelsUI
from app.views.folder_chooser import FolderChooser
from app.views.shortcuts import install_help_menu
from app.views.theme import ThemeMenu, plot_colours

TOOLTIPS = {
    "width_box": "Width of the time window on screen (scroll: wheel, ← →; zoom: + −, Shift+wheel)",
    "goto_box": "Start of the window, in seconds from the start of the recording (Ctrl+G)",
    "filter_box": "Display-only high-pass filter; the recording is never changed (F)",
    "cutoff_box": "Cut-off frequency of the display high-pass",
    "car_box": "Common average reference: subtract the median of the channels at each sample (C)",
    "order_box": "Order the traces by their depth on the probe, or by channel index (O)",
}


class WindowExtras(QtCore.QObject):
    """Layout, theme, help and tooltips of one MainWindow; see `install`."""

    def __init__(self, window: QtWidgets.QMainWindow):
        super().__init__(window)
        self.window = window
        self.layout_dropped = layout.forget_old_layout(window.settings)
        layout.arrange_bottom(window)
        view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
        self.theme = ThemeMenu(view_menu, window.settings, self)
        self.theme.changed.connect(self.restyle_plots)
        self.restyle_plots(self.theme.dark)
        self.bad_channels = BadChannelsUI(window)
        self.probe_link = probe_link.install(window)
        self.show_shortcuts = install_help_menu(window)          # Help: the last menu
        self._set_tooltips()
        self.ask_recording = lambda folder, found: FolderChooser.ask(folder, found, window)   # tests inject

    def choose_recording(self, several: SeveralRecordingsError, params: dict | None) -> bool:
        """A folder of several recordings: ask which one, then open it; True when one opened."""
        chosen = self.ask_recording(several.file_name, several.recordings)
        return bool(chosen) and self.window.open_file(chosen, params)

    def _set_tooltips(self) -> None:
        window = self.window
        for name, text in TOOLTIPS.items():
            widget = getattr(window, name, None)
            if widget is not None:
                widget.setToolTip(text)
        window.autoscale_action.setToolTip("Fit every channel's gain to its signal (A)")

    def default_sizes(self) -> None:
        layout.apply_default_sizes(self.window)

    def plots(self) -> list[pg.PlotWidget]:
        found = [self.window.probe]
        peri = getattr(getattr(self.window, "events_ui", None), "peri_view", None)
        if peri is not None:
            found.append(peri.plot)
        return found

    def restyle_plots(self, dark: bool) -> None:
        """The pyqtgraph plots in the theme's colours (they do not follow the Qt palette)."""
        colours = plot_colours(dark)
        self.window.view.set_dark(dark)
        for plot in self.plots():
            plot.setBackground(colours["background"])
            for side in ("left", "bottom"):
                axis = plot.getPlotItem().getAxis(side)
                axis.setPen(colours["foreground"])
                axis.setTextPen(colours["foreground"])


def install(window: QtWidgets.QMainWindow) -> WindowExtras:
    return WindowExtras(window)
