"""The first-run page and the error dialog, as real widgets."""

from PyQt6 import QtCore, QtWidgets

from app.views.welcome import ErrorDialog, WelcomePage


def test_welcome_buttons_and_recent(qtbot, tmp_path):
    calls = []
    existing = tmp_path / "rec.dat"
    existing.write_bytes(b"")
    page = WelcomePage(lambda: calls.append("dialog"), lambda: calls.append("demo"), calls.append)
    qtbot.addWidget(page)
    page.set_recent([str(existing), str(tmp_path / "gone.dat")])
    page.show()
    page.open_button.click()
    page.demo_button.click()
    item = page.recent.item(0)
    page.recent.itemActivated.emit(item)
    assert calls == ["dialog", "demo", str(existing)]
    assert "not found" in page.recent.item(1).toolTip()
    page.set_recent([])
    assert not page.recent.isVisible()


def test_error_dialog_details_and_copy(qtbot):
    dialog = ErrorDialog("Cannot open the recording", "rec.dat: nb_channels must be at least 1",
                         "Traceback (most recent call last): ...")
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.details.isVisible()
    dialog.toggle.click()
    assert dialog.details.isVisible() and "Traceback" in dialog.details.toPlainText()
    dialog.copy.click()
    copied = QtWidgets.QApplication.clipboard().text()
    assert "rec.dat: nb_channels must be at least 1" in copied and "Traceback" in copied
    assert dialog.message.textInteractionFlags() & QtCore.Qt.TextInteractionFlag.TextSelectableByMouse
