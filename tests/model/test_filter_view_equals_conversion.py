"""A filtered view and a filtered conversion of the same samples are equal (project issue 15).

Both go through app.io.filters with the same padding rule, so wherever their chunk edges
fall (the view's chunk grid and the conversion's differ on purpose here) they give the
same values, which are also the whole signal's filtfilt.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from app.io import filters, open_datafile
from app.io.convert import ConvertSpec, convert
from app.model.traces import TraceSource
from tests.conftest import synthetic_int16

RATE = 20000.0
NB_CHANNELS = 4
PARAMS = {"data_dtype": "int16", "nb_channels": NB_CHANNELS, "sampling_rate": RATE, "gain": 0.195}


@pytest.fixture
def recording(make_raw):
    rng = np.random.default_rng(11)
    t = np.arange(30_000) / RATE
    slow = 4000 * np.sin(2 * np.pi * 5 * t)[:, None]       # the drift a high-pass removes
    data = (slow + synthetic_int16(30_000, NB_CHANNELS, seed=3) + rng.normal(0, 300, (30_000, NB_CHANNELS)))
    return make_raw("rec.dat", np.clip(data, -32768, 32767).astype(np.int16))


def _view(path, tmp_path, cutoff, chunk_size):
    """Every sample of the recording as the trace view's filtered chunks give it (time, channels)."""
    source = TraceSource(open_datafile(path, dict(PARAMS), "raw_binary"), chunk_size=chunk_size,
                         cutoff=cutoff, prefetch_windows=0, overview_root=str(tmp_path / "ov"))
    try:
        return np.concatenate([source.chunk(k, filter_on=True).T for k in range(source.n_chunks)])
    finally:
        source.close()


def _conversion(path, tmp_path, cutoff, chunk_seconds):
    out = tmp_path / f"hp_{cutoff}_{chunk_seconds}.dat"
    convert(open_datafile(path, dict(PARAMS), "raw_binary"),
            ConvertSpec(str(out), highpass=cutoff, dtype="float32", chunk_seconds=chunk_seconds,
                        write_params=False))
    return np.fromfile(out, dtype=np.float32).reshape(-1, NB_CHANNELS)


@pytest.mark.parametrize("cutoff, chunk_size, chunk_seconds", [(300.0, 1024, 0.0371), (150.0, 4096, 0.25)])
def test_filtered_view_equals_filtered_conversion(recording, tmp_path, cutoff, chunk_size, chunk_seconds):
    view = _view(recording, tmp_path, cutoff, chunk_size)
    converted = _conversion(recording, tmp_path, cutoff, chunk_seconds)
    assert view.shape == converted.shape == (30_000, NB_CHANNELS)
    scale = float(np.abs(converted).max())
    eps = float(np.finfo(np.float32).eps)
    # sample for sample, across both chunk grids and at the recording's two ends
    np.testing.assert_allclose(view, converted, rtol=8 * eps, atol=8 * eps * scale)
    # and both are the whole signal's zero-phase filter, not merely alike
    raw = np.fromfile(recording, dtype=np.int16).reshape(-1, NB_CHANNELS).astype(np.float64) * 0.195
    sos = filters.highpass_sos(cutoff, RATE)
    whole = sps.sosfiltfilt(sos, raw, axis=0, padlen=3 * (2 * len(sos) + 1))
    np.testing.assert_allclose(converted, whole, rtol=0, atol=8 * eps * scale)
    drift = np.abs(raw - raw.mean(axis=0)).mean()
    assert np.abs(converted).mean() < drift / 3           # the filter did remove the drift


def test_padding_is_where_the_impulse_response_has_died():
    sos = filters.highpass_sos(300.0, RATE)
    pad = filters.padding(sos)
    impulse = np.zeros(4 * pad)
    impulse[0] = 1.0
    response = np.abs(sps.sosfilt(sos, impulse))
    assert response[pad:].max() < filters.PADDING_TOLERANCE * response.max()
    assert filters.padding(filters.highpass_sos(100.0, RATE)) > pad > filters.padding(filters.highpass_sos(1000.0, RATE))


def test_cutoff_beyond_nyquist_is_a_typed_error():
    with pytest.raises(filters.FilterError, match="Nyquist"):
        filters.highpass_sos(15000.0, RATE)
