"""The neuroshare format, for real: a small Neuroshare library (tests/io/neuroshare_stub) is
compiled with the machine's C compiler and loaded through the ctypes binding; its files are
written here from the stub's published layout, independently of the reader."""

from __future__ import annotations

import ctypes
import os
import struct

import numpy as np
import pytest

from app.io import DataFileError, HeaderError, MissingFieldsError, open_datafile
from app.io.conformance import assert_conforms
from app.io.formats.neuroshare import NeuroshareLibrary, struct_types
from app.io.registry import supported_formats
from app.io.sniff import rank_formats
from tests.io.neuroshare_stub.build import build_stub, compile_shared, find_compiler

T0 = 2.5                    # seconds of the first analog sample
FAST, SLOW = 20000.0, 1000.0


@pytest.fixture(scope="session")
def stubs(tmp_path_factory) -> dict[str, str]:
    """The stub built twice: with MSVC-style 4-byte packing and with natural alignment."""
    if find_compiler() is None:
        pytest.skip("no C compiler (cc, gcc or clang): cannot build the Neuroshare stub library")
    folder = tmp_path_factory.mktemp("nsstub")
    return {"4": str(build_stub(folder, pack4=True)), "natural": str(build_stub(folder, pack4=False))}


def write_stub_file(path, entities: list[dict], t0: float = T0) -> str:
    """The NSSTUB01 layout of nsstub.c: 24-byte header, 96-byte entity records, then the items
    (int16 steps for analog entities, float64 seconds for events)."""
    payloads, records = [], []
    offset = 24 + 96 * len(entities)
    for entity in entities:
        analog = entity["type"] == 2
        payload = (np.asarray(entity["steps"], dtype="<i2") if analog
                   else np.asarray(entity["times"], dtype="<f8")).tobytes()
        count = len(payload) // (2 if analog else 8)
        records.append(struct.pack("<32sIIdd16sQ16s", entity["label"].encode(), entity["type"], count,
                                   entity.get("rate", 0.0), entity.get("resolution", 0.0),
                                   entity.get("units", "").encode("utf-8"), offset, b"probe"))
        payloads.append(payload)
        offset += len(payload)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<8sIId", b"NSSTUB01", len(entities), 0, t0))
        handle.write(b"".join(records) + b"".join(payloads))
    return str(path)


def steps(n: int, channel: int) -> np.ndarray:
    rng = np.random.default_rng(channel)
    return (np.arange(n) % 700 - 350 + 40 * channel + rng.integers(-30, 30, n)).astype(np.int16)


def analog(label: str, rate: float, data: np.ndarray, units: str = "V", resolution: float = 1e-7) -> dict:
    return {"label": label, "type": 2, "rate": rate, "steps": data, "units": units,
            "resolution": resolution}


@pytest.fixture
def recording(tmp_path):
    """Four 20 kHz entities in V, two 1 kHz entities in mV and an event entity, interleaved."""
    fast = [steps(6000, k) for k in range(4)]
    slow = [steps(300, 10 + k) for k in range(2)]
    entities = [analog("El_01", FAST, fast[0]), analog("Anlg_1", SLOW, slow[0], "mV", 0.01),
                analog("El_02", FAST, fast[1]), {"label": "Trigger", "type": 1, "times": [0.1, 0.2]},
                analog("El_03", FAST, fast[2]), analog("Anlg_2", SLOW, slow[1], "mV", 0.01),
                analog("El_04", FAST, fast[3])]
    path = write_stub_file(tmp_path / "rec.nss", entities)
    microvolts = np.stack([f.astype(np.float64) * 1e-7 * 1e6 for f in fast], axis=1).astype(np.float32)
    slow_uv = np.stack([s.astype(np.float64) * 0.01 * 1e3 for s in slow], axis=1).astype(np.float32)
    return path, microvolts, slow_uv


def params(stubs, packing: str = "natural", **more) -> dict:
    return {"neuroshare_library": stubs[packing], "neuroshare_packing": packing, **more}


def stub_hooks(path: str) -> ctypes.CDLL:
    hooks = ctypes.CDLL(path)
    hooks.stub_bytes_read.restype = ctypes.c_uint64
    hooks.stub_open_files.restype = ctypes.c_uint32
    return hooks


