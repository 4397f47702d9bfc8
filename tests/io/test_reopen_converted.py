"""Wavescope reopens every file it writes, through the real conversion engine.

For each writable format of the registry (a new writable format is covered by adding it), a
recording is converted and reopened with no --set: the hdf5 file alone (it stores its rate, gain
and offset), the others from the .params the conversion writes beside them (raw_binary, .npy and
.mda headers cannot hold a sampling rate or a gain). The converted .params keeps the input's probe.
Also: the hdf5 reader's own defaults (one 2-D dataset, attributes of other writers).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from app.io import MissingFieldsError, open_datafile
from app.io.convert import ConvertSpec, convert
from app.io.params import ParamsFile
from app.io.registry import supported_formats
from tests.conftest import synthetic_int16

REPO = Path(__file__).resolve().parents[2]
RATE = 20000.0
GAIN = 0.195
N_CHANNELS = 6
# formats whose file cannot hold what a reader needs, so only their .params carries it
PARAMS_ONLY = {"raw_binary", "numpy", "mda"}
EXTENSIONS = {"raw_binary": ".dat", "hdf5": ".h5", "numpy": ".npy", "mda": ".mda"}
PROBE = """total_nb_channels = 6
radius = 100
channel_groups = {1: {"channels": list(range(6)), "graph": [],
                      "geometry": {c: (0, 20 * c) for c in range(6)}}}
