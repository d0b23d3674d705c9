"""What every feature's controller shares: the index, the worker pool, and the app's messages.

One `AppContext` per window. The feature controllers (search, folders,
models, settings) start their background jobs through it and report errors
and status lines on its `error` and `message` signals, which the window shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal

from jina_edge import Index, JinaEdgeError
from jina_edge.gui.workers import IndexFactory, Worker, error_text

SHUTDOWN_WAIT_MS = 30_000
ENGINE_LOG = "jina_edge.engines.onnx_runtime"  # where a model's one-time graph build is logged


class _EngineNotes(logging.Handler):
    """The engines' one-time news (a model's graph being built) as the status line.

    Emitted from whichever worker thread loads the model; Qt queues the signal
    to the GUI thread.
    """

    def __init__(self, signal: Any) -> None:
        super().__init__(logging.INFO)
        self._signal = signal
        engine_log = logging.getLogger(ENGINE_LOG)
        engine_log.setLevel(min(engine_log.getEffectiveLevel(), logging.INFO))
        engine_log.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:  # noqa: D102
        if record.levelno == logging.INFO:
            text = record.getMessage()
            self._signal.emit(text[:1].upper() + text[1:] + "…")

    def detach(self) -> None:
        """Stop listening (the app is shutting down)."""
        logging.getLogger(ENGINE_LOG).removeHandler(self)


class AppContext(QObject):
    """The GUI thread's Index, the thread pool, the running workers, and the app's messages.

    Args:
        open_index: makes a new Index (called once per worker thread and once for
            the GUI thread); by default `Index()` with the config file's settings.
        pool: the thread pool for indexing and model work.
    """

    error = Signal(str)    # a message for the person
    message = Signal(str)  # a status line
    reloaded = Signal()    # the index was closed to be opened anew with new settings

    def __init__(self, open_index: IndexFactory | None = None,
                 pool: QThreadPool | None = None) -> None:
        super().__init__()
        self.open_index: IndexFactory = open_index or (lambda: Index())
        self.pool = pool or QThreadPool(self)
        self.pool.setMaxThreadCount(max(self.pool.maxThreadCount(), 3))
        self._index: Index | None = None
        self._workers: set[Worker] = set()
        self._engine_notes = _EngineNotes(self.message)

    @property
    def index(self) -> Index:
        """The GUI thread's Index (folders, status, explain)."""
        if self._index is None:
            self._index = self.open_index()
        return self._index

    def start(self, worker: Worker, pool: QThreadPool | None = None,
              on_success: Callable[[Any], None] | None = None,
              on_failure: Callable[[str], None] | None = None) -> Worker:
        """Run `worker` on `pool` (default: the shared one); its failure is shown unless handled."""
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

    def guard(self, action: Callable[[], Any]) -> bool:
        """Run a quick library call; show its error instead of raising."""
        try:
            action()
        except (JinaEdgeError, OSError, ValueError) as exc:
            self.error.emit(error_text(exc))
            return False
        return True

    def close_index(self) -> None:
        """Close the GUI thread's Index (the next use opens it again)."""
        if self._index is not None:
            self._index.close()
            self._index = None

    def reload(self) -> None:
        """Reopen the index after settings changed (index location, model)."""
        self.close_index()
        self.reloaded.emit()

    def shutdown(self) -> None:
        """Drop what the workers still emit, wait for them and close the index.

        The features cancel their work first (`stop()`); a sync stops within one
        embedding step. What the workers emit after is dropped, since the window
        that would show it is going away.
        """
        self._engine_notes.detach()
        for worker in list(self._workers):
            worker.signals.blockSignals(True)
        self.pool.waitForDone(SHUTDOWN_WAIT_MS)
        self.close_index()
