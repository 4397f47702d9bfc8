"""Which formats exist: the built-ins, entry points, and the user's plugin folder.

A format is a DataFile subclass; its `description` is its name in params files.
Plugins come from the entry-point group ``wavescope.formats`` and from ``.py``
files in the plugin folders (``WAVESCOPE_FORMATS_PATH``, ``os.pathsep``-separated,
else ``<user config dir>/formats``).

Built-in formats are trusted; plugins are not, and no plugin can take the app down:

- each plugin module is first imported in a short-lived child process with a time limit
  (``WAVESCOPE_PLUGIN_TIMEOUT`` seconds, default 10); one that hangs, raises ``SystemExit`` or
  ends the process there is never imported here. The verdict is cached in the user cache
  folder by file size and modification time, so the check costs once per plugin version.
- the in-process import catches every exception, ``SystemExit`` included;
- each class is validated (types of its attributes) before it is listed;
- a plugin named like a built-in is refused unless the user names it in
  ``WAVESCOPE_REPLACE_FORMATS`` (comma-separated); a second plugin with a taken name is refused;
- a plugin's ``sniff`` runs in a thread with a time budget (`SNIFF_SECONDS`); one that hangs,
  exits or returns nonsense is reported and not asked again in this process.

Rejections are in `plugin_errors` (``wavescope formats`` and ``wavescope doctor`` print them);
replacements the user allowed are in `plugin_notices`.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import logging
import math
import os
import pkgutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from app.io import atomic
from app.io.datafile import DataFile

ENTRY_POINT_GROUP = "wavescope.formats"
REPLACE_ENV = "WAVESCOPE_REPLACE_FORMATS"
TIMEOUT_ENV = "WAVESCOPE_PLUGIN_TIMEOUT"
IMPORT_SECONDS = 10.0       # default time a plugin module may take to import in the child
SNIFF_SECONDS = 3.0         # time a plugin's sniff may take on one file
FIELD_TYPES = ("int", "float", "bool", "string")

# Built-ins come first in listings, in this order; any other module in app/io/formats follows.
PREFERRED_ORDER = ["raw_binary", "mcs_raw_binary", "numpy_file", "hdf5", "kwd"]

plugin_errors: list[str] = []       # one line per rejected plugin (or plugin class), with the reason
plugin_notices: list[str] = []      # plugins that replace a built-in because the user allowed it
_cache: dict[str, type[DataFile]] | None = None
_disabled_sniffers: set[type] = set()
logger = logging.getLogger("wavescope")


class PluginRejected(Exception):
    """A plugin module or class that is not loaded; the message says why."""


def plugin_folders() -> list[Path]:
    env = os.environ.get("WAVESCOPE_FORMATS_PATH")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    import platformdirs
    return [Path(platformdirs.user_config_dir("wavescope")) / "formats"]


def _classes_in(module) -> list[type[DataFile]]:
    return [obj for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, DataFile) and obj is not DataFile
            and obj.__module__ == module.__name__ and obj.description != "base"]


def _report(message: str) -> None:
    plugin_errors.append(message)
    logger.warning(message)       # stderr on the command line (logging's last resort), the log panel in the GUI


# -- built-ins ------------------------------------------------------------------------------------

def _builtin_modules() -> list[str]:
    import app.io.formats as package
    names = [info.name for info in pkgutil.iter_modules(package.__path__) if not info.name.startswith("_")]
    rank = {name: i for i, name in enumerate(PREFERRED_ORDER)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def _load_builtins(found: dict) -> None:
    for module_name in _builtin_modules():
        try:
            module = importlib.import_module(f"app.io.formats.{module_name}")
        except Exception as error:  # noqa: BLE001 - one broken module must not hide every format
            _report(f"built-in format {module_name} is unavailable: {type(error).__name__}: {error}")
            continue
        for klass in _classes_in(module):
            found[klass.description] = klass


# -- class validation -----------------------------------------------------------------------------

def _is_name(value: Any) -> bool:
    return isinstance(value, str) and value != "" and value != "base" and not any(c.isspace() for c in value)


def _is_field_table(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and v in FIELD_TYPES for k, v in value.items())


def _is_str_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value)


# attribute -> (test, what it must be)
_ATTRIBUTE_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "description": (_is_name, "a non-empty name without spaces (the file_format in params files), "
                              "e.g. 'toy_int16'"),
    "title": (lambda v: isinstance(v, str), "a string (may be empty)"),
    "extension": (lambda v: _is_str_list(v) and all(e.startswith(".") for e in v),
                  "a list of extensions with the dot, e.g. ['.toy'], or []"),
    "is_writable": (lambda v: isinstance(v, bool), "True or False"),
    "parallel_write": (lambda v: isinstance(v, bool), "True or False"),
    "is_streamable": (lambda v: _is_str_list(v) and len(v) > 0, "a non-empty list of stream modes, "
                                                                "e.g. ['multi-files']"),
    "_required_fields": (_is_field_table, f"a dict {{field: type}} with types among {', '.join(FIELD_TYPES)}"),
    "_field_types": (_is_field_table, f"a dict {{field: type}} with types among {', '.join(FIELD_TYPES)}"),
    "_default_values": (lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v),
                        "a dict {field: value} with string keys"),
    "sniff": (lambda v: v is None or callable(v), "a classmethod sniff(path) -> (score, reason) or None"),
}


def class_problem(klass: type) -> str | None:
    """Why `klass` cannot be a format ("attribute X is ...; it must be ..."), or None when it can."""
    for name, (test, must_be) in _ATTRIBUTE_RULES.items():
        try:
            value = getattr(klass, name, None)
            good = test(value)
        except Exception as error:  # noqa: BLE001 - a hostile class may raise from a descriptor
            return f"reading attribute {name} raised {type(error).__name__}: {error}"
        if not good:
            shown = repr(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            return f"attribute {name} is {shown}; it must be {must_be}"
    return None


# -- importing plugins in a child first -----------------------------------------------------------

# Runs in the child: import one plugin, then say how that went on stdout. Ordinary exceptions are
# left to the in-process import (which catches them and reports the real message); the child only
# screens for what cannot be caught here: a hang, SystemExit, or the process ending.
_CHILD = r"""
import os, sys
kind, target, extra = sys.argv[1:4]
try:
    if kind == "file":
        import importlib.util
        spec = importlib.util.spec_from_file_location(extra, target)
        module = importlib.util.module_from_spec(spec)
        sys.modules[extra] = module
        spec.loader.exec_module(module)
    else:
        from importlib.metadata import entry_points
        for entry in entry_points(group=kind):
            if entry.name == target and entry.value == extra:
                entry.load()
