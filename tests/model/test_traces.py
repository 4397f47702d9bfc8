import numpy as np
import pytest
from scipy import signal

from app.io.formats.raw_binary import RawBinaryFile
from app.model.decimate import column_edges
from app.model.traces import ChunkCache, TraceSource, filter_padding
from tests.conftest import synthetic_int16

RATE = 10000.0


class LoggedRaw(RawBinaryFile):
    """raw_binary that remembers every get_data call the source makes."""

    def __init__(self, *args, **kwargs):
        self.calls = []
        super().__init__(*args, **kwargs)

    def get_data(self, idx, chunk_size, padding=(0, 0), nodes=None):
        self.calls.append((idx, chunk_size, tuple(padding)))
        return super().get_data(idx, chunk_size, padding, nodes)


@pytest.fixture
def recording(make_raw):
    data = synthetic_int16(20_000, 6, seed=7)
    path = make_raw("rec.dat", data)
    datafile = LoggedRaw(path, {"data_dtype": "int16", "nb_channels": 6, "sampling_rate": RATE, "gain": 0.5})
    return datafile, data.astype(np.float32).T * 0.5


def make_source(datafile, tmp_path, **kwargs):
    kwargs.setdefault("prefetch_windows", 0)
    return TraceSource(datafile, chunk_size=1024, overview_root=str(tmp_path / "ov"), **kwargs)


def test_cache_respects_byte_budget():
    cache = ChunkCache(10_000)
    for k in range(10):
        cache.put(k, np.zeros(1000, dtype=np.float32))       # 4000 bytes each
        assert cache.nbytes <= 10_000
    assert list(cache._items) == [8, 9]
    cache.get(8)
    cache.put(10, np.zeros(1000, dtype=np.float32))
    assert 8 in cache and 9 not in cache
    cache.put("huge", np.zeros(5000, dtype=np.float32))
    assert "huge" not in cache


def test_minmax_frame_reads_expected_chunks_and_values(recording, tmp_path):
    datafile, values = recording
    source = make_source(datafile, tmp_path)
    frame = source.frame(2000, 5000, [4, 1], 100)
    assert frame.mode == "minmax" and frame.spc == 30
    assert sorted(c[0] for c in datafile.calls) == [1, 2, 3, 4]
    assert all(c[1:] == (1024, (0, 0)) for c in datafile.calls)
    edges = column_edges(frame.first_column, 100, 30)
    for k in [0, 33, 99]:
        block = values[[4, 1], edges[k]:edges[k + 1]]
        np.testing.assert_array_equal(frame.lo[:, k], block.min(axis=1))
        np.testing.assert_array_equal(frame.hi[:, k], block.max(axis=1))
    source.close()


def test_scrolling_reads_only_new_chunks_and_reuses_columns(recording, tmp_path):
    datafile, _values = recording
    source = make_source(datafile, tmp_path)
    source.frame(0, 2000, range(6), 200)
    datafile.calls.clear()
    frame = source.frame(500, 2500, range(6), 200)
    assert [c[0] for c in datafile.calls] == [2]
    assert frame.reused_columns == 150
    fresh = make_source(datafile, tmp_path).frame(500, 2500, range(6), 200)
    np.testing.assert_array_equal(frame.lo, fresh.lo)
    np.testing.assert_array_equal(frame.hi, fresh.hi)
    source.close()


def test_zoomed_in_frame_holds_the_exact_samples(recording, tmp_path):
    datafile, values = recording
    source = make_source(datafile, tmp_path)
    frame = source.frame(1010, 1060, [0, 5], 200)
    assert frame.mode == "samples"
    first = frame.sample_start
    np.testing.assert_array_equal(frame.samples, values[[0, 5], first:first + frame.samples.shape[1]])
    assert first <= 1010 and first + frame.samples.shape[1] >= 1060
    centre = (frame.first_column + 0.5) * frame.spc
    expected = np.interp(centre, np.arange(20_000), values[0])
    assert frame.lo[0, 0] == pytest.approx(expected, rel=1e-5)
    source.close()


def test_filter_pads_chunks_and_matches_scipy(recording, tmp_path):
    datafile, values = recording
    source = make_source(datafile, tmp_path, cutoff=300.0)
    pad = filter_padding(RATE, 300.0)
    chunk = source.chunk(3, filter_on=True)
    assert datafile.calls == [(3, 1024, (-pad, pad))]
    sos = signal.butter(3, 300.0, "highpass", fs=RATE, output="sos")
    expected = signal.sosfiltfilt(sos, values[:, 3 * 1024 - pad:4 * 1024 + pad], axis=1)[:, pad:-pad]
    np.testing.assert_allclose(chunk, expected, rtol=1e-4, atol=1e-2)
    whole = signal.sosfiltfilt(sos, values, axis=1)[:, 3 * 1024:4 * 1024]
    assert np.abs(chunk - whole).max() < 0.01 * np.abs(whole).max()
    first = source.chunk(0, filter_on=True)          # padding clipped at the start of the timeline
    assert datafile.calls[-1] == (0, 1024, (-pad, pad)) and first.shape == (6, 1024)
    source.close()


