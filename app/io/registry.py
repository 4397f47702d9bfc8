"""Which formats exist: the built-ins, entry points, and the user's plugin folder.

A format is a DataFile subclass; its `description` is its name in params files.
Plugins come from the entry-point group ``wavescope.formats`` and from ``.py``
files in the plugin folders (``WAVESCOPE_FORMATS_PATH``, ``os.pathsep``-separated,
else ``<user config dir>/formats``). A broken plugin is reported and skipped.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import pkgutil
from importlib.metadata import entry_points
from pathlib import Path

from app.io.datafile import DataFile
from app.io.messages import print_and_log

ENTRY_POINT_GROUP = "wavescope.formats"

# Built-ins come first in listings, in this order; any other module in app/io/formats follows.
PREFERRED_ORDER = ["raw_binary", "mcs_raw_binary", "numpy_file", "hdf5", "kwd"]

plugin_errors: list[str] = []
_cache: dict[str, type[DataFile]] | None = None


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
    print_and_log([message], "warning")


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


def _load_entry_points(found: dict) -> None:
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            klass = entry.load()
            if not (inspect.isclass(klass) and issubclass(klass, DataFile)):
                raise TypeError("it is not a DataFile subclass")
        except Exception as error:  # noqa: BLE001 - a plugin may fail in any way
            _report(f"format plugin {entry.name} ({entry.value}) skipped: {error}")
            continue
        found[klass.description] = klass


def _load_folder(folder: Path, found: dict) -> None:
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.py")):
        name = f"wavescope_plugin_{path.stem}"
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            classes = _classes_in(module)
            if not classes:
                raise TypeError("it defines no DataFile subclass with a description")
        except Exception as error:  # noqa: BLE001 - a plugin may fail in any way
            _report(f"format plugin {path} skipped: {type(error).__name__}: {error}")
            continue
        for klass in classes:
            found[klass.description] = klass


def supported_formats(reload: bool = False) -> dict[str, type[DataFile]]:
    """{name: class} of every format: built-ins first, plugins may add or replace."""
    global _cache
    if _cache is None or reload:
        plugin_errors.clear()
        found: dict[str, type[DataFile]] = {}
        _load_builtins(found)
        _load_entry_points(found)
        for folder in plugin_folders():
            _load_folder(folder, found)
        _cache = found
    return dict(_cache)


def get_format(name: str) -> type[DataFile]:
    from app.io.errors import FormatNotFoundError
    formats = supported_formats()
    if name not in formats:
        raise FormatNotFoundError(f"no format named {name!r}; known formats: {', '.join(sorted(formats))}.")
    return formats[name]
