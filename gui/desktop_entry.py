"""The app's launcher in the desktop's menus: a freedesktop.org `.desktop` entry and its icon.

`jina-edge-gui --install-desktop-entry` writes both under the user's data
folder ($XDG_DATA_HOME, else ~/.local/share), where GNOME, KDE, Xfce and
others look (freedesktop.org Desktop Entry and Icon Theme specifications).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from jina_edge import JinaEdgeError

APP_ID = "jina-edge"  # the desktop file's name, which Qt's setDesktopFileName matches
ICON = Path(__file__).with_name("icon.svg")


def data_home() -> Path:
    """$XDG_DATA_HOME, else ~/.local/share."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def install_desktop_entry(command: list[str] | None = None) -> list[Path]:
    """Write the launcher and its icon; returns the files written.

    `command`: what the launcher runs (default: this `jina-edge-gui`, by its full path).

    Raises:
        JinaEdgeError: off Linux and the BSDs, or when a file cannot be written.
    """
    if sys.platform == "darwin" or sys.platform == "win32":
        raise JinaEdgeError("desktop entries are a Linux (freedesktop.org) feature; on macOS "
                            "and Windows start the app with `jina-edge-gui`")
    running = Path(sys.argv[0])
    script = str(running.resolve()) if running.name == "jina-edge-gui" and running.exists() \
        else shutil.which("jina-edge-gui")
    command = command or ([script] if script else [sys.executable, "-m", "jina_edge.gui.app"])
    icon = data_home() / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    entry = data_home() / "applications" / f"{APP_ID}.desktop"
    text = "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Name=jina-edge",
        "GenericName=File search",
        "Comment=Search your files by meaning, offline",
        f"Exec={_quoted(command)}",
        f"Icon={icon}",
        "Terminal=false",
        "Categories=Utility;",
        "Keywords=search;files;documents;embeddings;",
        "StartupWMClass=jina-edge",
        "",
    ])
    try:
        icon.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ICON, icon)
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise JinaEdgeError(f"could not write the desktop entry ({exc}); check that "
                            f"{data_home()} is writable") from exc
    return [entry, icon]


def _quoted(command: list[str]) -> str:
    """`command` as an Exec key's value, each argument with specials quoted as the spec says."""
    out = []
    for arg in command:
        if any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`'):
            for c in '\\"`$':
                arg = arg.replace(c, "\\" + c)
            arg = f'"{arg}"'
        out.append(arg)
    return " ".join(out)
