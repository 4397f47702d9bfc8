import numpy as np
import pytest

from app.io import HeaderError, MissingFieldsError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from app.io.sniff import rank_formats
from tests.conftest import synthetic_int16
from tests.io.writers import write_mcs_raw

UINT16 = {"data_dtype": "uint16"}


def uint16_data(n_samples: int, n_channels: int, seed: int = 0) -> np.ndarray:
    return (synthetic_int16(n_samples, n_channels, seed).astype(np.int32) + 32768).astype(np.uint16)


def test_header_gives_rate_offset_gain_and_channels(tmp_path):
    data = uint16_data(2000, 6)
    path = write_mcs_raw(tmp_path / "slice.raw", data, sampling_rate=10000)
    header_bytes = path.read_bytes().index(b"EOH\r\n") + 5
    with open_datafile(str(path), UINT16, "mcs_raw_binary") as df:
        assert (df.sampling_rate, df.nb_channels, df.dtype_offset, df.data_offset) == (10000, 6, 32768,
                                                                                      header_bytes)
        assert df.gain == pytest.approx(0.1)
        assert df.header_fields >= {"sampling_rate", "nb_channels", "dtype_offset", "gain", "data_offset"}
        out = df.read_range(300, 400, nodes=[5, 0])
    expected = (data[300:400][:, [5, 0]].astype(np.float32) - 32768) * np.float32(0.1)
    np.testing.assert_array_equal(out, expected)


def test_two_gains_on_one_line_and_filter_streams(tmp_path):
    data = synthetic_int16(500, 3)
    path = write_mcs_raw(tmp_path / "rec.raw", data, adc_zero=0, names=["El_12", "El_13", "Fi_01"],
                         gain_line="Di = 0.5000µV/AD; El = 0.1950µV/AD")
    df = open_datafile(str(path), {"data_dtype": "int16"}, "mcs_raw_binary")
    assert df.nb_channels == 3 and df.dtype_offset == 0
    assert df.gain == pytest.approx(0.195)
    np.testing.assert_allclose(df.read_range(0, 500), data * 0.195, rtol=1e-6)


def test_gain_in_millivolts_is_kept_in_microvolts(tmp_path):
    path = write_mcs_raw(tmp_path / "rec.raw", uint16_data(100, 2), gain_line="El = 0.0002mV/AD")
    assert open_datafile(str(path), UINT16, "mcs_raw_binary").gain == pytest.approx(0.2)


@pytest.mark.parametrize("dtype, adc_zero", [("uint16", 32768), ("int16", 0)])
def test_conformance(tmp_path, dtype, adc_zero):
    base = synthetic_int16(3000, 5)
    data = (base.astype(np.int32) + adc_zero).astype(dtype)
    path = write_mcs_raw(tmp_path / f"rec_{dtype}.raw", data, adc_zero=adc_zero, gain_line="El = 0.2500µV/AD")
    expected = ((data.astype(np.float64) - adc_zero) * 0.25).astype(np.float32)
    assert_conforms(str(path), "mcs_raw_binary", {"data_dtype": dtype}, expected=expected,
                    scratch_dir=str(tmp_path))


def test_multi_files_three_parts(tmp_path):
    parts = [uint16_data(n, 4, seed=k) for k, n in enumerate((900, 1300, 700))]
    for k, part in enumerate(parts):
        write_mcs_raw(tmp_path / f"run_{k}.raw", part)
    df = open_datafile(str(tmp_path / "run_0.raw"), UINT16, "mcs_raw_binary", "multi-files")
    assert df.nb_streams == 3 and [s.t_start for s in df.streams] == [0, 900, 2200]
    expected = ((np.concatenate(parts).astype(np.float32) - 32768) * np.float32(0.1))
    assert_conforms(str(tmp_path / "run_0.raw"), "mcs_raw_binary", UINT16, "multi-files",
                    expected=expected, scratch_dir=str(tmp_path))


def test_same_samples_as_neo(tmp_path):
    from neo.rawio import RawMCSRawIO
    data = uint16_data(1500, 4)
    path = write_mcs_raw(tmp_path / "rec.raw", data, gain_line="El = 0.1000µV/AD")
    reader = RawMCSRawIO(filename=str(path))
    reader.parse_header()
    neo_raw = reader.get_analogsignal_chunk(0, 0, 0, 1500, stream_index=0)
    channels = reader.header["signal_channels"]
    df = open_datafile(str(path), UINT16, "mcs_raw_binary")
    ours = df.read_range(0, 1500)
    np.testing.assert_array_equal(np.rint(ours / np.float32(df.gain) + df.dtype_offset).astype(np.uint16),
                                  neo_raw)
    np.testing.assert_array_equal(neo_raw, data)
    assert channels["gain"][0] == pytest.approx(df.gain)
    assert channels["offset"][0] == pytest.approx(-df.gain * df.dtype_offset)
    assert reader.get_signal_sampling_rate(0) == df.sampling_rate


def test_missing_dtype_is_the_only_required_field(tmp_path):
    path = write_mcs_raw(tmp_path / "rec.raw", uint16_data(100, 2))
    with pytest.raises(MissingFieldsError) as caught:
        open_datafile(str(path), {}, "mcs_raw_binary")
    assert caught.value.missing == {"data_dtype": "string"}
    assert "rec.raw" in str(caught.value)


def test_header_without_streams_asks_for_nb_channels(tmp_path):
    path = tmp_path / "rec.raw"
    path.write_bytes(b"MC_DataTool binary conversion\r\nSample rate = 20000\r\nADC zero = 32768\r\nEOH\r\n"
                     + uint16_data(10, 3).tobytes())
    with pytest.raises(MissingFieldsError) as caught:
        open_datafile(str(path), UINT16, "mcs_raw_binary")
    assert caught.value.missing == {"nb_channels": "int"}
    assert open_datafile(str(path), {**UINT16, "nb_channels": 3}, "mcs_raw_binary").shape == (10, 3)


@pytest.mark.parametrize("case", ["no_eoh", "eoh_too_late", "cut_header"])
def test_bad_headers_raise_header_error_naming_the_file(tmp_path, case):
    path = write_mcs_raw(tmp_path / "bad.raw", uint16_data(200, 4),
                         end=b"EOH\r\n" if case != "no_eoh" else b"\r\n")
    content = path.read_bytes()
    if case == "eoh_too_late":
        content = content.replace(b"Version", b"Comment = " + b"x" * 5000 + b"\r\nVersion")
    if case == "cut_header":
        content = content[:60]
    path.write_bytes(content)
    with pytest.raises(HeaderError, match="bad.raw.*EOH"):
        open_datafile(str(path), UINT16, "mcs_raw_binary")


def test_sniffing_prefers_mcs_for_its_files_only(tmp_path, make_raw):
    mcs = write_mcs_raw(tmp_path / "rec.dat", uint16_data(100, 2))
    plain = make_raw("plain.dat", synthetic_int16(100, 2))
    unmarked = write_mcs_raw(tmp_path / "unmarked.raw", uint16_data(100, 2), magic=False)
    assert guess_format(str(mcs)) == "mcs_raw_binary"
    assert rank_formats(str(mcs))[0].score > 0.5
    assert guess_format(str(unmarked)) == "mcs_raw_binary"
    assert "mcs_raw_binary" not in [c.name for c in rank_formats(plain)]
