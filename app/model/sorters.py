"""Sorter environments: every sorter runs out of process, in an environment of its own.

An environment is either *managed* -- a venv Wavescope builds on first use from the pinned,
tested requirement set kept beside the sorter's template (``resources/sorters/NAME.requirements.txt``)
-- or a *user interpreter*: a Python the user points to (a conda env, a cluster module), recorded
in ``sorters.json`` in the user config folder. The app's own environment never gets a sorter.

A managed venv is built into a temporary folder beside its final place and renamed when every
step succeeded, so an interrupted or failed install leaves nothing half-built. No Qt here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.io import atomic
from app.paths import RESOURCES

TEMPLATES_DIR = RESOURCES / "sorters"
BUILDING_SUFFIX = ".building-"      # NAME.building-PID: a venv being built (removed when it fails)

INSTALLED, NOT_INSTALLED, USER, BROKEN = "installed", "not installed", "user interpreter", "broken"


class SorterEnvError(ValueError):
    """A sorter environment cannot be used or built as asked; the message says the fix."""


class InstallCancelled(KeyboardInterrupt):
    """The install was interrupted; nothing of it was left behind."""


@dataclass
class EnvironmentSpec:
    """How a sorter's managed environment is built and checked (the template's `environment`).

    `requirements` names the pinned set beside the template; `packages` are installed after it
    with `pip_options` (SpyKING CIRCUS 1.1.0 is built without isolation against the pinned set);
    `check` is Python code run by the environment's interpreter that prints the sorter's version.
    """

    python: str = ""                       # the major.minor the set was tested on, e.g. "3.11"
    requirements: str | None = None
    packages: list[str] = field(default_factory=list)
    pip_options: list[str] = field(default_factory=list)
    check: str = ""
    version: str = ""
    name: str = ""                         # the venv's folder when sorters share one (spikeinterface)

    @classmethod
    def from_dict(cls, data: dict | None) -> EnvironmentSpec | None:
        if not data:
            return None
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in known})

    def requirements_path(self) -> Path | None:
        return TEMPLATES_DIR / self.requirements if self.requirements else None


@dataclass
class SorterEnv:
    """One sorter's environment as it is now on this machine."""

    name: str
    state: str                  # INSTALLED, NOT_INSTALLED, USER or BROKEN
    python: Path | None         # the interpreter that runs the sorter
    prefix: Path | None         # the environment's folder (the venv, the conda env)
    versions: dict[str, str] = field(default_factory=dict)
    reason: str = ""            # why BROKEN / NOT_INSTALLED

    @property
    def usable(self) -> bool:
        return self.state in (INSTALLED, USER)

    def executable(self, name: str) -> Path | None:
        """A console script of the environment (`bin/spyking-circus`), or None when missing."""
        if self.prefix is None:
            return None
        folder = self.prefix / ("Scripts" if os.name == "nt" else "bin")
        for candidate in (folder / name, folder / f"{name}.exe"):
            if candidate.exists():
                return candidate
        return None


# -- where things are -------------------------------------------------------------------------------
def sorters_dir() -> Path:
    """The managed venvs: WAVESCOPE_SORTERS_DIR, else `sorters/` in the user data folder."""
    given = os.environ.get("WAVESCOPE_SORTERS_DIR")
    if given:
        return Path(given)
    import platformdirs
    return Path(platformdirs.user_data_dir("wavescope")) / "sorters"


def settings_path() -> Path:
    """The user's sorter settings: WAVESCOPE_CONFIG_DIR/sorters.json, else in the user config folder."""
    given = os.environ.get("WAVESCOPE_CONFIG_DIR")
    if given:
        return Path(given) / "sorters.json"
    import platformdirs
    return Path(platformdirs.user_config_dir("wavescope")) / "sorters.json"


def venv_python(prefix: Path) -> Path:
    return prefix / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def template_data(name: str) -> dict:
    path = TEMPLATES_DIR / f"{name}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in TEMPLATES_DIR.glob("*.json")))
        raise SorterEnvError(f"no sorter named {name!r}; known sorters: {known}.")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def environment_spec(name: str) -> EnvironmentSpec | None:
    return EnvironmentSpec.from_dict(template_data(name).get("environment"))


