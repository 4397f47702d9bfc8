"""Lanes: streams of one acquisition at different rates, on one time axis.

The SpikeGLX pairs are written with the test writers (`.bin` + `.meta` as the
SpikeGLX guide lays them out): the same step, at the same acquisition time, in an
AP file at 30 kHz and an LF file at 2.5 kHz.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.io import open_datafile
from app.model.lanes import clock_offset, lane_window, main_grid
from app.model.recording import Recording
from tests.io.writers_ephys import nidq_meta, np1_meta, write_binary_recording, write_spikeglx
from tests.io.writers_more import write_rhs
from tests.io.writers_more2 import write_edf

N_CHANNELS = 4
STEP_S = 0.4            # the step's time on the acquisition clock, in seconds
DURATION_S = 1.0


def step_data(rate: float, first_sample: int = 0, duration_s: float = DURATION_S) -> np.ndarray:
    """(samples, channels + SY) int16: 0 before the step, 400 after, on the acquisition clock."""
    n = round(duration_s * rate)
    clock = (first_sample + np.arange(n)) / rate
    data = np.zeros((n, N_CHANNELS + 1), dtype=np.int16)
    data[clock >= STEP_S, :N_CHANNELS] = 400
    return data


def write_pair(folder: Path, lf_first: int = 0, ap_first: int = 0) -> tuple[Path, Path]:
    """`run_g0/run_g0_imec0/run_g0_t0.imec0.{ap,lf}.bin` and `run_g0/run_g0_t0.nidq.bin`."""
    probe = folder / "run_g0" / "run_g0_imec0"
    gains = [500] * N_CHANNELS
    ap = write_spikeglx(probe / "run_g0_t0.imec0.ap.bin", step_data(30000.0, ap_first),
                        np1_meta(N_CHANNELS, gains, [250] * N_CHANNELS, "ap", first_sample=ap_first))
    lf = write_spikeglx(probe / "run_g0_t0.imec0.lf.bin", step_data(2500.0, lf_first),
                        np1_meta(N_CHANNELS, gains, [250] * N_CHANNELS, "lf", first_sample=lf_first))
    ni = np.zeros((2500, 3), dtype=np.int16)
    write_spikeglx(folder / "run_g0" / "run_g0_t0.nidq.bin", ni, nidq_meta(1, 1, 0, 1))
    return ap, lf


@pytest.fixture
def pair(tmp_path):
    return write_pair(tmp_path)


def step_column(lo: np.ndarray, hi: np.ndarray) -> int:
    """The first column whose trace reaches the step's full height (channel 0): the column of the
    first sample after the step (zoomed in, a line joins the samples on either side of it)."""
    reached = np.flatnonzero(np.nan_to_num(hi[0], nan=0.0) >= 0.999 * np.nanmax(hi[0]))
    return int(reached[0])


# -- the format layer -----------------------------------------------------------------------------
def test_spikeglx_related_streams_are_the_same_runs_lf_and_ni(pair):
    ap, lf = pair
    found = open_datafile(str(ap), {}, "spikeglx").related_streams()
    assert [(label, Path(name).name) for label, name, _ in found] == [
        ("imec0 LF", "run_g0_t0.imec0.lf.bin"), ("NI", "run_g0_t0.nidq.bin")]
    assert [label for label, _, _ in open_datafile(str(lf), {}, "spikeglx").related_streams()] == ["imec0 AP", "NI"]


def test_spikeglx_other_runs_and_probes_are_not_related(pair, tmp_path):
    ap, _ = pair
    other_run = ap.parent / "other_g0_t0.imec0.lf.bin"
    write_spikeglx(other_run, step_data(2500.0), np1_meta(N_CHANNELS, [500] * 4, [250] * 4, "lf"))
    other_probe = ap.parent.parent / "run_g0_imec1" / "run_g0_t0.imec1.lf.bin"
    write_spikeglx(other_probe, step_data(2500.0), np1_meta(N_CHANNELS, [500] * 4, [250] * 4, "lf"))
    names = [Path(name).name for _, name, _ in open_datafile(str(ap), {}, "spikeglx").related_streams()]
    assert names == ["run_g0_t0.imec0.lf.bin", "run_g0_t0.nidq.bin"]


def test_openephys_binary_related_streams(tmp_path):
    recording = tmp_path / "Record Node 101" / "experiment1" / "recording1"
    streams = [{"folder": "Neuropix-PXI-100.ProbeA-AP", "data": np.zeros((300, 2)), "bit_volts": [0.195] * 2,
                "sample_rate": 30000.0, "first_sample": 3000},
               {"folder": "Neuropix-PXI-100.ProbeA-LFP", "data": np.zeros((25, 2)), "bit_volts": [0.195] * 2,
                "sample_rate": 2500.0, "first_sample": 500}]
    oebin = write_binary_recording(recording, streams)
    main = open_datafile(str(oebin), {}, "openephys_binary")
    found = main.related_streams()
    assert [(label, params) for label, _, params in found] == [
        ("ProbeA-LFP", {"stream_name": "Neuropix-PXI-100.ProbeA-LFP"})]
    lfp = open_datafile(found[0][1], found[0][2], "openephys_binary")
    assert lfp.sampling_rate == 2500.0 and lfp.t_start == 500
    assert clock_offset(main, lfp) == pytest.approx(500 / 2500 - 3000 / 30000)


def test_edf_related_streams_are_the_other_rates(tmp_path):
    signals = [{"label": "EEG", "unit": "uV", "pmin": -100, "pmax": 100, "dmin": -32768, "dmax": 32767,
                "digital": np.zeros(2 * 256, dtype=np.int64)},
               {"label": "Resp", "unit": "mV", "pmin": -1, "pmax": 1, "dmin": -32768, "dmax": 32767,
                "digital": np.zeros(2 * 32, dtype=np.int64)}]
    path = write_edf(tmp_path / "rec.edf", signals, 1.0, 2)
    found = open_datafile(str(path), {}, "edf").related_streams()
    assert [(label, params) for label, _, params in found] == [("32 Hz (1 signal)", {"stream_index": 1})]
    assert open_datafile(str(path), found[0][2], "edf").sampling_rate == 32.0


def test_intan_rhs_related_streams_are_the_other_signals(tmp_path):
    amplifier = np.full((128, 2), 32768, np.uint16)
    path = write_rhs(tmp_path / "rec.rhs", amplifier, dc=np.full((128, 2), 512, np.uint16),
                     adc=np.full((128, 1), 32768, np.uint16))
    found = open_datafile(path, {}, "intan_rhs").related_streams()
    assert [params for _, _, params in found] == [{"signal": "dc_amplifier"}, {"signal": "analog_in"}]


def test_formats_without_other_streams_have_none(make_raw):
    path = make_raw("rec.dat", np.zeros((10, 2), np.int16))
    datafile = open_datafile(path, {"nb_channels": 2, "sampling_rate": 1000, "data_dtype": "int16"}, "raw_binary")
    assert datafile.related_streams() == []


# -- the model ------------------------------------------------------------------------------------
def test_recording_opens_its_lanes_with_their_own_rates(pair):
    ap, _ = pair
    recording = Recording.open(str(ap), {"file_format": "spikeglx"})
    lanes = recording.open_lanes()
    assert [(lane.label, lane.sampling_rate, lane.nb_channels) for lane in lanes] == [
        ("imec0 LF", 2500.0, N_CHANNELS + 1), ("NI", 25000.0, 3)]
    assert all(lane.visible for lane in lanes)          # few channels: shown by default
    assert recording.open_lanes() is lanes
    recording.close()
    assert all(lane.source is None for lane in lanes)


def test_lane_window_maps_the_main_columns_onto_the_lanes_samples(pair):
    ap, _ = pair
    recording = Recording.open(str(ap), {"file_format": "spikeglx"})
    lane = recording.open_lanes()[0]
    first, spc = main_grid(3000.0, 6000.0, 300)
    assert (first, spc) == (300, 10.0)
    t0, t1 = lane_window(lane, first, spc, 300, 30000.0)
    assert (t0, t1) == pytest.approx((250.0, 500.0))
    recording.close()


@pytest.mark.parametrize("window_s", [1.0, 0.25, 0.02, 0.004])
def test_both_rates_show_the_step_on_the_same_column(pair, window_s):
    ap, _ = pair
    recording = Recording.open(str(ap), {"file_format": "spikeglx"})
    lane = recording.open_lanes()[0]
    main = recording.datafile
    from app.model.traces import TraceSource
    source = TraceSource(main, cache_bytes=64 << 20)
    n = 400
    t0 = (STEP_S - window_s / 3) * 30000.0
    first, spc = main_grid(t0, t0 + window_s * 30000.0, n)
    main_frame = source.frame(t0, t0 + window_s * 30000.0, range(N_CHANNELS), n)
    lane_frame = lane.trace_source().frame(*lane_window(lane, first, spc, n, 30000.0), range(N_CHANNELS), n)
    assert main_frame.first_column == first
    # one lane column spans 12 main samples' worth of time: the two may differ by that column
    assert abs(step_column(main_frame.lo, main_frame.hi) - step_column(lane_frame.lo, lane_frame.hi)) <= 1
    source.close()
    recording.close()


def test_a_lane_starting_one_second_later_is_placed_one_second_later(tmp_path):
    ap, _ = write_pair(tmp_path, lf_first=2500)
    recording = Recording.open(str(ap), {"file_format": "spikeglx"})
    lane = recording.open_lanes()[0]
    assert lane.offset_s == pytest.approx(1.0)
    assert lane.sample_at(1.0) == 0.0 and lane.seconds_at(2500) == pytest.approx(2.0)
    # the main stream spans [0, 1) s; the lane's own data start at view time 1 s
    first, spc = main_grid(0.0, 30000.0, 100)
    t0, t1 = lane_window(lane, first, spc, 100, 30000.0)
    assert (t0, t1) == pytest.approx((-2500.0, 0.0))
    recording.close()
