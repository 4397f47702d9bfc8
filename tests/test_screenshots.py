"""The layout facts the screenshots showed wrong, asserted on the windows `packaging/screenshots.py`
makes: 8 event rows at 1366×768, probe axes in plain µm, the reader's channel names everywhere."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "packaging"))
import screenshots

from app.io.events import make_events
from app.model.events import EventIndex
from tests.views.test_channel_names import EEG, write_edf


@pytest.fixture
def edf_window(qtbot, tmp_path):
    path = write_edf(tmp_path / "night.edf")
    events = EventIndex(make_events(np.arange(100, 900, 128), ["TTL 1"] * 7, ["on"] * 7, [10] * 7))
    window = screenshots.open_window(tmp_path, (1366, 768), "light", str(path), {}, events)
    qtbot.addWidget(window)
    yield window
    window.close()


def test_events_table_shows_eight_rows_at_1366x768(edf_window):
    table = edf_window.docks["Events"].widget().table
    assert edf_window.width() == 1366 and edf_window.height() == 768
    assert table.viewport().height() >= 8 * table.verticalHeader().defaultSectionSize()
    assert not edf_window.docks["Peri-event"].visibleRegion().isEmpty()


def axis_labels(plot) -> list[str]:
    return [plot.getPlotItem().getAxis(side).labelString() for side in ("bottom", "left")]


def test_probe_axes_read_micrometres(edf_window, tmp_path):
    for text in axis_labels(edf_window.probe):                 # EDF: no probe
        assert "µm" in text and not re.search(r"[kmMµ]µm", text), text
    shots = screenshots.wizard_shots(tmp_path, tmp_path, (1366, 768))
    assert [p.name for p in shots] == [f"wizard-{n}.png" for n in ("data", "fields", "probe", "preview", "write")]


def test_wizard_probe_page_axes_and_labels(qtbot, tmp_path):
    from PyQt6 import QtCore

    from app.views.wizard import ParamsWizard
    first, params = screenshots.demo()
    settings = QtCore.QSettings(str(tmp_path / "w.ini"), QtCore.QSettings.Format.IniFormat)
    values = {k: v for k, v in params.items() if k in screenshots.WIZARD_FIELDS}
    wizard = ParamsWizard(first, settings=settings, file_format="raw_binary", values=values)
    qtbot.addWidget(wizard)
    wizard.resize(1000, 700)
    wizard.show()
    qtbot.waitUntil(lambda: wizard.currentPage().isComplete(), timeout=20_000)
    wizard.next()
    qtbot.waitUntil(lambda: wizard.currentPage().isComplete() and not wizard.fields_page.busy(), timeout=20_000)
    wizard.next()
    page = wizard.currentPage()
    page.load(params["mapping"])                                 # 64 sites, 20 µm pitch, two columns
    qtbot.wait(100)
    for text in axis_labels(page.plot):
        assert "µm" in text and not re.search(r"[kmMµ]µm", text), text
    shown = page.labels.shown()
    assert 4 <= len(shown) < 64                                  # some labels, never all 64 crammed
    boxes = []
    for item in page.labels.items:
        if item.isVisible():
            boxes.append(item.sceneBoundingRect())
    assert all(not a.intersects(b) for k, a in enumerate(boxes) for b in boxes[k + 1:])
    wizard.reject()


def test_channel_names_come_from_the_reader(qtbot, edf_window, tmp_path):
    window = edf_window
    from PyQt6 import QtCore

    from app.views.stream_tree import ROLE
    leaves = [item.text(0) for item in window.tree.findItems("", QtCore.Qt.MatchFlag.MatchContains
                                                             | QtCore.Qt.MatchFlag.MatchRecursive)
              if (item.data(0, ROLE) or (None, None))[0] == "channels" and len(item.data(0, ROLE)[1]) == 1]
    assert leaves == EEG                                          # the tree
    window.view.export(str(tmp_path / "view.svg"))
    svg = (tmp_path / "view.svg").read_text()
    assert all(name[:5] in svg for name in EEG) and "ch 0" not in svg     # the trace labels
    assert "32 Hz (1 signal)" in svg                                      # the lane
    peri = window.events_ui.peri_view
    assert peri.channel_box.currentText() == "TTL 1"
    qtbot.waitUntil(lambda: peri.result is not None, timeout=15_000)
    ticks = [text for _value, text in peri.plot.getAxis("left")._tickLevels[0]]
    assert ticks and set(ticks) <= set(EEG)                     # the peri-event lanes
    events = window.events_ui.events_panel
    assert events.model.data(events.model.index(0, 1)) == "TTL 1"


def test_every_window_is_shot_in_the_dark_theme(qtbot, tmp_path):
    """The main window with each bottom dock, and every dialog, at 1366×768 in the dark theme."""
    from PyQt6 import QtGui

    from app.model.demo import DemoSpec
    first, params = screenshots.demo()
    spec = DemoSpec()
    events = screenshots.demo_events(spec.sampling_rate, spec.parts * spec.samples_per_part)
    window = screenshots.open_window(tmp_path, (1366, 768), "dark", first, params, events)
    qtbot.addWidget(window)
    made = screenshots.main_window_shots(window, tmp_path) + screenshots.dialog_shots(window, tmp_path, tmp_path)
    names = {path.name for path in made}
    assert names >= {"main-events.png", "main-annotations.png", "main-log.png", "main-jobs.png",
                     "convert-dialog.png", "error-dialog.png", "shortcuts.png", "folder-chooser.png"}
    for path in made:
        image = QtGui.QImage(str(path))
        assert image.width() > 200
        corner = image.pixelColor(image.width() - 3, image.height() - 3)
        assert corner.lightness() < 110, path.name                  # dark, not a light window
    big = QtGui.QImage(str(tmp_path / "main-events.png"))
    assert (big.width(), big.height()) == (1366, 768)
    window.extras_ui.theme.set_theme("light", remember=False)
    window.close()
