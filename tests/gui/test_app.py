"""The desktop app with the fake backend: index, search, cancel, errors, settings, keys."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from jina_edge.index.service import Index
from jina_edge.index.sync import SyncReport

TIMEOUT_MS = 60_000  # only how long to wait before failing


def _add_and_wait(qtbot: Any, window: Any, folder: Path) -> SyncReport:
    with qtbot.waitSignal(window.folders_controller.sync_finished, timeout=TIMEOUT_MS) as blocker:
        assert window.folders_controller.add_folders([str(folder)])
    return blocker.args[0]


def _search(qtbot: Any, window: Any, text: str, mode: str = "hybrid") -> list[Any]:
    page = window.search_page
    page.mode.setCurrentText(mode)
    page.query.clear()
    with qtbot.waitSignal(window.search_controller.results_changed, timeout=TIMEOUT_MS,
                          check_params_cb=lambda hits: bool(hits)):
        qtbot.keyClicks(page.query, text)
    return [page.model.hit(i) for i in range(page.model.rowCount())]


def test_adding_a_folder_indexes_it_and_typing_finds_the_passage(
        qtbot: Any, make_window: Any, notes: Path) -> None:
    window = make_window()
    report = _add_and_wait(qtbot, window, notes)
    assert report.indexed == 3 and not report.cancelled
    rows = window.folders_page.model.rows()
    assert rows[0][0] == str(notes) and rows[0][1] == "active" and rows[0][2] == 3
    assert "Index up to date" in window.status_label.text()

    hits = _search(qtbot, window, "litres per minute", mode="keyword")
    assert hits[0].path.name == "greenhouse.md"
    # The first hit is selected; the preview shows its whole document, at the passage,
    # with the query's words to step through.
    assert window.search_page.current_hit() == hits[0]
    preview = window.search_page.preview
    assert "greenhouse.md" in preview.header.text()
    qtbot.waitUntil(lambda: "LED panels" in preview.text.toPlainText(), timeout=TIMEOUT_MS)
    words = [preview.text.toPlainText()[a:b].lower() for a, b in preview.matches]
    assert words == ["litres", "per", "minute"]
    assert preview.matches_label.text() == "match 1 of 3"
    preview.next_button.click()
    assert preview.matches_label.text() == "match 2 of 3"
    from jina_edge.gui.item_models import HitRole
    from jina_edge.gui.search_view import hit_html

    result = window.search_page.model.index(0).data(HitRole)
    assert result.passages[0] == hits[0]
    assert f"{result.score:.2f}" not in hit_html(result, window.palette())  # no raw scores
    assert window.search_page.count.text().startswith(f"{len(hits)} result")
    assert window.search_page.open_button.isEnabled()
    # The hybrid mode finds it too (through the fake model and keywords).
    assert any(h.path.name == "greenhouse.md" for h in _search(qtbot, window, "pump flow"))


def test_the_search_is_debounced(qtbot: Any, make_window: Any, notes: Path) -> None:
    window = make_window()
    _add_and_wait(qtbot, window, notes)
    seen: list[Any] = []
    window.search_controller.results_changed.connect(seen.append)
    window.search_page.mode.setCurrentText("keyword")
    with qtbot.waitSignal(window.search_controller.results_changed, timeout=TIMEOUT_MS):
        qtbot.keyClicks(window.search_page.query, "eggs milk")
    qtbot.wait(400)
    assert len(seen) == 1  # one search for nine keystrokes


class SlowBackend:
    """The fake backend, slowed down so a sync can be cancelled half way."""

    def __init__(self, inner: Any, delay_s: float = 0.02) -> None:
        self.inner = inner
        self.delay_s = delay_s

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def tokenize(self, text: str) -> Any:
        time.sleep(self.delay_s)  # once or more per file, before its batch is embedded
        return self.inner.tokenize(text)


@pytest.fixture
def many_notes(tmp_path: Path) -> Path:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(40):
        (folder / f"note{i:02d}.md").write_text(f"# Note {i}\n\nEntry number {i} about pumps.\n")
    return folder


@pytest.fixture
def slow_open_index(index_path: Path) -> Any:
    from conftest import FakeBackend
    from jina_edge import Embedder

    embedder = Embedder(backend=SlowBackend(FakeBackend(max_tokens=512)))
    return lambda: Index(index_path, embedder=embedder)


def _files_indexed(open_index: Any) -> int:
    with open_index() as index:
        return sum(s.files_indexed for s in index.status())


def test_cancel_leaves_a_consistent_index_and_the_next_sync_completes(
        qtbot: Any, make_window: Any, many_notes: Path, slow_open_index: Any) -> None:
    window = make_window(slow_open_index)
    controller = window.folders_controller

    def cancel_once_indexing(p: Any) -> None:
        if p.stage == "index" and p.files_done >= 1:
            controller.cancel_sync()

    controller.sync_progress.connect(cancel_once_indexing)
    report = _add_and_wait(qtbot, window, many_notes)
    assert report.cancelled
    assert window.sync_status.progress.isHidden() and window.sync_status.cancel_button.isHidden()
    done = _files_indexed(slow_open_index)
    assert done < 40

    controller.sync_progress.disconnect(cancel_once_indexing)
    with qtbot.waitSignal(controller.sync_finished, timeout=TIMEOUT_MS) as blocker:
        assert controller.sync()
    assert not blocker.args[0].cancelled
    assert blocker.args[0].indexed == 40 - done  # continued where it stopped
    assert _files_indexed(slow_open_index) == 40


class SlowDecodes:
    """The fake backend with slow decodes, counted, as a real model's are slow."""

    def __init__(self, inner: Any, delay_s: float = 0.05) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.decodes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def token_states(self, sequences: Any) -> Any:
        time.sleep(self.delay_s)
        self.decodes += 1
        return self.inner.token_states(sequences)


