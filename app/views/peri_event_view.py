"""The Peri-event dock: the mean signal of the visible channels around the events of one channel.

Pick an event channel (and optionally one label) and a window such as -50..+100 ms; the mean
over the events (a few single trials faint behind it) is computed by `app.model.events.peri_event`
on the view's `Worker`: a new request cancels the running one and any late answer of an older
request is dropped, so the plot always shows the latest choice. The samples come through a reader
the model gives (`app.model.events.session_reader`); the view never holds a DataFile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtWidgets

from app.model.events import EventIndex, PeriEvent, default_event_channel, peri_event, session_reader
from app.views.workers import Worker

ANY_LABEL = "any label"
MAX_CHANNELS_WITH_TRIALS = 64
MAX_LANE_LABELS = 8


def lane_spacing(mean: np.ndarray, trials: np.ndarray) -> float:
    """Height of one channel's lane: the largest mean response, or (when the mean is flat against
    single trials) a few noise SDs of the trials (MAD), so faint trials of neighbours do not cover it."""
    response = float(np.max(np.ptp(mean, axis=0))) * 1.1 if mean.size else 0.0
    noise = 0.0
    if trials.size:
        centred = trials - np.median(trials, axis=1, keepdims=True)
        noise = float(np.median(np.median(np.abs(centred), axis=1))) / 0.6745
    spacing = max(response, 8.0 * noise)
    return spacing if spacing > 0 else 1.0


class PeriEventView(QtWidgets.QWidget):
    """Controls + a pyqtgraph plot of peri-event means, one lane per channel."""

    resultShown = QtCore.pyqtSignal(int)                  # ticket id of the drawn result

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.index = EventIndex()
        self.reader: Any = None                            # has read_range(t0, t1, nodes) and duration
        self.sampling_rate = 1.0
        self.channels_provider: Callable[[], list[int]] = list
        self.result: PeriEvent | None = None
        self.shown_channels: list[int] = []
        self.channel_names: list[str] = []          # the recording's names by index (its file's, else ch N)
        self.offsets = np.zeros(0)
        self.mean_curves: list[pg.PlotDataItem] = []
        self.worker = Worker(self, "peri-event", on_error=self._on_error)
        self.worker.resultReady.connect(self._on_result)
        self._timer = QtCore.QTimer(self, singleShot=True, interval=150, timeout=self.compute)
        self._build()

    def _build(self) -> None:
        self.channel_box = QtWidgets.QComboBox()
        self.label_box = QtWidgets.QComboBox()
        self.before = QtWidgets.QDoubleSpinBox(decimals=1, minimum=-1e5, maximum=0.0, value=-50.0, suffix=" ms")
        self.after = QtWidgets.QDoubleSpinBox(decimals=1, minimum=0.1, maximum=1e5, value=100.0, suffix=" ms")
        self.max_events = QtWidgets.QSpinBox(minimum=1, maximum=100_000, value=500)
        self.max_events.setToolTip("more events than this: an evenly spread subset is averaged")
        self.trials = QtWidgets.QSpinBox(minimum=0, maximum=50, value=5)
        self.trials.setToolTip("single trials drawn faintly behind the mean")
        self.status = QtWidgets.QLabel("", wordWrap=True)
        form = QtWidgets.QFormLayout()
        form.addRow("Events of", self.channel_box)
        form.addRow("Label", self.label_box)
        window = QtWidgets.QHBoxLayout()
        window.addWidget(self.before)
        window.addWidget(QtWidgets.QLabel("to"))
        window.addWidget(self.after)
        form.addRow("Window", window)
        counts = QtWidgets.QHBoxLayout()
        counts.addWidget(self.max_events)
        counts.addWidget(QtWidgets.QLabel("trials drawn"))
        counts.addWidget(self.trials)
        form.addRow("Events at most", counts)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(100)
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)          # ms stays ms, never "(x0.001)"
        self.plot.setLabel("bottom", "time from event (ms)")
        self.plot.getAxis("left").setStyle(showValues=False)
        self.plot.addItem(pg.InfiniteLine(0, pen=pg.mkPen("#d62728", style=QtCore.Qt.PenStyle.DashLine)))
        # controls on the left, the plot takes the rest: fits a bottom dock as well as a side one
        controls = QtWidgets.QVBoxLayout()
        controls.addLayout(form)
        controls.addWidget(self.status)
        controls.addStretch(1)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(controls)
        layout.addWidget(self.plot, 1)
        self.channel_box.currentTextChanged.connect(self._channel_changed)
        for signal in (self.label_box.currentTextChanged, self.before.valueChanged, self.after.valueChanged,
                       self.max_events.valueChanged, self.trials.valueChanged):
            signal.connect(lambda *_: self.schedule())

    # -- inputs ---------------------------------------------------------------------------------------
    def set_reader(self, reader: Any, sampling_rate: float) -> None:
        """Read the recording through `reader` (None: nothing open); see `session_reader`."""
        self.cancel()
        self.reader = reader
        self.sampling_rate = float(sampling_rate or 1.0)
        self._clear_plot()

    def set_session(self, session) -> None:
        """Follow `session`: its recording's samples and events (the dock contract)."""
        self._session = session
        session.subscribe(self._session_changed)
        self._session_changed("opened" if session.recording is not None else "closed", None)

    def _session_changed(self, topic: str, _value) -> None:
        session = self._session
        if topic in ("opened", "closed"):
            rate = session.recording.sampling_rate if session.recording is not None else 1.0
            self.channel_names = session.recording.channel_names() if session.recording is not None else []
            self.set_reader(session_reader(session), rate)
        if topic in ("opened", "closed", "events"):
            self.set_events(session.events if session.events is not None else EventIndex())

    def set_events(self, index: EventIndex) -> None:
        self.index = index
        current = self.channel_box.currentText()
        self.channel_box.blockSignals(True)
        self.channel_box.clear()
        self.channel_box.addItems(index.channels)
        self.channel_box.setCurrentText(current if current in index.channels else default_event_channel(index))
        self.channel_box.blockSignals(False)
        self._channel_changed(self.channel_box.currentText())

    def _channel_changed(self, channel: str) -> None:
        events = self.index.events
        labels = sorted({str(v) for v in events["label"][events["channel"] == channel]}) if channel else []
        self.label_box.blockSignals(True)
        self.label_box.clear()
        self.label_box.addItems([ANY_LABEL, *labels])
        self.label_box.blockSignals(False)
        self.schedule()

    def window_samples(self) -> tuple[int, int]:
        rate = self.sampling_rate
        return round(self.before.value() * rate / 1000), round(self.after.value() * rate / 1000)

    def channels_changed(self) -> None:
        """The visible channels may have changed (the view moved): recompute when they did."""
        if list(self.channels_provider()) != self.shown_channels and self.isVisible():
            self.schedule()

    # -- work -----------------------------------------------------------------------------------------
    def schedule(self) -> None:
        """Recompute shortly (edits in a row make one request)."""
        self._timer.start()

    def cancel(self) -> None:
        self.worker.cancel()

    def compute(self) -> int | None:
        """Start computing the current choice off the GUI thread; the ticket id, or None."""
        self._timer.stop()              # a pending debounced request would only repeat this one
        self.cancel()
        if self.worker.closed:
            return None
        channel = self.channel_box.currentText()
        channels = [int(c) for c in self.channels_provider()]
        if self.reader is None or not channel or not channels:
            self.status.setText("Open a recording with events, and show some channels.")
            return None
        label = self.label_box.currentText()
        samples = self.index.samples_of([channel], None if label in ("", ANY_LABEL) else label)
        window = self.window_samples()
        if window[1] <= window[0]:
            self.status.setText("The window is empty.")
            return None
        trials = self.trials.value() if len(channels) <= MAX_CHANNELS_WITH_TRIALS else 0
        reader, max_trials = self.reader, self.max_events.value()

        def work(ticket) -> tuple[list[int], PeriEvent]:
            return channels, peri_event(reader, samples, window, channels, max_trials=max_trials,
                                        single_trials=trials, cancelled=ticket.cancelled)

        self.status.setText(f"averaging {min(len(samples), max_trials)} events of {channel}…")
        return self.worker.submit(work, pass_ticket=True).id

    def _on_error(self, error: Exception) -> None:
        self.status.setText(f"peri-event average failed: {error}")

    def _on_result(self, ticket, answer) -> None:
        channels, result = answer
        self.result, self.shown_channels = result, list(channels)
        self._draw(result, channels)
        skipped = f", {result.skipped} too close to the ends" if result.skipped else ""
        self.status.setText(f"mean of {result.count} events{skipped}; {len(channels)} channels")
        self.resultShown.emit(ticket.id)

    # -- drawing --------------------------------------------------------------------------------------
    def _clear_plot(self) -> None:
        for item in list(self.plot.listDataItems()):
            self.plot.removeItem(item)
        self.mean_curves = []

    def _draw(self, result: PeriEvent, channels: list[int]) -> None:
        """One lane per channel, top to bottom in the trace view's order; mean dark, trials faint."""
        self._clear_plot()
        times = result.times / self.sampling_rate * 1000
        mean = np.asarray(result.mean, dtype=np.float64)
        self.offsets = -np.arange(len(channels)) * lane_spacing(mean, result.trials)
        for trial in result.trials:
            lanes = np.asarray(trial, dtype=np.float64) + self.offsets[None, :]
            x = np.concatenate([np.append(times, np.nan)] * len(channels))
            y = np.concatenate([np.append(lanes[:, k], np.nan) for k in range(len(channels))])
            self.plot.addItem(pg.PlotDataItem(x, y, pen=pg.mkPen(150, 150, 150, 90), connect="finite"))
        names = [self.channel_name(channel) for channel in channels]
        for k, name in enumerate(names):
            curve = pg.PlotDataItem(times, mean[:, k] + self.offsets[k], pen=pg.mkPen(self.mean_colour(), width=1.5),
                                    name=name)
            self.plot.addItem(curve)
            self.mean_curves.append(curve)
        every = max(1, -(-len(channels) // self.lane_label_room()))
        self.plot.getAxis("left").setTicks([[(float(self.offsets[k]), names[k])
                                             for k in range(0, len(channels), every)]])
        self.plot.getAxis("left").setStyle(showValues=True)

    def mean_colour(self) -> str:
        """Dark blue on a light plot, light blue on a dark one (the theme's palette decides)."""
        dark = self.palette().color(QtGui.QPalette.ColorRole.Window).lightness() < 128
        return "#8fb0ff" if dark else "#1f3f8f"

    def lane_label_room(self) -> int:
        """How many lane labels fit the plot's height without overprinting (one text line apart)."""
        line = QtGui.QFontMetrics(self.plot.getAxis("left").font()).height() + 4
        height = self.plot.getPlotItem().vb.height() or self.plot.height()
        return max(1, min(MAX_LANE_LABELS, int(height // (2 * line))))

    def channel_name(self, channel: int) -> str:
        """Recording channel `channel`'s name (the file's, else "ch N")."""
        channel = int(channel)
        return self.channel_names[channel] if 0 <= channel < len(self.channel_names) else f"ch {channel}"

    def shown_mean(self) -> np.ndarray:
        """The drawn means, lane offsets removed: (window samples, channels)."""
        if not self.mean_curves:
            return np.zeros((0, 0))
        return np.stack([c.getData()[1] - self.offsets[k] for k, c in enumerate(self.mean_curves)], axis=1)

    def shutdown(self) -> None:
        """Stop computing and wait for the running average (before the widget goes)."""
        self._timer.stop()
        self.worker.close()
