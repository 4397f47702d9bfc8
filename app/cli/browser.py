"""Start the browser, the one place the command line imports `app.views` (inside the call).

Without Qt the browser cannot start: the first recording's `wavescope info` is printed
instead, so `wavescope FILE` still says what the file holds.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from app import exitcodes
from app.cli.describe import print_info
from app.cli.options import open_recording

# Demo params that describe the recording's layout for the browser but are no data fields.
_NOT_FIELDS = ("file_format", "stream_mode", "mapping")


def run_gui(files: Sequence[str], params: dict | None = None, screenshot: str | None = None) -> int:
    """Open `files` in the browser (with `params` as their [data] settings); its exit status."""
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
