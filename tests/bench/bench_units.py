"""Units model: build time and window-query time for 1,000,000 spikes of 300 units on 384 channels.

Run: python -m tests.bench.bench_units
"""

from __future__ import annotations

import time

import numpy as np

from app.io.sorting import SortedUnit, Sorting
from app.model.units import Units

N_SPIKES, N_UNITS, N_CHANNELS = 1_000_000, 300, 384
RATE, DURATION_S = 30_000.0, 600.0


def _sorting(seed: int = 0) -> Sorting:
    rng = np.random.default_rng(seed)
    n_samples = int(RATE * DURATION_S)
    owners = rng.integers(0, N_UNITS, N_SPIKES)
    samples = rng.integers(0, n_samples, N_SPIKES)
    units = []
    for k in range(N_UNITS):
        template = rng.normal(0, 1, (82, N_CHANNELS)).astype(np.float32)
        template[40, rng.integers(N_CHANNELS)] = -80.0
        units.append(SortedUnit(k, samples[owners == k], "good", template, np.arange(N_CHANNELS),
                                rng.normal(1, 0.1, int(np.sum(owners == k))).astype(np.float32)))
    return Sorting(units, "bench", "memory", RATE)


def _best(call, repeat: int = 50) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    sorting = _sorting()
    start = time.perf_counter()
    units = Units(sorting, n_samples=int(RATE * DURATION_S))
    build = time.perf_counter() - start
    print(f"Units of {units.spike_count:,} spikes, {len(units)} units, {N_CHANNELS} channels: "
          f"built in {build * 1e3:.0f} ms")
    rng = np.random.default_rng(1)
    visible = np.arange(64, 128)
    for seconds in (1.0, 10.0, 60.0):
        width = int(seconds * RATE)
        starts = rng.integers(0, int(RATE * DURATION_S) - width, 50)
        spikes = len(units.spikes_in_window(int(starts[0]), int(starts[0]) + width).samples)
        all_channels = _best(lambda s=starts: [units.spikes_in_window(int(a), int(a) + width) for a in s], 5) / 50
        some = _best(lambda s=starts: [units.spikes_in_window(int(a), int(a) + width, visible) for a in s], 5) / 50
        print(f"window {seconds:5.1f} s (~{spikes:,} spikes): all channels {all_channels * 1e6:8.1f} us, "
              f"64 of {N_CHANNELS} channels {some * 1e6:8.1f} us")
    start = time.perf_counter()
    for k in range(1000):
        units.next_spike(k % N_UNITS, k * 1000)
    print(f"next_spike: {(time.perf_counter() - start) * 1e3:.2f} us per call")
    start = time.perf_counter()
    summary = units.summary()
    print(f"summary of {len(summary)} units: {(time.perf_counter() - start) * 1e3:.1f} ms")
    start = time.perf_counter()
    events = units.as_events()
    print(f"as_events ({len(events):,} rows): {(time.perf_counter() - start) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
