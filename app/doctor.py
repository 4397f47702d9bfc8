"""`wavescope doctor`: what this installation has, what it lacks, and how to fix it.

Each check is one line: OK or missing, what was found, and the fix when
something is missing. Required pieces (Python, Qt, the user folders, the format
plugins) decide the exit status; optional ones (OpenGL, MPI, pynwb, SpyKING
CIRCUS, Neuroshare libraries) only say what they would enable.

Anything that may crash or hang (creating an OpenGL context, initialising MPI,
launching ranks) runs in a child process with a timeout, started with
``--probe NAME``, so the doctor itself always answers. In a PyInstaller bundle
the child is the bundle's own executable (``wavescope doctor --probe NAME``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

PROBE_TIMEOUT_S = 30.0
RANKS_TIMEOUT_S = 60.0


@dataclass
class Check:
    """One line of the report; `fix` is what to do when `ok` is False."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    optional: bool = False

    @property
    def status(self) -> str:
        if self.ok:
            return "OK"
        return "missing" if self.optional else "MISSING"


# -- child-process probes ---------------------------------------------------------------------------
def _probe_opengl() -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", _default_platform())
    from PyQt6 import QtGui

    _app = QtGui.QGuiApplication.instance() or QtGui.QGuiApplication(sys.argv[:1])
    surface = QtGui.QOffscreenSurface()
    surface.create()
    context = QtGui.QOpenGLContext()
    if not context.create() or not context.makeCurrent(surface):
        return {"ok": False, "platform": _app.platformName(), "detail": "no OpenGL context could be made"}
    fmt = context.format()
    version = f"{fmt.majorVersion()}.{fmt.minorVersion()}"
    context.doneCurrent()
    return {"ok": True, "platform": _app.platformName(), "version": version,
            "gles": bool(context.isOpenGLES())}


def _probe_mpi() -> dict:
    import mpi4py
    from mpi4py import MPI

    major, minor = MPI.Get_version()
    library = " ".join(MPI.Get_library_version().strip().splitlines()[0].split())
    return {"ok": True, "mpi4py": mpi4py.__version__, "standard": f"{major}.{minor}", "library": library}


def _probe_ranks() -> dict | None:
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    ranks = world.gather(world.Get_rank(), root=0)
    if world.Get_rank() != 0:
        return None
    return {"ok": True, "size": world.Get_size(), "ranks": ranks}


def _probe_platform() -> dict:
    """Create the QGuiApplication the browser would get (QT_QPA_PLATFORM is set by the parent).

    A platform plugin that cannot load aborts the process (status 134): the parent reads stderr."""
    from PyQt6 import QtGui

    app = QtGui.QGuiApplication.instance() or QtGui.QGuiApplication(sys.argv[:1])
    return {"ok": True, "platform": app.platformName()}


PROBES: dict[str, Callable[[], dict | None]] = {
    "opengl": _probe_opengl, "mpi": _probe_mpi, "ranks": _probe_ranks, "platform": _probe_platform}


def run_probe(name: str) -> int:
    """Child side: print the probe's JSON answer on one line (rank 0 only for `ranks`)."""
    try:
        answer = PROBES[name]()
    except Exception as error:  # noqa: BLE001 - the parent reports whatever went wrong
        answer = {"ok": False, "detail": f"{type(error).__name__}: {error}"}
    if answer is not None:
        print("PROBE " + json.dumps(answer), flush=True)
    return 0


def _self_command(probe: str) -> list[str]:
    if getattr(sys, "frozen", False):
        return [sys.executable, "doctor", "--probe", probe]
    return [sys.executable, "-m", "app.doctor", "--probe", probe]


def _run_child(command: Sequence[str], timeout: float) -> dict:
    """Run a probe command; its `PROBE {...}` line, or {'ok': False, 'detail': why not}."""
    try:
        done = subprocess.run(list(command), check=False, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"ok": False, "detail": f"no answer within {timeout:.0f} s"}
    except OSError as error:
        return {"ok": False, "detail": f"could not start {command[0]}: {error}"}
    for line in done.stdout.splitlines():
        if line.startswith("PROBE "):
            return json.loads(line[len("PROBE "):])
    tail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return {"ok": False, "detail": f"exit status {done.returncode}: {tail[:300]}"}


