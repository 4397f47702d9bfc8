"""The session, recording and viewport use the header's geometry where a .prb was needed, and
follow a geometry chosen later (the "geometry" and "probe" topics)."""

from __future__ import annotations

import numpy as np
import pytest

from app.io.probe_geometry import ProbeGeometry
from app.io.probe_interchange import write_probe_file
from app.model import probes
from app.model.session import Session
from app.model.viewport import Viewport
from tests.io.test_probe_geometry import imec_meta, imro_np1, write

N = 16


@pytest.fixture
def session(tmp_path):
    path, _ = write(tmp_path, imec_meta(N, imro_np1(N), "NP1000"))
    session = Session(cache_bytes=1 << 20)
    session.open(str(path), lanes=False)
    yield session
    session.close()


def test_opening_a_spikeglx_recording_uses_its_header_geometry(session):
    recording = session.recording
    assert recording.geometry.source == "header" and recording.geometry.model_name == "NP1000"
    where = recording.positions()
    assert sorted(where) == list(range(N))                       # every electrode placed, not the sync
    assert [g.id for g in recording.groups] == [0, "other"] and recording.groups[1].channels == [N]
    depth = recording.depth_order()
    ys = [where[c][1] for c in depth[:N]]
    assert ys == sorted(ys) and depth[-1] == N                    # by depth, the sync word last


def test_set_geometry_notifies_and_regroups(session):
    heard = []
    session.subscribe(lambda topic, value: heard.append(topic))
    header = session.recording.geometry
    flipped = ProbeGeometry(header.channels, header.positions * [1, -1], header.shank_ids, "file", "flipped.prb")
    session.set_geometry(flipped)
    assert heard == ["geometry", "probe"]
    assert session.recording.geometry is flipped
    assert session.recording.depth_order()[0] == int(header.depth_order()[-1])    # upside down
    session.set_geometry(None)
    assert session.recording.positions() == {} and session.recording.probe is None


def test_viewport_takes_the_new_channel_layout():
    viewport = Viewport()
    viewport.set_recording(30000.0, 1000, range(4), [0, 1, 2, 3], 4)
    viewport.hidden = {1, 3}
    heard = []
    viewport.subscribe(lambda topic, value=None: heard.append(topic))
    viewport.set_channel_layout([0, 1, 2], [2, 1, 0])
    assert viewport.channel_order() == [0, 1, 2] and viewport.hidden == {1} and heard == ["channels"]


def test_choose_flags_a_file_that_differs_from_the_header(session, tmp_path):
    datafile = session.recording.datafile
    header = probes.header_geometry(datafile)
    same = write_probe_file(header.with_source("file"), tmp_path / "same.json")
    assert probes.choose(datafile, probes.file_geometry(str(same))).mismatch == []
    default_banks = ProbeGeometry(header.channels, np.column_stack([header.positions[:, 0],
                                  20 * (np.arange(N) // 2)]), None, "file", "bank0.prb")
    choice = probes.choose(datafile, default_banks)
    assert choice.source == "file" and choice.mismatch and "sit elsewhere" in choice.mismatch[0]
    assert "Differs from the header" in choice.describe()
    assert "from the recording's header" in probes.choose(datafile).describe()
