"""Recordings on a server: a read-only file over HTTP range requests, with a block cache on disk.

`RemoteFile(url)` is a seekable binary file whose bytes come from ``Range`` requests, 128 KiB
blocks at a time; h5py opens it as a file object (``h5py.File(RemoteFile(url), "r")``) and
`app.io.remote_zarr` serves zarr objects from the same cache. Blocks are kept in memory (a few
MB, for the many small metadata reads of HDF5) and on disk under the user cache folder
(``wavescope/remote``; ``$WAVESCOPE_REMOTE_CACHE`` moves it, ``$WAVESCOPE_REMOTE_CACHE_MB``
bounds it, default 2048 MB), least recently used first out. A read that misses several blocks
asks for each run of missing blocks in one request, and `prefetch` fetches many runs at once on
parallel connections, so a window of a chunked dataset costs about one round trip.

Dropped connections, timeouts and 5xx answers are retried with backoff; after that a
`RemoteError` names the URL and what to do. ``s3://bucket/key`` (public buckets) becomes
``https://bucket.s3.amazonaws.com/key``; a DANDI asset URL becomes its ``/download/`` URL, whose
redirect to the bucket is followed once. No Qt here.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from app.io.errors import DataFileError

BLOCK_SIZE = 128 << 10
MEMORY_BLOCKS = 256                 # 32 MB of recent blocks in memory (a window of 384 channels is 23 MB)
DEFAULT_CACHE_MB = 2048
CACHE_ENV, CACHE_MB_ENV = "WAVESCOPE_REMOTE_CACHE", "WAVESCOPE_REMOTE_CACHE_MB"
RETRIES = 4                         # attempts after the first, waiting BACKOFF * 2**k seconds
BACKOFF = 0.25
TIMEOUT = (10.0, 30.0)              # connect, read (seconds)
PARALLEL = 8                        # connections for a prefetch
SCHEMES = ("http://", "https://", "s3://")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_DANDI_ASSET = re.compile(r"^https?://api\.dandiarchive\.org/api/(?:dandisets/[^/]+/versions/[^/]+/)?"
                          r"assets/([0-9a-fA-F-]{36})(?:/.*)?$")


class RemoteError(DataFileError):
    """A recording on a server could not be read; the message names the URL and the fix."""


def is_url(name: object) -> bool:
    """Whether `name` is a URL Wavescope reads over the network (http, https, s3)."""
    return isinstance(name, str) and name.lower().startswith(SCHEMES)


def resolve_url(url: str) -> str:
    """The https URL to ask for `url`: s3:// public buckets and DANDI asset pages mapped; others as given."""
    if url.lower().startswith("s3://"):
        bucket, _, key = url[5:].partition("/")
        if not bucket or not key:
            raise RemoteError(f"{url}: an s3 URL needs a bucket and a key (s3://bucket/path/to/file.nwb).", url)
        return f"https://{bucket}.s3.amazonaws.com/{key}"
    found = _DANDI_ASSET.match(url)
    if found:
        return f"https://api.dandiarchive.org/api/assets/{found.group(1).lower()}/download/"
    return url


# -- statistics for the status bar ----------------------------------------------------------------
class _Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bytes_fetched = 0
        self.requests = 0

    def add(self, nbytes: int) -> None:
        with self.lock:
            self.bytes_fetched += nbytes
            self.requests += 1


STATS = _Stats()


def remote_stats() -> dict:
    """Bytes fetched over the network and requests made by this process, and the block cache's size."""
    cache = block_cache()
    return {"bytes_fetched": STATS.bytes_fetched, "requests": STATS.requests,
            "cache_bytes": cache.nbytes, "cache_budget": cache.budget, "cache_folder": str(cache.folder)}


# -- the block cache ------------------------------------------------------------------------------
def default_cache_folder() -> Path:
    given = os.environ.get(CACHE_ENV, "").strip()
    if given:
        return Path(given).expanduser()
    import platformdirs
    return Path(platformdirs.user_cache_dir("wavescope")) / "remote"


def default_cache_budget() -> int:
    text = os.environ.get(CACHE_MB_ENV, "").strip()
    try:
        return max(int(float(text) * (1 << 20)), BLOCK_SIZE) if text else DEFAULT_CACHE_MB << 20
    except ValueError:
        raise RemoteError(f"${CACHE_MB_ENV} is {text!r}; give the remote cache size in MB (e.g. 2048).") from None


