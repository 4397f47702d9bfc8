"""openephys_binary: the Open Ephys GUI binary format (0.4 and later).

`Record Node N/experiment<e>/recording<r>/structure.oebin` (JSON) lists the continuous streams;
each stream's samples are in `continuous/<folder_name>/continuous.dat` (int16 little-endian,
interleaved), its sample numbers in `sample_numbers.npy` (0.6 and later) or `timestamps.npy`
(before 0.6, int64 sample numbers). Gains are each channel's `bit_volts`, given in the channel's
own `units` (µV for headstage channels, V for ADC channels, as the GUI writes them) and turned
into µV per bit; a unit that is no voltage is kept as it is.

A `continuous.dat` that is not a whole number of frames (a crashed recording) is read up to its
last whole frame, with a warning.
"""

from __future__ import annotations

import glob
import json
import os
import re
import tokenize

import numpy as np

from app.io.datafile import DataFile, natural_key
from app.io.errors import DamagedFileError, HeaderError
from app.io.events import empty_events, make_events, merge_events, pair_ttl_edges
from app.io.messages import print_and_log
from app.io.units import microvolts_per

OEBIN = "structure.oebin"


def find_oebin(path: str) -> str | None:
    """The `structure.oebin` meant by `path`: the file, the one beside a stream's `continuous.dat`,
    the one in a recording folder, or the first one below a Record Node / experiment folder."""
    path = os.path.abspath(path)
    if os.path.isfile(path):
        if path.endswith(".oebin"):
            return path
        if os.path.basename(path) == "continuous.dat":
            candidate = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(path))), OEBIN)
            return candidate if os.path.isfile(candidate) else None
        return None
    if os.path.isfile(os.path.join(path, OEBIN)):
        return os.path.join(path, OEBIN)
    for depth in ("*", os.path.join("*", "*"), os.path.join("*", "*", "*")):
        found = sorted(glob.glob(os.path.join(glob.escape(path), depth, OEBIN)), key=natural_key)
        if found:
            return found[0]
    return None


def read_oebin(oebin: str) -> dict:
    try:
        with open(oebin, "rb") as handle:
            structure = json.loads(handle.read().decode("utf-8"))
    except ValueError as error:     # bad UTF-8, bad JSON, a number of thousands of digits
        raise HeaderError(f"{oebin}: not valid JSON ({error}); the structure.oebin is damaged, "
                          "restore it from the recording computer.", oebin) from None
    if not isinstance(structure, dict) or not isinstance(structure.get("continuous"), list):
        raise HeaderError(f"{oebin}: no 'continuous' list of streams; not an Open Ephys structure.oebin.",
                          oebin)
    return structure


def stream_folder(entry: dict) -> str:
    return str(entry.get("folder_name", "")).strip("/\\")


def _stream_suffix(folder: str) -> str:
    """`File_Reader-100.example_data` -> `example_data` (the stream part of a processor folder)."""
    return folder.split("/")[0].partition(".")[2]


def event_folders(recording: str, structure: dict, stream: dict) -> tuple[list[str], list[str]]:
    """(TTL folders, text folders) of one continuous stream, as absolute paths.

    Entries of structure.oebin `events` belong to the stream when their `stream_name` matches
    (0.6+), else when they sit under the same processor folder (0.5). Without a usable `events`
    list, folders under `events/` holding states are matched by their stream part.
    """
    events_dir = os.path.join(recording, "events")
    name, folder = stream.get("stream_name"), stream_folder(stream)
    ttl, text = [], []
    for entry in structure.get("events") or []:
        if not isinstance(entry, dict) or not entry.get("folder_name"):
            continue
        relative = stream_folder(entry)
        if entry.get("stream_name") is not None and name is not None:
            mine = entry["stream_name"] == name
        else:
            mine = relative.split("/")[0] == folder or relative.startswith(("MessageCenter", "Message_Center"))
        path = os.path.join(events_dir, relative)
        if mine and os.path.isdir(path):
            (text if os.path.isfile(os.path.join(path, "text.npy")) else ttl).append(path)
    if ttl or text or structure.get("events"):
        return ttl, text
    for path in sorted(glob.glob(os.path.join(glob.escape(events_dir), "*", "*")), key=natural_key):
        has_states = any(os.path.isfile(os.path.join(path, n)) for n in ("states.npy", "channel_states.npy"))
        if has_states and _stream_suffix(os.path.relpath(path, events_dir)) == _stream_suffix(folder):
            ttl.append(path)
    text = [p for p in (os.path.join(events_dir, "MessageCenter"),) if os.path.isdir(p)]
    return ttl, text


