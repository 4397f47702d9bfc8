"""nwb_out: any recording to an NWB 2 file, written lazily in chunks and atomically.

`convert_to_nwb` is what `wavescope convert ... --to nwb` runs (app.io.convert hands NWB
outputs here). The recording becomes one ElectricalSeries under /acquisition with its
electrodes table (group, channel name, probe position), rate and starting_time; its events
become one TimeIntervals table per event channel and the user's annotations one table named
``annotations``, all under /intervals, where Wavescope's NWB reader finds them again.

Samples are stored as they are in the source whenever nothing changes them (no --filter, no
other --dtype): NWB's scaling, volts = data × conversion × channel_conversion[c] + offset,
carries each channel's gain and the zero of unsigned types, so the file reads back in µV
without one value rescaled. Otherwise samples go through the engine's float32 path
(app.io.convert.read_converted) and are stored as float32 µV, or re-quantised to an asked
integer type with each channel's gain.

The series is pulled by hdmf's GenericDataChunkIterator one buffer (BUFFER_BYTES) at a time,
so memory does not grow with the recording. The file is written under a partial name
(app.io.partials) and published when complete (app.io.atomic); a failure or a cancel removes it.
pynwb is optional (`pip install wavescope[nwb]`): without it the conversion stops with a
ConvertError that says how to install it.
"""

from __future__ import annotations

import itertools
import os
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from app.io import atomic
from app.io.convert import (
    FILTER_ORDER,
    ConvertResult,
    Plan,
    Progress,
    _clear_stale_partials,
    _nodes,
    _time_range,
    _write_params_file,
    cancellable,
    check_free_space,
    check_output,
    discard,
    filter_padding,
    highpass_sos,
    read_for_output,
    temp_name,
)
from app.io.convert_options import ConvertError, ConvertSpec
from app.io.datafile import DataFile, auto_dtype_offset, normalize_dtype
from app.io.events import empty_events
from app.io.messages import print_and_log

NWB_FORMAT = "nwb"
# HDF5 chunks of about 1 MB spanning every channel (up to CHUNK_CHANNELS): a 1 s window of a
# 384-channel probe reads whole chunks only, locally or through range requests.
CHUNK_BYTES = 1 << 20
CHUNK_CHANNELS = 512
# Samples read and written per step: the memory a conversion takes beyond Python's own.
BUFFER_BYTES = 32 << 20
SERIES_NAME = "ElectricalSeries"
ANNOTATIONS_TABLE = "annotations"
# Names pynwb keeps for its own tables; an event channel so named gets a suffix.
RESERVED_TABLES = frozenset({"trials", "epochs", "invalid_times", ANNOTATIONS_TABLE})
# --out-set keys of the NWB writer (everything else is refused, naming these).
METADATA_KEYS = {
    "session_description": "what the session was (default: the source file and Wavescope)",
    "identifier": "a unique id of this file (default: a new UUID)",
    "session_start_time": "ISO 8601, e.g. 2024-05-01T10:30:00+02:00 (default: the source's "
                          "modification time minus its duration)",
    "experimenter": "who recorded, several separated by ';'",
    "lab": "the lab", "institution": "the institution",
    "experiment_description": "the experiment", "session_id": "the lab's id of the session",
    "electrode_location": "brain area of the electrodes (default: unknown)",
    "device": "the probe or headstage name (default: the source format)",
    "subject_id": "the animal's id (DANDI requires a subject: give subject_id, species, sex, age)",
    "species": "Latin binomial, e.g. Mus musculus", "sex": "M, F, U or O (default U)",
    "age": "ISO 8601 duration, e.g. P90D", "subject_description": "anything else about the subject",
    "compression": "none (default), gzip or lzf",
    "compression_level": "gzip level 0-9 (default 4)",
}


def require_pynwb() -> Any:
    """The pynwb module, or a ConvertError saying how to install it."""
    try:
        import pynwb
    except ImportError:
        raise ConvertError("writing NWB needs pynwb, which is not installed here; install it with "
                           "`pip install 'wavescope[nwb]'` (or `pip install pynwb`).") from None
    return pynwb