except SystemExit as error:
    sys.stdout.write("\nWAVESCOPE-PLUGIN-CHECK exit %r\n" % (error.code,))
    sys.stdout.flush()
    os._exit(0)
except BaseException:
    pass
sys.stdout.write("\nWAVESCOPE-PLUGIN-CHECK done\n")
sys.stdout.flush()
os._exit(0)
"""
_MARK = "WAVESCOPE-PLUGIN-CHECK "


def _import_seconds() -> float:
    try:
        seconds = float(os.environ.get(TIMEOUT_ENV, IMPORT_SECONDS))
    except ValueError:
        return IMPORT_SECONDS
    return seconds if math.isfinite(seconds) and seconds > 0 else IMPORT_SECONDS


def _run_import_check(argv: list[str]) -> str:
    """'ok', or why importing in this process would be unsafe (from a child that did the import)."""
    seconds = _import_seconds()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    process = subprocess.Popen([sys.executable, "-c", _CHILD, *argv], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                               start_new_session=hasattr(os, "killpg"))
    try:
        out, _ = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        _kill(process)
        return (f"importing it did not finish within {seconds:g} s (does it loop or wait at import?); "
                f"fix it, or raise {TIMEOUT_ENV}")
    marks = [line[len(_MARK):] for line in out.decode("utf-8", "replace").splitlines() if line.startswith(_MARK)]
    if not marks:
        return f"importing it ended the Python process (exit status {process.returncode}); a plugin must not exit"
    if marks[-1].startswith("exit"):
        return f"importing it raises SystemExit({marks[-1][5:]}); a plugin must not exit"
    return "ok"


def _kill(process: subprocess.Popen) -> None:
    """Ends the child and anything it started (its own session), then reaps it."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except OSError:
        pass
    process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _verdict_file() -> Path:
    import platformdirs
    return Path(platformdirs.user_cache_dir("wavescope")) / "plugin-import-checks.json"


