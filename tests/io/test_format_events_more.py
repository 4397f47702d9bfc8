"""`get_events` of Plexon, TDT, Spike2, Intan RHS, SpikeGadgets, MCS HDF5 and Axona, on files
written here from the vendors' layouts and compared, where a vendor or neo reads the events,
event for event (times and labels). Each difference with neo is named in the test that meets it.

The shared writers (tests/io/writers_more*.py) cover the samples; the event records are written
here with struct / numpy, following the published layouts, sharing no code with the readers.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

from app.io import events as events_module
from app.io import open_datafile
from app.io.events import EVENT_DTYPE, events_to_rows
from tests.io.writers_more import (
    PLX_DSP_BYTES,
    plx_block,
    plx_dsp_header,
    plx_event_header,
    plx_global_header,
    plx_slow_header,
    rhs_header,
    write_rhs,
    write_tdt_block,
)
from tests.io.writers_more2 import (
    write_axona_bin,
    write_axona_continuous,
    write_axona_set,
    write_mcs_h5,
    write_smr,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


def open_as(path, file_format: str, **params):
    return open_datafile(str(path), params, file_format)


def rows(events: np.ndarray) -> list[tuple[int, int, str, str]]:
    return list(events_to_rows(events))


@pytest.fixture(autouse=True)
def _empty_event_cache():
    """Each test starts with no events cached, so "nothing read at open" does not depend on which
    tests ran before (the cache is per process)."""
    with events_module._FILE_CACHE_LOCK:
        events_module._FILE_CACHE.clear()


def cached_keys() -> set[str]:
    return {token[1] for token in events_module._FILE_CACHE}


def by_channel(events: np.ndarray) -> dict[str, list[tuple[int, int, str]]]:
    out: dict[str, list[tuple[int, int, str]]] = {}
    for sample, duration, channel, label in events_to_rows(events):
        out.setdefault(channel, []).append((sample, duration, label))
    return out


# -- Plexon .plx ------------------------------------------------------------------------------------
PLX_AD = 40000
PLX_SLOW = [{"name": "FP01", "channel": 0, "rate": 1000, "gain": 5, "preamp": 1000},
            {"name": "AI01", "channel": 1, "rate": 2000, "gain": 5, "preamp": 1000}]
PLX_EVENT_CHANNELS = [("Lever", 1), ("Reward", 2), ("Strobed", 257), ("Start", 258)]


def write_plx_with_events(path, events: list[tuple[int, int, int]], first_tick: int = 4000,
                          samples: int = 400) -> str:
    """Two slow channels (1 kHz and 2 kHz, blocks of 50 samples from `first_tick`), a spike block
    every 0.1 s and type-4 blocks `events` = (ticks, event channel, unit), all in time order."""
    rng = np.random.default_rng(3)
    timed = []
    for channel in PLX_SLOW:
        step = PLX_AD // channel["rate"]
        count = samples * channel["rate"] // 1000
        data = rng.integers(-2000, 2000, count).astype(np.int16)
        for start in range(0, count, 50):
            ticks = first_tick + start * step
            timed.append((ticks, 0, plx_block(5, channel["channel"], ticks, 0, data[start:start + 50])))
    for ticks in range(first_tick, first_tick + samples * 40, 4000):
        timed.append((ticks + 7, 1, plx_block(1, 1, ticks + 7, 1, np.arange(32, dtype=np.int16))))
    for ticks, channel, unit in events:
        signed = unit - 65536 if unit > 32767 else unit         # the Unit field is an int16
        timed.append((ticks, 2, plx_block(4, channel, ticks, signed)))
    timed.sort(key=lambda item: (item[0], item[1]))
    with open(path, "wb") as handle:
        handle.write(plx_global_header(107, PLX_AD, 1, len(PLX_EVENT_CHANNELS), len(PLX_SLOW)))
        handle.write(plx_dsp_header("SPK01", 1))
        handle.writelines(plx_event_header(name, number) for name, number in PLX_EVENT_CHANNELS)
        handle.writelines(plx_slow_header(c["name"], c["channel"], c["rate"], c["gain"], c["preamp"])
                          for c in PLX_SLOW)
        handle.writelines(block for _, _, block in timed)
    assert PLX_DSP_BYTES == 1020
    return str(path)


# (ticks, event channel, unit): the strobed words include one above 32767 (Unit is read unsigned).
PLX_EVENTS = [(4000, 258, 0), (4400, 1, 0), (5000, 257, 12), (5000, 2, 0), (6019, 1, 0), (8000, 257, 40000),
              (12000, 257, 7), (19960, 2, 0), (100, 1, 0), (30000, 1, 0)]


def test_plexon_event_channels_and_strobed_words(tmp_path):
    path = write_plx_with_events(tmp_path / "ev.plx", sorted(PLX_EVENTS))
    recording = open_as(path, "plexon")
    assert "plexon-events" not in cached_keys()           # nothing read at open
    assert recording.sampling_rate == 1000 and recording._t_start == 100
    events = recording.get_events()
    assert "plexon-events" in cached_keys()
    assert events.dtype == EVENT_DTYPE
    # sample = round(ticks x 1000 / 40000) - 100; tick 100 is before the first sample and tick
    # 30000 after the last one (samples 0..399 cover ticks 4000..19999): both have no place.
    assert rows(events) == [
        (0, 0, "Start", "Start"), (10, 0, "Lever", "Lever"), (25, 0, "Reward", "Reward"),
        (25, 0, "Strobed", "12"), (50, 0, "Lever", "Lever"), (100, 0, "Strobed", "40000"),
        (200, 0, "Strobed", "7"), (399, 0, "Reward", "Reward")]
    fast = open_as(path, "plexon", stream_index=1)
    assert fast.sampling_rate == 2000 and fast._t_start == 200
    assert [(s, c, lab) for s, _, c, lab in rows(fast.get_events())][:4] == [
        (0, "Start", "Start"), (20, "Lever", "Lever"), (50, "Reward", "Reward"), (50, "Strobed", "12")]
    assert rows(recording.get_events(50, 200)) == [(50, 0, "Lever", "Lever"), (100, 0, "Strobed", "40000")]


def test_plexon_unknown_event_channel_gets_a_name(tmp_path):
    path = write_plx_with_events(tmp_path / "odd.plx", [(4800, 9, 0), (5200, 259, 0)])
    assert rows(open_as(path, "plexon").get_events()) == [(20, 0, "Event 9", "Event 9"),
                                                               (30, 0, "Stop", "Stop")]


def test_plexon_events_as_neo(tmp_path):
    neo_rawio = pytest.importorskip("neo.rawio")
    inside = sorted(e for e in PLX_EVENTS if 4000 <= e[0] < 20000)
    path = write_plx_with_events(tmp_path / "neo.plx", inside)
    reader = neo_rawio.PlexonRawIO(filename=path)
    reader.parse_header()
    ours = by_channel(open_as(path, "plexon").get_events())
    names = [str(n) for n in reader.header["event_channels"]["name"]]
    assert names == [name for name, _ in PLX_EVENT_CHANNELS]
    for index, name in enumerate(names):
        stamps, _, labels = reader.get_event_timestamps(0, 0, index)
        seconds = reader.rescale_event_timestamp(stamps, "float64", index)
        mine = ours.get(name, [])
        assert [round(t * 1000) - 100 for t in seconds] == [s for s, _, _ in mine]
        if name == "Strobed":
            assert list(labels) == [lab for _, _, lab in mine]
        else:
            # Difference: neo labels every event with the block's Unit field ('0' outside the
            # strobed channel); we label a plain event channel with its name.
            assert set(labels) <= {"0"} and all(lab == name for _, _, lab in mine)


def test_plexon_runs_of_event_blocks(tmp_path):
    """Consecutive event blocks are read as one numpy run; lone ones one by one: same result."""
    burst = [(4000 + 40 * k + 1, 257, k) for k in range(300)]
    path = write_plx_with_events(tmp_path / "burst.plx", burst + [(19000, 1, 0)])
    events = open_as(path, "plexon").get_events()
    assert len(events) == 301
    assert events["sample"][:300].tolist() == list(range(300))
    assert events["label"][:300].tolist() == [str(k) for k in range(300)]
    assert rows(events[300:]) == [(375, 0, "Lever", "Lever")]


# -- TDT epocs --------------------------------------------------------------------------------------
TDT_RATE = 24414.0625
TDT_START = 1.6e9
EPOC_ON, EPOC_OFF = 0x101, 0x102


def tdt_epoc_record(store: str, kind: int, buddy: str, seconds: float, value: float) -> bytes:
    """A 40-byte `.tsq` epoc record: size 10, type, store code, buddy code in the channel and
    sort-code words, Unix time, the value as a float64 in the offset field, format 4 (float64)."""
    return struct.pack("<ii4s4sddif", 10, kind, store.encode(), buddy.encode() if buddy else b"\0" * 4,
                       TDT_START + seconds, value, 4, 0.0)


def add_epocs(folder: str, epocs: list[tuple[str, int, str, float, float]]) -> None:
    """Insert epoc records into the block's `.tsq` (in time order, before the stop mark) and list
    the onset stores in the `.Tbk` as TDT does (TankEvType 257)."""
    folder = Path(folder)
    tsq = next(folder.glob("*.tsq"))
    raw = tsq.read_bytes()
    records = [raw[k:k + 40] for k in range(0, len(raw), 40)]
    head, body, stop = records[:2], records[2:-1], records[-1]
    body += [tdt_epoc_record(*epoc) for epoc in epocs]
    body.sort(key=lambda record: struct.unpack_from("<d", record, 16)[0])
    tsq.write_bytes(b"".join(head + body + [stop]))
    tbk = next(folder.glob("*.Tbk"))
    items = "".join(
        "[STOREHDRITEM]" + "".join(f"NAME={n};TYPE={t};VALUE={v};\n" for n, t, v in (
            ("StoreName", "L", name), ("HeadName", "L", name), ("Enabled", "B", "1"), ("CircType", "L", "0"),
            ("NumChan", "L", "1"), ("StrobeMode", "L", "0"), ("TankEvType", "L", str(EPOC_ON)),
            ("NumPoints", "L", "0"), ("DataFormat", "L", "4"), ("SampleFreq", "D", "0.0")))
        for name in dict.fromkeys(e[0] for e in epocs if e[1] == EPOC_ON))
    text = tbk.read_text()
    cut = text.rindex("[USERNOTEDELIMITER]")
    tbk.write_text(text[:cut] + items + text[cut:])


def tdt_time(sample: int) -> float:
    """Seconds from the block start of stream sample `sample` (the stream starts 0.01 s in)."""
    return (round(0.01 * TDT_RATE) + sample) / TDT_RATE


TDT_EPOCS = [
    ("Tick", EPOC_ON, "", tdt_time(100), 1.0), ("Tick", EPOC_ON, "", tdt_time(5000), 2.0),
    ("Tick", EPOC_ON, "", tdt_time(9000), 3.0),
    ("PC0/", EPOC_ON, "", tdt_time(2000), 1.0), ("PC0\\", EPOC_OFF, "PC0/", tdt_time(2500), 1.0),
    ("PC0/", EPOC_ON, "", tdt_time(7000), 1.0), ("PC0\\", EPOC_OFF, "PC0/", tdt_time(7100), 1.0),
    ("Freq", EPOC_ON, "", tdt_time(3000), 440.5),
    ("Freq", EPOC_ON, "", 0.002, 7.0),          # before the stream's first sample: no place
]


def write_tdt_with_epocs(tmp_path, epocs=TDT_EPOCS) -> str:
    data = np.random.default_rng(4).standard_normal((2, 10240)).astype(np.float32)
    folder = write_tdt_block(tmp_path / "Tank", "Block-1", [{"name": "Wav1", "data": data, "rate": TDT_RATE,
                                                            "chunk": 256}], start_time=TDT_START)
    add_epocs(folder, epocs)
    return folder


def test_tdt_epocs_pair_onsets_and_offsets(tmp_path):
    folder = write_tdt_with_epocs(tmp_path)
    recording = open_as(folder, "tdt")
    assert "tdt-epocs" not in cached_keys()
    assert recording._t_start == 244
    events = recording.get_events()
    # PC0/ epocs end at their buddy store PC0\'s offsets; Tick and Freq have no offset store, so
    # (TDT's rule) each lasts until the next onset and the last one, left open by TDT, is an instant.
    assert rows(events) == [
        (100, 4900, "Tick", "1"), (2000, 500, "PC0/", "1"), (3000, 0, "Freq", "440.5"), (5000, 4000, "Tick", "2"),
        (7000, 100, "PC0/", "1"), (9000, 0, "Tick", "3")]
    assert "tdt-epocs" in cached_keys()
    assert rows(recording.get_events(2500, 7000)) == [(3000, 0, "Freq", "440.5"), (5000, 4000, "Tick", "2")]


def test_tdt_offset_before_any_onset_starts_at_the_block_start(tmp_path):
    epocs = [("PtA/", EPOC_ON, "", tdt_time(600), 5.0),
             ("PtA\\", EPOC_OFF, "PtA/", tdt_time(300), 5.0), ("PtA\\", EPOC_OFF, "PtA/", tdt_time(800), 5.0)]
    recording = open_as(write_tdt_with_epocs(tmp_path, epocs), "tdt")
    # TDT inserts an onset at time 0 (before this stream's first sample: it has no place here);
    # the onset at 600 then pairs with the second offset.
    assert rows(recording.get_events()) == [(600, 200, "PtA/", "5")]


def test_tdt_epocs_as_tdt_and_neo(tmp_path):
    tdt = pytest.importorskip("tdt")
    neo_rawio = pytest.importorskip("neo.rawio")
    folder = write_tdt_with_epocs(tmp_path, [e for e in TDT_EPOCS if e[3] > 0.01])
    ours = by_channel(open_as(folder, "tdt").get_events())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        block = tdt.read_block(folder, evtype=["epocs"])
    for name in ("Tick", "PC0/", "Freq"):
        epoc = block.epocs[name.replace("/", "_")]
        onsets = np.asarray(epoc.onset, dtype=np.float64)
        offsets = np.asarray(epoc.offset, dtype=np.float64)
        mine = ours[name]
        assert [round(t * TDT_RATE) - 244 for t in onsets] == [s for s, _, _ in mine]
        ends = [round(t * TDT_RATE) - 244 if np.isfinite(t) else None for t in offsets]
        assert ends == [s + d if d or k + 1 < len(mine) else None for k, (s, d, _) in enumerate(mine)]
        assert [_tdt_text(v) for v in np.asarray(epoc.data).ravel()] == [lab for _, _, lab in mine]
    reader = neo_rawio.TdtRawIO(dirname=str(Path(folder).parent))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # neo warns about the Tbk's empty first group
        reader.parse_header()
    names = [str(n) for n in reader.header["event_channels"]["name"]]
    assert sorted(names) == ["Freq", "PC0/", "Tick"]
    for index, name in enumerate(names):
        stamps, durations, labels = reader.get_event_timestamps(0, 0, index)
        seconds = reader.rescale_event_timestamp(stamps, "float64", index)
        # Differences: neo gives no durations (offset stores are ignored), does not round times to
        # TDT's 195312.5 Hz clock, and labels each epoc with the float64 value's bits read as an
        # int64, not with the value.
        assert durations is None
        assert [round(t * TDT_RATE) - 244 for t in seconds] == [s for s, _, _ in ours[name]]
        values = np.asarray(labels).astype(np.int64).view(np.float64)
        assert [_tdt_text(v) for v in values] == [lab for _, _, lab in ours[name]]


def _tdt_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# -- CED Spike2 .smr --------------------------------------------------------------------------------
SMR_INTERVAL = 40            # ticks of 1 µs per Adc sample: 25 kHz
SMR_FALL, SMR_RISE, SMR_LEVEL, SMR_MARKER, SMR_TEXT = 2, 3, 4, 5, 8


def smr_event_items(kind: int, ticks, codes=None, texts=None, extra: int = 0) -> bytes:
    """Items of an event channel: int32 ticks; markers add 4 uint8 codes; TextMarks `extra` text bytes."""
    out = bytearray()
    for k, tick in enumerate(ticks):
        out += struct.pack("<i", tick)
        if kind in (SMR_MARKER, SMR_TEXT):
            out += bytes((list(codes[k]) + [0, 0, 0, 0])[:4]) if codes is not None else bytes(4)
        if kind == SMR_TEXT:
            out += texts[k].encode("latin-1").ljust(extra, b"\0")[:extra]
    return bytes(out)


def add_smr_event_channel(path, slot: int, kind: int, title: str, blocks: list[tuple[list[int], bytes]],
                          extra: int = 0, initially_low: int = 1) -> None:
    """Append an event channel's blocks (each: its ticks and item bytes) to a 32-bit SON file
    (system 8: block pointers are byte offsets) and fill its 140-byte channel header."""
    data = bytearray(Path(path).read_bytes())
    starts = []
    for _ in blocks:
        starts.append(len(data))
        data += bytes(20)
    for k, (ticks, items) in enumerate(blocks):
        position = len(data)
        data += struct.pack("<iiiihh", starts[k - 1] if k else -1, -1, ticks[0], ticks[-1], slot, len(ticks))
        data += items
        starts[k] = position
    for k, (ticks, _) in enumerate(blocks):
        struct.pack_into("<iiiihh", data, starts[k], starts[k - 1] if k else -1,
                         starts[k + 1] if k + 1 < len(blocks) else -1, ticks[0], ticks[-1], slot, len(ticks))
    title_bytes = title.encode("latin-1")
    record = struct.pack("<hiiihhhhhh", 0, -1, starts[0], starts[-1], len(blocks), extra, 0, 0, 0, 0)
    record += bytes(72) + struct.pack("<iih", ticks[-1], 0, slot)
    record += bytes([len(title_bytes)]) + title_bytes.ljust(9, b"\0") + struct.pack("<fBx", 0.0, kind)
    record += bytes([initially_low, 1 - initially_low])
    data[512 + 140 * slot: 512 + 140 * (slot + 1)] = record.ljust(140, b"\0")
    Path(path).write_bytes(bytes(data))


def write_smr_with_events(path) -> str:
    samples = np.arange(2000, dtype=np.int16)
    write_smr(path, [{"slot": 0, "kind": 1, "title": "Vm", "interval": SMR_INTERVAL, "scale": 1.0, "offset": 0.0,
                      "units": "mV", "blocks": [(1000, samples)]}], slots=6)
    add_smr_event_channel(path, 1, SMR_RISE, "Trig", [([1400, 3000], smr_event_items(SMR_RISE, [1400, 3000]))])
    add_smr_event_channel(path, 2, SMR_FALL, "Off", [([2000], smr_event_items(SMR_FALL, [2000]))])
    level = [2000, 2400, 4000, 4810, 6000]
    add_smr_event_channel(path, 3, SMR_LEVEL, "TTL",
                          [(level[:2], smr_event_items(SMR_LEVEL, level[:2])),
                           (level[2:], smr_event_items(SMR_LEVEL, level[2:]))])     # two linked blocks
    add_smr_event_channel(path, 4, SMR_MARKER, "Keys",
                          [([1200, 5000], smr_event_items(SMR_MARKER, [1200, 5000], codes=[(65,), (7, 1)]))])
    add_smr_event_channel(path, 5, SMR_TEXT, "Notes",
                          [([900, 1040], smr_event_items(SMR_TEXT, [900, 1040], codes=[(0,), (0,)],
                                                         texts=["early", "drug on"], extra=12))], extra=12)
    return str(path)


def test_spike2_event_marker_and_textmark_channels(tmp_path):
    path = write_smr_with_events(tmp_path / "ev.smr")
    recording = open_as(path, "spike2")
    assert "spike2-events" not in cached_keys()
    assert recording.sampling_rate == 25000 and recording._t_start == 25
    # sample = round(tick / 40) - 25. TTL is a level channel starting low: rise 2000, fall 2400,
    # rise 4000, fall 4810 (tick 4810 / 40 = 120.25 -> 120), a last rise 6000 without its fall.
    # Tick 900 (a TextMark before the first sample) has no place.
    assert rows(recording.get_events()) == [
        (1, 0, "Notes", "drug on"), (5, 0, "Keys", "65"), (10, 0, "Trig", "rising"), (25, 0, "Off", "falling"),
        (25, 10, "TTL", "high"), (50, 0, "Trig", "rising"), (75, 20, "TTL", "high"), (100, 0, "Keys", "7 1 0 0"),
        (125, 0, "TTL", "rising")]
    assert "spike2-events" in cached_keys()


def test_spike2_level_channel_starting_high(tmp_path):
    path = write_smr_with_events(tmp_path / "high.smr")
    ticks = [2000, 2400, 4000]
    add_smr_event_channel(path, 3, SMR_LEVEL, "TTL", [(ticks, smr_event_items(SMR_LEVEL, ticks))], initially_low=0)
    events = open_as(path, "spike2").get_events()
    assert [r for r in rows(events) if r[2] == "TTL"] == [(25, 0, "TTL", "falling"), (35, 40, "TTL", "high")]


def test_spike2_events_as_neo(tmp_path):
    neo_rawio = pytest.importorskip("neo.rawio")
    path = write_smr_with_events(tmp_path / "neo.smr")
    reader = neo_rawio.Spike2RawIO(filename=path)
    reader.parse_header()
    ours = by_channel(open_as(path, "spike2").get_events())
    names = [str(n) for n in reader.header["event_channels"]["name"]]
    assert names == ["Trig", "Off", "TTL", "Keys", "Notes"]
    for index, name in enumerate(names):
        stamps, durations, labels = reader.get_event_timestamps(0, 0, index)
        seconds = reader.rescale_event_timestamp(stamps, "float64", index)
        theirs = [round(t * 1e6 / SMR_INTERVAL) - 25 for t in seconds]
        mine = [(s, lab) for s, _, lab in ours[name]]
        if name == "TTL":
            # Difference: neo gives each edge of a level channel as an event (no durations, no
            # level); we pair them into pulses. Their edges are ours.
            edges = sorted([s for s, _, _ in ours[name]] + [s + d for s, d, lab in ours[name] if lab == "high"])
            assert durations is None and theirs == edges
            continue
        # the TextMark at tick 900, before the first Adc sample, is left out by both
        assert theirs == [s for s, _ in mine]
        if name == "Keys":
            # Difference: neo labels a marker with its 4 codes read as one int32 (7 + 1 * 256 = 263);
            # we give the first code, or all four when the others are used.
            assert list(labels) == ["65", "263"] and [lab for _, lab in mine] == ["65", "7 1 0 0"]
        elif name == "Notes":
            assert list(labels) == [lab for _, lab in mine]
        else:
            assert set(labels) <= {""}


# -- Intan RHS2000 ----------------------------------------------------------------------------------
def write_rhs_digital(path, digital_in: np.ndarray, digital_out: np.ndarray | None, amplifiers: int = 2,
                      first_timestamp: int = 1000) -> str:
    """An `.rhs` file (DC amplifier not saved) whose data blocks carry the given uint16 digital
    words, one per sample (a multiple of 128): timestamps, amplifier, stim, digital in, out."""
    samples = len(digital_in)
    n_out = 0 if digital_out is None else 2
    rng = np.random.default_rng(5)
    with open(path, "wb") as handle:
        handle.write(rhs_header(30000.0, amplifiers, dc_saved=False, digital_in=3, digital_out=n_out))
        for b in range(samples // 128):
            block = slice(128 * b, 128 * (b + 1))
            handle.write((first_timestamp + np.arange(block.start, block.stop)).astype("<i4").tobytes())
            handle.write(rng.integers(0, 65535, (amplifiers, 128)).astype("<u2").tobytes())
            handle.write(np.zeros((amplifiers, 128), "<u2").tobytes())
            handle.write(np.asarray(digital_in[block], "<u2").tobytes())
            if digital_out is not None:
                handle.write(np.asarray(digital_out[block], "<u2").tobytes())
    return str(path)


def ttl_words(samples: int, pulses: dict[int, list[tuple[int, int]]]) -> np.ndarray:
    """uint16 words with bit `line` high over each [start, stop) of pulses[line]."""
    words = np.zeros(samples, np.uint16)
    for line, spans in pulses.items():
        for start, stop in spans:
            words[start:stop] |= np.uint16(1 << line)
    return words


def test_intan_rhs_digital_inputs_and_outputs(tmp_path):
    din = ttl_words(512, {0: [(0, 10), (130, 300)], 2: [(250, 251), (500, 512)], 5: [(40, 60)]})
    dout = ttl_words(512, {1: [(127, 129)]})
    path = write_rhs_digital(tmp_path / "dig.rhs", din, dout)
    recording = open_as(path, "intan_rhs")
    assert "rhs-digital_in" not in cached_keys()
    assert recording._t_start == 1000
    # Line 0 is high from the first sample: its fall at 10 has no rise in the file. Line 2 is still
    # high at the end: its last rise has no fall. Bit 5 is not an enabled input (3 lines): ignored.
    assert rows(recording.get_events()) == [
        (10, 0, "DIGITAL-IN-01", "falling"), (127, 2, "DIGITAL-OUT-02", "high"), (130, 170, "DIGITAL-IN-01", "high"),
        (250, 1, "DIGITAL-IN-03", "high"), (500, 0, "DIGITAL-IN-03", "rising")]
    assert {"rhs-digital_in", "rhs-digital_out"} <= cached_keys()
    analog = open_as(path, "intan_rhs", signal="amplifier")
    assert rows(analog.get_events(200, 300)) == [(250, 1, "DIGITAL-IN-03", "high")]


def test_intan_rhs_without_digital_lines(tmp_path):
    path = write_rhs(tmp_path / "plain.rhs", np.full((256, 2), 32768, np.uint16))
    events = open_as(path, "intan_rhs").get_events()
    assert events.dtype == EVENT_DTYPE and len(events) == 0


def test_intan_rhs_digital_edges_as_neo(tmp_path):
    neo_rawio = pytest.importorskip("neo.rawio")
    rng = np.random.default_rng(9)
    din = (rng.random(1024) < 0.02).astype(np.uint16) * 1 | (rng.random(1024) < 0.01).astype(np.uint16) * 4
    dout = (rng.random(1024) < 0.03).astype(np.uint16) * 2
    path = write_rhs_digital(tmp_path / "neo.rhs", din, dout)
    reader = neo_rawio.IntanRawIO(filename=path)
    reader.parse_header()
    # neo has no Intan events: it gives each digital line as a 0/1 signal. Their edges are ours.
    theirs = []
    for index, stream in enumerate(reader.header["signal_streams"]):
        if "digital" not in str(stream["name"]):
            continue
        channels = reader.header["signal_channels"]
        names = [str(c["name"]) for c in channels[channels["stream_id"] == stream["id"]]]
        levels = reader.get_analogsignal_chunk(0, 0, None, None, stream_index=index).astype(np.int8)
        for column, name in enumerate(names):
            change = np.flatnonzero(np.diff(levels[:, column])) + 1
            theirs += [(name, int(k), int(levels[k, column])) for k in change]
    ours = []
    for sample, duration, channel, label in rows(open_as(path, "intan_rhs").get_events()):
        ours.append((channel, sample, int(label in ("high", "rising"))))
        if label == "high":
            ours.append((channel, sample + duration, 0))
    assert sorted(ours) == sorted(theirs) and len(ours) > 20


# -- SpikeGadgets .rec ------------------------------------------------------------------------------
REC_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration>
 <GlobalConfiguration systemTimeAtCreation="1600000000000" timestampAtCreation="0" trodesVersion="2.3.4"
  filePrefix="" saveDisplayedChanOnly="1"/>
 <HardwareConfiguration samplingRate="30000" numChannels="32">
  <Device name="MCU_IO" numBytes="1" available="1" packetOrderPreference="10">
   <Channel id="Din1" dataType="digital" startByte="0" bit="0" input="1"/>
   <Channel id="Din4" dataType="digital" startByte="0" bit="3" input="1"/>
  </Device>
  <Device name="ECU" numBytes="4" available="1" packetOrderPreference="20">
   <Channel id="Ain1" dataType="analog" startByte="0" bit="0" input="1"/>
   <Channel id="ECU_Dout2" dataType="digital" startByte="2" bit="1" input="0"/>
   <Channel id="Mux1" dataType="digital" startByte="3" bit="0" input="1" interleavedDataIDByte="3"
    interleavedDataIDBit="7"/>
  </Device>
 </HardwareConfiguration>
 <SpikeConfiguration device="intan">
  <SpikeNTrode id="1" refNTrodeID="1" filterOn="1" spikeScalingToUv="0.195">
   <SpikeChannel hwChan="0" thresh="60" maxDisp="400"/>
   <SpikeChannel hwChan="1" thresh="60" maxDisp="400"/>
  </SpikeNTrode>
 </SpikeConfiguration>
</Configuration>
"""


