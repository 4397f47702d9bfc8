import logging

import numpy as np
import pytest

from app.io import DataFileError, HeaderError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from app.io.formats.openephys import segment_starts
from tests.conftest import synthetic_int16
from tests.io.writers_ephys import write_legacy_recording

KINDS = ["CH10", "CH1", "AUX1", "CH2"]          # written out of order on purpose
BIT_VOLTS = [0.195, 0.195, 0.0000374, 0.195]
ORDER = [1, 3, 0]                                # CH1, CH2, CH10 among the columns above


def make(folder, n_records=5, timestamps=None, recordings=None, seed=0, suffix=""):
    data = synthetic_int16(n_records * 1024, len(KINDS), seed) * 7    # values beyond one byte
    write_legacy_recording(folder, data, timestamps, recordings, bit_volts=BIT_VOLTS, kinds=KINDS,
                           suffix=suffix)
    return data


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "2024-06-15_10-10-10"
    data = make(path, timestamps=[4096 + 1024 * k for k in range(5)])
    return path, data


def test_channels_in_natural_order_with_bitvolts(folder):
    path, data = folder
    with open_datafile(str(path), {}, "openephys") as df:
        assert df.shape == (5120, 3) and df.sampling_rate == 30000.0
        assert df.gain == 0.195 and df.processor == "100" and df.data_dtype == "int16"
        assert df.t_start == 4096 and df.t_stop == 4096 + 5120
        out = df.read_range(1000, 1100)             # crosses the record boundary at 1024
    np.testing.assert_array_equal(out, (data[1000:1100][:, ORDER] * np.float32(0.195)))


@pytest.mark.parametrize("entry", ["folder", "settings", "channel"])
def test_entry_points(folder, entry):
    path, data = folder
    target = {"folder": path, "settings": path / "Continuous_Data.openephys",
              "channel": path / "100_CH2.continuous"}[entry]
    assert guess_format(str(target)) == "openephys"
    df = open_datafile(str(target), {}, "openephys")
    np.testing.assert_array_equal(df.read_range(5000, 5120, nodes=[2]), data[5000:5120, [0]] * np.float32(0.195))


def test_aux_channels_on_request_with_their_own_gain(folder):
    path, data = folder
    df = open_datafile(str(path), {"channel_kinds": "CH,AUX"}, "openephys")
    assert df.nb_channels == 4 and df.gain == 0.195
    np.testing.assert_allclose(df.channel_gains, [0.195, 0.195, 0.195, 37.4])      # AUX: volts -> µV
    np.testing.assert_allclose(df.read_range(0, 2048), (data[:2048][:, ORDER + [2]] * df.channel_gains)
                               .astype(np.float32), rtol=1e-6)


@pytest.mark.parametrize("entry", ["folder", "channel"])
def test_conformance(folder, tmp_path, entry):
    path, data = folder
    target = path if entry == "folder" else path / "100_CH1.continuous"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert_conforms(str(target), "openephys", {}, None, expected=data[:, ORDER] * 0.195, scratch_dir=str(scratch))


@pytest.fixture
def segmented(tmp_path):
    # records 0-1 contiguous, a 3000-sample gap, records 2-3, then recording number 1 for record 4
    stamps = [0, 1024, 5048, 6072, 7096]
    data = make(tmp_path / "seg", timestamps=stamps, recordings=[0, 0, 0, 0, 1])
    return tmp_path / "seg", data


def test_gaps_and_new_recordings_are_segments_never_glued(segmented, caplog):
    path, data = segmented
    with caplog.at_level(logging.INFO, logger="wavescope"):
        first = open_datafile(str(path), {}, "openephys")
    assert first.duration == 2048 and first.t_start == 0 and "3 segments" in caplog.text
    second = open_datafile(str(path), {"segment_index": 1}, "openephys")
    assert second.duration == 2048 and second.t_start == 5048
    np.testing.assert_array_equal(second.read_range(0, 2048), data[2048:4096][:, ORDER] * np.float32(0.195))
    with pytest.raises(HeaderError, match="segment_index 3"):
        open_datafile(str(path), {"segment_index": 3}, "openephys")


