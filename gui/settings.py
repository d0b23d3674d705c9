"""Settings the desktop app edits: read from and saved to the config file shared with the CLI.

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

from jina_edge import SyncSettings
from jina_edge.config import load_config, save_config
from jina_edge.index.service import default_index_path

DEVICES = ("auto", "cpu", "gpu")
DEFAULT_CHUNK_TOKENS = SyncSettings().chunk_tokens
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


def load_settings() -> dict[str, Any]:
    """The editable settings, with defaults filled in.

    Keys: model (str, "" = the default), threads (int, 0 = automatic), device,
    chunk_tokens, patterns (list of gitignore lines), index (str path),
    watch_on_login (bool).
    """
    config = load_config()
    patterns = config.get("patterns") or []
    if isinstance(patterns, str):
        patterns = [p for p in patterns.split(",") if p.strip()]
    elif not isinstance(patterns, list):
        patterns = []  # a value of the wrong type shows as unset; saving replaces it
    device = config.get("device")
    return {
        "model": str(config.get("model") or ""),
        "threads": _whole(config.get("threads"), 0),
        "device": device if device in DEVICES else "auto",
        "chunk_tokens": _whole(config.get("chunk_tokens"), DEFAULT_CHUNK_TOKENS),
        "patterns": [str(p) for p in patterns],
        "index": str(config.get("index") or default_index_path()),
        "watch_on_login": bool(config.get("watch_on_login", False)),
    }


def _whole(value: object, default: int) -> int:
    """A whole number from the config file, or `default` for a missing or odd value."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return default
    try:
        return int(value) or default
    except ValueError:
        return default


def save_settings(values: dict[str, Any]) -> None:
    """Save edited settings; a value equal to the default is removed from the config file."""
    if values.get("device", "auto") not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}")
    index = str(values.get("index") or "").strip()
    default_index = str(default_index_path()) if "index" not in load_config() else None
    updates: dict[str, Any] = {
        "model": str(values.get("model") or "").strip() or None,
        "threads": int(values.get("threads") or 0) or None,
        "device": None if values.get("device", "auto") == "auto" else values["device"],
        "chunk_tokens": (None if int(values.get("chunk_tokens") or 0)
                         in (0, DEFAULT_CHUNK_TOKENS) else int(values["chunk_tokens"])),
        "patterns": [p.strip() for p in values.get("patterns", []) if p.strip()] or None,
        "index": None if not index or index == default_index else index,
        "watch_on_login": bool(values.get("watch_on_login")) or None,
    }
    save_config(updates)
    set_autostart(bool(values.get("watch_on_login")))


def set_watch_on_login(enabled: bool) -> None:
    """Start `jina-edge index watch` when the person logs in, or no longer (the setting too)."""
    save_config({"watch_on_login": enabled or None})
    set_autostart(enabled)
