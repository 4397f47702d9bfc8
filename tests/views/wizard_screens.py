"""Grab every page of the params wizard offscreen to PNG, for review by eye.

    QT_QPA_PLATFORM=offscreen python -m tests.views.wizard_screens [OUT_DIR]

Writes small recordings into a scratch folder (a headerless raw file, an HDF5
file, an Open Ephys recording with two segments) and walks the wizard through
them, saving `<case>-<n>-<page>.png` into OUT_DIR (default /tmp/wizard_screens).
Nothing is written beside real data; settings go to a scratch INI file.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PyQt6 import QtCore, QtWidgets

from app.model.wizard import library
from app.views.wizard import ParamsWizard
from tests.model.test_wizard import (
    write_hdf5_file,
    write_headerless,
    write_openephys_recordings,
)


def settle(app: QtWidgets.QApplication, condition=lambda: True, timeout: float = 20.0) -> bool:
    """Process events until `condition()` holds (or `timeout` seconds pass)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()
        if condition():
            for _ in range(5):
                app.processEvents()
                time.sleep(0.02)
            return True
        time.sleep(0.02)
    return False


def grab(wizard: ParamsWizard, out: Path, name: str) -> Path:
    path = out / f"{name}.png"
    wizard.grab().save(str(path))
    print(path)
    return path


def walk(app, wizard: ParamsWizard, out: Path, case: str, values: dict | None = None,
         generate: bool = True, wrong: dict | None = None, misfit_probe: str | None = None) -> None:
    """Show the wizard, wait for each page's answer, grab it, go on."""
    wizard.show()
    settle(app, lambda: wizard.data_page.isComplete() and not wizard.workers.busy("segments"))
    grab(wizard, out, f"{case}-1-data")
    wizard.next()
    settle(app, lambda: not wizard.workers.busy("suggest") and not wizard.workers.busy("validate"))
    for name, value in (values or {}).items():
        wizard.fields_page.editors[name].set_value(value)
    settle(app, wizard.fields_page.isComplete, timeout=10)
    if wrong:
        right = {name: wizard.fields_page.editors[name].value() for name in wrong}
        for name, value in wrong.items():
            wizard.fields_page.editors[name].set_value(value)
        settle(app, lambda: not wizard.fields_page.busy())
        grab(wizard, out, f"{case}-2-fields-error")
        for name, value in right.items():
            wizard.fields_page.editors[name].set_value(value)
        settle(app, wizard.fields_page.isComplete, timeout=10)
    wizard.fields_page.advanced_toggle.setChecked(True)
    settle(app)
    grab(wizard, out, f"{case}-2-fields")
    wizard.next()
    if misfit_probe:
        wizard.probe_page.load(str(library()[misfit_probe]))
        settle(app)
        grab(wizard, out, f"{case}-3-probe-misfit")
    if generate:
        wizard.probe_page.columns_box.setValue(2)
        wizard.probe_page.count_box.setValue(wizard.state.validation.shape[1])
        wizard.probe_page.generate()
    settle(app)
    grab(wizard, out, f"{case}-3-probe")
    wizard.next()
    settle(app, lambda: wizard.preview_page.view.frame is not None)
    grab(wizard, out, f"{case}-4-preview")
    wizard.preview_page.filter_box.setChecked(True)
    settle(app, lambda: wizard.preview_page.view.frame is not None and wizard.preview_page.view.frame.filter_on)
    grab(wizard, out, f"{case}-4-preview-filtered")
    wizard.next()
    settle(app)
    grab(wizard, out, f"{case}-5-write")
    wizard.reject()


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "/tmp/wizard_screens")
    out.mkdir(parents=True, exist_ok=True)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    with tempfile.TemporaryDirectory(prefix="wizard-screens-") as scratch:
        scratch = Path(scratch)
        settings = QtCore.QSettings(str(scratch / "settings.ini"), QtCore.QSettings.Format.IniFormat)
        raw_dir, h5_dir, oe_dir = (scratch / name for name in ("raw", "h5", "oe"))
        for folder in (raw_dir, h5_dir, oe_dir):
            folder.mkdir()
        raw, _ = write_headerless(raw_dir, n_channels=16, n_samples=60000)
        walk(app, ParamsWizard(str(raw), settings, suggest_max_channels=64), out, "raw",
             {"sampling_rate": "30000"}, wrong={"nb_channels": 7})
        h5, _ = write_hdf5_file(h5_dir)
        walk(app, ParamsWizard(str(h5), settings), out, "hdf5", {"sampling_rate": "20000"},
             misfit_probe="tetrode_4x4")
        oebin = write_openephys_recordings(oe_dir)
        wizard = ParamsWizard(str(oebin), settings)
        wizard.show()
        settle(app, wizard.data_page.isComplete)
        wizard.data_page.stream_box.setCurrentText("recordings")
        walk(app, wizard, out, "openephys", generate=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
