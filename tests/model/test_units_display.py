"""What the browser shows of sorted units: window selection, hide/solo, next/previous spike,
the results' location, and the spike-train CSV (plain pytest, no Qt)."""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from app.io.errors import SortingError
from app.io.formats.raw_binary import RawBinaryFile
from app.io.sorting import SortedUnit, Sorting
from app.model.jobs import SortJob
from app.model.recording import Recording
from app.model.sort_results import (
    job_results_path,
    locate_results,
    read_units,
    results_target,
    write_spike_csv,
)
from app.model.units import Units
from app.model.units_display import UnitsDisplay, row_lookup, unit_colours

RATE = 10_000.0


def template_on(channel: int, n_channels: int = 4) -> np.ndarray:
    template = np.zeros((20, n_channels), dtype=np.float32)
    template[8, channel] = -50.0
    return template


@pytest.fixture
def display() -> UnitsDisplay:
    units = [SortedUnit(3, np.array([100, 900, 5_000]), "good", template_on(0), np.arange(4)),
             SortedUnit(7, np.array([150, 2_000]), "mua", template_on(2), np.arange(4)),
             SortedUnit(9, np.array([120, 4_000, 4_500]), "noise", template_on(3), np.arange(4))]
    return UnitsDisplay(Units(Sorting(units, "test", "memory", RATE), n_samples=10_000))


def test_marks_are_the_window_s_spikes_on_rows_on_screen(display):
    rows = row_lookup([3, 0, 1], 4)               # channel 3 on top, then 0, then 1; 2 off screen
    marks = display.marks(0, 1_000, rows)
    assert marks.samples.tolist() == [100, 120, 900]
    assert [display.units.units[k].id for k in marks.unit_indices] == [3, 9, 3]
    assert marks.rows.tolist() == [1, 0, 1]
    assert display.marks(1_000, 4_000, rows).samples.size == 0      # 2000 is unit 7's, on channel 2


def test_hide_and_solo_choose_what_is_drawn(display):
    rows = row_lookup(range(4), 4)
    seen = []
    display.subscribe(lambda topic, value: seen.append(topic))
    version = display.version
    display.set_shown(3, False)
    assert display.marks(0, 10_000, rows).samples.tolist() == [120, 150, 2_000, 4_000, 4_500]
    assert display.version > version and seen == ["visibility"]
    display.toggle_solo(7)
    assert display.shown_ids() == [7]
    assert display.marks(0, 10_000, rows).samples.tolist() == [150, 2_000]
    display.toggle_solo(7)                          # solo ends: the checkboxes rule again
    assert display.shown_ids() == [7, 9]
    display.set_all_shown(True)
    assert display.shown_mask.tolist() == [True, True, True]
    with pytest.raises(KeyError):
        display.set_shown(42, False)


def test_next_and_previous_spike_of_the_selected_unit(display):
    assert display.next_spike(0) is None            # nothing selected
    display.select(9)
    assert display.next_spike(120) == 4_000 and display.next_spike(119.5) == 120
    assert display.previous_spike(4_000) == 120 and display.previous_spike(120) is None
    assert display.next_spike(4_500) is None


def test_spike_near_finds_the_shown_spike_on_that_channel(display):
    assert display.spike_near(905, 0, tolerance=10) == (3, 900)
    assert display.spike_near(905, 1, tolerance=10) is None          # nothing on channel 1
    assert display.spike_near(950, 0, tolerance=10) is None
    display.set_shown(3, False)
    assert display.spike_near(905, 0, tolerance=10) is None


def test_colours_are_distinct():
    colours = unit_colours(300)
    assert len(set(colours.tolist())) == 300 and colours.max() <= 0xFFFFFF


def test_results_location_of_a_wavescope_output_and_of_jobs(tmp_path):
    out = tmp_path / "out"
    (out / "sorting").mkdir(parents=True)
    (out / "wavescope-run.json").write_text(json.dumps({"sorter": "mountainsort5"}))
    assert locate_results(out) == out / "sorting"
    assert locate_results(out / "sorting") == out / "sorting"
    assert locate_results(results_target(out / "wavescope-run.json")) == out / "sorting"
    assert results_target(tmp_path / "phy" / "params.py") == tmp_path / "phy"
    assert results_target(tmp_path / "rec" / "rec.result.hdf5") == tmp_path / "rec" / "rec.result.hdf5"
    data = tmp_path / "rec.dat"
    data.write_bytes(b"\0" * 16)
    # SpyKING CIRCUS writes beside the recording: its folder, or the result file in it (SortJob.results_path)
    for job in (SortJob(params_file=str(data)), SortJob(params_file=str(data), output=str(out))):
        found = Path(job_results_path(job))
        assert (found.parent if found.suffix == ".hdf5" else found) == tmp_path / "rec"
    assert job_results_path(SortJob(params_file=str(data), sorter="kilosort4", output=str(out))) == str(out)


