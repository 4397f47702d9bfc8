"""A folder given where a recording is expected: which recordings it holds.

Opening a folder lets a format look below it (Open Ephys finds the `structure.oebin` of a Record
Node three levels down). When the folder holds several recordings, opening "the first" would be a
guess the user never sees; `recordings_in` lists them and `check_one_recording` refuses with that
list, so the user (or the GUI's chooser) names one.
"""

from __future__ import annotations

import glob
import os
import re

from app.io.errors import HeaderError

MAX_DEPTH = 4                 # Open Ephys: <folder>/Record Node N/experimentN/recordingN/structure.oebin
LEGACY_CONTINUOUS = re.compile(r".*\.continuous$")
USAGE_STATUS = 2              # app.exitcodes.USAGE: the command line must name one recording


class SeveralRecordingsError(HeaderError):
    """A folder holds several recordings; `recordings` lists them (paths to give instead)."""

    exit_status = USAGE_STATUS

    def __init__(self, folder: str, recordings: list[str]):
        self.recordings = list(recordings)
        listed = "\n".join(f"  {path}" for path in self.recordings)
        super().__init__(f"{folder}: this folder holds {len(self.recordings)} recordings; open one of "
                         f"them by its path:\n{listed}", folder)


def _natural(text: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def recordings_in(folder: str, max_depth: int = MAX_DEPTH) -> list[str]:
    """The recordings below `folder`, as the paths to open: each Open Ephys binary recording folder
    (the one holding `structure.oebin`) and each legacy Open Ephys folder (`.continuous` files);
    [] for a file or a folder holding none of them. Natural order."""
    folder = os.path.abspath(folder)
    if not os.path.isdir(folder):
        return []
    found: list[str] = []
    for depth in range(max_depth + 1):
        pattern = os.path.join(glob.escape(folder), *(["*"] * depth))
        found += [os.path.dirname(p) for p in glob.glob(os.path.join(pattern, "structure.oebin"))]
        found += [p for p in glob.glob(pattern) if os.path.isdir(p) and _holds_continuous(p)]
    return sorted(dict.fromkeys(found), key=_natural)


def _holds_continuous(folder: str) -> bool:
    try:
        return any(LEGACY_CONTINUOUS.fullmatch(name) for name in os.listdir(folder))
    except OSError:
        return False


def check_one_recording(path: str) -> None:
    """Raise SeveralRecordingsError when `path` is a folder holding more than one recording."""
    found = recordings_in(path)
    if len(found) > 1:
        raise SeveralRecordingsError(os.path.abspath(path), found)
