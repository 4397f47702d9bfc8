"""nwb: files written by pynwb, read back through the DataFile contract.

The reference for samples is pynwb's own ``ElectricalSeries.get_data_in_units()`` (volts =
data × conversion × channel_conversion + offset), not our reader. neo 0.14's ``NWBIO`` is not
used as a second reference: it cannot build an ElectricalSeries with pynwb 4 (it rejects the
``electrodes`` DynamicTableRegion as an annotation), and it ignores channel_conversion and
offset and accepts only power-of-ten conversions, which the NWB schema does not restrict.
"""

from __future__ import annotations

import datetime

import h5py
import numpy as np
import pytest

from app.io import HeaderError, ShapeMismatchError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from tests.conftest import synthetic_int16

pynwb = pytest.importorskip("pynwb")
from pynwb import NWBHDF5IO, NWBFile
from pynwb.ecephys import LFP, ElectricalSeries

N_CHANNELS = 6
GAINS = np.array([1.0, 0.5, 2.0, 1.0, 1.5, 0.25])


def _nwb_file() -> NWBFile:
    nwb = NWBFile("wavescope test", "id-1", datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    device = nwb.create_device("probe")
    group = nwb.create_electrode_group("shank0", "a shank", "CA1", device)
    for k in range(N_CHANNELS):
        nwb.add_electrode(group=group, location="CA1", x=1.0, y=2.0, z=3.0,
                          rel_x=float(16 * (k % 2)), rel_y=float(20 * k))
    return nwb


def _write(path, series: list, processing: list = ()) -> str:
    nwb = _nwb_file()
    region = nwb.create_electrode_table_region(list(range(N_CHANNELS)), "all electrodes")
    for kwargs in series:
        nwb.add_acquisition(ElectricalSeries(electrodes=region, **kwargs))
    if processing:
        module = nwb.create_processing_module("ecephys", "processed")
        module.add(LFP(electrical_series=[ElectricalSeries(electrodes=region, **kw) for kw in processing]))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return str(path)


def _in_microvolts(path, name: str) -> np.ndarray:
    with NWBHDF5IO(str(path), "r") as io:
        return io.read().acquisition[name].get_data_in_units() * 1e6


@pytest.fixture
def scaled_nwb(tmp_path):
    """conversion, per-channel conversion and an offset (NWB ≥ 2.4), regular sampling."""
    data = synthetic_int16(3000, N_CHANNELS)
    return _write(tmp_path / "scaled.nwb", [{
        "name": "raw", "data": data, "starting_time": 1.5, "rate": 30000.0, "conversion": 2e-7,
        "channel_conversion": GAINS, "offset": -3e-5}]), data


def test_gains_offset_and_time_from_pynwb_file(scaled_nwb):
    path, _ = scaled_nwb
    df = open_datafile(path)
    assert df.description == "nwb" and df.shape == (3000, N_CHANNELS)
    assert df.sampling_rate == 30000.0 and df.data_dtype == "int16"
    assert df.t_start == 45000                      # 1.5 s at 30 kHz
    np.testing.assert_allclose(df.channel_gains, 2e-7 * GAINS * 1e6)
    assert df.gain == pytest.approx(0.2)
    expected = _in_microvolts(path, "raw")
    np.testing.assert_allclose(df.read_range(0, 3000), expected, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(df.read_range(700, 750, nodes=[5, 0, 3]), expected[700:750][:, [5, 0, 3]],
                               rtol=1e-5, atol=1e-3)


def test_uniform_offset_becomes_dtype_offset(tmp_path):
    data = synthetic_int16(2000, N_CHANNELS)
    path = _write(tmp_path / "offset.nwb", [{"name": "raw", "data": data, "rate": 20000.0, "conversion": 1e-6,
                                                  "offset": 2.5e-4}])
    df = open_datafile(path, {}, "nwb")
    assert df.gain == pytest.approx(1.0) and df.dtype_offset == pytest.approx(-250.0)
    np.testing.assert_allclose(df.read_range(0, 2000), _in_microvolts(path, "raw"), rtol=1e-6, atol=1e-3)


def test_conformance_with_per_channel_gains(scaled_nwb, tmp_path):
    path, _ = scaled_nwb
    assert_conforms(path, "nwb", {}, None, expected=_in_microvolts(path, "raw"), scratch_dir=str(tmp_path))


def test_timestamps_give_rate_and_t_start(tmp_path):
    data = synthetic_int16(1000, N_CHANNELS)
    stamps = 12.0 + np.arange(1000) / 25000.0
    path = _write(tmp_path / "stamps.nwb", [{"name": "raw", "data": data, "timestamps": stamps}])
    df = open_datafile(path, {}, "nwb")
    assert df.sampling_rate == pytest.approx(25000.0)
    assert df.t_start == 300000 and df.gain == pytest.approx(1e6)
    np.testing.assert_array_equal(df.read_range(10, 20), data[10:20] * np.float32(1e6))


def test_electrode_positions(scaled_nwb):
    df = open_datafile(scaled_nwb[0], {}, "nwb")
    expected = np.array([[16.0 * (k % 2), 20.0 * k] for k in range(N_CHANNELS)])
    np.testing.assert_array_equal(df.channel_positions(), expected)


def test_series_choice_and_single_file_streams(tmp_path):
    first, second = synthetic_int16(1200, N_CHANNELS, seed=1), synthetic_int16(800, N_CHANNELS, seed=2)
    path = _write(tmp_path / "two.nwb", [
        {"name": "a_first", "data": first, "starting_time": 0.0, "rate": 1000.0, "conversion": 1e-6},
        {"name": "b_second", "data": second, "starting_time": 0.5, "rate": 1000.0, "conversion": 1e-6}])
    df = open_datafile(path, {"electrical_series_path": "b_second"}, "nwb")
    assert df.electrical_series_path == "/acquisition/b_second" and df.duration == 800
    both = open_datafile(path, {}, "nwb", "single-file")
    assert both.nb_streams == 2 and both.duration == 2000
    # the second series starts at 0.5 s, inside the first one: it is placed right after it.
    assert [s.t_start for s in both.streams] == [0, 1200]
    np.testing.assert_array_equal(both.read_range(1150, 1250), np.concatenate([first, second])[1150:1250])
    assert_conforms(path, "nwb", {}, "single-file", expected=np.concatenate([first, second]),
                    scratch_dir=str(tmp_path))
    with pytest.raises(HeaderError, match="electrical_series_path"):
        open_datafile(path, {"electrical_series_path": "missing"}, "nwb")


def test_processing_series_are_streams_and_rates_must_agree(tmp_path):
    data = synthetic_int16(500, N_CHANNELS)
    path = _write(tmp_path / "lfp.nwb", [{"name": "raw", "data": data, "rate": 30000.0}],
                  processing=[{"name": "lfp", "data": data[:100], "rate": 1000.0}])
    lfp = open_datafile(path, {"electrical_series_path": "/processing/ecephys/LFP/lfp"}, "nwb")
    assert lfp.sampling_rate == 1000.0 and lfp.duration == 100
    with pytest.raises(ShapeMismatchError, match="electrical_series_path=/processing/ecephys/LFP/lfp has "
                                                 "sampling_rate 1000.0"):
        open_datafile(path, {}, "nwb", "single-file")


def test_sniff_picks_nwb(scaled_nwb):
    assert guess_format(scaled_nwb[0]) == "nwb"


def test_corrupt_headers_name_the_problem(scaled_nwb, tmp_path):
    path, _ = scaled_nwb
    with h5py.File(path, "r+") as h5file:
        del h5file["acquisition/raw/starting_time"]
    with pytest.raises(HeaderError, match="scaled.nwb.*neither starting_time nor timestamps"):
        open_datafile(path, {}, "nwb")
    rank3 = str(tmp_path / "rank3.nwb")
    with h5py.File(rank3, "w") as h5file:
        group = h5file.create_group("acquisition/raw")
        group.attrs["neurodata_type"] = "ElectricalSeries"
        group.create_dataset("data", data=np.zeros((10, 2, 2), dtype=np.int16))
    with pytest.raises(HeaderError, match=r"rank3.nwb.*shape \(10, 2, 2\)"):
        open_datafile(rank3, {}, "nwb")


def test_truncated_file_raises_header_error(scaled_nwb, tmp_path):
    path, _ = scaled_nwb
    cut = tmp_path / "cut.nwb"
    with open(path, "rb") as source:
        cut.write_bytes(source.read(3000))
    with pytest.raises(HeaderError, match="cut.nwb"):
        open_datafile(str(cut), {}, "nwb")


@pytest.mark.parametrize("chunks", [None, (64, 4)])
@pytest.mark.parametrize("time_axis", [0, 1])
def test_read_window_any_channel_order(tmp_path, chunks, time_axis):
    """The shared HDF5 window reader: slab or point selection, any order, repeats, both layouts."""
    from app.io.formats.nwb import read_window
    data = synthetic_int16(500, 40)
    stored = data if time_axis == 0 else data.T.copy()
    with h5py.File(tmp_path / "w.h5", "w") as h5file:
        h5file.create_dataset("d", data=stored, chunks=None if chunks is None else chunks[::1 - 2 * time_axis])
    with h5py.File(tmp_path / "w.h5", "r") as h5file:
        dataset = h5file["d"]
        for nodes in ([39, 0], [5, 30, 5, 2], list(range(0, 40, 9))[::-1], [17], None):
            expected = data[100:180] if nodes is None else data[100:180][:, nodes]
            np.testing.assert_array_equal(read_window(dataset, 100, 180, nodes, time_axis), expected)


def test_hdf5_sniffers_leave_other_layouts_alone(tmp_path):
    """A plain HDF5 dataset is none of nwb/arf/brw/maxwell/nix; a damaged one makes no sniffer fail."""
    from app.io.sniff import rank_formats
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as h5file:
        h5file.create_dataset("traces", data=np.zeros((100, 4), dtype=np.int16))
    mine = {"nwb", "arf", "brw", "maxwell", "nix"}
    assert not mine & {c.name for c in rank_formats(str(plain)) if c.score > 0.5}
    damaged = tmp_path / "damaged.nwb"
    damaged.write_bytes(plain.read_bytes()[:1500])
    assert all(c.score <= 0.5 for c in rank_formats(str(damaged)) if c.name in mine)
