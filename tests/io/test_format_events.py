"""`get_events` of the format modules, on files written here from the published layouts and on
the Open Ephys GUI's own sample recordings (compared with open-ephys-python-tools, edge for edge).

Event writers live in this module (the shared writers cover the samples). Each follows the
vendor's layout, spelled out with struct / numpy, and shares no code with the readers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from app.io.events import EVENT_DTYPE, events_to_rows
from app.io.formats import spikeglx as spikeglx_module
from app.io.formats.blackrock import BlackrockFile
from app.io.formats.neuralynx import NeuralynxFile
from app.io.formats.openephys import OpenEphysFile
from app.io.formats.openephys_binary import OpenEphysBinaryFile
from app.io.formats.rhd import RHDFile
from app.io.formats.spikeglx import SpikeGLXFile
from tests.conftest import synthetic_int16
from tests.io.writers_binary import ncs_records, rhd_header, write_ncs, write_nsx, write_rhd
from tests.io.writers_ephys import (
    nidq_meta,
    np1_meta,
    write_binary_recording,
    write_legacy_recording,
    write_spikeglx,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore:The inplace keyword")
OEPT_VERSION = "1.0.1"
OEPT_CACHE = Path(os.path.expanduser("~/.cache/wavescope-tests"))


def edges(events: np.ndarray, offset: int = 0) -> list[tuple[str, int, int]]:
    """Our events back to (channel, sample, state) edges, sorted: a pulse is a rise and a fall."""
    out = []
    for sample, duration, channel, label in events_to_rows(events):
        if label == "high":
            out += [(channel, sample + offset, 1), (channel, sample + duration + offset, 0)]
        elif label in ("rising", "falling"):
            out.append((channel, sample + offset, int(label == "rising")))
    return sorted(out)


# -- Open Ephys binary ------------------------------------------------------------------------------
AP = "Neuropix-PXI-100.ProbeA-AP"


def write_binary_events(recording: Path, folder: str, samples, states, rate: float, stream: str,
                        version: str = "0.6") -> None:
    """`events/<folder>/` as the GUI writes it, and its entry in structure.oebin `events`."""
    path = recording / "events" / folder
    path.mkdir(parents=True, exist_ok=True)
    samples = np.asarray(samples, dtype=np.int64)
    states = np.asarray(states, dtype=np.int16)
    words = np.cumsum([1 << (abs(s) - 1) if s > 0 else -(1 << (abs(s) - 1)) for s in states.tolist()] or [0])
    if version == "0.6":
        np.save(path / "sample_numbers.npy", samples)
        np.save(path / "timestamps.npy", samples / rate)
        np.save(path / "states.npy", states)
        np.save(path / "full_words.npy", words[: len(states)].astype(np.uint64))
    else:
        np.save(path / "timestamps.npy", samples)
        np.save(path / "channels.npy", (np.abs(states) - 1).astype(np.uint16))
        np.save(path / "channel_states.npy", states)
    oebin = recording / "structure.oebin"
    structure = json.loads(oebin.read_text())
    entry = {"folder_name": folder + "/", "channel_name": "TTL", "sample_rate": rate, "type": "int16"}
    if version == "0.6":
        entry["stream_name"] = stream
    structure["events"].append(entry)
    oebin.write_text(json.dumps(structure, indent=2))


def write_message_center(recording: Path, samples, texts, rate: float, stream: str) -> None:
    path = recording / "events" / "MessageCenter"
    path.mkdir(parents=True, exist_ok=True)
    np.save(path / "sample_numbers.npy", np.asarray(samples, dtype=np.int64))
    np.save(path / "timestamps.npy", np.asarray(samples) / rate)
    np.save(path / "text.npy", np.array([t.encode() for t in texts], dtype="S512"))
    oebin = recording / "structure.oebin"
    structure = json.loads(oebin.read_text())
    structure["events"].append({"folder_name": "MessageCenter/", "channel_name": "Messages", "type": "string",
                                "sample_rate": rate, "stream_name": stream})
    oebin.write_text(json.dumps(structure, indent=2))


def binary_stream(n: int, first: int) -> dict:
    return {"folder": AP, "data": synthetic_int16(n, 2), "bit_volts": [0.195] * 2, "sample_rate": 30000.0,
            "first_sample": first}


def test_binary_ttl_pulses_and_messages(tmp_path):
    recording = tmp_path / "Record Node 101" / "experiment1" / "recording1"
    oebin = write_binary_recording(recording, [binary_stream(5000, 1000)])
    #                 line 1 pulse   line 3 rise ... line 1 pulse  line 3 fall   line 2 lone fall
    samples = [1100, 1150, 1200, 1400, 1450, 2000, 2500, 9000]
    states = [1, -1, 3, 1, -1, -3, -2, 1]
    write_binary_events(recording, "Neuropix-PXI-100.ProbeA", samples, states, 30000.0, "ProbeA-AP")
    write_message_center(recording, [1000, 3000], ["start", "stim on"], 30000.0, "ProbeA-AP")
    df = OpenEphysBinaryFile(str(oebin))
    assert "_timeline_events" not in df.__dict__          # opening loads no event
    events = df.get_events()
    assert events.dtype == EVENT_DTYPE
    assert not events.flags.writeable
    assert list(events_to_rows(events)) == [
        (0, 0, "messages", "start"), (100, 50, "TTL 1", "high"), (200, 800, "TTL 3", "high"),
        (400, 50, "TTL 1", "high"), (1500, 0, "TTL 2", "falling"), (2000, 0, "messages", "stim on")]
    assert [e[0] for e in events_to_rows(df.get_events(150, 1500))] == [200, 400]


def test_binary_05_layout_and_recordings_mode(tmp_path):
    experiment = tmp_path / "Record Node 101" / "experiment1"
    first = write_binary_recording(experiment / "recording1", [binary_stream(3000, 0)], version="0.5.3")
    write_binary_recording(experiment / "recording2", [binary_stream(2000, 5000)], version="0.5.3")
    write_binary_events(experiment / "recording1", f"{AP}/TTL_1", [10, 20], [2, -2], 30000.0, "", "0.5")
    write_binary_events(experiment / "recording2", f"{AP}/TTL_1", [5100, 6990, 7500], [2, -2, 4], 30000.0, "",
                        "0.5")
    df = OpenEphysBinaryFile(str(first), stream_mode="recordings")
    assert list(events_to_rows(df.get_events())) == [(10, 10, "TTL 2", "high"), (3100, 1890, "TTL 2", "high")]


def test_binary_events_of_another_stream_are_not_mixed_in(tmp_path):
    recording = tmp_path / "rec"
    oebin = write_binary_recording(recording, [binary_stream(1000, 0)])
    write_binary_events(recording, "NI-DAQmx-102.PXI-6133", [5, 6], [1, -1], 30000.0, "PXI-6133")
    assert len(OpenEphysBinaryFile(str(oebin)).get_events()) == 0


# -- legacy Open Ephys ------------------------------------------------------------------------------
def write_legacy_events(path: Path, records: list[tuple[int, int, int, int, int]], rate: float = 30000.0) -> None:
    """`.events`: the 1024-byte text header, then 16-byte records
    <q timestamp, h position, B type, B processor, B event id, B channel, H recording."""
    header = ("header.format = 'Open Ephys Data Format'; \nheader.version = 0.4;\nheader.header_bytes = 1024;\n"
              "header.channel = 'Events';\nheader.channelType = 'Event';\n"
              f"header.sampleRate = {rate:g};\nheader.blockLength = 1024;\n").encode()
    with open(path, "wb") as handle:
        handle.write(header + b" " * (1024 - len(header)))
        handle.writelines(struct.pack("<qhBBBBH", stamp, 0, kind, processor, event_id, channel, 0)
                          for stamp, kind, processor, event_id, channel in records)


def test_legacy_events_and_messages_with_segments(tmp_path):
    folder = tmp_path / "2024-01-01_10-00-00"
    data = synthetic_int16(4 * 1024, 2)
    stamps = [1000, 2024, 9000, 10024]          # a gap: two segments
    write_legacy_recording(folder, data, timestamps=stamps)
    write_legacy_events(folder / "all_channels.events", [
        (1100, 3, 100, 1, 0), (1300, 3, 100, 0, 0), (1500, 5, 100, 0, 0), (2900, 3, 100, 1, 4),
        (9100, 3, 100, 0, 4), (9500, 3, 100, 1, 0), (9600, 3, 100, 0, 0), (20000, 3, 100, 1, 0)])
    (folder / "messages.events").write_text("1700000000000, Software time\n1050, hello, world\n9040, bye\n")
    single = OpenEphysFile(str(folder))
    assert list(events_to_rows(single.get_events())) == [
        (50, 0, "messages", "hello, world"), (100, 200, "TTL 1", "high"), (1900, 6200, "TTL 5", "high")]
    both = OpenEphysFile(str(folder), stream_mode="segments")
    assert list(events_to_rows(both.get_events())) == [
        (50, 0, "messages", "hello, world"), (100, 200, "TTL 1", "high"), (1900, 6200, "TTL 5", "high"),
        (2048 + 40, 0, "messages", "bye"), (2048 + 500, 100, "TTL 1", "high")]


# -- the Open Ephys GUI's sample recordings ---------------------------------------------------------
@pytest.fixture(scope="module")
def oept_data() -> Path:
    """The sample recordings shipped in open-ephys-python-tools' source distribution."""
    pytest.importorskip("open_ephys.analysis", reason="open-ephys-python-tools is not installed (test extra)")
    root = OEPT_CACHE / f"open_ephys_python_tools-{OEPT_VERSION}"
    data = root / f"open_ephys_python_tools-{OEPT_VERSION}" / "tests" / "data"
    if data.is_dir():
        return data
    archive = OEPT_CACHE / f"open_ephys_python_tools-{OEPT_VERSION}.tar.gz"
    if not archive.is_file():
        OEPT_CACHE.mkdir(parents=True, exist_ok=True)
        fetched = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                                  f"open-ephys-python-tools=={OEPT_VERSION}", "-d", str(OEPT_CACHE)],
                                 capture_output=True, timeout=300, check=False)
        if fetched.returncode or not archive.is_file():
            pytest.skip(f"cannot download the open-ephys-python-tools {OEPT_VERSION} sdist (offline?)")
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if "/tests/data/" in m.name and (m.isfile() or m.isdir())]
        tar.extractall(root, members=members, filter="data")
    return data


