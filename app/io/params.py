""".params files: the INI files SpyKING CIRCUS reads, edited without losing anything.

`ParamsFile` keeps every line of the file (comments, blank lines, alignment, key
order); `set` rewrites one value and leaves its inline ``# note`` in place. The
syntax accepted is what SpyKING CIRCUS's parser accepts: ``[section]`` headers,
``key = value`` lines, full-line comments starting with ``#`` or ``;``, and text
after the first ``#`` of a value line is a note. Keys are matched without regard
to case, as configparser does.

`datafile_settings` turns a params file into (data file, [data] settings) for
`open_datafile`: the data file is [data] file_name when set, else the one file
SpyKING CIRCUS would pair with it (`find_data_file`), never a guess.
`write_params` writes the params of a recording, atomically, starting from the
file already there and keeping the previous one as a backup (the KEEP_BACKUPS
newest). `in_place_edits` says what the sorter would write into the recording.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.io import atomic
from app.io.atomic import KEEP_BACKUPS, backup_names, keep_backup  # noqa: F401 - params' API
from app.io.errors import FormatNotFoundError, ParamsError
from app.paths import RESOURCES

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

# How headerless samples are usually named: the extensions a format that declares none is found by.
RAW_EXTENSIONS = (".dat", ".bin", ".raw")

TEMPLATE_PATH = RESOURCES / "params.template"

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
# Backups of a rewritten file: `name.bak` is the newest, then `name.bak.1`, ... `name.bak.(KEEP - 1)`;
# older ones are removed, so rewriting a file again and again never piles up more than KEEP_BACKUPS
# (app.io.atomic keeps them).


def _has_text(path: Path, text: str) -> bool:
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read() == text
    except (OSError, UnicodeDecodeError):
        return False


def atomic_write_text(path: Path, text: str) -> Path | None:
    """Write `text` over `path` atomically (app.io.atomic): readers see the old file or the new
    one, never half of one. A file already at `path` is first kept as a backup (a hard link)
    whose path is returned; the KEEP_BACKUPS newest backups are kept. A file that already
    holds `text` is left alone (None is returned)."""
    path = Path(path)
    if _has_text(path, text):
        return None                                  # nothing changes: no write, no backup
    return atomic.write_text(path, text, backup=True, keep=KEEP_BACKUPS)


# -- params <-> DataFile ---------------------------------------------------------------------------
def format_extensions(file_format: str | None) -> list[str]:
    """The extensions a recording of `file_format` is found by (lower case, with the dot).

    A format that declares none (raw_binary, neuroshare) is found by the usual
    extensions of headerless samples, RAW_EXTENSIONS.
    """
    if not file_format:
        return []
    from app.io.registry import get_format
    try:
        declared = [ext.lower() for ext in get_format(file_format).extension]
    except FormatNotFoundError:
        return []
    return declared or list(RAW_EXTENSIONS)


def _same_stem_entries(params_path: Path) -> list[Path]:
    """Everything beside the params file named `<stem>.<ext>`, sidecars and the sorter's folder left out."""
    stem = params_path.stem
    found = []
    for entry in sorted(params_path.parent.iterdir()):
        root, ext = os.path.splitext(entry.name)
        if root != stem or not ext or ext.lower() in SIDECAR_EXTENSIONS:
            continue
        found.append(entry)
    return found


def _named_data_file(params_path: Path, named: str) -> Path:
    """[data] file_name: exactly that path (relative to the params file's folder)."""
    data_file = (params_path.parent / os.path.expanduser(named)).resolve()
    if not data_file.exists():
        raise ParamsError(
            f"{params_path}: [data] file_name = {named} names {data_file}, which does not exist; "
            "fix file_name to the recording's path (or remove the line to use "
            f"{params_path.stem}.<ext> beside the params file).", str(params_path))
    return data_file


