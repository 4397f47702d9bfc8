"""`--to nwb` (app.io.nwb_out): schema-valid files that read back sample for sample, in µV,
with their electrodes, events and annotations, written atomically."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

pynwb = pytest.importorskip("pynwb", reason="pynwb is not installed (extra nwb)")

from app.io import open_datafile
from app.io.convert import ConversionCancelled, convert
from app.io.convert_options import ConvertError, ConvertSpec
from app.io.formats.nwb import NWBFile
from app.io.nwb_out import Interval, convert_to_nwb
from app.io.probe import linear_probe, write_probe
from tests.conftest import synthetic_int16
from tests.io import test_format_events as oe_events  # its event writers, not its tests
from tests.io.writers_ephys import write_binary_recording, write_legacy_recording

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore::UserWarning")
REPO = Path(__file__).resolve().parents[2]
RATE = 20000.0
GAIN = 0.195


def _raw(path: Path, data: np.ndarray, **extra) -> object:
    data.astype(data.dtype.newbyteorder("<")).tofile(path)
    params = {"data_dtype": data.dtype.name, "nb_channels": data.shape[1], "sampling_rate": RATE, "gain": GAIN,
              **extra}
    return open_datafile(str(path), params, "raw_binary", None)


def _series(path: Path):
    io = pynwb.NWBHDF5IO(str(path), "r")
    return io, io.read().acquisition["ElectricalSeries"]


SUBJECT = {"subject_id": "m3", "species": "Mus musculus", "sex": "F", "age": "P90D"}


def _critical(path: Path) -> list:
    from nwbinspector import Importance, inspect_nwbfile
    return [m for m in inspect_nwbfile(nwbfile_path=str(path), importance_threshold=Importance.CRITICAL)]


def _leftovers(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if ".partial-" in name]


# -- samples and scaling --------------------------------------------------------------------------
def test_int16_is_stored_as_is_valid_and_reads_back_in_microvolts(tmp_path):
    data = synthetic_int16(50000, 8)
    source = _raw(tmp_path / "rec.dat", data)
    out = tmp_path / "rec.nwb"
    result = convert_to_nwb(source, ConvertSpec(str(out), to_format="nwb", verify=True, out_settings=SUBJECT))
    assert result.verified and result.max_difference == 0.0
    assert pynwb.validate(path=str(out)) == []
    assert _critical(out) == []
    io, series = _series(out)
    with io:
        assert series.data.dtype == np.int16
        np.testing.assert_array_equal(series.data[:], data)
        volts = series.get_data_in_units()[:]           # data × conversion (+ offset), in volts
        np.testing.assert_allclose(volts * 1e6, data * GAIN, rtol=1e-9, atol=1e-9)
        assert series.rate == RATE and series.starting_time == 0.0
    with NWBFile(str(out)) as back:
        assert back.nb_channels == 8 and back.duration == 50000
        np.testing.assert_allclose(back.read_range(0, 50000), data * np.float32(GAIN), rtol=1e-6)
    assert not _leftovers(tmp_path)


def test_without_a_subject_only_the_subject_is_critical(tmp_path):
    """No species or age is invented: nwbinspector's critical list then names the Subject alone."""
    source = _raw(tmp_path / "rec.dat", synthetic_int16(2000, 2))
    out = tmp_path / "bare.nwb"
    convert_to_nwb(source, ConvertSpec(str(out), to_format="nwb", write_params=False))
    assert pynwb.validate(path=str(out)) == []
    assert [m.message for m in _critical(out)] == ["Subject is missing."]


def test_uint16_zero_becomes_the_offset(tmp_path):
    data = (synthetic_int16(6000, 4).astype(np.int32) + 32768).astype(np.uint16)
    source = _raw(tmp_path / "rec.dat", data, dtype_offset="auto")
    out = tmp_path / "rec.nwb"
    convert_to_nwb(source, ConvertSpec(str(out), to_format="nwb", write_params=False))
    io, series = _series(out)
    with io:
        np.testing.assert_array_equal(series.data[:], data)             # no value rescaled
        assert series.offset == pytest.approx(-32768 * GAIN * 1e-6)
        np.testing.assert_allclose(series.get_data_in_units()[:] * 1e6,
                                   (data.astype(np.float64) - 32768) * GAIN, atol=1e-6)
    expected = source.read_range(0, 6000)
    with NWBFile(str(out)) as back:
        np.testing.assert_allclose(back.read_range(0, 6000), expected, atol=1e-3)


