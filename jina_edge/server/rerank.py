"""`POST /v1/rerank` in the shape of Jina's hosted Rerank API, served with a local cross-encoder.

`relevance_score` is sigmoid(logit), as sentence-transformers' CrossEncoder gives.
The limits, errors and loopback rules are those of the other endpoints.
docs/architecture.md lists the fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from jina_edge.errors import InputTooLongError
from jina_edge.reranker import Reranker
from jina_edge.server.api import ApiError, input_texts


class RerankRequest(BaseModel):
    """`POST /v1/rerank`."""

    model_config = ConfigDict(extra="allow")  # as the other endpoints, unknown fields are ignored

    model: str | None = None
    query: Any = Field(description="the text to rank the documents for")
    documents: Any = Field(description='a list of strings or of {"text": ...} objects')
    top_n: int | None = Field(default=None, ge=1)
    return_documents: bool = True
    truncate: bool = False


@dataclass(frozen=True)
class RerankJob:
    """A checked rerank request."""

    query: str
    documents: list[str]
    top_n: int | None
    return_documents: bool
    truncate: bool


class RerankService:
    """What `/v1/rerank` does, in plain synchronous code (run on the server's worker threads).

    Args:
        reranker: the loaded cross-encoder, or None when the server has none
            (every request is then a 404 that says how to start one).
        max_inputs: most documents in one request.
    """

    def __init__(self, reranker: Reranker | None, *, max_inputs: int) -> None:
        self.reranker = reranker
        self.max_inputs = max_inputs
        self.model_names: set[str] = set()
        if reranker is not None:
            self.model_names.add(reranker.model_name)
            if reranker.model_path is not None:
                path = reranker.model_path
                self.model_names |= {path.name, path.stem, str(path)}

    def prepare(self, request: RerankRequest) -> RerankJob:
        """Check a request before it is queued.

        Raises:
            ApiError: 404 without a reranker or for another model's name, 422
                for a bad query or documents, 413 for too many documents.
        """
        if self.reranker is None:
            raise ApiError(404, "no reranker is served here; start the server with "
                           "`jina-edge serve --reranker NAME` (e.g. jina-reranker-v1-turbo-en)",
                           code="model_not_found", param="model")
        if request.model and request.model not in self.model_names:
            raise ApiError(404, f"model {request.model!r} is not served here; this server "
                           f"reranks with {self.reranker.model_name!r}",
                           code="model_not_found", param="model")
        if not isinstance(request.query, str) or not request.query.strip():
            raise ApiError(422, "query must be a non-empty string", code="invalid_input",
                           param="query")
        documents = _document_texts(request.documents, max_inputs=self.max_inputs)
        return RerankJob(request.query, documents, request.top_n, request.return_documents,
                         request.truncate)

    def rerank(self, job: RerankJob) -> bytes:
        """The JSON response body for a prepared request.

        Raises:
            ApiError: 422 `input_too_long` for a pair over the window without `truncate`.
        """
        reranker = self.reranker
        assert reranker is not None  # prepare() refused the request otherwise
        try:
            ranked = reranker.rerank(job.query, job.documents,
                                     long_input="truncate" if job.truncate else "error")
        except InputTooLongError as exc:
            raise self._too_long(reranker, job, exc) from exc
        tokens = sum(min(r.n_tokens, reranker.max_tokens) for r in ranked)  # all were run
        results: list[dict[str, Any]] = []
        for r in ranked[:job.top_n]:
            result: dict[str, Any] = {"index": r.index, "relevance_score": r.score}
            if job.return_documents:
                result["document"] = {"text": job.documents[r.index]}
            results.append(result)
        body = {"model": reranker.model_name, "results": results,
                "usage": {"total_tokens": tokens, "prompt_tokens": tokens}}
        return json.dumps(body, separators=(",", ":")).encode()

    @staticmethod
    def _too_long(reranker: Reranker, job: RerankJob, exc: InputTooLongError) -> ApiError:
        for i, document in enumerate(job.documents):
            if len(reranker.tokenize_pair(job.query, document)) > exc.max_tokens:
                if job.truncate:  # the query itself leaves no room
                    return ApiError(422, str(exc), code="input_too_long", param="query")
                return ApiError(422, f"documents[{i}] and the query have {exc.n_tokens} tokens "
                                f"together; {reranker.model_name} reads at most "
                                f"{exc.max_tokens}. Send truncate=true to cut the document, "
                                "or split it", code="input_too_long", param="documents")
        return ApiError(422, str(exc), code="input_too_long", param="query")


def _document_texts(value: Any, *, max_inputs: int) -> list[str]:
    """The texts of a `documents` field: a list (never one string), as for `input`.

    Raises:
        ApiError: 422 for anything but a list of non-empty texts, 413 for too many.
    """
    if not isinstance(value, list):
        raise ApiError(422, 'documents must be a list of strings or of {"text": ...} objects',
                       code="invalid_input", param="documents")
    return input_texts(value, max_inputs=max_inputs, param="documents")
