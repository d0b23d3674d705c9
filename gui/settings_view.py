"""The settings feature's widgets: the settings dialog, shared with the CLI's config file.

`open_settings` fills a `SettingsDialog` from the `SettingsController`, opens
it without blocking, and hands the edited values back to the controller.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from jina_edge.gui.models_controller import ModelsController
from jina_edge.gui.models_view import ModelButtons
from jina_edge.gui.settings import DEVICES, autostart_supported
from jina_edge.gui.settings_controller import SettingsController
from jina_edge.gui.widgets import transient


class SettingsDialog(QDialog):
    """The settings shared with the CLI: model, threads, device, chunk size, patterns, index."""

    saved = Signal(dict)

    def __init__(self, values: dict[str, Any], models: list[str], installer: ModelsController,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("jina-edge settings")
        self.setMinimumWidth(560)
        self.model = QComboBox()
        self.model.addItem("Default model", "")
        for name in models:
            self.model.addItem(name, name)
        self.import_name = QLineEdit()
        self.import_name.setPlaceholderText("name for an import (optional)")
        self.model_buttons = ModelButtons(installer, "Download the default model",
                                          self.import_name)
        model_actions = QHBoxLayout()
        model_actions.addWidget(self.model_buttons)
        model_actions.addWidget(self.import_name)
        self.switch_note = QLabel("")
        self.switch_note.setWordWrap(True)
        self.threads = QSpinBox(minimum=0, maximum=256)
        self.threads.setSpecialValueText("Automatic")  # shown for 0
        self.device = QComboBox()
        self.device.addItems(list(DEVICES))
        self.chunk_tokens = QSpinBox(minimum=32, maximum=8192, singleStep=32,
                                     suffix=" tokens")
        self.patterns = QPlainTextEdit()
        self.patterns.setPlaceholderText("One gitignore pattern a line, e.g.\n*.log\nbuild/")
        self.patterns.setTabChangesFocus(True)
        self.index = QLineEdit()
        self.watch_on_login = QCheckBox("Start watching my folders when I log in")
        if not autostart_supported():
            self.watch_on_login.setEnabled(False)
            self.watch_on_login.setToolTip("Not supported on this platform yet")
        note = QLabel("Changing the model embeds your files again at the next sync. An index "
                      "keeps the chunk size of its first sync; a new one applies to new indexes.")
        note.setWordWrap(True)
        note.setEnabled(False)
        form = QFormLayout()
        form.addRow("Model", self.model)
        form.addRow("", model_actions)
        form.addRow("", self.switch_note)
        form.addRow("Threads", self.threads)
        form.addRow("Device", self.device)
        form.addRow("Chunk size", self.chunk_tokens)
        form.addRow("Ignore patterns", self.patterns)
        form.addRow("Index file", self.index)
        form.addRow("", self.watch_on_login)
        form.addRow("", note)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self.set_values(values)
        installer.model_ready.connect(self.choose_installed)

    def set_values(self, values: dict[str, Any]) -> None:
        """Show `values` (as returned by `load_settings`)."""
        model = values.get("model", "")
        if model and self.model.findData(model) < 0:
            self.model.addItem(model, model)  # a GGUF path or a model not installed
        self.model.setCurrentIndex(max(self.model.findData(model), 0))
        self.threads.setValue(int(values.get("threads", 0)))
        self.device.setCurrentText(str(values.get("device", "auto")))
        self.chunk_tokens.setValue(int(values.get("chunk_tokens", 256)))
        self.patterns.setPlainText("\n".join(values.get("patterns", [])))
        self.index.setText(str(values.get("index", "")))
        self.watch_on_login.setChecked(bool(values.get("watch_on_login")))

    def values(self) -> dict[str, Any]:
        """The values as edited."""
        return {
            "model": self.model.currentData() or "",
            "threads": self.threads.value(),
            "device": self.device.currentText(),
            "chunk_tokens": self.chunk_tokens.value(),
            "patterns": [p for p in self.patterns.toPlainText().splitlines() if p.strip()],
            "index": self.index.text().strip(),
            "watch_on_login": self.watch_on_login.isChecked(),
        }

    def choose_installed(self, model: Any) -> None:
        """Offer a model just installed (an InstalledModel) and choose it."""
        if self.model.findData(model.name) < 0:
            self.model.addItem(model.name, model.name)
        self.model.setCurrentIndex(self.model.findData(model.name))

    def accept(self) -> None:
        """Emit the edited values (the controller saves them) and close."""
        self.saved.emit(self.values())
        super().accept()


def open_settings(parent: QWidget, controller: SettingsController,
                  installer: ModelsController) -> SettingsDialog:
    """Open the settings dialog without blocking; saving writes the config file."""
    values, models = controller.load()
    dialog = transient(SettingsDialog(values, models, installer, parent))
    dialog.switch_note.setText(controller.switch_cost_text())
    dialog.saved.connect(lambda new: controller.save(new, values))
    dialog.open()
    return dialog
