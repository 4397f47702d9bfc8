"""What spike sorters found, read from their own files into one plain-data `Sorting`.

Three layouts are read natively (numpy + h5py, no sorter installed):

- SpyKING CIRCUS 1.1 results: ``<data folder>/<stem>/<stem>.result[-suffix].hdf5`` (groups
  ``spiketimes/temp_N`` and ``amplitudes/temp_N``) with ``<stem>.templates[-suffix].hdf5`` (a
  sparse matrix of shape (N_e * N_t, 2 * nb_templates) in ``temp_x``/``temp_y``/``temp_data``/
  ``temp_shape``; the first half of the columns are the templates, the second half their
  orthogonal components) and optionally ``<stem>.clusters[-suffix].hdf5``. The merged result
  (``-merged``, written by the meta-merging step) is preferred when present.
- phy folders (Kilosort, SpyKING CIRCUS export, SpikeInterface ``export_to_phy``): ``params.py``
  is read as data (each ``name = literal`` line through ``ast.literal_eval``, never executed).
- SpikeInterface sorting folders (``sorting.save(folder=...)``: ``spikes.npy`` +
  ``numpysorting_info.json``), and ``run_sorter`` output folders through SpikeInterface when it is
  importable.

Spike times are samples of the sorted recording (int64, sorted per unit); a template is
(n_samples, n_template_channels) with `template_channels` naming the recording channel of each
column. Every damaged or missing piece raises `SortingError` naming the file and what is missing.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.io.errors import SortingError

LABELS = ("good", "mua", "noise", "unsorted")
PARAMS_PY_MAX_BYTES = 1 << 20


@dataclass
class SortedUnit:
    """One unit as the sorter wrote it."""

    id: int
    spike_train: np.ndarray                     # int64 samples, sorted
    label: str = "unsorted"
    template: np.ndarray | None = None          # (n_samples, len(template_channels)) float32
    template_channels: np.ndarray | None = None  # recording channel of each template column
    amplitudes: np.ndarray | None = None        # one per spike, in spike_train order


@dataclass
class Sorting:
    """A sorter's result: its units and where they came from."""

    units: list[SortedUnit]
    sorter: str                                 # 'SpyKING CIRCUS', 'phy', 'SpikeInterface'
    source: str                                 # the file or folder actually read
    sampling_rate: float | None = None
    template_units: str = ""                    # 'µV' when the templates are in µV, '' unknown
    notes: list[str] = field(default_factory=list)


def read_sorting(path: str | os.PathLike, **options: Any) -> Sorting:
    """Read whatever sorter output `path` is: a phy folder, a SpikeInterface folder, a
    SpyKING CIRCUS result file or folder, or a recording whose SpyKING CIRCUS folder sits next to it."""
    path = Path(path)
    if path.is_dir():
        if (path / "params.py").is_file() and (path / "spike_times.npy").is_file():
            return read_phy(path)
        if (path / "spikes.npy").is_file() or (path / "spikeinterface_log.json").is_file():
            return read_spikeinterface(path)
        if _circus_candidates(path, path.name):
            return read_spyking_circus(path, **options)
        raise SortingError(f"{path}: no sorter output found (expected a phy folder with params.py and "
                           f"spike_times.npy, a SpikeInterface folder with spikes.npy, or SpyKING CIRCUS "
                           f"{path.name}.result.hdf5). Choose the folder the sorter wrote.", str(path))
    return read_spyking_circus(path, **options)


# --- SpyKING CIRCUS -------------------------------------------------------------------------------

def _circus_candidates(folder: Path, stem: str) -> dict[str, Path]:
    """suffix ('' or '-merged', ...) -> result file, for every `<stem>.result*.hdf5` in `folder`."""
    found = {}
    pattern = re.compile(re.escape(stem) + r"\.result(?P<suffix>[^.]*)\.hdf5$")
    if folder.is_dir():
        for entry in folder.iterdir():
            match = pattern.match(entry.name)
            if match and entry.is_file():
                found[match.group("suffix")] = entry
    return found


def _circus_location(path: Path) -> tuple[Path, str]:
    """(result folder, stem) from a recording, its result folder or one of its result files."""
    if path.is_dir():
        return path, path.name
    match = re.match(r"(?P<stem>.+)\.(result|templates|clusters)[^.]*\.hdf5$", path.name)
    if match:
        return path.parent, match.group("stem")
    return path.parent / path.stem, path.stem        # the recording: SC writes next to it


