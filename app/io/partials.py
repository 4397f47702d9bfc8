"""Partial outputs: the hidden files a conversion writes before renaming them into place.

A partial is named ``.STEM.partial-HOST-PID.EXT`` beside its target: HOST (this machine's
name, reduced to letters, digits and ``_``) and PID say which process writes it, so a later
run can tell a partial whose writer is dead (killed by SIGKILL, the OOM killer, a lost rank)
from one being written right now, even on a folder shared between machines. Stale partials
are removed by the next conversion into their folder and listed by ``wavescope doctor``,
which finds their folders in a small list kept in the user cache folder. The writing itself
(fsync, rename, fsync of the folder, removal) is app.io.atomic's, as for every other writer.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

import psutil

from app.io.atomic import remove  # noqa: F401 - a partial is removed like any temporary file

PARTIAL_PATTERN = re.compile(r"^\.(?P<stem>.+)\.partial-(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)(?P<ext>\.[^.]*)?$")
FOLDER_LIST_LIMIT = 200


def host_tag() -> str:
    """This machine's name as it appears in partial names."""
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname()) or "host"


def partial_name(output: str, pid: int) -> str:
    """Hidden sibling of `output` that keeps its extension (some writers add one if missing)."""
    folder, name = os.path.split(os.path.abspath(output))
    stem, ext = os.path.splitext(name)
    return os.path.join(folder, f".{stem}.partial-{host_tag()}-{pid}{ext}")


def target_of(partial: str) -> str | None:
    """The output a partial stands for, or None when the name is not one of ours."""
    folder, name = os.path.split(partial)
    match = PARTIAL_PATTERN.match(name)
    return None if match is None else os.path.join(folder, match["stem"] + (match["ext"] or ""))


@dataclass(frozen=True)
class Partial:
    path: str
    size: int
    host: str
    pid: int

    @property
    def target(self) -> str:
        return target_of(self.path) or self.path

    @property
    def stale(self) -> bool:
        """Written on this machine by a process that no longer exists (a partial of another
        machine is never judged: its PID means nothing here)."""
        return self.host == host_tag() and not process_alive(self.pid)


def process_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (dead, not yet reaped by its parent) writes no more."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _size(path: str) -> int:
    if os.path.isdir(path) and not os.path.islink(path):
        return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
    return os.path.getsize(path)


def find_partials(folder: str) -> list[Partial]:
    """Every partial output in `folder` (not recursive), stale or not."""
    found = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    for name in names:
        match = PARTIAL_PATTERN.match(name)
        if match is None:
            continue
        path = os.path.join(folder, name)
        try:
            found.append(Partial(path, _size(path), match["host"], int(match["pid"])))
        except OSError:
            continue        # removed while we looked
    return found


def remove_stale(folder: str) -> list[Partial]:
    """Remove the stale partials of `folder`; returns what was removed."""
    removed = []
    for partial in find_partials(folder):
        if partial.stale:
            remove(partial.path)
            removed.append(partial)
    return removed


def _folder_list() -> Path:
    import platformdirs
    return Path(platformdirs.user_cache_dir("wavescope")) / "partial-folders.txt"


def remember_folder(folder: str) -> None:
    """Note that conversions write into `folder`, so the doctor can look there later.
    Best effort: a cache folder that cannot be written costs only the doctor's listing."""
    folder = os.path.abspath(folder)
    path = _folder_list()
    try:
        known = remembered_folders()
        if folder in known:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join([*known, folder][-FOLDER_LIST_LIMIT:]) + "\n", encoding="utf-8")
    except OSError:
        pass


def remembered_folders() -> list[str]:
    try:
        lines = _folder_list().read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return list(dict.fromkeys(line for line in lines if line.strip()))


def human_size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"
