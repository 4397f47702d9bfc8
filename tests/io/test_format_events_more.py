"""`get_events` of Plexon, TDT, Spike2, Intan RHS, SpikeGadgets, MCS HDF5 and Axona, on files
written here from the vendors' layouts and compared, where a vendor or neo reads the events,
event for event (times and labels). Each difference with neo is named in the test that meets it.

The shared writers (tests/io/writers_more*.py) cover the samples; the event records are written
here with struct / numpy, following the published layouts, sharing no code with the readers.
"""

from __future__ import annotations

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
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


def open_as(path, file_format: str, **params):
    return open_datafile(str(path), params, file_format)


def rows(events: np.ndarray) -> list[tuple[int, int, str, str]]:
    return list(events_to_rows(events))


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