def read_spyking_circus(path: str | os.PathLike, suffix: str | None = None,
                        channels: Any = None) -> Sorting:
    """SpyKING CIRCUS 1.1 results. `suffix` picks a result ('' or '-merged'; None: merged if
    present). `channels` maps template electrode i to a recording channel (the probe's channels in
    order; default: electrode i is channel i)."""
    folder, stem = _circus_location(Path(path))
    candidates = _circus_candidates(folder, stem)
    if not candidates:
        raise SortingError(f"{folder / (stem + '.result.hdf5')}: no SpyKING CIRCUS result; run the fitting "
                           f"step first, or choose the folder that holds {stem}.result.hdf5.",
                           str(folder / (stem + ".result.hdf5")))
    if suffix is None:
        suffix = "-merged" if "-merged" in candidates else ("" if "" in candidates else sorted(candidates)[0])
    if suffix not in candidates:
        raise SortingError(f"{folder / f'{stem}.result{suffix}.hdf5'}: no such result; found "
                           f"{', '.join(p.name for p in candidates.values())}.", str(folder))
    result_file = candidates[suffix]
    templates_file = folder / f"{stem}.templates{suffix}.hdf5"
    times, amplitudes = _circus_results(result_file)
    templates = _circus_templates(templates_file)
    notes = [f"read {result_file.name}" + (" (the merged result)" if suffix == "-merged" else "")]
    if suffix == "" and "-merged" in candidates:
        notes.append(f"{stem}.result-merged.hdf5 is there too; it was not asked for")
    electrodes = _circus_electrodes(folder / f"{stem}.clusters{suffix}.hdf5", notes)
    n_templates = len(templates)
    extra = sorted(k for k in times if k >= n_templates)
    if extra:
        raise SortingError(f"{result_file}: spiketimes/temp_{extra[0]} has no template in "
                           f"{templates_file.name} ({n_templates} templates); the two files are from "
                           f"different runs.", str(result_file))
    channel_of = _electrode_channels(channels, templates.shape[2] if n_templates else 0, templates_file)
    units = []
    for k in range(n_templates):
        train = times.get(k, np.zeros(0, dtype=np.int64))
        amps = amplitudes.get(k)
        order = np.argsort(train, kind="stable")
        units.append(SortedUnit(k, train[order], "unsorted", templates[k], channel_of,
                                None if amps is None else amps[order]))
    sorting = Sorting(units, "SpyKING CIRCUS", str(result_file), notes=notes)
    if electrodes is not None and len(electrodes) == n_templates:
        sorting.notes.append("clusters file read: electrodes of each template")
    return sorting


def _h5(path: Path, what: str):
    import h5py

    if not path.is_file():
        raise SortingError(f"{path}: missing; SpyKING CIRCUS writes {what} there.", str(path))
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise SortingError(f"{path}: not a readable HDF5 file ({error}); the run may have been cut short.",
                           str(path)) from error


def _temp_index(name: str, path: Path, group: str) -> int:
    match = re.fullmatch(r"temp_(\d+)", name)
    if not match:
        raise SortingError(f"{path}: {group}/{name} is not named temp_N.", str(path))
    return int(match.group(1))


def _circus_results(path: Path) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """temp index -> spike samples and -> amplitudes (first column: the fitted scaling)."""
    times: dict[int, np.ndarray] = {}
    amplitudes: dict[int, np.ndarray] = {}
    with _h5(path, "the fitted spikes") as handle:
        if "spiketimes" not in handle:
            raise SortingError(f"{path}: no 'spiketimes' group; the fitting did not finish.", str(path))
        try:
            for name, dataset in handle["spiketimes"].items():
                times[_temp_index(name, path, "spiketimes")] = np.asarray(dataset[()]).astype(np.int64).ravel()
            for name, dataset in (handle["amplitudes"].items() if "amplitudes" in handle else ()):
                values = np.asarray(dataset[()], dtype=np.float64)
                amplitudes[_temp_index(name, path, "amplitudes")] = (
                    values[:, 0] if values.ndim == 2 else values.ravel()).astype(np.float32)
        except (OSError, KeyError, ValueError, TypeError) as error:
            raise SortingError(f"{path}: cannot read the spikes ({error}); the file is damaged.",
                               str(path)) from error
    for k, amps in amplitudes.items():
        if k in times and len(amps) != len(times[k]):
            raise SortingError(f"{path}: amplitudes/temp_{k} has {len(amps)} values for "
                               f"{len(times[k])} spikes; the file is damaged.", str(path))
    return times, amplitudes


