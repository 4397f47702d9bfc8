"""The Units model: per-unit facts, summaries and the queries the views make, checked on data."""

from __future__ import annotations

import numpy as np
import pytest

from app.io.events import EVENT_DTYPE
from app.io.sorting import SortedUnit, Sorting, read_sorting
from app.model.units import NO_CHANNEL, Units, peak_channel


def _template(n_channels: int, peak: int, size: float = 5.0) -> np.ndarray:
    template = np.zeros((7, n_channels), dtype=np.float32)
    template[3, peak] = -size
    template[5, peak] = size / 4
    return template


@pytest.fixture()
def units() -> Units:
    found = [
        SortedUnit(3, np.array([100, 10, 50]), "good", _template(4, 2), np.array([0, 1, 5, 6]),
                   np.array([3.0, 1.0, 2.0], dtype=np.float32)),
        SortedUnit(8, np.array([20, 50, 300]), "mua", _template(4, 0), np.array([0, 1, 5, 6])),
        SortedUnit(9, np.array([], dtype=np.int64), "noise"),
    ]
    return Units(Sorting(found, "test", "nowhere", sampling_rate=1000.0), n_samples=2000)


def test_units_keep_sorted_trains_labels_and_peak_channels(units):
    assert units.ids == [3, 8, 9] and len(units) == 3 and units.spike_count == 6
    first = units.unit(3)
    np.testing.assert_array_equal(first.spike_train, [10, 50, 100])
    assert first.spike_train.dtype == np.int64
    np.testing.assert_array_equal(first.amplitudes, [1.0, 2.0, 3.0])   # moved with the spikes
    assert (first.label, first.peak_channel) == ("good", 5)             # template column 2 is channel 5
    assert units.unit(8).peak_channel == 0 and units.unit(9).peak_channel == NO_CHANNEL
    with pytest.raises(KeyError, match="no unit 4"):
        units.unit(4)


def test_peak_channel_is_the_largest_peak_to_peak():
    template = np.zeros((5, 3))
    template[:, 0] = [0, -6, 0, 0, 0]            # ptp 6
    template[:, 2] = [0, -4, 0, 4, 0]            # ptp 8: wins although its trough is shallower
    assert peak_channel(template) == 2
    assert peak_channel(template, np.array([7, 8, 9])) == 9
    assert peak_channel(None) == NO_CHANNEL


def test_summary_counts_rates_and_amplitudes(units):
    rows = {row.id: row for row in units.summary()}
    assert rows[3].count == 3 and rows[3].rate == pytest.approx(1.5)     # 3 spikes in 2 s
    assert rows[3].median_amplitude == pytest.approx(2.0)
    assert rows[8].rate == pytest.approx(1.5) and np.isnan(rows[8].median_amplitude)
    assert rows[9].count == 0 and rows[9].rate == 0.0
    unknown = Units(Sorting([SortedUnit(1, np.array([1]))], "test", "x"))
    assert np.isnan(unknown.summary()[0].rate)


def test_window_query_by_channels_and_units(units):
    window = units.spikes_in_window(20, 101)
    np.testing.assert_array_equal(window.samples, [20, 50, 50, 100])
    np.testing.assert_array_equal([units.ids[k] for k in window.unit_indices], [8, 3, 8, 3])
    np.testing.assert_array_equal(window.channels, [0, 5, 0, 5])
    on_five = units.spikes_in_window(0, 1000, channels=[5, 6])
    np.testing.assert_array_equal(on_five.samples, [10, 50, 100])
    only_8 = units.spikes_in_window(0, 1000, unit_ids=[8])
    np.testing.assert_array_equal(only_8.samples, [20, 50, 300])
    assert len(units.spikes_in_window(0, 1000, channels=[3]).samples) == 0
    assert len(units.spikes_in_window(101, 101).samples) == 0


def test_window_query_matches_brute_force_on_many_units():
    rng = np.random.default_rng(5)
    found = [SortedUnit(k, rng.integers(0, 100_000, rng.integers(0, 400)), "unsorted",
                        _template(16, k % 16), np.arange(16)) for k in range(60)]
    model = Units(Sorting(found, "test", "x"))
    for start, stop, channels in [(0, 100_000, None), (500, 9000, [1, 2, 3]), (99_000, 99_999, [15])]:
        got = model.spikes_in_window(start, stop, channels)
        expected = sorted((int(s), u.id) for u in found for s in u.spike_train
                          if start <= s < stop and (channels is None or u.id % 16 in channels))
        assert sorted(zip(got.samples.tolist(), [model.ids[k] for k in got.unit_indices])) == expected
        assert np.all(np.diff(got.samples) >= 0)


def test_next_and_previous_spike(units):
    assert units.next_spike(3, 10) == 50 and units.next_spike(3, 9) == 10
    assert units.next_spike(3, 100) is None
    assert units.previous_spike(3, 50) == 10 and units.previous_spike(3, 51) == 50
    assert units.previous_spike(3, 10) is None
    assert units.next_spike(9, 0) is None


def test_spike_trains_as_events(units):
    events = units.as_events()
    assert events.dtype == EVENT_DTYPE and len(events) == 6
    np.testing.assert_array_equal(events["sample"], [10, 20, 50, 50, 100, 300])
    assert list(events["channel"]) == ["unit 3", "unit 8", "unit 3", "unit 8", "unit 3", "unit 8"]
    assert list(events["label"][:2]) == ["good", "mua"] and not events["duration"].any()
    only = units.as_events([8])
    np.testing.assert_array_equal(only["sample"], [20, 50, 300])
    assert len(units.as_events([9])) == 0


def test_units_from_a_spikeinterface_folder(tmp_path):
    si = pytest.importorskip("spikeinterface.core")
    recording, sorting = si.generate_ground_truth_recording(durations=[3.0], num_channels=4, num_units=3, seed=1)
    sorting.save(folder=tmp_path / "saved")
    model = Units(read_sorting(tmp_path / "saved"), n_samples=recording.get_num_samples())
    for row in model.summary():
        count = len(sorting.get_unit_spike_train(sorting.unit_ids[model.ids.index(row.id)]))
        assert row.count == count and row.rate == pytest.approx(count / 3.0)
    assert model.spike_count == sum(len(sorting.get_unit_spike_train(u)) for u in sorting.unit_ids)
