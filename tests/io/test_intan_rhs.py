import os
import struct
import warnings

import numpy as np
import pytest

from app.io import DataFileError, HeaderError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from tests.io.writers_more import bit_flipped_copies, rhs_block_bytes, rhs_header, write_rhs

GAIN = np.float32(0.195)


def uint16(samples: int, channels: int, seed: int = 0, high: int = 65536) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, (samples, channels)).astype(np.uint16)


def expected_uv(raw: np.ndarray) -> np.ndarray:
    return (raw.astype(np.float32) - 32768) * GAIN


@pytest.mark.parametrize("dc_saved", [True, False])
def test_amplifier_samples_between_the_other_signals(tmp_path, dc_saved):
    amp, dc, adc = uint16(128 * 5, 5), uint16(128 * 5, 5, 1, 1024), uint16(128 * 5, 2, 2)
    path = write_rhs(tmp_path / "rec.rhs", amp, dc=dc if dc_saved else None, stim=uint16(128 * 5, 5, 3),
                     adc=adc, dac=adc[:, :1], digital_in=2, digital_out=1, disabled_amplifier=2,
                     first_timestamp=256)
    df = open_datafile(path)
    assert df.description == "intan_rhs"
    assert df.shape == (128 * 5, 5) and df.t_start == 256
    assert (df.sampling_rate, df.data_dtype, df.dtype_offset, df.gain) == (30000.0, "uint16", 32768, 0.195)
    assert df.channel_names == [f"A-{k:03d}" for k in range(5)]
    np.testing.assert_array_equal(df.read_range(0, 128 * 5), expected_uv(amp))
    np.testing.assert_array_equal(df.read_range(100, 300, nodes=[4, 1]), expected_uv(amp[100:300][:, [4, 1]]))


def test_other_signals_by_param(tmp_path):
    amp, dc, adc = uint16(256, 3), uint16(256, 3, 1, 1024), uint16(256, 2, 2)
    path = write_rhs(tmp_path / "rec.rhs", amp, dc=dc, adc=adc, dac=adc[:, ::-1])
    dc_file = open_datafile(path, {"signal": "dc_amplifier"})
    # Intan: V = -0.01923 * (raw - 512); neo 0.14.6 has +19.23 mV per bit (the opposite sign).
    np.testing.assert_allclose(dc_file.read_range(0, 256), -19230.0 * (dc.astype(np.float64) - 512), rtol=1e-6)
    analog = open_datafile(path, {"signal": "analog_out"})
    np.testing.assert_allclose(analog.read_range(0, 256), 312.5 * (adc[:, ::-1] - 32768.0), rtol=1e-6)
    with pytest.raises(HeaderError, match="no dc_amplifier data"):
        open_datafile(write_rhs(tmp_path / "nodc.rhs", amp), {"signal": "dc_amplifier"})
    with pytest.raises(HeaderError, match="'stim' is not one of"):
        open_datafile(path, {"signal": "stim"})


