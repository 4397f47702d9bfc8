import logging
import os
import warnings

import numpy as np
import pytest

from app.io import HeaderError, ShapeMismatchError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from tests.io.writers_binary import ncs_records, write_ncs

RATE = 32000.0
BIT_VOLTS = [3.05e-08, 6.1e-08, 1.5e-08]
INVERTED = [False, True, False]
# Segment 0 ends with a short record (100 samples), then acquisition pauses for 2 s.
PIECES = [(1_000_000, 512 * 3 + 100), (3_000_000, 512 * 4)]


def channel_samples(channel: int) -> list[np.ndarray]:
    rng = np.random.default_rng(channel)
    return [rng.integers(-3000, 3000, n).astype(np.int16) for _, n in PIECES]


def expected_segment(segment: int) -> np.ndarray:
    columns = []
    for channel in range(3):
        gain = BIT_VOLTS[channel] * 1e6 * (-1 if INVERTED[channel] else 1)
        columns.append(channel_samples(channel)[segment].astype(np.float32) * np.float32(gain))
    return np.stack(columns, axis=1)


@pytest.fixture
def session(tmp_path):
    folder = tmp_path / "session"
    folder.mkdir()
    for channel in range(3):
        pieces = [(start, samples) for (start, _), samples in zip(PIECES, channel_samples(channel))]
        write_ncs(folder / f"CSC{channel + 1}.ncs", f"CSC{channel + 1}", channel, ncs_records(pieces, RATE),
                  RATE, BIT_VOLTS[channel], INVERTED[channel])
    return folder


def test_first_segment_by_default_and_says_more_exist(session, caplog):
    with caplog.at_level(logging.INFO, logger="wavescope"):
        df = open_datafile(str(session / "CSC2.ncs"))
    assert df.description == "neuralynx" and df.nb_streams == 1
    assert df.shape == (512 * 3 + 100, 3)
    assert (df.sampling_rate, df.data_dtype, df.dtype_offset) == (RATE, "int16", 0)
    np.testing.assert_allclose(df.channel_gains, [0.0305, -0.061, 0.015])
    assert df.t_start == 32000
    np.testing.assert_array_equal(df.read_range(0, df.duration), expected_segment(0))
    assert df.get_description()["nb_segments"] == 2
    assert any("2 segments" in record.message for record in caplog.records)


def test_segments_are_separate_streams(session):
    df = open_datafile(str(session), {}, "neuralynx", "segments")
    assert df.nb_streams == 2
    assert [s.duration for s in df.streams] == [512 * 3 + 100, 512 * 4]
    assert [s.t_start for s in df.streams] == [32000, 96000]
    np.testing.assert_array_equal(df.read_range(0, df.duration),
                                  np.concatenate([expected_segment(0), expected_segment(1)]))
    np.testing.assert_array_equal(df.read_range(1500, 1700, nodes=[2, 0]),
                                  np.concatenate([expected_segment(0), expected_segment(1)])[1500:1700][:, [2, 0]])


