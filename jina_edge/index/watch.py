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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 2.0
MAX_WAIT_SECONDS = 30.0  # a file written without pause must not hold back every other change
RESCAN_SECONDS = 600.0  # a full scan every 10 minutes, watching or not
FALLBACK_RESCAN_SECONDS = 60.0  # when the folders cannot be watched


def watch_changes(folders: Sequence[Path], *, ignored: tuple[str, ...] = (),
                  stop: threading.Event, on_change: Callable[[], None],
                  debounce_s: float = DEBOUNCE_SECONDS, rescan_s: float = RESCAN_SECONDS,
                  max_wait_s: float = MAX_WAIT_SECONDS, now: bool = True) -> None:
    """Call `on_change` now (unless not `now`) and after each burst of changes in `folders`.

    Changes to paths that start with one of `ignored` (the index's own files)
    do not count.

    A burst ends when nothing changed for `debounce_s`, or `max_wait_s` after it
    began. Also every `rescan_s`, to catch what the watches missed, until `stop`
    is set. Changes made while `on_change` runs call it again once it returns.
    """
    changed = threading.Event()
    observer = _start_observer(folders, ignored, changed)
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


def _start_observer(folders: Sequence[Path], ignored: tuple[str, ...],
                    changed: threading.Event) -> Any:
    """A running watchdog observer over `folders`, or None to rely on rescans."""
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.event_type in ("opened", "closed_no_write"):
                return
            if ignored and str(event.src_path).startswith(ignored):
                return  # our own database writes
            changed.set()

    observer = Observer()
    try:
        for folder in folders:
            observer.schedule(Handler(), str(folder), recursive=True)
        observer.start()
    except OSError as exc:
        logger.warning("cannot watch the folders (%s); scanning every %.0f s instead. On Linux, "
                       "raise fs.inotify.max_user_watches to watch large trees", exc,
                       FALLBACK_RESCAN_SECONDS)
        return None
    return observer
