"""The desktop app's logic: folders, sync, search, models. No widgets are created here.

`AppController` owns the workers and emits plain data (rows, hits, messages)
that the views display; the views call its methods. Everything goes through
the library (`Index`, `store`), like the CLI.
"""

from __future__ import annotations

import functools
import html
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal
from PySide6.QtDBus import QDBusConnection
from PySide6.QtGui import QGuiApplication

from jina_edge.config import load_config, save_config, setting
from jina_edge.errors import JinaEdgeError
from jina_edge.gui.opener import (
    OpenFailed,
    open_command,
    reveal_command,
    show_in_file_manager,
)
from jina_edge.gui.opener import start as start_detached
from jina_edge.gui.workers import (
    CallWorker,
    IndexFactory,
    ModelWorker,
    SearchSession,
    SearchWorker,
    SyncWorker,
    WatchWorker,
    Worker,
    error_text,
)
from jina_edge.index.db import Filters
from jina_edge.index.search import FileHit, Hit
from jina_edge.index.service import Index
from jina_edge.index.sync import SyncProgress, SyncReport

SEARCH_DEBOUNCE_MS = 250
RESULTS_SHOWN = 30  # files listed for a query; one more is asked for, to know if there are more
SEARCH_MODES = ("hybrid", "semantic", "keyword")
# The type filter's names for the index's file types.
FILE_TYPES = {"markdown": "Markdown", "text": "Plain text", "pdf": "PDF",
              "docx": "Word documents", "html": "Web pages", "rst": "reStructuredText",
              "code": "Source code"}
# Date filter choices: label -> maximum age in days (None: any time).
AGES: dict[str, float | None] = {"Any time": None, "Past day": 1, "Past week": 7,
                                 "Past month": 31, "Past year": 365}
SHUTDOWN_WAIT_MS = 30_000
MIN_CHUNKS_FOR_RATE = 20  # passages embedded before a sync's rate is worth quoting
OPEN_CHECK_MS = 1500  # how long after starting a launcher its exit status is looked at
STATUS_REFRESH_S = 1.0


# -- presentation helpers (pure functions, unit-tested) --------------------------------------

def format_duration(seconds: float | None) -> str:
    """'42 s', '3 min 5 s', '1 h 2 min'; '' when unknown."""
    if seconds is None or seconds < 0:
        return ""
    if seconds < 1:
        return "< 1 s"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def format_when(timestamp: float | None) -> str:
    """A local date and time, or 'never'."""
    if not timestamp:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


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


def progress_text(p: SyncProgress) -> str:
    """One status line for a sync in progress: passages, files, ETA from the measured rate."""
    if p.stage == "scan":
        where = f" {p.current.name}" if p.current else ""
        return f"Scanning{where}… {p.files_total:,} files found"
    if p.stage == "done":
        return f"Done: {p.files_done:,} files, {p.chunks_done:,} passages"
    parts = [f"Indexing {p.files_done:,} of {p.files_total:,} files"]
    if p.chunks_done:
        parts.append(f"{p.chunks_done:,} passages")
    if p.eta_s is not None and p.eta_s < 1 and p.chunks_done:
        parts.append("almost done")
    elif p.eta_s is not None and p.chunks_done:
        parts.append(f"about {format_duration(p.eta_s)} left")
    elif p.chunks_done:
        parts.append("estimating the time left")
    return " · ".join(parts)


def report_text(r: SyncReport) -> str:
    """One status line for a finished sync."""
    if r.cancelled:
        head = "Indexing cancelled (it continues where it stopped next time)"
    else:
        head = "Index up to date"
    parts = [f"{r.indexed} indexed", f"{r.unchanged} unchanged"]
    for label, n in (("moved", r.moved), ("removed", r.removed), ("skipped", r.skipped),
                     ("failed", r.failed)):
        if n:
            parts.append(f"{n} {label}")
    if r.unavailable_roots:
        parts.append(f"{len(r.unavailable_roots)} folder(s) unavailable")
    return f"{head}: {', '.join(parts)}"


def make_filters(folder: str | None, file_type: str | None, age: str | None,
                 now: float | None = None) -> Filters:
    """Search filters from the filter widgets' choices (None or '' = no restriction)."""
    days = AGES.get(age or "Any time")
    after = None if days is None else (now or time.time()) - days * 86400
    return Filters(folder=Path(folder) if folder else None,
                   file_types=(file_type,) if file_type else None, modified_after=after)


