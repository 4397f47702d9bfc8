import warnings

import h5py
import numpy as np
import pytest

from app.io import DataFileError, HeaderError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from tests.io.writers_more2 import write_mcs_h5

FACTOR, EXPONENT = 59605, -12          # 0.059605 µV per bit, as MC_Rack/DataManager write for MEA amps


def electrode_stream(samples: int = 3000, channels: int = 5, seed: int = 0, **extra) -> dict:
    rng = np.random.default_rng(seed)
    data = rng.integers(-20000, 20000, (channels, samples)).astype(np.int32)
    return {"data": data, "rows": [3, 0, 4, 1, 2][:channels], "tick": 40, "factor": FACTOR,
            "exponent": EXPONENT, **extra}


def aux_stream(samples: int = 1200) -> dict:
    rng = np.random.default_rng(9)
    data = rng.integers(0, 65535, (2, samples)).astype(np.uint16)
    return {"data": data, "tick": 100, "factor": [305, 610], "exponent": -6, "adzero": [32768, 32000],
            "unit": "V", "subtype": "Auxiliary"}


def physical_uv(spec: dict) -> np.ndarray:
    count = spec["data"].shape[0]
    factor = np.broadcast_to(np.asarray(spec.get("factor", FACTOR), dtype=np.float64), (count,))
    zero = np.broadcast_to(np.asarray(spec.get("adzero", 0), dtype=np.float64), (count,))
    step = factor * 10.0 ** spec.get("exponent", EXPONENT) * 1e6
    return ((spec["data"].astype(np.float64) - zero[:, None]) * step[:, None]).T


@pytest.fixture
def two_streams(tmp_path):
    streams = [electrode_stream(), aux_stream()]
    return str(write_mcs_h5(tmp_path / "rec.h5", streams)), streams


def test_stream_with_row_index_and_gain(two_streams):
    path, streams = two_streams
    df = open_datafile(path)
    assert df.description == "mcs_h5" and df.shape == (3000, 5)
    assert (df.sampling_rate, df.data_dtype, df.dtype_offset) == (25000.0, "int32", 0)
    assert df.gain == pytest.approx(0.059605)
    assert df.channel_names == ["E12", "E13", "E14", "E15", "E16"]
    np.testing.assert_allclose(df.read_range(0, 3000), physical_uv(streams[0]), rtol=1e-6)
    np.testing.assert_allclose(df.read_range(100, 400, nodes=[4, 0, 2]), physical_uv(streams[0])[100:400][:, [4, 0, 2]],
                               rtol=1e-6)


def test_each_analog_stream_is_a_stream(two_streams):
    path, streams = two_streams
    aux = open_datafile(path, {"stream_index": 1}, "mcs_h5")
    assert aux.sampling_rate == 10000.0 and aux.shape == (1200, 2) and aux.data_dtype == "uint16"
    np.testing.assert_allclose(aux.channel_offsets, [32768, 32000])
    np.testing.assert_allclose(aux.read_range(0, 1200), physical_uv(streams[1]), rtol=1e-6)
    with pytest.raises(HeaderError, match="stream_index 2") as caught:
        open_datafile(path, {"stream_index": 2}, "mcs_h5")
    assert caught.value.candidates == ["Stream_0", "Stream_1"]


def test_same_values_as_mcspydatatools(two_streams):
    mcs = pytest.importorskip("McsPy.McsData")
    path, _ = two_streams
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw_data = mcs.RawData(path)
        recording = raw_data.recordings[0]
        for index, stream in recording.analog_streams.items():
            df = open_datafile(path, {"stream_index": index}, "mcs_h5")
            ours = df.read_range(0, df.duration)
            by_row = sorted(stream.channel_infos.values(), key=lambda info: info.channel_id)
            for column, info in enumerate(by_row):
                values, unit = stream.get_channel_in_range(info.channel_id, 0, df.duration - 1)
                assert str(unit) == "volt"
                np.testing.assert_allclose(ours[:, column], values * 1e6, rtol=1e-5, atol=1e-3)
                assert df.sampling_rate == pytest.approx(info.sampling_frequency.magnitude)
        raw_data.h5_file.close()


