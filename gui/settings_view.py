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

from jina_edge.config import SETTINGS, Setting
from jina_edge.gui.models_controller import ModelsController
from jina_edge.gui.models_view import ModelButtons
from jina_edge.gui.settings import app_settings, autostart_supported
from jina_edge.gui.settings_controller import SettingsController
from jina_edge.gui.widgets import transient


class SettingsDialog(QDialog):
    """The settings shared with the CLI: a row for each of `app_settings()`, model first."""

    saved = Signal(dict)

    def __init__(self, values: dict[str, Any], models: list[str], installer: ModelsController,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("jina-edge settings")
        self.setMinimumWidth(560)
        self.fields: dict[str, QWidget] = {}
        form = QFormLayout()
        for spec in app_settings():
            if spec.name == "model":
                self._add_model_rows(form, models, installer)
                continue
            widget = _field(spec)
            widget.setToolTip(spec.help[0].upper() + spec.help[1:])
            self.fields[spec.name] = widget
            form.addRow("" if spec.kind == "bool" else spec.label, widget)
        note = QLabel("Changing the model embeds your files again at the next sync. An index "
                      "keeps the chunk size of its first sync; a new one applies to new indexes.")
        note.setWordWrap(True)
        note.setEnabled(False)
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

    def _add_model_rows(self, form: QFormLayout, models: list[str],
                        installer: ModelsController) -> None:
        """The model: installed ones to choose from, and buttons that install another."""
        self.model = QComboBox()
        self.model.addItem("Default model", "")
        for name in models:
            self.model.addItem(name, name)
        self.fields["model"] = self.model
        self.import_name = QLineEdit()
        self.import_name.setPlaceholderText("name for an import (optional)")
        self.model_buttons = ModelButtons(installer, "Download the default model",
                                          self.import_name)
        model_actions = QHBoxLayout()
        model_actions.addWidget(self.model_buttons)
        model_actions.addWidget(self.import_name)
        self.switch_note = QLabel("")
        self.switch_note.setWordWrap(True)
        form.addRow(SETTINGS["model"].label, self.model)
        form.addRow("", model_actions)
        form.addRow("", self.switch_note)

    def set_values(self, values: dict[str, Any]) -> None:
        """Show `values` (as returned by `load_settings`)."""
        model = values.get("model", "")
        if model and self.model.findData(model) < 0:
            self.model.addItem(model, model)  # a GGUF path or a model not installed
        self.model.setCurrentIndex(max(self.model.findData(model), 0))
        for name, widget in self.fields.items():
            if name in values and widget is not self.model:
                _show(widget, values[name])

    def values(self) -> dict[str, Any]:
        """The values as edited."""
        return {name: (self.model.currentData() or "") if widget is self.model else _read(widget)
                for name, widget in self.fields.items()}

    def choose_installed(self, model: Any) -> None:
        """Offer a model just installed (an InstalledModel) and choose it."""
        if self.model.findData(model.name) < 0:
            self.model.addItem(model.name, model.name)
        self.model.setCurrentIndex(self.model.findData(model.name))

    def accept(self) -> None:
        """Emit the edited values (the controller saves them) and close."""
        self.saved.emit(self.values())
        super().accept()


def _field(spec: Setting) -> QWidget:
    """The widget that edits a setting of the dialog, by its kind."""
    if spec.kind == "whole":
        # A setting worked out when unset (threads) shows "Automatic" one below its minimum.
        lowest = (spec.minimum or 0) - (1 if spec.default is None else 0)
        box = QSpinBox(minimum=max(lowest, 0), maximum=spec.maximum or 2**31 - 1)
        if spec.default is None:
            box.setSpecialValueText("Automatic")
        if spec.unit:
            box.setSuffix(" " + spec.unit)
        return box
    if spec.kind == "choice":
        combo = QComboBox()
        combo.addItems(list(spec.choices))
        return combo
    if spec.kind == "list":
        lines = QPlainTextEdit()
        lines.setPlaceholderText(spec.help[0].upper() + spec.help[1:] + ", e.g.\n*.log\nbuild/")
        lines.setTabChangesFocus(True)
        return lines
    if spec.kind == "bool":
        check = QCheckBox(spec.label)
        if spec.name == "watch_on_login" and not autostart_supported():
            check.setEnabled(False)
            check.setToolTip("Not supported on this platform yet")
        return check
    return QLineEdit()


def _show(widget: QWidget, value: Any) -> None:
    if isinstance(widget, QSpinBox):
        widget.setValue(int(value or 0))
    elif isinstance(widget, QComboBox):
        widget.setCurrentText(str(value))
    elif isinstance(widget, QPlainTextEdit):
        widget.setPlainText("\n".join(value))
    elif isinstance(widget, QCheckBox):
        widget.setChecked(bool(value))
    elif isinstance(widget, QLineEdit):
        widget.setText(str(value))


def _read(widget: QWidget) -> Any:
    if isinstance(widget, QSpinBox):
        return widget.value()
    if isinstance(widget, QComboBox):
        return widget.currentText()
    if isinstance(widget, QPlainTextEdit):
        return [p for p in widget.toPlainText().splitlines() if p.strip()]
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    assert isinstance(widget, QLineEdit)
    return widget.text().strip()


def open_settings(parent: QWidget, controller: SettingsController,
                  installer: ModelsController) -> SettingsDialog:
    """Open the settings dialog without blocking; saving writes the config file."""
    values, models = controller.load()
    dialog = transient(SettingsDialog(values, models, installer, parent))
    dialog.switch_note.setText(controller.switch_cost_text())
    dialog.saved.connect(lambda new: controller.save(new, values))
    dialog.open()
    return dialog
