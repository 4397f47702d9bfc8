import os
import warnings

import numpy as np
import pytest

from app.io import DataFileError, HeaderError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from tests.io.writers_more import bit_flipped_copies, intan_word_order, rec_header, write_rec


def shuffled_trodes(hw_chans: list[int], seed: int = 0) -> list[list[int]]:
    order = np.random.default_rng(seed).permutation(hw_chans).tolist()
    return [order[k:k + 4] for k in range(0, len(order), 4)]


def by_hw_chan(samples: int, channels: int, seed: int = 0) -> np.ndarray:
    """int16 (samples, hwChan) test data: column h is hardware channel h."""
    return np.random.default_rng(seed).integers(-32768, 32768, (samples, channels)).astype(np.int16)


def packet_words(data: np.ndarray, carried: np.ndarray) -> np.ndarray:
    return data[:, carried]


def test_channels_in_ntrode_order_from_chip_interleaved_words(tmp_path):
    data = by_hw_chan(500, 64)
    trodes = shuffled_trodes(list(range(64)))
    header = rec_header(64, trodes, scaling=0.195)
    path = write_rec(tmp_path / "rec.rec", packet_words(data, intan_word_order(64)), header, first_timestamp=90)
    df = open_datafile(path)
    assert df.description == "spikegadgets"
    assert df.shape == (500, 64) and df.t_start == 90 and df.sampling_rate == 30000.0
    configured = [h for trode in trodes for h in trode]
    np.testing.assert_array_equal(df.read_range(0, 500), data[:, configured] * np.float32(0.195))
    np.testing.assert_array_equal(df.read_range(7, 30, nodes=[5, 0]),
                                  data[7:30][:, [configured[5], configured[0]]] * np.float32(0.195))
    assert df.channel_names[0] == f"ntrode1_hw{configured[0]}"


def test_saved_subset_skips_absent_channels(tmp_path):
    kept = [h for h in range(64) if h not in (3, 40, 41, 63)]
    data = by_hw_chan(200, 64, 1)
    carried = [h for h in intan_word_order(64) if h in kept]
    trodes = shuffled_trodes(kept, 1)
    path = write_rec(tmp_path / "rec.rec", packet_words(data, carried), rec_header(64, trodes))
    df = open_datafile(path)
    configured = [h for trode in trodes for h in trode]
    assert df.shape == (200, 60)
    np.testing.assert_array_equal(df.read_range(0, 200), data[:, configured] * np.float32(0.195))


def test_neuropixels_words_in_hw_order_and_unscaled_without_spike_scaling(tmp_path):
    data = by_hw_chan(100, 32, 2)
    trodes = shuffled_trodes(list(range(32)), 2)
    header = rec_header(32, trodes, scaling=None, device="neuropixels1", devices=2)
    path = write_rec(tmp_path / "rec.rec", data, header, device_bytes=3)
    df = open_datafile(path)
    assert df.gain == 1.0
    np.testing.assert_array_equal(df.read_range(0, 100), data[:, [h for t in trodes for h in t]])


def test_same_samples_and_gains_as_neo(tmp_path):
    neo_rawio = pytest.importorskip("neo.rawio")
    data = by_hw_chan(300, 64, 3)
    trodes = shuffled_trodes(list(range(64)), 3)
    path = write_rec(tmp_path / "rec.rec", packet_words(data, intan_word_order(64)),
                     rec_header(64, trodes, devices=2), device_bytes=3)
    reader = neo_rawio.SpikeGadgetsRawIO(filename=path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader.parse_header()
    streams = list(reader.header["signal_streams"]["id"])
    index = streams.index("trodes")
    channels = reader.header["signal_channels"]
    neo_channels = channels[channels["stream_id"] == "trodes"]
    neo_raw = reader.get_analogsignal_chunk(0, 0, 0, 300, stream_index=index)     # binary (word) order
    df = open_datafile(path)
    configured = [h for trode in trodes for h in trode]
    column_of = {int(c): k for k, c in enumerate(neo_channels["id"])}
    reorder = [column_of[h] for h in configured]
    np.testing.assert_array_equal(np.rint(df.read_range(0, 300) / np.float32(0.195)), neo_raw[:, reorder])
    np.testing.assert_allclose(df.channel_gains, neo_channels["gain"][reorder])


def test_conformance(tmp_path):
    data = by_hw_chan(20000, 32, 4)
    trodes = shuffled_trodes(list(range(32)), 4)
    path = write_rec(tmp_path / "rec.rec", packet_words(data, intan_word_order(32)), rec_header(32, trodes))
    expected = data[:, [h for t in trodes for h in t]] * np.float32(0.195)
    assert guess_format(path) == "spikegadgets"
    assert_conforms(path, "spikegadgets", {}, None, expected=expected, scratch_dir=str(tmp_path))


def test_partial_last_packet_is_dropped(tmp_path):
    path = write_rec(tmp_path / "rec.rec", by_hw_chan(50, 32), rec_header(32, shuffled_trodes(list(range(32)))))
    os.truncate(path, os.path.getsize(path) - 5)
    assert open_datafile(path).duration == 49


def test_damaged_headers_raise_typed_errors(tmp_path):
    header = rec_header(32, shuffled_trodes(list(range(32)), 5))
    path = write_rec(tmp_path / "rec.rec", by_hw_chan(40, 32), header)
    for damaged, bit in bit_flipped_copies(path, len(header), 300, folder=tmp_path):
        try:
            df = open_datafile(damaged, file_format="spikegadgets")
            df.read_range(0, min(df.duration, 10))
        except DataFileError:
            pass
        except Exception as error:  # noqa: BLE001
            pytest.fail(f"bit {bit}: {type(error).__name__}: {error}")
    for size in (0, 10, len(header) // 2, len(header) - 3):
        os.truncate(path, size)
        with pytest.raises(HeaderError, match="rec.rec"):
            open_datafile(path, file_format="spikegadgets")


def test_inconsistent_configuration(tmp_path):
    header = rec_header(32, [[0, 1, 2, 2]])
    path = write_rec(tmp_path / "rec.rec", by_hw_chan(10, 4), header)
    with pytest.raises(HeaderError, match="hwChan appears twice"):
        open_datafile(path)
