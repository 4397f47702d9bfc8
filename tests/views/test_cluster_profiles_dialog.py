"""The cluster profiles dialog and the Jobs panel's "Run on" choice (no SLURM needed)."""

from __future__ import annotations

from app.model.cluster import ClusterProfile, get_profile, load_profiles, save_profile
from app.model.jobs import JobHistory
from app.views.jobs_panel import JobsPanel


def test_profiles_are_added_edited_and_removed_and_run_on_follows(qtbot, tmp_path):
    save_profile(ClusterProfile(name="old", partition="debug"))
    panel = JobsPanel(JobHistory(tmp_path / "jobs.json"))
    qtbot.addWidget(panel)
    choices = lambda: [panel.run_on.itemText(i) for i in range(panel.run_on.count())]
    assert choices() == ["local", "old"] and panel.run_on_choice() is None
    dialog = panel.edit_profiles()
    assert dialog.isVisible() and not dialog.isModal()
    assert dialog.fields["partition"].text() == "debug"

    dialog.new()
    dialog.fields["name"].setText("gpu")
    dialog.fields["time"].setText("soon")
    assert not dialog.save() and "time 'soon' is not a SLURM time" in dialog.problem.text()
    dialog.fields["time"].setText("2:00:00")
    dialog.fields["mem"].setText("16G")
    dialog.gpus.setValue(1)
    dialog.extra.setPlainText("#SBATCH --qos=short\n")
    assert dialog.save()
    assert get_profile("gpu") == ClusterProfile(name="gpu", time="2:00:00", mem="16G", gpus=1, extra=["--qos=short"])
    assert choices() == ["local", "gpu", "old"]
    panel.set_run_on("gpu")
    assert panel.run_on_choice() == "gpu"

    dialog.names.setCurrentRow(1)
    assert dialog.fields["name"].text() == "old"
    dialog.remove()
    assert list(load_profiles()) == ["gpu"] and choices() == ["local", "gpu"]
    assert panel.run_on_choice() == "gpu"
