"""The models feature's logic: download or import an embedding model, and which are installed.

`ModelsController` runs one download or import at a time in the background
(cancellable, nothing half-installed is left) and makes the new model the
default; it creates no widgets.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from jina_edge.config import get
from jina_edge.gui.context import AppContext
from jina_edge.gui.workers import ModelWorker
from jina_edge.models.catalog import DEFAULT_MODEL_ID, CatalogModel, catalog_model
from jina_edge.models.installed import list_installed


def needs_model() -> bool:
    """True when no model is installed and none is configured (the first-run page)."""
    return not list_installed() and not get("model")


def default_model() -> CatalogModel:
    """The model a first download installs."""
    return catalog_model(DEFAULT_MODEL_ID)


def embedding_models() -> list[str]:
    """The installed models' names, rerankers left out: they cannot embed."""
    return [m.name for m in list_installed() if m.manifest.get("kind") != "reranker"]


def stage_text(stage: str, done: int, total: int) -> str:
    """A download's or import's stage ("download", then the converter's) and its progress."""
    if stage == "download" and total:
        return f"Downloading… {done / 1e6:.1f} of {total / 1e6:.1f} MB"
    return f"{stage.capitalize()}… {done}/{total}" if total else stage


class ModelsController(QObject):
    """Downloads and imports of models; emits their progress and the installed model."""

    model_progress = Signal(str, int, int)  # stage, done, total
    model_running = Signal(bool)
    model_ready = Signal(object)     # InstalledModel

    def __init__(self, context: AppContext) -> None:
        super().__init__()
        self.context = context
        self._model_cancel: threading.Event | None = None

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
        self.context.start(worker, on_success=self._on_model_installed)

    def cancel_model(self) -> None:
        """Abort the download or import (nothing half-installed is left)."""
        if self._model_cancel is not None:
            self._model_cancel.set()

    def _on_model_installed(self, installed: Any) -> None:
        if installed is None:
            self.context.message.emit("Cancelled; nothing was installed")
            return
        self.context.message.emit(f"Installed {installed.name}")
        self.model_ready.emit(installed)

    def _on_model_done(self) -> None:
        self._model_cancel = None
        self.model_running.emit(False)

    def stop(self) -> None:
        """Cancel the download or import (the app is shutting down)."""
        self.cancel_model()
