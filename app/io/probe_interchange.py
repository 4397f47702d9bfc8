"""Probe files in and out: SpyKING CIRCUS `.prb`, probeinterface JSON, Kilosort channel maps
(`.mat`), and probeinterface library entries (cached locally).

Every reader returns a `ProbeGeometry` (source "file" or "library"); every writer takes one and
writes atomically. `.prb` is read by our safe parser (never executed; probeinterface `exec`s it)
and written as plain numbers by our own writer, so the file reads in SpyKING CIRCUS and in
probeinterface alike (probeinterface under numpy 2 writes `np.int64(0)`, which SpyKING CIRCUS
cannot read). probeinterface JSON goes through probeinterface's public API.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from app.io import atomic
from app.io.errors import ProbeError
from app.io.probe import parse_probe_text, read_probe
from app.io.probe_geometry import DEFAULT_RADIUS, ProbeGeometry

EXTENSIONS = {".prb": "SpyKING CIRCUS probe", ".json": "probeinterface JSON", ".mat": "Kilosort channel map"}
INSTALL_HINT = 'install probeinterface (pip install "wavescope[si]" or pip install probeinterface)'


def _kind(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in EXTENSIONS:
        raise ProbeError(f"{path}: unknown probe file type {suffix or '(none)'}; use one of "
                         f"{', '.join(f'{k} ({v})' for k, v in EXTENSIONS.items())}.", str(path))
    return suffix


def _probeinterface():
    try:
        import probeinterface
    except ImportError:
        raise ProbeError(f"probeinterface JSON and the probe library need probeinterface; {INSTALL_HINT}.") from None
    return probeinterface


# -- reading ------------------------------------------------------------------------------------

def read_probe_file(path: str | os.PathLike) -> ProbeGeometry:
    """The geometry in a `.prb`, probeinterface `.json` or Kilosort `.mat` file."""
    kind = _kind(path)
    if not Path(path).is_file():
        raise ProbeError(f"{path}: no such probe file; check the path.", str(path))
    if kind == ".prb":
        return read_prb(path)
    if kind == ".json":
        return read_probeinterface_json(path)
    return read_kilosort_chanmap(path)


def read_prb(path: str | os.PathLike) -> ProbeGeometry:
    """A `.prb`, parsed as data. probeinterface writes `.prb` files with only `channel_groups`:
    those read too (total_nb_channels = highest channel + 1, radius 100 µm, said in the description)."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    if re.search(r"^\s*total_nb_channels\s*=", text, re.MULTILINE) and re.search(r"^\s*radius\s*=", text, re.MULTILINE):
        return ProbeGeometry.from_probe(read_probe(path), "file", str(path))
    # Defaults on the first line (semicolons keep every line number of the file's own text).
    probe = parse_probe_text(f"total_nb_channels = 0; radius = {DEFAULT_RADIUS:g}; " + text, str(path))
    probe.total_nb_channels = int(probe.channels.max(initial=-1)) + 1
    return ProbeGeometry.from_probe(probe, "file", f"{path} (no total_nb_channels/radius: probeinterface style)")


def read_probeinterface_json(path: str | os.PathLike, source: str = "file") -> ProbeGeometry:
    """Every probe of a probeinterface ProbeGroup JSON, shanks numbered across probes; contacts
    without a device channel are left out (all of them unwired: contact k is channel k)."""
    pi = _probeinterface()
    try:
        group = pi.read_probeinterface(str(path))
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as error:
        raise ProbeError(f"{path}: not a probeinterface JSON file ({error}); export it with "
                         "probeinterface.write_probeinterface.", str(path)) from None
    return geometry_from_probegroup(group, source, str(path))


