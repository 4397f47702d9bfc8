"""The summary's build keeps resident memory bounded: measured in a child process over a sparse file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, resource, sys
from app.io import open_datafile
from app.model.overview import build_overview
datafile = open_datafile(sys.argv[1], {"nb_channels": 384, "data_dtype": "int16", "sampling_rate": 30000.0},
                         "raw_binary")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
overview = build_overview(datafile, sys.argv[2])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kb": before, "after_kb": after, "levels": len(overview.levels)}))
"""


def test_build_over_a_2gb_sparse_file_stays_small(tmp_path):
    data = tmp_path / "sparse.dat"
    frame = 2 * 384
    with open(data, "wb") as handle:
        handle.truncate(2 * 10**9 // frame * frame)
    done = subprocess.run([sys.executable, "-c", CHILD, str(data), str(tmp_path / "summary")],
                          capture_output=True, text=True, check=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    result = json.loads(done.stdout.strip().splitlines()[-1])
    grown_mb = (result["after_kb"] - result["before_kb"]) / 1024
    summary_mb = sum(f.stat().st_size for f in (tmp_path / "summary").iterdir()) / 1e6
    # The summary is ~36 MB; a build that held its levels in memory (the old one: ~250 MB for
    # 2 GB) would grow by more than the reads' few buffers allow.
    assert result["levels"] >= 2 and summary_mb < 2e3 / 50
    assert grown_mb < 120, f"build grew resident memory by {grown_mb:.0f} MB"