def test_per_channel_gains_become_channel_conversion(tmp_path):
    """A SpikeGLX file with a different gain on each channel: one conversion, one value per channel."""
    from tests.io.writers_ephys import np1_meta, write_spikeglx
    data = synthetic_int16(3000, 4)
    bin_path = write_spikeglx(tmp_path / "run_g0_t0.imec0.ap.bin",
                              np.column_stack([data, np.zeros(3000, np.int16)]),
                              np1_meta(4, [500, 250, 1000, 500], [250] * 4))
    source = open_datafile(str(bin_path))
    gains = source.channel_gains[:4]
    assert len(set(gains.tolist())) > 1
    out = tmp_path / "np.nwb"
    convert_to_nwb(source, ConvertSpec(str(out), to_format="nwb", channels=[0, 1, 2, 3], write_params=False))
    assert pynwb.validate(path=str(out)) == []
    io, series = _series(out)
    with io:
        np.testing.assert_array_equal(series.data[:], data)
        np.testing.assert_allclose(series.channel_conversion[:] * series.conversion * 1e6, gains)
        np.testing.assert_allclose(series.get_data_in_units()[:] * 1e6, data * gains, rtol=1e-6)
    with NWBFile(str(out)) as back:
        np.testing.assert_allclose(back.read_range(0, 3000), source.read_range(0, 3000, [0, 1, 2, 3]), rtol=1e-6)


def test_subset_range_filter_and_float_output(tmp_path):
    data = synthetic_int16(40000, 6, seed=2)
    source = _raw(tmp_path / "rec.dat", data)
    spec = {"channels": [5, 0, 2], "start": 0.25, "stop": 1.5, "highpass": 300.0, "write_params": False}
    reference = tmp_path / "ref.dat"
    convert(source, ConvertSpec(str(reference), dtype="float32", **spec))
    expected = np.fromfile(reference, dtype=np.float32).reshape(-1, 3)
    out = tmp_path / "hp.nwb"
    result = convert_to_nwb(source, ConvertSpec(str(out), to_format="nwb", verify=True, **spec))
    assert result.verified
    io, series = _series(out)
    with io:
        assert series.data.dtype == np.float32
        np.testing.assert_array_equal(series.data[:], expected)   # the engine's filter, bit for bit
        assert series.starting_time == pytest.approx(0.25)
        assert "300 Hz" in series.filtering
        assert list(series.electrodes.table["channel_name"][:]) == ["5", "0", "2"]
    with NWBFile(str(out)) as back:
        assert back.t_start == 5000
        np.testing.assert_allclose(back.read_range(0, back.duration), expected, rtol=1e-6, atol=1e-4)


def test_int16_target_from_a_filter_is_requantised(tmp_path):
    data = synthetic_int16(20000, 4, seed=5)
    source = _raw(tmp_path / "rec.dat", data)
    out = tmp_path / "hp16.nwb"
    result = convert_to_nwb(source, ConvertSpec(str(out), to_format="nwb", highpass=300.0, dtype="int16",
                                                verify=True, write_params=False))
    assert result.verified and 0 < result.max_difference <= GAIN / 2 + 1e-3
    io, series = _series(out)
    with io:
        assert series.data.dtype == np.int16 and series.conversion == pytest.approx(GAIN * 1e-6)


# -- electrodes, events, annotations --------------------------------------------------------------
def test_probe_positions_fill_the_electrodes_table(tmp_path):
    data = synthetic_int16(4000, 8)
    source = _raw(tmp_path / "rec.dat", data)
    probe = linear_probe(8, pitch=25.0)
    write_probe(probe, tmp_path / "probe.prb")
    (tmp_path / "rec.params").write_text(f"[data]\nmapping = {tmp_path / 'probe.prb'}\n")
    out = tmp_path / "rec.nwb"
    convert_to_nwb(source, ConvertSpec(str(out), to_format="nwb", write_params=False))
    io = pynwb.NWBHDF5IO(str(out), "r")
    with io:
        table = io.read().electrodes.to_dataframe()
        expected = probe.positions(range(8))
        np.testing.assert_allclose(table[["rel_x", "rel_y"]].to_numpy(), expected)
        np.testing.assert_allclose(table[["x", "y"]].to_numpy(), expected)
        assert list(table["channel_name"]) == [str(k) for k in range(8)]
        assert set(table["group_name"]) == {"group 0"}
    with NWBFile(str(out)) as back:
        np.testing.assert_allclose(back.channel_positions(), expected)


