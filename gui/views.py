"""The main window's layout: search page, folders page, problems page, status bar.

Views hold layout and forward what the person does to the `AppController`;
they show what the controller emits. Colours come from the platform palette
(light or dark), except the search highlight, picked to read well on both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QObject, QPoint, QSettings, QSize, Qt, Signal
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QAction,
    QKeySequence,
    QPalette,
    QShortcut,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from jina_edge.gui.controllers import (
    AGES,
    FILE_TYPES,
    SEARCH_MODES,
    AppController,
    format_location,
    highlighted_html,
    make_filters,
    progress_text,
)
from jina_edge.gui.dialogs import FirstRunPage, SettingsDialog, transient
from jina_edge.gui.models import HitRole, ResultsModel, TableModel
from jina_edge.gui.preview import DocumentPreview
from jina_edge.index.extract import SUPPORTED_SUFFIXES
from jina_edge.index.search import FileHit, Hit

SUBFOLDER_ITEM = "\0subfolder"  # the folder filter's "A subfolder…" entry
FOLDER_HEADERS = ("Folder", "State", "Files", "Skipped", "Failed", "Passages", "Last sync")
PROBLEM_HEADERS = ("File", "Status", "Reason")
PROGRESS_STEPS = 1000  # the progress bar's range: the share of the work done


def highlight_colour(palette: QPalette) -> str:
    """The background of matched words: pale yellow on light themes, dark amber on dark ones."""
    return "#7a5b00" if palette.color(QPalette.ColorRole.Window).lightness() < 128 else "#ffe37a"


def hit_html(result: FileHit, palette: QPalette, selected: bool = False) -> str:
    """A result's rich text: file name, location, folder, snippet of its best passage.

    Below them: how many passages match, and where copies of the file are.
    """
    from html import escape

    hit = result.passages[0]
    role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.PlaceholderText
    muted = palette.color(role).name()
    where = format_location(hit)  # no raw score: its scale means nothing to a person
    # On the selection colour a yellow background would hide the selected text colour.
    colour = "transparent" if selected else highlight_colour(palette)
    snippet = highlighted_html(hit.snippet, hit.highlights, colour)
    if SUPPORTED_SUFFIXES.get(hit.path.suffix.lower()) == "code":
        snippet = f"<span style='font-family:monospace'>{snippet}</span>"
    notes = []
    if result.since_indexed:
        notes.append(f"{result.since_indexed} since it was indexed")
    if len(result.passages) + result.more > 1:
        notes.append(f"{len(result.passages) + result.more} matching passages")
    if result.also_at:
        notes.append(f"also in {', '.join(str(p.parent) for p in result.also_at[:2])}"
                     + (f" and {len(result.also_at) - 2} more" if len(result.also_at) > 2
                        else ""))
    extra = f"<br><span style='color:{muted}'>{escape(' · '.join(notes))}</span>" if notes else ""
    return (f"<b>{escape(hit.path.name)}</b>&nbsp;&nbsp;<span style='color:{muted}'>"
            f"{escape(where)}</span><br><span style='color:{muted}'>"
            f"{escape(str(hit.path.parent))}</span><br>{snippet}{extra}")


class HitDelegate(QStyledItemDelegate):
    """Draws a search hit as rich text (bold, highlighted matches) in the results list."""

    MARGIN = 6

    def _document(self, hit: FileHit, option: QStyleOptionViewItem, width: int,
                  selected: bool) -> QTextDocument:
        doc = QTextDocument()
        doc.setDefaultFont(option.font)
        doc.setHtml(hit_html(hit, option.palette, selected))
        doc.setTextWidth(max(width - 2 * self.MARGIN, 50))
        return doc

    def paint(self, painter: Any, option: Any, index: Any) -> None:  # noqa: D102
        hit = index.data(HitRole)
        # Not initStyleOption: PySide6 6.12 leaks a reference to None per Python
        # call of it, and the copy of `option` already has what the frame needs.
        opt = QStyleOptionViewItem(option)
        opt.text = ""
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        if hit is None:
            return
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        doc = self._document(hit, opt, opt.rect.width(), selected)
        ctx = QAbstractTextDocumentLayout.PaintContext()
        text_role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        ctx.palette.setColor(QPalette.ColorRole.Text, opt.palette.color(text_role))
        painter.save()
        painter.translate(opt.rect.topLeft() + QPoint(self.MARGIN, self.MARGIN // 2))
        painter.setClipRect(0, 0, opt.rect.width(), opt.rect.height())
        doc.documentLayout().draw(painter, ctx)
        painter.restore()

    def sizeHint(self, option: Any, index: Any) -> QSize:  # noqa: D102, N802
        hit = index.data(HitRole)
        view = self.parent()
        width = view.viewport().width() if isinstance(view, QListView) else option.rect.width()
        if hit is None:
            return super().sizeHint(option, index)
        doc = self._document(hit, option, width, False)
        return QSize(width, int(doc.size().height()) + self.MARGIN)


class SearchPage(QWidget):
    """Search box, mode and filters, results list, preview pane and file actions."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.query = QLineEdit(placeholderText="Search your files (Ctrl+K)…",
                               clearButtonEnabled=True)
        self.query.setObjectName("searchBox")
        self.mode = QComboBox()
        self.mode.addItems(list(SEARCH_MODES))
        self.mode.setToolTip("hybrid: meaning and words; semantic: meaning; keyword: words")
        self.folder = QComboBox()
        self.folder.addItem("All folders", "")
        self.file_type = QComboBox()
        self.set_types({})
        self.age = QComboBox()
        self.age.addItems(list(AGES))
        self.spinner = QLabel("")
        top = QHBoxLayout()
        top.addWidget(self.query, 1)
        top.addWidget(self.mode)
        filters = QHBoxLayout()
        for w in (QLabel("Filter:"), self.folder, self.file_type, self.age):
            filters.addWidget(w)
        filters.addStretch(1)
        filters.addWidget(self.spinner)

        self.model = ResultsModel(self)
        self.results = QListView()
        self.results.setModel(self.model)
        self.results.setItemDelegate(HitDelegate(self.results))
        self.results.setResizeMode(QListView.ResizeMode.Adjust)
        self.results.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.results.setAlternatingRowColors(True)
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.count = QLabel("")
        self.empty = QLabel("")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        # Shown when results' files changed on disk after the index read them.
        self.stale = QWidget()
        self.stale_text = QLabel("")
        self.stale_text.setWordWrap(True)
        self.sync_button = QPushButton("Sync now")
        stale_row = QHBoxLayout(self.stale)
        stale_row.setContentsMargins(0, 0, 0, 0)
        stale_row.addWidget(self.stale_text, 1)
        stale_row.addWidget(self.sync_button)
        self.stale.hide()

        self.preview = DocumentPreview()
        self.open_button = QPushButton("Open")
        self.reveal_button = QPushButton("Show in folder")
        self.copy_button = QPushButton("Copy path")
        actions = QHBoxLayout()
        for b in (self.open_button, self.reveal_button, self.copy_button):
            b.setEnabled(False)
            actions.addWidget(b)
        actions.addStretch(1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.preview, 1)
        right_layout.addLayout(actions)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.count)
        left_layout.addWidget(self.stale)
        left_layout.addWidget(self.results, 1)
        left_layout.addWidget(self.empty)
        self.splitter = QSplitter()
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(filters)
        layout.addWidget(self.splitter, 1)

    def filters(self) -> Any:
        """The Filters the filter widgets describe."""
        return make_filters(self.folder.currentData(), self.file_type.currentData(),
                            self.age.currentText())

    def set_types(self, counts: dict[str, int]) -> None:
        """Fill the type filter with the index's types and their counts, keeping the choice."""
        current = self.file_type.currentData()
        self.file_type.blockSignals(True)
        self.file_type.clear()
        self.file_type.addItem("All types", "")
        for file_type, n in counts.items():
            self.file_type.addItem(f"{FILE_TYPES.get(file_type, file_type)} ({n})", file_type)
        if current and self.file_type.findData(current) < 0:
            self.file_type.addItem(f"{FILE_TYPES.get(current, current)} (0)", current)
        self.file_type.setCurrentIndex(max(self.file_type.findData(current), 0))
        self.file_type.blockSignals(False)

    def set_folders(self, folders: list[str]) -> None:
        """Fill the folder filter, keeping the current choice when it still exists."""
        current = self.folder.currentData()
        self.folder.blockSignals(True)
        self.folder.clear()
        self.folder.addItem("All folders", "")
        for f in folders:
            self.folder.addItem(Path(f).name or f, f)
        if current and self.folder.findData(current) < 0 and any(
                Path(current).is_relative_to(f) for f in folders):
            self.add_subfolder_item(current)  # a subfolder chosen earlier stays
        if folders:
            self.folder.addItem("A subfolder…", SUBFOLDER_ITEM)
        i = self.folder.findData(current)
        self.folder.setCurrentIndex(max(i, 0))
        self.folder.blockSignals(False)

    def add_subfolder_item(self, path: str) -> None:
        """Add a subfolder to the folder filter (before "A subfolder…") and select it."""
        at = max(self.folder.findData(SUBFOLDER_ITEM), 1)
        if at == 1 and self.folder.findData(SUBFOLDER_ITEM) < 0:
            at = self.folder.count()
        self.folder.insertItem(at, path, path)
        self.folder.setCurrentIndex(at)


