"""Sorter environments, with a real venv and a real (local, offline) sorter package.

`fakesorter` is a tiny package written into tmp_path with a console script; the templates
folder is pointed at tmp_path so the real resources are untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from app.model import jobs, sorters
from app.model.jobs import SortJob
from app.model.sorters import (BROKEN, INSTALLED, NOT_INSTALLED, USER, InstallCancelled, SorterEnvError,
                               environment, install, use_python)
from app.paths import RESOURCES

WHEEL_FILES = {
    "fakesorter-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: fakesorter\nVersion: 0.1\n",
    "fakesorter-0.1.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    "fakesorter-0.1.dist-info/entry_points.txt": "[console_scripts]\nfake-sorter = fakesorter:main\n",
}
MODULE = """import sys
__version__ = "0.1"
def main():
    print("fake sorter ran on", sys.argv[1:], "with", sys.executable)
"""


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A sorter template `fake` whose tested set installs the local `fakesorter` package offline."""
    package = tmp_path / "fakesorter-0.1-py3-none-any.whl"       # a wheel: pip needs no build tools
    with zipfile.ZipFile(package, "w") as wheel:
        for name, text in {**WHEEL_FILES, "fakesorter.py": MODULE}.items():
            wheel.writestr(name, text)
        wheel.writestr("fakesorter-0.1.dist-info/RECORD", "".join(f"{name},,\n" for name in
                                                                  [*WHEEL_FILES, "fakesorter.py"]))
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "fake.requirements.txt").write_text("# nothing else pinned\n")
    template = {
        "name": "fake", "title": "Fake sorter", "executable": "fake-sorter", "install": "wavescope sorters install fake",
        "environment": {"python": "%d.%d" % sys.version_info[:2], "requirements": "fake.requirements.txt",
                        "packages": [str(package)],
                        "pip_options": ["--no-index", "--no-deps"],
                        "check": "import fakesorter; print(fakesorter.__version__)", "version": "0.1"},
        "input": "data_file", "command": ["{executable}", "{input}"],
        "options": {"cpus": {"flag": "-c"}}, "steps": [], "default_steps": []}
    (templates / "fake.json").write_text(json.dumps(template))
    monkeypatch.setattr(sorters, "TEMPLATES_DIR", templates)
    monkeypatch.setattr(jobs, "SORTERS_DIR", templates)
    monkeypatch.setenv("WAVESCOPE_SORTERS_DIR", str(tmp_path / "envs"))
    monkeypatch.setenv("WAVESCOPE_CONFIG_DIR", str(tmp_path / "config"))
    return templates


def test_install_builds_a_venv_of_its_own_and_the_sort_command_runs_in_it(fake, tmp_path):
    assert environment("fake").state == NOT_INSTALLED
    lines: list[str] = []
    env = install("fake", on_line=lines.append)
    assert env.state == INSTALLED and env.prefix == tmp_path / "envs" / "fake"
    assert env.versions == {"python": "%d.%d.%d" % sys.version_info[:3], "sorter": "0.1"}
    assert any("Successfully installed fakesorter-0.1" in line for line in lines)     # pip's output came through
    assert os.listdir(tmp_path / "envs") == ["fake"]                               # no temporary folder left
    scripts = [path for path in (env.prefix / "bin").iterdir() if path.is_file() and not path.is_symlink()]
    assert [path.name for path in scripts + [env.prefix / "pyvenv.cfg"]
            if b".building-" in path.read_bytes()] == []                      # relocated to the final place
    # The app's own environment did not get it.
    assert subprocess.run([sys.executable, "-c", "import fakesorter"], capture_output=True).returncode != 0

    data = tmp_path / "rec.dat"
    data.write_bytes(b"\0" * 64)
    job = SortJob(params_file=str(data), sorter="fake", cpus=2)
    script = env.prefix / "bin" / "fake-sorter"
    assert job.command() == [str(script), str(data), "-c", "2"]
    assert job.process_environment()["PATH"].startswith(str(env.prefix / "bin") + os.pathsep)
    # The console script was built in the temporary folder and still runs after the rename.
    ran = subprocess.run(job.command(), capture_output=True, text=True, check=True)
    assert f"with {env.prefix / 'bin' / 'python'}" in ran.stdout


def test_a_failed_install_leaves_nothing_and_keeps_the_previous_environment(fake, tmp_path):
    install("fake", on_line=lambda line: None)
    spec = json.loads((fake / "fake.json").read_text())
    spec["environment"]["packages"] = ["no-such-package-anywhere==9.9"]
    (fake / "fake.json").write_text(json.dumps(spec))
    with pytest.raises(SorterEnvError, match="failed with status"):
        install("fake", on_line=lambda line: None, force=True)
    assert os.listdir(tmp_path / "envs") == ["fake"]
    assert environment("fake").state == INSTALLED


def test_a_cancelled_install_leaves_nothing(fake, tmp_path):
    def cancel_when_pip_starts(line: str) -> None:
        if line.startswith("$") and "pip" in line:
            raise KeyboardInterrupt
    with pytest.raises(InstallCancelled, match="nothing was left"):
        install("fake", on_line=cancel_when_pip_starts)
    assert os.listdir(tmp_path / "envs") == []
    assert environment("fake").state == NOT_INSTALLED