def test_events_and_annotations_round_trip(tmp_path):
    recording = tmp_path / "Record Node 101" / "experiment1" / "recording1"
    oebin = write_binary_recording(recording, [oe_events.binary_stream(5000, 1000)])
    oe_events.write_binary_events(recording, "Neuropix-PXI-100.ProbeA", [1100, 1150, 1200, 1400, 1450, 2000],
                                  [1, -1, 3, 1, -1, -3], 30000.0, "ProbeA-AP")
    oe_events.write_message_center(recording, [1000, 3000], ["start", "stim on"], 30000.0, "ProbeA-AP")
    source = open_datafile(str(oebin))
    events = source.get_events()
    assert len(events) == 5
    out = tmp_path / "oe.nwb"
    notes = [Interval(10, 500, "artifact", "cable"), Interval(4000, None, "spike?", "")]
    convert_to_nwb(source, ConvertSpec(str(out), to_format="nwb", write_params=False, out_settings=SUBJECT),
                   annotations=notes)
    assert pynwb.validate(path=str(out)) == []
    assert _critical(out) == []
    io = pynwb.NWBHDF5IO(str(out), "r")
    with io:
        intervals = io.read().intervals
        assert set(intervals) == {"TTL 1", "TTL 3", "messages", "annotations"}
        marks = intervals["annotations"].to_dataframe()
        assert list(marks["label"]) == ["artifact", "spike?"] and list(marks["note"]) == ["cable", ""]
        np.testing.assert_allclose(marks["start_time"], np.array([10, 4000]) / 30000.0 + source.t_start / 30000.0)
    with NWBFile(str(out)) as back:
        read = back.get_events()
    expected = sorted((int(e["sample"]), int(e["duration"]), e["channel"], e["label"]) for e in events)
    expected += [(10, 490, "annotations", "artifact"), (4000, 0, "annotations", "spike?")]
    assert sorted((int(e["sample"]), int(e["duration"]), e["channel"], e["label"]) for e in read) == sorted(expected)


# -- refusals and safety --------------------------------------------------------------------------
def test_a_gapped_recording_is_refused_with_a_clear_message(tmp_path):
    folder = tmp_path / "2024-01-01_10-00-00"
    write_legacy_recording(folder, synthetic_int16(4 * 1024, 2), timestamps=[1000, 2024, 9000, 10024])
    source = open_datafile(str(folder), stream_mode="segments")
    out = tmp_path / "gapped.nwb"
    with pytest.raises(ConvertError, match="gap") as error:
        convert_to_nwb(source, ConvertSpec(str(out), to_format="nwb"))
    assert "one at a time" in str(error.value)
    assert not out.exists() and not _leftovers(tmp_path)


def test_a_cancel_mid_write_leaves_no_output(tmp_path):
    data = synthetic_int16(200000, 16)
    source = _raw(tmp_path / "rec.dat", data)
    out = tmp_path / "cut.nwb"
    seen = []

    def progress(done, total, elapsed):
        seen.append(done)
        assert _leftovers(tmp_path)                       # the partial is being written
        if done == 2:
            os.kill(os.getpid(), signal.SIGINT)            # what Ctrl-C does to the command

    with pytest.raises(ConversionCancelled):
        convert_to_nwb(source, ConvertSpec(str(out), to_format="nwb", chunk_seconds=0.5), progress)
    assert seen[:2] == [1, 2] and seen[-1] < 13
    assert not out.exists() and not _leftovers(tmp_path) and not (tmp_path / "cut.params").exists()


def test_an_existing_output_is_kept_without_force(tmp_path):
    source = _raw(tmp_path / "rec.dat", synthetic_int16(1000, 2))
    out = tmp_path / "keep.nwb"
    out.write_bytes(b"precious")
    with pytest.raises(ConvertError, match="--force"):
        convert_to_nwb(source, ConvertSpec(str(out), to_format="nwb"))
    assert out.read_bytes() == b"precious"


def test_unknown_metadata_key_and_bad_start_time(tmp_path):
    source = _raw(tmp_path / "rec.dat", synthetic_int16(1000, 2))
    with pytest.raises(ConvertError, match="session_description"):
        convert_to_nwb(source, ConvertSpec(str(tmp_path / "a.nwb"), to_format="nwb", out_settings={"h5_key": "x"}))
    with pytest.raises(ConvertError, match="ISO 8601"):
        convert_to_nwb(source, ConvertSpec(str(tmp_path / "b.nwb"), to_format="nwb",
                                           out_settings={"session_start_time": "yesterday"}))


def test_missing_pynwb_is_a_clear_error(tmp_path, monkeypatch):
    source = _raw(tmp_path / "rec.dat", synthetic_int16(1000, 2))
    monkeypatch.setitem(sys.modules, "pynwb", None)            # what an environment without it imports
    with pytest.raises(ConvertError, match=r"pip install 'wavescope\[nwb\]'"):
        convert(source, ConvertSpec(str(tmp_path / "x.nwb"), to_format="nwb"))
    assert not (tmp_path / "x.nwb").exists()


