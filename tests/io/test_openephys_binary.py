import logging

import numpy as np
import pytest

from app.io import DataFileError, HeaderError, guess_format, open_datafile
from app.io.conformance import assert_conforms
from tests.conftest import synthetic_int16
from tests.io.writers_ephys import write_binary_recording

AP = "Neuropix-PXI-100.ProbeA-AP"
ADC = "Acquisition_Board-101.Rhythm Data"
BIT_VOLTS = [0.195] * 5 + [0.000152587890625]          # as written: µV per bit, then V per bit (ADC)
GAINS_UV = np.array([0.195] * 5 + [152.587890625])       # what the reader gives: all µV per bit


def node(tmp_path):
    return tmp_path / "Record Node 101" / "experiment1"


def streams(n: int, first_sample: int, seed: int = 0) -> list[dict]:
    return [
        {"folder": AP, "data": synthetic_int16(n, 4, seed), "bit_volts": [0.195] * 4,
         "sample_rate": 30000.0, "first_sample": first_sample},
        {"folder": ADC, "data": synthetic_int16(n // 2, 6, seed + 1), "bit_volts": BIT_VOLTS,
         "sample_rate": 15000.0, "first_sample": first_sample // 2,
         "names": [f"CH{c}" for c in range(1, 6)] + ["ADC1"], "units": ["uV"] * 5 + ["V"]},
    ]


@pytest.fixture
def recording(tmp_path):
    parts = streams(3000, 4500)
    oebin = write_binary_recording(node(tmp_path) / "recording1", parts)
    return oebin, parts


def test_reads_first_stream_with_t_start_from_sample_numbers(recording):
    oebin, parts = recording
    with open_datafile(str(oebin), {}, "openephys_binary") as df:
        assert df.shape == (3000, 4) and df.sampling_rate == 30000.0
        assert df.stream_name == AP and df.gain == 0.195 and df.data_dtype == "int16"
        assert df.t_start == 4500 and df.t_stop == 7500
        out = df.read_range(2000, 2100, nodes=[3, 1])
    np.testing.assert_array_equal(out, (parts[0]["data"][2000:2100][:, [3, 1]] * np.float32(0.195)))


@pytest.mark.parametrize("given", ["oebin", "dat", "recording", "node"])
def test_every_entry_point_finds_the_recording(recording, tmp_path, given):
    oebin, _ = recording
    path = {"oebin": oebin, "recording": oebin.parent, "node": tmp_path / "Record Node 101",
            "dat": oebin.parent / "continuous" / ADC / "continuous.dat"}[given]
    df = open_datafile(str(path), {}, "openephys_binary")
    assert df.stream_name == (ADC if given == "dat" else AP)
    assert guess_format(str(path)) == "openephys_binary"


def test_stream_by_name_or_index_and_per_channel_gains(recording):
    oebin, parts = recording
    by_index = open_datafile(str(oebin), {"stream_name": "1"}, "openephys_binary")
    by_name = open_datafile(str(oebin), {"stream_name": ADC}, "openephys_binary")
    for df in (by_index, by_name):
        assert df.stream_name == ADC and df.shape == (1500, 6) and df.sampling_rate == 15000.0
        assert df.gain == 0.195 and df.t_start == 2250
        np.testing.assert_allclose(df.channel_gains, GAINS_UV, rtol=1e-12)
    np.testing.assert_allclose(by_name.read_range(0, 1500),
                               (parts[1]["data"] * GAINS_UV).astype(np.float32), rtol=1e-6)
    with pytest.raises(HeaderError, match="stream_name"):
        open_datafile(str(oebin), {"stream_name": "Nope"}, "openephys_binary")


@pytest.mark.parametrize("stream", [0, 1])
def test_conformance(recording, tmp_path, stream):
    oebin, parts = recording
    expected = parts[stream]["data"] * (GAINS_UV if stream else np.array(parts[stream]["bit_volts"]))
    assert_conforms(str(oebin), "openephys_binary", {"stream_name": stream}, None, expected=expected,
                    scratch_dir=str(tmp_path))


def test_old_format_timestamps_are_sample_numbers(tmp_path):
    parts = streams(1200, 777)
    oebin = write_binary_recording(node(tmp_path) / "recording1", parts, version="0.5.3")
    assert not (oebin.parent / "continuous" / AP / "sample_numbers.npy").exists()
    df = open_datafile(str(oebin), {}, "openephys_binary")
    assert df.t_start == 777


def test_recordings_stream_mode(tmp_path):
    lengths, starts = (2000, 1300, 900), (0, 5000, 9000)
    all_parts = []
    for k, (n, start) in enumerate(zip(lengths, starts)):
        parts = streams(n, start, seed=k)
        write_binary_recording(node(tmp_path) / f"recording{k + 1}", parts)
        all_parts.append(parts[0]["data"])
    oebin = node(tmp_path) / "recording2" / "structure.oebin"
    df = open_datafile(str(oebin), {}, "openephys_binary", "recordings")
    assert df.nb_streams == 3 and df.duration == 4200
    assert [s.t_start for s in df.streams] == list(starts)
    whole = np.concatenate(all_parts) * 0.195
    np.testing.assert_allclose(df.read_range(1900, 2100), whole[1900:2100].astype(np.float32), rtol=1e-6)
    assert_conforms(str(oebin), "openephys_binary", {}, "recordings", expected=whole,
                    scratch_dir=str(tmp_path))


def test_cut_dat_reads_whole_frames_with_warning(recording, caplog):
    oebin, _ = recording
    dat = oebin.parent / "continuous" / AP / "continuous.dat"
    with open(dat, "r+b") as handle:
        handle.truncate(8 * 1000 + 3)
    with caplog.at_level(logging.WARNING, logger="wavescope"):
        df = open_datafile(str(oebin), {}, "openephys_binary")
    assert df.duration == 1000 and str(dat) in caplog.text


@pytest.mark.parametrize("damage, field", [
    (lambda text: text[: len(text) // 2], "JSON"),                                   # cut
    (lambda text: text.replace('"num_channels": 4', '"num_channels": 5'), "num_channels"),  # 4 -> 5
    (lambda text: text.replace('"sample_rate": 30000.0', '"sample_rate": 3000p.0'), "JSON"),  # '0' -> 'p'
    (lambda text: text.replace('"bit_volts"', '"bit_wolts"', 1), "bit_volts"),        # 'v' -> 'w'
])
def test_damaged_oebin_is_a_header_error(recording, damage, field):
    oebin, _ = recording
    oebin.write_text(damage(oebin.read_text()))
    with pytest.raises(DataFileError) as caught:
        open_datafile(str(oebin), {}, "openephys_binary")
    assert str(oebin) in str(caught.value) and field in str(caught.value)


def test_neo_reads_the_same_samples_and_gains(recording, tmp_path):
    """neo splits the ADC channel of a stream into its own stream; the samples and bit_volts agree."""
    neo_rawio = pytest.importorskip("neo.rawio")
    oebin, parts = recording
    reader = neo_rawio.OpenEphysBinaryRawIO(dirname=str(tmp_path / "Record Node 101"))
    reader.parse_header()
    names = list(reader.header["signal_streams"]["name"])
    for k, part in enumerate(parts):
        ours = open_datafile(str(oebin), {"stream_name": k}, "openephys_binary")
        index = names.index(f"Record Node 101#{part['folder']}")
        stream_id = reader.header["signal_streams"]["id"][index]
        raw = reader.get_analogsignal_chunk(0, 0, None, None, stream_index=index)
        width = raw.shape[1]
        np.testing.assert_array_equal(raw, part["data"][:, :width])
        channels = reader.header["signal_channels"]
        np.testing.assert_array_equal(channels[channels["stream_id"] == stream_id]["gain"],
                                      ours.channel_gains[:width])
        assert reader.get_signal_t_start(0, 0, index) == pytest.approx(ours.t_start / ours.sampling_rate)
