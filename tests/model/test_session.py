"""Session: opens real files, owns them, tells its subscribers, and lets them go on close."""

import os

import numpy as np
import pytest

from app.io.errors import DataFileError
from app.model.demo import DemoSpec, write_demo
from app.model.session import Session
from tests.conftest import synthetic_int16

RATE = 10_000.0


@pytest.fixture
def raw_file(make_raw):
    data = synthetic_int16(20_000, 4, seed=5)
    return make_raw("rec.dat", data), data


def held(path: str) -> bool:
    """Whether this process still holds `path`: an open descriptor or a memory map of it."""
    real = os.path.realpath(path)
    fds = "/proc/self/fd"
    links = {os.path.realpath(os.path.join(fds, fd)) for fd in os.listdir(fds)
             if os.path.exists(os.path.join(fds, fd))}
    with open("/proc/self/maps") as maps:
        return real in links or any(line.rstrip().endswith(real) for line in maps)


def params():
    return {"data_dtype": "int16", "nb_channels": 4, "sampling_rate": RATE, "file_format": "raw_binary"}


def test_open_serves_the_file_and_notifies(raw_file, tmp_path):
    path, data = raw_file
    session = Session(cache_bytes=64 << 20, overview_root=str(tmp_path / "ov"))
    heard = []
    session.subscribe(lambda topic, value: heard.append((topic, value)))
    recording = session.open(path, params())
    assert heard == [("opened", recording)]
    assert session.recording is recording and session.is_open
    assert recording.nb_channels == 4 and recording.duration == 20_000
    frame = session.source.frame(0, 20_000, [0, 3], 100)
    np.testing.assert_array_equal(frame.lo[:, 0], data[:200, [0, 3]].min(axis=0))
    np.testing.assert_array_equal(frame.hi[:, -1], data[-200:, [0, 3]].max(axis=0))
    assert session.lanes == [] and session.overview is None
    session.close()


def test_close_releases_the_file_and_notifies_once(raw_file, tmp_path):
    path, _ = raw_file
    session = Session(overview_root=str(tmp_path / "ov"))
    heard = []
    session.subscribe(lambda topic, value: heard.append(topic))
    recording = session.open(path, params())
    session.source.frame(0, 1000, [0], 10)
    assert held(path)
    session.close()
    session.close()                                   # nothing open: nothing said
    assert heard == ["opened", "closed"]
    assert session.recording is None and session.source is None and not held(path)


def test_opening_another_closes_the_first(raw_file, make_raw, tmp_path):
    path, _ = raw_file
    other = make_raw("other.dat", synthetic_int16(5_000, 4, seed=6))
    session = Session(overview_root=str(tmp_path / "ov"))
    heard = []
    session.subscribe(lambda topic, value: heard.append(topic))
    session.open(path, params()).datafile.get_data(0, 100)
    session.open(other, params())
    assert heard == ["opened", "closed", "opened"] and not held(path)
    assert session.recording.duration == 5_000
    session.close()


def test_a_bad_file_raises_a_typed_error_and_keeps_the_open_one(raw_file, tmp_path):
    path, _ = raw_file
    session = Session(overview_root=str(tmp_path / "ov"))
    session.open(path, params())
    heard = []
    session.subscribe(lambda topic, value: heard.append(topic))
    with pytest.raises(DataFileError):
        session.open(str(tmp_path / "missing.dat"), params())
    assert heard == [] and session.recording.duration == 20_000
    session.close()


def test_the_demo_opens_with_its_probe_and_both_parts(tmp_path):
    spec = DemoSpec(nb_channels=8, seconds_per_part=0.2, parts=2, nb_units=2)
    first = write_demo(tmp_path / "demo", spec)
    session = Session(overview_root=str(tmp_path / "ov"))
    recording = session.open(str(first), {"data_dtype": "int16", "nb_channels": 8,
                                          "sampling_rate": spec.sampling_rate, "gain": spec.gain,
                                          "file_format": "raw_binary", "stream_mode": "multi-files"},
                             mapping=str(first.with_name("demo.prb")))
    assert len(recording.segments) == 2 and recording.duration == 2 * spec.samples_per_part
    assert recording.probe is not None and len(recording.positions()) == 8
    frame = session.source.frame(0, recording.duration, range(8), 50)
    assert frame.lo.shape == (8, 50) and np.all(frame.hi >= frame.lo)
    session.close()


def test_events_annotations_lanes_and_probe_are_announced(raw_file, tmp_path):
    path, _ = raw_file
    session = Session(overview_root=str(tmp_path / "ov"))
    session.open(path, params())
    heard = []
    unsubscribe = session.subscribe(lambda topic, value: heard.append(topic))
    session.set_events("index")
    session.set_annotations("notes")
    session.lanes_changed()
    session.probe_changed()
    assert heard == ["events", "annotations", "lanes", "probe"]
    assert session.events == "index" and session.annotations == "notes"
    unsubscribe()
    session.close()
    assert heard == ["events", "annotations", "lanes", "probe"]
    assert session.events is None and session.annotations is None