def _read_verdicts() -> dict:
    try:
        verdicts = json.loads(_verdict_file().read_text())
    except (OSError, ValueError):
        return {}
    return verdicts if isinstance(verdicts, dict) else {}


def _save_verdict(key: str, stamp: list, verdict: str) -> None:
    verdicts = _read_verdicts()
    verdicts[key] = {"stamp": stamp, "verdict": verdict}
    path = _verdict_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(path, json.dumps(verdicts))
    except OSError:
        pass        # no cache: the check runs again next time


def _import_verdict(key: str, stamp: list, argv: list[str]) -> str:
    """The child's verdict for this plugin version, from the cache when it is known."""
    known = _read_verdicts().get(key)
    if isinstance(known, dict) and known.get("stamp") == stamp and isinstance(known.get("verdict"), str):
        return known["verdict"]
    verdict = _run_import_check(argv)
    _save_verdict(key, stamp, verdict)
    return verdict


def _import_in_process(load: Callable[[], Any]) -> Any:
    try:
        return load()
    except SystemExit as error:
        raise PluginRejected(f"importing it raises SystemExit({error.code!r}); a plugin must not exit") from None
    except Exception as error:  # noqa: BLE001 - a plugin may fail in any way
        raise PluginRejected(f"{type(error).__name__}: {error}") from None


def _load_file(path: Path) -> list[type]:
    name = f"wavescope_plugin_{path.stem}"
    try:
        stat = path.stat()
    except OSError as error:
        raise PluginRejected(f"cannot be read ({error.strerror})") from None
    verdict = _import_verdict(f"file:{path.resolve()}", [stat.st_mtime_ns, stat.st_size],
                              ["file", str(path), name])
    if verdict != "ok":
        raise PluginRejected(verdict)

    def load():
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    classes = _classes_in(_import_in_process(load))
    if not classes:
        raise PluginRejected("it defines no DataFile subclass with a description")
    return classes


def _load_entry(entry: EntryPoint) -> list[type]:
    dist = getattr(entry, "dist", None)
    version = f"{dist.name}-{dist.version}" if dist is not None else "?"
    module_file = _module_file(entry.module)
    stamp = [0, 0] if module_file is None else [module_file.stat().st_mtime_ns, module_file.stat().st_size]
    verdict = _import_verdict(f"entry:{version}:{entry.name}={entry.value}", stamp,
                              [ENTRY_POINT_GROUP, entry.name, entry.value])
    if verdict != "ok":
        raise PluginRejected(verdict)
    klass = _import_in_process(entry.load)
    if not (inspect.isclass(klass) and issubclass(klass, DataFile)):
        raise PluginRejected("it is not a DataFile subclass")
    return [klass]


def _module_file(module_name: str) -> Path | None:
    """The file of a top-level module, found without importing it."""
    try:
        spec = importlib.util.find_spec(module_name.split(".")[0])
    except (ImportError, ValueError):
        return None
    origin = getattr(spec, "origin", None)
    return Path(origin) if origin and os.path.isfile(origin) else None


def _plugin_sources() -> list[tuple[str, Callable[[], list[type]]]]:
    """(how the plugin is named in reports, a loader) for every entry point and plugin file."""
    sources: list[tuple[str, Callable[[], list[type]]]] = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        sources.append((f"{entry.name} ({entry.value})", lambda entry=entry: _load_entry(entry)))
    for folder in plugin_folders():
        if folder.is_dir():
            sources += [(str(path), lambda path=path: _load_file(path)) for path in sorted(folder.glob("*.py"))]
    return sources


# -- admitting classes ----------------------------------------------------------------------------

def _replace_allowed() -> set[str]:
    return {name.strip() for name in os.environ.get(REPLACE_ENV, "").split(",") if name.strip()}


