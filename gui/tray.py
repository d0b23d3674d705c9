"""The tray icon, part of the app's shell: shown while the folders are watched.

With it, closing the window hides it and watching goes on; its menu shows the
window again, stops watching, or quits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QMenu, QStyle, QSystemTrayIcon


class TrayIcon(QSystemTrayIcon):
    """The tray icon shown while watching: show the window, stop watching, quit."""

    def __init__(self, parent: Any, *, show: Callable[[], None],
                 stop_watching: Callable[[], None], quit_app: Callable[[], None]) -> None:
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
        self.show_action.triggered.connect(show)
        self.stop_action.triggered.connect(stop_watching)
        self.quit_action.triggered.connect(quit_app)

    @staticmethod
    def available() -> bool:
        """Whether this desktop has a tray to show the icon in."""
        return QSystemTrayIcon.isSystemTrayAvailable()
