"""brw: BRW 3.x files written with h5py following 3Brain's layout, cross-checked with neo.

neo's BiocamRawIO undoes SignalInversion as ``4096 - raw`` (a 12-bit range hard-coded) where
3Brain's formula negates the converted value; both agree for the symmetric 12-bit range used
here, which is what BioCAM files carry.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from app.io import HeaderError, guess_format, open_datafile
from app.io.conformance import assert_conforms

N_ROWS, N_COLS = 3, 4
N_CHANNELS = N_ROWS * N_COLS


def _frames(n_frames: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ramp = (np.arange(n_frames)[:, None] * 7 + 50 * np.arange(N_CHANNELS)[None, :]) % 4096
    return ((ramp + rng.integers(0, 30, (n_frames, N_CHANNELS))) % 4096).astype(np.uint16)


def write_brw(path, frames: np.ndarray, inversion: float = 1.0, version: int | None = 101,
              max_volt: float = 4125.0, min_volt: float = -4125.0, rate: float = 17852.79) -> str:
    with h5py.File(path, "w") as h5file:
        rec_vars = h5file.create_group("3BRecInfo/3BRecVars")
        for name, value, dtype in (("SamplingRate", rate, "f8"), ("MaxVolt", max_volt, "f8"),
                                   ("MinVolt", min_volt, "f8"), ("BitDepth", 12, "u1"),
                                   ("SignalInversion", inversion, "f8"), ("NRecFrames", len(frames), "i8")):
            rec_vars.create_dataset(name, data=np.array([value], dtype=dtype))
        grid = np.zeros(N_CHANNELS, dtype=[("Row", "<i2"), ("Col", "<i2")])
        grid["Row"] = 1 + np.arange(N_CHANNELS) // N_COLS
        grid["Col"] = 1 + np.arange(N_CHANNELS) % N_COLS
        h5file.create_dataset("3BRecInfo/3BMeaStreams/Raw/Chs", data=grid)
        flat = np.concatenate([row for row in frames])          # frame after frame, channel fastest
        data = h5file.create_dataset("3BData/Raw", data=flat if version != 100 else frames)
        if version is not None:
            h5file["3BData"].attrs["Version"] = version
        assert data.dtype == np.uint16
    return str(path)


def microvolts(frames: np.ndarray, inversion: float, max_volt=4125.0, min_volt=-4125.0) -> np.ndarray:
    """3Brain's published conversion, independent of the reader's gain/offset mapping."""
    return inversion * (frames.astype(np.float64) * (max_volt - min_volt) / 2 ** 12 + min_volt)


@pytest.mark.parametrize("inversion", [1.0, -1.0])
def test_samples_and_gain_follow_3brain_formula(tmp_path, inversion):
    frames = _frames(2000)
    path = write_brw(tmp_path / "rec.brw", frames, inversion)
    df = open_datafile(path)
    assert df.description == "brw" and df.shape == (2000, N_CHANNELS)
    assert df.sampling_rate == pytest.approx(17852.79) and df.data_dtype == "uint16"
    assert df.gain == pytest.approx(inversion * 8250 / 4096) and df.dtype_offset == 2048
    np.testing.assert_allclose(df.read_range(0, 2000), microvolts(frames, inversion), rtol=1e-6, atol=1e-3)
    np.testing.assert_allclose(df.read_range(500, 520, nodes=[11, 2, 5]),
                               microvolts(frames, inversion)[500:520][:, [11, 2, 5]], rtol=1e-6, atol=1e-3)


@pytest.mark.parametrize("inversion", [1.0, -1.0])
def test_same_samples_and_gains_as_neo(tmp_path, inversion):
    from neo.rawio import BiocamRawIO
    frames = _frames(1500, seed=3)
    path = write_brw(tmp_path / "neo.brw", frames, inversion)
    reader = BiocamRawIO(filename=path)
    reader.parse_header()
    raw = reader.get_analogsignal_chunk(0, 0, 0, 1500, 0)
    theirs = reader.rescale_signal_raw_to_float(raw, dtype="float64", stream_index=0)
    ours = open_datafile(path, {}, "brw").read_range(0, 1500)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-3)
    assert abs(reader.header["signal_channels"]["gain"][0]) == pytest.approx(abs(float(
        open_datafile(path, {}, "brw").gain)))


@pytest.mark.parametrize("version", [101, 100, None])
def test_conformance_flat_and_table_layouts(tmp_path, version):
    frames = _frames(3000, seed=1)
    path = write_brw(tmp_path / f"v{version}.brw", frames, -1.0, version)
    assert_conforms(path, "brw", {}, None, expected=microvolts(frames, -1.0), scratch_dir=str(tmp_path))


def test_grid_positions_and_sniff(tmp_path):
    path = write_brw(tmp_path / "grid.brw", _frames(100))
    df = open_datafile(path, {}, "brw")
    positions = df.channel_positions()
    assert positions.shape == (N_CHANNELS, 2)
    np.testing.assert_array_equal(positions[5], [2, 2])          # channel 5: row 2, column 2
    assert guess_format(path) == "brw"


def test_missing_variable_and_wrong_frame_count(tmp_path):
    path = write_brw(tmp_path / "bad.brw", _frames(100))
    with h5py.File(path, "r+") as h5file:
        del h5file["3BRecInfo/3BRecVars/MaxVolt"]
    with pytest.raises(HeaderError, match="bad.brw.*MaxVolt"):
        open_datafile(path, {}, "brw")
    path = write_brw(tmp_path / "short.brw", _frames(100))
    with h5py.File(path, "r+") as h5file:
        h5file["3BRecInfo/3BRecVars/NRecFrames"][0] = 130
    with pytest.raises(HeaderError, match=r"short.brw.*NRecFrames \(130\)"):
        open_datafile(path, {}, "brw")


def test_brw4_is_refused_clearly(tmp_path):
    path = tmp_path / "v4.brw"
    with h5py.File(path, "w") as h5file:
        h5file.create_dataset("ExperimentSettings", data=[b"{}"])
        h5file.create_dataset("Well_A1/Raw", data=np.zeros(10, dtype=np.int16))
    with pytest.raises(HeaderError, match="v4.brw.*BRW 4.x"):
        open_datafile(str(path), {}, "brw")


def test_truncated_file(tmp_path):
    path = write_brw(tmp_path / "cut.brw", _frames(1000))
    cut = tmp_path / "cut_short.brw"
    with open(path, "rb") as source:
        cut.write_bytes(source.read(1500))
    with pytest.raises(HeaderError, match="cut_short.brw"):
        open_datafile(str(cut), {}, "brw")
