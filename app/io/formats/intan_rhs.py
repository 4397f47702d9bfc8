"""intan_rhs: Intan RHS2000 stimulation/recording format (`.rhs`), header and data blocks in one file.

Data follow the header in blocks of 128 samples: timestamps, then each signal channel by
channel (amplifier, DC amplifier when saved, stimulation, analog in, analog out, digital words).
The recording is the amplifier channels; `signal` picks another analog signal of the same rate
(`dc_amplifier`, `analog_in`, `analog_out`). A window is read block by block with a structured
dtype over a memmap, keeping only the field asked for.
Layout: Intan's "RHS2000 Application Note: Data File Formats" (facts in formats-more.md).
"""

from __future__ import annotations

import os
import struct

import numpy as np

from app.io.datafile import DataFile
from app.io.errors import HeaderError
from app.io.events import cached_for_file, edges_from_words, empty_events, merge_events, pair_ttl_edges
from app.io.formats._intan import block_rows, count_blocks, map_blocks, sniff_magic
from app.io.formats.rhd import _HeaderReader

MAGIC = 0xD69127AC
BLOCK_SAMPLES = 128
AMPLIFIER, ADC, DAC, DIGITAL_IN, DIGITAL_OUT = 0, 3, 4, 5, 6
SIGNAL_TYPES = (AMPLIFIER, ADC, DAC, DIGITAL_IN, DIGITAL_OUT)

# signal -> (header signal type, µV per bit, raw value of zero). DC amplifier: V = -0.01923 * (raw - 512)
# (neo 0.14 uses +19.23 mV/bit, the opposite sign; Intan's own readers use the minus).
SIGNALS = {
    "amplifier": (AMPLIFIER, 0.195, 32768),
    "dc_amplifier": (AMPLIFIER, -19230.0, 512),
    "analog_in": (ADC, 312.5, 32768),
    "analog_out": (DAC, 312.5, 32768),
}


def read_rhs_global(reader: _HeaderReader, file_name: str) -> dict:
    """The global part of an RHS header, up to (not including) the signal groups."""
    magic = reader.value("I", "the magic number")
    if magic != MAGIC:
        raise HeaderError(f"{file_name}: magic number 0x{magic:08X} is not Intan RHS2000's 0x{MAGIC:08X}; "
                          "this is not an .rhs file (an .rhd file needs the rhd format).", file_name)
    major, minor = reader.values("hh", "the version")
    if not (1 <= major <= 3 and 0 <= minor < 100):
        raise HeaderError(f"{file_name}: RHS version {major}.{minor} is unknown (1.0 to 3.x exist); the header "
                          "is corrupt or from a newer Intan release.", file_name)
    rate = reader.value("f", "sample_rate")
    reader.values("h8f", "the filter settings")
    notch = reader.value("h", "notch_filter_mode")
    reader.values("2f", "impedance_test_frequency")
    reader.values("hh", "amp_settle_mode and charge_recovery_mode")
    stim_step = reader.values("3f", "the stimulation settings")[0]
    notes = [reader.qstring(f"note {k}") for k in (1, 2, 3)]
    dc_saved = reader.value("h", "dc_amplifier_data_saved")
    board_mode = reader.value("h", "board_mode")
    reference = reader.qstring("reference_channel")
    if not (rate > 0 and np.isfinite(rate)):
        raise HeaderError(f"{file_name}: sample_rate {rate} is not a positive rate; the header is corrupt.",
                          file_name)
    return {"version": (major, minor), "sampling_rate": float(rate), "notch_filter_mode": notch,
            "stim_step_size": stim_step, "notes": notes, "dc_amplifier_data_saved": bool(dc_saved),
            "board_mode": board_mode, "reference_channel": reference}


