"""tdt: Tucker-Davis Technologies blocks (a folder with `.tsq` index + `.tev` data, `.sev` files).

The `.tsq` holds one 40-byte record per chunk of one channel of one store (code, channel,
timestamp, `.tev` byte offset, format, rate). Each stream store is a stream (`store` picks it by
its 4-letter name; the default is the first stream in the index). The index is scanned in slabs,
keeping only the chosen store's records, and a window is read chunk by chunk from the `.tev`.
Stores saved as per-channel `.sev` files (flag UCF, or a folder of `.sev` without `.tsq`) are
memory-mapped. A pause between chunks starts a new segment (`segments` mode). Values are used as
stored (TDT gives no gain; float32 streams are usually volts, neo labels them µV).
Layout: TDT's `tdt` package (TDTbin2py) and SEV2mat (facts in formats-more.md).
"""

from __future__ import annotations

import glob
import os
import re
import struct

import numpy as np

from app.io.datafile import DataFile, natural_key
from app.io.errors import HeaderError
from app.io.events import cached_for_file, empty_events, make_events
from app.io.messages import print_and_log

TSQ_DTYPE = np.dtype([("size", "<i4"), ("type", "<i4"), ("code", "<u4"), ("channel", "<u2"), ("sort", "<u2"),
                      ("timestamp", "<f8"), ("offset", "<i8"), ("format", "<i4"), ("rate", "<f4")])
FORMATS = {0: "float32", 1: "int32", 2: "int16", 3: "int8", 4: "float64", 5: "int64"}
STREAM, STREAM_MASK, UCF = 0x8101, 0xFF0F, 0x10
START_MARK = 1
EPOC_ONSET, EPOC_OFFSET = 0x101, 0x102
# An epoc record: the channel and sort-code words hold the buddy store's code, the offset word a float64 value.
EPOC_DTYPE = np.dtype([("size", "<i4"), ("type", "<i4"), ("code", "<u4"), ("buddy", "<u4"), ("timestamp", "<f8"),
                       ("value", "<f8"), ("format", "<i4"), ("rate", "<f4")])
EPOC_CLOCK = 195312.5           # TDT's readers round epoc times to this clock's ticks
SLAB_RECORDS = 1 << 16
SEV_NAME = re.compile(r"_([A-Za-z0-9_]{4})_[Cc]h(\d+)\.sev$")


def store_name(code: int) -> str:
    return struct.pack("<I", int(code)).decode("latin-1").rstrip("\x00")


def store_code(name: str) -> int:
    return struct.unpack("<I", name.encode("latin-1").ljust(4, b"\x00")[:4])[0]


def sev_header(path: str) -> tuple[str, float, int]:
    """(dtype, rate, byte offset of the samples) of one `.sev` file."""
    size = os.path.getsize(path)
    if size < 40:
        raise HeaderError(f"{path}: {size} bytes, shorter than the 40-byte SEV header; the file is truncated.", path)
    with open(path, "rb") as handle:
        raw = handle.read(40)
    if raw[8:11] != b"SEV" or raw[11] == 0:
        return "float32", 24414.0625, 40          # version 0: no real header; TDT's own defaults
    code, decimate, rate_code = raw[24] & 7, raw[25], struct.unpack_from("<H", raw, 26)[0]
    if code not in FORMATS or decimate == 0 or rate_code > 40:
        raise HeaderError(f"{path}: SEV header says format {code}, decimate {decimate}, rate code {rate_code}; "
                          "the header is corrupt.", path)
    return FORMATS[code], 2.0 ** (rate_code - 12) * 25e6 / decimate, 40


