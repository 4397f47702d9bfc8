"""The same scripted scroll as bench_traces, in ephyviewer's TraceViewer, for comparison.

ephyviewer is not a Wavescope dependency: run this with an interpreter that has it,
e.g.

    python3 -m venv /tmp/ephyvenv && /tmp/ephyvenv/bin/pip install ephyviewer PyQt5 numpy
    PYQTGRAPH_QT_LIB=PyQt5 /tmp/ephyvenv/bin/python -m tests.bench.bench_ephyviewer [--data FILE]

The recording is the same 384-channel int16 30 kHz file bench_traces writes (same
generator and seed), memory-mapped and served through ephyviewer's
`InMemoryAnalogSignalSource` (its `get_chunk` slices the memmap, so only the window
is read). Channels are stacked (scale_mode same_for_all, auto-scaled), as Wavescope
draws them. One frame is `viewer.seek(t)` -> the data thread's answer -> the graphics
view painted, timed to the end of the paint event, offscreen at 1920x1080.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np

from tests.bench.bench_traces import RATE, write_recording


def _watcher(viewer):
    """Counts paints of the graphics view and remembers the last time the data thread answered."""
    from pyqtgraph.Qt import QtCore

    class Watcher(QtCore.QObject):
        painted = 0
        answered: float | None = None
        painted_at_answer = 0

        def eventFilter(self, _obj, event):
            if event.type() == QtCore.QEvent.Type.Paint:
                self.painted += 1
            return False

        def on_answer(self, t, *_rest):
            self.answered = t
            self.painted_at_answer = self.painted

    watcher = Watcher()
    viewer.graphicsview.viewport().installEventFilter(watcher)
    viewer.datagrabber.data_ready.connect(watcher.on_answer)     # after the viewer's own slot
    return watcher


def _frame(app, viewer, watcher, t: float, timeout: float = 60.0) -> float | None:
    """Seconds from seek(t) until a paint that follows the data answer has finished."""
    watcher.answered = None
    started = time.perf_counter()
    viewer.seek(t)
    while time.perf_counter() < started + timeout:
        app.processEvents()
        if watcher.answered == t and watcher.painted > watcher.painted_at_answer:
            return time.perf_counter() - started
        time.sleep(0.0005)
    return None


def scroll(app, viewer, watcher, window_s: float, duration_s: float, steps: int,
           step_fraction: float) -> list[float]:
    """Frame times of `steps` moves of `step_fraction` window, after a warm pass over the same path."""
    viewer.params["xsize"] = window_s
    viewer.params["xratio"] = 0.0
    span = max(duration_s - window_s, 0)
    positions = [(k * step_fraction * window_s) % (span + 1e-9) for k in range(steps)]
    for t in positions:
        _frame(app, viewer, watcher, t)
    _frame(app, viewer, watcher, positions[0])
    times = []
    for t in positions[1:]:
        seconds = _frame(app, viewer, watcher, t)
        if seconds is not None:
            times.append(seconds)
    return times


def summarize(times: list[float], window_s: float, label: str) -> dict:
    ms = np.asarray(times) * 1000
    return {"viewer": "ephyviewer", "case": label, "window_s": window_s,
            "median_ms": round(float(statistics.median(ms)), 2) if len(ms) else None,
            "p95_ms": round(float(np.percentile(ms, 95)), 2) if len(ms) else None, "frames": len(ms)}


def run(path: str, channels: int, windows: list[float], steps: int, width: int, height: int,
        scale_mode: str = "same_for_all") -> list[dict]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt5")
    import ephyviewer
    from pyqtgraph.Qt import QtWidgets
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["bench-ephyviewer"])
    signals = np.memmap(path, dtype=np.int16, mode="r").reshape(-1, channels)
    source = ephyviewer.InMemoryAnalogSignalSource(signals, RATE, 0.0)
    viewer = ephyviewer.TraceViewer(source=source, name="signals")
    viewer.resize(width, height)
    viewer.show()
    viewer.params["scale_mode"] = scale_mode
    viewer.auto_scale()
    watcher = _watcher(viewer)
    duration_s = signals.shape[0] / RATE
    results = []
    for window_s in windows:
        for label, fraction in (("scroll 10%", 0.1), ("page", 1.0)):
            times = scroll(app, viewer, watcher, window_s, duration_s, steps, fraction)
            row = summarize(times, window_s, label)
            results.append(row)
            print(f"ephyviewer window {window_s:>7.3f} s  {label:<10}  median {row['median_ms']} ms  "
                  f"p95 {row['p95_ms']} ms  ({row['frames']} frames)", flush=True)
    viewer.close()
    return results


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", help="an existing int16 file of --channels channels (else one is written)")
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--channels", type=int, default=384)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--windows", default="0.1,1,10")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--scale-mode", default="same_for_all",
                        help="ephyviewer's scale_mode: same_for_all stacks the channels like Wavescope; "
                             "its default real_scale overlays them all (far slower to paint)")
    args = parser.parse_args(argv)
    try:
        import ephyviewer  # noqa: F401
    except ImportError:
        print("ephyviewer is not installed here; run with an interpreter that has it (see this module's doc)")
        return []
    windows = [float(w) for w in args.windows.split(",")]
    if args.data:
        results = run(args.data, args.channels, windows, args.steps, args.width, args.height,
                      args.scale_mode)
    else:
        with tempfile.TemporaryDirectory(prefix="wavescope-ephy-") as folder:
            path = os.path.join(folder, "bench.dat")
            write_recording(path, args.minutes, args.channels)
            results = run(path, args.channels, windows, args.steps, args.width, args.height,
                          args.scale_mode)
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
