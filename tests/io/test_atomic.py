"""app.io.atomic: the one way a user's file is written (whole or not at all, durable, backups)."""

from __future__ import annotations

import os
import stat

import pytest

from app.io import atomic


def _entries(folder) -> list[str]:
    return sorted(os.listdir(folder))


def test_write_text_replaces_whole_and_keeps_permissions(tmp_path):
    target = tmp_path / "notes.json"
    atomic.write_text(target, "first\r\n")
    assert target.read_bytes() == b"first\r\n"                  # line ends as given
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    os.chmod(target, 0o600)
    assert atomic.write_text(target, "second") is None         # no backup asked
    assert target.read_text() == "second" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert _entries(tmp_path) == ["notes.json"]                 # no temporary left


def test_a_failing_writer_leaves_the_target_and_no_temporary(tmp_path):
    target = tmp_path / "rec.params"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic.replacing(target) as temporary:
        with open(temporary, "w") as stream:
            stream.write("half of the new")
        raise RuntimeError("cancelled")
    assert target.read_text() == "old" and _entries(tmp_path) == ["rec.params"]


def test_backups_rotate_and_stop_at_keep(tmp_path):
    target = tmp_path / "rec.params"
    for n in range(8):
        backup = atomic.write_text(target, f"version {n}", backup=True, keep=3)
        assert (backup is None) == (n == 0)
    assert target.read_text() == "version 7"
    assert [p.read_text() for p in atomic.backup_names(target, 3)] == ["version 6", "version 5", "version 4"]
    assert _entries(tmp_path) == ["rec.params", "rec.params.bak", "rec.params.bak.1", "rec.params.bak.2"]


def test_publish_syncs_the_file_then_renames_then_syncs_the_folder(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = atomic.fsync_path, os.replace
    monkeypatch.setattr(atomic, "fsync_path", lambda path, folder=False: (
        events.append(("fsync", str(path), folder)), real_fsync(path, folder)))
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: (events.append(("replace", a, b)), real_replace(a, b)))
    atomic.write_bytes(tmp_path / "out.bin", b"\x00\x01")
    assert [e[0] for e in events] == ["fsync", "replace", "fsync"]
    assert events[0][2] is False and events[2] == ("fsync", str(tmp_path), True)
    assert (tmp_path / "out.bin").read_bytes() == b"\x00\x01"


def test_copy_file_keeps_the_source_mode(tmp_path):
    source = tmp_path / "a.json"
    source.write_text("{}")
    os.chmod(source, 0o640)
    atomic.copy_file(source, tmp_path / "a.json.bak")
    assert (tmp_path / "a.json.bak").read_text() == "{}"
    assert stat.S_IMODE((tmp_path / "a.json.bak").stat().st_mode) == 0o640
