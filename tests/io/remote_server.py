"""A real HTTP server on 127.0.0.1 for the remote-recording tests and benchmark.

It serves a folder, honours ``Range`` (206 with Content-Range), keeps connections alive (HTTP/1.1),
can add latency to every answer, and fails on demand: ``fail(n, "drop")`` closes the next n
connections without an answer, ``fail(n, "500")`` answers them with HTTP 500 (n = -1: until
``fail(0)``). It counts requests and body bytes sent.

    with RangeServer(folder, latency=0.05) as server:
        url = server.url("file.nwb")
"""

from __future__ import annotations

import http.server
import os
import threading
import time
from pathlib import Path
from typing import Self


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args) -> None:   # quiet
        pass

    def do_HEAD(self) -> None:
        path = self.server.owner.root / self.path.split("?")[0].lstrip("/")
        self.send_response(200 if path.is_file() else 404)
        self.send_header("Content-Length", str(path.stat().st_size if path.is_file() else 0))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

    def do_GET(self) -> None:
        owner = self.server.owner
        if owner.latency:
            time.sleep(owner.latency)
        failure = owner.take_failure()
        if failure == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if failure == "500":
            self._answer(500, b"failure on demand")
            return
        path = owner.root / self.path.split("?")[0].lstrip("/")
        if not path.is_file():
            self._answer(404, b"not found")
            return
        size = path.stat().st_size
        wanted = self.headers.get("Range")
        if not wanted or not owner.ranges:
            self._answer(200, path.read_bytes())
            return
        first, _, last = wanted.removeprefix("bytes=").partition("-")
        start, stop = int(first), min(int(last) + 1 if last else size, size)
        if start >= size:
            self._answer(416, b"", {"Content-Range": f"bytes */{size}"})
            return
        with open(path, "rb") as handle:
            handle.seek(start)
            body = handle.read(stop - start)
        self._answer(206, body, {"Content-Range": f"bytes {start}-{stop - 1}/{size}",
                                 "ETag": f'"{size}-{path.stat().st_mtime_ns}"'})

    def _answer(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(body)
        self.server.owner.count(len(body))


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: RangeServer


class RangeServer:
    """Serves `root` on 127.0.0.1 (a free port) from a thread while open."""

    def __init__(self, root: str | os.PathLike, latency: float = 0.0, ranges: bool = True):
        self.root, self.latency, self.ranges = Path(root), float(latency), ranges
        self.requests = 0
        self.bytes_sent = 0
        self._failures = 0
        self._failure_kind = ""
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/{name}"

    def fail(self, count: int, kind: str = "drop") -> None:
        """Fail the next `count` requests (-1: every one until fail(0)) by `kind`: "drop" or "500"."""
        with self._lock:
            self._failures, self._failure_kind = count, kind

    def take_failure(self) -> str:
        with self._lock:
            if self._failures == 0:
                return ""
            if self._failures > 0:
                self._failures -= 1
            return self._failure_kind

    def count(self, nbytes: int) -> None:
        with self._lock:
            self.requests += 1
            self.bytes_sent += nbytes

    def reset_counts(self) -> None:
        with self._lock:
            self.requests = self.bytes_sent = 0
