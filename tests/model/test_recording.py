import numpy as np

from app.model.recording import Recording
from tests.conftest import synthetic_int16

PARAMS = {"data_dtype": "int16", "nb_channels": 4, "sampling_rate": 1000.0}

PROBE = """
total_nb_channels = 4
radius = 50
channel_groups = {
    1: {'channels': [0, 1], 'geometry': {0: (0, 40), 1: (0, 0)}, 'graph': []},
    2: {'channels': [3, 2], 'geometry': {2: (20, 10), 3: (20, 30)}, 'graph': []},
}
"""


def test_segments_groups_and_depth_order(make_raw, tmp_path):
    make_raw("rec_0.dat", synthetic_int16(1000, 4))
    make_raw("rec_1.dat", synthetic_int16(500, 4))
    (tmp_path / "probe.prb").write_text(PROBE)
    recording = Recording.open(str(tmp_path / "rec_0.dat"), PARAMS, "raw_binary", "multi-files",
                               str(tmp_path / "probe.prb"))
    assert [(s.start, s.stop) for s in recording.segments] == [(0, 1000), (1000, 1500)]
    assert recording.segments[1].start_s == 1.0 and recording.duration == 1500
    assert [g.id for g in recording.groups] == [1, 2]
    assert recording.groups[1].channels == [3, 2]
    assert recording.depth_order() == [1, 2, 3, 0]
    assert recording.segment_at(1200).index == 1


def test_without_probe_one_group_in_index_order(make_raw, tmp_path):
    path = make_raw("rec.dat", synthetic_int16(100, 4))
    recording = Recording.open(path, {**PARAMS, "file_format": "raw_binary"})
    assert len(recording.groups) == 1 and recording.depth_order() == [0, 1, 2, 3]
    assert recording.segments[0].duration == 100
    np.testing.assert_array_equal(recording.channels, [0, 1, 2, 3])


def test_bad_probe_falls_back(make_raw, tmp_path):
    path = make_raw("rec.dat", synthetic_int16(100, 4))
    (tmp_path / "bad.prb").write_text("import os\n")
    recording = Recording.open(path, PARAMS, "raw_binary", mapping=str(tmp_path / "bad.prb"))
    assert recording.probe is None and recording.depth_order() == [0, 1, 2, 3]
