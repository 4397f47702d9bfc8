"""The tests' own SLURM: a cluster whose test process was killed (its `stop` never ran) is stopped
by the next start instead of living on beside it under the same node name."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.local_slurm import LocalSlurm

REPOSITORY = Path(__file__).resolve().parents[2]
START_AND_WAIT = """
import sys, time
from tests.cluster.local_slurm import LocalSlurm
cluster = LocalSlurm.start()
print(cluster.base, cluster.pid("slurmctld"), cluster.pid("slurmd"), cluster.pid("munged"), flush=True)
time.sleep(600)
"""


def test_a_killed_test_process_leaves_no_cluster_behind(request):
    reason = LocalSlurm.skip_reason(request.config.getoption("--portable"))
    if reason:
        pytest.skip(reason)
    owner = subprocess.Popen([sys.executable, "-c", START_AND_WAIT], cwd=REPOSITORY, stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": str(REPOSITORY)})
    try:
        base, *pids = owner.stdout.readline().split()
        daemons = [int(pid) for pid in pids]
        assert all(daemons), f"the cluster in {base} did not start"
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    orphan = LocalSlurm(Path(base))
    assert all(orphan._ours(pid) for pid in daemons)          # still running: nobody stopped them
    assert Path(base) in LocalSlurm.stop_orphans()
    assert not any(orphan._ours(pid) for pid in daemons) and not Path(base).exists()
