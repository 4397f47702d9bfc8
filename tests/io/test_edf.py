import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from app.io import DataFileError, HeaderError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from tests.io.writers_more2 import write_edf

pyedflib = pytest.importorskip("pyedflib")
from pyedflib import highlevel

SHIPPED = Path(pyedflib.__file__).parent / "tests" / "data"


def two_rate_signals(seconds: int = 4, seed: int = 0):
    """Four 256 Hz channels in µV and mV, two 128 Hz channels: digital values and headers."""
    rng = np.random.default_rng(seed)
    headers, digital = [], []
    for k in range(6):
        rate = 256 if k < 4 else 128
        unit = "mV" if k == 3 else "uV"
        headers.append(highlevel.make_signal_header(f"ch{k}", unit, rate, -400.0 - k, 300.0 + 10 * k,
                                                    -32768, 32767))
        digital.append(rng.integers(-30000, 30000, seconds * rate).astype(np.int32))
    return headers, digital


def expected_physical(headers, digital, channels) -> np.ndarray:
    columns = []
    for k in channels:
        h = headers[k]
        gain = (h["physical_max"] - h["physical_min"]) / (h["digital_max"] - h["digital_min"])
        values = h["physical_min"] + (digital[k] - h["digital_min"]) * gain
        columns.append(values * (1000.0 if h["dimension"] == "mV" else 1.0))
    return np.stack(columns, axis=1)


@pytest.fixture
def pyedf_file(tmp_path):
    headers, digital = two_rate_signals()
    path = str(tmp_path / "rec.edf")
    header = highlevel.make_header(technician="t")
    header["annotations"] = [[0.5, 0.25, "stim"], [2.0, -1, "lights off"], [3.75, 0, "end"]]
    highlevel.write_edf(path, digital, headers, header, digital=True, file_type=pyedflib.FILETYPE_EDFPLUS)
    return path, headers, digital


def test_streams_by_rate_with_gains(pyedf_file):
    path, headers, digital = pyedf_file
    df = open_datafile(path)
    assert df.description == "edf" and df.shape == (1024, 4) and df.sampling_rate == 256.0
    assert df.data_dtype == "int16" and df.channel_names == ["ch0", "ch1", "ch2", "ch3"]
    expected = expected_physical(headers, digital, range(4))
    np.testing.assert_allclose(df.read_range(0, 1024), expected, rtol=2e-6, atol=1e-4)
    np.testing.assert_allclose(df.read_range(300, 700, nodes=[3, 0]), expected[300:700][:, [3, 0]],
                               rtol=2e-6, atol=1e-4)
    slow = open_datafile(path, {"stream_index": 1})
    assert slow.shape == (512, 2) and slow.sampling_rate == 128.0
    np.testing.assert_allclose(slow.read_range(0, 512), expected_physical(headers, digital, [4, 5]),
                               rtol=2e-6, atol=1e-4)
    with pytest.raises(HeaderError, match="stream_index 2 does not exist.*128 Hz"):
        open_datafile(path, {"stream_index": 2})


