"""A zarr (format 2) store over HTTP: each key is one object under the store's URL, fetched once
into the remote block cache (`app.io.remote`); a window's chunks are fetched in parallel.

`zarr_store(name)` gives what ``zarr.open`` takes: the path itself for a local store, a
`RemoteZarrStore` for a URL. Objects are immutable once written by SpikeInterface, so a cached
object is served without asking the server again (`app.io.remote.forget_probes` does not apply;
clear the cache folder after rewriting a store on the server).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from app.io.remote import PARALLEL, RemoteError, block_cache, http_get, is_url, resolve_url

_MISSING = b"\x00wavescope-missing"


def zarr_store(name: str) -> Any:
    """`name` as zarr.open takes it: a local path as is, a URL as a RemoteZarrStore."""
    return remote_zarr_store(name) if is_url(name) else name


def remote_zarr_store(url: str) -> Any:
    """A read-only zarr store (a ``zarr.storage.BaseStore``) for the store at `url`."""
    from zarr.storage import BaseStore

    class RemoteZarrStore(BaseStore):
        _readable, _writeable, _erasable, _listable = True, False, False, False

        def __init__(self, url: str):
            self.url = url
            self.base = resolve_url(url).rstrip("/")
            self.cache = block_cache()

        def __repr__(self) -> str:
            return f"<RemoteZarrStore {self.url}>"

        def _fetch(self, key: str) -> bytes | None:
            digest = hashlib.sha1(f"{self.base}/{key}".encode()).hexdigest()[:24]
            cached = self.cache.get(f"z{digest}", 0)
            if cached is None:
                response = http_get(f"{self.base}/{key}", shown=f"{self.url.rstrip('/')}/{key}", missing_ok=True)
                cached = _MISSING if response is None else response.content
                self.cache.put(f"z{digest}", 0, cached)
            return None if cached == _MISSING else cached

        def __getitem__(self, key: str) -> bytes:
            data = self._fetch(key)
            if data is None:
                raise KeyError(key)
            return data

        def __contains__(self, key: object) -> bool:
            return isinstance(key, str) and self._fetch(key) is not None

        def getitems(self, keys: Sequence[str], *, contexts: Any = None) -> dict[str, bytes]:
            keys = list(keys)
            if len(keys) <= 1:
                found = [self._fetch(k) for k in keys]
            else:
                with ThreadPoolExecutor(min(PARALLEL, len(keys)), thread_name_prefix="wavescope-zarr") as pool:
                    found = list(pool.map(self._fetch, keys))
            return {key: data for key, data in zip(keys, found) if data is not None}

        def __setitem__(self, key: str, value: Any) -> None:
            raise RemoteError(f"{self.url}: a store on a server is read-only here.", self.url)

        def __delitem__(self, key: str) -> None:
            raise RemoteError(f"{self.url}: a store on a server is read-only here.", self.url)

        def __iter__(self) -> Iterator[str]:
            return iter(())         # HTTP cannot list a folder; zarr reads by key

        def __len__(self) -> int:
            return 0

    return RemoteZarrStore(url)
