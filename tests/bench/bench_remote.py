"""A 10 GB NWB on a server with 50 ms added latency: first frame, scrolled frame, bytes per window.

Run: nice -n 5 python -m tests.bench.bench_remote [--size-gb 10] [--latency 0.05] [--chunks 32768x64 ...]
     nice -n 5 python -m tests.bench.bench_remote --blocks 32 64 128 256 1024     (choosing the block size)

The file is written by pynwb (its whole metadata, as real NWB files have), then its ElectricalSeries
data is replaced by a 384-channel int16 chunked dataset allocated at once without being written
(a sparse file: seconds, no disk used) with real samples in the windows read; it is deleted after.
It is served by tests/io/remote_server.py on 127.0.0.1 with the latency added to every answer.

Prints, for each chunk layout, with the load average:
- first frame: open the URL with a cold cache and draw 1 s x 384 channels (TraceSource, as the
  browser does); the bytes fetched for it;
- the next window once the browser's prefetch has read it (what scrolling shows), and the same
  frame from a new TraceSource over the block cache (through h5py and the remote file, not the
  trace cache) beside the same frame from the local file;
- bytes fetched for one 1 s x 384-channel window vs its stored size, aligned on a chunk
  boundary and straddling one (a chunk is the unit h5py reads);
- that URL and local reads give equal samples.
"""

from __future__ import annotations

import argparse
import datetime
import os
import tempfile
import time

import h5py
import numpy as np

RATE = 30000.0
CHANNELS = 384


def load() -> str:
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


