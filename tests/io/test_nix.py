"""nix: files written by neo's NixIO and by nixio (the NIX reference library), cross-checked with
neo's NIXRawIO and nixio's own calibrated reads.

Difference from neo, where we follow NIX: NIXRawIO reports ``sampling_rate = 1 /
sampling_interval`` ignoring the dimension's unit (neo itself writes "1/kHz" intervals, so a
30 kHz signal comes back as 30 "Hz"); we convert the unit. Samples and gains agree.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from app.io import HeaderError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from tests.conftest import synthetic_int16

nixio = pytest.importorskip("nixio")

N_CHANNELS = 5


def write_with_neo(path, parts: list[tuple[float, np.ndarray]], rate_khz: float = 30.0) -> str:
    """One block, one segment per part, each with an AnalogSignal (int16, µV) starting at t0 s."""
    import quantities as pq
    from neo import AnalogSignal, Block, Segment
    from neo.io import NixIO
    block = Block(name="session")
    for k, (t0, data) in enumerate(parts):
        segment = Segment(name=f"trial {k}")
        segment.analogsignals.append(AnalogSignal(data, units="uV", sampling_rate=rate_khz * pq.kHz,
                                                  t_start=t0 * pq.s, name=f"probe {k}"))
        block.segments.append(segment)
    with NixIO(str(path), mode="ow") as io:
        io.write_block(block)
    return str(path)


def write_with_nixio(path, counts: np.ndarray, coefficients=(-5.0, 0.25), origin=10.0) -> str:
    """A 2-D (channels × time) int16 array calibrated to mV, time on the second dimension."""
    handle = nixio.File.open(str(path), nixio.FileMode.Overwrite)
    block = handle.create_block("rig", "recording")
    array = block.create_data_array("lfp", "signal", data=counts)
    array.unit = "mV"
    array.polynom_coefficients = coefficients
    array.expansion_origin = origin
    array.append_set_dimension()
    array.append_sampled_dimension(0.05, label="time", unit="ms", offset=2.0)
    handle.close()
    return str(path)


def nixio_values(path) -> np.ndarray:
    handle = nixio.File.open(str(path), nixio.FileMode.ReadOnly)
    values = handle.blocks[0].data_arrays["lfp"][:]
    handle.close()
    return values


def test_neo_signal_matches_nixrawio(tmp_path):
    from neo.rawio import NIXRawIO
    data = synthetic_int16(2000, N_CHANNELS)
    path = write_with_neo(tmp_path / "neo.nix", [(0.0, data), (1.0, synthetic_int16(2000, N_CHANNELS, 1))])
    reader = NIXRawIO(str(path))
    reader.parse_header()
    theirs = reader.rescale_signal_raw_to_float(reader.get_analogsignal_chunk(0, 0, 0, 2000, 0),
                                                dtype="float64", stream_index=0)
    df = open_datafile(path)
    assert df.description == "nix" and df.shape == (2000, N_CHANNELS) and df.data_dtype == "int16"
    assert df.sampling_rate == pytest.approx(30000.0)
    assert reader.header["signal_channels"]["sampling_rate"][0] == pytest.approx(30.0)   # unit dropped
    assert df.gain == pytest.approx(reader.header["signal_channels"]["gain"][0]) == 1.0
    np.testing.assert_array_equal(df.read_range(0, 2000), theirs.astype(np.float32))
    np.testing.assert_array_equal(df.read_range(0, 2000), data.astype(np.float32))
    assert guess_format(path) == "nix"


def test_segments_as_single_file_streams(tmp_path):
    first, second = synthetic_int16(1500, N_CHANNELS, 2), synthetic_int16(1000, N_CHANNELS, 3)
    path = write_with_neo(tmp_path / "two.nix", [(0.0, first), (1.0, second)])
    df = open_datafile(path, {}, "nix", "single-file")
    assert df.nb_streams == 2 and [s.t_start for s in df.streams] == [0, 30000]
    assert_conforms(path, "nix", {}, "single-file", expected=np.concatenate([first, second]),
                    scratch_dir=str(tmp_path))
    assert_conforms(path, "nix", {}, None, expected=first, scratch_dir=str(tmp_path))


def test_two_dimensional_array_with_calibration(tmp_path):
    counts = synthetic_int16(3000, 4, 4).T.copy()                       # channels × time
    path = write_with_nixio(tmp_path / "lfp.nix", counts)
    df = open_datafile(path, {}, "nix")
    assert df.shape == (3000, 4) and df.sampling_rate == pytest.approx(20000.0)
    assert df.t_start == 40                                             # 2 ms at 20 kHz
    assert df.gain == pytest.approx(250.0) and df.dtype_offset == pytest.approx(30.0)
    expected = nixio_values(path).T * 1000.0                           # nixio's calibrated mV -> µV
    np.testing.assert_allclose(df.read_range(0, 3000), expected, rtol=1e-6, atol=1e-3)
    np.testing.assert_allclose(df.read_range(100, 140, nodes=[3, 1]), expected[100:140][:, [3, 1]],
                               rtol=1e-6, atol=1e-3)
    assert_conforms(path, "nix", {}, None, expected=expected, scratch_dir=str(tmp_path))


def test_choices_and_corrupt_headers(tmp_path):
    path = write_with_nixio(tmp_path / "bad.nix", synthetic_int16(100, 2).T.copy(), coefficients=(0, 1, 0.5))
    with pytest.raises(HeaderError, match="bad.nix.*polynom_coefficients"):
        open_datafile(path, {}, "nix")
    path = write_with_nixio(tmp_path / "ok.nix", synthetic_int16(100, 2).T.copy())
    with pytest.raises(HeaderError, match="ok.nix.*set block to one of rig"):
        open_datafile(path, {"block": "nope"}, "nix")
    with pytest.raises(HeaderError, match="ok.nix.*set data_array to one of lfp"):
        open_datafile(path, {"data_array": "nope"}, "nix")
    with h5py.File(path, "r+") as h5file:
        del h5file["data/rig/data_arrays/lfp/dimensions/2"].attrs["sampling_interval"]
    with pytest.raises(HeaderError, match="ok.nix.*sampling_interval"):
        open_datafile(path, {}, "nix")


def test_truncated_file(tmp_path):
    path = write_with_nixio(tmp_path / "cut.nix", synthetic_int16(5000, 2).T.copy())
    cut = tmp_path / "cut_short.nix"
    with open(path, "rb") as source:
        cut.write_bytes(source.read(4000))
    with pytest.raises(HeaderError, match="cut_short.nix"):
        open_datafile(str(cut), {}, "nix")


@pytest.mark.parametrize("units, dtype", [("V", "float64"), ("mV", "float32"), ("uV", "int16")])
def test_neo_nixio_signal_reads_as_neo_reads_it_in_microvolts(tmp_path, units, dtype):
    """A sine of known µV amplitude written by neo's NixIO in V, mV or µV, under the names neo
    generates (neo.block.<id>, neo.analogsignal.<id>.<k>); read back as neo.io.NixIO reads it."""
    import quantities as pq
    from neo import AnalogSignal, Block, Segment
    from neo.io import NixIO
    amplitude_uv = np.array([120.0, 80.0, 40.0])
    sine = np.sin(2 * np.pi * 50 * np.arange(3000) / 25000.0)[:, None] * amplitude_uv
    scale = {"V": 1e-6, "mV": 1e-3, "uV": 1.0}[units]
    block, segment = Block(name="session 1"), Segment(name="trial")
    segment.analogsignals.append(AnalogSignal(np.round(sine * scale, 9).astype(dtype) if dtype != "int16"
                                              else np.round(sine).astype(dtype), units=units,
                                              sampling_rate=25 * pq.kHz, t_start=0.5 * pq.s, name="probe A"))
    block.segments.append(segment)
    path = str(tmp_path / "neo.nix")
    with NixIO(path, mode="ow") as io:
        io.write_block(block)
    with NixIO(path, mode="ro") as io:
        theirs = io.read_block().segments[0].analogsignals[0]
    expected = theirs.rescale("uV").magnitude
    for params in ({}, {"block": "session 1", "data_array": "probe A"}):
        df = open_datafile(path, params)
        assert df.description == "nix" and df.block.startswith("neo.block.")
        assert df.sampling_rate == pytest.approx(float(theirs.sampling_rate.rescale("Hz")))
        assert df.t_start == round(float(theirs.t_start.rescale("s")) * df.sampling_rate) == 12500
        np.testing.assert_allclose(df.read_range(0, 3000), expected, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(df.read_range(0, 3000).max(axis=0), amplitude_uv, rtol=1e-3)