def test_header_picks_the_most_common_rate(stubs, recording):
    path, _, _ = recording
    df = open_datafile(path, params(stubs), "neuroshare")
    assert df.shape == (6000, 4)
    assert df.sampling_rate == FAST and df.data_dtype == "float64" and df.dtype_offset == 0
    assert df.gain == 1e6                              # V -> µV
    assert df.channel_names == ["El_01", "El_02", "El_03", "El_04"]
    assert [e.entity_id for e in df.entities] == [0, 2, 4, 6]
    assert [e.resolution for e in df.entities] == [1e-7] * 4
    assert df.t_start == round(T0 * FAST) and df.t_stop == df.t_start + 6000
    assert df.file_type == "NSSTUB01"


def test_samples_are_exact(stubs, recording):
    path, microvolts, _ = recording
    with open_datafile(path, params(stubs), "neuroshare") as df:
        window = df.read_range(1234, 1534, nodes=[3, 0])
        whole = df.read_range(0, 6000)
    assert window.dtype == np.float32 and window.flags.c_contiguous
    np.testing.assert_array_equal(window, microvolts[1234:1534][:, [3, 0]])
    np.testing.assert_array_equal(whole, microvolts)


def test_sample_rate_selects_the_other_entities(stubs, recording):
    path, _, slow_uv = recording
    with open_datafile(path, params(stubs, sample_rate=1000), "neuroshare") as df:
        assert df.shape == (300, 2) and df.gain == 1e3 and df.channel_names == ["Anlg_1", "Anlg_2"]
        assert df.t_start == round(T0 * SLOW)
        np.testing.assert_array_equal(df.read_range(0, 300), slow_uv)
    # a params file written for that recording carries sampling_rate, which selects the same entities
    reopened = open_datafile(path, params(stubs, sampling_rate=1000.0), "neuroshare")
    assert reopened.channel_names == ["Anlg_1", "Anlg_2"]


def test_unknown_rate_lists_the_rates(stubs, recording):
    path, _, _ = recording
    with pytest.raises(HeaderError) as caught:
        open_datafile(path, params(stubs, sample_rate=500), "neuroshare")
    assert "500 Hz" in str(caught.value) and "rec.nss" in str(caught.value)
    assert caught.value.candidates == ["sample_rate=1000", "sample_rate=20000"]


def test_mixed_units_give_per_channel_gains(stubs, tmp_path):
    data = [steps(500, k) for k in range(4)]
    units = [("V", 1e-7), ("mV", 1e-4), ("µV", 0.1), ("pA", 0.5)]
    entities = [analog(f"c{k}", FAST, d, u, r) for k, (d, (u, r)) in enumerate(zip(data, units))]
    path = write_stub_file(tmp_path / "units.nss", entities)
    with open_datafile(path, params(stubs), "neuroshare") as df:
        np.testing.assert_array_equal(df.channel_gains, [1e6, 1e3, 1.0, 1.0])
        got = df.read_range(0, 500)
    expected = np.stack([d.astype(np.float64) * r * g for d, (_, r), g
                         in zip(data, units, (1e6, 1e3, 1.0, 1.0))], axis=1).astype(np.float32)
    np.testing.assert_array_equal(got, expected)


def test_reads_fetch_only_the_window(stubs, recording):
    path, _, _ = recording
    hooks = stub_hooks(stubs["natural"])
    df = open_datafile(path, params(stubs), "neuroshare")
    assert hooks.stub_open_files() == 0               # the header read closed its handle
    df.open()
    before = hooks.stub_bytes_read()
    df.read_chunk(3, 100, padding=(-10, 10), nodes=[1, 2])
    assert hooks.stub_bytes_read() - before == 120 * 2 * 2      # 120 int16 steps x 2 entities
    df.close()
    assert hooks.stub_open_files() == 0


