"""Compact writers of the binary layouts, written from the vendors' published specifications.

They share no code with the readers in app/io/formats, so a test that writes with them and
reads with a reader checks the reader against the layout, not against itself.
"""

from __future__ import annotations

import struct

import numpy as np

# -- Intan RHD2000 ----------------------------------------------------------------------------------


def qstring(text: str | None) -> bytes:
    if text is None:
        return struct.pack("<I", 0xFFFFFFFF)
    raw = text.encode("utf-16-le")
    return struct.pack("<I", len(raw)) + raw


def _rhd_channel(name: str, order: int, signal_type: int, enabled: int = 1) -> bytes:
    return (qstring(name) + qstring(name) + struct.pack("<hhhhhhhhhh", order, order, signal_type, enabled,
                                                        order % 32, 0, 0, 0, 0, 0)
            + struct.pack("<ff", 1.0e5, -45.0))


def rhd_header(version: tuple[int, int], sampling_rate: float, amplifier: int, aux: int = 0, supply: int = 0,
               adc: int = 0, digital_in: int = 0, digital_out: int = 0, temp: int = 0,
               disabled_amplifier: int = 0) -> bytes:
    """The Standard Intan RHD2000 Header. Disabled amplifier channels are listed but not saved;
    a disabled signal group is listed without channels."""
    major, minor = version
    out = struct.pack("<Ihh", 0xC6912702, major, minor)
    out += struct.pack("<fh6fh2f", sampling_rate, 1, 1.0, 0.1, 7500.0, 1.0, 0.1, 7500.0, 0, 1000.0, 1000.0)
    out += qstring("note one") + qstring("") + qstring(None)
    if version >= (1, 1):
        out += struct.pack("<h", temp)
    if version >= (1, 3):
        out += struct.pack("<h", 0)
    if major >= 2:
        out += qstring("n/a")
    port = [(f"A-{k:03d}", k, 0, 1) for k in range(amplifier)]
    port += [(f"A-{amplifier + k:03d}", amplifier + k, 0, 0) for k in range(disabled_amplifier)]
    port += [(f"A-AUX{k + 1}", 32 + k, 1, 1) for k in range(aux)]
    port += [(f"A-VDD{k + 1}", 35 + k, 2, 1) for k in range(supply)]
    board = [(f"ANALOG-IN-{k + 1}", k, 3, 1) for k in range(adc)]
    board += [(f"DIGITAL-IN-{k + 1:02d}", k, 4, 1) for k in range(digital_in)]
    board += [(f"DIGITAL-OUT-{k + 1:02d}", k, 5, 1) for k in range(digital_out)]
    groups = [("Port A", "A", 1, port, amplifier + disabled_amplifier), ("Port B", "B", 0, [None] * 32, 32),
              ("Board", "BOARD", 1, board, 0)]
    out += struct.pack("<h", len(groups))
    for name, prefix, enabled, channels, amp_count in groups:
        out += qstring(name) + qstring(prefix) + struct.pack("<hhh", enabled, len(channels), amp_count)
        if enabled:
            for channel in channels:
                out += _rhd_channel(*channel)
    return out


