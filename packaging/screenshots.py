"""Make the README's screenshots from the app itself, offscreen.

    python packaging/screenshots.py [OUT_DIR]        (default docs/images)

- ``browser.png``: the browser on the built-in demo recording (`wavescope demo --screenshot`);
- ``wizard.png``: the params wizard's fields page for the same recording, when
  ``app/views/params_wizard.py`` exists (skipped with a message otherwise).

Nothing is written beside the demo data: the wizard's settings go to a scratch INI file
and the wizard is closed before Finish.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SETTLE_TIMEOUT_S = 30.0
WIZARD_FIELDS = ("data_dtype", "nb_channels", "sampling_rate", "gain", "dtype_offset")


def browser_screenshot(out: Path) -> Path:
    from app import cli
    status = cli.main(["demo", "--screenshot", str(out)])
    if status != 0:
        raise RuntimeError(f"`wavescope demo --screenshot {out}` exited with status {status}")
    return out


def settle(app, condition: Callable[[], bool], timeout: float = SETTLE_TIMEOUT_S) -> bool:
    """Process events until `condition()` holds, then a few more rounds so the page repaints."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()
        if condition():
            for _ in range(10):
                app.processEvents()
                time.sleep(0.02)
            return True
        time.sleep(0.02)
    return False


def wizard_screenshot(out: Path) -> Path | None:
    """The fields page of the wizard on the demo's first part; None when the wizard is absent."""
    try:
        from app.views.params_wizard import ParamsWizard
    except ModuleNotFoundError as error:
        if error.name != "app.views.params_wizard":
            raise
        print("skipping wizard.png: app/views/params_wizard.py does not exist yet", file=sys.stderr)
        return None
    from PyQt6 import QtCore, QtWidgets

    from app.model.demo import default_folder
    from app.model.demo import demo_params, write_demo

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    first = write_demo(default_folder())
    values = {k: v for k, v in demo_params(first).items() if k in WIZARD_FIELDS}
    with tempfile.TemporaryDirectory() as scratch:
        settings = QtCore.QSettings(str(Path(scratch) / "wizard.ini"), QtCore.QSettings.Format.IniFormat)
        wizard = ParamsWizard(str(first), settings=settings, file_format="raw_binary", values=values)
        wizard.show()
        settle(app, wizard.data_page.isComplete)
        wizard.next()
        page = wizard.fields_page
        if not settle(app, lambda: page.isComplete() and not page.busy()):
            print("warning: the fields page did not settle; the picture may show it busy", file=sys.stderr)
        ok = wizard.grab().save(str(out))
        wizard.reject()
        app.processEvents()
    if not ok:
        raise OSError(f"{out}: could not write the wizard screenshot")
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0]) if argv else ROOT / "docs" / "images"
    folder.mkdir(parents=True, exist_ok=True)
    for path in (browser_screenshot(folder / "browser.png"), wizard_screenshot(folder / "wizard.png")):
        if path is not None:
            print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
