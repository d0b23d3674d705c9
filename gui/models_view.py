"""The models feature's widgets: download the default model, or import one, in a row of buttons.

The first-run page and the settings dialog both show a `ModelButtons` row;
it connects itself to the `ModelsController` and asks for the folder or file
to import in a non-blocking dialog.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget

from jina_edge.gui.models_controller import ModelsController
from jina_edge.gui.widgets import transient


class ModelButtons(QWidget):
    """Download, import a checkpoint folder, import a .gguf file; disabled while one runs.

    Two import buttons: one file dialog cannot pick either a folder or a file on
    every platform. An import is named as typed in `name` (empty: from the folder
    or file name).
    """

    def __init__(self, controller: ModelsController, download_text: str, name: QLineEdit,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.name = name
        self.download_button = QPushButton(download_text)
        self.import_folder_button = QPushButton("Import a checkpoint folder…")
        self.import_file_button = QPushButton("Import a .gguf file…")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for b in (self.download_button, self.import_folder_button, self.import_file_button):
            row.addWidget(b)
        self.download_button.clicked.connect(lambda: controller.pull_model())
        self.import_folder_button.clicked.connect(lambda: self.choose_import(folder=True))
        self.import_file_button.clicked.connect(lambda: self.choose_import(folder=False))
        controller.model_running.connect(self.setDisabled)

    def choose_import(self, *, folder: bool) -> None:
        """Ask for a checkpoint folder (`folder`) or a .gguf file to import (non-blocking)."""
        dialog = transient(QFileDialog(self.window(), "Import a model", str(Path.home())))
        if folder:
            dialog.setFileMode(QFileDialog.FileMode.Directory)
        else:
            dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
            dialog.setNameFilter("GGUF models (*.gguf)")
        dialog.fileSelected.connect(
            lambda path: self.controller.import_model(path, self.name.text()))
        dialog.open()
