"""The search feature's logic: debounced searches, the preview's document, opening files.

`SearchController` runs searches one at a time on a reused index (the query
model loads once) and drops answers to queries the person has moved past; it
creates no widgets. The pure helpers at the top turn hits and filter choices
into text and `Filters`.
"""

from __future__ import annotations

import html
import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal
from PySide6.QtDBus import QDBusConnection
from PySide6.QtGui import QGuiApplication

from jina_edge import Filters, Hit
from jina_edge.gui.context import SHUTDOWN_WAIT_MS, AppContext
from jina_edge.gui.opener import OpenFailed, open_command, reveal_command, show_in_file_manager
from jina_edge.gui.opener import start as start_detached
from jina_edge.gui.workers import CallWorker, SearchSession, SearchWorker

SEARCH_DEBOUNCE_MS = 250
RESULTS_SHOWN = 30  # files listed for a query; one more is asked for, to know if there are more
# Date filter choices: label -> maximum age in days (None: any time).
AGES: dict[str, float | None] = {"Any time": None, "Past day": 1, "Past week": 7,
                                 "Past month": 31, "Past year": 365}
OPEN_CHECK_MS = 1500  # how long after starting a launcher its exit status is looked at


# -- presentation helpers (pure functions, unit-tested) --------------------------------------

def format_location(hit: Hit) -> str:
    """'page 3', 'lines 4-9' or 'line 4' (empty when the hit has no location)."""
    if hit.page is not None:
        return f"page {hit.page}"
    if hit.line_start is None:
        return ""
    if hit.line_end is None or hit.line_end == hit.line_start:
        return f"line {hit.line_start}"
    return f"lines {hit.line_start}-{hit.line_end}"


def highlighted_html(text: str, spans: list[tuple[int, int]], colour: str) -> str:
    """`text` escaped for rich text, with `spans` in bold on a `colour` background."""
    out: list[str] = []
    pos = 0
    for start, end in sorted(spans):
        start, end = max(start, pos), min(end, len(text))
        if start >= end:
            continue
        out.append(html.escape(text[pos:start]))
        out.append(f'<b style="background-color:{colour}">{html.escape(text[start:end])}</b>')
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def make_filters(folder: str | None, file_type: str | None, age: str | None,
                 now: float | None = None) -> Filters:
    """Search filters from the filter widgets' choices (None or '' = no restriction)."""
    days = AGES.get(age or "Any time")
    after = None if days is None else (now or time.time()) - days * 86400
    return Filters(folder=Path(folder) if folder else None,
                   file_types=(file_type,) if file_type else None, modified_after=after)


# -- the controller -----------------------------------------------------------------------------