def read_rhs_channels(reader: _HeaderReader, file_name: str) -> list[dict]:
    """Enabled channels of enabled groups, in file order (the order of the data)."""
    nb_groups = reader.value("h", "number_of_signal_groups")
    if nb_groups < 0:
        raise HeaderError(f"{file_name}: number_of_signal_groups is {nb_groups}; the header is corrupt.", file_name)
    channels = []
    for group in range(nb_groups):
        reader.qstring(f"group {group} name")
        reader.qstring(f"group {group} prefix")
        enabled, count, _ = reader.values("hhh", f"group {group} channel counts")
        if count < 0:
            raise HeaderError(f"{file_name}: signal group {group} has {count} channels; the header is corrupt.",
                              file_name)
        if not (enabled and count):
            continue
        for _ in range(count):
            native = reader.qstring(f"group {group} channel name")
            custom = reader.qstring(f"group {group} custom channel name")
            fields = reader.values("11h2f", f"channel {native} fields")
            native_order, signal_type, channel_enabled = fields[0], fields[2], fields[3]
            if signal_type not in SIGNAL_TYPES:
                raise HeaderError(f"{file_name}: channel {native} has signal type {signal_type} (RHS uses 0, 3, "
                                  "4, 5, 6); the header is corrupt.", file_name)
            if channel_enabled:
                channels.append({"native_name": native, "custom_name": custom, "signal_type": signal_type,
                                 "native_order": native_order})
    return channels


def read_rhs_header(file_name: str) -> tuple[dict, list[dict], int]:
    """(global settings, enabled channels, byte offset of the first data block)."""
    with open(file_name, "rb") as handle:
        reader = _HeaderReader(handle, file_name, "RHS")
        info = read_rhs_global(reader, file_name)
        channels = read_rhs_channels(reader, file_name)
        return info, channels, reader.tell()


def rhs_block_dtype(counts: dict[int, int], dc_saved: bool) -> np.dtype:
    """One 128-sample data block; each analog channel holds 128 consecutive samples."""
    n = BLOCK_SAMPLES
    fields = [("timestamp", "<i4", (n,))]
    if counts[AMPLIFIER]:
        fields.append(("amplifier", "<u2", (counts[AMPLIFIER], n)))
        if dc_saved:
            fields.append(("dc_amplifier", "<u2", (counts[AMPLIFIER], n)))
        fields.append(("stim", "<u2", (counts[AMPLIFIER], n)))
    if counts[ADC]:
        fields.append(("analog_in", "<u2", (counts[ADC], n)))
    if counts[DAC]:
        fields.append(("analog_out", "<u2", (counts[DAC], n)))
    if counts[DIGITAL_IN]:
        fields.append(("digital_in", "<u2", (n,)))
    if counts[DIGITAL_OUT]:
        fields.append(("digital_out", "<u2", (n,)))
    return np.dtype(fields)


