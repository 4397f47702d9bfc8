"""SpyKING CIRCUS 1.1.0 reads the params files `wavescope params` writes, sees our samples, and
never rewrites the recording when `wavescope sort` runs it unless the user allowed it.

SpyKING CIRCUS lives in its managed environment, built once by `wavescope sorters install` into
``~/.cache/wavescope-tests/sorters`` (tests/integration/conftest.py; or give an interpreter that
has it with ``WAVESCOPE_SC_PYTHON``). Building it needs PyPI; without it the tests skip and say
why. SpyKING CIRCUS runs as a child process, never imported here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.io import open_datafile
from app.io.params import ParamsFile

pytestmark = pytest.mark.integration

SC_VERSION = "1.1.0"

# Run by SpyKING CIRCUS's interpreter: open the recording through its own parser and reader.
SC_READER = """
import json, sys
import numpy as np
from circus.shared.parser import CircusParser

parser = CircusParser(sys.argv[1])
# The recording itself, as the filtering step opens it (with overwrite = False later steps read the copy).
data = parser.get_data_file(source=True, has_been_created=False)
data.open()
whole, _ = data.get_data(0, data.duration)
padded, t_offset = data.get_data(1, 7000, padding=(-250, 250), nodes=np.roll(np.arange(16), 5))
np.save(sys.argv[2], whole)
np.save(sys.argv[3], padded)
print("WAVESCOPE-JSON:" + json.dumps({
    "nb_channels": int(data.nb_channels), "sampling_rate": float(data.sampling_rate),
    "data_dtype": str(data.data_dtype), "dtype_offset": float(data.dtype_offset),
    "gain": float(data.gain), "duration": int(data.duration), "t_offset": int(t_offset),
    "chunk_size": parser.getint("data", "chunk_size"), "N_t": parser.getint("detection", "N_t"),
    "cut_off": parser.get("filtering", "cut_off"), "N_e": parser.getint("data", "N_e"),
}))
data.close()
"""


def _run(command: list[str], timeout: float, **options) -> subprocess.CompletedProcess:
    """Run without a terminal: stdin closed, so a prompt fails instead of waiting forever."""
    return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, check=False, **options)


def _tail(text: str, lines: int = 6) -> str:
    useful = [line for line in text.splitlines() if line.strip() and "is ignored" not in line]
    return " | ".join(useful[-lines:])


def _has_circus(python: Path) -> bool:
    """SpyKING CIRCUS at SC_VERSION with everything its launcher imports."""
    probe = _run([str(python), "-c", "import circus, circus.scripts.launch; print(circus.__version__)"],
                 timeout=120)
    return probe.returncode == 0 and probe.stdout.strip() == SC_VERSION


@pytest.fixture(scope="session")
def sc_python(circus_env) -> Path:
    """An interpreter with SpyKING CIRCUS 1.1.0: WAVESCOPE_SC_PYTHON, else the managed environment
    `wavescope sorters install spyking-circus` builds (tests/integration/conftest.py)."""
    given = os.environ.get("WAVESCOPE_SC_PYTHON")
    if given:
        if not _has_circus(Path(given)):
            pytest.fail(f"WAVESCOPE_SC_PYTHON={given} cannot import circus {SC_VERSION}")
        return Path(given)
    return circus_env.python


def write_recording(folder: Path, dtype: str, header_bytes: int, seed: int) -> np.ndarray:
    """16 channels, 3 s at 20 kHz, interleaved after a header of junk bytes, like the layout says."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    data = rng.integers(info.min, info.max, (60000, 16), endpoint=True).astype(dtype)
    with open(folder / "rec.dat", "wb") as handle:
        handle.write(b"\x5a" * header_bytes)
        handle.writelines(row.astype(np.dtype(dtype).newbyteorder("<")).tobytes() for row in data)
    (folder / "probe.prb").write_text(
        "total_nb_channels = 16\nradius = 100\n"
        "channel_groups = {1: {'channels': list(range(16)), 'graph': [],\n"
        "                      'geometry': {c: (0, 25 * c) for c in range(16)}}}\n")
    return data


