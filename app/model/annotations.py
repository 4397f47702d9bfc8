"""User annotations of a recording: time ranges or instants with a label and a note.

Times are samples on the recording's timeline (the index `read_range` uses). The annotations
live beside the recording in a JSON sidecar, `<recording>.annotations.json`::

    {"schema_version": 1, "recording": "run1.bin", "sampling_rate": 30000.0,
     "annotations": [{"id": "...", "start": 1200, "stop": 4500, "label": "artifact", "note": ""}]}

`stop` is null for an instant. Saving is atomic (a temporary file renamed over the sidecar)
and keeps the previous version as `<sidecar>.bak`; a sidecar that cannot be read is never
overwritten without a copy (`<sidecar>.invalid-N.json`). Loading a hand-edited sidecar checks
every entry and raises `AnnotationFileError` naming the file, the entry and the problem.
Edits go through an undo/redo stack; listeners are plain callables (no Qt).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from app.io import atomic
from app.io.remote import is_url, remote_sidecar_path

SCHEMA_VERSION = 1
SIDECAR_SUFFIX = ".annotations.json"


class AnnotationFileError(Exception):
    """A sidecar that cannot be used as it is; the file on disk is left untouched."""

    def __init__(self, message: str, file_name: str, entry: int | None = None):
        self.file_name = file_name
        self.entry = entry
        super().__init__(message)


@dataclass(frozen=True)
class Annotation:
    """One annotation; `stop` None is an instant at `start`."""

    start: int
    stop: int | None = None
    label: str = ""
    note: str = ""
    id: str = ""

    @property
    def is_instant(self) -> bool:
        return self.stop is None

    @property
    def duration(self) -> int:
        return 0 if self.stop is None else self.stop - self.start


def sidecar_path(recording_path: str) -> str:
    """Where the annotations of `recording_path` (a file or a folder) are kept; for a URL, in the
    remote cache folder (a server is read-only)."""
    if is_url(recording_path):
        return remote_sidecar_path(recording_path, SIDECAR_SUFFIX)
    return os.path.abspath(os.fspath(recording_path)).rstrip(os.sep) + SIDECAR_SUFFIX


def _check_times(start: Any, stop: Any) -> tuple[int, int | None]:
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
        raise ValueError(f"start must be a sample index >= 0, got {start!r}")
    if stop is None:
        return int(start), None
    if isinstance(stop, bool) or not isinstance(stop, (int, np.integer)) or stop < start:
        raise ValueError(f"stop must be null or a sample index >= start ({start}), got {stop!r}")
    return int(start), int(stop)


def _entry(raw: Any, number: int, path: str) -> Annotation:
    """One sidecar entry, checked; `number` counts from 1 for the error message."""
    def fail(problem: str) -> AnnotationFileError:
        label = f" (label {raw.get('label')!r})" if isinstance(raw, dict) and "label" in raw else ""
        return AnnotationFileError(f"{path}: annotation entry {number}{label}: {problem}. The file was not "
                                   "changed; fix the entry in a text editor or remove it.", path, number)

    if not isinstance(raw, dict):
        raise fail(f"is {type(raw).__name__}, not an object with start/stop/label/note")
    unknown = set(raw) - {"id", "start", "stop", "label", "note"}
    if unknown:
        raise fail(f"unknown key(s) {', '.join(sorted(map(repr, unknown)))}")
    if "start" not in raw:
        raise fail("has no 'start' (a sample index)")
    try:
        start, stop = _check_times(raw["start"], raw.get("stop"))
    except ValueError as error:
        raise fail(str(error)) from None
    for key in ("label", "note", "id"):
        if key in raw and not isinstance(raw[key], str):
            raise fail(f"{key!r} must be text, got {raw[key]!r}")
    return Annotation(start, stop, raw.get("label", ""), raw.get("note", ""), raw.get("id") or uuid.uuid4().hex)


def read_sidecar(path: str) -> tuple[list[Annotation], dict]:
    """(annotations, the other top-level fields) of a sidecar, checked entry by entry."""
    try:
        with open(path, "rb") as handle:
            document = json.loads(handle.read().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise AnnotationFileError(f"{path}: not UTF-8 text ({error}); the file was not changed.", path) from None
    except json.JSONDecodeError as error:
        raise AnnotationFileError(f"{path}: not valid JSON at line {error.lineno}, column {error.colno}: "
                                  f"{error.msg}. The file was not changed; fix it in a text editor.", path) from None
    if not isinstance(document, dict):
        raise AnnotationFileError(f"{path}: the top level is {type(document).__name__}, not an object with "
                                  "schema_version and annotations.", path)
    version = document.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise AnnotationFileError(f"{path}: schema_version is {version!r}; it must be an integer "
                                  f"({SCHEMA_VERSION} for this version of Wavescope).", path)
    if version > SCHEMA_VERSION:
        raise AnnotationFileError(f"{path}: schema_version {version} is newer than this Wavescope reads "
                                  f"({SCHEMA_VERSION}); update Wavescope. The file was not changed.", path)
    entries = document.get("annotations", [])
    if not isinstance(entries, list):
        raise AnnotationFileError(f"{path}: 'annotations' is {type(entries).__name__}, not a list.", path)
    annotations = [_entry(raw, k, path) for k, raw in enumerate(entries, 1)]
    ids = [a.id for a in annotations]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise AnnotationFileError(f"{path}: annotation entry {ids.index(duplicate) + 1}: id {duplicate!r} is "
                                  "used twice; ids must be unique. The file was not changed.", path,
                                  ids.index(duplicate) + 1)
    return annotations, {k: v for k, v in document.items() if k != "annotations"}


def write_atomic(path: str, text: str) -> None:
    """Write `text` over `path` atomically (app.io.atomic: temporary file, fsync, rename)."""
    atomic.write_text(path, text)


def _keep_copy(path: str) -> None:
    """Before a save: the sidecar as it is becomes `.bak` (or `.invalid-N.json` if unreadable)."""
    if not os.path.exists(path):
        return
    try:
        read_sidecar(path)
        target = path + ".bak"
    except AnnotationFileError:
        number = 1
        while os.path.exists(f"{path}.invalid-{number}.json"):
            number += 1
        target = f"{path}.invalid-{number}.json"
    atomic.copy_file(path, target)


Listener = Callable[[str, tuple[str, ...]], None]


class Annotations:
    """The annotations of one recording, with undo/redo and change listeners.

    Listeners are called as `listener(kind, ids)` with kind 'added', 'changed', 'removed' or
    'reset' (load, undo, redo) after each change.
    """

    def __init__(self, recording_path: str, sampling_rate: float | None = None,
                 annotations: Iterable[Annotation] = ()):
        self.recording_path = os.fspath(recording_path)
        self.path = sidecar_path(self.recording_path)
        self.sampling_rate = sampling_rate
        self._items: dict[str, Annotation] = {a.id: a for a in annotations}
        self._undo: list[tuple[str, dict[str, Annotation]]] = []
        self._redo: list[tuple[str, dict[str, Annotation]]] = []
        self._listeners: list[Listener] = []
        self.modified = False

    # -- loading and saving -----------------------------------------------------------------------
    @classmethod
    def load(cls, recording_path: str, sampling_rate: float | None = None) -> Annotations:
        """The recording's annotations from its sidecar; none when there is no sidecar yet."""
        path = sidecar_path(recording_path)
        if not os.path.exists(path):
            return cls(recording_path, sampling_rate)
        annotations, fields = read_sidecar(path)
        rate = sampling_rate if sampling_rate is not None else fields.get("sampling_rate")
        return cls(recording_path, rate, annotations)

    def to_json(self) -> str:
        document = {"schema_version": SCHEMA_VERSION, "recording": os.path.basename(self.recording_path.rstrip(os.sep)),
                    "sampling_rate": self.sampling_rate,
                    "annotations": [asdict(a) for a in self.items()]}
        return json.dumps(document, indent=1, ensure_ascii=False) + "\n"

    def save(self) -> str:
        """Write the sidecar atomically, keeping the previous version; returns its path."""
        text = self.to_json()
        _keep_copy(self.path)
        write_atomic(self.path, text)
        self.modified = False
        return self.path

    # -- reading ----------------------------------------------------------------------------------
    def items(self) -> list[Annotation]:
        """All annotations by start, then stop."""
        return sorted(self._items.values(), key=lambda a: (a.start, a.stop if a.stop is not None else a.start, a.id))

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, annotation_id: str) -> Annotation:
        return self._items[annotation_id]

    def in_range(self, t_start: int, t_stop: int) -> list[Annotation]:
        """Annotations overlapping [t_start, t_stop) (an instant overlaps when inside)."""
        return [a for a in self.items()
                if a.start < t_stop and (a.stop if a.stop is not None else a.start + 1) > t_start]

    # -- editing ----------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(kind, ids)` after every change; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _notify(self, kind: str, ids: tuple[str, ...]) -> None:
        for listener in list(self._listeners):
            listener(kind, ids)

    def _apply(self, kind: str, new_items: dict[str, Annotation], ids: tuple[str, ...]) -> None:
        self._undo.append((kind, self._items))
        self._redo.clear()
        self._items = new_items
        self.modified = True
        self._notify(kind, ids)

    def add(self, start: int, stop: int | None = None, label: str = "", note: str = "") -> Annotation:
        """A new range [start, stop) or, with stop None, an instant."""
        start, stop = _check_times(start, stop)
        annotation = Annotation(start, stop, str(label), str(note), uuid.uuid4().hex)
        self._apply("added", {**self._items, annotation.id: annotation}, (annotation.id,))
        return annotation

    def update(self, annotation_id: str, **changes: Any) -> Annotation:
        """Change start, stop, label or note of one annotation."""
        old = self._items[annotation_id]
        unknown = set(changes) - {"start", "stop", "label", "note"}
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))} of an annotation")
        new = replace(old, **changes)
        start, stop = _check_times(new.start, new.stop)
        new = replace(new, start=start, stop=stop, label=str(new.label), note=str(new.note))
        self._apply("changed", {**self._items, annotation_id: new}, (annotation_id,))
        return new

    def remove(self, annotation_id: str) -> None:
        items = dict(self._items)
        del items[annotation_id]
        self._apply("removed", items, (annotation_id,))

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> bool:
        """Undo the last edit; False when there is none."""
        if not self._undo:
            return False
        kind, items = self._undo.pop()
        self._redo.append((kind, self._items))
        self._items = items
        self.modified = True
        self._notify("reset", ())
        return True

    def redo(self) -> bool:
        """Redo the last undone edit; False when there is none."""
        if not self._redo:
            return False
        kind, items = self._redo.pop()
        self._undo.append((kind, self._items))
        self._items = items
        self.modified = True
        self._notify("reset", ())
        return True

    # -- export -----------------------------------------------------------------------------------
    def _seconds(self, sample: int | None, t_start: int) -> float | None:
        if sample is None or not self.sampling_rate:
            return None
        return (sample + t_start) / float(self.sampling_rate)

    def to_table(self, delimiter: str = ",", t_start: int = 0) -> str:
        """CSV/TSV text: start/stop in samples and (with a sampling rate) seconds, label, note."""
        out = io.StringIO()
        writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
        writer.writerow(["start_sample", "stop_sample", "start_s", "stop_s", "label", "note"])
        for a in self.items():
            start_s, stop_s = self._seconds(a.start, t_start), self._seconds(a.stop, t_start)
            writer.writerow([a.start, "" if a.stop is None else a.stop,
                             "" if start_s is None else repr(start_s), "" if stop_s is None else repr(stop_s),
                             a.label, a.note])
        return out.getvalue()

    def export_table(self, path: str, t_start: int = 0) -> str:
        """Write a CSV (or, for a `.tsv` name, TSV) file atomically."""
        delimiter = "\t" if os.fspath(path).lower().endswith(".tsv") else ","
        write_atomic(os.fspath(path), self.to_table(delimiter, t_start))
        return os.fspath(path)

    def export_nwb(self, source_nwb: str, output_nwb: str, table_name: str = "annotations",
                   t_start: int = 0) -> str:
        """A COPY of `source_nwb` with the annotations appended as a `TimeIntervals` table.

        Times are seconds from the session start: (sample + t_start) / sampling_rate, where
        `t_start` is the recording's first sample on the acquisition clock. The source file is
        never opened for writing; the output appears only when complete.
        """
        if not self.sampling_rate:
            raise ValueError(f"{self.path}: the sampling rate is unknown; NWB times are in seconds.")
        if os.path.abspath(source_nwb) == os.path.abspath(output_nwb):
            raise ValueError(f"{output_nwb}: NWB export writes a copy; choose another output name than the source.")
        rows = [(self._seconds(a.start, t_start), self._seconds(a.stop if a.stop is not None else a.start, t_start),
                 a.label, a.note) for a in self.items()]
        return append_time_intervals(source_nwb, output_nwb, table_name, rows)


def append_time_intervals(source_nwb: str, output_nwb: str, table_name: str,
                          rows: list[tuple[float, float, str, str]]) -> str:
    """Copy `source_nwb` to a temporary file beside `output_nwb`, append a TimeIntervals table
    (start_time, stop_time, label, note) with pynwb, then rename the copy to `output_nwb`."""
    from pynwb import NWBHDF5IO
    from pynwb.epoch import TimeIntervals

    with atomic.replacing(output_nwb) as temporary:
        shutil.copyfile(source_nwb, temporary)
        with NWBHDF5IO(temporary, "a") as nwb_io:
            nwbfile = nwb_io.read()
            if table_name in nwbfile.intervals:
                raise ValueError(f"{source_nwb}: it already has an intervals table {table_name!r}; choose "
                                 "another table name.")
            table = TimeIntervals(name=table_name, description="annotations made in Wavescope")
            table.add_column(name="label", description="the annotation's label")
            table.add_column(name="note", description="the annotation's note")
            for start, stop, label, note in rows:
                table.add_row(start_time=start, stop_time=stop, label=label, note=note)
            nwbfile.add_time_intervals(table)
            nwb_io.write(nwbfile)
    return output_nwb
