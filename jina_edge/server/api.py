"""What the embeddings server does: request fields, input checks, vector encodings, the work.

Kept apart from the HTTP plumbing in `jina_edge.server.app` (FastAPI app, auth,
limits, threads) so that the rules about what a request may contain and how
vectors are written can be read on their own. The decisions are listed in
docs/architecture.md, under `jina_edge/server/app.py`.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from jina_edge.embedder import Embedder
from jina_edge.errors import InputTooLongError, JinaEdgeError, SettingError
from jina_edge.index.search import MAX_QUERY_CHARS, FileHit, Hit
from jina_edge.index.service import Index, default_index_path
from jina_edge.reranker import Reranker

Encoding: TypeAlias = Literal["float", "base64", "int8", "uint8", "binary", "ubinary"]
ENCODINGS: tuple[Encoding, ...] = ("float", "base64", "int8", "uint8", "binary", "ubinary")
MAX_SEARCH_K = 100  # results per search request
MAX_REQUEST_TOKENS = 131_072  # tokens one embeddings request may run, each text cut to the window
DEFAULT_INDEX_NAME = "default"
MAX_INDEX_NAME = 64
_INDEX_NAME = re.compile(rf"[A-Za-z0-9_.-]{{1,{MAX_INDEX_NAME}}}")
LATE_CHUNK_SEPARATOR = "\n\n"  # whitespace: it adds no token between inputs


class ApiError(Exception):
    """An error answered as `{"error": {"message", "type", "code", "param"}}` (OpenAI's shape).

    Args:
        status: the HTTP status.
        message: what was wrong and what to do instead.
        code: a stable machine-readable name ("input_too_long", ...).
        param: the request field at fault, if any.
        type: OpenAI's error type ("invalid_request_error", "authentication_error", ...).
    """

    def __init__(self, status: int, message: str, *, code: str, param: str | None = None,
                 type: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type

    def body(self) -> dict[str, Any]:
        """The JSON body of the response."""
        return error_body(self.message, type=self.type, code=self.code, param=self.param)


def error_body(message: str, *, type: str, code: str, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error object, used for every error this server returns."""
    return {"error": {"message": message, "type": type, "code": code, "param": param}}


class EmbeddingsRequest(BaseModel):
    """`POST /v1/embeddings`: Jina's fields for v2 models plus OpenAI's."""

    # OpenAI clients send `user`; unknown fields are ignored as OpenAI does.
    model_config = ConfigDict(extra="allow")

    model: str | None = None
    input: Any = Field(description="a string, a list of strings or of {\"text\": ...} objects")
    normalized: bool = True
    embedding_type: str | None = None
    encoding_format: str | None = None
    truncate: bool = False
    late_chunking: bool = False
    task: str | None = None
    dimensions: int | None = None


class SearchRequest(BaseModel):
    """`POST /v1/search`."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    k: int = Field(default=10, ge=1, le=MAX_SEARCH_K)
    mode: Literal["hybrid", "semantic", "keyword"] = "hybrid"
    index: str | None = Field(default=None, max_length=MAX_INDEX_NAME)
    passages: bool = False  # passages instead of files
    rerank: bool = False  # order the best results with the server's reranker


def input_texts(value: Any, *, max_inputs: int, param: str = "input") -> list[str]:
    """The texts of an `input` field (or of the field `param`), checked.

    Raises:
        ApiError: 422 for anything but non-empty text, 413 for too many inputs.
    """
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ApiError(422, f"{param} must be a string, a list of strings or a list of "
                       '{"text": ...} objects', code="invalid_input", param=param)
    if not items:
        raise ApiError(422, f"{param} is an empty list; send at least one text",
                       code="invalid_input", param=param)
    if len(items) > max_inputs:
        raise ApiError(413, f"{param} has {len(items)} texts; this server takes at most "
                       f"{max_inputs} per request. Send them in several requests",
                       code="too_many_inputs", param=param)
    texts = []
    for i, item in enumerate(items):
        text = item.get("text") if isinstance(item, dict) else item
        if not isinstance(text, str):
            what = "an object without a text" if isinstance(item, dict) else \
                f"a {type(item).__name__}"
            raise ApiError(422, f"{param}[{i}] is {what}; this server takes text only "
                           "(token ids and images are not accepted)",
                           code="invalid_input", param=param)
        if not text.strip():
            raise ApiError(422, f"{param}[{i}] is empty or only whitespace",
                           code="invalid_input", param=param)
        texts.append(text)
    return texts


def request_encoding(embedding_type: str | None, encoding_format: str | None) -> Encoding:
    """The one encoding asked for through Jina's `embedding_type` or OpenAI's `encoding_format`.

    Raises:
        ApiError: 400 for an unknown encoding or two different ones.
    """
    if embedding_type and encoding_format and embedding_type != encoding_format:
        raise ApiError(400, f"embedding_type={embedding_type!r} and encoding_format="
                       f"{encoding_format!r} disagree; send one of them",
                       code="invalid_encoding", param="embedding_type")
    name = embedding_type or encoding_format or "float"
    for encoding in ENCODINGS:
        if name == encoding:
            return encoding
    raise ApiError(400, f"unknown embedding type {name!r}; use one of {', '.join(ENCODINGS)}",
                   code="invalid_encoding",
                   param="embedding_type" if embedding_type else "encoding_format")


def encode_vectors(vectors: np.ndarray, encoding: Encoding) -> Sequence[Any]:
    """Each row of `vectors` written as `encoding` asks.

    - float: JSON numbers (the float32 values exactly).
    - base64: the little-endian float32 bytes, base64-encoded (as OpenAI).
    - int8: round(127 * v) clipped to [-127, 127], for unit vectors.
    - uint8: the int8 value + 128, in [1, 255].
    - ubinary: one bit per dimension, 1 where v > 0, packed big-endian-first into
      bytes (numpy.packbits), the last byte padded with zeros: ceil(dim / 8) values.
    - binary: the ubinary byte - 128, as int8 (sentence-transformers'
      `quantize_embeddings` convention, which Jina's API follows).
    """
    if encoding == "float":
        return [row.tolist() for row in vectors]
    if encoding == "base64":
        return [base64.b64encode(row.astype("<f4").tobytes()).decode("ascii") for row in vectors]
    if encoding in ("int8", "uint8"):
        scaled = np.clip(np.rint(vectors.astype(np.float64) * 127.0), -127, 127).astype(np.int16)
        return [row.tolist() for row in (scaled + 128 if encoding == "uint8" else scaled)]
    bits = np.packbits(vectors > 0, axis=1).astype(np.int16)
    return [row.tolist() for row in (bits - 128 if encoding == "binary" else bits)]


def char_spans(texts: Sequence[str], separator: str) -> tuple[str, list[tuple[int, int]]]:
    """`texts` joined with `separator`, and where each one sits in the result."""
    spans = []
    start = 0
    for text in texts:
        spans.append((start, start + len(text)))
        start += len(text) + len(separator)
    return separator.join(texts), spans


@dataclass(frozen=True)
class EmbeddingJob:
    """A checked embeddings request."""

    texts: list[str]
    encoding: Encoding
    normalized: bool
    truncate: bool
    late_chunking: bool


class EmbeddingService:
    """What the endpoints do, in plain synchronous code (the server runs it on worker threads).

    Args:
        embedder: the loaded model.
        max_inputs: most texts in one request.
        indexes: the indexes /v1/search may open, by name; a request names one (or gets
            the first). None: the user's default index, as "default".
        reranker: the cross-encoder a search with `rerank` uses (None: such a search is
            refused).
    """

    def __init__(self, embedder: Embedder, *, max_inputs: int,
                 indexes: Mapping[str, Path] | None = None,
                 served_model_names: Sequence[str] = (),
                 reranker: Reranker | None = None) -> None:
        self.embedder = embedder
        self.reranker = reranker
        self.max_inputs = max_inputs
        self.indexes = dict(indexes) if indexes else {DEFAULT_INDEX_NAME: default_index_path()}
        info = embedder.info
        self.model_name = info.name if info is not None else embedder.model_key
        # The names listed by /v1/models and /api/tags: the model's own, then the
        # ones given with --served-model-name (clients that send a fixed name).
        self.listed_names = list(dict.fromkeys([self.model_name, *served_model_names]))
        self.model_names = set(self.listed_names)
        if embedder.model_path is not None:
            path = embedder.model_path
            self.model_names |= {path.name, path.stem, str(path)}
        self._indexes: dict[str, Index] = {}
        self._indexes_lock = threading.Lock()

    def check_model(self, model: str | None) -> None:
        """Refuse a request naming a model this server does not serve (None: any is fine).

        Raises:
            ApiError: 404 `model_not_found`, listing the names served.
        """
        if model and model not in self.model_names:
            raise ApiError(404, f"model {model!r} is not served here; this server answers to "
                           f"{', '.join(map(repr, self.listed_names))} (see GET /v1/models)",
                           code="model_not_found", param="model")

    def check_dimensions(self, dimensions: int | None) -> None:
        """Refuse a `dimensions` other than the model's own.

        Raises:
            ApiError: 400 `unsupported_parameter`.
        """
        dim = self.embedder.dim
        if dimensions is not None and dimensions != dim:
            raise ApiError(400, f"dimensions={dimensions}: {self.model_name} only "
                           f"makes {dim}-dimensional vectors (v2 models are not Matryoshka "
                           "models); leave dimensions out", code="unsupported_parameter",
                           param="dimensions")

    def prepare(self, request: EmbeddingsRequest) -> EmbeddingJob:
        """Check a request (cheaply, before it is queued) and say what to embed.

        Raises:
            ApiError: for anything this server or this model cannot do.
        """
        self.check_model(request.model)
        if request.task is not None:
            raise ApiError(400, f"task={request.task!r} selects an adapter of "
                           "jina-embeddings-v3; Jina v2 models have none: leave task out",
                           code="unsupported_parameter", param="task")
        self.check_dimensions(request.dimensions)
        encoding = request_encoding(request.embedding_type, request.encoding_format)
        if encoding in ("int8", "uint8") and not request.normalized:
            raise ApiError(400, f"{encoding} quantises unit vectors; send normalized=true or "
                           "ask for float", code="invalid_encoding", param="embedding_type")
        return EmbeddingJob(input_texts(request.input, max_inputs=self.max_inputs), encoding,
                            request.normalized, request.truncate, request.late_chunking)

    def embeddings(self, job: EmbeddingJob) -> bytes:
        """The JSON response body for a prepared request."""
        vectors, tokens = self.vectors(job)
        data = [{"object": "embedding", "index": i, "embedding": e}
                for i, e in enumerate(encode_vectors(vectors, job.encoding))]
        body = {"object": "list", "data": data, "model": self.model_name,
                "usage": {"total_tokens": tokens, "prompt_tokens": tokens}}
        # Serialised here, on a worker thread: large float lists are slow to write.
        return json.dumps(body, separators=(",", ":")).encode()

    def vectors(self, job: EmbeddingJob) -> tuple[np.ndarray, int]:
        """The vectors of a prepared request and the tokens it ran.

        Raises:
            ApiError: 422 `input_too_long` for a text over the window without `truncate`,
                `too_many_tokens` for more than MAX_REQUEST_TOKENS in all.
        """
        texts = job.texts
        if job.late_chunking:
            vectors, tokens = self._late_chunks(texts, job.normalized)
        else:
            window = self.embedder.max_tokens
            total = sum(min(self.embedder.count_tokens(t), window) for t in texts)
            if total > MAX_REQUEST_TOKENS:  # the body cap alone let one request run minutes
                raise ApiError(422, f"the inputs hold {total:,} tokens; one request embeds at "
                               f"most {MAX_REQUEST_TOKENS:,}. Send fewer or shorter inputs per "
                               "request", code="too_many_tokens", param="input")
            try:
                result = self.embedder.embed_result(
                    texts, normalize=job.normalized,
                    long_input="truncate" if job.truncate else "error")
            except InputTooLongError as exc:
                index = next((i for i, t in enumerate(texts)
                              if self.embedder.count_tokens(t) > exc.max_tokens), 0)
                raise ApiError(422, f"input[{index}] has {exc.n_tokens} tokens; "
                               f"{self.model_name} reads at most {exc.max_tokens}. Send "
                               "truncate=true to cut it, or split it", code="input_too_long",
                               param="input") from exc
            vectors = result.vectors
            tokens = sum(min(n, self.embedder.max_tokens) for n in result.n_tokens)
        return vectors, tokens

    def _late_chunks(self, texts: list[str], normalize: bool) -> tuple[Any, int]:
        document, spans = char_spans(texts, LATE_CHUNK_SEPARATOR)
        try:
            vectors = self.embedder.embed_late_chunks(document, spans, normalize=normalize)
        except InputTooLongError as exc:
            raise ApiError(422, f"late_chunking embeds all inputs as one document; joined they "
                           f"have {exc.n_tokens} tokens and {self.model_name} reads at most "
                           f"{exc.max_tokens}. Send fewer or shorter inputs per request",
                           code="input_too_long", param="input") from exc
        except ValueError as exc:
            raise ApiError(422, str(exc), code="invalid_input", param="input") from exc
        return vectors, self.embedder.count_tokens(document)

    def search(self, request: SearchRequest) -> dict[str, Any]:
        """Hits for a search request, from the index it names or the first one.

        A request chooses among the indexes this server was configured with, by
        name: no path a client sends is ever opened. Each index is opened once.
        """
        if request.rerank and self.reranker is None:
            raise ApiError(404, "rerank=true needs a reranker and none is served here; start "
                           "the server with `jina-edge serve --reranker NAME`",
                           code="model_not_found", param="rerank")
        name = request.index or next(iter(self.indexes))
        path = self.indexes.get(name)
        if path is None:
            raise ApiError(404, f"no index named {name!r} is served here; this server serves "
                           f"{', '.join(map(repr, self.indexes))}", code="index_not_found",
                           param="index")
        with self._indexes_lock:
            index = self._indexes.get(name)
            if index is None:
                if not path.is_file():
                    raise ApiError(404, f"index {name!r} has not been built yet; add folders "
                                   "to it and sync it", code="index_not_found", param="index")
                index = self._indexes[name] = Index(path, embedder=self.embedder,
                                                    other_query_models=False,
                                                    reranker=self.reranker)
        try:
            if request.passages:
                rows: Sequence[Hit | FileHit] = index.search_passages(
                    request.query, k=request.k, mode=request.mode, rerank=request.rerank)
            else:
                rows = index.search(request.query, k=request.k, mode=request.mode,
                                    rerank=request.rerank)
            # A client should not read [] as "the files say nothing about it".
            note = "" if rows else index.no_results_hint(request.mode)
        except JinaEdgeError as exc:
            raise ApiError(409, str(exc), code="index_unusable", param="index") from exc
        found: dict[str, Any] = {"object": "list", "index": name, "query": request.query,
                                 "mode": request.mode, "data": [row.to_dict() for row in rows]}
        if note:
            found["note"] = note
        return found

    def close(self) -> None:
        """Close the indexes opened for searches."""
        with self._indexes_lock:
            indexes, self._indexes = list(self._indexes.values()), {}
        for index in indexes:
            index.close()


def named_indexes(values: Sequence[str]) -> dict[str, Path]:
    """Indexes from `--index` values: "NAME=PATH", or a PATH named after its file.

    Raises:
        JinaEdgeError: for a name given twice or one a request could not send.
    """
    out: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            name, path = Path(value).stem, value
        name = name.strip()
        if not _INDEX_NAME.fullmatch(name):
            raise SettingError(f"{name!r} cannot name an index; use up to {MAX_INDEX_NAME} "
                                "letters, digits, '-', '_' or '.' (e.g. --index notes=PATH)")
        if name in out:
            raise SettingError(f"the index name {name!r} is given twice; name each one "
                                "with --index NAME=PATH")
        out[name] = Path(path).expanduser().absolute()
    return out

