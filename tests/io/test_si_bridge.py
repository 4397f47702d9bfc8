"""The SpikeInterface bridge both ways: Wavescope recordings as SpikeInterface recordings
(app/io/si_bridge.py) and SpikeInterface binary folders as a Wavescope format (si_binary)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

si = pytest.importorskip("spikeinterface.core")
pytest.importorskip("probeinterface")

from app.io import guess_format, open_datafile  # noqa: E402
from app.io.conformance import assert_conforms  # noqa: E402
from app.io.probe import ChannelGroup, Probe, linear_probe, write_probe  # noqa: E402
from app.io.si_bridge import load_si_recording, to_si_recording  # noqa: E402
from tests.conftest import synthetic_int16  # noqa: E402
from tests.io.writers_ephys import write_legacy_recording  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
RATE = 20000.0
GAIN = 0.195


def in_uV(recording, **kwargs) -> np.ndarray:
    """get_traces in µV whatever the SpikeInterface version calls the flag."""
    try:
        return recording.get_traces(return_in_uV=True, **kwargs)
    except TypeError:
        return recording.get_traces(return_scaled=True, **kwargs)


@pytest.fixture
def raw(tmp_path):
    data = synthetic_int16(6000, 8, seed=3)
    path = tmp_path / "rec.dat"
    data.tofile(path)
    params = {"data_dtype": "int16", "nb_channels": 8, "sampling_rate": RATE, "gain": GAIN}
    return open_datafile(str(path), params, "raw_binary"), data


def child_python(code: str, *args: str) -> str:
    """Run `code` in a new Python process that imports this worktree's `app`; its stdout."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path)
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          timeout=300, cwd=str(REPO))
    assert done.returncode == 0, done.stderr
    return done.stdout


# -- Wavescope -> SpikeInterface ------------------------------------------------------------------

def test_traces_in_uV_equal_read_range(raw):
    df, data = raw
    recording = to_si_recording(df)
    assert recording.get_num_channels() == 8 and recording.get_num_segments() == 1
    assert recording.get_sampling_frequency() == RATE and recording.get_num_samples() == 6000
    assert list(recording.get_channel_ids()) == [str(k) for k in range(8)]
    assert recording.get_dtype() == np.float32
    np.testing.assert_array_equal(recording.get_channel_gains(), np.ones(8))
    np.testing.assert_array_equal(recording.get_channel_offsets(), np.zeros(8))
    whole = in_uV(recording)
    np.testing.assert_array_equal(whole, df.read_range(0, 6000))
    np.testing.assert_allclose(whole, data * np.float32(GAIN), rtol=1e-6)
    part = in_uV(recording, start_frame=1234, end_frame=2345, channel_ids=["6", "1"])
    np.testing.assert_array_equal(part, df.read_range(1234, 2345, [6, 1]))


def test_chunked_access_reads_only_the_window(raw, monkeypatch):
    df, _ = raw
    recording = to_si_recording(df)
    calls = []
    real = df.read_range

    def recorded(t_start, t_stop, nodes=None):
        calls.append((t_start, t_stop, nodes))
        return real(t_start, t_stop, nodes)

    monkeypatch.setattr(df, "read_range", recorded)
    out = recording.get_traces(start_frame=4000, end_frame=4100, channel_ids=["2", "3"])
    assert out.shape == (100, 2)
    assert calls == [(4000, 4100, [2, 3])]
    calls.clear()
    recording.get_traces(start_frame=5990, end_frame=7000)    # clipped to the segment, never beyond
    assert calls == [(5990, 6000, None)]


