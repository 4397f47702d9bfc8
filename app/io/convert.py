"""The conversion engine: any readable recording -> any writable format, chunk by chunk.

One process or `mpiexec -n N`: rank r converts chunks r, r+N, ... Formats with
``parallel_write`` are written in place by every rank; the others funnel their
chunks to rank 0, which writes them in order. The output is the same bytes
whatever N is. It is written under a temporary name in the target folder and
renamed only when complete (fsync'd first, the folder after); an error or a cancel
(SIGINT/SIGTERM) removes it, and the next run into the folder removes the partials of
processes that were killed outright (see app.io.partials).

Under MPI every collective step shares its failures: a rank whose step raises still
reaches the step's end, where all ranks exchange their errors and raise the same one,
so no rank is left waiting in a collective. Only a cancel takes every rank down
through MPI_Abort (the launcher forwards the signal to all of them anyway).
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.io import atomic, filters
from app.io.convert_options import ConvertError, ConvertSpec, parse_channels, parse_filter  # noqa: F401 - the engine's API
from app.io.datafile import DataFile, auto_dtype_offset, normalize_dtype
from app.io.errors import DataFileError
from app.io.messages import print_and_log
from app.io.mpi import comm as world
from app.io.partials import human_size, partial_name, remember_folder, remove, remove_stale

Progress = Callable[[int, int, float], None]

FILTER_ORDER = filters.FILTER_ORDER
# Auto chunk size: about this many samples (all channels) per chunk, i.e. 16 MB of float32.
AUTO_CHUNK_VALUES = 1 << 22
# Auto chunk size of an identity (raw) copy: small enough that the buffer pread fills is still
# in the CPU cache when pwrite reads it, and below numpy's 4 MiB huge-page advice (whose page
# compaction stalls writers on a busy machine); large enough that per-chunk Python is noise.
RAW_CHUNK_BYTES = 1 << 20
# Room asked beyond the samples: headers (HDF5's, .npy's, .mda's) and the params file.
HEADROOM_BYTES = 1 << 20
# The parent of this process when it started: under mpiexec, hydra's proxy. A rank whose proxy
# is gone has lost its launcher and must not wait for peers in a collective.
LAUNCHER_PID = os.getppid()


class ConversionCancelled(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived during a conversion; nothing was left behind.

    A KeyboardInterrupt, so every command line treats it as Ctrl-C (exit 130).
    """


@dataclass
class Plan:
    """Everything the ranks agree on before writing (rank 0 makes it, the others receive it)."""

    output: str
    temp: str
    to_format: str
    out_params: dict
    t0: int
    t1: int
    nodes: list[int] | None
    chunk_size: int
    nb_chunks: int
    padding: int
    sos: np.ndarray | None
    parallel: bool
    raw: bool = False           # an identity on samples: copy them as stored, no float32 round trip

    @property
    def nb_samples(self) -> int:
        return self.t1 - self.t0

    def bounds(self, k: int) -> tuple[int, int]:
        """Timeline samples [lo, hi) of chunk k."""
        lo = self.t0 + k * self.chunk_size
        return lo, min(lo + self.chunk_size, self.t1)


@dataclass
class ConvertResult:
    output: str
    params_file: str | None
    nb_samples: int
    nb_channels: int
    seconds: float
    ranks: int
    max_difference: float | None = None
    tolerance: float | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool | None:
        if self.max_difference is None:
            return None
        return self.max_difference <= self.tolerance


# -- pure helpers ---------------------------------------------------------------------------------
def highpass_sos(cutoff: float, sampling_rate: float, order: int = FILTER_ORDER) -> np.ndarray:
    """Butterworth high-pass as second-order sections (app.io.filters), a ConvertError when
    the cut-off does not fit the recording."""
    try:
        return filters.highpass_sos(cutoff, sampling_rate, order)
    except filters.FilterError as error:
        raise ConvertError(str(error)) from None


def filter_padding(sos: np.ndarray, tolerance: float = filters.PADDING_TOLERANCE) -> int:
    """The padding of the one high-pass (app.io.filters.padding)."""
    return filters.padding(sos, tolerance)


