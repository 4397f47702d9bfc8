"""Suspicious channels: flat, saturated or far noisier / quieter than the rest. Qt-free.

A few short windows spread over the recording are read (never the whole file). Per channel:
- flat: (almost) no sample differs from the one before — a disconnected or shorted input;
- saturated: a large share of samples sit at the channel's own extreme value — the amplifier clips;
- noisy / quiet: the noise level (MAD of the high-passed signal / 0.6745, robust to spikes) is far
  above or below the median of all channels.
The result feeds the tree and trace labels, and, on request, the params' `dead_channels`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from app.io.filters import apply, highpass_sos

WINDOWS = 8                   # windows read over the recording
WINDOW_S = 0.5                # seconds per window
HIGHPASS_HZ = 300.0
FLAT_SHARE = 0.95             # share of unchanged consecutive samples that makes a channel flat
SATURATED_SHARE = 0.01        # share of samples at the channel's extreme that makes it saturated
NOISY_FACTOR = 5.0            # noise above this many times the median channel's: noisy
QUIET_FACTOR = 0.1            # noise below this share of the median channel's: quiet (likely dead)


@dataclass
class ChannelCheck:
    """Per-channel findings: `noise` (µV, MAD estimate of the high-passed signal) and the reasons
    each suspicious channel was flagged ({channel: ["flat", ...]})."""

    noise: np.ndarray
    reasons: dict[int, list[str]] = field(default_factory=dict)
    median_noise: float = 0.0

    @property
    def suspicious(self) -> list[int]:
        return sorted(self.reasons)

    def describe(self, channel: int) -> str:
        """One line for a tooltip: why `channel` is suspicious, with its noise level."""
        why = ", ".join(self.reasons.get(int(channel), []))
        level = f"noise {self.noise[int(channel)]:.3g} (median {self.median_noise:.3g})"
        return f"suspicious: {why}; {level}" if why else level


def window_starts(duration: int, width: int, count: int = WINDOWS) -> list[int]:
    """`count` window starts spread evenly over [0, duration - width] (fewer for a short recording)."""
    if duration <= width:
        return [0]
    return sorted({int(s) for s in np.linspace(0, duration - width, count)})


def check_channels(read_range: Callable[[int, int], np.ndarray], duration: int, sampling_rate: float,
                   channels: Sequence[int] | None = None, cancelled: Callable[[], bool] = lambda: False
                   ) -> ChannelCheck:
    """Check every channel (or `channels`) of a recording read through `read_range(t0, t1)`
    (time, channels) float32 in µV. Raises nothing on a quiet recording: all-flat is reported."""
    width = max(16, min(int(WINDOW_S * sampling_rate), duration))
    blocks = []
    for start in window_starts(duration, width):
        if cancelled():
            break
        blocks.append(np.asarray(read_range(start, min(start + width, duration)), dtype=np.float32))
    data = np.concatenate(blocks) if blocks else np.zeros((0, 0), np.float32)
    if channels is not None:
        data = data[:, list(channels)]
    names = list(channels) if channels is not None else list(range(data.shape[1]))
    return assess(data, blocks_bounds(blocks), sampling_rate, names)


def blocks_bounds(blocks: list[np.ndarray]) -> list[int]:
    return list(np.cumsum([0] + [len(b) for b in blocks]))


def assess(data: np.ndarray, bounds: Sequence[int], sampling_rate: float, names: Sequence[int]) -> ChannelCheck:
    """The findings on samples `data` (time, channels) made of windows cut at `bounds`."""
    n = data.shape[1]
    if data.shape[0] < 2 or n == 0:
        return ChannelCheck(np.zeros(n))
    steps = np.diff(data, axis=0)
    unchanged = np.mean(steps == 0, axis=0)
    at_max = np.mean(data == data.max(axis=0), axis=0)
    at_min = np.mean(data == data.min(axis=0), axis=0)
    noise = noise_levels(data, bounds, sampling_rate)
    live = noise[unchanged < FLAT_SHARE]
    median = float(np.median(live)) if live.size else 0.0
    reasons: dict[int, list[str]] = {}
    for k in range(n):
        found = []
        if unchanged[k] >= FLAT_SHARE:
            found.append("flat")
        elif max(at_max[k], at_min[k]) >= SATURATED_SHARE:
            found.append("saturated")
        if "flat" not in found and median > 0:
            if noise[k] > NOISY_FACTOR * median:
                found.append("noisy")
            elif noise[k] < QUIET_FACTOR * median:
                found.append("quiet")
        if found:
            reasons[int(names[k])] = found
    full = np.zeros(max([int(c) for c in names], default=-1) + 1)
    full[[int(c) for c in names]] = noise
    return ChannelCheck(full, reasons, median)


def noise_levels(data: np.ndarray, bounds: Sequence[int], sampling_rate: float) -> np.ndarray:
    """MAD / 0.6745 of each channel, high-passed per window when the rate allows (spikes, not LFP)."""
    parts = []
    for lo, hi in pairwise(bounds):
        block = data[lo:hi]
        if HIGHPASS_HZ < 0.45 * sampling_rate and len(block) > 32:
            block = apply(block, highpass_sos(HIGHPASS_HZ, sampling_rate))
        else:
            block = block - np.median(block, axis=0)
        parts.append(block)
    filtered = np.concatenate(parts)
    return np.median(np.abs(filtered - np.median(filtered, axis=0)), axis=0) / 0.6745


# -- writing them to a params file ----------------------------------------------------------------
def dead_channels_by_group(channels: Sequence[int], groups: Sequence) -> dict:
    """{group id: [channels]} (SpyKING CIRCUS's `dead_channels` form) of `channels` in `groups`
    (objects with `id` and `channels`); a channel in no group is left out (the sorter skips it)."""
    found: dict = {}
    wanted = {int(c) for c in channels}
    for group in groups:
        mine = [int(c) for c in group.channels if int(c) in wanted]
        if mine:
            found[group.id] = sorted(mine)
    return found


def dead_channels_text(dead: dict) -> str:
    """`{1: [2, 5], 2: [9]}`: the value as the params file writes it."""
    return "{" + ", ".join(f"{group!r}: [{', '.join(str(c) for c in chs)}]" for group, chs in dead.items()) + "}"


def write_dead_channels(params_path: str, dead: dict, description: dict | None = None,
                        data_file: str | None = None) -> str | None:
    """Put `dead` into [detection] dead_channels of `params_path`; the path of the backup kept of
    an existing file (None for a new one). A new file starts from the recording's `description`
    (`DataFile.get_description()`), so it opens the recording too. Written atomically."""
    import os
    import tempfile

    from app.io.params import ParamsFile, write_params
    if os.path.isfile(params_path):
        params = ParamsFile.read(params_path)
    elif description is None:
        raise ValueError(f"{params_path}: no such params file, and no recording to describe in a new one")
    else:
        with tempfile.TemporaryDirectory() as folder:          # the new file's text, made aside
            draft = os.path.join(folder, os.path.basename(params_path))
            write_params(draft, description, data_file=data_file)
            params = ParamsFile.read(draft)
        params.file_name = params_path
    params.set("detection", "dead_channels", dead_channels_text(dead))
    backup = params.write(params_path)
    return None if backup is None else str(backup)


def check_session(session, cancelled: Callable[[], bool] = lambda: False) -> ChannelCheck:
    """`check_channels` on the session's open recording, read under its trace source's lock."""
    from app.model.events import session_reader
    reader = session_reader(session)
    if reader is None:
        raise ValueError("no recording is open")
    return check_channels(reader.read_range, reader.duration, session.recording.sampling_rate,
                          cancelled=cancelled)


def session_params(session) -> tuple[dict, str, str]:
    """(description, data file, suggested params path) of the session's recording: what a new
    params file holding its dead channels starts from."""
    import os
    datafile = session.recording.datafile
    data_file = os.path.abspath(datafile.file_name)
    return datafile.get_description(), data_file, os.path.splitext(data_file)[0] + ".params"