class BlockCache:
    """Pieces of remote files, by (file key, index): a small LRU in memory in front of an LRU
    folder on disk bounded by `budget` bytes. Disk writes happen on a writer thread (`flush`
    waits for them), so a fetch is not slowed by the disk. Thread-safe; another process sharing
    the folder may evict a block this one counted, which then reads as missing."""

    def __init__(self, folder: str | os.PathLike, budget: int, memory_blocks: int = MEMORY_BLOCKS):
        self.folder, self.budget = Path(folder), int(budget)
        self._memory: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._memory_blocks = memory_blocks
        self._disk: OrderedDict[tuple[str, int], int] = OrderedDict()   # oldest first -> size
        self.nbytes = 0
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="wavescope-cache")
        self._writes: list = []
        self._pending: dict[tuple[str, int], bytes] = {}     # put, not yet on disk
        self._scan()

    def _scan(self) -> None:
        if not self.folder.is_dir():
            return
        found = []
        for path in self.folder.glob("*/*.blk"):
            try:
                stat = path.stat()
            except OSError:
                continue
            found.append((stat.st_mtime_ns, (path.parent.name, int(path.stem)), stat.st_size))
        for _, key, size in sorted(found):
            self._disk[key] = size
            self.nbytes += size
        self._evict()

    def _path(self, key: tuple[str, int]) -> Path:
        return self.folder / key[0] / f"{key[1]}.blk"

    def get(self, file_key: str, index: int) -> bytes | None:
        key = (file_key, index)
        with self._lock:
            data = self._memory.get(key)
            if data is not None:
                self._memory.move_to_end(key)
                return data
            data = self._pending.get(key)
            if data is not None:
                return data
            if key not in self._disk:
                return None
            self._disk.move_to_end(key)
        try:
            data = self._path(key).read_bytes()
        except OSError:
            with self._lock:
                self.nbytes -= self._disk.pop(key, 0)
            return None
        self._remember(key, data)
        return data

    def put(self, file_key: str, index: int, data: bytes) -> None:
        key = (file_key, index)
        self._remember(key, data)
        if len(data) > self.budget:
            return
        with self._lock:
            self._pending[key] = data
            self._writes = [w for w in self._writes if not w.done()]
            self._writes.append(self._writer.submit(self._write, key, data))

    def flush(self) -> None:
        """Wait until every block put so far is on disk."""
        with self._lock:
            writes, self._writes = self._writes, []
        for write in writes:
            write.result()

    def _write(self, key: tuple[str, int], data: bytes) -> None:
        path = self._path(key)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(data)
            os.replace(temporary, path)
        except OSError:
            with self._lock:            # a full or read-only disk: the memory cache still serves
                self._pending.pop(key, None)
            return
        with self._lock:
            self._pending.pop(key, None)
            self.nbytes += len(data) - self._disk.pop(key, 0)
            self._disk[key] = len(data)
            self._evict()

    def _remember(self, key: tuple[str, int], data: bytes) -> None:
        with self._lock:
            self._memory[key] = data
            self._memory.move_to_end(key)
            while len(self._memory) > self._memory_blocks:
                self._memory.popitem(last=False)

    def _evict(self) -> None:
        while self.nbytes > self.budget and self._disk:
            key, size = self._disk.popitem(last=False)
            self.nbytes -= size
            try:
                self._path(key).unlink()
            except OSError:
                pass

    def clear(self) -> None:
        self.flush()
        with self._lock:
            self._memory.clear()
            self.budget, budget = 0, self.budget
            self._evict()
            self.budget = budget


_CACHE: BlockCache | None = None
_CACHE_LOCK = threading.Lock()


def block_cache() -> BlockCache:
    """The process's block cache (folder and budget from the environment at first use)."""
    global _CACHE
    with _CACHE_LOCK:
        if _CACHE is None:
            _CACHE = BlockCache(default_cache_folder(), default_cache_budget())
        return _CACHE


