"""The DataFile layer: reading and writing recordings. No Qt below this package."""

from __future__ import annotations

import os

from app.io.datafile import DataFile
from app.io.errors import (
    DamagedFileError,
    DataFileError,
    FormatNotFoundError,
    HeaderError,
    MissingFieldsError,
    ShapeMismatchError,
    UnsupportedStreamMode,
)
from app.io.registry import get_format, supported_formats
from app.io.remote import RemoteError, guess_url_format, is_url

__all__ = ["DataFile", "DamagedFileError", "DataFileError", "FormatNotFoundError", "HeaderError", "MissingFieldsError",
           "ShapeMismatchError", "UnsupportedStreamMode", "RemoteError", "is_url", "open_datafile", "guess_format",
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
    if is_url(file_name):
        return get_format(file_format or guess_url_format(file_name))(file_name, dict(params or {}),
                                                                       stream_mode=stream_mode)
    if not os.path.exists(file_name):
        raise HeaderError(f"{file_name}: no such file or folder; check the path.", file_name)
    if stream_mode is None and file_format is None and os.path.isdir(file_name):
        from app.io.folders import check_one_recording
        check_one_recording(file_name)          # several recordings below: the user names one
    name = file_format or guess_format(file_name)
    try:
        return get_format(name)(file_name, dict(params or {}), stream_mode=stream_mode)
    except MissingFieldsError as error:
        claimed = [] if file_format else _formats_claiming_extension(file_name, exclude=name)
        if not claimed:
            raise
        found = _open_as_claimed(file_name, params, stream_mode, claimed)
        if found is not None:
            return found
        note = (f"the extension suggests {' or '.join(claimed)}, but the content is not that format, "
                f"so it was taken as {name}; if it is {claimed[0]}, the file may be damaged "
                f"(try --format {claimed[0]} to see why).")
        raise MissingFieldsError(error.file_name, error.missing, error.file_format, note) from None


def _open_as_claimed(file_name: str, params: dict | None, stream_mode: str | None,
                     claimed: list[str]) -> DataFile | None:
    """The content did not look like the format its extension names, and the fallback needs
    fields: read it as that format after all. The format's own error says why it is damaged
    (far better than a list of missing fields); None when it too only lacks fields."""
    for name in claimed:
        try:
            return get_format(name)(file_name, dict(params or {}), stream_mode=stream_mode)
        except MissingFieldsError:
            continue
        except DataFileError as error:
            why = str(error)
            if why.startswith(f"{file_name}: "):
                why = why[len(file_name) + 2:]
            raise DamagedFileError(f"{file_name}: the file is damaged or mislabelled: its extension says {name}, but "
                                   f"it does not read as {name}: {why}", file_name, why) from error
    return None


def _formats_claiming_extension(file_name: str, exclude: str) -> list[str]:
    ext = os.path.splitext(file_name)[1].lower()
    if not ext or ext in (".dat", ".bin", ".raw"):      # headerless raw data commonly use these
        return []
    if ext in [e.lower() for e in get_format(exclude).extension]:   # e.g. .h5 is hdf5's own too
        return []
    return [name for name, klass in supported_formats().items()
            if name != exclude and ext in [e.lower() for e in klass.extension]]
