"""The Ray recipe on a local Ray cluster the test starts: the same vectors as one process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from jina_edge import Embedder

ray = pytest.importorskip("ray", reason="the Ray recipe needs the ray extra")

from jina_edge.integrations.ray import embed_dataset  # noqa: E402


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A local Ray cluster of its own (two CPUs), stopped after the tests."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _temp_dir=str(tmp_path_factory.mktemp("ray")),
             runtime_env={"env_vars": {  # the workers' own home and cache, not the user's
                 "JINA_EDGE_HOME": str(tmp_path_factory.mktemp("worker-home")),
                 "JINA_EDGE_CACHE": str(tmp_path_factory.mktemp("worker-cache"))}})
    try:
        yield
    finally:
        ray.shutdown()


def test_a_corpus_embedded_by_a_pool_of_workers_gets_one_processs_vectors(
        cluster: None, jina_tiny_gguf: Path) -> None:
    texts = [f"Passage {i}: the pump moves {i} litres of water per minute." for i in range(150)]
    texts[7] = "a much longer passage " * 40
    dataset = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(texts)])
    rows = embed_dataset(dataset, jina_tiny_gguf, concurrency=2, batch_size=16,
                         threads=1).take_all()
    assert sorted(r["id"] for r in rows) == list(range(len(texts)))
    got = np.stack([r["embedding"] for r in sorted(rows, key=lambda r: r["id"])])
    with Embedder(jina_tiny_gguf, device="cpu") as embedder:
        expected = embedder.embed(texts)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)
