"""Start the browser, the one place the command line imports `app.views` (inside the call).

Without Qt the browser cannot start: the first recording's `wavescope info` is printed
instead, so `wavescope FILE` still says what the file holds.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from app import exitcodes
from app.cli.describe import print_info
from app.cli.options import open_recording

# Demo params that describe the recording's layout for the browser but are no data fields.
_NOT_FIELDS = ("file_format", "stream_mode", "mapping")


def no_display() -> bool:
    """Linux with neither X11 nor Wayland and no Qt platform chosen: Qt would abort on start."""
    return (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"))


def say_no_display(files: Sequence[str]) -> int:
    info = f"`wavescope info {files[0]}`" if files else "`wavescope info FILE`"
    print("wavescope: there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set), so the browser "
          f"cannot open. Without one, {info} says what a recording holds and "
          "`wavescope demo --screenshot out.png` renders the browser into a picture "
          "(QT_QPA_PLATFORM=offscreen forces any window offscreen).", file=sys.stderr)
    return exitcodes.UNAVAILABLE


def run_gui(files: Sequence[str], params: dict | None = None, screenshot: str | None = None) -> int:
    """Open `files` in the browser (with `params` as their [data] settings); its exit status."""
    if screenshot is None and no_display():
        return say_no_display(files)
    try:
        from app.views.launch import run
    except ImportError as error:
        print(f"wavescope: the browser is not available ({error}); "
              "showing `wavescope info` of the recording instead.", file=sys.stderr)
        if not files:
            return exitcodes.UNAVAILABLE
        params = params or {}
        given = {key: str(value) for key, value in params.items() if key not in _NOT_FIELDS}
        print_info(open_recording(files[0], given, params.get("file_format"), params.get("stream_mode")))
        return exitcodes.OK
    return run(list(files), params=params, screenshot=screenshot)
