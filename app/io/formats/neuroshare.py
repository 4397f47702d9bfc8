"""neuroshare: recordings read through a vendor's Neuroshare library (ctypes).

Neuroshare is a C API that acquisition vendors implement in a shared library
(Multi Channel Systems' nsMCDLibrary for MC_Rack `.mcd`, Plexon's nsPlxLibrary,
...). The library does the parsing; this module loads it, opens the file with
``ns_OpenFile`` and exposes the analog entities of one sample rate as the
recording, one entity per channel.

Samples: ``ns_GetAnalogData`` hands back float64 values already in the entity's
unit (``szUnits``), so ``data_dtype`` is float64 and the gain only converts that
unit to µV (V -> 1e6, mV -> 1e3, µV -> 1; other units are kept as they are).
``dResolution`` is the ADC step, not a scale to undo: dividing by it would invent
integer counts the library never gave us (and vendor libraries may add offsets),
so it is reported, not applied.

Struct packing: the reference header ``nsAPItypes.h`` sets ``#pragma pack(4)``
under MSVC only; GCC builds (the Linux/macOS libraries) get the platform's natural
alignment. The two differ on 64-bit platforms (``ns_FILEINFO`` is 404 bytes packed,
408 natural). 1-byte packing gives the same offsets as 4 for these structs (every
member is 4-byte sized and placed). ``neuroshare_packing`` picks the layout: ``auto``
(default: 4 on Windows, natural elsewhere, which is what each vendor header gives
on that platform), ``4`` (also right for 1-byte builds) or ``natural``.

Where the library comes from: the ``neuroshare_library`` param (a path), else the
environment variable ``WAVESCOPE_NEUROSHARE_LIBRARY``. The `mcd` and
`plexon_neuroshare` formats also look at their own variable and a few usual folders
(``search_folders``), e.g.::

    wavescope info rec.mcd --set neuroshare_library=/opt/mcs/nsMCDLibrary64.so
    WAVESCOPE_NEUROSHARE_MCD=$HOME/mcs/nsMCDLibrary64.so wavescope rec.mcd
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from app.io.datafile import DataFile
from app.io.errors import DataFileError, HeaderError, MissingFieldsError
from app.io.messages import print_and_log
from app.io.units import microvolts_per

NS_RESULTS = {0: "ns_OK", -1: "ns_LIBERROR", -2: "ns_TYPEERROR", -3: "ns_FILEERROR",
              -4: "ns_BADFILE", -5: "ns_BADENTITY", -6: "ns_BADSOURCE", -7: "ns_BADINDEX"}
NS_MEANINGS = {-1: "library error", -2: "the library cannot read this type of file",
               -3: "file access or read error", -4: "bad file handle or damaged file",
               -5: "bad entity", -6: "bad source", -7: "bad index or index range"}
ENTITY_TYPES = {0: "unknown", 1: "event", 2: "analog", 3: "segment", 4: "neural"}
ENTITY_ANALOG = 2

PACKINGS = ("auto", "4", "1", "natural")
REQUIRED_FUNCTIONS = ("ns_OpenFile", "ns_GetFileInfo", "ns_GetEntityInfo", "ns_GetAnalogInfo",
                      "ns_GetAnalogData", "ns_CloseFile")


# -- the API's structs ----------------------------------------------------------------------------

def _char(n: int):
    return ctypes.c_char * n


_FIELDS = {
    "FILEDESC": [("szDescription", _char(32)), ("szExtension", _char(8)), ("szMacCodes", _char(8)),
                 ("szMagicCode", _char(16))],
    "FILEINFO": [("szFileType", _char(32)), ("dwEntityCount", ctypes.c_uint32),
                 ("dTimeStampResolution", ctypes.c_double), ("dTimeSpan", ctypes.c_double),
                 ("szAppName", _char(64))]
                + [(name, ctypes.c_uint32) for name in (
                    "dwTime_Year", "dwTime_Month", "dwTime_DayofWeek", "dwTime_Day", "dwTime_Hour",
                    "dwTime_Min", "dwTime_Sec", "dwTime_MilliSec")]
                + [("szFileComment", _char(256))],
    "ENTITYINFO": [("szEntityLabel", _char(32)), ("dwEntityType", ctypes.c_uint32),
                   ("dwItemCount", ctypes.c_uint32)],
    "ANALOGINFO": [("dSampleRate", ctypes.c_double), ("dMinVal", ctypes.c_double),
                   ("dMaxVal", ctypes.c_double), ("szUnits", _char(16))]
                  + [(name, ctypes.c_double) for name in (
                      "dResolution", "dLocationX", "dLocationY", "dLocationZ", "dLocationUser",
                      "dHighFreqCorner")]
                  + [("dwHighFreqOrder", ctypes.c_uint32), ("szHighFilterType", _char(16)),
                     ("dLowFreqCorner", ctypes.c_double), ("dwLowFreqOrder", ctypes.c_uint32),
                     ("szLowFilterType", _char(16)), ("szProbeInfo", _char(128))],
}


@functools.cache
def struct_types(pack: int | None) -> dict[str, type[ctypes.Structure]]:
    """The API's structs with `pack`-byte packing (None: the platform's natural alignment)."""
    def make(name: str, fields: list) -> type[ctypes.Structure]:
        namespace = {"_fields_": fields}
        if pack is not None:
            namespace["_pack_"] = pack
        return type(f"ns_{name}_{pack or 'natural'}", (ctypes.Structure,), namespace)

    types = {name: make(name, fields) for name, fields in _FIELDS.items()}
    library_fields = [(name, ctypes.c_uint32) for name in (
        "dwLibVersionMaj", "dwLibVersionMin", "dwAPIVersionMaj", "dwAPIVersionMin")]
    library_fields += [("szDescription", _char(64)), ("szCreator", _char(64))]
    library_fields += [(name, ctypes.c_uint32) for name in (
        "dwTime_Year", "dwTime_Month", "dwTime_Day", "dwFlags", "dwMaxFiles", "dwFileDescCount")]
    library_fields += [("FileDesc", types["FILEDESC"] * 16)]
    types["LIBRARYINFO"] = make("LIBRARYINFO", library_fields)
    return types


def resolve_packing(value: str, file_name: str = "") -> int | None:
    """`neuroshare_packing` -> the ctypes `_pack_` value (None for natural alignment)."""
    text = str(value).strip().lower()
    if text == "auto":
        return 4 if os.name == "nt" else None
    if text in ("4", "1"):
        return int(text)
    if text in ("natural", "8", "default"):
        return None
    raise HeaderError(f"{file_name}: neuroshare_packing {value!r} is not one of {', '.join(PACKINGS)}; "
                      "use 4 for libraries built by MSVC (Windows) or with 1-byte packing, natural for "
                      "GCC/Clang builds.", file_name or None)


def text(raw: bytes) -> str:
    """A fixed-size C string field: up to the first NUL, UTF-8 when valid, else Latin-1."""
    raw = bytes(raw).split(b"\0", 1)[0]
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return raw.decode("latin-1").strip()


unit_to_microvolt = microvolts_per    # the name plugins written against this module import


# -- the library ----------------------------------------------------------------------------------

@functools.cache
def _load(path: str) -> tuple[ctypes.CDLL, threading.Lock]:
    """Load a library once per process; its lock serialises calls (vendor libraries rarely
    say they are thread-safe, and the trace view reads from a prefetch thread)."""
    loader = ctypes.WinDLL if os.name == "nt" else ctypes.CDLL     # __stdcall on 32-bit Windows
    return loader(path), threading.Lock()


class NeuroshareLibrary:
    """A vendor library's entry points, typed, with every ns_RESULT checked.

    Errors raise `error_type` (HeaderError while reading the header, DataFileError
    while reading samples) naming the file, the function, the ns_RESULT and the
    library's own ``ns_GetLastErrorMsg`` text when it has one.
    """

    def __init__(self, path: str, pack: int | None, file_name: str):
        self.path = path
        self.pack = pack
        self.file_name = file_name
        try:
            self.dll, self.lock = _load(path)
        except OSError as error:
            bits = 8 * ctypes.sizeof(ctypes.c_void_p)
            raise HeaderError(
                f"{file_name}: cannot load the Neuroshare library {path}: {error}. Use the build of the "
                f"library for this platform ({sys.platform}, {bits}-bit Python): a 32-bit library does "
                "not load into a 64-bit Python, nor a Windows .dll on Linux.", file_name) from None
        missing = [name for name in REQUIRED_FUNCTIONS if not hasattr(self.dll, name)]
        if missing:
            raise HeaderError(f"{file_name}: {path} is not a Neuroshare library: it lacks "
                              f"{', '.join(missing)}; point neuroshare_library at the vendor's "
                              "Neuroshare library.", file_name)
        self.structs = struct_types(pack)
        self._declare()

    def _declare(self) -> None:
        u32, pointer = ctypes.c_uint32, ctypes.POINTER
        signatures = {
            "ns_OpenFile": [ctypes.c_char_p, pointer(u32)],
            "ns_CloseFile": [u32],
            "ns_GetFileInfo": [u32, pointer(self.structs["FILEINFO"]), u32],
            "ns_GetEntityInfo": [u32, u32, pointer(self.structs["ENTITYINFO"]), u32],
            "ns_GetAnalogInfo": [u32, u32, pointer(self.structs["ANALOGINFO"]), u32],
            "ns_GetAnalogData": [u32, u32, u32, u32, pointer(u32), pointer(ctypes.c_double)],
            "ns_GetTimeByIndex": [u32, u32, u32, pointer(ctypes.c_double)],
            "ns_GetLastErrorMsg": [ctypes.c_char_p, u32],
            "ns_GetLibraryInfo": [pointer(self.structs["LIBRARYINFO"]), u32],
        }
        self.functions = {}
        for name, argtypes in signatures.items():
            try:
                function = self.dll[name]     # indexing gives a fresh object: argtypes differ by packing
            except AttributeError:
                continue
            function.argtypes, function.restype = argtypes, ctypes.c_int32
            self.functions[name] = function

    def has(self, name: str) -> bool:
        return name in self.functions

    def last_error(self) -> str:
        function = self.functions.get("ns_GetLastErrorMsg")
        if function is None:
            return ""
        buffer = ctypes.create_string_buffer(512)
        if function(buffer, ctypes.sizeof(buffer)) != 0:
            return ""
        return text(buffer.raw)

    def call(self, name: str, *args, error_type: type[DataFileError] = HeaderError, hint: str = "") -> None:
        with self.lock:
            result = self.functions[name](*args)
            message = self.last_error() if result != 0 else ""
        if result == 0:
            return
        code = NS_RESULTS.get(result, f"ns_RESULT {result}")
        meaning = NS_MEANINGS.get(result, "unknown error code")
        said = f"; the library says: {message}" if message else ""
        raise error_type(f"{self.file_name}: {name} failed with {code} ({meaning}){said}. "
                         f"Library: {self.path}." + (f" {hint}" if hint else ""), self.file_name)

    def _info(self, name: str, struct_name: str, *head) -> ctypes.Structure:
        info = self.structs[struct_name]()
        hint = ("If the library rejects the struct size, set neuroshare_packing to "
                f"{'natural' if self.pack else '4'} (now {self.pack or 'natural'}).")
        self.call(name, *head, ctypes.byref(info), ctypes.sizeof(info), hint=hint)
        return info

    def open_file(self, path: str) -> int:
        handle = ctypes.c_uint32()
        encoded = os.fsencode(path) if os.name != "nt" else path.encode("mbcs", "replace")
        self.call("ns_OpenFile", encoded, ctypes.byref(handle),
                  hint="Check that this library is the one for this file's format.")
        return handle.value

    def close_file(self, handle: int) -> None:
        with self.lock:
            self.functions["ns_CloseFile"](handle)

    def file_info(self, handle: int) -> ctypes.Structure:
        return self._info("ns_GetFileInfo", "FILEINFO", handle)

    def entity_info(self, handle: int, entity: int) -> ctypes.Structure:
        return self._info("ns_GetEntityInfo", "ENTITYINFO", handle, entity)

    def analog_info(self, handle: int, entity: int) -> ctypes.Structure:
        return self._info("ns_GetAnalogInfo", "ANALOGINFO", handle, entity)

    def library_info(self) -> ctypes.Structure | None:
        return self._info("ns_GetLibraryInfo", "LIBRARYINFO") if self.has("ns_GetLibraryInfo") else None

    def analog_data(self, handle: int, entity: int, start: int, out: np.ndarray) -> int:
        """Fill the contiguous float64 `out` with samples [start, start+len(out)) of `entity`;
        returns the library's count of continuous samples (less than len(out) after a gap)."""
        continuous = ctypes.c_uint32()
        self.call("ns_GetAnalogData", handle, entity, start, len(out), ctypes.byref(continuous),
                  out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), error_type=DataFileError)
        return continuous.value

    def time_of_index(self, handle: int, entity: int, index: int) -> float | None:
        """Seconds of item `index` on the file's clock, None when the library cannot say."""
        if not self.has("ns_GetTimeByIndex"):
            return None
        seconds = ctypes.c_double()
        try:
            self.call("ns_GetTimeByIndex", handle, entity, index, ctypes.byref(seconds))
        except HeaderError:
            return None
        return seconds.value