# -- the command ----------------------------------------------------------------------------------
def test_cli_infers_nwb_from_the_extension_with_metadata_and_annotations(tmp_path):
    data = synthetic_int16(8000, 4)
    src = tmp_path / "rec.dat"
    data.tofile(src)
    sidecar = {"schema_version": 1, "recording": "rec.dat", "sampling_rate": RATE,
               "annotations": [{"id": "a1", "start": 100, "stop": 300, "label": "noise", "note": "fan"}]}
    (tmp_path / "rec.dat.annotations.json").write_text(json.dumps(sidecar))
    out = tmp_path / "out.nwb"
    done = subprocess.run(
        [sys.executable, "-m", "app", "convert", str(src), "--format", "raw_binary", "--set", "nb_channels=4",
         "--set", "data_dtype=int16", "--set", f"sampling_rate={RATE:g}", "--set", f"gain={GAIN}", "-o", str(out),
         "--out-set", "session_description=mouse 3, day 2", "--out-set", "session_start_time=2024-05-01T10:30:00+02:00",
         "--out-set", "experimenter=Ada; Grace"],
        check=False, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with h5py.File(out, "r") as handle:
        assert handle["acquisition/ElectricalSeries/data"].dtype == np.int16
    io = pynwb.NWBHDF5IO(str(out), "r")
    with io:
        nwbfile = io.read()
        assert nwbfile.session_description == "mouse 3, day 2"
        assert nwbfile.session_start_time.isoformat() == "2024-05-01T10:30:00+02:00"
        assert list(nwbfile.experimenter) == ["Ada", "Grace"]
        assert list(nwbfile.intervals["annotations"]["label"][:]) == ["noise"]
        np.testing.assert_array_equal(nwbfile.acquisition["ElectricalSeries"].data[:], data)
    reopened = open_datafile(str(tmp_path / "out.params"))      # the params written beside it
    assert reopened.description == "nwb" and reopened.duration == 8000


def test_gzip_compression_keeps_every_sample(tmp_path):
    data = synthetic_int16(30000, 4, seed=7)
    source = _raw(tmp_path / "rec.dat", data)
    out = tmp_path / "small.nwb"
    convert_to_nwb(source, ConvertSpec(str(out), to_format="nwb", write_params=False,
                                       out_settings={"compression": "gzip", "compression_level": "6"}))
    with h5py.File(out, "r") as handle:
        dataset = handle["acquisition/ElectricalSeries/data"]
        assert dataset.compression == "gzip" and dataset.compression_opts == 6
        assert dataset.chunks[1] == 4
        np.testing.assert_array_equal(dataset[()], data)
    assert pynwb.validate(path=str(out)) == []


def test_under_mpiexec_every_rank_refuses_and_one_says_why(tmp_path):
    import importlib.util

    from app.model.jobs import mpiexec_path
    if importlib.util.find_spec("mpi4py") is None or not os.path.exists(mpiexec_path()):
        pytest.skip("needs mpi4py and mpiexec")
    src = tmp_path / "rec.dat"
    synthetic_int16(2000, 2).tofile(src)
    out = tmp_path / "mpi.nwb"
    done = subprocess.run(
        [mpiexec_path(), "-n", "2", sys.executable, "-m", "app", "convert", str(src), "--format", "raw_binary",
         "--set", "nb_channels=2", "--set", "data_dtype=int16", "--set", "sampling_rate=20000", "-o", str(out)],
        check=False, cwd=REPO, capture_output=True, text=True, timeout=90)
    assert done.returncode == 1
    assert done.stderr.count("written by one process; run the conversion without mpiexec") == 1
    assert not out.exists() and not _leftovers(tmp_path)


def test_nwb_to_nwb_keeps_header_positions_samples_and_events(tmp_path):
    """An NWB input: its electrodes' positions come from its header, its tables come back as events."""
    data = synthetic_int16(5000, 8)
    source = _raw(tmp_path / "rec.dat", data)
    write_probe(linear_probe(8, pitch=30.0), tmp_path / "probe.prb")
    (tmp_path / "rec.params").write_text(f"[data]\nmapping = {tmp_path / 'probe.prb'}\n")
    first = tmp_path / "first.nwb"
    convert_to_nwb(source, ConvertSpec(str(first), to_format="nwb", write_params=False),
                   annotations=[Interval(100, 200, "a", "")])
    again = tmp_path / "again.nwb"
    nwb_source = open_datafile(str(first))
    convert_to_nwb(nwb_source, ConvertSpec(str(again), to_format="nwb", write_params=False, channels=[7, 3]))
    assert pynwb.validate(path=str(again)) == []
    with NWBFile(str(again)) as back:
        np.testing.assert_allclose(back.channel_positions(), linear_probe(8, pitch=30.0).positions([7, 3]))
        np.testing.assert_array_equal(back.read_range(0, 5000), nwb_source.read_range(0, 5000, [7, 3]))
        assert [(int(e["sample"]), e["channel"], e["label"]) for e in back.get_events()] == [
            (100, "annotations events", "a")]
