"""Any .prb is decided within bounded memory: the worst files are read in a fresh process that
reports its verdict and peak RSS (asserted) and its time (printed, never asserted); plain displays
are read by json exactly as Python reads them; probeinterface's numpy-2 files are accepted."""

from __future__ import annotations

import ast
import textwrap

import pytest

from app.io.errors import ProbeError
from app.io.probe import parse_probe_text, read_probe, write_probe
from tests.bench.bench_probe_worst import REAL_CASES, WORST_CASES, measure

MEMORY_BOUND_MB = 300


@pytest.mark.parametrize("name", sorted(WORST_CASES))
def test_worst_files_are_refused_within_the_memory_bound(name, tmp_path):
    path = tmp_path / f"{name}.prb"
    path.write_text(WORST_CASES[name]())
    result = measure(path, timeout=120)
    print(f"\n{name}: {result['verdict']} in {result['seconds']:.2f} s, peak RSS {result['peak_mb']:.0f} MB")
    assert result["verdict"] == "refused", result
    assert result["peak_mb"] < MEMORY_BOUND_MB


def test_the_largest_real_probe_is_accepted_within_the_memory_bound(tmp_path):
    path = tmp_path / "big.prb"
    path.write_text(REAL_CASES["real_4096_channels_with_graph"]())
    result = measure(path, timeout=120)
    print(f"\n4096 channels with graph: {result['verdict']} in {result['seconds']:.2f} s, "
          f"peak RSS {result['peak_mb']:.0f} MB")
    assert result["verdict"] == "accepted", result
    assert result["peak_mb"] < MEMORY_BOUND_MB
    probe = read_probe(path)
    assert probe.total_nb_channels == 4096 and len(probe.channel_groups) == 4
    assert probe.channel_groups[3].geometry[3073] == (782.0, 0.0)
    assert probe.channel_groups[0].graph[:3] == [(0, 1), (0, 2), (0, 3)]


def test_refusals_name_the_limit():
    with pytest.raises(ProbeError, match="more than 400 digits|at most 400 digits"):
        parse_probe_text("s = '7' * 4299\nx = int(s)\n", "p.prb")
    with pytest.raises(ProbeError, match="nested more than 64 deep"):
        parse_probe_text("x = " + "[" * 300 + "0" * 300 + "]" * 300 + "\n", "p.prb")
    with pytest.raises(ProbeError, match="list items is far more"):
        parse_probe_text("x = [" + "0," * 1_100_000 + "]\n", "p.prb")


DISPLAY = """[
    (1, 2), (3,), (), (4), ((5, 6)), [7, 8,], {0: (0.5, -1e-3), -2: [1.5e2]},  # a comment (with, brackets]
    {}, [], (-0.0, 10), [np.int64(3), numpy.float64(-2), np.uint8(255), np.float32(1.5e-05)],
""" + "    (0, 1),\n" * 40 + "]"


def test_a_lifted_display_is_what_python_reads():
    text = f"x = {DISPLAY}\ntotal_nb_channels = 1\nradius = 1\nchannel_groups = {{}}\n"
    from app.io.probe import _Evaluator, _lift_displays, _syntax_tree
    skeleton, lifted, _ = _lift_displays(text, "p.prb")
    assert len(lifted) == 1 and skeleton.count("\n") == text.count("\n")
    evaluator = _Evaluator(skeleton, "p.prb", 10_000, lifted)
    evaluator.run(_syntax_tree(skeleton, "p.prb"))
    python = ast.literal_eval(DISPLAY.replace("np.int64(3)", "3").replace("numpy.float64(-2)", "-2.0")
                              .replace("np.uint8(255)", "255").replace("np.float32(1.5e-05)", "1.5e-05"))
    assert evaluator.names["x"] == python
    assert [type(v) for v in evaluator.names["x"][:6]] == [tuple, tuple, tuple, int, tuple, list]
    assert type(evaluator.names["x"][10][1]) is float


def test_a_display_in_a_loop_is_built_afresh_each_time():
    text = textwrap.dedent("""
        rows = []
        for i in range(3):
            row = [""" + "0, " * 100 + """]
            row[0] = i
            rows.append(row)
        total_nb_channels = 3
        radius = 1
        channel_groups = {0: {'channels': [r[0] for r in rows], 'geometry': {c: (0, c) for c in range(3)}}}
    """).replace("rows.append(row)", "rows += [row]")
    probe = parse_probe_text(text, "p.prb")
    assert probe.channel_groups[0].channels == [0, 1, 2]


# What probeinterface's write_prb writes under numpy 2: reprs of numpy scalars inside lists,
# plain str() for the geometry keys and the radius (hand-written in its exact layout).
PROBEINTERFACE_NUMPY2 = """total_nb_channels = 4
radius = 100.0
channel_groups = {
    0:
        {
           'channels': [np.int64(0), np.int64(1), np.int64(2), np.int64(3)],
           'geometry':  {
               0: [np.float64(0.0), np.float64(0.0)],
               1: [np.float64(0.0), np.float64(20.0)],
               2: [np.float64(16.0), np.float64(-20.5)],
               3: [numpy.float64(16.0), np.float64(40.0)],
           }
       },
}
"""


@pytest.mark.parametrize("scale", [1, 300])
def test_probeinterface_numpy2_file_is_accepted_and_written_plain(tmp_path, scale):
    """scale 1 goes through Python's parser, scale 300 through the lifted displays."""
    text = PROBEINTERFACE_NUMPY2
    if scale > 1:
        channels = ", ".join(f"np.int64({c})" for c in range(4 * scale))
        geometry = "".join(f"               {c}: [np.float64({c % 2 * 16.0}), np.float64({c * 20.0})],\n"
                           for c in range(4 * scale))
        text = text.replace("total_nb_channels = 4", f"total_nb_channels = {4 * scale}")
        text = text.split("'channels'")[0] + f"'channels': [{channels}],\n           'geometry':  {{\n{geometry}" \
            + "           }\n       },\n}\n"
    path = tmp_path / "pi.prb"
    path.write_text(text)
    probe = read_probe(path)
    assert probe.total_nb_channels == 4 * scale and probe.radius == 100.0
    group = probe.channel_groups[0]
    assert group.channels == list(range(4 * scale)) and all(type(c) is int for c in group.channels)
    if scale == 1:
        assert group.geometry == {0: (0.0, 0.0), 1: (0.0, 20.0), 2: (16.0, -20.5), 3: (16.0, 40.0)}
    else:
        assert group.geometry[5] == (16.0, 100.0)
    out = tmp_path / "plain.prb"
    write_probe(probe, out)
    written = out.read_text()
    assert "np." not in written and "numpy" not in written
    assert read_probe(out) == probe.__class__(**{**probe.__dict__, "file_name": str(out)})


def test_numpy_wrappers_only_with_a_literal_number():
    for text in ("x = np.int64(y)\n", "x = np.int64(1 + 1)\n", "x = np.array(3)\n", "x = os.int64(3)\n",
                 "x = np.int64(3, 4)\n", "x = np.int64('3')\n"):
        with pytest.raises(ProbeError, match="not allowed"):
            parse_probe_text(text, "p.prb")
