"""The event table helpers and the external event-file loader."""

from __future__ import annotations

import numpy as np
import pytest

from app.io.datafile import DataFile
from app.io.errors import HeaderError
from app.io.events import (
    EVENT_DTYPE,
    edges_from_words,
    empty_events,
    events_to_rows,
    load_event_file,
    make_events,
    merge_events,
    pair_ttl_edges,
    select_events,
    timeline_events,
)
from app.io.formats.raw_binary import RawBinaryFile


def test_empty_events_has_the_contract_dtype():
    events = empty_events()
    assert events.dtype == EVENT_DTYPE
    assert events.dtype.names == ("sample", "duration", "channel", "label")
    assert len(events) == 0


def test_pairs_rising_and_falling_edges_per_line():
    #            line 1 pulse  line 2: R R F      line 1 0-wide  line 3 lone fall
    samples = [10, 20, 30, 40, 45, 50, 50, 60]
    lines = [1, 1, 2, 2, 2, 1, 1, 3]
    states = [1, 0, 1, 1, 0, 1, 0, 0]
    events = pair_ttl_edges(samples, lines, states)
    assert list(events_to_rows(events)) == [
        (10, 10, "TTL 1", "high"),
        (30, 0, "TTL 2", "rising"),
        (40, 5, "TTL 2", "high"),
        (50, 0, "TTL 1", "high"),
        (60, 0, "TTL 3", "falling"),
    ]


def test_pairing_ignores_input_order_across_lines_and_names_lines():
    rng = np.random.default_rng(3)
    starts = np.sort(rng.choice(100_000, 200, replace=False)) * 10
    lines = rng.integers(0, 4, 200)
    samples = np.concatenate([starts, starts + 5])
    all_lines = np.concatenate([lines, lines])
    states = np.concatenate([np.ones(200), np.zeros(200)])
    shuffle = rng.permutation(400)
    events = pair_ttl_edges(samples[shuffle], all_lines[shuffle], states[shuffle], names=lambda k: f"DI{k}")
    assert len(events) == 200
    assert np.array_equal(events["sample"], starts)
    assert np.all(events["duration"] == 5)
    assert list(events["channel"]) == [f"DI{k}" for k in lines]


def test_edges_from_words_across_chunks():
    words = np.array([0, 1, 1, 3, 2, 0, 0, 4], dtype=np.uint16)
    whole = edges_from_words(words)
    first = edges_from_words(words[:4])
    second = edges_from_words(words[4:], first_sample=4, previous=int(words[3]))
    joined = [np.concatenate([a, b]) for a, b in zip(first, second)]
    for a, b in zip(whole, joined):
        assert np.array_equal(a, b)
    assert list(zip(*[w.tolist() for w in whole])) == [
        (1, 0, True), (3, 1, True), (4, 0, False), (5, 1, False), (7, 2, True)]


def test_merge_and_select_by_range():
    a = make_events([5, 1, 9], "a", ["x", "y", "z"])
    b = make_events([3, 9], "b", "w")
    merged = merge_events(a, b, empty_events())
    assert merged["sample"].tolist() == [1, 3, 5, 9, 9]
    assert merged["channel"].tolist() == ["a", "b", "a", "a", "b"]
    assert select_events(merged, 3, 9)["sample"].tolist() == [3, 5]
    assert select_events(merged, None, 4)["sample"].tolist() == [1, 3]
    assert select_events(merged, 9)["sample"].tolist() == [9, 9]
    assert len(select_events(merged, 8, 2)) == 0


class _Stub(RawBinaryFile):
    """Raw binary parts whose events are every 100th local sample."""

    def _local_events(self):
        return make_events(np.arange(-100, self.duration + 200, 100), "tick", "")


