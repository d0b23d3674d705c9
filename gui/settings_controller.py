"""The settings feature's logic: read and save the settings the dialog edits, then reopen the index.

`SettingsController` goes through `jina_edge.gui.settings` (the config file
shared with the CLI); a new model is given to the index, which embeds the
files again at its next sync. It creates no widgets.
"""

from __future__ import annotations

from typing import Any

from jina_edge.gui import settings
from jina_edge.gui.context import AppContext
from jina_edge.gui.folders_controller import FoldersController, format_duration
from jina_edge.gui.models_controller import embedding_models
from jina_edge.gui.workers import error_text


class SettingsController:
    """Loads and saves the settings; says what switching the model costs."""

    def __init__(self, context: AppContext, folders: FoldersController) -> None:
        self.context = context
        self.folders = folders  # its last sync's speed estimates a switch's time

    def load(self) -> tuple[dict[str, Any], list[str]]:
        """The settings and the models that can be chosen; ({}, []) and an error if unreadable."""
        try:
            return settings.load_settings(), embedding_models()
        except Exception as exc:  # noqa: BLE001 - a broken config file must be shown, not crash
            self.context.error.emit(error_text(exc))
            return {}, []

    def save(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        """Save edited settings and reopen the index with them; an error is shown, not raised."""
        try:
            settings.save_settings(new)
            if new.get("model") and new.get("model") != old.get("model"):
                self.context.index.use_model(new["model"])  # re-embeds at its next sync
        except Exception as exc:  # noqa: BLE001
            self.context.error.emit(error_text(exc))
            return
        self.context.message.emit("Settings saved")
        self.context.reload()  # the next Index picks up the new index, model and threads

    def switch_cost_text(self) -> str:
        """What changing the model costs: every passage is embedded again."""
        passages = self.folders.indexed_passages()
        if not passages:
            return ""
        text = f"Switching the model embeds all {passages} passages again"
        if self.folders.passages_per_s:
            text += (f" (about {format_duration(passages / self.folders.passages_per_s)} at "
                     "the speed of the last indexing; a larger model is slower)")
        return text + ". Searches use the current model until that is done."

    def set_watch_on_login(self, enabled: bool) -> None:
        """Keep the folders indexed after login (an autostart entry), or no longer."""
        settings.set_watch_on_login(enabled)