@pytest.mark.parametrize("dtype, gain, header_bytes", [("int16", 0.195, 0), ("uint16", 0.5, 72)])
def test_spyking_circus_reads_our_params_and_samples(sc_python, tmp_path, capsys, dtype, gain, header_bytes):
    write_recording(tmp_path, dtype, header_bytes, seed=11)
    status = main(["params", str(tmp_path / "rec.dat"), "--format", "raw_binary",
                   "--probe", str(tmp_path / "probe.prb"), "--set", f"data_dtype={dtype}",
                   "--set", "nb_channels=16", "--set", "sampling_rate=20000", "--set", f"gain={gain}",
                   "--set", f"data_offset={header_bytes}"])
    assert status == 0, capsys.readouterr().err
    with open_datafile(str(tmp_path / "rec.params")) as ours:
        expected_whole = ours.read_range(0, ours.duration)
        expected_padded, expected_offset = ours.get_data(1, 7000, padding=(-250, 250),
                                                         nodes=np.roll(np.arange(16), 5))
        expected_offset_value = ours.dtype_offset

    script = tmp_path / "sc_reader.py"
    script.write_text(SC_READER)
    started = time.perf_counter()
    result = _run([str(sc_python), str(script), str(tmp_path / "rec.dat"), str(tmp_path / "sc_whole.npy"),
                   str(tmp_path / "sc_padded.npy")], timeout=300, cwd=tmp_path,
                  env={**os.environ, "PYTHONNOUSERSITE": "1", "PYTHONPATH": ""})
    print(f"SpyKING CIRCUS read the recording in {time.perf_counter() - started:.1f} s")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    reply = [line for line in result.stdout.splitlines() if line.startswith("WAVESCOPE-JSON:")]
    assert reply, f"SpyKING CIRCUS printed no result: {result.stdout[-2000:]} {result.stderr[-2000:]}"
    seen = json.loads(reply[0].split(":", 1)[1])

    assert seen["nb_channels"] == 16 and seen["N_e"] == 16
    assert seen["sampling_rate"] == 20000.0
    assert seen["data_dtype"] == dtype
    assert seen["dtype_offset"] == expected_offset_value == (32768 if dtype == "uint16" else 0)
    assert seen["gain"] == gain
    assert seen["duration"] == 60000
    assert seen["t_offset"] == expected_offset == 7000
    # Other sections came through: SpyKING CIRCUS converts these to samples with our rate.
    assert seen["chunk_size"] == 30 * 20000
    assert seen["N_t"] == 61
    assert seen["cut_off"] == "300, auto"
    np.testing.assert_array_equal(np.load(tmp_path / "sc_whole.npy"), expected_whole)
    np.testing.assert_array_equal(np.load(tmp_path / "sc_padded.npy"), expected_padded)


