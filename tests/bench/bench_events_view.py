"""Trace-view frame times with and without 100,000 event markers and 10,000 annotations.

Run: python -m tests.bench.bench_events_view [--seconds 15] [--channels 384] [--steps 40] [--windows 0.2,1,10]
Writes a synthetic int16 recording (30 kHz) into a temporary folder, opens the real TraceView
offscreen at 1920x1080 with the event overlay in its `overlays`, and scrolls it by a tenth of
a window per frame, alternating runs without and with the overlay. The 0.2 s window shows
fewer than 200 annotations, so their labels are drawn too. Prints, per window, the median
frame time (request -> painted widget) of both, their ratio, the overlay's own paint time
(median and 95th percentile) and how many trace columns the view rasterised per frame (a
scroll redraws only the uncovered columns; the overlay must not change that). The numbers
mean little on a busy machine; the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from app.views.bench import summarize
from tests.bench.bench_traces import RATE, write_recording


class TimedOverlay:
    """Wraps an overlay to record its own paint time; the TraceView paints its `overlays`."""

    def __init__(self, overlay, seconds: list[float]):
        self.overlay, self.seconds = overlay, seconds

    def paint(self, painter, rect) -> None:
        started = time.perf_counter()
        self.overlay.paint(painter, rect)
        self.seconds.append(time.perf_counter() - started)

    def __getattr__(self, name):
        return getattr(self.overlay, name)


def open_view(recording, folder: str, width: int, height: int):
    from app.model.traces import TraceSource
    from app.views.bench import _app, _wait_painted
    app = _app()
    source = TraceSource(recording.datafile, cache_bytes=2 << 30, overview_root=os.path.join(folder, "ov"))
    source.build_overview().join()
    from app.views.trace_view import TraceView
    view = TraceView()
    view.resize(width, height)
    view.last_frame_seconds = None
    view.framePainted.connect(lambda _request, seconds: setattr(view, "last_frame_seconds", seconds))
    view.show()
    view.set_recording(recording, source)
    _wait_painted(app, view, source._latest)
    return app, view, source


def synthetic_events(duration: int, count: int, seed: int = 1):
    """`count` events on 4 lines, a tenth of them pulses of up to 50 ms."""
    from app.io.events import make_events
    rng = np.random.default_rng(seed)
    samples = np.sort(rng.integers(0, duration, count))
    durations = np.where(rng.random(count) < 0.1, rng.integers(1, RATE // 20, count), 0)
    channels = np.array(["TTL 1", "TTL 2", "sync", "stim"], dtype=object)[rng.integers(0, 4, count)]
    return make_events(samples, channels, "high", durations)


def synthetic_annotations(path: str, duration: int, count: int, seed: int = 2):
    from app.model.annotations import Annotation, Annotations
    rng = np.random.default_rng(seed)
    starts = np.sort(rng.integers(0, duration, count))
    lengths = rng.integers(RATE // 1000, RATE // 5, count)
    items = [Annotation(int(s), int(min(s + n, duration)) if k % 5 else None, f"note {k}", "", f"id{k}")
             for k, (s, n) in enumerate(zip(starts, lengths))]
    return Annotations(path, RATE, items)


def count_rasterised_columns(view) -> list[int]:
    """Record how many trace columns each `_raster_into_ring` call draws (the list fills as it scrolls)."""
    counts: list[int] = []
    raster = view._raster_into_ring

    def counted(frame, start, stop, *rest):
        counts.append(stop - start)
        return raster(frame, start, stop, *rest)

    view._raster_into_ring = counted
    return counts


def report(window_s: float, times: dict, columns: dict, paint_seconds: list[float]) -> dict:
    paint_ms = np.asarray(paint_seconds) * 1000
    row = {"window_s": window_s,
           "without": summarize(times["without"], window_s), "with": summarize(times["with"], window_s),
           "overlay_paint_ms": round(float(np.median(paint_ms)), 2),
           "overlay_paint_p95_ms": round(float(np.percentile(paint_ms, 95)), 2),
           "columns_per_frame": {case: float(np.median(counts)) for case, counts in columns.items()}}
    row["ratio"] = round(row["with"]["median_ms"] / row["without"]["median_ms"], 3)
    print(f"window {window_s:>5.1f} s  without: median {row['without']['median_ms']} ms "
          f"(p95 {row['without']['p95_ms']})  with: median {row['with']['median_ms']} ms "
          f"(p95 {row['with']['p95_ms']})  ratio {row['ratio']}  overlay paint median "
          f"{row['overlay_paint_ms']} ms (p95 {row['overlay_paint_p95_ms']})  trace columns per frame "
          f"{row['columns_per_frame']['without']:g} / {row['columns_per_frame']['with']:g}", flush=True)
    return row


def run(args) -> list[dict]:
    from app.model.events import EventIndex
    from app.model.recording import Recording
    from app.views.bench import scroll_frames
    from app.views.event_overlay import EventOverlay
    with tempfile.TemporaryDirectory(prefix="wavescope-bench-events-") as folder:
        path = os.path.join(folder, "rec.dat")
        write_recording(path, args.seconds / 60, args.channels)
        params = {"nb_channels": args.channels, "data_dtype": "int16", "sampling_rate": RATE}
        recording = Recording.open(path, params, "raw_binary")
        app, view, source = open_view(recording, folder, args.width, args.height)
        started = time.perf_counter()
        overlay = EventOverlay(view, EventIndex(synthetic_events(recording.duration, args.events)),
                               synthetic_annotations(path, recording.duration, args.annotations))
        print(f"{args.events} events, {args.annotations} annotations indexed in "
              f"{(time.perf_counter() - started) * 1000:.0f} ms")
        rasterised = count_rasterised_columns(view)
        results = []
        for window_s in args.windows:
            times: dict[str, list[float]] = {"without": [], "with": []}
            columns: dict[str, list[int]] = {"without": [], "with": []}
            paint_seconds: list[float] = []
            for _round in range(args.rounds):
                for case in ("without", "with"):
                    view.overlays = [TimedOverlay(overlay, paint_seconds)] if case == "with" else []
                    times[case] += scroll_frames(app, view, window_s, args.steps, 0.1)
                    columns[case] += rasterised[-(args.steps - 1):]
            results.append(report(window_s, times, columns, paint_seconds))
        view.close()
        source.close()
        recording.close()
    return results


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--channels", type=int, default=384)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--annotations", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--windows", type=lambda text: [float(w) for w in text.split(",")],
                        default=[0.2, 1.0, 10.0], help="window widths in seconds, comma-separated")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f}")
    return run(args)


if __name__ == "__main__":
    main()
