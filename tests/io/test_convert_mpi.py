"""`mpiexec -n 2 wavescope convert`: the same bytes as one process, and a clean cancel."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.io.registry import supported_formats
from app.model.jobs import mpiexec_path
from tests.conftest import synthetic_int16

REPO = Path(__file__).resolve().parents[2]
RATE = 20000
OPEN = ["--format", "raw_binary", "--set", "nb_channels=8", "--set", "data_dtype=int16",
        "--set", f"sampling_rate={RATE}"]

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None or not os.path.exists(mpiexec_path()),
                       reason="needs mpi4py and mpiexec"),
    pytest.mark.timeout(120),
]


def _convert(ranks: int, *args: str) -> subprocess.CompletedProcess:
    command = [mpiexec_path(), "-n", str(ranks), sys.executable, "-m", "app", "convert", *args]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr
    return done


def _same_bytes_for_1_and_2_ranks(tmp_path, source: str, name: str, *extra: str) -> tuple[Path, Path]:
    one, two = tmp_path / f"n1_{name}", tmp_path / f"n2_{name}"
    _convert(1, source, *OPEN, "-o", str(one), *extra)
    _convert(2, source, *OPEN, "-o", str(two), *extra)
    assert one.read_bytes() == two.read_bytes()
    assert not [p for p in os.listdir(tmp_path) if ".partial-" in p]
    return one, two


def test_raw_to_raw(make_raw, tmp_path):
    data = synthetic_int16(150000, 8)
    src = make_raw("rec.dat", data)
    one, _ = _same_bytes_for_1_and_2_ranks(tmp_path, src, "out.dat", "--chunk-seconds", "0.13", "--verify")
    assert one.read_bytes() == Path(src).read_bytes()


def test_multi_files_to_raw_with_filter(make_raw, tmp_path):
    parts = [synthetic_int16(n, 8, seed=k) for k, n in enumerate((40000, 23000, 51000))]
    for k, part in enumerate(parts):
        make_raw(f"session_{k}.dat", part)
    src = str(tmp_path / "session_0.dat")
    one, _ = _same_bytes_for_1_and_2_ranks(tmp_path, src, "plain.dat", "--stream-mode", "multi-files",
                                           "--chunk-seconds", "0.2")
    np.testing.assert_array_equal(np.fromfile(one, np.int16).reshape(-1, 8), np.concatenate(parts))
    _same_bytes_for_1_and_2_ranks(tmp_path, src, "hp.dat", "--stream-mode", "multi-files", "--chunk-seconds",
                                  "0.2", "--filter", "highpass:300", "--dtype", "float32", "--channels", "1-4")


@pytest.mark.skipif("hdf5" not in supported_formats(), reason="the hdf5 format is not in this build")
def test_raw_to_hdf5_written_in_place_by_every_rank(make_raw, tmp_path):
    import h5py

    from app.io.registry import get_format
    assert get_format("hdf5").parallel_write
    data = synthetic_int16(120000, 8, seed=2)
    src = make_raw("rec.dat", data)
    one, _ = _same_bytes_for_1_and_2_ranks(tmp_path, src, "out.h5", "--to", "hdf5", "--out-set", "h5_key=data",
                                           "--chunk-seconds", "0.11", "--verify")
    with h5py.File(one, "r") as handle:
        assert handle["data"].id.get_create_plist().get_layout() == h5py.h5d.CONTIGUOUS
        assert handle["data"].attrs["sampling_rate"] == RATE
        np.testing.assert_array_equal(handle["data"][:], data)
    _same_bytes_for_1_and_2_ranks(tmp_path, src, "hp.h5", "--to", "hdf5", "--out-set", "h5_key=data",
                                  "--chunk-seconds", "0.11", "--filter", "highpass:300", "--dtype", "float32")


def test_sigterm_to_mpiexec_leaves_nothing(make_raw, tmp_path):
    src = make_raw("rec.dat", synthetic_int16(150000, 8))
    out = tmp_path / "slow.dat"
    command = [mpiexec_path(), "-n", "2", sys.executable, "-m", "app", "convert", src, *OPEN,
               "-o", str(out), "--chunk-seconds", "0.00005", "--progress", "json"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(process.stdout.readline())
        assert first["done"] < first["total"]
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode != 0
    assert sorted(os.listdir(tmp_path)) == ["rec.dat"]
