"""What both framework adapters do: embed texts a batch at a time, as lists of floats."""

from __future__ import annotations

from collections.abc import Sequence

from jina_edge.embedder import Embedder
from jina_edge.encoder import LongInputPolicy

DEFAULT_BATCH_SIZE = 32  # texts per call into the model: bounds the memory of one call


def embed_in_batches(embedder: Embedder, texts: Sequence[str], batch_size: int,
                     long_input: LongInputPolicy | None) -> list[list[float]]:
    """`texts` embedded `batch_size` at a time (unit vectors), as plain lists of floats."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    out: list[list[float]] = []
    for start in range(0, len(texts), batch_size):
        batch = list(texts[start:start + batch_size])
        out.extend(embedder.embed(batch, long_input=long_input).tolist())
    return out
