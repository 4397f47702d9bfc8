"""Start the browser: `run(files, params, screenshot)` is what `wavescope FILE`, `wavescope gui` and
`wavescope demo` call (with `screenshot`, it renders offscreen, saves the picture and exits)."""

from __future__ import annotations

import logging
import os
import sys
import time

from PyQt6 import QtWidgets

from app.views.main_window import MainWindow

log = logging.getLogger("wavescope")


def wait_for_frame(app: QtWidgets.QApplication, window: MainWindow, timeout: float = 20.0) -> bool:
    """Process events until the trace view has painted a frame of data (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.processEvents()
        if window.view.frame is not None and window.view.painted_request == window.view.frame.request_id:
            return True
        time.sleep(0.01)
    return False


def run(files: list[str], params: dict | None = None, screenshot: str | None = None) -> int:
    """Open the browser on `files` (the first is shown); with `screenshot`, render offscreen, save, exit."""
    if screenshot and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setOrganizationName("Wavescope")
    app.setApplicationName("wavescope")
    window = MainWindow(restore=screenshot is None)
    if screenshot:
        window.resize(1600, 1000)
    window.show()
    params = dict(params or {})
    opened = False
    if files:
        opened = window.open_file(files[0], params)
        for extra in files[1:]:
            log.info("one recording at a time: %s not opened", extra)
    if screenshot:
        if opened:
            window.view.setFocus()
            wait_for_frame(app, window)
        app.processEvents()
        ok = window.grab().save(str(screenshot))
        window.close()
        if not ok:
            print(f"wavescope: could not write {screenshot}", file=sys.stderr)
            return 1
        print(f"wrote {screenshot}", file=sys.stderr)
        return 0 if opened or not files else 1
    return app.exec()
