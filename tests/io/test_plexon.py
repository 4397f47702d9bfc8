import os
import warnings

import numpy as np
import pytest

from app.io import DataFileError, HeaderError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from app.io.formats.plexon import index_folder
from tests.io.writers_more import (
    PLX_DSP_BYTES,
    PLX_EVENT_BYTES,
    PLX_GLOBAL_BYTES,
    PLX_SLOW_BYTES,
    bit_flipped_copies,
    plx_block,
    plx_continuous_blocks,
    write_plx,
)

AD = 40000
WB = [{"name": f"WB{k + 1:02d}", "channel": k, "rate": 40000, "gain": 1000, "preamp": 1} for k in range(3)]
FP = [{"name": f"FP{k + 1:02d}", "channel": 16 + k, "rate": 1000, "gain": 5, "preamp": 1000} for k in range(2)]
UNUSED = [{"name": "AI01", "channel": 48, "rate": 1000, "gain": 1, "preamp": 1}]


def int16(samples: int, channels: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-2048, 2048, (samples, channels)).astype(np.int16)


def make_plx(path, wb: np.ndarray, fp: np.ndarray, version: int = 107, pause_at: int | None = None,
             block: int = 500) -> str:
    """WB and FP blocks interleaved by time with spike and event blocks; a pause of 1 s before
    WB/FP sample `pause_at` (in WB samples) when given."""
    timed = []
    for k, channel in enumerate(WB):
        for start in range(0, len(wb), block):
            ticks = start + (AD if pause_at is not None and start >= pause_at else 0)
            timed.append((ticks, 0, plx_block(5, channel["channel"], ticks, 0, wb[start:start + block, k])))
    fp_block = block // 40
    for k, channel in enumerate(FP):
        for start in range(0, len(fp), fp_block):
            ticks = start * 40 + (AD if pause_at is not None and start * 40 >= pause_at else 0)
            timed.append((ticks, 1, plx_block(5, channel["channel"], ticks, 0, fp[start:start + fp_block, k])))
    for t in range(0, len(wb), 700):
        timed.append((t, 2, plx_block(1, 1, t, 1, np.arange(32, dtype=np.int16))))
        timed.append((t, 3, plx_block(4, 1, t, 0)))
    timed.sort(key=lambda item: (item[0], item[1]))
    return write_plx(path, WB + FP + UNUSED, [b for _, _, b in timed], version=version, ad_frequency=AD)


def uv_per_bit(channel: dict, version: int = 107) -> float:
    if version <= 101:
        return 5000 / (2048 * channel["gain"] * 1000) * 1000
    if version == 102:
        return 5000 / (2048 * channel["gain"] * channel["preamp"]) * 1000
    return 5000 / (0.5 * 2 ** 12 * channel["gain"] * channel["preamp"]) * 1000


def test_two_rates_are_two_streams(tmp_path):
    wb, fp = int16(4000, 3), int16(100, 2, 1)
    path = make_plx(tmp_path / "rec.plx", wb, fp)
    df = open_datafile(path)
    assert df.description == "plexon"
    assert df.shape == (4000, 3) and df.sampling_rate == 40000.0 and df.data_dtype == "int16"
    assert df.channel_names == ["WB01", "WB02", "WB03"]
    gains = np.array([uv_per_bit(c) for c in WB], np.float32)
    np.testing.assert_allclose(df.read_range(0, 4000), wb * gains, rtol=1e-6)
    np.testing.assert_allclose(df.read_range(480, 1020, nodes=[2, 0]), wb[480:1020][:, [2, 0]] * gains[[2, 0]],
                               rtol=1e-6)
    slow = open_datafile(path, {"stream_index": 1})
    assert slow.shape == (100, 2) and slow.sampling_rate == 1000.0
    np.testing.assert_allclose(slow.channel_gains, [uv_per_bit(c) for c in FP])
    np.testing.assert_allclose(slow.read_range(0, 100), fp * slow.channel_gains.astype(np.float32), rtol=1e-6)
    with pytest.raises(HeaderError, match="stream_index 2 does not exist; streams are 0: 40000 Hz"):
        open_datafile(path, {"stream_index": 2})


@pytest.mark.parametrize("version", [100, 102, 103, 105, 107])
def test_gain_by_version(tmp_path, version):
    path = make_plx(tmp_path / "rec.plx", int16(1000, 3), int16(25, 2), version=version)
    np.testing.assert_allclose(open_datafile(path, {"stream_index": 1}).channel_gains,
                               [uv_per_bit(c, version) for c in FP])