def _default_platform() -> str:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "offscreen"
    return ""


# -- the checks -------------------------------------------------------------------------------------
def check_python() -> list[Check]:
    frozen = " (bundled)" if getattr(sys, "frozen", False) else ""
    version = platform.python_version()
    ok = sys.version_info >= (3, 10)
    return [
        Check("python", ok, f"{version} {platform.python_implementation()} at {sys.executable}{frozen}",
              "install Python 3.10 or newer"),
        Check("platform", True, f"{platform.platform()} ({platform.machine()})"),
    ]


def check_qt() -> list[Check]:
    try:
        from PyQt6 import QtCore
    except ImportError as error:
        return [Check("qt", False, f"PyQt6 does not import ({error})",
                      "pip install PyQt6 (the browser needs it; the CLI works without)")]
    return [Check("qt", True, f"Qt {QtCore.qVersion()}, PyQt6 {QtCore.PYQT_VERSION_STR}")]


# Libraries the xcb plugin needs that minimal Debian/Ubuntu desktops lack, by package.
XCB_PACKAGES = {"libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
                "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-image.so.0": "libxcb-image0",
                "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-xkb.so.1": "libxcb-xkb1",
                "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libxcb-randr.so.0": "libxcb-randr0",
                "libxcb-shape.so.0": "libxcb-shape0", "libxcb-xinerama.so.0": "libxcb-xinerama0"}


def debian_package(library: str) -> str:
    """`libxcb-icccm.so.4` -> `libxcb-icccm4`: Debian names a library package after its soname."""
    if library in XCB_PACKAGES:
        return XCB_PACKAGES[library]
    stem, _, version = library.partition(".so.")
    version = version.split(".")[0]
    return f"{stem}-{version}" if stem[-1:].isdigit() else f"{stem}{version}"


def user_platform() -> str | None:
    """The Qt platform the browser would start on; None on Linux with no display at all."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return os.environ["QT_QPA_PLATFORM"].split(":")[0]
    if not sys.platform.startswith("linux"):
        return ""
    if os.environ.get("DISPLAY"):
        return "xcb"
    return "wayland" if os.environ.get("WAYLAND_DISPLAY") else None


def platform_plugin(name: str) -> Path | None:
    """The plugin file Qt would load for platform `name` (`libqxcb.so` for xcb): from the folders
    QT_QPA_PLATFORM_PLUGIN_PATH and QT_PLUGIN_PATH name first, as Qt searches, else PyQt6's own."""
    folders = [Path(p) for p in os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH", "").split(os.pathsep) if p]
    folders += [Path(p) / "platforms" for p in os.environ.get("QT_PLUGIN_PATH", "").split(os.pathsep) if p]
    try:
        from PyQt6 import QtCore
        folders.append(Path(QtCore.QLibraryInfo.path(QtCore.QLibraryInfo.LibraryPath.PluginsPath)) / "platforms")
    except ImportError:
        pass
    for folder in folders:
        found = sorted(folder.glob(f"*q{name}.*")) if folder.is_dir() else []
        if found:
            return found[0]
    return None


def missing_libraries(qt_error: str, plugin: Path | None) -> list[str]:
    """System libraries the platform plugin lacks: from Qt's own message and from `ldd` on the plugin."""
    missing = []
    if "xcb-cursor0 or libxcb-cursor0 is needed" in qt_error:
        missing.append("libxcb-cursor.so.0")
    ldd = shutil.which("ldd")
    if plugin is not None and ldd:
        try:
            listing = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20,
                                     check=False).stdout
        except (OSError, subprocess.TimeoutExpired):
            listing = ""
        missing += [line.split("=>")[0].strip() for line in listing.splitlines() if "not found" in line]
    return list(dict.fromkeys(missing))