def write_rec_digital(path, mcu: np.ndarray, ecu_byte2: np.ndarray, first_timestamp: int = 5000) -> str:
    """Packets: sync 0x55, MCU_IO byte, 4 ECU bytes (analog int16, the digital byte, a mux byte),
    uint32 timestamp, 2 int16 neural words."""
    samples = len(mcu)
    packet = np.dtype([("sync", "u1"), ("mcu", "u1"), ("analog", "<i2"), ("ecu_digital", "u1"), ("mux", "u1"),
                       ("timestamp", "<u4"), ("neural", "<i2", (2,))])
    packets = np.zeros(samples, packet)
    packets["sync"], packets["mcu"], packets["ecu_digital"] = 0x55, mcu, ecu_byte2
    packets["mux"] = np.arange(samples) % 2 | 0x80          # a toggling multiplexed bit: never read
    packets["analog"] = np.arange(samples)
    packets["timestamp"] = first_timestamp + np.arange(samples)
    packets["neural"] = np.random.default_rng(6).integers(-500, 500, (samples, 2))
    Path(path).write_bytes(REC_XML.encode() + packets.tobytes())
    return str(path)


def test_spikegadgets_digital_channels(tmp_path):
    mcu = ttl_words(400, {0: [(10, 20), (300, 400)], 3: [(15, 16)], 5: [(50, 60)]}).astype(np.uint8)
    ecu = ttl_words(400, {1: [(0, 5), (100, 250)], 0: [(1, 2)]}).astype(np.uint8)
    path = write_rec_digital(tmp_path / "dig.rec", mcu, ecu)
    recording = open_as(path, "spikegadgets")
    assert "rec-digital" not in cached_keys()
    assert recording._t_start == 5000
    # MCU bit 5 and ECU bit 0 are no configured channel; Mux1 is multiplexed (left out).
    assert rows(recording.get_events()) == [
        (5, 0, "ECU_Dout2", "falling"), (10, 10, "Din1", "high"), (15, 1, "Din4", "high"),
        (100, 150, "ECU_Dout2", "high"), (300, 0, "Din1", "rising")]
    assert "rec-digital" in cached_keys()


