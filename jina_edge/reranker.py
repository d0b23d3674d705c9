"""Reranking with Jina's cross-encoders (jina-reranker-v1-tiny-en, -turbo-en, -base-en).

A cross-encoder reads a query and a document together and gives one score.
The encoder runs as an embedding model's does (`jina_edge.encoder.Encoder`); the
head (BERT's pooler, then a 1-label classifier) runs here in numpy from the
arrays the converter stored in the GGUF, because llama.cpp's jina-bert-v2 drops
the pooler (see `ArchitectureConverter.write_head` in jina_edge.convert.architectures).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from jina_edge.encoder import (
    LONG_INPUT_POLICIES,
    Encoder,
    LongInputPolicy,
    check_text,
    window_starts,
)
from jina_edge.errors import BackendError, InputTooLongError, InvalidModelFileError
from jina_edge.models.catalog import catalog_models
from jina_edge.models.installed import default_reranker_name
from jina_edge.models.modelfile import ModelFileInfo, RerankerHead

logger = logging.getLogger(__name__)

# The fewest document tokens a window holds; a query that leaves less room is an error.
MIN_DOCUMENT_TOKENS = 8


@dataclass(frozen=True)
class RerankResult:
    """One document's score.

    Attributes:
        index: the document's position in the list given.
        score: its relevance, sigmoid(logit), between 0 and 1 (what
            sentence-transformers' CrossEncoder reports for these models).
        logit: the classifier's raw output (what transformers' model returns).
        n_tokens: tokens of the query and document together, special tokens included.
        truncated: whether the document was cut to fit the window.
        n_chunks: how many windows of the document were scored (the best one counts).
    """

    index: int
    score: float
    logit: float
    n_tokens: int
    truncated: bool
    n_chunks: int

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for JSON."""
        return asdict(self)


