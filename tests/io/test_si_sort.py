"""app.io.si_sort, the script a SpikeInterface sorter's environment runs: parameters typed from the
sorter's defaults, the output never overwritten, and a failed run leaving nothing but its log.

The sorting itself runs in tests/integration/test_si_sorters.py (real sorters in their own venv);
here SpikeInterface of the app's own environment stands in for the sorter's (same version)."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from app.io import si_sort
from app.io.si_sort import SortRunError, coerce_params, failed_log_path
from tests.conftest import synthetic_int16

pytest.importorskip("spikeinterface.sorters")

DEFAULTS = {"scheme": "2", "detect_threshold": 5.5, "snippet_T1": 20, "whiten": True, "whitening_seed": None,
            "filtering": {"freq_min": 150, "ftype": "bessel"}, "job_kwargs": {}}


def test_text_values_take_the_type_of_the_default():
    params = coerce_params({"scheme": "3", "detect_threshold": "6", "snippet_T1": "30.0", "whiten": "false",
                            "whitening_seed": "7", "filtering.freq_min": "300", "job_kwargs": '{"n_jobs": 2}'},
                           DEFAULTS, "ms")
    assert params == {"scheme": "3", "detect_threshold": 6.0, "snippet_T1": 30, "whiten": False, "whitening_seed": 7,
                      "filtering": {"freq_min": 300, "ftype": "bessel"}, "job_kwargs": {"n_jobs": 2}}
    assert DEFAULTS["filtering"]["freq_min"] == 150                    # the defaults are not changed
    assert coerce_params({"whitening_seed": "none", "detect_threshold": 4}, DEFAULTS, "ms")["whitening_seed"] is None


@pytest.mark.parametrize("given, message", [
    ({"detect_thresold": "6"}, "ms has no parameter 'detect_thresold'; its parameters here are: detect_threshold"),
    ({"filtering.freq": "6"}, "ms has no parameter 'filtering.freq'; its parameters here are: freq_min, ftype"),
    ({"detect_threshold": "high"}, "--param detect_threshold=high: expected a float like the default 5.5"),
    ({"snippet_T1": "2.5"}, "expected a int like the default 20 (2.5 is not a whole number)"),
    ({"whiten": "maybe"}, "expected a bool like the default True"),
])
def test_a_wrong_parameter_is_named_with_the_fix(given, message):
    with pytest.raises(SortRunError) as raised:
        coerce_params(given, DEFAULTS, "ms")
    assert message in str(raised.value)


def test_an_occupied_output_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    si_sort.check_output(tmp_path / "out")                            # an empty folder is fine
    (tmp_path / "out" / "mine.txt").write_text("keep me")
    with pytest.raises(SortRunError, match="already exists and is not an empty folder"):
        si_sort.check_output(tmp_path / "out")
    with pytest.raises(SortRunError, match="no such folder for --output"):
        si_sort.check_output(tmp_path / "missing" / "out")


def test_a_failed_run_leaves_no_output_and_no_partial_only_its_log(tmp_path, make_raw, capsys):
    make_raw("rec.dat", synthetic_int16(2000, 4))
    assert main(["params", str(tmp_path / "rec.dat"), "--format", "raw_binary", "--set", "data_dtype=int16",
                 "--set", "nb_channels=4", "--set", "sampling_rate=20000"]) == 0
    capsys.readouterr()
    output = tmp_path / "sorted"
    code = si_sort.main(["run", str(tmp_path / "rec.params"), "--sorter", "mountainsort5", "--output", str(output)])
    error = capsys.readouterr().err
    assert code == 1
    assert f"wavescope: error: {tmp_path / 'rec.params'}: no probe: [data] has no mapping" in error
    assert "Traceback" not in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.dat", "rec.params", "sorted.failed.log"]
    assert "no probe" in failed_log_path(output).read_text()


def test_defaults_are_listed_as_json(capsys):
    assert si_sort.main(["defaults", "tridesclous2"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["params"]["detect_threshold"] == 5.0 and found["descriptions"]["detect_threshold"]
    assert si_sort.main(["defaults", "nosuchsorter"]) == 1
    assert "has no sorter 'nosuchsorter'; it has:" in capsys.readouterr().err
