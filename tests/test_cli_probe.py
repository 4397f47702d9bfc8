"""`wavescope probe` prints and exports header geometry; `wavescope params` writes
`<stem>.header.prb` from it unless --probe or --no-header-probe."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.cli import main
from app.io import open_datafile
from app.io.params import ParamsFile
from app.io.probe import read_probe
from app.io.probe_interchange import read_probe_file
from tests.io.test_probe_geometry import imec_meta, imro_np1, write

pi = pytest.importorskip("probeinterface")


@pytest.fixture
def spikeglx(tmp_path):
    return write(tmp_path, imec_meta(16, imro_np1(16), "NP1000"))


def test_probe_prints_the_header_geometry(spikeglx, capsys):
    path, meta = spikeglx
    assert main(["probe", str(path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["source"] == "header" and shown["model_name"] == "NP1000" and shown["nb_channels"] == 17
    np.testing.assert_allclose(shown["positions"], pi.read_spikeglx(meta).contact_positions)
    assert main(["probe", str(path)]) == 0
    text = capsys.readouterr().out
    assert "16 contacts NP1000" in text and "imroTbl" in text and len(text.splitlines()) == 18


@pytest.mark.parametrize("suffix", [".json", ".prb", ".mat"])
def test_probe_export_reads_back(spikeglx, tmp_path, suffix, capsys):
    path, meta = spikeglx
    out = tmp_path / f"exported{suffix}"
    assert main(["probe", str(path), "--export", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    back = read_probe_file(out)
    np.testing.assert_allclose(back.positions, pi.read_spikeglx(meta).contact_positions)
    if suffix == ".prb":
        probe = read_probe(out)
        assert probe.total_nb_channels == 17 and probe.dead_channels(17) == [16] and probe.radius >= 20


def test_a_recording_without_geometry_says_so(make_raw, capsys):
    raw = make_raw("rec.dat", np.zeros((100, 4), np.int16))
    assert main(["probe", str(raw), "--format", "raw_binary", "--set", "nb_channels=4", "--set",
                 "data_dtype=int16", "--set", "sampling_rate=1000"]) == 1
    assert "places no channel" in capsys.readouterr().out


def test_params_writes_the_header_probe(spikeglx, capsys):
    path, meta = spikeglx
    assert main(["params", str(path)]) == 0
    out = capsys.readouterr().out
    prb = path.parent / (path.stem + ".header.prb")
    assert f"wrote {prb}" in out
    params = ParamsFile.read(path.parent / (path.stem + ".params"))
    assert params.get("data", "mapping").endswith(".header.prb")
    np.testing.assert_allclose(read_probe_file(prb).positions, pi.read_spikeglx(meta).contact_positions)
    reopened = open_datafile(str(path.parent / (path.stem + ".params")))
    assert reopened.nb_channels == 17


def test_no_header_probe_leaves_mapping_empty(spikeglx, capsys):
    path, _ = spikeglx
    assert main(["params", str(path), "--no-header-probe"]) == 0
    assert not (path.parent / (path.stem + ".header.prb")).exists()
    assert ParamsFile.read(path.parent / (path.stem + ".params")).get("data", "mapping") == ""


def test_info_names_the_header_probe(spikeglx, capsys):
    path, _ = spikeglx
    assert main(["info", str(path)]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("probe "))
    assert "16 contacts NP1000" in line and "from the header" in line