def test_spikegadgets_events_cross_slabs(tmp_path, monkeypatch):
    """Edges at slab borders are found once: the previous slab's last byte carries over."""
    from app.io.formats import spikegadgets

    mcu = ttl_words(1000, {0: [(k, k + 3) for k in range(0, 1000, 7)]}).astype(np.uint8)
    path = write_rec_digital(tmp_path / "slabs.rec", mcu, np.zeros(1000, np.uint8))
    recording = open_as(path, "spikegadgets")
    assert recording._packet.itemsize == 14
    whole = rows(recording.get_events())
    # the first packet is already high: its fall is an edge without a rise
    assert whole == [(3, 0, "Din1", "falling")] + [(k, 3, "Din1", "high") for k in range(7, 1000, 7)]
    for packets_per_slab in (1, 3, 7, 64):
        monkeypatch.setattr(spikegadgets, "SLAB_BYTES", packets_per_slab * 14)
        assert rows(open_as(path, "spikegadgets")._scan_digital()) == whole


# -- MCS HDF5 ---------------------------------------------------------------------------------------
MCS_INFO_EVENT = np.dtype([("EventID", "<i4"), ("GroupID", "<i4"), ("Label", "S32"), ("RawDataBytes", "<i8"),
                           ("SourceChannelIDs", "S32"), ("SourceChannelLabels", "S32")])


