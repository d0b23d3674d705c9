"""Opening a file with the person's own application, at a hit's page or line where it can.

On Linux the default application for the file's type comes from `xdg-mime`;
when it is a viewer or editor whose command line takes a page or a line (the
table below), it is started with it, else the file goes to `xdg-open`. macOS
and Windows open the file with their default application (at the top).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Desktop-entry name (lowercase, without ".desktop") -> (program, how to pass the place).
# Sources: the programs' --help (evince, okular, zathura, gedit, kate, code, subl).
PAGE_VIEWERS: dict[str, tuple[str, Callable[[str, int], list[str]]]] = {
    "org.gnome.evince": ("evince", lambda f, n: [f"--page-index={n}", f]),
    "evince": ("evince", lambda f, n: [f"--page-index={n}", f]),
    "okularapplication_pdf": ("okular", lambda f, n: ["-p", str(n), f]),
    "org.kde.okular": ("okular", lambda f, n: ["-p", str(n), f]),
    "org.pwmt.zathura": ("zathura", lambda f, n: ["-P", str(n), f]),
    "zathura": ("zathura", lambda f, n: ["-P", str(n), f]),
}
LINE_EDITORS: dict[str, tuple[str, Callable[[str, int], list[str]]]] = {
    "code": ("code", lambda f, n: ["-g", f"{f}:{n}"]),
    "org.gnome.gedit": ("gedit", lambda f, n: [f"+{n}", f]),
    "gedit": ("gedit", lambda f, n: [f"+{n}", f]),
    "org.kde.kate": ("kate", lambda f, n: ["-l", str(n), f]),
    "sublime_text": ("subl", lambda f, n: [f"{f}:{n}"]),
}


class OpenFailed(Exception):
    """No application could be started for a file; the message says why."""


def _query(args: list[str]) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def default_application(path: Path) -> str:
    """The desktop entry that opens `path` on this Linux desktop ('' when unknown)."""
    if shutil.which("xdg-mime") is None:
        return ""
    mime = _query(["xdg-mime", "query", "filetype", str(path)])
    if not mime:
        return ""
    entry = _query(["xdg-mime", "query", "default", mime])
    return entry.lower().removesuffix(".desktop")


def open_command(path: Path, *, line: int | None = None, page: int | None = None) -> list[str]:
    """The command that opens `path` at `page` or `line` where the default application allows."""
    target = str(path)
    if sys.platform == "darwin":
        return ["open", target]
    if sys.platform == "win32":
        return ["explorer", target]
    if page is not None or line is not None:
        entry = default_application(path)
        table, place = (PAGE_VIEWERS, page) if page is not None else (LINE_EDITORS, line)
        known = table.get(entry)
        if known is not None and place is not None:
            program = shutil.which(known[0])
            if program is not None:
                return [program, *known[1](target, place)]
    return ["xdg-open", target]


# The freedesktop.org file manager interface (Nautilus, Dolphin, Nemo, Caja,
# Thunar...): ShowItems opens the folder with the file selected.
FILE_MANAGER = ("org.freedesktop.FileManager1", "/org/freedesktop/FileManager1",
                "org.freedesktop.FileManager1")
FILE_MANAGER_TIMEOUT_MS = 10_000  # a file manager started by D-Bus activation can be slow


def show_in_file_manager(path: Path, bus: Any, parent: Any,
                         done: Callable[[bool], None]) -> None:
    """Ask the session's file manager over D-Bus to show `path` selected; `done(ok)` after.

    `bus` is a QDBusConnection (the session bus); the call does not block the GUI.
    """
    from PySide6.QtCore import QUrl
    from PySide6.QtDBus import QDBusMessage, QDBusPendingCallWatcher

    if not bus.isConnected():
        done(False)
        return
    message = QDBusMessage.createMethodCall(*FILE_MANAGER, "ShowItems")
    message.setArguments([[QUrl.fromLocalFile(str(path)).toString(
        QUrl.ComponentFormattingOption.FullyEncoded)], ""])
    watcher = QDBusPendingCallWatcher(bus.asyncCall(message, FILE_MANAGER_TIMEOUT_MS), parent)

    def finished(w: Any) -> None:
        w.deleteLater()
        done(not w.isError())

    watcher.finished.connect(finished)


def reveal_command(path: Path) -> list[str]:
    """The command that shows `path` in the file manager.

    On Linux only its folder: `show_in_file_manager` selects it, where the desktop offers that.
    """
    if sys.platform == "darwin":
        return ["open", "-R", str(path)]
    if sys.platform == "win32":
        return ["explorer", f"/select,{path}"]
    return ["xdg-open", str(path.parent)]


def start(command: list[str]) -> subprocess.Popen[bytes]:
    """Start `command` detached from the app.

    Raises:
        OpenFailed: when the program is not installed or cannot start.
    """
    try:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        name = Path(command[0]).name
        raise OpenFailed(f"{name} could not be started ({exc.strerror or exc}); on Linux, "
                         "install xdg-utils and a viewer for this type of file") from exc
