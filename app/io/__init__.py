"""The DataFile layer: reading and writing recordings. No Qt below this package."""

from __future__ import annotations

import os

from app.io.datafile import DataFile
from app.io.errors import (
    DataFileError,
    FormatNotFoundError,
    HeaderError,
    MissingFieldsError,
    ShapeMismatchError,
    UnsupportedStreamMode,
)
from app.io.registry import get_format, supported_formats

__all__ = ["DataFile", "DataFileError", "FormatNotFoundError", "HeaderError", "MissingFieldsError",
           "ShapeMismatchError", "UnsupportedStreamMode", "open_datafile", "guess_format",
           "supported_formats", "get_format"]


def guess_format(file_name: str) -> str:
    """The most likely format name for `file_name` (content first, then extension)."""
    from app.io.sniff import rank_formats
    candidates = rank_formats(file_name)
    if not candidates:
        raise FormatNotFoundError(f"{file_name}: no known format reads this file; give --format.",
                                  file_name)
    return candidates[0].name


def open_datafile(file_name: str, params: dict | None = None, file_format: str | None = None,
                  stream_mode: str | None = None) -> DataFile:
    """A DataFile for `file_name`; the format is guessed when not given.

    A ``.params`` file opens its data file with its [data] settings; `params`
    given here override them.
    """
    file_name = os.fspath(file_name)
    if file_name.endswith(".params"):
        from app.io.params import datafile_settings
        data_file, settings = datafile_settings(file_name)
        settings.update(params or {})
        file_format = file_format or settings.pop("file_format", None)
        stream_mode = stream_mode or settings.pop("stream_mode", None)
        settings.pop("file_format", None)
        settings.pop("stream_mode", None)
        return open_datafile(data_file, settings, file_format, stream_mode)
    if not os.path.exists(file_name):
        raise HeaderError(f"{file_name}: no such file or folder; check the path.", file_name)
    klass = get_format(file_format or guess_format(file_name))
    return klass(file_name, dict(params or {}), stream_mode=stream_mode)
