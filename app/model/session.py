"""Session: what is open in the browser — the only owner of a DataFile on the GUI side.

A session holds the open `Recording` (its DataFile, segments, probe and lanes), the
`TraceSource` that serves its traces, the events and annotations loaded for it, and tells its
subscribers when any of these change. Views never open a file: they read the session and
listen to it.

Topics: "opened", "closed", "lanes", "events", "annotations", "probe", "geometry", "overview".
"""

from __future__ import annotations

from typing import Any

from app.model.lanes import Lane
from app.model.overview import Overview
from app.model.recording import Recording
from app.model.traces import DEFAULT_CUTOFF, TraceSource
from app.model.viewport import Observable

DEFAULT_CACHE_BYTES = 1 << 30


class Session(Observable):
    """The open recording, its TraceSource, lanes, events, annotations and summary."""

    def __init__(self, cache_bytes: int = DEFAULT_CACHE_BYTES, overview_root: str | None = None) -> None:
        super().__init__()
        self.cache_bytes = int(cache_bytes)
        self.overview_root = overview_root
        self.recording: Recording | None = None
        self.source: TraceSource | None = None
        self.events: Any = None             # an app.model.events.EventIndex, when loaded
        self.annotations: Any = None        # an app.model.annotations.Annotations, when loaded

    @property
    def is_open(self) -> bool:
        return self.recording is not None

    @property
    def lanes(self) -> list[Lane]:
        return self.recording.lanes if self.recording is not None else []

    @property
    def overview(self) -> Overview | None:
        return self.source.overview if self.source is not None else None

    def open(self, path: str, params: dict | None = None, *, file_format: str | None = None,
             stream_mode: str | None = None, mapping: str | None = None, lanes: bool = True,
             cutoff: float = DEFAULT_CUTOFF) -> Recording:
        """Open a data or .params file (typed errors from `Recording.open` pass through, and the
        session is unchanged then); the previous recording is closed first."""
        recording = Recording.open(str(path), params, file_format, stream_mode, mapping)
        return self.adopt(recording, lanes=lanes, cutoff=cutoff)

    def adopt(self, recording: Recording, lanes: bool = True, cutoff: float = DEFAULT_CUTOFF) -> Recording:
        """Take ownership of an already opened `recording` (the caller asked the user for missing
        fields while opening it): close the previous one, make its TraceSource, notify "opened"."""
        self.close()
        try:
            source = TraceSource(recording.datafile, cache_bytes=self.cache_bytes, cutoff=cutoff,
                                 overview_root=self.overview_root)
        except BaseException:
            recording.close()
            raise
        self.recording, self.source = recording, source
        if lanes:
            recording.open_lanes()
        self.notify("opened", recording)
        return recording

    def close(self) -> None:
        """Stop the background work, close every file (lanes included), notify "closed"."""
        if self.recording is None:
            return
        source, recording = self.source, self.recording
        self.recording, self.source, self.events, self.annotations = None, None, None, None
        if source is not None:
            source.close()
        recording.close()
        self.notify("closed", recording)

    def set_lane_visible(self, index: int, visible: bool) -> None:
        self.lanes[index].visible = bool(visible)
        self.notify("lanes", self.lanes)

    def lanes_changed(self) -> None:
        """Tell the subscribers the lanes (or which are shown) changed."""
        self.notify("lanes", self.lanes)

    def set_events(self, events: Any) -> None:
        self.events = events
        self.notify("events", events)

    def set_annotations(self, annotations: Any) -> None:
        self.annotations = annotations
        self.notify("annotations", annotations)

    def probe_changed(self) -> None:
        """Tell the subscribers the recording's probe (channel groups, positions) changed."""
        self.notify("probe", self.recording.probe if self.recording is not None else None)

    def set_geometry(self, geometry: Any) -> None:
        """Use `geometry` (an app.io.probe_geometry.ProbeGeometry, None for index order) for the open
        recording; notifies "geometry" then "probe"."""
        if self.recording is None:
            return
        self.recording.set_geometry(geometry)
        self.notify("geometry", geometry)
        self.probe_changed()

    def build_overview(self) -> None:
        """Build the summary for zoomed-out views in the background; notifies "overview" when done
        (on the worker thread: Qt subscribers must hop to the GUI thread)."""
        source = self.source
        if source is None or source.overview is not None:
            return
        source.build_overview(on_done=lambda result: self.notify("overview", result)
                              if self.source is source else None)
