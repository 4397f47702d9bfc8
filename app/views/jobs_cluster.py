"""The Jobs panel's cluster side: a "Run on" choice, a "Runs on" column, and SLURM jobs followed.

`ClusterJobs` is a mixin of `JobsPanel`. A job queued while "Run on" names a cluster profile
(or queued as a cluster job) is submitted at once, without waiting for a local slot: SLURM queues
it. Its runner is an `app.model.cluster.ClusterRunner`, which has JobRunner's callbacks, so its
log, progress, Stop and Retry work as for a local job. Cluster jobs outlive the application: a
new panel on the same history follows the ones still in SLURM's hands again (their log re-read
from the start), and closing the panel does not cancel them.
"""

from __future__ import annotations

from PyQt6 import QtCore, QtWidgets

from app.model.cluster import ClusterError, ClusterRunner, get_profile, load_profiles
from app.model.jobs import Job, JobError, runner_for

LOCAL = "local"
RUNS_ON_COLUMN = 5


def runs_on_text(job: Job) -> str:
    """`local`, or the profile with SLURM's job id and state: `short · 1234 RUNNING`."""
    if job.backend != "cluster":
        return LOCAL
    return " ".join(part for part in (f"{job.cluster} ·", job.cluster_id or "(not submitted)",
                                      job.cluster_state or "") if part)


def _detach_all(runners: list) -> None:
    for runner in runners:
        runner.detach()


