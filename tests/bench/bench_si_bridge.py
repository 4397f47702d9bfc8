"""The SpikeInterface bridge: wrap a 10 GB, 384-channel raw file and read 1 s through it.

Run: python -m tests.bench.bench_si_bridge [--gigabytes 10] [--channels 384] [--repeat 7]
The file is sparse (truncate), so it costs no disk; reads come from the page cache and measure
the bridge's overhead over Wavescope's own read_range. Needs spikeinterface (wavescope[si]).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

RATE = 30000


def _best(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gigabytes", type=float, default=10.0)
    parser.add_argument("--channels", type=int, default=384)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    try:
        import spikeinterface.core  # noqa: F401
    except ImportError:
        print("spikeinterface is not installed (pip install wavescope[si]); skipped")
        return
    from app.io import open_datafile
    from app.io.probe import linear_probe
    from app.io.si_bridge import to_si_recording

    frame = args.channels * 2
    samples = int(args.gigabytes * 1e9) // frame
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.dat"
        with open(path, "wb") as handle:
            handle.truncate(samples * frame)
        params = {"data_dtype": "int16", "nb_channels": args.channels, "sampling_rate": RATE, "gain": 0.195}
        probe = linear_probe(args.channels)
        start = time.perf_counter()
        open_datafile(str(path), params, "raw_binary")        # the first also imports every format
        first_open = time.perf_counter() - start
        start = time.perf_counter()
        datafile = open_datafile(str(path), params, "raw_binary")
        opened = time.perf_counter() - start
        start = time.perf_counter()
        to_si_recording(datafile)             # the first call builds the classes
        first_wrap = time.perf_counter() - start
        bare = _best(lambda: to_si_recording(datafile), args.repeat)[0]
        start = time.perf_counter()
        recording = to_si_recording(datafile, probe)
        wrapped = time.perf_counter() - start
        start = time.perf_counter()
        recording.to_dict()
        dumped = time.perf_counter() - start
        middle = samples // 2
        direct = _best(lambda: datafile.read_range(middle, middle + RATE), args.repeat)
        bridged = _best(lambda: recording.get_traces(start_frame=middle, end_frame=middle + RATE,
                                                     return_in_uV=True), args.repeat)
        window = {"start_frame": middle, "end_frame": middle + RATE}
        unscaled = _best(lambda: recording.get_traces(**window), args.repeat)
        subset = [str(k) for k in range(0, args.channels, 4)]
        nodes = list(range(0, args.channels, 4))
        direct_sub = _best(lambda: datafile.read_range(middle, middle + RATE, nodes), args.repeat)
        bridged_sub = _best(lambda: recording.get_traces(start_frame=middle, end_frame=middle + RATE,
                                                         channel_ids=subset, return_in_uV=True), args.repeat)
    print(f"raw_binary {samples * frame / 1e9:.1f} GB, {args.channels} channels, "
          f"{samples / RATE / 60:.1f} min")
    print(f"  open_datafile                 {opened * 1e3:8.2f} ms (first call {first_open * 1e3:.2f} ms)")
    print(f"  to_si_recording (no probe)    {bare * 1e3:8.2f} ms (first call {first_wrap * 1e3:.2f} ms)")
    print(f"  to_si_recording (with probe)  {wrapped * 1e3:8.2f} ms")
    print(f"  recording.to_dict()           {dumped * 1e3:8.2f} ms")
    print(f"  1 s, all channels: direct read_range {direct[0] * 1e3:7.2f} ms (median {direct[1] * 1e3:.2f}); "
          f"bridge get_traces(µV) {bridged[0] * 1e3:7.2f} ms (median {bridged[1] * 1e3:.2f})")
    print(f"  1 s, all channels: bridge get_traces() without SpikeInterface's µV multiply "
          f"{unscaled[0] * 1e3:7.2f} ms (median {unscaled[1] * 1e3:.2f})")
    print(f"  1 s, every 4th channel: direct {direct_sub[0] * 1e3:7.2f} ms; "
          f"bridge {bridged_sub[0] * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
