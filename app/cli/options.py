"""Options that open a recording (FILE, --format, --stream-mode, --params, --set) and the
checks of the names they carry, made before anything is opened: a mistyped format or field is
a usage error with the closest name, never a misread recording."""

from __future__ import annotations

import argparse
import logging
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from app.cli.common import CommandLineError, did_you_mean

if TYPE_CHECKING:
    from app.io.datafile import DataFile


def parse_sets(pairs: Sequence[str] | None) -> dict[str, str]:
    """--set KEY=VALUE pairs as a dict (values as typed: the DataFile coerces them)."""
    values = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise CommandLineError(f"--set takes KEY=VALUE, got {pair!r}; e.g. --set sampling_rate=30000.",
                                   "--set")
        key, value = pair.split("=", 1)
        values[key.strip()] = value.strip()
    return values


# -- names in --format, --set and .params files, checked before anything is opened -----------------
_ALWAYS_KNOWN = {"file_name", "file_format", "stream_mode", "segment_index", "stream_index"}


def _known_data_keys(file_format: str | None) -> set[str]:
    """[data] keys that mean something: the format's fields (every format's when it is not
    known yet), the fields every format has, and SpyKING CIRCUS's own [data] keys."""
    from app.io.datafile import MANDATORY_FIELDS
    from app.io.registry import supported_formats
    formats = supported_formats()
    classes = [formats[file_format]] if file_format in formats else list(formats.values())
    keys = set(MANDATORY_FIELDS) | _ALWAYS_KNOWN | set(_template_keys().get("data", ()))
    for klass in classes:
        keys |= set(klass._required_fields) | set(klass._default_values) | set(klass._field_types)
    return keys


def _template_keys() -> dict[str, list[str]]:
    from app.io.params import ParamsFile
    template = ParamsFile.from_template()
    return {section: template.keys(section) for section in template.sections()}


def check_format_name(name: str | None, where: str = "--format") -> None:
    """A format name that is not registered: CommandLineError with the closest name."""
    from app.io.registry import supported_formats
    if not name:
        return
    formats = supported_formats()
    if name in formats:
        return
    guess = did_you_mean(name, list(formats))
    hint = f"did you mean {guess!r}?" if guess else "see `wavescope formats` for the names."
    raise CommandLineError(f"{where}: no format named {name!r}; {hint}", "file_format")


def check_set_keys(settings: dict, file_format: str | None) -> None:
    """--set keys that mistype a known field: CommandLineError naming the field; other unknown
    keys pass with a warning (a plugin or the sorter may read them)."""
    known = _known_data_keys(file_format)
    for key in settings:
        if key in known:
            continue
        guess = did_you_mean(key, sorted(known))
        if guess:
            raise CommandLineError(f"--set {key}=...: unknown field {key!r}; did you mean {guess!r}?", key)
        logging.getLogger("wavescope").warning("--set %s: not a field of %s; passed on as is.",
                                               key, file_format or "any format")


def _params_lines(path: str) -> list[tuple[str, str, int]]:
    """(section, key, line number) of every `key = value` line of a params file."""
    found, section = [], None
    with open(path, encoding="utf-8-sig") as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.strip()
            if not text or text[0] in "#;":
                continue
            header = re.fullmatch(r"\[([^\]]*)\].*", text)
            if header:
                section = header.group(1).strip()
            elif section is not None and "=" in text:
                found.append((section, text.split("=", 1)[0].strip(), number))
    return found


def check_params_file(path: str, file_format: str | None = None) -> None:
    """Mistyped names in a params file: in [data] an error naming the line (a misread recording
    is worse than a refusal), in the sorter's sections a warning."""
    from app.io.errors import ParamsError
    from app.io.params import ParamsFile
    params = ParamsFile.read(path)                     # malformed lines raise with their line first
    file_format = file_format or params.get("data", "file_format") or None
    template = _template_keys()
    known_data = _known_data_keys(file_format)
    log = logging.getLogger("wavescope")
    for section, key, line in _params_lines(path):
        where = f"{path}: line {line}"
        if section == "data" and key == "file_format" and file_format:
            from app.io.registry import supported_formats
            if file_format not in supported_formats():
                guess = did_you_mean(file_format, list(supported_formats()))
                error = ParamsError(f"{where}: no format named {file_format!r}; "
                                    + (f"did you mean {guess!r}?" if guess else "see `wavescope formats`."),
                                    path)
                error.field, error.line = "file_format", line
                raise error
        if section == "data" and key.lower() not in known_data:
            guess = did_you_mean(key, sorted(known_data))
            if guess:
                error = ParamsError(f"{where}: [data] {key} is not a known field; did you mean {guess}? "
                                    "Fix the name in the file.", path)
                error.field, error.line = key, line
                raise error
            log.warning("%s: [data] %s is not a field of %s; it is passed on as is.",
                        where, key, file_format or "any format")
        elif section != "data" and section in template and key.lower() not in template[section]:
            guess = did_you_mean(key, template[section])
            log.warning("%s: [%s] %s is not a SpyKING CIRCUS parameter%s; the sorter ignores it.",
                        where, section, key, f" (did you mean {guess}?)" if guess else "")


def add_open_options(parser: argparse.ArgumentParser) -> None:
    """FILE, --format, --stream-mode, --params and --set: what `open_from_args` reads."""
    parser.add_argument("file", help="the recording (a data file, a folder, or a .params file)")
    parser.add_argument("--format", dest="file_format", help="the format name (see `wavescope formats`)")
    parser.add_argument("--stream-mode", help="e.g. multi-files, single-file")
    parser.add_argument("--params", help="take [data] settings from this .params file")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                        help="a data field, e.g. --set sampling_rate=30000 (repeatable)")


def open_from_args(args: argparse.Namespace) -> DataFile:
    """The DataFile the options of `add_open_options` describe."""
    return open_recording(args.file, parse_sets(args.set), args.file_format, args.stream_mode,
                          getattr(args, "params", None))


def open_recording(path: str, given: dict[str, str], file_format: str | None = None,
                   stream_mode: str | None = None, params_file: str | None = None) -> DataFile:
    """Open `path` with the fields `given` (--set) over those of `params_file`, after checking
    every name; a typed error (app.io.errors) or CommandLineError when it cannot."""
    from app.io import open_datafile
    settings: dict = {}
    check_format_name(file_format)
    for candidate in (params_file, path):
        if candidate and str(candidate).endswith(".params") and os.path.isfile(candidate):
            check_params_file(str(candidate), file_format)
    if params_file:
        from app.io.params import datafile_settings
        _, settings = datafile_settings(params_file)
        file_format = file_format or settings.pop("file_format", None)
        stream_mode = stream_mode or settings.pop("stream_mode", None)
        settings.pop("file_format", None)
        settings.pop("stream_mode", None)
    check_set_keys(given, file_format)
    settings.update(given)
    return open_datafile(path, settings, file_format, stream_mode)