def _qt_cause(stderr: str) -> str:
    """The lines of Qt's message that say why, without its advice to reinstall."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    useful = [line for line in lines if line.startswith("qt.qpa") or "Could not" in line
              or "could not connect" in line.lower()]
    return " ".join(useful or lines[-1:])[:400]


def check_platform() -> list[Check]:
    """Start Qt for real on the user's platform, in a child: a plugin that cannot load aborts Qt."""
    name = user_platform()
    if name is None:
        detail = "no display (DISPLAY and WAYLAND_DISPLAY unset): the browser cannot open here"
        name, optional = "offscreen", True
    else:
        detail, optional = "", False
    env = {**os.environ, "QT_QPA_PLATFORM": name} if name else dict(os.environ)
    try:
        done = subprocess.run(_self_command("platform"), capture_output=True, text=True, env=env,
                              timeout=PROBE_TIMEOUT_S, stdin=subprocess.DEVNULL, check=False)
        answer = next((json.loads(line[6:]) for line in done.stdout.splitlines() if line.startswith("PROBE ")),
                      {"ok": False})
        stderr = done.stderr
    except subprocess.TimeoutExpired:
        answer, stderr = {"ok": False}, f"no answer within {PROBE_TIMEOUT_S:.0f} s"
    if answer.get("ok"):
        text = detail + "; " if detail else ""
        return [Check("qt platform", not optional, f"{text}Qt starts on platform {answer['platform']}",
                      "`wavescope demo --screenshot out.png` and `wavescope info FILE` work without one",
                      optional=optional)]
    missing = missing_libraries(stderr, platform_plugin(name or "xcb"))
    cause = answer.get("detail") or _qt_cause(stderr) or f"exit status {done.returncode}"
    if missing:
        packages = " ".join(dict.fromkeys(debian_package(lib) for lib in missing))
        return [Check("qt platform", False, f"Qt cannot start on platform {name!r}: missing system "
                      f"libraries {', '.join(missing)} ({cause})",
                      f"sudo apt install {packages}  (Debian/Ubuntu package names)")]
    return [Check("qt platform", False, f"Qt cannot start on platform {name!r}: {cause}",
                  "check that the display is reachable (DISPLAY / WAYLAND_DISPLAY) or set QT_QPA_PLATFORM "
                  "to another Qt platform (xcb, wayland); `wavescope demo --screenshot out.png` works without one")]


def check_opengl() -> list[Check]:
    answer = _run_child(_self_command("opengl"), PROBE_TIMEOUT_S)
    if answer.get("ok"):
        kind = "OpenGL ES" if answer.get("gles") else "OpenGL"
        return [Check("opengl", True, f"{kind} {answer['version']} (Qt platform {answer['platform']})",
                      optional=True)]
    return [Check("opengl", False, f"not available ({answer.get('detail', 'unknown')})",
                  "nothing to do: the trace view draws without OpenGL; install your GPU's OpenGL "
                  "driver (Mesa on Linux) to use hardware drawing", optional=True)]


def find_mpiexec() -> str | None:
    """mpiexec beside the interpreter (a venv with the mpich wheel, or the bundle), else on PATH."""
    from app.io.mpi import find_mpiexec as find
    return find()


def check_mpi() -> list[Check]:
    """MPI is optional: without it every job runs as one process and multi-rank jobs are not offered."""
    from app.io.mpi import INSTALL_HINT as install
    mpiexec = find_mpiexec()
    checks = [Check("mpiexec", mpiexec is not None, mpiexec or "not found beside the interpreter or on PATH",
                    f"{install}; without it jobs run as one process and the convert dialog offers no ranks",
                    optional=True)]
    answer = _run_child(_self_command("mpi"), PROBE_TIMEOUT_S)
    if answer.get("ok"):
        checks.append(Check("mpi4py", True, f"mpi4py {answer['mpi4py']}, MPI {answer['standard']}, "
                            f"{answer['library']}", optional=True))
    else:
        checks.append(Check("mpi4py", False, f"MPI does not load ({answer.get('detail')})",
                            f"{install}; conversions then run serially", optional=True))
    checks.append(check_ranks(mpiexec, mpi_loads=bool(answer.get("ok"))))
    return checks


