"""The wrapper conformance kit: checks any DataFile subclass on a given file.

Every built-in format runs it in the test suite; a plugin author runs it with
``wavescope check-format FILE --format NAME``. Each check reads through the
public contract only (``get_data``, ``read_chunk``, ``get_snippet``, ...) and
compares with a reference read of the same samples, so a wrapper that is
consistent with itself and with the contract passes, whatever its layout.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import traceback
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from app.io import open_datafile
from app.io.datafile import MANDATORY_FIELDS, DataFile
from app.io.errors import DataFileError

# The reference read is bounded so the kit stays quick on 100 GB files.
MAX_REFERENCE_SAMPLES = 60_000


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class ConformanceReport:
    file_name: str
    file_format: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok]

    def format_text(self) -> str:
        lines = [f"Conformance of {self.file_name} as {self.file_format}:"]
        for r in self.results:
            mark = "PASS" if r.ok else "FAIL"
            lines.append(f"  [{mark}] {r.name}" + (f": {r.detail}" if r.detail else ""))
        passed = sum(r.ok for r in self.results)
        lines.append(f"{passed} passed, {len(self.results) - passed} failed")
        return "\n".join(lines)


def _same(a: np.ndarray, b: np.ndarray) -> str:
    """'' when equal (exactly, NaN-aware), else a short description of the difference."""
    if a.shape != b.shape:
        return f"shape {a.shape} != {b.shape}"
    if a.size and not np.array_equal(a, b, equal_nan=True):
        where = np.argwhere(~((a == b) | (np.isnan(a) & np.isnan(b))))[0]
        return f"first difference at {tuple(int(i) for i in where)}: {a[tuple(where)]} != {b[tuple(where)]}"
    return ""


class _Kit:
    def __init__(self, datafile: DataFile, report: ConformanceReport, expected: np.ndarray | None,
                 scratch_dir: str | None):
        self.df = datafile
        self.report = report
        self.expected = expected
        self.scratch_dir = scratch_dir
        self.n = min(datafile.duration, MAX_REFERENCE_SAMPLES)
        self.reference: np.ndarray | None = None

    def check(self, name: str, function: Callable[[], str | None]) -> None:
        try:
            problem = function()
        except Exception as error:  # noqa: BLE001 - the kit reports whatever a wrapper raises
            last = traceback.extract_tb(error.__traceback__)[-1]
            problem = f"{type(error).__name__}: {error} (at {os.path.basename(last.filename)}:{last.lineno})"
        self.report.results.append(CheckResult(name, not problem, problem or ""))

    # -- the checks -------------------------------------------------------------------------------
    def header(self) -> str | None:
        missing = [k for k in MANDATORY_FIELDS if k not in self.df.params]
        if missing:
            return f"mandatory params missing: {missing}"
        n_samples, n_channels = self.df.shape
        if n_channels != self.df.nb_channels or n_channels < 1:
            return f"shape {self.df.shape} does not match nb_channels {self.df.nb_channels}"
        if n_samples <= 0:
            return f"no samples (shape {self.df.shape})"
        if not float(self.df.sampling_rate) > 0:
            return f"sampling_rate {self.df.sampling_rate} is not positive"
        np.dtype(self.df.data_dtype)
        if self.df.t_stop - self.df.t_start < self.df.duration - 1 and self.df.nb_streams == 1:
            return f"t_start {self.df.t_start} / t_stop {self.df.t_stop} disagree with duration {self.df.duration}"
        return None

    def whole_read(self) -> str | None:
        data = self.df.read_range(0, self.n)
        if data.dtype != np.float32:
            return f"read returns {data.dtype}, not float32"
        if data.shape != (self.n, self.df.nb_channels):
            return f"read of {self.n} samples has shape {data.shape}"
        self.reference = data
        if self.expected is not None:
            expected = np.asarray(self.expected, dtype=np.float32)[: self.n]
            if expected.shape != data.shape:
                return f"expected data shape {expected.shape} != read {data.shape}"
            if not np.allclose(data, expected, rtol=1e-5, atol=1e-6 * max(1.0, float(np.abs(expected).max()))):
                worst = int(np.argmax(np.abs(data - expected).max(axis=1)))
                return (f"samples differ from the independently written data (first at sample {worst}: "
                        f"{data[worst, :4]} vs {expected[worst, :4]}); gain or dtype_offset applied "
                        "wrongly, or a layout error")
        return None

    def chunked_equals_whole(self) -> str | None:
        chunk = max(1, self.n // 7 + 3)
        pieces, t = [], 0
        for idx in range((self.n + chunk - 1) // chunk):
            data, _ = self.df.get_data(idx, chunk)
            pieces.append(data[: max(0, min(chunk, self.n - t))])
            t += chunk
        return _same(np.concatenate(pieces), self.reference)

    def padding(self) -> str | None:
        chunk = max(4, self.n // 5)
        pad = max(1, chunk // 4)
        first, _ = self.df.get_data(0, chunk, (-pad, pad))
        problem = _same(first, self.reference[: chunk + pad])
        if problem:
            return "first chunk, padding clipped at the start: " + problem
        middle, _ = self.df.get_data(1, chunk, (-pad, pad))
        problem = _same(middle, self.reference[chunk - pad: 2 * chunk + pad])
        if problem:
            return "middle chunk with padding: " + problem
        last_idx = (self.df.duration - 1) // chunk
        last, _ = self.df.get_data(last_idx, chunk, (-pad, pad))
        expected_rows = self.df.duration - (last_idx * chunk - pad)
        if len(last) != expected_rows:
            return f"last chunk with padding has {len(last)} rows, expected {expected_rows} (clipped at the end)"
        return None

    def read_chunk_local(self) -> str | None:
        stream = self.df.streams[0]
        stream._ensure_open()
        n = min(self.n, stream.duration)
        chunk = max(1, n // 3)
        data = stream.read_chunk(1 if n > chunk else 0, chunk, (0, 0))
        start = chunk if n > chunk else 0
        return _same(data[: max(0, n - start)], self.reference[start: start + len(data)][: n - start])

    def nodes(self) -> str | None:
        channels = self.df.nb_channels
        selections = [[channels - 1, 0], [0], list(range(0, channels, 2))]
        for nodes in selections:
            data, _ = self.df.get_data(0, self.n, nodes=np.array(nodes))
            problem = _same(data, self.reference[:, nodes])
            if problem:
                return f"nodes={nodes[:6]}: {problem}"
        return None

    def snippet(self) -> str | None:
        offsets = self.df.stream_offsets()
        if len(offsets) <= 2:
            start = self.n // 3
            return _same(self.df.get_snippet(start, min(50, self.n - start)),
                         self.reference[start: start + min(50, self.n - start)])
        boundary = int(offsets[1])
        length = min(100, boundary, self.df.duration - boundary)
        snip = self.df.get_snippet(boundary - length, 2 * length)
        before = self.df.streams[0].read_chunk(0, length, (boundary - length, boundary - length))
        after = self.df.streams[1].read_chunk(0, length)
        problem = _same(snip, np.concatenate([before, after]))
        if problem:
            return "snippet across the first stream boundary: " + problem
        if self.df.streams[1].t_start < self.df.streams[0].t_stop:
            return (f"stream 1 starts at {self.df.streams[1].t_start}, before stream 0 ends at "
                    f"{self.df.streams[0].t_stop}")
        return None

    def analyze(self) -> str | None:
        for chunk in (1000, 30000, self.df.duration + 5):
            nb_chunks, last = self.df.analyze(chunk)
            if nb_chunks * chunk + last != self.df.duration or not 0 <= last < chunk:
                return f"analyze({chunk}) = ({nb_chunks}, {last}) for duration {self.df.duration}"
        return None

    def out_of_range(self) -> str | None:
        try:
            self.df.read_range(0, self.df.duration + 1)
        except IndexError:
            return None
        return "reading past the end did not raise IndexError"

    def scale_once(self) -> str | None:
        dtype = np.dtype(self.df.data_dtype)
        if dtype.kind not in "iu":
            return None
        stream = self.df.streams[0]
        data = self.reference[: min(2000, self.n)]
        raw = (data.astype(np.float64) / stream.channel_gains[None, :]) + stream.channel_offsets[None, :]
        off_lattice = np.abs(raw - np.rint(raw)).max() if raw.size else 0.0
        if off_lattice > 1e-2:
            return (f"values are not whole raw units after undoing gain and dtype_offset "
                    f"(off by {off_lattice:.3g}): scaling applied twice or not at all?")
        return None

    def events(self) -> str | None:
        from app.io.events import EVENT_DTYPE
        events = self.df.get_events()
        if events.dtype.names != EVENT_DTYPE.names:
            return f"get_events() has fields {events.dtype.names}, not {EVENT_DTYPE.names}"
        samples = events["sample"]
        if len(samples) and (np.any(np.diff(samples) < 0) or samples[0] < 0 or samples[-1] >= self.df.duration):
            return "get_events() samples must be sorted and inside [0, duration)"
        if np.any(events["duration"] < 0):
            return "get_events() has negative durations"
        return None

    def write_round_trip(self) -> str | None:
        if not self.df.is_writable:
            return None
        folder = self.scratch_dir or tempfile.mkdtemp(prefix="wavescope-conformance-")
        target = os.path.join(folder, "conformance_copy" + (self.df.extension[0] if self.df.extension else ".dat"))
        params = {k: v for k, v in self.df.params.items()}
        try:
            out = type(self.df)(target, params, is_empty=True)
            n = min(self.n, 5000)
            out.allocate((n, self.df.nb_channels), self.df.data_dtype)
            out.open("r+")
            out.set_data(0, self.reference[:n])
            out.close()
            back = type(self.df)(target, params)
            data = back.read_range(0, n)
            back.close()
            tolerance = 1e-6 + (float(np.max(self.df.channel_gains)) / 2 if np.dtype(self.df.data_dtype).kind in "iu" else 0)
            diff = float(np.max(np.abs(data - self.reference[:n]))) if n else 0.0
            if diff > tolerance:
                return f"written then read back differs by {diff} (tolerance {tolerance})"
        finally:
            if self.scratch_dir is None:
                shutil.rmtree(folder, ignore_errors=True)
        return None


def check_truncated(file_name: str, open_copy: Callable[[str], DataFile], scratch_dir: str) -> CheckResult:
    """A copy cut to a few bytes must raise a DataFileError (never another exception) or
    open with fewer samples that read without error."""
    sizes = [16, 100, max(1, os.path.getsize(file_name) // 2)]
    for size in sizes:
        target = os.path.join(scratch_dir, f"truncated_{size}_" + os.path.basename(file_name))
        with open(file_name, "rb") as src, open(target, "wb") as dst:
            dst.write(src.read(size))
        try:
            datafile = open_copy(target)
            if datafile.duration:
                datafile.read_range(0, min(datafile.duration, 100))
            datafile.close()
        except DataFileError:
            continue
        except Exception as error:  # noqa: BLE001
            return CheckResult("truncated file", False,
                               f"cut to {size} bytes: {type(error).__name__}: {error} (want a DataFileError)")
    return CheckResult("truncated file", True)


def run_conformance(file_name: str, file_format: str | None = None, params: dict | None = None,
                    stream_mode: str | None = None, expected: np.ndarray | None = None,
                    scratch_dir: str | None = None, truncation: bool = True) -> ConformanceReport:
    """Run every check; never raises for a wrapper's fault (the report says what failed)."""
    report = ConformanceReport(file_name, file_format or "?")

    def open_it(path: str) -> DataFile:
        return open_datafile(path, dict(params or {}), file_format, stream_mode)

    try:
        datafile = open_it(file_name)
    except Exception as error:  # noqa: BLE001
        report.results.append(CheckResult("open", False, f"{type(error).__name__}: {error}"))
        return report
    report.file_format = datafile.description
    report.results.append(CheckResult("open", True, f"shape {datafile.shape}, {datafile.nb_streams} stream(s)"))
    kit = _Kit(datafile, report, expected, scratch_dir)
    kit.check("header fields", kit.header)
    kit.check("whole read is float32 and right", kit.whole_read)
    if kit.reference is not None:
        kit.check("chunked reads equal one whole read", kit.chunked_equals_whole)
        kit.check("padding at both edges", kit.padding)
        kit.check("read_chunk on a stream", kit.read_chunk_local)
        kit.check("nodes subsets and order", kit.nodes)
        kit.check("get_snippet (across streams)", kit.snippet)
        kit.check("gain and dtype_offset applied once", kit.scale_once)
        kit.check("write_chunk round trip", kit.write_round_trip)
    kit.check("get_events table", kit.events)
    kit.check("analyze counts", kit.analyze)
    kit.check("reads past the end raise", kit.out_of_range)
    datafile.close()
    if truncation and os.path.isfile(file_name) and stream_mode is None:
        folder = scratch_dir or tempfile.mkdtemp(prefix="wavescope-truncated-")
        try:
            report.results.append(check_truncated(file_name, open_it, folder))
        finally:
            if scratch_dir is None:
                shutil.rmtree(folder, ignore_errors=True)
    return report


def assert_conforms(*args, **kwargs) -> ConformanceReport:
    """For tests: run the kit and fail with the readable report when any check fails."""
    report = run_conformance(*args, **kwargs)
    assert report.ok, report.format_text()
    return report
