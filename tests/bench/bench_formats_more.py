"""Plexon, TDT, Intan RHS and SpikeGadgets: open a ~10 GB file and read 1 s x all channels from its middle.

Run: python -m tests.bench.bench_formats_more [--gigabytes 10] [--neo-timeout 240] [--skip-neo]
Each case runs in its own subprocess (peak RSS from getrusage), ours and neo's on the same file.
RHS, SpikeGadgets and the TDT .tev are sparse (a real header or index, then `truncate`); a .plx
has a head in front of every data block, so it is written in full (numpy slabs, then deleted).
Plexon is opened twice: the first open walks the file and caches the block index, the second
loads the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHANNELS = 128
SLAB_BYTES = 32 << 20          # the parent stays small: children inherit its peak RSS


# -- files ------------------------------------------------------------------------------------------


def make_rhs(folder: Path, size: int) -> tuple[Path, float]:
    from tests.io.writers_more import rhs_block_bytes, rhs_header
    header = rhs_header(30000.0, CHANNELS, dc_saved=True, adc=2, digital_in=1)
    block = rhs_block_bytes(CHANNELS, True, adc=2, digital_in=1)
    path = folder / "bench.rhs"
    with open(path, "wb") as handle:
        handle.write(header)
        handle.truncate(len(header) + (size // block) * block)
    return path, 30000.0


def make_spikegadgets(folder: Path, size: int) -> tuple[Path, float]:
    from tests.io.writers_more import rec_header
    trodes = [list(range(k, k + 4)) for k in range(0, CHANNELS, 4)]
    header = rec_header(CHANNELS, trodes, devices=2)
    packet = 1 + 3 + 4 + 2 * CHANNELS
    path = folder / "bench.rec"
    with open(path, "wb") as handle:
        handle.write(header)
        handle.truncate(len(header) + (size // packet) * packet)
    return path, 30000.0


def make_tdt(folder: Path, size: int) -> tuple[Path, float]:
    """One float32 store of CHANNELS channels, 2048-sample chunks: a real .tsq, a sparse .tev."""
    import numpy as np

    from tests.io.writers_more import TSQ, tbk_text
    rate, chunk = float(np.float32(24414.0625)), 2048
    block = folder / "Tank" / "Block-1"
    block.mkdir(parents=True)
    stem = block / "Tank_Block-1"
    records = size // (chunk * 4)
    records -= records % CHANNELS
    start = 1.6e9
    with open(stem.with_suffix(".tsq"), "wb") as handle:
        head = np.zeros(2, TSQ)
        head["size"] = 10
        head[1]["type"], head[1]["code"], head[1]["timestamp"] = 0x8801, b"\x01", start
        handle.write(head.tobytes())
        for first in range(0, records, 1 << 18):
            k = np.arange(first, min(records, first + (1 << 18)))
            slab = np.zeros(len(k), TSQ)
            slab["size"], slab["type"], slab["code"] = 10 + chunk, 0x8101, b"Wav1"
            slab["channel"] = k % CHANNELS + 1
            slab["timestamp"] = start + (k // CHANNELS) * chunk / rate
            slab["offset"], slab["format"], slab["rate"] = k * chunk * 4, 0, rate
            slab.tofile(handle)
    with open(stem.with_suffix(".tev"), "wb") as handle:
        handle.truncate(records * chunk * 4)
    store = {"name": "Wav1", "data": np.zeros((CHANNELS, 1), np.float32), "rate": rate, "chunk": chunk}
    stem.with_suffix(".Tbk").write_bytes(tbk_text([store]))
    stem.with_suffix(".Tdx").write_bytes(b"")
    return block, rate


def make_plexon(folder: Path, size: int) -> tuple[Path, float]:
    """CHANNELS wideband channels at 40 kHz in 4000-sample blocks, written in full."""
    import numpy as np

    from tests.io.writers_more import (
        PLX_BLOCK,
        plx_dsp_header,
        plx_event_header,
        plx_global_header,
        plx_slow_header,
    )
    rate, samples = 40000, 4000
    block = np.dtype([("type", "<i2"), ("upper", "<u2"), ("lower", "<u4"), ("channel", "<i2"), ("unit", "<i2"),
                      ("waveforms", "<i2"), ("words", "<i2"), ("data", "<i2", (samples,))])
    assert block.itemsize == PLX_BLOCK.size + 2 * samples
    path = folder / "bench.plx"
    total = size // block.itemsize
    total -= total % CHANNELS
    per_slab = max(CHANNELS, SLAB_BYTES // block.itemsize // CHANNELS * CHANNELS)
    with open(path, "wb") as handle:
        handle.write(plx_global_header(107, rate, 1, 1, CHANNELS))
        handle.write(plx_dsp_header("SPK01", 1) + plx_event_header("EVT01", 1))
        handle.writelines(plx_slow_header(f"WB{c + 1:03d}", c, rate, 1000, 1) for c in range(CHANNELS))
        slab = np.zeros(per_slab, block)
        slab["type"], slab["waveforms"], slab["words"] = 5, 1, samples
        slab["channel"] = np.arange(per_slab) % CHANNELS
        for first in range(0, total, per_slab):
            k = np.arange(first, first + per_slab, dtype=np.int64)
            ticks = (k // CHANNELS) * samples
            slab["upper"], slab["lower"] = ticks >> 32, ticks & 0xFFFFFFFF
            slab[:min(per_slab, total - first)].tofile(handle)
    return path, float(rate)


MAKERS = {"plexon": make_plexon, "tdt": make_tdt, "intan_rhs": make_rhs, "spikegadgets": make_spikegadgets}


# -- one measurement, in a child process ------------------------------------------------------------


def _ours(file_format: str, path: str, rate: float) -> tuple[float, float, tuple]:
    from app.io import open_datafile
    from app.io.registry import supported_formats
    supported_formats()
    started = time.perf_counter()
    datafile = open_datafile(path, file_format=file_format)
    opened = time.perf_counter() - started
    middle = datafile.duration // 2
    started = time.perf_counter()
    data = datafile.read_range(middle, middle + int(rate))
    return opened, time.perf_counter() - started, data.shape


def _neo(file_format: str, path: str, rate: float) -> tuple[float, float, tuple]:
    import warnings

    import neo.rawio
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    if file_format == "plexon":
        reader = neo.rawio.PlexonRawIO(filename=path, progress_bar=False)
    elif file_format == "tdt":
        reader = neo.rawio.TdtRawIO(dirname=str(Path(path).parent))      # the tank folder
    elif file_format == "intan_rhs":
        # the sparse file's timestamps are all 0; neo reads every block's timestamp at open anyway
        reader = neo.rawio.IntanRawIO(filename=path, ignore_integrity_checks=True)
    else:
        reader = neo.rawio.SpikeGadgetsRawIO(filename=path, selected_streams="trodes")
    reader.parse_header()
    opened = time.perf_counter() - started
    middle = reader.get_signal_size(0, 0, 0) // 2
    started = time.perf_counter()
    data = reader.get_analogsignal_chunk(0, 0, middle, middle + int(rate), stream_index=0)
    data = reader.rescale_signal_raw_to_float(data, dtype="float32", stream_index=0)
    return opened, time.perf_counter() - started, data.shape


def measure_here(reader: str, file_format: str, path: str, rate: float) -> None:
    opened, read, shape = (_ours if reader == "ours" else _neo)(file_format, path, rate)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"open": opened, "read": read, "shape": list(shape), "peak_mb": peak_mb}))


def make_here(file_format: str, folder: str, gigabytes: float) -> None:
    path, rate = MAKERS[file_format](Path(folder), int(gigabytes * 1e9))
    print(json.dumps({"path": str(path), "rate": rate}))


def make(file_format: str, folder: Path, gigabytes: float) -> tuple[Path, float]:
    """Write the file in a child, so the big slabs never raise this process's (inherited) peak."""
    command = [sys.executable, "-m", "tests.bench.bench_formats_more", "--make", file_format, str(folder),
               str(gigabytes)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return Path(result["path"]), float(result["rate"])


def measure(reader: str, file_format: str, path: Path, rate: float, timeout: float | None, env: dict) -> str:
    command = [sys.executable, "-m", "tests.bench.bench_formats_more", "--measure", reader, file_format, str(path),
               str(rate)]
    try:
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return f"did not finish in {timeout:g} s (killed)"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"failed (exit {done.returncode}): {last[:160]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return (f"open {result['open'] * 1e3:9.1f} ms   read 1 s {tuple(result['shape'])} "
            f"{result['read'] * 1e3:8.1f} ms   peak RSS {result['peak_mb']:7.1f} MB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gigabytes", type=float, default=10)
    parser.add_argument("--neo-timeout", type=float, default=240)
    parser.add_argument("--skip-neo", action="store_true")
    parser.add_argument("--formats", default=",".join(MAKERS))
    parser.add_argument("--measure", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--make", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.make:
        make_here(args.make[0], args.make[1], float(args.make[2]))
        return
    if args.measure:
        reader, file_format, path, rate = args.measure
        measure_here(reader, file_format, path, float(rate))
        return
    with tempfile.TemporaryDirectory(prefix="wavescope-bench-") as folder:
        env = {**os.environ, "XDG_CACHE_HOME": os.path.join(folder, "cache")}
        for name in args.formats.split(","):
            case = Path(folder) / name
            case.mkdir()
            started = time.perf_counter()
            path, rate = make(name, case, args.gigabytes)
            made = time.perf_counter() - started
            on_disk = sum(f.stat().st_blocks * 512 for f in case.rglob("*") if f.is_file())
            print(f"== {name}: {args.gigabytes:g} GB, {CHANNELS} channels at {rate:g} Hz "
                  f"({on_disk / 2**20:.0f} MiB on disk, made in {made:.1f} s)")
            runs = [("ours (first open)" if name == "plexon" else "ours", "ours")]
            if name == "plexon":
                runs.append(("ours (cached index)", "ours"))
            if not args.skip_neo:
                runs.append(("neo 0.14", "neo"))
            for label, reader in runs:
                timeout = args.neo_timeout if reader == "neo" else None
                print(f"  {label:20s} {measure(reader, name, path, rate, timeout, env)}", flush=True)
            for item in sorted(case.rglob("*"), reverse=True):
                item.unlink() if item.is_file() else item.rmdir()


if __name__ == "__main__":
    main()
