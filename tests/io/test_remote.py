"""Recordings on a server: NWB and zarr read through a real HTTP server on 127.0.0.1 give the
same samples as the local files; dropped connections are retried, then a clear RemoteError;
the block cache on disk stays within its budget; s3:// and DANDI URLs map to https."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from app.io import RemoteError, open_datafile, remote
from tests.conftest import synthetic_int16
from tests.io.remote_server import RangeServer

N_CHANNELS = 12


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh block cache in tmp_path, fast retries, and no sizes remembered from other tests."""
    found = remote.BlockCache(tmp_path / "cache", 64 << 20)
    remote.set_block_cache(found)
    remote.forget_probes()
    monkeypatch.setattr(remote, "BACKOFF", 0.01)
    monkeypatch.setenv(remote.CACHE_ENV, str(tmp_path / "cache"))
    yield found
    remote.set_block_cache(None)
    remote.forget_probes()


def write_nwb(path, data: np.ndarray, chunks=(1000, 4), compression: str | None = None) -> str:
    """The layout of an NWB ElectricalSeries (what the nwb reader needs), chunked like large files."""
    with h5py.File(path, "w") as h5:
        h5.attrs["nwb_version"] = "2.6.0"
        series = h5.create_group("acquisition/raw")
        series.attrs["neurodata_type"] = "ElectricalSeries"
        dataset = series.create_dataset("data", data=data, chunks=chunks, compression=compression)
        dataset.attrs["conversion"] = 2e-7
        start = series.create_dataset("starting_time", data=0.5)
        start.attrs["rate"] = 30000.0
    return str(path)


def write_si_zarr(folder, data: np.ndarray) -> str:
    zarr = pytest.importorskip("zarr")
    root = zarr.open_group(str(folder), mode="w")
    root.attrs.update({"sampling_frequency": 30000.0, "num_segments": 1,
                       "zarr_class_info": {"class": "spikeinterface.core.zarrextractors.ZarrRecordingExtractor"}})
    root.create_dataset("traces_seg0", data=data, chunks=(1000, N_CHANNELS))
    root.create_dataset("channel_ids", data=np.array([f"ch{k}" for k in range(N_CHANNELS)]))
    root.create_dataset("properties/gain_to_uV", data=np.full(N_CHANNELS, 0.195))
    root.create_dataset("properties/offset_to_uV", data=np.zeros(N_CHANNELS))
    return str(folder)


def raw(datafile, index: int, size: int) -> np.ndarray:
    """Chunk `index` of `size` samples as the stored integers (nwb gives µV only)."""
    return np.rint(datafile.read_chunk(index, size) / datafile.gain).astype(np.int16)


@pytest.fixture
def served(tmp_path, cache):
    data = synthetic_int16(20000, N_CHANNELS)
    write_nwb(tmp_path / "rec.nwb", data)
    with RangeServer(tmp_path) as server:
        yield server, tmp_path, data


def test_nwb_by_url_gives_the_local_samples(served):
    server, folder, data = served
    by_url, local = open_datafile(server.url("rec.nwb")), open_datafile(str(folder / "rec.nwb"))
    assert type(by_url).__name__ == "NWBFile"
    assert by_url.get_description() == local.get_description()
    assert by_url.t_start == local.t_start == 15000
    for nodes in (None, [7, 0, 3], [11]):
        got = by_url.read_chunk(3, 3000, padding=(100, 200), nodes=nodes)
        assert np.array_equal(got, local.read_chunk(3, 3000, padding=(100, 200), nodes=nodes))
    assert np.array_equal(raw(by_url, 0, 20000), data)


def test_a_window_costs_its_chunks_and_a_second_read_costs_nothing(served):
    server, _, _ = served
    datafile = open_datafile(server.url("rec.nwb"))
    datafile.read_chunk(0, 10)
    server.reset_counts()
    datafile.read_chunk(5, 1000)                # chunks (5000, *) of (1000, 4): 3 chunks, 24 kB
    assert server.bytes_sent <= 2 * remote.BLOCK_SIZE
    sent = server.bytes_sent
    datafile.read_chunk(5, 1000)
    assert server.bytes_sent == sent
    assert remote.remote_stats()["bytes_fetched"] >= sent


def test_large_unfiltered_chunks_cost_only_the_window_rows(tmp_path, cache):
    """Files on a server are opened without HDF5's chunk cache, so HDF5 reads a window straight
    out of an unfiltered chunk, and so does the prefetch: a window across a chunk boundary costs
    about its own size, not two chunks."""
    data = synthetic_int16(140000, N_CHANNELS)
    write_nwb(tmp_path / "big.nwb", data, chunks=(65536, N_CHANNELS))      # 1.5 MB chunks
    with RangeServer(tmp_path) as server:
        datafile = open_datafile(server.url("big.nwb"))
        datafile.read_chunk(0, 10)
        server.reset_counts()
        got = raw(datafile, 21, 3000)                   # samples [63000, 66000): two chunks
        assert np.array_equal(got, data[63000:66000])
        assert server.bytes_sent <= 4 * remote.BLOCK_SIZE < 2 * 65536 * N_CHANNELS * 2
        assert server.requests <= 2


