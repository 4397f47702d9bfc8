"""Small pieces every wizard page shares: the colours of a message's level and the status label."""

from __future__ import annotations

from PyQt6 import QtCore, QtWidgets

from app.model.wizard_state import Message
from app.model.wording import for_gui

ERROR_COLOUR = "#c62828"
OK_COLOUR = "#2e7d32"
WARN_COLOUR = "#b26a00"
FACT_COLOUR = "#555555"
LEVEL_COLOURS = {"error": ERROR_COLOUR, "ok": OK_COLOUR, "warn": WARN_COLOUR, "fact": FACT_COLOUR}
DEBOUNCE_MS = 250


def coloured(text: str, colour: str) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>")
    return f'<span style="color:{colour}">{escaped}</span>'


def message_html(*messages: Message) -> str:
    """Messages as rich text, one per line, each in its level's colour ("" level: plain); advice
    written for the command line (--set, --format) in the wizard's words (`app.model.wording`)."""
    return "<br>".join(coloured(for_gui(text), LEVEL_COLOURS[level]) if level else for_gui(text)
                       for text, level in messages)


def status_label() -> QtWidgets.QLabel:
    label = QtWidgets.QLabel()
    label.setWordWrap(True)
    label.setTextFormat(QtCore.Qt.TextFormat.RichText)
    label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def set_buddies(form: QtWidgets.QFormLayout) -> None:
    """Let every row's label (with its &-shortcut) focus its field."""
    for index in range(form.rowCount()):
        label = form.itemAt(index, QtWidgets.QFormLayout.ItemRole.LabelRole)
        field = form.itemAt(index, QtWidgets.QFormLayout.ItemRole.FieldRole)
        if label is None or field is None or label.widget() is None:
            continue
        target = field.widget()             # not `or`: an empty combo box is falsy (it has a len)
        if target is None:
            target = _first_widget(field.layout())
        if target is not None:
            label.widget().setBuddy(target)


def _first_widget(layout: QtWidgets.QLayout | None) -> QtWidgets.QWidget | None:
    if layout is None or layout.count() == 0:
        return None
    return layout.itemAt(0).widget()
