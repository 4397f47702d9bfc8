"""The params wizard's state and logic, without Qt: what to ask, what to suggest, what to write.

The wizard walks a recording from "a file on disk" to "a .params file the sorter
reads": which formats may read the file (with reasons), which stream modes exist
and the segments each gives, which [data] fields the header gives (facts) and
which the user must type (with their types and inferred suggestions), whether
the result opens (shape and duration, or the reader's exact error), the probe
and how it fits, and the text that will be written. Every answer comes from
constructing the real DataFile, so the wizard cannot disagree with the sorter.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.io.datafile import MANDATORY_FIELDS, DataFile, coerce_value
from app.io.errors import DataFileError, HeaderError, MissingFieldsError, ProbeError
from app.io.params import ParamsFile, keep_backup, write_params
from app.io.probe import Probe, grid_probe, library_probes, linear_probe, multi_shank_probe, write_probe
from app.io.registry import supported_formats
from app.io.sniff import Candidate, rank_formats, suggest_raw_layout

COMMON_RATES = (20000.0, 25000.0, 30000.0, 32000.0, 40000.0)
DTYPES = ("int16", "uint16", "int32", "uint32", "float32", "float64", "int8", "uint8")
SINGLE_STREAM = "None"
PLACEHOLDER = "\x00wizard-placeholder"
PROBE_KINDS = ("linear", "multi-shank", "grid")

# Fields whose editor is a choice of numpy sample types.
DTYPE_FIELDS = frozenset({"data_dtype"})


@dataclass(frozen=True)
class Segment:
    """One stream a stream mode produces: its file, where it starts (samples) and how long it is."""

    file: str
    t_start: int
    duration: int
    sampling_rate: float

    @property
    def duration_s(self) -> float:
        return self.duration / self.sampling_rate

    @property
    def t_start_s(self) -> float:
        return self.t_start / self.sampling_rate


@dataclass
class Validation:
    """The outcome of constructing the DataFile with the current choices.

    `ok` with the shape, duration and segments; otherwise `error` holds the
    reader's exact message and `missing` the fields it still needs ({name: type}).
    `header` holds the fields the file's header gave, known even when a missing
    field was filled with a placeholder to reach the header; `choices` lists valid
    values the reader named for a field (e.g. the datasets of an HDF5 file).
    """

    ok: bool
    error: str = ""
    missing: dict[str, str] = field(default_factory=dict)
    header: dict[str, Any] = field(default_factory=dict)
    choices: dict[str, list[str]] = field(default_factory=dict)
    shape: tuple[int, int] | None = None
    sampling_rate: float | None = None
    segments: list[Segment] = field(default_factory=list)
    description: dict[str, Any] = field(default_factory=dict)
    datafile: DataFile | None = None
    ignored_bytes: int = 0          # bytes after the last whole frame of each part, not read

    @property
    def duration_s(self) -> float:
        if not self.ok or not self.sampling_rate:
            return 0.0
        return self.shape[0] / self.sampling_rate

    def summary(self) -> str:
        """One line for the user: the shape and duration, or the error."""
        if not self.ok:
            return self.error
        samples, channels = self.shape
        parts = f" in {len(self.segments)} segments" if len(self.segments) > 1 else ""
        ignored = (f"; the last {self.ignored_bytes} bytes (a partial frame) are ignored"
                   if self.ignored_bytes else "")
        return (f"{channels} channels x {samples:,} samples at {self.sampling_rate:g} Hz = "
                f"{format_duration(self.duration_s)}{parts}{ignored}")


@dataclass
class ProbeCheck:
    """How a probe fits `nb_channels`: the blocking error, warnings, and channels to flag red."""

    error: str = ""
    warnings: list[str] = field(default_factory=list)
    flagged: set[int] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.error


def format_duration(seconds: float) -> str:
    """'12.500 s' below a minute, else 'h:mm:ss'."""
    if seconds < 60:
        return f"{seconds:.3f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d} ({seconds:.1f} s)"


# -- formats and stream modes -----------------------------------------------------------------------

def format_candidates(path: str) -> list[Candidate]:
    """Formats that may read `path`, best first, each with its one-line reason."""
    return rank_formats(os.fspath(path))


def format_titles() -> dict[str, str]:
    """{name: title} of every format, for the override combo."""
    return {name: (klass.title or name) for name, klass in supported_formats().items()}


def format_class(file_format: str) -> type[DataFile]:
    return supported_formats()[file_format]


def stream_modes(file_format: str) -> list[str]:
    """The stream modes a format offers, `SINGLE_STREAM` ("None") first."""
    return [SINGLE_STREAM] + list(format_class(file_format).is_streamable)


def offers_stream_choice(file_format: str) -> bool:
    """A format with more than `multi-files` has a stream mode worth asking about."""
    return list(format_class(file_format).is_streamable) != ["multi-files"]


def segments_of(datafile: DataFile) -> list[Segment]:
    rate = float(datafile.sampling_rate)
    return [Segment(stream.file_name, int(stream.t_start), int(stream.duration), rate)
            for stream in datafile.streams]


# -- fields -----------------------------------------------------------------------------------------

def required_fields(file_format: str) -> dict[str, str]:
    """{name: type} the format declares its header cannot give."""
    return dict(format_class(file_format)._required_fields)


def default_values(file_format: str) -> dict[str, Any]:
    """{name: default} the format fills when the user says nothing: the "Advanced" fields."""
    return dict(format_class(file_format)._default_values)


def field_type(file_format: str, name: str) -> str:
    klass = format_class(file_format)
    return (klass._required_fields.get(name) or MANDATORY_FIELDS.get(name)
            or klass._field_types.get(name) or _type_of(klass._default_values.get(name)))


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "string"


def clean_values(values: dict[str, Any]) -> dict[str, Any]:
    """The user's values without the empty ones (an empty editor means "not given")."""
    return {k: v for k, v in values.items()
            if v is not None and not (isinstance(v, str) and not v.strip())}


