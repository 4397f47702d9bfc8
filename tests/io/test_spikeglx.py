import logging

import numpy as np
import pytest

from app.io import DataFileError, HeaderError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from tests.conftest import synthetic_int16
from tests.io.writers_ephys import nidq_meta, np1_meta, write_spikeglx

N_ELECTRODES = 6
AP_GAINS = [500, 250, 500, 1000, 500, 50]
LF_GAINS = [250, 250, 125, 250, 250, 250]


def np1_uv_per_bit(gain: float, max_int: int = 512, range_max: float = 0.6) -> float:
    return range_max / max_int / gain * 1e6


def recording(n: int = 4000, seed: int = 0) -> np.ndarray:
    data = synthetic_int16(n, N_ELECTRODES + 1, seed)
    data[:, -1] = (np.arange(n) // 100 % 2) << 6          # sync word: bit 6 toggles
    return data


@pytest.fixture
def ap_file(tmp_path):
    data = recording()
    path = write_spikeglx(tmp_path / "run_g0_t0.imec0.ap.bin", data,
                          np1_meta(N_ELECTRODES, AP_GAINS, LF_GAINS, first_sample=1200))
    return path, data


def ap_gains() -> np.ndarray:
    return np.array([np1_uv_per_bit(g) for g in AP_GAINS] + [1.0])


def test_np1_ap_header_and_samples(ap_file):
    path, data = ap_file
    with open_datafile(str(path), {}, "spikeglx") as df:
        assert df.shape == (4000, 7)
        assert df.sampling_rate == 30000.0 and df.data_dtype == "int16" and df.dtype_offset == 0
        assert df.gain == pytest.approx(np1_uv_per_bit(500))
        np.testing.assert_allclose(df.channel_gains, ap_gains(), rtol=1e-12)
        assert df.sync_channel == 6 and df.get_description()["sync_channel"] == 6
        assert df.t_start == 1200 and df.t_stop == 5200
        out = df.read_range(1000, 1100, nodes=[6, 0, 3])
    expected = data[1000:1100][:, [6, 0, 3]] * ap_gains()[[6, 0, 3]]
    np.testing.assert_allclose(out, expected.astype(np.float32), rtol=1e-6)
    assert set(np.unique(out[:, 0])) <= {0.0, 64.0}


def test_meta_path_opens_the_same_stream(ap_file):
    path, data = ap_file
    df = open_datafile(str(path.with_suffix(".meta")), {}, "spikeglx")
    assert df.file_name == str(path)
    np.testing.assert_array_equal(df.read_range(0, 10)[:, 0], (data[:10, 0] * ap_gains()[0]).astype(np.float32))


def test_conformance_ap(ap_file, tmp_path):
    path, data = ap_file
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert_conforms(str(path), "spikeglx", {}, None, expected=data * ap_gains(), scratch_dir=str(scratch))


def test_lf_file_uses_lf_gains(tmp_path):
    data = recording(900)
    path = write_spikeglx(tmp_path / "run_g0_t0.imec0.lf.bin", data,
                          np1_meta(N_ELECTRODES, AP_GAINS, LF_GAINS, kind="lf"))
    df = open_datafile(str(path), {}, "spikeglx")
    assert df.sampling_rate == 2500.0
    gains = np.array([np1_uv_per_bit(g) for g in LF_GAINS] + [1.0])
    np.testing.assert_allclose(df.channel_gains, gains, rtol=1e-12)
    assert df.gain == pytest.approx(np1_uv_per_bit(250))


def test_saved_channel_subset_maps_to_probe_channels(tmp_path):
    meta = np1_meta(N_ELECTRODES, AP_GAINS, LF_GAINS)
    meta.update({"nSavedChans": "4", "snsSaveChanSubset": "1,3:4,12"})
    data = recording(300)[:, [1, 3, 4, 6]]
    df = open_datafile(str(write_spikeglx(tmp_path / "sub.imec0.ap.bin", data, meta)), {}, "spikeglx")
    expected = [np1_uv_per_bit(AP_GAINS[c]) for c in (1, 3, 4)] + [1.0]
    np.testing.assert_allclose(df.channel_gains, expected, rtol=1e-12)
    assert df.sync_channel == 3


def test_np2_fixed_gain_and_im_max_int(tmp_path):
    meta = np1_meta(4, [500] * 4, [250] * 4, im_max_int=8192)
    meta.update({"imDatPrb_type": "21", "imAiRangeMax": "0.62",
                 "~imroTbl": "(21,4)" + "".join(f"({c} 0 1 {c})" for c in range(4))})
    data = synthetic_int16(200, 5)
    df = open_datafile(str(write_spikeglx(tmp_path / "np2.imec0.ap.bin", data, meta)), {}, "spikeglx")
    assert df.gain == pytest.approx(0.62 / 8192 / 80 * 1e6)
    np.testing.assert_allclose(df.channel_gains[-1], 1.0)
    meta.pop("imMaxInt")                                # older 2.0 metadata: 14-bit ADC assumed
    df = open_datafile(str(write_spikeglx(tmp_path / "old.imec0.ap.bin", data, meta)), {}, "spikeglx")
    assert df.gain == pytest.approx(0.62 / 8192 / 80 * 1e6)


def test_nidq_gains_and_digital_word(tmp_path):
    data = synthetic_int16(500, 6)
    path = write_spikeglx(tmp_path / "run_g0_t0.nidq.bin", data, nidq_meta(2, 1, 2, 1))
    df = open_datafile(str(path), {}, "spikeglx")
    per_bit = 5 / 32768 * 1e6
    np.testing.assert_allclose(df.channel_gains, [per_bit / 200, per_bit / 200, per_bit / 2, per_bit,
                                                  per_bit, 1.0], rtol=1e-12)
    assert df.sampling_rate == 25000.0 and df.sync_channel == 5
    np.testing.assert_allclose(df.read_range(0, 500), (data * df.channel_gains).astype(np.float32), rtol=1e-6)


def test_triggers_stream_mode(tmp_path):
    parts = [recording(n, seed) for seed, n in enumerate((1500, 700, 1100))]
    starts = [0, 3000, 9000]
    for k, (part, start) in enumerate(zip(parts, starts)):
        write_spikeglx(tmp_path / f"run_g0_t{k}.imec0.ap.bin", part,
                       np1_meta(N_ELECTRODES, AP_GAINS, LF_GAINS, first_sample=start))
    path = str(tmp_path / "run_g0_t1.imec0.ap.bin")
    df = open_datafile(path, {}, "spikeglx", "triggers")
    assert df.nb_streams == 3 and df.duration == 3300
    assert [s.t_start for s in df.streams] == starts
    whole = np.concatenate(parts) * ap_gains()
    np.testing.assert_allclose(df.read_range(1400, 1600), whole[1400:1600].astype(np.float32), rtol=1e-6)
    assert_conforms(path, "spikeglx", {}, "triggers", expected=whole, scratch_dir=str(tmp_path))


def test_truncated_bin_reads_whole_frames_with_warning(ap_file, caplog):
    path, data = ap_file
    with open(path, "r+b") as handle:
        handle.truncate(7 * 2 * 1000 + 5)
    with caplog.at_level(logging.WARNING, logger="wavescope"):
        df = open_datafile(str(path), {}, "spikeglx")
    assert df.duration == 1000
    assert "fileSizeBytes" in caplog.text and str(path) in caplog.text
    np.testing.assert_allclose(df.read_range(990, 1000), (data[990:1000] * ap_gains()).astype(np.float32))


def test_empty_bin_is_a_header_error(ap_file):
    path, _ = ap_file
    with open(path, "r+b") as handle:
        handle.truncate(10)
    with pytest.raises(HeaderError, match="no whole sample"):
        open_datafile(str(path), {}, "spikeglx")


def flip_bit(path, text: bytes, offset: int, bit: int) -> None:
    raw = bytearray(path.read_bytes())
    where = raw.index(text) + offset
    raw[where] ^= 1 << bit
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("text, offset, bit, field", [
    (b"nSavedChans=7", 12, 0, "snsApLfSy"),              # 7 -> 6 channels: the counts disagree
    (b"imSampRate=", 10, 1, "imSampRate"),               # '=' -> '?': the key is gone
    (b"fileSizeBytes=", 14, 4, "fileSizeBytes"),          # a digit becomes a letter
])
def test_bit_flipped_meta_is_a_header_error(ap_file, text, offset, bit, field):
    path, _ = ap_file
    meta = path.with_suffix(".meta")
    flip_bit(meta, text, offset, bit)
    with pytest.raises(DataFileError) as caught:
        open_datafile(str(path), {}, "spikeglx")
    assert str(meta) in str(caught.value) or str(path) in str(caught.value)
    assert field in str(caught.value)


def test_missing_meta_names_it(ap_file):
    path, _ = ap_file
    path.with_suffix(".meta").unlink()
    with pytest.raises(HeaderError, match=r"\.meta"):
        open_datafile(str(path), {}, "spikeglx")


def test_guess_format_picks_spikeglx(ap_file):
    path, _ = ap_file
    assert guess_format(str(path)) == "spikeglx"
    assert guess_format(str(path.with_suffix(".meta"))) == "spikeglx"


def test_neo_reads_the_same_samples_and_gains(ap_file):
    """neo scales the NP1.0 sync word like an electrode; SpikeGLX says it is a bit field (gain 1)."""
    neo_rawio = pytest.importorskip("neo.rawio")
    path, data = ap_file
    reader = neo_rawio.SpikeGLXRawIO(dirname=str(path.parent))
    reader.parse_header()
    streams = list(reader.header["signal_streams"]["id"])
    index = streams.index("imec0.ap")
    raw = reader.get_analogsignal_chunk(0, 0, None, None, stream_index=index)
    channels = reader.header["signal_channels"]
    ours = open_datafile(str(path), {}, "spikeglx")
    electrodes = channels[channels["stream_id"] == "imec0.ap"]
    np.testing.assert_array_equal(raw[:, :N_ELECTRODES], data[:, :N_ELECTRODES])
    np.testing.assert_allclose(electrodes["gain"][:N_ELECTRODES], ours.channel_gains[:N_ELECTRODES], rtol=1e-12)
    np.testing.assert_allclose(ours.read_range(0, 4000)[:, :N_ELECTRODES],
                               reader.rescale_signal_raw_to_float(raw, dtype="float32", stream_index=index)
                               [:, :N_ELECTRODES], rtol=1e-6)


def test_opening_a_large_sparse_file_reads_no_samples(tmp_path):
    path = tmp_path / "big_g0_t0.imec0.ap.bin"
    write_spikeglx(path, np.zeros((1, 385), np.int16), np1_meta(384, [500] * 384, [250] * 384))
    with open(path, "r+b") as handle:
        handle.truncate(385 * 2 * 30000 * 600)
    meta = path.with_suffix(".meta")
    meta.write_text(meta.read_text().replace("fileSizeBytes=770", f"fileSizeBytes={385 * 2 * 30000 * 600}"))
    df = open_datafile(str(path), {}, "spikeglx")
    assert df.duration == 30000 * 600
    assert not df.read_range(df.duration // 2, df.duration // 2 + 100).any()


def test_neo_nidq_gains_are_volts_ours_microvolts(tmp_path):
    """neo gives nidq channels in V and scales the digital word too; we give µV and leave words raw."""
    neo_rawio = pytest.importorskip("neo.rawio")
    data = synthetic_int16(400, 6)
    path = write_spikeglx(tmp_path / "run_g0_t0.nidq.bin", data, nidq_meta(2, 1, 2, 1))
    reader = neo_rawio.SpikeGLXRawIO(dirname=str(tmp_path))
    reader.parse_header()
    index = list(reader.header["signal_streams"]["id"]).index("nidq")
    raw = reader.get_analogsignal_chunk(0, 0, None, None, stream_index=index)
    channels = reader.header["signal_channels"]
    neo_gains = channels[channels["stream_id"] == "nidq"]["gain"]
    ours = open_datafile(str(path), {}, "spikeglx")
    np.testing.assert_array_equal(raw, data)
    np.testing.assert_allclose(neo_gains[:5] * 1e6, ours.channel_gains[:5], rtol=1e-12)
    assert ours.channel_gains[5] == 1.0 and ours.sync_channel == 5        # XD0: a bit field
