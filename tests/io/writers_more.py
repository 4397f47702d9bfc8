"""Compact writers of more acquisition layouts (Intan RHS and header-less, Plexon, TDT, SpikeGadgets),
written from the vendors' published layouts (see /work/shared/formats-more.md).

They share no code with the readers in app/io/formats, so a test that writes with them and reads
with a reader checks the reader against the layout, not against itself.
"""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path

import numpy as np

from tests.io.writers_binary import qstring, rhd_header

# -- Intan RHS2000 ----------------------------------------------------------------------------------

RHS_MAGIC = 0xD69127AC


def _rhs_channel(name: str, order: int, signal_type: int, enabled: int = 1) -> bytes:
    fields = (order, order, signal_type, enabled, order % 16, order // 16, order // 16, 0, 0, 0, 0)
    return qstring(name) + qstring(name) + struct.pack("<11h", *fields) + struct.pack("<ff", 2.0e5, -30.0)


def rhs_header(sampling_rate: float, amplifier: int, dc_saved: bool = True, adc: int = 0, dac: int = 0,
               digital_in: int = 0, digital_out: int = 0, disabled_amplifier: int = 0,
               version: tuple[int, int] = (3, 0), stim_step: float = 1e-6) -> bytes:
    """The RHS2000 header: global settings, then signal groups (a disabled group lists no channel)."""
    out = struct.pack("<Ihh", RHS_MAGIC, *version)
    out += struct.pack("<fh8f", sampling_rate, 1, 1.0, 0.1, 1000.0, 7500.0, 1.0, 0.1, 1000.0, 7500.0)
    out += struct.pack("<h2f", 1, 1000.0, 1000.0)
    out += struct.pack("<hh3f", 0, 0, stim_step, 1e-6, 0.0)
    out += qstring("rhs note") + qstring("") + qstring(None)
    out += struct.pack("<hh", 1 if dc_saved else 0, 0)
    out += qstring("hardware")
    port = [(f"A-{k:03d}", k, 0, 1) for k in range(amplifier)]
    port += [(f"A-{amplifier + k:03d}", amplifier + k, 0, 0) for k in range(disabled_amplifier)]
    groups = [("Port A", "A", 1, port, len(port)), ("Port B", "B", 0, [None] * 16, 16),
              ("Analog In", "ANALOG-IN", 1, [(f"ANALOG-IN-{k + 1}", k, 3, 1) for k in range(adc)], 0),
              ("Analog Out", "ANALOG-OUT", 1, [(f"ANALOG-OUT-{k + 1}", k, 4, 1) for k in range(dac)], 0),
              ("Digital In", "DIGITAL-IN", 1,
               [(f"DIGITAL-IN-{k + 1:02d}", k, 5, 1) for k in range(digital_in)], 0),
              ("Digital Out", "DIGITAL-OUT", 1,
               [(f"DIGITAL-OUT-{k + 1:02d}", k, 6, 1) for k in range(digital_out)], 0)]
    out += struct.pack("<h", len(groups))
    for name, prefix, enabled, channels, amp_count in groups:
        out += qstring(name) + qstring(prefix) + struct.pack("<hhh", enabled, len(channels), amp_count)
        if enabled:
            out += b"".join(_rhs_channel(*channel) for channel in channels)
    return out


def rhs_block_bytes(amplifier: int, dc_saved: bool, adc: int = 0, dac: int = 0, digital_in: int = 0,
                    digital_out: int = 0) -> int:
    words = amplifier * (3 if dc_saved else 2) + adc + dac + (digital_in > 0) + (digital_out > 0)
    return 128 * (4 + 2 * words)


def write_rhs(path, amplifier: np.ndarray, dc: np.ndarray | None = None, stim: np.ndarray | None = None,
              adc: np.ndarray | None = None, dac: np.ndarray | None = None, digital_in: int = 0,
              digital_out: int = 0, sampling_rate: float = 30000.0, first_timestamp: int = 0,
              disabled_amplifier: int = 0, version: tuple[int, int] = (3, 0)) -> str:
    """Arrays are uint16 (samples, channels), samples a multiple of 128; stim defaults to zeros."""
    samples, channels = amplifier.shape
    assert samples % 128 == 0
    empty = np.zeros((samples, 0), np.uint16)
    adc = empty if adc is None else adc
    dac = empty if dac is None else dac
    stim = np.zeros_like(amplifier) if stim is None else stim
    with open(path, "wb") as handle:
        handle.write(rhs_header(sampling_rate, channels, dc is not None, adc.shape[1], dac.shape[1], digital_in,
                                digital_out, disabled_amplifier, version))
        for b in range(samples // 128):
            rows = slice(b * 128, (b + 1) * 128)
            handle.write((first_timestamp + b * 128 + np.arange(128)).astype("<i4").tobytes())
            for signal in (amplifier, dc, stim, adc, dac):
                if signal is not None:
                    handle.writelines(signal[rows, c].astype("<u2").tobytes() for c in range(signal.shape[1]))
            if digital_in:
                handle.write(np.arange(128, dtype="<u2").tobytes())
            if digital_out:
                handle.write(np.full(128, 5, "<u2").tobytes())
    return str(path)


# -- Intan header-less layouts ----------------------------------------------------------------------


def write_intan_dat(folder, layout: str, amplifier: np.ndarray, kind: str = "rhd", first_timestamp: int = 0,
                    analog_in: np.ndarray | None = None, sampling_rate: float = 30000.0) -> str:
    """`info.rhd`/`info.rhs` + `time.dat` + either `amplifier.dat` (layout 'signal') or one
    `amp-A-nnn.dat` per channel (layout 'channel'). `amplifier` is int16 (samples, channels);
    `analog_in` uint16. Returns the info file's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    samples, channels = amplifier.shape
    n_adc = 0 if analog_in is None else analog_in.shape[1]
    if kind == "rhd":
        header = rhd_header((3, 0), sampling_rate, channels, adc=n_adc)
    else:
        header = rhs_header(sampling_rate, channels, dc_saved=False, adc=n_adc)
    (folder / f"info.{kind}").write_bytes(header)
    (folder / "time.dat").write_bytes((first_timestamp + np.arange(samples)).astype("<i4").tobytes())
    if layout == "signal":
        (folder / "amplifier.dat").write_bytes(amplifier.astype("<i2").tobytes())
        if analog_in is not None:
            (folder / "analogin.dat").write_bytes(analog_in.astype("<u2").tobytes())
        if kind == "rhs":
            (folder / "stim.dat").write_bytes(np.zeros((samples, channels), "<u2").tobytes())
    else:
        for c in range(channels):
            (folder / f"amp-A-{c:03d}.dat").write_bytes(amplifier[:, c].astype("<i2").tobytes())
            if kind == "rhs":
                (folder / f"stim-A-{c:03d}.dat").write_bytes(np.zeros(samples, "<u2").tobytes())
        for c in range(n_adc):
            (folder / f"board-ANALOG-IN-{c + 1}.dat").write_bytes(analog_in[:, c].astype("<u2").tobytes())
    return str(folder / f"info.{kind}")


# -- Plexon .plx ------------------------------------------------------------------------------------

PLX_GLOBAL_BYTES, PLX_DSP_BYTES, PLX_EVENT_BYTES, PLX_SLOW_BYTES = 7504, 1020, 296, 296


def plx_global_header(version: int, ad_frequency: int, n_dsp: int, n_event: int, n_slow: int,
                      bits: int = 12, slow_max_mv: int = 5000, spike_max_mv: int = 3000,
                      spike_preamp: int = 1000) -> bytes:
    out = bytearray(PLX_GLOBAL_BYTES)
    struct.pack_into("<Ii", out, 0, 0x58454C50, version)
    out[8:8 + 24] = b"written by a wavescope test"[:24]
    struct.pack_into("<iiiiii", out, 136, ad_frequency, n_dsp, n_event, n_slow, 32, 8)
    struct.pack_into("<6i", out, 160, 2021, 3, 4, 10, 20, 30)
    struct.pack_into("<ii", out, 184, 0, ad_frequency)
    if version >= 103:
        struct.pack_into("<BBBBHH", out, 200, 1, 1, bits, bits, spike_max_mv, slow_max_mv)
    if version >= 105:
        struct.pack_into("<H", out, 208, spike_preamp)
    if version >= 106:
        out[210:210 + 8] = b"OmniPlex"
    return bytes(out)


def plx_dsp_header(name: str, channel: int) -> bytes:
    out = bytearray(PLX_DSP_BYTES)
    out[0:len(name)] = name.encode()
    struct.pack_into("<9i", out, 64, channel, 40000, channel, 0, 32, 0, -100, 1, 1)
    return bytes(out)


def plx_event_header(name: str, channel: int) -> bytes:
    out = bytearray(PLX_EVENT_BYTES)
    out[0:len(name)] = name.encode()
    struct.pack_into("<i", out, 32, channel)
    return bytes(out)


def plx_slow_header(name: str, channel: int, rate: int, gain: int, preamp: int, enabled: int = 1) -> bytes:
    out = bytearray(PLX_SLOW_BYTES)
    out[0:len(name)] = name.encode()
    struct.pack_into("<6i", out, 32, channel, rate, gain, enabled, preamp, 0)
    struct.pack_into("<BBH", out, 184, 1, 0, channel + 1)
    return bytes(out)


PLX_BLOCK = struct.Struct("<hHIhhhh")


def plx_block(kind: int, channel: int, ticks: int, unit: int = 0, words: np.ndarray | None = None) -> bytes:
    words = np.zeros(0, "<i2") if words is None else np.asarray(words, "<i2")
    waveforms = 1 if len(words) else 0
    return PLX_BLOCK.pack(kind, ticks >> 32, ticks & 0xFFFFFFFF, channel, unit, waveforms, len(words)) + words.tobytes()


def write_plx(path, slow: list[dict], blocks: list[bytes], version: int = 107, ad_frequency: int = 40000,
              dsp: int = 1, events: int = 1, bits: int = 12) -> str:
    """`slow`: dicts name, channel (0-based), rate, gain, preamp; `blocks`: raw data blocks in file order."""
    with open(path, "wb") as handle:
        handle.write(plx_global_header(version, ad_frequency, dsp, events, len(slow), bits))
        handle.writelines(plx_dsp_header(f"SPK{k + 1:02d}", k + 1) for k in range(dsp))
        handle.writelines(plx_event_header(f"EVT{k + 1:02d}", k + 1) for k in range(events))
        handle.writelines(plx_slow_header(c["name"], c["channel"], c["rate"], c["gain"], c["preamp"])
                          for c in slow)
        handle.writelines(blocks)
    return str(path)


def plx_continuous_blocks(channel: int, data: np.ndarray, rate: int, ad_frequency: int, block: int,
                          first_tick: int = 0) -> list[tuple[int, bytes]]:
    """(ticks, block) for int16 `data` of one channel cut into blocks of `block` samples."""
    step = ad_frequency // rate
    return [(first_tick + k * step, plx_block(5, channel, first_tick + k * step, 0, data[k:k + block]))
            for k in range(0, len(data), block)]


# -- TDT tank/block ---------------------------------------------------------------------------------

TSQ = np.dtype([("size", "<i4"), ("type", "<i4"), ("code", "S4"), ("channel", "<u2"), ("sort", "<u2"),
                ("timestamp", "<f8"), ("offset", "<i8"), ("format", "<i4"), ("rate", "<f4")])
TDT_FORMATS = {np.dtype("float32"): 0, np.dtype("int32"): 1, np.dtype("int16"): 2, np.dtype("int8"): 3,
               np.dtype("float64"): 4}
STREAM, MARK, UCF = 0x8101, 0x8801, 0x10


def tbk_text(stores: list[dict]) -> bytes:
    """The `.Tbk` store notes TDT readers parse (one [STOREHDRITEM] per store)."""
    items = []
    for s in stores:
        channels = s["data"].shape[0]
        fields = [("StoreName", "L", s["name"]), ("HeadName", "L", s["name"] + "_head"), ("Enabled", "B", "1"),
                  ("CircType", "L", "0"), ("NumChan", "L", str(channels)), ("StrobeMode", "L", "0"),
                  ("TankEvType", "L", str(STREAM | (UCF if s.get("sev") else 0))),
                  ("NumPoints", "L", str(s["chunk"])), ("DataFormat", "L", str(TDT_FORMATS[s["data"].dtype])),
                  ("SampleFreq", "D", repr(float(np.float32(s["rate"]))))]
        items.append("[STOREHDRITEM]" + "".join(f"NAME={n};TYPE={t};VALUE={v};\n" for n, t, v in fields))
    text = "TBK header\n[USERNOTEDELIMITER]\n[USERNOTEDELIMITER]" + "".join(items) + "[USERNOTEDELIMITER]\n"
    return text.encode("ascii")


def sev_rate_code(rate: float) -> tuple[int, int]:
    """(rate code, decimate) of the SEV header: rate = 2**(code - 12) * 25e6 / decimate, the
    closest at or above `rate` (TDT hardware runs at these)."""
    for code in range(24):
        candidate = 2.0 ** (code - 12) * 25e6
        if candidate >= rate:
            return code, round(candidate / rate)
    raise ValueError(rate)


def _sev_header(store: str, channel: int, channels: int, dtype: np.dtype, rate: float, samples: int) -> bytes:
    """Version 3 SEV header (40 bytes)."""
    rate_code, decimate = sev_rate_code(rate)
    size = 40 + samples * dtype.itemsize
    return (struct.pack("<Q", size) + b"SEV" + bytes([3]) + store.encode().ljust(4)[:4]
            + struct.pack("<HHHH", channel, channels, dtype.itemsize, 0)
            + struct.pack("<BBH", TDT_FORMATS[dtype], decimate, rate_code) + bytes(12))


def write_tdt_block(tank, block: str, stores: list[dict], start_time: float = 1.6e9) -> str:
    """A TDT block `tank/block` holding stream stores. Each store: name (4 chars), data (channels,
    samples) array, rate, chunk (samples per TSQ record), optional gaps {chunk index: seconds of
    pause before it}, sev (write per-channel .sev files instead of .tev chunks). Returns the folder."""
    tank = Path(tank)
    folder = tank / block
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"{tank.name}_{block}"
    records = [np.zeros(1, TSQ)]
    records[0]["size"], records[0]["offset"] = 10, 0
    start = np.zeros(1, TSQ)
    start[["size", "type", "timestamp"]] = (10, MARK, start_time)
    start["code"] = struct.pack("<I", 1)
    records.append(start)
    tev = bytearray()
    events = []
    for s in stores:
        data, chunk, rate = s["data"], s["chunk"], float(np.float32(s["rate"]))
        channels, samples = data.shape
        sev = bool(s.get("sev"))
        if sev:
            for c in range(channels):
                header = _sev_header(s["name"], c + 1, channels, data.dtype, rate, samples)
                name = folder / f"{tank.name}_{block}_{s['name']}_Ch{c + 1}.sev"
                name.write_bytes(header + data[c].astype(data.dtype.newbyteorder("<")).tobytes())
        pause = 0.0
        for k, first in enumerate(range(0, samples, chunk)):
            pause += s.get("gaps", {}).get(k, 0.0)
            when = start_time + 0.01 + first / rate + pause
            for c in range(channels):
                where = 40 + first * data.dtype.itemsize if sev else None     # SEV chunks point into the .sev
                events.append((when, s["name"], c + 1, data[c, first:first + chunk], STREAM | (UCF if sev else 0),
                               data.dtype, rate, where))
    events.sort(key=lambda e: e[0])
    for when, name, channel, samples, kind, dtype, rate, where in events:
        record = np.zeros(1, TSQ)
        payload = samples.astype(dtype.newbyteorder("<")).tobytes()
        assert len(payload) % 4 == 0
        record[["size", "type", "channel", "timestamp", "offset", "format", "rate"]] = (
            10 + len(payload) // 4, kind, channel, when, len(tev) if where is None else where, TDT_FORMATS[dtype],
            rate)
        record["code"] = name.encode()
        if where is None:
            tev += payload
        records.append(record)
    stop = np.zeros(1, TSQ)
    stop[["size", "type", "timestamp"]] = (10, MARK, events[-1][0] + 1.0 if events else start_time + 1)
    stop["code"] = struct.pack("<I", 2)
    records.append(stop)
    stem.with_suffix(".tsq").write_bytes(np.concatenate(records).tobytes())
    stem.with_suffix(".tev").write_bytes(bytes(tev))
    stem.with_suffix(".Tbk").write_bytes(tbk_text(stores))
    stem.with_suffix(".Tdx").write_bytes(b"")
    return str(folder)


# -- SpikeGadgets .rec ------------------------------------------------------------------------------


def rec_header(channels: int, ntrodes: list[list[int]], rate: float = 30000.0, scaling: float | None = 0.195,
               device: str | None = "intan", chan_per_chip: int | None = None, devices: int = 1,
               timestamp_at_creation: int = 0) -> bytes:
    """Trodes XML: MCU_IO (1 byte: digital inputs) and ECU (2 bytes, one analog channel at byte 0)
    devices, and one SpikeNTrode per list of hardware channels."""
    scale = f' spikeScalingToUv="{scaling}"' if scaling is not None else ""
    trodes = "".join(
        f'  <SpikeNTrode id="{k + 1}" refNTrodeID="1" filterOn="1"{scale}>\n'
        + "".join(f'   <SpikeChannel hwChan="{hw}" thresh="60" maxDisp="400"/>\n' for hw in hw_list)
        + "  </SpikeNTrode>\n" for k, hw_list in enumerate(ntrodes))
    device_attr = f' device="{device}"' if device else ""
    chip_attr = f' chanPerChip="{chan_per_chip}"' if chan_per_chip else ""
    ecu = ('  <Device name="ECU" numBytes="2" available="1" packetOrderPreference="20">\n'
           '   <Channel id="Ain1" dataType="analog" startByte="0" bit="0" input="1"/>\n  </Device>\n'
           if devices > 1 else "")
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Configuration>\n'
        f' <GlobalConfiguration systemTimeAtCreation="1600000000000" timestampAtCreation="{timestamp_at_creation}"'
        ' trodesVersion="2.3.4" filePrefix="" saveDisplayedChanOnly="1"/>\n'
        f' <HardwareConfiguration samplingRate="{rate:g}" numChannels="{channels}">\n'
        '  <Device name="MCU_IO" numBytes="1" available="1" packetOrderPreference="10">\n'
        '   <Channel id="Din1" dataType="digital" startByte="0" bit="0" input="1"/>\n  </Device>\n'
        + ecu + " </HardwareConfiguration>\n"
        f" <SpikeConfiguration{device_attr}{chip_attr}>\n{trodes} </SpikeConfiguration>\n</Configuration>\n")
    return text.encode("utf-8")


def write_rec(path, words: np.ndarray, header: bytes, device_bytes: int = 1, first_timestamp: int = 0,
              timestamps: np.ndarray | None = None) -> str:
    """`words` is int16 (samples, numChannels) in packet (hardware) order."""
    samples, channels = words.shape
    packet = np.dtype([("sync", "u1"), ("devices", "u1", (device_bytes,)), ("timestamp", "<u4"),
                       ("neural", "<i2", (channels,))])
    packets = np.zeros(samples, packet)
    packets["sync"] = 0x55
    packets["devices"][:, 0] = np.arange(samples) % 2
    packets["timestamp"] = first_timestamp + np.arange(samples) if timestamps is None else timestamps
    packets["neural"] = words
    with open(path, "wb") as handle:
        handle.write(header)
        handle.write(packets.tobytes())
    return str(path)


def intan_word_order(channels: int, chan_per_chip: int = 32) -> np.ndarray:
    """Hardware channel carried by each neural word: chips interleaved, local channel outer."""
    chips = channels // chan_per_chip
    i = np.arange(channels)
    return (i % chips) * chan_per_chip + i // chips


# -- damage -----------------------------------------------------------------------------------------


def bit_flipped_copies(path, header_bytes: int, count: int, seed: int = 0, folder=None):
    """Yield copies of `path` with one random bit flipped inside its first `header_bytes` bytes."""
    rng = random.Random(seed)
    original = Path(path).read_bytes()
    folder = Path(folder or Path(path).parent)
    for k in range(count):
        bit = rng.randrange(min(header_bytes, len(original)) * 8)
        damaged = bytearray(original)
        damaged[bit // 8] ^= 1 << (bit % 8)
        target = folder / f"flip{k}_{Path(path).name}"
        target.write_bytes(bytes(damaged))
        yield str(target), bit
        os.unlink(target)
