"""Hostile queries: every one is answered or refused in one line, with its work bounded.

A generator makes the classes: long texts, many distinct words, very long
words, FTS5 and LIKE syntax, control characters, lone surrogates and NULs,
alone and mixed; each runs in every mode, for files and for passages.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from jina_edge import JinaEdgeError
from jina_edge.cli.main import main
from jina_edge.index import search
from jina_edge.index.ranking import SEARCH_MODES
from jina_edge.index.search import MAX_QUERY_CHARS, MAX_QUERY_WORDS
from jina_edge.index.service import Index
from jina_edge.mcp_server import IndexTools


def hostile_queries(seed: int = 7) -> Iterator[tuple[str, str]]:
    """(class, query) pairs, some of each class, seeded."""
    rng = random.Random(seed)

    def word(n: int) -> str:
        return "".join(rng.choice(string.ascii_lowercase) for _ in range(n))

    for n in (MAX_QUERY_CHARS, MAX_QUERY_CHARS + 1, 80_000):
        yield "long text", ("pump " * n)[:n]
    for n in (MAX_QUERY_WORDS + 1, 1_250):
        yield "many words", " ".join(word(7) for _ in range(n))[:MAX_QUERY_CHARS]
    for n in (65, 9_999, 60_000):
        yield "long word", "a" * n
        yield "long word among words", "pump " + word(n) + " water"
    for syntax in ('"', '""', "NEAR(pump water)", "pump AND OR NOT", "pump*", "^pump", "-pump",
                   "col:pump", "%", "_", "\\", "%_%_\\%", "[a-z]*", "((((", "pump'; DROP TABLE"):
        yield "syntax", syntax
    for control in ("\x00", "\x1b[2J", "\x1b]0;title\x07", "\x9b31m", "\u202e", "\ud800",
                    "pump\x00water", "\r\n\t"):
        yield "control", control
    for _ in range(20):  # mixtures
        parts = [rng.choice(["pump", word(rng.randint(1, 70)), '"', "*", "\x1b", "%", "water"])
                 for _ in range(rng.randint(1, 50))]
        yield "mixed", " ".join(parts)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, jina_tiny_gguf: Path) -> Path:
    notes = tmp_path_factory.mktemp("notes")
    for i in range(12):
        (notes / f"n{i}.md").write_text(f"# Note {i}\n\nThe pump moves water uphill, {i}.\n")
    path = notes.parent / "index.db"
    with Index(path, model=str(jina_tiny_gguf)) as index:
        index.add(notes)
        index.sync()
    return path


def test_every_hostile_query_is_answered_or_refused_in_one_line(
        built: Path, jina_tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[int] = []
    real = search._Query.__init__

    def counting(self: search._Query, text: str) -> None:
        real(self, text)
        made.append(len(self.terms))

    monkeypatch.setattr(search._Query, "__init__", counting)
    counts = {"answered": 0, "refused": 0}
    with Index(built, model=str(jina_tiny_gguf)) as index:
        for kind, query in hostile_queries():
            for mode in SEARCH_MODES:
                for search_call in (index.search, index.search_passages):
                    try:
                        search_call(query, mode=mode)
                        counts["answered"] += 1
                    except JinaEdgeError as exc:
                        assert len(query) > MAX_QUERY_CHARS, (kind, query[:80], exc)
                        assert "\n" not in str(exc) and "at most 10,000" in str(exc)
                        counts["refused"] += 1
    assert counts["answered"] > 100 and counts["refused"] > 10
    assert max(made) <= MAX_QUERY_WORDS  # each word is a lookup: the work is bounded


def test_a_query_too_long_is_refused_in_every_interface(built: Path, jina_tiny_gguf: Path,
                                                        tmp_path: Path) -> None:
    from jina_edge import Embedder
    from jina_edge.server.app import BackgroundServer, create_app

    query = "pump " * 20_000
    found = CliRunner().invoke(main, ["search", query, "--index", str(built),
                                      "--model", str(jina_tiny_gguf)])
    assert found.exit_code == 1 and "Traceback" not in found.output
    assert found.output.startswith("Error: the query is 100,000 characters long")
    assert found.output.count("\n") == 1
    with Index(built, model=str(jina_tiny_gguf)) as index, pytest.raises(
            JinaEdgeError, match="at most 10,000"):
        IndexTools(index).search(query)
    with Embedder(jina_tiny_gguf) as model, BackgroundServer(
            create_app(model, indexes={"notes": built})) as server:
        response = httpx.post(f"{server.url}/v1/search", json={"query": query}, timeout=30)
    assert response.status_code == 422
    assert "10000 characters" in response.json()["error"]["message"]
