"""Embedding texts with a loaded model: windows, pooling and long-input policies."""

from __future__ import annotations

import logging
import os
import threading
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias, overload

import numpy as np

from jina_edge.encoder import (
    LONG_INPUT_POLICIES,
    Encoder,
    LongInputPolicy,
    check_text,
    window_starts,
)
from jina_edge.errors import BackendError, InputTooLongError, InvalidModelFileError
from jina_edge.models.installed import resolve_model
from jina_edge.models.modelfile import ModelFileInfo

logger = logging.getLogger(__name__)

SpanUnit: TypeAlias = Literal["char", "token"]
SPECIAL_TOKENS_PER_TEXT = 2  # [CLS] and [SEP]
OPENING_CHARS_PER_TOKEN = 16  # more than any text but odd binary needs: see embed_openings


@dataclass(frozen=True)
class EmbeddingResult:
    """Vectors plus what was done to each text.

    Attributes:
        vectors: float32 array, one row per text.
        n_tokens: each text's full token count, [CLS] and [SEP] included.
        truncated: whether the text was cut to fit the window.
        n_chunks: how many windows were embedded and averaged (1 when it fit).
    """

    vectors: np.ndarray
    n_tokens: list[int]
    truncated: list[bool]
    n_chunks: list[int]


def model_key(info: ModelFileInfo) -> str:
    """Names a model's vector space: vectors with equal keys are comparable."""
    source = str(info.metadata.get("jina_edge.source.sha256", ""))[:12]
    return f"{info.name}:{info.file_type}:{source or info.size_bytes}"


