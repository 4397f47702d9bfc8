"""Cluster profiles and the generated batch script, without SLURM (tests/cluster runs them on SLURM)."""

from __future__ import annotations

import subprocess

import pytest

from app.io.mpi import find_mpiexec
from app.model.cluster import (
    ClusterError,
    ClusterProfile,
    get_profile,
    load_profiles,
    profiles_path,
    remove_profile,
    save_profile,
    slurm_environment,
    step_command,
    write_script,
)
from app.model.jobs import ConvertJob, JobHistory, SortJob, runner_for


def test_profiles_round_trip_and_bad_values_name_the_field_and_the_fix(tmp_path):
    assert load_profiles() == {}
    with pytest.raises(ClusterError, match="there is none yet: add one with `wavescope cluster add"):
        get_profile("short")
    save_profile(ClusterProfile(name="short", partition="debug", time="30", cpus=2, extra=["#SBATCH --qos=x"]))
    assert get_profile("short").extra == ["--qos=x"]
    assert profiles_path().parent.name == "wavescope"
    for bad, message in [({"time": "1h"}, "time '1h' is not a SLURM time"),
                         ({"mem": "lots"}, "mem 'lots' is not a size"),
                         ({"cpus": 0}, "cpus must be a whole number"),
                         ({"extra": ["qos=x"]}, "is not an sbatch option; write it as --option=value"),
                         ({"name": "two words"}, "use letters, digits")]:
        with pytest.raises(ClusterError, match=message):
            save_profile(ClusterProfile(**{"name": "bad", **bad}))
    remove_profile("short")
    with pytest.raises(ClusterError, match="no cluster profile named 'short'"):
        remove_profile("short")
    profiles_path().write_text("{not json")
    with pytest.raises(ClusterError, match="cannot read the cluster profiles"):
        load_profiles()


def test_the_script_of_a_job_array_is_readable_and_valid_bash(tmp_path):
    profile = ClusterProfile(name="p", partition="debug", account="lab", time="1:00:00", cpus=4, mem="8G",
                             gpus=1, extra=["--qos=short"], setup=["module load mpich"])
    jobs = [ConvertJob(source=f"/data/rec {i}.dat", output=f"/out/rec{i}.h5", to_format="hdf5", ranks=2)
            for i in range(3)]
    script = write_script(jobs, profile, tmp_path / "job", "/work")
    text = script.read_text()
    for line in ("#SBATCH --partition=debug", "#SBATCH --account=lab", "#SBATCH --time=1:00:00",
                 "#SBATCH --mem=8G", "#SBATCH --gres=gpu:1", "#SBATCH --qos=short", "#SBATCH --ntasks=2",
                 "#SBATCH --cpus-per-task=4", "#SBATCH --array=0-2", "#SBATCH --chdir=/work",
                 f"#SBATCH --output={tmp_path / 'job' / 'task-%a.log'}", "module load mpich",
                 f"export WAVESCOPE_JOB_ID={jobs[2].id}", 'case "$SLURM_ARRAY_TASK_ID" in'):
        assert line in text, line
    assert "'/data/rec 1.dat'" in text and text.count(f"{find_mpiexec()} -launcher slurm -n 2 ") == 3
    assert step_command(jobs[0], profile)[:5] == [find_mpiexec(), "-launcher", "slurm", "-n", "2"]
    profile.mpi = "pmix"                      # a cluster whose MPI is built for srun
    assert step_command(jobs[0], profile)[:5] == ["srun", "--kill-on-bad-exit=1", "--mpi=pmix", "-n", "2"]
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0


def test_sort_script_uses_the_sorter_and_its_cpus(tmp_path):
    job = SortJob(params_file=str(tmp_path / "rec.dat"), cpus=6)
    text = write_script([job], ClusterProfile(name="p", cpus=2), tmp_path / "j", str(tmp_path)).read_text()
    assert "#SBATCH --cpus-per-task=6" in text and "spyking-circus" in text and "--array" not in text
    assert f"#SBATCH --output={tmp_path / 'j' / 'job.log'}" in text


def test_cluster_jobs_are_remembered_as_they_were_and_get_the_cluster_runner(tmp_path):
    history = JobHistory(tmp_path / "jobs.json")
    job = ConvertJob(source="a.dat", output="b.dat", backend="cluster", cluster="p", cluster_id="12_1",
                     cluster_state="RUNNING", status="running", started=1.0, pid=None)
    history.record(job)
    (loaded,) = history.load()
    assert (loaded.status, loaded.cluster_id, loaded.cluster_state) == ("running", "12_1", "RUNNING")
    assert runner_for(loaded).__name__ == "ClusterRunner" and runner_for(ConvertJob()).__name__ == "JobRunner"


def test_the_environment_of_an_enclosing_slurm_job_is_not_passed_on():
    env = slurm_environment({"SLURM_JOB_ID": "4", "SLURM_CONF": "/x.conf", "SBATCH_PARTITION": "p", "HOME": "/h"})
    assert env == {"SLURM_CONF": "/x.conf", "HOME": "/h"}


def test_without_slurm_commands_the_error_says_what_to_install(monkeypatch, tmp_path):
    from app.model.cluster import slurm
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ClusterError, match=r"sbatch is not installed here.*apt install slurm-client"):
        slurm("sbatch", "--version")
