"""Inside the wizard, reader messages carry no command-line advice (app.model.wording)."""

from __future__ import annotations

import numpy as np
from PyQt6 import QtCore

from app.io.errors import MissingFieldsError
from app.model.wording import has_command_line_advice


def test_the_wizard_status_has_no_command_line_advice(qtbot, tmp_path):
    from app.views.wizard import ParamsWizard
    from app.views.wizard.common import message_html
    assert "--set" not in message_html((str(MissingFieldsError("a.dat", {"gain": "float"})), "error"))
    settings = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat)
    path = tmp_path / "rec.dat"
    np.zeros((3000, 4), np.int16).tofile(path)
    wizard = ParamsWizard(str(path), settings, suggest_max_channels=8)
    qtbot.addWidget(wizard)
    wizard.show()
    qtbot.waitUntil(lambda: wizard.currentPage().isComplete(), timeout=15_000)
    wizard.next()
    page = wizard.fields_page
    qtbot.waitUntil(lambda: not page.busy() and bool(page.status.text()), timeout=15_000)
    shown = page.status.text()
    assert "sampling_rate" in shown and not has_command_line_advice(shown), shown
    wizard.reject()


def test_the_error_dialog_speaks_the_gui_and_keeps_the_original_in_details(qtbot):
    from app.views.welcome import ErrorDialog
    original = "rec.xyz: no known format reads this file; give --format."
    dialog = ErrorDialog("Cannot open the recording", original)
    qtbot.addWidget(dialog)
    assert dialog.message.text() == "rec.xyz: no known format reads this file; choose the format."
    assert dialog.details.toPlainText() == original