def _circus_templates(path: Path) -> np.ndarray:
    """(nb_templates, N_t, N_e) float32: the first half of the stored columns, made dense."""
    with _h5(path, "the templates") as handle:
        missing = [k for k in ("temp_x", "temp_y", "temp_data", "temp_shape") if k not in handle]
        if missing:
            raise SortingError(f"{path}: no {', '.join(missing)}; not a SpyKING CIRCUS templates file, "
                               f"or the clustering did not finish.", str(path))
        try:
            rows = np.asarray(handle["temp_x"][()]).ravel().astype(np.int64)
            cols = np.asarray(handle["temp_y"][()]).ravel().astype(np.int64)
            values = np.asarray(handle["temp_data"][()]).ravel().astype(np.float32)
            shape = np.asarray(handle["temp_shape"][()]).ravel().astype(np.int64)
        except (OSError, ValueError, TypeError) as error:
            raise SortingError(f"{path}: cannot read the templates ({error}); the file is damaged.",
                               str(path)) from error
    if len(shape) != 3 or np.any(shape < 0):
        raise SortingError(f"{path}: temp_shape is {shape.tolist()}, expected [N_e, N_t, nb_templates].",
                           str(path))
    n_electrodes, n_t, n_columns = (int(v) for v in shape)
    if not (len(rows) == len(cols) == len(values)):
        raise SortingError(f"{path}: temp_x, temp_y and temp_data differ in length "
                           f"({len(rows)}, {len(cols)}, {len(values)}); the file is damaged.", str(path))
    if len(rows) and (rows.min() < 0 or rows.max() >= n_electrodes * n_t
                      or cols.min() < 0 or cols.max() >= n_columns):
        raise SortingError(f"{path}: an index in temp_x/temp_y is outside temp_shape {shape.tolist()}; "
                           f"the file is damaged.", str(path))
    n_templates = n_columns // 2
    keep = cols < n_templates
    dense = np.zeros((n_templates, n_electrodes * n_t), dtype=np.float32)
    # A column is one template flattened electrode-major: row = electrode * N_t + time.
    np.add.at(dense, (cols[keep], rows[keep]), values[keep])
    return dense.reshape(n_templates, n_electrodes, n_t).transpose(0, 2, 1).copy()


def _circus_electrodes(path: Path, notes: list[str]) -> np.ndarray | None:
    """The `electrodes` of the optional clusters file (each template's electrode), or None."""
    if not path.is_file():
        return None
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            return np.asarray(handle["electrodes"][()]).ravel() if "electrodes" in handle else None
    except (OSError, KeyError, ValueError) as error:
        notes.append(f"{path.name} unreadable ({error}); not needed")
        return None


def _electrode_channels(channels: Any, n_electrodes: int, path: Path) -> np.ndarray:
    if channels is None:
        return np.arange(n_electrodes, dtype=np.int64)
    mapped = np.asarray(channels, dtype=np.int64).ravel()
    if len(mapped) != n_electrodes:
        raise SortingError(f"{path}: the templates have {n_electrodes} electrodes but {len(mapped)} "
                           f"channels were given; give the probe the sorter used.", str(path))
    return mapped


# --- phy ------------------------------------------------------------------------------------------