def test_probe_from_prb_sets_locations_and_groups(raw, tmp_path):
    df, _ = raw
    groups = {0: ChannelGroup([0, 1, 2, 3], {c: (0.0, 25.0 * c) for c in range(4)}),
              1: ChannelGroup([4, 5, 6, 7], {c: (300.0, 25.0 * (c - 4)) for c in range(4, 8)})}
    prb = tmp_path / "two_shanks.prb"
    write_probe(Probe(8, 100.0, groups), prb)
    recording = to_si_recording(df, str(prb))
    locations = recording.get_channel_locations()
    np.testing.assert_array_equal(locations[5], [300.0, 25.0])
    np.testing.assert_array_equal(locations[2], [0.0, 50.0])
    assert [int(g) for g in recording.get_property("group")] == [0] * 4 + [1] * 4


def test_probe_leaving_out_channels_gives_the_probe_channels(raw):
    df, _ = raw
    probe = Probe(8, 100.0, {0: ChannelGroup([1, 3, 5], {1: (0, 0), 3: (0, 20), 5: (0, 40)})})
    recording = to_si_recording(df, probe)
    assert list(recording.get_channel_ids()) == ["1", "3", "5"]
    np.testing.assert_array_equal(recording.get_channel_locations()[:, 1], [0, 20, 40])
    np.testing.assert_array_equal(in_uV(recording, end_frame=50), df.read_range(0, 50, [1, 3, 5]))


def test_positions_array_and_bad_shape(raw):
    df, _ = raw
    recording = to_si_recording(df, linear_probe(8, pitch=10).positions())
    np.testing.assert_array_equal(recording.get_channel_locations()[:, 1], np.arange(8) * 10.0)
    from app.io.errors import DataFileError
    with pytest.raises(DataFileError, match=r"\(8, 2\)"):
        to_si_recording(df, np.zeros((3, 2)))


def test_dict_round_trip_in_another_process(raw, tmp_path):
    df, _ = raw
    recording = to_si_recording(df, linear_probe(8))
    description = recording.to_dict()
    assert description["class"] == "app.io.si_bridge.WavescopeRecording"
    json.dumps(description["kwargs"])                 # the settings that reopen it are plain JSON
    dumped = tmp_path / "recording.json"
    recording.dump_to_json(dumped)
    code = (
        "import sys, json, numpy as np\n"
        "import spikeinterface.core as si\n"
        "r = si.load(sys.argv[1])\n"
        "t = r.get_traces(start_frame=100, end_frame=400, return_in_uV=True)\n"
        "np.save(sys.argv[2], t)\n"
        "print(type(r).__name__, r.get_num_channels(), r.get_sampling_frequency())\n"
        "print(json.dumps(r.get_channel_locations().tolist()))\n")
    out = child_python(code, str(dumped), str(tmp_path / "traces.npy")).splitlines()
    unpickled = pickle.loads(pickle.dumps(recording))      # SpikeInterface pickles through the dict
    np.testing.assert_array_equal(unpickled.get_traces(end_frame=10), df.read_range(0, 10))
    assert out[0] == "WavescopeRecording 8 20000.0"
    np.testing.assert_array_equal(json.loads(out[1]), linear_probe(8).positions())
    np.testing.assert_array_equal(np.load(tmp_path / "traces.npy"), df.read_range(100, 400))


def test_saved_by_spikeinterface_with_worker_processes_reopens_in_wavescope(raw, tmp_path):
    """job_kwargs n_jobs=2: SpikeInterface's worker processes rebuild the recording from its dict."""
    df, _ = raw
    recording = to_si_recording(df, linear_probe(8))
    folder = tmp_path / "saved"
    recording.save(folder=folder, format="binary", n_jobs=2, chunk_size=1000, progress_bar=False)
    assert guess_format(str(folder)) == "si_binary"
    back = open_datafile(str(folder))
    np.testing.assert_array_equal(back.read_range(0, back.duration), df.read_range(0, 6000))
    np.testing.assert_array_equal(back.channel_positions(), linear_probe(8).positions())


