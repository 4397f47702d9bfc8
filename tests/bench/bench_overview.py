"""The zoomed-out summary: its size as a share of the data and the peak memory of its build.

Run: python -m tests.bench.bench_overview [--gb 10] [--channels 384] [--folder DIR]
Makes a sparse int16 raw file of --gb gigabytes (`truncate`: no disk is written for the
data), builds the summary in a child process and prints the child's peak resident memory
(ru_maxrss), the build time and the summary's bytes on disk as a percentage of the data.
The child imports `app` from PYTHONPATH, so the same script measures any checkout.
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

CHILD = """
import json, sys, time
from app.io import open_datafile
from app.model.overview import build_overview
from app.model.traces import default_chunk_size
path, folder, channels = sys.argv[1], sys.argv[2], int(sys.argv[3])
datafile = open_datafile(path, {"nb_channels": channels, "data_dtype": "int16", "sampling_rate": 30000.0},
                         "raw_binary")
started = time.perf_counter()
overview = build_overview(datafile, folder, default_chunk_size(channels))
print(json.dumps({"seconds": time.perf_counter() - started,
                  "levels": [[size, list(array.shape), str(array.dtype)]
                             for size, array in overview.levels]}))
"""


def folder_bytes(folder: str) -> int:
    """Bytes the summary's files hold (their apparent size: the levels are dense)."""
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(folder) for name in names)


def measure(gb: float, channels: int, folder: str) -> dict:
    data = os.path.join(folder, "sparse.dat")
    frame = 2 * channels
    with open(data, "wb") as handle:
        handle.truncate(int(gb * 1e9) // frame * frame)
    summary = os.path.join(folder, "summary")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run([sys.executable, "-c", CHILD, data, summary, str(channels)],
                          capture_output=True, text=True, check=True)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    child = json.loads(done.stdout.strip().splitlines()[-1])
    size = folder_bytes(summary)
    return {"data_gb": gb, "channels": channels, "peak_rss_mb": round(max(peak_kb, before) / 1024, 1),
            "build_s": round(child["seconds"], 1), "summary_mb": round(size / 1e6, 1),
            "summary_percent": round(100 * size / os.path.getsize(data), 3), "levels": child["levels"]}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=10.0)
    parser.add_argument("--channels", type=int, default=384)
    parser.add_argument("--folder", help="where to put the sparse file and the summary (default: a temp dir)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        result = measure(args.gb, args.channels, folder)
    print(f"{result['data_gb']:g} GB int16, {result['channels']} channels: summary {result['summary_mb']} MB "
          f"({result['summary_percent']}% of the data), build peak RSS {result['peak_rss_mb']} MB, "
          f"{result['build_s']} s (total {time.perf_counter() - started:.0f} s)")
    print("levels:", result["levels"])
    return result


if __name__ == "__main__":
    main()
