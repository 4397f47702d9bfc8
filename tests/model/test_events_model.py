"""Event queries for the views and peri-event averages through read_range."""

from __future__ import annotations

import numpy as np
import pytest

from app.io.events import make_events
from app.io.formats.raw_binary import RawBinaryFile
from app.model.events import EventIndex, datafile_events, peri_event


@pytest.fixture
def index():
    events = make_events([100, 150, 400, 900, 1000], ["TTL 1", "TTL 2", "TTL 1", "messages", "TTL 2"],
                         ["high", "high", "high", "start", "rising"], [200, 10, 50, 0, 0])
    return EventIndex(events)


def test_window_includes_pulses_still_on(index):
    window = index.in_window(250, 950)
    assert window["sample"].tolist() == [100, 400, 900]
    assert index.in_window(250, 950, channels=["TTL 1"])["sample"].tolist() == [100, 400]
    assert index.in_window(160, 170)["sample"].tolist() == [100]
    assert len(index.in_window(300, 390)) == 0


def test_next_and_previous_on_selected_channels(index):
    assert index.next_after(100)["sample"] == 150
    assert index.next_after(100, ["TTL 1"])["sample"] == 400
    assert index.next_after(400, ["TTL 1"]) is None
    assert index.previous_before(1000, ["TTL 1", "messages"])["sample"] == 900
    assert index.previous_before(400, ["TTL 1"])["sample"] == 100
    assert index.previous_before(100) is None
    assert index.next_after(0, ["nothing"]) is None


def test_channels_and_samples_and_merge(index):
    assert index.channels == ["TTL 1", "TTL 2", "messages"]
    assert index.samples_of(["TTL 2"]).tolist() == [150, 1000]
    assert index.samples_of(["TTL 2"], label="rising").tolist() == [1000]
    index.add(make_events([120], "stim.csv", "tone"))
    assert index.channels == ["TTL 1", "stim.csv", "TTL 2", "messages"]
    assert index.next_after(100)["channel"] == "stim.csv"


def _recording(tmp_path, make_raw, n=20_000, channels=3):
    rng = np.random.default_rng(7)
    data = rng.integers(-20, 20, (n, channels)).astype(np.int16)
    events = np.arange(300, n - 300, 997)
    response = (100 * np.hanning(60)).astype(np.int16)
    for s in events:
        data[s: s + 60, 1] += response
    path = make_raw("signal.dat", data)
    datafile = RawBinaryFile(path, {"nb_channels": channels, "sampling_rate": 20000.0, "data_dtype": "int16",
                                    "gain": 0.5})
    return datafile, data, events


def test_peri_event_mean_equals_numpy(tmp_path, make_raw):
    datafile, data, events = _recording(tmp_path, make_raw)
    with_edges = np.concatenate([[10, 19_990], events])
    result = peri_event(datafile, with_edges, window=(-50, 150), channels=[0, 1])
    expected = np.mean([data[s - 50: s + 150, [0, 1]] for s in events], axis=0) * 0.5
    assert result.count == len(events) and result.skipped == 2
    assert np.allclose(result.mean, expected, atol=1e-9)
    assert result.times.tolist() == list(range(-50, 150))
    assert result.trials.shape == (5, 200, 2)
    assert np.array_equal(result.trials[2], data[events[2] - 50: events[2] + 150, [0, 1]] * np.float32(0.5))
    assert result.trial_samples.tolist() == events[:5].tolist()
    peak = result.mean[50:110, 1]
    assert peak.max() > 40 and abs(result.mean[:, 0]).max() < 10


def test_peri_event_subsamples_evenly_and_cancels(tmp_path, make_raw):
    datafile, data, events = _recording(tmp_path, make_raw)
    result = peri_event(datafile, events, window=(0, 10), max_trials=4, single_trials=2)
    chosen = events[[0, 6, 13, 19]]
    assert result.count == 4
    assert np.allclose(result.mean, np.mean([data[s:s + 10] for s in chosen], axis=0) * 0.5)
    calls = []
    stopped = peri_event(datafile, events, window=(0, 10), cancelled=lambda: calls.append(1) or len(calls) > 3)
    assert stopped.count == 3
    with pytest.raises(ValueError, match="empty"):
        peri_event(datafile, events, window=(5, 5))


def test_index_from_a_datafile_without_events(tmp_path, make_raw):
    datafile, _, _ = _recording(tmp_path, make_raw, n=100)
    assert len(datafile_events(datafile)) == 0
    assert len(EventIndex.from_datafile(datafile)) == 0