# -- scaling --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scaling:
    """How samples are stored: `dtype`, µV per stored unit per channel, the stored value of 0 µV,
    and whether the source's stored samples are copied as they are (`raw`)."""

    dtype: np.dtype
    gains: np.ndarray
    zero: float
    raw: bool

    @property
    def uniform(self) -> bool:
        return bool(np.all(self.gains == self.gains[0]))

    @property
    def conversion(self) -> float:
        """Volts per stored unit (times channel_conversion when the gains differ)."""
        return float(self.gains[0]) * 1e-6 if self.uniform else 1e-6

    @property
    def channel_conversion(self) -> np.ndarray | None:
        return None if self.uniform else self.gains.astype(np.float64)

    @property
    def offset(self) -> float:
        """Volts of the stored value 0 (NWB's offset): -zero × gain, the same on every channel
        (`choose_scaling` copies samples as stored only when it is)."""
        return -self.zero * float(self.gains[0]) * 1e-6 if self.zero else 0.0

    def store(self, microvolts: np.ndarray) -> np.ndarray:
        """float32 µV -> stored values (rounded and clipped for integer types)."""
        if self.dtype.kind == "f":
            return microvolts.astype(self.dtype, copy=False)
        work = microvolts.astype(np.float64) / self.gains + self.zero
        info = np.iinfo(self.dtype)
        return np.clip(np.rint(work), info.min, info.max).astype(self.dtype)


def choose_scaling(source: DataFile, nodes: Sequence[int] | None, dtype: str | None,
                   filtered: bool) -> tuple[Scaling, list[str]]:
    """The stored form of the output, and warnings; raw when no sample needs to change."""
    index = np.arange(source.nb_channels) if nodes is None else np.asarray(nodes, dtype=np.intp)
    gains = np.asarray(source.channel_gains, dtype=np.float64)[index]
    zeros = np.asarray(source.channel_offsets, dtype=np.float64)[index]
    stored = np.dtype(source.data_dtype)
    target = normalize_dtype(dtype, "--dtype") if dtype else None
    one_offset = bool(np.allclose(zeros * gains, zeros[0] * gains[0], rtol=1e-12, atol=0))
    streams_agree = all(np.dtype(s.data_dtype) == stored for s in source.streams)
    if not filtered and (target is None or target == stored) and one_offset and streams_agree:
        # Integers are stored as they are: copied when the source reads raw, else recovered
        # from its float32 µV by the same gains (exact for types up to 16 bits).
        raw = _reads_raw(source, nodes)
        if raw or stored.kind in "iu":
            return Scaling(stored, gains, float(zeros[0]), raw=raw), []
    warnings: list[str] = []
    target = target or np.dtype(np.float32)
    if target.kind == "f":
        return Scaling(target, np.ones(len(index)), 0.0, raw=False), warnings
    zero = float(auto_dtype_offset(target))
    if zero and not np.all(gains == gains[0]):
        warnings.append(f"{source.file_name}: channel gains differ and {target.name} needs one zero for all "
                        f"channels; every channel uses the smallest gain ({gains.min()}). Use --dtype int16 "
                        "or float32 to keep each channel's own.")
        gains = np.full(len(index), gains.min())
    return Scaling(target, gains, zero, raw=False), warnings


def _reads_raw(source: DataFile, nodes: Sequence[int] | None) -> bool:
    """Whether the source gives its stored samples (`read_range_raw`); one sample is asked."""
    source.open("r")
    return source.read_range_raw(0, 1, nodes) is not None


# -- metadata -------------------------------------------------------------------------------------
def metadata(source: DataFile, settings: dict, output: str) -> dict:
    """The --out-set values checked and completed with the defaults of METADATA_KEYS."""
    unknown = sorted(set(settings) - set(METADATA_KEYS))
    if unknown:
        raise ConvertError(f"{output}: --out-set {', '.join(unknown)} is not a field of NWB outputs; use "
                           f"{', '.join(METADATA_KEYS)}.", output)
    values = {k: str(v) for k, v in settings.items()}
    values.setdefault("session_description",
                      f"{os.path.basename(source.file_name)} ({source.description}) converted by Wavescope")
    values.setdefault("identifier", str(uuid.uuid4()))
    values["session_start_time"] = _start_time(source, values.get("session_start_time"), output)
    values.setdefault("electrode_location", "unknown")
    values.setdefault("device", source.description)
    values["compression"] = values.get("compression", "none").strip().lower()
    if values["compression"] not in ("none", "gzip", "lzf"):
        raise ConvertError(f"{output}: --out-set compression={values['compression']!r}: use none, gzip or lzf.",
                           output)
    try:
        values["compression_level"] = int(values.get("compression_level", 4))
    except ValueError:
        raise ConvertError(f"{output}: --out-set compression_level must be a whole number 0-9.", output) from None
    return values