def check_ranks(mpiexec: str | None, mpi_loads: bool) -> Check:
    """Two ranks launched by mpiexec must both answer through one collective call."""
    fix = "check that mpiexec and mpi4py come from the same MPI (e.g. both from pip's mpich)"
    if mpiexec is None or not mpi_loads:
        return Check("mpi ranks", False, "not tried (needs mpiexec and mpi4py)", fix, optional=True)
    answer = _run_child([mpiexec, "-n", "2", *_self_command("ranks")], RANKS_TIMEOUT_S)
    if answer.get("ok") and answer.get("size") == 2 and sorted(answer.get("ranks", [])) == [0, 1]:
        return Check("mpi ranks", True, "mpiexec -n 2: ranks 0 and 1 answered", optional=True)
    detail = answer.get("detail") or f"ranks answered {answer.get('ranks')} of size {answer.get('size')}"
    return Check("mpi ranks", False, f"mpiexec -n 2 failed: {detail}", fix, optional=True)


def check_optional_tools() -> list[Check]:
    checks = []
    try:
        import pynwb
        checks.append(Check("pynwb", True, f"pynwb {pynwb.__version__}", optional=True))
    except ImportError:
        checks.append(Check("pynwb", False, "not installed (NWB files are read with h5py anyway)",
                            "pip install pynwb to export annotations to NWB", optional=True))
    circus = shutil.which("spyking-circus")
    checks.append(Check("spyking-circus", circus is not None, circus or "not on PATH",
                        "pip install spyking-circus (in this environment or one on PATH) to sort",
                        optional=True))
    return checks + check_neuroshare()


def check_neuroshare() -> list[Check]:
    """Formats read through a vendor library say where it is (their `library_env` variable)."""
    from app.io.registry import supported_formats
    checks = []
    for name, klass in supported_formats().items():
        env = getattr(klass, "library_env", None)
        finder = getattr(klass, "find_library", None)
        if not env or finder is None:
            continue
        found = finder()
        if found and os.path.isfile(found):
            checks.append(Check(f"{name} library", True, found, optional=True))
        else:
            detail = f"{env}={found} is not a file" if found else f"{env} not set and none found"
            checks.append(Check(f"{name} library", False, detail,
                                f"set {env} to the vendor's Neuroshare library to read {name} files",
                                optional=True))
    return checks


def check_folders() -> list[Check]:
    import platformdirs
    checks = []
    for kind, path in (("cache folder", platformdirs.user_cache_dir("wavescope")),
                       ("config folder", platformdirs.user_config_dir("wavescope")),
                       ("data folder", platformdirs.user_data_dir("wavescope"))):
        folder = Path(path)
        existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
        writable = existing is not None and existing.is_dir() and os.access(existing, os.W_OK)
        state = "exists" if folder.is_dir() else "created on first use"
        checks.append(Check(kind, writable, f"{folder} ({state if writable else 'not writable'})",
                            f"make {existing or folder} writable, or set XDG_{kind.split()[0].upper()}_HOME"))
    return checks


def check_plugins() -> list[Check]:
    from app.io.registry import plugin_errors, plugin_folders, supported_formats
    formats = supported_formats()
    checks = []
    for folder in plugin_folders():
        scripts = sorted(folder.glob("*.py")) if folder.is_dir() else []
        state = f"{len(scripts)} plugin file(s)" if folder.is_dir() else "absent (no plugins)"
        checks.append(Check("plugin folder", True, f"{folder}: {state}; {len(formats)} formats loaded"))
    for problem in plugin_errors:
        checks.append(Check("plugin", False, problem, "fix the module named above or move it out of the "
                            "plugin folder; `wavescope check-format` tests a fixed one"))
    return checks