def add_mcs_events(path, entities: dict[int, tuple[str, str, np.ndarray]], stream: int = 0) -> None:
    """`/Data/Recording_0/EventStream/Stream_<stream>`: InfoEvent (one row per entity) and one
    `EventEntity_<id>` per entity holding rows [timestamps µs, durations µs] (or timestamps only)."""
    import h5py

    with h5py.File(path, "a") as h5:
        group = h5["Data/Recording_0"].require_group("EventStream").create_group(f"Stream_{stream}")
        group.attrs["Label"] = np.bytes_(b"Digital Events")
        info = np.zeros(len(entities), MCS_INFO_EVENT)
        for row, (entity, (label, sources, values)) in enumerate(entities.items()):
            info[row] = (entity, 0, label.encode(), 2, b"0", sources.encode())
            group.create_dataset(f"EventEntity_{entity}", data=np.asarray(values, dtype=np.int64))
        group.create_dataset("InfoEvent", data=info)


def write_mcs_with_events(path, blocks=None) -> str:
    data = np.random.default_rng(7).integers(-1000, 1000, (2, 1000)).astype(np.int32)
    write_mcs_h5(path, [{"data": data, "tick": 40, "blocks": blocks or [[1000, 0, 999]]}])
    add_mcs_events(path, {
        0: ("Trigger", "D1", np.array([[1000, 2000, 9010, 50000], [400, 0, 1000, 0]])),
        3: ("Stim", "", np.array([[4000, 1040]])),               # one row: timestamps only
        5: ("Door", "D3", np.array([[2400, 3000], [80, 100], [0, 0], [0, 0], [0, 0]]))})
    return str(path)


