"""`wavescope events load|list`, run in-process through app.cli.main."""

import json

import numpy as np

from app.cli import main as wavescope
from tests.conftest import synthetic_int16
from tests.io.writers_ephys import np1_meta, write_spikeglx


def main(argv: list[str]) -> int:
    """`wavescope events ARGV...`."""
    return wavescope(["events", *argv])


def test_load_csv_in_seconds_with_a_rate(tmp_path, capsys):
    path = tmp_path / "stim.csv"
    path.write_text("onset,duration,trial_type\n0.5,0.01,go\n1.25,0.02,nogo\n")
    assert main(["load", str(path), "--rate", "20000", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["count"] == 2 and "seconds" in out["note"]
    assert [(e["sample"], e["duration"], e["channel"], e["label"]) for e in out["events"]] == \
        [(10000, 200, "stim", "go"), (25000, 400, "stim", "nogo")]
    assert out["events"][1]["time_s"] == 1.25


def test_load_npy_samples_table_and_seconds_without_rate_fails(tmp_path, capsys):
    path = tmp_path / "onsets.npy"
    np.save(path, np.array([30, 10, 20], dtype=np.int64))
    assert main(["load", str(path), "--time-unit", "samples"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert [int(line.split()[0]) for line in lines[1:]] == [10, 20, 30]
    assert "read as samples" in captured.err
    csv = tmp_path / "t.csv"
    csv.write_text("time_s\n0.5\n")
    assert main(["load", str(csv)]) == 1
    assert "sampling_rate" in capsys.readouterr().err


def test_list_a_recordings_events_filtered_by_channel(tmp_path, capsys):
    data = synthetic_int16(3000, 4)
    sync = np.zeros(3000, dtype=np.uint16)
    sync[100:200] |= 1 << 6
    sync[1500:1530] |= 1 << 6
    sync[400:410] |= 1 << 2
    data[:, 3] = sync.view(np.int16)
    path = write_spikeglx(tmp_path / "run_g0_t0.imec0.ap.bin", data, np1_meta(3, [500] * 3, [250] * 3))
    assert main(["list", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["channels"] == {"sync": 2, "SY bit 2": 1} and out["count"] == 3
    assert main(["list", str(path), "--channel", "sync", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(e["sample"], e["duration"]) for e in out["events"]] == [(100, 100), (1500, 30)]
    assert out["events"][0]["time_s"] == 100 / out["sampling_rate"]
    assert main(["list", str(path), "--channel", "sync"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[1].split()[:3] == ["100", f"{100 / 30000:.6f}", "100"]
    assert main(["list", str(path), "--channel", "TTL 99"]) == 1           # exitcodes.DATA_ERROR
    captured = capsys.readouterr()
    assert "no events on channel 'TTL 99'" in captured.err
    assert "'sync' (2)" in captured.err and "'SY bit 2' (1)" in captured.err and captured.out == ""
    assert main(["list", str(path), "--channel", "TTL 99", "--json"]) == 1
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["channels"] == {"sync": 2, "SY bit 2": 1} and error["field"] == "channel"
    assert main(["list", str(path), "--label", "no such label"]) == 1
    assert "no events on label 'no such label'" in capsys.readouterr().err


def test_list_reports_missing_fields(tmp_path, capsys):
    path = tmp_path / "rec.dat"
    synthetic_int16(100, 2).tofile(path)
    assert main(["list", str(path), "--format", "raw_binary", "--json"]) == 3          # exitcodes.MISSING_FIELDS
    assert "nb_channels" in json.loads(capsys.readouterr().out)["missing"]
