"""The wizard shows reader messages in its own words: no `--set`, `--format` or `wavescope ...`."""

from __future__ import annotations

import numpy as np
import pytest

from app.io import open_datafile
from app.io.errors import DataFileError, MissingFieldsError
from app.model.wording import for_gui, has_command_line_advice


def test_missing_fields_become_fill_them_in():
    error = MissingFieldsError("rec.dat", {"sampling_rate": "float", "nb_channels": "int"}, "raw_binary")
    assert has_command_line_advice(str(error))
    text = for_gui(str(error))
    assert not has_command_line_advice(text)
    assert "rec.dat: cannot open as raw_binary without sampling_rate (float), nb_channels (int)" in text
    assert text.endswith("Fill them in on this page.")


@pytest.mark.parametrize("message, expected", [
    ("rec.xyz: no known format reads this file; give --format.", ("rec.xyz: no known format reads this file; "
                                                                  "choose the format.")),
    ("it was taken as raw_binary (try --format intan to see why).", ("it was taken as raw_binary (choose the "
                                                                      "format intan to see why).")),
    ("the gain is unknown. Give gain (µV per bit) with --set gain=...", ("the gain is unknown. Give gain "
                                                                          "(µV per bit) in the field gain")),
    ("use --stream-mode recordings to chain them", "use the stream mode recordings to chain them"),
    ("check it with `wavescope check-format rec.dat`", "check it with Wavescope's check-format rec.dat command"),
])
def test_command_line_phrases(message, expected):
    assert for_gui(message) == expected
    assert not has_command_line_advice(for_gui(message))


def test_every_reader_error_on_a_headerless_file_reads_as_gui(tmp_path):
    path = tmp_path / "rec.dat"
    np.zeros((100, 4), np.int16).tofile(path)
    with pytest.raises(DataFileError) as caught:
        open_datafile(str(path))
    assert has_command_line_advice(str(caught.value)) and not has_command_line_advice(for_gui(str(caught.value)))