def _reference(data: Path, layout: str):
    from open_ephys.analysis import Session

    return [(node, node.recordings[0]) for node in Session(str(data / layout)).recordnodes]


def _reference_edges(recording, first_sample: int) -> list[tuple[str, int, int]]:
    frame = recording.events
    return sorted((f"TTL {int(line)}", int(sample) - first_sample, int(state))
                  for line, sample, state in zip(frame["line"], frame["sample_number"], frame["state"]))


def test_sample_binary_recording_matches_open_ephys_tools(oept_data):
    for node, reference in _reference(oept_data, "v0.6.7_Binary"):
        oebin = Path(node.directory) / "experiment1" / "recording1" / "structure.oebin"
        df = OpenEphysBinaryFile(str(oebin))
        continuous = reference.continuous[0]
        assert df.t_start == int(continuous.sample_numbers[0]) and df.duration == len(continuous.sample_numbers)
        np.testing.assert_allclose(df.read_range(0, 4000), continuous.samples[:4000] * df.gain, rtol=1e-6)
        events = df.get_events()
        ttl = events[events["channel"] != "messages"]
        assert edges(ttl) == _reference_edges(reference, df.t_start)
        assert len(reference.events) == 128
        messages = events[events["channel"] == "messages"]
        expected = [(int(s) - df.t_start, m) for s, m in zip(reference.messages["sample_number"],
                                                              reference.messages["message"])]
        assert list(zip(messages["sample"].tolist(), messages["label"].tolist())) == expected


