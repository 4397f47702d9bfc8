"""Screenshots of every window, made offscreen from the app itself.

    python packaging/screenshots.py [--all OUT_DIR] [--readme]

- ``--readme`` (the default): only the pictures the README shows, into docs/images/
  (``browser.png``: the browser on the demo with the events docks; ``wizard.png``: the wizard's
  fields page), light theme, 1600×1000.
- ``--all OUT_DIR``: every window at 1920×1080 and 1366×768, light and dark, into
  ``OUT_DIR/<theme>-<width>x<height>/``: the welcome page, the main window with each bottom dock in
  front, the wizard's pages, the convert dialog, the sort confirmation, the jobs panel, an error
  dialog, the keyboard-shortcuts sheet and the folder chooser. For review by eye.

Nothing is written beside the demo data: settings go to a scratch INI file, demo events are put in
the session (as loading an event file does), and every dialog is closed unanswered.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PyQt6 import QtCore, QtWidgets  # after the platform is chosen

SIZES = ((1920, 1080), (1366, 768))
THEMES = ("light", "dark")
SETTLE_TIMEOUT_S = 30.0
WIZARD_FIELDS = ("data_dtype", "nb_channels", "sampling_rate", "gain", "dtype_offset")
BOTTOM_DOCKS = ("Events", "Annotations", "Log", "Jobs")


_APP: list[QtWidgets.QApplication] = []          # the application made here lives as long as the module


def application() -> QtWidgets.QApplication:
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(sys.argv[:1])
        _APP.append(app)
    return app


def settle(condition: Callable[[], bool] = lambda: True, timeout: float = SETTLE_TIMEOUT_S) -> bool:
    """Process events until `condition()` holds, then a few more rounds so everything repaints."""
    app = application()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()
        if condition():
            for _ in range(10):
                app.processEvents()
                time.sleep(0.02)
            return True
        time.sleep(0.02)
    return False


def save(widget: QtWidgets.QWidget, path: Path) -> Path:
    settle()
    if not widget.grab().save(str(path)):
        raise OSError(f"{path}: could not write the screenshot")
    return path


def demo_events(sampling_rate: float, duration: int):
    """TTL pulses every 0.5 s and a few messages: what the events docks show on the demo."""
    import numpy as np

    from app.io.events import make_events
    from app.model.events import EventIndex
    pulses = np.arange(int(0.25 * sampling_rate), duration, int(0.5 * sampling_rate))
    messages = pulses[::8] + int(0.1 * sampling_rate)
    samples = np.concatenate([pulses, messages])
    channels = ["TTL 1"] * len(pulses) + ["messages"] * len(messages)
    labels = ["stimulus on"] * len(pulses) + [f"trial {k + 1} started" for k in range(len(messages))]
    durations = [int(0.05 * sampling_rate)] * len(pulses) + [0] * len(messages)
    return EventIndex(make_events(samples, channels, labels, durations))


def open_window(scratch: Path, size: tuple[int, int], theme: str, path: str | None = None,
                params: dict | None = None, events=None):
    """A MainWindow of `size` in `theme` on scratch settings, showing `path` when given."""
    from app.views.main_window import MainWindow
    settings = QtCore.QSettings(str(scratch / f"settings-{theme}-{size[0]}.ini"), QtCore.QSettings.Format.IniFormat)
    settings.clear()
    settings.setValue("theme", theme)
    window = MainWindow(settings=settings)
    window.show_error = lambda title, text: print(f"{title}: {text}", file=sys.stderr)
    window.resize(*size)
    window.show()
    settle()
    if path is not None:
        if not window.open_file(path, params or {}):
            raise RuntimeError(f"{path}: the browser could not open it")
        if events is not None:
            window.session.set_events(events)
        window.view.setFocus()
        settle(lambda: window.view.frame is not None and window.view.painted_request == window.view.frame.request_id)
    return window


def demo() -> tuple[str, dict]:
    from app.model.demo import default_folder, demo_params, write_demo
    first = write_demo(default_folder())
    return str(first), demo_params(first)


def grab_modal(open_it: Callable[[], object], path: Path, delay_ms: int = 400) -> Path | None:
    """Open a modal dialog with `open_it`, grab it once shown, and close it unanswered."""
    grabbed: list[Path] = []

    def shoot() -> None:
        dialog = QtWidgets.QApplication.activeModalWidget()
        if dialog is not None:
            grabbed.append(save(dialog, path))
            dialog.reject() if isinstance(dialog, QtWidgets.QDialog) else dialog.close()

    QtCore.QTimer.singleShot(delay_ms, shoot)
    open_it()
    return grabbed[0] if grabbed else None


# -- the pictures ---------------------------------------------------------------------------------
def main_window_shots(window, out: Path) -> list[Path]:
    """The main window with each bottom dock in front (the peri-event plot is beside them)."""
    made = []
    peri = window.events_ui.peri_view
    settle(lambda: peri.result is not None, timeout=15)
    for title in BOTTOM_DOCKS:
        window.show_dock(title)
        made.append(save(window, out / f"main-{title.lower()}.png"))
    window.show_dock("Events")
    return made


def dialog_shots(window, out: Path, scratch: Path) -> list[Path]:
    from app.views.convert_dialog import ConvertDialog
    from app.views.folder_chooser import FolderChooser
    from app.views.jobs_panel import ask_in_place
    from app.views.welcome import ErrorDialog
    made = []
    convert = ConvertDialog.for_datafile(window.recording.datafile, window)
    convert.show()
    made.append(save(convert, out / "convert-dialog.png"))
    convert.reject()
    sort = grab_modal(lambda: ask_in_place(window, window.recording.datafile.file_name,
                                           str(scratch / "demo.params"), ["the filtered samples"]),
                      out / "sort-confirm-dialog.png")
    made += [sort] if sort else []
    error = ErrorDialog("Cannot open the recording", "rec.dat: cannot open as raw_binary without "
                        "sampling_rate (float); the file does not say.", "", window)
    error.show()
    made.append(save(error, out / "error-dialog.png"))
    error.reject()
    sheet = window.extras_ui.show_shortcuts()
    made.append(save(sheet, out / "shortcuts.png"))
    sheet.close()
    found = [str(scratch / "session" / f"Record Node 10{n}" / "experiment1" / "recording1") for n in (1, 2)]
    chooser = FolderChooser(str(scratch / "session"), found, window)
    chooser.show()
    made.append(save(chooser, out / "folder-chooser.png"))
    chooser.reject()
    return made


def threshold_sort(data_file: str, nb_channels: int, rate: float, folder: Path, seconds: float = 20.0) -> Path:
    """A phy folder of the demo's first seconds from a plain threshold detector (one unit per
    channel of the eight busiest): enough sort results to show the Units dock on real spikes."""
    if (folder / "params.py").exists():
        return folder
    folder.mkdir(parents=True)
    data = np.memmap(data_file, dtype=np.int16, mode="r").reshape(-1, nb_channels)[:int(seconds * rate)]
    data = np.asarray(data, dtype=np.float32)
    noise = np.median(np.abs(data - np.median(data, axis=0)), axis=0) / 0.6745
    below = data < -5 * noise
    onsets = [np.flatnonzero(below[1:, c] & ~below[:-1, c]) + 1 for c in range(nb_channels)]
    busiest = sorted(range(nb_channels), key=lambda c: -len(onsets[c]))[:8]
    half = int(0.001 * rate)
    times, clusters, templates = [], [], np.zeros((len(busiest), 2 * half, nb_channels), np.float32)
    for unit, channel in enumerate(busiest):
        kept = [t for t in onsets[channel] if half <= t < len(data) - half]
        kept = [t + int(np.argmin(data[t:t + half, channel])) for t in kept]
        times += kept
        clusters += [unit] * len(kept)
        templates[unit] = np.mean([data[t - half:t + half] for t in kept[:50]], axis=0)
    order = np.argsort(times, kind="stable")
    np.save(folder / "spike_times.npy", np.asarray(times, dtype=np.uint64)[order])
    np.save(folder / "spike_clusters.npy", np.asarray(clusters, dtype=np.int32)[order])
    np.save(folder / "spike_templates.npy", np.asarray(clusters, dtype=np.int32)[order])
    np.save(folder / "templates.npy", templates)
    np.save(folder / "channel_map.npy", np.arange(nb_channels, dtype=np.int32))
    (folder / "params.py").write_text(f"dat_path = {data_file!r}\nn_channels_dat = {nb_channels}\n"
                                      f"dtype = 'int16'\noffset = 0\nsample_rate = {rate}\nhp_filtered = False\n")
    return folder


def units_shot(window, out: Path, scratch: Path) -> list[Path]:
    """The main window with sort results open: spikes on the traces, the Units dock in front."""
    recording = window.recording
    results = threshold_sort(recording.datafile.file_name, recording.nb_channels, recording.sampling_rate,
                             scratch / "demo-phy")
    ui = window.units_ui
    opened: list[str] = []
    ui.unitsOpened.connect(opened.append)
    ui.open_results(results, quiet=True)
    if not settle(lambda: bool(opened), timeout=30):
        return []
    window.show_dock("Units")
    ui.dock.table.selectRow(0)
    window.view.set_window(0, recording.sampling_rate * 0.5)
    settle(lambda: window.view.frame is not None and window.view.painted_request == window.view.frame.request_id)
    shot = save(window, out / "main-units.png")
    window.session.set_units(None)
    window.show_dock("Events")
    return [shot]


def job_dialog_shots(window, out: Path) -> list[Path]:
    """The sort dialog (SpikeInterface sorters), File > Open URL and the cluster profiles."""
    from app.views.cluster_profiles import ClusterProfilesDialog
    from app.views.sort_dialog import SortDialog
    made = []
    for dialog, name in ((SortDialog("", window), "sort-dialog.png"),
                         (window.url_opener.show_dialog(), "open-url-dialog.png"),
                         (ClusterProfilesDialog(window), "cluster-profiles-dialog.png")):
        dialog.show()
        settle(timeout=1.0)
        made.append(save(dialog, out / name))
        dialog.reject()
    return made


def wizard_shots(out: Path, scratch: Path, size: tuple[int, int], prefix: str = "wizard") -> list[Path]:
    """Every page of the wizard on the demo's first part (closed before Finish)."""
    from app.views.wizard import ParamsWizard
    first, params = demo()
    values = {k: v for k, v in params.items() if k in WIZARD_FIELDS}
    settings = QtCore.QSettings(str(scratch / "wizard.ini"), QtCore.QSettings.Format.IniFormat)
    wizard = ParamsWizard(first, settings=settings, file_format="raw_binary", values=values)
    wizard.resize(min(size[0] - 100, 1100), min(size[1] - 80, 820))
    wizard.show()
    made = []
    for name in ("data", "fields", "probe", "preview", "write"):
        page = wizard.currentPage()
        if name == "probe":
            page.load(params["mapping"])                 # the demo's probe: 20 µm pitch, two columns
        busy = getattr(page, "busy", lambda: False)
        settle(lambda p=page, b=busy: p.isComplete() and not b(), timeout=20)
        view = getattr(page, "view", None)
        if view is not None:                                 # the preview: wait for its traces
            settle(lambda v=view: v.frame is not None and v.painted_request == v.frame.request_id, timeout=20)
        made.append(save(wizard, out / f"{prefix}-{name}.png"))
        if name != "write":
            wizard.next()
    wizard.reject()
    return made


