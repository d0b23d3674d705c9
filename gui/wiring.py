"""Connects the main window's widgets to the controller (signals both ways).

Kept apart from the layout in `views` so each stays short; nothing here
decides anything: choices go to the controller, its answers to the widgets.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QSystemTrayIcon

from jina_edge.gui.dialogs import SettingsDialog, TrayIcon, transient
from jina_edge.gui.settings import load_settings, save_settings, set_watch_on_login
from jina_edge.gui.views import SUBFOLDER_ITEM
from jina_edge.gui.workers import error_text

if TYPE_CHECKING:
    from jina_edge.gui.views import MainWindow


def connect(w: MainWindow) -> None:
    """Wire every widget of `w` to `w.controller`."""
    c = w.controller
    search = w.search_page
    folders = w.folders_page
    problems = w.problems_page

    c.error.connect(w.show_error)
    c.message.connect(w.status_label.setText)
    w.error_close.clicked.connect(w.clear_error)
    w.focus_shortcut.activated.connect(w.focus_search)
    w.settings_button.clicked.connect(w.open_settings)
    connect_menus(w)

    # search
    def run_search(*_: Any) -> None:
        w.clear_error()
        c.search(search.query.text(), search.mode.currentText(), search.filters())

    search.query.textChanged.connect(run_search)
    for combo in (search.mode, search.file_type, search.age):
        combo.currentIndexChanged.connect(run_search)

    def folder_chosen(*_: Any) -> None:
        if search.folder.currentData() != SUBFOLDER_ITEM:
            run_search()
            return
        roots = c.folders()
        search.folder.setCurrentIndex(0)
        dialog = transient(QFileDialog(w, "Search in a subfolder",
                                       roots[0] if roots else str(Path.home())))
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)

        def chosen(path: str) -> None:
            search.folder.blockSignals(True)
            search.add_subfolder_item(path)
            search.folder.blockSignals(False)
            run_search()

        dialog.fileSelected.connect(chosen)
        w.subfolder_dialog = dialog
        dialog.open()

    search.folder.currentIndexChanged.connect(folder_chosen)

    shown = {"query": ""}  # the query the list shows results of

    def show_results(hits: list[Any]) -> None:
        query = search.query.text().strip()
        # The same query again (after a sync): the person's chosen result stays chosen.
        chosen = w.current_hit() if query == shown["query"] else None
        shown["query"] = query
        search.model.set_rows(hits)
        search.empty.setText("" if hits or not query else c.no_results_hint)
        search.empty.setVisible(not hits and bool(query))
        stale = [h for h in hits if h.since_indexed]
        search.stale_text.setText(
            f"{len(stale)} of these files changed or were deleted after they were indexed."
            if len(stale) > 1 else
            f"{stale[0].path.name} was {stale[0].since_indexed} after it was indexed."
            if stale else "")
        search.stale.setVisible(bool(stale))
        if c.more_results:  # a cap is not a count
            search.count.setText(f"The {len(hits)} best results")
        else:
            search.count.setText(f"{len(hits)} result{'s' * (len(hits) != 1)}" if hits else "")
        if hits:
            paths = [h.path for h in hits]
            row = paths.index(chosen.path) if chosen is not None and chosen.path in paths else 0
            search.results.setCurrentIndex(search.model.index(row))
        else:
            w.show_preview(None)

    c.results_changed.connect(show_results)

    def sync_stale() -> None:
        search.stale.hide()
        c.sync()

    search.sync_button.clicked.connect(sync_stale)
    c.searching.connect(lambda busy: search.spinner.setText("Searching…" if busy else ""))
    search.results.selectionModel().currentChanged.connect(
        lambda current, _prev: w.show_preview(search.model.hit(current.row())))
    search.results.doubleClicked.connect(lambda _index: w.open_current())
    c.document_loaded.connect(w.show_document)
    search.open_button.clicked.connect(w.open_current)

    def with_hit(action: Any) -> None:
        hit = w.current_hit()
        if hit is not None:
            action(hit.path)

    search.reveal_button.clicked.connect(lambda: with_hit(c.reveal))
    search.copy_button.clicked.connect(lambda: with_hit(c.copy_path))
    w.copy_path_action.triggered.connect(search.copy_button.click)

    def hit_menu(pos: Any) -> None:
        index = search.results.indexAt(pos)
        if not index.isValid():
            return
        search.results.setCurrentIndex(index)
        menu = transient(QMenu(search.results))
        menu.addAction("Open", w.open_current)
        menu.addAction("Show in folder", lambda: with_hit(c.reveal))
        menu.addAction("Copy path", lambda: with_hit(c.copy_path))
        w.hit_menu = menu
        menu.popup(search.results.viewport().mapToGlobal(pos))

    search.results.customContextMenuRequested.connect(hit_menu)

    # folders
    def show_folders(rows: list[tuple[Any, ...]]) -> None:
        chosen = folders.selected_folder()  # kept across the refreshes a sync makes each second
        folders.model.set_rows(rows, [f"{r[0]} ({r[1]})" for r in rows])
        if chosen is not None:
            paths = [r[0] for r in rows]
            if chosen[0] in paths:
                folders.table.selectRow(paths.index(chosen[0]))
        search.set_folders([r[0] for r in rows])
        update_folder_buttons()

    def update_folder_buttons(*_: Any) -> None:
        row = folders.selected_folder()
        folders.remove_button.setEnabled(row is not None)
        folders.pause_button.setEnabled(row is not None)
        folders.pause_button.setText("Resume" if row and row[1] == "paused" else "Pause")

    c.folders_changed.connect(show_folders)
    c.problems_changed.connect(lambda rows: problems.model.set_rows(rows))
    c.types_changed.connect(search.set_types)
    folders.table.selectionModel().selectionChanged.connect(update_folder_buttons)
    folders.model.modelReset.connect(update_folder_buttons)
    folders.add_button.clicked.connect(w.choose_folders)

    def on_folder(action: Any) -> None:
        row = folders.selected_folder()
        if row is not None:
            action(row)

    def ask_remove(row: tuple[Any, ...]) -> None:
        box = transient(QMessageBox(QMessageBox.Icon.Question, "Remove folder",
                                    f"Remove {row[0]} from the index? Its {row[5]} passages "
                                    "are forgotten; your files are not touched.",
                                    QMessageBox.StandardButton.Cancel, w))
        remove = box.addButton("Remove", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.buttonClicked.connect(lambda b: c.remove_folder(row[0]) if b is remove else None)
        w.confirm_box = box
        box.open()

    folders.remove_button.clicked.connect(lambda: on_folder(ask_remove))
    folders.pause_button.clicked.connect(
        lambda: on_folder(lambda r: c.pause_folder(r[0], r[1] != "paused")))
    folders.sync_button.clicked.connect(c.sync)
    folders.watch_button.toggled.connect(c.want_watch)

    # indexing progress
    def cancel() -> None:
        w.cancel_button.setEnabled(False)  # once is enough; the sync stops within a step
        w.cancel_button.setText("Cancelling…")
        c.cancel_sync()

    w.cancel_button.clicked.connect(cancel)
    c.sync_progress.connect(w.show_progress)

    def sync_running(running: bool) -> None:
        folders.sync_button.setEnabled(not running)
        if running:
            w.progress.setRange(0, 0)
            w.progress.show()
            w.cancel_button.setText("Cancel")
            w.cancel_button.setEnabled(True)
            w.cancel_button.show()
        else:
            w.progress.hide()
            w.cancel_button.hide()
            w.current_file.setText("")

    c.sync_running.connect(sync_running)

    # problems
    def explain() -> None:
        path = problems.file.text().strip()
        problems.answer.setText(c.explain(path) if path else "Type or choose a file first.")

    problems.explain_button.clicked.connect(explain)
    problems.file.returnPressed.connect(explain)
    def explain_row(index: Any) -> None:
        row = problems.model.row(index.row())
        if row is not None:
            problems.file.setText(str(row[0]))
            explain()

    problems.table.doubleClicked.connect(explain_row)

    def choose_file() -> None:
        dialog = transient(QFileDialog(w, "Why is this file not indexed?", str(Path.home())))
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(problems.file.setText)
        dialog.fileSelected.connect(lambda _path: explain())
        dialog.open()

    problems.browse.clicked.connect(choose_file)

    # first run
    first = w.first_run
    first.download_button.clicked.connect(lambda: c.pull_model())
    first.cancel_button.clicked.connect(c.cancel_model)
    c.model_running.connect(first.set_running)
    c.model_progress.connect(first.show_progress)
    c.model_progress.connect(lambda *_: None if w.showing_first_run()
                             else w.status_label.setText(first.stage.text()))

    first.import_folder_button.clicked.connect(
        lambda: choose_model_to_import(w, c, first.name, folder=True))
    first.import_file_button.clicked.connect(
        lambda: choose_model_to_import(w, c, first.name, folder=False))

    def model_ready(installed: Any) -> None:
        first.stage.setText("")
        first.error.setText("")
        was_first_run = w.showing_first_run()
        c.reload()
        w.stack.setCurrentWidget(w.tabs)
        if was_first_run:
            if first.watch_on_login.isVisibleTo(first) and first.watch_on_login.isChecked():
                set_watch_on_login(True)
            w.tabs.setCurrentWidget(folders)
            w.status_label.setText(f"{installed.name} is ready. Add a folder to index it.")

    c.model_ready.connect(model_ready)

    # watching and the tray icon
    def watching(on: bool) -> None:
        folders.watch_button.blockSignals(True)
        folders.watch_button.setChecked(on)
        folders.watch_button.blockSignals(False)
        if on and w.tray is None and QSystemTrayIcon.isSystemTrayAvailable():
            w.tray = TrayIcon(w)
            w.tray.show_action.triggered.connect(w.showNormal)
            w.tray.show_action.triggered.connect(w.activateWindow)
            w.tray.stop_action.triggered.connect(lambda: c.want_watch(False))
            w.tray.quit_action.triggered.connect(w.quit)
        if w.tray is not None:
            w.tray.setVisible(on)

    c.watching_changed.connect(watching)
    c.refresh()


SHORTCUTS = """Ctrl+K  search your files (Cmd+K on macOS)
Up, Down  move through the results
Enter  open the selected result at its page or line
Esc  clear the search
Ctrl+Shift+C  copy the selected result's path
Ctrl+1, 2, 3  the Search, Folders and Problems pages
Ctrl+O  add folders
F5  sync now
Ctrl+Q  quit"""


def connect_menus(w: MainWindow) -> None:
    """The menu bar's actions: the same work as the window's buttons and keys."""
    import jina_edge

    c = w.controller
    w.add_action.triggered.connect(w.choose_folders)
    w.sync_action.triggered.connect(c.sync)
    w.settings_action.triggered.connect(w.open_settings)
    w.quit_action.triggered.connect(w.quit)
    w.find_action.triggered.connect(w.focus_search)

    for i, act in enumerate(w.tab_actions):
        act.triggered.connect(lambda _=False, i=i: w.tabs.setCurrentIndex(i))
    w.shortcuts_action.triggered.connect(lambda: w.show_info("Keyboard shortcuts", SHORTCUTS))
    w.about_action.triggered.connect(lambda: w.show_info(
        "About jina-edge", f"jina-edge {jina_edge.__version__}\n\nJina Embeddings v2 on your "
        "own computer, offline: search your files by meaning and by keyword.\n\n"
        "Apache-2.0 licence."))


def choose_model_to_import(parent: Any, controller: Any, name: Any, *, folder: bool) -> None:
    """Ask for a model to import and import it under the name typed in `name` (a QLineEdit).

    `folder`: True for a checkpoint folder, False for a .gguf file.
    """
    dialog = transient(QFileDialog(parent, "Import a model", str(Path.home())))
    if folder:
        dialog.setFileMode(QFileDialog.FileMode.Directory)
    else:
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilter("GGUF models (*.gguf)")
    dialog.fileSelected.connect(lambda path: controller.import_model(path, name.text()))
    dialog.open()


def open_settings(w: MainWindow) -> SettingsDialog:
    """Open the settings dialog without blocking; saving writes the config file."""
    from jina_edge.models.installed import list_installed

    try:
        values = load_settings()
        # Rerankers cannot embed: they are not offered as the model.
        models = [m.name for m in list_installed() if m.manifest.get("kind") != "reranker"]
    except Exception as exc:  # noqa: BLE001 - a broken config file must be shown, not crash
        w.show_error(error_text(exc))
        values, models = {}, []
    dialog = transient(SettingsDialog(values, models, w))
    c = w.controller
    dialog.download_button.clicked.connect(lambda: c.pull_model())

    dialog.import_folder_button.clicked.connect(
        lambda: choose_model_to_import(dialog, c, dialog.import_name, folder=True))
    dialog.import_file_button.clicked.connect(
        lambda: choose_model_to_import(dialog, c, dialog.import_name, folder=False))
    dialog.switch_note.setText(c.switch_cost_text())
    c.model_running.connect(dialog.download_button.setDisabled)
    c.model_running.connect(dialog.import_folder_button.setDisabled)
    c.model_running.connect(dialog.import_file_button.setDisabled)

    def installed(model: Any) -> None:
        if dialog.model.findData(model.name) < 0:
            dialog.model.addItem(model.name, model.name)
        dialog.model.setCurrentIndex(dialog.model.findData(model.name))

    c.model_ready.connect(installed)

    def save(new: dict[str, Any]) -> None:
        try:
            save_settings(new)
            if new.get("model") and new.get("model") != values.get("model"):
                c.index.use_model(new["model"])  # the index re-embeds at its next sync
        except Exception as exc:  # noqa: BLE001
            w.show_error(error_text(exc))
            return
        w.status_label.setText("Settings saved")
        w.controller.reload()  # the next Index picks up the new index, model and threads

    dialog.saved.connect(save)
    w.settings_dialog = dialog
    dialog.open()
    return dialog
