"""Trace-view frame times: 384 channels, int16, 30 kHz, drawn at 1920x1080 offscreen.

Run: python -m tests.bench.bench_traces [--minutes 2] [--channels 384] [--steps 60]
Writes a synthetic recording into a temporary folder, builds the summary, then scrolls
the real TraceView with windows of 10 ms, 100 ms, 1 s, 10 s and the whole recording,
printing median / 95th-percentile frame time (request -> painted widget); then the time
to the first frame of a 100 GB sparse file (`truncate`).
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


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--channels", type=int, default=384)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--skip-100gb", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app.model.recording import Recording
    from app.views.bench import first_frame_seconds, open_view, scroll_frames, summarize
    params = {"data_dtype": "int16", "nb_channels": args.channels, "sampling_rate": RATE, "gain": 0.195}
    results = []
    with tempfile.TemporaryDirectory(prefix="wavescope-bench-") as folder:
        path = os.path.join(folder, "bench.dat")
        started = time.perf_counter()
        write_recording(path, args.minutes, args.channels)
        print(f"wrote {os.path.getsize(path) / 1e9:.2f} GB in {time.perf_counter() - started:.1f} s")
        recording = Recording.open(path, params, "raw_binary")
        started = time.perf_counter()
        app, view, source = open_view(recording, args.width, args.height,
                                      overview_root=os.path.join(folder, "overview"))
        print(f"summary built in {time.perf_counter() - started:.1f} s")
        duration_s = recording.duration_s
        for window_s in (0.01, 0.1, 1.0, 10.0, duration_s):
            for label, fraction in (("scroll 10%", 0.1), ("page", 1.0)):
                steps = args.steps if window_s < duration_s else 10
                times = scroll_frames(app, view, window_s, steps, fraction)
                row = {"case": label, **summarize(times, window_s)}
                results.append(row)
                print(f"window {window_s:>8.3f} s  {label:<10}  median {row['median_ms']} ms  "
                      f"p95 {row['p95_ms']} ms  ({row['frames']} frames)")
                if window_s >= duration_s:
                    break
        view.close()
        source.close()
        recording.close()
        if not args.skip_100gb:
            huge = os.path.join(folder, "huge.dat")
            with open(huge, "wb") as handle:
                handle.truncate(100 * 10**9 // (2 * args.channels) * 2 * args.channels)
            seconds = first_frame_seconds(huge, "raw_binary", params, args.width, args.height)
            results.append({"case": "first frame 100 GB", "seconds": round(seconds, 3)})
            print(f"first frame of a 100 GB sparse file: {seconds * 1000:.0f} ms")
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
