import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from app.io import DataFileError, HeaderError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from tests.io.writers_binary import rhd_header
from tests.io.writers_more import bit_flipped_copies, write_intan_dat

GAIN = np.float32(0.195)


def int16(samples: int, channels: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-32768, 32768, (samples, channels)).astype(np.int16)


@pytest.mark.parametrize("kind", ["rhd", "rhs"])
@pytest.mark.parametrize("layout", ["signal", "channel"])
def test_amplifier_samples_in_both_layouts(tmp_path, kind, layout):
    amp = int16(1000, 5)
    adc = np.random.default_rng(1).integers(0, 65536, (1000, 2)).astype(np.uint16)
    info = write_intan_dat(tmp_path / "session", layout, amp, kind, first_timestamp=3000, analog_in=adc)
    for path in (info, str(tmp_path / "session"),
                 str(tmp_path / "session" / ("amplifier.dat" if layout == "signal" else "amp-A-003.dat"))):
        assert guess_format(path) == "intan_dat", path
        df = open_datafile(path)
        assert df.shape == (1000, 5) and df.t_start == 3000
        assert (df.data_dtype, df.dtype_offset, df.gain, df.sampling_rate) == ("int16", 0, 0.195, 30000.0)
        np.testing.assert_array_equal(df.read_range(0, 1000), amp.astype(np.float32) * GAIN)
        np.testing.assert_array_equal(df.read_range(10, 20, nodes=[4, 0]), amp[10:20][:, [4, 0]] * GAIN)
    analog = open_datafile(info, {"signal": "analog_in"})
    gain = 312.5 if kind == "rhs" else 50.354          # RHD eval_board_mode 0: 50.354 µV x raw
    offset = 32768 if kind == "rhs" else 0
    np.testing.assert_allclose(analog.read_range(0, 1000), gain * (adc.astype(np.float64) - offset), rtol=1e-6)


@pytest.mark.parametrize("kind", ["rhd", "rhs"])
@pytest.mark.parametrize("layout", ["signal", "channel"])
def test_same_samples_and_gains_as_neo(tmp_path, kind, layout):
    neo_rawio = pytest.importorskip("neo.rawio")
    amp = int16(600, 4, 2)
    info = write_intan_dat(tmp_path / "s", layout, amp, kind)
    reader = neo_rawio.IntanRawIO(filename=info)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader.parse_header()
    channels = reader.header["signal_channels"]
    neo_amp = channels[channels["stream_id"] == "0"]
    neo_raw = reader.get_analogsignal_chunk(0, 0, 0, 600, stream_index=0)
    df = open_datafile(info)
    np.testing.assert_array_equal(neo_raw, amp)
    np.testing.assert_allclose(df.channel_gains, neo_amp["gain"])
    np.testing.assert_allclose(neo_amp["offset"], 0)
    np.testing.assert_allclose(df.read_range(0, 600),
                               reader.rescale_signal_raw_to_float(neo_raw, dtype="float64", stream_index=0), atol=1e-3)


@pytest.mark.parametrize("layout", ["signal", "channel"])
def test_conformance(tmp_path, layout):
    amp = int16(20000, 3, 3)
    info = write_intan_dat(tmp_path / "s", layout, amp, "rhs")
    assert_conforms(info, "intan_dat", {}, None, expected=amp * GAIN, scratch_dir=str(tmp_path))


def test_missing_channel_file_is_left_out(tmp_path):
    amp = int16(100, 4)
    info = write_intan_dat(tmp_path / "s", "channel", amp)
    os.unlink(tmp_path / "s" / "amp-A-001.dat")
    df = open_datafile(info)
    assert df.channel_names == ["A-000", "A-002", "A-003"]
    np.testing.assert_array_equal(df.read_range(0, 100), amp[:, [0, 2, 3]] * GAIN)


def test_header_only_rhd_points_to_intan_dat(tmp_path):
    info = write_intan_dat(tmp_path / "s", "signal", int16(10, 2))
    with pytest.raises(HeaderError, match="file_format=intan_dat"):
        open_datafile(info, file_format="rhd")


def test_missing_info_and_missing_data_are_header_errors(tmp_path):
    folder = tmp_path / "s"
    write_intan_dat(folder, "signal", int16(10, 2))
    os.unlink(folder / "amplifier.dat")
    with pytest.raises(HeaderError, match="neither amplifier.dat"):
        open_datafile(str(folder / "info.rhd"), file_format="intan_dat")
    os.unlink(folder / "info.rhd")
    with pytest.raises(HeaderError, match="no info.rhd or info.rhs"):
        open_datafile(str(folder / "time.dat"), file_format="intan_dat")


@pytest.mark.parametrize("kind", ["rhd", "rhs"])
def test_bit_flipped_and_truncated_info_raise_typed_errors(tmp_path, kind):
    info = write_intan_dat(tmp_path / "s", "signal", int16(64, 3), kind)
    size = os.path.getsize(info)
    original = Path(info).read_bytes()
    for damaged, bit in bit_flipped_copies(info, size, 120, folder=tmp_path):
        os.replace(damaged, info)
        try:
            df = open_datafile(info, file_format="intan_dat")
            df.read_range(0, min(df.duration, 10))
        except DataFileError:
            pass
        except Exception as error:  # noqa: BLE001
            pytest.fail(f"bit {bit}: {type(error).__name__}: {error}")
        Path(damaged).touch()              # the generator removes its copy
    for cut in range(0, size, 11):
        Path(info).write_bytes(original[:cut])
        with pytest.raises(HeaderError, match=f"info.{kind}"):
            open_datafile(info, file_format="intan_dat")


def test_header_bytes_match_rhd_writer(tmp_path):
    info = write_intan_dat(tmp_path / "s", "signal", int16(8, 2))
    assert Path(info).read_bytes() == rhd_header((3, 0), 30000.0, 2)
