"""Frame time of the trace view with sorted spikes drawn on it, against the same scroll without.

Run: python -m tests.bench.bench_units_overlay [--minutes 10] [--spikes 1000000] [--units 300] [--steps 30]
Writes a 384-channel int16 recording (tests.bench.bench_traces.write_recording; 13.8 GB for 10
minutes), makes `--spikes` spikes of `--units` units spread over it, each unit on a random peak
channel, then scrolls the real TraceView at 1920x1080 offscreen by 10 % of a 0.1 s, 1 s and 10 s
window, without the units and with them (alternating, `--rounds` times each), and prints the
median frame time of each and their ratio, and the process's CPU time per scroll step with and
without (less sensitive to what else the machine runs). The load average is printed beside the numbers (they mean little on a busy machine).
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


def make_units(n_spikes: int, n_units: int, n_channels: int, n_samples: int, seed: int = 0):
    from app.io.sorting import SortedUnit, Sorting
    from app.model.units import Units
    rng = np.random.default_rng(seed)
    owners = rng.integers(0, n_units, n_spikes)
    samples = rng.integers(0, n_samples, n_spikes)
    units = []
    for k in range(n_units):
        template = rng.normal(0, 5, (40, 8)).astype(np.float32)
        template[15, 3] = -120.0
        first = int(rng.integers(0, n_channels - 8))
        units.append(SortedUnit(k, np.sort(samples[owners == k]), "good", template, np.arange(first, first + 8)))
    return Units(Sorting(units, "bench", "memory", RATE), n_samples=n_samples, sampling_rate=RATE)


def median_ms(times: list[float]) -> float:
    return round(statistics.median(times) * 1000, 2) if times else float("nan")


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--channels", type=int, default=384)
    parser.add_argument("--spikes", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=300)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--windows", default="0.1,1,10")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app.model.recording import Recording
    from app.model.units_display import UnitsDisplay
    from app.views.bench import open_view, scroll_frames
    from app.views.trace.spikes import SpikeOverlay
    params = {"data_dtype": "int16", "nb_channels": args.channels, "sampling_rate": RATE, "gain": 0.195}
    results = []
    with tempfile.TemporaryDirectory(prefix="wavescope-bench-") as folder:
        path = os.path.join(folder, "bench.dat")
        write_recording(path, args.minutes, args.channels)
        recording = Recording.open(path, params, "raw_binary")
        started = time.perf_counter()
        units = make_units(args.spikes, args.units, args.channels, recording.duration)
        print(f"{units.spike_count:,} spikes of {len(units)} units built in {time.perf_counter() - started:.1f} s")
        app, view, source = open_view(recording, overview_root=os.path.join(folder, "overview"))
        overlay = SpikeOverlay(view)
        display = UnitsDisplay(units)
        for window_s in (float(w) for w in args.windows.split(",")):
            load = os.getloadavg()[0]
            without, with_units, cpu = [], [], {"without": 0.0, "with": 0.0}
            for _ in range(args.rounds):        # alternate, so a change of load hits both alike
                started = time.process_time()
                without += scroll_frames(app, view, window_s, args.steps, 0.1)
                cpu["without"] += time.process_time() - started
                view.overlays.insert(0, overlay)
                overlay.set_display(display)
                started = time.process_time()
                with_units += scroll_frames(app, view, window_s, args.steps, 0.1)
                cpu["with"] += time.process_time() - started
                view.overlays.remove(overlay)
                overlay.set_display(None)
            row = {"window_s": window_s, "without_ms": median_ms(without), "with_ms": median_ms(with_units),
                   "load": round((load + os.getloadavg()[0]) / 2, 2)}
            row["ratio"] = round(row["with_ms"] / row["without_ms"], 3)
            # CPU time of the process (all its threads) per scroll step, warm pass included: what the
            # units add, whatever else the machine runs
            frames = 2 * args.steps * args.rounds
            row["cpu_without_ms"] = round(cpu["without"] / frames * 1000, 2)
            row["cpu_with_ms"] = round(cpu["with"] / frames * 1000, 2)
            row["cpu_ratio"] = round(cpu["with"] / cpu["without"], 3)
            results.append(row)
            print(f"window {window_s:>6.2f} s  without {row['without_ms']} ms  with {row['with_ms']} ms  "
                  f"ratio {row['ratio']}  (load {row['load']});  CPU per step {row['cpu_without_ms']} -> "
                  f"{row['cpu_with_ms']} ms, ratio {row['cpu_ratio']}", flush=True)
        view.close()
        source.close()
        recording.close()
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