def test_mcs_h5_event_entities(tmp_path):
    path = write_mcs_with_events(tmp_path / "ev.h5")
    recording = open_as(path, "mcs_h5")
    assert not any(key.startswith("mcs-events") for key in cached_keys())
    assert recording._t_start == 25
    # sample = round(µs / 40) - 25: 9010 µs -> 225.25 -> 225 - 25 = 200; 50000 µs is past
    # the last sample (40000 µs). Durations: round((t + d) / 40) - round(t / 40).
    assert rows(recording.get_events()) == [
        (0, 10, "Trigger", "D1"), (1, 0, "Stim", ""), (25, 0, "Trigger", "D1"), (35, 2, "Door", "D3"),
        (50, 3, "Door", "D3"), (75, 0, "Stim", ""), (200, 25, "Trigger", "D1")]
    assert any(key.startswith("mcs-events") for key in cached_keys())


def test_mcs_h5_events_in_segments(tmp_path):
    path = write_mcs_with_events(tmp_path / "gaps.h5", blocks=[[1000, 0, 499], [40000, 500, 999]])
    first = open_as(path, "mcs_h5", segment_index=0)
    second = open_as(path, "mcs_h5", segment_index=1)
    assert (first._t_start, second._t_start) == (25, 1000)
    assert [r[0] for r in rows(first.get_events())] == [0, 1, 25, 35, 50, 75, 200]
    # 50000 µs = sample 1250 = 250 samples into the second segment; the others are before it
    assert rows(second.get_events()) == [(250, 0, "Trigger", "D1")]