"""


def writable_formats() -> list[str]:
    return sorted(name for name, klass in supported_formats().items() if klass.is_writable)


@pytest.fixture
def recording(tmp_path):
    """rec.dat with its rec.params (layout, gain, a probe in the same folder, by relative path)."""
    data = synthetic_int16(4000, N_CHANNELS)
    folder = tmp_path / "in"
    folder.mkdir()
    data.astype("<i2").tofile(folder / "rec.dat")
    (folder / "probe.prb").write_text(PROBE)
    (folder / "rec.params").write_text(
        "[data]\nfile_format = raw_binary\ndata_dtype = int16\nnb_channels = 6\n"
        f"sampling_rate = {RATE}\ngain = {GAIN}\nmapping = probe.prb\n")
    return folder / "rec.params", data


def test_every_writable_format_is_known_here():
    names = writable_formats()
    assert {"raw_binary", "hdf5", "numpy", "mda"} <= set(names)
    assert set(names) <= set(EXTENSIONS), f"add the new writable format(s) to EXTENSIONS: {names}"


@pytest.mark.parametrize("dtype", ["int16", "float32"])
@pytest.mark.parametrize("to_format", writable_formats())
def test_converted_file_reopens_without_settings(recording, tmp_path, to_format, dtype):
    params_file, data = recording
    source = open_datafile(str(params_file))
    output = tmp_path / f"out{EXTENSIONS[to_format]}"
    result = convert(source, ConvertSpec(str(output), to_format=to_format, dtype=dtype))
    expected = data * np.float32(GAIN)
    assert result.params_file == str(tmp_path / "out.params")
    reopened = [open_datafile(result.params_file)]
    if to_format not in PARAMS_ONLY:
        reopened.append(open_datafile(str(output)))       # the file alone says it all
    for df in reopened:
        assert df.description == to_format
        assert df.sampling_rate == RATE and df.shape == (4000, N_CHANNELS)
        assert df.data_dtype == dtype
        assert df.gain == pytest.approx(GAIN if dtype == "int16" else 1.0)
        np.testing.assert_allclose(df.read_range(0, 4000), expected, rtol=1e-6)


def test_converted_params_keep_the_probe_given_with_params(recording, tmp_path):
    params_file, _ = recording
    source = open_datafile(str(params_file.with_suffix(".dat")), {"data_dtype": "int16", "nb_channels": 6,
                                                                   "sampling_rate": RATE})
    result = convert(source, ConvertSpec(str(tmp_path / "out.h5"), to_format="hdf5",
                                         base_params=str(params_file)))
    mapping = ParamsFile.read(result.params_file).get("data", "mapping")
    assert os.path.samefile(mapping, params_file.parent / "probe.prb")


def test_converted_params_keep_the_probe_of_a_params_input(recording, tmp_path):
    """`wavescope convert rec.params -o ...`: the CLI opens the data file; the probe of rec.params
    still reaches the output's params, as an absolute path (the output is in another folder)."""
    params_file, _ = recording
    output = tmp_path / "out.dat"
    done = subprocess.run([sys.executable, "-m", "app.cli", "convert", str(params_file), "-o", str(output)],
                          capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    mapping = ParamsFile.read(tmp_path / "out.params").get("data", "mapping")
    assert os.path.isabs(mapping) and os.path.samefile(mapping, params_file.parent / "probe.prb")


def test_hdf5_output_key_defaults_in_the_cli(recording, tmp_path):
    params_file, data = recording
    output = tmp_path / "out.h5"
    done = subprocess.run([sys.executable, "-m", "app.cli", "convert", str(params_file), "-o", str(output),
                           "--to", "hdf5"], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    with h5py.File(output, "r") as handle:
        assert list(handle) == ["data"]
    np.testing.assert_allclose(open_datafile(str(output)).read_range(0, 4000), data * np.float32(GAIN))


# -- the hdf5 reader on files of other writers ------------------------------------------------------
def _write_h5(path: Path, datasets: dict, file_attrs: dict | None = None, attrs: dict | None = None) -> str:
    with h5py.File(path, "w") as handle:
        for name, values in datasets.items():
            handle[name] = values
            handle[name].attrs.update(attrs or {})
        handle.attrs.update(file_attrs or {})
    return str(path)


@pytest.mark.parametrize("file_attrs, attrs, gain", [
    ({"sampling_frequency": RATE}, {"gain_to_uV": 0.5}, 0.5),
    ({}, {"fs": RATE, "unit": "mV"}, 1e3),
    ({"sample_rate": RATE, "units": "\u03bcV"}, {}, 1.0),
    ({"sampling_rate": RATE, "gain": 2.0}, {"gain": 0.25}, 0.25),      # the dataset's own wins
])
def test_hdf5_reads_what_other_writers_store(tmp_path, file_attrs, attrs, gain):
    data = synthetic_int16(1000, 3)
    path = _write_h5(tmp_path / "x.h5", {"group/signal": data}, file_attrs, attrs)
    df = open_datafile(path)
    assert df.description == "hdf5" and df.h5_key == "group/signal"
    assert df.sampling_rate == RATE and df.gain == pytest.approx(gain)
    assert "gain" not in df.given_fields and "gain" in df.header_fields
    np.testing.assert_allclose(df.read_range(0, 1000), data * np.float32(gain), rtol=1e-6)


def test_hdf5_given_params_win_over_the_file(tmp_path):
    path = _write_h5(tmp_path / "x.h5", {"data": synthetic_int16(500, 2)}, attrs={"sampling_rate": 1000.0,
                                                                                  "gain": 3.0})
    df = open_datafile(path, {"sampling_rate": "2000", "gain": 0.5})
    assert df.sampling_rate == 2000.0 and df.gain == 0.5 and {"sampling_rate", "gain"} <= df.given_fields


def test_hdf5_with_several_datasets_asks_for_the_key_without_blaming_other_formats(tmp_path):
    path = _write_h5(tmp_path / "two.h5", {"a": np.zeros((100, 2), "i2"), "b": np.zeros((100, 2), "i2")},
                     {"sampling_rate": RATE})
    with pytest.raises(MissingFieldsError) as caught:
        open_datafile(path)
    assert set(caught.value.missing) == {"h5_key"}
    assert "maxwell" not in str(caught.value) and "damaged" not in str(caught.value)
    assert open_datafile(path, {"h5_key": "b"}).sampling_rate == RATE
