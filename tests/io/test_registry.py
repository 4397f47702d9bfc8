"""Plugins from a folder and from entry points; a broken plugin is skipped, never fatal."""

import sys
import textwrap

import numpy as np

from app.io import open_datafile
from app.io.conformance import assert_conforms
from app.io.registry import plugin_errors, supported_formats

PLUGIN = textwrap.dedent('''
    import numpy
    from app.io.datafile import DataFile

    class CountingFile(DataFile):
        """A toy format: a 4-byte channel count, then float32 interleaved samples."""
        description = "counting"
        extension = [".cnt"]
        _required_fields = {"sampling_rate": "float"}

        def _read_from_header(self):
            with open(self.file_name, "rb") as handle:
                channels = int(numpy.frombuffer(handle.read(4), "<u4")[0])
            size = __import__("os").path.getsize(self.file_name) - 4
            self._shape = (size // (4 * channels), channels)
            return {"nb_channels": channels, "data_dtype": "float32", "gain": 1}

        def _open(self, mode="r"):
            self.data = numpy.memmap(self.file_name, "<f4", mode, offset=4, shape=self._shape)

        def read_chunk(self, idx, chunk_size, padding=(0, 0), nodes=None):
            start, stop = self._get_t_start_t_stop(idx, chunk_size, padding)
            rows = self.data[start:stop]
            return self._scale_data_to_float32(rows if nodes is None else rows[:, nodes], nodes)
''')


def test_plugin_folder_good_and_broken(tmp_path, monkeypatch):
    folder = tmp_path / "formats"
    folder.mkdir()
    (folder / "counting.py").write_text(PLUGIN)
    (folder / "broken.py").write_text("raise RuntimeError('plugin exploded')\n")
    monkeypatch.setenv("WAVESCOPE_FORMATS_PATH", str(folder))
    formats = supported_formats(reload=True)
    try:
        assert "counting" in formats and "raw_binary" in formats
        assert any("broken.py" in e and "plugin exploded" in e for e in plugin_errors)
        data = np.arange(60, dtype="<f4").reshape(20, 3)
        path = tmp_path / "x.cnt"
        path.write_bytes(np.array([3], "<u4").tobytes() + data.tobytes())
        df = open_datafile(str(path), {"sampling_rate": 100})     # format guessed from the extension
        assert df.description == "counting" and df.header_fields >= {"nb_channels", "data_dtype"}
        assert_conforms(str(path), "counting", {"sampling_rate": 100}, expected=data, scratch_dir=str(tmp_path))
    finally:
        monkeypatch.delenv("WAVESCOPE_FORMATS_PATH")
        supported_formats(reload=True)


def test_entry_point_plugin(tmp_path, monkeypatch):
    package = tmp_path / "site"
    (package / "myformat").mkdir(parents=True)
    (package / "myformat" / "__init__.py").write_text(PLUGIN.replace('"counting"', '"counting_ep"'))
    dist = package / "myformat-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myformat\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[wavescope.formats]\ncounting_ep = myformat:CountingFile\n"
                                           "bad = myformat:DoesNotExist\n")
    monkeypatch.syspath_prepend(str(package))
    try:
        formats = supported_formats(reload=True)
        assert formats["counting_ep"].__name__ == "CountingFile"
        assert any("bad" in e for e in plugin_errors)
    finally:
        sys.modules.pop("myformat", None)
        monkeypatch.undo()
        supported_formats(reload=True)
