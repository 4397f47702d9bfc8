"""What the params wizard's user has chosen so far, and what each page says about it; no Qt.

`WizardState` is the one record the five pages read and change (file, format,
stream mode, values, the last validation, the probe, the result of the write).
The functions below turn it into what a page shows: messages with a level
("ok", "warn", "error", "fact") that the view only colours, the rows of the
segment list, the probe's drawing, the preview's source, the disk cost of the
filtered copy and the diff against an existing params file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from app.io.datafile import MANDATORY_FIELDS
from app.io.probe import Probe, read_probe
from app.model import probes
from app.model import wizard as logic
from app.model.recording import Recording
from app.model.traces import TraceSource

Message = tuple[str, str]       # (text, level): "ok", "warn", "error", "fact" (grey) or "" (plain)
MAX_RECENT_PROBES = 8
MAX_PROBE_LABELS = 256
PREVIEW_CACHE_BYTES = 64 << 20

FIELD_UNITS = {"sampling_rate": "Hz", "gain": "µV per bit", "data_offset": "bytes",
               "dtype_offset": "ADC units"}
FIELD_HELP = {
    "sampling_rate": "Samples per second per channel, as set on the acquisition system.",
    "data_dtype": "How one sample is stored on disk (int16 for most amplifiers; uint16 for some "
                  "MEA systems; float32 for exported data).",
    "nb_channels": "Channels stored in the file, dead and auxiliary ones included.",
    "data_offset": "Bytes before the first sample: the length of a header, 0 when there is none.",
    "dtype_offset": "Value subtracted from the raw samples; 'auto' gives 32768 for uint16, 127 for uint8, "
                    "else 0.",
    "gain": "Physical unit per bit, applied after dtype_offset (µV per bit for most systems).",
    "h5_key": "Path of the dataset inside the HDF5 file that holds the samples.",
}


@dataclass
class WizardState:
    """The user's answers so far. Nothing here touches the disk except `write`."""

    path: str = ""
    file_format: str = ""
    stream_mode: str = logic.SINGLE_STREAM
    values: dict[str, Any] = field(default_factory=dict)
    validation: logic.Validation | None = None
    probe: Probe | None = None
    probe_path: str | None = None
    probe_dirty: bool = False       # generated or edited here: written beside the data on Finish
    written: logic.WriteResult | None = None
    probe_source: str = "none"      # header, file, library, generated or none (app.model.probes)
    probe_note: str = ""            # where exactly: the header's description or the file's path
    probe_mismatch: list[str] = field(default_factory=list)     # chosen file vs the header's geometry
    header: Any = None              # the header's ProbeGeometry, looked up once per validation
    header_of: Any = None           # the validation `header` was looked up for

    def exists(self) -> bool:
        return bool(self.path) and os.path.exists(self.path)

    def set_format(self, name: str) -> None:
        """Choose the reader; values it has no field for are dropped, the validation is stale."""
        if name == self.file_format:
            return
        keep = (set(logic.required_fields(name)) | set(logic.default_values(name))
                | set(MANDATORY_FIELDS))
        self.values = {k: v for k, v in self.values.items() if k in keep}
        self.file_format = name
        self.validation = None

    def set_value(self, name: str, value: Any) -> None:
        """An editor's value; None means "not given"."""
        if value is None:
            self.values.pop(name, None)
        else:
            self.values[name] = value

    def has_layout(self) -> bool:
        """The user (or a suggestion already applied) gave the channel count or sample type."""
        return any(self.values.get(k) is not None for k in ("nb_channels", "data_dtype"))

    def validation_job(self) -> Callable[[], logic.Validation]:
        """`validate` with a snapshot of today's choices, to run on a worker thread."""
        return partial(logic.validate, self.path, self.file_format, dict(self.values), self.stream_mode)

    @property
    def nb_channels(self) -> int:
        return int(self.validation.shape[1]) if self.validation and self.validation.ok else 0

    # -- probe ------------------------------------------------------------------------------------
    def set_probe(self, probe: Probe | None, path: str | None, dirty: bool = False, source: str | None = None,
                  note: str = "") -> None:
        self.probe, self.probe_path, self.probe_dirty = probe, path, dirty
        self.probe_source = source or ("none" if probe is None else "generated" if dirty else "file")
        self.probe_note = note or path or ""
        self.probe_mismatch = probes.mismatch(self.header, probe, self.probe_source)

    def load_probe(self, path: str) -> None:
        """Use the probe file at `path`: a .prb (parsed, never executed) is named as it is; a
        probeinterface .json or Kilosort .mat becomes `<stem>.prb` on Finish. Raises ProbeError."""
        source = "library" if path in {str(p) for p in logic.library().values()} else "file"
        if path.lower().endswith(".prb"):
            self.set_probe(read_probe(path), path, source=source)
            return
        geometry = probes.file_geometry(path)
        self.set_probe(probes.probe_for(geometry, self.nb_channels or None), None, dirty=True, source=source,
                       note=path)

    def look_at_header(self) -> bool:
        """Find the recording header's geometry (once per validation); True when it was just found,
        so the page can start from it."""
        validation = self.validation
        if validation is None or not validation.ok or validation is self.header_of:
            return False
        self.header_of = validation
        self.header = probes.header_geometry(getattr(validation, "datafile", None))
        return self.header is not None

    def use_header_probe(self) -> None:
        if self.header is not None:
            self.set_probe(probes.probe_for(self.header, self.nb_channels), None, dirty=True, source="header",
                           note=self.header.description)

    def set_radius(self, radius: float) -> bool:
        """Change the probe's radius; True when it changed (the probe is then ours to write)."""
        if self.probe is None or abs(self.probe.radius - radius) < 1e-9:
            return False
        self.probe.radius = float(radius)
        self.probe_dirty = True
        self.probe_path = None
        return True

    def probe_target(self) -> Path | None:
        """Where a generated or edited probe is written on Finish; None when nothing is written."""
        return logic.default_probe_path(self.path) if self.probe_dirty and self.probe is not None else None

    def mapping_path(self) -> str | None:
        """The `mapping` the params file names."""
        if self.probe is None:
            return None
        return str(logic.default_probe_path(self.path)) if self.probe_dirty else self.probe_path

    # -- writing ----------------------------------------------------------------------------------
    def description(self, filter_a_copy: bool = True) -> dict[str, Any]:
        return logic.params_description(self.validation, self.path, filter_a_copy=filter_a_copy)

    def render(self, base: str | None, filter_a_copy: bool = True) -> str:
        """The exact text Finish will write (raises DataFileError/OSError for a bad base file)."""
        return logic.render_params(self.description(filter_a_copy), self.mapping_path(), base,
                                   data_file=self.path)

    def write(self, params_path: str, base: str | None, filter_a_copy: bool = True) -> logic.WriteResult:
        """The wizard's only write: the generated/edited probe, then the params file."""
        self.written = logic.write_all(params_path, self.description(filter_a_copy), self.probe,
                                       probe_path=self.probe_path, save_probe_to=self.probe_target(),
                                       base=base, data_file=self.path)
        return self.written