def filter_chunk(data: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """Zero-phase filtering of a (time, channels) block, float32 out (app.io.filters.apply)."""
    return filters.apply(data, sos, axis=0)


def temp_name(output: str, pid: int) -> str:
    """Hidden sibling of `output` that keeps its extension, named after this host and `pid`."""
    return partial_name(output, pid)


def params_path_for(output: str) -> str:
    return os.path.splitext(os.path.abspath(output))[0] + ".params"


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


# -- planning -------------------------------------------------------------------------------------
def output_settings(source: DataFile, dtype: str | None, nb_channels: int) -> tuple[dict, list[str]]:
    """The mandatory params of the output, and warnings about precision.

    Integer targets keep the source's gain so an integer copy is exact;
    float targets store physical values (gain 1, offset 0).
    """
    warnings = []
    target = normalize_dtype(dtype or source.data_dtype, "--dtype")
    gains = source.channel_gains
    if target.kind == "f":
        gain = 1.0
    elif np.allclose(gains, gains[0]):
        gain = float(gains[0])
    else:
        gain = float(np.min(gains))
        warnings.append(f"{source.file_name}: channel gains differ; the {target.name} output uses the "
                        f"smallest ({gain}) for all channels. Use --dtype float32 to keep every value.")
    settings = {"nb_channels": nb_channels, "sampling_rate": float(source.sampling_rate),
                "data_dtype": target.name, "dtype_offset": "auto", "gain": gain}
    return settings, warnings


def check_output(source: DataFile, spec: ConvertSpec) -> None:
    """Refuse to overwrite the input, and an existing output without --force."""
    output = os.path.abspath(spec.output)
    inputs = [stream.file_name for stream in source.streams] + [source.file_name]
    if spec.base_params:
        inputs.append(spec.base_params)
    for path in inputs:
        if os.path.exists(output) and _same_file(output, path):
            raise ConvertError(f"{output}: this is the input recording; choose another output path.",
                               output)
    if os.path.isdir(output):
        raise ConvertError(f"{output}: is a folder; give a file name for the output.", output)
    if os.path.exists(output) and not spec.force:
        raise ConvertError(f"{output}: already exists; add --force to replace it.", output)
    if not os.path.isdir(os.path.dirname(output)):
        raise ConvertError(f"{output}: the folder {os.path.dirname(output)} does not exist.", output)


def _time_range(source: DataFile, spec: ConvertSpec) -> tuple[int, int]:
    rate = float(source.sampling_rate)
    t0 = 0 if spec.start is None else round(spec.start * rate)
    t1 = source.duration if spec.stop is None else min(round(spec.stop * rate), source.duration)
    if not 0 <= t0 < t1:
        raise ConvertError(f"{source.file_name}: --start {spec.start} / --stop {spec.stop} select no "
                           f"samples of a {source.duration / rate:.3f} s recording.", source.file_name)
    return t0, t1


def _nodes(source: DataFile, channels: Sequence[int] | None) -> list[int] | None:
    if channels is None:
        return None
    nodes = [int(c) for c in channels]
    bad = [c for c in nodes if not 0 <= c < source.nb_channels]
    if bad or not nodes:
        raise ConvertError(f"{source.file_name}: --channels {bad or 'is empty'}: channels are numbered "
                           f"0 to {source.nb_channels - 1}.", source.file_name)
    return nodes


def _output_params(klass: type[DataFile], source: DataFile, settings: dict, given: dict) -> dict:
    """Defaults of the target format, the computed mandatory fields, then --out-set values;
    a required field still missing is taken from the source when it has one (e.g. h5_key),
    else from the writer's own default (`_write_default_values`, e.g. hdf5's h5_key)."""
    params = {**dict(klass._default_values), **settings, **dict(given)}
    missing = {}
    written = klass._write_default_values
    for key, type_name in klass._required_fields.items():
        if key not in params:
            if key in source.params:
                params[key] = source.params[key]
            elif key in written:
                params[key] = written[key]
            else:
                missing[key] = type_name
    if missing:
        fields = ", ".join(f"{k} ({t})" for k, t in missing.items())
        hints = " ".join(f"--out-set {k}=..." for k in missing)
        raise ConvertError(f"format {klass.description} needs {fields} for the output; give {hints}.")
    return params


def _check_out_params(params: dict, output: str) -> None:
    """The sample type and scaling of the output must parse (they come from --out-set too)."""
    normalize_dtype(params["data_dtype"], output)
    for key in ("gain", "dtype_offset"):
        value = params.get(key)
        if key == "dtype_offset" and str(value).strip().lower() == "auto":
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or (key == "gain" and number == 0):
            hint = "a non-zero number" if key == "gain" else "a number or auto"
            raise ConvertError(f"{output}: {key}={value!r} is not {hint}; fix --out-set {key}=...", output)


def check_free_space(output: str, need: int) -> None:
    """Refuse to start a conversion whose output cannot fit in its folder's free space."""
    folder = os.path.dirname(os.path.abspath(output))
    free = shutil.disk_usage(folder).free
    if need > free:
        raise ConvertError(f"{output}: the output needs {human_size(need)} but the folder {folder} has "
                           f"{human_size(free)} free; free some space or choose another folder.", output)


def output_bytes(plan: Plan) -> int:
    """What the output will take on disk, headers and params file included (roughly)."""
    itemsize = np.dtype(plan.out_params["data_dtype"]).itemsize
    return plan.nb_samples * int(plan.out_params["nb_channels"]) * itemsize + HEADROOM_BYTES


def _clear_stale_partials(output: str) -> list[str]:
    """Remove what killed conversions left in the output's folder; warnings saying so."""
    folder = os.path.dirname(os.path.abspath(output))
    remember_folder(folder)
    return [f"{p.path}: removed a partial output ({human_size(p.size)}) left by a conversion to "
            f"{p.target} that was killed (process {p.pid})." for p in remove_stale(folder)]


def samples_unchanged(source: DataFile, out_params: dict) -> bool:
    """True when the output stores every sample exactly as the source does: the same sample
    type, dtype_offset and gain (on every channel of every stream). Then the stored values
    can be copied as they are; the float path would give the same bytes, only slower."""
    target = np.dtype(out_params["data_dtype"])
    offset = out_params.get("dtype_offset", "auto")
    offset = auto_dtype_offset(target) if str(offset).strip().lower() == "auto" else float(offset)
    gain = float(out_params.get("gain", 1.0))
    for stream in source.streams:
        dtype = np.dtype(stream.data_dtype)
        if (dtype.kind, dtype.itemsize) != (target.kind, target.itemsize):
            return False
        if float(stream.dtype_offset) != float(offset) or not np.all(stream.channel_gains == gain):
            return False
    return True


def _chunk_size(spec: ConvertSpec, rate: float, nb_channels: int, itemsize: int, raw: bool) -> int:
    """Samples per chunk: as asked, else sized for the path the plan takes."""
    if spec.chunk_seconds:
        return max(1, round(spec.chunk_seconds * rate))
    if raw:
        return max(1, RAW_CHUNK_BYTES // (nb_channels * itemsize))
    return max(1024, AUTO_CHUNK_VALUES // nb_channels)


def plan_conversion(source: DataFile, spec: ConvertSpec, pid: int) -> tuple[Plan, list[str]]:
    """Check the request and decide chunks, filter and output params (rank 0 does this)."""
    from app.io.registry import get_format
    klass = get_format(spec.to_format)
    if not klass.is_writable:
        raise ConvertError(f"format {spec.to_format} cannot be written; `wavescope formats` lists the "
                           "writable ones (rw).")
    check_output(source, spec)
    t0, t1 = _time_range(source, spec)
    nodes = _nodes(source, spec.channels)
    nb_channels = source.nb_channels if nodes is None else len(nodes)
    settings, warnings = output_settings(source, spec.dtype, nb_channels)
    out_params = _output_params(klass, source, settings, spec.out_settings)
    _check_out_params(out_params, os.path.abspath(spec.output))
    rate = float(source.sampling_rate)
    sos = highpass_sos(spec.highpass, rate) if spec.highpass else None
    raw = sos is None and klass.writes_raw() and samples_unchanged(source, out_params)
    chunk_size = _chunk_size(spec, rate, nb_channels, np.dtype(out_params["data_dtype"]).itemsize, raw)
    plan = Plan(output=os.path.abspath(spec.output), temp=temp_name(spec.output, pid),
                to_format=spec.to_format, out_params=out_params, t0=t0, t1=t1, nodes=nodes,
                chunk_size=chunk_size, nb_chunks=-(-(t1 - t0) // chunk_size),
                padding=filter_padding(sos) if sos is not None else 0, sos=sos,
                parallel=bool(klass.parallel_write), raw=raw)
    warnings += _clear_stale_partials(plan.output)
    check_free_space(plan.output, output_bytes(plan))
    return plan, warnings


# -- reading and writing --------------------------------------------------------------------------
def read_converted(source: DataFile, plan: Plan, k: int) -> np.ndarray:
    """Chunk k as float32, filtered when asked (the padding comes from the rest of the file)."""
    lo, hi = plan.bounds(k)
    if plan.sos is None:
        return source.read_range(lo, hi, plan.nodes)
    return filters.filter_range(lambda a, b: source.read_range(a, b, plan.nodes), lo, hi,
                                source.duration, plan.sos, plan.padding)


def read_for_output(source: DataFile, plan: Plan, k: int) -> tuple[np.ndarray, bool]:
    """Chunk k and whether it is raw: stored samples when the plan is an identity and the
    source reads raw, else float32 from `read_converted`."""
    if plan.raw:
        lo, hi = plan.bounds(k)
        raw = source.read_range_raw(lo, hi, plan.nodes)
        if raw is not None:
            return raw, True
    return read_converted(source, plan, k), False


def _store(out: DataFile, plan: Plan, k: int, data: np.ndarray, raw: bool) -> None:
    lo, _ = plan.bounds(k)
    if raw:
        out.set_data_raw(lo - plan.t0, data)
    else:
        out.set_data(lo - plan.t0, data)


def _writer(plan: Plan, existing: bool) -> DataFile:
    from app.io.registry import get_format
    klass = get_format(plan.to_format)
    if existing:
        return klass(plan.temp, dict(plan.out_params))
    out = klass(plan.temp, dict(plan.out_params), is_empty=True)
    out.allocate((plan.nb_samples, int(plan.out_params["nb_channels"])), plan.out_params["data_dtype"])
    return out


class _Reporter:
    """Calls `progress(done, total, elapsed)`; under MPI rank 0 estimates from its own share."""

    def __init__(self, total: int, progress: Progress | None, scale: int = 1):
        self.total, self.progress, self.scale = total, progress, scale
        self.done = 0
        self.started = time.monotonic()

    def step(self, count: int = 1) -> None:
        self.done += count
        if self.progress:
            self.progress(min(self.done * self.scale, self.total), self.total, time.monotonic() - self.started)

    def finish(self) -> None:
        if self.progress and self.done * self.scale != self.total:
            self.progress(self.total, self.total, time.monotonic() - self.started)


# -- failures shared by every rank ----------------------------------------------------------------
class _PeerFailed(Exception):
    """A rank that sends chunks to rank 0 failed; carries its message."""


def failure_message(error: BaseException, plan: Plan | None = None) -> str:
    """One line for the user: typed errors as they are, others named after their type; the
    partial's name is replaced by its target's, the file the user asked for."""
    if isinstance(error, (DataFileError, _PeerFailed)):
        text = str(error)
    elif isinstance(error, OSError) and error.strerror:
        where = error.filename or (plan.output if plan else None)
        text = f"{where}: {error.strerror}" if where else error.strerror
        if plan is not None and error.errno == errno.ENOSPC:
            folder = os.path.dirname(plan.output)
            free = shutil.disk_usage(folder).free
            text += (f" (writing {human_size(output_bytes(plan))} into {folder}, {human_size(free)} "
                     "free); free some space or choose another folder.")
    else:
        text = f"{type(error).__name__}: {error}"
    return text if plan is None else text.replace(plan.temp, plan.output)


def _share_failure(comm: Any, error: BaseException | None, plan: Plan | None = None) -> None:
    """The end of a collective step: all ranks learn whether any rank's part failed, and then
    every rank raises the same message (the failing rank its own typed error)."""
    message = None if error is None else failure_message(error, plan)
    if comm.Get_size() > 1:
        _barrier(comm)
        message = next((m for m in comm.allgather(message) if m is not None), None)
    if message is None:
        return
    if isinstance(error, DataFileError) and str(error) == message:
        shared = error
    else:
        shared = ConvertError(message, plan.output if plan else None)
    # Every rank raises the same message; rank 0 alone says it (see cli.report_error).
    shared.said_by_another_rank = comm.Get_rank() != 0
    if shared is error:
        raise error
    raise shared from error


def _step(comm: Any, plan: Plan | None, action: Callable[[], Any]) -> Any:
    """This rank's part of a collective step, then the failures of all ranks shared."""
    result, error = None, None
    try:
        result = action()
    except Exception as problem:  # noqa: BLE001 - shared with every rank, then raised as one error
        error = problem
    _share_failure(comm, error, plan)
    return result


# -- writing ----------------------------------------------------------------------------------------
def _write_parallel(source: DataFile, plan: Plan, comm: Any, reporter: _Reporter) -> None:
    """Rank 0 allocates the output, then every rank writes its chunks in place."""
    rank, size = comm.Get_rank(), comm.Get_size()
    allocated = _step(comm, plan, lambda: _writer(plan, existing=False) if rank == 0 else None)

    def write_mine() -> None:
        out = allocated or _writer(plan, existing=True)
        out.open("r+")
        try:
            for k in range(rank, plan.nb_chunks, size):
                _store(out, plan, k, *read_for_output(source, plan, k))
                reporter.step()
        finally:
            out.close()
    _step(comm, plan, write_mine)


def _send_chunk(comm: Any, data: np.ndarray, raw: bool) -> None:
    """Shape, sample type and kind as a small message, then the samples as a raw buffer of
    their own type (no pickling; int16 chunks travel at half the size of float32)."""
    data = np.ascontiguousarray(data)
    comm.send((data.shape, data.dtype.str, raw), dest=0, tag=11)
    comm.Send(data, dest=0, tag=12)


def _receive_chunk(comm: Any, owner: int) -> tuple[np.ndarray, bool]:
    header = comm.recv(source=owner, tag=11)
    if header[0] == "failed":
        raise _PeerFailed(header[1])
    shape, dtype, raw = header
    data = np.empty(shape, dtype=np.dtype(dtype))
    comm.Recv(data, source=owner, tag=12)
    return data, raw


def _barrier(comm: Any) -> None:
    """A Barrier that waits asleep: MPICH's blocking Barrier spins a core, which a rank waiting
    for the writer would take from it (and from the kernel's I/O). A rank whose launcher
    is gone stops waiting: its peers can no longer arrive."""
    if not hasattr(comm, "Ibarrier"):
        comm.Barrier()
        return
    request = comm.Ibarrier()
    while not request.Test():
        if os.getppid() != LAUNCHER_PID:
            raise ConvertError("the MPI launcher (mpiexec) is gone; this rank stops.")
        time.sleep(0.002)


def _write_funnel(source: DataFile, plan: Plan, comm: Any, reporter: _Reporter) -> None:
    """Ranks > 0 send their chunks to rank 0, which writes every chunk in order.

    Messages between two ranks arrive in the order sent, so chunks need no numbers. An
    identity copy (`plan.raw`) has nothing to compute, only bytes to move through the one
    writer: rank 0 then copies alone, since shipping chunks to it only adds copies
    (10 GB to HDF5 when it was funnelled: 771 MB/s on one rank, 560 MB/s from two).
    """
    rank, size = comm.Get_rank(), comm.Get_size()
    if plan.raw:
        size = 1
    if rank == 0:
        _step(comm, plan, lambda: _funnel_write(source, plan, comm, reporter, size))
    elif rank < size:
        _step(comm, plan, lambda: _funnel_send(source, plan, comm, rank, size))
    else:
        _step(comm, plan, lambda: None)


def _funnel_send(source: DataFile, plan: Plan, comm: Any, rank: int, size: int) -> None:
    """A rank > 0: its chunks to rank 0, or, when reading one fails, why (then it stops)."""
    for k in range(rank, plan.nb_chunks, size):
        try:
            chunk = read_for_output(source, plan, k)
        except Exception as error:
            comm.send(("failed", failure_message(error, plan)), dest=0, tag=11)
            raise
        _send_chunk(comm, *chunk)


def _funnel_write(source: DataFile, plan: Plan, comm: Any, reporter: _Reporter, size: int) -> None:
    """Rank 0: every chunk in order. After a failure it still receives (and drops) what the
    other ranks send, so that none is left blocked in a send; then it raises the first one."""
    first: Exception | None = None
    stopped: set[int] = set()           # ranks with nothing more to give
    out = None
    try:
        out = _writer(plan, existing=False)
        out.open("r+")
    except Exception as error:  # noqa: BLE001 - raised below, once the other ranks are drained
        first, out = error, None
        stopped.add(0)
    try:
        for k in range(plan.nb_chunks):
            owner = k % size
            if owner in stopped:
                continue
            try:
                chunk = read_for_output(source, plan, k) if owner == 0 else _receive_chunk(comm, owner)
                if first is None:
                    _store(out, plan, k, *chunk)
                    reporter.step()
            except Exception as error:  # noqa: BLE001 - as above
                first = first or error
                stopped.add(0)
                if isinstance(error, _PeerFailed):
                    stopped.add(owner)
    finally:
        if out is not None:
            out.close()
    if first is not None:
        raise first


def discard(path: str) -> None:
    """Remove a partial output (file or folder) if it is there."""
    remove(path)


def publish(plan: Plan) -> None:
    """The complete partial becomes the output (app.io.atomic.publish: its bytes on disk, the
    rename, the folder entry on disk; a crash leaves either no output or the whole one)."""
    atomic.publish(plan.temp, plan.output)


@contextmanager
def cancellable() -> Iterator[None]:
    """SIGINT and SIGTERM raise ConversionCancelled inside the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise ConversionCancelled(f"conversion cancelled by {signal.Signals(signum).name}")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# -- the engine -----------------------------------------------------------------------------------
def _agree_on_plan(source: DataFile, spec: ConvertSpec, comm: Any) -> tuple[Plan, list[str]]:
    """Rank 0 plans; every rank gets the plan or raises the same error, whatever went wrong."""
    plan, warnings, error = None, [], None
    if comm.Get_rank() == 0:
        try:
            plan, warnings = plan_conversion(source, spec, os.getpid())
        except Exception as problem:  # noqa: BLE001 - shared with every rank, then raised
            error = problem
    plan, warnings = comm.bcast((plan, warnings), root=0) if comm.Get_size() > 1 else (plan, warnings)
    _share_failure(comm, error)
    return plan, warnings


def _abort_others(comm: Any, plan: Plan, error: BaseException) -> None:
    """A cancelled rank under MPI: remove the partial output and take every rank down."""
    discard(plan.temp)
    print(f"wavescope convert (rank {comm.Get_rank()}): {error}", file=sys.stderr, flush=True)
    comm.Abort(130 if isinstance(error, (ConversionCancelled, KeyboardInterrupt)) else 1)


def convert(source: DataFile, spec: ConvertSpec, progress: Progress | None = None,
            comm: Any = None) -> ConvertResult:
    """Convert `source` as `spec` says; every MPI rank calls this with its own `source`.

    Returns on every rank, or raises the same error on every rank; only rank 0's result
    carries the params file and the verification.
    """
    comm = comm or world
    if spec.to_format == "nwb":                 # pynwb writes the whole file: app.io.nwb_out
        from app.io.nwb_out import convert_to_nwb
        return convert_to_nwb(source, spec, progress, comm)
    rank, size = comm.Get_rank(), comm.Get_size()
    started = time.monotonic()
    plan, warnings = _agree_on_plan(source, spec, comm)
    for warning in warnings if rank == 0 else []:
        print_and_log([warning], "warning")
    reporter = _Reporter(plan.nb_chunks, progress if rank == 0 else None,
                         size if plan.parallel else 1)
    write = _write_parallel if plan.parallel else _write_funnel
    result = ConvertResult(plan.output, None, plan.nb_samples, int(plan.out_params["nb_channels"]), 0.0,
                           size, warnings=warnings)
    try:
        with cancellable():
            _step(comm, plan, lambda: source.open("r"))
            write(source, plan, comm, reporter)
            reporter.finish()
            _step(comm, plan, lambda: _finish(source, plan, spec, result, started) if rank == 0 else None)
    except Exception:
        discard(plan.temp)          # every rank raises the same error: nobody is left waiting
        raise
    except BaseException as error:
        if size > 1:
            _abort_others(comm, plan, error)
        discard(plan.temp)
        raise
    if rank != 0:
        result.seconds = time.monotonic() - started
    return result


def _finish(source: DataFile, plan: Plan, spec: ConvertSpec, result: ConvertResult, started: float) -> None:
    """Rank 0, once every chunk is written: the output in place, its params file, the check."""
    publish(plan)
    result.params_file = _write_params_file(plan, spec, source, result.warnings)
    if spec.verify:
        result.max_difference, result.tolerance = verify(source, plan)
    result.seconds = time.monotonic() - started


def _write_params_file(plan: Plan, spec: ConvertSpec, source: DataFile, warnings: list[str]) -> str | None:
    """The output's .params, unless that would replace the input's own params file."""
    if not spec.write_params:
        return None
    target = params_path_for(plan.output)
    protected = [params_path_for(s.file_name) for s in source.streams] + [spec.base_params or ""]
    if any(os.path.abspath(p) == target for p in protected if p):
        warnings.append(f"{target}: not written, it is the input's params file; write the output's "
                        f"with `wavescope params {plan.output}`.")
        print_and_log([warnings[-1]], "warning")
        return None
    try:
        from app.io.params import write_params
    except ImportError:
        warnings.append(f"{target}: not written (app.io.params is not available in this build).")
        print_and_log([warnings[-1]], "warning")
        return None
    from app.io.registry import get_format
    description = get_format(plan.to_format)(plan.output, dict(plan.out_params)).get_description()
    write_params(target, description, probe=_source_mapping(spec, source), base=spec.base_params,
                 data_file=plan.output)
    return target


def _source_mapping(spec: ConvertSpec, source: DataFile) -> str | None:
    """The probe (`mapping`) of the input: from --params, else from the input's own .params,
    as an absolute path so the output's params find it from any folder."""
    from app.io.params import ParamsFile
    candidates = [spec.base_params] if spec.base_params else [params_path_for(source.file_name)]
    for path in candidates:
        if not os.path.isfile(path):
            continue
        try:
            mapping = (ParamsFile.read(path).get("data", "mapping") or "").strip()
        except (DataFileError, OSError):
            return None             # an unreadable params beside the input: the output has no probe
        if mapping:
            return os.path.join(os.path.dirname(os.path.abspath(path)), os.path.expanduser(mapping))
    return None


def verify(source: DataFile, plan: Plan) -> tuple[float, float]:
    """(largest |output - source|, what the target dtype's quantisation allows), over all chunks."""
    from app.io.registry import get_format
    out = get_format(plan.to_format)(plan.output, dict(plan.out_params))
    dtype = np.dtype(plan.out_params["data_dtype"])
    step = float(out.gain) if dtype.kind in "iu" else 0.0
    worst, tolerance = 0.0, 0.0
    with out:
        for k in range(plan.nb_chunks):
            lo, hi = plan.bounds(k)
            expected = read_converted(source, plan, k)
            written = out.read_range(lo - plan.t0, hi - plan.t0)
            if expected.size == 0:
                continue
            scale = float(np.max(np.abs(expected)))
            tolerance = max(tolerance, step / 2 + 4 * float(np.finfo(np.float32).eps) * scale)
            worst = max(worst, float(np.max(np.abs(written.astype(np.float64) - expected))))
    return worst, tolerance
