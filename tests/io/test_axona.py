import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from app.io import DataFileError, HeaderError, MissingFieldsError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from tests.io.writers_more2 import write_axona_bin, write_axona_continuous, write_axona_set

GAINS = {n: 2000 + 500 * (n % 5) for n in range(64)}


def uv_per_bit(channel: int, bits: int = 16) -> float:
    return 1500 * 1000.0 / (GAINS[channel] * 2 ** (bits - 1))


def trial(folder, tetrodes=(1, 2), samples: int = 3000, seed: int = 0, name: str = "trial"):
    rng = np.random.default_rng(seed)
    data = rng.integers(-30000, 30000, (samples, 64)).astype(np.int16)
    write_axona_set(folder / f"{name}.set", list(tetrodes), GAINS, eeg_sources={1: 6, 2: 11})
    write_axona_bin(folder / f"{name}.bin", data)
    channels = [4 * (t - 1) + k for t in tetrodes for k in range(4)]
    return str(folder / f"{name}.set"), data, channels


def expected(data, channels) -> np.ndarray:
    return data[:, channels].astype(np.float64) * np.array([uv_per_bit(c) for c in channels])


def test_bin_channels_gains_and_packet_order(tmp_path):
    path, data, channels = trial(tmp_path, tetrodes=(1, 3, 16))
    df = open_datafile(path)
    assert df.description == "axona" and df.shape == (3000, 12)
    assert df.channels == channels and df.sampling_rate == 48000.0
    np.testing.assert_allclose(df.channel_gains, [uv_per_bit(c) for c in channels])
    np.testing.assert_allclose(df.read_range(0, 3000), expected(data, channels), rtol=1e-6)
    np.testing.assert_allclose(df.read_range(1001, 1502, nodes=[11, 0, 5]),
                               expected(data, channels)[1001:1502][:, [11, 0, 5]], rtol=1e-6)
    same = open_datafile(str(tmp_path / "trial.bin"))
    assert same.shape == df.shape


