"""The built-in demo recording: deterministic, synthetic, recognisable.

64 channels on a two-column linear probe, 30 kHz, int16, two `multi-files`
parts: band-limited noise, a slow LFP shared across depth, and spikes of a
handful of units whose amplitude falls off with distance from each unit.
The same seed gives the same bytes on every machine.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.io.probe import linear_probe, write_probe


DEMO_VERSION = 2


@dataclass(frozen=True)
class DemoSpec:
    nb_channels: int = 64
    sampling_rate: float = 30000.0
    seconds_per_part: float = 60.0
    parts: int = 2
    gain: float = 0.195          # µV per bit
    seed: int = 20261125
    nb_units: int = 12

    @property
    def samples_per_part(self) -> int:
        return int(self.seconds_per_part * self.sampling_rate)


def probe_geometry(spec: DemoSpec) -> np.ndarray:
    """(x, y) in µm: two columns 20 µm apart, 20 µm pitch in depth."""
    index = np.arange(spec.nb_channels)
    return np.stack([(index % 2) * 20.0, (index // 2) * 20.0], axis=1)


def _units(spec: DemoSpec, rng: np.random.Generator):
    geometry = probe_geometry(spec)
    depth = geometry[:, 1].max()
    positions = np.stack([rng.uniform(-5, 25, spec.nb_units), rng.uniform(0, depth, spec.nb_units)], axis=1)
    amplitudes = rng.uniform(60, 220, spec.nb_units)        # µV at the nearest site
    rates = rng.uniform(2, 15, spec.nb_units)                # Hz
    t = np.arange(-30, 60) / spec.sampling_rate
    waveforms = []
    for width in rng.uniform(0.6, 1.2, spec.nb_units):
        trough = -np.exp(-(t / (0.00025 * width)) ** 2)
        peak = 0.35 * np.exp(-((t - 0.0007 * width) / (0.0005 * width)) ** 2)
        waveforms.append(trough + peak)
    distance = np.linalg.norm(geometry[None, :, :] - positions[:, None, :], axis=2)
    footprints = amplitudes[:, None] * np.exp(-distance / 35.0)   # (units, channels)
    return np.array(waveforms), footprints, rates


def default_folder() -> Path:
    """Where the demo lives: the user cache (it is regenerated when missing)."""
    import platformdirs
    return Path(platformdirs.user_cache_dir("wavescope")) / "demo"


def demo_is_current(folder: str | os.PathLike, spec: DemoSpec = DemoSpec()) -> bool:
    """True when `folder` already holds this demo (its stamp matches), so `write_demo` has nothing to do."""
    folder = Path(folder)
    stamp = folder / "demo.json"
    if not (stamp.exists() and (folder / "demo_0.dat").exists()):
        return False
    try:
        return json.loads(stamp.read_text()) == {"version": DEMO_VERSION, **spec.__dict__}
    except (ValueError, OSError):
        return False


def write_demo(folder: str | os.PathLike, spec: DemoSpec = DemoSpec()) -> Path:
    """Write the demo (parts, probe, params-ready description) into `folder`; return the first part.

    Skips the work when an identical demo is already there.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    first = folder / "demo_0.dat"
    if demo_is_current(folder, spec):
        return first
    description = {"version": DEMO_VERSION, **spec.__dict__}
    stamp = folder / "demo.json"
    rng = np.random.default_rng(spec.seed)
    waveforms, footprints, rates = _units(spec, rng)
    for part in range(spec.parts):
        _write_part(folder / f"demo_{part}.dat", spec, rng, waveforms, footprints, rates)
    write_probe(linear_probe(spec.nb_channels, pitch=20.0, columns=2, column_pitch=20.0, radius=100),
                folder / "demo.prb")
    stamp.write_text(json.dumps(description, indent=1))
    return first


def demo_params(first_part: Path) -> dict:
    spec = DemoSpec()
    return {"data_dtype": "int16", "nb_channels": spec.nb_channels, "sampling_rate": spec.sampling_rate,
            "gain": spec.gain, "dtype_offset": 0, "file_format": "raw_binary", "stream_mode": "multi-files",
            "mapping": str(Path(first_part).with_name("demo.prb"))}


def _write_part(path: Path, spec: DemoSpec, rng, waveforms, footprints, rates) -> None:
    n = spec.samples_per_part
    block = int(spec.sampling_rate) * 5
    temporary = path.with_suffix(".dat.partial")
    lfp_phase = rng.uniform(0, 2 * np.pi, 3)
    depth_profile = np.linspace(1.0, -0.6, spec.nb_channels, dtype=np.float32)
    carry = rng.standard_normal((2, spec.nb_channels), dtype=np.float32)
    with open(temporary, "wb") as handle:
        for start in range(0, n, block):
            stop = min(n, start + block)
            white = np.concatenate([carry, rng.standard_normal((stop - start, spec.nb_channels),
                                                               dtype=np.float32)])
            carry = white[-2:]
            # amplifiers low-pass well below Nyquist: a 3-tap smoother keeps the noise band-limited
            signal = (0.25 * white[:-2] + 0.5 * white[1:-1] + 0.25 * white[2:]) * np.float32(12.0 / 0.6124)
            t = (np.arange(start, stop) / spec.sampling_rate).astype(np.float32)
            lfp = (40 * np.sin(2 * np.pi * 7.0 * t + lfp_phase[0])
                   + 25 * np.sin(2 * np.pi * 1.3 * t + lfp_phase[1])).astype(np.float32)
            signal += lfp[:, None] * depth_profile[None, :]
            _add_spikes(signal, spec, rng, waveforms, footprints, rates)
            raw = np.clip(np.rint(signal / spec.gain), -32768, 32767).astype("<i2")
            handle.write(raw.tobytes())
    os.replace(temporary, path)


def _add_spikes(signal, spec, rng, waveforms, footprints, rates) -> None:
    length = waveforms.shape[1]
    duration = signal.shape[0] / spec.sampling_rate
    for unit, rate in enumerate(rates):
        count = rng.poisson(rate * duration)
        times = rng.integers(0, signal.shape[0] - length, count)
        shape = np.outer(waveforms[unit], footprints[unit]).astype(np.float32)
        for t in times:
            signal[t:t + length] += shape