def test_segments_stream_mode(segmented, tmp_path):
    path, data = segmented
    df = open_datafile(str(path), {}, "openephys", "segments")
    assert df.nb_streams == 3 and df.duration == 5120
    assert [s.t_start for s in df.streams] == [0, 5048, 7096]
    assert_conforms(str(path), "openephys", {}, "segments", expected=data[:, ORDER] * 0.195,
                    scratch_dir=str(tmp_path))


def test_segment_search_reads_few_record_headers():
    stamps = np.arange(100_000, dtype=np.int64) * 1024
    stamps[60_000:] += 512
    recordings = np.zeros(100_000, dtype=np.uint16)
    recordings[90_000:] = 2

    class Counting:
        def __init__(self, values):
            self.values, self.reads = values, 0

        def __getitem__(self, index):
            self.reads += 1
            return self.values[index]

        def __len__(self):
            return len(self.values)

    counted = Counting(stamps)
    assert segment_starts(counted, recordings) == [0, 60_000, 90_000]
    assert counted.reads < 200


def test_later_experiment_files_and_multi_files(tmp_path):
    path = tmp_path / "rec"
    first = make(path, n_records=2)
    second = make(path, n_records=3, seed=1, suffix="_2")
    only_second = open_datafile(str(path / "100_CH1_2.continuous"), {}, "openephys")
    np.testing.assert_array_equal(only_second.read_range(0, 3072), second[:, ORDER] * np.float32(0.195))
    settings = open_datafile(str(path / "Continuous_Data_2.openephys"), {}, "openephys")
    assert settings.duration == 3072
    for entry in ("100_CH1.continuous", "Continuous_Data.openephys"):
        both = open_datafile(str(path / entry), {}, "openephys", "multi-files")
        assert both.nb_streams == 2 and both.duration == 5120
        np.testing.assert_array_equal(both.read_range(2000, 2100),
                                      np.concatenate([first, second])[2000:2100][:, ORDER] * np.float32(0.195))


def test_uneven_files_read_the_common_whole_records(folder, caplog):
    path, _ = folder
    with open(path / "100_CH2.continuous", "r+b") as handle:
        handle.truncate(1024 + 2070 * 3 + 700)
    with caplog.at_level(logging.WARNING, logger="wavescope"):
        df = open_datafile(str(path), {}, "openephys")
    assert df.duration == 3072 and "whole records" in caplog.text


def flip(path, offset: int, bit: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 1 << bit
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("where, field", [
    (lambda raw: raw.index(b"Open Ephys Data"), "format"),                 # 'O' -> 'N'
    (lambda raw: raw.index(b"sampleRate = 3") + 13, "sampleRate"),         # '3' -> '2': channels disagree
    (lambda raw: 1024 + 2070 * 4 + 2061, "marker"),                        # last record's marker
    (lambda raw: 1024 + 8, "marker"),                                      # first record's sample count
])
def test_bit_flipped_header_or_record_is_a_header_error(folder, where, field):
    path, _ = folder
    target = path / "100_CH1.continuous"
    raw = target.read_bytes()
    flip(target, where(raw), 0)
    if field == "sampleRate":
        with pytest.raises(DataFileError, match="sampleRate"):
            open_datafile(str(path), {}, "openephys")
        return
    with pytest.raises(HeaderError) as caught:
        open_datafile(str(path), {}, "openephys")
    assert str(target) in str(caught.value) and field in str(caught.value)


def test_cut_header_is_a_header_error(folder):
    path, _ = folder
    target = path / "100_CH10.continuous"
    target.write_bytes(target.read_bytes()[:500])
    with pytest.raises(HeaderError, match="1024-byte"):
        open_datafile(str(path), {}, "openephys")


def test_neo_reads_the_same_samples_and_gains(folder):
    neo_rawio = pytest.importorskip("neo.rawio")
    path, data = folder
    reader = neo_rawio.OpenEphysRawIO(dirname=str(path))
    reader.parse_header()
    index = list(reader.header["signal_streams"]["id"]).index("CH")
    raw = reader.get_analogsignal_chunk(0, 0, None, None, stream_index=index)
    channels = reader.header["signal_channels"]
    ours = open_datafile(str(path), {}, "openephys")
    np.testing.assert_array_equal(raw, data[:, ORDER])
    np.testing.assert_array_equal(channels[channels["stream_id"] == "CH"]["gain"], ours.channel_gains)
    assert reader.get_signal_t_start(0, 0, index) == pytest.approx(ours.t_start / ours.sampling_rate)