def validate(path: str, file_format: str, values: dict[str, Any],
             stream_mode: str | None = None) -> Validation:
    """Construct the DataFile with these choices; never raises for a bad file or value."""
    klass = format_class(file_format)
    values = clean_values(values)
    mode = None if stream_mode in (None, "", SINGLE_STREAM) else stream_mode
    try:
        datafile = klass(os.fspath(path), dict(values), stream_mode=mode)
    except MissingFieldsError as error:
        result = Validation(False, str(error), missing=dict(error.missing))
        _peek_header(result, klass, path, values)
        return result
    except (DataFileError, OSError, ValueError) as error:
        return Validation(False, _message(error), choices=_choices(error, klass, values))
    return Validation(True, shape=tuple(datafile.shape), sampling_rate=float(datafile.sampling_rate),
                      header={k: datafile.params[k] for k in sorted(datafile.header_fields)
                              if k in datafile.params},
                      segments=segments_of(datafile), description=datafile.get_description(),
                      datafile=datafile,
                      ignored_bytes=sum(int(getattr(s, "ignored_bytes", 0)) for s in datafile.streams))


def _message(error: Exception) -> str:
    if isinstance(error, OSError) and not isinstance(error, DataFileError):
        return f"{getattr(error, 'filename', '') or ''}: {error.strerror or error}".lstrip(": ")
    return str(error)


def _choices(error: Exception, klass: type[DataFile], values: dict) -> dict[str, list[str]]:
    """A reader that names valid values (HeaderError.candidates) offers them for the string field given."""
    candidates = [str(c) for c in getattr(error, "candidates", []) or []]
    strings = [k for k, t in klass._required_fields.items() if t == "string" and k not in DTYPE_FIELDS]
    if not candidates or len(strings) != 1:
        return {}
    return {strings[0]: candidates}


def _placeholder(name: str, type_name: str) -> Any:
    if name in DTYPE_FIELDS:
        return "int16"
    return {"int": 1, "float": 1.0, "bool": False}.get(type_name, PLACEHOLDER)


def _peek_header(result: Validation, klass: type[DataFile], path: str, values: dict) -> None:
    """Reach the header with placeholders for the missing fields, to show its facts early.

    A string placeholder names nothing real, so a reader that lists the valid values
    (an HDF5 file's datasets) tells us the choices for that field; the first choice
    then stands in for it to reach the rest of the header.
    """
    trial = dict(values)
    trial.update({k: _placeholder(k, t) for k, t in result.missing.items()})
    for _ in range(2):
        try:
            datafile = klass(os.fspath(path), trial)
        except HeaderError as error:
            found = {k: [str(c) for c in error.candidates] for k in result.missing
                     if trial[k] == PLACEHOLDER and error.candidates}
            if not found:
                return
            result.choices.update(found)
            trial.update({k: choices[0] for k, choices in found.items()})
            continue
        except (DataFileError, OSError, ValueError):
            return
        result.header = {k: datafile.params[k] for k in sorted(datafile.header_fields)
                         if k in datafile.params and k not in result.missing}
        return