def set_block_cache(cache: BlockCache | None) -> None:
    """Use `cache` from now on (None: the default one at next use); for tests and settings. The
    previous cache's pending writes are finished first."""
    global _CACHE
    with _CACHE_LOCK:
        if _CACHE is not None and _CACHE is not cache:
            _CACHE.flush()
        _CACHE = cache


# -- HTTP -----------------------------------------------------------------------------------------
_local = threading.local()


def _session():
    session = getattr(_local, "session", None)
    if session is None:
        try:
            import requests
        except ImportError:
            raise RemoteError("opening a URL needs the `requests` package; install it with "
                              "`pip install wavescope[remote]` (or `pip install requests`).") from None
        session = _local.session = requests.Session()
        session.headers["User-Agent"] = "wavescope"
    return session


def _why(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error)[:200]}"


def http_get(url: str, byte_range: tuple[int, int] | None = None, shown: str | None = None,
             missing_ok: bool = False):
    """One GET (bytes [start, stop) when `byte_range` is given), retried on dropped connections,
    timeouts and 5xx; returns the response (None for a 404 when `missing_ok`)."""
    import requests
    shown = shown or url
    headers = {} if byte_range is None else {"Range": f"bytes={byte_range[0]}-{byte_range[1] - 1}"}
    last = ""
    for attempt in range(RETRIES + 1):
        if attempt:
            time.sleep(BACKOFF * 2 ** (attempt - 1))
        try:
            response = _session().get(url, headers=headers, timeout=TIMEOUT, stream=True)
            if response.status_code in (404, 410) and missing_ok:
                response.close()
                return None
            if response.status_code >= 500 or response.status_code == 429:
                response.close()
                last = f"the server answered HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                response.close()
                raise RemoteError(_client_error(shown, response.status_code), shown)
            if byte_range is not None and response.status_code != 206:
                response.close()            # the whole file is coming: never read it
                raise RemoteError(_no_ranges(shown, response.status_code), shown)
            body = response.content
            if byte_range is not None and len(body) != min(byte_range[1], _total(response)) - byte_range[0]:
                last = f"the connection closed after {len(body)} of {byte_range[1] - byte_range[0]} bytes"
                continue
            STATS.add(len(body))
            return response
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
            last = _why(error)
    raise RemoteError(f"{shown}: the server did not answer after {RETRIES + 1} attempts ({last}); check the "
                      "network connection and that the server is up, then open the URL again.", shown)


def _total(response) -> int:
    """The file size a 206 answer's Content-Range gives (a huge number when it gives none)."""
    total = response.headers.get("Content-Range", "").rpartition("/")[2]
    return int(total) if total.isdigit() else 1 << 62


def _no_ranges(url: str, status: int) -> str:
    return (f"{url}: the server does not honour byte ranges (HTTP {status} to a Range request); Wavescope "
            "reads recordings on a server only from servers that do (S3, DANDI, most web servers). "
            "Download the file and open it locally.")


def _client_error(url: str, status: int) -> str:
    if status in (401, 403):
        return (f"{url}: access denied (HTTP {status}); the bucket or file is not public, or the link has "
                "expired; use a public URL or a fresh link.")
    if status in (404, 410):
        return f"{url}: not found on the server (HTTP {status}); check the URL."
    if status == 416:
        return f"{url}: the server refused a byte range (HTTP 416); the file may have changed; open it again."
    return f"{url}: the server refused the request (HTTP {status}); check the URL."


class _Remote:
    """What a first request learned about a URL: where it lives after redirects, size, version."""

    def __init__(self, location: str, size: int, version: str, head: bytes = b""):
        self.location, self.size, self.version = location, size, version
        self.head = head                # the first block, fetched with the probe
        self.key = hashlib.sha1(f"{location.split('?')[0]}|{size}|{version}".encode()).hexdigest()[:24]


_PROBED: dict[str, _Remote] = {}
_PROBED_LOCK = threading.Lock()


