"""Events at scale: open an Open Ephys binary recording with 10 million TTL events, load them,
answer range and next/previous queries; scan a SpikeGLX sync word.

Run: python -m tests.bench.bench_events [--events 10000000] [--spikeglx-minutes 1]
The continuous file is sparse; the TTL arrays are real .npy files (20 million edges for 10
million pulses, about 200 MB in a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from app.io.formats.openephys_binary import OpenEphysBinaryFile
from app.io.formats.spikeglx import SpikeGLXFile
from app.model.events import EventIndex
from tests.io.writers_ephys import np1_meta, write_binary_recording, write_spikeglx

RATE = 30000
LINES = 8
STREAM = "Neuropix-PXI-100.ProbeA-AP"


def make_recording(folder: Path, pulses: int) -> Path:
    """A 2-channel stream long enough for `pulses` pulses (one every 10 samples on 8 lines)."""
    samples = pulses * 10 + 100
    stream = {"folder": STREAM, "data": np.zeros((1, 2), np.int16), "bit_volts": [0.195] * 2,
              "sample_rate": float(RATE), "first_sample": 0}
    recording = folder / "recording1"
    oebin = write_binary_recording(recording, [stream])
    with open(recording / "continuous" / STREAM / "continuous.dat", "r+b") as handle:
        handle.truncate(samples * 4)
    np.save(recording / "continuous" / STREAM / "sample_numbers.npy", np.arange(samples, dtype=np.int64))
    rises = np.arange(pulses, dtype=np.int64) * 10
    lines = (np.arange(pulses) % LINES + 1).astype(np.int16)
    events = recording / "events" / "Neuropix-PXI-100.ProbeA" / "TTL"
    events.mkdir(parents=True)
    np.save(events / "sample_numbers.npy", np.stack([rises, rises + 4], axis=1).reshape(-1))
    np.save(events / "states.npy", np.stack([lines, -lines], axis=1).reshape(-1))
    structure = json.loads(oebin.read_text())
    structure["events"] = [{"folder_name": "Neuropix-PXI-100.ProbeA/TTL/", "channel_name": "TTL",
                            "sample_rate": float(RATE), "type": "int16", "stream_name": "ProbeA-AP"}]
    oebin.write_text(json.dumps(structure))
    return oebin


def timed(action) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def median_ms(action, repeats: int = 200) -> float:
    times = []
    for k in range(repeats):
        start = time.perf_counter()
        action(k)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def bench_openephys(pulses: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        oebin = make_recording(Path(folder), pulses)
        seconds, datafile = timed(lambda: OpenEphysBinaryFile(str(oebin)))
        print(f"open (events not loaded):           {seconds * 1e3:8.1f} ms")
        seconds, events = timed(datafile.get_events)
        print(f"first get_events ({len(events):,} events): {seconds:8.2f} s")
        duration = datafile.duration
        rng = np.random.default_rng(0)
        starts = rng.integers(0, duration - RATE, 1000)
        query = median_ms(lambda k: datafile.get_events(int(starts[k]), int(starts[k]) + RATE))
        print(f"get_events(1 s window), median:     {query:8.3f} ms")
        seconds, index = timed(lambda: EventIndex(events))
        print(f"EventIndex over them:               {seconds * 1e3:8.1f} ms")
        window = median_ms(lambda k: index.in_window(int(starts[k]), int(starts[k]) + RATE))
        print(f"in_window(1 s), median:             {window:8.3f} ms")
        seconds, _ = timed(lambda: index.next_after(0, ["TTL 3"]))
        print(f"next_after, first for a channel:    {seconds * 1e3:8.1f} ms")
        step = median_ms(lambda k: index.next_after(int(starts[k]), ["TTL 3", "TTL 5"]))
        print(f"next_after(2 channels), median:     {step:8.3f} ms")


def bench_spikeglx(minutes: float, channels: int = 384) -> None:
    samples = int(minutes * 60 * RATE)
    with tempfile.TemporaryDirectory() as folder:
        path = write_spikeglx(Path(folder) / "bench_g0_t0.imec0.ap.bin", np.zeros((1, channels + 1), np.int16),
                              np1_meta(channels, [500] * channels, [250] * channels))
        size = (channels + 1) * 2 * samples
        with open(path, "r+b") as handle:
            handle.truncate(size)
        meta = path.with_suffix(".meta")
        lines = [f"fileSizeBytes={size}" if line.startswith("fileSizeBytes=") else line
                 for line in meta.read_text().splitlines()]
        meta.write_text("\n".join(lines) + "\n")
        datafile = SpikeGLXFile(str(path))
        seconds, events = timed(datafile.get_events)
        print(f"spikeglx sync scan, {minutes:g} min x {channels + 1} ch (sparse {size / 1e9:.1f} GB): "
              f"{seconds:.2f} s, {len(events)} events")
        again, _ = timed(lambda: SpikeGLXFile(str(path)).get_events())
        print(f"spikeglx sync, same file reopened (cached): {again * 1e3:.1f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000, help="TTL pulses (each two edges)")
    parser.add_argument("--spikeglx-minutes", type=float, default=1.0)
    args = parser.parse_args(argv)
    bench_openephys(args.events)
    bench_spikeglx(args.spikeglx_minutes)


if __name__ == "__main__":
    main()
