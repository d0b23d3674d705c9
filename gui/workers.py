"""Background work for the desktop app: jobs run in a QThreadPool that call the library.

Each worker calls the same functions as the CLI (`Index.sync`, `Index.search`,
`store.pull`, `store.import_model`, `Index.watch`) and reports through Qt
signals, which Qt delivers to the GUI thread. A worker opens its own `Index`
(one SQLite connection per thread), except searches, which run one at a time
on a reused index so that the query model is loaded once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import QObject, Signal

from jina_edge import (
    DownloadError,
    Filters,
    Index,
    JinaEdgeError,
    ModelNotFoundError,
    SearchMode,
)

IndexFactory = Callable[[], Index]
# The modes `Index.search` takes (the library does not export its type).

# Progress callbacks can fire thousands of times a second; the GUI needs ~10.
PROGRESS_INTERVAL_S = 0.1
OFFLINE_TEXT = ("This computer cannot reach the Hugging Face hub (offline?), so the model "
                "cannot be downloaded now. Connect and try again, or import a model you "
                "already have: a checkpoint folder or a .gguf file copied from another computer.")


class Cancelled(Exception):
    """Raised from a progress callback to abort a model download or import."""


def error_text(exc: BaseException) -> str:
    """A message for the person: library errors are already readable, others get their type.

    The library's advice names terminal commands; in the app the remedy is a
    button, so a missing model points at Settings instead.
    """
    if isinstance(exc, ModelNotFoundError):
        what = str(exc).split(";")[0].split(" (see ")[0]
        return f"{what[:1].upper()}{what[1:]}. Download or import a model in Settings."
    if isinstance(exc, JinaEdgeError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class WorkerSignals(QObject):
    """Signals of one worker (a QObject, which the worker is not)."""

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    finished = Signal()


class Worker:
    """A job for a thread pool (`pool.start(worker.run)`): runs `work`, reports through `signals`.

    `finished` is emitted last, whatever happened, so callers can wait on it.
    Not a QRunnable: PySide's QThreadPool kept a reference to those after they
    ran, so every search's worker stayed in memory for as long as the app ran.
    """

    def __init__(self) -> None:
        self.signals = WorkerSignals()

    def work(self) -> Any:
        """The job; its return value is emitted with `succeeded`."""
        raise NotImplementedError

    def run(self) -> None:
        """Called by the thread pool."""
        try:
            result = self.work()
        except Cancelled:
            self.signals.succeeded.emit(None)
        except Exception as exc:  # noqa: BLE001 - everything must reach the person
            self.signals.failed.emit(error_text(exc))
        else:
            self.signals.succeeded.emit(result)
        finally:
            self.signals.finished.emit()


class _Throttle:
    """Lets through one call per interval, plus every call where `force` is true."""

    def __init__(self, interval_s: float = PROGRESS_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._last = 0.0

    def ready(self, force: bool = False) -> bool:
        now = time.monotonic()
        if force or now - self._last >= self.interval_s:
            self._last = now
            return True
        return False


class SyncWorker(Worker):
    """Runs `Index.sync` on a fresh Index; emits SyncProgress, then the SyncReport."""

    def __init__(self, open_index: IndexFactory, cancel: threading.Event) -> None:
        super().__init__()
        self.open_index = open_index
        self.cancel = cancel

    def work(self) -> Any:
        """See `Worker.work`; returns the SyncReport."""
        throttle = _Throttle()
        last_stage = [""]

        def progress(p: Any) -> None:
            stage_changed = p.stage != last_stage[0]
            last_stage[0] = p.stage
            if throttle.ready(stage_changed or p.stage == "done"):
                self.signals.progress.emit(p)

        index = self.open_index()
        try:
            return index.sync(progress=progress, cancel=self.cancel)
        finally:
            index.close()


class SearchSession:
    """The Index searches run on, opened lazily in the search thread and reused."""

    def __init__(self, open_index: IndexFactory) -> None:
        self.open_index = open_index
        self._index: Index | None = None
        self._lock = threading.Lock()

    def search(self, query: str, *, k: int, mode: str,
               filters: Filters) -> tuple[list[Any], str]:
        """`Index.search`'s FileHits on the session's index, and what finding nothing means."""
        with self._lock:
            if self._index is None:
                self._index = self.open_index()
            hits = self._index.search(query, k=k, mode=cast(SearchMode, mode), filters=filters)
            if hits:
                return hits, ""
            if filters != Filters():
                return hits, "No matches with these filters: widen them to search everything."
            return hits, self._index.no_results_hint(cast(SearchMode, mode))

    def close(self) -> None:
        """Close the index (a later search opens it again)."""
        with self._lock:
            if self._index is not None:
                self._index.close()
                self._index = None


class SearchWorker(Worker):
    """One search; emits (seq, hits, hint) so the controller can drop stale answers."""

    def __init__(self, session: SearchSession, seq: int, query: str, mode: str,
                 filters: Filters, k: int = 30) -> None:
        super().__init__()
        self.session = session
        self.seq = seq
        self.query = query
        self.mode = mode
        self.filters = filters
        self.k = k

    def work(self) -> tuple[int, list[Any], str]:
        """See `Worker.work`."""
        return self.seq, *self.session.search(self.query, k=self.k, mode=self.mode,
                                              filters=self.filters)


class ModelWorker(Worker):
    """Downloads (`store.pull`) or imports (`store.import_model`) a model and makes it the default.

    Progress is emitted as (stage, done, total). Cancel raises from the progress
    callback, which the store treats as an abort that leaves nothing half-installed.
    """

    def __init__(self, cancel: threading.Event, *, name: str | None = None,
                 import_path: Path | None = None) -> None:
        super().__init__()
        self.cancel = cancel
        self.name = name
        self.import_path = import_path

    def work(self) -> Any:
        """See `Worker.work`."""
        from jina_edge.models import store

        throttle = _Throttle()

        def progress(stage: str, done: int, total: int) -> None:
            if self.cancel.is_set():
                raise Cancelled
            if throttle.ready(done >= total):
                self.signals.progress.emit((stage, done, total))

        if self.import_path is not None:
            installed = store.import_model(self.import_path, name=self.name, progress=progress)
        else:
            try:
                installed = (store.pull(progress=progress) if self.name is None
                             else store.pull(self.name, progress=progress))
            except DownloadError as exc:
                if exc.offline:
                    raise DownloadError(OFFLINE_TEXT, offline=True) from exc
                raise
        store.set_default(installed.name)  # what the person just installed is what they use
        return installed


class WatchWorker(Worker):
    """Watches the index's folders until `stop` is set; emits progress (None) when they changed."""

    def __init__(self, open_index: IndexFactory, stop: threading.Event, *,
                 sync_first: bool) -> None:
        super().__init__()
        self.open_index = open_index
        self.stop = stop
        self.sync_first = sync_first

    def work(self) -> None:
        """See `Worker.work`."""
        index = self.open_index()
        try:
            index.watch(self.stop, lambda: self.signals.progress.emit(None), now=self.sync_first)
        finally:
            index.close()


class CallWorker(Worker):
    """Runs any function in the pool (e.g. loading the model before the first search)."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.fn = fn

    def work(self) -> Any:
        """See `Worker.work`."""
        return self.fn()
