"""Keyword search in other languages: Chinese without spaces, no English stemmer."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jina_edge.index.db import ChunkRecord, IndexDB
from jina_edge.index.keywords import (
    SEPARATOR,
    content_terms,
    index_form,
    match_spans,
)
from jina_edge.index.service import Index


def test_cjk_text_is_indexed_character_by_character() -> None:
    text = "安装软件包 with apt"
    form = index_form(text)
    assert form == SEPARATOR.join("安装软件包") + " with apt"
    assert form.replace(SEPARATOR, "") == text
    assert index_form("plain English, Straße") is None


def test_a_cjk_query_becomes_character_pairs() -> None:
    assert content_terms("如何安装软件包") == ["如何", "何安", "安装", "装软", "软件", "件包"]
    assert content_terms("Python教程") == ["python", "教程"]
    assert content_terms("书") == ["书"]
    assert content_terms("the 书") == ["书"]  # stop words still go


def test_match_spans_match_as_the_search_does() -> None:
    text = "Pumps and pumping; the pump. Café, cafe."
    assert [text[s:e] for s, e in match_spans(text, "pump")] == ["Pumps", "pumping", "pump"]
    assert [text[s:e] for s, e in match_spans(text, "pump ")] == ["pump"]  # a finished word
    assert [text[s:e] for s, e in match_spans(text, "cafe and")] == ["Café", "cafe"]
    # Underscores split words, as the full-text index splits them.
    assert [s for s in match_spans("read_config(path)", "config ")] == [(5, 11)]
    chinese = "请先安装软件包，然后安装。"
    assert [chinese[s:e] for s, e in match_spans(chinese, "安装软件")] == ["安装软件", "安装"]


def _index(tmp_path: Path, texts: dict[str, str]) -> Index:
    db = IndexDB(tmp_path / "i.db")
    root = db.add_root(tmp_path)
    for name, text in texts.items():
        db.write_file(root, tmp_path / name, size=1, mtime_ns=1, sha256=name, file_type="text",
                      status="indexed", reason=None,
                      chunks=[ChunkRecord(text, "", 1, 1, None, f"k:{name}")],
                      vectors={"m": np.ones((1, 4), np.float32) / 2})
    db.close()
    return Index(tmp_path / "i.db")


def test_keyword_search_finds_chinese_words_inside_a_run(tmp_path: Path) -> None:
    index = _index(tmp_path, {
        "apt.txt": "使用apt命令安装软件包的方法",
        "other.txt": "配置网络接口和防火墙规则",
    })
    hits = index.search("软件包", mode="keyword")
    assert [h.path.name for h in hits] == ["apt.txt"]
    snippet = hits[0].passages[0].snippet
    assert "".join(snippet[s:e] for s, e in hits[0].passages[0].highlights) == "软件包"
    assert index.search("防火墙", mode="keyword")[0].path.name == "other.txt"
    assert index.search("火墙防", mode="keyword")[0].path.name == "other.txt"  # pairs match
    assert hits[0].passages[0].text == "使用apt命令安装软件包的方法"  # as written


def test_no_english_stemmer_merges_other_words(tmp_path: Path) -> None:
    # Porter stems both "university" and "universe" to "univers".
    index = _index(tmp_path, {
        "a.txt": "Die Universität liegt am Fluss.",
        "b.txt": "The universe is large.",
        "c.txt": "Las universidades públicas.",
    })
    assert [h.path.name for h in index.search("university ", mode="keyword")] == []
    assert [h.path.name for h in index.search("Universitat ", mode="keyword")] == ["a.txt"]
    assert [h.path.name for h in index.search("publicas ", mode="keyword")] == ["c.txt"]


def test_a_lone_letter_or_digit_is_marked_only_when_the_query_has_nothing_longer() -> None:
    # Every "a", "b" and "5" of a passage lit up for "plan b step 5" (issue 30).
    text = "Plan B: at step 5 open valve b, then a 5 minute pump run."
    assert [text[s:e] for s, e in match_spans(text, "plan b step 5 ")] == ["Plan", "step"]
    assert [text[s:e] for s, e in match_spans(text, "5")] == ["5", "5"]
