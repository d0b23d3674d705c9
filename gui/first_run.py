"""The first-run page, shown while no model is installed: download the default one, or import one.

Part of the app's shell: the window shows it instead of its tabs until a
model is ready. The buttons are the models feature's (`ModelButtons`); this
page adds the welcome, the download's progress and "watch after login".
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from jina_edge.gui.models_controller import ModelsController, default_model, stage_text
from jina_edge.gui.models_view import ModelButtons
from jina_edge.gui.settings import autostart_supported


class FirstRunPage(QWidget):
    """Shown when no model is installed: download the default model, or import one."""

    def __init__(self, controller: ModelsController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        model = default_model()
        title = QLabel("<h2>Welcome to jina-edge</h2>")
        intro = QLabel(
            "jina-edge finds passages in your files by meaning, entirely on this computer. "
            "It needs an embedding model first. Download the default one once (about 35 MB "
            "after conversion), or import a model you already have: a Hugging Face "
            "checkpoint folder or a .gguf file. Nothing else leaves your computer."
        )
        intro.setWordWrap(True)
        self.model_label = QLabel(f"<b>{model.model_id}</b> — {model.description}, "
                                  f"{model.license}")
        self.model_label.setWordWrap(True)
        self.name = QLineEdit()
        self.name.setPlaceholderText("Name for an imported model (default: from the folder "
                                     "or file name)")
        self.model_buttons = ModelButtons(controller, f"Download {model.model_id}", self.name)
        self.model_buttons.download_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        # Offered once, here; Settings changes it later.
        self.watch_on_login = QCheckBox("Keep my folders indexed after I log in, even with "
                                        "this window closed")
        self.watch_on_login.setChecked(True)
        self.watch_on_login.setVisible(autostart_supported())
        self.stage = QLabel("")
        self.progress = QProgressBar()
        self.progress.hide()
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QHBoxLayout()
        buttons.addWidget(self.model_buttons)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        box = QWidget()
        box.setMaximumWidth(720)
        inner = QVBoxLayout(box)
        for w in (title, intro, self.model_label):
            inner.addWidget(w)
        inner.addLayout(buttons)
        inner.addWidget(self.name)
        inner.addWidget(self.watch_on_login)
        inner.addWidget(self.stage)
        inner.addWidget(self.progress)
        inner.addWidget(self.error)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(box, 4)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(2)
        self.cancel_button.clicked.connect(controller.cancel_model)
        controller.model_running.connect(self.set_running)
        controller.model_progress.connect(self.show_progress)

    def set_running(self, running: bool) -> None:
        """Switch between the choice buttons and the progress + Cancel."""
        self.name.setEnabled(not running)  # the buttons follow the controller by themselves
        self.cancel_button.setVisible(running)
        self.progress.setVisible(running)
        if running:
            self.error.setText("")
            self.stage.setText("Starting…")
            self.progress.setRange(0, 0)
        else:
            self.stage.setText("")

    def show_progress(self, stage: str, done: int, total: int) -> None:
        """Show a stage ("download", then the converter's) and its progress."""
        self.stage.setText(stage_text(stage, done, total))
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(done, total) / total))