def needs_model() -> bool:
    """True when no model is installed and none is configured (the first-run page)."""
    from jina_edge.models.installed import list_installed

    return not list_installed() and not setting("model")


# -- the controller -----------------------------------------------------------------------------

class _EngineNotes(logging.Handler):
    """The engines' one-time news (a model's graph being built) as the status line.

    Emitted from whichever worker thread loads the model; Qt queues the signal
    to the GUI thread.
    """

    def __init__(self, signal: Any) -> None:
        super().__init__(logging.INFO)
        self._signal = signal
        engine_log = logging.getLogger("jina_edge.engines.onnx_runtime")
        engine_log.setLevel(min(engine_log.getEffectiveLevel(), logging.INFO))
        engine_log.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:  # noqa: D102
        if record.levelno == logging.INFO:
            text = record.getMessage()
            self._signal.emit(text[:1].upper() + text[1:] + "…")

    def detach(self) -> None:
        """Stop listening (the controller is shutting down)."""
        logging.getLogger("jina_edge.engines.onnx_runtime").removeHandler(self)


class AppController(QObject):
    """State and actions of the app; views connect to its signals and call its methods.

    Args:
        open_index: makes a new Index (called once per worker thread and once for
            the GUI thread); by default `Index()` with the config file's settings.
        pool: the thread pool for indexing and model work.
    """

    error = Signal(str)              # a message for the person
    message = Signal(str)            # a status line
    # rows: (path, state, files, skipped, failed, chunks, last sync)
    folders_changed = Signal(list)
    problems_changed = Signal(list)  # rows: (path, status, reason)
    types_changed = Signal(dict)     # file type -> indexed files
    results_changed = Signal(list)   # list[FileHit]
    searching = Signal(bool)
    sync_running = Signal(bool)
    sync_progress = Signal(object)   # SyncProgress
    sync_finished = Signal(object)   # SyncReport
    model_progress = Signal(str, int, int)
    model_running = Signal(bool)
    model_ready = Signal(object)     # InstalledModel
    watching_changed = Signal(bool)
    document_loaded = Signal(object, str, bool)  # hit, the document's text, monospace

    def __init__(self, open_index: IndexFactory | None = None,
                 pool: QThreadPool | None = None) -> None:
        super().__init__()
        self.open_index: IndexFactory = open_index or (lambda: Index())
        self.pool = pool or QThreadPool(self)
        self.pool.setMaxThreadCount(max(self.pool.maxThreadCount(), 3))
        self.search_pool = QThreadPool(self)
        self.search_pool.setMaxThreadCount(1)  # searches in order, on one reused index
        self._index: Index | None = None
        self._session = SearchSession(self.open_index)
        self._workers: set[Worker] = set()
        self._sync_cancel: threading.Event | None = None
        self._model_cancel: threading.Event | None = None
        self._watch_stop: threading.Event | None = None
        self._search_seq = 0
        self._sync_again = False  # a folder was added while a sync ran: sync once more after
        self._watch_again = False  # the folders changed while watching: watch them anew
        # Watching runs whenever the app does, unless the person turned it off.
        self.watch_wanted = load_config().get("watch", True) is not False
        self.more_results = False  # the last results were the best RESULTS_SHOWN of more
        self.no_results_hint = ""  # what the last search finding nothing means
        self.session_bus = QDBusConnection.sessionBus  # where the file manager is asked
        self._doc_seq = 0
        self._query: tuple[str, str, Filters] = ("", "hybrid", Filters())
        self._engine_notes = _EngineNotes(self.message)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.search_now)
        self.passages_per_s = 0.0  # measured during the last sync, for time estimates
        self._last_refresh = 0.0
        self._finished_report: SyncReport | None = None

    # -- plumbing -------------------------------------------------------------

    @property
    def index(self) -> Index:
        """The GUI thread's Index (folders, status, explain)."""
        if self._index is None:
            self._index = self.open_index()
        return self._index

    def _start(self, worker: Worker, pool: QThreadPool | None = None,
               on_success: Callable[[Any], None] | None = None,
               on_failure: Callable[[str], None] | None = None) -> Worker:
        self._workers.add(worker)
        if on_success is not None:
            worker.signals.succeeded.connect(on_success)
        worker.signals.failed.connect(on_failure or self.error.emit)

        def finished() -> None:
            self._workers.discard(worker)
            # Its connections hold closures over the worker, which Python's
            # collector cannot see through Qt: without this, every search's worker
            # stayed in memory for good.
            worker.signals.deleteLater()

        worker.signals.finished.connect(finished)
        (pool or self.pool).start(worker.run)
        return worker

    def _guard(self, action: Callable[[], Any]) -> bool:
        """Run a quick library call; show its error instead of raising."""
        try:
            action()
        except (JinaEdgeError, OSError, ValueError) as exc:
            self.error.emit(error_text(exc))
            return False
        return True

    @property
    def busy(self) -> bool:
        """True while a sync runs."""
        return self._sync_cancel is not None

    @property
    def watching(self) -> bool:
        """True while the folders are watched."""
        return self._watch_stop is not None

    # -- folders --------------------------------------------------------------

    def refresh(self) -> None:
        """Emit the folders' status and the problem files again."""
        try:
            status = self.index.status()
            problems = self.index.problems()
            types = self.index.file_types()
        except JinaEdgeError as exc:
            self.error.emit(error_text(exc))
            return
        rows = []
        for s in status:
            state = "unavailable" if not s.available else "paused" if s.paused else "active"
            rows.append((str(s.path), state, s.files_indexed, s.files_skipped, s.files_failed,
                         s.chunks, format_when(s.last_sync)))
        self.folders_changed.emit(rows)
        self.problems_changed.emit([(str(p), st, reason) for p, st, reason in problems])
        self.types_changed.emit(types)

    def folders(self) -> list[str]:
        """The indexed folders' paths."""
        try:
            return [str(r.path) for r in self.index.roots()]
        except JinaEdgeError:
            return []

    def add_folders(self, paths: list[str]) -> bool:
        """Add folders and index them; False (and an error shown) when one cannot be added."""
        ok = True
        for path in paths:
            ok = self._guard(functools.partial(self.index.add, path)) and ok
        self.refresh()
        if ok and paths and not self.sync() and self.busy:
            self._sync_again = True  # the running sync read the folder list before these
            self.message.emit("The new folder is indexed once the current sync ends.")
        if ok and paths:
            self._watch_folders_anew()
        return ok

    def remove_folder(self, path: str) -> None:
        """Remove a folder and its entries from the index."""
        if self._guard(lambda: self.index.remove(path)):
            self.message.emit(f"Removed {path}")
            self._watch_folders_anew()
        self.refresh()
        self.search_now()

    def pause_folder(self, path: str, paused: bool) -> None:
        """Pause or resume syncing a folder."""
        if self._guard(lambda: self.index.pause(path, paused)):
            self._watch_folders_anew()
        self.refresh()

    def explain(self, path: str) -> str:
        """Why a file is or is not indexed."""
        try:
            return self.index.explain(path)
        except JinaEdgeError as exc:
            return error_text(exc)

    # -- sync -----------------------------------------------------------------

    def sync(self) -> bool:
        """Start indexing in the background (no-op while a sync runs)."""
        if self.busy:
            return False
        cancel = threading.Event()
        self._sync_cancel = cancel
        worker = SyncWorker(self.open_index, cancel)
        worker.signals.progress.connect(self._on_sync_progress)
        worker.signals.finished.connect(self._on_sync_done)
        self.sync_running.emit(True)
        self.message.emit("Indexing…")
        self._start(worker, on_success=self._on_sync_report)
        return True

    def cancel_sync(self) -> None:
        """Ask the running sync to stop after the current batch."""
        if self._sync_cancel is not None:
            self._sync_cancel.set()
            self.message.emit("Cancelling…")

    def _on_sync_progress(self, p: SyncProgress) -> None:
        if p.chunks_per_s > 0 and p.chunks_done >= MIN_CHUNKS_FOR_RATE:
            self.passages_per_s = p.chunks_per_s
        self.sync_progress.emit(p)
        now = time.monotonic()
        if now - self._last_refresh >= STATUS_REFRESH_S:  # live counts in the folders table
            self._last_refresh = now
            self.refresh()

    def _on_sync_report(self, report: SyncReport) -> None:
        self._finished_report = report
        self.message.emit(report_text(report))

    def _on_sync_done(self) -> None:
        # sync_finished comes last, once the folders table shows the new counts.
        self._sync_cancel = None
        self.sync_running.emit(False)
        self.refresh()
        self.search_now()
        report, self._finished_report = self._finished_report, None
        if report is not None:
            self.sync_finished.emit(report)
        again, self._sync_again = self._sync_again, False
        if again and not (report is not None and report.cancelled):
            self.sync()

    # -- watching -------------------------------------------------------------

    def start_watch(self, sync_first: bool = True) -> None:
        """Watch the folders and sync when their files change, until `stop_watch`.

        The watcher only notices changes; each sync is an ordinary one, with its
        progress shown, and one that comes while another runs follows it. With
        `sync_first`, it syncs at once too (changes made while no one watched).
        """
        if self.watching:
            return
        stop = threading.Event()
        self._watch_stop = stop
        worker = WatchWorker(self.open_index, stop, sync_first=sync_first)
        worker.signals.progress.connect(self._on_files_changed)
        worker.signals.finished.connect(self._on_watch_done)
        self._start(worker)
        self.watching_changed.emit(True)

    def stop_watch(self) -> None:
        """Stop watching (a sync in progress goes on to its end)."""
        self._watch_again = False
        if self._watch_stop is not None:
            self._watch_stop.set()

    def want_watch(self, on: bool) -> None:
        """Watch or stop, as the person chose; the choice holds for the next start too."""
        self.watch_wanted = on
        save_config({"watch": None if on else False})
        if on:
            self.start_watch()
            self.message.emit("Watching folders for changes")
        else:
            self.stop_watch()

    def _on_files_changed(self, _: object) -> None:
        if not self.sync() and self.busy:
            self._sync_again = True

    def _watch_folders_anew(self) -> None:
        """Start watching the folders as they are now (a watch covers the folders it began with)."""
        if self.watching:
            self._watch_again = True
            assert self._watch_stop is not None
            self._watch_stop.set()
        elif self.watch_wanted:
            self.start_watch(sync_first=False)

    def _on_watch_done(self) -> None:
        self._watch_stop = None
        again, self._watch_again = self._watch_again, False
        if again:
            self.start_watch(sync_first=False)
        else:
            self.watching_changed.emit(False)
            self.message.emit("Stopped watching")

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
        self._start(worker, self.search_pool, on_success=self._on_results,
                    on_failure=self._on_search_failed)

    def _on_results(self, result: tuple[int, list[FileHit], str]) -> None:
        seq, hits, hint = result
        if seq == self._search_seq:  # an older query's answer is dropped
            self.more_results = len(hits) > RESULTS_SHOWN
            self.no_results_hint = hint
            self.searching.emit(False)
            self.results_changed.emit(hits[:RESULTS_SHOWN])

    def _on_search_failed(self, text: str) -> None:
        self.searching.emit(False)
        self.error.emit(text)

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
                self.message.emit(f"Showing {path.name} in the file manager")
            else:
                self._launch(reveal_command(path), path)

        show_in_file_manager(path, self.session_bus(), self, shown)

    def _gone(self, path: Path) -> bool:
        """Say so, and sync, when a result's file was deleted or moved after it was indexed."""
        if path.exists():
            return False
        self.error.emit(f"{path} was deleted or moved after it was indexed; syncing the index "
                        "so that it leaves the results.")
        self.sync()
        return True

    def _launch(self, command: list[str], path: Path) -> None:
        try:
            process = start_detached(command)
        except OpenFailed as exc:
            self.error.emit(f"Could not open {path}: {exc}. You can copy the path from here.")
            return
        self.message.emit(f"Opening {path.name}…")
        # A launcher that finds no application exits with an error at once (xdg-open: 3 or 4).
        QTimer.singleShot(OPEN_CHECK_MS, lambda: self._check_launch(process, path))

    def _check_launch(self, process: Any, path: Path) -> None:
        status = process.poll()
        if status not in (None, 0):
            name = Path(process.args[0]).name
            self.error.emit(f"No application opened {path} ({name} exited with status "
                            f"{status}). You can copy the path from here and open it yourself.")

    def load_document(self, hit: Hit) -> None:
        """Read the hit's whole document in the background for the preview."""
        self._doc_seq += 1
        seq = self._doc_seq

        def read() -> tuple[int, Hit, str, bool]:
            from jina_edge.index.chunking import join_blocks

            with self.open_index() as index:  # the file as indexed, never one a link swapped in
                document = index.read_file(hit.path)
            return seq, hit, join_blocks(document.blocks)[0], document.file_type == "code"

        def loaded(result: tuple[int, Hit, str, bool]) -> None:
            if result[0] == self._doc_seq:  # the person moved on: drop it
                self.document_loaded.emit(*result[1:])

        # A file that cannot be read now (moved, unplugged) keeps its passage shown.
        self._start(CallWorker(read), on_success=loaded, on_failure=lambda _text: None)

    def copy_path(self, path: Path) -> None:
        """Put the file's path on the clipboard."""
        QGuiApplication.clipboard().setText(str(path))
        self.message.emit(f"Copied {path}")

    # -- models ---------------------------------------------------------------

    def pull_model(self, name: str | None = None) -> None:
        """Download and install a model (the default one without `name`) and use it."""
        self._model_job(ModelWorker(threading.Event(), name=name))

    def import_model(self, path: str, name: str = "") -> None:
        """Install a model from a checkpoint folder or a .gguf file and use it."""
        self._model_job(ModelWorker(threading.Event(), import_path=Path(path),
                                    name=name.strip() or None))

    def _model_job(self, worker: ModelWorker) -> None:
        if self._model_cancel is not None:
            return
        self._model_cancel = worker.cancel
        worker.signals.progress.connect(lambda p: self.model_progress.emit(*p))
        worker.signals.finished.connect(self._on_model_done)
        self.model_running.emit(True)
        self._start(worker, on_success=self._on_model_installed)

    def cancel_model(self) -> None:
        """Abort the download or import (nothing half-installed is left)."""
        if self._model_cancel is not None:
            self._model_cancel.set()

    def _on_model_installed(self, installed: Any) -> None:
        if installed is None:
            self.message.emit("Cancelled; nothing was installed")
            return
        self.message.emit(f"Installed {installed.name}")
        self.model_ready.emit(installed)

    def _on_model_done(self) -> None:
        self._model_cancel = None
        self.model_running.emit(False)

    def preload(self) -> None:
        """Load the query model in the background so the first search is quick."""
        self._start(CallWorker(lambda: self._session.search("warm up", k=1, mode="hybrid",
                                                            filters=Filters())),
                    self.search_pool, on_failure=lambda _text: None)

    # -- settings and shutdown ---------------------------------------------------

    def reload(self) -> None:
        """Reopen the index after settings changed (index location, model)."""
        self.search_pool.waitForDone(SHUTDOWN_WAIT_MS)
        self._session.close()
        if self._index is not None:
            self._index.close()
            self._index = None
        self.refresh()

    def switch_cost_text(self) -> str:
        """What changing the model costs: every passage is embedded again."""
        try:
            passages = sum(s.chunks for s in self.index.status())
        except JinaEdgeError:
            return ""
        if not passages:
            return ""
        text = f"Switching the model embeds all {passages} passages again"
        if self.passages_per_s:
            text += (f" (about {format_duration(passages / self.passages_per_s)} at the speed "
                     "of the last indexing; a larger model is slower)")
        return text + ". Searches use the current model until that is done."

    def resume(self) -> None:
        """At start-up: sync the folders, which finishes what an earlier session left undone.

        Unchanged files cost a stat each, so this is quick when nothing is left.
        """
        if not self.folders():
            return
        if self.watch_wanted:
            self.start_watch()  # its first look syncs
        else:
            self.sync()

    def shutdown(self) -> None:
        """Cancel background work, wait for it and close the index.

        A cancelled sync keeps what it finished; the next sync continues from there.
        A sync stops within one embedding step; what the workers still emit is
        dropped, since the window that would show it is going away.
        """
        self._engine_notes.detach()
        self._debounce.stop()
        for event in (self._sync_cancel, self._model_cancel, self._watch_stop):
            if event is not None:
                event.set()
        for worker in list(self._workers):
            worker.signals.blockSignals(True)
        self.pool.waitForDone(SHUTDOWN_WAIT_MS)
        self.search_pool.waitForDone(SHUTDOWN_WAIT_MS)
        self._session.close()
        if self._index is not None:
            self._index.close()
            self._index = None