def test_same_samples_and_gains_as_neo(tmp_path):
    """neo indexes channels as if the recorded tetrodes were contiguous, so the comparison uses
    tetrodes 1 and 2; non-contiguous tetrodes are checked against the writer above."""
    neo_rawio = pytest.importorskip("neo.rawio")
    path, data, channels = trial(tmp_path, tetrodes=(1, 2), seed=4)
    reader = neo_rawio.AxonaRawIO(filename=path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader.parse_header()
    raw = reader.get_analogsignal_chunk(0, 0, 7, 2990, stream_index=0)
    df = open_datafile(path)
    np.testing.assert_array_equal(raw, data[7:2990, channels])
    np.testing.assert_allclose(reader.header["signal_channels"]["gain"], df.channel_gains, rtol=1e-6)
    np.testing.assert_allclose(df.read_range(7, 2990),
                               reader.rescale_signal_raw_to_float(raw, dtype="float64", stream_index=0), rtol=1e-6)


def test_conformance_bin(tmp_path):
    path, data, channels = trial(tmp_path, tetrodes=(2, 4), samples=1500)
    assert_conforms(path, "axona", {}, None, expected=expected(data, channels).astype(np.float32),
                    scratch_dir=str(tmp_path))


@pytest.mark.parametrize("suffix, bits, source", [(".eeg", 8, 5), (".egf", 16, 5), (".eeg2", 8, 10)])
def test_continuous_files_take_the_gain_of_their_source_channel(tmp_path, suffix, bits, source):
    trial(tmp_path, samples=3)
    rng = np.random.default_rng(1)
    values = rng.integers(-120, 120, 2500) if bits == 8 else rng.integers(-30000, 30000, 2500)
    rate = 250.0 if bits == 8 else 4800.0
    path = str(write_axona_continuous(tmp_path / f"trial{suffix}", values, rate))
    df = open_datafile(path)
    assert df.shape == (2500, 1) and df.sampling_rate == rate
    assert df.data_dtype == ("int8" if bits == 8 else "int16")
    assert df.gain == pytest.approx(uv_per_bit(source, bits))
    np.testing.assert_allclose(df.read_range(0, 2500)[:, 0], values * uv_per_bit(source, bits), rtol=1e-6)
    assert_conforms(path, "axona", {}, None, expected=(values * uv_per_bit(source, bits))[:, None].astype(np.float32),
                    scratch_dir=str(tmp_path))


def test_continuous_file_without_set_needs_the_gain(tmp_path):
    path = str(write_axona_continuous(tmp_path / "lone.egf", np.arange(100), 4800.0))
    with pytest.raises(MissingFieldsError) as caught:
        open_datafile(path)
    assert caught.value.missing == {"gain": "float"}
    assert open_datafile(path, {"gain": 0.5}).read_range(0, 4)[:, 0].tolist() == [0, 0.5, 1.0, 1.5]


def test_continuous_declared_count_is_a_limit(tmp_path):
    trial(tmp_path, samples=3)
    path = write_axona_continuous(tmp_path / "trial.eeg", np.arange(100) % 100, 250.0, declared=60)
    assert open_datafile(str(path)).duration == 60
    path = write_axona_continuous(tmp_path / "trial.eeg", np.arange(100) % 100, 250.0, declared=500)
    assert open_datafile(str(path)).duration == 100            # the data_end trailer is not samples


def test_sniffed_by_content(tmp_path):
    path, _, _ = trial(tmp_path, samples=30)
    assert guess_format(path) == "axona"
    assert guess_format(str(tmp_path / "trial.bin")) == "axona"
    eeg = write_axona_continuous(tmp_path / "trial.egf3", np.arange(10), 4800.0)
    assert guess_format(str(eeg)) == "axona"


def _overwrite(path, data: bytes) -> None:
    with open(path, "r+b") as handle:
        handle.write(data)


def _replace_line(path, old: str, new: str) -> None:
    text = Path(path).read_bytes().decode("cp1252")
    assert old in text
    with open(path, "wb") as handle:
        handle.write(text.replace(old, new).encode("cp1252"))


@pytest.mark.parametrize("damage, words, culprit", [
    (lambda f: _replace_line(f / "t.set", "rawRate 48000", "rawRate 4x000"), "rawRate is '4x000'", "t.set"),
    (lambda f: _replace_line(f / "t.set", "rawRate 48000", "rawRat 48000"), "no rawRate line", "t.set"),
    (lambda f: _replace_line(f / "t.set", "gain_ch_1 ", "gain_ch_1 0#"), "gain_ch_1", "t.set"),
    (lambda f: _replace_line(f / "t.set", "collectMask_1 1", "collectMask_1 0"), "no tetrode", "t.set"),
    (lambda f: _replace_line(f / "t.set", "mode128channels 0", "mode128channels 1"), "128-channel", "t.set"),
    (lambda f: (f / "t.set").write_bytes(b"\x00\x01garbage"), "no gain_ch_", "t.set"),
    (lambda f: os.truncate(f / "t.bin", 100), "no whole 432-byte packet", "t.bin"),
    (lambda f: _overwrite(f / "t.bin", b"XDU1"), "not ADU1/ADU2", "t.bin"),
    (lambda f: os.remove(f / "t.bin"), "no t.bin", "t.set"),
])
def test_damaged_trial_names_file_and_fault(tmp_path, damage, words, culprit):
    trial(tmp_path, tetrodes=(1,), samples=30, name="t")
    damage(tmp_path)
    with pytest.raises(HeaderError) as caught:
        open_datafile(str(tmp_path / "t.set"), {}, "axona")
    assert culprit in str(caught.value) and words in str(caught.value)


@pytest.mark.parametrize("old, new, words", [
    ("bytes_per_sample 1", "bytes_per_sample 3", "bytes_per_sample 3"),
    ("num_chans 1", "num_chans x", "num_chans is 'x'"),
    ("data_start", "data_stort", "no data_start"),
])
def test_damaged_eeg_header(tmp_path, old, new, words):
    trial(tmp_path, samples=3)
    path = write_axona_continuous(tmp_path / "trial.eeg", np.arange(50), 250.0)
    _replace_line(path, old, new)
    with pytest.raises(HeaderError, match=words) as caught:
        open_datafile(str(path), {}, "axona")
    assert "trial.eeg" in str(caught.value)


def test_truncated_and_bit_flipped_headers_raise_typed_errors(tmp_path):
    trial(tmp_path, samples=3)
    source = write_axona_continuous(tmp_path / "trial.egf", np.arange(200), 4800.0).read_bytes()
    rng = np.random.default_rng(5)
    end = source.index(b"data_start") + 10
    for k in range(120):
        damaged = bytearray(source[: int(rng.integers(1, len(source)))] if k % 3 == 0 else source)
        for _ in range(2):
            position = int(rng.integers(0, min(end, len(damaged))))
            damaged[position] ^= 1 << int(rng.integers(0, 8))
        path = tmp_path / "trial.egf"
        path.write_bytes(bytes(damaged))
        try:
            df = open_datafile(str(path), {}, "axona")
            df.read_range(0, df.duration)
        except DataFileError:
            pass
