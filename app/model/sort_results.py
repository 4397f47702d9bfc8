"""Sort results for the browser: where a sorter's output is, read as the open recording's `Units`,
and the spike trains written to a CSV file (no widgets).

`read_units(path, recording)` accepts everything `app.io.sorting.read_sorting` reads (SpyKING CIRCUS
results, phy folders, SpikeInterface folders) and a Wavescope sort output folder (`wavescope sort
--output DIR` writes DIR/sorting/ and the run's record DIR/wavescope-run.json).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from app.io import atomic
from app.io.errors import SortingError
from app.io.sorting import read_sorting
from app.model.units import Units

RUN_RECORD = "wavescope-run.json"
ESTIMATE_SPIKES = 20                     # spikes averaged per unit when the results have no template
ESTIMATE_WINDOW_MS = (1.0, 2.0)          # before and after the spike
RATE_TOLERANCE = 1e-3          # a sorting made at another rate than the recording's is refused


def locate_results(path: str | os.PathLike) -> Path:
    """What to read for `path`: DIR/sorting of a Wavescope sort output DIR, else `path` itself."""
    path = Path(path)
    inner = path / "sorting"
    if path.is_dir() and inner.is_dir() and not (path / "spikes.npy").is_file() \
            and not (path / "params.py").is_file():
        return inner
    return path


MARKER_FILES = ("params.py", "spike_times.npy", "spike_clusters.npy", "spikes.npy", "numpysorting_info.json",
                "spikeinterface_log.json", RUN_RECORD)


def results_target(path: str | os.PathLike) -> Path:
    """A file picked inside a results folder (phy's params.py, SpikeInterface's spikes.npy, the
    run record) stands for its folder; any other path (a SpyKING CIRCUS result file) for itself."""
    path = Path(path)
    return path.parent if path.name in MARKER_FILES else path


def job_results_path(job: Any) -> str | None:
    """Where a finished sort job's results are (None: nowhere known): the job's own `results_path()`
    when it has one, else its `output` folder, else (SpyKING CIRCUS) the folder beside the
    recording (<stem>/)."""
    results_path = getattr(job, "results_path", None)     # given by SortJobs that know their output
    if callable(results_path):
        found = results_path()
        return None if found is None else os.fspath(found)
    if getattr(job, "output", None) and job.sorter != "spyking-circus":     # its -o names a converted file
        return os.fspath(job.output)
    return os.path.splitext(job.data_file())[0]


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def read_units(path: str | os.PathLike, recording: Any, lock: Any = None) -> Units:
    """The units of the sort results at `path`, placed on `recording`'s timeline (its rate and
    length). A `SortingError` names the file when nothing readable is there or the rates differ.
    Units without a template (SpikeInterface sortings) get one averaged from the recording
    (`estimate_templates`; `lock` is the lock the recording's other readers hold)."""
    sorting = read_sorting(locate_results(path))
    rate = float(recording.sampling_rate)
    if sorting.sampling_rate and abs(sorting.sampling_rate - rate) > RATE_TOLERANCE * rate:
        raise SortingError(f"{sorting.source}: sorted at {sorting.sampling_rate:g} Hz but the open recording "
                           f"{recording.name} is sampled at {rate:g} Hz; open the recording that was sorted.",
                           sorting.source)
    n_samples = int(getattr(recording, "duration", 0)) or None
    place_circus_electrodes(sorting, getattr(recording, "probe", None))
    estimate_templates(sorting, recording, lock)
    units = Units(sorting, n_samples=n_samples, sampling_rate=rate)
    units.measured_amplitudes = measure_amplitudes(units, recording, lock)
    units.measured_units = str(getattr(recording, "units", ""))
    channels = int(recording.nb_channels)
    beyond = [u.id for u in units.units if u.peak_channel >= channels]
    if beyond:
        raise SortingError(f"{sorting.source}: unit {beyond[0]}'s peak channel is beyond the recording's "
                           f"{channels} channels; open the recording that was sorted.", sorting.source)
    return units


def place_circus_electrodes(sorting: Any, probe: Any) -> bool:
    """SpyKING CIRCUS numbers a template's electrodes 0..N_e-1 over the probe's channels as the
    .prb lists them, group after group (its `nodes`, circus/shared/probes.get_nodes_and_edges),
    not over the recording's channels: electrode i is the probe's i-th listed channel. Place the
    templates there when the probe has as many channels as the templates have electrodes; True
    when placed."""
    if probe is None or sorting.sorter != "SpyKING CIRCUS":
        return False
    nodes = np.asarray(probe.channels, dtype=np.int64)
    units = [u for u in sorting.units if u.template is not None and u.template_channels is not None]
    if not units or any(len(u.template_channels) != len(nodes) for u in units):
        return False
    for unit in units:
        unit.template_channels = nodes[np.asarray(unit.template_channels, dtype=np.int64)]
    sorting.notes.append(f"template electrodes placed on the probe's {len(nodes)} channels")
    return True


def _mean_snippet(datafile: Any, samples: np.ndarray, before: int, after: int, lock: Any,
                  nodes: list[int] | None = None) -> np.ndarray:
    """The mean of the snippets [s - before, s + after) of `samples` (time, channels), float64."""
    total = None
    for sample in samples.tolist():
        if lock is not None:
            with lock:
                snippet = datafile.read_range(sample - before, sample + after, nodes)
        else:
            snippet = datafile.read_range(sample - before, sample + after, nodes)
        total = snippet.astype(np.float64) if total is None else total + snippet
    return total / len(samples)


def _chosen_spikes(train: np.ndarray, before: int, after: int, total: int, count: int) -> np.ndarray:
    """Up to `count` spikes evenly spread over `train`, each with its whole snippet in [0, total)."""
    train = np.asarray(train)
    train = train[(train >= before) & (train < total - after)]
    if not len(train):
        return train
    return train[np.unique(np.linspace(0, len(train) - 1, min(count, len(train))).astype(np.int64))]


def measure_amplitudes(units: Units, recording: Any, lock: Any = None, count: int = ESTIMATE_SPIKES) -> dict[int, float]:
    """unit id -> the peak-to-peak of its mean waveform (`count` spikes) on its peak channel, read
    from `recording` (in its units, µV as a rule): an amplitude whatever scale the sorter's templates have."""
    rate, total = float(recording.sampling_rate), int(recording.duration)
    before, after = (round(ms * rate / 1000) for ms in ESTIMATE_WINDOW_MS)
    found = {}
    for unit in units.units:
        chosen = _chosen_spikes(unit.spike_train, before, after, total, count)
        if unit.peak_channel < 0 or not len(chosen):
            continue
        wave = _mean_snippet(recording.datafile, chosen, before, after, lock, [unit.peak_channel])
        found[unit.id] = float(np.ptp(wave[:, 0]))
    return found


def estimate_templates(sorting: Any, recording: Any, lock: Any = None, count: int = ESTIMATE_SPIKES) -> int:
    """Give every unit of `sorting` that has no template the mean of `count` of its spikes (evenly
    spread over its train) read from `recording` on all channels, less its per-channel median (the
    baseline); how many units got one. The templates are in the
    recording's units (µV as a rule), so a sorting that had none is marked so."""
    datafile = recording.datafile
    rate, total = float(recording.sampling_rate), int(recording.duration)
    before, after = (round(ms * rate / 1000) for ms in ESTIMATE_WINDOW_MS)
    had_templates = any(unit.template is not None for unit in sorting.units)
    made = 0
    for unit in sorting.units:
        if unit.template is not None:
            continue
        chosen = _chosen_spikes(unit.spike_train, before, after, total, count)
        if not len(chosen):
            continue
        mean = _mean_snippet(datafile, chosen, before, after, lock)
        unit.template = (mean - np.median(mean, axis=0)).astype(np.float32)
        unit.template_channels = np.arange(unit.template.shape[1])
        made += 1
    if made:
        sorting.notes.append(f"{made} templates averaged from up to {count} spikes each of the recording")
        if not had_templates and getattr(recording, "units", "") == "µV":
            sorting.template_units = "µV"
    return made


def write_spike_csv(units: Units, path: str | os.PathLike, unit_ids: list[int] | None = None,
                    channel_names: list[str] | None = None) -> int:
    """One row per spike (unit, sample, time_s, label, peak channel by name), sorted by time,
    written atomically to `path`; how many spikes were written."""
    wanted = set(units.ids if unit_ids is None else unit_ids)
    chosen = [u for u in units.units if u.id in wanted]
    rate = units.sampling_rate or 1.0
    samples = np.concatenate([u.spike_train for u in chosen]) if chosen else np.zeros(0, dtype=np.int64)
    owners = np.repeat(np.arange(len(chosen)), [len(u.spike_train) for u in chosen])
    order = np.argsort(samples, kind="stable")
    heads = [f"{u.id}," for u in chosen]
    tails = [f",{u.label},{_channel_text(u.peak_channel, channel_names)}\n" for u in chosen]
    with atomic.replacing(path) as temporary, open(temporary, "w", encoding="utf-8", newline="") as handle:
        handle.write("unit,sample,time_s,label,peak_channel\n")
        handle.writelines(f"{heads[k]}{s},{s / rate:.6f}{tails[k]}"
                          for s, k in zip(samples[order].tolist(), owners[order].tolist(), strict=True))
    return len(samples)


def _channel_text(channel: int, names: list[str] | None) -> str:
    if channel < 0:
        return ""
    text = names[channel] if names is not None and channel < len(names) else str(channel)
    return '"' + text.replace('"', '""') + '"' if "," in text or '"' in text else text