def _load_npy(path: str, mmap_mode: str | None = "r") -> np.ndarray:
    """np.load with a typed error naming the .npy when it is empty, cut or damaged."""
    try:
        return np.load(path, mmap_mode=mmap_mode)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError, OverflowError, tokenize.TokenError) as error:
        raise DamagedFileError(f"{path}: not a readable .npy file ({type(error).__name__}: {error}); it is "
                               "empty, cut short or damaged. Restore it from the recording computer.",
                               path, type(error).__name__) from None


def _state_count(folder: str) -> int:
    for name in ("states.npy", "channel_states.npy"):
        if os.path.isfile(os.path.join(folder, name)):
            return len(_load_npy(os.path.join(folder, name)))
    return 0


def _event_sample_numbers(folder: str, rate: float) -> np.ndarray:
    """Sample numbers of an event folder: sample_numbers.npy (0.6+) or int timestamps.npy (0.5)."""
    for name in ("sample_numbers.npy", "timestamps.npy"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            numbers = _load_npy(path, mmap_mode="r")
            return np.round(numbers * rate).astype(np.int64) if numbers.dtype.kind == "f" else numbers
    raise HeaderError(f"{folder}: no sample_numbers.npy or timestamps.npy; the event folder is incomplete.",
                      folder)


class OpenEphysBinaryFile(DataFile):
    """One continuous stream of one Open Ephys binary recording.

    `stream_name` picks the stream by its folder name (e.g. `Neuropix-PXI-100.ProbeA-AP`) or its
    index in structure.oebin; the default is the first stream, or the one whose `continuous.dat`
    was given. Stream mode `recordings` concatenates `recording1, recording2, ...` of the same
    experiment (same stream), each placed on the clock by its first sample number.
    """

    description = "openephys_binary"
    title = "Open Ephys binary (structure.oebin)"
    extension = [".oebin", ".dat"]
    is_streamable = ["multi-files", "recordings"]
    _field_types = {"stream_name": "string"}

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        is_oebin = path.endswith(".oebin") or os.path.basename(path) == "continuous.dat" or os.path.isdir(path)
        oebin = find_oebin(path) if is_oebin else None
        if oebin is None:
            return None
        with open(oebin, "rb") as handle:
            if b'"continuous"' not in handle.read(1 << 20):
                return None
        return 0.95, f"Open Ephys binary recording ({os.path.relpath(oebin, os.path.dirname(path))})"

    # -- header -----------------------------------------------------------------------------------
    def _read_from_header(self) -> dict:
        oebin = find_oebin(self.file_name)
        if oebin is None:
            raise HeaderError(f"{self.file_name}: no structure.oebin found for it; give the .oebin, a "
                              "recording folder, or a continuous/<stream>/continuous.dat inside one.",
                              self.file_name)
        self.oebin = oebin
        entry = self._pick_stream(read_oebin(oebin))
        nb_channels, rate, gains = self._stream_facts(entry)
        folder = os.path.join(os.path.dirname(oebin), "continuous", stream_folder(entry))
        self.dat_path = os.path.join(folder, "continuous.dat")
        if not os.path.isfile(self.dat_path):
            raise HeaderError(f"{oebin}: stream {stream_folder(entry)} has no file {self.dat_path}.", oebin)
        self._shape = (self._count_samples(nb_channels), nb_channels)
        self._t_start = self._first_sample_number(folder, rate)
        values, counts = np.unique(gains, return_counts=True)
        common = float(values[np.argmax(counts)])
        if not np.all(gains == common):
            self._channel_gains = gains
        return {"nb_channels": nb_channels, "sampling_rate": rate, "data_dtype": "int16",
                "dtype_offset": 0, "gain": common, "stream_name": stream_folder(entry)}

    def _header_geometry(self):
        """Neuropixels geometry from the Record Node's settings.xml (settings_<n>.xml for experiment n)."""
        from app.io.formats._openephys_geometry import settings_geometry, settings_path
        experiment_dir = os.path.dirname(os.path.dirname(self.oebin))
        number = re.fullmatch(r"experiment(\d+)", os.path.basename(experiment_dir))
        settings = settings_path(os.path.dirname(experiment_dir), number.group(1) if number else None)
        return settings_geometry(settings, self.stream_name, int(self.nb_channels))

    def _pick_stream(self, structure: dict) -> dict:
        streams = [s for s in structure["continuous"] if isinstance(s, dict)]
        names = [stream_folder(s) for s in streams]
        if not streams:
            raise HeaderError(f"{self.oebin}: the recording has no continuous stream.", self.oebin)
        wanted = self._params.get("stream_name")
        if wanted is None and os.path.basename(self.file_name) == "continuous.dat":
            wanted = os.path.basename(os.path.dirname(os.path.abspath(self.file_name)))
        if wanted is None:
            return streams[0]
        wanted = str(wanted).strip("/\\")
        if wanted in names:
            return streams[names.index(wanted)]
        if wanted.isdigit() and int(wanted) < len(streams):
            return streams[int(wanted)]
        raise HeaderError(f"{self.oebin}: no continuous stream {wanted!r}; set stream_name to one of "
                          f"{', '.join(names)} (or its index).", self.oebin)

    def _stream_facts(self, entry: dict) -> tuple[int, float, np.ndarray]:
        name = stream_folder(entry)
        try:
            nb_channels = int(entry["num_channels"])
            rate = float(entry["sample_rate"])
            gains = np.array([float(c["bit_volts"]) * (microvolts_per(c.get("units", "uV")) or 1.0)
                              for c in entry["channels"]])
        except (KeyError, TypeError, ValueError) as error:
            raise HeaderError(f"{self.oebin}: stream {name} lacks a valid num_channels, sample_rate or "
                              f"channels[].bit_volts ({type(error).__name__}: {error}).", self.oebin) from None
        if nb_channels < 1 or rate <= 0:
            raise HeaderError(f"{self.oebin}: stream {name} has num_channels={nb_channels}, "
                              f"sample_rate={rate}; both must be positive.", self.oebin)
        if len(gains) != nb_channels:
            raise HeaderError(f"{self.oebin}: stream {name} says num_channels={nb_channels} but lists "
                              f"{len(gains)} channels.", self.oebin)
        if not np.all(gains > 0):
            raise HeaderError(f"{self.oebin}: stream {name} has a bit_volts that is not positive.", self.oebin)
        return nb_channels, rate, gains

    def _count_samples(self, nb_channels: int) -> int:
        size = os.path.getsize(self.dat_path)
        frame = 2 * nb_channels
        if size < frame:
            raise HeaderError(f"{self.dat_path}: {size} bytes hold no whole sample of {nb_channels} "
                              "channels; the recording is empty or cut.", self.dat_path)
        if size % frame:
            print_and_log(f"{self.dat_path}: {size % frame} bytes after the last whole sample of "
                          f"{nb_channels} channels are ignored (recording cut short?).", "warning")
        return size // frame

    def _first_sample_number(self, folder: str, rate: float) -> int:
        for name in ("sample_numbers.npy", "timestamps.npy"):
            path = os.path.join(folder, name)
            if not os.path.isfile(path):
                continue
            numbers = _load_npy(path)
            if numbers.ndim != 1 or len(numbers) == 0:
                return 0
            first = numbers[0]
            # Only `timestamps.npy` written by 0.6+ holds seconds; it is read only without sample_numbers.
            return round(float(first) * rate) if numbers.dtype.kind == "f" else int(first)
        print_and_log(f"{folder}: no sample_numbers.npy or timestamps.npy; the stream starts at 0.", "warning")
        return 0

    # -- samples ----------------------------------------------------------------------------------
    def _open(self, mode: str = "r") -> None:
        self.data = np.memmap(self.dat_path, dtype="<i2", mode="r", shape=self._shape)

    def _close(self) -> None:
        self.data = None

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        self._ensure_open()
        return self._read_array(self.data, idx, chunk_size, padding, nodes)

    # -- events -----------------------------------------------------------------------------------
    def _local_events(self) -> np.ndarray:
        """TTL pulses (`TTL <line>`, lines as the GUI numbers them) and MessageCenter text
        (`messages`) of this stream, on the timeline; loaded on the first call."""
        structure = read_oebin(self.oebin)
        stream = self._pick_stream(structure)
        ttl, text = event_folders(os.path.dirname(self.oebin), structure, stream)
        rate = float(self.sampling_rate)
        ttl = [folder for folder in ttl if _state_count(folder)]
        tables = [self._ttl_events(folder, rate, len(ttl) > 1) for folder in ttl]
        tables += [self._text_events(folder, rate) for folder in text]
        return merge_events(*tables)

    def _ttl_events(self, folder: str, rate: float, named_by_source: bool) -> np.ndarray:
        states_path = next((os.path.join(folder, n) for n in ("states.npy", "channel_states.npy")
                            if os.path.isfile(os.path.join(folder, n))), None)
        if states_path is None:
            return empty_events()
        states = _load_npy(states_path, mmap_mode="r")
        samples = _event_sample_numbers(folder, rate)
        if len(samples) != len(states):
            raise HeaderError(f"{folder}: {len(samples)} sample numbers but {len(states)} states; the event "
                              "files disagree.", folder)
        relative = os.path.relpath(folder, os.path.join(os.path.dirname(self.oebin), "events"))
        source = relative.split(os.sep)[0].partition(".")[0]
        group = os.path.basename(folder)
        prefix = (f"{source} " + (f"{group} " if group != "TTL" else "")) if named_by_source else ""
        return pair_ttl_edges(np.asarray(samples, dtype=np.int64) - self._t_start, np.abs(states),
                              np.asarray(states) > 0, names=lambda line: f"{prefix}TTL {line}")

    def _text_events(self, folder: str, rate: float) -> np.ndarray:
        texts = _load_npy(os.path.join(folder, "text.npy"), mmap_mode=None)
        samples = np.asarray(_event_sample_numbers(folder, rate), dtype=np.int64) - self._t_start
        return make_events(samples[: len(texts)], "messages", texts[: len(samples)])

    # -- streams ----------------------------------------------------------------------------------
    def related_streams(self) -> list[tuple[str, str, dict]]:
        """The other continuous streams of this recording (structure.oebin), e.g. the LFP band or
        an ADC/NI-DAQ board beside the AP band; each is placed by its own first sample number."""
        found = []
        for entry in read_oebin(self.oebin)["continuous"]:
            name = stream_folder(entry) if isinstance(entry, dict) else None
            if name and name != self.stream_name:
                found.append((str(entry.get("stream_name") or name), self.oebin, {"stream_name": name}))
        return found

    def set_streams(self, stream_mode: str) -> list[DataFile]:
        if stream_mode != "recordings":
            return super().set_streams(stream_mode)
        experiment = os.path.dirname(os.path.dirname(self.oebin))
        oebins = sorted(glob.glob(os.path.join(glob.escape(experiment), "*", OEBIN)), key=natural_key)
        given = {k: v for k, v in self._params.items() if k not in self.header_fields}
        given["stream_name"] = self.stream_name
        sources: list[DataFile] = []
        for oebin in oebins:
            source = type(self)(oebin, given)
            if sources and source.t_start < sources[-1].t_stop:
                raise HeaderError(f"{source.dat_path}: the recording starts at sample {source.t_start}, "
                                  f"before the previous one ends ({sources[-1].t_stop}); recordings of one "
                                  "experiment share a clock, so this folder mixes experiments.", source.oebin)
            sources.append(source)
        return sources
