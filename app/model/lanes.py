"""Lanes: other streams of the same acquisition, each at its own rate, on the main stream's time axis.

The view's time is the main stream's timeline in seconds (sample / rate, from 0).
A stream's sample ``s`` sits at ``(t_start + s) / rate`` on the acquisition clock,
so a lane is placed by its offset from the main stream's first sample,
``lane.t_start / lane.rate - main.t_start / main.rate`` seconds, and never by
assuming the rates agree. Every lane is drawn on the same pixel columns as the
main stream: its column width in its own samples is the main one scaled by the
ratio of the rates, and its first column starts where the main one does.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from app.io import open_datafile
from app.io.errors import DataFileError
from app.model.traces import TraceSource, stable_spc

log = logging.getLogger("wavescope")
LANE_CACHE_BYTES = 256 << 20
SHOWN_BY_DEFAULT_CHANNELS = 32   # small lanes (NI, aux, ADC) start shown; a second probe band starts hidden


@dataclass
class Lane:
    """One extra stream: its DataFile, where it sits against the main stream, whether it is shown."""

    label: str
    datafile: object
    offset_s: float
    visible: bool = True
    source: TraceSource | None = field(default=None, repr=False)

    @property
    def sampling_rate(self) -> float:
        return float(self.datafile.sampling_rate)

    @property
    def nb_channels(self) -> int:
        return int(self.datafile.nb_channels)

    @property
    def duration(self) -> int:
        return int(self.datafile.duration)

    @property
    def units(self) -> str:
        return str(self.datafile.params.get("units", "µV"))

    def sample_at(self, seconds: float) -> float:
        """This lane's timeline sample at view time `seconds` (the main stream's timeline)."""
        return (float(seconds) - self.offset_s) * self.sampling_rate

    def seconds_at(self, sample: float) -> float:
        return float(sample) / self.sampling_rate + self.offset_s

    def trace_source(self, cache_bytes: int = LANE_CACHE_BYTES) -> TraceSource:
        """The lane's own TraceSource (chunk cache, prefetch), made on first use."""
        if self.source is None:
            self.source = TraceSource(self.datafile, cache_bytes=cache_bytes, io_workers=1)
        return self.source

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None
        self.datafile.close()


def clock_offset(main, other) -> float:
    """Seconds from `main`'s first sample to `other`'s on the acquisition clock."""
    return (float(other.t_start) / float(other.sampling_rate)
            - float(main.t_start) / float(main.sampling_rate))


def main_grid(t0: float, t1: float, n_columns: int) -> tuple[int, float]:
    """(first column, samples per column) the main TraceSource snaps window [t0, t1) to."""
    n_columns = max(int(n_columns), 1)
    spc = stable_spc(max(float(t1) - float(t0), 1e-6) / n_columns)
    return math.floor(float(t0) / spc + 0.5), spc


def lane_window(lane: Lane, first_column: int, spc: float, n_columns: int,
                main_rate: float) -> tuple[float, float]:
    """Lane samples [t0, t1) whose `n_columns` columns fall on the main stream's columns
    [first_column, first_column + n_columns) at `spc` main samples per column.

    The lane's samples per column are rounded like the main ones (`stable_spc`) before the
    window is laid out, so every window at one zoom snaps to the same lane grid: the scaled
    width often ends on the 13th digit `stable_spc` rounds at, and would flip between two
    grids from one scroll to the next (each flip a redraw of the whole lane)."""
    lane_spc = stable_spc(spc * lane.sampling_rate / float(main_rate))
    start = lane.sample_at(first_column * spc / float(main_rate))
    return start, start + lane_spc * max(int(n_columns), 1)


def open_lanes(datafile, shown_channels: int = SHOWN_BY_DEFAULT_CHANNELS) -> list[Lane]:
    """A lane for every stream `datafile.related_streams()` names that opens; those that do not are
    logged and left out. Lanes of at most `shown_channels` channels start shown."""
    lanes = []
    for label, file_name, params in datafile.related_streams():
        try:
            other = open_datafile(file_name, params, datafile.description)
        except (DataFileError, OSError, ValueError) as error:
            log.warning("stream %s not shown: %s", label, error)
            continue
        lanes.append(Lane(label, other, clock_offset(datafile, other),
                          visible=int(other.nb_channels) <= shown_channels))
    return lanes