def venv_name(name: str, spec: EnvironmentSpec | None = None) -> str:
    """The managed venv's folder of sorter `name`: its own, or the one it shares (`spec.name`)."""
    spec = spec if spec is not None else environment_spec(name)
    return spec.name if spec is not None and spec.name else name


# -- user interpreters --------------------------------------------------------------------------------
def load_settings() -> dict:
    try:
        data = json.loads(settings_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise SorterEnvError(f"{settings_path()}: not readable sorter settings ({error}); "
                             "fix or delete the file.") from None
    return data if isinstance(data, dict) else {}


def user_python(name: str) -> Path | None:
    entry = load_settings().get("python", {}).get(name)
    return Path(entry) if entry else None


def use_python(name: str, python: str | os.PathLike | None) -> dict[str, str]:
    """Record `python` as the interpreter that runs sorter `name` (None forgets it); its versions.

    The interpreter must run, and when the sorter declares a check, that check must pass."""
    template_data(name)                                   # an unknown sorter is an error
    settings = load_settings()
    users = settings.setdefault("python", {})
    versions: dict[str, str] = {}
    if python is None:
        users.pop(name, None)
    else:
        path = Path(python).expanduser().absolute()
        if not path.exists():
            raise SorterEnvError(f"{path}: no such interpreter; give the path of a Python executable "
                                 "(e.g. ~/miniconda3/envs/circus/bin/python).")
        versions = probe_versions(path, environment_spec(name))
        if "error" in versions:
            raise SorterEnvError(f"{path} cannot run {name}: {versions['error']}. Install the sorter "
                                 "into that environment, or use `wavescope sorters install " + name + "`.")
        users[name] = str(path)
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(settings_path(), json.dumps(settings, indent=1) + "\n")
    return versions


# -- state ------------------------------------------------------------------------------------------
def probe_versions(python: Path, spec: EnvironmentSpec | None, timeout: float = 120) -> dict[str, str]:
    """{"python": ..., "sorter": ...} as `python` reports them, or {"error": why}."""
    code = "import sys; print('.'.join(map(str, sys.version_info[:3])))"
    if spec and spec.check:
        code += "\n" + spec.check
    try:
        done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env=_clean_env(), check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return {"error": str(error)}
    lines = done.stdout.split()
    if done.returncode or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": tail}
    versions = {"python": lines[0]}
    if len(lines) > 1:
        versions["sorter"] = lines[-1]
    return versions


def environment(name: str, probe: bool = True) -> SorterEnv:
    """Sorter `name`'s environment: the user's interpreter when one is recorded, else the managed venv."""
    spec = environment_spec(name)
    given = user_python(name)
    if given is not None:
        prefix = given.parent.parent
        versions = probe_versions(given, spec) if probe else {}
        if "error" in versions:
            return SorterEnv(name, BROKEN, given, prefix, reason=versions["error"])
        return SorterEnv(name, USER, given, prefix, versions)
    prefix = sorters_dir() / venv_name(name, spec)
    python = venv_python(prefix)
    if not python.exists():
        why = "no tested requirement set: point to an interpreter with `wavescope sorters use`" \
            if spec is None or spec.requirements is None else f"run `wavescope sorters install {name}`"
        return SorterEnv(name, NOT_INSTALLED, None, None, reason=why)
    versions = probe_versions(python, spec) if probe else _recorded_versions(prefix)
    if "error" in versions:
        return SorterEnv(name, BROKEN, python, prefix, reason=versions["error"])
    return SorterEnv(name, INSTALLED, python, prefix, versions)


def _recorded_versions(prefix: Path) -> dict[str, str]:
    try:
        return json.loads((prefix / "wavescope-env.json").read_text(encoding="utf-8")).get("versions", {})
    except (OSError, ValueError):
        return {}


def _clean_env() -> dict[str, str]:
    """The child's environment without this app's Python settings leaking into the sorter's."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


# -- install ----------------------------------------------------------------------------------------
def base_python(spec: EnvironmentSpec) -> str:
    """An interpreter of the tested version to create the venv with: this one, or pythonX.Y on PATH."""
    if not spec.python or "%d.%d" % sys.version_info[:2] == spec.python:
        return sys.executable
    found = shutil.which(f"python{spec.python}")
    if found:
        return found
    raise SorterEnvError(f"the tested set needs Python {spec.python}, and python{spec.python} is not on PATH; "
                         f"install Python {spec.python}, or point to an interpreter that has the sorter "
                         "with `wavescope sorters use NAME --python PATH`.")


def install_steps(spec: EnvironmentSpec, python: Path) -> list[list[str]]:
    """The pip commands that fill a new venv: the pinned set, then the sorter itself."""
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    steps = []
    if spec.requirements:
        steps.append(pip + ["-r", str(spec.requirements_path())])
    if spec.packages:
        steps.append(pip + spec.pip_options + spec.packages)
    return steps


def install(name: str, on_line: Callable[[str], None] = print, force: bool = False) -> SorterEnv:
    """Build sorter `name`'s managed venv; pip's output goes to `on_line` as it comes.

    Built in `NAME.building-PID` beside its place and renamed when complete; an error or a
    Ctrl-C removes the temporary folder (the previous environment, if any, stays as it was)."""
    spec = environment_spec(name)
    if spec is None or not spec.requirements:
        raise SorterEnvError(f"{name} has no tested requirement set to build an environment from; point "
                             f"to an interpreter that has it: wavescope sorters use {name} --python PATH")
    target = sorters_dir() / venv_name(name, spec)
    if venv_python(target).exists() and not force:
        current = environment(name)
        if current.state == INSTALLED:
            return current
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.with_name(f"{target.name}{BUILDING_SUFFIX}{os.getpid()}")
    started = time.perf_counter()
    try:
        _build(spec, building, on_line)
        versions = probe_versions(venv_python(building), spec)
        if "error" in versions:
            raise SorterEnvError(f"the new environment cannot run {name}: {versions['error']}")
        if spec.version and versions.get("sorter") != spec.version:
            raise SorterEnvError(f"the new environment has {name} {versions.get('sorter')}, "
                                 f"not the tested {spec.version}")
        stamp = {"versions": versions, "built": time.time(), "seconds": round(time.perf_counter() - started, 1)}
        atomic.write_text(building / "wavescope-env.json", json.dumps(stamp, indent=1) + "\n")
        _replace(building, target)
    except KeyboardInterrupt:
        atomic.remove(building)
        raise InstallCancelled(f"install of {name} cancelled; nothing was left behind") from None
    except BaseException:
        atomic.remove(building)
        raise
    return environment(name)


def _build(spec: EnvironmentSpec, folder: Path, on_line: Callable[[str], None]) -> None:
    prompt = folder.name.split(BUILDING_SUFFIX)[0]          # `activate` shows the sorter, not the temporary name
    _run_streamed([base_python(spec), "-m", "venv", "--prompt", prompt, str(folder)], on_line)
    for step in install_steps(spec, venv_python(folder)):
        _run_streamed(step, on_line)


def _relocate(folder: Path, target: Path) -> None:
    """Point the scripts of `bin/` (pip's `#!` lines, `activate`) and pyvenv.cfg at the final place:
    they name the temporary folder. The interpreter finds its venv from pyvenv.cfg wherever it is."""
    scripts = folder / ("Scripts" if os.name == "nt" else "bin")
    old, new = str(folder).encode(), str(target).encode()
    for path in [*scripts.iterdir(), folder / "pyvenv.cfg"]:
        if path.is_symlink() or not path.is_file():
            continue
        content = path.read_bytes()
        if b"\0" in content[:8192]:              # a program (mpich's), not a script
            continue
        if old in content:
            path.write_bytes(content.replace(old, new))


def _replace(building: Path, target: Path) -> None:
    """The complete venv takes `target`'s place; a previous one is removed only after that."""
    _relocate(building, target)
    previous = target.with_name(f"{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, previous)
    try:
        atomic.publish(building, target)
    except BaseException:
        if previous.exists():
            os.replace(previous, target)
        raise
    atomic.remove(previous)


def _run_streamed(command: list[str], on_line: Callable[[str], None]) -> None:
    on_line("$ " + " ".join(command))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               stdin=subprocess.DEVNULL, env=_clean_env(), bufsize=1)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            on_line(line.rstrip("\n"))
        code = process.wait()
    except BaseException:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        raise
    if code:
        raise SorterEnvError(f"`{' '.join(command[1:5])} ...` failed with status {code} (see pip's output "
                             "above; no network to PyPI?); nothing was installed.")