def test_compressed_chunks_by_url(tmp_path, cache):
    data = synthetic_int16(50000, N_CHANNELS)
    write_nwb(tmp_path / "gzip.nwb", data, chunks=(8192, 6), compression="gzip")
    with RangeServer(tmp_path) as server:
        datafile = open_datafile(server.url("gzip.nwb"))
        datafile.read_chunk(0, 10)
        calls = []
        fetch = remote.RemoteFile._fetch
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(remote.RemoteFile, "_fetch", lambda self, runs: calls.append(runs) or fetch(self, runs))
            assert np.array_equal(raw(datafile, 3, 12000), data[36000:48000])
        assert len(calls) == 1          # the 2 x 2 compressed chunks in one go, not one round trip each
        assert np.array_equal(datafile.read_chunk(0, 50000, nodes=[11, 2]),
                              open_datafile(str(tmp_path / "gzip.nwb")).read_chunk(0, 50000, nodes=[11, 2]))


def test_zarr_by_url_gives_the_local_samples(tmp_path, cache):
    data = synthetic_int16(5000, N_CHANNELS)
    write_si_zarr(tmp_path / "rec.zarr", data)
    with RangeServer(tmp_path) as server:
        by_url, local = open_datafile(server.url("rec.zarr")), open_datafile(str(tmp_path / "rec.zarr"))
        assert by_url.description == "si_zarr"
        assert by_url.channel_names == local.channel_names == [f"ch{k}" for k in range(N_CHANNELS)]
        assert np.array_equal(by_url.read_chunk(1, 2000, nodes=[2, 5]), local.read_chunk(1, 2000, nodes=[2, 5]))
        assert np.array_equal(by_url.read_chunk_raw(0, 5000), data)
        server.reset_counts()
        by_url.read_chunk(1, 2000)
        assert server.requests == 0             # every chunk is in the cache now
    with RangeServer(tmp_path) as server:
        remote.set_block_cache(remote.BlockCache(tmp_path / "other-cache", 64 << 20))
        fresh = open_datafile(server.url("rec.zarr"))
        fresh.prefetch(0, 5000)                 # the trace source's hint: every chunk now
        server.reset_counts()
        assert np.array_equal(fresh.read_chunk(0, 5000), local.read_chunk(0, 5000))
        assert server.requests == 0


def test_dropped_connections_are_retried(served):
    server, _, data = served
    datafile = open_datafile(server.url("rec.nwb"))
    server.fail(2, "drop")
    assert np.array_equal(raw(datafile, 9, 1000), data[9000:10000])
    server.fail(3, "500")
    assert np.array_equal(raw(datafile, 12, 1000), data[12000:13000])


@pytest.mark.parametrize("kind", ["drop", "500"])
def test_a_server_that_keeps_failing_gives_a_clear_error(served, kind):
    server, _, _ = served
    url = server.url("rec.nwb")
    datafile = open_datafile(url)
    server.fail(-1, kind)
    with pytest.raises(RemoteError) as caught:
        raw(datafile, 15, 1000)
    message = str(caught.value)
    assert url in message and "attempts" in message and "network" in message
    assert "Traceback" not in message
    server.fail(0)
    assert raw(datafile, 15, 1000).shape == (1000, N_CHANNELS)


def test_opening_errors_name_the_url_and_the_fix(served, tmp_path):
    server, _, _ = served
    missing = server.url("nothing.nwb")
    with pytest.raises(RemoteError, match="not found on the server.*check the URL"):
        open_datafile(missing)
    (tmp_path / "notes.txt").write_text("not a recording")
    with pytest.raises(RemoteError, match="neither HDF5"):
        open_datafile(server.url("notes.txt"))


def test_a_server_without_ranges_is_refused_clearly(tmp_path, cache):
    write_nwb(tmp_path / "rec.nwb", synthetic_int16(2000, N_CHANNELS))
    with RangeServer(tmp_path, ranges=False) as server, \
            pytest.raises(RemoteError, match="does not honour byte ranges.*Download the file"):
        open_datafile(server.url("rec.nwb"))


