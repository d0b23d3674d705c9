"""The app as a person starts it (`launch()`, which `jina-edge-gui` runs), from an empty home.

First run -> import a checkpoint through the dialog -> add a folder -> sync ->
search -> open a hit, with the real converter and a real (tiny) model, and
fake launchers on PATH recording what was opened.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog

from jina_edge.config import config_path, load_config
from jina_edge.gui.app import launch
from jina_edge.gui.settings import autostart_path, autostart_supported, load_settings
from jina_edge.index.search import Hit

TIMEOUT_MS = 120_000  # only how long to wait before failing: a conversion is in it


@pytest.fixture
def started(qtbot: Any) -> Any:
    """Start the app through `launch()`; close it after the test."""
    windows: list[Any] = []

    def start() -> Any:
        window = launch([])
        qtbot.addWidget(window)
        windows.append(window)
        qtbot.waitExposed(window)
        return window

    yield start
    for window in windows:
        window.close()


def _pick_in_file_dialog(qtbot: Any, path: Path) -> None:
    """Choose `path` in the file dialog the last click opened, as a person would."""
    qtbot.waitUntil(lambda: any(isinstance(w, QFileDialog) and w.isVisible()
                                for w in QApplication.topLevelWidgets()))
    dialog = next(w for w in QApplication.topLevelWidgets()
                  if isinstance(w, QFileDialog) and w.isVisible())
    dialog.selectFile(str(path))
    dialog.accept()


def test_a_fresh_install_opens_on_the_welcome_page(qtbot: Any, started: Any) -> None:
    window = started()
    qtbot.wait(100)  # whatever runs after show() has run
    assert window.showing_first_run() and window.first_run.isVisible()
    window.focus_shortcut.activated.emit()  # Ctrl+K must not skip the welcome page
    assert window.showing_first_run()


def test_from_first_run_to_an_opened_hit(qtbot: Any, started: Any, jina_tiny: Path,
                                         notes: Path, launcher: Any) -> None:
    window = started()
    first = window.first_run
    qtbot.keyClicks(first.name, "tiny")
    qtbot.mouseClick(first.model_buttons.import_folder_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(window.models_controller.model_ready, timeout=TIMEOUT_MS):
        _pick_in_file_dialog(qtbot, jina_tiny)
    assert load_config()["model"] == "tiny:q8_0"  # the imported model is the one used
    # Offered on the welcome page, ticked: the index stays fresh after login (Linux).
    if autostart_supported():
        assert "index watch" in autostart_path().read_text()
        assert load_settings()["watch_on_login"]
    assert not window.showing_first_run()
    assert window.tabs.currentWidget() is window.folders_page

    qtbot.mouseClick(window.folders_page.add_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(window.folders_controller.sync_finished, timeout=TIMEOUT_MS) as synced:
        _pick_in_file_dialog(qtbot, notes)
    assert synced.args[0].indexed == 3 and not window.error_bar.isVisible()

    window.focus_search()
    with qtbot.waitSignal(window.search_controller.results_changed, timeout=TIMEOUT_MS,
                          check_params_cb=bool) as found:
        qtbot.keyClicks(window.search_page.query, "pump flow")
    hit = found.args[0][0].passages[0]
    qtbot.keyClick(window.search_page.query, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: bool(launcher.opened()), timeout=TIMEOUT_MS)
    assert launcher.opened() == [f"gedit +{hit.line_start} {hit.path}"]
    assert not window.error_bar.isVisible()


def test_a_pdf_opens_at_the_hits_page(qtbot: Any, started: Any, launcher: Any,
                                      tmp_path: Path) -> None:
    window = started()
    pdf = tmp_path / "manual.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    window.search_controller.open_hit(Hit(pdf, None, None, 7, "", 1.0, "t", "t"))
    qtbot.waitUntil(lambda: bool(launcher.opened()))
    assert launcher.opened() == [f"evince --page-index=7 {pdf}"]


def test_no_application_to_open_with_is_said_with_the_path(
        qtbot: Any, started: Any, launcher: Any, tmp_path: Path) -> None:
    window = started()
    launcher.remove("gedit")
    launcher.remove("xdg-open")
    note = tmp_path / "note.md"
    note.write_text("pump")
    window.search_controller.open_hit(Hit(note, 3, 4, None, "", 1.0, "t", "t"))
    assert str(note) in window.first_run.error.text() + window.error_label.text()
    assert "xdg-open" in window.first_run.error.text() + window.error_label.text()


def test_a_launcher_that_fails_is_reported(qtbot: Any, started: Any, launcher: Any,
                                           tmp_path: Path) -> None:
    window = started()
    launcher._script("xdg-open", "#!/bin/sh\nexit 3\n")  # xdg-open: no application found
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    window.search_controller.reveal(folder / "a.txt")
    qtbot.waitUntil(lambda: "exited with status 3" in (window.first_run.error.text()
                                                       + window.error_label.text()))


def test_a_damaged_config_file_is_set_aside_and_the_app_starts(qtbot: Any,
                                                               started: Any) -> None:
    config = config_path()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('{"model": "tiny", oops')
    window = started()
    kept = list(config.parent.glob("config.json.damaged-*"))
    assert [p.read_text() for p in kept] == ['{"model": "tiny", oops']  # nothing lost
    assert not config.exists()
    assert str(kept[0]) in window.first_run.error.text()


def test_offline_download_says_so_at_once_and_points_at_import(
        qtbot: Any, started: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    window = started()
    page = window.first_run
    with qtbot.waitSignal(window.models_controller.model_running, timeout=TIMEOUT_MS,
                          check_params_cb=lambda running: not running):
        qtbot.mouseClick(page.model_buttons.download_button, Qt.MouseButton.LeftButton)
        assert page.stage.text()  # never a silent spinner
    assert "offline" in page.error.text() and "import" in page.error.text()
    assert "jina-edge " not in page.error.text()  # no terminal command for app users
    assert not window.error_bar.isVisible()


def test_unfinished_work_resumes_at_start_up(qtbot: Any, started: Any, notes: Path,
                                             jina_tiny_gguf: Path) -> None:
    from jina_edge.index.service import Index
    from jina_edge.models import store

    store.set_default(store.import_model(jina_tiny_gguf, name="tiny").name)
    with Index() as index:
        index.add(notes)  # as if the app was quit before the first sync finished
    window = started()
    assert not window.showing_first_run()

    def indexed() -> int:
        with Index() as index:
            return sum(s.files_indexed for s in index.status())

    qtbot.waitUntil(lambda: not window.folders_controller.busy and indexed() == 3,
                    timeout=TIMEOUT_MS)
    assert load_config()["model"] == "tiny:f32"


def test_missing_x11_libraries_are_named_with_the_install_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import ctypes.util

    from jina_edge.gui.app import main

    real = ctypes.util.find_library
    monkeypatch.setattr(ctypes.util, "find_library",
                        lambda name: None if name == "xcb-cursor" else real(name))
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setenv("DISPLAY", ":99")
    assert main([]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sudo apt-get install libxcb-cursor0" in err


def test_the_login_watch_offered_on_the_welcome_page_can_be_declined(
        qtbot: Any, started: Any, jina_tiny: Path) -> None:
    window = started()
    first = window.first_run
    assert first.watch_on_login.isChecked() == first.watch_on_login.isVisible()
    first.watch_on_login.setChecked(False)
    qtbot.mouseClick(first.model_buttons.import_folder_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(window.models_controller.model_ready, timeout=TIMEOUT_MS):
        _pick_in_file_dialog(qtbot, jina_tiny)
    assert not autostart_path().exists() and not load_settings()["watch_on_login"]
