"""nwb: files of named producers whose scaling departs from the schema, read in µV.

The Open Ephys GUI stores each channel's bit-volts in ``channel_conversion`` and again in the
data's ``conversion``; the schema would multiply both. The reference is the vendor's reader,
open-ephys-python-tools, on the GUI's own sample recording (v0.6.7_NWB), and a file written here
with the GUI's layout so the rule is tested offline too.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from app.io import open_datafile
from app.io.formats.nwb import is_open_ephys_gui, producer
from tests.conftest import synthetic_int16
from tests.io.test_format_events import oept_data  # noqa: F401 - the GUI's sample recordings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


def test_open_ephys_gui_sample_matches_open_ephys_tools_in_microvolts(oept_data):  # noqa: F811
    from open_ephys.analysis import Session

    node = Session(str(oept_data / "v0.6.7_NWB")).recordnodes[0]
    reference = node.recordings[0].continuous[0]
    path = next(Path(node.directory).glob("*.nwb"))
    df = open_datafile(str(path))
    with h5py.File(path, "r") as h5file:
        assert is_open_ephys_gui(h5file)
    assert df.description == "nwb"
    np.testing.assert_allclose(df.channel_gains, reference.metadata.bit_volts, rtol=1e-6)
    assert df.gain == pytest.approx(0.05, rel=1e-6)
    channels = np.arange(df.nb_channels)
    expected = reference.get_samples(0, 4000, selected_channels=channels)
    np.testing.assert_allclose(df.read_range(0, 4000), expected, rtol=1e-6, atol=1e-6)


def write_open_ephys_gui_nwb(path: Path, data: np.ndarray, bit_volts: np.ndarray) -> None:
    """The layout the GUI's NWB Format record engine writes (0.6.x): int16 data with
    conversion = bit-volts, channel_conversion = bit-volts per channel, sync + timestamps."""
    with h5py.File(path, "w") as h5file:
        h5file.attrs["nwb_version"] = "2.5.0"
        h5file.attrs["neurodata_type"] = "NWBFile"
        h5file["session_description"] = "Recording with the Open Ephys GUI"
        series = h5file.create_group("acquisition/Acquisition Board-100.Rhythm Data")
        series.attrs["neurodata_type"] = "ElectricalSeries"
        dataset = series.create_dataset("data", data=data)
        dataset.attrs["conversion"] = np.float32(bit_volts[0])
        dataset.attrs["unit"] = "volts"
        series.create_dataset("channel_conversion", data=bit_volts.astype(np.float32))
        series.create_dataset("sync", data=np.arange(len(data), dtype=np.int64) + 1000)
        stamps = series.create_dataset("timestamps", data=(np.arange(len(data)) + 1000) / 30000.0)
        stamps.attrs["interval"] = np.float32(1 / 30000)


def test_open_ephys_gui_layout_applies_channel_conversion_once(tmp_path):
    data = synthetic_int16(3000, 4)
    bit_volts = np.array([1.95e-7, 1.95e-7, 1.95e-7, 3.74e-5])    # headstage, headstage, ..., an AUX
    path = tmp_path / "experiment1.nwb"
    write_open_ephys_gui_nwb(path, data, bit_volts)
    df = open_datafile(str(path))
    np.testing.assert_allclose(df.channel_gains, bit_volts.astype(np.float32) * 1e6, rtol=1e-6)
    expected = data * (bit_volts.astype(np.float32).astype(np.float64) * 1e6)
    np.testing.assert_allclose(df.read_range(0, 3000), expected, rtol=1e-5, atol=1e-4)


def test_other_producers_follow_the_schema(tmp_path):
    """The same layout from another writer: conversion × channel_conversion, as the schema says."""
    data = synthetic_int16(1000, 2)
    path = tmp_path / "other.nwb"
    write_open_ephys_gui_nwb(path, data, np.array([2.0, 4.0]))
    with h5py.File(path, "r+") as h5file:
        del h5file["session_description"]
        h5file["session_description"] = "a custom exporter"
        h5file["acquisition/Acquisition Board-100.Rhythm Data/data"].attrs["conversion"] = np.float32(1e-6)
        assert not is_open_ephys_gui(h5file) and producer(h5file) == "a custom exporter"
    df = open_datafile(str(path))
    np.testing.assert_allclose(df.channel_gains, [2.0, 4.0])


@pytest.mark.parametrize("unit, factor", [("volts", 1e6), ("mV", 1e3), ("uV", 1.0), ("\u03bcV", 1.0)])
def test_data_unit_is_honoured(tmp_path, unit, factor):
    data = synthetic_int16(500, 2)
    path = tmp_path / "unit.nwb"
    write_open_ephys_gui_nwb(path, data, np.array([1.0, 1.0]))
    with h5py.File(path, "r+") as h5file:
        del h5file["session_description"]
        h5file["acquisition/Acquisition Board-100.Rhythm Data/data"].attrs["conversion"] = np.float32(0.5)
        h5file["acquisition/Acquisition Board-100.Rhythm Data/data"].attrs["unit"] = unit
    df = open_datafile(str(path))
    assert df.gain == pytest.approx(0.5 * factor)
