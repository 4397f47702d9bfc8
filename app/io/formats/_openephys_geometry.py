"""Neuropixels geometry from an Open Ephys `settings.xml` (used by both Open Ephys readers).

The Neuropix-PXI / OneBox plugin writes one `NP_PROBE` element per probe (under the processor's
`EDITOR`, or `EDITOR/CUSTOM_PARAMETERS` from GUI 0.9): newer plugins list the recorded electrodes
in `SELECTED_ELECTRODES` (indices over the whole probe, shank after shank), older ones give
`CHANNELS` (bank[:shank] per `CH<n>`) with `ELECTRODE_XPOS` / `ELECTRODE_YPOS`. Probes are named by
the processor's `STREAM` elements (`ProbeA-AP` -> `ProbeA`; GUI >= 0.6) or `<nodeId>.<index>`
(older). A "Channel Map" processor before the Record Node reorders the channels (its
`CUSTOM_PARAMETERS/STREAM/CH index`); a Record Node `STREAM recording_state` of 0/1 digits saves a
subset of channels.
Positions follow probeinterface's `read_openephys_neuropixels` (first column at x = 0).
"""

from __future__ import annotations

import os
import re
from xml.etree import ElementTree

import numpy as np

from app.io import neuropixels as npx
from app.io.errors import HeaderError
from app.io.probe_geometry import ProbeGeometry

PROBE_PROCESSORS = ("Neuropix-PXI", "OneBox")


def settings_path(folder: str, experiment: int | str | None) -> str:
    """`settings.xml` for experiment 1 (or unknown), `settings_<n>.xml` for experiment n > 1."""
    number = int(experiment) if experiment not in (None, "") else 1
    return os.path.join(folder, "settings.xml" if number <= 1 else f"settings_{number}.xml")


def _version(root: ElementTree.Element) -> tuple[int, ...]:
    text = root.findtext("INFO/VERSION") or "0"
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3]) or (0,)


def _probe_processor(root: ElementTree.Element) -> ElementTree.Element | None:
    for processor in root.iter("PROCESSOR"):
        if any(name in processor.attrib.get("name", "") for name in PROBE_PROCESSORS):
            return processor
    return None


def _probe_names(processor: ElementTree.Element, count: int) -> list[str]:
    names: list[str] = []
    for stream in processor.findall("STREAM"):
        name = stream.attrib.get("name", "")
        if "ADC" in name:
            continue
        name = name.replace("-AP", "").replace("-LFP", "")
        if name not in names:
            names.append(name)
    if names:
        return names
    node = processor.attrib.get("NodeId") or processor.attrib.get("nodeId") or ""
    return [f"{node}.{k}" for k in range(count)]


def _pick(probes: list, names: list[str], stream_name: str | None):
    for k, probe in enumerate(probes):
        serial = probe.attrib.get("probe_serial_number") or probe.attrib.get("probeSerialNumber")
        custom = probe.attrib.get("custom_probe_name")
        name = custom if custom and custom != serial else (names[k] if k < len(names) else str(k))
        if probe.attrib.get("shank") is not None and f"-{int(probe.attrib['shank']) + 1}" not in name:
            name = f"{name}-{int(probe.attrib['shank']) + 1}"
        if stream_name is None and len(probes) == 1 or stream_name is not None and name in stream_name:
            return probe, name
    return None, None