def test_block_cache_stays_within_its_budget(tmp_path, monkeypatch):
    data = np.random.default_rng(1).integers(-2000, 2000, (60000, 16)).astype(np.int16)   # 1.9 MB
    write_nwb(tmp_path / "big.nwb", data, chunks=(4096, 16))
    budget = 6 * remote.BLOCK_SIZE
    small = remote.BlockCache(tmp_path / "small", budget, memory_blocks=2)
    remote.set_block_cache(small)
    remote.forget_probes()
    try:
        with RangeServer(tmp_path) as server:
            datafile = open_datafile(server.url("big.nwb"))
            assert np.array_equal(raw(datafile, 0, 60000), data)
        on_disk = sum(p.stat().st_size for p in (tmp_path / "small").rglob("*.blk"))
        assert small.nbytes == on_disk <= budget
        assert on_disk > budget // 2
        again = remote.BlockCache(tmp_path / "small", budget // 2)     # a smaller budget next time
        assert again.nbytes <= budget // 2
        assert sum(p.stat().st_size for p in (tmp_path / "small").rglob("*.blk")) == again.nbytes
    finally:
        remote.set_block_cache(None)
        remote.forget_probes()


def test_cache_budget_from_the_environment(monkeypatch):
    monkeypatch.setenv(remote.CACHE_MB_ENV, "300")
    assert remote.default_cache_budget() == 300 << 20
    monkeypatch.setenv(remote.CACHE_MB_ENV, "lots")
    with pytest.raises(RemoteError, match="WAVESCOPE_REMOTE_CACHE_MB"):
        remote.default_cache_budget()


def test_s3_and_dandi_urls_map_to_https():
    assert remote.resolve_url("s3://dandiarchive/blobs/abc/def") == "https://dandiarchive.s3.amazonaws.com/blobs/abc/def"
    asset = "0a1b2c3d-0000-4111-8222-123456789abc"
    download = f"https://api.dandiarchive.org/api/assets/{asset}/download/"
    for url in (f"https://api.dandiarchive.org/api/assets/{asset}/",
                f"https://api.dandiarchive.org/api/assets/{asset}/download/",
                f"https://api.dandiarchive.org/api/dandisets/000409/versions/draft/assets/{asset}/"):
        assert remote.resolve_url(url) == download
    assert remote.resolve_url("https://example.org/a.nwb") == "https://example.org/a.nwb"
    with pytest.raises(RemoteError, match="bucket and a key"):
        remote.resolve_url("s3://just-a-bucket")
    assert remote.is_url("S3://b/k") and remote.is_url("https://x/y") and not remote.is_url("/data/rec.nwb")


def test_redirects_are_followed(tmp_path, cache):
    """DANDI answers an asset URL with a redirect to the bucket: the range reads go to the bucket."""
    import http.server
    import threading
    data = synthetic_int16(3000, N_CHANNELS)
    write_nwb(tmp_path / "rec.nwb", data)
    with RangeServer(tmp_path) as server:
        target = server.url("rec.nwb")

        class Redirect(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        redirector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
        threading.Thread(target=redirector.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{redirector.server_address[1]}/api/assets/x/download/"
            datafile = open_datafile(url)
            assert np.array_equal(raw(datafile, 0, 3000), data)
            assert remote.probe(url).location == target
        finally:
            redirector.shutdown()
            redirector.server_close()


def test_annotations_of_a_url_live_in_the_cache_folder(served, tmp_path):
    from app.model.annotations import sidecar_path
    server, _, _ = served
    path = sidecar_path(server.url("rec.nwb"))
    assert path.startswith(str(tmp_path)) and path.endswith(".annotations.json") and "rec.nwb" in path
    assert json.dumps(path)


def test_scrolling_forward_was_prefetched(served):
    """The trace source reads one window ahead in the scroll direction, over the network too."""
    import time

    from app.model.traces import TraceSource
    server, folder, _ = served
    source = TraceSource(open_datafile(server.url("rec.nwb")), cache_bytes=64 << 20, chunk_size=2000)
    local = TraceSource(open_datafile(str(folder / "rec.nwb")), cache_bytes=64 << 20, chunk_size=2000)
    channels = list(range(N_CHANNELS))
    source.frame(0, 4000, channels, 400)
    settled = -1
    while settled != server.requests:           # until the prefetch stops asking the server
        settled = server.requests
        time.sleep(0.3)
    server.reset_counts()
    scrolled = source.frame(4000, 8000, channels, 400)
    assert server.requests == 0
    expected = local.frame(4000, 8000, channels, 400)
    assert np.array_equal(scrolled.lo, expected.lo) and np.array_equal(scrolled.hi, expected.hi)


def test_wavescope_info_and_the_browser_take_a_url(served, capsys):
    from app.cli import _route, build_parser, command_names, main
    server, _, _ = served
    url = server.url("rec.nwb")
    assert main(["info", url, "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert json.dumps(described).count(url) >= 1 and "30000" in json.dumps(described)
    assert _route([url], command_names(build_parser())) == ["gui", url]
    assert main(["info", server.url("missing.nwb")]) != 0
    assert "not found on the server" in capsys.readouterr().err


def test_a_pynwb_file_by_url_has_the_local_header_and_geometry(tmp_path, cache):
    pytest.importorskip("pynwb")
    from tests.io.test_nwb import _write
    data = synthetic_int16(4000, 6)
    _write(tmp_path / "pynwb.nwb", [{"name": "raw", "data": data, "starting_time": 2.0, "rate": 30000.0,
                                     "conversion": 1e-6}])
    with RangeServer(tmp_path) as server:
        by_url, local = open_datafile(server.url("pynwb.nwb")), open_datafile(str(tmp_path / "pynwb.nwb"))
        assert by_url.get_description() == local.get_description()
        assert np.array_equal(by_url.channel_positions(), local.channel_positions())
        assert np.array_equal(by_url.channel_geometry().positions, local.channel_geometry().positions)
        assert np.array_equal(by_url.read_chunk(0, 4000), local.read_chunk(0, 4000))
        assert len(by_url.get_events()) == len(local.get_events())
