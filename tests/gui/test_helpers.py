"""The controllers' pure helpers: text for the status bar, highlights, filters."""

from __future__ import annotations

import re
from pathlib import Path

from jina_edge.gui.folders_controller import format_duration, progress_text, report_text
from jina_edge.gui.search_controller import format_location, highlighted_html, make_filters
from jina_edge.index.search import Hit
from jina_edge.index.sync import SyncProgress, SyncReport


def test_highlighted_html_escapes_and_marks_spans() -> None:
    out = highlighted_html("a <pump> & b", [(3, 7)], "#ffe37a")
    assert out == 'a &lt;<b style="background-color:#ffe37a">pump</b>&gt; &amp; b'
    overlapping = highlighted_html("abc", [(1, 9), (0, 2)], "x")
    assert re.sub("<[^>]+>", "", overlapping) == "abc"  # clipped, no letter twice


def test_durations_and_locations() -> None:
    assert format_duration(None) == ""
    assert format_duration(42) == "42 s"
    assert format_duration(185) == "3 min 5 s"
    assert format_duration(3720) == "1 h 2 min"
    hit = Hit(Path("a.md"), 4, 9, None, "", 1.0, "t", "t")
    assert format_location(hit) == "lines 4-9"
    assert format_location(Hit(Path("a.pdf"), None, None, 3, "", 1.0, "t", "t")) == "page 3"


def test_status_lines() -> None:
    p = SyncProgress("index", 5, 1200, Path("x.md"), 2000, 8000, 12.0, 65.0)
    assert progress_text(p) == "Indexing 5 of 1,200 files · 2,000 passages · about 1 min 5 s left"
    starting = SyncProgress("index", 0, 10, Path("x.md"), 0, 0, 0.0, None)
    assert progress_text(starting) == "Indexing 0 of 10 files"
    warming = SyncProgress("index", 1, 10, Path("x.md"), 30, 300, 0.0, None)
    assert progress_text(warming).endswith("30 passages · estimating the time left")
    scanning = SyncProgress("scan", 0, 4321, Path("/home/me/notes"), 0, 0, 0.0, None)
    assert progress_text(scanning) == "Scanning notes… 4,321 files found"
    assert "cancelled" in report_text(SyncReport(indexed=2, cancelled=True))
    assert report_text(SyncReport(indexed=2, failed=1)).endswith("2 indexed, 0 unchanged, 1 failed")


def test_filters_from_the_widgets() -> None:
    f = make_filters("/notes", "markdown", "Past week", now=1_000_000.0)
    assert f.folder == Path("/notes") and f.file_types == ("markdown",)
    assert f.modified_after == 1_000_000.0 - 7 * 86400
    empty = make_filters("", "", "Any time")
    assert empty.folder is None and empty.file_types is None and empty.modified_after is None
