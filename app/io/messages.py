"""print_and_log, as wrappers written for SpyKING CIRCUS call it."""

from __future__ import annotations

import logging
from typing import Iterable

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "default": logging.INFO,
           "warning": logging.WARNING, "error": logging.ERROR}

logger = logging.getLogger("wavescope")


def print_and_log(lines: Iterable[str] | str, level: str = "info",
                  log: logging.Logger | None = None) -> None:
    """Send `lines` to the log (the GUI's log panel listens there); warnings and errors
    are also printed, as the user of a command line expects to see them."""
    if isinstance(lines, str):
        lines = [lines]
    target = log or logger
    number = _LEVELS.get(level, logging.INFO)
    for line in lines:
        target.log(number, line)
        if number >= logging.WARNING and not logging.getLogger().handlers and not target.handlers:
            print(f"{level.upper()}: {line}")