def geometry_from_probegroup(group, source: str, description: str) -> ProbeGeometry:
    channels, positions, shanks = [], [], []
    next_shank, first_channel = 0, 0
    model, shape, size = "", "circle", 0.0
    for probe in group.probes:
        count = probe.get_contact_count()
        wired = probe.device_channel_indices
        wired = np.arange(first_channel, first_channel + count) if wired is None or np.all(wired < 0) \
            else np.asarray(wired, dtype=np.int64)
        raw_shanks = probe.shank_ids if probe.shank_ids is not None else np.full(count, "")
        labels, numbers = np.unique(np.asarray(raw_shanks).astype(str), return_inverse=True)
        keep = wired >= 0
        channels.append(wired[keep])
        positions.append(np.asarray(probe.contact_positions, dtype=np.float64)[keep, :2])
        shanks.append(numbers[keep] + next_shank)
        next_shank += len(labels)
        first_channel = int(wired.max(initial=first_channel - 1)) + 1
        model = model or str(probe.model_name or "")
        if count:
            shape = str(probe.contact_shapes[0])
            params = probe.contact_shape_params[0] or {}
            size = float(params.get("radius", params.get("width", 0.0)))
    if not channels:
        raise ProbeError(f"{description}: the probe group holds no probe.", description)
    return ProbeGeometry(np.concatenate(channels), np.concatenate(positions), np.concatenate(shanks), source,
                         description, shape if shape in ("circle", "square", "rect") else "circle", size, model)


def read_kilosort_chanmap(path: str | os.PathLike) -> ProbeGeometry:
    """A Kilosort `chanMap.mat`: chanMap0ind (or chanMap - 1), xcoords, ycoords, kcoords
    (shank, 1-based), connected (channels marked 0 are left out)."""
    from scipy.io import loadmat
    try:
        mat = loadmat(str(path))
    except (ValueError, OSError, TypeError) as error:
        raise ProbeError(f"{path}: not a MATLAB .mat file ({error}).", str(path)) from None
    missing = [k for k in ("xcoords", "ycoords") if k not in mat] + \
        ([] if "chanMap0ind" in mat or "chanMap" in mat else ["chanMap"])
    if missing:
        raise ProbeError(f"{path}: a Kilosort channel map needs {', '.join(missing)}; this .mat lacks them.",
                         str(path))
    def column(name):
        return np.asarray(mat[name], dtype=np.float64).reshape(-1)
    channels = column("chanMap0ind") if "chanMap0ind" in mat else column("chanMap") - 1
    count = len(channels)
    connected = column("connected").astype(bool) if "connected" in mat else np.ones(count, bool)
    shanks = column("kcoords") if "kcoords" in mat else np.ones(count)
    xy = np.column_stack([column("xcoords"), column("ycoords")])
    if not (len(xy) == len(connected) == len(shanks) == count):
        raise ProbeError(f"{path}: chanMap, xcoords, ycoords, kcoords and connected differ in length.", str(path))
    _, shank_numbers = np.unique(shanks[connected], return_inverse=True)
    return ProbeGeometry(channels[connected].astype(np.int64), xy[connected], shank_numbers, "file", str(path),
                         model_name=str(np.asarray(mat.get("name", [""])).reshape(-1)[0]) if "name" in mat else "")


# -- writing ------------------------------------------------------------------------------------

def write_probe_file(geometry: ProbeGeometry, path: str | os.PathLike, nb_channels: int | None = None,
                     radius: float | None = None, sampling_rate: float | None = None) -> Path:
    """Write `geometry` as the file type `path` names; the file appears complete or not at all."""
    kind = _kind(path)
    if kind == ".prb":
        atomic.write_text(path, geometry.to_probe(nb_channels, radius).to_text())
    elif kind == ".json":
        write_probeinterface_json(geometry, path)
    else:
        write_kilosort_chanmap(geometry, path, nb_channels, sampling_rate)
    return Path(path)


def to_probeinterface(geometry: ProbeGeometry):
    """A probeinterface Probe (2-D, µm) wired to the geometry's channels."""
    pi = _probeinterface()
    probe = pi.Probe(ndim=2, si_units="um", model_name=geometry.model_name or "")
    size = geometry.contact_size or 6.0
    shape = geometry.contact_shape if geometry.contact_shape in ("circle", "square") else "square"
    params = {"radius": size} if shape == "circle" else {"width": size}
    probe.set_contacts(positions=geometry.positions, shapes=shape, shape_params=params,
                       shank_ids=[str(s) for s in geometry.shank_ids])
    probe.set_device_channel_indices(geometry.channels)
    return probe


