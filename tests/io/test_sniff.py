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


def encode(signal: np.ndarray, dtype: str) -> bytes:
    if dtype == "int16":
        return np.rint(signal / 0.195).astype("<i2").tobytes()
    if dtype == "uint16":
        return (np.rint(signal / 0.195) + 32768).astype("<u2").tobytes()
    return signal.astype("<f4").tobytes()


def test_top_suggestion_rate(tmp_path):
    """8-512 channels, int16/uint16/float32, with and without a text header: report the hit rate."""
    rng = np.random.default_rng(7)
    cases = [(c, d, h) for c in (8, 12, 32, 64, 128, 256, 384, 512) for d in ("int16", "uint16", "float32")
             for h in (False, True)]
    hits = []
    for k, (channels, dtype, with_header) in enumerate(cases):
        header = b"Acquisition export\r\nSample rate = 30000\r\nADC zero = 0\r\nEOH\r\n" if with_header else b""
        path = tmp_path / f"case{k}.dat"
        path.write_bytes(header + encode(recording(channels, max(2000, 600_000 // channels), rng), dtype))
        best = suggest_raw_layout(str(path))[0]
        hits.append((best["nb_channels"], best["data_dtype"], best["data_offset"]) == (channels, dtype, len(header)))
    rate = sum(hits) / len(hits)
    print(f"\nheaderless layout inference: top suggestion right in {sum(hits)}/{len(hits)} = {100 * rate:.1f}%")
    assert rate >= 0.95, [c for c, hit in zip(cases, hits) if not hit]


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
    assert set(ranked[0]) == {"nb_channels", "data_dtype", "data_offset", "score", "evidence"}
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
