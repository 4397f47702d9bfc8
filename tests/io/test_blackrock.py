import logging
import os
import struct
import warnings

import numpy as np
import pytest

from app.io import HeaderError, MissingFieldsError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from tests.io.writers_binary import write_nsx, write_nsx_21

# Three neural channels in µV (0.25 µV/bit) and one analog input in mV.
RANGES = [((-32764, 32764), (-8191, 8191), "uV")] * 3 + [((-32764, 32764), (-5000, 5000), "mV")]
GAINS_UV = np.array([0.25, 0.25, 0.25, 10000 / 65528 * 1000])


def packets(seed: int = 0, lengths=(700, 500), stamps=(300, 30000)) -> list[tuple[int, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [(stamp, rng.integers(-8000, 8000, (n, 4)).astype(np.int16)) for stamp, n in zip(stamps, lengths)]


def scaled(data: np.ndarray) -> np.ndarray:
    return (data.astype(np.float64) * GAINS_UV).astype(np.float32)


@pytest.mark.parametrize("spec", [(2, 2), (2, 3), (3, 0)])
def test_first_segment_by_default_with_gains(tmp_path, spec, caplog):
    data = packets()
    path = write_nsx(tmp_path / "rec.ns5", data, spec, 1, RANGES)
    with caplog.at_level(logging.INFO, logger="wavescope"):
        df = open_datafile(path)
    assert df.description == "blackrock" and df.nb_streams == 1
    assert df.shape == (700, 4) and df.t_start == 300
    assert (df.sampling_rate, df.data_dtype, df.dtype_offset) == (30000.0, "int16", 0)
    np.testing.assert_allclose(df.channel_gains, GAINS_UV)
    np.testing.assert_allclose(df.read_range(0, 700), scaled(data[0][1]), rtol=1e-6)
    np.testing.assert_allclose(df.read_range(10, 20, nodes=[3, 1]), scaled(data[0][1])[10:20][:, [3, 1]],
                               rtol=1e-6)
    assert df.get_description()["nb_segments"] == 2
    assert any("2 segments" in record.message for record in caplog.records)


def test_pauses_are_separate_streams(tmp_path):
    data = packets(lengths=(700, 500, 300), stamps=(0, 30000, 90000))
    path = write_nsx(tmp_path / "rec.ns6", data, (2, 3), 1, RANGES)
    df = open_datafile(path, {}, "blackrock", "segments")
    assert df.nb_streams == 3
    assert [s.t_start for s in df.streams] == [0, 30000, 90000]
    assert [s.duration for s in df.streams] == [700, 500, 300]
    whole = np.concatenate([scaled(d) for _, d in data])
    np.testing.assert_allclose(df.read_range(0, 1500), whole, rtol=1e-6)


def test_period_gives_the_rate_and_the_timeline(tmp_path):
    data = packets(stamps=(3000, 60000))
    path = write_nsx(tmp_path / "rec.ns2", data, (2, 3), 30, RANGES)
    df = open_datafile(path, {}, "blackrock", "segments")
    assert df.sampling_rate == 1000.0
    assert [s.t_start for s in df.streams] == [100, 2000]


@pytest.mark.parametrize("spec", [(2, 3), (3, 0)])
def test_same_samples_and_gains_as_neo(tmp_path, spec):
    neo_rawio = pytest.importorskip("neo.rawio")
    data = packets(seed=3)
    path = write_nsx(tmp_path / "rec.ns5", data, spec, 1, RANGES)
    reader = neo_rawio.BlackrockRawIO(filename=path, nsx_to_load=5)     # no .nev needed for signals
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader.parse_header()
    channels = reader.header["signal_channels"]
    df = open_datafile(path, {}, "blackrock", "segments")
    # neo keeps each channel's own unit (the analog input in mV); we give every gain in µV.
    to_uv = np.array([{"uV": 1.0, "mV": 1000.0}[u] for u in channels["units"]])
    np.testing.assert_allclose(channels["gain"] * to_uv, df.channel_gains)
    np.testing.assert_allclose(channels["offset"], 0.0)
    assert reader.header["nb_segment"][0] == df.nb_streams
    for k, stream in enumerate(df.streams):
        raw = reader.get_analogsignal_chunk(0, k, None, None, stream_index=0)
        np.testing.assert_array_equal(raw, data[k][1])
        assert stream.t_start == round(reader.get_signal_t_start(0, k, 0) * 30000)
        neo_values = reader.rescale_signal_raw_to_float(raw, dtype="float64", stream_index=0) * to_uv
        np.testing.assert_allclose(stream.read_range(0, stream.duration), neo_values, rtol=1e-6)


def test_conformance_default_and_segments(tmp_path):
    data = packets(lengths=(3000, 2000))
    path = write_nsx(tmp_path / "rec.ns5", data, (2, 3), 1, RANGES)
    assert_conforms(path, "blackrock", {}, None, expected=scaled(data[0][1]), scratch_dir=str(tmp_path))
    assert_conforms(path, "blackrock", {}, "segments",
                    expected=np.concatenate([scaled(d) for _, d in data]), scratch_dir=str(tmp_path))


def test_neuralsg_needs_the_gain(tmp_path):
    data = np.arange(600 * 3, dtype=np.int16).reshape(600, 3)
    path = write_nsx_21(tmp_path / "old.ns3", data, period=15)
    with pytest.raises(MissingFieldsError) as caught:
        open_datafile(path)
    assert caught.value.missing == {"gain": "float"}
    df = open_datafile(path, {"gain": 0.25})
    assert df.sampling_rate == 2000.0 and df.shape == (600, 3)
    np.testing.assert_array_equal(df.read_range(0, 600), data * np.float32(0.25))
    assert_conforms(path, "blackrock", {"gain": 0.25}, None, expected=data * np.float32(0.25),
                    scratch_dir=str(tmp_path))


def test_sniffed_by_magic(tmp_path):
    path = write_nsx(tmp_path / "recording.bin", packets(), (2, 3), 1, RANGES)
    assert guess_format(path) == "blackrock"


def test_truncated_last_packet_keeps_whole_samples(tmp_path):
    data = packets()
    path = write_nsx(tmp_path / "rec.ns5", data, (2, 3), 1, RANGES)
    os.truncate(path, os.path.getsize(path) - 100 * 8 - 3)
    df = open_datafile(path, {}, "blackrock", "segments")
    assert [s.duration for s in df.streams] == [700, 399]
    np.testing.assert_allclose(df.streams[1].read_range(0, 399), scaled(data[1][1][:399]), rtol=1e-6)


def _write_at(path, offset: int, data: bytes) -> str:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)
    return path


COUNT_AT = 8 + 2 + 4 + 16 + 256 + 4 + 4 + 16


@pytest.mark.parametrize("damage, words", [
    (lambda p: _write_at(p, 0, b"NEURALXX"), "not NEURALCD or NEURALSG"),
    (lambda p: _write_at(p, 8, bytes([9, 9])), "file spec 9.9"),
    (lambda p: _write_at(p, COUNT_AT, struct.pack("<I", 0)), "channel_count 0"),
    (lambda p: _write_at(p, COUNT_AT, struct.pack("<I", 5000)), "bytes in headers"),
    (lambda p: _write_at(p, 314, b"XX"), "extended header 0"),
    (lambda p: _write_at(p, 314 + 66 * 4, b"\x07"), "starts with 7, not 1"),
    (lambda p: os.truncate(p, 200), "basic header"),
    (lambda p: os.truncate(p, 400), "channel headers"),
    (lambda p: os.truncate(p, 314 + 66 * 4), "no data packet"),
])
def test_corrupt_header_names_file_and_fault(tmp_path, damage, words):
    path = write_nsx(tmp_path / "bad.ns5", packets(), (2, 3), 1, RANGES)
    damage(path)
    with pytest.raises(HeaderError) as caught:
        open_datafile(path, file_format="blackrock")
    assert "bad.ns5" in str(caught.value) and words in str(caught.value)