def test_same_digital_values_as_pyedflib_and_neo(pyedf_file):
    """neo reads the same digital values; its gain divides by dmax - dmin + 1 where the EDF
    specification (and we) divide by dmax - dmin."""
    path, headers, _ = pyedf_file
    neo_rawio = pytest.importorskip("neo.rawio")
    reader = neo_rawio.EDFRawIO(filename=path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader.parse_header()
    groups = [[0, 1, 2, 3], [4, 5]]
    neo_raw = [reader.get_analogsignal_chunk(0, 0, None, None, stream_index=k) for k in range(2)]
    neo_gains = [reader.header["signal_channels"]["gain"][g] for g in groups]
    edf = pyedflib.EdfReader(path)          # pyedflib opens a file once at a time: after neo
    try:
        for stream_index, channels in enumerate(groups):
            df = open_datafile(path, {"stream_index": stream_index}, "edf")
            ours = df.read_range(0, df.duration)
            for column, k in enumerate(channels):
                np.testing.assert_array_equal(neo_raw[stream_index][:, column], edf.readSignal(k, digital=True))
                raw = ours[:, column] / df.channel_gains[column] + df.channel_offsets[column]
                np.testing.assert_allclose(raw, neo_raw[stream_index][:, column], atol=0.02)
                np.testing.assert_allclose(ours[:, column] / (1000.0 if k == 3 else 1.0), edf.readSignal(k),
                                           rtol=1e-5, atol=1e-4)
            spans = np.array([(headers[k]["physical_max"] - headers[k]["physical_min"]) for k in channels])
            np.testing.assert_allclose(neo_gains[stream_index], spans / 65536)
            to_native = np.array([1000.0 if k == 3 else 1.0 for k in channels])
            np.testing.assert_allclose(df.channel_gains / to_native, spans / 65535)
    finally:
        edf.close()


def test_annotations_are_events(pyedf_file):
    path, _, _ = pyedf_file
    df = open_datafile(path)
    events = df.get_events()
    assert events.dtype.names == ("sample", "duration", "channel", "label")
    assert events["label"].tolist() == ["stim", "lights off", "end"]
    assert events["sample"].tolist() == [128, 512, 960]
    assert events["duration"].tolist() == [64, 0, 0]
    assert set(events["channel"]) == {"EDF Annotations"}
    assert df.get_events(200, 961)["label"].tolist() == ["lights off", "end"]
    slow = open_datafile(path, {"stream_index": 1})
    assert slow.get_events()["sample"].tolist() == [64, 256, 480]


@pytest.mark.parametrize("name", ["test_generator.edf", "test_generator.bdf", "test_subsecond.edf",
                                  "test_legacy.edf", "test_generator_datarec_generator_0_5.bdf"])
def test_files_shipped_with_pyedflib(name):
    path = str(SHIPPED / name)
    edf = pyedflib.EdfReader(path)
    try:
        rates = edf.getSampleFrequencies()
        df = open_datafile(path)
        stream = 0
        groups = df.rate_groups()
        for stream, group in enumerate(groups):
            df = open_datafile(path, {"stream_index": stream}, "edf")
            assert df.sampling_rate == pytest.approx(rates[group[0]])
            n = min(df.duration, 5000)
            start = df.duration - n
            ours = df.read_range(start, df.duration)
            for column, k in enumerate(group):
                digital = edf.readSignal(k, start, n, digital=True)
                physical = edf.readSignal(k, start, n)
                offsets = df.channel_offsets
                gains = df.channel_gains
                np.testing.assert_allclose(ours[:, column] / gains[column] + offsets[column], digital, atol=1e-3)
                np.testing.assert_allclose(ours[:, column], physical * (gains[column] / _native_gain(edf, k)),
                                           rtol=1e-5, atol=1e-3 * abs(gains[column]))
        # test_legacy.edf is plain EDF yet keeps an "EDF Annotations" signal: pyedflib reads it as
        # samples, we go by the label (the EDF+ rule) and leave it out of the streams
        data = [n for n, label in zip(edf.getNSamples(), edf.getSignalLabels()) if label != "EDF Annotations"]
        assert stream + 1 == len(set(data))
    finally:
        edf.close()


def _native_gain(edf, k) -> float:
    return ((edf.getPhysicalMaximum(k) - edf.getPhysicalMinimum(k))
            / (edf.getDigitalMaximum(k) - edf.getDigitalMinimum(k)))


def test_bdf_written_by_pyedflib(tmp_path):
    rng = np.random.default_rng(4)
    headers = [highlevel.make_signal_header(f"e{k}", "uV", 512, -262144.0, 262143.0, -8388608, 8388607)
               for k in range(3)]
    # within +-200000 counts (+-6 mV): float32 still resolves one count there
    digital = [rng.integers(-200_000, 200_000, 512 * 3).astype(np.int32) for _ in range(3)]
    path = str(tmp_path / "rec.bdf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # pyedflib notes it shortens -262144.0 to 8 characters
        highlevel.write_edf(path, digital, headers, digital=True, file_type=pyedflib.FILETYPE_BDFPLUS)
    df = open_datafile(path)
    assert df.data_dtype == "int32" and df.shape == (1536, 3)
    raw = df.read_range(0, 1536) / df.channel_gains + df.channel_offsets
    np.testing.assert_allclose(raw, np.stack(digital, axis=1), atol=0.6)
    expected = expected_physical(headers, digital, range(3))
    assert_conforms(path, "edf", {}, None, expected=expected.astype(np.float32), scratch_dir=str(tmp_path))


def signals_for_writer(n_per_record: int, records: int, channels: int = 3, seed: int = 1) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"label": f"EEG {k}", "unit": "uV", "pmin": -3276.8, "pmax": 3276.7, "dmin": -32768, "dmax": 32767,
             "digital": rng.integers(-32768, 32767, n_per_record * records)} for k in range(channels)]


