"""spikeglx: SpikeGLX recordings, an interleaved int16 `.bin` beside a `key=value` `.meta`.

Gains follow the SpikeGLX metadata guide: volts per bit = AiRangeMax / MaxInt / channel gain,
given here in µV per bit. Imec AP/LF gains come from `imroTbl` (NP1.0-style entries
`(chan bank ref apGain lfGain ...)`; NP2.0 probes have a fixed gain of 80); nidq gains from
`niMNGain` / `niMAGain` (XA channels gain 1). Status and digital words (SY, XD) are bit fields:
their gain is 1 and `sync_channel` names the sync word's index.

A `.bin` shorter than `fileSizeBytes` or not a whole number of frames (a crashed or cut copy)
is read up to its last whole frame, with a warning; a `.bin` without one whole frame is an error.
"""

from __future__ import annotations

import os
import re

import numpy as np

from app.io.datafile import DataFile, natural_key
from app.io.errors import HeaderError
from app.io.events import (
    cached_for_file,
    edges_from_words,
    empty_events,
    pair_ttl_edges,
)
from app.io.messages import print_and_log

NP2_FIXED_GAIN = 80.0
# imMaxInt when the .meta predates the key: 10-bit ADC on 1.0-style probes, 14-bit on 2.0.
NP1_MAX_INT = 512
NP2_MAX_INT = 8192
DEFAULT_NI_MAX_INT = 32768
IMEC_SYNC_BIT = 6
SCAN_ROWS = 1 << 15
TRIGGER_NAME = re.compile(r"(?P<run>.*_g\d+)_t(?P<trigger>\d+)(?P<rest>\..+)")
STREAM_NAME = re.compile(r"(?P<base>.+)\.(?P<stream>imec\d+\.(?:ap|lf)|nidq)\.bin")


def read_meta(meta_path: str) -> dict[str, str]:
    """The `key=value` lines of a `.meta` file; the `~` marking table keys is dropped."""
    try:
        with open(meta_path, "rb") as handle:
            text = handle.read().decode("utf-8")
    except UnicodeDecodeError:
        raise HeaderError(f"{meta_path}: not a SpikeGLX .meta text file (bytes that are not UTF-8).",
                          meta_path) from None
    meta = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise HeaderError(f"{meta_path}: line {number} {line[:40]!r} is not key=value; the .meta "
                              "is damaged (restore it from the acquisition machine).", meta_path)
        meta[key.strip().lstrip("~")] = value.strip()
    return meta


def parse_table(text: str) -> list[list[str]]:
    """`(a,b)(c d e)...` -> [['a', 'b'], ['c', 'd', 'e'], ...]."""
    return [re.split(r"[,\s]+", entry.strip()) for entry in re.findall(r"\(([^()]*)\)", text)]


def parse_channel_subset(text: str, count: int) -> list[int]:
    """`snsSaveChanSubset`: 'all' or ranges such as `0:383,768`."""
    if text.strip().lower() in ("", "all"):
        return list(range(count))
    ids: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition(":")
        ids.extend(range(int(first), int(last or first) + 1))
    return ids


