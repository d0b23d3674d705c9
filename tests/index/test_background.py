"""The background a small index borrows: embedded once per model, then read from the cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jina_edge.config import cache_dir
from jina_edge.index.background import BACKGROUND_TEXTS, background_vectors


class _Counting:
    """Stands in for an Embedder: counts the texts it embeds."""

    def __init__(self, model_key: str) -> None:
        self.model_key, self.dim, self.embedded = model_key, 4, 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.embedded += len(texts)
        rng = np.random.default_rng(len(self.model_key))
        return rng.standard_normal((len(texts), self.dim)).astype(np.float32)


def test_embedded_once_per_model_and_again_when_damaged(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINA_EDGE_CACHE", str(tmp_path))
    first = _Counting("model-a")
    vectors = background_vectors(first)  # type: ignore[arg-type]
    assert vectors.shape == (len(BACKGROUND_TEXTS), 4) and first.embedded == len(BACKGROUND_TEXTS)
    again = _Counting("model-a")
    assert np.array_equal(background_vectors(again), vectors)  # type: ignore[arg-type]
    assert again.embedded == 0
    other = _Counting("model-bb")
    background_vectors(other)  # type: ignore[arg-type]
    assert other.embedded == len(BACKGROUND_TEXTS)
    for path in Path(cache_dir(), "background").glob("*.npy"):
        path.write_bytes(b"not numpy")
    damaged = _Counting("model-a")
    assert np.array_equal(background_vectors(damaged), vectors)  # type: ignore[arg-type]
    assert damaged.embedded == len(BACKGROUND_TEXTS)
