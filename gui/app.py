"""The desktop app's entry point: `jina-edge-gui`."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from jina_edge.errors import MissingDependencyError


def _require_qt() -> None:
    try:
        import PySide6  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            "the desktop app needs PySide6; install it with `pip install 'jina-edge[gui]'`"
        ) from exc


def build_window(open_index: object = None, *, first_run: bool | None = None) -> object:
    """Create the controller and the main window (the QApplication must exist).

    Args:
        open_index: a function returning a new `Index` (default: the config file's).
        first_run: show the first-run page; by default, when no model is installed.
    """
    from jina_edge.gui.controllers import AppController, needs_model
    from jina_edge.gui.views import MainWindow

    controller = AppController(open_index)  # type: ignore[arg-type]
    if first_run is None:
        first_run = needs_model()
    return MainWindow(controller, first_run=first_run)


def main(argv: Sequence[str] | None = None) -> int:
    """Start the app; returns the exit code."""
    try:
        _require_qt()
    except MissingDependencyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    # Qt 6 scales for high DPI by itself; pass fractional factors (125%, 150%)
    # through instead of rounding them, which blurs or shrinks the window.
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(
        list(argv if argv is not None else sys.argv))
    app.setApplicationName("jina-edge")
    app.setApplicationDisplayName("jina-edge")
    QGuiApplication.setDesktopFileName("jina-edge")
    window = build_window()
    window.show()  # type: ignore[attr-defined]
    window.controller.preload()  # type: ignore[attr-defined]
    window.focus_search()  # type: ignore[attr-defined]
    return int(app.exec())


if __name__ == "__main__":
    os.environ.setdefault("QT_ENABLE_HIGHDPI_SCALING", "1")
    sys.exit(main())
