"""The params wizard driven end to end with real files; the written params reopen the recording."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6 import QtCore, QtWidgets

from app.io import open_datafile
from app.io.params import ParamsFile, write_params
from app.io.probe import read_probe
from app.model import wizard as logic
from app.views.wizard import ParamsWizard
from tests.model.test_wizard import (
    write_hdf5_file,
    write_headerless,
    write_openephys_recordings,
    write_spikeglx_file,
)

NEXT = QtWidgets.QWizard.WizardButton.NextButton
FINISH = QtWidgets.QWizard.WizardButton.FinishButton
WAIT = 15_000


@pytest.fixture
def settings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("settings")
    return QtCore.QSettings(str(folder / "settings.ini"), QtCore.QSettings.Format.IniFormat)


@pytest.fixture
def make_wizard(qtbot, settings):
    made = []

    def make(path, **kwargs) -> ParamsWizard:
        wizard = ParamsWizard(str(path), settings, suggest_max_channels=32, **kwargs)
        qtbot.addWidget(wizard)
        wizard.show()
        made.append(wizard)
        return wizard

    yield make
    for wizard in made:
        if wizard.isVisible():
            wizard.reject()


def page_ready(qtbot, wizard: ParamsWizard) -> None:
    qtbot.waitUntil(lambda: wizard.currentPage().isComplete(), timeout=WAIT)


def click(wizard: ParamsWizard, which=NEXT) -> None:
    button = wizard.button(which)
    assert button.isEnabled(), f"{which} is disabled on {wizard.currentPage().title()}"
    button.click()


def to_fields(qtbot, wizard: ParamsWizard) -> None:
    page_ready(qtbot, wizard)
    click(wizard)
    assert wizard.currentPage() is wizard.fields_page
    qtbot.waitUntil(lambda: not wizard.fields_page.busy(), timeout=WAIT)


def finish(qtbot, wizard: ParamsWizard, preview: bool = True) -> None:
    """From the probe page: through the preview to Finish."""
    page_ready(qtbot, wizard)
    click(wizard)
    assert wizard.currentPage() is wizard.preview_page
    if preview:
        view = wizard.preview_page.view
        qtbot.waitUntil(lambda: view.frame is not None, timeout=WAIT)
    click(wizard)
    assert wizard.currentPage() is wizard.write_page
    page_ready(qtbot, wizard)
    with qtbot.waitSignal(wizard.paramsWritten, timeout=WAIT) as written:
        click(wizard, FINISH)
    assert not wizard.isVisible()
    return written.args[0]


def red(label: QtWidgets.QLabel) -> bool:
    return "#c62828" in label.text()


# -- the four kinds of file ---------------------------------------------------------------------

def test_raw_binary_asks_every_field_suggests_the_layout_and_writes_params_that_reopen(
        qtbot, make_wizard, tmp_path, settings):
    path, raw = write_headerless(tmp_path, n_channels=12, n_samples=12000)
    wizard = make_wizard(path)
    to_fields(qtbot, wizard)
    page = wizard.fields_page
    assert list(page.editors)[:3] == ["data_dtype", "sampling_rate", "nb_channels"]
    assert set(page.editors) == {"data_dtype", "sampling_rate", "nb_channels", "data_offset", "dtype_offset",
                                 "gain"}
    assert page.editors["nb_channels"].value() == 12 and page.editors["data_dtype"].value() == "int16"
    assert page.suggestions.rowCount() >= 2 and "12 x int16" in page.suggestions.item(0, 4).text()
    assert not wizard.button(NEXT).isEnabled()
    assert "sampling_rate" in page.status.text() and red(page.status)
    page.editors["sampling_rate"].set_value("30000")
    page_ready(qtbot, wizard)
    assert "12 channels x 12,000 samples at 30000 Hz = 0.400 s" in page.status.text()

    page.editors["nb_channels"].set_value(7)
    qtbot.waitUntil(lambda: not page.busy(), timeout=WAIT)
    assert red(page.status)
    assert "not a whole number of frames of 7 channels" in page.status.text()
    assert not wizard.button(NEXT).isEnabled()
    page.apply_suggestion(0)
    page_ready(qtbot, wizard)
    page.editors["gain"].set_value("0.195")
    page_ready(qtbot, wizard)

    click(wizard)
    probe_page = wizard.probe_page
    assert probe_page.count_box.value() == 12
    probe_page.generate()
    assert probe_page.check.ok and wizard.state.probe_dirty
    params_path = finish(qtbot, wizard)

    assert params_path == str(tmp_path / "headerless.params")
    params = ParamsFile.read(params_path)
    assert params.get("data", "file_format") == "raw_binary"
    assert params.get("data", "nb_channels") == "12" and params.get("data", "data_dtype") == "int16"
    assert params.get("data", "sampling_rate") == "30000" and params.get("data", "gain") == "0.195"
    assert params.get("data", "mapping") == str(tmp_path / "headerless.prb")
    assert read_probe(tmp_path / "headerless.prb").total_nb_channels == 12
    reopened = open_datafile(params_path)
    assert reopened.shape == (12000, 12)
    np.testing.assert_array_equal(reopened.read_range(100, 200), raw[100:200] * np.float32(0.195))
    assert settings.value("last_dir") == str(tmp_path)
    assert wizard.recent_probes() == [str(tmp_path / "headerless.prb")]


@pytest.mark.parametrize("dtype, channels", [("float32", 10), ("uint16", 24)])
def test_headerless_suggestion_finds_the_true_layout(qtbot, make_wizard, tmp_path, dtype, channels):
    path, _ = write_headerless(tmp_path, n_channels=channels, n_samples=6000, dtype=dtype)
    wizard = make_wizard(path)
    to_fields(qtbot, wizard)
    editors = wizard.fields_page.editors
    assert (editors["nb_channels"].value(), editors["data_dtype"].value()) == (channels, dtype)
    assert editors["data_offset"].value() == 0


def test_header_complete_format_asks_nothing(qtbot, make_wizard, tmp_path):
    path, data = write_spikeglx_file(tmp_path)
    wizard = make_wizard(path)
    page_ready(qtbot, wizard)
    assert wizard.state.file_format == "spikeglx"
    assert wizard.data_page.candidates.topLevelItem(0).text(0) == "spikeglx"
    assert wizard.data_page.candidates.topLevelItem(0).text(2)
    to_fields(qtbot, wizard)
    page_ready(qtbot, wizard)
    page = wizard.fields_page
    required = {name for name, editor in page.editors.items() if editor.required}
    assert required == set()
    fact = page.facts_box.findChild(QtWidgets.QLabel, "fact-nb_channels")
    assert fact is not None and "<b>5</b>" in fact.text() and "from header" in fact.text()
    click(wizard)
    # the .meta's imro table places the 4 electrodes: the probe page starts from the header's geometry
    assert wizard.state.probe_source == "header" and wizard.currentPage().isComplete()
    assert "from the recording's header" in wizard.probe_page.status.text()
    params_path = finish(qtbot, wizard)
    params = ParamsFile.read(params_path)
    assert params.get("data", "file_format") == "spikeglx" and params.get("data", "mapping").endswith(".prb")
    assert open_datafile(params_path).shape == (len(data), 5)


def test_hdf5_asks_its_key_and_rate_with_the_datasets_offered(qtbot, make_wizard, tmp_path):
    path, data = write_hdf5_file(tmp_path)
    existing = tmp_path / "rec.params"
    write_params(existing, {"file_format": "hdf5", "h5_key": "old", "sampling_rate": 1000})
    params = ParamsFile.read(existing)
    params.set("clustering", "max_elts", 777)
    params.write(existing)
    wizard = make_wizard(path)
    to_fields(qtbot, wizard)
    page = wizard.fields_page
    qtbot.waitUntil(lambda: page.editors["h5_key"].value() == "acquisition/raw", timeout=WAIT)
    assert {n for n, e in page.editors.items() if e.required} == {"h5_key", "sampling_rate"}
    combo = page.editors["h5_key"].widget
    assert isinstance(combo, QtWidgets.QComboBox) and combo.itemText(0) == "acquisition/raw"
    page.editors["sampling_rate"].set_value("20000")
    page_ready(qtbot, wizard)
    fact = page.facts_box.findChild(QtWidgets.QLabel, "fact-nb_channels")
    assert fact is not None and "<b>6</b>" in fact.text()
    click(wizard)
    page_ready(qtbot, wizard)
    click(wizard)
    click(wizard)
    write_page = wizard.write_page
    page_ready(qtbot, wizard)
    assert write_page.base_edit.text() == str(existing)
    shown = write_page.text.toPlainText()
    assert "-h5_key" in shown and "+h5_key" in shown and "acquisition/raw" in shown
    with qtbot.waitSignal(wizard.openRequested, timeout=WAIT) as opened:
        click(wizard, FINISH)
    assert opened.args == [str(existing)]
    assert (tmp_path / "rec.params.bak.1").exists()
    written = ParamsFile.read(existing)
    assert written.get("clustering", "max_elts") == "777" and written.get("data", "h5_key") == "acquisition/raw"
    assert open_datafile(str(existing)).shape == data.shape


def test_stream_mode_lists_the_segments_and_is_written(qtbot, make_wizard, tmp_path):
    oebin = write_openephys_recordings(tmp_path)
    wizard = make_wizard(oebin)
    page_ready(qtbot, wizard)
    page = wizard.data_page
    assert not page.stream_box.isHidden()
    page.stream_box.setCurrentText("recordings")
    qtbot.waitUntil(lambda: page.segments.topLevelItemCount() == 2, timeout=WAIT)
    starts = [page.segments.topLevelItem(k).text(1) for k in range(2)]
    assert starts == ["0.000", f"{5000 / 30000:.3f}"]
    assert "in 2 segments" in page.status.text()
    to_fields(qtbot, wizard)
    page_ready(qtbot, wizard)
    click(wizard)
    params_path = finish(qtbot, wizard)
    assert ParamsFile.read(params_path).get("data", "stream_mode") == "recordings"
    assert open_datafile(params_path).nb_streams == 2


# -- probe ---------------------------------------------------------------------------------------

def test_a_probe_with_too_many_channels_is_flagged_and_blocks(qtbot, make_wizard, tmp_path):
    path, _ = write_headerless(tmp_path, n_channels=12, n_samples=6000)
    wizard = make_wizard(path)
    to_fields(qtbot, wizard)
    wizard.fields_page.editors["sampling_rate"].set_value("25000")
    page_ready(qtbot, wizard)
    click(wizard)
    probe_page = wizard.probe_page
    probe_page.load(str(logic.library()["linear_32"]))
    assert probe_page.check.flagged == set(range(12, 32))
    assert red(probe_page.status) and "nb_channels = 12" in probe_page.status.text()
    assert not wizard.button(NEXT).isEnabled()
    probe_page.radius_box.setValue(55)
    assert wizard.state.probe_dirty and wizard.state.probe.radius == 55
    probe_page.kind_box.setCurrentText("multi-shank")
    probe_page.count_box.setValue(3)
    probe_page.columns_box.setValue(4)
    probe_page.generate()
    assert probe_page.check.ok and len(wizard.state.probe.channel_groups) == 4
    assert wizard.button(NEXT).isEnabled()


# -- cancelling ----------------------------------------------------------------------------------

@pytest.mark.parametrize("pages", [0, 1, 2, 3, 4])
def test_cancel_at_any_page_writes_nothing(qtbot, make_wizard, tmp_path, pages):
    path, _ = write_headerless(tmp_path, n_channels=12, n_samples=6000)
    before = sorted(p.name for p in tmp_path.iterdir())
    wizard = make_wizard(path, values={"sampling_rate": "30000"})
    for step in range(pages):
        page_ready(qtbot, wizard)
        if wizard.currentPage() is wizard.probe_page:
            wizard.probe_page.generate()
        click(wizard)
        if step == 0:
            qtbot.waitUntil(lambda: not wizard.workers.busy("suggest"), timeout=WAIT)
    assert wizard.currentId() == pages
    with qtbot.waitSignal(wizard.finished, timeout=WAIT):
        wizard.button(QtWidgets.QWizard.WizardButton.CancelButton).click()
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert wizard.state.written is None


# -- the filtered copy ----------------------------------------------------------------------------

def _to_write_page(qtbot, wizard: ParamsWizard) -> None:
    to_fields(qtbot, wizard)
    wizard.fields_page.editors["sampling_rate"].set_value("30000")
    page_ready(qtbot, wizard)
    click(wizard)
    click(wizard)
    page_ready(qtbot, wizard)
    click(wizard)
    assert wizard.currentPage() is wizard.write_page
    page_ready(qtbot, wizard)


def test_the_sorter_filters_a_copy_by_default_and_its_disk_cost_is_shown(qtbot, make_wizard, tmp_path):
    path, _ = write_headerless(tmp_path, n_channels=12, n_samples=12000)
    wizard = make_wizard(path)
    _to_write_page(qtbot, wizard)
    page = wizard.write_page
    assert page.copy_box.isChecked()
    copy = tmp_path / "headerless" / "headerless_all_sc.dat"
    assert f"{copy}: 576 kB (12,000 samples x 12 channels x 4 bytes, float32)" in page.copy_label.text()
    assert "overwrite      = False" in page.text.toPlainText()
    page.copy_box.setChecked(False)
    assert red(page.copy_label) and f"rewrite {path} in place" in page.copy_label.text()
    assert "overwrite      = True" in page.text.toPlainText()
    page.copy_box.setChecked(True)
    params_path = finish_from_write_page(qtbot, wizard)
    params = ParamsFile.read(params_path)
    assert params.get("data", "overwrite") == "False" and params.get("data", "file_name") == str(path)


def finish_from_write_page(qtbot, wizard: ParamsWizard) -> str:
    with qtbot.waitSignal(wizard.paramsWritten, timeout=WAIT) as written:
        click(wizard, FINISH)
    return written.args[0]


# -- the package stays thin ------------------------------------------------------------------------

def test_wizard_modules_are_small_and_leave_files_to_the_model():
    """No format import, no DataFile opened, no other object's private attribute, < 500 lines each."""
    import ast
    from pathlib import Path

    import app.views.wizard as package
    folder = Path(package.__file__).parent
    for module in sorted(folder.glob("*.py")):
        source = module.read_text(encoding="utf-8")
        assert len(source.splitlines()) < 500, module.name
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("app.io.formats"), module.name
                assert "open_datafile" not in {a.name for a in node.names}, module.name
                assert "DataFile" not in {a.name for a in node.names}, module.name
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                assert isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"), \
                    f"{module.name}:{node.lineno} touches {node.attr}"


def test_every_shortcut_label_focuses_its_field(make_wizard, tmp_path):
    path, _ = write_headerless(tmp_path, n_channels=4, n_samples=1000)
    wizard = make_wizard(path)
    for page in (wizard.data_page, wizard.probe_page, wizard.write_page):
        labels = [label for label in page.findChildren(QtWidgets.QLabel) if "&" in label.text()]
        assert labels, page.title()
        assert all(label.buddy() is not None for label in labels), [label.text() for label in labels]
