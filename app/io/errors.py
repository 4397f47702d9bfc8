"""Exceptions of the DataFile layer.

Every error names the file, the value at fault and what to do about it, so the
CLI can print it as is and the GUI can show it in a dialog without a traceback.
"""

from __future__ import annotations

from typing import Iterable, Mapping


class DataFileError(Exception):
    """Base class: something about a recording file is wrong or unsupported."""

    def __init__(self, message: str, file_name: str | None = None):
        self.file_name = file_name
        super().__init__(message)


class MissingFieldsError(DataFileError):
    """Required fields the header cannot give and the user did not set.

    `missing` maps each field to its type name (``'int'``, ``'float'``,
    ``'string'``, ``'bool'``): this is what the wizard asks for.
    """

    def __init__(self, file_name: str, missing: Mapping[str, str], file_format: str = "", note: str = ""):
        self.missing = dict(missing)
        self.file_format = file_format
        fields = ", ".join(f"{k} ({v})" for k, v in self.missing.items())
        hint = " ".join(f"--set {k}=..." for k in self.missing)
        fmt = f" as {file_format}" if file_format else ""
        super().__init__(
            f"{file_name}: cannot open{fmt} without {fields}; the file does not say. "
            f"Give them in the [data] section of the params file or on the command line ({hint})."
            + (f" Note: {note}" if note else ""),
            file_name,
        )


class HeaderError(DataFileError):
    """The file's header is missing, truncated or inconsistent; `candidates` lists valid choices
    (e.g. the datasets of an HDF5 file when a key is wrong)."""

    def __init__(self, message: str, file_name: str | None = None, candidates: Iterable | None = None):
        self.candidates = list(candidates or [])
        super().__init__(message, file_name)


class DamagedFileError(HeaderError):
    """The file's content cannot be read: cut short, corrupted, a header value out of range,
    or not the format it claims. `cause` names the low-level failure (e.g. ``EOFError``)."""

    def __init__(self, message: str, file_name: str | None = None, cause: str = ""):
        self.cause = cause
        super().__init__(message, file_name)


class UnsupportedStreamMode(DataFileError):
    def __init__(self, file_name: str, stream_mode: str, file_format: str, supported: Iterable[str]):
        self.stream_mode = stream_mode
        self.supported = list(supported)
        super().__init__(
            f"{file_name}: format {file_format} has no stream mode {stream_mode!r}; "
            f"use one of {', '.join(self.supported) or 'none'} (or leave stream_mode empty).",
            file_name,
        )


class ShapeMismatchError(DataFileError):
    """The file size or the parts of a recording do not fit the declared shape."""

    def __init__(self, message: str, file_name: str | None = None, candidates: Iterable | None = None):
        self.candidates = list(candidates or [])
        super().__init__(message, file_name)


class FormatNotFoundError(DataFileError):
    """No registered format matches the file or the name given."""


class ParamsError(DataFileError):
    """A params (.params) file is malformed or a value has the wrong type."""


class ProbeError(DataFileError):
    """A probe (.prb) file is malformed, unsafe, or does not fit the recording; `line` is the
    line of the .prb at fault when known."""

    def __init__(self, message: str, file_name: str | None = None, line: int | None = None):
        self.line = line
        super().__init__(message, file_name)


class SortingError(DataFileError):
    """A spike sorter's output (results, templates, a phy or SpikeInterface folder) is missing a
    piece or is damaged; the message names the file and what is missing."""