class Reranker(Encoder):
    """A loaded cross-encoder: scores how well documents answer a query.

    Args:
        model: an installed reranker name ("jina-reranker-v1-turbo-en",
            "...:q8_0"), a GGUF path, or None for the default reranker
            ($JINA_EDGE_RERANKER, the config's "reranker", else the installed one).
        max_tokens: the longest (query, document) pair to run, in tokens
            (default: the model's window, 8192).
        long_input: for a pair longer than that: "truncate" cuts the document
            (logged), "error" raises InputTooLongError, "chunk" scores windows
            of the document with overlap and keeps the best.
        device, threads, flash_attention, engine: as `Encoder`'s.

    One Reranker may be used from several threads; decodes run one at a time.
    """

    def default_model(self) -> str | None:
        """The installed reranker (or the setting naming one)."""
        return default_reranker_name()

    def _check_model(self, info: ModelFileInfo) -> None:
        if info.kind != "reranker":
            names = ", ".join(m.model_id for m in catalog_models("reranker"))
            raise InvalidModelFileError(
                f"{info.path} is an embedding model ({info.name}), not a reranker; rerankers "
                f"are cross-encoders such as {names} (`jina-edge models pull "
                f"{catalog_models('reranker')[0].model_id}`)")
        if info.reranker_head is None or info.tokenizer_json is None:
            raise InvalidModelFileError(
                f"{info.path} is a reranker converted elsewhere: it lacks the pooler and the "
                "tokenizer that jina-edge needs to compute the original scores (llama.cpp's "
                "converter drops the pooler). Convert the checkpoint with `jina-edge convert`")

    @property
    def model_name(self) -> str:
        """The name in the model file."""
        assert self.info is not None
        return self.info.name

    @property
    def _head(self) -> RerankerHead:
        assert self.info is not None and self.info.reranker_head is not None  # _check_model
        return self.info.reranker_head

    @functools.cached_property
    def _template(self) -> tuple[list[int], list[int], list[int]]:
        """The special tokens before, between and after the two texts of a pair."""
        assert self._tokenizer is not None  # _check_model requires one
        encoding = self._tokenizer.encode("a", "b")
        parts: list[list[int]] = [[], [], []]
        part = 0
        for token, sequence in zip(encoding.ids, encoding.sequence_ids, strict=True):
            if sequence is None:
                parts[part].append(token)
            else:
                part = 1 + sequence  # after a text of sequence s come the tokens of part s + 1
        return parts[0], parts[1], parts[2]

    def _pair_ids(self, query: str, document: str) -> list[int]:
        """The pair as the original tokenizer joins it (RoBERTa: <s> q </s></s> d </s>)."""
        assert self._tokenizer is not None
        return list(self._tokenizer.encode(query, document).ids)

    def _text_ids(self, text: str) -> list[int]:
        """A text's tokens without special tokens."""
        assert self._tokenizer is not None
        return list(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def tokenize_pair(self, query: str, document: str) -> list[int]:
        """Token ids of a (query, document) pair, joined as the original tokenizer joins them."""
        return self._pair_ids(check_text(query), check_text(document))

    def rerank(self, query: str, documents: Sequence[str], *, top_n: int | None = None,
               long_input: LongInputPolicy | None = None) -> list[RerankResult]:
        """The documents' scores for `query`, best first (the `top_n` best, if given).

        Raises:
            InputTooLongError: under the "error" policy for a pair longer than
                the window, or under any policy for a query that leaves fewer
                than MIN_DOCUMENT_TOKENS for the document.
        """
        if top_n is not None and top_n < 1:
            raise ValueError(f"top_n must be at least 1, not {top_n}")
        results = self.score(query, documents, long_input=long_input)
        ranked = sorted(results, key=lambda r: (-r.logit, r.index))
        return ranked if top_n is None else ranked[:top_n]

    def score(self, query: str, documents: Sequence[str], *,
              long_input: LongInputPolicy | None = None) -> list[RerankResult]:
        """Like `rerank`, in the order of `documents`."""
        policy = long_input or self.long_input
        if policy not in LONG_INPUT_POLICIES:
            raise ValueError(f"long_input must be one of {LONG_INPUT_POLICIES}, not {policy!r}")
        if isinstance(documents, (str, bytes)) or not isinstance(documents, Sequence):
            raise TypeError("documents must be a list of strings")
        query = check_text(query)
        windows: list[list[int]] = []
        owner: list[int] = []
        sizes: list[tuple[int, bool]] = []
        for index, document in enumerate(documents):
            n_tokens, pieces, truncated = self._windows(query, check_text(document), policy,
                                                        index)
            windows.extend(pieces)
            owner.extend([index] * len(pieces))
            sizes.append((n_tokens, truncated))
        logits, _ = self.score_ids(windows)
        best = np.full(len(sizes), -np.inf)
        chunks = np.zeros(len(sizes), np.int64)
        np.maximum.at(best, owner, logits)
        np.add.at(chunks, owner, 1)
        return [RerankResult(index=i, score=_sigmoid(float(best[i])), logit=float(best[i]),
                             n_tokens=n, truncated=cut, n_chunks=int(chunks[i]))
                for i, (n, cut) in enumerate(sizes)]

    def score_ids(self, sequences: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """(logits, first-token states) of pairs given as token ids that fit the window.

        Each pair's state comes from llama.cpp; the head is
        logit = w_c . tanh(W_p h + b_p) + b_c, in float64.

        Raises:
            BackendError: when the model gives NaN or infinite states.
        """
        windows = [list(s) for s in sequences]
        states = self.pool_windows(windows)  # the GGUF's pooling is CLS: the first token
        if not np.isfinite(states).all():
            raise BackendError("the reranker gave NaN or infinite states: the model file is "
                               "damaged or was converted wrongly; convert or import it again")
        head = self._head
        pooled = np.tanh(states.astype(np.float64) @ head.pooler_weight.T + head.pooler_bias)
        return pooled @ head.classifier_weight + head.classifier_bias, states

    def _windows(self, query: str, document: str, policy: LongInputPolicy,
                 index: int) -> tuple[int, list[list[int]], bool]:
        """(the pair's token count, the windows to run, whether the document was cut)."""
        limit = self.max_tokens
        ids = self._pair_ids(query, document)
        if len(ids) <= limit:
            return len(ids), [ids], False
        if policy == "error":
            raise InputTooLongError(
                f"document {index} and the query have {len(ids)} tokens together; this "
                f"reranker reads at most {limit}. Use long_input='chunk' or 'truncate', or "
                "shorten the document", n_tokens=len(ids), max_tokens=limit)
        before, between, after = self._template
        query_ids = self._text_ids(query)
        room = limit - len(before) - len(query_ids) - len(between) - len(after)
        if room < MIN_DOCUMENT_TOKENS:
            raise InputTooLongError(
                f"the query has {len(query_ids)} tokens, which leaves {max(room, 0)} of this "
                f"reranker's {limit} for a document; shorten the query",
                n_tokens=len(ids), max_tokens=limit)
        body = self._text_ids(document)

        def window(start: int) -> list[int]:
            return [*before, *query_ids, *between, *body[start:start + room], *after]

        if policy == "truncate":
            logger.warning("document %d and the query have %d tokens; the document is cut to "
                           "fit %d", index, len(ids), limit)
            return len(ids), [window(0)], True
        return len(ids), [window(start) for start in window_starts(len(body), room)], False


def _sigmoid(x: float) -> float:
    return float(0.5 * (1.0 + np.tanh(0.5 * x)))  # exact, and no overflow for large |x|
