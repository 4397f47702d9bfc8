"""maxwell: MaxOne/MaxTwo files written with h5py following MaxWell's layouts, cross-checked with neo.

Where neo's MaxwellRawIO differs from the vendor, we follow the vendor:
- neo applies no offset to the 10-bit ADC counts; MaxWell's samples centre on 512, so our
  values are neo's minus 512 × gain (same gain, same shape of signal);
- for legacy files neo reads rows 0..n-1 of ``sig`` whatever channel numbers ``mapping`` names;
  the rows of ``sig`` are channel numbers, so we read the mapped rows (the neo comparison uses a
  mapping of channels 0..n-1, where both agree).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from app.io import HeaderError, guess_format, open_datafile
from app.io.conformance import assert_conforms

LSB = 6.294e-6          # volts per bit


def _counts(n_rows: int, n_frames: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    wave = 512 + ((np.arange(n_frames)[None, :] + 13 * np.arange(n_rows)[:, None]) % 200) - 100
    return (wave + rng.integers(-20, 20, (n_rows, n_frames))).astype(np.uint16)


def _mapping(channels, electrodes=None) -> np.ndarray:
    table = np.zeros(len(channels), dtype=[("channel", "<i4"), ("electrode", "<i4"), ("x", "<f8"),
                                           ("y", "<f8")])
    table["channel"] = channels
    table["electrode"] = electrodes if electrodes is not None else 1000 + np.asarray(channels)
    table["x"] = 17.5 * np.asarray(channels)
    table["y"] = 35.0 + np.asarray(channels)
    return table


def write_legacy(path, sig: np.ndarray, channels) -> str:
    with h5py.File(path, "w") as h5file:
        h5file.create_dataset("version", data=np.array([b"20160704"]))
        h5file.create_dataset("sig", data=sig)
        h5file.create_dataset("settings/lsb", data=np.array([LSB]))
        h5file.create_dataset("mapping", data=_mapping(channels))
    return str(path)


def write_newer(path, recordings: dict[str, np.ndarray], routed_channels=None, rate=10000.0) -> str:
    """`recordings/<rec>/well000` with `wells/well000/<rec>` linking to the same group, as
    MaxLab Live writes them."""
    with h5py.File(path, "w") as h5file:
        h5file.create_dataset("version", data=np.array([b"20190530"]))
        for k, (rec, raw) in enumerate(recordings.items()):
            group = h5file.create_group(f"recordings/{rec}/well000")
            group.create_dataset("groups/routed/raw", data=raw, chunks=(raw.shape[0], min(256, raw.shape[1])))
            group.create_dataset("groups/routed/frame_nos", data=5000 * k + np.arange(raw.shape[1]))
            channels = np.arange(raw.shape[0]) if routed_channels is None else np.asarray(routed_channels)
            group.create_dataset("groups/routed/channels", data=channels)
            group.create_dataset("settings/sampling", data=np.array([rate]))
            group.create_dataset("settings/lsb", data=np.array([LSB]))
            group.create_dataset("settings/mapping", data=_mapping(np.sort(channels)))
            h5file[f"wells/well000/{rec}"] = group
    return str(path)


def microvolts(counts: np.ndarray) -> np.ndarray:
    """MaxWell's conversion: (counts - 512) × lsb, in µV, as (time, channels)."""
    return ((counts.astype(np.float64) - 512) * LSB * 1e6).T


