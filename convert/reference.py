"""Independent numpy forward pass of a checkpoint of any registered model family.

The yardstick the GGUF conversion is verified against. The family
(jina_edge.families) says which tensors a layout has and under which names;
what each of them computes is written here from the public modelling code
(see `ReferenceModel._layer` and `ReferenceModel.score`). It reads the
safetensors files itself and shares no code with the converter, so that a
bug in one does not hide in the other.
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

from jina_edge import families
from jina_edge.errors import CheckpointError

__all__ = ["ReferenceModel", "alibi_slopes", "erf"]

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
    """Numpy forward pass of a checkpoint of a registered family.

    Attributes:
        family: the checkpoint's family.
        hidden_size: Width of the hidden states.
        max_tokens: ``max_position_embeddings`` from the config.
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
        family = families.family_of(architectures, weights)
        if family is None:
            raise ValueError(f"unsupported architectures {architectures!r}")
        self.family = family
        self.is_reranker = family.is_reranker
        for key, allowed in family.config.items():
            if key != "hidden_act" and config.get(key) not in allowed:
                raise ValueError(f"{family.name} with {key} {config.get(key)!r}")
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
        dims = families.Dims(self.hidden_size, self.intermediate_size, self.n_layers, 1)
        missing = [name for name in families.tensor_shapes(family, dims) if name not in weights]
        if missing:
            raise ValueError(f"checkpoint lacks tensors: {', '.join(missing[:5])}")

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str]) -> ReferenceModel:
        """Load a Hugging Face checkpoint directory (config, safetensors, tokenizer)."""
        directory = Path(path)
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        return cls(config, _read_weights(directory), _load_tokenizer(directory))

    @classmethod
    def from_gguf(cls, path: str | os.PathLike[str]) -> ReferenceModel:
        """Load a GGUF of a registered family: its weights dequantized, its tokenizer.json.

        The yardstick for an engine that runs the same file (its ONNX graph),
        where no checkpoint is at hand. It reads the file on its own, not
        through the graph's reader: a misreading shared by both would pass.

        Raises:
            ValueError: for a file of no registered family or without tokenizer.json.
        """
        from gguf import GGUFReader
        from gguf.quants import dequantize

        from jina_edge.models.modelfile import read_model_file

        info = read_model_file(path)
        if info.tokenizer_json is None:
            raise ValueError(f"{path} carries no tokenizer.json")
        by_role: dict[tuple[str, int | None, str], np.ndarray] = {}
        for tensor in GGUFReader(path).tensors:
            stem, kind = tensor.name.rsplit(".", 1)
            layer: int | None = None
            role = stem
            if stem.startswith("blk."):
                _, number, role = stem.split(".", 2)
                layer = int(number)
            values = dequantize(tensor.data, tensor.tensor_type)
            by_role[role, layer, kind] = np.asarray(values, np.float32).reshape(
                [int(d) for d in reversed(tensor.shape)])
        family = families.family_of_gguf(info.architecture, {r for r, _, _ in by_role})
        if family is None:
            raise ValueError(f"{path} holds tensors of no registered model family")
        weights: dict[str, np.ndarray] = {}
        for (role, layer, kind), values in by_role.items():
            if role == "ffn_gate":
                continue
            if role == "ffn_up" and family.feed_forward == "geglu-up-first":
                values = np.concatenate([values, by_role["ffn_gate", layer, kind]])
            weights[f"{family.hf_name(role, layer)}.{kind}"] = values
        for role, layer, kind in list(by_role):  # a norm's absent bias is no bias (llama.cpp)
            if kind == "weight" and (role.endswith("_norm") or role == "attn_norm_2"):
                weights.setdefault(f"{family.hf_name(role, layer)}.bias",
                                   np.zeros(by_role[role, layer, kind].shape[-1], np.float32))
        head = info.reranker_head
        if family.is_reranker and head is not None:
            weights[f"{family.hf_name('pooler')}.weight"] = head.pooler_weight
            weights[f"{family.hf_name('pooler')}.bias"] = head.pooler_bias
        metadata = info.metadata
        arch = info.architecture
        config = {
            "architectures": [family.hf_architectures[0]],
            "hidden_size": info.embedding_length,
            "num_hidden_layers": info.block_count,
            "num_attention_heads": int(metadata[f"{arch}.attention.head_count"]),
            "intermediate_size": int(metadata[f"{arch}.feed_forward_length"]),
            "max_position_embeddings": info.context_length,
            "layer_norm_eps": float(metadata[f"{arch}.attention.layer_norm_epsilon"]),
        }
        tokenizer = Tokenizer.from_str(info.tokenizer_json)
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return cls(config, weights, tokenizer)

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
        pooled = np.tanh(self._linear_role(cls_state, "pooler", None, np.float64))
        logits = self._linear_role(pooled, "cls", None, np.float64)
        if logits.shape != (1,):
            raise ValueError(f"the classifier has {logits.shape[0]} labels; a reranker has 1")
        return float(logits[0])

    def _w(self, name: str, dtype: type) -> FloatArray:
        out: FloatArray = self._weights[name].astype(dtype, copy=False)
        return out

    def _role(self, role: str, layer: int | None, kind: str, dtype: type) -> FloatArray:
        """The weight or bias (`kind`) of a role of the family, in `layer` for layer roles."""
        return self._w(f"{self.family.hf_name(role, layer)}.{kind}", dtype)

    def _linear_role(self, x: FloatArray, role: str, layer: int | None,
                     dtype: type) -> FloatArray:
        bias = self._role(role, layer, "bias", dtype) if self.family.biased(role) else None
        return _linear(x, self._role(role, layer, "weight", dtype), bias)

    def _norm_role(self, x: FloatArray, role: str, layer: int | None,
                   dtype: type) -> FloatArray:
        return _layer_norm(x, self._role(role, layer, "weight", dtype),
                           self._role(role, layer, "bias", dtype), self.eps)

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
        word = self._weights[self.family.hf_name("token_embd") + ".weight"]
        if index.min() < 0 or index.max() >= word.shape[0]:
            raise ValueError("token id out of range of the embedding matrix")

        x: FloatArray = word[index].astype(dtype)
        x += self._role("token_types", None, "weight", dtype)[0]
        if self.family.positions == "absolute":
            positions = self._role("position_embd", None, "weight", dtype)
            if n > positions.shape[0]:
                raise ValueError(f"{n} tokens exceed the {positions.shape[0]} positions of BERT")
            x += positions[:n]
        x = self._norm_role(x, "token_embd_norm", None, dtype)
        for layer in range(self.n_layers):
            x = self._layer(x, layer, dtype)
        return x

    def _layer(self, x: FloatArray, layer: int, dtype: type) -> FloatArray:
        """One encoder layer.

        BERT and jina-bert-implementation: a = LN(x + dense(attention(x)));
        out = LN(a + FFN(a)). Where the family has `attn_q_norm` /
        `attn_k_norm` (jina-bert-v2-qk-devlin-norm, -qk-post-norm), Q and K
        each go through a LayerNorm over the full width, after their Linear and
        before the split into heads (JinaBertSelfAttention's layer_norm_q /
        layer_norm_k). Where it has `attn_norm_2` (qk-post-norm, its
        JinaBertLayer.forward), a = LN_2(x + LN(dense(attention) + x)): the
        attention block keeps BERT's own residual LayerNorm and the layer adds
        x once more.
        """
        has = self.family.has
        q = self._linear_role(x, "attn_q", layer, dtype)
        k = self._linear_role(x, "attn_k", layer, dtype)
        v = self._linear_role(x, "attn_v", layer, dtype)
        if has("attn_q_norm"):
            q = self._norm_role(q, "attn_q_norm", layer, dtype)
        if has("attn_k_norm"):
            k = self._norm_role(k, "attn_k_norm", layer, dtype)
        attn = self._linear_role(self._attention(q, k, v, dtype), "attn_output", layer, dtype)
        attn += x
        attn = self._norm_role(attn, "attn_output_norm", layer, dtype)
        if has("attn_norm_2"):
            attn = self._norm_role(attn + x, "attn_norm_2", layer, dtype)
        up = self._role("ffn_up", layer, "weight", dtype)
        up_bias = self._role("ffn_up", layer, "bias", dtype) if self.family.biased(
            "ffn_up") else None
        if self.family.feed_forward != "gelu" and up.shape[0] != 2 * self.intermediate_size:
            raise ValueError(
                f"the GEGLU matrix has {up.shape[0]} rows, expected {2 * self.intermediate_size}"
            )
        out = self._feed_forward(attn, up, up_bias, self._role("ffn_down", layer, "weight", dtype),
                                 self._role("ffn_down", layer, "bias", dtype))
        out += attn
        return self._norm_role(out, "layer_output_norm", layer, dtype)

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
            if self.family.feed_forward == "geglu-up-first":  # up * GELU(gate), torch's nn.GELU
                h = h[:, :inter] * _gelu(h[:, inter:])
            elif self.family.feed_forward == "geglu":  # GELU of the first half gates the second
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
            if self.family.positions == "alibi":
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
