"""What every command shares: the usage error, the parser, errors -> message + exit status.

A leaf of `app.cli`: command modules import from here (and `app.cli.options`), never from
`app.cli` itself, so the dispatcher can import every command module without a loop.
Statuses come from `app.exitcodes`; with --json an error is one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence

from app import exitcodes

class CommandLineError(Exception):
    """A mistake on the command line (exit status 2); `field` is the option or key at fault."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)


def did_you_mean(word: str, choices, cutoff: float = 0.75) -> str | None:
    """The choice `word` most likely mistypes, or None."""
    close = difflib.get_close_matches(word.lower(), [str(c).lower() for c in choices], n=1, cutoff=cutoff)
    if not close:
        return None
    return next(str(c) for c in choices if str(c).lower() == close[0])


# -- errors -> exit status and message ---------------------------------------------------------------
_USER_ERRORS = ("JobError", "AnnotationFileError", "ClusterError")


def _is_damaged(error: BaseException) -> bool:
    """A header or layout that contradicts itself: the file is damaged or truncated."""
    from app.io.errors import HeaderError
    if getattr(error, "damaged", False) or type(error).__name__ in ("DamagedFileError", "TruncatedFileError"):
        return True
    return isinstance(error, HeaderError) and bool(re.search(r"\b(damaged|truncated|corrupt)", str(error)))


def exit_status(error: BaseException) -> int:
    """The `app.exitcodes` status of an error that ended a command."""
    from app.io.errors import DataFileError, MissingFieldsError
    if isinstance(getattr(error, "exit_status", None), int):
        return error.exit_status                  # an error that knows its status
    if isinstance(error, CommandLineError):
        return exitcodes.USAGE
    if isinstance(error, BrokenPipeError):
        return exitcodes.BROKEN_PIPE
    if isinstance(error, KeyboardInterrupt):
        return exitcodes.interrupted_status(error)
    if isinstance(error, MissingFieldsError):
        return exitcodes.MISSING_FIELDS
    if _is_damaged(error):
        return exitcodes.DAMAGED
    if isinstance(error, ImportError):
        return exitcodes.UNAVAILABLE
    if isinstance(error, (DataFileError, OSError, ValueError)) or type(error).__name__ in _USER_ERRORS:
        return exitcodes.DATA_ERROR
    return exitcodes.INTERNAL


def error_message(error: BaseException) -> str:
    from app.io.errors import DataFileError
    if isinstance(error, KeyboardInterrupt):
        return str(error) or "interrupted"
    if isinstance(error, ImportError):
        return (f"{error}; it is not installed here (`wavescope doctor` says what is missing and how to "
                "install it).")
    if isinstance(error, (DataFileError, CommandLineError)) or type(error).__name__ in _USER_ERRORS:
        return str(error)
    if exit_status(error) == exitcodes.INTERNAL:
        return (f"internal error ({type(error).__name__}: {error}); please report it "
                "(set WAVESCOPE_DEBUG=1 to see where it happened).")
    return f"{type(error).__name__}: {error}"


def error_json(error: BaseException) -> dict:
    """`{"error": {...}}` for --json; missing fields keep their `{"file", "format", "missing"}` keys."""
    from app.io.errors import MissingFieldsError
    body = {"type": type(error).__name__, "message": error_message(error),
            "file": getattr(error, "file_name", None), "field": getattr(error, "field", None),
            "status": exit_status(error)}
    for extra in ("line", "candidates"):
        if getattr(error, extra, None):
            body[extra] = getattr(error, extra)
    if isinstance(error, MissingFieldsError):
        body["field"] = next(iter(error.missing), None)
        return {"file": error.file_name, "format": error.file_format, "missing": error.missing, "error": body}
    return {"error": body}


def report_error(error: BaseException, as_json: bool) -> int:
    """Print `error` the way the user asked (a JSON object on stdout, or lines on stderr); its status."""
    from app.io.errors import MissingFieldsError
    status = exit_status(error)
    if status == exitcodes.INTERNAL and os.environ.get("WAVESCOPE_DEBUG"):
        import traceback
        traceback.print_exception(error, file=sys.stderr)
    if getattr(error, "said_by_another_rank", False):
        return status                      # an MPI rank: rank 0 reports the failure they share
    if as_json:
        print(json.dumps(error_json(error), default=str), flush=True)
        return status
    print(f"wavescope: {error_message(error)}", file=sys.stderr)
    if isinstance(error, MissingFieldsError):
        print("missing fields:", file=sys.stderr)
        for key, type_name in error.missing.items():
            print(f"  {key} ({type_name})", file=sys.stderr)
    return status


def wants_json(argv: Sequence[str]) -> bool:
    """Whether the command line asks for machine-readable output (--json, --progress json)."""
    argv = list(argv)
    return ("--json" in argv or "--progress=json" in argv
            or any(a == "--progress" and b == "json" for a, b in zip(argv, argv[1:])))


def run_command(func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace,
                as_json: bool) -> int:
    """Run a command's function; every error becomes its message and exit status, never a traceback."""
    try:
        status = int(func(args) or 0)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        return broken_pipe()
    except (Exception, KeyboardInterrupt) as error:      # the command line's last line of defence
        try:
            return report_error(error, as_json)
        except BrokenPipeError:
            return broken_pipe()


def broken_pipe() -> int:
    """The reader of stdout went away (`| head`): stop quietly; point stdout at nothing so the
    interpreter's final flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return exitcodes.BROKEN_PIPE


class _StderrLog(logging.Handler):
    """Warnings of the `wavescope` logger, once, on the stderr of the moment (`warning: ...`).

    Without a handler, `print_and_log` printed a warning to stdout and logging's last-resort
    handler printed it again to stderr (and --json output was no longer JSON)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(f"{record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)
        except (OSError, ValueError):
            pass


def log_warnings_to_stderr() -> None:
    logger = logging.getLogger("wavescope")
    if not any(isinstance(handler, _StderrLog) for handler in logger.handlers):
        logger.addHandler(_StderrLog(logging.WARNING))


class Parser(argparse.ArgumentParser):
    """argparse with JSON usage errors under --json and "did you mean" for a mistyped choice."""

    json_errors = False

    def error(self, message: str):
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            options = re.findall(r"[\w.-]+", choice.group(2))
            guess = did_you_mean(choice.group(1), options, cutoff=0.6)
            if guess:
                message += f"; did you mean {guess!r}?"
        if Parser.json_errors:
            print(json.dumps(error_json(CommandLineError(f"{self.prog}: {message}"))), flush=True)
            self.exit(exitcodes.USAGE)
        super().error(message)
