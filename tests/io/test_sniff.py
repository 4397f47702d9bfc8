"""Format ranking and the headerless raw-binary layout inference."""

import json

import numpy as np
import pytest
import scipy.signal

from app.cli import main
from app.io.sniff import is_hdf5, rank_formats, suggest_raw_layout, text_header_length


def recording(n_channels: int, n_samples: int, rng, rate: float = 30000.0) -> np.ndarray:
    """Band-limited noise (amplifiers low-pass near 6-8 kHz), a shared LFP and a few spikes, in µV."""
    sos = scipy.signal.butter(4, rng.uniform(5000, 8000), fs=rate, output="sos")
    noise = scipy.signal.sosfilt(sos, rng.standard_normal((n_samples, n_channels)), axis=0) * 15
    t = np.arange(n_samples) / rate
    lfp = 50 * np.sin(2 * np.pi * rng.uniform(3, 12) * t)[:, None] * rng.uniform(0.5, 1.5, n_channels)
    signal = noise + lfp
    for _ in range(n_channels // 4 + 1):
        channel = rng.integers(0, n_channels)
        for start in rng.integers(0, n_samples - 40, 20):
            signal[start:start + 30, channel] -= 120 * np.hanning(30)
    return signal


def text_header(size: int, rng, padding: bytes = b"") -> bytes:
    """A `key = value` header of exactly `size` bytes, as acquisition exports write: CRLF lines
    closed by EOH when `padding` is empty, else text padded to `size` with `padding` bytes."""
    if size == 0:
        return b""
    keys = ("Sample rate", "ADC zero", "El", "Streams", "Operator", "Comment", "Amplifier", "Filter")
    lines, length = [], 0
    while length < size:
        key = keys[len(lines) % len(keys)]
        words = "abcdefghijklmnopqrstuvwxyz"[:rng.integers(1, 26)]
        line = f"{key} {len(lines)} = {rng.integers(0, 10**6)} {words}\r\n"
        lines.append(line.encode())
        length += len(line)
    text = b"".join(lines)
    if padding:
        cut = max(size // 2, size - int(rng.integers(1, 200))) if size > 64 else size
        return text[:cut] + padding * (size - cut)
    end = b"\r\nEOH\r\n"
    if size < len(end) + 2:
        return b"#" * (size - 1) + b"\n"
    return text[:size - len(end)] + end


def binary_header(size: int, rng) -> bytes:
    """A binary header of `size` bytes: magic, little-endian numeric fields, a table of channel
    names in fixed 32-byte slots, NUL padding."""
    fields = b"WSRAW\x00\x01\x00" + np.array([3, size, 30000, 64, 0, 1], "<u4").tobytes()
    fields += np.array([0.195, 30000.0, -6553.6], "<f8").tobytes()
    names = b"".join(f"ch{k:03d}".encode().ljust(32, b"\x00") for k in range(max(0, (size - 200) // 64)))
    body = (fields + names)[:size]
    return body + b"\x00" * (size - len(body))


def encode(signal: np.ndarray, dtype: str) -> bytes:
    if dtype == "int16":
        return np.rint(signal / 0.195).astype("<i2").tobytes()
    if dtype == "uint16":
        return (np.rint(signal / 0.195) + 32768).astype("<u2").tobytes()
    return signal.astype("<f4").tobytes()


HEADERS = [(0, ""), (35, "eoh"), (1000, "eoh"), (1024, "eoh"), (3333, "space"), (4096, "nul"), (8192, "eoh"),
           (12345, "nul"), (16384, "eoh"), (336, "binary"), (1024, "binary"), (8192, "binary"),
           (16384, "binary")]
CHANNELS = (1, 2, 4, 12, 32, 64, 128, 256, 384, 512)
DTYPES = ("int16", "uint16", "float32")


def header_bytes(size: int, kind: str, rng) -> bytes:
    if kind == "binary":
        return binary_header(size, rng)
    return text_header(size, rng, {"eoh": b"", "nul": b"\x00", "space": b" "}.get(kind, b""))


def test_top_suggestion_rate(tmp_path):
    """1-512 channels x text headers (EOH-closed, NUL- or space-padded, 0-16 KiB, odd sizes) and binary
    headers x int16/uint16/float32: the top suggestion is the whole layout. Prints the hit rate."""
    rng = np.random.default_rng(7)
    hits, misses, ambiguous = 0, [], 0
    for i, channels in enumerate(CHANNELS):
        signal = recording(channels, max(2000, 300_000 // channels), rng)
        for j, (size, kind) in enumerate(HEADERS):
            dtype = DTYPES[(i + j) % len(DTYPES)]
            path = tmp_path / f"c{channels}_{size}_{kind}.dat"
            path.write_bytes(header_bytes(size, kind, rng) + encode(signal, dtype))
            best = suggest_raw_layout(str(path))[0]
            ambiguous += best["ambiguous"]
            if (best["nb_channels"], best["data_dtype"], best["data_offset"]) == (channels, dtype, size):
                hits += 1
            else:
                misses.append(((channels, dtype, size, kind), (best["nb_channels"], best["data_dtype"],
                                                             best["data_offset"])))
    total = len(CHANNELS) * len(HEADERS)
    print(f"\nheaderless layout inference: top suggestion right in {hits}/{total} = "
          f"{100 * hits / total:.1f}% "
          f"({ambiguous} flagged ambiguous)")
    assert not misses, misses


def test_white_noise_is_ambiguous(tmp_path):
    """Independent samples read as any channel count look alike: the guess says it is a guess."""
    path = tmp_path / "noise.dat"
    path.write_bytes(np.random.default_rng(5).integers(-3000, 3000, 400_000).astype("<i2").tobytes())
    ranked = suggest_raw_layout(str(path))
    assert ranked[0]["ambiguous"] and ranked[1]["ambiguous"]
    assert "ambiguous" in ranked[0]["evidence"]


def test_suggest_cli_says_ambiguous(tmp_path, capsys):
    path = tmp_path / "noise.dat"
    path.write_bytes(np.random.default_rng(5).integers(-3000, 3000, 400_000).astype("<i2").tobytes())
    assert main(["params", str(path), "--suggest", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["ambiguous"] is True
    assert main(["params", str(path), "--suggest"]) == 0
    assert "ambiguous: the best layouts score alike" in capsys.readouterr().out


def test_clear_layout_is_not_ambiguous_and_partial_frame_keeps_offset(tmp_path):
    rng = np.random.default_rng(11)
    path = tmp_path / "cut.dat"
    header = text_header(1000, rng)
    # an acquisition stopped mid-write: 100 bytes of a 128-byte frame (64 x int16) at the end
    path.write_bytes(header + encode(recording(64, 8000, rng), "int16") + b"\x01\x02" * 50)
    best = suggest_raw_layout(str(path))[0]
    assert (best["nb_channels"], best["data_dtype"], best["data_offset"]) == (64, "int16", 1000)
    assert not best["ambiguous"] and "last 100 bytes are a partial frame" in best["evidence"]


def test_text_header_length():
    assert text_header_length(b"MC_DataTool\r\nSample rate = 1\r\nEOH\r\n\x01\x02") == 35
    assert text_header_length(b"\x00\x01" * 100) == 0
    text = b"key = value\n" * 10
    assert text_header_length(text + b"\x00" * (512 - len(text)) + b"\x05\x06") == 512


def test_suggest_cli_json(tmp_path, capsys):
    rng = np.random.default_rng(3)
    path = tmp_path / "x.bin"
    path.write_bytes(encode(recording(16, 20000, rng), "int16"))
    assert main(["params", str(path), "--suggest", "--json"]) == 0
    ranked = json.loads(capsys.readouterr().out)
    assert ranked[0]["nb_channels"] == 16 and ranked[0]["data_dtype"] == "int16" and ranked[0]["data_offset"] == 0
    assert set(ranked[0]) == {"nb_channels", "data_dtype", "data_offset", "score", "evidence", "ambiguous"}
    assert ranked[0]["ambiguous"] is False
    assert [c["score"] for c in ranked] == sorted((c["score"] for c in ranked), reverse=True)
    assert main(["params", str(path), "--suggest"]) == 0
    assert "whole frames of 16 x int16" in capsys.readouterr().out


def test_rank_formats_puts_raw_binary_last(tmp_path):
    path = tmp_path / "x.dat"
    path.write_bytes(b"\0" * 64)
    ranked = rank_formats(str(path))
    assert ranked[-1].name == "raw_binary" and "headerless" in ranked[-1].reason


@pytest.mark.parametrize("prefix", [0, 512])
def test_is_hdf5_finds_signature(tmp_path, prefix):
    import h5py
    path = tmp_path / "x.h5"
    with h5py.File(path, "w", userblock_size=prefix or None) as f:
        f["d"] = np.zeros(3)
    assert is_hdf5(str(path))
    (tmp_path / "y.h5").write_bytes(b"not hdf5" * 100)
    assert not is_hdf5(str(tmp_path / "y.h5"))
