"""The SpikeInterface bridge: any Wavescope recording as a SpikeInterface recording.

`to_si_recording(datafile, probe)` wraps an open DataFile lazily: SpikeInterface's
``get_traces`` calls the DataFile's ``read_range`` for the window it asks, so nothing
beyond that window is read. Traces are float32 µV (what ``read_range`` returns), so
``gain_to_uV`` is 1 and ``offset_to_uV`` 0. The recording serialises to a dict that names
the file, its format and settings (``_kwargs``): another process reopens it through
Wavescope with ``spikeinterface.load`` / ``load_extractor``.

SpikeInterface is optional (``pip install wavescope[si]``): it is imported when a bridge
function is called, never when ``app.io`` is. The recording classes subclass SpikeInterface's
and are built on first use; they are reachable as attributes of this module
(``WavescopeRecording``) so that SpikeInterface's loader finds them by name.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from app.io.errors import DataFileError

INSTALL_HINT = "pip install wavescope[si]"

# The segment-mode a DataFile's parts must have for each part to be one SpikeInterface segment:
# parts of `multi-files` are contiguous and join into one segment; `segments` are separated by gaps.
SEGMENT_MODE = "segments"


class SpikeInterfaceMissing(DataFileError, ImportError):
    """SpikeInterface (or probeinterface) is not installed in this environment."""

    def __init__(self, missing: str):
        super().__init__(f"the SpikeInterface bridge needs the `{missing}` package, which is not installed "
                         f"in this environment; install it with `{INSTALL_HINT}`.")


def _require(module: str) -> Any:
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise SpikeInterfaceMissing(module.split(".")[0]) from None


# -- probe ----------------------------------------------------------------------------------------

def _probe_table(datafile: Any, probe: Any) -> list[list] | None:
    """[[channel, x, y, group], ...] in µm from `probe`: a `.prb` path, an app.io.probe.Probe or
    an (nb_channels, 2) array; None asks the file's header (`channel_geometry()`: shanks kept, a
    sync word left unplaced), which may say nothing."""
    from app.io import probe as prb

    if probe is None:
        geometry = datafile.channel_geometry()
        if geometry is None:
            return None
        probe = geometry.to_probe(int(datafile.nb_channels))
    if isinstance(probe, (str, os.PathLike)):
        probe = prb.read_probe(probe)
    if isinstance(probe, prb.Probe):
        probe.validate(datafile.nb_channels)
        return [[int(c), float(x), float(y), str(group_id)]
                for group_id, group in probe.channel_groups.items()
                for c in group.channels for (x, y) in [group.geometry[c]]]
    positions = np.asarray(probe, dtype=np.float64)
    if positions.shape != (datafile.nb_channels, 2):
        raise DataFileError(f"{datafile.file_name}: the probe positions have shape {positions.shape}, "
                            f"but the recording has {datafile.nb_channels} channels; give "
                            f"({datafile.nb_channels}, 2) positions in µm or a .prb file.",
                            datafile.file_name)
    return [[k, float(x), float(y), "0"] for k, (x, y) in enumerate(positions)]


def _probeinterface_probe(table: list[list]) -> Any:
    """A probeinterface Probe of the table's contacts wired to their channel indices, one shank
    per channel group."""
    pi = _require("probeinterface")
    probe = pi.Probe(ndim=2, si_units="um")
    probe.set_contacts(positions=np.array([[x, y] for _, x, y, _ in table], dtype=np.float64),
                       shapes="circle", shape_params={"radius": 5})
    probe.set_device_channel_indices(np.array([c for c, _, _, _ in table], dtype=np.int64))
    probe.set_shank_ids(np.array([g for _, _, _, g in table]))
    probe.set_contact_ids([str(c) for c, _, _, _ in table])
    return probe


# -- the recording --------------------------------------------------------------------------------

def _channel_ids(datafile: Any) -> list[str]:
    """The file's channel names when it has one per channel and they are unique, else indices."""
    names = datafile.__dict__.get("channel_names")
    if names is None and "channel_names" in type(datafile).__dict__:
        names = datafile.channel_names          # a property on a few formats (edf, spike2)
    names = [str(n) for n in names] if names is not None else []
    if len(names) == datafile.nb_channels and len(set(names)) == len(names) and all(names):
        return names
    return [str(k) for k in range(datafile.nb_channels)]


def _segments_of(datafile: Any) -> list[Any]:
    """One DataFile per SpikeInterface segment: each part in `segments` mode, else the whole
    timeline (contiguous parts of `multi-files` are one segment)."""
    if datafile.stream_mode == SEGMENT_MODE:
        return datafile.streams
    return [datafile]