class ClusterJobs:
    """Mixin for JobsPanel (uses its entries, history, table, bridge and `_start`)."""

    def _init_cluster(self) -> None:
        self.run_on = QtWidgets.QComboBox()
        self.run_on.setObjectName("run-on")
        self.run_on.setToolTip("where jobs queued from now on run: here, or on a SLURM cluster profile "
                               "(wavescope cluster add NAME ...)")
        self.refresh_profiles()
        row = self._button_row()
        self.profiles_button = QtWidgets.QPushButton("Profiles...")
        self.profiles_button.setToolTip("add or edit the SLURM cluster profiles")
        self.profiles_button.clicked.connect(self.edit_profiles)
        self.profiles_dialog = None
        if row is not None:
            row.addWidget(QtWidgets.QLabel("Run on"))
            row.addWidget(self.run_on)
            row.addWidget(self.profiles_button)
        self._followers: list[ClusterRunner] = []
        self.destroyed.connect(lambda *_, runners=self._followers: _detach_all(runners))
        self.jobChanged.connect(self._cluster_job_changed)
        self._cluster_timer = QtCore.QTimer(self, interval=1000, timeout=self._cluster_tick)
        self._cluster_timer.start()
        for entry in self.entries.values():
            self._show_runs_on(entry)
        self.resume_cluster_jobs()

    def _button_row(self) -> QtWidgets.QHBoxLayout | None:
        """The row of Stop, Retry, ... (the first layout of the details column)."""
        column = self.stop_button.parentWidget().layout()
        item = column.itemAt(0) if column is not None else None
        return item.layout() if item is not None else None

    def refresh_profiles(self) -> None:
        """The "Run on" choices: local and every cluster profile (the selection kept)."""
        current = self.run_on.currentText()
        try:
            names = sorted(load_profiles())
        except ClusterError as error:
            names = []
            self.run_on.setToolTip(str(error))
        self.run_on.clear()
        self.run_on.addItems([LOCAL, *names])
        if current:
            self.set_run_on(current)

    def edit_profiles(self):
        """The cluster profiles dialog, non-modal; "Run on" follows what it saves."""
        from app.views.cluster_profiles import ClusterProfilesDialog
        if self.profiles_dialog is None:
            self.profiles_dialog = ClusterProfilesDialog(self)
            self.profiles_dialog.profilesChanged.connect(self.refresh_profiles)
        self.profiles_dialog.show()
        self.profiles_dialog.raise_()
        return self.profiles_dialog

    def set_run_on(self, name: str | None) -> None:
        index = self.run_on.findText(name or LOCAL)
        self.run_on.setCurrentIndex(max(index, 0))

    def run_on_choice(self) -> str | None:
        """The cluster profile chosen in "Run on", None for local."""
        text = self.run_on.currentText()
        return None if text in ("", LOCAL) else text

    def runner_class(self, job: Job) -> type:
        return runner_for(job)

    def local_entries(self) -> list:
        """The entries that run here (they take the local slots and end with the application)."""
        return [entry for entry in self.entries.values() if entry.job.backend != "cluster"]

    def cluster_entries(self) -> list:
        return [entry for entry in self.entries.values() if entry.job.backend == "cluster"]

    # -- queueing and following -------------------------------------------------------------------
    def _cluster_job_changed(self, job_id: str, status: str) -> None:
        entry = self.entries.get(job_id)
        if entry is None:
            return
        job = entry.job
        if status == "queued":
            profile = self.run_on_choice()
            if profile and job.backend != "cluster":
                job.backend, job.cluster = "cluster", profile
            if job.backend == "cluster":            # a new job, or a retry: never submitted yet
                job.cluster_id = job.cluster_state = job.script = job.log = None
                self.history.record(job)
                QtCore.QTimer.singleShot(0, lambda: self._submit_queued(job_id))
        if isinstance(entry.runner, ClusterRunner) and entry.runner not in self._followers:
            self._followers.append(entry.runner)
        self._show_runs_on(entry)

    def _submit_queued(self, job_id: str) -> None:
        """Submit a queued cluster job now (unless a free local slot already started it)."""
        entry = self.entries.get(job_id)
        if entry is not None and entry.job.status == "queued" and entry.job.backend == "cluster":
            self._start(entry)

    def add_job_array(self, jobs: list[Job], profile: str, env: dict | None = None) -> list:
        """Queue one job per recording as one SLURM job array on `profile` (one entry each, followed
        like any cluster job); the entries. When sbatch refuses, every job fails with its reason."""
        from app.model.cluster import submit
        from app.views.jobs_panel import JobEntry
        entries = []
        for job in jobs:
            job.backend, job.cluster, job.status = "cluster", profile, "queued"
            entries.append(JobEntry(job, env=env))
            self._add_entry(entries[-1])
        try:
            submit(jobs, get_profile(profile), env)
        except (JobError, OSError) as problem:
            for entry in entries:
                entry.job.status, entry.error = "failed", f"cannot start: {problem}"
                entry.lines.append(entry.error)
                self._on_changed(entry.id)
            return entries
        for entry in entries:
            self.history.record(entry.job)
            self._follow_entry(entry)
            self._on_changed(entry.id)
        return entries

    def resume_cluster_jobs(self) -> None:
        """Follow again the cluster jobs a previous session left in SLURM's hands."""
        for entry in self.cluster_entries():
            job = entry.job
            if job.status == "running" and entry.runner is None and job.cluster_id:
                self._follow_entry(entry)

    def _follow_entry(self, entry) -> None:
        """A ClusterRunner following `entry`'s submitted job into the panel (its log re-read)."""
        job = entry.job
        self.log_dir.mkdir(parents=True, exist_ok=True)
        entry.log_handle = open(self.log_path(entry), "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed when the job ends
        entry.log_handle.write(f"$ {entry.command_text()}\n")
        job_id, bridge = entry.id, self._bridge
        entry.runner = ClusterRunner(
            job, env=entry.env,
            on_line=lambda text: self._from_worker_line(entry, text),
            on_progress_line=lambda text: bridge.progressLine.emit(job_id, text, False),
            on_progress=lambda fraction: bridge.progress.emit(job_id, fraction),
            on_change=lambda _job: bridge.changed.emit(job_id))
        self._followers.append(entry.runner)
        entry.runner.resume()

    def detach_cluster(self) -> None:
        """Stop following cluster jobs (they go on running on the cluster)."""
        _detach_all(self._followers)

    def _cluster_tick(self) -> None:
        for entry in self.cluster_entries():
            if entry.job.status == "running":
                self._refresh_row(entry)
                self._show_runs_on(entry)

    def _show_runs_on(self, entry) -> None:
        item = self._item(entry.id)
        if item is not None:
            item.setText(RUNS_ON_COLUMN, runs_on_text(entry.job))
            item.setToolTip(RUNS_ON_COLUMN, entry.job.script or "")

    def runs_on(self, job_id: str) -> str:
        """What the "Runs on" column shows for a job."""
        item = self._item(job_id)
        return item.text(RUNS_ON_COLUMN) if item is not None else ""