class SearchController(QObject):
    """Searches, the preview's documents, and the result's file actions (open, show, copy)."""

    results_changed = Signal(list)   # FileHits, best first
    searching = Signal(bool)
    document_loaded = Signal(object, str, bool)  # hit, the document's text, monospace
    sync_wanted = Signal()           # a result's file is gone: the index needs a sync

    def __init__(self, context: AppContext) -> None:
        super().__init__()
        self.context = context
        self.search_pool = QThreadPool(self)
        self.search_pool.setMaxThreadCount(1)  # searches in order, on one reused index
        self._session = SearchSession(context.open_index)
        self._search_seq = 0
        self._doc_seq = 0
        self._query: tuple[str, str, Filters] = ("", "hybrid", Filters())
        self.more_results = False  # the last results were the best RESULTS_SHOWN of more
        self.no_results_hint = ""  # what the last search finding nothing means
        self.session_bus = QDBusConnection.sessionBus  # where the file manager is asked
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.search_now)
        context.reloaded.connect(self.close)

    # -- search ---------------------------------------------------------------

    def search(self, query: str, mode: str = "hybrid", filters: Filters | None = None) -> None:
        """Search after the person stops typing for SEARCH_DEBOUNCE_MS."""
        self._query = (query, mode, filters or Filters())
        self._debounce.start()

    def search_now(self) -> None:
        """Run the latest query now (an empty query clears the results)."""
        self._debounce.stop()
        query, mode, filters = self._query
        self._search_seq += 1
        if not query.strip():
            self.searching.emit(False)  # a search still running is dropped when it ends
            self.results_changed.emit([])
            return
        worker = SearchWorker(self._session, self._search_seq, query, mode, filters,
                              k=RESULTS_SHOWN + 1)
        self.searching.emit(True)
        self.context.start(worker, self.search_pool, on_success=self._on_results,
                           on_failure=self._on_search_failed)

    def _on_results(self, result: tuple[int, list[Any], str]) -> None:
        seq, hits, hint = result
        if seq == self._search_seq:  # an older query's answer is dropped
            self.more_results = len(hits) > RESULTS_SHOWN
            self.no_results_hint = hint
            self.searching.emit(False)
            self.results_changed.emit(hits[:RESULTS_SHOWN])

    def _on_search_failed(self, text: str) -> None:
        self.searching.emit(False)
        self.context.error.emit(text)

    def preload(self) -> None:
        """Load the query model in the background so the first search is quick."""
        self.context.start(CallWorker(lambda: self._session.search(
            "warm up", k=1, mode="hybrid", filters=Filters())),
            self.search_pool, on_failure=lambda _text: None)

    def sync_index(self) -> None:
        """Ask for a sync: the results' files changed since they were indexed."""
        self.sync_wanted.emit()

    # -- the preview ----------------------------------------------------------

    def load_document(self, hit: Hit) -> None:
        """Read the hit's whole document in the background for the preview."""
        self._doc_seq += 1
        seq = self._doc_seq
        open_index = self.context.open_index

        def read() -> tuple[int, Hit, str, bool]:
            with open_index() as index:  # the file as indexed, never one a link swapped in
                document = index.read_file(hit.path)
            return seq, hit, document.text, document.file_type == "code"

        def loaded(result: tuple[int, Hit, str, bool]) -> None:
            if result[0] == self._doc_seq:  # the person moved on: drop it
                self.document_loaded.emit(*result[1:])

        # A file that cannot be read now (moved, unplugged) keeps its passage shown.
        self.context.start(CallWorker(read), on_success=loaded, on_failure=lambda _text: None)

    # -- files ----------------------------------------------------------------

    def open_hit(self, hit: Hit) -> None:
        """Open the hit's file with the person's application, at its page or line if it can."""
        if not self._gone(hit.path):
            self._launch(open_command(hit.path, line=hit.line_start, page=hit.page), hit.path)

    def reveal(self, path: Path) -> None:
        """Show the file in the file manager, selected.

        On Linux, where the desktop's file manager offers that over D-Bus; else its folder.
        """
        if self._gone(path):
            return
        if not sys.platform.startswith("linux"):
            self._launch(reveal_command(path), path)
            return

        def shown(ok: bool) -> None:
            if ok:
                self.context.message.emit(f"Showing {path.name} in the file manager")
            else:
                self._launch(reveal_command(path), path)

        show_in_file_manager(path, self.session_bus(), self, shown)

    def copy_path(self, path: Path) -> None:
        """Put the file's path on the clipboard."""
        QGuiApplication.clipboard().setText(str(path))
        self.context.message.emit(f"Copied {path}")

    def _gone(self, path: Path) -> bool:
        """Say so, and sync, when a result's file was deleted or moved after it was indexed."""
        if path.exists():
            return False
        self.context.error.emit(f"{path} was deleted or moved after it was indexed; syncing "
                                "the index so that it leaves the results.")
        self.sync_wanted.emit()
        return True

    def _launch(self, command: list[str], path: Path) -> None:
        try:
            process = start_detached(command)
        except OpenFailed as exc:
            self.context.error.emit(f"Could not open {path}: {exc}. You can copy the path from "
                                    "here.")
            return
        self.context.message.emit(f"Opening {path.name}…")
        # A launcher that finds no application exits with an error at once (xdg-open: 3 or 4).
        QTimer.singleShot(OPEN_CHECK_MS, lambda: self._check_launch(process, path))

    def _check_launch(self, process: Any, path: Path) -> None:
        status = process.poll()
        if status not in (None, 0):
            name = Path(process.args[0]).name
            self.context.error.emit(f"No application opened {path} ({name} exited with status "
                                    f"{status}). You can copy the path from here and open it "
                                    "yourself.")

    # -- shutdown -------------------------------------------------------------

    def stop(self) -> None:
        """Run no more searches (the app is shutting down)."""
        self._debounce.stop()

    def close(self) -> None:
        """Wait for the running search and close the index searches use (the next reopens it)."""
        self.search_pool.waitForDone(SHUTDOWN_WAIT_MS)
        self._session.close()

