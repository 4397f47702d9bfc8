import itertools
import threading

import numpy as np

from app.io import open_datafile
from app.model.overview import BASE_BIN, Overview, build_overview, overview_folder
from tests.conftest import synthetic_int16

PARAMS = {"data_dtype": "int16", "nb_channels": 3, "sampling_rate": 1000.0, "gain": 0.5}


def _recording(make_raw, n=300_000):
    data = synthetic_int16(n, 3, seed=4)
    data[123_457, 1] = 32000                   # a lone extreme sample
    path = make_raw("long.dat", data)
    return open_datafile(path, PARAMS, "raw_binary"), data.astype(np.float32) * 0.5


def test_levels_equal_brute_force(make_raw, tmp_path):
    datafile, values = _recording(make_raw)
    overview = build_overview(datafile, tmp_path / "ov", chunk_size=4096)
    sizes = [size for size, _ in overview.levels]
    assert sizes[0] == BASE_BIN and all(b == 2 * a for a, b in itertools.pairwise(sizes))
    for size, array in overview.levels:
        n_bins = -(-len(values) // size)
        assert array.shape == (2, 3, n_bins)
        for k in [0, 1, 123_457 // size, n_bins - 1]:
            block = values[k * size:(k + 1) * size]
            np.testing.assert_array_equal(array[0, :, k], block.min(axis=0))
            np.testing.assert_array_equal(array[1, :, k], block.max(axis=0))
    assert overview.levels[-1][1][1, 1].max() == 16000


def test_columns_read_from_the_summary(make_raw, tmp_path):
    datafile, values = _recording(make_raw)
    overview = build_overview(datafile, tmp_path / "ov", chunk_size=4096)
    edges = np.arange(0, 300_001, 3000)                 # 100 columns of 3000 samples
    lo, hi = overview.columns(edges, [1, 2])
    size = overview.level_for(3000)[0]
    assert size == max(s for s, _ in overview.levels if s <= 3000)
    for k in [0, 41, 99]:
        first, last = edges[k] // size * size, edges[k + 1] // size * size
        np.testing.assert_array_equal(lo[:, k], values[first:last, [1, 2]].min(axis=0))
        np.testing.assert_array_equal(hi[:, k], values[first:last, [1, 2]].max(axis=0))


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