def test_same_samples_and_gains_as_neo(session):
    neo_rawio = pytest.importorskip("neo.rawio")
    # neo refuses gapped files unless given a gap tolerance; its t_start is relative to the first
    # record (0 s), ours is the acquisition clock in samples (timestamp 1 s -> 32000).
    reader = neo_rawio.NeuralynxRawIO(dirname=str(session), gap_tolerance_ms=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader.parse_header()
    df = open_datafile(str(session), {}, "neuralynx", "segments")
    assert reader.header["nb_segment"][0] == df.nb_streams == 2
    np.testing.assert_allclose(reader.header["signal_channels"]["gain"], df.channel_gains)
    for k, stream in enumerate(df.streams):
        raw = reader.get_analogsignal_chunk(0, k, None, None, stream_index=0)
        np.testing.assert_array_equal(raw, np.stack([channel_samples(c)[k] for c in range(3)], axis=1))
        np.testing.assert_allclose(stream.read_range(0, stream.duration),
                                   reader.rescale_signal_raw_to_float(raw, dtype="float64", stream_index=0),
                                   rtol=1e-6)


def test_conformance_file_folder_and_segments(session, tmp_path):
    expected = expected_segment(0)
    assert_conforms(str(session / "CSC1.ncs"), "neuralynx", {}, None, expected=expected,
                    scratch_dir=str(tmp_path))
    assert_conforms(str(session), "neuralynx", {}, None, expected=expected, scratch_dir=str(tmp_path))
    assert_conforms(str(session), "neuralynx", {}, "segments",
                    expected=np.concatenate([expected_segment(0), expected_segment(1)]),
                    scratch_dir=str(tmp_path))


def test_short_record_without_timestamp_jump_still_splits(tmp_path):
    """formats.md: a short record starts a new segment. neo 0.14.6 only looks at timestamps and
    glues the two pieces into one segment; we follow the layout notes and keep them apart."""
    samples = np.arange(512 + 100 + 512, dtype=np.int16)
    records = [(0, samples[:512]), (16000, samples[512:612]), (16000 + 3125, samples[612:])]
    write_ncs(tmp_path / "CSC1.ncs", "CSC1", 0, records, RATE)
    df = open_datafile(str(tmp_path / "CSC1.ncs"), {}, "neuralynx", "segments")
    assert [s.duration for s in df.streams] == [612, 512]
    assert [s.t_start for s in df.streams] == [0, 612]


def test_timestamp_jump_splits_full_records(tmp_path):
    samples = np.arange(512 * 3, dtype=np.int16)
    records = [(0, samples[:512]), (16000, samples[512:1024]), (16000 * 2 + 500, samples[1024:])]
    write_ncs(tmp_path / "CSC1.ncs", "CSC1", 0, records, RATE)
    df = open_datafile(str(tmp_path / "CSC1.ncs"), {}, "neuralynx", "segments")
    assert [s.duration for s in df.streams] == [1024, 512]
    np.testing.assert_array_equal(df.streams[1].read_range(0, 512)[:, 0],
                                  samples[1024:].astype(np.float32) * np.float32(30.5e-3))


def test_sessions_and_rates_in_one_folder(tmp_path):
    first = np.arange(1024, dtype=np.int16)
    second = -np.arange(512, dtype=np.int16)
    for k in (1, 2):
        write_ncs(tmp_path / f"CSC{k}.ncs", f"CSC{k}", k, ncs_records([(0, first * k)], RATE), RATE)
        write_ncs(tmp_path / f"CSC{k}_0001.ncs", f"CSC{k}", k, ncs_records([(10**8, second * k)], RATE), RATE)
    write_ncs(tmp_path / "LFP1.ncs", "LFP1", 9, ncs_records([(0, first[:512])], 2000.0), 2000.0)
    df = open_datafile(str(tmp_path / "CSC1_0001.ncs"))
    assert df.shape == (512, 2) and df.t_start == 3_200_000
    assert df.channel_files[1].endswith("CSC2_0001.ncs")
    joined = open_datafile(str(tmp_path / "CSC1.ncs"), {}, "neuralynx", "multi-files")
    assert joined.nb_streams == 2 and joined.duration == 1536
    np.testing.assert_array_equal(joined.read_range(1020, 1030, nodes=[1])[:, 0] / np.float32(30.5e-3),
                                  np.concatenate([first * 2, second * 2])[1020:1030].astype(np.float32))


def test_sniff_folder_and_file(session):
    assert guess_format(str(session)) == "neuralynx"
    os.rename(session / "CSC1.ncs", session / "CSC1.dat")
    assert guess_format(str(session / "CSC1.dat")) == "neuralynx"


def _header_text(path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(16384)


@pytest.mark.parametrize("damage, words", [
    (lambda p: os.truncate(p, 1000), "shorter than the 16384-byte"),
    (lambda p: os.truncate(p, 16384), "no data record"),
    (lambda p: _rewrite_header(p, b"-SamplingFrequency 32000", b"-SamplingFrequency abcde"), "SamplingFrequency"),
    (lambda p: _rewrite_header(p, b"-SamplingFrequency 32000", b"-SamplingFrequency     0"), "positive"),
    (lambda p: _write_at(p, 16384 + 16, b"\xff\xff\x00\x00"), "65535 valid samples"),
])
def test_damaged_file_names_file_and_fault(tmp_path, damage, words):
    path = write_ncs(tmp_path / "CSC7.ncs", "CSC7", 7, ncs_records([(0, np.zeros(1024, np.int16))], RATE))
    damage(path)
    with pytest.raises(HeaderError) as caught:
        open_datafile(path, file_format="neuralynx")
    assert "CSC7.ncs" in str(caught.value) and words in str(caught.value)


def _rewrite_header(path, old: bytes, new: bytes) -> None:
    assert len(old) == len(new)
    _write_at(path, 0, _header_text(path).replace(old, new))


def _write_at(path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def test_truncated_record_is_dropped_and_unequal_channels_refused(tmp_path):
    samples = np.arange(512 * 3, dtype=np.int16)
    path = write_ncs(tmp_path / "CSC1.ncs", "CSC1", 0, ncs_records([(0, samples)], RATE))
    os.truncate(path, os.path.getsize(path) - 10)
    df = open_datafile(path)
    assert df.duration == 1024
    write_ncs(tmp_path / "CSC2.ncs", "CSC2", 1, ncs_records([(0, samples)], RATE))
    with pytest.raises(ShapeMismatchError, match="CSC2.ncs: 3 records but CSC1.ncs has 2"):
        open_datafile(path)


def test_folder_without_ncs_is_a_header_error(tmp_path):
    (tmp_path / "notes.txt").write_text("no channels here")
    with pytest.raises(HeaderError, match="no .ncs file in this folder"):
        open_datafile(str(tmp_path), {}, "neuralynx")
