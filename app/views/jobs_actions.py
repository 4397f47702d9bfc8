"""The File menu's job actions: convert the open recording, sort with a params file.

Both build a job (app.model.jobs), check it, and hand it to `window.queue_job`; the Jobs dock runs
it. `window` is a MainWindow: its `recording`, `show_error`, `last_dir` and `queue_job` are used.
"""

from __future__ import annotations

import os

from PyQt6 import QtWidgets

from app.model.jobs import JobError, SortJob
from app.views.convert_dialog import ConvertDialog


def convert_recording(window) -> None:
    """Queue a conversion of the open recording, built in the convert dialog."""
    if window.recording is None:
        window.show_error("Convert", "Open a recording first.")
        return
    job = ConvertDialog.ask(window.recording.datafile, window)
    if job is not None:
        window.queue_job(job)


def sort_recording(window) -> None:
    """The sort dialog (app/views/sort_dialog.py) on the open recording's params; it queues the job."""
    from app.views.sort_dialog import open_sort_dialog
    recording = window.recording
    params = os.path.splitext(recording.datafile.file_name)[0] + ".params" if recording is not None else ""
    open_sort_dialog(params if params and os.path.isfile(params) else "", window, window.queue_job)


def sort_with_params(window) -> None:
    """Queue a sorter run on a .params file (SpyKING CIRCUS by default)."""
    recording = window.recording
    folder = os.path.dirname(recording.datafile.file_name) if recording is not None else window.last_dir()
    path, _ = QtWidgets.QFileDialog.getOpenFileName(window, "Sort with params", folder,
                                                    "Params files (*.params);;All files (*)")
    if not path:
        return
    job = SortJob(params_file=path)
    try:
        missing = job.template().missing_message()
        job.command()
    except JobError as error:
        missing = str(error)
    if missing:
        window.show_error("Cannot sort", missing)
        return
    window.queue_job(job)


def sort_several(window, paths: list[str] | None = None) -> list:
    """Queue one sort per chosen params file (or recording): on the cluster profile the Jobs panel's
    "Run on" names, as one SLURM job array; else here, one after the other. The panel's entries."""
    if paths is None:
        paths, _ = QtWidgets.QFileDialog.getOpenFileNames(window, "Sort several recordings", window.last_dir(),
                                                          "Params files (*.params);;All files (*)")
    jobs = [SortJob(params_file=path) for path in paths or []]
    try:
        for job in jobs:
            job.command()
    except JobError as error:
        window.show_error("Cannot sort", str(error))
        return []
    panel, profile = window.jobs_panel, window.jobs_panel.run_on_choice()
    window.show_dock("Jobs")
    if profile and jobs:
        return panel.add_job_array(jobs, profile)
    return [entry for entry in (panel.add_job(job) for job in jobs) if entry is not None]