class _StoreScan:
    """One pass over the `.tsq` in slabs: the stream stores it lists and the chosen one's records."""

    def __init__(self, tsq: str, wanted: str | None):
        self.tsq, self.wanted = tsq, wanted
        self.stores: dict[int, tuple[float, int, bool]] = {}   # code -> (rate, format, saved as SEV)
        self.records: list[np.ndarray] = []
        self.start_time: float | None = None

    def run(self) -> None:
        size = os.path.getsize(self.tsq)
        total = size // TSQ_DTYPE.itemsize
        if total < 2:
            raise HeaderError(f"{self.tsq}: {size} bytes hold fewer than the 2 header records of a TDT index; "
                              "the file is truncated.", self.tsq)
        with open(self.tsq, "rb") as handle:
            for first in range(0, total, SLAB_RECORDS):
                slab = np.fromfile(handle, dtype=TSQ_DTYPE, count=min(SLAB_RECORDS, total - first))
                if first == 0:
                    self._start(slab)
                self._take(slab)

    def _start(self, slab: np.ndarray) -> None:
        record = slab[1]
        if record["code"] != START_MARK:
            raise HeaderError(f"{self.tsq}: the second record is not the block-start mark (code "
                              f"{int(record['code'])}); the index is corrupt.", self.tsq)
        self.start_time = float(record["timestamp"])
        if not np.isfinite(self.start_time):
            raise HeaderError(f"{self.tsq}: the block start time is {self.start_time}; the index is corrupt.",
                              self.tsq)

    def _take(self, slab: np.ndarray) -> None:
        streams = slab[(slab["type"] & STREAM_MASK) == STREAM]
        if not len(streams):
            return
        codes, first = np.unique(streams["code"], return_index=True)
        for code, k in sorted(zip(codes.tolist(), first.tolist()), key=lambda item: item[1]):
            if code not in self.stores:
                record = streams[k]
                self.stores[code] = (float(record["rate"]), int(record["format"]), bool(record["type"] & UCF))
        if self.wanted is None:
            self.wanted = store_name(next(iter(self.stores)))
        chosen = streams[streams["code"] == store_code(self.wanted)]
        if len(chosen):
            self.records.append(chosen[["size", "channel", "timestamp", "offset"]].copy())


def _epoc_label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else format(value, "g")