def test_a_user_interpreter_is_recorded_checked_and_forgotten(fake, tmp_path):
    with pytest.raises(SorterEnvError, match="no such interpreter"):
        use_python("fake", tmp_path / "nope" / "python")
    with pytest.raises(SorterEnvError, match="cannot run fake: .*fakesorter"):
        use_python("fake", sys.executable)                 # the app's python has no fakesorter
    assert not (tmp_path / "config" / "sorters.json").exists()

    built = install("fake", on_line=lambda line: None)
    other = tmp_path / "other"
    os.replace(built.prefix, other)                          # like a conda env somewhere else
    sorters._relocate(other, other)
    versions = use_python("fake", other / "bin" / "python")
    assert versions["sorter"] == "0.1"
    settings = json.loads((tmp_path / "config" / "sorters.json").read_text())
    assert settings == {"python": {"fake": str(other / "bin" / "python")}}
    env = environment("fake")
    assert env.state == USER and env.prefix == other

    (other / "bin" / "python").unlink()
    (other / "bin" / "python").symlink_to("/bin/false")
    assert environment("fake").state == BROKEN
    use_python("fake", None)
    assert json.loads((tmp_path / "config" / "sorters.json").read_text()) == {"python": {}}
    assert environment("fake").state == NOT_INSTALLED


def test_unknown_sorter_and_a_sorter_without_a_tested_set(fake, tmp_path):
    with pytest.raises(SorterEnvError, match="known sorters: fake"):
        environment("nope")
    (fake / "bare.json").write_text(json.dumps({"name": "bare", "title": "Bare", "command": ["x"], "install": "-"}))
    with pytest.raises(SorterEnvError, match="wavescope sorters use bare --python"):
        install("bare", on_line=lambda line: None)
    assert "sorters use" in environment("bare").reason


def test_the_real_templates_name_their_tested_sets():
    spec = sorters.EnvironmentSpec.from_dict(sorters.template_data("spyking-circus")["environment"])
    pins = [line for line in Path(spec.requirements_path()).read_text().splitlines()
            if line and not line.startswith("#")]
    assert all("==" in line for line in pins)
    assert {"numpy==1.23.5", "scipy==1.10.1", "h5py==3.8.0", "statsmodels==0.13.5"} <= set(pins)
    assert spec.packages == ["spyking-circus==1.1.0"] and spec.version == "1.1.0"
    assert "merging" not in sorters.template_data("spyking-circus")["default_steps"]


def test_a_step_failure_reported_with_exit_0_fails_the_job(fake, tmp_path):
    """SpyKING CIRCUS 1.1 prints `Step "merging" failed ...` and exits 0: the job is failed."""
    template = {"name": "quiet", "title": "Quiet failure", "install": "-", "input": "data_file",
                "command": ["{python}", "-c", "import sys; print('| Step \"merging\" failed for reason x')",
                            "{input}"],
                "failure_pattern": json.loads((RESOURCES / "sorters" / "spyking-circus.json").read_text())[
                    "failure_pattern"]}
    (fake / "quiet.json").write_text(json.dumps(template))
    data = tmp_path / "rec.dat"
    data.write_bytes(b"\0" * 64)
    lines: list[str] = []
    runner = jobs.JobRunner(SortJob(params_file=str(data), sorter="quiet"), on_line=lines.append)
    runner.start()
    assert runner.wait(60) == 1
    assert runner.job.status == "failed"
    assert "the sorter exited 0 but reported a failure (Step \"merging\" failed" in lines[-1]

    template["command"][2] = "print('all steps done')"
    (fake / "quiet.json").write_text(json.dumps(template))
    runner = jobs.JobRunner(SortJob(params_file=str(data), sorter="quiet"))
    runner.start()
    assert runner.wait(60) == 0 and runner.job.status == "done"


# -- the command line -------------------------------------------------------------------------------
def test_sorters_command_lists_uses_and_refuses(fake, tmp_path, capsys):
    from app.cli import main
    assert main(["sorters"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("fake") and "not installed" in out and "wavescope sorters install fake" in out
    assert main(["sorters", "install", "nope"]) == 1
    assert "no sorter named 'nope'; known sorters: fake" in capsys.readouterr().err
    assert main(["sorters", "use", "fake", "--python", str(tmp_path / "missing")]) == 1
    assert "no such interpreter" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:                          # --python or --forget is required
        main(["sorters", "use", "fake"])
    assert usage.value.code == 2
    assert main(["sorters", "use", "fake", "--forget"]) == 0
    assert "managed environment is used again" in capsys.readouterr().out


CANCEL_SCRIPT = """
import sys
from pathlib import Path
from app.model import jobs, sorters
sorters.TEMPLATES_DIR = jobs.SORTERS_DIR = Path(sys.argv[1])
from app.cli import main
sys.exit(main(["sorters", "install", "fake"]))
"""


def test_ctrl_c_during_a_real_install_leaves_nothing(fake, tmp_path):
    import signal
    import time
    repository = Path(__file__).resolve().parents[2]
    process = subprocess.Popen([sys.executable, "-c", CANCEL_SCRIPT, str(fake)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=repository,
                               env={**os.environ, "PYTHONPATH": str(repository)})
    for line in process.stdout:
        if line.startswith("$ ") and " -m venv " in line:
            break
    deadline = time.monotonic() + 60
    while not list((tmp_path / "envs").glob("fake.building-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list((tmp_path / "envs").glob("fake.building-*"))        # the build had begun
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "cancelled; nothing was left behind" in err
    assert os.listdir(tmp_path / "envs") == []
