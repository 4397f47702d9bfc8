"""The exit statuses of every `wavescope` command, in one table.

`wavescope --help` and the README print `TABLE`; the commands return these
names, never bare numbers, so a script can rely on them.
"""

from __future__ import annotations

OK = 0
DATA_ERROR = 1          # the recording, a params/probe file or their values are wrong; a check failed
USAGE = 2               # the command line is wrong: unknown command or option, bad --set, unknown format
MISSING_FIELDS = 3      # the file does not say required fields (nb_channels, ...): give them with --set
DAMAGED = 4             # the file is damaged or truncated: its header or its size contradicts itself
UNAVAILABLE = 5         # something needed is not installed (the browser, a package, a format's library)
INTERNAL = 70           # a bug in wavescope: please report it (WAVESCOPE_DEBUG=1 shows the traceback)
INTERRUPTED = 130       # stopped by Ctrl-C or a cancelled job
BROKEN_PIPE = 141       # the reader of the output went away (`wavescope formats | head`)

TABLE = """exit status:
  0    ok
  1    error in the recording, a params/probe file or a value; a check (check-format, --verify) failed
  2    usage: unknown command or option, malformed --set, unknown format or field name
  3    required fields missing: the file does not say them; give them with --set or a .params file
  4    the file is damaged or truncated
  5    something needed is not installed (the browser, a Python package, a format's library)
  70   internal error: a bug in wavescope, please report it (WAVESCOPE_DEBUG=1 shows the traceback)
  130  interrupted (Ctrl-C, a cancelled conversion)
  141  the output's reader closed early (e.g. `| head`); nothing is wrong
  `sort` returns the sorter's own status when the sorter ran and failed.
  With --json, errors are one JSON object on stdout: {"error": {"type", "message", "file", "field", ...}};
  missing fields also give {"missing": {field: type}}.
"""


def interrupted_status(error: BaseException) -> int:
    """128 + the number of the signal that stopped a command (130, Ctrl-C, when it is not known).

    A stop request carries its `exit_code`; a cancelled conversion names its signal ("SIGTERM")."""
    import signal
    code = getattr(error, "exit_code", None)
    if isinstance(code, int):
        return code
    name = next((word.strip(".,;:") for word in str(error).split() if word.startswith("SIG")), "")
    number = getattr(signal.Signals, name, None) if name else None
    return 128 + int(number) if number is not None else INTERRUPTED
