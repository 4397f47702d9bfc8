"""A real one-node SLURM for tests/cluster, started once (tests/cluster/local_slurm.py) and stopped
after; a cluster profile `test` whose job folders live in the test's tmp_path."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from app.model.cluster import ClusterProfile, save_profile
from tests.cluster.local_slurm import LocalSlurm


@pytest.fixture(scope="session")
def slurm_cluster(request):
    reason = LocalSlurm.skip_reason(request.config.getoption("--portable"))
    if reason:
        pytest.skip(reason)
    cluster = LocalSlurm.start()
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = cluster.conf
    yield cluster
    if old is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = old
    cluster.stop()


@pytest.fixture
def profile(slurm_cluster, tmp_path) -> ClusterProfile:
    profile = ClusterProfile(name="test", partition="debug", time="5:00", folder=str(tmp_path / "jobs"))
    save_profile(profile)
    return profile


def marked_processes(job_id: str) -> list[int]:
    """Live processes whose environment carries WAVESCOPE_JOB_ID=job_id."""
    found = []
    target = f"WAVESCOPE_JOB_ID={job_id}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if target in (proc / "environ").read_bytes().split(b"\0") and \
                    "Z" not in (proc / "stat").read_text().rsplit(")", 1)[1].split()[:1]:
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def wait_for(predicate, timeout: float = 30.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"not true within {timeout} s: {predicate}")
