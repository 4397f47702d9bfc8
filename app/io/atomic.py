"""Atomic writes: a file appears complete or not at all, and survives a crash once written.

Every writer of a user's file goes through here (params files, the annotations sidecar,
conversion outputs): the new content goes to a temporary name beside the target, is
flushed to the disk (fsync), renamed over the target, and the folder's entry is flushed
too. A failure or a cancel removes the temporary file and leaves the target as it was.
Optional backups keep the previous content under rotating names (``NAME.bak``,
``NAME.bak.1``, ...). The conversion engine names its temporary files itself (see
app.io.partials, so a killed run's leftovers can be found) and uses `publish` to finish.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# How many backups of a rewritten file are kept (NAME.bak newest, NAME.bak.1 ... older).
KEEP_BACKUPS = 5


def fsync_path(path: str | os.PathLike, folder: bool = False) -> None:
    """Push a file (or a folder's entries) to the disk; a folder that cannot be opened for
    that (Windows) is skipped: the rename is then as durable as the platform makes it."""
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if folder else 0))
    except OSError:
        if folder:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not folder:
            raise
    finally:
        os.close(fd)


def publish(temporary: str | os.PathLike, target: str | os.PathLike) -> None:
    """A complete temporary file (or folder) becomes `target`: its bytes on disk first, then
    the rename, then the folder entry on disk (a crash leaves the old target or the new one)."""
    if os.path.isfile(temporary):
        fsync_path(temporary)
    os.replace(temporary, target)
    fsync_path(os.path.dirname(os.path.abspath(target)) or ".", folder=True)


def remove(path: str | os.PathLike) -> None:
    """Remove a temporary file or folder if it is there."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


@contextmanager
def replacing(target: str | os.PathLike, suffix: str = ".tmp", mode: int | None = None) -> Iterator[str]:
    """Yield a temporary path beside `target` (an empty file) for the caller to fill; when the
    block ends normally it is published over `target`, else removed. The result takes
    `mode`, else the target's permissions, else 0o644."""
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    if mode is None:
        mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o644
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=folder)
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, mode)
        publish(temporary, target)
    except BaseException:
        remove(temporary)
        raise


def write_text(target: str | os.PathLike, text: str, backup: bool = False, keep: int = KEEP_BACKUPS,
               mode: int | None = None) -> Path | None:
    """Write `text` as UTF-8, line ends as given, atomically over `target`. With `backup`, a
    file already there is first kept as its newest backup (`keep_backup`), whose path is
    returned."""
    return write_bytes(target, text.encode("utf-8"), backup, keep, mode)


def write_bytes(target: str | os.PathLike, data: bytes, backup: bool = False, keep: int = KEEP_BACKUPS,
                mode: int | None = None) -> Path | None:
    """Write `data` atomically over `target`; `backup` as `write_text`."""
    kept = None
    with replacing(target, mode=mode) as temporary:
        with open(temporary, "wb") as stream:
            stream.write(data)
        if backup and os.path.exists(target):
            kept = keep_backup(target, keep)
    return kept


def copy_file(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Copy `source` atomically to `target` (e.g. a backup that must never be half written)."""
    with replacing(target, mode=stat.S_IMODE(os.stat(source).st_mode)) as temporary:
        shutil.copyfile(source, temporary)


# -- backups --------------------------------------------------------------------------------------
def backup_names(path: str | os.PathLike, keep: int = KEEP_BACKUPS) -> list[Path]:
    """The backups of `path` that are kept, newest first."""
    path = Path(path)
    return [path.with_name(path.name + ".bak")] + [path.with_name(f"{path.name}.bak.{n}")
                                                   for n in range(1, keep)]


def _rotate_backups(path: Path, keep: int) -> Path:
    """Shift every kept backup one step older, drop the oldest; the free newest name is returned."""
    names = backup_names(path, keep)
    pattern = re.compile(re.escape(path.name) + r"\.bak\.(\d+)")
    for entry in path.parent.iterdir():             # older numbering schemes left higher numbers
        match = pattern.fullmatch(entry.name)
        if match and int(match.group(1)) >= keep - 1 and entry.is_file():
            entry.unlink()
    for older, newer in zip(reversed(names[1:]), reversed(names[:-1])):
        if newer.exists():
            os.replace(newer, older)
    return names[0]


def keep_backup(path: str | os.PathLike, keep: int = KEEP_BACKUPS, link: bool = True) -> Path:
    """Keep the current content of `path` as its newest backup.

    A hard link when `link` (only right when `path` is then replaced by a rename, as the
    writers here do), else a copy (a file rewritten in place).
    """
    path = Path(path)
    backup = _rotate_backups(path, keep)
    if link:
        try:
            os.link(path, backup)
            return backup
        except OSError:
            pass
    shutil.copy2(path, backup)
    return backup