def test_quitting_while_a_batch_is_embedded_stops_within_a_step(
        qtbot: Any, make_window: Any, tmp_path: Path, index_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import jina_edge.index.sync
    from conftest import FakeBackend
    from jina_edge import Embedder

    folder = tmp_path / "long"
    folder.mkdir()
    for i in range(40):  # each note is one decode of its own (late chunking)
        words = " ".join(f"word{j % 50}" for j in range(300))
        (folder / f"note{i:02d}.md").write_text(f"# Note {i}\n\n{words}\n\n{words}\n")
    monkeypatch.setattr(jina_edge.index.sync, "EMBED_STEP_TOKENS", 8)  # a note per step
    backend = SlowDecodes(FakeBackend(max_tokens=2048))
    embedder = Embedder(backend=backend)
    window = make_window(lambda: Index(index_path, embedder=embedder))
    window.folders_controller.add_folders([str(folder)])
    qtbot.waitUntil(lambda: backend.decodes >= 2, timeout=TIMEOUT_MS)
    at_close = backend.decodes
    window.close()  # cancels and waits for the worker
    # Before, the rest of the 16-file batch was embedded first (14 more decodes).
    assert backend.decodes - at_close <= 2
    assert not window.isVisible() and window.context.pool.activeThreadCount() == 0
    with Index(index_path, embedder=embedder) as index:
        report = index.sync()
    assert not report.cancelled and report.indexed + report.unchanged == 40


def test_adding_a_file_instead_of_a_folder_shows_an_error(
        qtbot: Any, make_window: Any, notes: Path) -> None:
    window = make_window()
    assert not window.folders_controller.add_folders([str(notes / "greenhouse.md")])
    assert window.error_bar.isVisible()
    assert "is not a folder" in window.error_label.text()
    qtbot.mouseClick(window.error_close, Qt.MouseButton.LeftButton)
    assert not window.error_bar.isVisible()


def test_a_missing_model_points_at_settings_not_at_a_terminal(
        qtbot: Any, make_window: Any, notes: Path, index_path: Path) -> None:
    window = make_window(lambda: Index(index_path))  # no model installed
    window.folders_controller.add_folders([str(notes)])
    qtbot.waitUntil(lambda: "is not installed" in window.error_label.text(),
                    timeout=TIMEOUT_MS)
    assert "in Settings" in window.error_label.text()
    assert "jina-edge " not in window.error_label.text()
    assert window.error_bar.isVisible()
    qtbot.waitUntil(lambda: not window.folders_controller.busy)


def test_folders_can_be_paused_removed_and_explained(
        qtbot: Any, make_window: Any, notes: Path) -> None:
    (notes / "photo.jpg").write_bytes(b"\xff\xd8")
    window = make_window()
    _add_and_wait(qtbot, window, notes)
    page = window.folders_page
    page.table.selectRow(0)
    assert page.pause_button.text() == "Pause"
    qtbot.mouseClick(page.pause_button, Qt.MouseButton.LeftButton)
    assert page.model.row(0)[1] == "paused"
    page.table.selectRow(0)
    assert page.pause_button.text() == "Resume"

    problems = window.problems_page
    problems.file.setText(str(notes / "photo.jpg"))
    qtbot.mouseClick(problems.explain_button, Qt.MouseButton.LeftButton)
    assert "not indexed" in problems.answer.text() and ".jpg" in problems.answer.text()
    problems.file.setText(str(notes / "greenhouse.md"))
    qtbot.mouseClick(problems.explain_button, Qt.MouseButton.LeftButton)
    assert problems.answer.text().startswith("indexed")

    page.table.selectRow(0)
    qtbot.mouseClick(page.remove_button, Qt.MouseButton.LeftButton)
    box = window.folders_page.confirm_box
    assert "your files are not touched" in box.text()
    box.button(box.StandardButton.Cancel).click()  # asked first: nothing removed yet
    assert page.model.rowCount() == 1
    page.table.selectRow(0)
    qtbot.mouseClick(page.remove_button, Qt.MouseButton.LeftButton)
    remove = next(b for b in window.folders_page.confirm_box.buttons() if b.text() == "Remove")
    remove.click()
    assert page.model.rowCount() == 0
    assert window.search_page.folder.count() == 1  # only "All folders" is left


def test_failed_files_are_listed_with_the_reason(
        qtbot: Any, make_window: Any, notes: Path) -> None:
    (notes / "broken.pdf").write_bytes(b"not a pdf at all")
    window = make_window()
    _add_and_wait(qtbot, window, notes)
    rows = window.problems_page.model.rows()
    assert [Path(r[0]).name for r in rows] == ["broken.pdf"]
    assert rows[0][1] in ("failed", "skipped") and rows[0][2]


def test_keyboard_focus_arrows_and_enter(qtbot: Any, make_window: Any, notes: Path,
                                         launcher: Any) -> None:
    window = make_window()
    _add_and_wait(qtbot, window, notes)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.tabs.setCurrentWidget(window.folders_page)
    window.folders_page.table.setFocus()
    qtbot.keyClick(window.folders_page.table, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    query = window.search_page.query
    assert window.tabs.currentWidget() is window.search_page
    qtbot.waitUntil(query.hasFocus)

    hits = _search(qtbot, window, "pump", mode="keyword")
    assert len(hits) >= 2
    results = window.search_page.results
    assert results.currentIndex().row() == 0
    qtbot.keyClick(query, Qt.Key.Key_Down)
    assert results.currentIndex().row() == 1
    qtbot.keyClick(query, Qt.Key.Key_Up)
    assert results.currentIndex().row() == 0
    qtbot.keyClick(query, Qt.Key.Key_Down)
    qtbot.keyClick(query, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(launcher.opened()) == 1, timeout=TIMEOUT_MS)
    assert launcher.opened()[0] == f"gedit +{hits[1].line_start} {hits[1].path}"
    results.setFocus()
    qtbot.keyClick(results, Qt.Key.Key_Up)
    qtbot.keyClick(results, Qt.Key.Key_Enter)
    qtbot.waitUntil(lambda: len(launcher.opened()) == 2, timeout=TIMEOUT_MS)
    assert launcher.opened()[1] == f"gedit +{hits[0].line_start} {hits[0].path}"


def test_copy_path_puts_it_on_the_clipboard(qtbot: Any, make_window: Any, notes: Path) -> None:
    from PySide6.QtGui import QGuiApplication

    window = make_window()
    _add_and_wait(qtbot, window, notes)
    hits = _search(qtbot, window, "eggs", mode="keyword")
    qtbot.mouseClick(window.search_page.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == str(hits[0].path)


def test_the_search_waits_for_a_running_sync_and_sees_its_work(
        qtbot: Any, make_window: Any, notes: Path) -> None:
    # A sync and a search at once (each worker has its own connection).
    window = make_window()
    done = threading.Event()
    window.folders_controller.sync_finished.connect(lambda _r: done.set())
    window.folders_controller.add_folders([str(notes)])
    window.search_page.mode.setCurrentText("keyword")
    qtbot.keyClicks(window.search_page.query, "eggs")
    qtbot.waitUntil(done.is_set, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.search_page.model.rowCount() > 0, timeout=TIMEOUT_MS)


def test_escape_clears_the_search_and_ctrl_q_quits(qtbot: Any, make_window: Any,
                                                   notes: Path) -> None:
    window = make_window()
    _add_and_wait(qtbot, window, notes)
    _search(qtbot, window, "pump", mode="keyword")
    query = window.search_page.query
    qtbot.keyClick(query, Qt.Key.Key_Escape)
    assert query.text() == ""
    qtbot.waitUntil(lambda: window.search_page.model.rowCount() == 0)
    window.quit_shortcut.activated.emit()
    assert not window.isVisible()


def test_a_hit_has_a_context_menu(qtbot: Any, make_window: Any, notes: Path) -> None:
    from PySide6.QtGui import QGuiApplication

    window = make_window()
    _add_and_wait(qtbot, window, notes)
    hits = _search(qtbot, window, "eggs", mode="keyword")
    results = window.search_page.results
    rect = results.visualRect(window.search_page.model.index(0))
    results.customContextMenuRequested.emit(rect.center())
    menu = window.search_page.hit_menu
    assert [a.text() for a in menu.actions()] == ["Open", "Show in folder", "Copy path"]
    menu.actions()[2].trigger()
    assert QGuiApplication.clipboard().text() == str(hits[0].path)


def test_garbage_is_collected_on_the_gui_thread(qtbot: Any, make_window: Any) -> None:
    import gc
    import weakref

    make_window()
    assert not gc.isenabled()  # worker threads never run the collector

    class Node:
        me: Any = None

    nodes = [Node() for _ in range(2000)]  # past the first generation's threshold
    for node in nodes:
        node.me = node
    ref = weakref.ref(nodes[0])
    del nodes, node
    qtbot.waitUntil(lambda: ref() is None, timeout=TIMEOUT_MS)


def test_the_type_filter_names_the_indexed_types_with_counts(qtbot: Any, make_window: Any,
                                                              notes: Path) -> None:
    window = make_window()
    _add_and_wait(qtbot, window, notes)
    combo = window.search_page.file_type
    items = [combo.itemText(i) for i in range(combo.count())]
    assert items == ["All types", "Markdown (2)", "Plain text (1)"]
    combo.setCurrentIndex(2)
    hits = _search(qtbot, window, "eggs", mode="keyword")
    assert [h.path.name for h in hits] == ["shopping.txt"]


def test_code_is_previewed_in_a_monospace_font_with_its_indentation(
        qtbot: Any, make_window: Any, notes: Path) -> None:
    (notes / "flow.py").write_text("def flow_rate(litres, minutes):\n"
                                   "    return litres / minutes\n")
    window = make_window()
    _add_and_wait(qtbot, window, notes)
    from PySide6.QtGui import QFontDatabase

    with qtbot.waitSignal(window.search_controller.document_loaded, timeout=TIMEOUT_MS):
        _search(qtbot, window, "flow_rate", mode="keyword")
    preview = window.search_page.preview
    assert "    return litres / minutes" in preview.text.toPlainText()
    fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    assert preview.text.font().family() == fixed.family()


def test_a_subfolder_filter(qtbot: Any, make_window: Any, notes: Path) -> None:
    (notes / "pumps").mkdir()
    (notes / "pumps" / "spare.md").write_text("# Spare\n\nA spare pump for the pond.\n")
    window = make_window()
    _add_and_wait(qtbot, window, notes)
    assert len(_search(qtbot, window, "pump", mode="keyword")) >= 3
    combo = window.search_page.folder
    combo.setCurrentIndex(combo.findText("A subfolder…"))
    dialog = window.search_page.subfolder_dialog
    with qtbot.waitSignal(window.search_controller.results_changed, timeout=TIMEOUT_MS):
        dialog.selectFile(str(notes / "pumps"))
        dialog.accept()
    assert combo.currentData() == str(notes / "pumps")
    names = [window.search_page.model.hit(i).path.name
             for i in range(window.search_page.model.rowCount())]
    assert names == ["spare.md"]


def test_none_keeps_its_references_through_searches_and_repaints(
        qtbot: Any, make_window: Any, notes: Path) -> None:
    # PySide6 6.12.0 on Python 3.11 leaked a reference to None on every call of
    # a void C++ method from Python (setHtml, drawControl, initStyleOption ...):
    # the results list lost about 40 per repaint, and CPython aborted with
    # "none_dealloc" once None's count ran out, after hours of use. (On 3.12+
    # None is immortal and its count never moves.)
    import sys

    window = make_window()
    _add_and_wait(qtbot, window, notes)
    _search(qtbot, window, "litres per minute", mode="keyword")
    results = window.search_page.results
    before = sys.getrefcount(None)
    for _ in range(50):
        results.viewport().grab()
        window.search_page.preview.grab()
    # A count that grows is harmless (None is never freed); one that falls is fatal.
    assert sys.getrefcount(None) - before > -100


def test_opening_a_deleted_result_says_so_and_syncs_it_away(
        qtbot: Any, make_window: Any, notes: Path) -> None:
    # A deleted file stayed on top and "Open" said "xdg-open exited with status 2" (issue 30).
    window = make_window()
    _add_and_wait(qtbot, window, notes)
    hits = _search(qtbot, window, "litres per minute", mode="keyword")
    hits[0].path.unlink()
    with qtbot.waitSignal(window.folders_controller.sync_finished, timeout=TIMEOUT_MS) as synced:
        window.search_controller.open_hit(hits[0])
    assert "was deleted or moved" in window.error_label.text()
    assert str(hits[0].path) in window.error_label.text()
    assert synced.args[0].removed == 1


def test_the_window_fits_the_screen_and_comes_back_as_it_was_closed(
        qtbot: Any, make_window: Any) -> None:
    # At QT_SCALE_FACTOR=2 the first window was larger than the screen, and the
    # size and splitter were never remembered (issue 30).
    window = make_window()
    screen = window.screen().availableGeometry()
    assert window.width() <= screen.width() and window.height() <= screen.height()
    window.resize(screen.width() // 2, screen.height() // 2)
    window.search_page.splitter.setSizes([100, 300])
    size, sizes = window.size(), window.search_page.splitter.sizes()
    window.close()
    again = make_window()
    assert again.size() == size
    assert again.search_page.splitter.sizes() == sizes


def test_the_menu_bar_does_what_the_buttons_and_keys_do(qtbot: Any, make_window: Any,
                                                        notes: Path) -> None:
    # The app had no menu bar: no About, no list of shortcuts (issue 30).
    window = make_window()
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus == ["File", "Edit", "View", "Help"]
    window.tab_actions[1].trigger()
    assert window.tabs.currentWidget() is window.folders_page
    window.find_action.trigger()
    assert window.tabs.currentWidget() is window.search_page
    window.about_action.trigger()
    assert "jina-edge 0.1.0" in window.info_box.text()
    window.info_box.close()
    window.shortcuts_action.trigger()
    assert "Ctrl+K" in window.info_box.text()
    _add_and_wait(qtbot, window, notes)
    hits = _search(qtbot, window, "litres per minute", mode="keyword")
    window.copy_path_action.trigger()
    from PySide6.QtWidgets import QApplication

    assert QApplication.clipboard().text() == str(hits[0].path)
    with qtbot.waitSignal(window.folders_controller.sync_finished, timeout=TIMEOUT_MS):
        window.sync_action.trigger()


def test_tab_leaves_the_folders_and_problems_tables(qtbot: Any, make_window: Any,
                                                    notes: Path) -> None:
    # The Folders table kept Tab for moving between its cells: keyboard users
    # could not reach the buttons below it (issue 30).
    window = make_window()
    _add_and_wait(qtbot, window, notes)
    for page in (window.folders_page, window.problems_page):
        window.tabs.setCurrentWidget(page)
        page.table.setFocus()
        qtbot.waitUntil(page.table.hasFocus)
        qtbot.keyClick(page.table, Qt.Key.Key_Tab)
        assert not page.table.hasFocus()


def test_the_count_says_when_the_list_is_only_the_best_of_more(
        qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    # Every query said "30 results": the cap, not a count (issue 30).
    from jina_edge.gui.search_controller import RESULTS_SHOWN

    many = tmp_path / "many"
    many.mkdir()
    for i in range(RESULTS_SHOWN + 5):
        (many / f"pump-{i:02}.txt").write_text(f"Pump number {i} moves water.\n")
    window = make_window()
    _add_and_wait(qtbot, window, many)
    hits = _search(qtbot, window, "pump", mode="keyword")
    assert len(hits) == RESULTS_SHOWN
    assert window.search_page.count.text() == f"The {RESULTS_SHOWN} best results"
    hits = _search(qtbot, window, "number 7", mode="keyword")
    assert window.search_page.count.text() == f"{len(hits)} result{'s' * (len(hits) != 1)}"


def test_a_folder_added_during_a_sync_is_indexed_after_it(qtbot: Any, make_window: Any,
                                                          notes: Path, tmp_path: Path) -> None:
    # A folder added while a sync ran was never synced (issue 30).
    later = tmp_path / "later"
    later.mkdir()
    (later / "kettle.txt").write_text("The kettle boils a litre in two minutes.\n")
    window = make_window()
    reports: list[Any] = []
    window.folders_controller.sync_finished.connect(reports.append)
    assert window.folders_controller.add_folders([str(notes)])
    assert window.folders_controller.busy
    assert window.folders_controller.add_folders([str(later)])  # while the first sync runs
    qtbot.waitUntil(lambda: len(reports) == 2 and not window.folders_controller.busy,
                    timeout=TIMEOUT_MS)
    hits = _search(qtbot, window, "kettle boils", mode="keyword")
    assert hits[0].path.name == "kettle.txt"


def test_a_models_first_use_is_announced_in_the_status_line(qtbot: Any,
                                                            make_window: Any) -> None:
    # The first search or sync with a new model built its graph behind a silent
    # "Indexing..." for up to a minute (issues 29 and 30).
    import logging
    import threading

    window = make_window()
    note = ("preparing m.gguf for this CPU: building its float32 ONNX Runtime graph (once; "
            "seconds for a small model, minutes for a base one)")
    worker = threading.Thread(  # as the engine logs it, from a worker thread
        target=lambda: logging.getLogger("jina_edge.engines.onnx_runtime").info(note))
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: window.status_label.text().startswith("Preparing m.gguf"))


def test_the_chosen_folder_stays_chosen_through_refreshes(qtbot: Any, make_window: Any,
                                                          notes: Path, tmp_path: Path) -> None:
    # During a sync the folders table is refreshed every second, and each
    # refresh wiped the selection: Remove and Pause greyed out again (issue 30).
    other = tmp_path / "other"
    other.mkdir()
    window = make_window()
    _add_and_wait(qtbot, window, notes)
    _add_and_wait(qtbot, window, other)
    page = window.folders_page
    page.table.selectRow(1)
    chosen = page.selected_folder()
    window.folders_controller.refresh()
    assert page.selected_folder() == chosen
    assert page.remove_button.isEnabled() and page.pause_button.isEnabled()


def test_watching_is_on_while_the_app_runs_and_the_choice_is_kept(
        qtbot: Any, make_window: Any, notes: Path) -> None:
    # Watching was off by default, so results went stale silently (issue 30).
    from jina_edge.config import load_config

    window = make_window()
    _add_and_wait(qtbot, window, notes)
    qtbot.waitUntil(lambda: window.folders_controller.watching, timeout=TIMEOUT_MS)
    assert window.folders_page.watch_button.isChecked()
    with qtbot.waitSignal(window.folders_controller.sync_finished, timeout=TIMEOUT_MS,
                          check_params_cb=lambda report: report.indexed == 1):
        (notes / "shopping.txt").write_text("Buy eggs, milk, bread and tea.\n")
    assert window.context.index.search("tea", mode="keyword")
    window.folders_page.watch_button.click()  # the person turns it off: it stays off
    qtbot.waitUntil(lambda: not window.folders_controller.watching, timeout=TIMEOUT_MS)
    assert load_config().get("watch") is False
    window.close()
    again = make_window()
    again.folders_controller.resume()
    with qtbot.waitSignal(again.folders_controller.sync_finished, timeout=TIMEOUT_MS):
        pass
    assert not again.folders_controller.watching and not again.folders_page.watch_button.isChecked()


def test_a_watch_that_ends_as_the_app_stops_starts_no_other(
        qtbot: Any, make_window: Any, notes: Path) -> None:
    """A watch restarting (a folder added) whose end is handled after the app stopped.

    Its "finished" was queued before the stop; handled after, it started a new
    watch that nothing stopped, and the app's exit waited for it for ever.
    """
    window = make_window()
    _add_and_wait(qtbot, window, notes)
    controller = window.folders_controller
    qtbot.waitUntil(lambda: controller.watching, timeout=TIMEOUT_MS)
    controller._watch_folders_anew()  # ends this watch, to start it again when it has ended
    assert window.context.pool.waitForDone(TIMEOUT_MS)  # ended; its "finished" is queued
    controller.stop()  # the app stops before that is handled
    qtbot.wait(200)  # now it is
    try:
        assert not controller.watching
        assert window.context.pool.activeThreadCount() == 0
    finally:
        controller.stop()  # on failure, end the stray watch so the test run can exit


def test_a_result_whose_file_changed_says_so_and_offers_a_sync(
        qtbot: Any, make_window: Any, notes: Path) -> None:
    # An edited file showed its old snippet beside the new preview, unmarked (issue 30).
    window = make_window()
    _add_and_wait(qtbot, window, notes)
    page = window.search_page
    _search(qtbot, window, "litres per minute", mode="keyword")
    assert page.stale.isHidden()
    (notes / "greenhouse.md").write_text((notes / "greenhouse.md").read_text() + "\nMore.\n")
    _search(qtbot, window, "litres per minute", mode="keyword")
    assert page.stale.isVisible()
    assert "greenhouse.md was changed after it was indexed" in page.stale_text.text()
    from jina_edge.gui.item_models import HitRole
    from jina_edge.gui.search_view import hit_html

    result = page.model.data(page.model.index(0), HitRole)
    assert "changed since it was indexed" in hit_html(result, page.palette())
    with qtbot.waitSignal(window.search_controller.results_changed, timeout=TIMEOUT_MS):
        page.sync_button.click()  # the sync ends by searching again
    assert page.stale.isHidden()


def test_no_results_say_what_they_mean(qtbot: Any, make_window: Any, notes: Path) -> None:
    window = make_window()
    page = window.search_page
    with qtbot.waitSignal(window.search_controller.results_changed, timeout=TIMEOUT_MS):
        qtbot.keyClicks(page.query, "pump")
    assert page.empty.text().startswith("Nothing is indexed yet")
    _add_and_wait(qtbot, window, notes)
    page.mode.setCurrentText("keyword")
    page.query.clear()
    qtbot.keyClicks(page.query, "xyzzy")
    qtbot.waitUntil(lambda: page.empty.text() == "No matches. Try other words, or the hybrid "
                    "mode.", timeout=TIMEOUT_MS)


@pytest.fixture
def session_bus(tmp_path: Path) -> Iterator[str]:
    """A private D-Bus session bus's address (dbus-daemon)."""
    daemon = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert daemon.stdout is not None
    address = daemon.stdout.readline().strip()
    yield address
    daemon.terminate()
    daemon.wait()


def test_show_in_folder_selects_the_file_in_the_file_manager(
        qtbot: Any, make_window: Any, notes: Path, tmp_path: Path, session_bus: str,
        launcher: Any) -> None:
    # "Show in folder" opened the folder without selecting the file (issue 30).
    from PySide6.QtDBus import QDBusConnection

    window = make_window()
    window.search_controller.session_bus = lambda: QDBusConnection.connectToBus(session_bus,
                                                                                 "session")
    log = tmp_path / "shown.log"
    manager = subprocess.Popen([sys.executable, str(Path(__file__).with_name(
        "fake_file_manager.py")), session_bus, str(log)], stdout=subprocess.PIPE, text=True)
    try:
        assert manager.stdout is not None and manager.stdout.readline().strip() == "ready"
        target = notes / "a note with spaces.md"
        target.write_text("pump")
        window.search_controller.reveal(target)
        qtbot.waitUntil(log.exists, timeout=TIMEOUT_MS)
        assert log.read_text().split() == [target.as_uri()]
        qtbot.waitUntil(lambda: "in the file manager" in window.status_label.text())
    finally:
        manager.terminate()
        manager.wait()
    # With no file manager on the bus, the folder opens instead.
    window.search_controller.reveal(target)
    qtbot.waitUntil(lambda: launcher.opened() == [f"xdg-open {notes}"], timeout=TIMEOUT_MS)


def test_closing_the_window_while_watching_keeps_watching_from_the_tray(
        qtbot: Any, make_window: Any, notes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Watching stopped when the window closed, so the index went stale (issue 30).
    from PySide6.QtWidgets import QSystemTrayIcon

    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    window = make_window()
    _add_and_wait(qtbot, window, notes)
    qtbot.waitUntil(lambda: window.tray is not None and window.tray.isVisible(),
                    timeout=TIMEOUT_MS)
    window.close()
    assert window.isHidden() and window.folders_controller.watching
    with qtbot.waitSignal(window.folders_controller.sync_finished, timeout=TIMEOUT_MS,
                          check_params_cb=lambda report: report.indexed == 1):
        (notes / "shopping.txt").write_text("Buy eggs, milk, bread and tea.\n")
    window.tray.show_action.trigger()
    assert window.isVisible()
    window.tray.stop_action.trigger()  # without watching, closing is quitting
    qtbot.waitUntil(lambda: not window.folders_controller.watching, timeout=TIMEOUT_MS)
    assert not window.tray.isVisible()
    window.close()
    assert window.isHidden() and window.context._index is None  # shut down


def test_the_chosen_result_stays_chosen_when_a_sync_refreshes_the_results(
        qtbot: Any, make_window: Any, notes: Path) -> None:
    # Each sync searched again and put the selection back on the first result,
    # under the person's eyes; with watching on, that happens at every save (issue 30).
    window = make_window()
    _add_and_wait(qtbot, window, notes)
    page = window.search_page
    hits = _search(qtbot, window, "pump", mode="keyword")
    assert len(hits) >= 2
    page.results.setCurrentIndex(page.model.index(1))
    chosen = window.search_page.current_hit().path
    with qtbot.waitSignal(window.search_controller.results_changed, timeout=TIMEOUT_MS):
        window.search_controller.search_now()  # what the end of every sync does
    assert window.search_page.current_hit().path == chosen
    _search(qtbot, window, "pond", mode="keyword")  # a new query starts at the top
    assert page.results.currentIndex().row() == 0


def test_finished_workers_and_closed_dialogs_are_freed(
        qtbot: Any, make_window: Any, notes: Path) -> None:
    # A soak run of 4,000 actions ended with 3,808 finished workers and every
    # dialog, box and menu it had opened still alive (issue 30).
    import gc

    from PySide6.QtWidgets import QApplication, QFileDialog

    from jina_edge.gui.workers import Worker

    def alive() -> tuple[int, int]:
        for _ in range(3):  # deleteLater runs in the event loop, then Python collects
            qtbot.wait(20)
            gc.collect()
        workers = sum(1 for o in gc.get_objects() if isinstance(o, Worker))
        return workers, len(QApplication.allWidgets())

    window = make_window()
    _add_and_wait(qtbot, window, notes)
    _search(qtbot, window, "pump", mode="keyword")
    before = alive()
    for i in range(20):
        _search(qtbot, window, ("pump", "litres", "pond")[i % 3], mode="keyword")
        window.folders_page.choose_folders()
        dialog = next(w for w in QApplication.topLevelWidgets()
                      if isinstance(w, QFileDialog) and w.isVisible())
        dialog.reject()
        window.show_info("About", "text").close()
    # What is still in flight (the last preview's reader) finishes by itself.
    qtbot.waitUntil(lambda: alive()[0] <= before[0] + 1, timeout=TIMEOUT_MS)
    assert alive()[1] <= before[1] + 10, (before, alive())


def test_clearing_the_search_while_one_runs_stops_the_spinner(
        qtbot: Any, make_window: Any, notes: Path) -> None:
    # "Searching…" stayed on for good after Esc during a search (found by the soak run).
    window = make_window()
    _add_and_wait(qtbot, window, notes)
    c, page = window.search_controller, window.search_page
    c.search("pump", "keyword")
    c.search_now()
    assert page.spinner.text() == "Searching…"
    c.search("", "keyword")  # Esc, before the search's answer arrives
    c.search_now()
    qtbot.waitUntil(lambda: c.search_pool.activeThreadCount() == 0, timeout=TIMEOUT_MS)
    qtbot.wait(100)  # the dropped answer reaches the window
    assert page.spinner.text() == "" and page.model.rowCount() == 0