def test_concurrent_reads_are_serialised(stubs, recording):
    """The stub seeks then reads one FILE* per file: unserialised calls mix windows (this catches
    a missing lock often, not every run; it never fails with the lock)."""
    from concurrent.futures import ThreadPoolExecutor
    path, microvolts, _ = recording
    df = open_datafile(path, params(stubs), "neuroshare").open()
    starts = np.random.default_rng(1).integers(0, 4000, 400)

    def read(start: int) -> bool:
        return np.array_equal(df.read_range(int(start), int(start) + 2000), microvolts[start:start + 2000])

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(read, starts))
    df.close()


@pytest.mark.parametrize("packing", ["4", "natural"])
def test_both_packings_read_the_same(stubs, recording, packing):
    path, microvolts, _ = recording
    with open_datafile(path, params(stubs, packing), "neuroshare") as df:
        np.testing.assert_array_equal(df.read_range(0, 6000), microvolts)
        info = df._library().library_info()
    assert info.szDescription == b"Wavescope test stub" and info.FileDesc[0].szMagicCode == b"NSSTUB01"


def test_struct_layouts():
    packed, one, natural = struct_types(4), struct_types(1), struct_types(None)
    sizes = {name: ctypes.sizeof(kind) for name, kind in packed.items()}
    assert sizes == {"FILEDESC": 64, "FILEINFO": 404, "ENTITYINFO": 40, "ANALOGINFO": 264,
                     "LIBRARYINFO": 1192}
    assert {name: ctypes.sizeof(kind) for name, kind in one.items()} == sizes
    assert packed["ANALOGINFO"].dLowFreqCorner.offset == 108
    if ctypes.alignment(ctypes.c_double) == 8:
        assert ctypes.sizeof(natural["FILEINFO"]) == 408
        assert natural["ANALOGINFO"].dLowFreqCorner.offset == 112


@pytest.mark.skipif(ctypes.alignment(ctypes.c_double) != 8, reason="packings agree where doubles align to 4")
def test_wrong_packing_names_the_setting(stubs, recording):
    path, _, _ = recording
    with pytest.raises(HeaderError) as caught:
        open_datafile(path, {"neuroshare_library": stubs["4"], "neuroshare_packing": "natural"}, "neuroshare")
    message = str(caught.value)
    assert "ns_LIBERROR" in message and "ns_FILEINFO size 408, this library expects 404" in message
    assert "neuroshare_packing" in message and "rec.nss" in message


def test_bad_file_surfaces_the_ns_error(stubs, tmp_path):
    path = tmp_path / "junk.nss"
    path.write_bytes(b"definitely not a stub file" * 10)
    with pytest.raises(DataFileError) as caught:
        open_datafile(str(path), params(stubs), "neuroshare")
    message = str(caught.value)
    assert isinstance(caught.value, HeaderError) and caught.value.file_name == str(path)
    assert "junk.nss" in message and "ns_OpenFile failed with ns_TYPEERROR" in message
    assert "not an NSSTUB01 file" in message


def test_no_analog_entities(stubs, tmp_path):
    path = write_stub_file(tmp_path / "events.nss", [{"label": "TTL", "type": 1, "times": [1.0]},
                                                      analog("broken", 0.0, steps(10, 0))])
    with pytest.raises(HeaderError, match="no analog entities .1 event, 1 analog without a sample rate"):
        open_datafile(path, params(stubs), "neuroshare")


def test_read_errors_become_datafile_errors(stubs, recording):
    path, _, _ = recording
    df = open_datafile(path, params(stubs), "neuroshare")
    df.open()
    os.truncate(path, 24 + 96 * 7 + 100)              # cut under the open library
    with pytest.raises(DataFileError) as caught:
        df.read_range(5000, 5100)
    assert not isinstance(caught.value, HeaderError)
    assert "ns_GetAnalogData failed with ns_FILEERROR" in str(caught.value)
    assert "short read" in str(caught.value) and "rec.nss" in str(caught.value)
    df.close()


def test_missing_library_says_how_to_set_it(recording, monkeypatch):
    path, _, _ = recording
    monkeypatch.delenv("WAVESCOPE_NEUROSHARE_LIBRARY", raising=False)
    with pytest.raises(MissingFieldsError) as caught:
        open_datafile(path, {}, "neuroshare")
    assert caught.value.missing == {"neuroshare_library": "string"}
    message = str(caught.value)
    assert "rec.nss" in message and "--set neuroshare_library=" in message
    assert "WAVESCOPE_NEUROSHARE_LIBRARY" in message


