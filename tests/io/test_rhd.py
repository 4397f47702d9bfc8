import os
import struct
import warnings

import numpy as np
import pytest

from app.io import HeaderError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from tests.io.writers_binary import write_rhd

GAIN = np.float32(0.195)


def amplifier_data(samples: int, channels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 65536, (samples, channels)).astype(np.uint16)


def expected_uv(raw: np.ndarray) -> np.ndarray:
    return (raw.astype(np.float32) - 32768) * GAIN


@pytest.mark.parametrize("version", [(1, 0), (1, 1), (1, 3), (2, 0), (3, 0)])
def test_amplifier_samples_around_other_signals(tmp_path, version):
    block = 128 if version[0] >= 2 else 60
    raw = amplifier_data(block * 7, 5)
    path = write_rhd(tmp_path / "rec.rhd", raw, version, sampling_rate=30000.0, aux=3, supply=1, adc=2,
                     digital_in=3, digital_out=2, temp=2 if version >= (1, 1) else 0, disabled_amplifier=2,
                     first_timestamp=4 * block)
    df = open_datafile(path)
    assert df.description == "rhd"
    assert df.shape == (block * 7, 5)
    assert (df.sampling_rate, df.data_dtype, df.dtype_offset, df.gain) == (30000.0, "uint16", 32768, 0.195)
    assert df.t_start == 4 * block
    np.testing.assert_array_equal(df.read_range(0, block * 7), expected_uv(raw))
    np.testing.assert_array_equal(df.read_range(block - 3, 2 * block + 5, nodes=[4, 0]),
                                  expected_uv(raw[block - 3:2 * block + 5][:, [4, 0]]))
    df.close()


@pytest.mark.parametrize("version", [(1, 3), (2, 0), (3, 0)])
def test_same_samples_and_gains_as_neo(tmp_path, version):
    neo_rawio = pytest.importorskip("neo.rawio")
    block = 128 if version[0] >= 2 else 60
    raw = amplifier_data(block * 4, 6, seed=1)
    # neo 0.14.6 fails with a KeyError on temperature-sensor channels, so this file has none;
    # test_amplifier_samples_around_other_signals covers them against the layout.
    path = write_rhd(tmp_path / "rec.rhd", raw, version, aux=3, supply=1, adc=1, digital_in=2,
                     disabled_amplifier=1)
    reader = neo_rawio.IntanRawIO(filename=path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader.parse_header()
    channels = reader.header["signal_channels"]
    amplifier = channels[channels["stream_id"] == "0"]
    neo_raw = reader.get_analogsignal_chunk(0, 0, 0, block * 4, stream_index=0)
    neo_uv = reader.rescale_signal_raw_to_float(neo_raw, dtype="float64", stream_index=0)
    df = open_datafile(path, file_format="rhd")
    np.testing.assert_array_equal(neo_raw, raw)
    np.testing.assert_allclose(df.channel_gains, amplifier["gain"])
    np.testing.assert_allclose(-df.dtype_offset * df.channel_gains, amplifier["offset"])
    np.testing.assert_allclose(df.read_range(0, block * 4), neo_uv, atol=1e-3)
    assert df.channel_names == list(amplifier["name"])


@pytest.mark.parametrize("version", [(1, 2), (2, 0)])
def test_conformance(tmp_path, version):
    block = 128 if version[0] >= 2 else 60
    raw = amplifier_data(block * 30, 4, seed=2)
    path = write_rhd(tmp_path / "rec.rhd", raw, version, aux=3, supply=1, adc=1, digital_in=1)
    assert_conforms(path, "rhd", {}, None, expected=expected_uv(raw), scratch_dir=str(tmp_path))


def test_multi_files(tmp_path):
    parts = [amplifier_data(128 * n, 3, seed=n) for n in (3, 5)]
    for k, part in enumerate(parts):
        write_rhd(tmp_path / f"session_{k}.rhd", part, (2, 0), first_timestamp=0 if k == 0 else 128 * 3)
    path = str(tmp_path / "session_0.rhd")
    df = open_datafile(path, {}, "rhd", "multi-files")
    assert df.nb_streams == 2 and df.duration == 128 * 8
    np.testing.assert_array_equal(df.read_range(0, 128 * 8), expected_uv(np.concatenate(parts)))
    assert_conforms(path, "rhd", {}, "multi-files", expected=expected_uv(np.concatenate(parts)),
                    scratch_dir=str(tmp_path))


def test_sniffed_by_magic_whatever_the_name(tmp_path):
    path = write_rhd(tmp_path / "recording.bin", amplifier_data(128, 2), (2, 0))
    assert guess_format(path) == "rhd"


def test_truncated_data_keeps_whole_blocks(tmp_path):
    raw = amplifier_data(128 * 4, 3)
    path = write_rhd(tmp_path / "rec.rhd", raw, (2, 0))
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) - 100)
    df = open_datafile(path)
    assert df.duration == 128 * 3
    np.testing.assert_array_equal(df.read_range(0, 128 * 3), expected_uv(raw[:128 * 3]))


def _corrupt(path, offset: int, value: bytes) -> str:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(value)
    return path


NOTE1_LENGTH = 4 + 2 + 2 + 4 + 2 + 6 * 4 + 2 + 2 * 4


@pytest.mark.parametrize("damage, words", [
    (lambda p: _corrupt(p, 0, b"\x00\x00\x00\x00"), "magic number"),
    (lambda p: _corrupt(p, 4, struct.pack("<h", 99)), "version 99.0"),
    (lambda p: _corrupt(p, NOTE1_LENGTH, struct.pack("<I", 0x7FFFFFF0)), "QString note 1"),
    (lambda p: _corrupt(p, NOTE1_LENGTH, struct.pack("<I", 3)), "odd length"),
    (lambda p: os.truncate(p, 40), "ends inside"),
])
def test_corrupt_header_names_file_and_fault(tmp_path, damage, words):
    path = write_rhd(tmp_path / "bad.rhd", amplifier_data(128, 2), (2, 0))
    damage(path)
    with pytest.raises(HeaderError) as caught:
        open_datafile(path, file_format="rhd")
    assert "bad.rhd" in str(caught.value) and words in str(caught.value)


def test_no_amplifier_channel_is_a_header_error(tmp_path):
    path = write_rhd(tmp_path / "empty.rhd", np.zeros((128, 0), np.uint16), (2, 0), adc=2)
    with pytest.raises(HeaderError, match="empty.rhd.*no enabled amplifier channel"):
        open_datafile(path, file_format="rhd")


def test_opening_a_long_file_reads_no_samples(tmp_path):
    path = write_rhd(tmp_path / "long.rhd", amplifier_data(128, 64), (2, 0))
    blocks = 200_000                                  # 25.6 M samples x 64 channels, sparse
    block_bytes = 128 * 4 + 128 * 64 * 2
    header = os.path.getsize(path) - block_bytes
    os.truncate(path, header + blocks * block_bytes)
    df = open_datafile(path)
    assert df.duration == blocks * 128
    tail = df.read_range(df.duration - 10, df.duration, nodes=[3])
    np.testing.assert_array_equal(tail, np.full((10, 1), -32768 * GAIN, np.float32))
