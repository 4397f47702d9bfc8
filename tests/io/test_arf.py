"""arf: files written by the format's reference library (``arf``, C. D. Meliza), read back.

neo has no ARF reader, so the reference is the data handed to the writer.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from app.io import HeaderError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from tests.conftest import synthetic_int16

arf = pytest.importorskip("arf")

RATE = 20000


def write_arf(path, entries: dict[str, tuple[float, np.ndarray]], units: str = "mV",
              rate: float = RATE, extra=None) -> str:
    """Each entry: (timestamp in s, (time, channels) samples) stored as channels ``pen<k>``,
    plus a spike-time event dataset the reader must ignore."""
    with arf.open_file(str(path), "w") as handle:
        for name, (stamp, data) in entries.items():
            entry = arf.create_entry(handle, name, stamp, animal="bird 7")
            for k in range(data.shape[1]):
                arf.create_dataset(entry, f"pen{k}", data[:, k], units=units, sampling_rate=rate,
                                   datatype=arf.DataTypes.EXTRAC_HP)
            arf.create_dataset(entry, "spikes", np.array([0.01, 0.02]), units="s",
                               datatype=arf.DataTypes.SPIKET)
            if extra:
                extra(entry)
    return str(path)


def test_default_entry_and_channels_in_natural_order(tmp_path):
    data = synthetic_int16(3000, 12)
    path = write_arf(tmp_path / "bird.arf", {"site_1": (1_600_000_000.0, data)})
    df = open_datafile(path)
    assert df.description == "arf" and df.shape == (3000, 12)          # pen10, pen11 after pen9
    assert df.h5_key == "site_1" and df.sampling_rate == RATE and df.gain == 1000.0
    np.testing.assert_array_equal(df.read_range(0, 3000), data * np.float32(1000))
    np.testing.assert_array_equal(df.read_range(10, 30, nodes=[11, 2]), data[10:30][:, [11, 2]] * np.float32(1000))
    assert guess_format(path) == "arf"
    assert_conforms(path, "arf", {}, None, expected=data * 1000.0, scratch_dir=str(tmp_path))


def test_channel_prefix_picks_a_group(tmp_path):
    data = synthetic_int16(500, 3)

    def add_microphone(entry):
        arf.create_dataset(entry, "mic0", np.zeros(1000, dtype=np.float32), units="Pa",
                           sampling_rate=44100, datatype=arf.DataTypes.ACOUSTIC)

    path = write_arf(tmp_path / "mixed.arf", {"e1": (0.0, data)}, extra=add_microphone)
    with pytest.raises(HeaderError, match="mixed.arf.*channel_name"):
        open_datafile(path, {}, "arf")
    df = open_datafile(path, {"channel_name": "pen"}, "arf")
    assert df.nb_channels == 3 and df.get_description()["channel_name"] == "pen"
    np.testing.assert_array_equal(df.read_range(0, 500), data * np.float32(1000))
    assert open_datafile(path, {"channel_name": "mic"}, "arf").sampling_rate == 44100


def test_entries_as_single_file_streams_keep_their_spacing(tmp_path):
    first, second = synthetic_int16(1000, 4, seed=1), synthetic_int16(700, 4, seed=2)
    path = write_arf(tmp_path / "two.arf", {"entry_2": (100.5, second), "entry_1": (100.0, first)},
                     units="V")
    df = open_datafile(path, {}, "arf", "single-file")
    assert [s.h5_key for s in df.streams] == ["entry_1", "entry_2"]
    assert [s.t_start for s in df.streams] == [0, 10000]                 # 0.5 s apart at 20 kHz
    assert df.gain == 1e6
    expected = np.concatenate([first, second]).astype(np.float64) * 1e6
    assert_conforms(path, "arf", {}, "single-file", expected=expected, scratch_dir=str(tmp_path))
    assert open_datafile(path, {"h5_key": "entry_2"}, "arf").duration == 700


def test_wrong_entry_and_missing_rate(tmp_path):
    path = write_arf(tmp_path / "bad.arf", {"e1": (0.0, synthetic_int16(100, 2))})
    with pytest.raises(HeaderError, match="bad.arf.*h5_key to one of e1"):
        open_datafile(path, {"h5_key": "nope"}, "arf")
    with h5py.File(path, "r+") as h5file:
        for name in ("pen0", "pen1"):
            del h5file["e1"][name].attrs["sampling_rate"]
    with pytest.raises(HeaderError, match="bad.arf.*no sampled dataset"):
        open_datafile(path, {}, "arf")


def test_truncated_file(tmp_path):
    path = write_arf(tmp_path / "cut.arf", {"e1": (0.0, synthetic_int16(5000, 2))})
    cut = tmp_path / "cut_short.arf"
    with open(path, "rb") as source:
        cut.write_bytes(source.read(1200))
    with pytest.raises(HeaderError, match="cut_short.arf"):
        open_datafile(str(cut), {}, "arf")