def test_library_from_the_environment(stubs, recording, monkeypatch):
    path, microvolts, _ = recording
    monkeypatch.setenv("WAVESCOPE_NEUROSHARE_LIBRARY", stubs["natural"])
    with open_datafile(path, {}, "neuroshare") as df:
        np.testing.assert_array_equal(df.read_range(10, 20), microvolts[10:20])


def test_bad_library_paths(stubs, recording, tmp_path):
    path, _, _ = recording
    absent = tmp_path / "nowhere" / "nsLib.so"
    with pytest.raises(HeaderError, match="nsLib.so does not exist"):
        open_datafile(path, {"neuroshare_library": str(absent)}, "neuroshare")
    not_a_library = tmp_path / "notes.so"
    not_a_library.write_text("hello")
    with pytest.raises(HeaderError, match="cannot load the Neuroshare library"):
        open_datafile(path, {"neuroshare_library": str(not_a_library)}, "neuroshare")
    source = tmp_path / "other.c"
    source.write_text("int unrelated(void) { return 1; }\n")
    other = compile_shared(source, tmp_path / "libother.so")
    with pytest.raises(HeaderError, match="is not a Neuroshare library: it lacks ns_OpenFile"):
        open_datafile(path, {"neuroshare_library": str(other)}, "neuroshare")
    with pytest.raises(HeaderError, match="neuroshare_packing 'two'"):
        open_datafile(path, {"neuroshare_library": stubs["4"], "neuroshare_packing": "two"}, "neuroshare")


def test_library_wrappers_do_not_share_argtypes(stubs):
    packed = NeuroshareLibrary(stubs["4"], 4, "x")
    natural = NeuroshareLibrary(stubs["4"], None, "x")
    assert packed.functions["ns_GetFileInfo"].argtypes != natural.functions["ns_GetFileInfo"].argtypes


def test_conformance(stubs, recording, tmp_path):
    path, microvolts, _ = recording
    assert_conforms(path, "neuroshare", params(stubs), expected=microvolts, scratch_dir=str(tmp_path))


def test_conformance_multi_files(stubs, tmp_path):
    parts = [[steps(n, 3 * k + c) for c in range(3)] for k, n in enumerate((900, 1300))]
    for k, part in enumerate(parts):
        write_stub_file(tmp_path / f"sess_{k}.nss", [analog(f"E{c}", FAST, d) for c, d in enumerate(part)],
                        t0=0.0)
    expected = np.concatenate([np.stack(p, axis=1).astype(np.float64) * 1e-7 * 1e6 for p in parts])
    report = assert_conforms(str(tmp_path / "sess_0.nss"), "neuroshare", params(stubs), "multi-files",
                             expected=expected.astype(np.float32), scratch_dir=str(tmp_path))
    assert "2 stream(s)" in report.results[0].detail


def test_vendor_entries(stubs, recording, tmp_path, monkeypatch):
    formats = supported_formats()
    assert {"neuroshare", "mcd", "plexon_neuroshare"} <= set(formats)
    _, microvolts, _ = recording
    mcd = tmp_path / "rec.mcd"
    os.replace(recording[0], mcd)
    monkeypatch.delenv("WAVESCOPE_NEUROSHARE_MCD", raising=False)
    best = rank_formats(str(mcd))[0]
    assert best.name == "mcd" and "WAVESCOPE_NEUROSHARE_MCD" in best.reason
    with pytest.raises(MissingFieldsError, match="WAVESCOPE_NEUROSHARE_MCD"):
        open_datafile(str(mcd))
    monkeypatch.setenv("WAVESCOPE_NEUROSHARE_MCD", stubs["natural"])
    with open_datafile(str(mcd)) as df:
        assert df.description == "mcd"
        np.testing.assert_array_equal(df.read_range(0, 100), microvolts[:100])
    assert all(c.name != "plexon_neuroshare" for c in rank_formats(str(tmp_path / "x.plx")))
