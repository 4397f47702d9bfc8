"""The cluster profiles dialog: add, edit and remove the SLURM profiles of `cluster.json`.

Opened from the Jobs panel ("Profiles..." beside "Run on"), non-modal. The same profiles as
`wavescope cluster add|remove|profiles`; a profile that SLURM would not take (a bad time or
memory, an extra line that is no sbatch option) is refused with the field and the fix.
"""

from __future__ import annotations

from PyQt6 import QtCore, QtWidgets

from app.model.cluster import ClusterError, ClusterProfile, load_profiles, remove_profile, save_profile

TEXT_FIELDS = (("name", "Name"), ("partition", "Partition"), ("account", "Account"),
               ("time", "Time limit"), ("mem", "Memory"), ("folder", "Job folder"))


class ClusterProfilesDialog(QtWidgets.QDialog):
    """A list of profiles and the form of the selected one."""

    profilesChanged = QtCore.pyqtSignal()

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Cluster profiles (SLURM)")
        self.setObjectName("cluster-profiles")
        self.names = QtWidgets.QListWidget()
        self.names.currentTextChanged.connect(self._show)
        form = QtWidgets.QFormLayout()
        self.fields: dict[str, QtWidgets.QLineEdit] = {}
        hints = {"time": "minutes, H:MM:SS or D-HH:MM:SS", "mem": "e.g. 8G",
                 "folder": "job scripts and logs (seen by the compute nodes); empty: beside the job history"}
        for name, label in TEXT_FIELDS:
            edit = QtWidgets.QLineEdit(placeholderText=hints.get(name, ""))
            self.fields[name] = edit
            form.addRow(label, edit)
        self.cpus = QtWidgets.QSpinBox(minimum=0, maximum=4096, specialValueText="(SLURM's default)")
        self.gpus = QtWidgets.QSpinBox(minimum=0, maximum=64, specialValueText="none")
        form.addRow("CPUs per task", self.cpus)
        form.addRow("GPUs", self.gpus)
        self.extra = QtWidgets.QPlainTextEdit(placeholderText="one sbatch option a line, e.g. --qos=short")
        self.setup = QtWidgets.QPlainTextEdit(placeholderText="shell lines before the job, e.g. module load mpich")
        form.addRow("Extra #SBATCH", self.extra)
        form.addRow("Setup", self.setup)
        self.problem = QtWidgets.QLabel("", wordWrap=True)
        self.problem.setStyleSheet("color: #b00020")
        buttons = QtWidgets.QHBoxLayout()
        for text, slot in (("New", self.new), ("Save", self.save), ("Remove", self.remove), ("Close", self.close)):
            button = QtWidgets.QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        right = QtWidgets.QVBoxLayout()
        right.addLayout(form)
        right.addWidget(self.problem)
        right.addLayout(buttons)
        layout = QtWidgets.QHBoxLayout(self)
        layout.addWidget(self.names, 1)
        layout.addLayout(right, 3)
        self.reload()

    def reload(self, select: str | None = None) -> None:
        try:
            self.profiles = load_profiles()
        except ClusterError as error:
            self.profiles = {}
            self.problem.setText(str(error))
        self.names.clear()
        self.names.addItems(sorted(self.profiles))
        matches = self.names.findItems(select or "", QtCore.Qt.MatchFlag.MatchExactly) if select else []
        if matches:
            self.names.setCurrentItem(matches[0])
        elif self.names.count():
            self.names.setCurrentRow(0)

    def _show(self, name: str) -> None:
        self.fill(self.profiles.get(name) or ClusterProfile(name=""))

    def fill(self, profile: ClusterProfile) -> None:
        for key, edit in self.fields.items():
            edit.setText(getattr(profile, key) or "")
        self.cpus.setValue(profile.cpus or 0)
        self.gpus.setValue(profile.gpus or 0)
        self.extra.setPlainText("\n".join(profile.extra))
        self.setup.setPlainText("\n".join(profile.setup))
        self.problem.clear()

    def profile(self) -> ClusterProfile:
        """The profile the form describes (not checked yet)."""
        values = {key: edit.text().strip() or None for key, edit in self.fields.items()}
        lines = {key: [line for line in box.toPlainText().splitlines() if line.strip()]
                 for key, box in (("extra", self.extra), ("setup", self.setup))}
        old = self.profiles.get(values["name"] or "")
        return ClusterProfile(**{**values, "name": values["name"] or ""}, cpus=self.cpus.value() or None,
                              gpus=self.gpus.value() or None, **lines,
                              mpi=old.mpi if old else "mpiexec", arrays=old.arrays if old else True)

    def new(self) -> None:
        self.names.clearSelection()
        self.fill(ClusterProfile(name=""))
        self.fields["name"].setFocus()

    def save(self) -> bool:
        profile = self.profile()
        try:
            save_profile(profile)
        except ClusterError as error:
            self.problem.setText(str(error))
            return False
        self.reload(select=profile.name)
        self.profilesChanged.emit()
        return True

    def remove(self) -> None:
        name = self.fields["name"].text().strip()
        try:
            remove_profile(name)
        except ClusterError as error:
            self.problem.setText(str(error))
            return
        self.reload()
        self.profilesChanged.emit()
