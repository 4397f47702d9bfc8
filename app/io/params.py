""".params files: the INI files SpyKING CIRCUS reads, edited without losing anything.

`ParamsFile` keeps every line of the file (comments, blank lines, alignment, key
order); `set` rewrites one value and leaves its inline ``# note`` in place. The
syntax accepted is what SpyKING CIRCUS's parser accepts: ``[section]`` headers,
``key = value`` lines, full-line comments starting with ``#`` or ``;``, and text
after the first ``#`` of a value line is a note. Keys are matched without regard
to case, as configparser does.

`datafile_settings` turns a params file into (data file, [data] settings) for
`open_datafile`; `write_params` writes the params of a recording, atomically,
keeping the previous file as a backup.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.io.errors import FormatNotFoundError, ParamsError

SECTIONS = ["data", "detection", "filtering", "triggers", "whitening", "clustering", "fitting",
            "merging", "converting", "validating", "extracting", "noedits"]

# [data] keys that steer the sorter rather than describe how to read the recording.
SORTER_DATA_KEYS = frozenset({
    "mapping", "suffix", "overwrite", "parallel_hdf5", "output_dir", "chunk_size", "hdf5_compress",
    "blosc_compress", "is_cluster", "shared_memory", "status_bars", "custom_spikes", "auto_cluster",
    "global_tmp", "memory_usage", "file_name",
})

# Files sharing the params file's stem that are never the recording itself.
SIDECAR_EXTENSIONS = {".params", ".prb", ".log", ".bak", ".tmp", ".json"}

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "resources" / "params.template"

_SECTION_RE = re.compile(r"\[([^\[\]]+)\]")


@dataclass
class _Line:
    """One line of the file. Value lines keep their pieces so a value can change in place."""

    text: str
    section: str | None = None
    key: str | None = None
    lead: str = ""       # from the line start through '=' and the spaces after it
    value: str = ""
    tail: str = ""       # spaces + '# note' after the value, or ''

    def set_value(self, value: str) -> None:
        if self.tail.strip():
            note = self.tail.lstrip()
            column = len(self.lead) + len(self.value) + len(self.tail) - len(note)
            gap = max(1, column - len(self.lead) - len(value))
            self.tail = " " * gap + note
        else:
            self.tail = ""
        self.value = value
        self.text = self.lead + value + self.tail


def format_value(value: Any) -> str:
    """A value as params text: floats without noise (30000.0 -> 30000), None -> ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    return str(value)


def _parse_value_line(text: str, section: str, file_name: str, number: int) -> _Line:
    where = f"{file_name}: line {number}"
    if "=" not in text:
        raise ParamsError(f"{where}: expected 'key = value', got {text.strip()!r}; add '= value' or "
                          "start the line with '#' to make it a comment.", file_name)
    key_part, rest = text.split("=", 1)
    key = key_part.strip()
    if not key:
        raise ParamsError(f"{where}: a value without a key ({text.strip()!r}); write 'key = value'.",
                          file_name)
    spaces = len(rest) - len(rest.lstrip(" \t"))
    if rest[spaces:].startswith("#"):
        spaces = min(spaces, 1)            # an empty value: the padding belongs to the note
    body = rest[spaces:]
    raw_value, hash_sign, note = body.partition("#")
    value = raw_value.rstrip()
    tail = raw_value[len(value):] + hash_sign + note
    return _Line(text, section, key, key_part + "=" + rest[:spaces], value, tail)


