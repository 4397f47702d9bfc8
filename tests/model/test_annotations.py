"""Annotations: sidecar round trip, crash-safe saves, clear errors, undo/redo, CSV and NWB export."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from app.model import annotations as annotations_module
from app.model.annotations import (
    SCHEMA_VERSION,
    AnnotationFileError,
    Annotations,
    read_sidecar,
    sidecar_path,
)


def _text(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


@pytest.fixture
def recording(tmp_path):
    path = tmp_path / "run1.bin"
    path.write_bytes(b"\0" * 64)
    return str(path)


def test_round_trip_through_the_sidecar(recording):
    notes = Annotations(recording, sampling_rate=30000.0)
    artifact = notes.add(1200, 4500, "artifact", "cable moved")
    stim = notes.add(90, None, "stim ✓", "")
    assert notes.save() == recording + ".annotations.json"
    document = json.loads(_text(sidecar_path(recording)))
    assert document["schema_version"] == SCHEMA_VERSION
    assert document["recording"] == "run1.bin"
    again = Annotations.load(recording)
    assert again.items() == [stim, artifact]
    assert again.sampling_rate == 30000.0
    assert again[artifact.id].duration == 3300 and again[stim.id].is_instant
    assert [a.id for a in again.in_range(100, 1300)] == [artifact.id]
    assert not again.modified


def test_missing_sidecar_is_empty(recording):
    assert len(Annotations.load(recording)) == 0


def test_save_keeps_the_previous_version(recording):
    notes = Annotations(recording, 1000.0)
    notes.add(1, 2, "first")
    notes.save()
    first = _text(sidecar_path(recording))
    notes.add(5, None, "second")
    notes.save()
    assert _text(sidecar_path(recording) + ".bak") == first
    assert len(Annotations.load(recording)) == 2


def test_failed_rename_leaves_the_old_file(recording, monkeypatch):
    notes = Annotations(recording, 1000.0)
    notes.add(1, 2, "old")
    notes.save()
    before = _bytes(sidecar_path(recording))
    notes.add(3, 4, "new")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(annotations_module.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        notes.save()
    monkeypatch.undo()
    assert _bytes(sidecar_path(recording)) == before
    leftovers = [n for n in os.listdir(os.path.dirname(recording)) if n.endswith(".tmp")]
    assert leftovers == []
    assert notes.modified


def test_killed_writer_leaves_old_or_new_never_broken(recording):
    """A child process saves in a loop; killing it at random moments never leaves a bad sidecar."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.getcwd()!r})
        from app.model.annotations import Annotations
        notes = Annotations({recording!r}, 1000.0)
        for k in range(2000):
            notes.add(k, k + 10, "x" * (k % 300), "note " * (k % 50))
        print("ready", flush=True)
        while True:
            notes.add(1, None, "tick")
            notes.save()
    """)
    for attempt in range(3):
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(0.05 + 0.07 * attempt)
        child.kill()
        child.wait()
        if os.path.exists(sidecar_path(recording)):
            annotations, _ = read_sidecar(sidecar_path(recording))
            assert len(annotations) >= 2000


@pytest.mark.parametrize("text, problem", [
    ('{"schema_version": 1, "annotations": [', "not valid JSON at line 1"),
    ('{"annotations": []}', "schema_version is None"),
    ('{"schema_version": 99, "annotations": []}', "newer than"),
    ('{"schema_version": 1, "annotations": [{"start": 5}, {"start": -3, "label": "bad"}]}',
     "entry 2 \\(label 'bad'\\): start must be a sample index >= 0"),
    ('{"schema_version": 1, "annotations": [{"start": 5, "stop": 2}]}', "entry 1: stop must be"),
    ('{"schema_version": 1, "annotations": [{"start": 5, "colour": "red"}]}', "unknown key"),
    ('{"schema_version": 1, "annotations": [{"start": 5, "label": 3}]}', "'label' must be text"),
])
def test_invalid_sidecar_is_a_clear_error_and_untouched(recording, text, problem):
    path = sidecar_path(recording)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    stat = os.stat(path)
    with pytest.raises(AnnotationFileError, match=problem) as caught:
        Annotations.load(recording)
    assert path in str(caught.value)
    assert _text(path) == text
    assert os.stat(path).st_mtime_ns == stat.st_mtime_ns


def test_saving_over_an_invalid_sidecar_keeps_a_copy(recording):
    path = sidecar_path(recording)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("{hand edited, broken")
    notes = Annotations(recording, 1000.0)
    notes.add(1, 2, "fresh")
    notes.save()
    notes.save()
    assert _text(path + ".invalid-1.json") == "{hand edited, broken"
    assert len(Annotations.load(recording)) == 1


def test_undo_redo_and_listeners(recording):
    notes = Annotations(recording, 1000.0)
    heard = []
    unsubscribe = notes.subscribe(lambda kind, ids: heard.append((kind, ids)))
    a = notes.add(10, 20, "a")
    notes.update(a.id, label="A", stop=30)
    b = notes.add(5, None, "b")
    notes.remove(a.id)
    assert [x.label for x in notes.items()] == ["b"]
    assert notes.undo()
    assert [(x.label, x.stop) for x in notes.items()] == [("b", None), ("A", 30)]
    assert notes.undo() and notes.undo()
    assert [(x.label, x.stop) for x in notes.items()] == [("a", 20)]
    assert notes.redo()
    assert notes[a.id].label == "A"
    notes.add(1, None, "c")
    assert not notes.can_redo
    assert [k for k, _ in heard] == ["added", "changed", "added", "removed", "reset", "reset", "reset", "reset",
                                     "added"]
    assert heard[0] == ("added", (a.id,))
    unsubscribe()
    notes.remove(b.id) if b.id in {x.id for x in notes.items()} else notes.add(2, None)
    assert len(heard) == 9
    with pytest.raises(ValueError):
        notes.update(a.id, start=50)
    with pytest.raises(ValueError):
        notes.add(-1)


def test_csv_and_tsv_export(recording, tmp_path):
    notes = Annotations(recording, 1000.0)
    notes.add(1500, 2500, "burst", 'says "hi", twice')
    notes.add(100, None, "tap")
    out = notes.export_table(str(tmp_path / "notes.csv"), t_start=500)
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["label"] for r in rows] == ["tap", "burst"]
    assert rows[1]["start_sample"] == "1500" and rows[1]["stop_sample"] == "2500"
    assert float(rows[1]["start_s"]) == 2.0 and float(rows[1]["stop_s"]) == 3.0
    assert rows[0]["stop_sample"] == "" and rows[1]["note"] == 'says "hi", twice'
    tsv = notes.export_table(str(tmp_path / "notes.tsv"))
    with open(tsv, newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle, delimiter="\t"))[2][:2] == ["1500", "2500"]


def test_nwb_export_into_a_copy(recording, tmp_path):
    pynwb = pytest.importorskip("pynwb")
    from datetime import datetime, timezone

    source = tmp_path / "session.nwb"
    nwbfile = pynwb.NWBFile(session_description="test", identifier="abc",
                            session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    nwbfile.add_acquisition(pynwb.TimeSeries(name="signal", data=np.arange(100, dtype=np.int16), rate=1000.0,
                                             unit="V"))
    with pynwb.NWBHDF5IO(str(source), "w") as io:
        io.write(nwbfile)
    before = source.read_bytes()
    notes = Annotations(recording, 1000.0)
    notes.add(250, 750, "sleep", "quiet")
    notes.add(100, None, "tap")
    output = notes.export_nwb(str(source), str(tmp_path / "annotated.nwb"), t_start=1000)
    assert source.read_bytes() == before
    with pynwb.NWBHDF5IO(output, "r") as io:
        table = io.read().intervals["annotations"].to_dataframe()
    assert table["start_time"].tolist() == [1.1, 1.25]
    assert table["stop_time"].tolist() == [1.1, 1.75]
    assert table["label"].tolist() == ["tap", "sleep"]
    assert table["note"].tolist() == ["", "quiet"]
    with pytest.raises(ValueError, match="copy"):
        notes.export_nwb(str(source), str(source))