def _build_classes() -> dict[str, type]:
    """The SpikeInterface classes, built once SpikeInterface is importable."""
    si = _require("spikeinterface.core")

    class WavescopeRecordingSegment(si.BaseRecordingSegment):
        """One segment: `get_traces` is a `read_range` of the DataFile's window, float32 µV."""

        def __init__(self, datafile: Any, sampling_frequency: float, t_start: float):
            si.BaseRecordingSegment.__init__(self, sampling_frequency=sampling_frequency, t_start=t_start)
            self._datafile = datafile

        def get_num_samples(self) -> int:
            return int(self._datafile.duration)

        def get_traces(self, start_frame: int | None = None, end_frame: int | None = None,
                       channel_indices: Any = None) -> np.ndarray:
            count = self.get_num_samples()
            start = 0 if start_frame is None else int(start_frame)
            stop = count if end_frame is None else min(int(end_frame), count)
            nodes = _nodes(channel_indices, self._datafile.nb_channels)
            return self._datafile.read_range(start, max(stop, start), nodes)

    class WavescopeRecording(si.BaseRecording):
        """A Wavescope recording seen by SpikeInterface; reopened from `file_path`, `file_format`,
        `stream_mode` and `params` (the settings the user gave) in any process."""

        def __init__(self, file_path: str, file_format: str | None = None, stream_mode: str | None = None,
                     params: dict | None = None, probe: list | None = None, _datafile: Any = None):
            from app.io import open_datafile

            # `_datafile`: the one `to_si_recording` was given, not opened twice; never serialised
            datafile = _datafile if _datafile is not None else \
                open_datafile(file_path, dict(params or {}), file_format, stream_mode)
            rate = float(datafile.sampling_rate)
            si.BaseRecording.__init__(self, rate, _channel_ids(datafile), np.dtype("float32"))
            for part in _segments_of(datafile):
                self.add_recording_segment(WavescopeRecordingSegment(part, rate, part.t_start / rate))
            self.set_channel_gains(1.0)
            self.set_channel_offsets(0.0)
            if probe:
                self.set_probe(_probeinterface_probe(probe), group_mode="by_shank")
            self.datafile = datafile
            self._kwargs = {"file_path": os.path.abspath(datafile.file_name),
                            "file_format": datafile.description, "stream_mode": datafile.stream_mode,
                            "params": _plain(params or {}), "probe": probe}

    for built in (WavescopeRecording, WavescopeRecordingSegment):
        built.__module__, built.__qualname__ = __name__, built.__name__     # found by name, as if top-level
    return {"WavescopeRecording": WavescopeRecording, "WavescopeRecordingSegment": WavescopeRecordingSegment}


def _nodes(channel_indices: Any, nb_channels: int) -> list[int] | None:
    """SpikeInterface's channel selection (None, a slice, a list or array) as DataFile nodes."""
    if channel_indices is None:
        return None
    if isinstance(channel_indices, slice):
        channel_indices = range(nb_channels)[channel_indices]
        if len(channel_indices) == nb_channels:
            return None
    return [int(k) for k in np.asarray(channel_indices, dtype=np.int64).reshape(-1)]


def _plain(value: Any) -> Any:
    """`value` with numpy scalars made Python ones, so the dict is JSON."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


_CLASSES: dict[str, type] = {}


def __getattr__(name: str) -> type:
    # SpikeInterface's loader does getattr(app.io.si_bridge, "WavescopeRecording").
    if name in ("WavescopeRecording", "WavescopeRecordingSegment"):
        if not _CLASSES:
            _CLASSES.update(_build_classes())
        return _CLASSES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def to_si_recording(datafile: Any, probe: Any = None) -> Any:
    """`datafile` (a DataFile) as a lazy SpikeInterface recording in µV.

    `probe` is a ``.prb`` path, an ``app.io.probe.Probe`` or (nb_channels, 2) positions in µm; by
    default the file's own positions, if any. A probe that leaves channels out (dead channels)
    gives a recording of the probe's channels only, as SpikeInterface does.
    """
    table = _probe_table(datafile, probe)
    given = {k: v for k, v in datafile.params.items() if k in datafile.given_fields}
    recording_class = __getattr__("WavescopeRecording")
    covers_all = table is not None and sorted(c for c, *_ in table) == list(range(datafile.nb_channels))
    recording = recording_class(datafile.file_name, datafile.description, datafile.stream_mode, given,
                                table if covers_all else None, _datafile=datafile)
    if table is not None and not covers_all:
        recording = recording.select_channels_with_probe(_probeinterface_probe(table), group_mode="by_shank")
    return recording


def load_si_recording(description: dict | str | os.PathLike) -> Any:
    """A recording back from `to_dict()` output or a file `dump` wrote, through SpikeInterface
    (``si.load`` since 0.102, ``load_extractor`` before)."""
    si = _require("spikeinterface.core")
    load = si.load if hasattr(si, "load") else si.load_extractor
    return load(description if isinstance(description, dict) else os.fspath(description))