def _start_time(source: DataFile, text: str | None, output: str) -> datetime:
    if text:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise ConvertError(f"{output}: --out-set session_start_time={text!r} is not an ISO 8601 time; "
                               "write e.g. 2024-05-01T10:30:00+02:00.", output) from None
        return moment if moment.tzinfo else moment.astimezone()
    seconds = os.path.getmtime(source.file_name) - source.duration / float(source.sampling_rate)
    return datetime.fromtimestamp(max(seconds, 0.0), tz=timezone.utc).replace(microsecond=0)


# -- electrodes -----------------------------------------------------------------------------------
def channel_names(source: DataFile, index: np.ndarray) -> list[str]:
    """The file's channel names where it has one per channel, else the channel numbers."""
    names = source.__dict__.get("channel_names")
    if names is None and "channel_names" in type(source).__dict__:
        names = source.channel_names
    names = [str(n) for n in names] if names is not None else []
    if len(names) != source.nb_channels or not all(names):
        names = [str(k) for k in range(source.nb_channels)]
    return [names[k] for k in index]


def probe_layout(source: DataFile, spec: ConvertSpec,
                 index: np.ndarray) -> tuple[np.ndarray | None, list[str]]:
    """(positions in µm per output channel or None, group name per output channel): the .prb the
    params name when there is one (its channel groups become electrode groups), else the
    header's geometry (one group per shank; channels it places nowhere, e.g. a sync word, get NaN)."""
    from app.io.convert import _source_mapping
    from app.io.probe import read_probe
    mapping = _source_mapping(spec, source)
    if mapping and os.path.isfile(mapping):
        probe = read_probe(mapping)
        where = {int(c): probe.positions([c])[0] for c in probe.channels}
        groups = [f"group {probe.group_of(int(c))}" if probe.group_of(int(c)) is not None else "unassigned"
                  for c in index]
        if all(int(c) in where for c in index):
            return np.array([where[int(c)] for c in index]), groups
        return None, groups
    geometry = source.channel_geometry()        # the header's (imro table, settings.xml, ...); NaN: no site
    if geometry is None:
        return None, ["probe"] * len(index)
    shank = dict(zip(geometry.channels.tolist(), geometry.shank_ids.tolist()))
    many = geometry.shank_count > 1
    groups = [("unassigned" if int(c) not in shank else f"shank {shank[int(c)]}" if many else "probe")
              for c in index]
    return geometry.positions_for(source.nb_channels)[index], groups


def add_electrodes(nwbfile: Any, source: DataFile, spec: ConvertSpec, index: np.ndarray, meta: dict) -> Any:
    """Fill the electrodes table (one row per output channel); returns the region of all rows."""
    positions, groups = probe_layout(source, spec, index)
    device = nwbfile.create_device(name=meta["device"], description=f"{source.description} recording system")
    made = {name: nwbfile.create_electrode_group(name=name, description=f"channels of {name}",
                                                 location=meta["electrode_location"], device=device)
            for name in dict.fromkeys(groups)}
    nwbfile.add_electrode_column(name="channel_name", description="the channel's name in the source recording")
    if positions is not None:
        nwbfile.add_electrode_column(name="rel_x", description="x position on the probe, in µm")
        nwbfile.add_electrode_column(name="rel_y", description="y position on the probe, in µm")
    for row, (channel, name) in enumerate(zip(channel_names(source, index), groups)):
        extra = {}
        if positions is not None:
            x, y = (float(v) for v in positions[row][:2])
            extra = {"x": x, "y": y, "rel_x": x, "rel_y": y}
        nwbfile.add_electrode(group=made[name], location=meta["electrode_location"], channel_name=channel, **extra)
    return nwbfile.create_electrode_table_region(list(range(len(index))), "every channel of the recording")


# -- events and annotations -----------------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    """An annotation to write: samples on the source's timeline; `stop` None for an instant."""

    start: int
    stop: int | None = None
    label: str = ""
    note: str = ""