@pytest.fixture
def openephys_segments(tmp_path):
    kinds = ["CH1", "CH2", "CH3"]
    data = synthetic_int16(5 * 1024, 3, seed=1)
    stamps = [0, 1024, 5048, 6072, 7096]              # a gap after record 1, a new recording at 4
    write_legacy_recording(tmp_path / "oe", data, stamps, [0, 0, 0, 0, 1], sample_rate=30000.0,
                           bit_volts=[GAIN] * 3, kinds=kinds)
    return tmp_path / "oe", data


def test_open_ephys_segments_become_spikeinterface_segments(openephys_segments):
    path, data = openephys_segments
    df = open_datafile(str(path), {}, "openephys", "segments")
    recording = to_si_recording(df)
    assert recording.get_num_segments() == 3
    assert [recording.get_num_samples(k) for k in range(3)] == [2048, 2048, 1024]
    assert [recording.get_start_time(k) for k in range(3)] == [0.0, 5048 / 30000.0, 7096 / 30000.0]
    np.testing.assert_array_equal(in_uV(recording, segment_index=1, start_frame=10, end_frame=1500),
                                  df.streams[1].read_range(10, 1500))
    np.testing.assert_array_equal(in_uV(recording, segment_index=2), data[4096:] * np.float32(GAIN))
    reopened = load_si_recording(recording.to_dict())
    assert reopened.get_num_segments() == 3
    np.testing.assert_array_equal(reopened.get_traces(segment_index=2), data[4096:] * np.float32(GAIN))


def test_without_spikeinterface_the_error_says_how_to_install(raw):
    df, _ = raw
    code = (
        "import sys\n"
        "sys.modules['spikeinterface'] = None; sys.modules['spikeinterface.core'] = None\n"
        "from app.io import open_datafile\n"
        "from app.io.si_bridge import to_si_recording, SpikeInterfaceMissing\n"
        "df = open_datafile(sys.argv[1], {'data_dtype': 'int16', 'nb_channels': 8, 'sampling_rate': 20000},"
        " 'raw_binary')\n"
        "try:\n"
        "    to_si_recording(df)\n"
        "except SpikeInterfaceMissing as error:\n"
        "    print(error)\n")
    out = child_python(code, df.file_name)
    assert "pip install wavescope[si]" in out and "spikeinterface" in out


def test_multi_file_parts_are_one_segment(tmp_path):
    first, second = synthetic_int16(1500, 4, seed=7), synthetic_int16(700, 4, seed=8)
    first.tofile(tmp_path / "rec_0.dat")
    second.tofile(tmp_path / "rec_1.dat")
    params = {"data_dtype": "int16", "nb_channels": 4, "sampling_rate": RATE}
    df = open_datafile(str(tmp_path / "rec_0.dat"), params, "raw_binary", "multi-files")
    recording = to_si_recording(df)
    assert recording.get_num_segments() == 1 and recording.get_num_samples() == 2200
    np.testing.assert_array_equal(in_uV(recording, start_frame=1400, end_frame=1600),
                                  np.concatenate([first[1400:], second[:100]]).astype(np.float32))
    dumped = tmp_path / "parts.json"
    recording.dump_to_json(dumped)
    again = load_si_recording(dumped)
    assert again.get_num_samples() == 2200
    np.testing.assert_array_equal(again.get_traces(), recording.get_traces())


# -- SpikeInterface -> Wavescope (si_binary) ------------------------------------------------------

