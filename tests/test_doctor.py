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


def run_doctor(tmp_path, **env_changes):
    """`python -m app.doctor --json` in a child whose environment has `env_changes` (None removes)."""
    import os
    import subprocess
    from pathlib import Path
    env = dict(os.environ, PYTHONPATH=str(Path(doctor.__file__).parents[1]))
    for key, value in env_changes.items():
        env.pop(key, None) if value is None else env.__setitem__(key, value)
    done = subprocess.run([sys.executable, "-m", "app.doctor", "--json"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300, check=False)
    return done.returncode, {c["name"]: c for c in json.loads(done.stdout)["checks"]}


def test_platform_plugin_that_cannot_load_fails_the_doctor(tmp_path):
    """xcb on a display that does not exist: Qt aborts in the child; the doctor names why and fails."""
    status, checks = run_doctor(tmp_path, QT_QPA_PLATFORM="xcb", DISPLAY=":97", WAYLAND_DISPLAY=None)
    platform_check = checks["qt platform"]
    assert status == 1
    assert platform_check["status"] == "MISSING" and not platform_check["optional"]
    assert "Qt cannot start on platform 'xcb'" in platform_check["detail"]
    missing = doctor.missing_libraries("", doctor.platform_plugin("xcb"))
    if missing:  # this machine lacks xcb libraries: the fix names their packages
        assert "missing system libraries" in platform_check["detail"]
        assert platform_check["fix"].startswith("sudo apt install ")
        for library in missing:
            assert doctor.debian_package(library) in platform_check["fix"]
    else:  # the libraries are there: the display itself is the cause
        assert "display" in platform_check["detail"].lower()


def test_unknown_platform_is_named(tmp_path):
    status, checks = run_doctor(tmp_path, QT_QPA_PLATFORM="nosuchplatform")
    assert status == 1
    assert 'Could not find the Qt platform plugin "nosuchplatform"' in checks["qt platform"]["detail"]
    assert "QT_QPA_PLATFORM" in checks["qt platform"]["fix"]


def test_no_display_is_said_but_not_fatal(tmp_path):
    status, checks = run_doctor(tmp_path, QT_QPA_PLATFORM=None, DISPLAY=None, WAYLAND_DISPLAY=None)
    assert checks["qt platform"]["optional"] and "no display" in checks["qt platform"]["detail"]
    assert "Qt starts on platform offscreen" in checks["qt platform"]["detail"]


def test_debian_package_names():
    assert doctor.debian_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert doctor.debian_package("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert doctor.debian_package("libxcb-keysyms.so.1") == "libxcb-keysyms1"
    assert doctor.debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert doctor.debian_package("libxcb-xfixes.so.0") == "libxcb-xfixes0"
    assert doctor.missing_libraries("qt.qpa.plugin: From 6.5.0, xcb-cursor0 or libxcb-cursor0 is needed "
                                    "to load the Qt xcb platform plugin.", None) == ["libxcb-cursor.so.0"]


def broken_xcb_plugin(tmp_path):
    """PyQt6's own xcb plugin, copied with one library it needs renamed to one no system has
    (libxcb-cursor.so.0 -> .so.9): a real plugin that Qt finds and cannot load, as on a desktop
    lacking the package. The copy sits two folders below a link to Qt's lib folder, as its rpath wants."""
    import os
    from pathlib import Path

    from PyQt6 import QtCore
    plugins = Path(QtCore.QLibraryInfo.path(QtCore.QLibraryInfo.LibraryPath.PluginsPath))
    original = plugins / "platforms" / "libqxcb.so"
    if not original.is_file():
        pytest.skip("this PyQt6 has no xcb plugin")
    data = original.read_bytes()
    if b"libxcb-cursor.so.0\x00" not in data:
        pytest.skip("this xcb plugin does not link libxcb-cursor")
    folder = tmp_path / "qt" / "plugins" / "platforms"
    folder.mkdir(parents=True)
    (folder / "libqxcb.so").write_bytes(data.replace(b"libxcb-cursor.so.0\x00", b"libxcb-cursor.so.9\x00"))
    os.symlink(plugins.parent / "lib", tmp_path / "qt" / "lib")
    return folder


def test_a_platform_plugin_that_cannot_load_names_the_missing_library(tmp_path):
    folder = broken_xcb_plugin(tmp_path)
    status, checks = run_doctor(tmp_path, QT_QPA_PLATFORM="xcb", QT_QPA_PLATFORM_PLUGIN_PATH=str(folder),
                                DISPLAY=":97", WAYLAND_DISPLAY=None)
    platform_check = checks["qt platform"]
    assert status == 1 and platform_check["status"] == "MISSING"
    assert "libxcb-cursor.so.9" in platform_check["detail"]
    assert platform_check["fix"].startswith("sudo apt install ") and "libxcb-cursor9" in platform_check["fix"]