def test_sample_legacy_recording_matches_open_ephys_tools(oept_data):
    for node, reference in _reference(oept_data, "v0.6.7_OpenEphys"):
        df = OpenEphysFile(node.directory)
        continuous = reference.continuous[0]
        assert df.t_start == int(continuous.sample_numbers[0]) and df.duration == len(continuous.sample_numbers)
        np.testing.assert_allclose(df.read_range(0, 4000), continuous.samples[:4000] * df.gain, rtol=1e-6)
        events = df.get_events()
        assert edges(events[events["channel"] != "messages"]) == _reference_edges(reference, df.t_start)
        messages = events[events["channel"] == "messages"]
        inside = [(int(s) - df.t_start, m.strip()) for s, m in zip(reference.messages["timestamp"],
                                                                   reference.messages["message"])
                  if 0 <= int(s) - df.t_start < df.duration]
        assert list(zip(messages["sample"].tolist(), messages["label"].tolist())) == inside


# -- SpikeGLX ---------------------------------------------------------------------------------------
def test_spikeglx_imec_sync_bit_and_status_bits(tmp_path):
    data = synthetic_int16(3000, 4)
    sync = np.zeros(3000, dtype=np.uint16)
    sync[100:200] |= 1 << 6
    sync[1500:1530] |= 1 << 6
    sync[2900:] |= 1 << 6                     # still high at the end: a lone rising edge
    sync[400:410] |= 1 << 2                   # a status flag
    data[:, 3] = sync.view(np.int16)
    path = write_spikeglx(tmp_path / "run_g0_t0.imec0.ap.bin", data, np1_meta(3, [500] * 3, [250] * 3))
    df = SpikeGLXFile(str(path))
    assert list(events_to_rows(df.get_events())) == [
        (100, 100, "sync", "high"), (400, 10, "SY bit 2", "high"), (1500, 30, "sync", "high"),
        (2900, 0, "sync", "rising")]
    assert [r[0] for r in events_to_rows(df.get_events(300, 2000))] == [400, 1500]