def test_gaps_in_timestamps_are_segments(tmp_path):
    spec = electrode_stream(samples=2000, blocks=[[400, 0, 1199], [100000, 1200, 1999]])
    path = str(write_mcs_h5(tmp_path / "gaps.h5", [spec]))
    df = open_datafile(path, {}, "mcs_h5", "segments")
    assert df.nb_streams == 2 and [s.duration for s in df.streams] == [1200, 800]
    assert [s.t_start for s in df.streams] == [10, 2500]
    np.testing.assert_allclose(df.read_range(0, 2000), physical_uv(spec), rtol=1e-6)
    assert open_datafile(path).get_description()["nb_segments"] == 2
    assert_conforms(path, "mcs_h5", {}, "segments", expected=physical_uv(spec).astype(np.float32),
                    scratch_dir=str(tmp_path))


def test_conformance(two_streams, tmp_path):
    path, streams = two_streams
    assert_conforms(path, "mcs_h5", {}, None, expected=physical_uv(streams[0]).astype(np.float32),
                    scratch_dir=str(tmp_path))


def test_recordings_are_chosen_by_number(tmp_path):
    path = str(write_mcs_h5(tmp_path / "two.h5", [electrode_stream()], recordings=2))
    assert open_datafile(path, {"recording": 1}).params["recording"] == 1
    with pytest.raises(HeaderError, match="recording 5"):
        open_datafile(path, {"recording": 5}, "mcs_h5")


def test_sniffed_over_generic_hdf5(two_streams):
    path, _ = two_streams
    assert guess_format(path) == "mcs_h5"


def _edit(path, change) -> None:
    with h5py.File(path, "r+") as h5:
        change(h5)


def _replace_info(h5, field, value):
    info = h5["Data/Recording_0/AnalogStream/Stream_0/InfoChannel"]
    table = info[...]
    table[field] = value
    info[...] = table


def _drop_field(h5):
    group = h5["Data/Recording_0/AnalogStream/Stream_0"]
    table = group["InfoChannel"][...]
    names = [n for n in table.dtype.names if n != "ADZero"]
    del group["InfoChannel"]
    group.create_dataset("InfoChannel", data=table[names])


@pytest.mark.parametrize("change, words", [
    (lambda h5: h5.attrs.__setitem__("McsHdf5ProtocolType", b"CMOS_MEA"), "not 'RawData'"),
    (lambda h5: _replace_info(h5, "Tick", 0), "Tick is [0]"),
    (lambda h5: _replace_info(h5, "RowIndex", 9), "RowIndex"),
    (_drop_field, "lacks ADZero"),
    (lambda h5: h5["Data/Recording_0/AnalogStream/Stream_0/ChannelDataTimeStamps"].__setitem__(
        (0, 2), 99999), "do not fit"),
    (lambda h5: h5["Data/Recording_0/AnalogStream/Stream_0"].__delitem__("ChannelData"), "damaged or incomplete"),
])
def test_damaged_layout_names_file_and_fault(two_streams, change, words):
    path, _ = two_streams
    _edit(path, change)
    with pytest.raises(HeaderError) as caught:
        open_datafile(path, {}, "mcs_h5")
    assert "rec.h5" in str(caught.value) and words in str(caught.value)


@pytest.mark.timeout(120)
def test_truncated_and_bit_flipped_files_raise_typed_errors(two_streams, tmp_path):
    path, _ = two_streams
    with open(path, "rb") as handle:
        original = handle.read()
    rng = np.random.default_rng(3)
    for trial in range(40):
        damaged = bytearray(original[: len(original) if trial % 2 else int(rng.integers(8, len(original)))])
        for _ in range(4):
            position = int(rng.integers(0, min(len(damaged), 4096)))
            damaged[position] ^= 1 << int(rng.integers(0, 8))
        target = tmp_path / f"bad{trial}.h5"
        target.write_bytes(bytes(damaged))
        try:
            df = open_datafile(str(target), {}, "mcs_h5")
            df.read_range(0, df.duration)
        except DataFileError:
            pass