def _admit(klass: type, source: str, found: dict, builtins: set[str]) -> None:
    where = f"format plugin {source}: class {klass.__module__}.{klass.__qualname__}"
    problem = class_problem(klass)
    if problem:
        _report(f"{where} skipped: {problem}")
        return
    name = klass.description
    if name in builtins:
        if name not in _replace_allowed():
            _report(f"{where} skipped: it is named {name!r} like a built-in format; rename its description, "
                    f"or set {REPLACE_ENV}={name} to let it replace the built-in")
            return
        notice = f"{where} replaces the built-in format {name!r} ({REPLACE_ENV} allows it)"
        plugin_notices.append(notice)
        logger.info(notice)
    elif name in found:
        _report(f"{where} skipped: the format name {name!r} is taken by {found[name].__module__}; "
                "rename its description")
        return
    _guard_sniff(klass, source)
    found[name] = klass


# -- sniffing with a time budget ------------------------------------------------------------------

def _guard_sniff(klass: type, source: str) -> None:
    """Replace the plugin's sniff by one that runs it in a thread with a time budget."""
    if klass.__dict__.get("sniff", False) is None:     # "no sniff": the base's, by extension
        klass.sniff = DataFile.__dict__["sniff"]
    if not klass.sniffs_content() or getattr(klass.sniff, "_wavescope_guarded", False):
        return
    sniff = klass.sniff

    def guarded(cls, path: str) -> tuple[float, str] | None:
        return run_plugin_sniff(klass, sniff, path, source)

    guarded._wavescope_guarded = True       # type: ignore[attr-defined]
    klass.sniff = classmethod(guarded)


def run_plugin_sniff(klass: type, sniff: Callable[[str], Any], path: str,
                     source: str = "") -> tuple[float, str] | None:
    """`sniff(path)` with a time budget, every exception caught and the result checked.

    An exception means "not mine" (as for built-ins); a hang, an exit or a result that is not
    ``(score, reason)`` is reported once and that plugin's sniff is not called again in this process.
    """
    if klass in _disabled_sniffers:
        return None
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = sniff(path)
        except BaseException as error:  # noqa: BLE001 - SystemExit from a plugin must not end the app
            box["error"] = error

    thread = threading.Thread(target=work, name=f"sniff {klass.__name__}", daemon=True)
    thread.start()
    thread.join(SNIFF_SECONDS)
    where = f"format plugin {source or klass.__module__}: {klass.__name__}.sniff"
    if thread.is_alive():
        return _disable(klass, f"{where} did not return within {SNIFF_SECONDS:g} s on {path}; "
                               "it is not asked again in this session")
    error = box.get("error")
    if isinstance(error, Exception):
        return None
    if error is not None:
        return _disable(klass, f"{where} raised {type(error).__name__} ({error}) on {path}; a sniffer must "
                               "return (score, reason) or None; it is not asked again in this session")
    return _checked_result(klass, box.get("result"), where, path)


def _checked_result(klass: type, result: Any, where: str, path: str) -> tuple[float, str] | None:
    if not result:
        return None
    try:
        score, reason = result
        score = float(score)
        if not math.isfinite(score):
            raise ValueError(score)
    except (TypeError, ValueError):
        shown = repr(result)[:60]
        return _disable(klass, f"{where} returned {shown} on {path}; it must return (score, reason) with a "
                               "score in [0, 1], or None; it is not asked again in this session")
    return min(1.0, max(0.0, score)), str(reason)


def _disable(klass: type, message: str) -> None:
    _disabled_sniffers.add(klass)
    _report(message)
    return None


# -- the registry ---------------------------------------------------------------------------------

def supported_formats(reload: bool = False) -> dict[str, type[DataFile]]:
    """{name: class} of every format: built-ins first, then the plugins that passed every check."""
    global _cache
    if _cache is None or reload:
        plugin_errors.clear()
        plugin_notices.clear()
        found: dict[str, type[DataFile]] = {}
        _load_builtins(found)
        builtins = set(found)
        for source, load in _plugin_sources():
            try:
                classes = load()
            except PluginRejected as error:
                _report(f"format plugin {source} skipped: {error}")
                continue
            for klass in classes:
                _admit(klass, source, found, builtins)
        _cache = found
    return dict(_cache)


def get_format(name: str) -> type[DataFile]:
    from app.io.errors import FormatNotFoundError
    formats = supported_formats()
    if name not in formats:
        raise FormatNotFoundError(f"no format named {name!r}; known formats: {', '.join(sorted(formats))}.")
    return formats[name]
