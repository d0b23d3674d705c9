"""The LangChain adapter, against langchain-core's own classes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore

import jina_edge
from jina_edge import Embedder, InputTooLongError
from jina_edge.integrations.langchain import JinaEdgeEmbeddings

TEXTS = ["the cat sat on the mat", "a quick brown fox", "embeddings on the edge",
         "late chunking keeps context", "one more text"]
WINDOW = 32


@pytest.fixture(scope="module")
def short(jina_tiny_gguf: Path) -> Iterator[Embedder]:
    """The tiny model with a short window, so that long input is cheap."""
    with Embedder(jina_tiny_gguf, device="cpu", max_tokens=WINDOW) as e:
        yield e


def long_text() -> str:
    return " ".join(f"word{i % 40}" for i in range(150))


def test_same_vectors_as_jina_edge_embed(jina_tiny_gguf: Path) -> None:
    embeddings = JinaEdgeEmbeddings(jina_tiny_gguf)
    assert isinstance(embeddings, Embeddings)
    expected = jina_edge.embed(TEXTS, model=jina_tiny_gguf)
    np.testing.assert_allclose(embeddings.embed_documents(TEXTS), expected, atol=1e-6)
    np.testing.assert_allclose(embeddings.embed_query(TEXTS[1]), expected[1], atol=1e-6)
    got = asyncio.run(embeddings.aembed_documents(TEXTS))
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(asyncio.run(embeddings.aembed_query(TEXTS[2])), expected[2],
                               atol=1e-6)


def test_batches_of_batch_size(short: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    embed = short.embed

    def spy(texts: list[str], **kwargs: object) -> np.ndarray:
        sizes.append(len(texts))
        return embed(texts, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(short, "embed", spy)
    got = JinaEdgeEmbeddings(embedder=short, batch_size=2).embed_documents(TEXTS)
    assert sizes == [2, 2, 1]
    np.testing.assert_allclose(got, embed(TEXTS), atol=1e-6)
    assert JinaEdgeEmbeddings(embedder=short).embed_documents([]) == []


def test_long_input_policy_is_passed_through(short: Embedder) -> None:
    text = long_text()
    assert short.count_tokens(text) > WINDOW
    with pytest.raises(InputTooLongError):
        JinaEdgeEmbeddings(embedder=short, long_input="error").embed_documents([text])
    chunked = JinaEdgeEmbeddings(embedder=short, long_input="chunk").embed_query(text)
    np.testing.assert_allclose(chunked, short.embed(text, long_input="chunk"), atol=1e-6)
    cut = JinaEdgeEmbeddings(embedder=short, long_input="truncate").embed_query(text)
    np.testing.assert_allclose(cut, short.embed(text, long_input="truncate"), atol=1e-6)
    assert not np.allclose(chunked, cut, atol=1e-3)  # the policy made a difference


def test_a_langchain_vector_store_finds_the_text(short: Embedder) -> None:
    store = InMemoryVectorStore(embedding=JinaEdgeEmbeddings(embedder=short))
    store.add_texts(TEXTS)
    found = store.similarity_search(TEXTS[3], k=1)
    assert found[0].page_content == TEXTS[3]


def test_a_bad_batch_size_is_refused(short: Embedder) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        JinaEdgeEmbeddings(embedder=short, batch_size=0).embed_documents(TEXTS)