def test_timeline_places_each_stream_and_drops_events_outside(tmp_path, make_raw):
    for k, n in enumerate([250, 300]):
        make_raw(f"rec_{k}.dat", np.zeros((n, 2), np.int16))
    params = {"nb_channels": 2, "sampling_rate": 1000.0, "data_dtype": "int16"}
    datafile = _Stub(str(tmp_path / "rec_0.dat"), params, stream_mode="multi-files")
    events = timeline_events(datafile)
    assert events["sample"].tolist() == [0, 100, 200, 250, 350, 450]
    assert timeline_events(datafile, 200, 400)["sample"].tolist() == [200, 250, 350]
    assert isinstance(datafile, DataFile)


def test_format_without_events_gives_empty(tmp_path, make_raw):
    path = make_raw("plain.dat", np.zeros((10, 1), np.int16))
    datafile = RawBinaryFile(path, {"nb_channels": 1, "sampling_rate": 1000.0, "data_dtype": "int16"})
    assert len(timeline_events(datafile)) == 0


# -- external event files ---------------------------------------------------------------------------
def test_csv_seconds_by_header_name(tmp_path):
    path = tmp_path / "stim.csv"
    path.write_text("onset,duration,trial_type\n1.5,0.25,tone\n0.5,0.1,light\n")
    events, note = load_event_file(str(path), sampling_rate=1000)
    assert list(events_to_rows(events)) == [(500, 100, "stim", "light"), (1500, 250, "stim", "tone")]
    assert "'onset'" in note and "seconds" in note and "1000 Hz" in note


def test_tsv_samples_by_header_name_with_channel(tmp_path):
    path = tmp_path / "marks.tsv"
    path.write_text("sample\tline\tcode\n300\tDI1\t7\n100\tDI2\t12\n")
    events, note = load_event_file(str(path))
    assert list(events_to_rows(events)) == [(100, 0, "DI2", "12"), (300, 0, "DI1", "7")]
    assert "samples" in note and "'sample'" in note


def test_neutral_name_decided_by_values(tmp_path):
    whole = tmp_path / "whole.csv"
    whole.write_text("timestamp,label\n10,a\n20,b\n")
    events, note = load_event_file(str(whole))
    assert events["sample"].tolist() == [10, 20] and "whole numbers" in note
    fractional = tmp_path / "frac.csv"
    fractional.write_text("time,label\n0.010,a\n0.0205,b\n")
    events, note = load_event_file(str(fractional), sampling_rate=2000)
    assert events["sample"].tolist() == [20, 41] and "fractions" in note


def test_explicit_unit_and_column(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    events, note = load_event_file(str(path), time_unit="s", sampling_rate=10, column="b")
    assert events["sample"].tolist() == [20, 40]
    assert "time_unit='s'" in note


def test_headerless_csv_and_npy(tmp_path):
    path = tmp_path / "bare.csv"
    path.write_text("12,start\n30,stop\n")
    events, _ = load_event_file(str(path))
    assert list(events_to_rows(events)) == [(12, 0, "bare", "start"), (30, 0, "bare", "stop")]
    npy = tmp_path / "times.npy"
    np.save(npy, np.array([0.25, 0.125]))
    events, note = load_event_file(str(npy), sampling_rate=8)
    assert events["sample"].tolist() == [1, 2] and "seconds" in note
    structured = tmp_path / "struct.npy"
    np.save(structured, np.array([(40, 3), (10, 4)], dtype=[("sample_number", "i8"), ("code", "i4")]))
    events, _ = load_event_file(str(structured))
    assert list(events_to_rows(events)) == [(10, 0, "struct", "4"), (40, 0, "struct", "3")]


def test_seconds_without_rate_and_bad_values_are_clear_errors(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("seconds\n1.0\n")
    with pytest.raises(HeaderError, match="sampling_rate"):
        load_event_file(str(path))
    bad = tmp_path / "bad.csv"
    bad.write_text("time,label\n1,a\nsoon,b\n")
    with pytest.raises(HeaderError, match="'time'"):
        load_event_file(str(bad))
    with pytest.raises(HeaderError, match="no column 'nope'"):
        load_event_file(str(path), column="nope")
