"""The desktop app's entry point, `jina-edge-gui`: start the app, or add it to the menus.

Part of the app's shell. Qt is imported only once the app starts, so that
`--help`, `--install-desktop-entry` and a missing PySide6 work without it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from jina_edge import JinaEdgeError, MissingDependencyError


def _require_qt() -> None:
    try:
        import PySide6  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            "the desktop app needs PySide6; install it with `pip install 'jina-edge[gui]'`"
        ) from exc


# Libraries Qt's X11 plugin loads that minimal Linux installs lack; without
# them Qt aborts with "could not load the Qt platform plugin xcb".
GC_INTERVAL_MS = 500
XCB_LIBRARIES = {"xcb-cursor": "libxcb-cursor0", "xcb-icccm": "libxcb-icccm4",
                 "xcb-keysyms": "libxcb-keysyms1"}


def missing_x11_libraries() -> list[str]:
    """Debian package names of the X11 libraries Qt needs here and cannot find ([] if fine)."""
    import ctypes.util

    platform = os.environ.get("QT_QPA_PLATFORM", "")
    on_x11 = (sys.platform.startswith("linux") and os.environ.get("DISPLAY")
              and (platform.startswith("xcb") or not (platform or os.environ.get(
                  "WAYLAND_DISPLAY"))))
    if not on_x11:
        return []
    return [pkg for lib, pkg in XCB_LIBRARIES.items() if ctypes.util.find_library(lib) is None]


def collect_garbage_on_the_gui_thread() -> None:
    """Run Python's cycle collector from the GUI thread only, while the app runs.

    The collector runs in whichever thread happens to allocate when a
    threshold is passed. A worker thread that does so frees garbage cycles
    holding Qt objects (a finished worker's signals and the lambdas
    connected to them) off the GUI thread, which crashed the process
    (a segfault in "Garbage-collecting" from the pull worker, seen in CI).
    So automatic collection is off and a timer on the GUI thread collects,
    generation by generation, as the thresholds would have.
    """
    import gc

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    gc.disable()
    if app is None or app.property("jina_edge_gc"):
        return

    def collect() -> None:
        counts, thresholds = gc.get_count(), gc.get_threshold()
        generation = max((g for g in range(3) if counts[g] > thresholds[g]), default=-1)
        if generation >= 0:
            gc.collect(generation)

    timer = QTimer(app)
    timer.setInterval(GC_INTERVAL_MS)
    timer.timeout.connect(collect)
    timer.start()
    app.aboutToQuit.connect(gc.enable)
    app.setProperty("jina_edge_gc", True)


def build_window(open_index: object = None, *, first_run: bool | None = None) -> object:
    """Create the main window and its features' controllers (the QApplication must exist).

    Args:
        open_index: a function returning a new `Index` (default: the config file's).
        first_run: show the first-run page; by default, when no model is installed.
    """
    from jina_edge.gui.context import AppContext
    from jina_edge.gui.models_controller import needs_model
    from jina_edge.gui.window import MainWindow

    collect_garbage_on_the_gui_thread()
    context = AppContext(open_index)  # type: ignore[arg-type]
    if first_run is None:
        first_run = needs_model()
    return MainWindow(context, first_run=first_run)


def launch(argv: Sequence[str] | None = None) -> Any:
    """Create the application and show its window, as `jina-edge-gui` does; returns the window.

    `main()` is this plus the event loop, so tests drive exactly what a person
    starting the app gets: the first-run page when no model is installed, a
    damaged config file set aside with a message, and a sync at start-up that
    finishes whatever an earlier session left undone.
    """
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QIcon
    from PySide6.QtWidgets import QApplication

    from jina_edge.gui.desktop_entry import APP_ID, ICON

    # Qt 6 scales for high DPI by itself; pass fractional factors (125%, 150%)
    # through instead of rounding them, which blurs or shrinks the window.
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        app = existing
    else:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(list(argv if argv is not None else sys.argv))
    app.setApplicationName("jina-edge")
    app.setApplicationDisplayName("jina-edge")
    QGuiApplication.setDesktopFileName(APP_ID)
    app.setWindowIcon(QIcon(str(ICON)))
    config_note = set_aside_damaged_config()
    window: Any = build_window()
    window.show()
    if config_note:
        window.show_error(config_note)
    if not window.showing_first_run():
        window.focus_search()
        window.search_controller.preload()
        window.folders_controller.resume()
    return window


def set_aside_damaged_config() -> str:
    """Rename a config file that cannot be read, so the app starts; '' when it is fine.

    Nothing is lost: the file keeps its content under a new name, which the
    returned message gives.
    """
    from jina_edge.config import config_path, load_config

    try:
        load_config()
    except JinaEdgeError as exc:
        path = config_path()
        kept = path.with_name(f"{path.name}.damaged-{int(time.time())}")
        try:
            path.rename(kept)
        except OSError as rename_exc:
            return f"{exc}. It could not be set aside either ({rename_exc})."
        return (f"Your settings file could not be read ({exc.__cause__ or exc}). It was kept "
                f"as {kept}; jina-edge starts with default settings.")
    return ""


USAGE = """usage: jina-edge-gui [--install-desktop-entry]

Start the jina-edge desktop app.

  --install-desktop-entry  add jina-edge to the desktop's application menu
                           (Linux: a .desktop file and an icon under ~/.local/share)
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Start the app, or add it to the menus (--install-desktop-entry); returns the exit code."""
    args = list(argv if argv is not None else sys.argv)
    if "-h" in args[1:] or "--help" in args[1:]:
        print(USAGE, end="")
        return 0
    if "--install-desktop-entry" in args[1:]:
        from jina_edge.gui.desktop_entry import install_desktop_entry

        try:
            written = install_desktop_entry()
        except JinaEdgeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print("added jina-edge to the application menu: " + ", ".join(map(str, written)))
        return 0
    try:
        _require_qt()
    except MissingDependencyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    from jina_edge.config import cache_dir, config_path

    try:  # the folders the environment names; a damaged config file is set aside later
        config_path()
        if os.environ.get("JINA_EDGE_CACHE"):
            cache_dir()
    except JinaEdgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    from PySide6.QtWidgets import QApplication

    missing = missing_x11_libraries()
    if missing:
        print(f"error: the desktop app needs these X11 libraries: {' '.join(missing)}; on "
              f"Debian or Ubuntu: sudo apt-get install {' '.join(missing)}", file=sys.stderr)
        return 1
    launch(args)
    return int(QApplication.exec())


if __name__ == "__main__":
    os.environ.setdefault("QT_ENABLE_HIGHDPI_SCALING", "1")
    sys.exit(main())
