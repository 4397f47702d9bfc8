"""Suspicious channels found in real files: flat, saturated, noisy, quiet; good ones left alone;
written to a params file's dead_channels with a backup (or into a new file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.io import open_datafile
from app.io.params import ParamsFile
from app.model.channel_check import (
    check_channels,
    dead_channels_by_group,
    dead_channels_text,
    write_dead_channels,
)
from app.model.recording import Group

RATE = 20000.0
PARAMS = {"data_dtype": "int16", "nb_channels": 8, "sampling_rate": RATE, "file_format": "raw_binary"}


def write_recording(tmp_path, n_samples=60000):
    rng = np.random.default_rng(3)
    data = rng.normal(0, 40, size=(n_samples, 8))
    data += 300 * np.sin(np.arange(n_samples) / RATE * 2 * np.pi * 8)[:, None]      # LFP: not noise
    data[:, 1] = 17                                                             # flat (a constant)
    data[:, 3] = np.clip(rng.normal(0, 4000, n_samples), -2000, 2000)           # clipped at the rails
    data[:, 5] = rng.normal(0, 600, n_samples)                                  # far noisier
    data[:, 6] = rng.normal(0, 1.5, n_samples)                                  # nearly silent
    path = tmp_path / "rec.dat"
    np.round(data).astype(np.int16).tofile(path)
    return path


def test_flags_flat_saturated_noisy_and_quiet_channels(tmp_path):
    with open_datafile(str(write_recording(tmp_path)), PARAMS) as datafile:
        check = check_channels(datafile.read_range, datafile.duration, datafile.sampling_rate)
    assert check.reasons == {1: ["flat"], 3: ["saturated", "noisy"], 5: ["noisy"], 6: ["quiet"]}
    assert check.suspicious == [1, 3, 5, 6]
    assert 30 < check.median_noise < 50                        # the good channels' 40 µV, LFP removed
    assert "saturated" in check.describe(3) and "noise" in check.describe(0)


def test_a_clean_recording_has_no_suspicious_channel(tmp_path):
    path = tmp_path / "clean.dat"
    np.random.default_rng(1).normal(0, 30, (40000, 8)).astype(np.int16).tofile(path)
    with open_datafile(str(path), PARAMS) as datafile:
        check = check_channels(datafile.read_range, datafile.duration, datafile.sampling_rate)
    assert check.suspicious == [] and check.noise.shape == (8,)


def test_a_short_recording_is_read_whole(tmp_path):
    path = tmp_path / "short.dat"
    data = np.random.default_rng(2).normal(0, 30, (300, 8))
    data[:, 0] = 0
    data.astype(np.int16).tofile(path)
    with open_datafile(str(path), PARAMS) as datafile:
        assert check_channels(datafile.read_range, datafile.duration, datafile.sampling_rate).reasons == {0: ["flat"]}


def test_dead_channels_by_group_and_text():
    groups = [Group(1, [0, 1, 2, 3]), Group(2, [4, 5, 6, 7])]
    dead = dead_channels_by_group([6, 1, 3, 9], groups)
    assert dead == {1: [1, 3], 2: [6]}
    assert dead_channels_text(dead) == "{1: [1, 3], 2: [6]}"


def test_writing_keeps_a_backup_of_an_existing_params(tmp_path):
    params = tmp_path / "rec.params"
    original = "[data]\nfile_format = raw_binary   # mine\n\n[detection]\nspike_thresh = 7\n"
    params.write_text(original)
    backup = write_dead_channels(str(params), {0: [1, 3]})
    assert backup is not None and Path(backup).read_text() == original         # the user's file kept
    written = ParamsFile.read(params)
    assert written.get("detection", "dead_channels") == "{0: [1, 3]}"
    assert written.get("detection", "spike_thresh") == "7" and "# mine" in params.read_text()


def test_writing_a_new_params_file_describes_the_recording(tmp_path):
    path = write_recording(tmp_path)
    target = tmp_path / "new.params"
    with open_datafile(str(path), PARAMS) as datafile:
        description = datafile.get_description()
    assert write_dead_channels(str(target), {0: [1]}, description, data_file=str(path)) is None
    assert not list(tmp_path.glob("new.params.bak*"))
    written = ParamsFile.read(target)
    assert written.get("detection", "dead_channels") == "{0: [1]}"
    with open_datafile(str(target)) as reopened:
        assert reopened.nb_channels == 8
    with pytest.raises(ValueError, match="no such params file"):
        write_dead_channels(str(tmp_path / "other.params"), {0: [1]})
