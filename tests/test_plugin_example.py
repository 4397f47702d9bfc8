"""The README's plugin guide works as written: docs/plugin_example.py dropped into a plugin folder
is listed by `wavescope formats`, reads a file written here from the documented layout, and passes
`wavescope check-format`."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from app import cli
from app.io import open_datafile
from app.io.errors import HeaderError
from app.io.registry import plugin_errors, supported_formats
from app.io.sniff import rank_formats
from tests.conftest import synthetic_int16

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "plugin_example.py"


def write_toy(path: Path, data: np.ndarray, rate: float) -> Path:
    """The layout from the example's docstring, written field by field."""
    with open(path, "wb") as handle:
        handle.write(b"TOY1")
        handle.write(struct.pack("<I", data.shape[1]))
        handle.write(struct.pack("<d", rate))
        handle.writelines(struct.pack(f"<{len(row)}h", *(int(v) for v in row)) for row in data)
    return path


@pytest.fixture
def plugin_folder(tmp_path, monkeypatch):
    folder = tmp_path / "plugins"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "toy_format.py")
    monkeypatch.setenv("WAVESCOPE_FORMATS_PATH", str(folder))
    supported_formats(reload=True)
    yield folder
    monkeypatch.delenv("WAVESCOPE_FORMATS_PATH")
    supported_formats(reload=True)


def test_listed_by_formats(plugin_folder, capsys):
    assert cli.main(["formats", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    toy = rows["toy_int16"]
    assert toy["title"] == "Toy int16 recording (.toy)"
    assert toy["extensions"] == [".toy"] and toy["required_fields"] == {}
    assert toy["write"] is False and toy["stream_modes"] == ["multi-files"]
    assert toy["module"] == "wavescope_plugin_toy_format"
    assert not plugin_errors


def test_reads_the_documented_layout(plugin_folder, tmp_path):
    data = synthetic_int16(1500, 5, seed=3)
    path = write_toy(tmp_path / "rec.toy", data, 25000.0)
    assert rank_formats(str(path))[0].name == "toy_int16"
    datafile = open_datafile(str(path), {"gain": 0.5})
    assert datafile.nb_channels == 5 and datafile.sampling_rate == 25000.0
    assert datafile.duration == 1500 and datafile.data_dtype == "int16"
    chunk = datafile.read_range(100, 400, nodes=[4, 0])
    np.testing.assert_array_equal(chunk, data[100:400][:, [4, 0]].astype(np.float32) * 0.5)


def test_passes_check_format(plugin_folder, tmp_path, capsys):
    path = write_toy(tmp_path / "rec.toy", synthetic_int16(3000, 4, seed=7), 20000.0)
    status = cli.main(["check-format", str(path), "--format", "toy_int16"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "0 failed" in out and "[FAIL]" not in out


def test_bad_magic_is_a_header_error(plugin_folder, tmp_path):
    path = tmp_path / "wrong.toy"
    path.write_bytes(b"NOPE" + bytes(12) + bytes(8))
    with pytest.raises(HeaderError, match="not b'TOY1'"):
        open_datafile(str(path), {}, "toy_int16")


def test_registry_forgets_the_plugin_afterwards(tmp_path, monkeypatch):
    monkeypatch.setenv("WAVESCOPE_FORMATS_PATH", str(tmp_path / "empty"))
    assert "toy_int16" not in supported_formats(reload=True)
