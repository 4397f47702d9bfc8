"""SpikeInterface's sorters run from `wavescope sort` on a ground-truth recording and find its units.

A recording with known units (SpikeInterface's `generate_ground_truth_recording`: 16 channels,
10 units, 60 s, a fixed seed) is written as int16 raw binary with a gain, its probe as a .prb and
its params by `wavescope params`; `wavescope sort --sorter mountainsort5` (a real process, in the
SpikeInterface venv `wavescope sorters install` builds, cached under ~/.cache/wavescope-tests)
must find >= 80 % of the units at accuracy >= 0.8 (SpikeInterface's compare_sorter_to_ground_truth,
run in that venv). The whole chain -- params, probe, dtype, gain, channel order -- is right only
if it does. The same recording written as NWB (pynwb) and Open Ephys binary gives the same spike
trains; SpykingCircus2 and Tridesclous2 run to completion on it. Kilosort 4 is opt-in (-m slow).
Building the venv needs PyPI: without it the tests skip and say so. Skipped under --portable.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.integration.conftest import CACHE, REPOSITORY, pypi_unreachable

pytestmark = [pytest.mark.integration]
if os.environ.get("WAVESCOPE_FORCE_PORTABLE") == "1":
    pytestmark.append(pytest.mark.skip(reason="--portable: the sorters' venvs run real POSIX processes; "
                                              "run without --portable"))

SEED, DURATION, CHANNELS, UNITS, RATE, GAIN = 2205, 60.0, 16, 10, 30000.0, 0.195
MS5_SEED = ["--param", "whitening_seed=7"]          # MS5's whitening picks random chunks: fixed here


def wavescope(*args: str, timeout: float = 900, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`wavescope ARGS` in a real process; `env`: the sorter variables (module fixtures run before
    the per-test ones are set)."""
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, cwd=cwd or REPOSITORY, check=False,
                          env={**os.environ, **(env or {}), "PYTHONPATH": str(REPOSITORY)})


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_avg() -> str:
    return "load " + " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else ""