def test_spikeglx_nidq_lines_across_scan_chunks_and_triggers(tmp_path, monkeypatch):
    monkeypatch.setattr(spikeglx_module, "SCAN_ROWS", 64)
    words = []
    for k, first in enumerate((0, 1000)):
        data = synthetic_int16(500, 3)
        word = np.zeros(500, dtype=np.uint16)
        word[60 + k: 130] |= 1            # line 0 pulse crossing a 64-row scan chunk
        word[300:] |= 1 << 5              # line 5 high from 300 to the end
        if k == 0:
            word[0:10] |= 1 << 3          # high at the first sample: its fall is a lone falling edge
        data[:, 2] = word.view(np.int16)
        meta = {**nidq_meta(1, 1, 0, 1, first_sample=first), "syncNiChanType": "0", "syncNiChan": "5"}
        write_spikeglx(tmp_path / f"run_g0_t{k}.nidq.bin", data, meta)
        words.append(word)
    df = SpikeGLXFile(str(tmp_path / "run_g0_t0.nidq.bin"), stream_mode="triggers")
    assert list(events_to_rows(df.get_events())) == [
        (10, 0, "XD 3", "falling"), (60, 70, "XD 0", "high"), (300, 0, "sync", "rising"),
        (561, 69, "XD 0", "high"), (800, 0, "sync", "rising")]