# -- the format -----------------------------------------------------------------------------------

class AnalogEntity(NamedTuple):
    entity_id: int
    label: str
    sampling_rate: float
    item_count: int
    units: str
    resolution: float
    to_microvolt: float


class MissingLibraryError(MissingFieldsError):
    """No Neuroshare library was named: the wizard asks for `neuroshare_library`."""

    def __init__(self, file_name: str, file_format: str, env_name: str, searched: Sequence[str]):
        super().__init__(file_name, {"neuroshare_library": "string"}, file_format)
        where = f" (looked in {', '.join(searched)})" if searched else ""
        message = (f"{self.args[0]} neuroshare_library is the path of the vendor's Neuroshare "
                   f"library (.dll, .so or .dylib) that reads this file; you may also set the "
                   f"environment variable {env_name} to it{where}.")
        self.args = (message,)


class NeuroshareFile(DataFile):
    """Analog entities of one sample rate, read through a vendor Neuroshare library."""

    description = "neuroshare"
    title = "Neuroshare vendor library (.dll / .so)"
    extension = []
    _default_values = {"neuroshare_packing": "auto"}
    _field_types = {"neuroshare_library": "string", "neuroshare_packing": "string",
                    "sample_rate": "float"}
    library_env = "WAVESCOPE_NEUROSHARE_LIBRARY"
    library_names: tuple[str, ...] = ()      # file names looked for in `search_folders()`

    # -- finding the library ----------------------------------------------------------------------
    @classmethod
    def search_folders(cls, file_name: str | None = None) -> list[str]:
        """Folders searched for `library_names` when neither the param nor the variable is set."""
        folders = [os.path.dirname(os.path.abspath(file_name))] if file_name else []
        folders.append(os.path.join(os.path.expanduser("~"), ".local", "lib", "neuroshare"))
        if os.name == "nt":
            for root in filter(None, (os.environ.get("ProgramFiles"), os.environ.get("ProgramFiles(x86)"))):
                folders += [os.path.join(root, "Neuroshare"), os.path.join(root, "Multi Channel Systems")]
        else:
            folders += ["/usr/local/lib/neuroshare", "/usr/local/lib", "/opt/neuroshare"]
        return folders

    @classmethod
    def find_library(cls, file_name: str | None = None) -> str | None:
        """The library from the class's environment variable or the usual folders, else None."""
        named = os.environ.get(cls.library_env, "").strip()
        if named:
            return os.path.expanduser(named)
        for folder in cls.search_folders(file_name):
            for name in cls.library_names:
                candidate = os.path.join(folder, name)
                if os.path.isfile(candidate):
                    return candidate
        return None

    def _library_path(self) -> str:
        path = self._params.get("neuroshare_library") or self.find_library(self.file_name)
        if not path:
            searched = self.search_folders(self.file_name) if self.library_names else []
            raise MissingLibraryError(self.file_name, self.description, self.library_env, searched)
        path = os.path.abspath(os.path.expanduser(str(path)))
        if not os.path.isfile(path):
            raise HeaderError(f"{self.file_name}: the Neuroshare library {path} does not exist; set "
                              f"neuroshare_library (or {self.library_env}) to the vendor library's path.",
                              self.file_name)
        return path

    def _library(self) -> NeuroshareLibrary:
        if getattr(self, "_ns_library", None) is None:
            pack = resolve_packing(self._params.get("neuroshare_packing", "auto"), self.file_name)
            self._ns_library = NeuroshareLibrary(self._library_path(), pack, self.file_name)
        return self._ns_library

    # -- header -----------------------------------------------------------------------------------
    def _read_from_header(self) -> dict:
        library = self._library()
        handle = library.open_file(self.file_name)
        try:
            file_info = library.file_info(handle)
            analog, others = self._list_entities(library, handle, file_info.dwEntityCount)
            chosen = self._choose_rate(analog, others)
            start = library.time_of_index(handle, chosen[0].entity_id, 0)
        finally:
            library.close_file(handle)
        self.file_type = text(file_info.szFileType)
        self.entities = chosen
        self.channel_names = [entity.label for entity in chosen]
        rate = chosen[0].sampling_rate
        counts = {entity.item_count for entity in chosen}
        if len(counts) > 1:
            print_and_log(f"{self.file_name}: the {rate:g} Hz entities hold {min(counts)} to "
                          f"{max(counts)} samples; reading the first {min(counts)} of each.", "warning")
        self._shape = (min(counts), len(chosen))
        if start is not None:
            self._t_start = round(start * rate)
        return {"nb_channels": len(chosen), "sampling_rate": rate, "data_dtype": "float64",
                "dtype_offset": 0, "gain": self._gains(chosen)}

    def _list_entities(self, library: NeuroshareLibrary, handle: int,
                       count: int) -> tuple[list[AnalogEntity], Counter]:
        analog, others = [], Counter()
        for entity_id in range(count):
            info = library.entity_info(handle, entity_id)
            if info.dwEntityType != ENTITY_ANALOG:
                others[ENTITY_TYPES.get(info.dwEntityType, str(info.dwEntityType))] += 1
                continue
            details = library.analog_info(handle, entity_id)
            if not details.dSampleRate > 0:
                others["analog without a sample rate"] += 1
                continue
            units = text(details.szUnits)
            factor = unit_to_microvolt(units)
            analog.append(AnalogEntity(entity_id, text(info.szEntityLabel), float(details.dSampleRate),
                                       int(info.dwItemCount), units, float(details.dResolution),
                                       1.0 if factor is None else factor))
        return analog, others

    def _wanted_rate(self) -> float | None:
        if "sample_rate" in self._params:
            return float(self._params["sample_rate"])
        if "sampling_rate" in self.given_fields:      # a params file written for this recording
            return float(self._params["sampling_rate"])
        return None

    def _choose_rate(self, analog: list[AnalogEntity], others: Counter) -> list[AnalogEntity]:
        """The entities of the wanted rate, else of the most common one (the higher on a tie)."""
        if not analog:
            held = ", ".join(f"{n} {kind}" for kind, n in others.items()) or "no entities"
            raise HeaderError(f"{self.file_name}: the file has no analog entities ({held}); there is "
                              "no continuous signal to show.", self.file_name)
        groups: dict[float, list[AnalogEntity]] = {}
        for entity in analog:
            key = next((rate for rate in groups if abs(rate - entity.sampling_rate) <= 1e-6 * rate),
                       entity.sampling_rate)
            groups.setdefault(key, []).append(entity)
        wanted = self._wanted_rate()
        if wanted is not None:
            rate = next((r for r in groups if abs(r - wanted) <= 1e-6 * max(r, 1.0)), None)
            if rate is None:
                rates = sorted(groups)
                raise HeaderError(
                    f"{self.file_name}: no analog entities at {wanted:g} Hz; the file has "
                    f"{', '.join(f'{len(groups[r])} at {r:g} Hz' for r in rates)}. Set sample_rate to one "
                    "of those.", self.file_name, candidates=[f"sample_rate={r:g}" for r in rates])
        else:
            rate = max(groups, key=lambda r: (len(groups[r]), r))
        rest = [f"{len(groups[r])} at {r:g} Hz" for r in sorted(groups) if r != rate]
        if rest or others:
            skipped = rest + [f"{n} {kind}" for kind, n in others.items()]
            print_and_log(f"{self.file_name}: showing the {len(groups[rate])} analog entities at {rate:g} Hz; "
                          f"also in the file: {', '.join(skipped)}"
                          + (" (set sample_rate to open another rate)." if rest else "."), "info")
        return groups[rate]

    def _gains(self, chosen: list[AnalogEntity]) -> float:
        """The common unit -> µV factor; per-channel gains when units differ."""
        unknown = sorted({e.units for e in chosen if unit_to_microvolt(e.units) is None})
        if unknown:
            print_and_log(f"{self.file_name}: entities in unit(s) {', '.join(map(repr, unknown))} are "
                          "shown in that unit, not in µV.", "warning")
        factors = [entity.to_microvolt for entity in chosen]
        if all(f == factors[0] for f in factors):
            return factors[0]
        self._channel_gains = np.array(factors, dtype=np.float64)
        return 1.0

    # -- opening and reading ----------------------------------------------------------------------
    def _open(self, mode: str = "r") -> None:
        self._handle = self._library().open_file(self.file_name)

    def _close(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None:
            self._handle = None
            self._library().close_file(handle)

    def read_chunk(self, idx: int, chunk_size: int, padding: tuple[int, int] = (0, 0),
                   nodes: Sequence[int] | None = None) -> np.ndarray:
        """One ``ns_GetAnalogData`` call per channel asked for, over exactly the window."""
        if getattr(self, "_handle", None) is None:
            self.open()
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        columns = np.arange(self.nb_channels) if nodes is None else np.asarray(nodes, dtype=np.intp)
        count = max(t_stop - t_start, 0)
        block = np.empty((len(columns), count), dtype=np.float64)
        library = self._library()
        for row, column in enumerate(columns if count else []):
            entity = self.entities[int(column)]
            continuous = library.analog_data(self._handle, entity.entity_id, t_start, block[row])
            if continuous < count:
                print_and_log(f"{self.file_name}: entity {entity.label} has a gap after sample "
                              f"{t_start + continuous}; samples are shown as the library returns them.",
                              "debug")
        gains = self.channel_gains[columns]
        return np.multiply(block.T, gains[None, :], order="C").astype(np.float32)


class McdFile(NeuroshareFile):
    """Multi Channel Systems MC_Rack `.mcd` files, through MCS's nsMCDLibrary."""

    description = "mcd"
    title = "MC_Rack .mcd (Multi Channel Systems Neuroshare library)"
    extension = [".mcd"]
    library_env = "WAVESCOPE_NEUROSHARE_MCD"
    library_names = ("nsMCDLibrary64.so", "nsMCDLibrary.so", "nsMCDLibraryLinux64.so",
                     "nsMCDLibraryLinux32.so", "nsMCDLibrary.dylib", "nsMCDLibraryMacIntel.dylib",
                     "nsMCDLibraryWin64.dll", "nsMCDLibrary64.dll", "nsMCDLibrary.dll",
                     "nsMCDLibraryWin32.dll")

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        """`.mcd` has no published layout, so its extension decides; the reason says where the
        library is, or how to name it."""
        if os.path.splitext(path)[1].lower() != ".mcd":
            return None
        found = cls.find_library(path)
        where = f"library {found}" if found else f"set {cls.library_env} to nsMCDLibrary"
        return 0.6, f"extension .mcd, read through the MCS Neuroshare library ({where})"


class PlexonNeuroshareFile(NeuroshareFile):
    """Plexon `.plx` files through Plexon's Neuroshare DLL (Windows only); only offered when the
    library is found, so a native `.plx` reader keeps the first place."""

    description = "plexon_neuroshare"
    title = "Plexon .plx (Plexon Neuroshare library)"
    extension = [".plx"]
    library_env = "WAVESCOPE_NEUROSHARE_PLEXON"
    library_names = ("nsPlxLibrary64.dll", "nsPlxLibrary.dll")

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        if os.path.splitext(path)[1].lower() != ".plx":
            return None
        found = cls.find_library(path)
        return (0.3, f"extension .plx, Plexon Neuroshare library {found}") if found else None
