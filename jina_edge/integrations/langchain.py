"""LangChain's `Embeddings` over a local Jina model (extra: `pip install "jina-edge[langchain]"`).

Example::

    from jina_edge.integrations.langchain import JinaEdgeEmbeddings
    embeddings = JinaEdgeEmbeddings()          # the default model
    embeddings.embed_documents(["first", "second"])
"""

from __future__ import annotations

import os

from jina_edge.embedder import Embedder
from jina_edge.encoder import LongInputPolicy
from jina_edge.errors import MissingDependencyError
from jina_edge.integrations._batches import DEFAULT_BATCH_SIZE, embed_in_batches

try:
    from langchain_core.embeddings import Embeddings
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise MissingDependencyError(
        "the LangChain adapter needs langchain-core: pip install 'jina-edge[langchain]'"
    ) from exc


class JinaEdgeEmbeddings(Embeddings):
    """Embeddings from a local Jina v2 model, the same vectors as `jina_edge.embed`.

    Args:
        model: installed model name or GGUF path (default: the default model).
        embedder: an Embedder to use instead of loading `model`.
        batch_size: texts embedded per call into the model.
        long_input: "truncate", "error" or "chunk" for texts longer than the
            window (default: the embedder's policy, "truncate" with a logged warning).

    The async variants (`aembed_documents`, `aembed_query`) are LangChain's: they
    run these methods on a worker thread.
    """

    def __init__(self, model: str | os.PathLike[str] | None = None, *,
                 embedder: Embedder | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                 long_input: LongInputPolicy | None = None) -> None:
        self.embedder = embedder if embedder is not None else Embedder.from_config(model)
        self.batch_size = batch_size
        self.long_input = long_input

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One unit vector per text, in order."""
        return embed_in_batches(self.embedder, texts, self.batch_size, self.long_input)

    def embed_query(self, text: str) -> list[float]:
        """The unit vector of one query (Jina v2 embeds queries and documents alike)."""
        return embed_in_batches(self.embedder, [text], 1, self.long_input)[0]
