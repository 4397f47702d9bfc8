"""File > Open URL… with a real window and a real HTTP server: the dialog is non-modal, opening
runs on a worker (the window keeps answering while the server is slow), the URL is remembered,
the status bar counts the bytes, and a failing server ends in an error message, not a freeze."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PyQt6 import QtCore

from app.io import remote
from tests.conftest import quiet_window, synthetic_int16
from tests.io.remote_server import RangeServer
from tests.io.test_remote import write_nwb


@pytest.fixture
def served(tmp_path, monkeypatch):
    remote.set_block_cache(remote.BlockCache(tmp_path / "cache", 64 << 20))
    remote.forget_probes()
    monkeypatch.setattr(remote, "BACKOFF", 0.01)
    monkeypatch.setenv(remote.CACHE_ENV, str(tmp_path / "cache"))
    data = synthetic_int16(30000, 8)
    write_nwb(tmp_path / "rec.nwb", data)
    with RangeServer(tmp_path, latency=0.3) as server:
        yield server
    remote.set_block_cache(None)
    remote.forget_probes()


@pytest.fixture
def window(qtbot, tmp_path):
    window = quiet_window(qtbot, tmp_path)
    yield window
    window.close()


def test_open_url_from_the_menu_without_freezing(qtbot, window, served):
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    names = [a.text() for a in file_menu.actions()]
    assert names[names.index("&Open…") + 1] == "Open &URL…"
    opener = window.url_opener
    dialog = opener.show_dialog()
    assert dialog.isVisible() and not dialog.isModal()
    url = served.url("rec.nwb")
    dialog.url_box.setCurrentText(url)
    ticks = []
    timer = QtCore.QTimer(interval=20, timeout=lambda: ticks.append(time.monotonic()))
    timer.start()
    with qtbot.waitSignal(opener.opened, timeout=20_000) as opened:
        dialog.open_button.click()
        assert opener.pending == url            # returned at once; the server answers 0.3 s later
        assert window.session.recording is None
    timer.stop()
    assert opened.args == [url]
    assert len(ticks) >= 2                      # the event loop kept running while the server was slow
    recording = window.session.recording
    assert recording.datafile.file_name == url and recording.nb_channels == 8 and recording.is_remote
    assert opener.recent_urls()[0] == url and window.recent_files()[0] == url
    assert window.source.overview is None and not window.progress_label.text()
    view = window.view
    qtbot.waitUntil(lambda: view.frame is not None and view.frame.request_id == view.source.latest_request,
                    timeout=20_000)
    assert np.isfinite(view.frame.lo).any()     # the traces came over HTTP and were drawn
    opener.update_status()
    assert "fetched" in opener.status.text() and "cache" in opener.status.text()


def test_recent_urls_come_back_in_the_dialog_and_through_open_file(qtbot, window, served):
    url = served.url("rec.nwb")
    with qtbot.waitSignal(window.url_opener.opened, timeout=20_000):
        assert window.open_file(url) is True
    dialog = window.url_opener.show_dialog()
    assert dialog.url_box.itemText(0) == url and dialog.url_box.currentText() == url
    dialog.url_box.setCurrentText("not a url")
    dialog.open_button.click()
    assert dialog.isVisible() and "https://" in dialog.note.text()
    dialog.close()


def test_a_failing_server_gives_an_error_not_a_freeze(qtbot, window, served):
    served.latency = 0.0
    served.fail(-1, "500")
    url = served.url("rec.nwb")
    with qtbot.waitSignal(window.url_opener.failed, timeout=20_000) as failed:
        window.open_file(url)
    assert url in failed.args[0] and "did not answer" in failed.args[0]
    assert window.errors == [failed.args[0]]
    assert window.session.recording is None
    served.fail(0)
