"""Vector search: exact scan and the HNSW graph for large indexes give the same neighbours."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jina_edge.index.db import ChunkRecord, IndexDB
from jina_edge.index.vectors import VectorSearch

DIM = 16


def _fill(db: IndexDB, tmp_path: Path, n: int, seed: int = 0) -> np.ndarray:
    root = db.add_root(tmp_path)
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    per_file = 50
    for f in range(0, n, per_file):
        part = vectors[f : f + per_file]
        chunks = [ChunkRecord(f"chunk {f + i}", "", None, None, None, f"k{f + i}")
                  for i in range(len(part))]
        db.write_file(root, tmp_path / f"f{f}.txt", size=1, mtime_ns=1, sha256=None,
                      file_type="text", status="indexed", reason=None, chunks=chunks,
                      vectors={"m": part})
    return vectors


def test_graph_agrees_with_exact_search_and_follows_changes(tmp_path: Path) -> None:
    db = IndexDB(tmp_path / "i.db")
    vectors = _fill(db, tmp_path, 2000)
    exact = VectorSearch(db, "m", exact_limit=10_000)
    graph = VectorSearch(db, "m", exact_limit=100)
    queries = vectors[:20] + 0.05
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)  # queries come normalised
    overlap = 0.0
    for q in queries:
        a = [cid for cid, _ in exact.search(q, 10)]
        b = [cid for cid, _ in graph.search(q, 10)]
        overlap += len(set(a) & set(b)) / 10
    assert overlap / len(queries) >= 0.9
    assert graph._graph is not None and graph.graph_path().exists()
    # Scores are cosines in both cases.
    top_exact = exact.search(queries[0], 1)[0]
    top_graph = graph.search(queries[0], 1)[0]
    assert abs(top_exact[1] - top_graph[1]) < 0.02
    # Deleting a file removes its vectors from the graph on the next search.
    victim = db.file(tmp_path / "f0.txt")
    assert victim is not None
    db.delete_files([victim])
    ids_after = {cid for cid, _ in graph.search(vectors[0], 50)}
    assert not ids_after & set(range(1, 51))
    # A new process reuses the saved graph and sees the same neighbours.
    again = VectorSearch(IndexDB(tmp_path / "i.db"), "m", exact_limit=100)
    same = [c for c, _ in graph.search(queries[3], 5)]
    assert [c for c, _ in again.search(queries[3], 5)] == same


def test_filters_with_the_graph(tmp_path: Path) -> None:
    db = IndexDB(tmp_path / "i.db")
    vectors = _fill(db, tmp_path, 1000, seed=1)
    graph = VectorSearch(db, "m", exact_limit=100)
    allowed = set(range(1, 40))
    hits = graph.search(vectors[500], 10, allowed)
    assert hits and all(cid in allowed for cid, _ in hits)
