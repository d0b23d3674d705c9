"""Settings the desktop app edits: those of `jina_edge.config.SETTINGS` with a label.

They are read from and saved to the config file shared with the CLI.

"Start watching on login" writes an XDG autostart entry on Linux
(https://specifications.freedesktop.org/autostart-spec/latest/) that runs
`jina-edge index watch`; other platforms are not supported yet.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from jina_edge import SettingError
from jina_edge.config import SETTINGS, Setting, load_config, save_config
from jina_edge.index.service import default_index_path

AUTOSTART_NAME = "jina-edge.desktop"


def autostart_supported() -> bool:
    """Whether "start watching on login" can be set up on this platform."""
    return sys.platform.startswith("linux")


def autostart_path() -> Path:
    """The XDG autostart entry: $XDG_CONFIG_HOME/autostart/jina-edge.desktop."""
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "autostart" / AUTOSTART_NAME


def _watch_command() -> str:
    exe = shutil.which("jina-edge")
    if exe:
        return f"{shlex.quote(exe)} index watch"
    return f"{shlex.quote(sys.executable)} -m jina_edge.cli index watch"


def set_autostart(enabled: bool) -> None:
    """Write or remove the autostart entry (Linux only; elsewhere a no-op)."""
    if not autostart_supported():
        return
    path = autostart_path()
    if not enabled:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=jina-edge watch\n"
        "Comment=Keep the jina-edge index up to date\n"
        f"Exec={_watch_command()}\n"
        "Terminal=false\n"
        "NoDisplay=true\n"
        "X-GNOME-Autostart-enabled=true\n",
        encoding="utf-8",
    )


def app_settings() -> list[Setting]:
    """The settings the dialog shows (those with a label), in the registry's order."""
    return [spec for spec in SETTINGS.values() if spec.label]


def app_value(name: str) -> Any:
    """A setting as the config file holds it, in the dialog's form; the default when unset.

    A value of the wrong type shows as the default too: saving replaces it.
    """
    return _app_value(SETTINGS[name], load_config())


def load_settings() -> dict[str, Any]:
    """The dialog's settings, name -> value (see `app_value`)."""
    config = load_config()
    return {spec.name: _app_value(spec, config) for spec in app_settings()}


def _app_value(spec: Setting, config: dict[str, Any]) -> Any:
    value = config.get(spec.name)
    try:
        return _dialog_form(spec, spec.default if value is None else spec.check(value, spec.name))
    except SettingError:
        return _dialog_form(spec, spec.default)


def _dialog_form(spec: Setting, value: Any) -> Any:
    """A value as the dialog edits it: 0 for an automatic number, "" for no text, a list."""
    if value is None:
        if spec.name == "index":
            return str(default_index_path())
        return 0 if spec.kind == "whole" else ""
    if spec.kind == "list":
        return [str(p) for p in value]
    return str(value) if spec.kind in ("path", "text") else value


def save_settings(values: dict[str, Any]) -> None:
    """Save edited settings; a value equal to the default is removed from the config file.

    Raises:
        SettingError: for a value the setting does not take.
    """
    updates: dict[str, Any] = {}
    for spec in app_settings():
        value = _stored(spec, values.get(spec.name))
        if value is not None:
            spec.check(value, f"the setting {spec.label!r}")
        updates[spec.name] = None if value == _stored(spec, _dialog_form(spec, spec.default)) \
            else value
    save_config(updates)
    set_autostart(bool(values.get("watch_on_login")))


def _stored(spec: Setting, value: Any) -> Any:
    """A value from the dialog as the config file keeps it (None: not set)."""
    if spec.kind == "whole":
        return int(value or 0) or None
    if spec.kind == "list":
        return [str(p).strip() for p in value or [] if str(p).strip()] or None
    if spec.kind == "bool":
        return bool(value)
    return str(value or "").strip() or None


def set_watch_on_login(enabled: bool) -> None:
    """Start `jina-edge index watch` when the person logs in, or no longer (the setting too)."""
    save_config({"watch_on_login": enabled or None})
    set_autostart(enabled)
