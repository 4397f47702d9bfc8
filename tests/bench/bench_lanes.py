"""Frame times of the trace view scrolling a SpikeGLX AP stream (384 + sync at 30 kHz) with and
without its LF lane (385 channels at 2.5 kHz), 1920x1080 offscreen.

A frame is the time from the window change to the widget painted with the main frame and
every shown lane's frame of that request. Run:
``QT_QPA_PLATFORM=offscreen PYTHONPATH=. .venv/bin/python tests/bench/bench_lanes.py [seconds]``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from app.model.recording import Recording
from app.views import trace_view  # noqa: F401  (imported before the files are written)
from app.views.bench import open_view, summarize
from tests.io.writers_ephys import np1_meta, write_spikeglx

N_CHANNELS = 384
WINDOWS_S = (0.1, 1.0, 10.0)
STEPS = 40


def write_stream(bin_path: Path, seconds: float, rate: float, kind: str, seed: int) -> Path:
    """A SpikeGLX stream of noise plus slow waves. `write_spikeglx` packs row by row (slow at
    this size), so it writes the .meta from a one-row file and numpy rewrites the samples."""
    meta = np1_meta(N_CHANNELS, [500] * N_CHANNELS, [250] * N_CHANNELS, kind, rate=rate)
    write_spikeglx(bin_path, np.zeros((1, N_CHANNELS + 1), dtype=np.int16), meta)
    n = int(seconds * rate)
    rng = np.random.default_rng(seed)
    wave = (200 * np.sin(2 * np.pi * 7 * np.arange(n) / rate)).astype(np.int16)
    with open(bin_path, "wb") as handle:
        for start in range(0, n, 65536):
            stop = min(start + 65536, n)
            block = rng.normal(0, 40, (stop - start, N_CHANNELS + 1)).astype(np.int16)
            block += wave[start:stop, None]
            block.tofile(handle)
    meta_path = bin_path.with_suffix(".meta")
    lines = meta_path.read_text().splitlines()
    lines = [f"fileSizeBytes={bin_path.stat().st_size}" if line.startswith("fileSizeBytes=") else line
             for line in lines]
    meta_path.write_text("\n".join(lines) + "\n")
    return bin_path


def write_pair(folder: Path, seconds: float) -> Path:
    probe = folder / "run_g0" / "run_g0_imec0"
    ap = write_stream(probe / "run_g0_t0.imec0.ap.bin", seconds, 30000.0, "ap", 1)
    write_stream(probe / "run_g0_t0.imec0.lf.bin", seconds, 2500.0, "lf", 2)
    return ap


def wait_all(app, view, timeout: float = 60.0) -> bool:
    """Until the main frame and every shown lane's frame answer the latest requests and are painted."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        app.processEvents()
        main_done = view.frame is not None and view._painted_request >= view.source._latest
        lanes_done = all(view.lane_displays[k].frame is not None
                         and view.lane_displays[k].frame.request_id == view.lanes[k].source._latest
                         for k in view.shown_lanes())
        if main_done and lanes_done:
            app.processEvents()             # the lane's update() paints now
            return True
        time.sleep(0.0005)
    return False


def scroll(app, view, window_s: float, steps: int = STEPS, step_fraction: float = 0.1) -> list[float]:
    """Frame times (s) of `steps` scrolls of `step_fraction` window, after a warm pass on the path."""
    rate = view.sampling_rate
    window = window_s * rate
    span = max(view.recording.duration - window, 0)
    positions = [(k * step_fraction * window) % (span + 1) for k in range(steps)]
    for t0 in positions:
        view.set_window(t0, window)
        wait_all(app, view)
    view.set_window(positions[0], window)
    wait_all(app, view)
    times = []
    for t0 in positions[1:]:
        started = time.perf_counter()
        view.set_window(t0, window)
        if wait_all(app, view):
            times.append(time.perf_counter() - started)
    return times


def main(seconds: float = 24.0) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory(prefix="bench_lanes_") as folder:
        ap = write_pair(Path(folder), seconds)
        recording = Recording.open(str(ap), {"file_format": "spikeglx"})
        recording.open_lanes()
        app, view, source = open_view(recording, 1920, 1080, overview_root=str(Path(folder) / "ov"))
        view.set_lanes(recording.lanes)
        wait_all(app, view)
        print(f"load average before: {os.getloadavg()}")
        for window_s in WINDOWS_S:
            for shown in (False, True):
                view.set_lane_visible(0, shown)
                wait_all(app, view)
                result = summarize(scroll(app, view, window_s), window_s)
                print(f"window {window_s:>5g} s  LF lane {'on ' if shown else 'off'}  "
                      f"median {result['median_ms']} ms  p95 {result['p95_ms']} ms  ({result['frames']} frames)")
        print(f"load average after: {os.getloadavg()}")
        view.close()
        source.close()
        recording.close()


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 24.0)