def writer_physical(signals) -> np.ndarray:
    return np.stack([s["pmin"] + (s["digital"] - s["dmin"]) * (s["pmax"] - s["pmin"]) / (s["dmax"] - s["dmin"])
                     for s in signals], axis=1)


def test_conformance_edf_plus_c(tmp_path):
    signals = signals_for_writer(100, 60)
    path = write_edf(tmp_path / "c.edf", signals, 0.5, 60, variant="EDF+C")
    df = open_datafile(str(path))
    assert df.dtype_offset == 0 and df.gain == pytest.approx(0.1)
    assert_conforms(str(path), "edf", {}, None, expected=writer_physical(signals).astype(np.float32),
                    scratch_dir=str(tmp_path))


def test_edf_plus_d_records_with_gaps_are_segments(tmp_path):
    signals = signals_for_writer(50, 6)
    onsets = [10.0, 10.5, 11.0, 20.0, 20.5, 30.25]
    notes = [(10.2, None, "a"), (20.6, 0.1, "b"), (30.25, None, "c"), (15.0, None, "in a gap")]
    path = write_edf(tmp_path / "d.edf", signals, 0.5, 6, variant="EDF+D", record_onsets=onsets, annotations=notes)
    df = open_datafile(str(path), {}, "edf", "segments")
    assert df.nb_streams == 3 and [s.duration for s in df.streams] == [150, 100, 50]
    assert [s.t_start for s in df.streams] == [1000, 2000, 3025]
    expected = writer_physical(signals)
    np.testing.assert_allclose(df.read_range(0, 300), expected, rtol=1e-6, atol=1e-3)
    events = df.get_events()
    assert events["label"].tolist() == ["a", "b", "c"]
    assert events["sample"].tolist() == [20, 150 + 60, 250]
    assert events["duration"].tolist() == [0, 10, 0]
    single = open_datafile(str(path), {"segment_index": 1}, "edf")
    assert single.shape == (100, 3) and single.get_events()["label"].tolist() == ["b"]
    assert single.get_description()["nb_segments"] == 3
    assert_conforms(str(path), "edf", {}, "segments", expected=expected.astype(np.float32),
                    scratch_dir=str(tmp_path))


