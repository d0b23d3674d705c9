"""LlamaIndex's `BaseEmbedding` over a local Jina model (`pip install "jina-edge[llama-index]"`).

Example::

    from llama_index.core import Settings
    from jina_edge.integrations.llama_index import JinaEdgeEmbedding
    Settings.embed_model = JinaEdgeEmbedding()   # the default model
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from jina_edge.embedder import Embedder
from jina_edge.encoder import LongInputPolicy
from jina_edge.errors import MissingDependencyError
from jina_edge.integrations._batches import DEFAULT_BATCH_SIZE, embed_in_batches

try:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise MissingDependencyError(
        "the LlamaIndex adapter needs llama-index-core: pip install 'jina-edge[llama-index]'"
    ) from exc


class JinaEdgeEmbedding(BaseEmbedding):
    """Embeddings from a local Jina v2 model, the same vectors as `jina_edge.embed`.

    Args:
        model: installed model name or GGUF path (default: the default model).
        embedder: an Embedder to use instead of loading `model`.
        embed_batch_size: texts embedded per call into the model (LlamaIndex batches).
        long_input: "truncate", "error" or "chunk" for texts longer than the
            window (default: the embedder's policy, "truncate" with a logged warning).
        **kwargs: the rest of BaseEmbedding's fields (callback_manager, ...).

    The async methods run the model on a worker thread.
    """

    long_input: LongInputPolicy | None = None
    _embedder: Embedder = PrivateAttr()

    def __init__(self, model: str | os.PathLike[str] | None = None, *,
                 embedder: Embedder | None = None,
                 embed_batch_size: int = DEFAULT_BATCH_SIZE,
                 long_input: LongInputPolicy | None = None, **kwargs: Any) -> None:
        embedder = embedder if embedder is not None else Embedder.from_config(model)
        info = embedder.info
        super().__init__(model_name=info.name if info is not None else embedder.model_key,
                         embed_batch_size=embed_batch_size, **kwargs)
        self.long_input = long_input
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        """LlamaIndex's name for this class (used when serialising settings)."""
        return "JinaEdgeEmbedding"

    @property
    def embedder(self) -> Embedder:
        """The loaded model."""
        return self._embedder

    def _embed(self, texts: list[str]) -> list[list[float]]:
        return embed_in_batches(self._embedder, texts, self.embed_batch_size, self.long_input)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embed([query])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embed([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embed(texts)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return (await asyncio.to_thread(self._embed, [query]))[0]

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return (await asyncio.to_thread(self._embed, [text]))[0]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._embed, texts)
