"""The params wizard's logic, without Qt: real files, real readers, the real writer."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.signal

from app.io import open_datafile
from app.io.params import ParamsFile, datafile_settings
from app.io.probe import read_probe
from app.model import wizard
from tests.conftest import synthetic_int16
from tests.io.writers_binary import write_rhd
from tests.io.writers_ephys import np1_meta, write_binary_recording, write_spikeglx

RATE = 30000.0


def smooth_signal(n_samples: int, n_channels: int, seed: int = 3) -> np.ndarray:
    """Band-limited noise plus a slow wave per channel (µV): what an amplifier records."""
    rng = np.random.default_rng(seed)
    sos = scipy.signal.butter(4, 6000, fs=RATE, output="sos")
    noise = scipy.signal.sosfilt(sos, rng.standard_normal((n_samples, n_channels)), axis=0) * 20
    t = np.arange(n_samples) / RATE
    return noise + 60 * np.sin(2 * np.pi * 7 * t)[:, None] * rng.uniform(0.5, 1.5, n_channels)


def write_headerless(folder: Path, n_channels: int = 12, n_samples: int = 12000,
                     dtype: str = "int16") -> tuple[Path, np.ndarray]:
    """Interleaved samples, no header: (t * n_channels + c) * itemsize."""
    signal = smooth_signal(n_samples, n_channels)
    if dtype == "float32":
        raw = signal.astype(np.float32)
    else:
        raw = (np.rint(signal / 0.195) + (32768 if dtype == "uint16" else 0)).astype(dtype)
    path = folder / "headerless.dat"
    with open(path, "wb") as handle:
        handle.writelines(row.astype(np.dtype(dtype).newbyteorder("<")).tobytes() for row in raw)
    return path, raw


def write_spikeglx_file(folder: Path, n_electrodes: int = 4, n_samples: int = 3000) -> tuple[Path, np.ndarray]:
    data = synthetic_int16(n_samples, n_electrodes + 1)
    path = write_spikeglx(folder / "run_g0_t0.imec0.ap.bin", data,
                          np1_meta(n_electrodes, [500] * n_electrodes, [250] * n_electrodes))
    return path, data


def write_hdf5_file(folder: Path, n_channels: int = 6, n_samples: int = 4000,
                    two_datasets: bool = True) -> tuple[Path, np.ndarray]:
    data = synthetic_int16(n_samples, n_channels)
    path = folder / "rec.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("acquisition/raw", data=data)
        handle.create_dataset("meta/notes", data=np.arange(3))
        if two_datasets:        # then the key is the user's choice (one 2-D dataset is the default key)
            handle.create_dataset("processed/lfp", data=synthetic_int16(n_samples // 10, n_channels))
    return path, data


def write_openephys_recordings(folder: Path) -> Path:
    node = folder / "Record Node 101" / "experiment1"
    for k, (n, start) in enumerate(zip((2000, 1300), (0, 5000))):
        write_binary_recording(node / f"recording{k + 1}", [
            {"folder": "Neuropix-PXI-100.ProbeA-AP", "data": synthetic_int16(n, 4, k), "bit_volts": [0.195] * 4,
             "sample_rate": RATE, "first_sample": start}])
    return node / "recording1" / "structure.oebin"


# -- formats and streams ----------------------------------------------------------------------------

def test_candidates_rank_the_real_format_first_with_reasons(tmp_path):
    path, _ = write_spikeglx_file(tmp_path)
    ranked = wizard.format_candidates(str(path))
    assert ranked[0].name == "spikeglx" and ranked[0].reason
    assert "spikeglx" in wizard.format_titles() and "raw_binary" in wizard.format_titles()


def test_stream_modes_and_the_segments_they_produce(tmp_path):
    oebin = write_openephys_recordings(tmp_path)
    assert wizard.offers_stream_choice("openephys_binary")
    assert not wizard.offers_stream_choice("raw_binary")
    assert wizard.stream_modes("openephys_binary") == ["None", "multi-files", "recordings"]
    single = wizard.validate(str(oebin), "openephys_binary", {}, "None")
    assert single.ok and [s.duration for s in single.segments] == [2000]
    both = wizard.validate(str(oebin), "openephys_binary", {}, "recordings")
    assert both.ok and [(s.t_start, s.duration) for s in both.segments] == [(0, 2000), (5000, 1300)]
    assert both.segments[1].file.endswith("structure.oebin") and both.shape == (3300, 4)
    assert "in 2 segments" in both.summary()


# -- fields -----------------------------------------------------------------------------------------

def test_raw_binary_asks_exactly_rate_dtype_and_channels(tmp_path):
    path, _ = write_headerless(tmp_path)
    result = wizard.validate(str(path), "raw_binary", {})
    assert not result.ok and result.missing == {"data_dtype": "string", "sampling_rate": "float",
                                                "nb_channels": "int"}
    assert "sampling_rate" in result.error and result.header == {}
    assert wizard.fields_to_ask("raw_binary", result) == {"data_dtype": "string", "sampling_rate": "float",
                                                         "nb_channels": "int"}
    assert wizard.advanced_fields("raw_binary", result.missing) == {"data_offset": 0, "dtype_offset": "auto",
                                                                     "gain": 1.0}


def test_raw_binary_validates_to_shape_and_duration_or_the_exact_error(tmp_path):
    path, _raw = write_headerless(tmp_path, n_channels=12, n_samples=12000)
    good = wizard.validate(str(path), "raw_binary",
                           {"data_dtype": "int16", "sampling_rate": "30000", "nb_channels": 12})
    assert good.ok and good.shape == (12000, 12) and good.duration_s == pytest.approx(0.4)
    assert good.summary() == "12 channels x 12,000 samples at 30000 Hz = 0.400 s"
    bad = wizard.validate(str(path), "raw_binary",
                          {"data_dtype": "int16", "sampling_rate": "30000", "nb_channels": 7})
    assert not bad.ok and "not a whole number of frames of 7 channels" in bad.error
    typo = wizard.validate(str(path), "raw_binary",
                           {"data_dtype": "int16", "sampling_rate": "30 kHz", "nb_channels": 12})
    assert not typo.ok and "sampling_rate" in typo.error and "'30 kHz'" in typo.error


@pytest.mark.parametrize("writer, name, channels", [
    (lambda folder: write_spikeglx_file(folder)[0], "spikeglx", 5),
    (lambda folder: Path(write_rhd(folder / "rec.rhd", np.full((256, 3), 32768, np.uint16), (2, 0))), "rhd", 3),
    (lambda folder: write_openephys_recordings(folder), "openephys_binary", 4),
])
def test_header_complete_formats_ask_nothing(tmp_path, writer, name, channels):
    path = writer(tmp_path)
    result = wizard.validate(str(path), name, {})
    assert result.ok, result.error
    assert wizard.fields_to_ask(name, result) == {}
    assert result.header["nb_channels"] == channels and "sampling_rate" in result.header


def test_hdf5_asks_key_and_rate_offers_the_datasets_and_shows_header_facts(tmp_path):
    path, data = write_hdf5_file(tmp_path)
    result = wizard.validate(str(path), "hdf5", {})
    assert result.missing == {"h5_key": "string", "sampling_rate": "float"}
    assert result.choices == {"h5_key": ["acquisition/raw", "processed/lfp"]}
    assert result.header == {"data_dtype": "int16", "nb_channels": 6}
    assert wizard.fields_to_ask("hdf5", result) == {"h5_key": "string", "sampling_rate": "float"}
    wrong = wizard.validate(str(path), "hdf5", {"h5_key": "nope", "sampling_rate": 20000})
    assert "'nope' does not exist" in wrong.error
    assert wrong.choices == {"h5_key": ["acquisition/raw", "processed/lfp"]}
    right = wizard.validate(str(path), "hdf5", {"h5_key": "acquisition/raw", "sampling_rate": "20000"})
    assert right.ok and right.shape == data.shape and right.duration_s == pytest.approx(0.2)


def test_hdf5_with_one_dataset_and_a_stored_rate_asks_nothing(tmp_path):
    path, data = write_hdf5_file(tmp_path, two_datasets=False)
    result = wizard.validate(str(path), "hdf5", {})
    assert result.missing == {"sampling_rate": "float"} and result.header["h5_key"] == "acquisition/raw"
    with h5py.File(path, "r+") as handle:
        handle["acquisition/raw"].attrs["sampling_rate"] = 20000.0
    result = wizard.validate(str(path), "hdf5", {})
    assert result.ok and wizard.fields_to_ask("hdf5", result) == {} and result.shape == data.shape


def test_kwd_header_gives_everything(tmp_path):
    path = tmp_path / "experiment1_100.raw.kwd"
    with h5py.File(path, "w") as handle:
        group = handle.create_group("recordings/0")
        group.create_dataset("data", data=synthetic_int16(1000, 3))
        group.attrs["sample_rate"] = 25000.0
        group.create_group("application_data").attrs["channel_bit_volts"] = np.full(3, 0.195, np.float32)
    result = wizard.validate(str(path), "kwd", {})
    assert result.ok, result.error
    assert wizard.fields_to_ask("kwd", result) == {} and result.shape == (1000, 3)


def test_headerless_suggestion_finds_channels_and_dtype(tmp_path):
    path, _ = write_headerless(tmp_path, n_channels=12, dtype="int16")
    assert wizard.needs_layout("raw_binary") and not wizard.needs_layout("hdf5")
    best = wizard.suggest_layout(str(path), max_channels=64)[0]
    assert (best["nb_channels"], best["data_dtype"], best["data_offset"]) == (12, "int16", 0)
    assert best["evidence"]
    assert wizard.layout_values(best, "raw_binary") == {"nb_channels": 12, "data_dtype": "int16",
                                                        "data_offset": 0}
    assert wizard.layout_values(best, "mcs_raw_binary") == {"data_dtype": "int16"}


def test_partial_last_frame_shows_in_the_summary_and_ambiguous_guesses_in_the_note(tmp_path):
    path, _raw = write_headerless(tmp_path, n_channels=12, n_samples=12000)
    with open(path, "ab") as handle:
        handle.write(b"\x01" * 10)
    result = wizard.validate(str(path), "raw_binary",
                             {"data_dtype": "int16", "sampling_rate": "30000", "nb_channels": 12})
    assert result.ok and result.shape == (12000, 12) and result.ignored_bytes == 10
    assert result.summary().endswith("; the last 10 bytes (a partial frame) are ignored")
    clear = wizard.suggest_layout(path)
    assert not clear[0]["ambiguous"] and "Ambiguous" not in wizard.suggestions_note(clear)
    noise = tmp_path / "noise.dat"
    noise.write_bytes(np.random.default_rng(2).integers(-999, 999, 300_000).astype("<i2").tobytes())
    assert "Ambiguous: the first" in wizard.suggestions_note(wizard.suggest_layout(noise))


def test_coerce_names_the_field():
    assert wizard.coerce("raw_binary", "nb_channels", "32") == 32
    with pytest.raises(Exception, match="nb_channels"):
        wizard.coerce("raw_binary", "nb_channels", "thirty")


# -- probe ------------------------------------------------------------------------------------------

def test_generated_probes_and_their_check_against_nb_channels():
    linear = wizard.generate_probe("linear", 16, pitch=25)
    assert wizard.check_probe(linear, 16).ok and linear.total_nb_channels == 16
    shanks = wizard.generate_probe("multi-shank", 8, shanks=4, pitch=20, shank_pitch=250)
    assert len(shanks.channel_groups) == 4 and shanks.total_nb_channels == 32
    grid = wizard.generate_probe("grid", 8, columns=8, pitch=200)
    assert grid.total_nb_channels == 64
    xs = sorted({x for _, x, _ in wizard.probe_sites(grid)})
    assert xs == [200.0 * k for k in range(8)]
    too_big = wizard.check_probe(linear, 12)
    assert not too_big.ok and too_big.flagged == {12, 13, 14, 15}
    assert "total_nb_channels = 16" in too_big.error
    dead = wizard.check_probe(wizard.generate_probe("linear", 10), 12)
    assert "total_nb_channels" in dead.error


def test_site_spacing():
    assert wizard.site_spacing(np.array([[0, 0], [0, 20], [30, 0], [0, 20]])) == 20.0
    assert wizard.site_spacing(np.zeros((1, 2))) == 1.0


def test_library_probes_validate():
    probes = wizard.library()
    assert "linear_32" in probes
    assert wizard.check_probe(read_probe(probes["linear_32"]), 32).ok


# -- writing ----------------------------------------------------------------------------------------

def test_written_params_reopen_the_same_recording(tmp_path):
    path, raw = write_headerless(tmp_path, n_channels=12)
    values = {"data_dtype": "int16", "sampling_rate": "30000", "nb_channels": "12", "gain": "0.195"}
    result = wizard.validate(str(path), "raw_binary", values)
    out = wizard.default_params_path(str(path))
    assert out == tmp_path / "headerless.params"
    probe = wizard.generate_probe("linear", 12)
    written = wizard.write_all(out, wizard.params_description(result, str(path)), probe,
                               save_probe_to=wizard.default_probe_path(str(path)))
    assert written.params_backup is None and written.probe_path == tmp_path / "headerless.prb"
    params = ParamsFile.read(out)
    assert params.get("data", "nb_channels") == "12" and params.get("data", "file_format") == "raw_binary"
    assert params.get("data", "mapping") == str(tmp_path / "headerless.prb")
    assert params.get("detection", "radius") == "auto"
    data_file, _ = datafile_settings(out)
    assert data_file == str(path)
    reopened = open_datafile(str(out))
    np.testing.assert_array_equal(reopened.read_range(0, 100), raw[:100] * np.float32(0.195))
    assert read_probe(written.probe_path).total_nb_channels == 12


def test_render_and_diff_against_an_existing_file_then_backup(tmp_path):
    path, _ = write_headerless(tmp_path, n_channels=12)
    out = wizard.default_params_path(str(path))
    first = wizard.validate(str(path), "raw_binary", {"data_dtype": "int16", "sampling_rate": 30000,
                                                      "nb_channels": 12})
    wizard.write_all(out, wizard.params_description(first, str(path)))
    params = ParamsFile.read(out)
    params.set("clustering", "max_elts", 12345)
    params.write(out)
    second = wizard.validate(str(path), "raw_binary", {"data_dtype": "int16", "sampling_rate": 25000,
                                                       "nb_channels": 12})
    text = wizard.render_params(wizard.params_description(second, str(path)), base=str(out))
    diff = wizard.params_diff(out, text)
    assert [line for line in diff if line.startswith(("-sampling_rate", "+sampling_rate"))] == [
        "-sampling_rate  = 30000      # samples per second per channel [Hz]",
        "+sampling_rate  = 25000      # samples per second per channel [Hz]"]
    assert not any("max_elts" in line for line in diff if line.startswith(("-", "+")))
    assert out.read_text().count("30000") >= 1          # rendering wrote nothing
    result = wizard.write_all(out, wizard.params_description(second, str(path)), base=str(out))
    assert result.params_backup == tmp_path / "headerless.params.bak"       # the newest backup
    assert ParamsFile.read(result.params_backup).get("clustering", "max_elts") == "12345"
    assert (tmp_path / "headerless.params.bak.1").exists()                # the edit above, one step older
    assert out.read_text() == text and "max_elts" in out.read_text()
    assert wizard.params_diff(out, text) == []


def test_saving_a_probe_keeps_a_different_file_as_backup(tmp_path):
    target = tmp_path / "rec.prb"
    assert wizard.save_probe(wizard.generate_probe("linear", 4), target) is None
    assert wizard.save_probe(wizard.generate_probe("linear", 4), target) is None
    backup = wizard.save_probe(wizard.generate_probe("linear", 8), target)
    assert backup == tmp_path / "rec.prb.bak" and read_probe(backup).total_nb_channels == 4
    assert read_probe(target).total_nb_channels == 8


def test_folder_recordings_name_their_data_in_the_params(tmp_path):
    oebin = write_openephys_recordings(tmp_path)
    folder = oebin.parent
    result = wizard.validate(str(folder), "openephys_binary", {})
    assert result.ok, result.error
    out = wizard.default_params_path(str(folder))
    assert out == folder.parent / "recording1.params"
    wizard.write_all(out, wizard.params_description(result, str(folder)))
    assert open_datafile(str(out)).shape == result.shape


def test_format_duration():
    assert wizard.format_duration(0.4) == "0.400 s"
    assert wizard.format_duration(3725) == "1:02:05 (3725.0 s)"