# -- page 1: data file --------------------------------------------------------------------------------

def path_message(path: str) -> Message | None:
    """Why `path` cannot be looked at yet, or None when it exists."""
    if not path:
        return "Choose a recording.", "fact"
    if not os.path.exists(path):
        return f"{path}: no such file or folder.", "error"
    return None


def folder_of(path: str) -> str:
    """The folder a file dialog should open next after `path`."""
    return path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))


def segment_rows(segments: list[logic.Segment]) -> list[tuple[str, str, str, str]]:
    """(file relative to the common folder, start s, duration s, full path) of every segment."""
    if not segments:
        return []
    files = [segment.file for segment in segments]
    root = os.path.dirname(os.path.commonpath(files)) if len(set(files)) > 1 else os.path.dirname(files[0])
    return [(os.path.relpath(s.file, root), f"{s.t_start_s:.3f}", f"{s.duration_s:.3f}", s.file)
            for s in segments]


def segments_message(validation: logic.Validation) -> Message:
    if validation.ok:
        return validation.summary(), "ok"
    if validation.missing:
        return "The segments are listed once the missing fields are given (next page).", "fact"
    return validation.error, "error"


# -- page 2: fields ------------------------------------------------------------------------------------

def field_text(value: Any) -> str:
    """A value as an editor shows it: 30000 rather than 30000.0."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def dtype_name(value: Any) -> str:
    try:
        return np.dtype(value).name
    except TypeError:
        return str(value)


def failed_validation(error: BaseException) -> logic.Validation:
    """A worker's unexpected exception, shown like any reader error."""
    return logic.Validation(False, f"{type(error).__name__}: {error}")


NO_LAYOUT = ("No channel count and sample type divide this file into plausible signals; check the file, "
             "or type the layout if you know it.")


def suggestion_cells(suggestion: dict) -> list[str]:
    """The table row of one layout suggestion: channels, dtype, offset, score, evidence."""
    return [str(suggestion["nb_channels"]), suggestion["data_dtype"], str(suggestion["data_offset"]),
            f"{suggestion['score']:.3f}", suggestion["evidence"]]


# -- page 3: probe -------------------------------------------------------------------------------------

@dataclass
class ProbeDrawing:
    """The probe's sites to scale: channel ids, positions (µm), which are flagged, marker size,
    and every `label_step`-th site labelled (a dense probe would drown in numbers)."""

    channels: np.ndarray
    xy: np.ndarray
    flagged: np.ndarray
    size: float
    label_step: int