def test_legacy_rows_follow_mapping_channels(tmp_path):
    sig = _counts(10, 3000)
    channels = [3, 0, 7, 4]
    path = write_legacy(tmp_path / "legacy.raw.h5", sig, channels + [-1])   # -1: an unrouted entry
    df = open_datafile(path)
    assert df.description == "maxwell" and df.shape == (3000, 4)
    assert df.sampling_rate == 20000.0 and df.gain == pytest.approx(LSB * 1e6) and df.dtype_offset == 512
    np.testing.assert_allclose(df.read_range(0, 3000), microvolts(sig[channels]), rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(df.channel_positions()[:, 0], 17.5 * np.array(channels))
    assert_conforms(path, "maxwell", {}, None, expected=microvolts(sig[channels]), scratch_dir=str(tmp_path))


def test_legacy_matches_neo_up_to_the_adc_midpoint(tmp_path):
    from neo.rawio import MaxwellRawIO
    sig = _counts(6, 2000, seed=4)
    path = write_legacy(tmp_path / "neo.raw.h5", sig, list(range(6)))
    reader = MaxwellRawIO(filename=path)
    reader.parse_header()
    theirs = reader.rescale_signal_raw_to_float(reader.get_analogsignal_chunk(0, 0, 0, 2000, 0),
                                                dtype="float64", stream_index=0)
    df = open_datafile(path, {}, "maxwell")
    assert reader.header["signal_channels"]["gain"][0] == pytest.approx(df.gain)
    np.testing.assert_allclose(df.read_range(0, 2000), theirs - 512 * df.gain, rtol=1e-6, atol=1e-4)


def test_newer_layout_matches_neo_and_reads_windows(tmp_path):
    from neo.rawio import MaxwellRawIO
    raw = _counts(8, 4000, seed=2)
    path = write_newer(tmp_path / "rec.raw.h5", {"rec0000": raw})
    reader = MaxwellRawIO(filename=path)
    reader.parse_header()
    theirs = reader.rescale_signal_raw_to_float(reader.get_analogsignal_chunk(0, 0, 0, 4000, 0),
                                                dtype="float64", stream_index=0)
    df = open_datafile(path, {}, "maxwell")
    assert df.shape == (4000, 8) and df.sampling_rate == 10000.0 and df.recording == "rec0000"
    np.testing.assert_allclose(df.read_range(0, 4000), theirs - 512 * df.gain, rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(df.read_range(1000, 1100, nodes=[7, 2, 2]),
                               microvolts(raw)[1000:1100][:, [7, 2, 2]], rtol=1e-6, atol=1e-4)
    assert_conforms(path, "maxwell", {}, None, expected=microvolts(raw), scratch_dir=str(tmp_path))


def test_routed_channels_give_positions(tmp_path):
    path = write_newer(tmp_path / "pos.raw.h5", {"rec0000": _counts(3, 100)}, routed_channels=[12, 5, 9])
    positions = open_datafile(path, {}, "maxwell").channel_positions()
    np.testing.assert_array_equal(positions[:, 0], 17.5 * np.array([12, 5, 9]))


def test_recordings_as_single_file_streams(tmp_path):
    first, second = _counts(4, 1500, seed=5), _counts(4, 900, seed=6)
    path = write_newer(tmp_path / "two.raw.h5", {"rec0000": first, "rec0001": second})
    df = open_datafile(path, {}, "maxwell", "single-file")
    assert df.nb_streams == 2 and df.duration == 2400
    assert [s.t_start for s in df.streams] == [0, 5000]          # from frame_nos
    expected = np.concatenate([microvolts(first), microvolts(second)])
    assert_conforms(path, "maxwell", {}, "single-file", expected=expected, scratch_dir=str(tmp_path))
    assert open_datafile(path, {"recording": "rec0001"}, "maxwell").duration == 900
    assert guess_format(path) == "maxwell"


def test_wrong_well_and_bad_rank(tmp_path):
    path = write_newer(tmp_path / "w.raw.h5", {"rec0000": _counts(4, 100)})
    with pytest.raises(HeaderError, match="w.raw.h5.*well 0003"):
        open_datafile(path, {"well": "0003"}, "maxwell")
    with h5py.File(path, "r+") as h5file:
        del h5file["recordings/rec0000/well000/groups/routed/raw"]
        h5file["recordings/rec0000/well000/groups/routed/raw"] = np.zeros(100, dtype=np.uint16)
    with pytest.raises(HeaderError, match=r"w.raw.h5.*routed/raw should be a 2-D.*\(100,\)"):
        open_datafile(path, {}, "maxwell")


def test_missing_lsb_and_truncated(tmp_path):
    path = write_legacy(tmp_path / "nolsb.raw.h5", _counts(4, 100), [0, 1, 2, 3])
    with h5py.File(path, "r+") as h5file:
        del h5file["settings/lsb"]
    with pytest.raises(HeaderError, match="nolsb.raw.h5.*neither 'lsb' nor 'gain'"):
        open_datafile(path, {}, "maxwell")
    good = write_legacy(tmp_path / "good.raw.h5", _counts(4, 5000), [0, 1, 2, 3])
    cut = tmp_path / "cut.raw.h5"
    with open(good, "rb") as source:
        cut.write_bytes(source.read(2000))
    with pytest.raises(HeaderError, match="cut.raw.h5"):
        open_datafile(str(cut), {}, "maxwell")
