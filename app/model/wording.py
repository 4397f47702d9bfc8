"""Messages of the io layer in the GUI's words.

Reader errors are written for the command line ("give them with --set sampling_rate=...", "give
--format"), where they end up most often. Inside the GUI that advice points at a terminal the user
is not using; `for_gui` rewrites it into the name of the field or control to use instead. Pure text
in, text out: the same table serves the wizard, dialogs and tests.
"""

from __future__ import annotations

import re

# (pattern, replacement), applied in order; the longer, more specific phrases first
GUI_WORDING: tuple[tuple[str, str], ...] = (
    (r"Give them in the \[data\] section of the params file or on the command line \((?:--set \w+=\.\.\.\s*)+\)\.",
     "Fill them in on this page."),
    (r"in the \[data\] section of the params file or with --set (\w+)=\.\.\.", r"in the field \1"),
    (r"with --set (\w+)=\.\.\.", r"in the field \1"),
    (r"--set (\w+)=\.\.\.", r"the field \1"),
    (r"--set (\w+)=(\S+)", r"\1 = \2"),
    (r"\(try --format (\w+) to see why\)", r"(choose the format \1 to see why)"),
    (r"give the right --format", "choose the right format"),
    (r"give --format", "choose the format"),
    (r"the --format of a folder", "the format of a folder"),
    (r"--format (\w+)", r"the format \1"),
    (r"--stream-mode (\S+)", r"the stream mode \1"),
    (r"--stream-mode", "the stream mode"),
    (r"(?:the )?option --params on the command line", "the params file"),
    (r"--params", "the params file"),
    (r"\s*\(`?wavescope [^)`]*`?\)", ""),
    (r"`wavescope ([^`]*)`", r"Wavescope's \1 command"),
)
_COMPILED = tuple((re.compile(pattern), replacement) for pattern, replacement in GUI_WORDING)
COMMAND_LINE_ADVICE = re.compile(r"--[a-z][a-z-]+|\bwavescope [a-z]|command line")


def for_gui(message: str) -> str:
    """`message` with its command-line advice put in the GUI's words."""
    for pattern, replacement in _COMPILED:
        message = pattern.sub(replacement, message)
    return message


def has_command_line_advice(message: str) -> bool:
    """Whether `message` still tells the user to type something (for tests and checks)."""
    return bool(COMMAND_LINE_ADVICE.search(message))
