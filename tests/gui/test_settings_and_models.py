"""Settings persist in the shared config file; the first-run page installs a model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from jina_edge.config import load_config
from jina_edge.index.service import Index

TIMEOUT_MS = 30_000


@pytest.fixture(autouse=True)
def _xdg_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg"


def test_settings_are_saved_to_the_config_and_shown_in_a_new_window(
        qtbot: Any, make_window: Any, tmp_path: Path, _xdg_config: Path) -> None:
    from jina_edge.gui.settings import autostart_supported

    window = make_window()
    dialog = window.open_settings()
    assert dialog.isVisible()
    dialog.fields["threads"].setValue(4)
    dialog.fields["device"].setCurrentText("cpu")
    dialog.fields["chunk_tokens"].setValue(128)
    dialog.fields["patterns"].setPlainText("*.log\nbuild/\n")
    dialog.fields["index"].setText(str(tmp_path / "elsewhere.db"))
    dialog.fields["watch_on_login"].setChecked(True)
    dialog.accept()
    assert not dialog.isVisible()

    config = load_config()
    assert config["threads"] == 4 and config["device"] == "cpu"
    assert config["chunk_tokens"] == 128 and config["patterns"] == ["*.log", "build/"]
    assert config["index"] == str(tmp_path / "elsewhere.db")
    assert config["watch_on_login"] is True
    desktop = _xdg_config / "autostart" / "jina-edge.desktop"
    if autostart_supported():
        assert "index watch" in desktop.read_text()

    again = make_window().open_settings()
    assert again.values() == {"model": "", "threads": 4, "device": "cpu", "chunk_tokens": 128,
                              "patterns": ["*.log", "build/"],
                              "index": str(tmp_path / "elsewhere.db"), "watch_on_login": True}
    # The library reads the same file: a new Index uses the new settings.
    assert Index(tmp_path / "x.db").settings.patterns == ("*.log", "build/")

    again.fields["threads"].setValue(0)
    again.fields["device"].setCurrentText("auto")
    again.fields["watch_on_login"].setChecked(False)
    again.accept()
    config = load_config()
    assert "threads" not in config and "device" not in config
    assert "watch_on_login" not in config
    assert not desktop.exists()


def test_a_setting_with_a_label_gets_a_row_and_is_saved(
        qtbot: Any, make_window: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding a setting to the app is its line in the registry: the dialog follows it."""
    from PySide6.QtWidgets import QSpinBox

    from jina_edge.config import SETTINGS, Setting

    monkeypatch.setitem(SETTINGS, "test_depth", Setting(
        "test_depth", "whole", "how deep", default=5, minimum=1, maximum=9, label="Depth"))
    dialog = make_window().open_settings()
    box = dialog.fields["test_depth"]
    assert isinstance(box, QSpinBox) and (box.minimum(), box.maximum(), box.value()) == (1, 9, 5)
    box.setValue(7)
    dialog.accept()
    assert load_config()["test_depth"] == 7
    again = make_window().open_settings()
    assert again.values()["test_depth"] == 7
    again.fields["test_depth"].setValue(5)  # the default again: not kept in the file
    again.accept()
    assert "test_depth" not in load_config()


def test_cancelling_the_settings_dialog_saves_nothing(qtbot: Any, make_window: Any) -> None:
    dialog = make_window().open_settings()
    dialog.fields["threads"].setValue(7)
    dialog.reject()
    assert "threads" not in load_config()


def test_the_first_run_page_imports_a_gguf(qtbot: Any, make_window: Any,
                                           jina_tiny_gguf: Path) -> None:
    from jina_edge.models.installed import list_installed

    window = make_window(first_run=True)
    assert window.stack.currentWidget() is window.first_run
    with qtbot.waitSignal(window.models_controller.model_ready, timeout=TIMEOUT_MS):
        window.models_controller.import_model(str(jina_tiny_gguf))
    assert [m.model_id for m in list_installed()]
    assert window.stack.currentWidget() is window.tabs
    assert window.tabs.currentWidget() is window.folders_page