def _pair_epocs(onsets: np.ndarray, offsets: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(onset s, duration s) of one epoc store, TDT's way: with an offset store the k-th offset
    ends the k-th onset (an offset before the first onset ends an epoc begun at the block start);
    without one an epoc lasts until the next onset. An epoc TDT leaves open (offset inf) is an
    instant here."""
    if offsets is None:
        return onsets, np.append(np.diff(onsets), 0.0)
    if len(offsets) and (not len(onsets) or offsets[0] < onsets[0]):
        onsets = np.concatenate([[0.0], onsets])
    durations = np.zeros(len(onsets))
    paired = min(len(onsets), len(offsets))
    durations[:paired] = offsets[:paired] - onsets[:paired]
    return onsets, durations


def read_epocs(tsq: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(onset s from the block start, duration s, store name, value text) of every epoc in `tsq`.

    Onsets are records of type 0x101; offsets (type 0x102) belong to another store whose buddy
    field names the onset store. Times are rounded to TDT's 195312.5 Hz clock as TDT's reader does.
    """
    total = os.path.getsize(tsq) // EPOC_DTYPE.itemsize
    found, start_time = [], None
    with open(tsq, "rb") as handle:
        for first in range(0, total, SLAB_RECORDS):
            slab = np.fromfile(handle, dtype=EPOC_DTYPE, count=min(SLAB_RECORDS, total - first))
            if first == 0 and len(slab) > 1:
                start_time = float(slab[1]["timestamp"])
            found.append(slab[(slab["type"] == EPOC_ONSET) | (slab["type"] == EPOC_OFFSET)])
    records = np.concatenate(found) if found else np.zeros(0, EPOC_DTYPE)
    times = np.round((records["timestamp"] - (start_time or 0.0)) * EPOC_CLOCK) / EPOC_CLOCK
    is_onset = records["type"] == EPOC_ONSET
    pieces = []
    for code in dict.fromkeys(records["code"][is_onset].tolist()):
        mine = is_onset & (records["code"] == code)
        ends = ~is_onset & (records["buddy"] == code)
        onsets, durations = _pair_epocs(times[mine], times[ends] if ends.any() else None)
        values = records["value"][mine]
        values = np.concatenate([values[:1], values]) if len(onsets) > len(values) else values
        words, index = np.unique(values, return_inverse=True)
        labels = np.array([_epoc_label(v) for v in words.tolist()], dtype=object)[index.reshape(-1)]
        pieces.append((onsets, durations, np.full(len(onsets), store_name(code), dtype=object), labels))
    if not pieces:
        return np.zeros(0), np.zeros(0), np.zeros(0, object), np.zeros(0, object)
    return tuple(np.concatenate(column) for column in zip(*pieces))


class TDTFile(DataFile):
    """One stream store of a TDT block; opened on the block folder or any file in it. Read-only."""

    description = "tdt"
    title = "TDT tank/block (.tsq + .tev, .sev)"
    extension = [".tsq", ".tev", ".sev", ".tbk"]
    parallel_write = False
    is_writable = False
    is_streamable = ["multi-files", "segments"]
    _required_fields = {}
    _default_values = {}
    _field_types = {"store": "string", "segment_index": "int"}

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
        if os.path.isfile(path) and os.path.splitext(path)[1].lower() not in (".tsq", ".tev", ".sev", ".tbk",
                                                                               ".tdx", ".tin", ".tnt"):
            return None
        if glob.glob(os.path.join(glob.escape(folder), "*.tsq")):
            return 0.95, "TDT block (.tsq index)"
        if glob.glob(os.path.join(glob.escape(folder), "*.sev")):
            return 0.9, "TDT .sev stream files"
        return None

    # -- header -----------------------------------------------------------------------------------
    def _read_from_header(self) -> dict:
        self.folder = self.file_name if os.path.isdir(self.file_name) else os.path.dirname(
            os.path.abspath(self.file_name))
        indexes = glob.glob(os.path.join(glob.escape(self.folder), "*.tsq"))
        if len(indexes) > 1:
            raise HeaderError(f"{self.folder}: {len(indexes)} .tsq files; a TDT block folder has one. Open the "
                              "block's own folder.", self.folder)
        wanted = self._params.get("store")
        if indexes:
            found = self._from_index(indexes[0], wanted)
        else:
            found = self._from_sev_only(wanted)
        return found

    def _from_index(self, tsq: str, wanted: str | None) -> dict:
        scan = _StoreScan(tsq, wanted)
        scan.run()
        self.tsq, self.stores = tsq, [store_name(c) for c in scan.stores]
        if not scan.stores:
            sev = self._sev_files(None)
            if sev:
                return self._from_sev_only(wanted)
            raise HeaderError(f"{tsq}: the index lists no stream store; this block holds no continuous data.", tsq)
        if scan.wanted not in self.stores:
            raise HeaderError(f"{tsq}: no stream store {scan.wanted!r}; set store to one of "
                              f"{', '.join(self.stores)}.", tsq, candidates=self.stores)
        self.store = scan.wanted
        rate, code, is_sev = scan.stores[store_code(self.store)]
        if code not in FORMATS:
            raise HeaderError(f"{tsq}: store {self.store} has data format {code} (0 to 5 exist); the index is "
                              "corrupt.", tsq)
        records = np.concatenate(scan.records)
        if is_sev or self._sev_files(self.store):
            return self._sev_store(records, scan.start_time)
        return self._tev_store(tsq, records, rate, FORMATS[code], scan.start_time)

    def _tev_store(self, tsq: str, records: np.ndarray, rate: float, dtype: str, start_time: float) -> dict:
        if not (rate > 0 and np.isfinite(rate)):
            raise HeaderError(f"{tsq}: store {self.store} has sampling rate {rate}; the index is corrupt.", tsq)
        self.tev = os.path.splitext(tsq)[0] + ".tev"
        if not os.path.isfile(self.tev):
            raise HeaderError(f"{tsq}: its data file {os.path.basename(self.tev)} is missing.", tsq)
        itemsize = np.dtype(dtype).itemsize
        counts = (records["size"].astype(np.int64) - 10) * 4 // itemsize
        tev_size = os.path.getsize(self.tev)
        bad = (counts < 0) | (records["offset"] < 0) | (records["offset"] + counts * itemsize > tev_size)
        if bad.any():
            print_and_log(f"{tsq}: {int(bad.sum())} chunk(s) of store {self.store} point outside "
                          f"{os.path.basename(self.tev)} (truncated?); they are left out.", "warning")
            records, counts = records[~bad], counts[~bad]
        if not len(records):
            raise HeaderError(f"{tsq}: store {self.store} has no readable chunk.", tsq)
        order = np.argsort(records["channel"], kind="stable")
        channels, first = np.unique(records["channel"][order], return_index=True)
        self.channel_names = [f"{self.store} {int(c)}" for c in channels]
        per_channel = np.split(order, first[1:])
        self._locate_segment(records, counts, per_channel, rate, start_time, itemsize)
        return {"nb_channels": len(channels), "sampling_rate": rate, "data_dtype": dtype, "dtype_offset": 0,
                "gain": 1.0}

    def _locate_segment(self, records, counts, per_channel, rate, start_time, itemsize) -> None:
        rows = per_channel[0]
        stamps = records["timestamp"][rows]
        expected = stamps[:-1] + counts[rows][:-1] / rate
        breaks = np.flatnonzero(stamps[1:] - expected > 2.0 / rate) + 1
        limits = [0, *breaks.tolist(), len(rows)]
        self.nb_segments = len(limits) - 1
        segment = self._pick_segment(self.nb_segments, f"store {self.store} pauses")
        lo, hi = limits[segment], limits[segment + 1]
        self._offsets, self._starts = [], []
        for rows in per_channel:
            rows = rows[lo:hi]
            self._offsets.append(records["offset"][rows])
            self._starts.append(np.concatenate([[0], np.cumsum(counts[rows])]))
        samples = min(int(s[-1]) for s in self._starts)
        if samples != max(int(s[-1]) for s in self._starts):
            print_and_log(f"{self.tsq}: channels of store {self.store} hold different numbers of samples; "
                          f"reading the first {samples}.", "warning")
        self._itemsize = itemsize
        self._files = None
        self._shape = (samples, len(per_channel))
        self._t_start = round((float(records["timestamp"][per_channel[0][lo]]) - start_time) * rate)

    # -- SEV --------------------------------------------------------------------------------------
    def _sev_files(self, store: str | None) -> dict[str, dict[int, str]]:
        found: dict[str, dict[int, str]] = {}
        for path in sorted(glob.glob(os.path.join(glob.escape(self.folder), "*.sev")), key=natural_key):
            match = SEV_NAME.search(os.path.basename(path))
            if match and (store is None or match.group(1) == store):
                found.setdefault(match.group(1), {})[int(match.group(2))] = path
        return found

    def _from_sev_only(self, wanted: str | None) -> dict:
        files = self._sev_files(None)
        if not files:
            raise HeaderError(f"{self.folder}: no .tsq index and no <block>_<store>_Ch<n>.sev file; this is not a "
                              "TDT block folder.", self.folder)
        self.stores, self.tsq = list(files), None
        self.store = wanted or self.stores[0]
        if self.store not in files:
            raise HeaderError(f"{self.folder}: no .sev files of store {self.store!r}; set store to one of "
                              f"{', '.join(self.stores)}.", self.folder, candidates=self.stores)
        return self._sev_store(None, None)

    def _sev_store(self, records: np.ndarray | None, start_time: float | None) -> dict:
        files = self._sev_files(self.store).get(self.store, {})
        if not files:
            raise HeaderError(f"{self.folder}: store {self.store} is saved as .sev files but none is in the folder "
                              f"(expected *_{self.store}_Ch1.sev ...).", self.folder)
        numbers = sorted(files)
        headers = [sev_header(files[n]) for n in numbers]
        dtype, rate, _ = headers[0]
        if any(h[:2] != (dtype, rate) for h in headers):
            raise HeaderError(f"{self.folder}: the .sev files of store {self.store} disagree on format or rate.",
                              self.folder)
        itemsize = np.dtype(dtype).itemsize
        sizes = [(os.path.getsize(files[n]) - 40) // itemsize for n in numbers]
        self._files = [files[n] for n in numbers]
        self.channel_names = [f"{self.store} {n}" for n in numbers]
        self.nb_segments = 1
        self._shape = (min(sizes), len(numbers))
        if records is not None and len(records) and start_time is not None:
            self._t_start = round((float(records["timestamp"][0]) - start_time) * rate)
        return {"nb_channels": len(numbers), "sampling_rate": rate, "data_dtype": dtype, "dtype_offset": 0,
                "gain": 1.0}

    def get_description(self) -> dict:
        description = super().get_description()
        description["store"] = self.store
        return self._describe_segments(description, self.nb_segments)

    # -- streams ----------------------------------------------------------------------------------
    def set_streams(self, stream_mode: str) -> list[DataFile]:
        if stream_mode != "segments":
            return super().set_streams(stream_mode)
        return self._segment_sources(self.nb_segments, store=self.store)

    # -- events -----------------------------------------------------------------------------------
    def _local_events(self) -> np.ndarray:
        """The block's epocs (channel = epoc store, label = its value, duration to the paired offset),
        read from the `.tsq` on the first call and shared by every store of the block."""
        if not getattr(self, "tsq", None):
            return empty_events()
        onsets, durations, stores, labels = cached_for_file(self.tsq, "tdt-epocs", lambda: read_epocs(self.tsq))
        rate = float(self.sampling_rate)
        first = np.round(onsets * rate).astype(np.int64)
        last = np.round((onsets + durations) * rate).astype(np.int64)
        return make_events(first - self._t_start, stores, labels, last - first)

    # -- data -------------------------------------------------------------------------------------
    def _open(self, mode: str = "r") -> None:
        dtype = np.dtype(self.data_dtype).newbyteorder("<")
        if self._files:
            self._arrays = [np.memmap(p, dtype=dtype, mode="r", offset=40, shape=(self._shape[0],))
                            for p in self._files]
        else:
            self._bytes = np.memmap(self.tev, dtype=np.uint8, mode="r")

    def _close(self) -> None:
        self._arrays = self._bytes = None

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        t_stop = max(t_stop, t_start)
        chosen = range(self.nb_channels) if nodes is None else [int(n) for n in nodes]
        out = np.empty((t_stop - t_start, len(chosen)), dtype=self.data_dtype)
        for column, channel in enumerate(chosen):
            if self._files:
                out[:, column] = self._arrays[channel][t_start:t_stop]
            elif t_stop > t_start:
                self._copy_chunks(channel, t_start, t_stop, out[:, column])
        return self._scale_data_to_float32(out, nodes)

    def _copy_chunks(self, channel: int, t_start: int, t_stop: int, out: np.ndarray) -> None:
        starts, offsets, size = self._starts[channel], self._offsets[channel], self._itemsize
        dtype = np.dtype(self.data_dtype).newbyteorder("<")
        first = int(np.searchsorted(starts, t_start, side="right")) - 1
        last = int(np.searchsorted(starts, t_stop - 1, side="right")) - 1
        for chunk in range(first, last + 1):
            lo, hi = max(t_start, int(starts[chunk])), min(t_stop, int(starts[chunk + 1]))
            byte = int(offsets[chunk]) + (lo - int(starts[chunk])) * size
            out[lo - t_start:hi - t_start] = self._bytes[byte:byte + (hi - lo) * size].view(dtype)
