"""`wavescope doctor`: real checks on this machine, plus the failure paths made real in tmp_path."""

from __future__ import annotations

import json
import sys

import pytest

from app import doctor
from app.io.registry import supported_formats

BROKEN_PLUGIN = "import numpy\nraise RuntimeError('this plugin is broken on purpose')\n"


@pytest.fixture
def registry_reloaded():
    """Reload the registry after the test changed the plugin folder, so others see the built-ins."""
    yield
    supported_formats(reload=True)


def by_name(checks):
    return {c.name: c for c in checks}


def test_full_report_as_json(capsys):
    status = doctor.main(["--json"])
    report = json.loads(capsys.readouterr().out)
    checks = {c["name"]: c for c in report["checks"]}
    assert status == (0 if report["ok"] else 1)
    for name in ("python", "platform", "qt", "opengl", "mpiexec", "mpi4py", "mpi ranks", "pynwb",
                 "spyking-circus", "cache folder", "config folder", "data folder", "plugin folder"):
        assert name in checks, name
    assert checks["python"]["ok"] and sys.executable in checks["python"]["detail"]
    assert checks["qt"]["ok"] and "PyQt6" in checks["qt"]["detail"]
    assert checks["opengl"]["optional"]
    assert checks["opengl"]["status"] in ("OK", "missing")
    if checks["mpiexec"]["ok"] and checks["mpi4py"]["ok"]:
        assert checks["mpi ranks"]["ok"], checks["mpi ranks"]["detail"]
        assert checks["mpi4py"]["detail"].startswith("mpi4py ")
    for check in report["checks"]:
        if not check["ok"]:
            assert check["fix"], f"{check['name']} is missing but says nothing about a fix"


def test_text_report_says_what_to_do():
    checks = [doctor.Check("python", True, "3.11"),
              doctor.Check("mpiexec", False, "not found", "pip install mpich", optional=True),
              doctor.Check("config folder", False, "/x (not writable)", "make /x writable")]
    text = doctor.format_report(checks)
    lines = text.splitlines()
    assert lines[0].startswith("[OK     ] python")
    assert lines[1].startswith("[missing] mpiexec") and lines[2].strip() == "-> pip install mpich"
    assert lines[3].startswith("[MISSING] config folder")
    assert lines[-1] == "1 of 2 required checks OK; 1 optional piece(s) missing"
    assert not doctor.is_healthy(checks)


def test_ranks_not_tried_without_mpiexec():
    check = doctor.check_ranks(None, mpi_loads=True)
    assert not check.ok and check.optional and "not tried" in check.detail


def test_child_failures_are_reported_not_raised():
    failed = doctor._run_child([sys.executable, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"], 30)
    assert failed == {"ok": False, "detail": "exit status 3: boom"}
    hung = doctor._run_child([sys.executable, "-c", "import time; time.sleep(30)"], 0.5)
    assert not hung["ok"] and "no answer within" in hung["detail"]
    absent = doctor._run_child(["/nonexistent/mpiexec", "-n", "2"], 5)
    assert not absent["ok"] and "could not start" in absent["detail"]


def test_plugin_errors_are_failures(tmp_path, monkeypatch, registry_reloaded):
    (tmp_path / "broken_format.py").write_text(BROKEN_PLUGIN)
    monkeypatch.setenv("WAVESCOPE_FORMATS_PATH", str(tmp_path))
    supported_formats(reload=True)
    checks = doctor.check_plugins()
    assert checks[0].ok and str(tmp_path) in checks[0].detail and "1 plugin file(s)" in checks[0].detail
    broken = [c for c in checks if not c.ok]
    assert len(broken) == 1 and "broken_format.py" in broken[0].detail
    assert "broken on purpose" in broken[0].detail and broken[0].fix
    assert not doctor.is_healthy(checks)


def test_folders_follow_xdg_and_refuse_a_file_parent(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    checks = by_name(doctor.check_folders())
    assert not checks["cache folder"].ok and "not writable" in checks["cache folder"].detail
    assert "XDG_CACHE_HOME" in checks["cache folder"].fix
    assert checks["config folder"].ok and str(tmp_path / "config") in checks["config folder"].detail


def test_neuroshare_library_from_environment(tmp_path, monkeypatch):
    names = [n for n, k in supported_formats().items() if getattr(k, "library_env", None) == "WAVESCOPE_NEUROSHARE_LIBRARY"]
    if not names:
        pytest.skip("no format reads through WAVESCOPE_NEUROSHARE_LIBRARY")
    library = tmp_path / "libvendor.so"
    library.write_bytes(b"\x7fELF")
    monkeypatch.setenv("WAVESCOPE_NEUROSHARE_LIBRARY", str(library))
    found = by_name(doctor.check_neuroshare())[f"{names[0]} library"]
    assert found.ok and found.detail == str(library)
    monkeypatch.setenv("WAVESCOPE_NEUROSHARE_LIBRARY", str(tmp_path / "absent.so"))
    absent = by_name(doctor.check_neuroshare())[f"{names[0]} library"]
    assert not absent.ok and "is not a file" in absent.detail and "WAVESCOPE_NEUROSHARE_LIBRARY" in absent.fix


def test_a_crashing_check_is_reported():
    def check_explodes():
        raise ValueError("surprise")

    checks = doctor.run_checks([doctor.check_python, check_explodes])
    assert checks[-1].name == "explodes" and not checks[-1].ok and "surprise" in checks[-1].detail