def test_mcs_h5_without_event_stream(tmp_path):
    path = write_mcs_h5(tmp_path / "plain.h5", [{"data": np.zeros((2, 100), np.int32), "tick": 40}])
    assert len(open_as(path, "mcs_h5").get_events()) == 0


# -- Axona .bin -------------------------------------------------------------------------------------
def write_axona_with_digital(folder: Path, inputs: np.ndarray, outputs: np.ndarray) -> str:
    """A trial (`.set` + `.bin`, one packet per word) whose packets carry the given 16-bit digital
    input (bytes 8-9) and output (bytes 416-417) words, little-endian."""
    write_axona_set(folder / "trial.set", tetrodes=[1], gains={})
    samples = np.random.default_rng(8).integers(-1000, 1000, (3 * len(inputs), 64)).astype(np.int16)
    raw = bytearray(write_axona_bin(folder / "trial.bin", samples).read_bytes())
    for packet, (word_in, word_out) in enumerate(zip(inputs.tolist(), outputs.tolist())):
        struct.pack_into("<H", raw, 432 * packet + 8, word_in)
        struct.pack_into("<H", raw, 432 * packet + 416, word_out)
    (folder / "trial.bin").write_bytes(bytes(raw))
    return str(folder / "trial.set")


def test_axona_digital_inputs_and_outputs(tmp_path):
    inputs = ttl_words(40, {0: [(5, 9)], 15: [(12, 13), (30, 40)]})
    outputs = ttl_words(40, {3: [(0, 2), (20, 25)]})
    recording = open_as(write_axona_with_digital(tmp_path, inputs, outputs), "axona")
    assert "axona-digital" not in cached_keys()
    # sample = 3 x packet. DOUT 3 is high in the first packet (no rise seen); DIN 15 ends high.
    assert rows(recording.get_events()) == [
        (6, 0, "DOUT 3", "falling"), (15, 12, "DIN 0", "high"), (36, 3, "DIN 15", "high"),
        (60, 15, "DOUT 3", "high"), (90, 0, "DIN 15", "rising")]
    assert rows(recording.get_events(30, 61)) == [(36, 3, "DIN 15", "high"), (60, 15, "DOUT 3", "high")]


def test_axona_quiet_lines_and_continuous_files_have_no_events(tmp_path):
    quiet = np.zeros(10, np.uint16)
    path = write_axona_with_digital(tmp_path, quiet, quiet)
    assert len(open_as(path, "axona").get_events()) == 0
    eeg = write_axona_continuous(tmp_path / "trial.eeg", np.arange(100) % 100, 250.0)
    assert len(open_as(eeg, "axona").get_events()) == 0