def test_same_samples_and_gains_as_neo(tmp_path):
    neo_rawio = pytest.importorskip("neo.rawio")
    # whole blocks only: neo 0.14.6 builds its sample index from the current block's size instead
    # of the previous one's, which misplaces samples after a block of another size
    wb, fp = int16(3000, 3, 2), int16(72, 2, 3)
    path = make_plx(tmp_path / "rec.plx", wb, fp)
    reader = neo_rawio.PlexonRawIO(filename=path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader.parse_header()
    streams = list(reader.header["signal_streams"]["id"])
    channels = reader.header["signal_channels"]
    for stream_index, prefix in ((0, "WB"), (1, "FP")):
        df = open_datafile(path, {"stream_index": stream_index})
        neo_index = streams.index(prefix)
        # neo 0.14.6 drops the whole last block when i_stop is exactly a block's end (data[:-0] is
        # empty), so it is asked for all samples but the last one
        stop = df.duration - 1
        neo_raw = reader.get_analogsignal_chunk(0, 0, 0, stop, stream_index=neo_index)
        raw = np.rint(df.read_range(0, stop) / df.channel_gains.astype(np.float32)).astype(np.int16)
        np.testing.assert_array_equal(raw, neo_raw)
        # neo's gain is in mV per bit (units ''), ours in µV
        np.testing.assert_allclose(df.channel_gains, channels[channels["stream_id"] == prefix]["gain"] * 1000)


def test_pause_makes_segments(tmp_path):
    wb, fp = int16(4000, 3, 4), int16(100, 2, 5)
    path = make_plx(tmp_path / "rec.plx", wb, fp, pause_at=2500)
    first = open_datafile(path)
    assert first.nb_segments == 2 and first.duration == 2500 and first.t_start == 0
    df = open_datafile(path, {}, "plexon", "segments")
    assert df.nb_streams == 2 and df.duration == 4000
    assert df.streams[1].t_start == 2500 + AD
    gains = df.channel_gains.astype(np.float32)
    np.testing.assert_allclose(df.read_range(0, 4000), wb * gains, rtol=1e-6)
    assert_conforms(path, "plexon", {}, "segments", expected=wb * gains, scratch_dir=str(tmp_path))


def test_conformance(tmp_path):
    wb = int16(20000, 3, 6)
    path = make_plx(tmp_path / "rec.plx", wb, int16(500, 2, 7), block=1000)
    gains = np.array([uv_per_bit(c) for c in WB], np.float32)
    assert_conforms(path, "plexon", {}, None, expected=wb * gains, scratch_dir=str(tmp_path))


def test_index_is_cached_by_file_identity(tmp_path):
    path = make_plx(tmp_path / "rec.plx", int16(1000, 3), int16(25, 2))
    folder = index_folder(path)
    assert not os.path.exists(folder)
    open_datafile(path)
    saved = sorted(os.listdir(folder))
    assert saved == ["counts.npy", "directory.npy", "offsets.npy", "ticks.npy"]
    offsets = np.load(os.path.join(folder, "offsets.npy"))
    assert offsets.dtype == np.int64 and len(offsets) == 3 * 2 + 2 * 3   # continuous blocks only
    stamp = os.stat(path).st_mtime_ns
    open_datafile(path)                                                     # reuses it
    assert os.stat(os.path.join(folder, "offsets.npy")).st_mtime_ns >= stamp
    os.utime(path, ns=(stamp + 10**9, stamp + 10**9))
    assert index_folder(path) != folder


def test_variable_block_sizes_and_fixed_runs_agree(tmp_path):
    wb = int16(3000, 3, 8)
    fixed = make_plx(tmp_path / "fixed.plx", wb, int16(75, 2), block=500)
    varied_blocks = []
    start = 0
    for size in [7, 300, 1, 500, 500, 500, 1192]:
        for k, channel in enumerate(WB):
            varied_blocks.append(plx_block(5, channel["channel"], start, 0, wb[start:start + size, k]))
        start += size
    varied = write_plx(tmp_path / "varied.plx", WB, varied_blocks, ad_frequency=AD)
    a, b = open_datafile(fixed), open_datafile(varied)
    np.testing.assert_array_equal(a.read_range(0, 3000), b.read_range(0, 3000))


def test_truncated_data_keeps_whole_blocks(tmp_path):
    blocks = [b for _, b in plx_continuous_blocks(0, np.arange(1000, dtype=np.int16), 40000, AD, 100)]
    path = write_plx(tmp_path / "rec.plx", WB[:1], blocks, ad_frequency=AD)
    os.truncate(path, os.path.getsize(path) - 50)
    df = open_datafile(path)
    assert df.duration == 900


def test_pl2_needs_plexons_library(tmp_path):
    path = tmp_path / "rec.pl2"
    path.write_bytes(b"\x00" * 4096)
    assert guess_format(str(path)) == "plexon"
    with pytest.raises(HeaderError, match="PL2FileReader"):
        open_datafile(str(path))


def test_bit_flipped_and_truncated_headers_raise_typed_errors(tmp_path):
    path = make_plx(tmp_path / "rec.plx", int16(1000, 3), int16(25, 2))
    header = PLX_GLOBAL_BYTES + PLX_DSP_BYTES + PLX_EVENT_BYTES + PLX_SLOW_BYTES * 6
    for damaged, bit in bit_flipped_copies(path, header, 200, folder=tmp_path):
        try:
            df = open_datafile(damaged, file_format="plexon")
            df.read_range(0, min(df.duration, 100))
        except DataFileError:
            pass
        except Exception as error:  # noqa: BLE001
            pytest.fail(f"bit {bit}: {type(error).__name__}: {error}")
    for size in (0, 3, 100, 7000, PLX_GLOBAL_BYTES + 10, header - 1):
        os.truncate(path, size)
        with pytest.raises(HeaderError, match="rec.plx"):
            open_datafile(path, file_format="plexon")
