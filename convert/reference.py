"""Independent numpy forward pass for BERT and JinaBERT v2 checkpoints.

JinaBERT v2 comes in three layer layouts, written here from the public modeling
code: jinaai/jina-bert-implementation (small/base-en, base-de, -zh),
jinaai/jina-bert-v2-qk-devlin-norm-1e-2 (base-es: the same with LayerNorms on
the query and key projections) and jinaai/jina-bert-v2-qk-post-norm
(base-code); see `ReferenceModel._layer`.
The jina-reranker-v1 cross-encoders (JinaBertForSequenceClassification there)
add BERT's head: score = classifier(tanh(pooler.dense(h_CLS))), see
`ReferenceModel.score`. This module is the yardstick the GGUF conversion is
verified against. It reads
Hugging Face tensor names straight from the safetensors files and shares no
code with the converter, so that a bug in one does not hide in the other.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors import safe_open
from tokenizers import Tokenizer
from tokenizers.implementations.bert_wordpiece import BertWordPieceTokenizer

from jina_edge.errors import CheckpointError

__all__ = ["ReferenceModel", "alibi_slopes", "erf"]

_JINA_ARCHITECTURES = frozenset({"JinaBertForMaskedLM", "JinaBertModel",
                                 "JinaBertForSequenceClassification"})
_RERANKER_ARCHITECTURES = frozenset({"JinaBertForSequenceClassification"})
_BERT_ARCHITECTURES = frozenset({"BertModel", "BertForMaskedLM"})

# erf: Maclaurin series (Horner form) for |z| <= _ERF_SPLIT, the continued
# fraction of erfc above it; erfc(6) ~ 2e-17, so erf(z) rounds to 1 beyond 6.
# With these term counts the absolute error against math.erf is ~1e-15.
_ERF_SPLIT = 2.0
_ERF_SERIES_TERMS = 30
_ERF_CF_DEPTH = 40
_ERF_SATURATION = 6.0
_ERF_SERIES = tuple(
    (-1.0) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(_ERF_SERIES_TERMS + 1)
)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_PI = math.sqrt(math.pi)

# Elements of one head's attention matrix handled at once (row blocks; bounds memory).
_ATTENTION_BLOCK_ELEMENTS = 2 * 1024 * 1024
# Elements of the feed-forward activation handled at once (row blocks).
_ACTIVATION_BLOCK_ELEMENTS = 2 * 1024 * 1024

FloatArray = npt.NDArray[np.floating[Any]]


def erf(x: npt.ArrayLike) -> FloatArray:
    """Error function, vectorised; absolute error about 1e-15 in float64.

    Args:
        x: Input values (float array or anything numpy converts to one).

    Returns:
        erf(x) with the dtype of ``x`` (float64 for non-float input).
    """
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    z = np.abs(arr)
    out = np.empty_like(z)

    small = z <= _ERF_SPLIT
    zs = z[small]
    t = zs * zs
    acc = np.full_like(zs, _ERF_SERIES[-1])
    for coefficient in reversed(_ERF_SERIES[:-1]):
        acc *= t
        acc += coefficient
    acc *= zs
    acc *= _TWO_OVER_SQRT_PI
    out[small] = acc

    large = ~small
    if np.any(large):
        zl = np.minimum(z[large], _ERF_SATURATION)
        # erfc(z) = exp(-z^2) / sqrt(pi) / (z + (1/2)/(z + 1/(z + (3/2)/(z + ...))))
        frac = zl.copy()
        for k in range(_ERF_CF_DEPTH, 0, -1):
            frac = zl + (0.5 * k) / frac
        out[large] = 1.0 - np.exp(-zl * zl) / (_SQRT_PI * frac)
    result: FloatArray = np.copysign(out, arr)
    return result


def _gelu(x: FloatArray) -> FloatArray:
    # Exact GELU, 0.5 * x * (1 + erf(x / sqrt(2))): Hugging Face "gelu".
    result: FloatArray = 0.5 * x * (1.0 + erf(x * (1.0 / math.sqrt(2.0))))
    return result


def _gelu_tanh(x: FloatArray) -> FloatArray:
    inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
    result: FloatArray = 0.5 * x * (1.0 + np.tanh(inner))
    return result


_ACTIVATIONS = {
    "gelu": _gelu,
    "gelu_new": _gelu_tanh,
    "gelu_pytorch_tanh": _gelu_tanh,
}


def alibi_slopes(n_heads: int) -> npt.NDArray[np.float64]:
    """ALiBi head slopes.

    For a power-of-two head count n the slopes are ``2**(-8 * (h + 1) / n)``.
    Otherwise, with c the largest power of two not above n, the c slopes for c
    are followed by the slopes for 2c at even indices (0, 2, 4, ...) for the
    remaining n - c heads.

    Args:
        n_heads: Number of attention heads (>= 1).

    Returns:
        Float64 array of shape (n_heads,).
    """
    if n_heads < 1:
        raise ValueError(f"n_heads must be >= 1, got {n_heads}")

    def geometric(n: int) -> list[float]:
        return [2.0 ** (-8.0 * (h + 1) / n) for h in range(n)]

    c = 1 << (n_heads.bit_length() - 1)
    slopes = geometric(c)
    if c != n_heads:
        slopes += geometric(2 * c)[0::2][: n_heads - c]
    return np.asarray(slopes, dtype=np.float64)


def _layer_norm(x: FloatArray, weight: FloatArray, bias: FloatArray, eps: float) -> FloatArray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    out: FloatArray = centred / np.sqrt(var + eps) * weight + bias
    return out


def _linear(x: FloatArray, weight: FloatArray, bias: FloatArray | None) -> FloatArray:
    out: FloatArray = x @ weight.T
    if bias is not None:
        out += bias
    return out


def _read_weights(directory: Path) -> dict[str, np.ndarray]:
    index_path = directory / "model.safetensors.index.json"
    single_path = directory / "model.safetensors"
    if single_path.is_file():
        files = [single_path]
    elif index_path.is_file():
        index = json.loads(index_path.read_text(encoding="utf-8"))
        weight_map: dict[str, str] = index["weight_map"]
        files = [directory / name for name in sorted(set(weight_map.values()))]
    else:
        raise FileNotFoundError(
            f"{directory} has neither model.safetensors nor model.safetensors.index.json"
        )
    weights: dict[str, np.ndarray] = {}
    for file in files:
        with safe_open(str(file), framework="np") as handle:
            for name in handle.keys():  # noqa: SIM118 - safe_open is not a Mapping
                key = name.removeprefix("bert.")
                weights[key] = handle.get_tensor(name)
    return weights


def _load_tokenizer(directory: Path) -> Tokenizer | BertWordPieceTokenizer:
    tokenizer_json = directory / "tokenizer.json"
    tokenizer: Tokenizer | BertWordPieceTokenizer
    if tokenizer_json.is_file():
        try:
            tokenizer = Tokenizer.from_file(str(tokenizer_json))
        except Exception as exc:  # the tokenizers library raises plain Exception
            raise CheckpointError(f"the tokenizers library cannot read {tokenizer_json}: "
                                  f"{exc}") from exc
    else:
        vocab = directory / "vocab.txt"
        if not vocab.is_file():
            raise FileNotFoundError(f"{directory} has neither tokenizer.json nor vocab.txt")
        lowercase = True
        config_path = directory / "tokenizer_config.json"
        if config_path.is_file():
            tokenizer_config = json.loads(config_path.read_text(encoding="utf-8"))
            lowercase = bool(tokenizer_config.get("do_lower_case", True))
        tokenizer = BertWordPieceTokenizer(str(vocab), lowercase=lowercase)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


class ReferenceModel:
    """Numpy forward pass of a BERT or JinaBERT v2 checkpoint.

    Attributes:
        hidden_size: Width of the hidden states.
        max_tokens: ``max_position_embeddings`` from the config.
        is_jina: True for JinaBERT (ALiBi, GEGLU), False for plain BERT.
        is_reranker: True for a cross-encoder with a classification head.
    """

    def __init__(
        self,
        config: dict[str, Any],
        weights: dict[str, np.ndarray],
        tokenizer: Tokenizer | BertWordPieceTokenizer,
    ) -> None:
        """Build from a parsed config.json, HF-named weights and a tokenizer."""
        architectures = list(config.get("architectures") or [])
        if any(a in _JINA_ARCHITECTURES for a in architectures):
            self.is_jina = True
        elif any(a in _BERT_ARCHITECTURES for a in architectures):
            self.is_jina = False
        else:
            raise ValueError(f"unsupported architectures {architectures!r}")
        # A classifier makes a reranker, whatever config.json names: the published
        # jina-reranker-v1 files say JinaBertModel.
        self.is_reranker = any(a in _RERANKER_ARCHITECTURES for a in architectures) or (
            self.is_jina and "classifier.weight" in weights)
        if self.is_jina:
            position_type = config.get("position_embedding_type", "alibi")
            if position_type != "alibi":
                raise ValueError(f"JinaBERT with position_embedding_type {position_type!r}")
            feed_forward = config.get("feed_forward_type", "geglu")
            if feed_forward != "geglu":
                raise ValueError(f"JinaBERT with feed_forward_type {feed_forward!r}")
        activation = config.get("hidden_act", "gelu")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"unsupported hidden_act {activation!r}")
        self._activation = _ACTIVATIONS[activation]

        self.hidden_size = int(config["hidden_size"])
        self.n_layers = int(config["num_hidden_layers"])
        self.n_heads = int(config["num_attention_heads"])
        self.intermediate_size = int(config["intermediate_size"])
        self.max_tokens = int(config["max_position_embeddings"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        if self.hidden_size % self.n_heads:
            raise ValueError("hidden_size is not a multiple of num_attention_heads")
        self.head_dim = self.hidden_size // self.n_heads
        self._weights = weights
        self._tokenizer = tokenizer
        self._slopes = alibi_slopes(self.n_heads)
        # jina-bert-v2-qk-post-norm names its fused FFN matrix differently.
        self.qk_post_norm = self.is_jina and "encoder.layer.0.mlp.up_gated_layer.weight" in weights
        # Both qk layouts normalise Q and K; qk-devlin-norm is told by the norms alone.
        self.qk_norm = self.is_jina and (self.qk_post_norm or any(
            f"encoder.layer.0.attention.self.layer_norm_{part}.weight" in weights
            for part in ("q", "k")))
        missing = [name for name in self._required_names() if name not in weights]
        if missing:
            raise ValueError(f"checkpoint lacks tensors: {', '.join(missing[:5])}")

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str]) -> ReferenceModel:
        """Load a Hugging Face checkpoint directory (config, safetensors, tokenizer)."""
        directory = Path(path)
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        return cls(config, _read_weights(directory), _load_tokenizer(directory))

    def _required_names(self) -> list[str]:
        names = [
            "embeddings.word_embeddings.weight",
            "embeddings.token_type_embeddings.weight",
            "embeddings.LayerNorm.weight",
            "embeddings.LayerNorm.bias",
        ]
        if not self.is_jina:
            names.append("embeddings.position_embeddings.weight")
        for layer in range(self.n_layers):
            p = f"encoder.layer.{layer}."
            names += [
                p + f"attention.self.{part}.{kind}"
                for part in ("query", "key", "value")
                for kind in ("weight", "bias")
            ]
            names += [
                p + "attention.output.dense.weight",
                p + "attention.output.dense.bias",
                p + "attention.output.LayerNorm.weight",
                p + "attention.output.LayerNorm.bias",
            ]
            if self.qk_norm:
                names += [
                    p + f"attention.self.{part}.{kind}"
                    for part in ("layer_norm_q", "layer_norm_k")
                    for kind in ("weight", "bias")
                ]
            if self.qk_post_norm:
                names += [
                    p + f"{part}.{kind}"
                    for part in ("layer_norm_1", "mlp.down_layer", "layer_norm_2")
                    for kind in ("weight", "bias")
                ]
                names.append(p + "mlp.up_gated_layer.weight")
            elif self.is_jina:
                names += [
                    p + "mlp.gated_layers.weight",
                    p + "mlp.wo.weight",
                    p + "mlp.wo.bias",
                    p + "mlp.layernorm.weight",
                    p + "mlp.layernorm.bias",
                ]
            else:
                names += [
                    p + "intermediate.dense.weight",
                    p + "intermediate.dense.bias",
                    p + "output.dense.weight",
                    p + "output.dense.bias",
                    p + "output.LayerNorm.weight",
                    p + "output.LayerNorm.bias",
                ]
        if self.is_reranker:
            names += ["pooler.dense.weight", "pooler.dense.bias", "classifier.weight",
                      "classifier.bias"]
        return names

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` with [CLS] and [SEP], never truncated."""
        return list(self._tokenizer.encode(text).ids)

    def tokenize_pair(self, query: str, document: str) -> list[int]:
        """Token ids of a (query, document) pair, as transformers' `tokenizer(query, document)`.

        For RoBERTa's post-processor that is ``<s> query </s></s> document </s>``.
        """
        return list(self._tokenizer.encode(query, document).ids)

    def score(self, ids: Sequence[int]) -> float:
        """The cross-encoder's raw score (logit) for the token ids of a pair, in float64.

        JinaBertForSequenceClassification subclasses transformers'
        BertForSequenceClassification: logits = classifier(dropout(pooler_output)),
        where BERT's pooler is tanh(dense(h_CLS)) and dropout is the identity at
        inference. Token types are all 0 (a RoBERTa tokenizer sends none).
        """
        if not self.is_reranker:
            raise ValueError("this checkpoint has no classification head")
        cls_state = self.token_states(ids, dtype=np.float64)[0]
        pooled = np.tanh(_linear(cls_state, self._w("pooler.dense.weight", np.float64),
                                 self._w("pooler.dense.bias", np.float64)))
        logits = _linear(pooled, self._w("classifier.weight", np.float64),
                         self._w("classifier.bias", np.float64))
        if logits.shape != (1,):
            raise ValueError(f"the classifier has {logits.shape[0]} labels; a reranker has 1")
        return float(logits[0])

    def _w(self, name: str, dtype: type) -> FloatArray:
        out: FloatArray = self._weights[name].astype(dtype, copy=False)
        return out

    def token_states(self, ids: Sequence[int], *, dtype: type = np.float64) -> FloatArray:
        """Last hidden states, shape (n_tokens, hidden), computed in ``dtype``.

        Args:
            ids: Token ids, [CLS] and [SEP] included; token type 0 throughout.
            dtype: Float type of the whole computation (float64 by default).

        Returns:
            Array of shape (len(ids), hidden_size) and dtype ``dtype``.
        """
        if not np.issubdtype(np.dtype(dtype), np.floating):
            raise ValueError(f"dtype must be a float type, got {dtype!r}")
        index = np.asarray(ids, dtype=np.int64)
        n = int(index.shape[0])
        if index.ndim != 1 or n == 0:
            raise ValueError("ids must be a non-empty sequence of token ids")
        word = self._weights["embeddings.word_embeddings.weight"]
        if index.min() < 0 or index.max() >= word.shape[0]:
            raise ValueError("token id out of range of the embedding matrix")

        x: FloatArray = word[index].astype(dtype)
        x += self._w("embeddings.token_type_embeddings.weight", dtype)[0]
        if not self.is_jina:
            positions = self._weights["embeddings.position_embeddings.weight"]
            if n > positions.shape[0]:
                raise ValueError(f"{n} tokens exceed the {positions.shape[0]} positions of BERT")
            x += positions[:n].astype(dtype)
        x = _layer_norm(
            x,
            self._w("embeddings.LayerNorm.weight", dtype),
            self._w("embeddings.LayerNorm.bias", dtype),
            self.eps,
        )
        for layer in range(self.n_layers):
            x = self._layer(x, f"encoder.layer.{layer}.", dtype)
        return x

    def _layer(self, x: FloatArray, p: str, dtype: type) -> FloatArray:
        """One encoder layer.

        BERT and jina-bert-implementation: a = LN(x + dense(attention(x)));
        out = LN(a + FFN(a)). jina-bert-v2-qk-devlin-norm (base-es) is that
        with Q and K each through a LayerNorm over the full width, after their
        Linear and before the split into heads (JinaBertSelfAttention's
        layer_norm_q / layer_norm_k). jina-bert-v2-qk-post-norm
        (JinaBertLayer.forward there) normalises Q and K the same way,
        then a = LN_1(x + LN(dense(attention) + x)) (the attention block keeps
        BERT's own residual LayerNorm and the layer adds x once more), and
        out = LN_2(a + FFN(a)).
        """
        w = self._w

        def project(name: str) -> FloatArray:
            prefix = p + f"attention.self.{name}."
            return _linear(x, w(prefix + "weight", dtype), w(prefix + "bias", dtype))

        q, k, v = project("query"), project("key"), project("value")
        if self.qk_norm:
            for name, proj in (("layer_norm_q", q), ("layer_norm_k", k)):
                prefix = p + f"attention.self.{name}."
                proj[...] = _layer_norm(proj, w(prefix + "weight", dtype),
                                        w(prefix + "bias", dtype), self.eps)
        context = self._attention(q, k, v, dtype)
        attn = _linear(
            context,
            w(p + "attention.output.dense.weight", dtype),
            w(p + "attention.output.dense.bias", dtype),
        )
        attn += x
        attn = _layer_norm(
            attn,
            w(p + "attention.output.LayerNorm.weight", dtype),
            w(p + "attention.output.LayerNorm.bias", dtype),
            self.eps,
        )
        if self.qk_post_norm:
            attn = _layer_norm(attn + x, w(p + "layer_norm_1.weight", dtype),
                               w(p + "layer_norm_1.bias", dtype), self.eps)
            up, up_bias = w(p + "mlp.up_gated_layer.weight", dtype), None
            down = w(p + "mlp.down_layer.weight", dtype)
            down_bias = w(p + "mlp.down_layer.bias", dtype)
            norm = "layer_norm_2"
        elif self.is_jina:
            up, up_bias = w(p + "mlp.gated_layers.weight", dtype), None
            down, down_bias = w(p + "mlp.wo.weight", dtype), w(p + "mlp.wo.bias", dtype)
            norm = "mlp.layernorm"
        else:
            up = w(p + "intermediate.dense.weight", dtype)
            up_bias = w(p + "intermediate.dense.bias", dtype)
            down = w(p + "output.dense.weight", dtype)
            down_bias = w(p + "output.dense.bias", dtype)
            norm = "output.LayerNorm"
        if self.is_jina and up.shape[0] != 2 * self.intermediate_size:
            raise ValueError(
                f"the GEGLU matrix has {up.shape[0]} rows, expected {2 * self.intermediate_size}"
            )
        out = self._feed_forward(attn, up, up_bias, down, down_bias)
        out += attn
        return _layer_norm(
            out, w(p + norm + ".weight", dtype), w(p + norm + ".bias", dtype), self.eps
        )

    def _block_rows(self, width: int, budget: int) -> int:
        return max(1, budget // max(1, width))

    def _feed_forward(
        self,
        x: FloatArray,
        up: FloatArray,
        up_bias: FloatArray | None,
        down: FloatArray,
        down_bias: FloatArray,
    ) -> FloatArray:
        # Row blocks, so the (n_tokens, intermediate) activation never exists whole.
        out = np.empty((x.shape[0], down.shape[0]), dtype=x.dtype)
        step = self._block_rows(up.shape[0], _ACTIVATION_BLOCK_ELEMENTS)
        inter = self.intermediate_size
        for start in range(0, x.shape[0], step):
            h = _linear(x[start : start + step], up, up_bias)
            if self.qk_post_norm:  # [up; gate]: up * GELU(gate), with torch's exact nn.GELU
                h = h[:, :inter] * _gelu(h[:, inter:])
            elif self.is_jina:  # [gate; up]: GELU of the first half gates the second half
                h = self._activation(h[:, :inter]) * h[:, inter:]
            else:
                h = self._activation(h)
            out[start : start + step] = _linear(h, down, down_bias)
        return out

    def _attention(self, q: FloatArray, k: FloatArray, v: FloatArray, dtype: type) -> FloatArray:
        n = q.shape[0]
        d = self.head_dim
        q *= dtype(1.0 / math.sqrt(d))
        context = np.empty_like(q)
        step = self._block_rows(n, _ATTENTION_BLOCK_ELEMENTS)
        columns = np.arange(n)
        for start in range(0, n, step):
            stop = min(n, start + step)
            distance: FloatArray | None = None
            if self.is_jina:
                rows = np.arange(start, stop)
                distance = np.abs(rows[:, None] - columns[None, :]).astype(dtype)
            for head in range(self.n_heads):
                cols = slice(head * d, (head + 1) * d)
                scores = q[start:stop, cols] @ k[:, cols].T
                if distance is not None:
                    scores -= dtype(self._slopes[head]) * distance
                scores -= scores.max(axis=1, keepdims=True)
                np.exp(scores, out=scores)
                total = scores.sum(axis=1, keepdims=True)
                context[start:stop, cols] = (scores @ v[:, cols]) / total
        return context

    def embed(self, text: str) -> npt.NDArray[np.float64]:
        """Mean of all token states ([CLS], [SEP] included), L2-normalised, float64."""
        states = self.token_states(self.tokenize(text), dtype=np.float64)
        mean = states.mean(axis=0)
        result: npt.NDArray[np.float64] = (mean / np.linalg.norm(mean)).astype(np.float64)
        return result
