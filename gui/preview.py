"""The preview pane: the whole document, scrolled to the hit, with its matches to step through.

The passage shows at once; the document follows when a worker has read it
(`SearchController.load_document`). Matches of the query's words are marked, the
hit's passage gets its own background, and Previous / Next move between
matches. Source code is shown in a monospace font with its indentation.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtGui import QColor, QFontDatabase, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from jina_edge import Hit, match_spans
from jina_edge.gui.search_controller import format_location

MAX_MARKED = 2000  # matches marked in one document; more would slow the view down
PASSAGE_PROBE_CHARS = 120  # how much of the passage is looked up in the document


class DocumentPreview(QWidget):
    """Header (file, folder, place), the document, and Previous / Next match."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.header = QLabel("")
        self.header.setWordWrap(True)
        self.text = QTextBrowser()
        self.text.setOpenLinks(False)
        self.previous_button = QPushButton("Previous match")
        self.next_button = QPushButton("Next match")
        self.matches_label = QLabel("")
        row = QHBoxLayout()
        for w in (self.previous_button, self.next_button, self.matches_label):
            row.addWidget(w)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(self.text, 1)
        layout.addLayout(row)
        self.previous_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(1))
        self.hit: Hit | None = None
        self.matches: list[tuple[int, int]] = []
        self.current = -1
        self._set_buttons()

    def clear(self) -> None:
        """Show nothing."""
        self.hit = None
        self.header.setText("")
        self.text.clear()
        self.matches = []
        self._set_buttons()

    def show_passage(self, hit: Hit, query: str, colour: str) -> None:
        """Show the hit's passage while its document is read."""
        self.hit = hit
        place = " · ".join(x for x in (format_location(hit), hit.heading) if x)
        self.header.setText(f"<b>{html.escape(hit.path.name)}</b><br>"
                            f"{html.escape(str(hit.path.parent))}<br>{html.escape(place)}")
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.GeneralFont))
        self._show(hit.text, query, colour, passage=(0, len(hit.text)))

    def show_document(self, hit: Hit, text: str, monospace: bool, query: str,
                      colour: str) -> None:
        """Show the whole document, scrolled to the hit's passage (ignored for another hit)."""
        if hit is not self.hit:
            return
        start = text.find(hit.text[:PASSAGE_PROBE_CHARS]) if hit.text else -1
        passage = (start, start + len(hit.text)) if start >= 0 else None
        font = QFontDatabase.SystemFont.FixedFont if monospace else \
            QFontDatabase.SystemFont.GeneralFont
        self.text.setFont(QFontDatabase.systemFont(font))
        self._show(text, query, colour, passage)

    def _show(self, text: str, query: str, colour: str,
              passage: tuple[int, int] | None) -> None:
        self.text.setPlainText(text)
        self.text.setLineWrapMode(QTextEdit.LineWrapMode.WidgetWidth)
        self.matches = match_spans(text, query)
        selections = []
        if passage is not None:
            selections.append(self._selection(*passage, self.palette().alternateBase().color()))
        word = QColor(colour)
        selections += [self._selection(a, b, word, bold=True)
                       for a, b in self.matches[:MAX_MARKED]]
        self.text.setExtraSelections(selections)
        first_in_passage = next((i for i, (a, _) in enumerate(self.matches)
                                 if passage is not None and a >= passage[0]), -1)
        self.current = first_in_passage
        self._scroll_to(passage[0] if passage is not None else 0)
        self._set_buttons()

    def _selection(self, start: int, end: int, colour: QColor,
                   bold: bool = False) -> Any:
        selection = QTextEdit.ExtraSelection()
        cursor = self.text.textCursor()
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        selection.cursor = cursor
        fmt = QTextCharFormat()
        fmt.setBackground(colour)
        if bold:
            fmt.setFontWeight(700)
        selection.format = fmt
        return selection

    def _scroll_to(self, position: int) -> None:
        cursor = self.text.textCursor()
        cursor.setPosition(min(position, len(self.text.toPlainText())))
        self.text.setTextCursor(cursor)
        # Put the place near the top rather than wherever ensureCursorVisible leaves it.
        bar = self.text.verticalScrollBar()
        bar.setValue(bar.value() + self.text.cursorRect().top() - self.text.height() // 6)

    def step(self, direction: int) -> None:
        """Move to the next (1) or previous (-1) match."""
        if not self.matches:
            return
        self.current = (self.current + direction) % len(self.matches)
        self._scroll_to(self.matches[self.current][0])
        self._set_buttons()

    def _set_buttons(self) -> None:
        n = len(self.matches)
        self.previous_button.setEnabled(n > 0)
        self.next_button.setEnabled(n > 0)
        if not n:
            self.matches_label.setText("")
        elif self.current >= 0:
            self.matches_label.setText(f"match {self.current + 1} of {n}")
        else:
            self.matches_label.setText(f"{n} matches")
