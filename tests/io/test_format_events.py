"""`get_events` of the format modules, on files written here from the published layouts and on
the Open Ephys GUI's own sample recordings (compared with open-ephys-python-tools, edge for edge).

Event writers live in this module (the shared writers cover the samples). Each follows the
vendor's layout, spelled out with struct / numpy, and shares no code with the readers.
"""

from __future__ import annotations

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
from app.io.formats.openephys import OpenEphysFile
from app.io.formats.openephys_binary import OpenEphysBinaryFile
from tests.conftest import synthetic_int16
from tests.io.writers_ephys import write_binary_recording, write_legacy_recording

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
    events = df.get_events()
    assert events.dtype == EVENT_DTYPE
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