def write_probeinterface_json(geometry: ProbeGeometry, path: str | os.PathLike) -> None:
    pi = _probeinterface()
    with atomic.replacing(path, suffix=".json") as temporary:
        pi.write_probeinterface(temporary, to_probeinterface(geometry))


def write_kilosort_chanmap(geometry: ProbeGeometry, path: str | os.PathLike, nb_channels: int | None = None,
                           sampling_rate: float | None = None) -> None:
    """chanMap (1-based), chanMap0ind, xcoords, ycoords, kcoords (1-based shank), connected, for
    every recording channel; channels without a contact are marked not connected."""
    from scipy.io import savemat
    total = int(nb_channels if nb_channels is not None else geometry.channels.max(initial=-1) + 1)
    geometry.check_fits(total, str(path))
    xy = np.zeros((total, 2))
    shanks = np.ones(total)
    connected = np.zeros(total, bool)
    xy[geometry.channels] = geometry.positions
    shanks[geometry.channels] = geometry.shank_ids + 1
    connected[geometry.channels] = True
    ids = np.arange(total, dtype=np.float64)
    content = {"chanMap": ids[:, None] + 1, "chanMap0ind": ids[:, None], "xcoords": xy[:, :1],
               "ycoords": xy[:, 1:], "kcoords": shanks[:, None], "connected": connected[:, None],
               "name": geometry.model_name or "wavescope"}
    if sampling_rate:
        content["fs"] = float(sampling_rate)
    with atomic.replacing(path, suffix=".mat") as temporary:
        savemat(temporary, content, appendmat=False)


# -- the probeinterface library -----------------------------------------------------------------

def library_cache() -> Path:
    """Where library entries are kept once fetched (WAVESCOPE_PROBE_CACHE overrides)."""
    root = os.environ.get("WAVESCOPE_PROBE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "wavescope", "probes")
    return Path(root)


def library_probe(manufacturer: str, name: str, *, download: bool = True) -> ProbeGeometry:
    """A probeinterface library entry (e.g. "cambridgeneurotech", "ASSY-156-P-1"): from the local
    cache, else fetched once by probeinterface and kept in the cache."""
    cached = library_cache() / manufacturer / f"{name}.json"
    if not cached.is_file():
        if not download:
            raise ProbeError(f"library probe {manufacturer}/{name} is not in the cache {cached.parent}; "
                             "fetch it once with a network connection.")
        pi = _probeinterface()
        try:
            probe = pi.get_probe(manufacturer, name)
        except OSError as error:        # urllib errors are OSErrors: offline, 404
            raise ProbeError(f"library probe {manufacturer}/{name} could not be fetched ({error}); check the "
                             "name at https://github.com/SpikeInterface/probeinterface_library or the network, "
                             "or give a probe file.") from None
        cached.parent.mkdir(parents=True, exist_ok=True)
        with atomic.replacing(cached, suffix=".json") as temporary:
            pi.write_probeinterface(temporary, probe)
    geometry = read_probeinterface_json(cached, source="library")
    return geometry.with_source("library", f"probeinterface library {manufacturer}/{name}")


def default_radius(geometry: ProbeGeometry) -> float:
    """A .prb radius that links each site to its close neighbours: 2.5 x the median nearest distance
    (a Neuropixels 1.0 gives 64 µm), at least 20 µm; DEFAULT_RADIUS for one contact."""
    if len(geometry) < 2:
        return DEFAULT_RADIUS
    xy = geometry.positions
    sample = xy[:: max(1, len(xy) // 512)]
    distances = np.sqrt(((sample[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2))
    distances[distances == 0] = np.inf
    nearest = float(np.median(distances.min(axis=1)))
    return float(max(20.0, round(2.5 * nearest))) if np.isfinite(nearest) else DEFAULT_RADIUS