def _table_name(channel: str) -> str:
    name = re.sub(r"[/:]", "_", str(channel)).strip() or "events"
    return f"{name} events" if name in RESERVED_TABLES else name


def _time_table(pynwb: Any, name: str, description: str, starts: np.ndarray, stops: np.ndarray,
                texts: dict[str, tuple[str, Sequence[str]]]) -> Any:
    """A TimeIntervals built from whole columns (row by row would take minutes for a million TTLs)."""
    from hdmf.common import ElementIdentifiers, VectorData
    columns = [VectorData(name="start_time", description="start, in seconds", data=starts),
               VectorData(name="stop_time", description="stop, in seconds", data=stops)]
    columns += [VectorData(name=key, description=about, data=list(values)) for key, (about, values) in texts.items()]
    return pynwb.epoch.TimeIntervals(name=name, description=description, columns=columns,
                                     id=ElementIdentifiers(name="id", data=np.arange(len(starts))))


def add_events(pynwb: Any, nwbfile: Any, events: np.ndarray, plan: Plan, first_second: float, rate: float) -> int:
    """One TimeIntervals per event channel (label column; instants have stop = start)."""
    inside = events[(events["sample"] >= plan.t0) & (events["sample"] < plan.t1)]
    channels = list(dict.fromkeys(inside["channel"].tolist()))
    used = set()
    for channel in channels:
        rows = inside[inside["channel"] == channel]
        name = _table_name(channel)
        while name in used:
            name += "_"
        used.add(name)
        starts = first_second + (rows["sample"] - plan.t0) / rate
        stops = starts + rows["duration"] / rate
        nwbfile.add_time_intervals(_time_table(
            pynwb, name, f"events of channel {channel!r} of the source recording", starts, stops,
            {"label": ("the event's state, code or text", [str(v) for v in rows["label"]])}))
    return len(channels)


def add_annotations(pynwb: Any, nwbfile: Any, annotations: Iterable[Any], plan: Plan, first_second: float,
                    rate: float) -> int:
    """The user's annotations inside the converted range as the `annotations` TimeIntervals."""
    kept = [a for a in annotations if plan.t0 <= int(a.start) < plan.t1]
    if not kept:
        return 0
    starts = np.array([first_second + (int(a.start) - plan.t0) / rate for a in kept])
    stops = np.array([first_second + ((int(a.stop) if a.stop is not None else int(a.start)) - plan.t0) / rate
                      for a in kept])
    nwbfile.add_time_intervals(_time_table(
        pynwb, ANNOTATIONS_TABLE, "annotations made in Wavescope (instants have stop_time = start_time)",
        starts, stops, {"label": ("the annotation's label", [str(a.label) for a in kept]),
                        "note": ("the annotation's note", [str(a.note) for a in kept])}))
    return len(kept)


# -- the samples ----------------------------------------------------------------------------------
def series_iterator(source: DataFile, plan: Plan, scaling: Scaling, step: Any) -> Any:
    """A GenericDataChunkIterator over the output's samples, one plan chunk per buffer."""
    from hdmf.data_utils import GenericDataChunkIterator

    class SeriesIterator(GenericDataChunkIterator):
        def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
            rows = selection[0]
            k = (rows.start or 0) // plan.chunk_size
            data, raw = read_for_output(source, plan, k)
            stored = data if raw else scaling.store(data)
            step()
            return stored[:, selection[1]] if len(selection) > 1 else stored

        def _get_maxshape(self) -> tuple[int, int]:
            return plan.nb_samples, int(plan.out_params["nb_channels"])

        def _get_dtype(self) -> np.dtype:
            return scaling.dtype

    width = int(plan.out_params["nb_channels"])
    chunk = chunk_shape(plan.nb_samples, width, scaling.dtype.itemsize)
    return SeriesIterator(buffer_shape=(min(plan.chunk_size, plan.nb_samples), width), chunk_shape=chunk)


