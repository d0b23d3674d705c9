"""Layout of the first-run page, the settings dialog and the tray icon."""

from __future__ import annotations

from typing import Any, TypeVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QStyle,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from jina_edge.gui.settings import DEVICES, autostart_supported

W = TypeVar("W", bound=QWidget)


def transient(widget: W) -> W:
    """`widget`, deleted once closed.

    Else the window keeps every dialog, box and menu it ever opened (and their
    popups) for as long as the app runs.
    """
    widget.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    return widget


class FirstRunPage(QWidget):
    """Shown when no model is installed: download the default model, or import one."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from jina_edge.models.catalog import DEFAULT_MODEL_ID, catalog_model

        model = catalog_model(DEFAULT_MODEL_ID)
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
        self.download_button = QPushButton(f"Download {model.model_id}")
        self.download_button.setDefault(True)
        self.import_folder_button = QPushButton("Import a checkpoint folder…")
        self.import_file_button = QPushButton("Import a .gguf file…")
        self.name = QLineEdit()
        self.name.setPlaceholderText("Name for an imported model (default: from the folder "
                                     "or file name)")
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
        for b in (self.download_button, self.import_folder_button, self.import_file_button,
                  self.cancel_button):
            buttons.addWidget(b)
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

    def set_running(self, running: bool) -> None:
        """Switch between the choice buttons and the progress + Cancel."""
        for b in (self.download_button, self.import_folder_button, self.import_file_button,
                  self.name):
            b.setEnabled(not running)
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
        if stage == "download" and total:
            self.stage.setText(f"Downloading… {done / 1e6:.1f} of {total / 1e6:.1f} MB")
        else:
            self.stage.setText(f"{stage.capitalize()}… {done}/{total}" if total else stage)
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(done, total) / total))


class SettingsDialog(QDialog):
    """The settings shared with the CLI: model, threads, device, chunk size, patterns, index."""

    saved = Signal(dict)

    def __init__(self, values: dict[str, Any], models: list[str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("jina-edge settings")
        self.setMinimumWidth(560)
        self.model = QComboBox()
        self.model.addItem("Default model", "")
        for name in models:
            self.model.addItem(name, name)
        self.download_button = QPushButton("Download the default model")
        # Two choosers, as on the first-run page: one file dialog cannot pick
        # either a folder or a file on every platform.
        self.import_folder_button = QPushButton("Import a checkpoint folder…")
        self.import_file_button = QPushButton("Import a .gguf file…")
        self.import_name = QLineEdit()
        self.import_name.setPlaceholderText("name for an import (optional)")
        model_actions = QHBoxLayout()
        for w in (self.download_button, self.import_folder_button, self.import_file_button,
                  self.import_name):
            model_actions.addWidget(w)
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

    def accept(self) -> None:
        """Emit the edited values (the wiring saves them) and close."""
        self.saved.emit(self.values())
        super().accept()


class TrayIcon(QSystemTrayIcon):
    """The tray icon shown while watching: show the window, stop watching, quit."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        style = parent.style() if parent is not None else None
        if style is not None:
            self.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_FileDialogContentsView))
        self.setToolTip("jina-edge: watching your folders")
        self.menu = QMenu()
        self.show_action = self.menu.addAction("Show jina-edge")
        self.stop_action = self.menu.addAction("Stop watching")
        self.menu.addSeparator()
        self.quit_action = self.menu.addAction("Quit")
        self.setContextMenu(self.menu)