# -- `wavescope sort` runs the real filtering step and leaves the recording alone ------------------
def _sha256(path: Path) -> str:
    import hashlib
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sort(sc_python: Path, folder: Path, *extra: str) -> subprocess.CompletedProcess:
    """`wavescope sort rec.params --steps filtering` in a real process, the SC venv's bin first on PATH."""
    env = {**os.environ, "PATH": f"{sc_python.parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONNOUSERSITE": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return _run([sys.executable, "-m", "app.cli", "sort", str(folder / "rec.params"), "--steps", "filtering",
                 "--cpus", "1", *extra], timeout=600, cwd=folder, env=env)


def test_sorting_with_our_params_never_changes_a_byte_of_the_recording(sc_python, tmp_path, capsys):
    data = write_recording(tmp_path, "int16", 0, seed=5)
    status = main(["params", str(tmp_path / "rec.dat"), "--format", "raw_binary",
                   "--probe", str(tmp_path / "probe.prb"), "--set", "data_dtype=int16",
                   "--set", "nb_channels=16", "--set", "sampling_rate=20000"])
    assert status == 0, capsys.readouterr().err
    raw = tmp_path / "rec.dat"
    before = _sha256(raw)

    done = _sort(sc_python, tmp_path)
    assert done.returncode == 0, _tail(done.stdout + done.stderr, 20)
    assert _sha256(raw) == before
    # The filter did run, on the float32 copy the wizard's cost line describes.
    copy = tmp_path / "rec" / "rec_all_sc.dat"
    assert copy.stat().st_size == data.shape[0] * data.shape[1] * 4
    filtered = np.fromfile(copy, dtype="<f4").reshape(data.shape)
    assert np.isfinite(filtered).all() and not np.allclose(filtered, data)


def test_an_in_place_run_is_refused_and_allowed_only_when_asked(sc_python, tmp_path, capsys):
    write_recording(tmp_path, "int16", 0, seed=6)
    status = main(["params", str(tmp_path / "rec.dat"), "--format", "raw_binary",
                   "--probe", str(tmp_path / "probe.prb"), "--set", "data_dtype=int16",
                   "--set", "nb_channels=16", "--set", "sampling_rate=20000"])
    assert status == 0, capsys.readouterr().err
    params = ParamsFile.read(tmp_path / "rec.params")
    params.set("data", "overwrite", True)
    params.write(tmp_path / "rec.params")
    raw = tmp_path / "rec.dat"
    before = _sha256(raw)

    refused = _sort(sc_python, tmp_path)
    assert refused.returncode == 1
    assert f"{raw}: this run would rewrite the recording in place (band-pass filter)" in refused.stderr
    assert "--allow-in-place" in refused.stderr and "overwrite = False" in refused.stderr
    assert _sha256(raw) == before and not (tmp_path / "rec").exists()     # SpyKING CIRCUS never started

    allowed = _sort(sc_python, tmp_path, "--allow-in-place")
    assert allowed.returncode == 0, _tail(allowed.stdout + allowed.stderr, 20)
    assert _sha256(raw) != before                                         # the filter ran, in place
    assert ParamsFile.read(tmp_path / "rec.params").get("noedits", "filter_done") == "True"


# -- the probe Wavescope exports from a header is read by SpyKING CIRCUS's own parser ---------------
SC_PROBE_READER = """
import json, sys
from circus.shared.parser import CircusParser
from circus.shared.probes import read_probe

parser = CircusParser(sys.argv[1])
probe = getattr(parser, "probe", None) or read_probe(parser)
sites = {}
for group in probe["channel_groups"].values():
    for channel, xy in group["geometry"].items():
        sites[int(channel)] = [float(v) for v in xy]
print("WAVESCOPE-JSON:" + json.dumps({"N_e": parser.getint("data", "N_e"),
                                      "total": int(probe["total_nb_channels"]), "sites": sites}))
"""


def test_spyking_circus_reads_the_probe_exported_from_a_spikeglx_header(sc_python, tmp_path, capsys):
    """A Neuropixels 1.0 header with a mixed bank selection -> `wavescope probe --export x.prb` ->
    SpyKING CIRCUS's parser places every channel where probeinterface places it."""
    import probeinterface

    from tests.io.test_probe_geometry import imec_meta, imro_np1, write
    n = 32
    bin_path, meta = write(tmp_path, imec_meta(n, imro_np1(n), "NP1000"))
    assert main(["probe", str(bin_path), "--export", str(tmp_path / "header.prb")]) == 0, \
        capsys.readouterr().err
    text = (tmp_path / "header.prb").read_text()
    assert "np." not in text and "int64" not in text                   # plain numbers only
    saved = n + 1                                                       # the sites and the sync word
    np.random.default_rng(3).integers(-500, 500, (20000, saved), dtype=np.int16).tofile(tmp_path / "rec.dat")
    status = main(["params", str(tmp_path / "rec.dat"), "--format", "raw_binary",
                   "--probe", str(tmp_path / "header.prb"), "--set", "data_dtype=int16",
                   "--set", f"nb_channels={saved}", "--set", "sampling_rate=30000"])
    assert status == 0, capsys.readouterr().err
    script = tmp_path / "sc_probe.py"
    script.write_text(SC_PROBE_READER)
    result = _run([str(sc_python), str(script), str(tmp_path / "rec.params")], timeout=300, cwd=tmp_path,
                  env={**os.environ, "PYTHONNOUSERSITE": "1", "PYTHONPATH": ""})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    reply = [line for line in result.stdout.splitlines() if line.startswith("WAVESCOPE-JSON:")]
    assert reply, result.stdout[-2000:] + result.stderr[-2000:]
    seen = json.loads(reply[0].split(":", 1)[1])
    assert seen["N_e"] == n and seen["total"] == saved                 # the sync word has no site
    expected = probeinterface.read_spikeglx(meta).contact_positions
    placed = np.array([seen["sites"][str(c)] for c in range(n)])
    np.testing.assert_allclose(placed, expected[:n])
    assert len({tuple(p) for p in placed}) == n                         # banks 0-2: no two alike
