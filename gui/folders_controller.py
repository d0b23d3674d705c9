"""The folders feature's logic: the indexed folders, syncing them, watching them, their problems.

`FoldersController` adds, removes and pauses folders, runs syncs in the
background (one at a time; one asked for meanwhile follows it) and watches the
folders for changes; it emits plain rows and progress, and creates no widgets.
The pure helpers at the top put a sync's progress and report into words.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

from PySide6.QtCore import QObject, Signal

from jina_edge import JinaEdgeError
from jina_edge.config import save_config
from jina_edge.gui.context import AppContext
from jina_edge.gui.settings import app_value
from jina_edge.gui.workers import SyncWorker, WatchWorker, error_text

MIN_CHUNKS_FOR_RATE = 20  # passages embedded before a sync's rate is worth quoting
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


def progress_text(p: Any) -> str:
    """One status line for a sync in progress (a SyncProgress): passages, files, ETA."""
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


def report_text(r: Any) -> str:
    """One status line for a finished sync (a SyncReport)."""
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


# -- the controller -----------------------------------------------------------------------------

class FoldersController(QObject):
    """The indexed folders: their status and problems, syncing and watching."""

    # rows: (path, state, files, skipped, failed, chunks, last sync)
    folders_changed = Signal(list)
    problems_changed = Signal(list)  # rows: (path, status, reason)
    types_changed = Signal(dict)     # file type -> indexed files
    sync_running = Signal(bool)
    sync_progress = Signal(object)   # SyncProgress
    sync_finished = Signal(object)   # SyncReport
    watching_changed = Signal(bool)
    contents_changed = Signal()      # a sync ended or a folder went: searches are out of date

    def __init__(self, context: AppContext) -> None:
        super().__init__()
        self.context = context
        self._sync_cancel: threading.Event | None = None
        self._watch_stop: threading.Event | None = None
        self._sync_again = False  # a folder was added while a sync ran: sync once more after
        self._watch_again = False  # the folders changed while watching: watch them anew
        # Set by `stop`: a worker's "finished" queued before the app stopped must not
        # start another, which nothing would stop and the app's exit would wait for.
        self._stopped = False
        # Watching runs whenever the app does, unless the person turned it off.
        self.watch_wanted = bool(app_value("watch"))
        self.passages_per_s = 0.0  # measured during the last sync, for time estimates
        self._last_refresh = 0.0
        self._finished_report: Any = None
        context.reloaded.connect(self.refresh)

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
            index = self.context.index
            status = index.status()
            problems = index.problems()
            types = index.file_types()
        except JinaEdgeError as exc:
            self.context.error.emit(error_text(exc))
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
            return [str(r.path) for r in self.context.index.roots()]
        except JinaEdgeError:
            return []

    def add_folders(self, paths: list[str]) -> bool:
        """Add folders and index them; False (and an error shown) when one cannot be added."""
        ok = True
        for path in paths:
            ok = self.context.guard(functools.partial(self.context.index.add, path)) and ok
        self.refresh()
        if ok and paths and not self.sync() and self.busy:
            self._sync_again = True  # the running sync read the folder list before these
            self.context.message.emit("The new folder is indexed once the current sync ends.")
        if ok and paths:
            self._watch_folders_anew()
        return ok

    def remove_folder(self, path: str) -> None:
        """Remove a folder and its entries from the index."""
        if self.context.guard(lambda: self.context.index.remove(path)):
            self.context.message.emit(f"Removed {path}")
            self._watch_folders_anew()
        self.refresh()
        self.contents_changed.emit()

    def pause_folder(self, path: str, paused: bool) -> None:
        """Pause or resume syncing a folder."""
        if self.context.guard(lambda: self.context.index.pause(path, paused)):
            self._watch_folders_anew()
        self.refresh()

    def explain(self, path: str) -> str:
        """Why a file is or is not indexed."""
        try:
            return self.context.index.explain(path)
        except JinaEdgeError as exc:
            return error_text(exc)

    def indexed_passages(self) -> int:
        """How many passages the index holds (0 when it cannot be read)."""
        try:
            return sum(s.chunks for s in self.context.index.status())
        except JinaEdgeError:
            return 0

    # -- sync -----------------------------------------------------------------

    def sync(self) -> bool:
        """Start indexing in the background (no-op while a sync runs, or once stopped)."""
        if self.busy or self._stopped:
            return False
        cancel = threading.Event()
        self._sync_cancel = cancel
        worker = SyncWorker(self.context.open_index, cancel)
        worker.signals.progress.connect(self._on_sync_progress)
        worker.signals.finished.connect(self._on_sync_done)
        self.sync_running.emit(True)
        self.context.message.emit("Indexing…")
        self.context.start(worker, on_success=self._on_sync_report)
        return True

    def cancel_sync(self) -> None:
        """Ask the running sync to stop after the current batch."""
        if self._sync_cancel is not None:
            self._sync_cancel.set()
            self.context.message.emit("Cancelling…")

    def _on_sync_progress(self, p: Any) -> None:
        if p.chunks_per_s > 0 and p.chunks_done >= MIN_CHUNKS_FOR_RATE:
            self.passages_per_s = p.chunks_per_s
        self.sync_progress.emit(p)
        now = time.monotonic()
        if now - self._last_refresh >= STATUS_REFRESH_S:  # live counts in the folders table
            self._last_refresh = now
            self.refresh()

    def _on_sync_report(self, report: Any) -> None:
        self._finished_report = report
        self.context.message.emit(report_text(report))

    def _on_sync_done(self) -> None:
        # sync_finished comes last, once the folders table shows the new counts.
        self._sync_cancel = None
        self.sync_running.emit(False)
        self.refresh()
        self.contents_changed.emit()
        report, self._finished_report = self._finished_report, None
        if report is not None:
            self.sync_finished.emit(report)
        again, self._sync_again = self._sync_again, False
        if again and not (report is not None and report.cancelled):
            self.sync()

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

    # -- watching -------------------------------------------------------------

    def start_watch(self, sync_first: bool = True) -> None:
        """Watch the folders and sync when their files change, until `stop_watch`.

        The watcher only notices changes; each sync is an ordinary one, with its
        progress shown, and one that comes while another runs follows it. With
        `sync_first`, it syncs at once too (changes made while no one watched).
        """
        if self.watching or self._stopped:
            return
        stop = threading.Event()
        self._watch_stop = stop
        worker = WatchWorker(self.context.open_index, stop, sync_first=sync_first)
        worker.signals.progress.connect(self._on_files_changed)
        worker.signals.finished.connect(self._on_watch_done)
        self.context.start(worker)
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
            self.context.message.emit("Watching folders for changes")
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
            self.context.message.emit("Stopped watching")

    def stop(self) -> None:
        """Cancel the sync and the watching (the app is shutting down).

        A cancelled sync keeps what it finished; the next sync continues from there.
        """
        self._stopped = True
        self._sync_again = self._watch_again = False
        for event in (self._sync_cancel, self._watch_stop):
            if event is not None:
                event.set()