class Embedder(Encoder):
    """A loaded embedding model: texts in, vectors out.

    Args:
        model: an installed model name ("jina-embeddings-v2-small-en",
            "...:q8_0"), a path to a GGUF file, or None for the default model
            ($JINA_EDGE_MODEL, `jina-edge models default`, else small-en).
        max_tokens: the longest sequence to run, in tokens (default: the model's
            window, 8192 for Jina v2); lower it to cap memory on small machines.
        long_input: what to do with longer texts: "truncate" (with a logged
            warning), "error" (InputTooLongError) or "chunk" (embed windows with
            overlap and average them).
        device, threads, flash_attention, engine, backend: as `Encoder`'s.

    One Embedder may be used from several threads; decodes run one at a time.
    """

    @property
    def model_key(self) -> str:
        """Names this model's vector space (see `model_key`)."""
        if self.info is None:
            return f"backend:{type(self._engines.runner).__name__}:{self.dim}"
        return model_key(self.info)

    def _check_model(self, info: ModelFileInfo) -> None:
        """Refuse a reranker: its hidden states are not embeddings."""
        if info.kind == "reranker":
            raise InvalidModelFileError(
                f"{info.path} is a reranker ({info.name}), not an embedding model; use it with "
                "jina_edge.Reranker or `jina-edge rerank`")

    # -- embedding ------------------------------------------------------------

    @overload
    def embed(self, texts: str, *, normalize: bool = ...,
              long_input: LongInputPolicy | None = ...) -> np.ndarray: ...
    @overload
    def embed(self, texts: Sequence[str], *, normalize: bool = ...,
              long_input: LongInputPolicy | None = ...) -> np.ndarray: ...

    def embed(
        self,
        texts: str | Sequence[str],
        *,
        normalize: bool = True,
        long_input: LongInputPolicy | None = None,
    ) -> np.ndarray:
        """Embed one text (shape (dim,)) or a list of texts (shape (n, dim)), float32."""
        if isinstance(texts, str):
            vectors = self.embed_result([texts], normalize=normalize, long_input=long_input)
            return np.asarray(vectors.vectors[0])
        return self.embed_result(texts, normalize=normalize, long_input=long_input).vectors

    def embed_result(
        self,
        texts: Sequence[str],
        *,
        normalize: bool = True,
        long_input: LongInputPolicy | None = None,
    ) -> EmbeddingResult:
        """Embed texts and report each one's token count and what was done to it.

        Raises:
            InputTooLongError: under the "error" policy, for the first text
                longer than the window, with its token count.
        """
        policy = long_input or self.long_input
        if policy not in LONG_INPUT_POLICIES:
            raise ValueError(f"long_input must be one of {LONG_INPUT_POLICIES}, not {policy!r}")
        if isinstance(texts, bytes):
            raise TypeError("texts must be str, not bytes; decode them first, e.g. "
                            "data.decode('utf-8')")
        if isinstance(texts, str):
            raise TypeError("embed_result takes a list of texts; use embed() for one string")
        if not isinstance(texts, Sequence):  # a dict or a set would embed its keys
            raise TypeError(f"texts must be a string or a list of strings, not "
                            f"{type(texts).__name__}")
        token_lists = [self.tokenize(t) for t in texts]
        windows: list[list[int]] = []  # what is actually run
        owner: list[int] = []  # which text each window belongs to
        truncated = []
        n_chunks = []
        for index, ids in enumerate(token_lists):
            pieces = self._fit(ids, policy, index)
            windows.extend(pieces)
            owner.extend([index] * len(pieces))
            truncated.append(policy == "truncate" and len(ids) > self.max_tokens)
            n_chunks.append(len(pieces))
        pooled = self.pool_windows(windows)
        vectors = np.zeros((len(texts), self.dim), np.float32)
        counts = np.zeros(len(texts), np.float32)
        for row, text_index in zip(pooled, owner, strict=True):
            # Chunk vectors are averaged as unit vectors, so that each window
            # weighs the same whatever its length.
            vectors[text_index] += _unit(row) if n_chunks[text_index] > 1 else row
            counts[text_index] += 1
        vectors /= np.maximum(counts, 1)[:, None]
        _check_vectors(vectors, normalize)
        if normalize:
            vectors = _unit_rows(vectors)
        return EmbeddingResult(
            vectors=vectors,
            n_tokens=[len(ids) for ids in token_lists],
            truncated=truncated,
            n_chunks=n_chunks,
        )

    def embed_openings(self, texts: Sequence[str], max_tokens: int) -> np.ndarray:
        """Unit vectors of each text's first `max_tokens` tokens (at most the window), quietly cut.

        What a whole-file vector reads (index/search.py): the opening of a long
        file says what it is about, and every file gets one vector, however long.
        """
        limit = min(max_tokens, self.max_tokens)
        windows = []
        for text in texts:
            # Tokenize a prefix only: a 10 MB text would take seconds. A prefix
            # this long holds `limit` tokens unless the text has fewer.
            ids = self.tokenize(text[:limit * OPENING_CHARS_PER_TOKEN])
            if len(ids) > limit:
                ids = [*ids[:limit - 1], ids[-1]]  # [CLS] and the body's start, then [SEP]
            windows.append(ids)
        vectors = self.pool_windows(windows)
        _check_vectors(vectors, True)
        return _unit_rows(vectors)

    def _fit(self, ids: list[int], policy: LongInputPolicy, index: int) -> list[list[int]]:
        """The window(s) to run for one text's tokens under a long-input policy."""
        limit = self.max_tokens
        if len(ids) <= limit:
            return [ids]
        if policy == "error":
            raise InputTooLongError(
                f"text {index} has {len(ids)} tokens; this model runs at most {limit}. Use "
                "long_input='chunk' or 'truncate', or split the text",
                n_tokens=len(ids),
                max_tokens=limit,
            )
        cls_id, body, sep_id = ids[0], ids[1:-1], ids[-1]
        room = limit - SPECIAL_TOKENS_PER_TEXT
        if policy == "truncate":
            logger.warning("text %d has %d tokens; truncated to %d", index, len(ids), limit)
            return [[cls_id, *body[:room], sep_id]]
        return [[cls_id, *body[start:start + room], sep_id]
                for start in window_starts(len(body), room)]

    # -- late chunking --------------------------------------------------------

    def embed_late_chunks(
        self,
        text: str,
        spans: Sequence[tuple[int, int]],
        *,
        unit: SpanUnit = "char",
        normalize: bool = True,
    ) -> np.ndarray:
        """Embed a whole document once and return one vector per span (late chunking).

        Each span's vector is the mean of the document's token states over the
        span, so every chunk carries the context of the whole document
        (Günther et al., "Late Chunking", arXiv:2409.04669).

        Args:
            text: the whole document; it must fit the model's window.
            spans: (start, end) pairs, end exclusive: character offsets into
                `text` (unit="char") or offsets into `tokenize(text)` without
                its [CLS] (unit="token").
            unit: "char" or "token".
            normalize: L2-normalise each vector.

        Returns:
            float32 array of shape (len(spans), dim).

        Raises:
            InputTooLongError: when the document does not fit the window.
            ValueError: for an empty or out-of-range span.
        """
        text = check_text(text)
        if unit == "char":
            ids, token_spans = self._tokens_for_char_spans(text, spans)
        elif unit == "token":
            ids = self.tokenize(text)
            token_spans = [(start + 1, end + 1) for start, end in spans]
            body = len(ids) - SPECIAL_TOKENS_PER_TEXT
            for start, end in spans:
                if not 0 <= start < end <= body:
                    raise ValueError(f"token span {(start, end)} is empty or outside 0..{body}")
        else:
            raise ValueError(f"unit must be 'char' or 'token', not {unit!r}")
        if len(ids) > self.max_tokens:
            raise InputTooLongError(
                f"late chunking needs the whole document in one window; it has {len(ids)} "
                f"tokens and this model runs at most {self.max_tokens}. Split it into parts "
                "that fit and late-chunk each part",
                n_tokens=len(ids),
                max_tokens=self.max_tokens,
            )
        states = next(self.token_states([ids]))[1]
        vectors = np.stack([
            states[a:b].mean(axis=0, dtype=np.float64).astype(np.float32)
            for a, b in token_spans
        ]) if token_spans else np.zeros((0, self.dim), np.float32)
        _check_vectors(vectors, normalize)
        return _unit_rows(vectors) if normalize else vectors

    def _tokens_for_char_spans(
        self, text: str, spans: Sequence[tuple[int, int]]
    ) -> tuple[list[int], list[tuple[int, int]]]:
        """The document's tokens and each character span's tokens.

        With the original tokenizer the document is tokenized once and a span
        holds the tokens that start inside it (the tokenizer's offsets). With
        llama.cpp's, which gives no offsets, the text is tokenized piecewise at
        the span boundaries, which is the document's own tokenization where a
        boundary falls between words.
        """
        for start, end in spans:
            if not 0 <= start < end <= len(text):
                raise ValueError(f"character span {(start, end)} is empty or outside the text")
        if self._tokenizer is not None:
            encoding = self._tokenizer.encode(text)
            ids = list(encoding.ids)
            body = [i for i, special in enumerate(encoding.special_tokens_mask) if not special]
            body_starts = [encoding.offsets[i][0] for i in body]
            ranges = []
            for start, end in spans:
                first, stop = bisect_left(body_starts, start), bisect_left(body_starts, end)
                ranges.append((body[first], body[stop - 1] + 1) if first < stop else (0, 0))
        else:
            ids, ranges = self._piecewise_tokens(text, spans)
        for span, (a, b) in zip(spans, ranges, strict=True):
            if a == b:
                raise ValueError(f"character span {tuple(span)} holds no token")
        return ids, ranges

    def _piecewise_tokens(
        self, text: str, spans: Sequence[tuple[int, int]]
    ) -> tuple[list[int], list[tuple[int, int]]]:
        cuts = sorted({0, len(text), *(s for span in spans for s in span)})
        full = self.tokenize("")
        cls_id, sep_id = full[0], full[-1]
        ids = [cls_id]
        token_at: dict[int, int] = {0: 1}
        for a, b in zip(cuts, cuts[1:], strict=False):
            ids.extend(self.tokenize(text[a:b])[1:-1])
            token_at[b] = len(ids)
        ids.append(sep_id)
        return ids, [(token_at[start], token_at[end]) for start, end in spans]

