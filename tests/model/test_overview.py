import itertools
import os
import threading

import numpy as np
import pytest

from app.io import open_datafile
from app.model import overview as ov
from app.model.overview import LEVEL_FACTOR, Overview, build_overview, evict, overview_folder
from tests.conftest import synthetic_int16

PARAMS = {"data_dtype": "int16", "nb_channels": 3, "sampling_rate": 1000.0, "gain": 0.5}
DATA_RATIO_TOTAL = 50       # 1/64 for the finest level, about 1/56 with every level


def _recording(make_raw, n=300_000, params=PARAMS, name="long.dat"):
    data = synthetic_int16(n, 3, seed=4)
    data[123_457, 1] = 32000                   # a lone extreme sample
    path = make_raw(name, data)
    return open_datafile(path, params, "raw_binary"), data


@pytest.fixture
def small_levels(monkeypatch):
    """Coarser levels appear on a short recording."""
    monkeypatch.setattr(ov, "SMALLEST_LEVEL", 16)


def test_levels_equal_brute_force_as_stored_int16(make_raw, tmp_path, small_levels):
    datafile, data = _recording(make_raw)
    overview = build_overview(datafile, tmp_path / "ov")
    sizes = [size for size, _ in overview.levels]
    assert sizes[0] == 128 and len(sizes) >= 3
    assert all(b == LEVEL_FACTOR * a for a, b in itertools.pairwise(sizes))
    for size, array in overview.levels:
        n_bins = -(-len(data) // size)
        assert array.shape == (2, 3, n_bins) and array.dtype == np.int16
        for k in [0, 1, 123_457 // size, n_bins - 1]:
            block = data[k * size:(k + 1) * size]
            np.testing.assert_array_equal(array[0, :, k], block.min(axis=0))
            np.testing.assert_array_equal(array[1, :, k], block.max(axis=0))
    assert overview.levels[-1][1][1, 1].max() == 32000
    np.testing.assert_array_equal(overview.gains, [0.5] * 3)


def test_summary_is_small_next_to_the_data(make_raw, tmp_path):
    datafile, data = _recording(make_raw, n=1_000_000)
    overview = build_overview(datafile, tmp_path / "ov")
    stored = sum(array.nbytes for _, array in overview.levels)
    assert stored <= data.nbytes / DATA_RATIO_TOTAL


def test_float_source_kept_as_float32(make_raw, tmp_path):
    values = np.random.default_rng(1).normal(0, 1, (50_000, 2)).astype(np.float32)
    datafile = open_datafile(make_raw("f.dat", values), {"data_dtype": "float32", "nb_channels": 2,
                                                         "sampling_rate": 1000.0}, "raw_binary")
    overview = build_overview(datafile, tmp_path / "ov")
    size, array = overview.levels[0]
    assert array.dtype == np.float32 and overview.gains is None
    np.testing.assert_array_equal(array[1, :, 3], values[3 * size:4 * size].max(axis=0))


def test_columns_read_from_the_summary_in_physical_units(make_raw, tmp_path, small_levels):
    datafile, data = _recording(make_raw)
    values = data.astype(np.float32) * np.float32(0.5)
    overview = build_overview(datafile, tmp_path / "ov")
    for width in (300, 3000):
        edges = np.arange(0, 300_001, width)
        lo, hi = overview.columns(edges, [1, 2])
        assert lo.dtype == np.float32
        size = overview.level_for(width)[0]
        assert size == max(s for s, _ in overview.levels if s <= width)
        for k in [0, 41, 99, 123_457 // width]:
            first, last = edges[k] // size * size, edges[k + 1] // size * size
            np.testing.assert_array_equal(lo[:, k], values[first:last, [1, 2]].min(axis=0))
            np.testing.assert_array_equal(hi[:, k], values[first:last, [1, 2]].max(axis=0))


def test_negative_gain_swaps_min_and_max(make_raw, tmp_path):
    datafile, data = _recording(make_raw, params={**PARAMS, "gain": -2.0})
    overview = build_overview(datafile, tmp_path / "ov")
    edges = np.arange(0, 300_001, 1000)
    lo, hi = overview.columns(edges)
    size = overview.level_for(1000)[0]
    first, last = edges[5] // size * size, edges[6] // size * size
    values = data[first:last].astype(np.float32) * np.float32(-2.0)
    np.testing.assert_array_equal(lo[:, 5], values.min(axis=0))
    np.testing.assert_array_equal(hi[:, 5], values.max(axis=0))


def test_disk_cache_reused_and_keyed_by_file_identity(make_raw, tmp_path):
    datafile, _ = _recording(make_raw)
    folder = overview_folder(datafile, tmp_path)
    calls = []
    first = build_overview(datafile, folder, 4096, progress=calls.append)
    assert calls and calls[-1] == 1.0
    again = []
    second = build_overview(datafile, folder, 4096, progress=again.append)
    assert again == []                                   # loaded, not recomputed
    np.testing.assert_array_equal(first.levels[0][1], second.levels[0][1])
    assert Overview.load(folder) is not None
    other = open_datafile(datafile.file_name, {**PARAMS, "gain": 2.0}, "raw_binary")
    assert overview_folder(other, tmp_path) != folder


def test_cancel_leaves_nothing(make_raw, tmp_path):
    datafile, _ = _recording(make_raw)
    cancel = threading.Event()
    cancel.set()
    folder = tmp_path / "ov"
    assert build_overview(datafile, folder, 4096, cancel=cancel) is None
    assert not folder.exists() and not (tmp_path / "ov.partial").exists()


def _age(folder, seconds_ago):
    stamp = os.path.getmtime(folder / "meta.json") - seconds_ago
    os.utime(folder / "meta.json", (stamp, stamp))


def test_budget_evicts_least_recently_used_recordings(make_raw, tmp_path):
    root = tmp_path / "cache"
    recordings = [_recording(make_raw, name=f"r{k}.dat")[0] for k in range(3)]
    folders = [overview_folder(d, root) for d in recordings]
    built = build_overview(recordings[0], folders[0])
    one = ov.folder_bytes(folders[0])
    budget = 2 * one + one // 2                         # room for two summaries, not three
    del built
    build_overview(recordings[1], folders[1], budget=budget)
    _age(folders[0], 300)
    _age(folders[1], 200)
    Overview.load(folders[0])                           # used again: now the newest of the two
    third = build_overview(recordings[2], folders[2], budget=budget)
    assert third is not None
    assert folders[0].exists() and folders[2].exists() and not folders[1].exists()
    assert sum(size for _, size, _ in ov.cached_summaries(root)) <= budget


def test_eviction_spares_summaries_in_use_and_the_new_one(make_raw, tmp_path):
    root = tmp_path / "cache"
    first_file, _ = _recording(make_raw, name="a.dat")
    second_file, _ = _recording(make_raw, name="b.dat")
    in_use = build_overview(first_file, overview_folder(first_file, root))
    newest = build_overview(second_file, overview_folder(second_file, root), budget=1)
    assert in_use.folder.exists() and newest.folder.exists()      # over budget, but both are needed
    del in_use, newest
    import gc
    gc.collect()
    assert len(evict(root, budget=1)) == 2
    assert ov.cached_summaries(root) == []


def test_budget_setting_parses_sizes(monkeypatch):
    monkeypatch.setenv(ov.BUDGET_ENV, "500M")
    assert ov.summary_budget() == 500 << 20
    monkeypatch.setenv(ov.BUDGET_ENV, "3g")
    assert ov.summary_budget() == 3 << 30
    monkeypatch.setenv(ov.BUDGET_ENV, "lots")
    assert ov.summary_budget() == ov.DEFAULT_BUDGET
    monkeypatch.delenv(ov.BUDGET_ENV)
    assert ov.summary_budget() == 2 << 30
