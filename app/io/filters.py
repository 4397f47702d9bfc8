"""The one high-pass filter: the trace view's display filter and the conversion's filter.

A zero-phase Butterworth high-pass (``sosfiltfilt``) applied to a chunk read with
``padding(sos)`` extra samples on each side, taken from the rest of the recording and
clipped at its first and last sample; the padding is then trimmed. The padding is where
the filter's impulse response has decayed below ``PADDING_TOLERANCE``, so a chunk
filters to the values of the whole signal up to float32 rounding, wherever the chunk
edges fall: a filtered view and a filtered conversion of the same samples are equal.
Pure numpy/scipy, no Qt: the GUI and a cluster node use the same code.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from app.io.errors import DataFileError

FILTER_ORDER = 3
# Relative size of the impulse response at which the padding stops: far below float32's
# resolution (~1e-7), so the padded chunk and the whole signal agree to the last bit that counts.
PADDING_TOLERANCE = 1e-9


class FilterError(DataFileError):
    """A filter that cannot be designed for this recording (cut-off outside (0, Nyquist))."""


@lru_cache(maxsize=64)
def _design(cutoff: float, sampling_rate: float, order: int) -> np.ndarray:
    from scipy import signal as sps
    return sps.butter(order, cutoff / (sampling_rate / 2), btype="highpass", output="sos")


def highpass_sos(cutoff: float, sampling_rate: float, order: int = FILTER_ORDER) -> np.ndarray:
    """Butterworth high-pass as second-order sections (designed once per cut-off and rate)."""
    nyquist = float(sampling_rate) / 2
    if not 0 < float(cutoff) < nyquist:
        raise FilterError(f"high-pass cut-off {cutoff} Hz must lie between 0 and the Nyquist frequency "
                          f"({nyquist} Hz) of this recording; choose a lower cut-off.")
    return _design(float(cutoff), float(sampling_rate), int(order)).copy()


def padding(sos: np.ndarray, tolerance: float = PADDING_TOLERANCE) -> int:
    """Samples after which the filter's impulse response falls below `tolerance`.

    A chunk read with this much padding on each side filters (forward and backward) to
    the same values as the whole signal, up to float rounding.
    """
    from scipy import signal as sps
    _, poles, _ = sps.sos2zpk(sos)
    radius = float(np.max(np.abs(poles))) if len(poles) else 0.0
    if radius <= 0:
        return 0
    # Transients decay like n * radius**n for repeated poles: a safety factor of 2.
    return math.ceil(2 * math.log(tolerance) / math.log(radius))


def apply(data: np.ndarray, sos: np.ndarray, axis: int = 0) -> np.ndarray:
    """Zero-phase filtering of a block along `axis` (time), float32 out.

    At a clipped edge (the recording's first or last sample) scipy's odd extension of
    ``3 * (2 * sections + 1)`` samples stands in for the missing padding; a block shorter
    than that uses what it has. A block of fewer than 2 samples is returned as it is.
    """
    from scipy import signal as sps
    length = data.shape[axis]
    if length < 2:
        return np.asarray(data, dtype=np.float32)
    padlen = min(3 * (2 * len(sos) + 1), length - 1)
    return sps.sosfiltfilt(sos, data, axis=axis, padlen=padlen).astype(np.float32)


def filter_range(read, lo: int, hi: int, duration: int, sos: np.ndarray, pad: int | None = None) -> np.ndarray:
    """Samples [lo, hi) filtered, reading ``read(a, b)`` (time-major samples [a, b) of the
    timeline) with the padding (``padding(sos)`` unless given), clipped to [0, duration),
    and trimming it."""
    pad = padding(sos) if pad is None else int(pad)
    padded_lo, padded_hi = max(lo - pad, 0), min(hi + pad, duration)
    block = apply(read(padded_lo, padded_hi), sos, axis=0)
    return np.ascontiguousarray(block[lo - padded_lo:hi - padded_lo])
