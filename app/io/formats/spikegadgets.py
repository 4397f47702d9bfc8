"""spikegadgets: SpikeGadgets Trodes recordings (`.rec`).

A UTF-8 XML configuration runs up to the line `</Configuration>`; packets follow: a sync byte,
the devices' bytes (digital/analog inputs), a uint32 sample counter, then int16 neural words.
Packets are memory-mapped as a structured dtype; a window copies only the words asked for.
Channels are presented in the configured nTrode order (each SpikeChannel's hwChan); the word
carrying hwChan h is found from the headstage's multiplexing: Intan chips interleaved (word i
holds hwChan (i % chips) * chanPerChip + i // chips, hwChans absent from the configuration
skipped), Neuropixels in hwChan order. Gain is the nTrode's spikeScalingToUv (µV per bit).
Layout: Trodes "Configuration" docs and established readers (facts in formats-more.md).
"""

from __future__ import annotations

import os
from xml.etree import ElementTree

import numpy as np

from app.io.datafile import DataFile
from app.io.errors import HeaderError
from app.io.events import cached_for_file, edges_from_words, empty_events, pair_ttl_edges
from app.io.messages import print_and_log

END_TAG = b"</Configuration>"
MAX_HEADER_BYTES = 16 << 20
SLAB_BYTES = 16 << 20           # packets read at a time when looking for digital edges


def read_xml(path: str) -> tuple[ElementTree.Element, int]:
    """The parsed configuration and the byte offset of the first packet."""
    with open(path, "rb") as handle:
        head = handle.read(MAX_HEADER_BYTES)
    end = head.find(END_TAG)
    if not head.lstrip().startswith(b"<?xml") or end < 0:
        raise HeaderError(f"{path}: no XML configuration ending in </Configuration> at the start; this is not a "
                          "Trodes .rec file, or its header is truncated.", path)
    stop = head.find(b"\n", end)
    stop = len(head) if stop < 0 else stop + 1
    try:
        root = ElementTree.fromstring(head[:stop].decode("utf-8"))
    except (ElementTree.ParseError, UnicodeDecodeError) as error:
        raise HeaderError(f"{path}: the XML configuration is damaged ({error}).", path) from None
    return root, stop


def _number(element: ElementTree.Element, key: str, kind: type, path: str, default=None):
    value = element.get(key)
    if value is None and default is not None:
        return default
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise HeaderError(f"{path}: <{element.tag}> has {key}={value!r}, not a number; the configuration is "
                          "damaged.", path) from None


