"""Page 2: the header's facts read-only, the missing fields asked with typed editors, live validation,
and for headerless samples the layouts that fit the bytes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PyQt6 import QtCore, QtWidgets

from app.model import wizard as logic
from app.model.wizard_state import (
    FIELD_HELP,
    FIELD_UNITS,
    NO_LAYOUT,
    failed_validation,
    field_text,
    suggestion_cells,
)
from app.views.wizard.common import DEBOUNCE_MS, FACT_COLOUR, message_html, status_label
from app.views.wizard.field_editor import FieldEditor

if TYPE_CHECKING:
    from app.views.wizard.shell import ParamsWizard


class FieldsPage(QtWidgets.QWizardPage):
    """Every change re-opens the recording (on a worker) with the user's values."""

    def __init__(self, owner: ParamsWizard):
        super().__init__()
        self.owner = owner
        self.state = owner.state
        self.setTitle("Fields")
        self.setSubTitle("What the file says is shown as fact. Give what it does not say; every change "
                         "re-opens the recording with your values.")
        self.facts_box = QtWidgets.QGroupBox("From the file")
        self.facts = QtWidgets.QFormLayout(self.facts_box)
        self.asked_box = QtWidgets.QGroupBox("Needed from you")
        self.asked = QtWidgets.QFormLayout(self.asked_box)
        self.suggest_box = QtWidgets.QGroupBox("Layouts that fit the bytes (click one to apply)")
        self.suggestions = self._suggestion_table()
        self.suggest_note = QtWidgets.QLabel()
        box = QtWidgets.QVBoxLayout(self.suggest_box)
        box.addWidget(self.suggest_note)
        box.addWidget(self.suggestions)
        self.advanced_toggle = QtWidgets.QToolButton()
        self.advanced_toggle.setText("Advanced")
        self.advanced_toggle.setCheckable(True)
        self.advanced_toggle.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(QtCore.Qt.ArrowType.RightArrow)
        self.advanced_toggle.setAutoRaise(True)
        self.advanced_toggle.toggled.connect(self._toggle_advanced)
        self.advanced_widget = QtWidgets.QWidget()
        self.advanced = QtWidgets.QFormLayout(self.advanced_widget)
        self.advanced_widget.setVisible(False)
        self.status = status_label()
        self.status.setObjectName("validation")
        layout = QtWidgets.QVBoxLayout(self)
        for widget in (self.facts_box, self.asked_box, self.suggest_box, self.advanced_toggle,
                       self.advanced_widget):
            layout.addWidget(widget, 3 if widget is self.suggest_box else 0)   # the guesses take the room
        layout.addStretch(1)
        layout.addWidget(self.status)
        self.editors: dict[str, FieldEditor] = {}
        self.layouts: list[dict] = []
        self._built_for: tuple | None = None
        self._timer = QtCore.QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self.revalidate)
        self._pending = False
        owner.workers.answered.connect(self._answered)

    def _suggestion_table(self) -> QtWidgets.QTableWidget:
        table = QtWidgets.QTableWidget(0, 5)
        table.setObjectName("suggestions")
        table.setHorizontalHeaderLabels(["Channels", "dtype", "Offset", "Score", "Evidence"])
        table.horizontalHeader().setStretchLastSection(True)
        table.verticalHeader().setVisible(False)
        table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setMinimumHeight(110)
        table.setMaximumHeight(420)
        table.cellClicked.connect(lambda row, _c: self.apply_suggestion(row))
        return table

    # -- building -------------------------------------------------------------------------------
    def initializePage(self) -> None:
        key = (self.state.path, self.state.file_format)
        if key != self._built_for:
            self._built_for = key
            self._build_editors(logic.fields_to_ask(self.state.file_format, None))
            self._start_suggestions()
        self.revalidate()

    @staticmethod
    def _clear(form: QtWidgets.QFormLayout) -> None:
        while form.rowCount():
            form.removeRow(0)

    def _build_editors(self, asked: dict[str, str]) -> None:
        self._clear(self.asked)
        self._clear(self.advanced)
        self.editors = {}
        fmt = self.state.file_format
        for name, type_name in asked.items():
            self._add_editor(self.asked, name, type_name, True)
        if not asked:
            self.asked.addRow(QtWidgets.QLabel("Nothing: the header gives every field."))
        for name, default in logic.advanced_fields(fmt, asked).items():
            editor = self._add_editor(self.advanced, name, logic.field_type(fmt, name), False)
            if name not in self.state.values:
                editor.set_value(default)
        self.advanced_toggle.setVisible(self.advanced.rowCount() > 0)

    def _add_editor(self, form: QtWidgets.QFormLayout, name: str, type_name: str,
                    required: bool) -> FieldEditor:
        editor = FieldEditor(name, type_name, required)
        if name in self.state.values:
            editor.set_value(self.state.values[name])
        editor.changed.connect(lambda n=name: self._edited(n))
        label = QtWidgets.QLabel(f"{name}:")
        label.setBuddy(editor)
        label.setToolTip(editor.toolTip())
        form.addRow(label, editor)
        self.editors[name] = editor
        return editor

    def _toggle_advanced(self, shown: bool) -> None:
        self.advanced_widget.setVisible(shown)
        self.advanced_toggle.setArrowType(QtCore.Qt.ArrowType.DownArrow if shown
                                          else QtCore.Qt.ArrowType.RightArrow)

    # -- suggestions ----------------------------------------------------------------------------
    def _start_suggestions(self) -> None:
        self.layouts = []
        self.suggestions.setRowCount(0)
        needs = logic.needs_layout(self.state.file_format)
        self.suggest_box.setVisible(needs)
        if needs:
            self.suggest_note.setText("Reading a sample of the file to infer its layout…")
            path, limit = self.state.path, self.owner.suggest_max_channels
            self.owner.workers.ask("suggest", lambda: logic.suggest_layout(path, max_channels=limit))

    def _show_suggestions(self, result: Any) -> None:
        if isinstance(result, BaseException) or not result:
            self.suggest_note.setText(NO_LAYOUT)
            return
        self.layouts = result
        self.suggest_note.setText(logic.suggestions_note(result))
        self.suggestions.setRowCount(len(result))
        for row, guess in enumerate(result):
            for column, text in enumerate(suggestion_cells(guess)):
                item = QtWidgets.QTableWidgetItem(text)
                item.setToolTip(guess["evidence"])
                self.suggestions.setItem(row, column, item)
        self.suggestions.resizeColumnsToContents()
        if not self.state.has_layout():
            self.apply_suggestion(0)

    def apply_suggestion(self, row: int) -> None:
        """Put the layout of suggestion `row` into the editors (and so into the values)."""
        if not 0 <= row < len(self.layouts):
            return
        self.suggestions.selectRow(row)
        for name, value in logic.layout_values(self.layouts[row], self.state.file_format).items():
            if name in self.editors:
                self.editors[name].set_value(value)

    # -- validation -----------------------------------------------------------------------------
    def _edited(self, name: str) -> None:
        editor = self.editors.get(name)
        if editor is None:
            return
        self.state.set_value(name, editor.value())
        self._pending = True
        self.completeChanged.emit()
        self._timer.start()

    def revalidate(self) -> None:
        self._pending = True
        self.status.setText(message_html(("Checking…", "fact")))
        self.owner.workers.ask("validate", self.state.validation_job())
        self.completeChanged.emit()

    def _answered(self, question: str, result: Any) -> None:
        if question == "suggest":
            self._show_suggestions(result)
        elif question == "validate" and not self._timer.isActive():
            self._show_validation(result)

    def _show_validation(self, result: Any) -> None:
        if isinstance(result, BaseException):
            result = failed_validation(result)
        self._pending = False
        self.state.validation = result
        asked = logic.fields_to_ask(self.state.file_format, result)
        if set(asked) - set(self.editors):
            self._build_editors(asked)
        for name, choices in result.choices.items():
            if name in self.editors:
                self.editors[name].set_choices(choices)
                if self.editors[name].value() is None:
                    self.editors[name].set_value(choices[0])
        self._show_facts(result)
        self.status.setText(message_html((result.summary(), "ok" if result.ok else "error")))
        self.completeChanged.emit()

    def _show_facts(self, result: logic.Validation) -> None:
        self._clear(self.facts)
        for name, value in result.header.items():
            fact = QtWidgets.QLabel(f"<b>{field_text(value)}</b> {FIELD_UNITS.get(name, '')} "
                                    f"<span style='color:{FACT_COLOUR}'>· from header</span>")
            fact.setObjectName(f"fact-{name}")
            fact.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
            fact.setToolTip(FIELD_HELP.get(name, name))
            self.facts.addRow(f"{name}:", fact)
        if not result.header:
            self.facts.addRow(QtWidgets.QLabel("The header gives nothing (or the file has none)."))

    def busy(self) -> bool:
        """A check or a suggestion is on its way (what the page shows may still change)."""
        workers = self.owner.workers
        return self._timer.isActive() or workers.busy("validate") or workers.busy("suggest")

    def isComplete(self) -> bool:
        validation = self.state.validation
        return (not self._pending and validation is not None and validation.ok
                and not self.owner.workers.busy("validate"))