# -- the SpikeInterface venv ----------------------------------------------------------------------
def installed(name: str):
    """Sorter `name`'s managed environment, built by a real `wavescope sorters install` when missing."""
    from app.model.sorters import INSTALLED, environment
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "sorters.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # one builder when several test runs start at once
        env = environment(name)
        if env.state == INSTALLED:
            return env
        started = time.perf_counter()
        done = wavescope("sorters", "install", name, timeout=3600, env=dict(os.environ))
        if done.returncode:
            reason = pypi_unreachable()
            if reason:
                pytest.skip(f"{name}'s environment cannot be built: {reason}")
            pytest.fail(f"`wavescope sorters install {name}` failed ({done.returncode}):\n"
                        f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        print(f"\n`wavescope sorters install {name}` built its env in {time.perf_counter() - started:.1f} s "
              f"({load_avg()})")
        env = environment(name)
        assert env.state == INSTALLED, env.reason
        return env


@pytest.fixture(scope="module")
def si_env(sorter_env_vars):
    with pytest.MonkeyPatch.context() as patch:
        for name, value in sorter_env_vars.items():
            patch.setenv(name, value)
        return installed("mountainsort5")


def in_sorter_env(env, code: str, *args: str) -> dict:
    """Run `code` with the sorter environment's interpreter; its last stdout line as JSON."""
    done = subprocess.run([str(env.python), "-c", code, *args], capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL, check=False,
                          env={**os.environ, "PYTHONPATH": "", "PYTHONNOUSERSITE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


COMPARE = """
import json, sys
import spikeinterface.core as si
from spikeinterface.comparison import compare_sorter_to_ground_truth
comparison = compare_sorter_to_ground_truth(si.load(sys.argv[1]), si.load(sys.argv[2]), exhaustive_gt=True)
print(json.dumps([float(a) for a in comparison.get_performance()["accuracy"].values]))
"""


# -- the ground-truth recording, in three formats -------------------------------------------------
def write_prb(path: Path, locations: np.ndarray) -> None:
    geometry = ", ".join(f"{c}: ({x:g}, {y:g})" for c, (x, y) in enumerate(locations))
    path.write_text(f"total_nb_channels = {len(locations)}\nradius = 100\n"
                    f"channel_groups = {{1: {{'channels': list(range({len(locations)})), 'graph': [],\n"
                    f"                      'geometry': {{{geometry}}}}}}}\n")


def write_nwb(path: Path, counts: np.ndarray, locations: np.ndarray) -> None:
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ecephys import ElectricalSeries
    nwb = NWBFile("ground truth", "gt-1", datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc))
    device = nwb.create_device("probe")
    group = nwb.create_electrode_group("shank0", "generated", "nowhere", device)
    for x, y in locations:
        nwb.add_electrode(group=group, location="nowhere", rel_x=float(x), rel_y=float(y))
    region = nwb.create_electrode_table_region(list(range(len(locations))), "all electrodes")
    nwb.add_acquisition(ElectricalSeries(name="raw", data=counts, electrodes=region, rate=RATE,
                                         starting_time=0.0, conversion=GAIN * 1e-6))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def write_open_ephys_binary(folder: Path, counts: np.ndarray) -> Path:
    """`structure.oebin` + continuous/<stream>/continuous.dat, int16, bit_volts = GAIN µV (GUI 0.6)."""
    stream = folder / "continuous" / "Acquisition_Board-100.Rhythm Data"
    stream.mkdir(parents=True)
    counts.astype("<i2").tofile(stream / "continuous.dat")
    numbers = np.arange(len(counts), dtype=np.int64)
    np.save(stream / "sample_numbers.npy", numbers)
    np.save(stream / "timestamps.npy", numbers / RATE)
    channels = [{"channel_name": f"CH{c + 1}", "description": "headstage data channel", "units": "uV",
                 "identifier": "genericdata.continuous", "history": "Acquisition Board -> Record Node",
                 "bit_volts": GAIN, "source_processor_index": c, "recorded_processor_index": c}
                for c in range(counts.shape[1])]
    entry = {"folder_name": "Acquisition_Board-100.Rhythm Data/", "sample_rate": RATE,
             "source_processor_name": "Acquisition Board", "source_processor_id": 100,
             "stream_name": "Rhythm Data", "recorded_processor": "Record Node", "recorded_processor_id": 101,
             "num_channels": counts.shape[1], "channels": channels}
    oebin = folder / "structure.oebin"
    oebin.write_text(json.dumps({"GUI version": "0.6.7", "continuous": [entry], "events": [], "spikes": []}))
    return oebin


@pytest.fixture(scope="module")
def ground_truth(tmp_path_factory, sorter_env_vars) -> dict:
    from spikeinterface.core import generate_ground_truth_recording
    folder = tmp_path_factory.mktemp("ground-truth")
    recording, sorting = generate_ground_truth_recording(durations=[DURATION], sampling_frequency=RATE,
                                                         num_channels=CHANNELS, num_units=UNITS, seed=SEED)
    counts = np.round(recording.get_traces() / GAIN).astype(np.int16)      # µV -> int16 at GAIN µV/bit
    locations = recording.get_channel_locations()
    sorting.save(folder=folder / "gt")
    write_prb(folder / "probe.prb", locations)
    counts.astype("<i2").tofile(folder / "rec.dat")
    write_nwb(folder / "rec.nwb", counts, locations)
    oebin = write_open_ephys_binary(folder / "oe" / "Record Node 101" / "experiment1" / "recording1", counts)
    files = {"raw": (folder / "rec.dat", ["--format", "raw_binary", "--set", "data_dtype=int16",
                                          "--set", f"nb_channels={CHANNELS}", "--set", f"sampling_rate={RATE:g}",
                                          "--set", f"gain={GAIN}"]),
             "nwb": (folder / "rec.nwb", ["--format", "nwb"]),
             "openephys": (oebin, ["--format", "openephys_binary"])}
    found = {"folder": folder, "gt": folder / "gt", "probe": folder / "probe.prb", "env": sorter_env_vars}
    for name, (data, options) in files.items():
        params = folder / f"{name}.params"
        done = wavescope("params", str(data), "--probe", str(folder / "probe.prb"), *options, "-o", str(params))
        assert done.returncode == 0, done.stderr
        found[name], found[f"{name}_data"] = params, data
    return found


def sort(ground_truth: dict, fmt: str, sorter: str, *extra: str) -> tuple[Path, float]:
    output = ground_truth["folder"] / f"{fmt}-{sorter}"
    started = time.perf_counter()
    done = wavescope("sort", str(ground_truth[fmt]), "--sorter", sorter, "--output", str(output), "--cpus", "2",
                     *extra, cwd=ground_truth["folder"], env=ground_truth["env"])
    seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    print(f"\n{sorter} sorted the {fmt} recording in {seconds:.1f} s ({load_avg()})")
    return output, seconds


def spike_trains(output: Path) -> dict[int, np.ndarray]:
    from app.io.sorting import read_spikeinterface
    return {unit.id: unit.spike_train for unit in read_spikeinterface(output / "sorting").units}


@pytest.fixture(scope="module")
def ms5_raw(si_env, ground_truth) -> Path:
    return sort(ground_truth, "raw", "mountainsort5", *MS5_SEED)[0]


# -- the tests ------------------------------------------------------------------------------------
def test_mountainsort5_finds_the_ground_truth_units(si_env, ground_truth, ms5_raw):
    raw = ground_truth["raw_data"]
    record = json.loads((ms5_raw / "wavescope-run.json").read_text())
    assert record["sorter"] == "mountainsort5" and record["params"]["whitening_seed"] == 7
    assert record["versions"]["mountainsort5"] == "0.5.9" and record["versions"]["spikeinterface"] == "0.105.3"
    assert record["input"]["files"] == [{"path": str(raw), "size": raw.stat().st_size, "sha256": sha256(raw)}]
    assert record["input"]["probe"] == str(ground_truth["probe"])
    assert not list(ground_truth["folder"].glob(".raw-mountainsort5.partial-*"))

    accuracies = in_sorter_env(si_env, COMPARE, str(ground_truth["gt"]), str(ms5_raw / "sorting"))
    found = sum(a >= 0.8 for a in accuracies)
    print(f"MountainSort5 accuracies: {[round(a, 3) for a in accuracies]}; {found} of {UNITS} units >= 0.8")
    assert len(accuracies) == UNITS and found >= 0.8 * UNITS

    # Readable by Wavescope (app.io.sorting) and by SpikeInterface in the app's own environment.
    trains = spike_trains(ms5_raw)
    assert len(trains) == record["units"] and sum(len(t) for t in trains.values()) == record["spikes"]
    import spikeinterface.core as si
    assert len(si.load(ms5_raw / "sorting").unit_ids) == record["units"]


def test_the_same_sort_from_three_formats_gives_the_same_spike_trains(si_env, ground_truth, ms5_raw):
    reference = spike_trains(ms5_raw)
    for fmt in ("nwb", "openephys"):
        output, _ = sort(ground_truth, fmt, "mountainsort5", *MS5_SEED)
        record = json.loads((output / "wavescope-run.json").read_text())
        assert record["input"]["format"] == {"nwb": "nwb", "openephys": "openephys_binary"}[fmt]
        trains = spike_trains(output)
        assert trains.keys() == reference.keys(), fmt
        for unit, times in reference.items():
            np.testing.assert_array_equal(trains[unit], times, err_msg=f"{fmt}, unit {unit}")


@pytest.mark.parametrize("sorter", ["spykingcircus2", "tridesclous2"])
def test_spykingcircus2_and_tridesclous2_run_to_completion(si_env, ground_truth, sorter):
    output, _ = sort(ground_truth, "raw", sorter)
    record = json.loads((output / "wavescope-run.json").read_text())
    assert record["sorter"] == sorter and record["units"] > 0 and record["spikes"] > 0
    accuracies = in_sorter_env(si_env, COMPARE, str(ground_truth["gt"]), str(output / "sorting"))
    print(f"{sorter} accuracies: {[round(a, 3) for a in accuracies]}; "
          f"{sum(a >= 0.8 for a in accuracies)} of {UNITS} units >= 0.8")
    assert len(spike_trains(output)) == record["units"]


def test_a_failed_sort_leaves_no_output_and_says_why_in_one_line(si_env, ground_truth):
    folder = ground_truth["folder"]
    output = folder / "failed-ms5"
    done = wavescope("sort", str(ground_truth["raw"]), "--sorter", "mountainsort5", "--output", str(output),
                     "--param", f"freq_max={RATE}", cwd=folder)            # above Nyquist: the filter refuses
    said = done.stdout + done.stderr            # the sorter's lines come through `wavescope sort`'s stdout
    assert done.returncode == 1, said
    assert "wavescope: error: mountainsort5 failed" in said and "Traceback" not in said
    assert not output.exists() and not list(folder.glob(".failed-ms5.partial-*"))
    log = Path(str(output) + ".failed.log")
    assert log.is_file() and "Traceback" in log.read_text()

    bad = wavescope("sort", str(ground_truth["raw"]), "--sorter", "mountainsort5", "--output", str(output),
                    "--param", "detect_threshold=high", cwd=folder)
    assert bad.returncode == 1 and not output.exists()
    assert "--param detect_threshold=high: expected a float like the default 5.5" in bad.stdout + bad.stderr

    taken = wavescope("sort", str(ground_truth["raw"]), "--sorter", "mountainsort5", "--output", str(folder),
                      cwd=folder)
    assert taken.returncode == 1 and "already exists and is not an empty folder" in taken.stderr


def test_sorters_lists_them_and_their_parameters(si_env):
    listed = json.loads(wavescope("sorters", "--json").stdout)["sorters"]
    rows = {row["name"]: row for row in listed}
    assert {"spyking-circus", "mountainsort5", "spykingcircus2", "tridesclous2", "kilosort4"} <= rows.keys()
    for name in ("mountainsort5", "spykingcircus2", "tridesclous2"):
        assert rows[name]["state"] == "installed" and rows[name]["prefix"] == str(si_env.prefix)
    assert rows["mountainsort5"]["versions"]["sorter"] == "0.5.9"
    shown = wavescope("sorters", "params", "mountainsort5")
    assert shown.returncode == 0, shown.stderr
    assert "detect_threshold = 5.5" in shown.stdout and "whitening_seed = null" in shown.stdout
    nested = json.loads(wavescope("sorters", "params", "spykingcircus2", "--json").stdout)
    assert nested["params"]["filtering"]["freq_min"] == 150


@pytest.mark.slow
def test_kilosort4_runs_headless_on_the_ground_truth(sorter_env_vars, ground_truth):
    with pytest.MonkeyPatch.context() as patch:
        for name, value in sorter_env_vars.items():
            patch.setenv(name, value)
        env = installed("kilosort4")
    assert env.versions.get("sorter") == "4.1.7"
    output, _ = sort(ground_truth, "raw", "kilosort4")
    record = json.loads((output / "wavescope-run.json").read_text())
    assert record["units"] > 0 and (output / "sorter_output").is_dir()
    print(f"kilosort4: {record['units']} units, {record['spikes']} spikes")


def test_a_stopped_sort_leaves_no_output_and_no_process(si_env, ground_truth):
    import signal
    folder = ground_truth["folder"]
    output = folder / "stopped-ms5"
    process = subprocess.Popen([sys.executable, "-m", "app", "sort", str(ground_truth["raw"]), "--sorter",
                                "mountainsort5", "--output", str(output), "--cpus", "2"], cwd=folder,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                               env={**os.environ, **ground_truth["env"], "PYTHONPATH": str(REPOSITORY)})
    lines = []
    for line in process.stdout:                     # until the sorter itself runs
        lines.append(line)
        if "[3/5] running mountainsort5" in line:
            break
    assert list(folder.glob(".stopped-ms5.partial-*")), "".join(lines)
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=120)
    assert process.returncode == 143, "".join(lines) + rest
    assert "stopped by SIGTERM; nothing was written to" in rest
    assert not output.exists() and not list(folder.glob(".stopped-ms5.partial-*"))
    import psutil
    assert not [p for p in psutil.process_iter(["cmdline"]) if str(output) in " ".join(p.info["cmdline"] or [])]
