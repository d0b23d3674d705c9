"""Ollama's embedding API on the same server: `/api/embed`, `/api/embeddings`, `/api/tags`.

The rules (limits, model names, loopback and API key) are those of the `/v1`
endpoints; only the shapes differ, following Ollama's API documentation.
docs/architecture.md lists each field.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict

from jina_edge.server.api import ApiError, EmbeddingJob, EmbeddingService, input_texts

OLLAMA_PREFIX = "/api/"
DEFAULT_TAG = ":latest"


class OllamaEmbedRequest(BaseModel):
    """`POST /api/embed`."""

    model_config = ConfigDict(extra="allow")  # Ollama ignores fields it does not know

    model: str | None = None
    input: Any
    truncate: bool = True
    keep_alive: float | str | None = None
    options: dict[str, Any] | None = None
    dimensions: int | None = None


class OllamaEmbeddingsRequest(BaseModel):
    """`POST /api/embeddings`, Ollama's older call."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    prompt: str
    keep_alive: float | str | None = None
    options: dict[str, Any] | None = None


def ollama_error(body: dict[str, Any]) -> dict[str, Any]:
    """An error body of this server (OpenAI's shape) in Ollama's shape."""
    return {"error": body["error"]["message"]}


def _check_model(service: EmbeddingService, model: str | None) -> None:
    if model and model not in service.model_names:
        model = model.removesuffix(DEFAULT_TAG)
    service.check_model(model)


def prepare_embed(service: EmbeddingService, request: OllamaEmbedRequest) -> EmbeddingJob:
    """Check an `/api/embed` request before it is queued.

    Raises:
        ApiError: as for `/v1/embeddings`.
    """
    _check_model(service, request.model)
    service.check_dimensions(request.dimensions)
    texts = input_texts(request.input, max_inputs=service.max_inputs)
    return EmbeddingJob(texts, "float", normalized=True, truncate=request.truncate,
                        late_chunking=False)


def prepare_embeddings(service: EmbeddingService,
                       request: OllamaEmbeddingsRequest) -> EmbeddingJob:
    """Check an `/api/embeddings` request before it is queued.

    Raises:
        ApiError: as for `/v1/embeddings`.
    """
    _check_model(service, request.model)
    if not request.prompt.strip():
        raise ApiError(422, "prompt is empty or only whitespace", code="invalid_input",
                       param="prompt")
    return EmbeddingJob([request.prompt], "float", normalized=False, truncate=True,
                        late_chunking=False)


def embed(service: EmbeddingService, job: EmbeddingJob, model: str | None) -> bytes:
    """The JSON body answering `/api/embed`; `model` is echoed as Ollama does."""
    start = time.perf_counter_ns()
    vectors, tokens = service.vectors(job)
    body = {"model": model or service.model_name, "embeddings": [row.tolist() for row in vectors],
            "total_duration": time.perf_counter_ns() - start, "load_duration": 0,
            "prompt_eval_count": tokens}
    return json.dumps(body, separators=(",", ":")).encode()


def embeddings(service: EmbeddingService, job: EmbeddingJob) -> bytes:
    """The JSON body answering `/api/embeddings`."""
    vectors, _ = service.vectors(job)
    return json.dumps({"embedding": vectors[0].tolist()}, separators=(",", ":")).encode()


def tags(service: EmbeddingService) -> dict[str, Any]:
    """The body answering `/api/tags`: one entry per name the server answers to."""
    embedder = service.embedder
    info = embedder.info
    path = embedder.model_path
    modified = path.stat().st_mtime if path is not None and path.exists() else 0.0
    # Ollama's digest is its blob's sha256; hashing a GGUF on every call would be
    # slow, so this one names the model's vector space (`Embedder.model_key`).
    digest = hashlib.sha256(embedder.model_key.encode()).hexdigest()
    details = {"format": "gguf",
               "family": info.architecture if info is not None else "unknown",
               "families": [info.architecture] if info is not None else [],
               "parameter_size": "", "quantization_level": info.file_type if info else "",
               "parent_model": ""}
    stamp = datetime.fromtimestamp(modified, timezone.utc).isoformat()
    return {"models": [{"name": name, "model": name, "modified_at": stamp,
                        "size": info.size_bytes if info is not None else 0,
                        "digest": digest, "details": details}
                       for name in service.listed_names]}