def probe(url: str) -> _Remote:
    """Size, version and final location of `url` (once per process): a range request for the
    first block, which also tells whether the server honours ``Range``."""
    with _PROBED_LOCK:
        if url in _PROBED:
            return _PROBED[url]
    response = http_get(resolve_url(url), (0, BLOCK_SIZE), shown=url)
    total = response.headers.get("Content-Range", "").rpartition("/")[2]
    if not total.isdigit():
        raise RemoteError(f"{url}: the server gave no file size (Content-Range "
                          f"{response.headers.get('Content-Range')!r}); download the file and open it locally.", url)
    version = response.headers.get("ETag") or response.headers.get("Last-Modified") or ""
    found = _Remote(response.url, int(total), version, response.content)
    with _PROBED_LOCK:
        _PROBED[url] = found
    return found


def remote_identity(url: str) -> tuple[int, str]:
    """(size, version) of the file at `url`: what tells whether results derived from it still hold."""
    found = probe(url)
    return found.size, found.version


def remote_sidecar_path(url: str, suffix: str) -> str:
    """Where Wavescope keeps its own notes about a recording on a server (annotations): in the
    cache folder's `notes` (never evicted), named after the URL."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", url.rstrip("/").rsplit("/", 1)[-1])[-60:] or "recording"
    digest = hashlib.sha1(url.encode()).hexdigest()[:12]
    return str(default_cache_folder().parent / "remote-notes" / f"{name}-{digest}{suffix}")


def forget_probes() -> None:
    """Ask servers again for sizes and versions (a file on the server changed)."""
    with _PROBED_LOCK:
        _PROBED.clear()


# -- the file -------------------------------------------------------------------------------------
class RemoteFile(io.RawIOBase):
    """A read-only, seekable binary file over HTTP range requests (see the module docstring)."""

    def __init__(self, url: str, cache: BlockCache | None = None, block_size: int | None = None):
        super().__init__()
        self.url = url
        self.block_size = int(block_size or BLOCK_SIZE)
        self.cache = cache or block_cache()
        remote = probe(url)
        self.location, self.size = remote.location, remote.size
        self._key = f"{remote.key}-{self.block_size >> 10}k"
        if remote.head and len(remote.head) == min(self.block_size, self.size):
            self.cache.put(self._key, 0, remote.head)
        self._position = 0
        self._dry: tuple[int, int, list] | None = None

    def __repr__(self) -> str:
        return f"<RemoteFile {self.url} at {id(self):#x}>"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = max(base + int(offset), 0)
        return self._position

    @contextlib.contextmanager
    def dry_run(self, smallest: int = 16 << 10) -> Iterator[list[tuple[int, int]]]:
        """Within: reads by this thread of at least `smallest` bytes are not fetched but noted in
        the list given (and read as zeros); smaller reads (a file's metadata) are fetched as
        usual. A dry run of a read tells which byte ranges it needs, to `prefetch` at once."""
        wanted: list[tuple[int, int]] = []
        self._dry = (threading.get_ident(), smallest, wanted)
        try:
            yield wanted
        finally:
            self._dry = None

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        dry = self._dry
        if dry is not None and dry[0] == threading.get_ident() and len(view) >= dry[1]:
            size = max(min(len(view), self.size - self._position), 0)
            dry[2].append((self._position, self._position + size))
            np.frombuffer(view, dtype=np.uint8)[:size] = 0
            self._position += size
            return size
        data = self.read_range(self._position, self._position + len(view))
        view[:len(data)] = data
        self._position += len(data)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        stop = self.size if size is None or size < 0 else self._position + size
        data = self.read_range(self._position, stop)
        self._position += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    # -- blocks -----------------------------------------------------------------------------------
    def read_range(self, start: int, stop: int) -> bytes:
        """Bytes [start, stop) (cut at the end of the file), fetching the missing blocks."""
        start, stop = max(int(start), 0), min(int(stop), self.size)
        if stop <= start:
            return b""
        first, last = start // self.block_size, (stop - 1) // self.block_size
        blocks = self._blocks(range(first, last + 1))
        data = b"".join(blocks[i] for i in range(first, last + 1))
        offset = first * self.block_size
        return data[start - offset:stop - offset]

    def prefetch(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Fetch the blocks of every byte range [start, stop) not cached yet, runs in parallel."""
        wanted = set()
        for start, stop in ranges:
            start, stop = max(int(start), 0), min(int(stop), self.size)
            if stop > start:
                wanted.update(range(start // self.block_size, (stop - 1) // self.block_size + 1))
        self._blocks(sorted(wanted), keep=False)

    def _blocks(self, indices: Iterable[int], keep: bool = True) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        missing = []
        for index in indices:
            data = self.cache.get(self._key, index)
            if data is None:
                missing.append(index)
            elif keep:
                found[index] = data
        if missing:
            found.update(self._fetch(_runs(missing)))
        return found

    def _fetch(self, runs: list[tuple[int, int]]) -> dict[int, bytes]:
        """Blocks [first, last] of each run, one request per run (parallel when several)."""
        if len(runs) == 1:
            pieces = [self._fetch_run(*runs[0])]
        else:
            with ThreadPoolExecutor(min(PARALLEL, len(runs)), thread_name_prefix="wavescope-remote") as pool:
                pieces = list(pool.map(lambda run: self._fetch_run(*run), runs))
        return {index: data for piece in pieces for index, data in piece.items()}

    def _fetch_run(self, first: int, last: int) -> dict[int, bytes]:
        start, stop = first * self.block_size, min((last + 1) * self.block_size, self.size)
        body = http_get(self.location, (start, stop), shown=self.url).content
        if len(body) != stop - start:
            raise RemoteError(f"{self.url}: the server sent {len(body)} bytes for a range of {stop - start}; the "
                              "server does not honour byte ranges properly. Download the file and open it "
                              "locally.", self.url)
        blocks = {}
        for index in range(first, last + 1):
            piece = body[(index - first) * self.block_size:(index - first + 1) * self.block_size]
            self.cache.put(self._key, index, piece)
            blocks[index] = piece
        return blocks


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Sorted block indices as runs (first, last) of consecutive ones."""
    runs: list[list[int]] = []
    for index in sorted(indices):
        if runs and index == runs[-1][1] + 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    return [(a, b) for a, b in runs]


# -- what a URL holds -----------------------------------------------------------------------------
_OPEN_FILES: weakref.WeakValueDictionary[str, RemoteFile] = weakref.WeakValueDictionary()


def open_remote(url: str) -> RemoteFile:
    """A RemoteFile for `url`, remembered by its repr so that an h5py file opened on it can find it
    back (`remote_file_of`)."""
    handle = RemoteFile(url)
    _OPEN_FILES[repr(handle)] = handle
    return handle


def remote_file_of(h5_file_name: str) -> RemoteFile | None:
    """The RemoteFile under an h5py file opened on one (h5py names such files by the object's repr)."""
    return _OPEN_FILES.get(h5_file_name)


def url_kind(url: str) -> str:
    """"hdf5" or "zarr": what the URL holds (a zarr store answers for its .zgroup/.zattrs/zarr.json)."""
    if url.rstrip("/").lower().endswith(".zarr") and _is_zarr(url):
        return "zarr"
    try:
        if RemoteFile(url).read_range(0, 8) == HDF5_SIGNATURE:
            return "hdf5"
    except RemoteError:
        if not _is_zarr(url):
            raise
        return "zarr"
    if _is_zarr(url):
        return "zarr"
    raise RemoteError(f"{url}: neither HDF5 (NWB) nor a zarr store; Wavescope opens NWB/HDF5 files and zarr "
                      "recordings by URL. Check the URL, or download the file and open it locally.", url)


def _is_zarr(url: str) -> bool:
    base = resolve_url(url).rstrip("/")
    return any(http_get(f"{base}/{name}", shown=url, missing_ok=True) is not None
               for name in (".zgroup", ".zarray", "zarr.json"))


HDF5_FORMATS = ("nwb", "hdf5", "maxwell", "brw", "kwd", "nix", "arf", "mcs_h5")


def guess_url_format(url: str) -> str:
    """The format of the recording at `url`: si_zarr for a zarr store, else the HDF5-based format
    whose sniffer is surest (nwb when none is)."""
    if url_kind(url) == "zarr":
        return "si_zarr"
    from app.io.registry import supported_formats
    formats = supported_formats()
    found = formats["nwb"].sniff(url)
    if found and found[0] >= 0.9:       # the common case, without asking every HDF5 sniffer
        return "nwb"
    scored = []
    for name in HDF5_FORMATS:
        if name in formats:
            found = formats[name].sniff(url)
            if found:
                scored.append((found[0], name))
    return max(scored)[1] if scored else "nwb"