def fields_to_ask(file_format: str, validation: Validation | None) -> dict[str, str]:
    """{name: type} the user must give: the format's required fields plus any field the
    reader reported missing, minus what the header gave."""
    asked = required_fields(file_format)
    if validation is not None:
        for name, type_name in validation.missing.items():
            asked.setdefault(name, type_name)
        for name in validation.header:
            asked.pop(name, None)
    return asked


def advanced_fields(file_format: str, asked: dict[str, str]) -> dict[str, Any]:
    """{name: default} editable under "Advanced": the format's defaults not asked already."""
    return {k: v for k, v in default_values(file_format).items() if k not in asked}


def coerce(file_format: str, name: str, text: Any) -> Any:
    """A typed value from an editor's text; raises HeaderError naming the field on bad input."""
    return coerce_value(text, field_type(file_format, name), name)


def needs_layout(file_format: str) -> bool:
    """Headerless samples: the format asks for the channel count or the sample type."""
    asked = required_fields(file_format)
    return "nb_channels" in asked or "data_dtype" in asked


def suggest_layout(path: str, max_channels: int = 1024, top: int = 5) -> list[dict]:
    """Ranked (nb_channels, data_dtype, data_offset) guesses with their evidence; [] if none."""
    try:
        return suggest_raw_layout(os.fspath(path), max_channels=max_channels, top=top)
    except (OSError, ValueError):
        return []


def suggestions_note(suggestions: list[dict]) -> str:
    """What the wizard says above the ranked layouts, and whether the bytes decide between them."""
    note = "Ranked by how continuous each channel's signal looks when read that way."
    if suggestions and suggestions[0].get("ambiguous"):
        close = sum(1 for s in suggestions if s.get("ambiguous"))
        note += (f" Ambiguous: the first {close} score alike, the bytes do not decide between them; "
                 "check the acquisition's notes before choosing.")
    return note


def layout_values(suggestion: dict, file_format: str) -> dict[str, Any]:
    """The fields a layout suggestion sets for this format (data_offset only where it exists)."""
    known = set(required_fields(file_format)) | set(default_values(file_format))
    return {k: suggestion[k] for k in ("nb_channels", "data_dtype", "data_offset") if k in known}


# -- probe ------------------------------------------------------------------------------------------

def generate_probe(kind: str, count: int, pitch: float = 20.0, shanks: int = 1, columns: int = 1,
                   shank_pitch: float = 200.0, radius: float = 100.0) -> Probe:
    """A linear (`columns` wide), multi-shank (`count` channels per shank) or grid (`count` x
    `columns`) probe; positions in µm."""
    if kind == "linear":
        return linear_probe(count, pitch, columns=max(columns, 1), column_pitch=pitch, radius=radius)
    if kind == "multi-shank":
        return multi_shank_probe(max(shanks, 1), count, pitch, shank_pitch, radius)
    if kind == "grid":
        return grid_probe(count, max(columns, 1), pitch, radius)
    raise ValueError(f"unknown probe kind {kind!r}; use one of {', '.join(PROBE_KINDS)}")


def check_probe(probe: Probe, nb_channels: int) -> ProbeCheck:
    """Validate `probe` against the recording; flag channels that do not exist or have no position."""
    flagged = {int(c) for c in probe.channels if c >= nb_channels}
    for group in probe.channel_groups.values():
        flagged |= {int(c) for c in group.channels if c not in group.geometry}
    try:
        warnings = probe.validate(nb_channels)
    except ProbeError as error:
        return ProbeCheck(str(error), [], flagged)
    return ProbeCheck("", list(warnings), flagged)


def library() -> dict[str, Path]:
    return library_probes()


def probe_sites(probe: Probe) -> list[tuple[int, float, float]]:
    """(channel, x, y) of every placed channel, for drawing."""
    sites = []
    for group in probe.channel_groups.values():
        sites += [(int(c), float(x), float(y)) for c, (x, y) in group.geometry.items()
                  if c in group.channels]
    return sites


def site_spacing(xy: np.ndarray) -> float:
    """The smallest distance between two distinct sites (µm), 1 when there are fewer than two:
    the marker size that keeps neighbouring sites apart when drawn to scale."""
    points = np.unique(np.asarray(xy, dtype=float).reshape(-1, 2), axis=0)
    if len(points) < 2:
        return 1.0
    best = np.inf
    for start in range(0, len(points), 512):
        block = points[start:start + 512]
        distance = np.sqrt(((block[:, None, :] - points[None, :, :]) ** 2).sum(axis=2))
        distance[distance == 0] = np.inf
        best = min(best, float(distance.min()))
    return best