def _check_vectors(vectors: np.ndarray, normalize: bool) -> None:
    """Refuse what a damaged model gives: NaN or infinite values, or (to normalise) zeros.

    Raises:
        BackendError: naming the first bad row.
    """
    finite = np.isfinite(vectors).all(axis=1)
    nonzero = np.abs(vectors).max(axis=1, initial=0.0) > 0 if normalize else finite
    bad = np.flatnonzero(~(finite & nonzero))
    if bad.size:
        what = "NaN or infinite" if not finite[bad[0]] else "all-zero"
        raise BackendError(
            f"the model gave {what} vectors (text {int(bad[0])}): the model file is damaged "
            "or was converted wrongly; convert or import it again")


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def _unit_rows(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return np.asarray(m / np.where(norms > 0, norms, 1.0), np.float32)


_default_lock = threading.Lock()
_default_embedders: dict[str, Embedder] = {}  # by model file
# By the argument as given (and the folder a relative path is read from), so
# that later calls neither read the config file nor the manifests again.
_named_embedders: dict[tuple[str | None, str], Embedder] = {}


def default_embedder(model: str | os.PathLike[str] | None = None) -> Embedder:
    """The shared Embedder for `model`: resolved and loaded on the first call, then kept.

    A later change of the default model or of the installed models does not
    change what `model` means here; an `Embedder` of your own follows them.
    """
    named = (None if model is None else os.fspath(model), os.getcwd())
    with _default_lock:
        embedder = _named_embedders.get(named)
        if embedder is None:
            key = str(resolve_model(model).resolve())
            embedder = _default_embedders.get(key)
            if embedder is None:
                embedder = _default_embedders[key] = Embedder.from_config(key)
            _named_embedders[named] = embedder
        return embedder


@overload
def embed(texts: str, *, model: str | os.PathLike[str] | None = ...,
          normalize: bool = ..., long_input: LongInputPolicy | None = ...) -> np.ndarray: ...
@overload
def embed(texts: Sequence[str], *, model: str | os.PathLike[str] | None = ...,
          normalize: bool = ..., long_input: LongInputPolicy | None = ...) -> np.ndarray: ...


def embed(
    texts: str | Sequence[str],
    *,
    model: str | os.PathLike[str] | None = None,
    normalize: bool = True,
    long_input: LongInputPolicy | None = None,
) -> np.ndarray:
    """Embed one text (-> (dim,)) or a list of texts (-> (n, dim)) as float32.

    The model is loaded once and kept for later calls.
    """
    return default_embedder(model).embed(texts, normalize=normalize, long_input=long_input)


def count_tokens(text: str, *, model: str | os.PathLike[str] | None = None) -> int:
    """How many tokens `text` takes with `model`, [CLS] and [SEP] included."""
    return default_embedder(model).count_tokens(text)
