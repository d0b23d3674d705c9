"""GUI test fixtures: offscreen Qt, the fake backend, a sample folder, a window factory."""

from __future__ import annotations

import os

# Before anything imports Qt: no display needed, and no session bus: the
# person's own file manager stays out of reach, as their launchers do.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=/nonexistent/jina-edge-tests"

import importlib.util  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

# pytest drops the root conftest from sys.modules when it imports this one
# (both are "conftest"), so load the root one by path and re-export what the
# tests (and `from conftest import FakeBackend` elsewhere) need.
_spec = importlib.util.spec_from_file_location(
    "_jina_edge_root_conftest", Path(__file__).resolve().parents[1] / "conftest.py")
assert _spec is not None and _spec.loader is not None
_root = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _root
_spec.loader.exec_module(_root)
FakeBackend = _root.FakeBackend

PUMP = """# Greenhouse

## Pump

We sized the pump for a peak flow of twelve litres per minute, with a
pressure head of three metres.

## Lights

The LED panels run for sixteen hours a day.
"""


@pytest.fixture(autouse=True)
def _collect_qt_garbage() -> Iterator[None]:
    """After each GUI test, free its garbage here, on the GUI thread, and let Python collect
    by itself again until the next window (the app turns automatic collection off).
    """
    import gc

    yield
    gc.collect()
    gc.enable()


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    """A folder with a few notes; greenhouse.md holds the pump passage."""
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "greenhouse.md").write_text(PUMP)
    (folder / "shopping.txt").write_text("Buy eggs, milk and bread.\n")
    (folder / "pond.md").write_text("# Pond\n\nThe pond pump runs at night.\n")
    return folder


@pytest.fixture
def fake_embedder() -> Any:
    """A fast fake model, shared by every Index of a test."""
    from jina_edge import Embedder

    return Embedder(backend=FakeBackend(max_tokens=512))


@pytest.fixture
def index_path(tmp_path: Path) -> Path:
    """The test's index database."""
    return tmp_path / "index.db"


@pytest.fixture
def open_index(index_path: Path, fake_embedder: Any) -> Callable[[], Any]:
    """A factory of Index objects on the test's database and the fake model."""
    from jina_edge.index.service import Index

    return lambda: Index(index_path, embedder=fake_embedder)


@pytest.fixture
def make_window(qtbot: Any, open_index: Callable[[], Any]) -> Iterator[Callable[..., Any]]:
    """Make main windows; each is closed (and its workers stopped) after the test."""
    from jina_edge.gui.app import build_window

    windows: list[Any] = []

    def make(factory: Callable[[], Any] | None = None, first_run: bool = False) -> Any:
        window = build_window(factory or open_index, first_run=first_run)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()


class Launcher:
    """Fake `xdg-open`, `xdg-mime`, `evince` and `gedit` on PATH, recording each command line.

    `xdg-mime` says PDFs open in Evince and text in gedit, so the app's choice
    of command (page for a PDF, line for text) is what gets recorded.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.log = folder / "opened.log"
        folder.mkdir()
        record = f'#!/bin/sh\necho "${{0##*/}} $*" >> "{self.log}"\n'
        for name in ("xdg-open", "evince", "gedit"):
            self._script(name, record)
        self._script("xdg-mime", """#!/bin/sh
case "$2 $3" in
  "filetype "*.pdf) echo application/pdf ;;
  "filetype "*) echo text/plain ;;
  "default application/pdf") echo org.gnome.Evince.desktop ;;
  "default text/plain") echo org.gnome.gedit.desktop ;;
esac
""")

    def _script(self, name: str, text: str) -> None:
        path = self.folder / name
        path.write_text(text)
        path.chmod(0o755)

    def remove(self, name: str) -> None:
        (self.folder / name).unlink()

    def opened(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def launcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Launcher:
    """The fake launchers, alone on PATH: whatever the machine has installed is out of reach."""
    fake = Launcher(tmp_path / "bin")
    monkeypatch.setenv("PATH", str(fake.folder))
    return fake