class ParamsFile:
    """A params file as lines; reading and rewriting it changes only what `set` touched."""

    def __init__(self, lines: list[_Line], file_name: str = "<text>", newline: str = "\n",
                 final_newline: bool = True):
        self._lines = lines
        self.file_name = file_name
        self._newline = newline
        self._final_newline = final_newline

    # -- reading ----------------------------------------------------------------------------------
    @classmethod
    def from_text(cls, text: str, file_name: str = "<text>") -> ParamsFile:
        """Parse `text`; ParamsError names `file_name` and the line at fault."""
        newline = "\r\n" if "\r\n" in text else "\n"
        raw_lines = text.splitlines()
        lines: list[_Line] = []
        section: str | None = None
        seen: dict[str | None, set[str]] = {}
        for number, raw in enumerate(raw_lines, start=1):
            where = f"{file_name}: line {number}"
            stripped = raw.strip()
            if not stripped or stripped[0] in "#;":
                lines.append(_Line(raw, section))
                continue
            if stripped.startswith("["):
                section = cls._section_name(stripped, where, file_name)
                if section in seen:
                    raise ParamsError(f"{where}: section [{section}] appears twice; merge the two "
                                      "into one.", file_name)
                seen[section] = set()
                lines.append(_Line(raw, section))
                continue
            if section is None:
                raise ParamsError(f"{where}: {stripped!r} comes before any [section]; put it under "
                                  "one, e.g. [data].", file_name)
            line = _parse_value_line(raw, section, file_name, number)
            if line.key.lower() in seen[section]:
                raise ParamsError(f"{where}: {line.key} is set twice in [{section}]; keep one.",
                                  file_name)
            seen[section].add(line.key.lower())
            lines.append(line)
        return cls(lines, file_name, newline, text.endswith(("\n", "\r")) or not text)

    @staticmethod
    def _section_name(stripped: str, where: str, file_name: str) -> str:
        match = _SECTION_RE.fullmatch(stripped.split("#", 1)[0].strip())
        if not match or not match.group(1).strip():
            raise ParamsError(f"{where}: malformed section header {stripped!r}; write [name].",
                              file_name)
        return match.group(1).strip()

    @classmethod
    def read(cls, path: str | os.PathLike) -> ParamsFile:
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8-sig", newline="") as handle:
                text = handle.read()
        except FileNotFoundError:
            raise ParamsError(f"{path}: no such params file; check the path.", path) from None
        except UnicodeDecodeError as error:
            raise ParamsError(f"{path}: not a text params file ({error.reason} at byte "
                              f"{error.start}); save it as UTF-8.", path) from None
        return cls.from_text(text, path)

    @classmethod
    def from_template(cls) -> ParamsFile:
        """Every section and key SpyKING CIRCUS 1.1 expects, with its usual defaults."""
        return cls.from_text(TEMPLATE_PATH.read_text(encoding="utf-8"), str(TEMPLATE_PATH))

    # -- queries ----------------------------------------------------------------------------------
    def sections(self) -> list[str]:
        names: list[str] = []
        for line in self._lines:
            if line.section is not None and line.section not in names:
                names.append(line.section)
        return names

    def _value_lines(self, section: str) -> list[_Line]:
        return [line for line in self._lines if line.section == section and line.key is not None]

    def _find(self, section: str, key: str) -> _Line | None:
        wanted = key.strip().lower()
        for line in self._value_lines(section):
            if line.key.lower() == wanted:
                return line
        return None

    def keys(self, section: str) -> list[str]:
        return [line.key for line in self._value_lines(section)]

    def get(self, section: str, key: str, default: str | None = None) -> str | None:
        """The value without its note, stripped; `default` when the key is absent."""
        line = self._find(section, key)
        return default if line is None else line.value.strip()

    def as_dict(self) -> dict[str, dict[str, str]]:
        return {name: {line.key: line.value.strip() for line in self._value_lines(name)}
                for name in self.sections()}

    # -- edits ------------------------------------------------------------------------------------
    def set(self, section: str, key: str, value: Any) -> None:
        """Set a value, keeping the line's note; a new key goes at the end of its section."""
        text = format_value(value).strip()
        if "#" in text or "\n" in text or "\r" in text:
            raise ParamsError(f"{self.file_name}: [{section}] {key} = {text!r} cannot be written: "
                              "'#' starts a note and a value holds one line; rename the path or "
                              "value without them.", self.file_name)
        line = self._find(section, key)
        if line is not None:
            line.set_value(text)
            return
        if section not in self.sections():
            self._append_section(section)
        self._insert_key(section, key.strip(), text)

    def remove(self, section: str, key: str) -> None:
        line = self._find(section, key)
        if line is not None:
            self._lines.remove(line)

    def _append_section(self, section: str) -> None:
        if self._lines and self._lines[-1].text.strip():
            self._lines.append(_Line("", self._lines[-1].section))
        self._lines.append(_Line(f"[{section}]", section))

    def _insert_key(self, section: str, key: str, value: str) -> None:
        members = [i for i, line in enumerate(self._lines) if line.section == section]
        values = self._value_lines(section)
        width = max((len(line.lead.split("=")[0]) for line in values), default=15)
        lead = f"{key.ljust(width)}= "
        anchor = values[-1] if values else self._lines[members[0]]
        position = next(i for i, line in enumerate(self._lines) if line is anchor) + 1
        self._lines.insert(position, _Line(lead + value, section, key, lead, value, ""))

    # -- writing ----------------------------------------------------------------------------------
    def text(self) -> str:
        body = self._newline.join(line.text for line in self._lines)
        return body + self._newline if self._final_newline and self._lines else body

    def write(self, path: str | os.PathLike) -> Path | None:
        """Write atomically; an existing file is kept as a backup, whose path is returned."""
        return atomic_write_text(Path(path), self.text())


