import numpy as np
import pytest

from app.model.decimate import (
    column_edges,
    columns_covering,
    interpolate_columns,
    lane_colours,
    minmax_columns,
    minmax_pieces,
    minmax_rows,
    pixel_intervals,
    rasterize,
    robust_std,
)


def brute_minmax(data, edges):
    lo = np.full((data.shape[0], len(edges) - 1), np.nan, dtype=np.float32)
    hi = lo.copy()
    for k in range(len(edges) - 1):
        if edges[k + 1] > edges[k]:
            for c in range(data.shape[0]):
                lo[c, k] = min(data[c, edges[k]:edges[k + 1]])
                hi[c, k] = max(data[c, edges[k]:edges[k + 1]])
    return lo, hi


@pytest.mark.parametrize("spc", [1.0, 1.7, 3.0, 16.33, 97.5])
def test_minmax_columns_matches_loop(spc):
    rng = np.random.default_rng(1)
    data = rng.standard_normal((5, 4000)).astype(np.float32)
    edges = column_edges(3, 37, spc)
    lo, hi = minmax_columns(data, edges)
    expected_lo, expected_hi = brute_minmax(data, edges)
    np.testing.assert_array_equal(lo, expected_lo)
    np.testing.assert_array_equal(hi, expected_hi)


def test_column_grid_is_absolute():
    spc = 7.3
    left = column_edges(10, 20, spc)
    right = column_edges(15, 20, spc)
    np.testing.assert_array_equal(left[5:], right[:16])
    assert left[0] == int(np.floor(10 * spc))


def test_minmax_columns_with_gaps_and_empty_columns():
    data = np.arange(20, dtype=np.float32)[None, :]
    edges = np.array([0, 3, 3, 10, 12])
    lo, hi = minmax_columns(data, edges)
    np.testing.assert_array_equal(lo[0], [0, np.nan, 3, 10])
    np.testing.assert_array_equal(hi[0], [2, np.nan, 9, 11])


def test_minmax_pieces_joins_columns_across_pieces():
    rng = np.random.default_rng(2)
    data = rng.standard_normal((3, 1000)).astype(np.float32)
    pieces = [(0, data[:, :256]), (256, data[:, 256:512]), (512, data[:, 512:])]
    edges = column_edges(2, 50, 19.4)
    lo, hi = minmax_pieces(pieces, edges, 3)
    expected_lo, expected_hi = brute_minmax(data, edges)
    np.testing.assert_array_equal(lo, expected_lo)
    np.testing.assert_array_equal(hi, expected_hi)


def test_interpolate_columns():
    data = np.array([[0.0, 10.0, 20.0, 30.0]], dtype=np.float32)
    out = interpolate_columns(data, 100, np.array([100.0, 100.5, 102.25, 110.0]))
    np.testing.assert_allclose(out[0], [0, 5, 22.5, 30])


def test_rasterizer_lights_a_known_line():
    height, width = 20, 6
    # A flat line at value 0 on baseline 10, then a step up by 5 pixels at column 3.
    values = np.array([[0, 0, 0, 5, 5, 5]], dtype=np.float32)
    top, bottom = pixel_intervals(values, values, np.array([10.0]), np.array([1.0]), height)
    image = rasterize(top, bottom, height)
    expected = np.zeros((height, width), dtype=bool)
    expected[10, 0:3] = True
    expected[5, 3:] = True
    expected[5:11, 3] = True            # the join: column 3 reaches down to the previous value
    np.testing.assert_array_equal(image, expected)


def test_rasterizer_min_max_interval_and_overlap_and_clipping():
    height = 10
    top = np.array([[2, 0, -5], [3, 9, 12]])
    bottom = np.array([[4, 0, 20], [3, 8, 15]])      # (1, 1) empty: bottom < top; (1, 2) off-screen
    image = rasterize(top, bottom, height)
    expected = np.zeros((height, 3), dtype=bool)
    expected[2:5, 0] = True
    expected[0, 1] = True
    expected[:, 2] = True
    np.testing.assert_array_equal(image, expected)


