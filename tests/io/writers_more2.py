"""Compact writers of EDF+/BDF+, Axona and CED Spike2 (32-bit SON) layouts, from the published specs.

They share no code with the readers in app/io/formats, so a test that writes with them and
reads with a reader checks the reader against the layout, not against itself.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

# -- EDF / BDF ---------------------------------------------------------------------------------------


def _field(value, width: int) -> bytes:
    text = value if isinstance(value, str) else (f"{value:g}" if isinstance(value, float) else str(value))
    raw = text.encode("latin-1")[:width]
    return raw + b" " * (width - len(raw))


def edf_tal(onset: float, texts: list[str], duration: float | None = None) -> bytes:
    stamp = f"{onset:+g}".encode() + (b"\x15" + f"{duration:g}".encode() if duration is not None else b"")
    return stamp + b"\x14" + b"".join(t.encode() + b"\x14" for t in texts) + b"\x00"


def write_edf(path, signals: list[dict], record_duration: float, nb_records: int, bdf: bool = False,
              variant: str = "", record_onsets: list[float] | None = None,
              annotations: list[tuple[float, float | None, str]] | None = None,
              annotation_bytes: int = 120, declared_records: int | None = None) -> Path:
    """Write an EDF(+)/BDF(+) file. Each signal: label, unit, pmin, pmax, dmin, dmax and `digital`
    (int array of nb_records * samples per record, the digital values). With `variant`
    `EDF+C`/`EDF+D` (or BDF+), an annotation signal is appended: each record starts with its
    time-keeping TAL (`record_onsets`, default k * duration); `annotations` go in record 0."""
    item = 3 if bdf else 2
    ns = len(signals) + (1 if variant else 0)
    heads = [dict(s, samples=len(s["digital"]) // nb_records) for s in signals]
    if variant:
        lo, hi = (-(2 ** 23), 2 ** 23 - 1) if bdf else (-32768, 32767)
        heads.append({"label": "BDF Annotations" if bdf else "EDF Annotations", "unit": "", "pmin": -1,
                      "pmax": 1, "dmin": lo, "dmax": hi, "samples": -(-annotation_bytes // item)})
    main = (b"\xffBIOSEMI" if bdf else _field("0", 8)) + _field("X M 01-JAN-1970 Patient", 80)
    main += _field("Startdate 01-JAN-2020 X X X", 80) + _field("01.01.20", 8) + _field("10.00.00", 8)
    main += _field(256 * (ns + 1), 8) + _field(variant or ("24BIT" if bdf else ""), 44)
    main += _field(nb_records if declared_records is None else declared_records, 8)
    main += _field(float(record_duration), 8) + _field(ns, 4)
    columns = [("label", 16), ("transducer", 80), ("unit", 8), ("pmin", 8), ("pmax", 8), ("dmin", 8),
               ("dmax", 8), ("prefilter", 80), ("samples", 8), ("reserved", 32)]
    for name, width in columns:
        main += b"".join(_field(h.get(name, ""), width) for h in heads)
    onsets = record_onsets or [k * record_duration for k in range(nb_records)]
    body = bytearray()
    for k in range(nb_records):
        for h, s in zip(heads, signals):
            n = h["samples"]
            values = np.asarray(s["digital"][k * n:(k + 1) * n], dtype=np.int64)
            if bdf:
                values = values & 0xFFFFFF
                body += b"".join(int(v).to_bytes(3, "little") for v in values)
            else:
                body += struct.pack(f"<{n}h", *values)
        if variant:
            text = edf_tal(onsets[k], [""])
            if k == 0:
                text += b"".join(edf_tal(o, [t], d) for o, d, t in annotations or [])
            size = heads[-1]["samples"] * item
            assert len(text) <= size, "annotations do not fit the annotation signal"
            body += text + b"\x00" * (size - len(text))
    path = Path(path)
    path.write_bytes(main + bytes(body))
    return path


# -- Multi Channel Systems HDF5 ----------------------------------------------------------------------

MCS_INFO_CHANNEL = np.dtype([
    ("ChannelID", "<i4"), ("RowIndex", "<i4"), ("GroupID", "<i4"), ("ElectrodeGroup", "<i4"),
    ("Label", "S16"), ("RawDataType", "S8"), ("Unit", "S8"), ("Exponent", "<i4"), ("ADZero", "<i4"),
    ("Tick", "<i8"), ("ConversionFactor", "<i8"), ("ADCBits", "<i4"), ("HighPassFilterType", "S8"),
    ("HighPassFilterCutOffFrequency", "S8"), ("HighPassFilterOrder", "<i4"), ("LowPassFilterType", "S8"),
    ("LowPassFilterCutOffFrequency", "S8"), ("LowPassFilterOrder", "<i4")])


def _mcs_attrs(target, values: dict) -> None:
    for key, value in values.items():
        target.attrs[key] = np.bytes_(value.encode()) if isinstance(value, str) else value


def write_mcs_h5(path, streams: list[dict], recordings: int = 1) -> Path:
    """An MCS RawData HDF5 file as Multi Channel DataManager lays it out. Each stream: `data`
    (channels x samples, raw), `rows` (RowIndex per channel, default 0..n-1), `tick` µs, `adzero`,
    `factor`, `exponent`, `unit` (per channel or one value), `blocks` ([t0 µs, first, last] rows)."""
    import uuid

    import h5py

    with h5py.File(path, "w") as h5:
        _mcs_attrs(h5, {"McsHdf5ProtocolType": "RawData", "McsHdf5ProtocolVersion": 3})
        data = h5.create_group("Data")
        _mcs_attrs(data, {"Comment": "", "Date": "Monday, 1 June 2020", "DateInTicks": 637265664000000000,
                          "FileGUID": str(uuid.uuid4()), "MeaLayout": "", "MeaName": "60MEA200/30iR-ITO",
                          "MeaSN": "", "ProgramName": "Multi Channel Experimenter", "ProgramVersion": "2.17"})
        for r in range(recordings):
            recording = data.create_group(f"Recording_{r}")
            _mcs_attrs(recording, {"Comment": "", "Duration": 1000, "Label": "", "RecordingID": r,
                                   "RecordingType": "", "TimeStamp": 0})
            analog = recording.create_group("AnalogStream")
            for s, spec in enumerate(streams):
                _write_mcs_stream(analog.create_group(f"Stream_{s}"), spec, s)
    return Path(path)


def _write_mcs_stream(group, spec: dict, index: int) -> None:
    import uuid

    raw = np.asarray(spec["data"])
    count = raw.shape[0]
    rows = spec.get("rows", list(range(count)))
    stored = np.empty_like(raw)
    stored[np.asarray(rows)] = raw
    _mcs_attrs(group, {"DataSubType": spec.get("subtype", "Electrode"), "Label": f"Stream {index}",
                       "SourceStreamGUID": str(uuid.uuid4()), "StreamGUID": str(uuid.uuid4()),
                       "StreamInfoVersion": 1, "StreamType": "Analog"})
    group.create_dataset("ChannelData", data=stored, chunks=(count, min(raw.shape[1], 1000)))
    info = np.zeros(count, dtype=MCS_INFO_CHANNEL)

    def each(key, default):
        value = spec.get(key, default)
        return value if isinstance(value, (list, tuple, np.ndarray)) else [value] * count

    for k in range(count):
        info[k] = (k + 10 * index, rows[k], 1, 0, f"E{k + 12}".encode(), b"Int", each("unit", "V")[k].encode(),
                   each("exponent", -12)[k], each("adzero", 0)[k], spec.get("tick", 40),
                   each("factor", 59605)[k], 24, b"", b"", 0, b"", b"", 0)
    dataset = group.create_dataset("InfoChannel", data=info)
    dataset.attrs["InfoVersion"] = 1
    blocks = spec.get("blocks", [[0, 0, raw.shape[1] - 1]])
    group.create_dataset("ChannelDataTimeStamps", data=np.asarray(blocks, dtype=np.int64))


# -- Axona DacqUSB ----------------------------------------------------------------------------------

AXONA_GROUP_SLOT = {0: 4, 1: 0, 2: 5, 3: 1, 4: 6, 5: 2, 6: 7, 7: 3}    # channel group -> slot group


def write_axona_set(path, tetrodes: list[int], gains: dict[int, int], raw_rate: int = 48000,
                    fullscale_mv: int = 1500, eeg_sources: dict[int, int] | None = None) -> Path:
    """A `.set` file: `key value` lines, CRLF, with gain_ch_0..63 in order and one collectMask per
    tetrode. It ends with a harmless line (neo drops a .set file's last line)."""
    lines = ["trial_date Monday, 1 Jun 2020", "trial_time 10:00:00", "experimenter t", "duration 60",
             f"ADC_fullscale_mv {fullscale_mv}", f"rawRate {raw_rate}", "mode128channels 0"]
    lines += [f"gain_ch_{n} {gains.get(n, 4000)}" for n in range(64)]
    lines += [f"collectMask_{t} {1 if t in tetrodes else 0}" for t in range(1, 17)]
    lines += [f"EEG_ch_{k} {source}" for k, source in (eeg_sources or {1: 1}).items()]
    lines.append("Spike2msMode 0")
    path = Path(path)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    return path


def write_axona_bin(path, samples: np.ndarray) -> Path:
    """`.bin` packets from (samples, 64) int16 data (a multiple of 3 samples), channel c stored at
    slot AXONA_GROUP_SLOT[c // 8] * 8 + c % 8 of each 64-word sample."""
    samples = np.asarray(samples, dtype=np.int16)
    out = bytearray()
    for packet in range(len(samples) // 3):
        out += b"ADU1" + struct.pack("<I", packet) + bytes(24)
        for row in samples[3 * packet: 3 * packet + 3]:
            words = [0] * 64
            for channel in range(64):
                words[AXONA_GROUP_SLOT[channel // 8] * 8 + channel % 8] = int(row[channel])
            out += struct.pack("<64h", *words)
        out += bytes(16)
    path = Path(path)
    path.write_bytes(bytes(out))
    return path


def write_axona_continuous(path, values: np.ndarray, rate: float, declared: int | None = None) -> Path:
    """An `.eeg` (int8) or `.egf` (int16 LE) file: header lines, `data_start`, samples, trailer."""
    values = np.asarray(values)
    egf = Path(path).suffix.lower().startswith(".egf")
    width = 2 if egf else 1
    count_key = "num_EGF_samples" if egf else "num_EEG_samples"
    lines = ["trial_date Monday, 1 Jun 2020", "trial_time 10:00:00", "num_chans 1", f"sample_rate {rate:.1f} hz",
             f"bytes_per_sample {width}", f"{count_key} {len(values) if declared is None else declared}"]
    if not egf:
        lines.insert(4, "EEG_samples_per_position 5")
    body = values.astype("<i2" if egf else "i1").tobytes()
    path = Path(path)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode() + b"data_start" + body + b"\r\ndata_end\r\n")
    return path


# -- CED Spike2 .smr (32-bit SON) -------------------------------------------------------------------


def _pascal(text: str, size: int) -> bytes:
    raw = text.encode("latin-1")[: size - 1]
    return bytes([len(raw)]) + raw + b"\x00" * (size - 1 - len(raw))


def write_smr(path, channels: list[dict], slots: int, system_id: int = 8, us_per_time: int = 1,
              time_per_adc: int = 1, time_base: float = 1e-6) -> Path:
    """A 32-bit SON file. Each channel: slot, kind (1 Adc int16, 9 RealWave float32, 3 event),
    title, interval (lChanDvd ticks, or `divide` for system_id < 6), scale, offset, units and
    blocks [(start tick, items)], items int16/float32 samples or int32 event ticks. Blocks are
    laid out one after the other, 512-byte aligned with pointers in 512-byte units for system 9."""
    unit = 512 if system_id == 9 else 1
    head_bytes = 512 + 140 * slots
    offsets = {}
    position = head_bytes
    layout = []
    for spec in channels:
        dtype = {1: "<i2", 9: "<f4"}.get(spec["kind"], "<i4")
        step = spec.get("divide", 1) * time_per_adc if system_id < 6 else spec.get("interval", 1)
        placed = []
        for start, items in spec["blocks"]:
            if unit > 1:
                position = -(-position // unit) * unit
            items = np.asarray(items).astype(dtype)
            end = int(items[-1]) if spec["kind"] == 3 else start + (len(items) - 1) * step
            placed.append((position, start, end, items))
            position += 20 + items.nbytes
        layout.append((spec, placed))
    out = bytearray(position)
    for spec, placed in layout:
        pointers = [p // unit for p, _, _, _ in placed]
        for k, (offset, start, end, items) in enumerate(placed):
            pred = pointers[k - 1] if k else -1
            succ = pointers[k + 1] if k + 1 < len(placed) else -1
            out[offset: offset + 20] = struct.pack("<iiiihh", pred, succ, start, end, spec["slot"], len(items))
            out[offset + 20: offset + 20 + items.nbytes] = items.tobytes()
        offsets[spec["slot"]] = (spec, pointers)
    head = struct.pack("<h10s8shhhihhhhhid", system_id, b"(C) CED 87", b"wavescop", us_per_time, time_per_adc, 0,
                       head_bytes, slots, 140, 0, 0x2000, 0, position, time_base)
    head += bytes([0, 0, 0, 10, 1, 6]) + struct.pack("<h", 2020)
    head += b"\x00" * (112 - len(head)) + b"".join(_pascal("", 80) for _ in range(5))
    out[:512] = head
    for slot in range(slots):
        spec, pointers = offsets.get(slot, ({"kind": 0, "title": "", "blocks": []}, []))
        record = struct.pack("<hiiihhhhhh", 0, -1, pointers[0] if pointers else -1,
                             pointers[-1] if pointers else -1, len(pointers), 0, 0, 0, 0, 0)
        record += _pascal(spec.get("comment", ""), 72)
        record += struct.pack("<iih", 0, spec.get("interval", 0), slot)
        record += _pascal(spec.get("title", ""), 10) + struct.pack("<fBx", 1000.0, spec["kind"])
        if spec["kind"] in (1, 9):
            last = spec.get("divide", 1) if system_id < 6 else 0
            record += struct.pack("<ff", spec.get("scale", 1.0), spec.get("offset", 0.0))
            record += _pascal(spec.get("units", "V"), 6) + struct.pack("<h", last)
        record += b"\x00" * (140 - len(record))
        out[512 + 140 * slot: 512 + 140 * (slot + 1)] = record
    path = Path(path)
    path.write_bytes(bytes(out))
    return path
