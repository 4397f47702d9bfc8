"""Viewport logic without Qt: zoom, scroll, page, clamping, gains, channel scrolling, order."""

import numpy as np
import pytest

from app.model.viewport import NOISE_PER_LANE, Viewport

RATE = 10_000.0
TOTAL = 100_000                     # 10 s


@pytest.fixture
def viewport():
    view = Viewport(window_s=1.0)
    view.set_recording(RATE, TOTAL, range(6), depth_order=[5, 3, 1, 0, 2, 4])
    return view


def test_a_recording_opens_at_the_start_with_the_preferred_width(viewport):
    assert (viewport.t0, viewport.window) == (0.0, 10_000.0)
    assert (viewport.t_start, viewport.duration) == (0.0, 1.0)
    assert list(viewport.gains) == [1.0] * 6


def test_zoom_keeps_the_anchor_in_place(viewport):
    viewport.set_window(2.0, 1.0)
    anchor = 2.25                                    # a quarter of the way across
    viewport.zoom(0.5, anchor)
    assert viewport.duration == pytest.approx(0.5)
    assert (anchor - viewport.t_start) / viewport.duration == pytest.approx(0.25)
    viewport.zoom(4.0, anchor)
    assert viewport.duration == pytest.approx(2.0)
    assert (anchor - viewport.t_start) / viewport.duration == pytest.approx(0.25)
    viewport.zoom(0.5)                               # about the centre
    assert viewport.t_start + viewport.duration / 2 == pytest.approx(anchor - 0.5 + 1.0)


def test_window_width_stays_between_one_ms_and_the_whole_recording(viewport):
    viewport.zoom(1e-9)
    assert viewport.duration == pytest.approx(0.001)
    viewport.zoom(1e9)
    assert viewport.window == TOTAL and viewport.t0 == 0
    viewport.set_window(3.0, 0.0)
    assert viewport.window == pytest.approx(10.0)


def test_the_window_is_clamped_at_both_ends(viewport):
    viewport.set_window(-5.0)
    assert viewport.t0 == 0
    viewport.set_window(float("inf"))
    assert viewport.t0 == TOTAL - viewport.window
    viewport.scroll(1.0)
    assert viewport.t0 == TOTAL - viewport.window
    viewport.set_window(9.5, 1.0)
    assert viewport.t_start == pytest.approx(9.0)


def test_scroll_and_page_move_by_fractions_of_the_width(viewport):
    viewport.scroll(0.1)
    assert viewport.t0 == pytest.approx(1_000)
    viewport.page(2)
    assert viewport.t0 == pytest.approx(21_000)
    viewport.page(-1)
    assert viewport.t0 == pytest.approx(11_000)
    viewport.scroll(-0.1)
    assert viewport.t0 == pytest.approx(10_000)


def test_gain_steps_and_per_channel_gains(viewport):
    viewport.gain(2.0)
    assert viewport.units == pytest.approx(100.0)
    viewport.gain(0.5)
    assert viewport.units == pytest.approx(200.0)
    viewport.scale_channel_gains([1, 4], 2.0)
    viewport.scale_channel_gains([4], 2.0)
    assert list(viewport.gains) == [1, 2, 1, 1, 4, 1]
    viewport.reset_channel_gains([4])
    assert list(viewport.gains) == [1, 2, 1, 1, 1, 1]
    viewport.set_selected([0, 3])
    assert viewport.gain_targets(3) == [0, 3] and viewport.gain_targets(5) == [5]
    assert viewport.gain_targets(None) == [0, 3]
    viewport.reset_channel_gains()
    assert list(viewport.gains) == [1.0] * 6
    assert viewport.value_per_pixel(2, 60.0) == pytest.approx(200.0 / 10.0)


def test_autoscale_uses_the_median_noise(viewport):
    assert viewport.autoscale_from_noise(np.array([1.0, 2.0, np.nan, 3.0]))
    assert viewport.units == pytest.approx(NOISE_PER_LANE * 2.0) and not viewport.pending_autoscale
    viewport.request_autoscale()
    assert not viewport.autoscale_from_noise(np.zeros(4))          # flat: unchanged
    assert viewport.units == pytest.approx(NOISE_PER_LANE * 2.0)


def test_channel_order_hiding_and_scrolling(viewport):
    assert viewport.channel_order() == [4, 2, 0, 1, 3, 5]          # shallowest on top
    viewport.set_order("index")
    assert viewport.channel_order() == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="depth"):
        viewport.set_order("alphabetical")
    viewport.set_hidden([2])
    assert viewport.shown_channels() == [0, 1, 3, 4, 5]
    viewport.show_only([1, 3])
    assert viewport.shown_channels() == [1, 3] and viewport.hidden == {0, 2, 4, 5}
    viewport.set_hidden([])
    viewport.set_min_spacing(20)                                   # 3 rows of 20 px in 60 px
    assert viewport.spacing(60) == 20 and viewport.visible_rows(60) == [0, 1, 2]
    viewport.scroll_channels(2)
    assert viewport.visible_rows(60) == [2, 3, 4]
    viewport.scroll_channels(10)
    assert viewport.visible_rows(60) == [3, 4, 5]                  # clamped at the bottom
    viewport.scroll_channels(-20)
    assert viewport.visible_rows(60) == [0, 1, 2]
    viewport.set_min_spacing(0)
    assert viewport.spacing(60) == 10 and viewport.visible_rows(60) == [0, 1, 2, 3, 4, 5]


def test_subscribers_hear_each_change_until_they_unsubscribe(viewport):
    heard = []
    unsubscribe = viewport.subscribe(lambda topic, value: heard.append(topic))
    viewport.scroll(0.5)
    viewport.gain(2)
    viewport.set_filter(True, 500.0)
    viewport.set_car(True)
    viewport.set_selected([1])
    viewport.set_order("index")
    assert heard == ["window", "gain", "filter", "filter", "selection", "channels"]
    assert viewport.highpass and viewport.cutoff == 500.0 and viewport.car
    unsubscribe()
    viewport.scroll(0.5)
    assert len(heard) == 6


def test_settings_round_trip_and_foreign_gains_are_ignored(viewport):
    viewport.scale_channel_gains([2], 3.0)
    viewport.set_filter(True, 450.0)
    viewport.set_window(1.0, 0.25)
    saved = viewport.settings()
    other = Viewport()
    other.apply_settings(saved)
    other.set_recording(RATE, TOTAL, range(6))
    assert list(other.gains) == [1, 1, 3, 1, 1, 1] and other.highpass and other.cutoff == 450.0
    assert other.duration == pytest.approx(0.25)
    other.apply_settings({"channel_gains": "1,2"})                 # another file's: kept for later only
    assert list(other.gains) == [1, 1, 3, 1, 1, 1]
    other.apply_settings({"channel_gains": "1,x"})                 # unreadable: ignored
    assert list(other.gains) == [1, 1, 3, 1, 1, 1]