def write_sparse_nwb(path: str, samples: int, chunks: tuple[int, int], windows: list[int]) -> None:
    """pynwb's layout around a (samples, 384) int16 dataset allocated early, never filled, with
    noise written at each start in `windows` (1 s each)."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ecephys import ElectricalSeries
    nwb = NWBFile("wavescope remote benchmark", "bench", datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    device = nwb.create_device("Neuropixels")
    group = nwb.create_electrode_group("shank0", "probe", "CA1", device)
    for k in range(CHANNELS):
        nwb.add_electrode(group=group, location="CA1", x=0.0, y=0.0, z=0.0, rel_x=float(16 * (k % 4)),
                          rel_y=float(20 * (k // 2)))
    region = nwb.create_electrode_table_region(list(range(CHANNELS)), "all")
    nwb.add_acquisition(ElectricalSeries(name="raw", data=np.zeros((chunks[0], CHANNELS), np.int16),
                                         electrodes=region, rate=RATE, conversion=0.195e-6))
    with NWBHDF5IO(path, "w") as io:
        io.write(nwb)
    with h5py.File(path, "r+") as h5:
        series = h5["acquisition/raw"]
        attributes = dict(series["data"].attrs)
        del series["data"]
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk(chunks)
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
        space = h5py.h5s.create_simple((samples, CHANNELS))
        h5py.h5d.create(series.id, b"data", h5py.h5t.STD_I16LE, space, dcpl=dcpl)
        data = series["data"]
        data.attrs.update(attributes)
        rng = np.random.default_rng(0)
        for start in windows:
            data[start:start + int(RATE)] = rng.integers(-300, 300, (int(RATE), CHANNELS), dtype=np.int16)


def wait_quiet(server, pause: float = 0.4) -> None:
    """Until the server has had no request for `pause` seconds (the prefetch is done)."""
    seen = -1
    while seen != server.requests:
        seen = server.requests
        time.sleep(pause)


def measure(folder: str, size_gb: float, latency: float, chunks: tuple[int, int], full: bool) -> dict:
    from app.io import open_datafile, remote
    from app.model.traces import TraceSource
    from tests.io.remote_server import RangeServer

    samples = int(size_gb * 1e9) // (2 * CHANNELS)
    window = int(RATE)
    aligned = (samples // 2) // chunks[0] * chunks[0]         # a window starting on a chunk boundary
    straddling = aligned + chunks[0] - window // 2            # a window across a boundary
    path = os.path.join(folder, "bench.nwb")
    start = time.perf_counter()
    write_sparse_nwb(path, samples, chunks, [0, window, aligned, straddling])
    written = time.perf_counter() - start
    result = {"chunks": f"{chunks[0]}x{chunks[1]}", "file_gb": os.path.getsize(path) / 1e9,
              "write_s": written, "window_bytes": window * CHANNELS * 2}
    channels = list(range(CHANNELS))
    with RangeServer(folder, latency=latency) as server:
        url = server.url("bench.nwb")

        def fresh_cache(name: str) -> None:
            remote.set_block_cache(remote.BlockCache(os.path.join(folder, name), 4 << 30))
            remote.forget_probes()

        if full:
            fresh_cache("cache-first")
            server.reset_counts()
            start = time.perf_counter()
            datafile = open_datafile(url)
            result["open_s"] = time.perf_counter() - start
            source = TraceSource(datafile, cache_bytes=1 << 30)
            source.frame(0, window, channels, 1200)
            result["first_frame_s"] = time.perf_counter() - start
            result["first_frame_fetched_mb"] = server.bytes_sent / 1e6
            result["first_frame_requests"] = server.requests
            result["first_frame_load"] = load()
            wait_quiet(server)                                # the prefetch of the next window
            start = time.perf_counter()
            source.frame(window, 2 * window, channels, 1200)
            result["prefetched_scroll_s"] = time.perf_counter() - start
            cold = TraceSource(open_datafile(url), cache_bytes=1 << 30)  # empty trace cache
            server.reset_counts()
            start = time.perf_counter()
            cold.frame(window, 2 * window, channels, 1200)
            result["cached_scroll_s"] = time.perf_counter() - start
            result["cached_scroll_requests"] = server.requests     # the next window's prefetch among them
            result["cached_scroll_load"] = load()
            local = TraceSource(open_datafile(path), cache_bytes=1 << 30)
            start = time.perf_counter()
            local.frame(window, 2 * window, channels, 1200)
            result["local_scroll_s"] = time.perf_counter() - start       # the same frame from the local file
            local.close()
            source.close()
            cold.close()

        for name, first in (("aligned", aligned), ("straddling", straddling)):
            fresh_cache(f"cache-{name}")
            datafile = open_datafile(url)
            datafile.read_chunk(0, 1, nodes=[0])              # the header and chunk index first
            server.reset_counts()
            by_url = _window(datafile, first, window)
            result[f"{name}_fetched_ratio"] = server.bytes_sent / result["window_bytes"]
            result[f"{name}_requests"] = server.requests
            local = _window(open_datafile(path), first, window)
            result[f"{name}_equal"] = bool(np.array_equal(by_url, local)) and bool(np.any(local))
        remote.set_block_cache(None)
    os.remove(path)
    return result


def measure_blocks(folder: str, size_gb: float, latency: float, sizes_kb: list[int]) -> list[dict]:
    """Open, events (a walk of every group: the metadata) and one 1 s window from the middle,
    cold, for each block size."""
    from app.io import events, open_datafile, remote
    from tests.io.remote_server import RangeServer
    samples = int(size_gb * 1e9) // (2 * CHANNELS)
    first = samples // 2 // 32768 * 32768 + 10000
    path = os.path.join(folder, "bench.nwb")
    write_sparse_nwb(path, samples, (32768, 64), [0, first])
    rows, default = [], remote.BLOCK_SIZE
    with RangeServer(folder, latency=latency) as server:
        open_datafile(server.url("bench.nwb"))                # imports and first connection, not measured
        for kb in sizes_kb:
            remote.BLOCK_SIZE = kb << 10
            remote.set_block_cache(remote.BlockCache(os.path.join(folder, f"cache-{kb}"), 4 << 30))
            remote.forget_probes()
            events._FILE_CACHE.clear()
            row = {"block_kb": kb}
            for name, step in (("open", lambda: open_datafile(server.url("bench.nwb"))),
                               ("events", lambda row=row: row["datafile"].get_events()),
                               ("window", lambda row=row: _window(row["datafile"], first, int(RATE)))):
                server.reset_counts()
                start = time.perf_counter()
                value = step()
                row[f"{name}_s"], row[f"{name}_requests"] = time.perf_counter() - start, server.requests
                row[f"{name}_mb"] = server.bytes_sent / 1e6
                row.setdefault("datafile", value)
            row["window_ratio"] = row.pop("window_mb") * 1e6 / (int(RATE) * CHANNELS * 2)
            row.pop("datafile")
            row["load"] = load()
            rows.append(row)
    remote.BLOCK_SIZE = default
    remote.set_block_cache(None)
    os.remove(path)
    return rows


def _window(datafile, first: int, size: int) -> np.ndarray:
    """Samples [first, first + size) of every channel, as `read_chunk` gives them."""
    return datafile.read_chunk(0, size, padding=(first, first))


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-gb", type=float, default=10)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--chunks", nargs="*", default=["32768x64", "8192x384", "78125x64"],
                        help="time x channels chunk layouts; the first gets the frame timings too")
    parser.add_argument("--blocks", nargs="*", type=int, default=[],
                        help="block sizes in KiB to compare (open, events, one window), e.g. 32 64 128 256 1024")
    args = parser.parse_args(argv)
    if args.blocks:
        with tempfile.TemporaryDirectory(prefix="wavescope-bench-remote-") as folder:
            for row in measure_blocks(folder, args.size_gb, args.latency, args.blocks):
                print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
        return []
    rows = []
    for number, text in enumerate(args.chunks):
        chunks = tuple(int(v) for v in text.split("x"))
        with tempfile.TemporaryDirectory(prefix="wavescope-bench-remote-") as folder:
            row = measure(folder, args.size_gb, args.latency, chunks, full=number == 0)
        rows.append(row)
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    return rows


if __name__ == "__main__":
    main()