def test_a_download_can_be_cancelled(qtbot: Any, make_window: Any,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import jina_edge.models.store

    def slow_pull(name: str = "x", *, progress: Any = None, **_: Any) -> Any:
        for done in range(1000):
            progress("download", done, 1000)
            time.sleep(0.01)
        raise AssertionError("not cancelled")

    monkeypatch.setattr(jina_edge.models.store, "pull", slow_pull)
    window = make_window(first_run=True)
    page = window.first_run
    with qtbot.waitSignal(window.models_controller.model_progress, timeout=TIMEOUT_MS):
        page.model_buttons.download_button.click()
    assert page.cancel_button.isVisible() and not page.model_buttons.download_button.isEnabled()
    with qtbot.waitSignal(window.models_controller.model_running, timeout=TIMEOUT_MS,
                          check_params_cb=lambda running: not running):
        page.cancel_button.click()
    assert "Cancelled" in window.status_label.text()
    assert page.model_buttons.download_button.isEnabled() and page.cancel_button.isHidden()
    assert window.stack.currentWidget() is page


def test_a_failed_download_is_shown_on_the_first_run_page(
        qtbot: Any, make_window: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import jina_edge.models.store
    from jina_edge.errors import DownloadError

    def offline_pull(*_: Any, **__: Any) -> Any:
        raise DownloadError("cannot reach huggingface.co; check the network")

    monkeypatch.setattr(jina_edge.models.store, "pull", offline_pull)
    window = make_window(first_run=True)
    with qtbot.waitSignal(window.models_controller.model_running, timeout=TIMEOUT_MS,
                          check_params_cb=lambda running: not running):
        window.first_run.model_buttons.download_button.click()
    assert "cannot reach" in window.first_run.error.text()
    assert not window.error_bar.isVisible()  # said once, where the person is looking


def test_settings_imports_a_model_makes_it_the_default_and_says_what_switching_costs(
        qtbot: Any, make_window: Any, notes: Path, jina_tiny_gguf: Path) -> None:
    from PySide6.QtWidgets import QApplication, QFileDialog

    window = make_window()
    with qtbot.waitSignal(window.folders_controller.sync_finished, timeout=TIMEOUT_MS):
        window.folders_controller.add_folders([str(notes)])
    dialog = window.open_settings()
    assert "embeds all 4 passages again" in dialog.switch_note.text()
    qtbot.keyClicks(dialog.import_name, "tiny")
    dialog.model_buttons.import_file_button.click()
    chooser = next(w for w in QApplication.topLevelWidgets()
                   if isinstance(w, QFileDialog) and w.isVisible())
    with qtbot.waitSignal(window.models_controller.model_ready, timeout=TIMEOUT_MS):
        chooser.selectFile(str(jina_tiny_gguf))
        chooser.accept()
    assert load_config()["model"] == "tiny:f32"
    assert dialog.model.currentData() == "tiny:f32"


def test_settings_imports_a_checkpoint_folder(qtbot: Any, make_window: Any,
                                              jina_tiny: Path) -> None:
    # Settings had one chooser for files and folders: a checkpoint folder came
    # back as "is not a GGUF file (it starts with b'{\n  ')" (issue 30).
    from PySide6.QtWidgets import QApplication, QFileDialog

    window = make_window()
    dialog = window.open_settings()
    qtbot.keyClicks(dialog.import_name, "tiny-folder")
    dialog.model_buttons.import_folder_button.click()
    chooser = next(w for w in QApplication.topLevelWidgets()
                   if isinstance(w, QFileDialog) and w.isVisible())
    assert chooser.fileMode() == QFileDialog.FileMode.Directory
    with qtbot.waitSignal(window.models_controller.model_ready, timeout=TIMEOUT_MS):
        chooser.selectFile(str(jina_tiny))
        chooser.accept()
    assert load_config()["model"].startswith("tiny-folder:")
