import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from app.io import DataFileError, HeaderError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from tests.io.writers_more import bit_flipped_copies, write_tdt_block

FAST = 24414.0625          # 25e6 / 1024
SLOW = 1017.2526


def stores(seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"name": "Wav1", "data": rng.standard_normal((4, 1024)).astype(np.float32), "rate": FAST, "chunk": 256},
            {"name": "LFP1", "data": rng.integers(-3000, 3000, (2, 512)).astype(np.int16), "rate": SLOW,
             "chunk": 128},
            {"name": "RAW1", "data": rng.standard_normal((3, 768)).astype(np.float32), "rate": FAST, "chunk": 256,
             "sev": True}]


def read_with_tdt(folder: str):
    tdt = pytest.importorskip("tdt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tdt.read_block(folder)


def test_each_store_is_a_stream_and_matches_tdts_reader(tmp_path):
    written = stores()
    folder = write_tdt_block(tmp_path / "Tank", "Block-1", written)
    oracle = read_with_tdt(folder)
    for store in written:
        df = open_datafile(folder, {"store": store["name"]})
        assert df.description == "tdt"
        expected = np.asarray(oracle.streams[store["name"]].data)
        expected = expected.reshape(-1, expected.shape[-1])[:, :df.duration]   # tdt reads one extra SEV sample
        np.testing.assert_array_equal(expected, store["data"])                 # the writer is right
        np.testing.assert_array_equal(df.read_range(0, df.duration).T, expected)
        assert df.sampling_rate == pytest.approx(oracle.streams[store["name"]].fs, rel=1e-7)
        assert df.data_dtype == store["data"].dtype.name and df.gain == 1.0
        assert df.channel_names == [f"{store['name']} {c + 1}" for c in range(len(store["data"]))]
    assert open_datafile(folder).stores == ["Wav1", "LFP1", "RAW1"]
    with pytest.raises(HeaderError, match="no stream store 'Nope'; set store to one of Wav1, LFP1, RAW1"):
        open_datafile(folder, {"store": "Nope"})


def test_same_samples_and_gains_as_neo(tmp_path):
    neo_rawio = pytest.importorskip("neo.rawio")
    written = stores(1)
    write_tdt_block(tmp_path / "Tank", "Block-1", written)
    reader = neo_rawio.TdtRawIO(dirname=str(tmp_path / "Tank"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader.parse_header()
    names = list(reader.header["signal_streams"]["name"])
    channels = reader.header["signal_channels"]
    for store in written:
        index = names.index(store["name"])
        df = open_datafile(str(tmp_path / "Tank" / "Block-1"), {"store": store["name"]})
        neo_raw = reader.get_analogsignal_chunk(0, 0, None, None, stream_index=index)
        np.testing.assert_array_equal(df.read_range(0, df.duration), neo_raw.astype(np.float32))
        np.testing.assert_allclose(df.channel_gains, channels[channels["stream_id"] == str(index)]["gain"])


def test_pause_makes_segments(tmp_path):
    data = np.arange(3 * 1024, dtype=np.float32).reshape(3, 1024)
    folder = write_tdt_block(tmp_path / "Tank", "B", [{"name": "Wav1", "data": data, "rate": FAST, "chunk": 256,
                                                       "gaps": {2: 0.5}}])
    first = open_datafile(folder)
    assert first.nb_segments == 2 and first.duration == 512
    df = open_datafile(folder, {}, "tdt", "segments")
    assert df.nb_streams == 2 and df.duration == 1024
    assert df.streams[1].t_start == round((0.01 + 512 / np.float32(FAST) + 0.5) * np.float32(FAST))
    np.testing.assert_array_equal(df.read_range(0, 1024), data.T)
    np.testing.assert_array_equal(read_with_tdt(folder).streams.Wav1.data, data)   # tdt glues the pieces
    assert_conforms(folder, "tdt", {}, "segments", expected=data.T, scratch_dir=str(tmp_path))


@pytest.mark.parametrize("store", ["Wav1", "LFP1", "RAW1"])
def test_conformance(tmp_path, store):
    written = stores(2)
    folder = write_tdt_block(tmp_path / "Tank", "Block-1", written)
    expected = next(s for s in written if s["name"] == store)["data"].T
    tsq = os.path.join(folder, "Tank_Block-1.tsq")
    assert guess_format(tsq) == "tdt" and guess_format(folder) == "tdt"
    assert_conforms(tsq, "tdt", {"store": store}, None, expected=expected, scratch_dir=str(tmp_path))


def test_sev_files_without_index(tmp_path):
    written = stores(3)
    folder = write_tdt_block(tmp_path / "Tank", "Block-1", written)
    os.unlink(os.path.join(folder, "Tank_Block-1.tsq"))
    sev = os.path.join(folder, "Tank_Block-1_RAW1_Ch2.sev")
    assert guess_format(sev) == "tdt"
    df = open_datafile(sev)
    assert df.stores == ["RAW1"] and df.sampling_rate == FAST
    np.testing.assert_array_equal(df.read_range(0, 768), written[2]["data"].T)


def test_truncated_tev_drops_the_chunks_it_lost(tmp_path):
    data = np.arange(2 * 1024, dtype=np.float32).reshape(2, 1024)
    folder = write_tdt_block(tmp_path / "Tank", "B", [{"name": "Wav1", "data": data, "rate": FAST, "chunk": 256}])
    tev = os.path.join(folder, "Tank_B.tev")
    os.truncate(tev, os.path.getsize(tev) - 100)
    df = open_datafile(folder)
    assert df.duration == 768
    np.testing.assert_array_equal(df.read_range(0, 768), data[:, :768].T)


def test_damaged_index_raises_typed_errors(tmp_path):
    folder = write_tdt_block(tmp_path / "Tank", "B", stores(4)[:2])
    tsq = os.path.join(folder, "Tank_B.tsq")
    original = Path(tsq).read_bytes()
    for damaged, bit in bit_flipped_copies(tsq, 40 * 12, 200, folder=tmp_path):
        os.replace(damaged, tsq)
        try:
            df = open_datafile(folder, file_format="tdt")
            df.read_range(0, min(df.duration, 100))
        except DataFileError:
            pass
        except Exception as error:  # noqa: BLE001
            pytest.fail(f"bit {bit}: {type(error).__name__}: {error}")
        Path(damaged).touch()              # the generator removes its copy
    for size in (0, 39, 41, 79):
        Path(tsq).write_bytes(original[:size])
        with pytest.raises(HeaderError, match="Tank_B.tsq"):
            open_datafile(folder, file_format="tdt")


def test_not_a_block(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(HeaderError, match="not a TDT block folder"):
        open_datafile(str(tmp_path / "empty"), file_format="tdt")