# -- writing ----------------------------------------------------------------------------------------

def default_params_path(data_path: str) -> Path:
    """`<data stem>.params` beside the data: where SpyKING CIRCUS looks."""
    path = Path(os.path.abspath(data_path))
    return path.with_suffix(".params") if path.is_file() else path.parent / f"{path.name}.params"


def default_probe_path(data_path: str) -> Path:
    """`<data stem>.prb` beside the data, for a generated or edited probe."""
    return default_params_path(data_path).with_suffix(".prb")


def params_description(validation: Validation, data_path: str, filter_a_copy: bool = True) -> dict[str, Any]:
    """The [data] section: the DataFile's own description, `overwrite` (False: the sorter
    filters a copy, the recording is never written), and `file_name` for a folder."""
    description = dict(validation.description)
    description["overwrite"] = not filter_a_copy
    if os.path.isdir(data_path):
        description["file_name"] = os.path.abspath(data_path)
    return description


def filtered_copy(validation: Validation, data_path: str, params_text: str = "") -> tuple[Path, int]:
    """(path, bytes) of the copy SpyKING CIRCUS 1.1 filters when ``overwrite = False``.

    Its filtering step writes every channel of the whole recording as float32 into
    ``<output_dir or data stem>/<data stem>_all_sc.dat`` (output_dir from
    `params_text`, the params to be written): samples x channels x 4 bytes.
    """
    output_dir = ParamsFile.from_text(params_text).get("data", "output_dir", "") if params_text else ""
    stem = os.path.splitext(os.path.abspath(data_path))[0]
    folder = os.path.abspath(os.path.expanduser(output_dir)) if output_dir else stem
    samples, channels = validation.shape or (0, 0)
    return Path(folder) / f"{os.path.basename(stem)}_all_sc.dat", int(samples) * int(channels) * 4


def format_bytes(size: int) -> str:
    """'812 kB', '3.4 GB': decimal units, as file managers show sizes."""
    value = float(size)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit in ("bytes", "kB") else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} bytes"


def render_params(description: dict[str, Any], probe_path: str | None = None,
                  base: str | None = None, data_file: str | None = None) -> str:
    """The exact text `write_params` would write, produced by it in a scratch folder."""
    with tempfile.TemporaryDirectory(prefix="wavescope-wizard-") as scratch:
        out = Path(scratch) / "preview.params"
        write_params(out, description, probe=probe_path, base=base, data_file=data_file)
        return out.read_text(encoding="utf-8")


def params_diff(existing: str | os.PathLike, new_text: str) -> list[str]:
    """Unified diff lines from the file at `existing` to `new_text`; [] when identical."""
    old = Path(existing).read_text(encoding="utf-8", errors="replace")
    return list(difflib.unified_diff(old.splitlines(), new_text.splitlines(), fromfile=str(existing),
                                     tofile=f"{existing} (new)", lineterm=""))


def save_probe(probe: Probe, path: str | os.PathLike) -> Path | None:
    """Write `probe` as plain data at `path`; a different file already there is kept as a backup
    (returned). Identical content is left untouched."""
    path = Path(path)
    backup = None
    if path.exists():
        if path.read_text(encoding="utf-8", errors="replace") == probe.to_text():
            return None
        backup = keep_backup(path, link=False)     # a copy: whatever way write_probe writes
    write_probe(probe, path)
    return backup


@dataclass
class WriteResult:
    params_path: Path
    params_backup: Path | None
    probe_path: Path | None
    probe_backup: Path | None


def write_all(params_path: str | os.PathLike, description: dict[str, Any], probe: Probe | None = None,
              probe_path: str | os.PathLike | None = None, save_probe_to: str | os.PathLike | None = None,
              base: str | None = None, data_file: str | None = None) -> WriteResult:
    """The wizard's only writes: the probe when it was generated or edited (`save_probe_to`),
    then the params file (atomic, previous one kept as a backup), naming `data_file`."""
    probe_backup = None
    if probe is not None and save_probe_to:
        probe_backup = save_probe(probe, save_probe_to)
        probe_path = save_probe_to
    params_backup = write_params(params_path, description,
                                 probe=os.fspath(probe_path) if probe_path else None, base=base,
                                 data_file=data_file)
    return WriteResult(Path(params_path), params_backup, Path(probe_path) if probe_path else None,
                       probe_backup)