def test_bdf_plus_d_and_two_rates(tmp_path):
    rng = np.random.default_rng(2)
    signals = [{"label": "fast", "unit": "mV", "pmin": -100.0, "pmax": 100.0, "dmin": -8388608, "dmax": 8388607,
                "digital": rng.integers(-8388608, 8388607, 40 * 4)},
               {"label": "slow", "unit": "uV", "pmin": -50.0, "pmax": 50.0, "dmin": -1000, "dmax": 1000,
                "digital": rng.integers(-1000, 1000, 10 * 4)}]
    path = write_edf(tmp_path / "d.bdf", signals, 1.0, 4, bdf=True, variant="BDF+D", record_onsets=[0, 1, 5, 6])
    fast = open_datafile(str(path), {}, "edf", "segments")
    slow = open_datafile(str(path), {"stream_index": 1}, "edf", "segments")
    assert [s.duration for s in fast.streams] == [80, 80] and [s.t_start for s in slow.streams] == [0, 50]
    np.testing.assert_allclose(fast.read_range(0, 160)[:, 0], writer_physical(signals[:1])[:, 0] * 1000,
                               rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(slow.read_range(0, 40)[:, 0], writer_physical(signals[1:])[:, 0], rtol=1e-6)


def test_record_count_unknown_and_truncated(tmp_path):
    signals = signals_for_writer(10, 20)
    path = write_edf(tmp_path / "u.edf", signals, 0.1, 20, declared_records=-1)
    assert open_datafile(str(path)).shape == (200, 3)
    assert len(open_datafile(str(path)).get_events()) == 0          # plain EDF: no annotation signal
    os.truncate(path, os.path.getsize(path) - 25)
    assert open_datafile(str(path)).shape == (190, 3)


def test_sniffed_by_content(tmp_path):
    path = write_edf(tmp_path / "recording.dat", signals_for_writer(10, 3), 1.0, 3)
    assert guess_format(str(path)) == "edf"


def _poke(path, offset: int, data: bytes):
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


NS = 3 + 1   # three signals and the annotation signal


@pytest.mark.parametrize("damage, words", [
    (lambda p: _poke(p, 0, b"1"), "not '0' (EDF)"),
    (lambda p: _poke(p, 252, b"x   "), "number of signals"),
    (lambda p: _poke(p, 252, b"0   "), "number of signals is 0"),
    (lambda p: _poke(p, 184, b"999     "), "header bytes is 999"),
    (lambda p: _poke(p, 236, b"-7      "), "number of data records is -7"),
    (lambda p: _poke(p, 244, b"abc     "), "duration of a data record"),
    (lambda p: _poke(p, 244, b"0       "), "must be positive"),
    (lambda p: _poke(p, 256 + NS * 112 + 8, b"zz      "), "physical_max of signal 1"),
    (lambda p: _poke(p, 256 + NS * 120, b"40000   "), "digital range 40000"),
    (lambda p: _poke(p, 256 + NS * 216 + 16, b"0       "), "samples per record of signal 2"),
    (lambda p: _poke(p, 256 * (NS + 1) + 60, b"x" * 10), "no time-keeping annotation"),
    (lambda p: os.truncate(p, 100), "256-byte main header"),
    (lambda p: os.truncate(p, 600), "signal headers"),
    (lambda p: os.truncate(p, 256 * (NS + 1) + 10), "no complete data record"),
])
def test_damaged_header_names_file_and_fault(tmp_path, damage, words):
    path = write_edf(tmp_path / "bad.edf", signals_for_writer(10, 4), 1.0, 4, variant="EDF+C")
    damage(path)
    with pytest.raises(HeaderError) as caught:
        open_datafile(str(path), {}, "edf")
    assert "bad.edf" in str(caught.value) and words in str(caught.value)


def test_random_bit_flips_in_the_header_raise_typed_errors(tmp_path):
    original = write_edf(tmp_path / "src.edf", signals_for_writer(10, 4), 1.0, 4, variant="EDF+C").read_bytes()
    rng = np.random.default_rng(7)
    header_bytes = 256 * (NS + 1)
    for trial in range(150):
        damaged = bytearray(original)
        for _ in range(3):
            position = int(rng.integers(0, header_bytes))
            damaged[position] ^= 1 << int(rng.integers(0, 8))
        path = tmp_path / f"flip{trial}.edf"
        path.write_bytes(bytes(damaged))
        try:
            df = open_datafile(str(path), {}, "edf")
            df.read_range(0, df.duration)
            df.get_events()
        except DataFileError:
            pass


def test_large_sparse_file_opens_without_reading(tmp_path):
    signals = signals_for_writer(1000, 1, channels=16)
    path = write_edf(tmp_path / "big.edf", signals, 1.0, 1, declared_records=-1)
    record = 16 * 1000 * 2
    with open(path, "r+b") as handle:
        handle.truncate(256 * 17 + record * 100_000)        # sparse: ~3 GB of data records
    df = open_datafile(str(path))
    assert df.shape == (100_000_000, 16)
    middle = df.read_range(50_000_000 - 500, 50_000_000 + 500, nodes=[15, 2])
    assert middle.shape == (1000, 2)
    assert not middle.any()


def test_annotation_at_the_recording_end_is_kept_on_the_last_sample(tmp_path):
    """pyedflib writes "Recording ends" at the duration, one past the last sample: it stays, on it."""
    path = str(tmp_path / "ends.edf")
    writer = pyedflib.EdfWriter(path, 2, file_type=pyedflib.FILETYPE_EDFPLUS)
    writer.setSignalHeaders([highlevel.make_signal_header(f"ch{k}", "uV", 256, -100.0, 100.0, -32768, 32767)
                             for k in range(2)])
    writer.writeSamples([np.zeros(2560), np.zeros(2560)])
    writer.writeAnnotation(1.0, -1, "start")
    writer.writeAnnotation(2559 / 256, -1, "last sample")
    writer.writeAnnotation(10.0, -1, "Recording ends")
    writer.writeAnnotation(12.0, -1, "after the end")
    writer.close()
    datafile = open_datafile(path, {}, None, None)
    assert datafile.duration == 2560
    events = datafile.get_events()
    assert [(int(e["sample"]), str(e["label"])) for e in events] == \
        [(256, "start"), (2559, "last sample"), (2559, "Recording ends")]
