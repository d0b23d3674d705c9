"""Nearest-neighbour search over an index's chunk vectors.

Up to `EXACT_LIMIT` vectors an exact cosine scan in numpy is fast enough. Past
that its time grows linearly, so a usearch HNSW graph (int8) takes over. The graph
is kept in a file next to the database and brought up to date incrementally.
docs/performance.md ("Index: indexing and search speed") has the timings.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from jina_edge.index.background import MIN_BACKGROUND
from jina_edge.index.db import IndexDB

logger = logging.getLogger(__name__)

EXACT_LIMIT = 200_000
# Filters are applied after the graph search; read this many times more
# candidates so that a filter still leaves enough.
ANN_OVERFETCH = 20
# Passages sampled to tell a query's background similarity from a match.
BACKGROUND_SAMPLE = 2048


class VectorSearch:
    """Cosine search over the vectors of one model in one index."""

    def __init__(self, db: IndexDB, model: str, *, exact_limit: int = EXACT_LIMIT) -> None:
        self.db = db
        self.model = model
        self.exact_limit = exact_limit
        self._lock = threading.Lock()
        self._generation = -1
        self._ids = np.zeros(0, np.int64)
        self._matrix = np.zeros((0, 0), np.float32)
        self._graph: Any = None
        self._sample = np.zeros((0, 0), np.float32)

    def search(self, query: np.ndarray, limit: int,
               allowed: set[int] | None = None) -> list[tuple[int, float]]:
        """(chunk id, cosine) of the `limit` nearest chunks, best first."""
        with self._lock:
            self._refresh()
            if len(self._ids) == 0:
                return []
            if self._graph is not None and (allowed is None or len(allowed) > self.exact_limit):
                return self._search_graph(query, limit, allowed)
            return self._search_exact(query, limit, allowed)

    def background(self, query: np.ndarray, background: Callable[[], np.ndarray] | None = None
                   ) -> tuple[float, float]:
        """Mean and standard deviation of the query's cosine to passages at random.

        A match is judged by how far it stands above those (search.py), which
        works for any model and corpus, where a fixed cosine would not (each
        model has its own range). background: vectors of unrelated texts, asked
        for when the index has fewer than `MIN_BACKGROUND` passages of its own
        (index/background.py).
        """
        with self._lock:
            self._refresh()
            sample = self._sample
        cosines = sample @ query
        if len(sample) < MIN_BACKGROUND and background is not None:
            cosines = np.concatenate([cosines, background() @ query])
        mean = float(cosines.mean()) if len(cosines) > 1 else 0.0
        std = max(float(cosines.std()), 1e-6) if len(cosines) > 1 else 1.0
        return mean, std

    def prepare(self) -> None:
        """Bring the in-memory vectors, and for a large index the graph, up to date now."""
        with self._lock:
            self._refresh()

    def _refresh(self) -> None:
        generation = self.db.generation()
        if generation == self._generation:
            return
        self._ids, self._matrix = self.db.all_vectors(self.model)
        rows = np.random.default_rng(0).permutation(len(self._ids))[:BACKGROUND_SAMPLE]
        self._sample = self._matrix[np.sort(rows)]
        self._graph = None
        if len(self._ids) > self.exact_limit:
            self._graph = self._load_graph()
            # The graph holds its own int8 copy; a filtered search reads the few
            # vectors it needs from the database instead of keeping 2 GB per 1M.
            self._matrix = np.zeros((0, self._matrix.shape[1]), np.float32)
        self._generation = generation

    def _search_exact(self, query: np.ndarray, limit: int,
                      allowed: set[int] | None) -> list[tuple[int, float]]:
        ids, matrix = self._ids, self._matrix
        if allowed is not None and self._graph is not None:
            ids, matrix = self.db.vectors_for(self.model, sorted(allowed))
        elif allowed is not None:
            mask = np.isin(ids, np.fromiter(allowed, dtype=np.int64, count=len(allowed)))
            ids, matrix = ids[mask], matrix[mask]
        if len(ids) == 0:
            return []
        scores = matrix @ query
        n = min(limit, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top])]
        return [(int(ids[i]), float(scores[i])) for i in top]

    def _search_graph(self, query: np.ndarray, limit: int,
                      allowed: set[int] | None) -> list[tuple[int, float]]:
        fetch = limit * (ANN_OVERFETCH if allowed is not None else 1)
        found = self._graph.search(query, fetch)
        out = []
        for key, distance in zip(found.keys.tolist(), found.distances.tolist(), strict=True):
            if allowed is None or key in allowed:
                out.append((int(key), 1.0 - float(distance)))  # cosine distance -> similarity
        return out[:limit]

    def graph_path(self) -> Path:
        """Where the HNSW graph of this model is kept."""
        tag = hashlib.sha256(self.model.encode()).hexdigest()[:12]
        return self.db.path.with_name(f"{self.db.path.name}.{tag}.usearch")

    def _load_graph(self) -> Any:
        """The HNSW graph, updated to hold exactly the current vectors."""
        from usearch.index import Index as Graph

        path = self.graph_path()
        graph = Graph(ndim=self._matrix.shape[1], metric="cos", dtype="i8")
        if path.exists():
            try:
                graph.load(str(path))
            except (RuntimeError, ValueError, OSError) as exc:
                logger.warning("rebuilding the vector graph %s: %s", path, exc)
                graph = Graph(ndim=self._matrix.shape[1], metric="cos", dtype="i8")
        present = np.asarray(graph.keys, dtype=np.int64) if len(graph) else np.zeros(0, np.int64)
        stale = np.setdiff1d(present, self._ids, assume_unique=True)
        if len(stale):
            graph.remove(stale)
        fresh = np.isin(self._ids, present, invert=True)
        if fresh.any():
            logger.info("adding %d vectors to the graph %s", int(fresh.sum()), path)
            graph.add(self._ids[fresh], self._matrix[fresh])
        if len(stale) or fresh.any():
            tmp = path.with_name(path.name + ".tmp")
            graph.save(str(tmp))
            tmp.replace(path)
        return graph
