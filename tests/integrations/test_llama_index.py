"""The LlamaIndex adapter, against llama-index-core's own classes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import TextNode

import jina_edge
from jina_edge import Embedder, InputTooLongError
from jina_edge.integrations.llama_index import JinaEdgeEmbedding

TEXTS = ["the cat sat on the mat", "a quick brown fox", "embeddings on the edge",
         "late chunking keeps context", "one more text"]
WINDOW = 32


@pytest.fixture(scope="module")
def short(jina_tiny_gguf: Path) -> Iterator[Embedder]:
    with Embedder(jina_tiny_gguf, device="cpu", max_tokens=WINDOW) as e:
        yield e


def test_same_vectors_as_jina_edge_embed(jina_tiny_gguf: Path) -> None:
    model = JinaEdgeEmbedding(jina_tiny_gguf)
    assert isinstance(model, BaseEmbedding)
    assert model.model_name == model.embedder.info.name  # type: ignore[union-attr]
    expected = jina_edge.embed(TEXTS, model=jina_tiny_gguf)
    np.testing.assert_allclose(model.get_text_embedding_batch(TEXTS), expected, atol=1e-6)
    np.testing.assert_allclose(model.get_query_embedding(TEXTS[0]), expected[0], atol=1e-6)
    np.testing.assert_allclose(model.get_text_embedding(TEXTS[1]), expected[1], atol=1e-6)
    np.testing.assert_allclose(asyncio.run(model.aget_query_embedding(TEXTS[2])), expected[2],
                               atol=1e-6)
    got = asyncio.run(model.aget_text_embedding_batch(TEXTS))
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_batches_of_embed_batch_size(short: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    embed = short.embed

    def spy(texts: list[str], **kwargs: object) -> np.ndarray:
        sizes.append(len(texts))
        return embed(texts, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(short, "embed", spy)
    got = JinaEdgeEmbedding(embedder=short, embed_batch_size=2).get_text_embedding_batch(TEXTS)
    assert sizes == [2, 2, 1]
    np.testing.assert_allclose(got, embed(TEXTS), atol=1e-6)


def test_long_input_policy_is_passed_through(short: Embedder) -> None:
    text = " ".join(f"word{i % 40}" for i in range(150))
    assert short.count_tokens(text) > WINDOW
    with pytest.raises(InputTooLongError):
        JinaEdgeEmbedding(embedder=short, long_input="error").get_text_embedding(text)
    chunked = JinaEdgeEmbedding(embedder=short, long_input="chunk").get_text_embedding(text)
    np.testing.assert_allclose(chunked, short.embed(text, long_input="chunk"), atol=1e-6)
    assert not np.allclose(chunked, short.embed(text, long_input="truncate"), atol=1e-3)


def test_a_vector_store_index_retrieves_the_text(short: Embedder) -> None:
    nodes = [TextNode(text=t) for t in TEXTS]
    index = VectorStoreIndex(nodes, embed_model=JinaEdgeEmbedding(embedder=short))
    found = index.as_retriever(similarity_top_k=1).retrieve(TEXTS[3])
    assert found[0].node.get_content() == TEXTS[3]
