"""Watching folders: a saved file is indexed without running sync by hand.

The tests wait on the syncs themselves (each report arrives through a queue)
and check the index after each one, so a slow machine only makes them slower.
The timeout is there to fail rather than hang, not to pace the test.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import FakeBackend
from jina_edge import Embedder
from jina_edge.index import watch as watch_module
from jina_edge.index.service import Index
from jina_edge.index.sync import SyncReport

GIVE_UP_S = 120.0


class Watcher:
    """`watch()` on a thread, with its sync reports in a queue."""

    def __init__(self, index: Index, **kwargs: float) -> None:
        self.index = index
        self.reports: queue.Queue[SyncReport] = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=index.watch, args=(self.stop, self.sync),
                                       kwargs=kwargs)

    def sync(self) -> None:
        self.reports.put(self.index.sync(cancel=self.stop))

    def next_report(self) -> SyncReport:
        return self.reports.get(timeout=GIVE_UP_S)

    def sync_until(self, condition: Callable[[], object]) -> None:
        """Wait for syncs until `condition` holds after one of them."""
        deadline = time.monotonic() + GIVE_UP_S
        while not condition():
            self.reports.get(timeout=max(0.0, deadline - time.monotonic()))


@pytest.fixture
def start_watcher() -> Iterator[Callable[..., Watcher]]:
    started: list[Watcher] = []

    def start(index: Index, **kwargs: float) -> Watcher:
        watcher = Watcher(index, **kwargs)
        watcher.thread.start()
        started.append(watcher)
        return watcher

    yield start
    for watcher in started:
        watcher.stop.set()
        watcher.thread.join(30)
        assert not watcher.thread.is_alive()


def _index(tmp_path: Path, files: dict[str, str]) -> tuple[Index, Path]:
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    index = Index(tmp_path / "i.db", embedder=Embedder(backend=FakeBackend(max_tokens=512)))
    index.add(folder)
    return index, folder


def _save(path: Path, text: str) -> None:
    """Save as editors do: write elsewhere, then rename into place (one event, whole content)."""
    staging = path.parent.parent / (path.name + ".tmp")
    staging.write_text(text)
    os.replace(staging, path)


def test_watch_indexes_changes_after_a_quiet_moment(tmp_path: Path,
                                                     start_watcher: Callable[..., Watcher]) -> None:
    index, folder = _index(tmp_path, {"first.md": "first note about kites"})
    watcher = start_watcher(index, debounce_s=0.3)
    assert watcher.next_report().indexed == 1
    _save(folder / "second.md", "second note about gliders")
    watcher.sync_until(lambda: index.search("gliders", mode="keyword"))
    (folder / "first.md").unlink()
    watcher.sync_until(lambda: not index.search("kites", mode="keyword"))


def test_watch_syncs_at_once_on_a_freshly_booted_machine(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        start_watcher: Callable[..., Watcher]) -> None:
    # time.monotonic() counts from boot on Linux; the first sync used to wait
    # until it passed the rescan interval (10 minutes), so a watcher started by
    # systemd at boot, or a test on a new CI machine, saw no sync for minutes.
    booted = time.monotonic() - 5.0
    clock = types.SimpleNamespace(monotonic=lambda: time.monotonic() - booted)
    monkeypatch.setattr(watch_module, "time", clock)
    index, _ = _index(tmp_path, {"a.md": "alpha"})
    watcher = start_watcher(index)
    assert watcher.next_report().indexed == 1


def test_watch_falls_back_to_scanning_when_watches_run_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        start_watcher: Callable[..., Watcher]) -> None:
    import errno

    from watchdog.observers import Observer

    def refuse(self: object, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(Observer, "schedule", refuse)
    index, folder = _index(tmp_path, {"a.md": "alpha"})
    watcher = start_watcher(index, rescan_s=0.5)
    assert watcher.next_report().indexed == 1
    _save(folder / "b.md", "beta")
    watcher.sync_until(lambda: index.search("beta", mode="keyword"))


def test_a_file_written_all_the_time_does_not_hold_back_other_changes(
        tmp_path: Path, start_watcher: Callable[..., Watcher]) -> None:
    index, folder = _index(tmp_path, {"log.txt": "start"})
    watcher = start_watcher(index, debounce_s=0.5, max_wait_s=2.0)
    assert watcher.next_report().indexed == 1
    stop_writing = threading.Event()

    def write_forever() -> None:  # more often than the debounce: the burst never ends
        with (folder / "log.txt").open("a") as log:
            while not stop_writing.wait(0.1):
                log.write("tick\n")
                log.flush()

    writer = threading.Thread(target=write_forever)
    writer.start()
    try:
        time.sleep(0.3)
        _save(folder / "new.md", "a new note about herons")
        watcher.sync_until(lambda: index.search("herons", mode="keyword"))
    finally:
        stop_writing.set()
        writer.join()