def every_window(out_root: Path) -> list[Path]:
    """Every picture at every size in both themes (see the module docstring)."""
    application()
    made: list[Path] = []
    first, params = demo()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        for theme in THEMES:
            for size in SIZES:
                out = out_root / f"{theme}-{size[0]}x{size[1]}"
                out.mkdir(parents=True, exist_ok=True)
                empty = open_window(scratch, size, theme)
                made.append(save(empty, out / "welcome.png"))
                empty.close()
                from app.model.demo import DemoSpec
                spec = DemoSpec()
                events = demo_events(spec.sampling_rate, spec.parts * spec.samples_per_part)
                window = open_window(scratch, size, theme, first, params, events)
                made += main_window_shots(window, out)
                made += dialog_shots(window, out, scratch)
                made += units_shot(window, out, scratch)
                made += job_dialog_shots(window, out)
                made += wizard_shots(out, scratch, size)
                window.close()
                settle()
    return made


def readme_pictures(folder: Path) -> list[Path]:
    """Only what the README shows: browser.png and wizard.png (light, 1600×1000)."""
    application()
    from app.model.demo import DemoSpec
    first, params = demo()
    spec = DemoSpec()
    made = []
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        window = open_window(scratch, (1600, 1000), "light", first, params,
                             demo_events(spec.sampling_rate, spec.parts * spec.samples_per_part))
        peri = window.events_ui.peri_view
        settle(lambda: peri.result is not None, timeout=15)
        made.append(save(window, folder / "browser.png"))
        window.close()
        made += [p for p in wizard_shots(scratch, scratch, (1600, 1000)) if p.name == "wizard-fields.png"]
        final = folder / "wizard.png"
        made[-1].replace(final)
        made[-1] = final
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", metavar="OUT_DIR", help="every window, both sizes and themes, into OUT_DIR")
    parser.add_argument("--readme", action="store_true", help="the README's pictures into docs/images (default)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    # the user's own job history stays out of the pictures (the Jobs panel reads XDG_DATA_HOME)
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="wavescope-shots-")
    made = []
    if args.all:
        made += every_window(Path(args.all))
    if args.readme or not args.all:
        folder = ROOT / "docs" / "images"
        folder.mkdir(parents=True, exist_ok=True)
        made += readme_pictures(folder)
    for path in made:
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