class IntanRHSFile(DataFile):
    """Intan RHS2000 `.rhs`: amplifier channels as uint16, 0.195 µV per bit around 32768."""

    description = "intan_rhs"
    title = "Intan RHS2000 (.rhs)"
    extension = [".rhs"]
    parallel_write = False
    is_writable = False
    _required_fields = {}
    _default_values = {}
    _field_types = {"signal": "string"}

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        return sniff_magic(path, MAGIC, "RHS2000", "info.rhs")

    def _read_from_header(self) -> dict:
        info, channels, self._data_offset = read_rhs_header(self.file_name)
        signal = str(self._params.get("signal", "amplifier"))
        if signal not in SIGNALS:
            raise HeaderError(f"{self.file_name}: signal {signal!r} is not one of {', '.join(SIGNALS)}; fix the "
                              "signal param.", self.file_name, candidates=list(SIGNALS))
        kind, gain, offset = SIGNALS[signal]
        counts = {k: sum(c["signal_type"] == k for c in channels) for k in SIGNAL_TYPES}
        self._block = rhs_block_dtype(counts, info["dc_amplifier_data_saved"])
        if signal not in self._block.names:
            present = [s for s in SIGNALS if s in self._block.names]
            raise HeaderError(f"{self.file_name}: the file holds no {signal} data (it has "
                              f"{', '.join(present) or 'no analog signal'}); pick another signal.",
                              self.file_name, candidates=present)
        self.signal, self.version = signal, info["version"]
        self.channel_names = [c["custom_name"] or c["native_name"] for c in channels if c["signal_type"] == kind]
        self.stim_step_size = info["stim_step_size"]
        nb_blocks = count_blocks(self.file_name, self._data_offset, self._block.itemsize)
        if nb_blocks == 0 and os.path.basename(self.file_name).lower() == "info.rhs":
            raise HeaderError(f"{self.file_name}: a header without data blocks (Intan's .dat layouts keep the "
                              "samples in separate files); open it with file_format=intan_dat.", self.file_name)
        self._shape = (nb_blocks * BLOCK_SAMPLES, counts[kind])
        self._t_start = self._first_timestamp() if nb_blocks else 0
        return {"nb_channels": counts[kind], "sampling_rate": info["sampling_rate"], "data_dtype": "uint16",
                "dtype_offset": offset, "gain": gain}

    def related_streams(self) -> list[tuple[str, str, dict]]:
        """The file's other signal kinds that hold channels (DC amplifier, analog in/out)."""
        present = [name for name in SIGNALS if name in self._block.names and name != self.signal]
        return [(name.replace("_", " "), self.file_name, {"signal": name}) for name in present]

    def _first_timestamp(self) -> int:
        with open(self.file_name, "rb") as handle:
            handle.seek(self._data_offset)
            return int(struct.unpack("<i", handle.read(4))[0])

    def _open(self, mode: str = "r") -> None:
        self._blocks = map_blocks(self.file_name, self._block, self._data_offset,
                                  self._shape[0] // BLOCK_SAMPLES)

    def _close(self) -> None:
        self._blocks = None

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        width = self.nb_channels if nodes is None else len(nodes)
        if t_stop <= t_start:
            return np.zeros((0, width), dtype=np.float32)
        rows = block_rows(self._blocks, self.signal, BLOCK_SAMPLES, t_start, t_stop, nodes)
        return self._scale_data_to_float32(rows, nodes)

    # -- events -----------------------------------------------------------------------------------
    def _local_events(self) -> np.ndarray:
        """Pulses on the board's digital inputs, then outputs: one channel per enabled line (its
        custom name, e.g. `DIGITAL-IN-01`; bit = the line's native order). The digital words of
        all blocks are read on the first call (O(file)) and kept in memory per file."""
        fields = [(name, kind) for name, kind in (("digital_in", DIGITAL_IN), ("digital_out", DIGITAL_OUT))
                  if name in (self._block.names or ())]
        if not fields or not self._shape[0]:
            return empty_events()
        _, channels, _ = read_rhs_header(self.file_name)
        tables = []
        for name, kind in fields:
            lines = {int(c["native_order"]): c["custom_name"] or c["native_name"]
                     for c in channels if c["signal_type"] == kind}
            load = lambda f=name, n=lines: self._scan_words(f, n)
            tables.append(cached_for_file(self.file_name, f"rhs-{name}", load))
        return merge_events(*tables)

    def _scan_words(self, field: str, names: dict[int, str]) -> np.ndarray:
        nb_blocks = self._shape[0] // BLOCK_SAMPLES
        blocks = np.memmap(self.file_name, dtype=self._block, mode="r", offset=self._data_offset,
                           shape=(nb_blocks,))
        step = max(1, (1 << 18) // BLOCK_SAMPLES)
        found, previous = [], None
        for first in range(0, nb_blocks, step):
            words = np.array(blocks[first:first + step][field]).reshape(-1)
            found.append(edges_from_words(words, first * BLOCK_SAMPLES, previous, bits=sorted(names)))
            previous = int(words[-1])
        del blocks
        samples, bits, rising = (np.concatenate(parts) for parts in zip(*found))
        return pair_ttl_edges(samples, bits, rising, names=lambda bit: names[int(bit)])
