"""Sorter outputs read into one `Sorting`: SpyKING CIRCUS files written here by a writer that
follows SpyKING CIRCUS 1.1's layout, phy and SpikeInterface folders written by SpikeInterface."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from app.io.errors import DataFileError, SortingError
from app.io.sorting import read_params_py, read_phy, read_sorting, read_spikeinterface, read_spyking_circus

N_E, N_T = 6, 9


def _templates(n: int, seed: int = 0) -> np.ndarray:
    """(n, N_t, N_e) templates, each with its trough on electrode k % N_e."""
    rng = np.random.default_rng(seed)
    out = rng.normal(0, 0.01, (n, N_T, N_E)).astype(np.float32)
    for k in range(n):
        out[k, N_T // 2, k % N_E] = -5.0 - k
        out[k, N_T // 2 + 2, k % N_E] = 1.0
    return out


def write_circus(folder: Path, stem: str, trains: list[np.ndarray], templates: np.ndarray,
                 suffix: str = "", amplitudes: bool = True, clusters: bool = True) -> Path:
    """The files SpyKING CIRCUS 1.1 writes in `<data folder>/<stem>/`."""
    out = folder / stem
    out.mkdir(parents=True, exist_ok=True)
    with h5py.File(out / f"{stem}.result{suffix}.hdf5", "w") as f:
        times, amps = f.create_group("spiketimes"), f.create_group("amplitudes")
        for k, train in enumerate(trains):
            times.create_dataset(f"temp_{k}", data=np.asarray(train, dtype=np.uint32))
            if amplitudes:
                amps.create_dataset(f"temp_{k}", data=np.column_stack(
                    [np.linspace(0.9, 1.1, len(train)), np.zeros(len(train))]).astype(np.float32))
    n = len(templates)
    # Columns 0..n-1 the templates, n..2n-1 their orthogonal components; rows electrode-major.
    dense = np.concatenate([templates, templates * 0.1]).transpose(0, 2, 1).reshape(2 * n, N_E * N_T)
    cols, rows = np.nonzero(dense)
    with h5py.File(out / f"{stem}.templates{suffix}.hdf5", "w") as f:
        f["temp_x"] = rows.astype(np.uint32)
        f["temp_y"] = cols.astype(np.uint32)
        f["temp_data"] = dense[cols, rows].astype(np.float32)
        f["temp_shape"] = np.array([N_E, N_T, 2 * n], dtype=np.int32)
    if clusters:
        with h5py.File(out / f"{stem}.clusters{suffix}.hdf5", "w") as f:
            f["electrodes"] = np.arange(n) % N_E
    return out


@pytest.fixture()
def circus(tmp_path):
    trains = [np.array([500, 100, 900]), np.array([50]), np.array([], dtype=np.int64)]
    templates = _templates(3)
    write_circus(tmp_path, "rec", trains, templates)
    return tmp_path, trains, templates


def test_circus_spikes_templates_and_amplitudes(circus):
    folder, trains, templates = circus
    sorting = read_spyking_circus(folder / "rec")
    assert sorting.sorter == "SpyKING CIRCUS"
    assert [u.id for u in sorting.units] == [0, 1, 2]
    for unit, train, template in zip(sorting.units, trains, templates):
        assert unit.spike_train.dtype == np.int64
        np.testing.assert_array_equal(unit.spike_train, np.sort(train))
        np.testing.assert_allclose(unit.template, template, rtol=1e-6)
        np.testing.assert_array_equal(unit.template_channels, np.arange(N_E))
        assert unit.label == "unsorted"
    # Amplitudes follow the spikes when they are sorted: 100 was written second.
    np.testing.assert_allclose(sorting.units[0].amplitudes, [1.0, 0.9, 1.1], rtol=1e-6)
    assert Path(sorting.source).name == "rec.result.hdf5"


def test_circus_found_from_the_recording_or_a_result_file(circus):
    folder, trains, _ = circus
    for path in (folder / "rec.dat", folder / "rec" / "rec.templates.hdf5", folder / "rec"):
        sorting = read_sorting(path)
        np.testing.assert_array_equal(sorting.units[1].spike_train, trains[1])


def test_circus_prefers_the_merged_result_and_says_so(circus):
    folder, _, _ = circus
    write_circus(folder, "rec", [np.array([7, 8])], _templates(1, seed=3), suffix="-merged")
    merged = read_spyking_circus(folder / "rec")
    assert len(merged.units) == 1 and Path(merged.source).name == "rec.result-merged.hdf5"
    assert "merged" in merged.notes[0]
    plain = read_spyking_circus(folder / "rec", suffix="")
    assert len(plain.units) == 3 and any("merged" in note for note in plain.notes)


def test_circus_channels_map_electrodes(circus):
    folder, _, _ = circus
    channels = [10, 11, 12, 13, 14, 15]
    sorting = read_spyking_circus(folder / "rec", channels=channels)
    np.testing.assert_array_equal(sorting.units[0].template_channels, channels)
    with pytest.raises(SortingError, match="6 electrodes but 2 channels"):
        read_spyking_circus(folder / "rec", channels=[0, 1])


def test_circus_missing_pieces_name_the_file(tmp_path, circus):
    folder, _, _ = circus
    with pytest.raises(SortingError, match="no SpyKING CIRCUS result"):
        read_spyking_circus(tmp_path / "other.dat")
    (folder / "rec" / "rec.templates.hdf5").unlink()
    with pytest.raises(SortingError, match=r"rec\.templates\.hdf5: missing") as error:
        read_spyking_circus(folder / "rec")
    assert isinstance(error.value, DataFileError)


def test_circus_damaged_files(tmp_path):
    out = write_circus(tmp_path, "rec", [np.array([1, 2])], _templates(1))
    with h5py.File(out / "rec.templates.hdf5", "a") as f:
        del f["temp_shape"]
    with pytest.raises(SortingError, match="no temp_shape"):
        read_spyking_circus(out)
    out = write_circus(tmp_path, "cut", [np.array([1, 2])], _templates(1))
    data = (out / "cut.result.hdf5").read_bytes()
    (out / "cut.result.hdf5").write_bytes(data[: len(data) // 3])
    with pytest.raises(SortingError, match="cut.result.hdf5"):
        read_spyking_circus(out)
    out = write_circus(tmp_path, "odd", [np.array([1, 2]), np.array([3])], _templates(1))
    with pytest.raises(SortingError, match="temp_1 has no template"):
        read_spyking_circus(out)
    out = write_circus(tmp_path, "amp", [np.array([1, 2])], _templates(1))
    with h5py.File(out / "amp.result.hdf5", "a") as f:
        del f["amplitudes/temp_0"]
        f["amplitudes/temp_0"] = np.ones((3, 2), dtype=np.float32)
    with pytest.raises(SortingError, match="3 values for 2 spikes"):
        read_spyking_circus(out)


# --- phy -------------------------------------------------------------------------------------------

def _write_phy(folder: Path, params: str = "sample_rate = 20000.\nn_channels_dat = 4\n") -> Path:
    folder.mkdir()
    (folder / "params.py").write_text(params)
    np.save(folder / "spike_times.npy", np.array([30, 10, 20, 40, 50], dtype=np.uint64))
    np.save(folder / "spike_templates.npy", np.array([0, 0, 1, 1, 1], dtype=np.uint32))
    np.save(folder / "spike_clusters.npy", np.array([5, 5, 7, 7, 7], dtype=np.int32))
    np.save(folder / "amplitudes.npy", np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    templates = np.zeros((2, 5, 3), dtype=np.float32)
    templates[0, 2, 1] = -4.0
    templates[1, 2, 2] = -6.0
    np.save(folder / "templates.npy", templates)
    np.save(folder / "channel_map.npy", np.array([[0], [2], [3]], dtype=np.int32))
    (folder / "cluster_KSLabel.tsv").write_text("cluster_id\tKSLabel\n5\tgood\n7\tmua\n")
    return folder


def test_phy_folder_by_hand(tmp_path):
    sorting = read_sorting(_write_phy(tmp_path / "phy"))
    assert sorting.sorter == "phy" and sorting.sampling_rate == 20000.0
    first, second = sorting.units
    assert (first.id, first.label, second.id, second.label) == (5, "good", 7, "mua")
    np.testing.assert_array_equal(first.spike_train, [10, 30])
    np.testing.assert_array_equal(first.amplitudes, [2.0, 1.0])
    np.testing.assert_array_equal(first.template_channels, [0, 2, 3])
    assert first.template[2, 1] == -4.0 and second.template[2, 2] == -6.0
    # The curator's labels win over Kilosort's.
    (tmp_path / "phy" / "cluster_group.tsv").write_text("cluster_id\tgroup\n5\tnoise\n")
    relabelled = read_phy(tmp_path / "phy")
    assert [u.label for u in relabelled.units] == ["noise", "unsorted"]


def test_phy_sparse_templates_and_no_clusters(tmp_path):
    folder = _write_phy(tmp_path / "phy")
    (folder / "spike_clusters.npy").unlink()
    np.save(folder / "templates.npy", np.ones((2, 5, 2), dtype=np.float32))
    np.save(folder / "template_ind.npy", np.array([[2, -1], [0, 1]]))
    sorting = read_phy(folder)
    assert [u.id for u in sorting.units] == [0, 1]
    np.testing.assert_array_equal(sorting.units[0].template_channels, [3])
    np.testing.assert_array_equal(sorting.units[1].template_channels, [0, 2])
    assert sorting.units[0].template.shape == (5, 1)


def test_phy_params_py_is_data_never_run(tmp_path):
    folder = _write_phy(tmp_path / "phy", "import os\nos.remove('x')\n")
    with pytest.raises(SortingError, match="line 1: only `name = value`"):
        read_phy(folder)
    (folder / "params.py").write_text("sample_rate = __import__('os').getpid()\n")
    with pytest.raises(SortingError, match="sample_rate is not a plain value"):
        read_phy(folder)
    (folder / "params.py").write_text("dat_path = r'C:\\data\\x.dat'\nsample_rate = 3e4\nhp = True\n")
    assert read_params_py(folder / "params.py") == {"dat_path": "C:\\data\\x.dat", "sample_rate": 3e4, "hp": True}
    (folder / "params.py").write_text("sample_rate = (\n")
    with pytest.raises(SortingError, match="not valid Python"):
        read_phy(folder)


def test_phy_missing_and_mismatched_pieces(tmp_path):
    folder = _write_phy(tmp_path / "phy")
    np.save(folder / "amplitudes.npy", np.ones(4))
    with pytest.raises(SortingError, match="amplitudes.npy: 4 values for 5 spikes"):
        read_phy(folder)
    np.save(folder / "spike_clusters.npy", np.ones(3))
    with pytest.raises(SortingError, match="spike_clusters.npy: 3 rows for 5"):
        read_phy(folder)
    (folder / "spike_clusters.npy").unlink()
    (folder / "spike_templates.npy").unlink()
    with pytest.raises(SortingError, match="cannot tell which unit"):
        read_phy(folder)
    (folder / "spike_times.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(SortingError, match="spike_times.npy: not a readable"):
        read_phy(folder)
    (folder / "spike_times.npy").unlink()
    with pytest.raises(SortingError, match="no sorter output found"):
        read_sorting(folder)


# --- written by SpikeInterface -------------------------------------------------------------------

@pytest.fixture(scope="module")
def ground_truth():
    si = pytest.importorskip("spikeinterface.core")
    recording, sorting = si.generate_ground_truth_recording(durations=[4.0], num_channels=8, num_units=5,
                                                            seed=2)
    return recording, sorting


def _trains(sorting) -> dict[int, np.ndarray]:
    return {int(uid): np.sort(sorting.get_unit_spike_train(uid)) for uid in sorting.unit_ids}


def test_spikeinterface_numpy_folder(tmp_path, ground_truth):
    _, sorting = ground_truth
    sorting.save(folder=tmp_path / "saved")
    read = read_sorting(tmp_path / "saved")
    assert read.sorter == "SpikeInterface" and read.sampling_rate == sorting.get_sampling_frequency()
    expected = _trains(sorting)
    assert {u.id: len(u.spike_train) for u in read.units} == {k: len(v) for k, v in expected.items()}
    for unit in read.units:
        np.testing.assert_array_equal(unit.spike_train, expected[unit.id])
    (tmp_path / "saved" / "numpysorting_info.json").unlink()
    with pytest.raises(SortingError, match="numpysorting_info.json: missing"):
        read_spikeinterface(tmp_path / "saved")


def test_phy_folder_from_spikeinterface_exporter(tmp_path, ground_truth):
    si = pytest.importorskip("spikeinterface.core")
    exporters = pytest.importorskip("spikeinterface.exporters")
    recording, sorting = ground_truth
    analyzer = si.create_sorting_analyzer(sorting, recording, sparse=False)
    analyzer.compute(["random_spikes", "templates", "noise_levels"])
    exporters.export_to_phy(analyzer, tmp_path / "phy", compute_pc_features=False, copy_binary=False,
                            verbose=False)
    read = read_sorting(tmp_path / "phy")
    assert read.sorter == "phy" and read.sampling_rate == recording.get_sampling_frequency()
    expected = _trains(sorting)
    assert sorted(u.id for u in read.units) == sorted(expected)
    templates = analyzer.get_extension("templates").get_data()
    for k, unit in enumerate(read.units):
        np.testing.assert_array_equal(unit.spike_train, expected[unit.id])
        assert unit.label == "unsorted" and len(unit.amplitudes) == len(unit.spike_train)
        # The peak channel of our template is SpikeInterface's own.
        ours = unit.template_channels[np.argmax(np.ptp(unit.template, axis=0))]
        assert ours == np.argmax(np.ptp(templates[k], axis=0))


def test_run_sorter_folder(tmp_path, ground_truth):
    """The layout run_sorter leaves for SpikeInterface's own sorters, checked against SpikeInterface's
    read_sorter_folder on the same folder."""
    si = pytest.importorskip("spikeinterface.sorters")
    _, sorting = ground_truth
    folder = tmp_path / "run"
    sorting.save(folder=folder / "sorter_output" / "sorting")
    log = {"sorter_name": "simple", "sorter_version": "1.0", "datetime": "2026-01-01T00:00:00",
           "runtime_trace": [], "error": False, "run_time": 1.0}
    (folder / "spikeinterface_log.json").write_text(json.dumps(log))
    read = read_sorting(folder)
    theirs = si.read_sorter_folder(folder, register_recording=False, sorting_info=False)
    expected = _trains(theirs)
    assert [u.id for u in read.units] == sorted(expected)
    for unit in read.units:
        np.testing.assert_array_equal(unit.spike_train, expected[unit.id])
    assert "sorter_output" in read.notes[-1]
    log.update(error=True, error_trace="Traceback ...\nMemoryError: out of memory")
    (folder / "spikeinterface_log.json").write_text(json.dumps(log))
    with pytest.raises(SortingError, match="the sorter simple failed .MemoryError: out of memory"):
        read_sorting(folder)


def test_run_sorter_folder_without_a_result(tmp_path):
    pytest.importorskip("spikeinterface.sorters")
    folder = tmp_path / "run"
    (folder / "sorter_output").mkdir(parents=True)
    (folder / "spikeinterface_log.json").write_text(json.dumps({"sorter_name": "simple", "error": False}))
    with pytest.raises(SortingError, match="SpikeInterface cannot read this sorter folder"):
        read_sorting(folder)
    (folder / "spikeinterface_log.json").write_text("{not json")
    with pytest.raises(SortingError, match="spikeinterface_log.json: unreadable"):
        read_sorting(folder)
