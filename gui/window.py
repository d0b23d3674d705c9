"""The app's shell: the main window that holds the features' pages, its menus and status bar.

`MainWindow` creates one controller per feature (search, folders, models,
settings) over a shared `AppContext`, shows their pages in tabs (or the
first-run page until a model is ready), and connects what one feature tells
another: a finished sync searches again, a vanished result asks for a sync.
It also shows errors, keeps its size and place, and hides to the tray while
watching.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QStyle,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

import jina_edge
from jina_edge.config import config_path
from jina_edge.gui import settings_view
from jina_edge.gui.context import AppContext
from jina_edge.gui.first_run import FirstRunPage
from jina_edge.gui.folders_controller import FoldersController
from jina_edge.gui.folders_view import FoldersPage, ProblemsPage, SyncStatus
from jina_edge.gui.models_controller import ModelsController, stage_text
from jina_edge.gui.search_controller import SearchController
from jina_edge.gui.search_view import SearchPage
from jina_edge.gui.settings_controller import SettingsController
from jina_edge.gui.tray import TrayIcon
from jina_edge.gui.widgets import transient

SHORTCUTS = """Ctrl+K  search your files (Cmd+K on macOS)
Up, Down  move through the results
Enter  open the selected result at its page or line
Esc  clear the search
Ctrl+Shift+C  copy the selected result's path
Ctrl+1, 2, 3  the Search, Folders and Problems pages
Ctrl+O  add folders
F5  sync now
Ctrl+Q  quit"""


class MainWindow(QMainWindow):
    """The app's window: first-run page, or tabs (Search, Folders, Problems) and a status bar."""

    closed = Signal()

    def __init__(self, context: AppContext, *, first_run: bool = False) -> None:
        super().__init__()
        self.context = context
        self.search_controller = SearchController(context)
        self.folders_controller = FoldersController(context)
        self.models_controller = ModelsController(context)
        self.settings_controller = SettingsController(context, self.folders_controller)
        self.setWindowTitle("jina-edge")
        self.setAcceptDrops(True)
        self.search_page = SearchPage(self.search_controller)
        self.folders_page = FoldersPage(self.folders_controller)
        self.problems_page = ProblemsPage(self.folders_controller)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.search_page, "Search")
        self.tabs.addTab(self.folders_page, "Folders")
        self.tabs.addTab(self.problems_page, "Problems")
        self.first_run = FirstRunPage(self.models_controller)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.first_run)
        self.stack.addWidget(self.tabs)

        # An inline error banner instead of modal boxes: never blocks, easy to test.
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_icon = QLabel()
        icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        self.error_icon.setPixmap(icon.pixmap(20, 20))
        self.error_close = QToolButton(autoRaise=True)
        self.error_close.setText("✕")
        self.error_close.setToolTip("Dismiss")
        self.error_bar = QWidget()
        bar = QHBoxLayout(self.error_bar)
        bar.addWidget(self.error_icon)
        bar.addWidget(self.error_label, 1)
        bar.addWidget(self.error_close)
        self.error_bar.setAutoFillBackground(True)
        self.error_bar.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        self.error_bar.hide()

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.addWidget(self.error_bar)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.restore_layout()

        self.status_label = QLabel("")
        self.sync_status = SyncStatus(self.folders_controller, self.status_label, self)
        self.settings_button = QToolButton()
        self.settings_button.setText("Settings…")
        status = self.statusBar()
        status.addWidget(self.status_label)
        status.addWidget(self.sync_status.current_file, 1)
        status.addPermanentWidget(self.sync_status.progress)
        status.addPermanentWidget(self.sync_status.cancel_button)
        status.addPermanentWidget(self.settings_button)

        self._build_menus()
        self.focus_shortcut = QShortcut(QKeySequence("Ctrl+K"), self)  # Cmd+K on macOS
        self.quit_shortcut = QShortcut(QKeySequence.StandardKey.Quit, self)  # Ctrl+Q, Cmd+Q
        self.settings_dialog: settings_view.SettingsDialog | None = None
        self.info_box: QMessageBox | None = None  # About or the shortcuts, while open
        self.tray: TrayIcon | None = None  # while watching, where the platform has a tray
        self._quitting = False  # closing the window is quitting (else, while watching, hiding)
        self._told_about_tray = False
        self._connect()
        self.folders_controller.refresh()
        self.stack.setCurrentWidget(self.first_run if first_run else self.tabs)

    def _connect(self) -> None:
        """The shell's own widgets, and what one feature tells another."""
        context, search, folders = self.context, self.search_controller, self.folders_controller
        context.error.connect(self.show_error)
        context.message.connect(self.status_label.setText)
        self.error_close.clicked.connect(self.clear_error)
        self.focus_shortcut.activated.connect(self.focus_search)
        self.quit_shortcut.activated.connect(self.quit)
        self.settings_button.clicked.connect(self.open_settings)
        self.search_page.search_edited.connect(self.clear_error)
        folders.folders_changed.connect(
            lambda rows: self.search_page.set_folders([r[0] for r in rows]))
        folders.types_changed.connect(self.search_page.set_types)
        folders.contents_changed.connect(search.search_now)
        folders.watching_changed.connect(self._show_tray)
        search.sync_wanted.connect(folders.sync)
        self.models_controller.model_progress.connect(self._show_model_progress)
        self.models_controller.model_ready.connect(self._model_ready)

        self.add_action.triggered.connect(self.folders_page.choose_folders)
        self.sync_action.triggered.connect(folders.sync)
        self.settings_action.triggered.connect(self.open_settings)
        self.quit_action.triggered.connect(self.quit)
        self.find_action.triggered.connect(self.focus_search)
        self.copy_path_action.triggered.connect(self.search_page.copy_button.click)
        for i, act in enumerate(self.tab_actions):
            act.triggered.connect(lambda _=False, i=i: self.tabs.setCurrentIndex(i))
        self.shortcuts_action.triggered.connect(
            lambda: self.show_info("Keyboard shortcuts", SHORTCUTS))
        self.about_action.triggered.connect(lambda: self.show_info(
            "About jina-edge", f"jina-edge {jina_edge.__version__}\n\nJina Embeddings v2 on "
            "your own computer, offline: search your files by meaning and by keyword.\n\n"
            "Apache-2.0 licence."))

    # -- what the shell shows -------------------------------------------------

    def showing_first_run(self) -> bool:
        """True while the first-run page (download or import a model) is shown."""
        return self.stack.currentWidget() is self.first_run

    def show_error(self, text: str) -> None:
        """Show an error: on the first-run page under its buttons, else in the banner."""
        if self.showing_first_run():
            self.first_run.error.setText(text)
            return
        self.error_label.setText(text)
        self.error_bar.show()

    def clear_error(self) -> None:
        """Hide the error banner."""
        self.error_label.setText("")
        self.error_bar.hide()

    def focus_search(self) -> None:
        """Show the search page and put the cursor in the search box (not before a model)."""
        if self.showing_first_run():
            return
        self.tabs.setCurrentWidget(self.search_page)
        self.search_page.query.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_page.query.selectAll()

    def open_settings(self) -> settings_view.SettingsDialog:
        """Open the settings dialog (non-blocking); returns it."""
        self.settings_dialog = settings_view.open_settings(self, self.settings_controller,
                                                           self.models_controller)
        return self.settings_dialog

    def show_info(self, title: str, text: str) -> QMessageBox:
        """A message that does not block the window (About, the keyboard shortcuts)."""
        box = transient(QMessageBox(QMessageBox.Icon.Information, title, text,
                                    QMessageBox.StandardButton.Close, self))
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.open()
        self.info_box = box
        return box

    def _show_model_progress(self, stage: str, done: int, total: int) -> None:
        if not self.showing_first_run():  # the first-run page shows it itself
            self.status_label.setText(stage_text(stage, done, total))

    def _model_ready(self, installed: Any) -> None:
        first = self.first_run
        first.stage.setText("")
        first.error.setText("")
        was_first_run = self.showing_first_run()
        self.context.reload()
        self.stack.setCurrentWidget(self.tabs)
        if was_first_run:
            if first.watch_on_login.isVisibleTo(first) and first.watch_on_login.isChecked():
                self.settings_controller.set_watch_on_login(True)
            self.tabs.setCurrentWidget(self.folders_page)
            self.status_label.setText(f"{installed.name} is ready. Add a folder to index it.")

    def _show_tray(self, watching: bool) -> None:
        if watching and self.tray is None and TrayIcon.available():
            self.tray = TrayIcon(self, show=self._show_again, quit_app=self.quit,
                                 stop_watching=lambda: self.folders_controller.want_watch(False))
        if self.tray is not None:
            self.tray.setVisible(watching)

    def _show_again(self) -> None:
        self.showNormal()
        self.activateWindow()

    def _build_menus(self) -> None:
        """File, Edit, View and Help; `_connect` gives the actions their work.

        Ctrl+K and Ctrl+Q are window shortcuts (they work with the menus
        hidden), so their actions only show the keys: a second binding of the
        same key would make Qt call both ambiguous and run neither.
        """
        def action(menu: Any, text: str, keys: Any = None) -> QAction:
            act = QAction(text, self)
            if keys is not None:
                act.setShortcut(QKeySequence(keys))
            menu.addAction(act)
            return act

        bar = self.menuBar()
        file = bar.addMenu("&File")
        self.add_action = action(file, "&Add folders…", QKeySequence.StandardKey.Open)
        self.sync_action = action(file, "&Sync now", QKeySequence.StandardKey.Refresh)
        self.settings_action = action(file, "S&ettings…", QKeySequence.StandardKey.Preferences)
        file.addSeparator()
        self.quit_action = action(file, "&Quit\t" + QKeySequence(
            QKeySequence.StandardKey.Quit).toString(QKeySequence.SequenceFormat.NativeText))
        edit = bar.addMenu("&Edit")
        self.find_action = action(edit, "&Search your files\t" + QKeySequence("Ctrl+K").toString(
            QKeySequence.SequenceFormat.NativeText))
        self.copy_path_action = action(edit, "&Copy path of the result", "Ctrl+Shift+C")
        view = bar.addMenu("&View")
        self.tab_actions = [action(view, f"&{name}", f"Ctrl+{i + 1}")
                            for i, name in enumerate(("Search", "Folders", "Problems"))]
        help_menu = bar.addMenu("&Help")
        self.shortcuts_action = action(help_menu, "&Keyboard shortcuts",
                                       QKeySequence.StandardKey.HelpContents)
        self.about_action = action(help_menu, "&About jina-edge")

    # -- the window's life ----------------------------------------------------

    def restore_layout(self) -> None:
        """The window's size, place and splitter as they were last closed, within this screen.

        A first start (or a screen smaller than the saved window) gets a size
        that fits the screen: at a large scale factor 1100 x 720 did not.
        """
        settings = _layout_settings()
        saved = settings.value("geometry", QByteArray())
        if not isinstance(saved, QByteArray) or not self.restoreGeometry(saved):
            self.resize(1100, 720)
        screen = self.screen().availableGeometry()
        if self.width() > screen.width() or self.height() > screen.height():
            self.resize(min(self.width(), screen.width() * 9 // 10),
                        min(self.height(), screen.height() * 9 // 10))
            self.move(screen.topLeft())
        state = settings.value("splitter", QByteArray())
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.search_page.splitter.restoreState(state)

    def dragEnterEvent(self, event: Any) -> None:  # noqa: D102, N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: Any) -> None:  # noqa: D102, N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.tabs.setCurrentWidget(self.folders_page)
            self.folders_controller.add_folders(paths)
            event.acceptProposedAction()

    def quit(self) -> None:
        """Close the window and stop the app, watching included."""
        self._quitting = True
        self.close()
        QApplication.quit()  # a window closed while hidden does not end the event loop

    def shutdown(self) -> None:
        """Cancel background work, wait for it and close the index."""
        for controller in (self.search_controller, self.folders_controller,
                           self.models_controller):
            controller.stop()
        self.context.shutdown()
        self.search_controller.close()

    def closeEvent(self, event: Any) -> None:  # noqa: D102, N802
        settings = _layout_settings()
        settings.setValue("geometry", self.saveGeometry())
        settings.setValue("splitter", self.search_page.splitter.saveState())
        settings.sync()
        if self.tray is not None and self.tray.isVisible() and not self._quitting:
            # Watching goes on from the tray icon: closing the window is not quitting.
            event.ignore()
            self.hide()
            if not self._told_about_tray:
                self._told_about_tray = True
                self.tray.showMessage("jina-edge is still watching your folders",
                                      "The index stays fresh in the background. To stop, "
                                      "choose Quit in this icon's menu.")
            return
        # Hide first: stopping a sync takes up to one embedding step, and the
        # person who quit should not watch a frozen window meanwhile.
        self.hide()
        self.shutdown()
        self.closed.emit()
        super().closeEvent(event)


def _layout_settings() -> QSettings:
    """Where the window's layout is kept: beside the config file, so each home has its own."""
    return QSettings(str(config_path().with_name("window.ini")), QSettings.Format.IniFormat)