class FoldersPage(QWidget):
    """The indexed folders with their status; add, remove, pause, sync, watch."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
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

    def selected_folder(self) -> tuple[Any, ...] | None:
        """The selected folder's row, or None."""
        rows = self.table.selectionModel().selectedRows()
        return self.model.row(rows[0].row()) if rows else None


class ProblemsPage(QWidget):
    """Files that were skipped or failed, with the reason; "why not indexed?" for any file."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
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


class _Keys(QObject):
    """Keys of the search page: Up/Down move through the results, Enter opens, Esc clears."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: D102, N802
        if event.type() != QEvent.Type.KeyPress:
            return False
        key = event.key()
        page = self.window.search_page
        if obj is page.query and key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
            self.window.move_selection(1 if key == Qt.Key.Key_Down else -1)
            return True
        if key == Qt.Key.Key_Escape and page.query.text():
            page.query.clear()
            page.query.setFocus()
            return True
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.window.open_current()
            return True
        return False


class MainWindow(QMainWindow):
    """The app's window: first-run page, or tabs (Search, Folders, Problems) and a status bar."""

    closed = Signal()

    def __init__(self, controller: AppController, *, first_run: bool = False) -> None:
        super().__init__()
        self.controller = controller
        self.setWindowTitle("jina-edge")
        self.setAcceptDrops(True)
        self.search_page = SearchPage()
        self.folders_page = FoldersPage()
        self.problems_page = ProblemsPage()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.search_page, "Search")
        self.tabs.addTab(self.folders_page, "Folders")
        self.tabs.addTab(self.problems_page, "Problems")
        self.first_run = FirstRunPage()
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
        self.current_file = QLabel("")
        self.current_file.setMinimumWidth(50)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.settings_button = QToolButton()
        self.settings_button.setText("Settings…")
        status = self.statusBar()
        status.addWidget(self.status_label)
        status.addWidget(self.current_file, 1)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel_button)
        status.addPermanentWidget(self.settings_button)

        self._build_menus()
        self.focus_shortcut = QShortcut(QKeySequence("Ctrl+K"), self)  # Cmd+K on macOS
        self.quit_shortcut = QShortcut(QKeySequence.StandardKey.Quit, self)  # Ctrl+Q, Cmd+Q
        self.quit_shortcut.activated.connect(self.quit)
        self.settings_dialog: SettingsDialog | None = None
        self.tray: Any = None  # a TrayIcon while watching, where the platform has a tray
        self._quitting = False  # closing the window is quitting (else, while watching, hiding)
        self._told_about_tray = False
        self.hit_menu: Any = None  # the context menu of a hit, while open
        self.confirm_box: Any = None  # "Remove folder?", while open
        self.subfolder_dialog: Any = None  # "Search in a subfolder", while open
        self._keys = _Keys(self)
        self.search_page.query.installEventFilter(self._keys)
        self.search_page.results.installEventFilter(self._keys)
        from jina_edge.gui.wiring import connect

        connect(self)
        self.stack.setCurrentWidget(self.first_run if first_run else self.tabs)

    # -- helpers the wiring and tests use ----------------------------------------

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

    def current_hit(self) -> Hit | None:
        """The selected result, or None."""
        index = self.search_page.results.currentIndex()
        return self.search_page.model.hit(index.row()) if index.isValid() else None

    def move_selection(self, step: int) -> None:
        """Select the next (step 1) or previous (-1) result."""
        model = self.search_page.model
        n = model.rowCount()
        if not n:
            return
        row = self.search_page.results.currentIndex().row()
        row = 0 if row < 0 else max(0, min(n - 1, row + step))
        self.search_page.results.setCurrentIndex(model.index(row))

    def open_current(self) -> None:
        """Open the selected result's file (the first one when nothing is selected)."""
        if self.current_hit() is None:
            self.move_selection(1)
        hit = self.current_hit()
        if hit is not None:
            self.controller.open_hit(hit)

    def show_preview(self, hit: Hit | None) -> None:
        """Show a hit's passage in context (or clear the preview)."""
        page = self.search_page
        for b in (page.open_button, page.reveal_button, page.copy_button):
            b.setEnabled(hit is not None)
        if hit is None:
            page.preview.clear()
            return
        page.preview.show_passage(hit, page.query.text(), highlight_colour(self.palette()))
        self.controller.load_document(hit)

    def show_document(self, hit: Hit, text: str, monospace: bool) -> None:
        """Show the hit's whole document in the preview, once it has been read."""
        self.search_page.preview.show_document(hit, text, monospace,
                                               self.search_page.query.text(),
                                               highlight_colour(self.palette()))

    def show_progress(self, p: Any) -> None:
        """Show a sync's stage, counts, ETA and current file."""
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

    def choose_folders(self) -> None:
        """Ask for a folder to add (non-blocking dialog)."""
        dialog = transient(QFileDialog(self, "Add a folder to the index", str(Path.home())))
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.fileSelected.connect(lambda path: self.controller.add_folders([path]))
        dialog.open()

    def open_settings(self) -> SettingsDialog:
        """Open the settings dialog (non-blocking); returns it."""
        from jina_edge.gui.wiring import open_settings

        return open_settings(self)

    # -- Qt events ----------------------------------------------------------------

    def dragEnterEvent(self, event: Any) -> None:  # noqa: D102, N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: Any) -> None:  # noqa: D102, N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.tabs.setCurrentWidget(self.folders_page)
            self.controller.add_folders(paths)
            event.acceptProposedAction()

    def _build_menus(self) -> None:
        """File, Edit, View and Help; `wiring.connect` gives the actions their work.

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
        self.info_box: QMessageBox | None = None  # About or the shortcuts, while open

    def show_info(self, title: str, text: str) -> QMessageBox:
        """A message that does not block the window (About, the keyboard shortcuts)."""
        box = transient(QMessageBox(QMessageBox.Icon.Information, title, text,
                                    QMessageBox.StandardButton.Close, self))
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.open()
        self.info_box = box
        return box

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

    def quit(self) -> None:
        """Close the window and stop the app, watching included."""
        self._quitting = True
        self.close()
        QApplication.quit()  # a window closed while hidden does not end the event loop

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
        self.controller.shutdown()
        self.closed.emit()
        super().closeEvent(event)


def _layout_settings() -> QSettings:
    """Where the window's layout is kept: beside the config file, so each home has its own."""
    from jina_edge.config import config_path

    return QSettings(str(config_path().with_name("window.ini")), QSettings.Format.IniFormat)
