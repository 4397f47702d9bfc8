"""A params file always names the same recording, whatever else is written beside it (issue 13.1).

The README's flow: `wavescope params rec.dat`, then `wavescope convert rec.params -o rec.h5`. Every
writable format's output lands beside the recording with the same stem; `info`, the browser's open
path, `convert` and `sort --dry-run` must all still read rec.dat.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.io.errors import ParamsError
from app.io.params import datafile_settings, format_extensions
from app.io.registry import supported_formats
from app.model.recording import Recording
from tests.conftest import synthetic_int16

REPO = Path(__file__).resolve().parents[1]
OPEN = ["--set", "data_dtype=int16", "--set", "nb_channels=4", "--set", "sampling_rate=20000",
        "--set", "gain=0.5"]
OUT_SETTINGS = {"hdf5": ["--out-set", "h5_key=data"]}


def writable_outputs() -> list[tuple[str, str]]:
    """(format, rec<ext>) for every writable format and each extension it is found by."""
    outputs = []
    for name, klass in sorted(supported_formats().items()):
        if klass.is_writable:
            outputs += [(name, f"rec{ext}") for ext in format_extensions(name) if ext != ".dat"]
    return outputs


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.fixture
def crowded(make_raw, tmp_path, capsys):
    """rec.dat with its params, then an output of every writable format written beside it by convert."""
    data = synthetic_int16(3000, 4, seed=13)
    raw = Path(make_raw("rec.dat", data))
    assert main(["params", str(raw), "--format", "raw_binary", *OPEN]) == 0
    params = tmp_path / "rec.params"
    written = []
    for file_format, name in writable_outputs():
        status = main(["convert", str(params), "-o", str(tmp_path / name), "--to", file_format,
                       "--dtype", "float32", *OUT_SETTINGS.get(file_format, [])])   # larger than rec.dat
        assert status == 0, capsys.readouterr().err
        written.append(name)
    capsys.readouterr()
    return raw, params, data, written


def test_every_writable_format_is_written_beside_the_recording(crowded):
    raw, _, _, written = crowded
    formats = {name for name, klass in supported_formats().items() if klass.is_writable}
    assert {"raw_binary", "hdf5", "numpy", "mda"} <= formats
    assert {"rec.bin", "rec.raw", "rec.h5", "rec.hdf5", "rec.npy", "rec.mda"} <= set(written)
    assert all((raw.parent / name).stat().st_size > raw.stat().st_size for name in written)


def test_info_browse_convert_and_sort_still_read_the_original(crowded, tmp_path):
    raw, params, data, _ = crowded
    info = run_cli("info", str(params), "--json", cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    reply = json.loads(info.stdout)
    assert (reply["file"], reply["format"], reply["duration"]) == (str(raw), "raw_binary", 3000)

    recording = Recording.open(str(params))                 # what the GUI's File > Open does
    assert recording.datafile.file_name == str(raw)
    np.testing.assert_array_equal(recording.datafile.read_range(0, 3000), data.astype(np.float32) * 0.5)

    out = tmp_path / "copies" / "again.dat"
    out.parent.mkdir()
    converted = run_cli("convert", str(params), "-o", str(out), "--to", "raw_binary", "--verify", cwd=tmp_path)
    assert converted.returncode == 0, converted.stderr
    assert "verify ok" in converted.stdout
    np.testing.assert_array_equal(np.fromfile(out, dtype="<i2").reshape(-1, 4), data)

    dry = run_cli("sort", str(params), "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.split()[1] == str(raw)


def test_a_params_file_without_file_name_fails_clearly_instead_of_picking_one(crowded):
    raw, params, _, _ = crowded
    text = params.read_text()
    legacy = "\n".join(line for line in text.splitlines() if not line.startswith("file_name"))
    params.write_text(legacy + "\n")
    with pytest.raises(ParamsError) as caught:
        datafile_settings(params)
    message = str(caught.value)
    assert "several recordings match (rec.bin, rec.dat, rec.raw)" in message
    assert "rec.h5" in message and "set file_name = " in message
    status = main(["info", str(params)])
    assert status == 1