def settings_geometry(settings: str, stream_name: str | None, nb_channels: int) -> ProbeGeometry | None:
    """The geometry of the probe recorded by stream `stream_name` (None: the only probe), or None
    when the settings place no Neuropixels probe for it."""
    if not os.path.isfile(settings):
        return None
    try:
        root = ElementTree.parse(settings).getroot()
    except ElementTree.ParseError as error:
        raise HeaderError(f"{settings}: not valid XML ({error}); the settings file is damaged.", settings) from None
    processor = _probe_processor(root)
    if processor is None:
        return None
    probes = [p for p in processor.iter("NP_PROBE") if p.attrib.get("isEnabled", "1") == "1"]
    if not probes:
        return None
    probe, name = _pick(probes, _probe_names(processor, len(probes)), stream_name)
    if probe is None:
        return None
    order = _channel_map(root, probes.index(probe))
    part = probe.attrib.get("probe_part_number") or probe.attrib.get("probePartNumber") or ""
    layout = npx.LAYOUTS.get(part)
    selected = probe.find("SELECTED_ELECTRODES")
    if selected is not None and layout is not None:
        xy, shanks = npx.catalogue_positions(layout, np.array([int(v) for v in selected.attrib.values()]))
    else:
        found = _channel_positions(probe, layout, _version(root))
        if found is None:
            return None
        xy, shanks = found
    if order is not None:           # a Channel Map processor reordered the channels before recording
        order = order[order < len(xy)]
        xy, shanks = xy[order], shanks[order]
    saved = _saved_channels(root, stream_name)
    if saved is not None:
        xy, shanks = xy[saved[saved < len(xy)]], shanks[saved[saved < len(xy)]]
    count = min(len(xy), int(nb_channels))
    return ProbeGeometry(np.arange(count), xy[:count], shanks[:count], "header",
                         f"Open Ephys settings ({name}), {settings}", "square",
                         layout.width if layout is not None else 12.0, part)


def _channel_positions(probe, layout, version) -> tuple[np.ndarray, np.ndarray] | None:
    channels, xpos, ypos = probe.find("CHANNELS"), probe.find("ELECTRODE_XPOS"), probe.find("ELECTRODE_YPOS")
    if channels is None or xpos is None or ypos is None:
        return None
    keys = sorted(channels.attrib, key=lambda key: int(re.sub(r"\D", "", key.split("_")[0]) or 0))
    values = [channels.attrib[key] for key in keys]
    if all(":" in v for v in values):
        shanks = np.array([int(v.split(":")[1]) for v in values], dtype=np.int64)
    elif all("_" in key for key in keys):
        shanks = np.array([int(key.split("_")[1]) for key in keys], dtype=np.int64)
    else:
        shanks = np.zeros(len(keys), dtype=np.int64)
    xy = np.array([[float(xpos.attrib[key]), float(ypos.attrib[key])] for key in keys], dtype=np.float64)
    pitch = layout.shank_pitch if layout is not None else 250.0
    if version < (0, 6) and shanks.any():
        xy[:, 1] -= pitch * shanks              # plugins before GUI 0.6 added the shank pitch to y
    xy[:, 0] -= xy[:, 0].min() - shanks.min() * pitch
    return xy, shanks


def _channel_map(root, probe_index: int) -> np.ndarray | None:
    """The order a "Channel Map" processor gives the probe's channels, when it sits before the
    Record Node in the probe's signal chain (else it does not change what was recorded)."""
    for chain in root.iter("SIGNALCHAIN"):
        names = [p.attrib.get("name", "") for p in chain.findall("PROCESSOR")]
        mapper = next((k for k, n in enumerate(names) if "Channel Map" in n), None)
        recorder = next((k for k, n in enumerate(names) if "Record Node" in n), None)
        if not any(any(p in n for p in PROBE_PROCESSORS) for n in names) or mapper is None \
                or recorder is None or mapper > recorder:
            continue
        processor = chain.findall("PROCESSOR")[mapper]
        streams = [s.attrib.get("name", "") for s in processor.findall("STREAM")]
        maps = processor.findall("CUSTOM_PARAMETERS/STREAM")
        probe_maps = [m for s, m in zip(streams, maps) if "ADC" not in s]
        if probe_index < len(probe_maps):
            return np.array([int(ch.attrib["index"]) for ch in probe_maps[probe_index].findall("CH")],
                            dtype=np.int64)
    return None


def _saved_channels(root, stream_name: str | None) -> np.ndarray | None:
    for processor in root.iter("PROCESSOR"):
        if "Record Node" not in processor.attrib.get("name", ""):
            continue
        streams = processor.findall("CUSTOM_PARAMETERS/STREAM")
        states = [(s.attrib.get("name", ""), s.attrib.get("recording_state")) for s in streams]
        custom = [(n, st) for n, st in states if st not in (None, "ALL", "NONE")]
        if not custom:
            return None
        mine = [st for n, st in custom if stream_name is None or n in stream_name] or [custom[0][1]]
        return np.array([k for k, bit in enumerate(mine[0]) if bit == "1"], dtype=np.int64)
    return None