# -- partial outputs left by killed conversions -------------------------------------------------------
def partial_folders() -> list[str]:
    """Where conversions wrote (remembered by the engine) and the current folder."""
    from app.io.partials import remembered_folders
    return list(dict.fromkeys([*remembered_folders(), os.getcwd()]))


def stale_partials(folders: Sequence[str] | None = None) -> list:
    from app.io.partials import find_partials
    return [p for folder in (partial_folders() if folders is None else folders)
            for p in find_partials(folder) if p.stale]


def check_partials() -> list[Check]:
    """Partial outputs whose conversion was killed (SIGKILL, out of memory, a lost rank)."""
    from app.io.partials import human_size
    stale = stale_partials()
    if not stale:
        return [Check("partial outputs", True, "none left by killed conversions", optional=True)]
    total = human_size(sum(p.size for p in stale))
    checks = [Check("partial outputs", False, f"{len(stale)} left by killed conversions ({total})",
                    "wavescope doctor --clean removes them (the next conversion into their folder does too)",
                    optional=True)]
    checks += [Check("partial output", False, f"{p.path} ({human_size(p.size)}, for {p.target}, "
                     f"process {p.pid} is gone)", optional=True) for p in stale]
    return checks


def clean_partials(folders: Sequence[str] | None = None) -> int:
    """`wavescope doctor --clean`: remove the stale partial outputs, saying what went."""
    from app.io.partials import human_size, remove
    stale = stale_partials(folders)
    for partial in stale:
        remove(partial.path)
        print(f"removed {partial.path} ({human_size(partial.size)})")
    print(f"{len(stale)} partial output(s) removed")
    return 0


CHECKS: tuple[Callable[[], list[Check]], ...] = (
    check_python, check_qt, check_platform, check_opengl, check_mpi, check_optional_tools, check_folders, check_plugins,
    check_partials)


def run_checks(checks: Sequence[Callable[[], list[Check]]] = CHECKS) -> list[Check]:
    """Every check, in report order; a check that raises is reported, not fatal."""
    found: list[Check] = []
    for check in checks:
        try:
            found += check()
        except Exception as error:  # noqa: BLE001 - the doctor must finish its report
            found.append(Check(check.__name__.removeprefix("check_"), False,
                               f"the check itself failed: {type(error).__name__}: {error}",
                               "report this with the output of `wavescope doctor --json`"))
    return found


def format_report(checks: Sequence[Check]) -> str:
    lines = []
    for check in checks:
        lines.append(f"[{check.status:<7}] {check.name:<26} {check.detail}")
        if not check.ok and check.fix:
            lines.append(f"{'':<37}-> {check.fix}")
    required = [c for c in checks if not c.optional]
    bad = [c for c in required if not c.ok]
    optional_missing = sum(not c.ok for c in checks if c.optional)
    lines.append(f"{len(required) - len(bad)} of {len(required)} required checks OK; "
                 f"{optional_missing} optional piece(s) missing")
    return "\n".join(lines)


def is_healthy(checks: Sequence[Check]) -> bool:
    return all(c.ok for c in checks if not c.optional)


def doctor(as_json: bool = False, probe: str | None = None, clean: bool = False) -> int:
    """What `wavescope doctor [--json] [--clean]` does; returns the exit status (1 if a required
    piece is missing). `clean` only removes stale partial outputs."""
    if probe:
        return run_probe(probe)
    if clean:
        return clean_partials()
    checks = run_checks()
    if as_json:
        print(json.dumps({"ok": is_healthy(checks),
                          "checks": [{**asdict(c), "status": c.status} for c in checks]}, indent=1))
    else:
        print(format_report(checks))
    return 0 if is_healthy(checks) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--probe", choices=sorted(PROBES), help=argparse.SUPPRESS)
    parser.add_argument("--clean", action="store_true", help="remove partial outputs of killed conversions")
    args = parser.parse_args(argv)
    return doctor(args.json, args.probe, args.clean)


if __name__ == "__main__":
    sys.exit(main())
