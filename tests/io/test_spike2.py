import os
import struct
import warnings

import numpy as np
import pytest

from app.io import DataFileError, HeaderError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from tests.io.writers_more2 import write_smr


def blocks(values: np.ndarray, first_tick: int, interval: int, size: int = 400, pause_after: int | None = None,
           pause_ticks: int = 0) -> list:
    """Split `values` into blocks of `size`, contiguous in ticks (a pause after block `pause_after`)."""
    out, tick = [], first_tick
    for k, start in enumerate(range(0, len(values), size)):
        chunk = values[start:start + size]
        out.append((tick, chunk))
        tick += len(chunk) * interval
        if pause_after is not None and k == pause_after:
            tick += pause_ticks
    return out


def recording(seed: int = 0, samples: int = 2000, pause: bool = False) -> tuple[list[dict], dict]:
    """Two Adc channels at 25 kHz (mV), one Adc at 10 kHz (V), a RealWave at 25 kHz, an event channel."""
    rng = np.random.default_rng(seed)
    fast = [rng.integers(-30000, 30000, samples).astype(np.int16) for _ in range(2)]
    slow = rng.integers(-30000, 30000, samples // 2).astype(np.int16)
    real = rng.normal(0, 1, samples).astype(np.float32)
    pause_args = {"pause_after": 2, "pause_ticks": 40_000} if pause else {}
    channels = [
        {"slot": 0, "kind": 1, "title": "Vm", "interval": 40, "scale": 10.0, "offset": 0.0, "units": "mV",
         "blocks": blocks(fast[0], 1000, 40, **pause_args)},
        {"slot": 2, "kind": 1, "title": "Im", "interval": 40, "scale": 10.0, "offset": 0.0, "units": "mV",
         "blocks": blocks(fast[1], 1000, 40, size=300, **({"pause_after": 3, "pause_ticks": 40_000} if pause else {}))},
        {"slot": 3, "kind": 1, "title": "EMG", "interval": 100, "scale": 5.0, "offset": 0.0, "units": "V",
         "blocks": blocks(slow, 1000, 100, **({"pause_after": 0, "pause_ticks": 40_000} if pause else {}))},
        {"slot": 4, "kind": 9, "title": "Temp", "interval": 40, "units": "degC",
         "blocks": blocks(real, 1000, 40, **pause_args)},
        {"slot": 5, "kind": 3, "title": "Keys", "blocks": [(500, np.array([500, 9000, 30000]))]},
    ]
    return channels, {"fast": np.stack(fast, axis=1), "slow": slow[:, None], "real": real[:, None]}


def test_streams_by_interval_with_gains(tmp_path):
    channels, data = recording()
    path = str(write_smr(tmp_path / "rec.smr", channels, slots=8))
    df = open_datafile(path)
    assert df.description == "spike2" and df.shape == (2000, 2) and df.sampling_rate == 25000.0
    assert df.channel_names == ["Vm", "Im"] and df.t_start == 25
    assert df.gain == pytest.approx(10 / 6553.6 * 1000)
    np.testing.assert_allclose(df.read_range(0, 2000), data["fast"] * (10 / 6553.6 * 1000), rtol=1e-6)
    np.testing.assert_allclose(df.read_range(390, 810, nodes=[1]), data["fast"][390:810, [1]] * (10 / 6553.6 * 1000),
                               rtol=1e-6)
    slow = open_datafile(path, {"stream_index": 1})
    assert slow.sampling_rate == 10000.0 and slow.shape == (1000, 1) and slow.t_start == 10
    np.testing.assert_allclose(slow.read_range(0, 1000), data["slow"] * (5 / 6553.6 * 1e6), rtol=1e-6)
    real = open_datafile(path, {"stream_index": 2})
    assert real.data_dtype == "float32" and real.gain == 1.0
    np.testing.assert_array_equal(real.read_range(0, 2000), data["real"])
    with pytest.raises(HeaderError, match="stream_index 3 does not exist.*EMG"):
        open_datafile(path, {"stream_index": 3})


def test_adc_offset_becomes_dtype_offset(tmp_path):
    values = np.arange(-500, 500, dtype=np.int16)
    channels = [{"slot": 0, "kind": 1, "title": "x", "interval": 10, "scale": 6553.6, "offset": 3.0,
                 "units": "uV", "blocks": blocks(values, 0, 10)}]
    df = open_datafile(str(write_smr(tmp_path / "o.smr", channels, slots=1)))
    assert df.dtype_offset == -3 and df.gain == pytest.approx(1.0)
    np.testing.assert_allclose(df.read_range(0, 1000)[:, 0], values + 3.0)


def test_pauses_are_segments(tmp_path):
    channels, data = recording(pause=True)
    path = str(write_smr(tmp_path / "pause.smr", channels, slots=6))
    df = open_datafile(path, {}, "spike2", "segments")
    assert df.nb_streams == 2 and [s.duration for s in df.streams] == [1200, 800]
    assert [s.t_start for s in df.streams] == [25, 25 + 1200 + 1000]
    np.testing.assert_allclose(df.read_range(0, 2000), data["fast"] * (10 / 6553.6 * 1000), rtol=1e-6)
    assert open_datafile(path).get_description()["nb_segments"] == 2
    assert_conforms(path, "spike2", {}, "segments", expected=(data["fast"] * (10 / 6553.6 * 1000)).astype(np.float32),
                    scratch_dir=str(tmp_path))


def test_same_samples_and_gains_as_neo(tmp_path):
    neo_rawio = pytest.importorskip("neo.rawio")
    channels, data = recording(seed=5)
    path = str(write_smr(tmp_path / "rec.smr", channels[:3], slots=4))
    reader = neo_rawio.Spike2RawIO(filename=path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader.parse_header()
    signal_channels = reader.header["signal_channels"]
    for stream_index, key, native in ((0, "fast", 1000.0), (1, "slow", 1e6)):
        df = open_datafile(path, {"stream_index": stream_index}, "spike2")
        neo_stream = next(k for k, s in enumerate(reader.header["signal_streams"])
                      if abs(signal_channels[signal_channels["stream_id"] == s["id"]]["sampling_rate"][0]
                             - df.sampling_rate) < 1e-6)
        raw = reader.get_analogsignal_chunk(0, 0, None, None, stream_index=neo_stream)
        np.testing.assert_array_equal(raw, data[key])
        gains = signal_channels[signal_channels["stream_id"] == reader.header["signal_streams"][neo_stream]["id"]]["gain"]
        np.testing.assert_allclose(gains * native, df.channel_gains, rtol=1e-6)      # neo keeps mV / V
        assert df.t_start == round(reader.get_signal_t_start(0, 0, neo_stream) * df.sampling_rate)


@pytest.mark.parametrize("system_id", [5, 9])
def test_old_dividers_and_big_file_pointers(tmp_path, system_id):
    values = np.arange(3000, dtype=np.int16)
    spec = {"slot": 1, "kind": 1, "title": "ch", "scale": 1.0, "units": "mV", "divide": 4, "interval": 20}
    ticks = 4 * 5 if system_id < 6 else 20
    spec["blocks"] = blocks(values, 0, ticks, size=700)
    path = str(write_smr(tmp_path / "s.smr", [spec], slots=2, system_id=system_id, us_per_time=2, time_per_adc=5))
    df = open_datafile(path)
    assert df.sampling_rate == pytest.approx(1 / (ticks * 2e-6))
    np.testing.assert_allclose(df.read_range(0, 3000)[:, 0], values * (1000 / 6553.6), rtol=1e-6)
    assert_conforms(path, "spike2", {}, None, expected=(values * (1000 / 6553.6))[:, None].astype(np.float32),
                    scratch_dir=str(tmp_path))


def test_conformance(tmp_path):
    channels, data = recording(samples=3000)
    path = str(write_smr(tmp_path / "rec.smr", channels, slots=6))
    assert_conforms(path, "spike2", {}, None, expected=(data["fast"] * (10 / 6553.6 * 1000)).astype(np.float32),
                    scratch_dir=str(tmp_path))


def test_smrx_is_refused_with_a_reason(tmp_path):
    path = tmp_path / "new.smrx"
    path.write_bytes(b"S64" + bytes(600))
    with pytest.raises(HeaderError, match="sonpy"):
        open_datafile(str(path), {}, "spike2")


def test_sniffed_by_content(tmp_path):
    channels, _ = recording(samples=400)
    path = write_smr(tmp_path / "rec.dat", channels, slots=6)
    assert guess_format(str(path)) == "spike2"


def _poke(path, offset: int, data: bytes):
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


@pytest.mark.parametrize("damage, words", [
    (lambda p: _poke(p, 2, b"(C) XYZ"), "not a CED SON header"),
    (lambda p: _poke(p, 0, struct.pack("<h", 42)), "system id 42"),
    (lambda p: _poke(p, 30, struct.pack("<h", 0)), "0 channel slots"),
    (lambda p: _poke(p, 32, struct.pack("<h", 99)), "of 99 bytes"),
    (lambda p: _poke(p, 44, struct.pack("<d", 7.0)), "dTimeBase is 7.0"),
    (lambda p: _poke(p, 512 + 6, struct.pack("<i", 10**8)), "outside the file"),
    (lambda p: _poke(p, 512 + 102, struct.pack("<i", 0)), "interval of 0 ticks"),
    (lambda p: _poke(p, 512 + 124, struct.pack("<f", 0.0)), "gain is undefined"),
    (lambda p: os.truncate(p, 300), "512-byte file header"),
    (lambda p: os.truncate(p, 700), "channel headers"),
    (lambda p: os.truncate(p, os.path.getsize(p) - 100), "truncated or corrupt"),
])
def test_damaged_header_names_file_and_fault(tmp_path, damage, words):
    channels, _ = recording(samples=800)
    path = write_smr(tmp_path / "bad.smr", channels[:2], slots=3)
    damage(path)
    with pytest.raises(HeaderError) as caught:
        open_datafile(str(path), {}, "spike2")
    assert "bad.smr" in str(caught.value) and words in str(caught.value)


def test_random_bit_flips_in_headers_raise_typed_errors(tmp_path):
    channels, _ = recording(samples=800)
    original = write_smr(tmp_path / "src.smr", channels, slots=6).read_bytes()
    rng = np.random.default_rng(11)
    for trial in range(150):
        damaged = bytearray(original)
        for _ in range(3):
            position = int(rng.integers(0, 512 + 140 * 6))
            damaged[position] ^= 1 << int(rng.integers(0, 8))
        path = tmp_path / "flip.smr"
        path.write_bytes(bytes(damaged))
        try:
            df = open_datafile(str(path), {}, "spike2")
            df.read_range(0, df.duration)
        except DataFileError:
            pass
