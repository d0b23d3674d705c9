"""The folders feature's widgets: the Folders and Problems pages, and a sync's progress.

Each connects itself to the `FoldersController`: buttons and choices go to
it, its rows and progress come back. `SyncStatus` holds the status bar's part
of a sync (current file, progress bar, Cancel), which the window places.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from jina_edge.gui.folders_controller import FoldersController, progress_text
from jina_edge.gui.item_models import TableModel
from jina_edge.gui.widgets import transient

FOLDER_HEADERS = ("Folder", "State", "Files", "Skipped", "Failed", "Passages", "Last sync")
PROBLEM_HEADERS = ("File", "Status", "Reason")
PROGRESS_STEPS = 1000  # the progress bar's range: the share of the work done


class FoldersPage(QWidget):
    """The indexed folders with their status; add, remove, pause, sync, watch."""

    def __init__(self, controller: FoldersController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.model = TableModel(FOLDER_HEADERS, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        # Tab leaves the table for the buttons: rows are chosen with the arrows.
        self.table.setTabKeyNavigation(False)
        self.add_button = QPushButton("Add folder…")
        self.remove_button = QPushButton("Remove")
        self.pause_button = QPushButton("Pause")
        self.sync_button = QPushButton("Sync now")
        self.watch_button = QPushButton("Watch for changes")
        self.watch_button.setCheckable(True)
        buttons = QHBoxLayout()
        for b in (self.add_button, self.remove_button, self.pause_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.sync_button)
        buttons.addWidget(self.watch_button)
        hint = QLabel("Drop folders anywhere on this window to add them.")
        hint.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(hint)
        layout.addLayout(buttons)
        self.confirm_box: Any = None  # "Remove folder?", while open
        self._connect()

    def _connect(self) -> None:
        c = self.controller
        c.folders_changed.connect(self._show_folders)
        c.sync_running.connect(self._show_sync_running)
        c.watching_changed.connect(self._show_watching)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.model.modelReset.connect(self._update_buttons)
        self.add_button.clicked.connect(self.choose_folders)
        self.remove_button.clicked.connect(lambda: self._on_folder(self._ask_remove))
        self.pause_button.clicked.connect(
            lambda: self._on_folder(lambda r: c.pause_folder(r[0], r[1] != "paused")))
        self.sync_button.clicked.connect(c.sync)
        self.watch_button.toggled.connect(c.want_watch)

    def selected_folder(self) -> tuple[Any, ...] | None:
        """The selected folder's row, or None."""
        rows = self.table.selectionModel().selectedRows()
        return self.model.row(rows[0].row()) if rows else None

    def choose_folders(self) -> None:
        """Ask for a folder to add (non-blocking dialog)."""
        dialog = transient(QFileDialog(self, "Add a folder to the index", str(Path.home())))
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.fileSelected.connect(lambda path: self.controller.add_folders([path]))
        dialog.open()

    def _show_folders(self, rows: list[tuple[Any, ...]]) -> None:
        chosen = self.selected_folder()  # kept across the refreshes a sync makes each second
        self.model.set_rows(rows, [f"{r[0]} ({r[1]})" for r in rows])
        if chosen is not None:
            paths = [r[0] for r in rows]
            if chosen[0] in paths:
                self.table.selectRow(paths.index(chosen[0]))
        self._update_buttons()

    def _update_buttons(self, *_: Any) -> None:
        row = self.selected_folder()
        self.remove_button.setEnabled(row is not None)
        self.pause_button.setEnabled(row is not None)
        self.pause_button.setText("Resume" if row and row[1] == "paused" else "Pause")

    def _show_sync_running(self, running: bool) -> None:
        self.sync_button.setEnabled(not running)

    def _show_watching(self, on: bool) -> None:
        self.watch_button.blockSignals(True)
        self.watch_button.setChecked(on)
        self.watch_button.blockSignals(False)

    def _on_folder(self, action: Any) -> None:
        row = self.selected_folder()
        if row is not None:
            action(row)

    def _ask_remove(self, row: tuple[Any, ...]) -> None:
        box = transient(QMessageBox(QMessageBox.Icon.Question, "Remove folder",
                                    f"Remove {row[0]} from the index? Its {row[5]} passages "
                                    "are forgotten; your files are not touched.",
                                    QMessageBox.StandardButton.Cancel, self))
        remove = box.addButton("Remove", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.buttonClicked.connect(
            lambda b: self.controller.remove_folder(row[0]) if b is remove else None)
        self.confirm_box = box
        box.open()


class ProblemsPage(QWidget):
    """Files that were skipped or failed, with the reason; "why not indexed?" for any file."""

    def __init__(self, controller: FoldersController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.model = TableModel(PROBLEM_HEADERS, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.setTabKeyNavigation(False)
        self.file = QLineEdit(placeholderText="A file's path")
        self.browse = QPushButton("Choose…")
        self.explain_button = QPushButton("Why not indexed?")
        self.answer = QLabel("")
        self.answer.setWordWrap(True)
        self.answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        row.addWidget(self.file, 1)
        row.addWidget(self.browse)
        row.addWidget(self.explain_button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Files that were not indexed, and why:"))
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        layout.addWidget(self.answer)
        controller.problems_changed.connect(self.model.set_rows)
        self.explain_button.clicked.connect(self.explain)
        self.file.returnPressed.connect(self.explain)
        self.table.doubleClicked.connect(self._explain_row)
        self.browse.clicked.connect(self._choose_file)

    def explain(self) -> None:
        """Say why the file typed or chosen is or is not indexed."""
        path = self.file.text().strip()
        self.answer.setText(self.controller.explain(path) if path
                            else "Type or choose a file first.")

    def _explain_row(self, index: Any) -> None:
        row = self.model.row(index.row())
        if row is not None:
            self.file.setText(str(row[0]))
            self.explain()

    def _choose_file(self) -> None:
        dialog = transient(QFileDialog(self, "Why is this file not indexed?", str(Path.home())))
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(self.file.setText)
        dialog.fileSelected.connect(lambda _path: self.explain())
        dialog.open()


class SyncStatus(QObject):
    """A sync in the status bar: its stage, counts and ETA, current file, progress and Cancel.

    The window places `current_file`, `progress` and `cancel_button` in its
    status bar; the stage goes to `status_label`, the app's status line.
    """

    def __init__(self, controller: FoldersController, status_label: QLabel,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.status_label = status_label
        self.current_file = QLabel("")
        self.current_file.setMinimumWidth(50)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self._cancel)
        controller.sync_progress.connect(self.show_progress)
        controller.sync_running.connect(self._show_running)

    def show_progress(self, p: Any) -> None:
        """Show a sync's stage, counts, ETA and current file (from a SyncProgress)."""
        self.progress.show()
        self.cancel_button.show()
        if p.stage == "scan":
            self.progress.setRange(0, 0)  # busy indicator while counting
        else:
            self.progress.setRange(0, PROGRESS_STEPS)
            self.progress.setValue(round(p.share_done * PROGRESS_STEPS))
        self.status_label.setText(progress_text(p))
        current = str(p.current) if p.current else ""
        metrics = self.current_file.fontMetrics()
        self.current_file.setText(metrics.elidedText(current, Qt.TextElideMode.ElideMiddle,
                                                     max(self.current_file.width(), 200)))
        self.current_file.setToolTip(current)

    def _show_running(self, running: bool) -> None:
        if running:
            self.progress.setRange(0, 0)
            self.progress.show()
            self.cancel_button.setText("Cancel")
            self.cancel_button.setEnabled(True)
            self.cancel_button.show()
        else:
            self.progress.hide()
            self.cancel_button.hide()
            self.current_file.setText("")

    def _cancel(self) -> None:
        self.cancel_button.setEnabled(False)  # once is enough; the sync stops within a step
        self.cancel_button.setText("Cancelling…")
        self.controller.cancel_sync()