# -- Intan RHD --------------------------------------------------------------------------------------
def write_rhd_with_digital(path: Path, amplifier: np.ndarray, digital: np.ndarray, inputs: int) -> None:
    """An RHD 2.0 file whose blocks carry `digital` (one uint16 word per sample) after the
    amplifier samples (no aux, supply, temperature or ADC groups)."""
    block = 128
    with open(path, "wb") as handle:
        handle.write(rhd_header((2, 0), 20000.0, amplifier.shape[1], digital_in=inputs))
        for b in range(len(amplifier) // block):
            rows = slice(b * block, (b + 1) * block)
            handle.write((b * block + np.arange(block)).astype("<i4").tobytes())
            handle.writelines(amplifier[rows, c].astype("<u2").tobytes() for c in range(amplifier.shape[1]))
            handle.write(digital[rows].astype("<u2").tobytes())


def test_rhd_digital_inputs_are_pulses(tmp_path):
    n = 128 * 6
    digital = np.zeros(n, dtype=np.uint16)
    digital[100:300] |= 1                 # input 0, across blocks
    digital[500:501] |= 1 << 2            # input 2, one sample
    digital[600:] |= 1 << 3               # input 3 is not enabled (3 inputs): ignored
    path = tmp_path / "rec.rhd"
    write_rhd_with_digital(path, np.full((n, 2), 32768, np.uint16), digital, inputs=3)
    df = RHDFile(str(path))
    assert list(events_to_rows(df.get_events())) == [
        (100, 200, "DIGITAL-IN-01", "high"), (500, 1, "DIGITAL-IN-03", "high")]


def test_rhd_without_digital_inputs_has_no_events(tmp_path):
    path = write_rhd(tmp_path / "plain.rhd", np.full((128, 2), 32768, np.uint16))
    assert len(RHDFile(path).get_events()) == 0


# -- Blackrock .nev ---------------------------------------------------------------------------------
def write_nev(path: Path, packets: list[tuple[int, int, bytes]], spec: tuple[int, int] = (2, 3),
              packet_bytes: int = 104, resolution: int = 30000) -> None:
    """NEURALEV basic header (336 bytes, no extended headers) and fixed-size packets:
    timestamp (uint32, uint64 from 3.0), uint16 packet id, payload padded to the packet size."""
    stamp = "<Q" if spec[0] >= 3 else "<I"
    with open(path, "wb") as handle:
        handle.write(b"NEURALEV" + struct.pack("<BBHIIII", spec[0], spec[1], 0, 336, packet_bytes, resolution,
                                               30000))
        handle.write(struct.pack("<8H", 2020, 1, 3, 15, 12, 0, 0, 0) + b"test".ljust(32, b"\0")
                     + b"".ljust(256, b"\0") + struct.pack("<I", 0))
        for time, packet_id, payload in packets:
            body = struct.pack(stamp, time) + struct.pack("<H", packet_id) + payload
            handle.write(body.ljust(packet_bytes, b"\0"))


def digital_packet(time: int, value: int, reason: int = 1) -> tuple[int, int, bytes]:
    return time, 0, struct.pack("<BBH", reason, 0, value)


def comment_packet(time: int, text: str, utf16: bool = False) -> tuple[int, int, bytes]:
    raw = text.encode("utf-16-le" if utf16 else "latin-1")
    return time, 0xFFFF, struct.pack("<BBI", 1 if utf16 else 0, 0, 0) + raw


@pytest.mark.parametrize("spec", [(2, 3), (3, 0)])
def test_blackrock_nev_digital_words_and_comments(tmp_path, spec):
    data = synthetic_int16(3000, 2)
    write_nsx(tmp_path / "rec.ns2", [(300, data)], spec, period=30)     # 1 kHz, starts at sample 10
    write_nev(tmp_path / "rec.nev", [
        digital_packet(600, 5), (900, 7, b"\x01\x02"), comment_packet(1200, "drug in"),
        digital_packet(1500, 0x8001, reason=0x81), comment_packet(3000, "µ-stim", utf16=True),
        digital_packet(1800, 9, reason=0x40), digital_packet(200, 1)], spec)
    df = BlackrockFile(str(tmp_path / "rec.ns2"))
    assert df.t_start == 10
    assert list(events_to_rows(df.get_events())) == [
        (10, 0, "digital", "5"), (30, 0, "comments", "drug in"), (40, 0, "serial", str(0x8001)),
        (90, 0, "comments", "µ-stim")]


def test_blackrock_digital_value_is_uint16_per_spec_not_brpylib_uint32(tmp_path):
    """The NEV spec gives the digital input value as uint16; brpylib (and readers following it)
    read a uint32 and would see 0x00020001 here. We follow the spec."""
    write_nsx(tmp_path / "rec.ns5", [(0, synthetic_int16(3000, 1))])
    write_nev(tmp_path / "rec.nev", [(30, 0, struct.pack("<BBHH", 1, 0, 1, 2))])
    events = BlackrockFile(str(tmp_path / "rec.ns5")).get_events()
    assert list(events_to_rows(events)) == [(30, 0, "digital", "1")]


def test_blackrock_without_nev_has_no_events(tmp_path):
    write_nsx(tmp_path / "alone.ns5", [(0, synthetic_int16(100, 2))])
    assert len(BlackrockFile(str(tmp_path / "alone.ns5")).get_events()) == 0


# -- Neuralynx .nev ---------------------------------------------------------------------------------
def write_neuralynx_nev(path: Path, records: list[tuple[int, int, int, str]]) -> None:
    """16 KiB text header, then packed 184-byte records: int16 nstx, id, data size, uint64 µs,
    int16 event id, TTL value, crc, 2 dummies, int32[8] extra, char[128] event string."""
    header = b"######## Neuralynx Data File Header\n-FileType Event\n-RecordSize 184\n"
    with open(path, "wb") as handle:
        handle.write(header.ljust(16384, b"\0"))
        handle.writelines(struct.pack("<hhhQhhhhh8i", 800, 4098, 2, time, event_id, ttl, 0, 0, 0, *[0] * 8)
                          + text.encode("latin-1").ljust(128, b"\0") for time, event_id, ttl, text in records)


def test_neuralynx_nev_records_by_event_id_and_ttl(tmp_path):
    rate = 32000.0
    samples = synthetic_int16(2048, 1)[:, 0]
    records = ncs_records([(1_000_000, samples[:1024]), (2_000_000, samples[1024:])], rate)
    write_ncs(tmp_path / "CSC1.ncs", "CSC1", 0, records, rate)
    write_neuralynx_nev(tmp_path / "Events.nev", [
        (1_000_500, 11, 1, "TTL Input port 0 value (0x0001)."), (1_010_000, 11, 0, "TTL Input value (0x0000)."),
        (1_020_000, 19, 0, "Starting Recording"), (2_000_000, 11, 1, "TTL Input port 0 value (0x0001)."),
        (900_000, 19, 0, "before the recording")])
    first = NeuralynxFile(str(tmp_path / "CSC1.ncs"))
    assert list(events_to_rows(first.get_events())) == [
        (16, 0, "TTL 1 (event 11)", "TTL Input port 0 value (0x0001)."),
        (320, 0, "TTL 0 (event 11)", "TTL Input value (0x0000)."),
        (640, 0, "TTL 0 (event 19)", "Starting Recording")]
    both = NeuralynxFile(str(tmp_path / "CSC1.ncs"), stream_mode="segments")
    assert [r[0] for r in events_to_rows(both.get_events())] == [16, 320, 640, 1024]


# -- NWB --------------------------------------------------------------------------------------------
def write_nwb_with_events(path: Path) -> str:
    """A pynwb file: an ElectricalSeries starting at 2 s (1 kHz), a TTL TimeSeries (±line),
    an AnnotationSeries, an IntervalSeries and a trials table with tags."""
    import datetime

    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.ecephys import ElectricalSeries
    from pynwb.misc import AnnotationSeries, IntervalSeries

    nwb = NWBFile("events test", "id-ev", datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    device = nwb.create_device("probe")
    group = nwb.create_electrode_group("shank0", "a shank", "CA1", device)
    for _ in range(2):
        nwb.add_electrode(group=group, location="CA1")
    region = nwb.create_electrode_table_region([0, 1], "all")
    nwb.add_acquisition(ElectricalSeries(name="raw", data=synthetic_int16(3000, 2), electrodes=region,
                                         starting_time=2.0, rate=1000.0))
    nwb.add_acquisition(TimeSeries(name="TTL", data=np.array([1, -1, 2, 1, -1], dtype=np.int8), unit="n/a",
                                   timestamps=[2.1, 2.15, 2.2, 2.5, 2.6]))
    nwb.add_acquisition(AnnotationSeries(name="notes", data=["lights off", "lights on"],
                                         timestamps=[2.05, 4.0]))
    nwb.add_acquisition(IntervalSeries(name="stimulus", data=[1, -1, 1, -1], timestamps=[3.0, 3.2, 4.5, 4.75]))
    nwb.add_trial_column("outcome", "what happened")
    nwb.add_trial(start_time=2.3, stop_time=2.8, tags=["go", "left"], outcome="hit")
    nwb.add_trial(start_time=3.5, stop_time=3.9, tags=[], outcome="miss")
    try:
        from pynwb.event import EventsTable
    except ImportError:
        EventsTable = None
    if EventsTable is not None:
        table = EventsTable(name="rewards", description="reward deliveries")
        table.add_row(timestamp=2.7, duration=0.01, annotation="water")
        nwb.add_events_table(table)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return str(path)


@pytest.mark.filterwarnings("ignore:AnnotationSeries is deprecated")
def test_nwb_ttl_annotations_intervals_and_trials(tmp_path):
    pytest.importorskip("pynwb")
    from app.io.formats.nwb import NWBFile as NWBDataFile

    df = NWBDataFile(write_nwb_with_events(tmp_path / "session.nwb"))
    assert df.t_start == 2000
    events = df.get_events()
    rewards = events[events["channel"] == "rewards"]
    has_events_table = importlib.util.find_spec("pynwb.event") is not None
    assert list(events_to_rows(rewards)) == ([(700, 10, "rewards", "water")] if has_events_table else [])
    assert list(events_to_rows(events[events["channel"] != "rewards"])) == [
        (50, 0, "notes", "lights off"), (100, 50, "TTL 1", "high"), (200, 0, "TTL 2", "rising"),
        (300, 500, "trials", "go,left"), (500, 100, "TTL 1", "high"), (1000, 200, "stimulus 1", "high"),
        (1500, 400, "trials", ""), (2000, 0, "notes", "lights on"), (2500, 250, "stimulus 1", "high")]


def test_sample_nwb_recording_matches_open_ephys_tools(oept_data):
    from app.io.formats.nwb import NWBFile as NWBDataFile

    for node, reference in _reference(oept_data, "v0.6.7_NWB"):
        df = NWBDataFile(str(Path(node.directory) / "experiment1.nwb"))
        continuous = reference.continuous[0]
        first = int(continuous.sample_numbers[0])
        assert df.duration == len(continuous.sample_numbers)
        events = df.get_events()
        ttl = events[np.char.find(events["channel"].astype(str), ".TTL ") >= 0].copy()
        ttl["channel"] = ["TTL " + c.rsplit(" ", 1)[1] for c in ttl["channel"]]
        assert edges(ttl) == _reference_edges(reference, first)
        assert len(reference.events) == 128
