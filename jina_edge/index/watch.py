"""Watching an index's folders and syncing when files change.

Changes are collected by watchdog and synced once the folders have been quiet
for a moment (debounce), since editors save in bursts, or once changes have
kept coming for MAX_WAIT_SECONDS (a log written all the time). When the operating
system refuses more watches (Linux's inotify limit), watching falls back to a
periodic scan; a periodic scan also runs anyway, to catch anything missed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from jina_edge.index.service import Index
from jina_edge.index.sync import SyncReport

logger = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 2.0
MAX_WAIT_SECONDS = 30.0  # a file written without pause must not hold back every other change
RESCAN_SECONDS = 600.0  # a full scan every 10 minutes, watching or not
FALLBACK_RESCAN_SECONDS = 60.0  # when the folders cannot be watched


def watch(index: Index, *, stop: threading.Event, debounce_s: float = DEBOUNCE_SECONDS,
          rescan_s: float = RESCAN_SECONDS, max_wait_s: float = MAX_WAIT_SECONDS,
          on_sync: Callable[[SyncReport], None] | None = None) -> None:
    """Sync `index` now and after every burst of changes, until `stop` is set."""

    def sync() -> None:
        report = index.sync(cancel=stop)
        if on_sync is not None:
            on_sync(report)

    watch_changes(index, stop=stop, on_change=sync, debounce_s=debounce_s, rescan_s=rescan_s,
                  max_wait_s=max_wait_s)


def watch_changes(index: Index, *, stop: threading.Event, on_change: Callable[[], None],
                  debounce_s: float = DEBOUNCE_SECONDS, rescan_s: float = RESCAN_SECONDS,
                  max_wait_s: float = MAX_WAIT_SECONDS, now: bool = True) -> None:
    """Call `on_change` now (unless not `now`) and after each burst of changes in the folders.

    A burst ends when nothing changed for `debounce_s`, or `max_wait_s` after it
    began. Also every `rescan_s`, to catch what the watches missed, until `stop`
    is set. Changes made while `on_change` runs call it again once it returns.
    """
    changed = threading.Event()
    observer = _start_observer(index, changed)
    if observer is None:
        rescan_s = min(rescan_s, FALLBACK_RESCAN_SECONDS)
    # Not 0.0: time.monotonic() counts from boot on Linux, so a watcher started
    # in the first RESCAN_SECONDS after boot (a systemd unit, a fresh CI machine)
    # would otherwise wait that long for its first sync.
    last_scan = float("-inf") if now else time.monotonic()
    try:
        while not stop.is_set():
            due = time.monotonic() - last_scan >= rescan_s
            if due or changed.is_set():
                # Wait for the burst to end: sync once nothing changed for debounce_s.
                began = time.monotonic()
                while (changed.is_set() and not stop.is_set()
                       and time.monotonic() - began < max_wait_s):
                    changed.clear()
                    stop.wait(debounce_s)
                if stop.is_set():
                    break
                on_change()
                last_scan = time.monotonic()
            stop.wait(0.2)
    finally:
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)


def _start_observer(index: Index, changed: threading.Event) -> Any:
    """A running watchdog observer over every root, or None to rely on rescans."""
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    ignored = (str(index.path), str(index.path) + "-wal", str(index.path) + "-shm")

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.event_type in ("opened", "closed_no_write"):
                return
            if str(event.src_path).startswith(ignored):
                return  # our own database writes
            changed.set()

    observer = Observer()
    try:
        for root in index.roots():
            if root.path.is_dir() and not root.paused:
                observer.schedule(Handler(), str(root.path), recursive=True)
        observer.start()
    except OSError as exc:
        logger.warning("cannot watch the folders (%s); scanning every %.0f s instead. On Linux, "
                       "raise fs.inotify.max_user_watches to watch large trees", exc,
                       FALLBACK_RESCAN_SECONDS)
        return None
    return observer