def read_params_py(path: str | os.PathLike) -> dict[str, Any]:
    """phy's params.py as data: every `name = literal` statement, evaluated by `ast.literal_eval`."""
    path = Path(path)
    try:
        if path.stat().st_size > PARAMS_PY_MAX_BYTES:
            raise SortingError(f"{path}: {path.stat().st_size} bytes, too big for a phy params.py.", str(path))
        text = path.read_text(encoding="utf-8", errors="replace")
        tree = ast.parse(text, filename=str(path))
    except OSError as error:
        raise SortingError(f"{path}: cannot read ({error}).", str(path)) from error
    except SyntaxError as error:
        raise SortingError(f"{path}: line {error.lineno}: not valid Python syntax; fix or rewrite the "
                           f"phy params.py.", str(path)) from error
    values: dict[str, Any] = {}
    for statement in tree.body:
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)):
            raise SortingError(f"{path}: line {statement.lineno}: only `name = value` lines are read "
                               f"(this file is data, never run).", str(path))
        try:
            values[statement.targets[0].id] = ast.literal_eval(statement.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as error:
            raise SortingError(f"{path}: line {statement.lineno}: {statement.targets[0].id} is not a plain "
                               f"value ({error}).", str(path)) from error
    return values


def _load_npy(path: Path, required: bool = True) -> np.ndarray | None:
    if not path.is_file():
        if required:
            raise SortingError(f"{path}: missing; the sorter's export is incomplete.", str(path))
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise SortingError(f"{path}: not a readable .npy file ({error}); the file is damaged.",
                           str(path)) from error


def _read_labels(folder: Path) -> tuple[dict[int, str], str]:
    """cluster id -> label from cluster_group.tsv (the curator's), else cluster_KSLabel.tsv."""
    for name in ("cluster_group.tsv", "cluster_KSLabel.tsv"):
        path = folder / name
        if not path.is_file():
            continue
        try:
            with open(path, newline="", encoding="utf-8", errors="replace") as handle:
                rows = list(csv.reader(handle, delimiter="\t"))
        except OSError as error:
            raise SortingError(f"{path}: cannot read ({error}).", str(path)) from error
        labels = {}
        for line, row in enumerate(rows[1:], start=2):
            if len(row) < 2 or not row[0].strip():
                continue
            try:
                labels[int(row[0])] = row[1].strip().lower() if row[1].strip().lower() in LABELS else "unsorted"
            except ValueError as error:
                raise SortingError(f"{path}: line {line}: cluster id {row[0]!r} is not a whole number.",
                                   str(path)) from error
        return labels, name
    return {}, ""


def read_phy(folder: str | os.PathLike) -> Sorting:
    """A phy folder: units are the clusters of spike_clusters.npy (or the templates of
    spike_templates.npy when there are no clusters), each with the template most of its spikes use."""
    folder = Path(folder)
    params = read_params_py(folder / "params.py")
    times = _load_npy(folder / "spike_times.npy").astype(np.int64).ravel()
    spike_templates = _load_npy(folder / "spike_templates.npy", required=False)
    clusters = _load_npy(folder / "spike_clusters.npy", required=False)
    if clusters is None and spike_templates is None:
        raise SortingError(f"{folder / 'spike_clusters.npy'}: missing, and no spike_templates.npy either; "
                           f"cannot tell which unit each spike is.", str(folder))
    clusters = (clusters if clusters is not None else spike_templates).astype(np.int64).ravel()
    for name, array in (("spike_clusters.npy", clusters), ("spike_templates.npy", spike_templates)):
        if array is not None and array.size != len(times):
            raise SortingError(f"{folder / name}: {array.size} rows for {len(times)} spike times; "
                               f"the export is incomplete.", str(folder / name))
    amplitudes = _load_npy(folder / "amplitudes.npy", required=False)
    if amplitudes is not None:
        amplitudes = amplitudes.astype(np.float32).ravel()
        if len(amplitudes) != len(times):
            raise SortingError(f"{folder / 'amplitudes.npy'}: {len(amplitudes)} values for {len(times)} "
                               f"spikes; the export is incomplete.", str(folder / "amplitudes.npy"))
    templates, template_channels = _phy_templates(folder)
    labels, label_file = _read_labels(folder)
    units = []
    spike_templates = None if spike_templates is None else spike_templates.astype(np.int64).ravel()
    # One sort for all clusters (by cluster, then time): a per-cluster scan is n_clusters x n_spikes.
    for cluster, rows in _group_by_cluster(clusters, times):
        template, channels = _cluster_template(int(cluster), rows, spike_templates, templates, template_channels)
        units.append(SortedUnit(int(cluster), times[rows], labels.get(int(cluster), "unsorted"), template,
                                channels, None if amplitudes is None else amplitudes[rows]))
    rate = params.get("sample_rate")
    notes = [f"labels from {label_file}" if label_file else "no cluster_group.tsv: every unit unsorted"]
    return Sorting(units, "phy", str(folder), float(rate) if isinstance(rate, (int, float)) else None,
                   notes=notes)


def _group_by_cluster(clusters: np.ndarray, times: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(cluster id, its spike rows in time order) for every cluster, with one sort for all of them."""
    if not len(clusters):
        return []
    in_time = bool(np.all(times[1:] >= times[:-1]))                  # phy's are, as a rule
    if in_time and clusters.min() >= 0 and clusters.max() < 1 << 16:
        order = np.argsort(clusters.astype(np.uint16), kind="stable")   # a radix sort for 16-bit keys
        counts = np.bincount(clusters)
        ids = np.flatnonzero(counts)
        starts = np.cumsum(counts[ids])[:-1]
    else:
        order = np.lexsort((times, clusters))
        ids, first = np.unique(clusters[order], return_index=True)
        starts = first[1:]
    return list(zip(ids.tolist(), np.split(order, starts)))


def _phy_templates(folder: Path) -> tuple[np.ndarray | None, np.ndarray | None]:
    """templates (n_templates, n_samples, n_cols) unwhitened when phy's inverse is there, and the
    recording channel of each column per template (n_templates, n_cols)."""
    templates = _load_npy(folder / "templates.npy", required=False)
    if templates is None:
        return None, None
    if templates.ndim != 3:
        raise SortingError(f"{folder / 'templates.npy'}: shape {templates.shape}, expected "
                           f"(n_templates, n_samples, n_channels).", str(folder / "templates.npy"))
    templates = templates.astype(np.float32)
    channel_map = _load_npy(folder / "channel_map.npy", required=False)
    channel_map = (np.arange(templates.shape[2]) if channel_map is None
                   else channel_map.astype(np.int64).ravel())
    index = _load_npy(folder / "template_ind.npy", required=False)
    if index is None:
        if len(channel_map) != templates.shape[2]:
            raise SortingError(f"{folder / 'channel_map.npy'}: {len(channel_map)} channels but the templates "
                               f"have {templates.shape[2]}; the export is inconsistent.", str(folder))
        unwhiten = _load_npy(folder / "whitening_mat_inv.npy", required=False)
        if unwhiten is not None and unwhiten.shape == (templates.shape[2],) * 2:
            templates = templates @ unwhiten.astype(np.float32)
        index = np.broadcast_to(np.arange(templates.shape[2]), templates.shape[::2])
    elif index.shape != templates.shape[::2]:
        raise SortingError(f"{folder / 'template_ind.npy'}: shape {index.shape}, expected "
                           f"{templates.shape[::2]}.", str(folder / "template_ind.npy"))
    index = index.astype(np.int64)
    if index.max(initial=-1) >= len(channel_map):
        raise SortingError(f"{folder / 'template_ind.npy'}: a channel index beyond channel_map.npy.", str(folder))
    channels = np.where(index >= 0, channel_map[np.clip(index, 0, None)], -1)
    return templates, channels


def _cluster_template(cluster: int, rows: np.ndarray, spike_templates: np.ndarray | None,
                      templates: np.ndarray | None, channels: np.ndarray | None):
    """The template most of the cluster's spikes were fitted with (phy's own choice)."""
    if templates is None:
        return None, None
    if spike_templates is not None and len(rows):
        chosen = int(np.bincount(spike_templates[rows]).argmax())
    else:
        chosen = cluster
    if not 0 <= chosen < len(templates):
        return None, None
    valid = channels[chosen] >= 0
    return templates[chosen][:, valid], channels[chosen][valid]


# --- SpikeInterface -------------------------------------------------------------------------------

def read_spikeinterface(folder: str | os.PathLike) -> Sorting:
    """A SpikeInterface NumpyFolderSorting (read natively), or a `run_sorter` output folder (read
    through SpikeInterface, which must be installed)."""
    folder = Path(folder)
    if (folder / "spikes.npy").is_file():
        return _read_numpy_folder(folder)
    _check_sorter_log(folder / "spikeinterface_log.json")
    # SpikeInterface's own sorters save a NumpyFolderSorting here; others need their reader.
    for inner in (folder / "sorter_output" / "sorting", folder / "sorting"):
        if (inner / "spikes.npy").is_file():
            sorting = _read_numpy_folder(inner)
            sorting.notes.append(f"read {inner.relative_to(folder)} of a run_sorter folder")
            return sorting
    try:
        from spikeinterface.sorters import read_sorter_folder
    except ImportError as error:
        raise SortingError(f"{folder}: a run_sorter output folder; reading it needs SpikeInterface "
                           f"(pip install spikeinterface), or save the sorting with sorting.save().",
                           str(folder)) from error
    try:
        sorting = read_sorter_folder(folder, register_recording=False, sorting_info=False)
    except Exception as error:  # noqa: BLE001 - any failure of a third-party reader becomes a typed error
        raise SortingError(f"{folder}: SpikeInterface cannot read this sorter folder "
                           f"({type(error).__name__}: {error}).", str(folder)) from error
    return _from_spikeinterface(sorting, folder)


def _check_sorter_log(path: Path) -> None:
    """A run_sorter folder says in its log whether the sorter failed."""
    if not path.is_file():
        raise SortingError(f"{path.parent}: no spikes.npy and no spikeinterface_log.json; not a SpikeInterface "
                           f"sorting or run_sorter folder.", str(path.parent))
    try:
        log = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SortingError(f"{path}: unreadable ({error}).", str(path)) from error
    if isinstance(log, dict) and log.get("error"):
        trace = str(log.get("error_trace") or "").strip().splitlines()
        raise SortingError(f"{path}: the sorter {log.get('sorter_name', '')!s} failed"
                           + (f" ({trace[-1]})" if trace else "") + "; there is no result to read.", str(path))


def _from_spikeinterface(sorting: Any, folder: Path) -> Sorting:
    if sorting.get_num_segments() != 1:
        raise SortingError(f"{folder}: {sorting.get_num_segments()} segments; only one-segment sortings "
                           f"are read.", str(folder))
    units = [SortedUnit(_unit_id(uid, k), np.sort(np.asarray(sorting.get_unit_spike_train(uid), dtype=np.int64)))
             for k, uid in enumerate(sorting.unit_ids)]
    return Sorting(units, "SpikeInterface", str(folder), float(sorting.get_sampling_frequency()))


def _unit_id(value: Any, fallback: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return fallback


def _read_numpy_folder(folder: Path) -> Sorting:
    info_path = folder / "numpysorting_info.json"
    if not info_path.is_file():
        raise SortingError(f"{info_path}: missing; a SpikeInterface sorting folder has it next to "
                           f"spikes.npy.", str(info_path))
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        rate = float(info["sampling_frequency"])
        unit_ids = list(info["unit_ids"])
        segments = int(info.get("num_segments", 1))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SortingError(f"{info_path}: unreadable or missing sampling_frequency/unit_ids ({error}).",
                           str(info_path)) from error
    spikes = _load_npy(folder / "spikes.npy")
    names = spikes.dtype.names or ()
    missing = [n for n in ("sample_index", "unit_index") if n not in names]
    if missing:
        raise SortingError(f"{folder / 'spikes.npy'}: no field {', '.join(missing)}; not a SpikeInterface "
                           f"spike vector.", str(folder / "spikes.npy"))
    if segments != 1 or ("segment_index" in names and np.any(spikes["segment_index"] != 0)):
        raise SortingError(f"{folder}: {segments} segments; only one-segment sortings are read.", str(folder))
    unit_index = spikes["unit_index"].astype(np.int64)
    if len(unit_index) and (unit_index.min() < 0 or unit_index.max() >= len(unit_ids)):
        raise SortingError(f"{folder / 'spikes.npy'}: unit_index up to {unit_index.max()} but "
                           f"{info_path.name} lists {len(unit_ids)} units.", str(folder))
    samples = spikes["sample_index"].astype(np.int64)
    order = np.lexsort((samples, unit_index))
    bounds = np.searchsorted(unit_index[order], np.arange(len(unit_ids) + 1))
    units = [SortedUnit(_unit_id(uid, k), samples[order[bounds[k]:bounds[k + 1]]])
             for k, uid in enumerate(unit_ids)]
    return Sorting(units, "SpikeInterface", str(folder), rate)
