"""Trace-view frame times: 384 channels, int16, 30 kHz, drawn at 1920x1080 offscreen.

Run: python -m tests.bench.bench_traces [--minutes 2] [--channels 384] [--steps 60] [--data FILE]
Writes a synthetic recording into a temporary folder (or uses --data, an int16 file of
--channels channels), builds the summary, then scrolls the real TraceView with windows
of 10 ms, 100 ms, 1 s, 10 s and the whole recording, printing median / 95th-percentile
frame time (request -> painted widget) with warm caches; the "fresh" rows recompute
every frame's min/max from the cached chunks (a first visit at that zoom). Then the
time to the first frame of a 100 GB sparse file (`truncate`). The load average is
printed: the numbers mean little on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np

RATE = 30000


def write_recording(path: str, minutes: float, channels: int, seed: int = 0) -> None:
    """Noise + spikes, written one second at a time from a few pre-made seconds (fast to make)."""
    rng = np.random.default_rng(seed)
    seconds = int(minutes * 60)
    blocks = []
    for _ in range(4):
        block = rng.normal(0, 60, (RATE, channels)).astype(np.float32)
        for t in rng.integers(0, RATE - 60, 40):
            centre = rng.integers(0, channels)
            near = np.arange(max(centre - 4, 0), min(centre + 5, channels))
            block[t:t + 30, near] -= 600 * np.hanning(30)[:, None]
        blocks.append(block.astype(np.int16))
    with open(path + ".partial", "wb") as handle:
        handle.writelines(blocks[second % 4].tobytes() for second in range(seconds))
    os.replace(path + ".partial", path)


def scroll_table(path: str, params: dict, folder: str, args) -> list[dict]:
    from app.model.recording import Recording
    from app.views.bench import open_view, scroll_frames, summarize
    recording = Recording.open(path, params, "raw_binary")
    started = time.perf_counter()
    app, view, source = open_view(recording, args.width, args.height,
                                  overview_root=os.path.join(folder, "overview"))
    print(f"summary ready in {time.perf_counter() - started:.1f} s")
    duration_s = recording.duration_s
    cases = (("scroll 10%", 0.1, False), ("page", 1.0, False), ("page fresh", 1.0, True))
    results = []
    for window_s in (0.01, 0.1, 1.0, 10.0, duration_s):
        for label, fraction, fresh in cases:
            steps = args.steps if window_s < duration_s else 10
            times = scroll_frames(app, view, window_s, steps, fraction, fresh_columns=fresh)
            row = {"case": label, **summarize(times, window_s)}
            results.append(row)
            print(f"window {window_s:>8.3f} s  {label:<10}  median {row['median_ms']} ms  "
                  f"p95 {row['p95_ms']} ms  ({row['frames']} frames)", flush=True)
            if window_s >= duration_s:
                break
    view.close()
    source.close()
    recording.close()
    return results


def first_frame_100gb(folder: str, params: dict, args) -> dict:
    from app.views.bench import first_frame_seconds
    huge = os.path.join(folder, "huge.dat")
    with open(huge, "wb") as handle:
        handle.truncate(100 * 10**9 // (2 * args.channels) * 2 * args.channels)
    seconds = first_frame_seconds(huge, "raw_binary", params, args.width, args.height)
    print(f"first frame of a 100 GB sparse file: {seconds * 1000:.0f} ms")
    return {"case": "first frame 100 GB", "seconds": round(seconds, 3)}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--channels", type=int, default=384)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--data", help="an existing int16 file to scroll instead of writing one")
    parser.add_argument("--skip-100gb", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    params = {"data_dtype": "int16", "nb_channels": args.channels, "sampling_rate": RATE, "gain": 0.195}
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with tempfile.TemporaryDirectory(prefix="wavescope-bench-") as folder:
        path = args.data
        if path is None:
            path = os.path.join(folder, "bench.dat")
            started = time.perf_counter()
            write_recording(path, args.minutes, args.channels)
            print(f"wrote {os.path.getsize(path) / 1e9:.2f} GB in {time.perf_counter() - started:.1f} s")
        results = scroll_table(path, params, folder, args)
        if not args.skip_100gb:
            results.append(first_frame_100gb(folder, params, args))
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
