"""Search with reranking: the best results reordered by a cross-encoder, off by default."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import FakeBackend
from jina_edge import Embedder, Reranker, RerankResult
from jina_edge.cli.main import main
from jina_edge.index.service import Index

NOTES = {
    "pump.md": "We sized the pump for a peak flow of twelve litres per minute.",
    "bread.md": "The pump in the bakery moves dough; bread rises overnight.",
    "lights.md": "The pump panel lights run for sixteen hours a day.",
}


class WordReranker:
    """Scores a passage by whether it holds a chosen word; records what it was asked."""

    def __init__(self, word: str) -> None:
        self.word = word
        self.calls: list[tuple[str, list[str]]] = []

    def score(self, query: str, documents: Sequence[str]) -> list[RerankResult]:
        self.calls.append((query, list(documents)))
        return [RerankResult(i, 0.9 if self.word in d else 0.1, 0.0, 1, False, 1)
                for i, d in enumerate(documents)]


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text)
    return folder


def _index(tmp_path: Path, notes: Path, reranker: object) -> Index:
    index = Index(tmp_path / "i.db", embedder=Embedder(backend=FakeBackend(max_tokens=512)),
                  reranker=reranker)  # type: ignore[arg-type]
    index.add(notes)
    index.sync()
    return index


def test_reranking_is_off_by_default_and_orders_by_the_reranker(
        tmp_path: Path, notes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = WordReranker("bread")
    with _index(tmp_path, notes, fake) as index:
        plain = index.search("pump", mode="keyword", k=3)
        assert fake.calls == [] and all(f.rerank_score is None for f in plain)
        files = index.search("pump", mode="keyword", k=3, rerank=True)
        assert files[0].path.name == "bread.md" and files[0].rerank_score == 0.9
        assert sorted(f.path for f in files) == sorted(f.path for f in plain)
        # One pair per file: the query with the file's best passage.
        assert fake.calls[-1] == ("pump", [f.passages[0].text for f in plain])
        hits = index.search_passages("pump", mode="keyword", k=1, rerank=True)
        assert [h.path.name for h in hits] == ["bread.md"] and hits[0].rerank_score == 0.9
        assert len(fake.calls[-1][1]) == 3  # the best 20 candidates, not just k
        monkeypatch.setenv("JINA_EDGE_RERANK", "1")
        assert index.search("pump", mode="keyword", k=3)[0].path.name == "bread.md"
        assert index.search("pump", mode="keyword", k=3, rerank=False) == plain
        monkeypatch.setenv("JINA_EDGE_RERANK_DEPTH", "1")
        index.search_passages("pump", mode="keyword", k=2)
        assert len(fake.calls[-1][1]) == 2  # at least k


def test_a_real_reranker_and_the_command_line(tmp_path: Path, notes: Path,
                                              jina_tiny_gguf: Path, reranker_gguf: Path) -> None:
    with Reranker(reranker_gguf, device="cpu") as reranker, \
            _index(tmp_path, notes, reranker) as index:
        files = index.search("pump", mode="keyword", k=3, rerank=True)
        expected = {r.index: r.score for r in reranker.score(
            "pump", [f.passages[0].text for f in index.search("pump", mode="keyword", k=3)])}
        assert [f.rerank_score for f in files] == sorted(expected.values(), reverse=True)
    common = ["--index", str(tmp_path / "cli.db"), "--model", str(jina_tiny_gguf)]
    runner = CliRunner()
    assert runner.invoke(main, ["index", "add", str(notes), *common]).exit_code == 0
    assert runner.invoke(main, ["index", "sync", *common]).exit_code == 0
    found = runner.invoke(main, ["search", "pump", "--mode", "keyword", "--rerank",
                                 "--reranker", str(reranker_gguf), *common])
    assert found.exit_code == 0, found.output
    assert found.output.count("reranker 0.") == 3
    plain = runner.invoke(main, ["search", "pump", "--mode", "keyword", *common])
    assert "reranker 0." not in plain.output and len(re.findall(r"\.md  [01]\.\d{3}\n",
                                                                plain.output)) == 3
    missing = runner.invoke(main, ["search", "pump", "--rerank", *common])
    assert missing.exit_code == 1
    assert missing.output.startswith("Error: model 'jina-reranker-v1-turbo-en' is not installed")
