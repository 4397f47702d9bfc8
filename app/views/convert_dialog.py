"""The "Convert this recording…" dialog: a form that builds a ConvertSpec (the job's) and shows its command.

It asks only what `wavescope convert` takes (output, target format, sample type,
channels, time range, high-pass, MPI ranks) and shows the exact command line the
Jobs panel will run, updated as the form changes.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from PyQt6 import QtWidgets

from app.io.convert_options import ConvertError, ConvertSpec, parse_channels
from app.io.mpi import mpi_runtime
from app.io.nwb_out import NWB_FORMAT
from app.io.registry import supported_formats
from app.model.jobs import ConvertJob
from app.model.wizard import required_fields

DTYPES = ("int16", "uint16", "int32", "float32", "float64")
SAME_DTYPE = "same as input"
# Values proposed for fields a target format requires that a conversion cannot infer.
OUTPUT_FIELD_DEFAULTS = {"h5_key": "data"}


def writable_formats() -> list[str]:
    """Formats a conversion writes: the writable readers, and NWB (app.io.nwb_out, one process)."""
    return sorted(name for name, klass in supported_formats().items() if klass.is_writable or name == NWB_FORMAT)


def format_extension(name: str) -> str:
    extensions = list(supported_formats()[name].extension or [])
    return extensions[0] if extensions else ".dat"


def parse_fields(text: str) -> dict[str, str]:
    """'h5_key=data, gain=0.5' -> {'h5_key': 'data', 'gain': '0.5'}; ValueError names a bad piece."""
    fields = {}
    for piece in (p.strip() for p in text.split(",")):
        if not piece:
            continue
        key, equal, value = piece.partition("=")
        if not equal or not key.strip():
            raise ValueError(f"output field {piece!r}: write key=value")
        fields[key.strip()] = value.strip()
    return fields


class ConvertDialog(QtWidgets.QDialog):
    """Build the ConvertJob for one recording; `job()` returns it once the form is valid."""

    def __init__(self, source: str, file_format: str | None = None, stream_mode: str | None = None,
                 settings: dict | None = None, duration_s: float = 0.0,
                 parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Convert this recording")
        self.source, self.file_format, self.stream_mode = source, file_format, stream_mode
        self.settings = dict(settings or {})
        self._build(duration_s)
        self.output.setText(self._default_output())
        self._format_changed()
        self.update_command()

    @classmethod
    def for_datafile(cls, datafile, parent: QtWidgets.QWidget | None = None) -> ConvertDialog:
        """The dialog for an open DataFile: its format, stream mode and the params given to it."""
        given = {k: v for k, v in datafile.params.items() if k in datafile.given_fields}
        return cls(datafile.file_name, datafile.description, datafile.stream_mode, given,
                   datafile.duration / float(datafile.sampling_rate), parent)

    # -- construction -----------------------------------------------------------------------------
    def _build(self, duration_s: float) -> None:
        form = QtWidgets.QFormLayout()
        self.output = QtWidgets.QLineEdit()
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.output, 1)
        row.addWidget(browse)
        form.addRow("Output", row)
        self.to_format = QtWidgets.QComboBox()
        self.to_format.addItems(writable_formats())
        self.to_format.setCurrentText("raw_binary")
        form.addRow("Format", self.to_format)
        self.dtype = QtWidgets.QComboBox()
        self.dtype.addItems([SAME_DTYPE, *DTYPES])
        form.addRow("Sample type", self.dtype)
        self.channels = QtWidgets.QLineEdit(placeholderText="all; e.g. 0-31 or 0,4,8-11")
        form.addRow("Channels", self.channels)
        self.start = self._seconds_box(duration_s, "beginning")
        self.stop = self._seconds_box(duration_s, "end")
        form.addRow("Start (s)", self.start)
        form.addRow("Stop (s)", self.stop)
        self.highpass_on = QtWidgets.QCheckBox("High-pass")
        self.highpass = QtWidgets.QDoubleSpinBox(decimals=1, minimum=0.1, maximum=1e5, value=300.0, suffix=" Hz")
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.highpass_on)
        row.addWidget(self.highpass, 1)
        form.addRow("Filter", row)
        self.ranks = QtWidgets.QSpinBox(minimum=1, maximum=max(os.cpu_count() or 1, 64), value=1)
        self.ranks.setToolTip("MPI processes (mpiexec -n N); 1 runs one process")
        form.addRow("MPI ranks", self.ranks)
        runtime = mpi_runtime()
        self.mpi_note = QtWidgets.QLabel("" if runtime.available else runtime.reason, wordWrap=True)
        if not runtime.available:           # ranks are offered only where MPI is installed
            self.ranks.setEnabled(False)
            self.ranks.setToolTip(runtime.reason)
            form.addRow("", self.mpi_note)
        self.out_fields = QtWidgets.QLineEdit(placeholderText="fields of the output format, key=value, …")
        form.addRow("Output fields", self.out_fields)
        self.force = QtWidgets.QCheckBox("Replace an existing output")
        self.verify = QtWidgets.QCheckBox("Verify the output against the source")
        form.addRow(self.force)
        form.addRow(self.verify)
        self.command = QtWidgets.QPlainTextEdit(readOnly=True)
        self.command.setMaximumHeight(90)
        self.problem = QtWidgets.QLabel("", wordWrap=True)
        self.buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                                  | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QtWidgets.QLabel("Command"))
        layout.addWidget(self.command)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.to_format.currentTextChanged.connect(self._format_changed)
        for signal in (self.output.textChanged, self.dtype.currentTextChanged, self.channels.textChanged,
                       self.start.valueChanged, self.stop.valueChanged, self.highpass_on.toggled,
                       self.highpass.valueChanged, self.ranks.valueChanged, self.out_fields.textChanged,
                       self.force.toggled, self.verify.toggled):
            signal.connect(self.update_command)

    @staticmethod
    def _seconds_box(duration_s: float, special: str) -> QtWidgets.QDoubleSpinBox:
        """0 shows `special` (the beginning or the end) and means 'not given'."""
        box = QtWidgets.QDoubleSpinBox(decimals=3, minimum=0.0, maximum=max(duration_s, 1e9))
        box.setSpecialValueText(special)
        return box

    def _default_output(self) -> str:
        path = Path(self.source)
        return str(path.with_name(f"{path.stem}_converted{format_extension('raw_binary')}"))

    def _browse(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Convert to", self.output.text())
        if path:
            self.output.setText(path)

    def _format_changed(self) -> None:
        """Keep the output's extension and the required output fields in step with the format."""
        name = self.to_format.currentText()
        output = self.output.text()
        if output:
            self.output.setText(str(Path(output).with_suffix(format_extension(name))))
        fields = parse_fields(self.out_fields.text()) if "=" in self.out_fields.text() else {}
        for key in required_fields(name):
            if key in OUTPUT_FIELD_DEFAULTS and key not in fields:
                fields[key] = OUTPUT_FIELD_DEFAULTS[key]
        self.out_fields.setText(", ".join(f"{k}={v}" for k, v in fields.items()))
        if name == NWB_FORMAT:
            self.ranks.setValue(1)              # pynwb writes an NWB file from one process
        self.update_command()

    # -- the job ----------------------------------------------------------------------------------
    def spec(self) -> ConvertSpec:
        """The ConvertSpec the form describes; ValueError (ConvertError) names a bad field."""
        output = self.output.text().strip()
        if not output:
            raise ValueError("give an output file")
        channels = self.channels.text().strip()
        dtype = self.dtype.currentText()
        return ConvertSpec(
            output=os.path.abspath(output), to_format=self.to_format.currentText(),
            channels=parse_channels(channels) if channels else None,
            start=self.start.value() or None, stop=self.stop.value() or None,
            dtype=None if dtype == SAME_DTYPE else dtype,
            highpass=self.highpass.value() if self.highpass_on.isChecked() else None,
            force=self.force.isChecked(), verify=self.verify.isChecked(),
            out_settings=parse_fields(self.out_fields.text()))

    def job(self) -> ConvertJob:
        """The ConvertJob of the form's spec for this recording, on the ranks asked."""
        return ConvertJob(spec=self.spec(), source=self.source, file_format=self.file_format,
                          stream_mode=self.stream_mode, settings=dict(self.settings), ranks=self.ranks.value())

    def update_command(self) -> None:
        ok = self.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok)
        try:
            self.command.setPlainText(shlex.join(self.job().command()))
            self.problem.clear()
            ok.setEnabled(True)
        except (ValueError, ConvertError) as problem:
            self.problem.setText(str(problem))
            ok.setEnabled(False)

    @classmethod
    def ask(cls, datafile, parent: QtWidgets.QWidget | None = None) -> ConvertJob | None:
        dialog = cls.for_datafile(datafile, parent)
        if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return None
        return dialog.job()
