"""One typed editor for a [data] field: a choice of sample types, a rate with common values,
a spin box, a check box, or a line (an editable choice when the reader names valid values)."""

from __future__ import annotations

from typing import Any

from PyQt6 import QtCore, QtGui, QtWidgets

from app.model import wizard as logic
from app.model.wizard_state import FIELD_HELP, FIELD_UNITS, dtype_name, field_text


class FieldEditor(QtWidgets.QWidget):
    """`value()` is None while the field is not set; `changed` on every edit."""

    changed = QtCore.pyqtSignal()

    def __init__(self, name: str, type_name: str, required: bool, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.name, self.type_name, self.required = name, type_name, required
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.widget = self._make()
        self.widget.setObjectName(f"field-{name}")
        layout.addWidget(self.widget, 1)
        if name in FIELD_UNITS:
            layout.addWidget(QtWidgets.QLabel(FIELD_UNITS[name]))
        self.setToolTip(FIELD_HELP.get(name, f"{name} ({type_name})"))
        self.setFocusProxy(self.widget)

    def _make(self) -> QtWidgets.QWidget:
        if self.name in logic.DTYPE_FIELDS:
            box = QtWidgets.QComboBox()
            box.addItems(logic.DTYPES)
            box.setPlaceholderText("choose the sample type")
            box.setCurrentIndex(-1)
            box.currentIndexChanged.connect(self.changed)
            return box
        if self.name == "sampling_rate":
            return self._combo([f"{rate:g}" for rate in logic.COMMON_RATES], "e.g. 30000",
                               QtGui.QDoubleValidator(0.001, 1e9, 6))
        if self.type_name == "int":
            return self._spin()
        if self.type_name == "bool":
            box = QtWidgets.QCheckBox()
            box.toggled.connect(self.changed)
            return box
        edit = QtWidgets.QLineEdit()
        edit.setPlaceholderText(self.type_name)
        if self.type_name == "float" and self.name != "dtype_offset":
            edit.setValidator(QtGui.QDoubleValidator())
        edit.textChanged.connect(self.changed)
        return edit

    def _spin(self) -> QtWidgets.QSpinBox:
        box = QtWidgets.QSpinBox()
        box.setRange(-1 if self.required else -(2 ** 31), 2 ** 31 - 1)
        if self.required:
            box.setSpecialValueText("not set")
            box.setValue(-1)
        box.valueChanged.connect(self.changed)
        return box

    def _combo(self, items: list[str], placeholder: str,
               validator: QtGui.QValidator | None) -> QtWidgets.QComboBox:
        box = QtWidgets.QComboBox()
        box.setEditable(True)
        box.setInsertPolicy(QtWidgets.QComboBox.InsertPolicy.NoInsert)
        box.addItems(items)
        box.setCurrentIndex(-1)
        box.lineEdit().setPlaceholderText(placeholder)
        if validator is not None:
            box.setValidator(validator)
        box.currentTextChanged.connect(self.changed)
        return box

    def set_choices(self, choices: list[str]) -> None:
        """Offer the values the reader named (an HDF5 file's datasets) in an editable combo."""
        if isinstance(self.widget, QtWidgets.QComboBox) or not choices:
            return
        current = self.value()
        old = self.widget
        self.widget = self._combo(choices, self.type_name, None)
        self.widget.setObjectName(old.objectName())
        self.layout().replaceWidget(old, self.widget)
        old.deleteLater()
        self.setFocusProxy(self.widget)
        self.set_value(current)

    def value(self) -> Any:
        widget = self.widget
        if isinstance(widget, QtWidgets.QSpinBox):
            return None if self.required and widget.value() < 0 else widget.value()
        if isinstance(widget, QtWidgets.QCheckBox):
            return widget.isChecked()
        text = widget.currentText() if isinstance(widget, QtWidgets.QComboBox) else widget.text()
        return text.strip() or None

    def set_value(self, value: Any) -> None:
        widget = self.widget
        with QtCore.QSignalBlocker(widget):
            if isinstance(widget, QtWidgets.QSpinBox):
                widget.setValue(-1 if value is None else int(value))
            elif isinstance(widget, QtWidgets.QCheckBox):
                widget.setChecked(bool(value) and str(value).lower() not in ("false", "0", "no"))
            elif isinstance(widget, QtWidgets.QComboBox) and not widget.isEditable():
                widget.setCurrentIndex(widget.findText(dtype_name(value)) if value is not None else -1)
            elif isinstance(widget, QtWidgets.QComboBox):
                widget.setCurrentIndex(-1)
                widget.setEditText("" if value is None else field_text(value))
            else:
                widget.setText("" if value is None else field_text(value))
        self.changed.emit()