def test_ground_truth_recording_saved_by_spikeinterface_opens_as_si_binary(tmp_path):
    recording, _ = si.generate_ground_truth_recording(durations=[1.0, 0.5], num_channels=6, seed=0)
    folder = tmp_path / "gt"
    recording.save(folder=folder, format="binary", progress_bar=False)
    for target in (folder, folder / "binary.json", folder / "traces_cached_seg0.raw"):
        assert guess_format(str(target)) == "si_binary"
    df = open_datafile(str(folder))
    assert df.nb_channels == 6 and df.sampling_rate == recording.get_sampling_frequency()
    np.testing.assert_array_equal(df.read_range(0, df.duration), in_uV(recording, segment_index=0))
    np.testing.assert_array_equal(df.channel_positions(), recording.get_channel_locations())
    both = open_datafile(str(folder), {}, "si_binary", "segments")
    assert both.nb_streams == 2 and both.duration == int(1.5 * recording.get_sampling_frequency())
    np.testing.assert_array_equal(both.streams[1].read_range(0, 200), in_uV(recording, segment_index=1,
                                                                            end_frame=200))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert_conforms(str(folder), "si_binary", {}, None, expected=in_uV(recording, segment_index=0),
                    scratch_dir=str(scratch))
    assert_conforms(str(folder), "si_binary", {}, "segments", scratch_dir=str(scratch))


def test_int16_with_per_channel_gains_and_offsets_reads_in_uV(tmp_path):
    raw = synthetic_int16(3000, 4, seed=5)
    recording = si.NumpyRecording([raw], sampling_frequency=RATE, channel_ids=["a", "b", "c", "d"])
    recording.set_channel_gains([0.195, 0.2, 0.5, 1.0])
    recording.set_channel_offsets([0.0, -10.0, 5.0, 0.0])
    folder = tmp_path / "int16"
    recording.save(folder=folder, format="binary", progress_bar=False)
    df = open_datafile(str(folder))
    assert df.data_dtype == "int16" and df.channel_names == ["a", "b", "c", "d"]
    expected = in_uV(recording)
    np.testing.assert_allclose(df.read_range(0, 3000), expected, rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(df.read_range_raw(0, 3000), raw)
    assert_conforms(str(folder), "si_binary", {}, None, expected=expected, scratch_dir=str(tmp_path))
    again = to_si_recording(df)                       # and back: the file's channel names are the ids
    assert list(again.get_channel_ids()) == ["a", "b", "c", "d"]
    np.testing.assert_allclose(in_uV(again, channel_ids=["c"]), expected[:, [2]], rtol=1e-6, atol=1e-4)


def test_a_folder_that_is_not_a_binary_recording_is_not_claimed(tmp_path):
    (tmp_path / "binary.json").write_text(json.dumps({"class": "spikeinterface.SomethingElse", "kwargs": {}}))
    from app.io.formats.si_binary import SpikeInterfaceBinaryFile
    assert SpikeInterfaceBinaryFile.sniff(str(tmp_path)) is None
    from app.io.errors import HeaderError
    with pytest.raises(HeaderError, match="not a SpikeInterface binary recording"):
        open_datafile(str(tmp_path), {}, "si_binary")


def test_zarr_recording_saved_by_spikeinterface_opens_as_si_zarr(tmp_path):
    pytest.importorskip("zarr")
    recording, _ = si.generate_ground_truth_recording(durations=[0.6, 0.4], num_channels=5, seed=2)
    recording.set_channel_gains([0.5, 1.0, 2.0, 1.0, 0.25])
    folder = tmp_path / "gt.zarr"
    recording.save(folder=folder, format="zarr", progress_bar=False)
    assert guess_format(str(folder)) == "si_zarr"
    df = open_datafile(str(folder))
    assert df.nb_channels == 5 and df.channel_names == [str(c) for c in recording.get_channel_ids()]
    np.testing.assert_allclose(df.read_range(0, df.duration), in_uV(recording, segment_index=0), rtol=1e-6)
    np.testing.assert_array_equal(df.channel_positions(), recording.get_channel_locations())
    both = open_datafile(str(folder), {}, "si_zarr", "segments")
    assert both.nb_streams == 2
    np.testing.assert_allclose(both.streams[1].read_range(0, 300, [4, 0]),
                               in_uV(recording, segment_index=1, end_frame=300, channel_ids=["4", "0"]),
                               rtol=1e-6)
    assert_conforms(str(folder), "si_zarr", {}, "segments", scratch_dir=str(tmp_path))
