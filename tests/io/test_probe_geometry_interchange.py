"""Probe files through Wavescope and back: probeinterface JSON and .prb read by probeinterface and
by our safe parser, Kilosort channel maps, and probeinterface library entries from a local cache."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from app.io.errors import ProbeError
from app.io.probe import read_probe
from app.io.probe_geometry import ProbeGeometry
from app.io.probe_interchange import (
    default_radius,
    library_probe,
    read_probe_file,
    write_probe_file,
    write_probeinterface_json,
)

pi = pytest.importorskip("probeinterface")


@pytest.fixture
def two_shanks() -> ProbeGeometry:
    """Two shanks of 4 sites, channel 4 unwired (a sync or aux input), fractional positions."""
    channels = np.array([0, 1, 2, 3, 5, 6, 7, 8])
    xy = np.array([[0, 0], [16, 20], [0, 40], [16, 60.5], [250, 0], [266, 20], [250, 40], [266, 60.5]])
    return ProbeGeometry(channels, xy, np.repeat([0, 1], 4), "header", "test", "square", 12.0, "TEST-2")


def test_json_round_trip_read_by_probeinterface(tmp_path, two_shanks):
    path = write_probe_file(two_shanks, tmp_path / "probe.json")
    theirs = pi.read_probeinterface(path).probes[0]
    np.testing.assert_array_equal(theirs.device_channel_indices, two_shanks.channels)
    np.testing.assert_allclose(theirs.contact_positions, two_shanks.positions)
    np.testing.assert_array_equal(theirs.shank_ids.astype(int), two_shanks.shank_ids)
    back = read_probe_file(path)
    assert back.source == "file" and back.model_name == "TEST-2" and back.contact_shape == "square"
    np.testing.assert_array_equal(back.channels, two_shanks.channels)
    np.testing.assert_allclose(back.positions, two_shanks.positions)
    np.testing.assert_array_equal(back.shank_ids, two_shanks.shank_ids)


def test_json_written_by_probeinterface(tmp_path):
    probe = pi.generate_multi_shank(num_shank=2, num_columns=2, num_contact_per_column=8)
    probe.set_device_channel_indices(np.arange(probe.get_contact_count())[::-1])
    pi.write_probeinterface(tmp_path / "theirs.json", probe)
    ours = read_probe_file(tmp_path / "theirs.json")
    np.testing.assert_array_equal(ours.channels, probe.device_channel_indices)
    np.testing.assert_allclose(ours.positions, probe.contact_positions)
    assert ours.shank_count == 2


def test_prb_round_trip_read_by_probeinterface_and_our_parser(tmp_path, two_shanks):
    path = write_probe_file(two_shanks, tmp_path / "probe.prb", nb_channels=10, radius=60)
    text = path.read_text()
    assert "np." not in text and "numpy" not in text
    ours = read_probe(path)
    assert ours.total_nb_channels == 10 and ours.radius == 60 and ours.dead_channels(10) == [4, 9]
    theirs = pi.read_prb(path)
    positions = np.concatenate([p.contact_positions for p in theirs.probes])
    wired = np.concatenate([p.device_channel_indices for p in theirs.probes])
    np.testing.assert_allclose(positions[np.argsort(wired)], two_shanks.positions)
    np.testing.assert_array_equal(np.sort(wired), two_shanks.channels)
    back = read_probe_file(path)
    np.testing.assert_allclose(back.positions, two_shanks.positions)
    np.testing.assert_array_equal(back.shank_ids, two_shanks.shank_ids)


def test_prb_written_by_probeinterface_under_numpy2_reads_safely(tmp_path, two_shanks):
    probe = pi.read_probeinterface(write_probe_file(two_shanks, tmp_path / "p.json")).probes[0]
    pi.write_prb(tmp_path / "theirs.prb", _group(probe))
    text = (tmp_path / "theirs.prb").read_text()
    if np.__version__.startswith("2"):
        assert "np.int64(" in text or "np.float64(" in text      # the literals SpyKING CIRCUS cannot read
    ours = read_probe_file(tmp_path / "theirs.prb")
    np.testing.assert_allclose(ours.positions[np.argsort(ours.channels)], two_shanks.positions)
    rewritten = write_probe_file(ours, tmp_path / "clean.prb")
    assert "np." not in rewritten.read_text()


def _group(probe):
    group = pi.ProbeGroup()
    group.add_probe(probe)
    return group


def test_kilosort_chanmap_round_trip(tmp_path, two_shanks):
    from scipy.io import loadmat
    path = write_probe_file(two_shanks, tmp_path / "chanMap.mat", nb_channels=10, sampling_rate=30000)
    mat = loadmat(path)
    np.testing.assert_array_equal(mat["chanMap"].ravel(), np.arange(1, 11))
    np.testing.assert_array_equal(mat["chanMap0ind"].ravel(), np.arange(10))
    np.testing.assert_array_equal(mat["connected"].ravel().astype(bool),
                                  [True] * 4 + [False] + [True] * 4 + [False])
    assert mat["kcoords"].ravel()[5] == 2 and float(mat["fs"].ravel()[0]) == 30000
    back = read_probe_file(path)
    np.testing.assert_array_equal(back.channels, two_shanks.channels)
    np.testing.assert_allclose(back.positions, two_shanks.positions)
    np.testing.assert_array_equal(back.shank_ids, two_shanks.shank_ids)


def test_unknown_extension_and_missing_file(tmp_path, two_shanks):
    with pytest.raises(ProbeError, match="unknown probe file type .csv"):
        write_probe_file(two_shanks, tmp_path / "probe.csv")
    with pytest.raises(ProbeError, match="no such probe file"):
        read_probe_file(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text('{"specification": "nope"}')
    with pytest.raises(ProbeError, match="bad.json"):
        read_probe_file(tmp_path / "bad.json")


def test_library_entry_from_the_local_cache(tmp_path, monkeypatch, two_shanks):
    monkeypatch.setenv("WAVESCOPE_PROBE_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache" / "acme").mkdir(parents=True)
    write_probeinterface_json(two_shanks, tmp_path / "cache" / "acme" / "TEST-2.json")
    geometry = library_probe("acme", "TEST-2", download=False)
    assert geometry.source == "library" and "acme/TEST-2" in geometry.description
    np.testing.assert_allclose(geometry.positions, two_shanks.positions)
    with pytest.raises(ProbeError, match="not in the cache"):
        library_probe("acme", "absent", download=False)


def _online() -> bool:
    try:
        socket.create_connection(("raw.githubusercontent.com", 443), timeout=3).close()
        return True
    except OSError:
        return False


def test_library_entry_fetched_once_then_cached(tmp_path, monkeypatch):
    if not _online():
        pytest.skip("raw.githubusercontent.com unreachable: the probeinterface library fetch is not tested offline")
    monkeypatch.setenv("WAVESCOPE_PROBE_CACHE", str(tmp_path / "cache"))
    geometry = library_probe("cambridgeneurotech", "ASSY-156-P-1")
    assert len(geometry) == 64 and (tmp_path / "cache" / "cambridgeneurotech" / "ASSY-156-P-1.json").is_file()
    again = library_probe("cambridgeneurotech", "ASSY-156-P-1", download=False)
    np.testing.assert_allclose(again.positions, geometry.positions)


def test_default_radius_links_neighbours():
    xy = np.array([[16 * ((r + 1) % 2) + 32 * c, 20 * r] for r in range(40) for c in range(2)], float)
    assert default_radius(ProbeGeometry(np.arange(80), xy, None)) == 64


def test_written_prb_runs_as_plain_python_like_spyking_circus_reads_it(tmp_path, two_shanks):
    """SpyKING CIRCUS executes the .prb with no numpy names defined: ours is plain Python, while
    probeinterface's under numpy 2 (`np.int64(0)`) is not. (Our own output only; the app never execs.)"""
    ours = write_probe_file(two_shanks, tmp_path / "ours.prb", nb_channels=10, radius=60)
    names: dict = {}
    exec(compile(ours.read_text(), str(ours), "exec"), {"__builtins__": {}}, names)  # noqa: S102 - our own output
    assert names["total_nb_channels"] == 10 and names["radius"] == 60
    assert names["channel_groups"][1]["geometry"][5] == (250, 0)
    assert names["channel_groups"][0]["channels"] == [0, 1, 2, 3]
    probe = pi.read_probeinterface(write_probe_file(two_shanks, tmp_path / "p.json")).probes[0]
    pi.write_prb(tmp_path / "theirs.prb", _group(probe))
    if np.__version__.startswith("2"):
        with pytest.raises(NameError):
            exec(compile((tmp_path / "theirs.prb").read_text(), "theirs.prb", "exec"),  # noqa: S102
                 {"__builtins__": {}}, {})
