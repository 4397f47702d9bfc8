"""`wavescope sorters install spyking-circus` builds SpyKING CIRCUS 1.1.0's own venv, and
`wavescope sort` runs it to completion on the built-in demo recording, in real processes,
without touching the recording. The excerpt sorted is the demo's first part, demo_0.dat: 60 s of
its 2 x 60 s, 64 channels at 30 kHz (the whole demo took 150-200 s on 2 busy cores, too long for CI)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

pytestmark = pytest.mark.integration

REPOSITORY = Path(__file__).resolve().parents[2]


def wavescope(*args: str, timeout: float = 600, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, cwd=cwd or REPOSITORY, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPOSITORY), "QT_QPA_PLATFORM": "offscreen"})


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def test_the_managed_environment_is_listed_and_not_rebuilt(circus_env):
    listed = wavescope("sorters", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)["sorters"]}
    circus = rows["spyking-circus"]
    assert circus["state"] == "installed" and circus["prefix"] == str(circus_env.prefix)
    assert circus["versions"]["sorter"] == "1.1.0" and circus["versions"]["python"].startswith("3.11.")
    assert Path(circus["python"]).is_file() and (circus_env.prefix / "bin" / "spyking-circus").is_file()
    again = wavescope("sorters", "install", "spyking-circus")
    assert again.returncode == 0 and "already installed" in again.stdout
    # The app's own environment did not grow by the sorter.
    assert subprocess.run([sys.executable, "-c", "import circus"], capture_output=True).returncode != 0


def test_sort_runs_spyking_circus_to_completion_on_the_demo(circus_env, tmp_path):
    assert wavescope("demo", "--info-only", "--folder", str(tmp_path)).returncode == 0
    parts = sorted(tmp_path.glob("demo_*.dat"))
    assert len(parts) == 2
    excerpt = parts[0]                                  # 60 s: see the module's docstring
    params = wavescope("params", str(excerpt), "--format", "raw_binary",
                       "--probe", str(tmp_path / "demo.prb"), "--set", "data_dtype=int16",
                       "--set", "nb_channels=64", "--set", "sampling_rate=30000", "--set", "gain=0.195")
    assert params.returncode == 0, params.stderr
    params_file = tmp_path / "demo_0.params"
    assert "overwrite      = False" in params_file.read_text()
    assert "stream_mode    = None" in params_file.read_text()
    before = {part: sha256(part) for part in parts}

    started = time.perf_counter()
    sort = wavescope("sort", str(params_file), "--sorter", "spyking-circus", "--cpus", "2",
                     timeout=1200, cwd=tmp_path)
    seconds = time.perf_counter() - started
    print(f"\nSpyKING CIRCUS 1.1.0 sorted the demo's first 60 s (64 channels, 2 CPUs) in {seconds:.1f} s")
    assert sort.returncode == 0, sort.stdout[-4000:] + sort.stderr[-3000:]
    first_line = sort.stdout.splitlines()[0]
    assert first_line.startswith(str(circus_env.prefix / "bin" / "spyking-circus"))
    assert "-m filtering,whitening,clustering,fitting" in first_line
    assert "failed" not in sort.stdout.lower() + sort.stderr.lower()
    assert {part: sha256(part) for part in parts} == before

    result = tmp_path / "demo_0" / "demo_0.result.hdf5"
    assert result.is_file()
    with h5py.File(result, "r") as sorted_:
        spike_times = {name: sorted_["spiketimes"][name][()] for name in sorted_["spiketimes"]}
    counts = [len(times) for times in spike_times.values()]
    print(f"{len(counts)} templates, {sum(counts)} spikes")
    assert counts and max(counts) > 0
    duration = 60 * 30000
    assert all(0 <= times.min() and times.max() < duration for times in spike_times.values() if len(times))

    # ... and its results open on the traces of the recording it sorted (the real browser, offscreen)
    show_results_on_traces(params_file, result, spike_times)


def show_results_on_traces(params_file: Path, result: Path, spike_times: dict) -> None:
    """Open the recording in a MainWindow, then SpyKING CIRCUS's results: every template is a unit
    in the Units dock, and the next spike of the busiest unit is drawn on the traces."""
    from PyQt6 import QtCore, QtWidgets

    from app.views.main_window import MainWindow
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    settings = QtCore.QSettings(str(params_file.parent / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    errors: list[str] = []
    window.show_error = lambda title, text: errors.append(text)
    window.show()

    def wait(condition, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, f"timed out; errors: {errors}"
            app.processEvents()
            time.sleep(0.01)

    try:
        assert window.open_file(str(params_file))
        ui, view = window.units_ui, window.view
        opened: list[str] = []
        ui.unitsOpened.connect(opened.append)
        ui.open_results(result)
        wait(lambda: opened or errors)
        assert not errors and opened
        assert ui.dock.table.rowCount() == len(spike_times)
        assert ui.display.units.spike_count == sum(len(times) for times in spike_times.values())
        units = ui.display.units
        busiest = max(units.ids, key=lambda unit: len(units.unit(unit).spike_train))
        ui.dock.table.setCurrentCell(ui.dock.row_of(busiest), 1)
        view.set_window(0, 3_000)
        sample = ui.next_spike()
        assert sample is not None

        def painted() -> bool:
            frame = view.frame
            return (frame is not None and frame.request_id == view.source.latest_request
                    and view.painted_request == frame.request_id)
        wait(painted)
        ring = view.ring
        assert (ring.pixels != ring.palette[ring.index]).any()      # spike marks over the traces
    finally:
        window.close()
