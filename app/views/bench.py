"""Frame-time benchmark of the trace view, reusable by `wavescope bench traces` and tests/bench.

Drives the real `TraceView` offscreen: each step changes the window, then waits
until the widget has painted the answer; the time from the request to the
painted widget is one frame.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np


def _app():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6 import QtWidgets
    return QtWidgets.QApplication.instance() or QtWidgets.QApplication(["wavescope-bench"])


def _wait_painted(app, view, request_id: int, timeout: float = 60.0) -> float | None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        app.processEvents()
        if view.painted_request >= request_id:
            return view.last_frame_seconds
        time.sleep(0.0005)
    return None


def open_view(recording, width: int = 1920, height: int = 1080, cache_bytes: int = 2 << 30,
              build_overview: bool = True, overview_root: str | None = None):
    """(app, view, source): a TraceView of `recording` shown offscreen at width x height."""
    from app.model.traces import TraceSource
    from app.views.trace_view import TraceView
    app = _app()
    source = TraceSource(recording.datafile, cache_bytes=cache_bytes, overview_root=overview_root)
    if build_overview and source.overview is None:
        source.build_overview().join()
    view = TraceView()
    view.resize(width, height)
    view.last_frame_seconds = None

    def painted(_request_id: int, seconds: float) -> None:
        view.last_frame_seconds = seconds

    view.framePainted.connect(painted)
    view.show()
    view.set_recording(recording, source)
    _wait_painted(app, view, source.latest_request)
    return app, view, source


def forget_columns(source) -> None:
    """Drop every per-chunk column summary and the last frame's columns (the chunks stay cached)."""
    for key in source.cache.key_list():
        if key[0] == "columns":
            source.cache.discard(key)
    source.forget_columns()


def scroll_frames(app, view, window_s: float, steps: int = 60, step_fraction: float = 0.1,
                  start_s: float = 0.0, fresh_columns: bool = False) -> list[float]:
    """Frame times (s) of a scripted scroll: `steps` moves of `step_fraction` window after a warm pass.

    With `fresh_columns` each frame recomputes its min/max from the cached chunks
    (no column summary kept, none prefetched): the cost of a first visit at a zoom.
    """
    rate = view.sampling_rate
    window = window_s * rate
    duration = view.recording.duration
    view.set_window(start_s * rate, window)
    _wait_painted(app, view, view.source.latest_request)
    span = max(duration - window, 0)
    positions = [(start_s * rate + k * step_fraction * window) % (span + 1) for k in range(steps)]
    for t0 in positions:                 # warm the caches along the path
        view.set_window(t0, window)
        _wait_painted(app, view, view.source.latest_request)
    view.set_window(positions[0], window)
    _wait_painted(app, view, view.source.latest_request)
    times = []
    prefetch = view.source.prefetch_windows
    for t0 in positions[1:]:
        if fresh_columns:
            view.source.prefetch_windows = 0
            forget_columns(view.source)
        view.set_window(t0, window)
        seconds = _wait_painted(app, view, view.source.latest_request)
        if seconds is not None:
            times.append(seconds)
    view.source.prefetch_windows = prefetch
    return times


def summarize(times: list[float], window_s: float) -> dict:
    if not times:
        return {"window_s": window_s, "median_ms": None, "p95_ms": None, "frames": 0}
    ms = np.asarray(times) * 1000
    return {"window_s": window_s, "median_ms": round(float(statistics.median(ms)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2), "frames": len(ms)}


def bench_traces(file_name: str, file_format: str | None = None, settings: dict | None = None,
                 channels: int | None = None, window_s: float = 1.0, width: int = 1920,
                 height: int = 1080, steps: int = 60, step_fraction: float = 0.1) -> dict:
    """Median / 95th-percentile frame time (ms) scrolling `file_name` with a `window_s` window.

    `channels` limits the view to the first N channels. The summary is built first
    so wide windows read it; the dict's last keys are what `--json` prints.
    """
    from app.model.recording import Recording
    settings = dict(settings or {})
    recording = Recording.open(file_name, settings, file_format)
    app, view, source = open_view(recording, width, height)
    try:
        if channels:
            view.set_hidden(range(int(channels), recording.nb_channels))
        window_s = min(window_s, recording.duration_s)
        times = scroll_frames(app, view, window_s, steps, step_fraction)
        return summarize(times, window_s)
    finally:
        view.close()
        source.close()
        recording.close()


def first_frame_seconds(file_name: str, file_format: str | None = None, settings: dict | None = None,
                        width: int = 1920, height: int = 1080) -> float:
    """Seconds from opening the file to the first painted frame (1 s window, no summary)."""
    from app.model.recording import Recording
    started = time.perf_counter()
    recording = Recording.open(file_name, dict(settings or {}), file_format)
    _app, view, source = open_view(recording, width, height, build_overview=False)
    elapsed = time.perf_counter() - started
    view.close()
    source.close()
    recording.close()
    return elapsed
