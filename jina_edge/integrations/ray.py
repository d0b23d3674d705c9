"""Embedding a large corpus on a Ray cluster (extra: `pip install "jina-edge[ray]"`).

Ray Data's `map_batches` over a pool of actors, each holding one `Embedder`;
the GGUF goes to the workers through Ray's object store, so no node needs the
model installed. Example::

    import ray
    from jina_edge.integrations.ray import embed_dataset

    ray.init()                                    # or ray.init("ray://head:10001")
    texts = ray.data.read_parquet("s3://bucket/passages/")
    vectors = embed_dataset(texts, "jina-embeddings-v2-small-en", concurrency=8)
    vectors.write_parquet("s3://bucket/vectors/")
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from jina_edge.embedder import Embedder
from jina_edge.encoder import LongInputPolicy
from jina_edge.errors import MissingDependencyError
from jina_edge.models.installed import resolve_model

try:
    import ray
    import ray.data
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise MissingDependencyError(
        "the Ray recipe needs Ray Data: pip install 'jina-edge[ray]'") from exc

DEFAULT_BATCH_SIZE = 64  # texts per call into one worker's model


def embed_dataset(dataset: ray.data.Dataset, model: str | os.PathLike[str] | None = None, *,
                  column: str = "text", output_column: str = "embedding",
                  concurrency: int = 2, batch_size: int = DEFAULT_BATCH_SIZE,
                  threads: int | None = None,
                  long_input: LongInputPolicy = "truncate") -> ray.data.Dataset:
    """`dataset` with `output_column` added: the unit vector of each row's `column`.

    Args:
        dataset: rows with a text column.
        model: installed model name or GGUF path on this machine (default: the default model).
        column: the column of texts.
        output_column: the column the vectors go to.
        concurrency: workers, each with its own copy of the model.
        batch_size: texts per call into a worker's model.
        threads: CPU threads per worker (default: the worker's physical cores); give each
            worker `num_cpus` to match.
        long_input: what to do with texts longer than the model's window.

    The vectors are those of one `Embedder` over the same texts in one process.
    """
    path = resolve_model(model)
    stored = ray.put(path.read_bytes())
    return dataset.map_batches(
        _Worker, fn_constructor_args=(stored, path.name, threads, long_input, column,
                                      output_column),
        batch_size=batch_size, concurrency=concurrency, batch_format="numpy")


class _Worker:
    """One worker: the GGUF written to its node's temporary folder once, and its Embedder."""

    def __init__(self, stored: ray.ObjectRef[bytes], name: str, threads: int | None,
                 long_input: LongInputPolicy, column: str, output_column: str) -> None:
        data = ray.get(stored)  # Ray Data hands the constructor the reference itself
        digest = hashlib.sha256(data).hexdigest()[:16]
        path = Path(tempfile.gettempdir()) / "jina-edge-ray" / f"{digest}-{name}"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            partial.write_bytes(data)
            partial.replace(path)  # workers on one node share the file, never half written
        self._embedder = Embedder(path, device="cpu", threads=threads, long_input=long_input)
        self._column, self._output_column = column, output_column

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The batch with its texts' vectors added."""
        texts = [str(text) for text in batch[self._column]]
        return {**batch, self._output_column: self._embedder.embed(texts)}
