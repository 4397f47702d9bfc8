"""Probe (.prb) files: parsed as data and never run, validated against a recording, written as plain data."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from app.io.errors import ProbeError
from app.io.probe import (
    ChannelGroup,
    Probe,
    grid_probe,
    library_probes,
    linear_probe,
    multi_shank_probe,
    parse_probe_text,
    read_probe,
    write_probe,
)

# Two columns 20 um apart, 20 um pitch: channel i at ((i % 2) * 20, (i // 2) * 20).
EXPECTED_8 = {
    "total_nb_channels": 8,
    "radius": 100.0,
    "channel_groups": {0: {"channels": list(range(8)),
                           "geometry": {i: (float(i % 2 * 20), float(i // 2 * 20)) for i in range(8)},
                           "graph": []}},
}

IDIOMS = {
    "literal_with_comments_and_trailing_commas": """
# A two-column probe.   total_nb_channels = 3 in a comment changes nothing
total_nb_channels = 8  # all of them
radius = 100

channel_groups = {
    0: {  # the only shank
        'channels': [0, 1, 2, 3, 4, 5, 6, 7,],
        'graph': [],
        'geometry': {
            0: [0, 0], 1: [20, 0],
            2: (0, 20), 3: (20, 20),
            4: (0, 40), 5: (20, 40),
            6: (0, 60), 7: (20, 60),
        },
    },
}
""",
    "range_and_comprehension": """