def test_car_subtracts_the_median_of_the_shown_channels(recording, tmp_path):
    datafile, values = recording
    source = make_source(datafile, tmp_path)
    frame = source.frame(1000, 1100, [0, 2, 3], 400, car_on=True)
    shown = values[[0, 2, 3], :]
    expected = shown - np.median(shown, axis=0)
    first = frame.sample_start
    np.testing.assert_allclose(frame.samples, expected[:, first:first + frame.samples.shape[1]], atol=1e-4)
    source.close()


def test_prefetch_reads_ahead_in_the_scroll_direction(recording, tmp_path):
    datafile, _ = recording
    source = make_source(datafile, tmp_path, prefetch_windows=1)
    source.frame(4096, 5120, range(6), 100)
    source.frame(5120, 6144, range(6), 100)
    source._io.shutdown(wait=True)
    read = sorted({c[0] for c in datafile.calls})
    assert read == [4, 5, 6]
    source.close()


def test_overview_used_for_wide_windows(recording, tmp_path):
    datafile, values = recording
    source = make_source(datafile, tmp_path)
    source.build_overview().join()
    assert source.overview is not None
    frame = source.frame(0, 20_000, range(6), 100)
    assert frame.mode == "overview"
    np.testing.assert_array_equal(frame.hi.max(axis=1), values.max(axis=1))
    np.testing.assert_array_equal(frame.lo.min(axis=1), values.min(axis=1))
    source.close()


def test_columns_across_chunk_boundaries_match_brute_force(recording, tmp_path):
    datafile, values = recording
    source = make_source(datafile, tmp_path)
    frame = source.frame(900.0, 4317.0, [5, 0, 3], 211)          # spc not an integer; 4 chunk edges inside
    edges = column_edges(frame.first_column, frame.n_columns, frame.spc)
    rows = values[[5, 0, 3]]
    for k in range(frame.n_columns):
        np.testing.assert_array_equal(frame.lo[:, k], rows[:, edges[k]:edges[k + 1]].min(axis=1))
        np.testing.assert_array_equal(frame.hi[:, k], rows[:, edges[k]:edges[k + 1]].max(axis=1))
    source.close()


def test_column_summaries_are_cached_per_chunk_and_bounded(recording, tmp_path):
    datafile, _ = recording
    source = make_source(datafile, tmp_path, cache_bytes=200_000)
    first = source.frame(0, 4096, range(6), 128)
    summaries = [key for key in source.cache._items if key[0] == "columns"]
    assert sorted(key[1] for key in summaries) == [0, 1, 2, 3]
    source._columns = {}                              # forget the last frame: only the cache remains
    datafile.calls.clear()
    again = source.frame(0, 4096, range(6), 128)
    assert datafile.calls == [] and again.reused_columns == 0
    np.testing.assert_array_equal(again.lo, first.lo)
    for start in range(0, 20_000 - 4096, 1024):       # far more than the budget holds
        source.frame(start, start + 4096, range(6), 128)
        assert source.cache.nbytes <= 200_000
    source.close()


def test_prefetch_summarises_the_next_page(recording, tmp_path):
    datafile, _ = recording
    source = make_source(datafile, tmp_path, prefetch_windows=1)
    source.frame(4096, 5120, range(6), 64)
    source._io.shutdown(wait=True)
    summarised = sorted(key[1] for key in source.cache._items if key[0] == "columns")
    assert summarised == [4, 5]
    source.close()


def test_same_width_at_another_start_keeps_the_column_grid(recording, tmp_path):
    datafile, _ = recording
    source = make_source(datafile, tmp_path)
    width = 1000.0 / 3
    first = source.frame(0.1, 0.1 + width, range(6), 100)
    t0 = 0.1 + 7 * first.spc
    assert (t0 + width) - t0 != width                  # the float error the grid must ignore
    second = source.frame(t0, t0 + width, range(6), 100)
    assert second.spc == first.spc and second.reused_columns == 93
    source.close()


def test_cached_value_and_car_columns_from_time_major_chunks(recording, tmp_path):
    datafile, values = recording
    source = make_source(datafile, tmp_path)
    assert source.cached_value(3000, 4) is None               # not read yet: never reads
    frame = source.frame(2000, 6000, [1, 4, 2], 80, car_on=True)
    source.chunk(2)
    assert source.cached_value(3000, 4) == values[4, 3000]
    shown = values[[1, 4, 2]]
    car = shown - np.median(shown, axis=0)
    edges = column_edges(frame.first_column, frame.n_columns, frame.spc)
    for k in (0, 40, 79):
        np.testing.assert_allclose(frame.lo[:, k], car[:, edges[k]:edges[k + 1]].min(axis=1), atol=1e-4)
        np.testing.assert_allclose(frame.hi[:, k], car[:, edges[k]:edges[k + 1]].max(axis=1), atol=1e-4)
    source.close()


def test_noise_is_the_mad_of_the_window_start_across_chunks(recording, tmp_path):
    datafile, values = recording
    source = make_source(datafile, tmp_path)
    frame = source.frame(1500, 9000, [3, 1], 100, want_noise=True)
    start = frame.t0
    shown = values[[3, 1], start:start + 4096]                 # spans chunks 1 to 5
    median = np.median(shown, axis=1, keepdims=True)
    np.testing.assert_allclose(frame.noise, 1.4826 * np.median(np.abs(shown - median), axis=1), rtol=1e-5)
    source.close()