def word_order(configured: list[int], words: int, hardware_channels: int, device: str | None,
               chan_per_chip: int) -> list[int]:
    """hwChan carried by each neural word of a packet."""
    if device in ("neuropixels1", "neuropixels2"):
        return list(range(words))
    present = set(configured)
    if chan_per_chip <= 0 or hardware_channels % chan_per_chip or chan_per_chip > hardware_channels:
        return sorted(present)
    chips = hardware_channels // chan_per_chip
    order = [(i % chips) * chan_per_chip + i // chips for i in range(hardware_channels)]
    return [h for h in order if h in present]


def digital_lines(root: ElementTree.Element, path: str) -> list[tuple[int, int, str]]:
    """(byte in the packet, bit, channel id) of every digital device channel; a device's bytes
    follow the sync byte in XML order. Channels multiplexed by an ID bit (interleavedDataIDByte)
    are valid only in some packets and are left out, as neo does."""
    hardware = root.find("HardwareConfiguration")
    lines, start = [], 1
    for device in ([] if hardware is None else hardware.findall("Device")):
        for channel in device.findall("Channel"):
            if channel.get("dataType") == "digital" and channel.get("interleavedDataIDByte") is None:
                byte = start + _number(channel, "startByte", int, path)
                lines.append((byte, _number(channel, "bit", int, path), channel.get("id") or f"byte {byte}"))
        start += _number(device, "numBytes", int, path, 0)
    return [line for line in lines if 0 <= line[1] < 8 and line[0] < start]


class SpikeGadgetsFile(DataFile):
    """The neural channels of a Trodes `.rec`, in nTrode order; read-only."""

    description = "spikegadgets"
    title = "SpikeGadgets Trodes (.rec)"
    extension = [".rec"]
    parallel_write = False
    is_writable = False
    _required_fields = {}
    _default_values = {}

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str] | None:
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as handle:
            head = handle.read(4096)
        if head.lstrip().startswith(b"<?xml") and b"<Configuration" in head and (
                b"HardwareConfiguration" in head or b"GlobalConfiguration" in head):
            return 1.0, "Trodes XML configuration"
        return None

    def _read_from_header(self) -> dict:
        root, data_start = read_xml(self.file_name)
        hardware, spikes = root.find("HardwareConfiguration"), root.find("SpikeConfiguration")
        if hardware is None or spikes is None:
            raise HeaderError(f"{self.file_name}: the configuration lacks <HardwareConfiguration> or "
                              "<SpikeConfiguration>; the header is damaged.", self.file_name)
        rate = _number(hardware, "samplingRate", float, self.file_name, 30000.0)
        hardware_channels = _number(hardware, "numChannels", int, self.file_name)
        device_bytes = sum(_number(d, "numBytes", int, self.file_name, 0) for d in hardware.findall("Device"))
        trodes = [(trode, channel) for trode in spikes.findall("SpikeNTrode")
                  for channel in trode.findall("SpikeChannel")]
        configured = [_number(channel, "hwChan", int, self.file_name) for _, channel in trodes]
        self._check_counts(rate, hardware_channels, device_bytes, configured)
        words = self._neural_words(root, hardware_channels, configured)
        order = word_order(configured, words, hardware_channels, spikes.get("device"),
                           _number(spikes, "chanPerChip", int, self.file_name, 32))
        if sorted(order) != sorted(configured) or len(order) != words:
            raise HeaderError(f"{self.file_name}: the {words} neural words of a packet cannot be matched to the "
                              f"{len(configured)} configured hwChans; the configuration is inconsistent.",
                              self.file_name)
        word_of = {h: i for i, h in enumerate(order)}
        self._words = np.array([word_of[h] for h in configured], dtype=np.intp)
        self.channel_names = [f"ntrode{trode.get('id')}_hw{h}" for (trode, _), h in zip(trodes, configured)]
        self._set_gains(trodes)
        self._packet = np.dtype([("head", "u1", (1 + device_bytes,)), ("timestamp", "<u4"),
                                 ("neural", "<i2", (words,))])
        self._data_start = data_start
        packets, rest = divmod(os.path.getsize(self.file_name) - data_start, self._packet.itemsize)
        if rest:
            print_and_log(f"{self.file_name}: the last {rest} bytes are not a whole {self._packet.itemsize}-byte "
                          "packet (file truncated?); ignored.", "warning")
        if packets <= 0:
            raise HeaderError(f"{self.file_name}: no whole packet after the configuration; the file holds no "
                              "samples.", self.file_name)
        self._shape = (packets, len(configured))
        self._t_start = self._first_timestamp()
        gains = self._channel_gains
        return {"nb_channels": len(configured), "sampling_rate": rate, "data_dtype": "int16", "dtype_offset": 0,
                "gain": float(gains[0]) if np.all(gains == gains[0]) else 1.0}

    def _check_counts(self, rate: float, hardware_channels: int, device_bytes: int, configured: list[int]) -> None:
        if not (rate > 0 and np.isfinite(rate)):
            raise HeaderError(f"{self.file_name}: samplingRate {rate} is not a positive rate.", self.file_name)
        if hardware_channels < 0 or device_bytes < 0 or not configured:
            raise HeaderError(f"{self.file_name}: numChannels {hardware_channels}, device bytes {device_bytes}, "
                              f"{len(configured)} SpikeChannels: nothing to read, or the header is damaged.",
                              self.file_name)
        if len(set(configured)) != len(configured):
            raise HeaderError(f"{self.file_name}: a hwChan appears twice in the SpikeConfiguration.", self.file_name)

    def _neural_words(self, root: ElementTree.Element, hardware_channels: int, configured: list[int]) -> int:
        """numChannels words per packet; fewer when Trodes saved only the configured channels."""
        settings = root.find("GlobalConfiguration")
        saved_displayed = settings is not None and settings.get("saveDisplayedChanOnly") == "1"
        if len(configured) > hardware_channels:
            raise HeaderError(f"{self.file_name}: {len(configured)} SpikeChannels but numChannels is "
                              f"{hardware_channels}; the configuration is inconsistent.", self.file_name)
        return len(configured) if saved_displayed else hardware_channels

    def _set_gains(self, trodes: list) -> None:
        scales = [trode.get("spikeScalingToUv") for trode, _ in trodes]
        if any(s is None for s in scales):
            print_and_log(f"{self.file_name}: no spikeScalingToUv in the configuration (older Trodes); samples "
                          "are left in raw units (set gain to 0.195 for Intan headstages).", "warning")
        self._channel_gains = np.array([_number(t, "spikeScalingToUv", float, self.file_name, 1.0)
                                        for t, _ in trodes], dtype=np.float64)

    def _first_timestamp(self) -> int:
        with open(self.file_name, "rb") as handle:
            handle.seek(self._data_start + self._packet.fields["timestamp"][1])
            return int(np.frombuffer(handle.read(4), "<u4")[0])

    def _open(self, mode: str = "r") -> None:
        self._packets = np.memmap(self.file_name, dtype=self._packet, mode="r", offset=self._data_start,
                                  shape=(self._shape[0],))

    def _close(self) -> None:
        self._packets = None

    def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
        t_start, t_stop = self._get_t_start_t_stop(idx, chunk_size, padding)
        words = self._words if nodes is None else self._words[np.asarray(nodes, dtype=np.intp)]
        rows = np.take(self._packets[t_start:max(t_stop, t_start)]["neural"], words, axis=1)
        return self._scale_data_to_float32(rows, nodes)

    # -- events -----------------------------------------------------------------------------------
    def _local_events(self) -> np.ndarray:
        """Pulses on the configuration's digital channels (inputs and outputs, named by their id,
        e.g. `Din1`), from the devices' bytes of each packet; sample = packet index. Read on the
        first call (O(file)) and kept in memory per file."""
        return cached_for_file(self.file_name, "rec-digital", self._scan_digital)

    def _scan_digital(self) -> np.ndarray:
        lines = digital_lines(read_xml(self.file_name)[0], self.file_name)
        if not lines:
            return empty_events()
        names = {8 * byte + bit: name for byte, bit, name in lines}
        bits_of: dict[int, list[int]] = {}
        for byte, bit, _ in lines:
            bits_of.setdefault(byte, []).append(bit)
        packets = np.memmap(self.file_name, dtype=self._packet, mode="r", offset=self._data_start,
                            shape=(self._shape[0],))
        step = max(1, SLAB_BYTES // self._packet.itemsize)
        found, previous = [], {}
        for first in range(0, len(packets), step):
            head = np.array(packets[first:first + step]["head"])
            for byte, bits in bits_of.items():
                samples, bit, rising = edges_from_words(head[:, byte], first, previous.get(byte), bits=bits)
                found.append((samples, bit + 8 * byte, rising))
                previous[byte] = int(head[-1, byte])
        del packets
        samples, lines_hit, rising = (np.concatenate(parts) for parts in zip(*found))
        return pair_ttl_edges(samples, lines_hit, rising, names=lambda line: names[int(line)])
