"""The search page: search box, mode and filters, results, preview and file actions.

`SearchPage` lays out its widgets and connects them to its `SearchController`:
what the person types and picks goes to the controller, its results and
documents come back to the list and the preview. Colours come from the
platform palette (light or dark), except the match highlight, picked to read
well on both.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QPoint, QSize, Qt, Signal
from PySide6.QtGui import QAbstractTextDocumentLayout, QPalette, QTextDocument
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QPushButton,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from jina_edge import SEARCH_MODES, Filters, Hit
from jina_edge.gui.item_models import HitRole, ResultsModel
from jina_edge.gui.preview import DocumentPreview
from jina_edge.gui.search_controller import (
    AGES,
    SearchController,
    format_location,
    highlighted_html,
    make_filters,
)
from jina_edge.gui.widgets import transient
from jina_edge.index.extract import FILE_TYPE_LABELS, SUPPORTED_SUFFIXES

SUBFOLDER_ITEM = "\0subfolder"  # the folder filter's "A subfolder…" entry


def highlight_colour(palette: QPalette) -> str:
    """The background of matched words: pale yellow on light themes, dark amber on dark ones."""
    return "#7a5b00" if palette.color(QPalette.ColorRole.Window).lightness() < 128 else "#ffe37a"


def hit_html(result: Any, palette: QPalette, selected: bool = False) -> str:
    """A result's (FileHit's) rich text: file name, location, folder, snippet of its best passage.

    Below them: how many passages match, and where copies of the file are.
    """
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

    def _document(self, hit: Any, option: QStyleOptionViewItem, width: int,
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


class _Keys(QObject):
    """Keys of the search page: Up/Down move through the results, Enter opens, Esc clears."""

    def __init__(self, page: SearchPage) -> None:
        super().__init__(page)
        self.page = page

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: D102, N802
        if event.type() != QEvent.Type.KeyPress:
            return False
        key = event.key()
        page = self.page
        if obj is page.query and key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
            page.move_selection(1 if key == Qt.Key.Key_Down else -1)
            return True
        if key == Qt.Key.Key_Escape and page.query.text():
            page.query.clear()
            page.query.setFocus()
            return True
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            page.open_current()
            return True
        return False


class SearchPage(QWidget):
    """Search box, mode and filters, results list, preview pane and file actions."""

    search_edited = Signal()  # the query or a filter changed: a new search starts

    def __init__(self, controller: SearchController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.query = QLineEdit(placeholderText="Search your files (Ctrl+K)…",
                               clearButtonEnabled=True)
        self.query.setObjectName("searchBox")
        self.mode = QComboBox()
        self.mode.addItems(list(SEARCH_MODES))
        self.mode.setToolTip("hybrid: meaning and words; semantic: meaning; keyword: words")
        self.folder = QComboBox()
        self.folder.addItem("All folders", "")
        self._roots: list[str] = []  # the indexed folders, as the folder filter lists them
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

        self.hit_menu: Any = None  # the context menu of a hit, while open
        self.subfolder_dialog: Any = None  # "Search in a subfolder", while open
        self._shown_query = ""  # the query the list shows results of
        self._keys = _Keys(self)
        self.query.installEventFilter(self._keys)
        self.results.installEventFilter(self._keys)
        self._connect()

    def _connect(self) -> None:
        c = self.controller
        self.query.textChanged.connect(self._run_search)
        for combo in (self.mode, self.file_type, self.age):
            combo.currentIndexChanged.connect(self._run_search)
        self.folder.currentIndexChanged.connect(self._folder_chosen)
        c.results_changed.connect(self._show_results)
        c.searching.connect(self._show_searching)
        c.document_loaded.connect(self.show_document)
        self.sync_button.clicked.connect(self._sync_stale)
        self.results.selectionModel().currentChanged.connect(
            lambda current, _prev: self.show_preview(self.model.hit(current.row())))
        self.results.doubleClicked.connect(lambda _index: self.open_current())
        self.results.customContextMenuRequested.connect(self._hit_menu)
        self.open_button.clicked.connect(self.open_current)
        self.reveal_button.clicked.connect(lambda: self._with_hit(c.reveal))
        self.copy_button.clicked.connect(lambda: self._with_hit(c.copy_path))

    # -- filters --------------------------------------------------------------

    def filters(self) -> Filters:
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
            label = FILE_TYPE_LABELS.get(file_type, file_type)
            self.file_type.addItem(f"{label} ({n})", file_type)
        if current and self.file_type.findData(current) < 0:
            self.file_type.addItem(f"{FILE_TYPE_LABELS.get(current, current)} (0)", current)
        self.file_type.setCurrentIndex(max(self.file_type.findData(current), 0))
        self.file_type.blockSignals(False)

    def set_folders(self, folders: list[str]) -> None:
        """Fill the folder filter, keeping the current choice when it still exists."""
        self._roots = list(folders)
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

    def _run_search(self, *_: Any) -> None:
        self.search_edited.emit()
        self.controller.search(self.query.text(), self.mode.currentText(), self.filters())

    def _folder_chosen(self, *_: Any) -> None:
        if self.folder.currentData() != SUBFOLDER_ITEM:
            self._run_search()
            return
        self.folder.setCurrentIndex(0)
        dialog = transient(QFileDialog(self, "Search in a subfolder",
                                       self._roots[0] if self._roots else str(Path.home())))
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)

        def chosen(path: str) -> None:
            self.folder.blockSignals(True)
            self.add_subfolder_item(path)
            self.folder.blockSignals(False)
            self._run_search()

        dialog.fileSelected.connect(chosen)
        self.subfolder_dialog = dialog
        dialog.open()

    # -- results --------------------------------------------------------------

    def _show_results(self, hits: list[Any]) -> None:
        query = self.query.text().strip()
        # The same query again (after a sync): the person's chosen result stays chosen.
        chosen = self.current_hit() if query == self._shown_query else None
        self._shown_query = query
        self.model.set_rows(hits)
        self.empty.setText("" if hits or not query else self.controller.no_results_hint)
        self.empty.setVisible(not hits and bool(query))
        stale = [h for h in hits if h.since_indexed]
        self.stale_text.setText(
            f"{len(stale)} of these files changed or were deleted after they were indexed."
            if len(stale) > 1 else
            f"{stale[0].path.name} was {stale[0].since_indexed} after it was indexed."
            if stale else "")
        self.stale.setVisible(bool(stale))
        if self.controller.more_results:  # a cap is not a count
            self.count.setText(f"The {len(hits)} best results")
        else:
            self.count.setText(f"{len(hits)} result{'s' * (len(hits) != 1)}" if hits else "")
        if hits:
            paths = [h.path for h in hits]
            row = paths.index(chosen.path) if chosen is not None and chosen.path in paths else 0
            self.results.setCurrentIndex(self.model.index(row))
        else:
            self.show_preview(None)

    def _show_searching(self, busy: bool) -> None:
        self.spinner.setText("Searching…" if busy else "")

    def _sync_stale(self) -> None:
        self.stale.hide()
        self.controller.sync_index()

    def current_hit(self) -> Hit | None:
        """The selected result, or None."""
        index = self.results.currentIndex()
        return self.model.hit(index.row()) if index.isValid() else None

    def move_selection(self, step: int) -> None:
        """Select the next (step 1) or previous (-1) result."""
        n = self.model.rowCount()
        if not n:
            return
        row = self.results.currentIndex().row()
        row = 0 if row < 0 else max(0, min(n - 1, row + step))
        self.results.setCurrentIndex(self.model.index(row))

    def open_current(self) -> None:
        """Open the selected result's file (the first one when nothing is selected)."""
        if self.current_hit() is None:
            self.move_selection(1)
        hit = self.current_hit()
        if hit is not None:
            self.controller.open_hit(hit)

    def _with_hit(self, action: Any) -> None:
        hit = self.current_hit()
        if hit is not None:
            action(hit.path)

    def _hit_menu(self, pos: Any) -> None:
        index = self.results.indexAt(pos)
        if not index.isValid():
            return
        self.results.setCurrentIndex(index)
        c = self.controller
        menu = transient(QMenu(self.results))
        menu.addAction("Open", self.open_current)
        menu.addAction("Show in folder", lambda: self._with_hit(c.reveal))
        menu.addAction("Copy path", lambda: self._with_hit(c.copy_path))
        self.hit_menu = menu
        menu.popup(self.results.viewport().mapToGlobal(pos))

    # -- the preview ----------------------------------------------------------

    def show_preview(self, hit: Hit | None) -> None:
        """Show a hit's passage in context (or clear the preview)."""
        for b in (self.open_button, self.reveal_button, self.copy_button):
            b.setEnabled(hit is not None)
        if hit is None:
            self.preview.clear()
            return
        self.preview.show_passage(hit, self.query.text(), highlight_colour(self.palette()))
        self.controller.load_document(hit)

    def show_document(self, hit: Hit, text: str, monospace: bool) -> None:
        """Show the hit's whole document in the preview, once it has been read."""
        self.preview.show_document(hit, text, monospace, self.query.text(),
                                   highlight_colour(self.palette()))