def raw_recording(tmp_path, spikes: dict[int, tuple[int, list[int]]]) -> Recording:
    """A 4-channel int16 recording of noise with a spike waveform at each (channel, samples)."""
    rng = np.random.default_rng(2)
    data = rng.normal(0, 5, (10_000, 4))
    wave = -80 * np.hanning(20)
    for channel, samples in spikes.values():
        for sample in samples:
            data[sample - 8:sample + 12, channel] += wave
    path = tmp_path / "rec.dat"
    data.astype("<i2").tofile(path)
    return Recording(RawBinaryFile(str(path), {"data_dtype": "int16", "nb_channels": 4, "sampling_rate": RATE}))


def save_si_sorting(folder, samples, unit_index, unit_ids, rate=RATE) -> None:
    folder.mkdir()
    spikes = np.zeros(len(samples), dtype=[("sample_index", "int64"), ("unit_index", "int64"),
                                           ("segment_index", "int64")])
    spikes["sample_index"], spikes["unit_index"] = samples, unit_index
    np.save(folder / "spikes.npy", spikes)
    info = {"sampling_frequency": rate, "unit_ids": unit_ids, "num_segments": 1}
    (folder / "numpysorting_info.json").write_text(json.dumps(info))


def test_read_units_estimates_templates_and_refuses_another_rate(tmp_path, display):
    recording = raw_recording(tmp_path, {5: (2, [1_000, 3_000, 7_000]), 6: (0, [2_000, 5_000])})
    save_si_sorting(tmp_path / "si", [1_000, 2_000, 3_000, 5_000, 7_000], [0, 1, 0, 1, 0], [5, 6])
    units = read_units(tmp_path / "si", recording, threading.Lock())
    assert units.ids == [5, 6] and units.unit(5).spike_train.tolist() == [1_000, 3_000, 7_000]
    assert units.unit(5).peak_channel == 2 and units.unit(6).peak_channel == 0
    assert units.unit(5).template.shape == (30, 4) and units.template_units == "µV"
    # 80 (int16 counts, gain 1) peak-to-peak of the injected waveform, plus a little noise
    assert units.measured_amplitudes[5] == pytest.approx(80 * np.hanning(20).max(), rel=0.15)
    save_si_sorting(tmp_path / "si30k", [10], [0], [1], rate=30_000.0)
    with pytest.raises(SortingError, match="30000 Hz"):
        read_units(tmp_path / "si30k", recording)
    recording.close()


def test_spike_trains_to_csv(tmp_path, display):
    path = tmp_path / "spikes.csv"
    assert write_spike_csv(display.units, path, [3, 7], ["A1", "A2", "B,1", "B2"]) == 5
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["unit", "sample", "time_s", "label", "peak_channel"]
    assert rows[1] == ["3", "100", "0.010000", "good", "A1"]
    assert [r[0] for r in rows[1:]] == ["3", "7", "3", "7", "3"]
    assert rows[2][4] == "B,1"
    assert not list(tmp_path.glob(".spikes.csv.*"))        # no temporary left behind


def test_circus_electrodes_are_the_probe_channels_in_order(tmp_path):
    """A probe that leaves channels 0 and 3 out and lists the others out of order: SpyKING
    CIRCUS's electrode i is the probe's i-th listed channel, so each unit's peak lands there."""
    from app.io.probe import read_probe
    from tests.io.test_sorting import N_E, N_T, write_circus
    assert N_E == 6
    probe_channels = [5, 1, 2, 7, 4, 6]               # of 8 recording channels: 0 and 3 left out
    (tmp_path / "probe.prb").write_text(
        "total_nb_channels = 8\nradius = 100\n"
        f"channel_groups = {{0: {{'channels': {probe_channels}, 'graph': [], "
        f"'geometry': {{c: (0, 20 * c) for c in {probe_channels}}}}}}}\n")
    data = np.random.default_rng(4).normal(0, 5, (10_000, 8)).astype("<i2")
    data.tofile(tmp_path / "rec.dat")
    recording = Recording(RawBinaryFile(str(tmp_path / "rec.dat"),
                                        {"data_dtype": "int16", "nb_channels": 8, "sampling_rate": RATE}),
                          probe=read_probe(tmp_path / "probe.prb"))
    templates = np.zeros((3, N_T, N_E), dtype=np.float32)
    for k, electrode in enumerate((0, 2, 5)):
        templates[k, N_T // 2, electrode] = -50.0
    write_circus(tmp_path, "rec", [np.array([1_000]), np.array([2_000]), np.array([3_000])], templates)
    units = read_units(tmp_path / "rec", recording)
    assert [units.unit(k).peak_channel for k in range(3)] == [5, 2, 6]
    recording.close()