def find_data_file(params_path: str | os.PathLike, file_format: str | None = None) -> Path:
    """The recording a params file without `file_name` belongs to: the file SpyKING CIRCUS pairs it with.

    SpyKING CIRCUS, started on DATA, reads ``splitext(DATA)[0] + '.params'``, so the
    data are `<stem><ext>` beside the params, with `ext` an extension of `file_format`
    (`format_extensions`). Exactly one such file is the answer; none or several is a
    ParamsError listing what lies beside the params file and how to name the right one.
    Nothing else (size, other extensions) is ever used to choose.
    """
    params_path = Path(params_path).resolve()
    beside = _same_stem_entries(params_path)
    extensions = format_extensions(file_format)
    matches = [entry for entry in beside if entry.suffix.lower() in extensions]
    if len(matches) == 1:
        return matches[0]
    found = ", ".join(entry.name for entry in beside) or "nothing"
    fix = (f"set file_name = <the recording's path> in the [data] section of {params_path.name} "
           "(`wavescope params <recording>` writes it)")
    if not file_format or not extensions:
        what = (f"[data] file_format is {file_format or 'empty'}, so no extension says which "
                f"{params_path.stem}.* is the recording")
    elif matches:
        what = (f"several recordings match ({', '.join(m.name for m in matches)}) and the "
                "params file does not say which one it describes")
    else:
        what = (f"no {params_path.stem}{{{','.join(extensions)}}} beside it (a {file_format} recording "
                f"with the params file's name)")
    raise ParamsError(f"{params_path}: {what}; found beside it: {found}. Fix: {fix}.", str(params_path))


def datafile_settings(params_path: str | os.PathLike) -> tuple[str, dict]:
    """(data file, [data] settings) that open the recording a params file describes.

    The settings are strings: file_format, stream_mode and the format's own fields;
    empty values and the sorter's own keys are left out. The data file is the one
    [data] file_name names when set, else `find_data_file`'s; never a guess.
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
        data_file = _named_data_file(params_path, named)
    else:
        data_file = find_data_file(params_path, settings.get("file_format"))
    return str(data_file), settings


def write_params(out_path: str | os.PathLike, description: dict, probe: str | None = None,
                 base: str | None = None, data_file: str | os.PathLike | None = None) -> Path | None:
    """Write the params that reopen a recording (`DataFile.get_description()`).

    Starts from `base`, else from the file already at `out_path`, else the template:
    every value of the other sections and the sorter's [data] keys is kept, only the
    [data] fields that describe the recording change. [data] fields that are not
    sorter keys and not in `description` are dropped so a stale field of another
    format cannot leak in. `data_file` (the recording) is written as the absolute
    `file_name`, so the params always name that file whatever else is put beside
    it; without it a `file_name` from the base is dropped (it named another
    recording) unless `description` gives one. Returns the backup path.
    """
    out_path = Path(out_path)
    if base:
        params = ParamsFile.read(base)
    elif out_path.is_file():
        params = ParamsFile.read(out_path)
    else:
        params = ParamsFile.from_template()
    params.file_name = os.fspath(out_path)
    for key in params.keys("data"):
        stale = key.lower() not in SORTER_DATA_KEYS or (key.lower() == "file_name" and data_file is None)
        if stale and key not in description:
            params.remove("data", key)
    for key, value in description.items():
        if key == "stream_mode" and value in (None, ""):
            value = "None"
        params.set("data", key, value)
    if data_file is not None and "file_name" not in description:
        params.set("data", "file_name", os.path.abspath(os.fspath(data_file)))
    if probe:
        params.set("data", "mapping", os.path.abspath(os.fspath(probe)))
    return params.write(out_path)


# -- what the sorter would do to the recording -------------------------------------------------------
_TRUE, _FALSE = {"1", "yes", "true", "on"}, {"0", "no", "false", "off"}


def _flag(params: ParamsFile, section: str, key: str, default: bool) -> bool:
    """A boolean the way SpyKING CIRCUS reads it: configparser's words, else its default."""
    value = (params.get(section, key) or "").lower()
    return True if value in _TRUE else False if value in _FALSE else default


def in_place_edits(params: ParamsFile) -> list[str]:
    """What SpyKING CIRCUS's filtering step would write into the recording itself; [] when nothing.

    With ``overwrite = True`` (its default) the filtering step rewrites the data file
    with each edit below that is on and not yet marked done in [noedits];
    ``overwrite = False`` makes it write a float32 copy instead.
    """
    if not _flag(params, "data", "overwrite", True):
        return []
    edits = []
    steps = [(_flag(params, "filtering", "filter", True), "filter_done", "band-pass filter"),
             (_flag(params, "filtering", "remove_median", False), "median_done", "median removal"),
             (bool(params.get("filtering", "common_ground")), "ground_done", "common ground removal"),
             (_flag(params, "triggers", "clean_artefact", False), "artefacts_done", "artefact removal")]
    for wanted, done_key, name in steps:
        if wanted and (params.get("noedits", done_key) or "").lower() != "true":
            edits.append(name)
    return edits