total_nb_channels = 8
radius = 100
channel_groups = {0: {'channels': list(range(8)),
                      'geometry': {i: ((i % 2) * 20, (i // 2) * 20) for i in range(0, 8)}}}
""",
    "variables_used_later": """
n = 8
pitch, columns = 20, 2
total_nb_channels = n
radius = 5 * pitch
channels = range(n)
channel_groups = {0: {'channels': channels,
                      'geometry': {c: (c % columns * pitch, c // columns * pitch) for c in channels},
                      'graph': []}}
""",
    "for_loop_building_geometry": """
total_nb_channels = 8
radius = 100
geometry = {}
for row in range(4):
    for col in range(2):
        geometry[2 * row + col] = (col * 20.0, row * 20.0)
channel_groups = {}
channel_groups[0] = {'channels': sorted(geometry), 'geometry': geometry, 'graph': []}
""",
    "zip_enumerate_and_slices": """
xs = [0, 20] * 4
ys = [y for y in range(0, 80, 10) if y % 20 == 0]
total_nb_channels = len(xs)
radius = max(50, 100)
pairs = list(zip(xs, [y for y in ys for _ in range(2)]))
channel_groups = {0: {'channels': [i for i, _ in enumerate(pairs)],
                      'geometry': dict(enumerate(pairs[:8])),
                      'graph': [],
                      }}
""",
    "conditional_augmented_and_unpacking": """
total_nb_channels = 0
geometry = {}
for k in range(8):
    total_nb_channels += 1
    x, y = (20 if k % 2 else 0), 20 * (k // 2)
    geometry[k] = (abs(x), float(y))
radius = 99
radius += 1
channel_groups = {0: {'channels': tuple(range(total_nb_channels)), 'geometry': geometry}}
""",
    "docstring_and_groups_filled_item_by_item": """
\"\"\"A probe described in a docstring; the groups are filled in after.\"\"\"
total_nb_channels = 8 ; radius = 100
channel_groups = {0: dict()}
shank = list(reversed(range(8)))[::-1]
coordinates = [[0, 0], [20, 0], [0, 20], [20, 20], [0, 40], [20, 40], [0, 60], [20, 60]]
channel_groups[0]["channels"] = shank
channel_groups[0]["geometry"] = dict(zip(shank, coordinates))
channel_groups[0]["graph"] = []
""",
}


def as_dict(probe: Probe) -> dict:
    return {"total_nb_channels": probe.total_nb_channels, "radius": probe.radius,
            "channel_groups": {gid: {"channels": g.channels, "geometry": g.geometry, "graph": g.graph}
                               for gid, g in probe.channel_groups.items()}}


def python_runs(paths: list[str]) -> list[dict]:
    """What Python itself computes from each file, in a separate isolated interpreter (tests only)."""
    script = (
        "import json, sys\n"
        "out = []\n"
        "for path in sys.argv[1:]:\n"
        "    names = {}\n"
        "    exec(compile(open(path).read(), path, 'exec'), names)\n"
        "    groups = [[repr(g), list(v['channels']), sorted([k, list(xy)] for k, xy in v['geometry'].items()),\n"
        "               [list(e) for e in v.get('graph', [])]] for g, v in names['channel_groups'].items()]\n"
        "    out.append([names['total_nb_channels'], names['radius'], groups])\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([sys.executable, "-I", "-c", script, *paths], capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout)


def as_python_run(probe: Probe) -> list:
    groups = [[repr(gid), g.channels, sorted([k, list(xy)] for k, xy in g.geometry.items()),
               [list(e) for e in g.graph]] for gid, g in probe.channel_groups.items()]
    return [probe.total_nb_channels, probe.radius, groups]


def sample_probe() -> Probe:
    """Non-trivial: string and int group ids, a graph, fractional and negative coordinates, a gap."""
    return Probe(12, 62.5, {
        "shank A": ChannelGroup([0, 1, 2], {0: (0.0, 0.0), 1: (-12.5, 17.25), 2: (0.1, 1e-3)}, [(0, 1), (1, 2)]),
        3: ChannelGroup([5, 4, 7], {4: (200.0, 0.0), 5: (200.0, 20.0), 7: (216.0, 40.0)}, []),
    })


# ------------------------------------------------------------------------------------ parsing

@pytest.mark.parametrize("name", IDIOMS)
def test_idioms_give_the_expected_probe(name):
    assert as_dict(parse_probe_text(IDIOMS[name])) == EXPECTED_8


def test_idioms_agree_with_python_itself(tmp_path):
    paths = []
    for name, text in IDIOMS.items():
        paths.append(str(tmp_path / f"{name}.prb"))
        (tmp_path / f"{name}.prb").write_text(text)
    for path, ran in zip(paths, python_runs(paths)):
        assert as_python_run(read_probe(path)) == ran, path


def test_several_groups_graph_and_string_ids():
    probe = parse_probe_text("""
total_nb_channels = 10
radius = 80
shanks = ['left', 'right']
channel_groups = {
    name: {'channels': [5 * s + k for k in range(5) if k != 2],
           'geometry': {5 * s + k: (150 * s, 25 * k) for k in range(5)},
           'graph': [(5 * s, 5 * s + 1)]}
    for s, name in enumerate(shanks)
}
""", "two.prb")
    assert list(probe.channel_groups) == ["left", "right"]
    right = probe.channel_groups["right"]
    assert right.channels == [5, 6, 8, 9]
    assert right.geometry[9] == (150.0, 100.0)
    assert right.graph == [(5, 6)]
    assert probe.file_name == "two.prb"
    assert probe.group_of(8) == "right" and probe.group_of(2) is None
    assert probe.dead_channels(10) == [2, 7]


HOSTILE = [
    ("import os", 1, "import"),
    ("import numpy as np", 1, "import"),
    ("from os import system", 1, "import"),
    ("total_nb_channels = 4\n__import__('os').system('true')", 2, "__import__"),
    ("radius = 1\nf = open('/etc/passwd')", 2, "open"),
    ("x = 1\ny = 2\nos.system('true')", 3, "attribute access"),
    ("x = (1).__class__", 1, "attribute access"),
    ("x = [].append", 1, "attribute access"),
    ("f = lambda: 0", 1, "lambda"),
    ("def f():\n    return 1", 1, "function definition"),
    ("class A:\n    pass", 1, "class definition"),
    ("x = 0\nwhile True:\n    x += 1", 2, "while loop"),
    ("exec('import os')", 1, "exec"),
    ("x = eval('1')", 1, "eval"),
    ("x = getattr(1, 'real')", 1, "getattr"),
    ("x = __builtins__", 1, "__builtins__"),
    ("range = list", 1, "rebinding"),
    ("if False:\n    import os", 2, "import"),
    ("x = [i for i in range(3)]\ny = f'{x}'", 2, "f-string"),
    ("x = 1\nwith open('a') as f:\n    pass", 2, "with"),
    ("x = [0][0](1)", 1, "calling"),
    ("x = 1 << 100000", 1, "<<"),
    ("x = b'bytes'", 1, "constant"),
    ("x = range(10 ** 9)", 1, "range"),
    ("n = 10 ** 12\nx = list(range(n))", 2, "range"),
    ("x = [0] * 10 ** 9", 1, "steps"),
    ("x = 'a' * 10 ** 10", 1, "steps"),
    ("x = 2 ** 10 ** 8", 1, "too large"),
    ("x = 9\nfor i in range(20):\n    x = x * x", 3, "too large"),
    ("x = '%0999999999d' % 1", 1, "numbers only"),
    ("x = sum([[0] * 100] * 100, [])", 1, "numbers only"),
    ("x = 1 / 0", 1, "division by zero"),
    ("x = y + 1", 1, "'y' is not defined"),
    ("x = {'a': 1}['b']", 1, "no key 'b'"),
    ("x = [1, 2,\n", 1, "syntax"),
    ("x = 1\n  y = 2", 2, "syntax"),
]


@pytest.mark.parametrize("text, line, words", HOSTILE, ids=[t for t, _, _ in HOSTILE])
def test_unsafe_or_broken_files_are_rejected_with_the_line(text, line, words):
    with pytest.raises(ProbeError) as caught:
        parse_probe_text(text, "evil.prb")
    message = str(caught.value)
    assert message.startswith(f"evil.prb, line {line}:"), message
    assert words in message
    assert caught.value.line == line and caught.value.file_name == "evil.prb"


def test_rejection_hints_that_a_probe_is_data():
    with pytest.raises(ProbeError, match="a .prb file is data"):
        parse_probe_text("import os")


def test_the_step_budget_stops_long_loops():
    text = "x = 0\nfor i in range(1000):\n    for j in range(1000):\n        x += 1"
    with pytest.raises(ProbeError, match="line 4: the file asks for more than 20,000 evaluation steps"):
        parse_probe_text(text, "loop.prb", max_steps=20_000)


def test_a_self_extending_loop_is_stopped():
    text = "a = [1]\nfor x in a:\n    a += [x]"
    with pytest.raises(ProbeError, match="evaluation steps"):
        parse_probe_text(text, "grow.prb", max_steps=50_000)


def test_deeply_nested_data_gives_a_short_error():
    text = ("a = 0\nfor i in range(50000):\n    a = [a]\n"
            "total_nb_channels = 1\nradius = 1\nchannel_groups = {0: {'channels': a, 'geometry': {}}}")
    with pytest.raises(ProbeError, match=re.escape("line 6: channel_groups[0]['channels']: [[[...]]] is not")):
        parse_probe_text(text)


def test_nothing_runs_before_the_whole_file_is_checked(tmp_path):
    marker = tmp_path / "touched"
    text = f"x = 1\nopen({str(marker)!r}, 'w')\nimport os"
    with pytest.raises(ProbeError, match="line 2"):
        parse_probe_text(text)
    assert not marker.exists()


@pytest.mark.parametrize("text, words", [
    ("radius = 100\nchannel_groups = {}", "total_nb_channels not defined"),
    ("x = 1", "total_nb_channels, radius, channel_groups not defined"),
    ("total_nb_channels = 2.5\nradius = 1\nchannel_groups = {}", "line 1: total_nb_channels must be a whole"),
    ("total_nb_channels = 2\nradius = 'far'\nchannel_groups = {}", "line 2: radius must be"),
    ("total_nb_channels = 2\nradius = 1\nchannel_groups = [0, 1]", "line 3: channel_groups must be a dict"),
    ("total_nb_channels = 2\nradius = 1\nchannel_groups = {0: {'channels': [0]}}", "'channels' and 'geometry'"),
    ("total_nb_channels = 2\nradius = 1\nchannel_groups = {0: {'channels': [-1], 'geometry': {}}}",
     "-1 is not a channel number"),
    ("total_nb_channels = 2\nradius = 1\nchannel_groups = {0: {'channels': [0], 'geometry': {0: (1, 2, 3)}}}",
     "must be a position (x, y)"),
    (("total_nb_channels = 2\nradius = 1\ngraph = [(0, 1, 2)]\n"
     "channel_groups = {0: {'channels': [0], 'geometry': {0: (0, 0)}, 'graph': graph}}"),
     "is not a (channel, channel) pair"),
])
def test_structure_errors_name_the_problem(text, words):
    with pytest.raises(ProbeError, match=re.escape(words)):
        parse_probe_text(text, "shape.prb")


def test_read_probe_errors(tmp_path):
    with pytest.raises(ProbeError, match="does not exist; check the mapping path"):
        read_probe(tmp_path / "nowhere.prb")
    with pytest.raises(ProbeError, match="is a folder"):
        read_probe(tmp_path)


def test_read_probe_accepts_a_latin1_comment(tmp_path):
    path = tmp_path / "old.prb"
    path.write_bytes("# positions in \xb5m\n".encode("latin-1") + IDIOMS["range_and_comprehension"].encode())
    probe = read_probe(path)
    assert as_dict(probe) == EXPECTED_8 and probe.file_name == str(path)


# --------------------------------------------------------------------------------- validation

def test_validate_accepts_a_fitting_probe_and_warns_about_dead_channels():
    probe = parse_probe_text(IDIOMS["range_and_comprehension"].replace("total_nb_channels = 8",
                                                                       "total_nb_channels = 10"))
    warnings = probe.validate(10)
    assert probe.dead_channels(10) == [8, 9]
    assert any("dead" in w and "8, 9" in w for w in warnings)
    assert linear_probe(16).validate(16) == []


def test_validate_channel_beyond_the_recording():
    probe = linear_probe(8)
    probe.total_nb_channels = 6
    with pytest.raises(ProbeError) as caught:
        probe.validate(6)
    message = str(caught.value)
    assert "group 0: channel(s) 6, 7 do not exist" in message and "0 to 5" in message


def test_validate_total_mismatch_says_both_numbers():
    with pytest.raises(ProbeError, match="total_nb_channels = 32 in the probe but the recording has "
                                         "nb_channels = 64"):
        linear_probe(32).validate(64)


def test_validate_missing_geometry_and_duplicates():
    probe = Probe(4, 100.0, {0: ChannelGroup([0, 1], {0: (0.0, 0.0)}, []),
                             1: ChannelGroup([1, 2, 2], {1: (0.0, 0.0), 2: (5.0, 0.0)}, [])}, "dup.prb")
    with pytest.raises(ProbeError) as caught:
        probe.validate(4)
    message = str(caught.value)
    assert message.startswith("dup.prb: the probe does not fit a recording of 4 channels")
    assert "group 0: channel(s) 1 have no position" in message
    assert "channel 1 is in groups 0 and 1" in message
    assert "channel 2 is twice in group 1" in message


def test_validate_warnings_for_odd_but_usable_probes():
    probe = Probe(3, 0.0, {0: ChannelGroup([0, 1], {0: (0.0, 0.0), 1: (0.0, 0.0), 2: (9.0, 9.0)},
                                           [(0, 2)])})
    warnings = "\n".join(probe.validate(3))
    assert "no channel has neighbours" in warnings
    assert "places channel(s) 2" in warnings and "links channel(s) 2" in warnings
    assert "channels 0 and 1 share the position (0, 0)" in warnings


def test_positions_group_order_and_depth_order():
    probe = sample_probe()
    np.testing.assert_array_equal(probe.channels, [0, 1, 2, 5, 4, 7])
    np.testing.assert_array_equal(probe.positions([7, 1]), [[216.0, 40.0], [-12.5, 17.25]])
    assert probe.positions().shape == (6, 2)
    np.testing.assert_array_equal(probe.depth_order(), [0, 4, 2, 1, 5, 7])
    with pytest.raises(ProbeError, match="no position for channel"):
        probe.positions([3])


# ------------------------------------------------------------------------------------ writing

GENERATED = {
    "linear": linear_probe(10, pitch=25.0, columns=2, column_pitch=16.0, stagger=12.5, radius=60),
    "shanks": multi_shank_probe(3, 4),
    "grid": grid_probe(3, 4, pitch=50.0),
    "sample": sample_probe(),
}


@pytest.mark.parametrize("name", GENERATED)
def test_to_text_round_trip_is_identical(name):
    probe = GENERATED[name]
    text = probe.to_text()
    assert text == probe.to_text()
    again = parse_probe_text(text)
    assert replace(again, file_name=None) == probe
    assert again.to_text() == text


def test_to_text_is_what_python_computes_too(tmp_path):
    paths = []
    for name, probe in GENERATED.items():
        write_probe(probe, tmp_path / f"{name}.prb")
        paths.append(str(tmp_path / f"{name}.prb"))
    assert python_runs(paths) == [as_python_run(probe) for probe in GENERATED.values()]


def test_write_probe_replaces_atomically(tmp_path):
    path = tmp_path / "probe.prb"
    path.write_text("old")
    os.chmod(path, 0o640)
    write_probe(GENERATED["shanks"], path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probe.prb"]
    assert (path.stat().st_mode & 0o777) == 0o640
    assert replace(read_probe(path), file_name=None) == GENERATED["shanks"]
    with pytest.raises(OSError):
        write_probe(GENERATED["shanks"], tmp_path / "missing" / "probe.prb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probe.prb"]


# --------------------------------------------------------------------------------- generators

def test_linear_probe_geometry():
    probe = GENERATED["linear"]
    group = probe.channel_groups[0]
    assert probe.total_nb_channels == 10 and probe.radius == 60.0 and group.channels == list(range(10))
    assert [group.geometry[i] for i in range(4)] == [(0.0, 0.0), (16.0, 12.5), (0.0, 25.0), (16.0, 37.5)]


def test_multi_shank_probe_geometry():
    probe = GENERATED["shanks"]
    assert list(probe.channel_groups) == [0, 1, 2]
    assert probe.channel_groups[2].channels == [8, 9, 10, 11]
    assert probe.channel_groups[2].geometry[9] == (400.0, 20.0)
    assert probe.validate(12) == []


def test_grid_probe_geometry():
    probe = GENERATED["grid"]
    np.testing.assert_array_equal(probe.positions([0, 3, 4, 11]), [[0, 0], [150, 0], [0, 50], [150, 100]])
    mea = grid_probe(8, 8, pitch=200.0, drop_corners=True)
    assert mea.total_nb_channels == 60
    corners = {(0.0, 0.0), (1400.0, 0.0), (0.0, 1400.0), (1400.0, 1400.0)}
    assert not corners & set(mea.channel_groups[0].geometry.values())


# ------------------------------------------------------------------------------------ library

def test_every_library_file_parses_and_validates():
    library = library_probes()
    assert set(library) >= {"linear_32", "linear_64_2col", "tetrode_4x4", "neuropixels_1_384", "mea_8x8",
                            "multishank_4x8"}
    for name, path in library.items():
        probe = read_probe(path)
        assert probe.validate(probe.total_nb_channels) == [], name
        assert replace(parse_probe_text(probe.to_text()), file_name=None) == replace(probe, file_name=None)


def test_library_files_are_what_python_computes_too():
    paths = [str(p) for p in library_probes().values()]
    assert python_runs(paths) == [as_python_run(read_probe(p)) for p in paths]


def library_probe(name: str) -> Probe:
    return replace(read_probe(library_probes()[name]), file_name=None)


def test_library_layouts_match_the_generators():
    assert library_probe("linear_32") == linear_probe(32)
    assert library_probe("linear_64_2col") == linear_probe(64, columns=2)
    assert library_probe("multishank_4x8") == multi_shank_probe(4, 8)
    assert library_probe("mea_8x8") == grid_probe(8, 8, pitch=200.0, radius=250, drop_corners=True)


def test_linear_64_2col_is_the_demo_layout(tmp_path):
    from app.model.demo import DemoSpec, probe_geometry, write_demo
    demo = read_probe(write_demo(tmp_path, DemoSpec(seconds_per_part=0.2)).with_name("demo.prb"))
    assert replace(demo, file_name=None) == library_probe("linear_64_2col")
    np.testing.assert_array_equal(demo.positions(), probe_geometry(DemoSpec()))


def test_neuropixels_1_bank_0_checkerboard():
    probe = library_probe("neuropixels_1_384")
    xy = probe.positions()
    assert probe.total_nb_channels == 384 and xy.shape == (384, 2)
    np.testing.assert_array_equal(xy[:4], [[43, 0], [11, 0], [59, 20], [27, 20]])
    np.testing.assert_array_equal(xy[:, 0], np.tile([43, 11, 59, 27], 96))
    np.testing.assert_array_equal(xy[:, 1], np.arange(384) // 2 * 20)
    assert xy[:, 1].max() == 3820


def test_tetrodes_are_four_groups_of_four():
    probe = library_probe("tetrode_4x4")
    assert list(probe.channel_groups) == [0, 1, 2, 3]
    for k, group in probe.channel_groups.items():
        assert group.channels == [4 * k + j for j in range(4)]
        xy = probe.positions(group.channels)
        assert np.ptp(xy[:, 0]) == 20 and np.ptp(xy[:, 1]) == 20 and xy[:, 0].min() == 200 * k
