"""Watching folders: a saved file is indexed without running sync by hand."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from conftest import FakeBackend
from jina_edge import Embedder
from jina_edge.index.service import Index
from jina_edge.index.sync import SyncReport
from jina_edge.index.watch import watch


def _wait_for(condition: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_watch_indexes_changes_after_a_quiet_moment(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "first.md").write_text("first note about kites")
    index = Index(tmp_path / "i.db", embedder=Embedder(backend=FakeBackend(max_tokens=512)))
    index.add(folder)
    reports: list[SyncReport] = []
    stop = threading.Event()
    thread = threading.Thread(target=watch, args=(index,),
                              kwargs={"stop": stop, "debounce_s": 0.3, "on_sync": reports.append})
    thread.start()
    try:
        assert _wait_for(lambda: reports and reports[0].indexed == 1)
        (folder / "second.md").write_text("second note about gliders")
        assert _wait_for(lambda: index.search("gliders", mode="keyword"))
        (folder / "first.md").unlink()
        assert _wait_for(lambda: not index.search("kites", mode="keyword"))
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_watch_falls_back_to_scanning_when_watches_run_out(tmp_path: Path,
                                                           monkeypatch: object) -> None:
    import errno

    from watchdog.observers import Observer

    def refuse(self: object, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(Observer, "schedule", refuse)  # type: ignore[attr-defined]
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.md").write_text("alpha")
    index = Index(tmp_path / "i.db", embedder=Embedder(backend=FakeBackend(max_tokens=512)))
    index.add(folder)
    reports: list[SyncReport] = []
    stop = threading.Event()
    thread = threading.Thread(target=watch, args=(index,),
                              kwargs={"stop": stop, "rescan_s": 0.5, "on_sync": reports.append})
    thread.start()
    try:
        assert _wait_for(lambda: reports)
        (folder / "b.md").write_text("beta")
        assert _wait_for(lambda: index.search("beta", mode="keyword"))
    finally:
        stop.set()
        thread.join(10)