class SpikeGLXFile(DataFile):
    """One SpikeGLX stream (`.imecN.ap.bin`, `.imecN.lf.bin` or `.nidq.bin`); either the `.bin` or
    its `.meta` may be given.

    Stream modes: `triggers` concatenates the trigger files `<run>_g<G>_t0, _t1, ...` of the same
    gate and stream, each placed on the clock by its `firstSample`; `multi-files` as everywhere.
    """

    description = "spikeglx"
    title = "SpikeGLX (.bin + .meta)"
    extension = [".bin", ".meta"]
    is_streamable = ["multi-files", "triggers"]
    _field_types = {"sync_channel": "int"}

    def __init__(self, file_name, params=None, is_empty=False, stream_mode=None):
        file_name = os.fspath(file_name)
        if file_name.endswith(".meta"):
            file_name = file_name[: -len(".meta")] + ".bin"
        super().__init__(file_name, params, is_empty, stream_mode)

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        base, ext = os.path.splitext(path)
        if ext not in (".bin", ".meta") or not os.path.isfile(base + ".meta"):
            return None
        with open(base + ".meta", "rb") as handle:
            head = handle.read(65536)
        if b"nSavedChans=" in head and (b"imSampRate=" in head or b"niSampRate=" in head):
            return 0.95, "a SpikeGLX .meta with nSavedChans and a sampling rate sits beside it"
        return None

    # -- header -----------------------------------------------------------------------------------
    @property
    def meta_path(self) -> str:
        return os.path.splitext(self.file_name)[0] + ".meta"

    def _meta_int(self, meta: dict, key: str, default: int | None = None) -> int:
        return int(self._meta_number(meta, key, default))

    def _meta_number(self, meta: dict, key: str, default: float | None = None) -> float:
        if key not in meta:
            if default is None:
                raise HeaderError(f"{self.meta_path}: the key {key} is missing; the .meta is incomplete "
                                  "or not from SpikeGLX.", self.meta_path)
            return default
        try:
            return float(meta[key])
        except ValueError:
            raise HeaderError(f"{self.meta_path}: {key}={meta[key]!r} is not a number; the .meta is "
                              "damaged.", self.meta_path) from None

    def _read_from_header(self) -> dict:
        if not os.path.isfile(self.meta_path):
            raise HeaderError(f"{self.file_name}: its .meta file {self.meta_path} is missing; SpikeGLX "
                              "writes both, copy the .meta next to the .bin.", self.file_name)
        meta = read_meta(self.meta_path)
        nb_channels = self._meta_int(meta, "nSavedChans")
        if nb_channels < 1:
            raise HeaderError(f"{self.meta_path}: nSavedChans={nb_channels} must be at least 1.",
                              self.meta_path)
        is_nidq = meta.get("typeThis", "imec") == "nidq"
        rate = self._meta_number(meta, "niSampRate" if is_nidq else "imSampRate")
        if rate <= 0:
            raise HeaderError(f"{self.meta_path}: sampling rate {rate} must be positive.", self.meta_path)
        gains, sync = self._nidq_gains(meta, nb_channels) if is_nidq else self._imec_gains(meta, nb_channels)
        self._shape = (self._count_samples(meta, nb_channels), nb_channels)
        self._t_start = self._meta_int(meta, "firstSample", 0)
        analog = np.delete(gains, sync) if sync is not None else gains
        values, counts = np.unique(analog if analog.size else gains, return_counts=True)
        common = float(values[np.argmax(counts)])
        if not np.all(gains == common):
            self._channel_gains = gains
        header = {"nb_channels": nb_channels, "sampling_rate": rate, "data_dtype": "int16",
                  "dtype_offset": 0, "gain": common}
        if sync is not None:
            header["sync_channel"] = sync
        return header

    def _count_samples(self, meta: dict, nb_channels: int) -> int:
        frame = 2 * nb_channels
        size = os.path.getsize(self.file_name)
        declared = self._meta_int(meta, "fileSizeBytes", size)
        if declared % frame:
            raise HeaderError(f"{self.meta_path}: fileSizeBytes={declared} is not a whole number of "
                              f"frames of nSavedChans={nb_channels} int16 samples; the .meta is damaged "
                              "or belongs to another .bin.", self.meta_path)
        if size // frame == 0:
            raise HeaderError(f"{self.file_name}: {size} bytes hold no whole sample of {nb_channels} "
                              "channels; the .bin is empty or cut.", self.file_name)
        if size != declared or size % frame:
            print_and_log(f"{self.file_name}: {size} bytes on disk but the .meta says fileSizeBytes="
                          f"{declared}; reading the {size // frame} whole samples present.", "warning")
        return size // frame

    def _channel_ids(self, meta: dict, nb_channels: int) -> list[int] | None:
        """Acquisition ids of the saved channels; None when the stream's own order is meant."""
        subset = meta.get("snsSaveChanSubset", "all")
        if subset.strip().lower() in ("", "all"):
            return None
        try:
            ids = parse_channel_subset(subset, nb_channels)
        except ValueError:
            raise HeaderError(f"{self.meta_path}: snsSaveChanSubset={subset!r} is not a list of channel "
                              "ranges.", self.meta_path) from None
        if len(ids) != nb_channels:
            raise HeaderError(f"{self.meta_path}: snsSaveChanSubset lists {len(ids)} channels but "
                              f"nSavedChans={nb_channels}.", self.meta_path)
        return ids

    def _counts(self, meta: dict, key: str, size: int) -> list[int]:
        try:
            counts = [int(v) for v in meta[key].split(",")]
        except KeyError:
            raise HeaderError(f"{self.meta_path}: the key {key} is missing.", self.meta_path) from None
        except ValueError:
            raise HeaderError(f"{self.meta_path}: {key}={meta[key]!r} is not a list of counts.",
                              self.meta_path) from None
        if len(counts) != size:
            raise HeaderError(f"{self.meta_path}: {key} must hold {size} counts, got {meta[key]!r}.",
                              self.meta_path)
        return counts

    def _check_total(self, key: str, counts: list[int], ids: list[int] | None, nb_channels: int) -> None:
        if ids is None and sum(counts) != nb_channels:
            raise HeaderError(f"{self.meta_path}: {key} adds up to {sum(counts)} channels but "
                              f"nSavedChans={nb_channels}; the .meta is damaged.", self.meta_path)

    def _imec_gains(self, meta: dict, nb_channels: int) -> tuple[np.ndarray, int | None]:
        """µV per bit of each saved channel, and the index of the sync word."""
        n_ap, n_lf, _ = counts = self._counts(meta, "snsApLfSy", 3)
        ids = self._channel_ids(meta, nb_channels)
        self._check_total("snsApLfSy", counts, ids, nb_channels)
        ap_gains, lf_gains, max_int = self._imro_gains(meta, max(n_ap, n_lf))
        probe = len(ap_gains)
        if ids is None:
            # The stream's own order (AP, then LF, then SY) mapped onto the probe's numbering:
            # AP 0..n-1, LF n..2n-1, SY 2n...
            ids = (list(range(n_ap)) + list(range(probe, probe + n_lf))
                   + list(range(2 * probe, 2 * probe + nb_channels - n_ap - n_lf)))
        if max(n_ap, n_lf) > probe:
            raise HeaderError(f"{self.meta_path}: imroTbl has {probe} entries for {max(n_ap, n_lf)} "
                              "channels.", self.meta_path)
        volts_per_bit = (self._meta_number(meta, "imAiRangeMax", 0.6)
                         / self._meta_number(meta, "imMaxInt", max_int))
        gains = np.ones(nb_channels)
        sync = None
        for index, channel in enumerate(ids):
            if channel < probe:
                gains[index] = volts_per_bit / ap_gains[channel] * 1e6
            elif channel < 2 * probe:
                gains[index] = volts_per_bit / lf_gains[channel - probe] * 1e6
            else:
                sync = index
        return gains, sync

    def _imro_gains(self, meta: dict, nb_probe_channels: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Per-channel AP and LF amplifier gains from `imroTbl`, and the probe's default imMaxInt."""
        if "imroTbl" not in meta:
            raise HeaderError(f"{self.meta_path}: imroTbl is missing; the gains of an imec stream "
                              "come from it.", self.meta_path)
        table = parse_table(meta["imroTbl"])
        try:
            first = table[0][0]     # a type code, or (SpikeGLX 2026+) the part number itself
            probe_type = int(first) if first.isdigit() else (21 if first.startswith(("NP2", "NP3", "PRB2")) else 0)
            head = [float(probe_type)] + [float(v) for v in table[0][1:]]
            entries = [[float(v) for v in entry] for entry in table[1:]]
        except (IndexError, ValueError):
            raise HeaderError(f"{self.meta_path}: imroTbl={meta['imroTbl'][:60]!r}... is not a table of "
                              "numbers.", self.meta_path) from None
        if not entries:
            raise HeaderError(f"{self.meta_path}: imroTbl has no channel entries.", self.meta_path)
        if probe_type in (21, 24) or probe_type >= 2000:
            fixed = self._meta_number(meta, "imChan0apGain", NP2_FIXED_GAIN)
            return np.full(len(entries), fixed), np.full(len(entries), fixed), NP2_MAX_INT
        if probe_type == 1110 and len(head) >= 5:
            # UHD2 programmable: one gain pair for the whole probe, in the table's header.
            ap, lf = head[3], head[4]
            return np.full(nb_probe_channels, ap), np.full(nb_probe_channels, lf), NP1_MAX_INT
        if any(len(entry) < 5 for entry in entries) or any(e[3] <= 0 or e[4] <= 0 for e in entries):
            raise HeaderError(f"{self.meta_path}: imroTbl entries must be (chan bank ref apGain lfGain "
                              f"...) with positive gains for probe type {probe_type}.", self.meta_path)
        return np.array([e[3] for e in entries]), np.array([e[4] for e in entries]), NP1_MAX_INT

    def _nidq_gains(self, meta: dict, nb_channels: int) -> tuple[np.ndarray, int | None]:
        n_mn, n_ma, n_xa, n_dw = counts = self._counts(meta, "snsMnMaXaDw", 4)
        ids = self._channel_ids(meta, nb_channels)
        self._check_total("snsMnMaXaDw", counts, ids, nb_channels)
        ids = ids if ids is not None else list(range(nb_channels))
        volts_per_bit = (self._meta_number(meta, "niAiRangeMax", 5.0)
                         / self._meta_number(meta, "niMaxInt", DEFAULT_NI_MAX_INT))
        amplifier = [(n_mn, self._meta_number(meta, "niMNGain", 1.0)),
                     (n_ma, self._meta_number(meta, "niMAGain", 1.0)), (n_xa, 1.0)]
        gains = np.ones(nb_channels)
        for index, channel in enumerate(ids):
            first = 0
            for count, gain in amplifier:
                if first <= channel < first + count:
                    gains[index] = volts_per_bit / gain * 1e6
                    break
                first += count
        digital = n_mn + n_ma + n_xa
        sync = nb_channels - 1 if n_dw and ids[-1] >= digital else None
        return gains, sync

    # -- geometry ---------------------------------------------------------------------------------
    def _header_geometry(self):
        """Where each saved imec channel's electrode is: from `imroTbl` (electrode selection, per
        probe model), else `snsGeomMap` (newer SpikeGLX), else `snsShankMap` (older); None for nidq."""
        from app.io.formats._spikeglx_geometry import meta_geometry
        meta = read_meta(self.meta_path)
        if meta.get("typeThis", "imec") == "nidq":
            return None
        n_ap, n_lf, _ = self._counts(meta, "snsApLfSy", 3)
        probe = max(n_ap, n_lf)
        ids = self._channel_ids(meta, int(self.nb_channels))
        if ids is None:     # the stream's own order: its AP (or LF) channels, then SY
            readout = list(range(n_ap or n_lf))
        else:               # acquisition numbering: AP 0..P-1, LF P..2P-1, SY 2P...
            readout = [c if c < probe else c - probe if c < 2 * probe else None for c in ids]
        readout += [None] * (int(self.nb_channels) - len(readout))
        return meta_geometry(meta, readout, self.meta_path)

    # -- samples ----------------------------------------------------------------------------------
    def _open(self, mode: str = "r") -> None:
        self.data = np.memmap(self.file_name, dtype="<i2", mode="r", shape=self._shape)

    def _close(self) -> None:
        self.data = None

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        self._ensure_open()
        return self._read_array(self.data, idx, chunk_size, padding, nodes)

    # -- events -----------------------------------------------------------------------------------
    def _local_events(self) -> np.ndarray:
        """Edges of the digital words as pulses: the imec SY word (`sync` = bit 6, other bits
        `SY bit <k>`) or the nidq XD words (`XD <line>`, line = 16 x word + bit; the
        `syncNiChan` line is `sync`). Finding them reads the word column of the whole `.bin`
        (O(file), chunk by chunk) on the first call; the result is kept in memory per file."""
        columns, names = self._digital_words()
        if not columns:
            return empty_events()
        return cached_for_file(self.file_name, "digital", lambda: self._scan_words(columns, names))

    def _digital_words(self) -> tuple[list[int], dict[int, str]]:
        """Columns of the saved digital words and the names of their lines (16 per word)."""
        meta = read_meta(self.meta_path)
        nb_channels = int(self.nb_channels)
        if meta.get("typeThis", "imec") != "nidq":
            sync = self._params.get("sync_channel")
            if sync is None:
                return [], {}
            return [int(sync)], {bit: "sync" if bit == IMEC_SYNC_BIT else f"SY bit {bit}" for bit in range(16)}
        n_words = self._counts(meta, "snsMnMaXaDw", 4)[3]
        if not n_words or self._channel_ids(meta, nb_channels) is not None:
            sync = self._params.get("sync_channel")
            columns = [] if sync is None else [int(sync)]
        else:
            columns = list(range(nb_channels - n_words, nb_channels))
        names = {line: f"XD {line}" for line in range(16 * len(columns))}
        if meta.get("syncNiChanType", "0").strip() == "0" and "syncNiChan" in meta and columns:
            line = self._meta_int(meta, "syncNiChan")
            if line in names:
                names[line] = "sync"
        return columns, names

    def _scan_words(self, columns: list[int], names: dict[int, str]) -> np.ndarray:
        """Edges of the word columns, reading the `.bin` front to back in blocks of SCAN_ROWS."""
        width = self._shape[1]
        buffer = np.empty((SCAN_ROWS, width), dtype="<i2")
        found = []
        previous: list[int | None] = [None] * len(columns)
        with open(self.file_name, "rb") as handle:
            for first in range(0, self._shape[0], SCAN_ROWS):
                rows = min(SCAN_ROWS, self._shape[0] - first)
                if handle.readinto(memoryview(buffer[:rows]).cast("B")) != rows * width * 2:
                    raise HeaderError(f"{self.file_name}: the file ended at sample {first} while scanning "
                                      "its digital words; was it truncated after opening?", self.file_name)
                block = buffer[:rows, columns].view(np.uint16)
                for k in range(len(columns)):
                    samples, bits, rising = edges_from_words(block[:, k], first, previous[k])
                    found.append((samples, bits + 16 * k, rising))
                    previous[k] = int(block[-1, k])
        samples, lines, rising = (np.concatenate(parts) for parts in zip(*found))
        return pair_ttl_edges(samples, lines, rising, names=lambda line: names.get(int(line), f"XD {line}"))

    # -- streams ----------------------------------------------------------------------------------
    def related_streams(self) -> list[tuple[str, str, dict]]:
        """The AP, LF and NI files of the same run, gate and trigger as this one, and of the same
        probe: beside it, or in the run folder above a `<run>_imecN` probe folder (SpikeGLX's own
        layout). Each keeps its own rate and `firstSample`."""
        folder, name = os.path.split(os.path.abspath(self.file_name))
        match = STREAM_NAME.fullmatch(name)
        if match is None:
            return []
        probe = match["stream"].partition(".")[0] if match["stream"] != "nidq" else None
        run_folder = os.path.dirname(folder) if re.fullmatch(r".+_imec\d+", os.path.basename(folder)) else folder
        places = [folder] + [os.path.join(run_folder, entry) for entry in sorted(os.listdir(run_folder))
                             if re.fullmatch(r".+_imec\d+", entry)] + [run_folder]
        places = list(dict.fromkeys(places))
        found: list[tuple[str, str, dict]] = []
        for place in places:
            for entry in sorted(os.listdir(place), key=natural_key) if os.path.isdir(place) else []:
                other = STREAM_NAME.fullmatch(entry)
                if other is None or other["base"] != match["base"] or entry == name:
                    continue
                kind = other["stream"]
                if kind != "nidq" and probe is not None and not kind.startswith(probe + "."):
                    continue
                if not os.path.isfile(os.path.join(place, entry[: -len(".bin")] + ".meta")):
                    continue
                label = "NI" if kind == "nidq" else kind.split(".")[0] + " " + kind.split(".")[1].upper()
                found.append((label, os.path.join(place, entry), {}))
        return found

    def set_streams(self, stream_mode: str) -> list[DataFile]:
        if stream_mode != "triggers":
            return super().set_streams(stream_mode)
        folder, name = os.path.split(self.file_name)
        match = TRIGGER_NAME.fullmatch(name)
        if match is None:
            raise HeaderError(f"{self.file_name}: the name has no _g<gate>_t<trigger> part, so it has no "
                              "trigger siblings; use no stream mode.", self.file_name)
        pattern = re.compile(re.escape(match["run"]) + r"_t(\d+)" + re.escape(match["rest"]))
        names = sorted((n for n in os.listdir(folder) if pattern.fullmatch(n)), key=natural_key)
        given = {k: v for k, v in self._params.items() if k not in self.header_fields}
        sources: list[DataFile] = []
        for entry in names:
            source = type(self)(os.path.join(folder, entry), given)
            if sources and source.t_start < sources[-1].t_stop:
                raise HeaderError(f"{source.meta_path}: firstSample={source.t_start} falls inside the "
                                  f"previous trigger file, which ends at {sources[-1].t_stop}.",
                                  source.meta_path)
            sources.append(source)
        return sources
