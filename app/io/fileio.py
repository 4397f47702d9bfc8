"""Positional reads and writes on a file descriptor, on every platform.

`read_into` and `write_at` never move a position other threads could share:
they use ``os.preadv``/``os.pwritev`` (Linux, BSD, recent macOS), else
``os.pread``/``os.pwrite`` (older macOS), else — Windows — a seek followed by a
read or write under a per-descriptor lock. The platform is asked at each call,
so tests can remove the POSIX calls from `os` and exercise the fallbacks.
"""

from __future__ import annotations

import io
import os
import threading

# Windows opens descriptors in text mode (newline translation) unless told otherwise.
O_BINARY = getattr(os, "O_BINARY", 0)

_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()


def open_fd(path: str | os.PathLike, writable: bool = False) -> int:
    """A binary file descriptor for positional I/O (read-only unless `writable`)."""
    return os.open(path, (os.O_RDWR if writable else os.O_RDONLY) | O_BINARY)


def _lock_for(fd: int) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(fd, threading.Lock())


def _read_some(fd: int, view: memoryview, offset: int) -> int:
    preadv = getattr(os, "preadv", None)
    if preadv is not None:
        return preadv(fd, [view], offset)
    pread = getattr(os, "pread", None)
    if pread is not None:
        data = pread(fd, len(view), offset)
        view[:len(data)] = data
        return len(data)
    with _lock_for(fd), io.FileIO(fd, "rb", closefd=False) as handle:
        handle.seek(offset)
        return handle.readinto(view) or 0


def _write_some(fd: int, view: memoryview, offset: int) -> int:
    pwritev = getattr(os, "pwritev", None)
    if pwritev is not None:
        return pwritev(fd, [view], offset)
    pwrite = getattr(os, "pwrite", None)
    if pwrite is not None:
        return pwrite(fd, view, offset)
    with _lock_for(fd), io.FileIO(fd, "r+b", closefd=False) as handle:
        handle.seek(offset)
        return handle.write(view) or 0


def read_into(fd: int, buffer, offset: int) -> None:
    """Fill `buffer` (any writable bytes-like object) from byte `offset` of `fd`.

    OSError when the file ends before the buffer is full.
    """
    view = memoryview(buffer).cast("B")
    done = 0
    while done < len(view):
        count = _read_some(fd, view[done:], offset + done)
        if count == 0:
            raise OSError(f"unexpected end of file at byte {offset + done} (fd {fd})")
        done += count


def write_at(fd: int, buffer, offset: int) -> None:
    """Write all of `buffer` (any bytes-like object) at byte `offset` of `fd`."""
    view = memoryview(buffer).cast("B")
    done = 0
    while done < len(view):
        done += _write_some(fd, view[done:], offset + done)