def probe_drawing(probe: Probe, flagged: set[int]) -> ProbeDrawing | None:
    sites = logic.probe_sites(probe)
    if not sites:
        return None
    channels = np.array([c for c, _, _ in sites])
    xy = np.array([(x, y) for _, x, y in sites], dtype=float)
    step = max(1, int(np.ceil(len(sites) / MAX_PROBE_LABELS)))
    return ProbeDrawing(channels, xy, np.isin(channels, list(flagged)), 0.6 * logic.site_spacing(xy), step)


def probe_messages(state: WizardState, check: logic.ProbeCheck | None, error: str = "") -> list[Message]:
    """What the probe page says under the drawing: the error, the missing probe, or the fit."""
    probe = state.probe
    if error:
        return [(error, "error")]
    if probe is None:
        return [("No probe: the params file leaves 'mapping' empty; SpyKING CIRCUS needs one before it "
                 "can sort.", "warn")]
    if not check.ok:
        return [(check.error, "error")]
    where = (f"saved as {logic.default_probe_path(state.path)} on Finish" if state.probe_dirty
             else state.probe_path)
    messages = [(f"{len(probe.channels)} channels in {len(probe.channel_groups)} group(s), radius "
                 f"{probe.radius:g} µm; {where}.", "ok"),
                probes.origin_message(state.probe_source, state.probe_note)]
    messages += [(m, "warn") for m in probes.mismatch_messages(state.probe_mismatch)]
    if check.warnings:
        messages.append(("\n".join(check.warnings[:5]), "warn"))
    return messages


def recent_probes(stored: Any) -> list[str]:
    """The recent-probe list as settings keep it (a string when it has one entry), existing files only."""
    paths = [stored] if isinstance(stored, str) else list(stored or [])
    return [p for p in paths if os.path.isfile(p)]


def remember_probe(stored: Any, path: str) -> list[str] | None:
    """The new recent list with `path` first, or None when `path` is a library probe (always listed)."""
    path = os.path.abspath(path)
    if path in {str(p) for p in logic.library().values()}:
        return None
    return [path] + [p for p in recent_probes(stored) if p != path][:MAX_RECENT_PROBES - 1]


def probe_target_text(state: WizardState) -> Message:
    """The write page's one line about the probe."""
    if state.probe is None:
        return "none (mapping left empty)", "warn"
    if state.probe_dirty:
        return f"{logic.default_probe_path(state.path)} (written on Finish)", ""
    return str(state.probe_path), ""


# -- page 4: preview -----------------------------------------------------------------------------------

def open_preview(state: WizardState) -> tuple[Recording, TraceSource]:
    """The validated DataFile as the browser shows it, with a small cache and no prefetch."""
    datafile = state.validation.datafile
    source = TraceSource(datafile, cache_bytes=PREVIEW_CACHE_BYTES, prefetch_windows=0, io_workers=1)
    return Recording(datafile, state.probe), source


def close_preview(source: TraceSource) -> None:
    """Stop the source's threads and close its file."""
    source.close()
    source.datafile.close()


def preview_summary(state: WizardState, recording: Recording) -> str:
    params = state.validation.description
    order = "by probe depth" if state.probe is not None else "in index order (no probe)"
    return (f"{recording.nb_channels} channels × {params.get('data_dtype')}, dtype_offset "
            f"{params.get('dtype_offset')}, gain {params.get('gain')}; "
            f"{recording.sampling_rate:g} Hz; channels {order}.")


# -- page 5: write -------------------------------------------------------------------------------------

def copy_cost(state: WizardState, params_text: str, filter_a_copy: bool) -> Message:
    """What each choice costs: the filtered copy's size and place, or the recording rewritten."""
    validation = state.validation
    if validation is None or not validation.ok:
        return "", ""
    if not filter_a_copy:
        return (f"The filtering step will rewrite {state.path} in place: its raw samples are not kept.",
                "error")
    copy_path, size = logic.filtered_copy(validation, state.path, params_text)
    samples, channels = validation.shape
    return (f"The sorter writes the filtered copy to {copy_path}: {logic.format_bytes(size)} "
            f"({samples:,} samples x {channels} channels x 4 bytes, float32).", "")


@dataclass
class ParamsPreview:
    """The write page's view of the file to be written: a heading, the text, and whether it is a diff."""

    heading: str
    text: str
    is_diff: bool


def params_preview(target: str, params_text: str) -> ParamsPreview:
    path = Path(target)
    if not path.is_file():
        return ParamsPreview(f"New file {path.name}:", params_text, False)
    diff = logic.params_diff(path, params_text)
    if not diff:
        return ParamsPreview("Identical to the existing file.", params_text, False)
    return ParamsPreview(f"Changes to {path.name} (the current file is kept as a backup):",
                         "\n".join(diff), True)


def can_write_to(target: str) -> bool:
    return bool(target) and Path(target).parent.is_dir()