def chunk_shape(nb_samples: int, nb_channels: int, itemsize: int) -> tuple[int, int]:
    """HDF5 chunk of about CHUNK_BYTES, all channels up to CHUNK_CHANNELS."""
    channels = min(nb_channels, CHUNK_CHANNELS)
    rows = max(1, CHUNK_BYTES // (channels * itemsize))
    return min(rows, nb_samples), channels


def buffer_rows(nb_samples: int, nb_channels: int, itemsize: int, chunk_rows: int,
                chunk_seconds: float | None, rate: float) -> int:
    """Samples per buffer: a whole number of chunks near BUFFER_BYTES (or --chunk-seconds)."""
    wanted = round(chunk_seconds * rate) if chunk_seconds else BUFFER_BYTES // max(1, nb_channels * itemsize)
    rows = max(chunk_rows, (wanted // chunk_rows) * chunk_rows)
    return min(rows, nb_samples) if rows >= nb_samples else rows


# -- the conversion -------------------------------------------------------------------------------
def plan_nwb(source: DataFile, spec: ConvertSpec, pid: int) -> tuple[Plan, Scaling, dict, list[str]]:
    """Check the request; the plan (one buffer per chunk), the stored form, the metadata."""
    check_output(source, spec)
    check_contiguous(source)
    t0, t1 = _time_range(source, spec)
    nodes = _nodes(source, spec.channels)
    nb_channels = source.nb_channels if nodes is None else len(nodes)
    rate = float(source.sampling_rate)
    sos = highpass_sos(spec.highpass, rate) if spec.highpass else None
    scaling, warnings = choose_scaling(source, nodes, spec.dtype, sos is not None)
    meta = metadata(source, dict(spec.out_settings), os.path.abspath(spec.output))
    meta["highpass"] = spec.highpass
    chunk_rows = chunk_shape(t1 - t0, nb_channels, scaling.dtype.itemsize)[0]
    rows = buffer_rows(t1 - t0, nb_channels, scaling.dtype.itemsize, chunk_rows, spec.chunk_seconds, rate)
    plan = Plan(output=os.path.abspath(spec.output), temp=temp_name(spec.output, pid), to_format=NWB_FORMAT,
                out_params={"nb_channels": nb_channels, "data_dtype": scaling.dtype.name}, t0=t0, t1=t1,
                nodes=nodes, chunk_size=rows, nb_chunks=-(-(t1 - t0) // rows),
                padding=filter_padding(sos) if sos is not None else 0, sos=sos, parallel=False, raw=scaling.raw)
    warnings += _clear_stale_partials(plan.output)
    check_free_space(plan.output, plan.nb_samples * nb_channels * scaling.dtype.itemsize + (1 << 20))
    return plan, scaling, meta, warnings


def check_contiguous(source: DataFile) -> None:
    """One ElectricalSeries has one clock: refuse a recording whose parts are separated by gaps."""
    for before, after in itertools.pairwise(source.streams):
        if int(after.t_start) != int(before.t_stop):
            raise ConvertError(
                f"{after.file_name}: this part starts at sample {after.t_start}, not where the one before "
                f"stops ({before.t_stop}); an NWB ElectricalSeries has one clock and cannot hold a gap. "
                "Convert the parts one at a time (e.g. --set segment_index=N without --stream-mode).",
                after.file_name)


def _series(pynwb: Any, source: DataFile, plan: Plan, scaling: Scaling, meta: dict, data: Any,
            electrodes: Any, first_second: float) -> Any:
    extra: dict[str, Any] = {}
    if scaling.channel_conversion is not None:
        extra["channel_conversion"] = scaling.channel_conversion
    if plan.sos is not None:
        extra["filtering"] = (f"high-pass {meta['highpass']:g} Hz, Butterworth order {FILTER_ORDER}, zero-phase "
                              "(second-order sections), by Wavescope")
    if meta["compression"] != "none":
        from hdmf.backends.hdf5 import H5DataIO
        options = {"compression_opts": meta["compression_level"]} if meta["compression"] == "gzip" else {}
        data = H5DataIO(data=data, compression=meta["compression"], **options)
    return pynwb.ecephys.ElectricalSeries(
        name=SERIES_NAME, data=data, electrodes=electrodes, starting_time=first_second,
        rate=float(source.sampling_rate), conversion=scaling.conversion, offset=scaling.offset,
        description=f"{source.file_name} ({source.description}), samples {plan.t0} to {plan.t1}", **extra)


def write_nwb(source: DataFile, spec: ConvertSpec, plan: Plan, scaling: Scaling, meta: dict,
              annotations: Iterable[Any], step: Any) -> None:
    """Build the NWB file around the lazy series and write it to `plan.temp`."""
    pynwb = require_pynwb()
    rate = float(source.sampling_rate)
    first_second = (int(source.t_start) + plan.t0) / rate
    people = [p.strip() for p in meta.get("experimenter", "").split(";") if p.strip()]
    optional = {k: meta[k] for k in ("lab", "institution", "experiment_description", "session_id") if k in meta}
    nwbfile = pynwb.NWBFile(session_description=meta["session_description"], identifier=meta["identifier"],
                            session_start_time=meta["session_start_time"], experimenter=people or None,
                            source_script="Wavescope (wavescope convert --to nwb)",
                            source_script_file_name="wavescope", subject=_subject(pynwb, meta), **optional)
    index = np.arange(source.nb_channels) if plan.nodes is None else np.asarray(plan.nodes)
    electrodes = add_electrodes(nwbfile, source, spec, index, meta)
    data = series_iterator(source, plan, scaling, step)
    nwbfile.add_acquisition(_series(pynwb, source, plan, scaling, meta, data, electrodes, first_second))
    add_events(pynwb, nwbfile, _events(source), plan, first_second, rate)
    add_annotations(pynwb, nwbfile, annotations, plan, first_second, rate)
    with pynwb.NWBHDF5IO(plan.temp, mode="w") as io:
        io.write(nwbfile)


def _subject(pynwb: Any, meta: dict) -> Any:
    """The Subject when any of its --out-set keys is given (no species or age is ever guessed)."""
    keys = {"subject_id": "subject_id", "species": "species", "sex": "sex", "age": "age",
            "subject_description": "description"}
    given = {field: meta[key] for key, field in keys.items() if key in meta}
    if not given:
        return None
    given.setdefault("sex", "U")
    return pynwb.file.Subject(**given)


def _events(source: DataFile) -> np.ndarray:
    events = source.get_events()
    return events if events is not None else empty_events()


def convert_to_nwb(source: DataFile, spec: ConvertSpec, progress: Progress | None = None, comm: Any = None,
                   annotations: Iterable[Any] = ()) -> ConvertResult:
    """Write `source` to `spec.output` as NWB; the engine's ConvertResult (one process)."""
    from app.io.convert import _Reporter
    require_pynwb()
    if comm is not None and comm.Get_size() > 1:
        refused = ConvertError(f"{spec.output}: an NWB file is written by one process; run the conversion "
                               "without mpiexec.", spec.output)
        refused.said_by_another_rank = comm.Get_rank() != 0       # rank 0 alone says it (cli.report_error)
        raise refused
    started = time.monotonic()
    source.open("r")
    plan, scaling, meta, warnings = plan_nwb(source, spec, os.getpid())
    for warning in warnings:
        print_and_log([warning], "warning")
    reporter = _Reporter(plan.nb_chunks, progress)
    result = ConvertResult(plan.output, None, plan.nb_samples, int(plan.out_params["nb_channels"]), 0.0, 1,
                           warnings=warnings)
    try:
        with cancellable():
            write_nwb(source, spec, plan, scaling, meta, annotations, reporter.step)
            reporter.finish()
            atomic.publish(plan.temp, plan.output)
    except BaseException:
        discard(plan.temp)
        raise
    plan.out_params = {}
    result.params_file = _write_params_file(plan, spec, source, result.warnings)
    if spec.verify:
        result.max_difference, result.tolerance = verify_nwb(source, plan, scaling)
    result.seconds = time.monotonic() - started
    return result


def verify_nwb(source: DataFile, plan: Plan, scaling: Scaling) -> tuple[float, float]:
    """(largest |output - source| in µV, what the stored type's quantisation allows)."""
    from app.io.convert import read_converted
    from app.io.formats.nwb import NWBFile
    step = float(np.max(scaling.gains)) if scaling.dtype.kind in "iu" and not scaling.raw else 0.0
    worst, tolerance = 0.0, 0.0
    with NWBFile(plan.output) as out:
        for k in range(plan.nb_chunks):
            lo, hi = plan.bounds(k)
            expected = read_converted(source, plan, k)
            written = out.read_range(lo - plan.t0, hi - plan.t0)
            scale = float(np.max(np.abs(expected))) if expected.size else 0.0
            tolerance = max(tolerance, step / 2 + 8 * float(np.finfo(np.float32).eps) * scale)
            if expected.size:
                worst = max(worst, float(np.max(np.abs(written.astype(np.float64) - expected))))
    return worst, tolerance