def test_same_samples_and_gains_as_neo(tmp_path):
    neo_rawio = pytest.importorskip("neo.rawio")
    amp, dc, adc = uint16(128 * 4, 6, 4), uint16(128 * 4, 6, 5, 1024), uint16(128 * 4, 2, 6)
    path = write_rhs(tmp_path / "rec.rhs", amp, dc=dc, adc=adc, digital_in=1, disabled_amplifier=1)
    reader = neo_rawio.IntanRawIO(filename=path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader.parse_header()
    channels = reader.header["signal_channels"]
    neo_amp = channels[channels["stream_id"] == "0"]
    neo_raw = reader.get_analogsignal_chunk(0, 0, 0, 128 * 4, stream_index=0)
    df = open_datafile(path, file_format="intan_rhs")
    np.testing.assert_array_equal(neo_raw, amp)
    np.testing.assert_allclose(df.channel_gains, neo_amp["gain"])
    np.testing.assert_allclose(-df.dtype_offset * df.channel_gains, neo_amp["offset"])
    neo_uv = reader.rescale_signal_raw_to_float(neo_raw, dtype="float64", stream_index=0)
    np.testing.assert_allclose(df.read_range(0, 128 * 4), neo_uv, atol=1e-3)
    assert df.channel_names == list(neo_amp["name"])
    dc_index = list(reader.header["signal_streams"]["id"]).index("10")
    neo_dc = reader.get_analogsignal_chunk(0, 0, 0, 128 * 4, stream_index=dc_index)
    np.testing.assert_array_equal(neo_dc, dc)
    neo_dc_gain = channels[channels["stream_id"] == "10"]["gain"]          # mV per bit, positive
    dc_file = open_datafile(path, {"signal": "dc_amplifier"})
    np.testing.assert_allclose(dc_file.channel_gains, -neo_dc_gain * 1000)  # vendor sign: negative


def test_conformance(tmp_path):
    amp = uint16(128 * 40, 4, 7)
    path = write_rhs(tmp_path / "rec.rhs", amp, dc=uint16(128 * 40, 4, 8, 1024), adc=uint16(128 * 40, 1, 9))
    assert_conforms(path, "intan_rhs", {}, None, expected=expected_uv(amp), scratch_dir=str(tmp_path))


def test_multi_files(tmp_path):
    parts = [uint16(128 * n, 2, n) for n in (2, 3)]
    for k, part in enumerate(parts):
        write_rhs(tmp_path / f"s_{k}.rhs", part, first_timestamp=256 * k)
    df = open_datafile(str(tmp_path / "s_0.rhs"), {}, "intan_rhs", "multi-files")
    assert df.nb_streams == 2
    np.testing.assert_array_equal(df.read_range(0, 128 * 5), expected_uv(np.concatenate(parts)))


def test_sniffed_by_magic(tmp_path):
    path = write_rhs(tmp_path / "recording.bin", uint16(128, 2))
    assert guess_format(path) == "intan_rhs"


def test_truncated_file_keeps_whole_blocks(tmp_path):
    amp = uint16(128 * 3, 2)
    path = write_rhs(tmp_path / "rec.rhs", amp)
    os.truncate(path, os.path.getsize(path) - 10)
    df = open_datafile(path)
    assert df.duration == 256
    np.testing.assert_array_equal(df.read_range(0, 256), expected_uv(amp[:256]))


@pytest.mark.parametrize("damage, words", [
    (lambda p: _poke(p, 0, b"\x00\x00\x00\x00"), "magic number"),
    (lambda p: _poke(p, 4, struct.pack("<h", 42)), "version 42.0"),
    (lambda p: _poke(p, 8, struct.pack("<f", -1.0)), "sample_rate -1.0"),
    (lambda p: os.truncate(p, 30), "ends inside"),
])
def test_corrupt_header_names_file_and_fault(tmp_path, damage, words):
    path = write_rhs(tmp_path / "bad.rhs", uint16(128, 2))
    damage(path)
    with pytest.raises(HeaderError) as caught:
        open_datafile(path, file_format="intan_rhs")
    assert "bad.rhs" in str(caught.value) and words in str(caught.value)


def _poke(path, offset: int, value: bytes) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(value)


def test_bit_flipped_and_truncated_headers_raise_typed_errors(tmp_path):
    path = write_rhs(tmp_path / "rec.rhs", uint16(256, 3), dc=uint16(256, 3, 1, 1024), adc=uint16(256, 1))
    header = len(rhs_header(30000.0, 3, True, 1))
    for damaged, bit in bit_flipped_copies(path, header, 150, folder=tmp_path):
        try:
            df = open_datafile(damaged, file_format="intan_rhs")
            df.read_range(0, min(df.duration, 100))
        except DataFileError:
            pass
        except Exception as error:  # noqa: BLE001
            pytest.fail(f"bit {bit}: {type(error).__name__}: {error}")
    for size in range(0, header, 7):
        os.truncate(path, size)
        with pytest.raises(HeaderError, match="rec.rhs"):
            open_datafile(path, file_format="intan_rhs")


def test_open_reads_no_samples_of_a_long_sparse_file(tmp_path):
    path = write_rhs(tmp_path / "long.rhs", uint16(128, 64), dc=uint16(128, 64))
    block = rhs_block_bytes(64, True)
    os.truncate(path, os.path.getsize(path) - block + 100_000 * block)
    df = open_datafile(path)
    assert df.duration == 100_000 * 128
    np.testing.assert_array_equal(df.read_range(df.duration - 5, df.duration, nodes=[2]),
                                  np.full((5, 1), -32768 * GAIN, np.float32))