def read_params(path: str | os.PathLike) -> ParamsFile:
    return ParamsFile.read(path)


# -- files on disk ---------------------------------------------------------------------------------
def backup_path(path: Path) -> Path:
    """`name.params.bak`, or `name.params.bak.N` with the first N not yet taken."""
    candidate = path.with_name(path.name + ".bak")
    number = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.bak.{number}")
        number += 1
    return candidate


def _keep_backup(path: Path) -> Path:
    backup = backup_path(path)
    try:
        os.link(path, backup)
    except OSError:
        import shutil
        shutil.copy2(path, backup)
    return backup


def atomic_write_text(path: Path, text: str) -> Path | None:
    """Write `text` to a temporary file beside `path`, then rename it over `path`.

    Readers see the old file or the new one, never half of one. A file already at
    `path` is first kept as a backup (hard link or copy) whose path is returned.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        backup = _keep_backup(path) if path.exists() else None
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return backup


# -- params <-> DataFile ---------------------------------------------------------------------------
def _format_extensions(file_format: str | None) -> list[str]:
    if not file_format:
        return []
    from app.io.registry import get_format
    try:
        return [ext.lower() for ext in get_format(file_format).extension]
    except FormatNotFoundError:
        return []


def _data_candidates(params_path: Path) -> list[Path]:
    stem = params_path.stem
    found = []
    for entry in params_path.parent.iterdir():
        root, ext = os.path.splitext(entry.name)
        if root != stem or ext.lower() in SIDECAR_EXTENSIONS:
            continue
        if not ext and entry.is_dir():
            continue                       # SpyKING CIRCUS's own output folder
        found.append(entry)
    return found


def find_data_file(params_path: str | os.PathLike, file_format: str | None = None) -> Path:
    """The recording a params file belongs to: same folder, same stem (data.dat <-> data.params).

    Among several, one with an extension of `file_format` wins, then a file over a
    folder, then the largest file (sidecars are small).
    """
    params_path = Path(params_path).resolve()
    candidates = _data_candidates(params_path)
    if not candidates:
        raise ParamsError(
            f"{params_path}: no recording named {params_path.stem}.* beside it; SpyKING CIRCUS "
            f"looks for the data in the same folder with the same name (e.g. {params_path.stem}.dat).",
            str(params_path))
    extensions = _format_extensions(file_format)

    def rank(path: Path) -> tuple:
        preferred = path.suffix.lower() in extensions
        size = path.stat().st_size if path.is_file() else 0
        return (not preferred, not path.is_file(), -size, path.name)

    return min(candidates, key=rank)


def datafile_settings(params_path: str | os.PathLike) -> tuple[str, dict]:
    """(data file, [data] settings) that open the recording a params file describes.

    The settings are strings: file_format, stream_mode and the format's own fields;
    empty values and the sorter's own keys are left out. A non-empty `file_name`
    in [data] (SpyKING CIRCUS's params-only mode) names the data file explicitly.
    """
    params_path = Path(params_path)
    params = ParamsFile.read(params_path)
    if "data" not in params.sections():
        raise ParamsError(f"{params_path}: no [data] section; it must say at least file_format "
                          "(see `wavescope params` to write a complete file).", str(params_path))
    data = {key.lower(): value for key, value in params.as_dict()["data"].items()}
    settings = {key: value for key, value in data.items()
                if value != "" and key not in SORTER_DATA_KEYS}
    named = data.get("file_name", "")
    if named:
        data_file = (params_path.parent / os.path.expanduser(named)).resolve()
    else:
        data_file = find_data_file(params_path, settings.get("file_format"))
    return str(data_file), settings


def write_params(out_path: str | os.PathLike, description: dict, probe: str | None = None,
                 base: str | None = None) -> Path | None:
    """Write the params that reopen a recording (`DataFile.get_description()`).

    Starts from `base` (its other sections and notes are kept) or the template;
    [data] fields that are not sorter keys and not in `description` are dropped
    so a stale field of another format cannot leak in. Returns the backup path.
    """
    params = ParamsFile.read(base) if base else ParamsFile.from_template()
    params.file_name = os.fspath(out_path)
    for key in params.keys("data"):
        if key.lower() not in SORTER_DATA_KEYS and key not in description:
            params.remove("data", key)
    for key, value in description.items():
        if key == "stream_mode" and value in (None, ""):
            value = "None"
        params.set("data", key, value)
    if probe:
        params.set("data", "mapping", os.path.abspath(os.fspath(probe)))
    return params.write(out_path)