def test_nan_columns_draw_nothing():
    values = np.array([[np.nan, 1.0]], dtype=np.float32)
    top, bottom = pixel_intervals(values, values, np.array([5.0]), np.array([1.0]), 10)
    image = rasterize(top, bottom, 10)
    assert not image[:, 0].any()
    assert image[4, 1]


def test_lane_colours_follow_nearest_baseline():
    rows = lane_colours(np.array([30.0, 10.0]), np.array([2, 1]), 40)
    assert rows[0] == 1 and rows[19] == 1 and rows[21] == 2 and rows[39] == 2


def test_robust_std_ignores_spikes():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 20000)) * np.array([[1.0], [4.0]])
    x[:, ::100] += 500
    np.testing.assert_allclose(robust_std(x, axis=1), [1.0, 4.0], rtol=0.05)


def test_rasterizer_matches_brute_force_with_overlaps():
    rng = np.random.default_rng(5)
    height = 60
    top = rng.integers(-3, height + 3, (30, 25))
    bottom = top + rng.integers(-2, 20, (30, 25))
    expected = np.zeros((height, 25), dtype=bool)
    for c in range(30):
        for x in range(25):
            lo, hi = max(top[c, x], 0), min(bottom[c, x], height - 1)
            if hi >= lo:
                expected[lo:hi + 1, x] = True
    np.testing.assert_array_equal(rasterize(top, bottom, height), expected)


def test_previous_column_gap_is_not_joined():
    values = np.array([[1.0, 2.0]], dtype=np.float32)
    top, bottom = pixel_intervals(values, values, np.array([5.0]), np.array([1.0]), 10,
                                  previous=(np.array([np.nan]), np.array([np.nan])))
    assert (top[0, 0], bottom[0, 0]) == (4, 4)


@pytest.mark.parametrize("spc", [1.0, 1.7, 16.25, 30.0, 97.3])
def test_columns_covering_brackets_the_samples(spc):
    for start, stop in [(0, 1024), (1024, 2048), (5, 6), (100, 3000)]:
        first, last = columns_covering(start, stop, spc)
        edges = column_edges(first, last - first, spc)
        assert edges[0] <= start < edges[1]
        assert edges[-2] < stop <= edges[-1]


def test_robust_std_with_gaps_uses_the_finite_values():
    x = np.array([[1.0, -1.0, np.nan, 1.0, -1.0]])
    np.testing.assert_allclose(robust_std(x, axis=1), [1.4826])


@pytest.mark.parametrize("spc", [1.0, 1.3, 2.5, 3.9, 6.2, 7.99])
def test_narrow_columns_match_the_loop(spc):
    rng = np.random.default_rng(8)
    data = rng.standard_normal((4, 3000)).astype(np.float32)
    edges = column_edges(11, int(2900 / spc), spc)
    lo, hi = minmax_columns(data, edges)
    expected_lo, expected_hi = brute_minmax(data, edges)
    np.testing.assert_array_equal(lo, expected_lo)
    np.testing.assert_array_equal(hi, expected_hi)
    summary_lo, summary_hi = minmax_columns(data, edges, maxima=data + 1)
    np.testing.assert_array_equal(summary_hi, expected_hi + 1)
    np.testing.assert_array_equal(summary_lo, expected_lo)


@pytest.mark.parametrize("spc", [1.0, 1.7, 16.33, 97.5, 700.0])
def test_minmax_rows_of_time_major_data_match_the_loop(spc):
    rng = np.random.default_rng(9)
    data = rng.standard_normal((5, 4000)).astype(np.float32)
    edges = column_edges(2, int(3800 / spc) - 2, spc)        # narrow (many columns) and wide (few)
    lo, hi = minmax_rows(np.ascontiguousarray(data.T), edges)
    expected_lo, expected_hi = brute_minmax(data, edges)
    assert lo.flags.c_contiguous and lo.shape == (5, len(edges) - 1)
    np.testing.assert_array_equal(lo, expected_lo)
    np.testing.assert_array_equal(hi, expected_hi)
