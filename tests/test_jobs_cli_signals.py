"""`wavescope convert` in the foreground: SIGHUP, SIGTERM and SIGINT stop it with 128 + N, a message,
no traceback and no partial output (the sort command's signals: tests/model/test_jobs_processes.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.exitcodes import interrupted_status
from app.cli import build_parser
from app.cli.jobs import StopRequested
from tests.conftest import synthetic_int16

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")
@pytest.mark.parametrize("signame", ["SIGHUP", "SIGTERM", "SIGINT"])
def test_convert_stopped_by_a_signal_leaves_nothing(make_raw, tmp_path, signame):
    src = make_raw("rec.dat", synthetic_int16(60000, 8))
    command = [sys.executable, "-m", "app", "convert", src, "--format", "raw_binary",
               "--set", "nb_channels=8", "--set", "data_dtype=int16", "--set", "sampling_rate=20000",
               "-o", str(tmp_path / "slow.dat"), "--chunk-seconds", "0.00005", "--progress", "json"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(process.stdout.readline())
        assert first["done"] < first["total"]
        process.send_signal(getattr(signal, signame))
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + getattr(signal, signame), err
    said = json.loads(out.splitlines()[-1])["error"]      # --progress json: the error is JSON on stdout
    assert signame in said["message"] and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == ["rec.dat"]


def test_exit_codes_follow_the_signal_and_are_documented():
    assert interrupted_status(StopRequested(signal.SIGTERM)) == 143
    assert interrupted_status(KeyboardInterrupt()) == 130
    for command in ("sort", "convert"):
        parser = build_parser()._subparsers._group_actions[0].choices[command]
        assert "128+N when stopped by signal N" in parser.epilog and "143 SIGTERM" in parser.epilog