def write_rhd(path, amplifier: np.ndarray, version: tuple[int, int] = (2, 0), sampling_rate: float = 20000.0,
              aux: int = 0, supply: int = 0, adc: int = 0, digital_in: int = 0, digital_out: int = 0,
              temp: int = 0, disabled_amplifier: int = 0, first_timestamp: int = 0) -> str:
    """`amplifier` is uint16 (samples, channels), samples a multiple of the block length."""
    block = 128 if version[0] >= 2 else 60
    samples, channels = amplifier.shape
    assert samples % block == 0
    stamp = "<i4" if version >= (1, 2) else "<u4"
    with open(path, "wb") as handle:
        handle.write(rhd_header(version, sampling_rate, channels, aux, supply, adc, digital_in, digital_out,
                                temp, disabled_amplifier))
        for b in range(samples // block):
            handle.write((first_timestamp + b * block + np.arange(block)).astype(stamp).tobytes())
            rows = amplifier[b * block:(b + 1) * block]
            handle.writelines(rows[:, c].astype("<u2").tobytes() for c in range(channels))
            handle.writelines(np.full(block // 4, 1000 + k, "<u2").tobytes() for k in range(aux))
            handle.writelines(struct.pack("<H", 44000 + k) for k in range(supply))
            handle.writelines(struct.pack("<h", 3700 + k) for k in range(temp))
            handle.writelines(np.full(block, 2000 + k, "<u2").tobytes() for k in range(adc))
            if digital_in:
                handle.write(np.arange(block, dtype="<u2").tobytes())
            if digital_out:
                handle.write(np.zeros(block, "<u2").tobytes())
    return str(path)


# -- Neuralynx .ncs ---------------------------------------------------------------------------------

NCS_HEADER = """######## Neuralynx Data File Header
## File Name C:\\CheetahData\\2016-11-28_21-50-00\\{name}.ncs
## Time Opened (m/d/y): 11/28/2016  (h:m:s.ms) 21:50:33.322
## Time Closed (m/d/y): 11/28/2016  (h:m:s.ms) 22:44:41.145
-CheetahRev 5.6.3
-AcqEntName {name}
-FileType CSC
-RecordSize 1044
-HardwareSubSystemName AcqSystem1
-HardwareSubSystemType DigitalLynxSX
-SamplingFrequency {rate}
-ADMaxValue 32767
-ADBitVolts {bit_volts}
-NumADChannels 1
-ADChannel {channel}
-InputRange 1000
-InputInverted {inverted}
"""


def ncs_records(pieces: list[tuple[int, np.ndarray]], rate: float) -> list[tuple[int, np.ndarray]]:
    """Cut continuous pieces (start µs, int16 samples) into records of 512 samples; the last record
    of a piece is short when the piece is not a multiple of 512."""
    records = []
    for start, samples in pieces:
        for k in range(0, len(samples), 512):
            records.append((round(start + k * 1e6 / rate), samples[k:k + 512]))
    return records


def write_ncs(path, name: str, channel: int, records: list[tuple[int, np.ndarray]], rate: float = 32000.0,
              bit_volts: float = 3.05e-08, inverted: bool = False) -> str:
    text = NCS_HEADER.format(name=name, rate=f"{rate:g}", bit_volts=repr(bit_volts), channel=channel,
                             inverted="True" if inverted else "False")
    header = text.encode("latin-1").ljust(16384, b"\x00")
    with open(path, "wb") as handle:
        handle.write(header)
        for timestamp, samples in records:
            padded = np.zeros(512, "<i2")
            padded[:len(samples)] = samples
            handle.write(struct.pack("<QIII", timestamp, channel, int(rate), len(samples)))
            handle.write(padded.tobytes())
    return str(path)


# -- Blackrock NSx ----------------------------------------------------------------------------------


def nsx_extended(electrode: int, label: str, digital: tuple[int, int], analog: tuple[int, int],
                 units: str) -> bytes:
    out = b"CC" + struct.pack("<H", electrode) + label.encode().ljust(16, b"\x00")
    out += struct.pack("<BB", 1, electrode % 32)
    out += struct.pack("<hhhh", digital[0], digital[1], analog[0], analog[1])
    out += units.encode().ljust(16, b"\x00")
    out += struct.pack("<IIHIIH", 250, 1, 1, 7500000, 3, 1)
    return out


def write_nsx(path, packets: list[tuple[int, np.ndarray]], spec: tuple[int, int] = (2, 3), period: int = 1,
              ranges: list[tuple[tuple[int, int], tuple[int, int], str]] | None = None,
              resolution: int = 30000) -> str:
    """NEURALCD file with one data packet per (timestamp, int16 (samples, channels)) item."""
    channels = packets[0][1].shape[1]
    ranges = ranges or [((-32764, 32764), (-8191, 8191), "uV")] * channels
    header_bytes = 314 + 66 * channels
    with open(path, "wb") as handle:
        handle.write(b"NEURALCD" + struct.pack("<BBI", spec[0], spec[1], header_bytes))
        handle.write(b"30 kS/s".ljust(16, b"\x00") + b"written by a test".ljust(256, b"\x00"))
        handle.write(struct.pack("<II", period, resolution))
        handle.write(struct.pack("<8H", 2020, 1, 3, 15, 12, 0, 0, 0))
        handle.write(struct.pack("<I", channels))
        handle.writelines(nsx_extended(k + 1, f"chan{k + 1}", digital, analog, units) for k, (digital, analog, units) in enumerate(ranges))
        stamp = "<Q" if spec[0] >= 3 else "<I"
        for timestamp, data in packets:
            handle.write(b"\x01" + struct.pack(stamp, timestamp) + struct.pack("<I", len(data)))
            handle.writelines(row.astype("<i2").tobytes() for row in data)
    return str(path)


def write_nsx_21(path, data: np.ndarray, period: int = 1) -> str:
    """NEURALSG (spec 2.1): header, channel ids, interleaved int16 samples."""
    channels = data.shape[1]
    with open(path, "wb") as handle:
        handle.write(b"NEURALSG" + b"1 kS/s".ljust(16, b"\x00") + struct.pack("<II", period, channels))
        handle.write(struct.pack(f"<{channels}I", *range(1, channels + 1)))
        handle.writelines(row.astype("<i2").tobytes() for row in data)
    return str(path)


# -- MountainSort mda -------------------------------------------------------------------------------

MDA_CODES = {"uint8": -2, "float32": -3, "int16": -4, "int32": -5, "uint16": -6, "float64": -7, "uint32": -8}


def write_mda(path, data: np.ndarray, int64_dims: bool = False) -> str:
    """`data` is (samples, channels); the array stored is (channels, samples), column-major."""
    samples, channels = data.shape
    dtype = data.dtype.newbyteorder("<")
    with open(path, "wb") as handle:
        if int64_dims:
            handle.write(struct.pack("<iiiqq", MDA_CODES[data.dtype.name], dtype.itemsize, -2, channels, samples))
        else:
            handle.write(struct.pack("<iiiii", MDA_CODES[data.dtype.name], dtype.itemsize, 2, channels, samples))
        for t in range(samples):                 # column-major: the first index (channel) runs fastest
            handle.writelines(data[t, c].astype(dtype).tobytes() for c in range(channels))
    return str(path)
