"""One converter class per architecture family, registered by the HF architecture names.

Each class knows the config fields and tensors of its family, checks them and
maps them to GGUF through gguf-py's tensor name map.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import gguf
import numpy as np

from jina_edge.convert.checkpoint import Checkpoint
from jina_edge.convert.vocab import (
    KEY_LOWERCASE,
    KEY_STRIP_ACCENTS,
    WORDPIECE_MODEL,
    Vocabulary,
)
from jina_edge.errors import CheckpointError, UnsupportedModelError
from jina_edge.models.modelfile import (
    MAX_CONTEXT,
    MAX_LAYERS,
    RERANKER_CLASSIFIER_BIAS,
    RERANKER_CLASSIFIER_WEIGHT,
    RERANKER_POOLER_BIAS,
    RERANKER_POOLER_WEIGHT,
)

# Tensors of heads that an embedding model does not use.
IGNORED_PREFIXES = ("pooler.", "cls.", "lm_head.")
IGNORED_NAMES = ("embeddings.position_ids",)
# The shortest window worth converting (the runtime's smallest max_tokens).
MIN_POSITIONS = 8
# JinaBERT's LayerNorms on the query and key projections (base-es, base-code).
_QK_NORMS = ("layer_norm_q", "layer_norm_k")

_REGISTRY: dict[str, type[ArchitectureConverter]] = {}

ConverterClass = type["ArchitectureConverter"]


def register(*hf_names: str) -> Callable[[ConverterClass], ConverterClass]:
    """Class decorator: handle checkpoints whose config names one of `hf_names`."""

    def wrap(cls: ConverterClass) -> ConverterClass:
        cls.hf_architectures = hf_names
        for name in hf_names:
            _REGISTRY[name] = cls
        return cls

    return wrap


def supported_architectures() -> list[str]:
    """The Hugging Face architecture names the converter accepts."""
    return sorted(_REGISTRY)


def converter_for(checkpoint: Checkpoint) -> ArchitectureConverter:
    """The converter for a checkpoint's architecture.

    Raises:
        UnsupportedModelError: naming what was found and what is supported.
    """
    arch = checkpoint.architecture
    cls = _REGISTRY.get(arch)
    if cls is None:
        raise UnsupportedModelError(
            f"{checkpoint.path} holds a {arch or 'model without architectures in config.json'}"
            f"; supported architectures: {', '.join(supported_architectures())}"
        )
    # A reranker is known by its classifier, whatever config.json says: the
    # published jina-reranker-v1 files name JinaBertModel.
    if cls is JinaBertConverter and "classifier.weight" in set(checkpoint.names()):
        cls = JinaBertRerankerConverter
    return cls(checkpoint)


class ArchitectureConverter:
    """Checks a checkpoint of one family and yields its GGUF metadata and tensors."""

    hf_architectures: ClassVar[tuple[str, ...]] = ()
    gguf_arch: ClassVar[gguf.MODEL_ARCH]
    tokenizer_pre: ClassVar[str] = "default"
    ignored_prefixes: ClassVar[tuple[str, ...]] = IGNORED_PREFIXES

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        config = checkpoint.config
        self.hidden = self._int("hidden_size")
        self.layers = self._int("num_hidden_layers", maximum=MAX_LAYERS)
        self.heads = self._int("num_attention_heads")
        self.intermediate = self._int("intermediate_size")
        self.vocab_rows = self._int("vocab_size")
        self.type_vocab = self._int("type_vocab_size", default=2)
        self.max_positions = self._int("max_position_embeddings", maximum=MAX_CONTEXT)
        if self.max_positions < MIN_POSITIONS:
            raise CheckpointError(
                f"config.json of {checkpoint.path} gives max_position_embeddings "
                f"{self.max_positions}; a model that reads fewer than {MIN_POSITIONS} tokens "
                "is not an embedding model jina-edge can run or verify")
        eps = config.get("layer_norm_eps", 1e-12)
        # NaN or a negative epsilon aborts llama.cpp at the first decode (eps >= 0 assert).
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 1:
            raise CheckpointError(f"config.json of {checkpoint.path} has no valid "
                                  f"'layer_norm_eps' (found {eps!r})")
        self.layer_norm_eps = float(eps)
        if self.hidden % self.heads:
            raise CheckpointError(
                f"config.json of {checkpoint.path}: hidden_size {self.hidden} is not a "
                f"multiple of num_attention_heads {self.heads}"
            )
        act = config.get("hidden_act", "gelu")
        if act != "gelu":
            raise UnsupportedModelError(
                f"{checkpoint.path} uses hidden_act {act!r}; only 'gelu' is supported"
            )
        self._names = self._hf_names()
        self._name_map = gguf.get_tensor_name_map(self.gguf_arch, self.layers)

    def _int(self, key: str, default: int | None = None, maximum: int | None = None) -> int:
        value = self.checkpoint.config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise CheckpointError(
                f"config.json of {self.checkpoint.path} has no valid {key!r} (found {value!r})"
            )
        if maximum is not None and value > maximum:
            raise CheckpointError(f"config.json of {self.checkpoint.path} gives {key} {value}; "
                                  f"llama.cpp runs at most {maximum}")
        return value

    def _hf_names(self) -> dict[str, str]:
        """Canonical HF name -> name in the file, without ignored tensors."""
        names = {}
        for stored in self.checkpoint.names():
            name = stored.removeprefix("bert.")
            if name.endswith(".gamma"):
                name = name[: -len(".gamma")] + ".weight"
            elif name.endswith(".beta"):
                name = name[: -len(".beta")] + ".bias"
            if name.startswith(self.ignored_prefixes) or name in IGNORED_NAMES:
                continue
            names[name] = stored
        return names

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor the family needs, with its shape, from the config."""
        h = self.hidden
        shapes: dict[str, tuple[int, ...]] = {
            "embeddings.word_embeddings.weight": (self.vocab_rows, h),
            "embeddings.token_type_embeddings.weight": (self.type_vocab, h),
            "embeddings.LayerNorm.weight": (h,),
            "embeddings.LayerNorm.bias": (h,),
        }
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            for part in ("query", "key", "value"):
                shapes[f"{p}attention.self.{part}.weight"] = (h, h)
                shapes[f"{p}attention.self.{part}.bias"] = (h,)
            shapes[f"{p}attention.output.dense.weight"] = (h, h)
            shapes[f"{p}attention.output.dense.bias"] = (h,)
            shapes[f"{p}attention.output.LayerNorm.weight"] = (h,)
            shapes[f"{p}attention.output.LayerNorm.bias"] = (h,)
            shapes.update(self.layer_ffn_shapes(p))
        return shapes

    def layer_ffn_shapes(self, prefix: str) -> dict[str, tuple[int, ...]]:
        """Shapes of one layer's feed-forward tensors."""
        raise NotImplementedError

    def check_tensors(self) -> None:
        """Refuse missing, misshapen or unknown tensors before anything is written.

        Raises:
            CheckpointError: listing the offending tensors.
        """
        expected = self.expected_shapes()
        missing = [n for n in expected if n not in self._names]
        if missing:
            raise CheckpointError(
                f"{self.checkpoint.path} lacks {len(missing)} tensor(s) a "
                f"{self.checkpoint.architecture} needs, e.g. {', '.join(missing[:3])}; "
                "the weights are incomplete or belong to another architecture"
            )
        unknown = [n for n in self._names if n not in expected]
        if unknown:
            raise CheckpointError(
                f"{self.checkpoint.path} has tensors a {self.checkpoint.architecture} does "
                f"not have, e.g. {', '.join(unknown[:3])}; refusing to guess what they do"
            )
        for name, shape in expected.items():
            found = self.checkpoint.tensor_shapes[self._names[name]]
            if found != shape:
                raise CheckpointError(
                    f"tensor {name!r} in {self.checkpoint.path} has shape {list(found)}, "
                    f"config.json implies {list(shape)}"
                )

    def tensors(self) -> Iterator[tuple[str, np.ndarray]]:
        """GGUF name and float32 data of every tensor, in checkpoint order."""
        for name, stored in self._names.items():
            yield from self.gguf_tensors(name, self.checkpoint.tensor(stored))

    def gguf_tensors(self, name: str, data: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
        """The GGUF tensor(s) one checkpoint tensor becomes (one, by default)."""
        gguf_name = self._name_map.get_name(name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise CheckpointError(f"gguf has no name for tensor {name!r}")
        yield gguf_name, data

    @property
    def tensor_count(self) -> int:
        """How many tensors `tensors()` yields."""
        return len(self._names)

    def pooling(self) -> gguf.PoolingType:
        """The pooling the model was trained with."""
        return gguf.PoolingType.MEAN

    def write_hparams(self, writer: gguf.GGUFWriter) -> None:
        """Write the architecture's hyper-parameters."""
        writer.add_context_length(self.max_positions)
        writer.add_embedding_length(self.hidden)
        writer.add_block_count(self.layers)
        writer.add_feed_forward_length(self.intermediate)
        writer.add_head_count(self.heads)
        writer.add_layer_norm_eps(self.layer_norm_eps)
        writer.add_causal_attention(False)
        writer.add_pooling_type(self.pooling())

    def write_vocab(self, writer: gguf.GGUFWriter, vocab: Vocabulary) -> None:
        """Write the tokenizer: the Hugging Face original, and llama.cpp's own keys.

        Every special id is written: llama.cpp's BPE defaults (id 11 for BOS and
        EOS) are wrong for these models. llama.cpp's WordPiece wraps a text in
        BOS ... SEP, its BPE in BOS ... EOS; both are [CLS]/<s> ... [SEP]/</s>.
        """
        writer.add_string(gguf.Keys.Tokenizer.HF_JSON, vocab.hf_json)
        writer.add_tokenizer_model(vocab.model)
        writer.add_tokenizer_pre(vocab.pre or self.tokenizer_pre)
        writer.add_token_list(vocab.gguf_tokens())
        writer.add_token_types(vocab.token_types)
        writer.add_token_type_count(self.type_vocab)
        if vocab.merges:
            writer.add_token_merges(vocab.merges)
        ids = vocab.special_ids
        writer.add_bos_token_id(ids["cls"])
        writer.add_eos_token_id(ids["sep"])
        writer.add_sep_token_id(ids["sep"])
        writer.add_unk_token_id(ids["unk"])
        writer.add_pad_token_id(ids["pad"])
        if "mask" in ids:
            writer.add_mask_token_id(ids["mask"])
        writer.add_add_bos_token(True)
        writer.add_add_eos_token(vocab.model != WORDPIECE_MODEL)
        writer.add_add_sep_token(True)
        writer.add_bool(KEY_LOWERCASE, vocab.lowercase)
        writer.add_bool(KEY_STRIP_ACCENTS, vocab.strip_accents)


@register("BertModel", "BertForMaskedLM")
class BertConverter(ArchitectureConverter):
    """Classic BERT: absolute positions, GELU feed-forward (all-MiniLM, bge-small, ...)."""

    gguf_arch = gguf.MODEL_ARCH.BERT

    def __init__(self, checkpoint: Checkpoint) -> None:
        super().__init__(checkpoint)
        kind = checkpoint.config.get("position_embedding_type", "absolute")
        if kind != "absolute":
            raise UnsupportedModelError(
                f"{checkpoint.path} is a BERT with position_embedding_type {kind!r}; "
                "only 'absolute' is supported"
            )

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """BERT adds learned absolute position embeddings."""
        shapes = super().expected_shapes()
        shapes["embeddings.position_embeddings.weight"] = (self.max_positions, self.hidden)
        return shapes

    def layer_ffn_shapes(self, prefix: str) -> dict[str, tuple[int, ...]]:
        """Intermediate (up), output (down) and the output LayerNorm."""
        h, i = self.hidden, self.intermediate
        return {
            f"{prefix}intermediate.dense.weight": (i, h),
            f"{prefix}intermediate.dense.bias": (i,),
            f"{prefix}output.dense.weight": (h, i),
            f"{prefix}output.dense.bias": (h,),
            f"{prefix}output.LayerNorm.weight": (h,),
            f"{prefix}output.LayerNorm.bias": (h,),
        }

    def pooling(self) -> gguf.PoolingType:
        """Sentence-transformers' 1_Pooling/config.json decides; mean otherwise."""
        path = self.checkpoint.path / "1_Pooling" / "config.json"
        if path.is_file():
            try:
                config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise CheckpointError(f"cannot read {path}: {exc}") from exc
            if config.get("pooling_mode_cls_token"):
                return gguf.PoolingType.CLS
            if not config.get("pooling_mode_mean_tokens", True):
                raise UnsupportedModelError(
                    f"{path} asks for a pooling other than mean or CLS; not supported"
                )
        return gguf.PoolingType.MEAN


@register("JinaBertForMaskedLM", "JinaBertModel")
class JinaBertConverter(ArchitectureConverter):
    """JinaBERT v2: symmetric ALiBi instead of positions, GEGLU feed-forward.

    Three layer layouts exist, told apart by their tensors:

    - jinaai/jina-bert-implementation (small/base-en, base-de/-zh):
      `mlp.gated_layers` = [gate; up], `mlp.wo`, `mlp.layernorm` over
      x + FFN(x).
    - jinaai/jina-bert-v2-qk-devlin-norm-1e-2 (base-es): the same, plus
      LayerNorms on the full Q and K projections
      (`attention.self.layer_norm_q` / `layer_norm_k`), written as
      llama.cpp's optional `attn_q_norm` / `attn_k_norm`, which its
      jina-bert-v2 graph applies where the original does.
    - jinaai/jina-bert-v2-qk-post-norm (base-code): LayerNorms on the full Q
      and K projections, `layer_norm_1` over x + the attention block's output
      (itself LayerNorm(dense + x)), `mlp.up_gated_layer` = [up; gate] with
      GELU on the gate, `mlp.down_layer`, `layer_norm_2` over h + FFN(h).
    """

    gguf_arch = gguf.MODEL_ARCH.JINA_BERT_V2
    tokenizer_pre = "jina-v2-en"

    def __init__(self, checkpoint: Checkpoint) -> None:
        super().__init__(checkpoint)
        config = checkpoint.config
        for key, want in (("position_embedding_type", "alibi"), ("feed_forward_type", "geglu")):
            if config.get(key, want) != want:
                raise UnsupportedModelError(
                    f"{checkpoint.path} is a JinaBERT with {key} {config.get(key)!r}; "
                    f"only {want!r} is supported"
                )
        pooler = config.get("emb_pooler", "mean")
        if pooler not in (None, "mean"):
            raise UnsupportedModelError(
                f"{checkpoint.path} asks for emb_pooler {pooler!r}; only mean is supported"
            )
        self.qk_post_norm = "encoder.layer.0.mlp.up_gated_layer.weight" in self._names
        # qk-devlin-norm has no other mark than the norms: a norm in any layer
        # asks for both in every layer (check_tensors names what is missing).
        self._qk_parts = sorted({part for name in self._names for part in _QK_NORMS
                                 if f".attention.self.{part}." in name})
        self.qk_norm = self.qk_post_norm or bool(self._qk_parts)

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """The qk layouts add LayerNorms on Q and K, qk-post-norm one after the attention."""
        shapes = super().expected_shapes()
        parts = [f"attention.self.{part}" for part in _QK_NORMS] if self.qk_norm else []
        if self.qk_post_norm:
            parts.append("layer_norm_1")
        for i in range(self.layers):
            for part in parts:
                for suffix in ("weight", "bias"):
                    shapes[f"encoder.layer.{i}.{part}.{suffix}"] = (self.hidden,)
        return shapes

    def check_tensors(self) -> None:
        """A LayerNorm on Q without one on K (or the reverse) is refused by name first.

        Raises:
            CheckpointError: for that, or what the base class refuses.
        """
        if self._qk_parts and self._qk_parts != sorted(_QK_NORMS):
            have = self._qk_parts[0]
            lack = next(part for part in _QK_NORMS if part != have)
            raise CheckpointError(
                f"{self.checkpoint.path} has attention.self.{have} but no "
                f"attention.self.{lack}: the JinaBERT layouts with LayerNorms on the "
                "queries and keys have both, so the weights are incomplete or of an "
                "unknown layout")
        super().check_tensors()

    def layer_ffn_shapes(self, prefix: str) -> dict[str, tuple[int, ...]]:
        """GEGLU: one combined matrix without bias, the down projection and a LayerNorm."""
        h, i = self.hidden, self.intermediate
        if self.qk_post_norm:
            return {
                f"{prefix}mlp.up_gated_layer.weight": (2 * i, h),
                f"{prefix}mlp.down_layer.weight": (h, i),
                f"{prefix}mlp.down_layer.bias": (h,),
                f"{prefix}layer_norm_2.weight": (h,),
                f"{prefix}layer_norm_2.bias": (h,),
            }
        return {
            f"{prefix}mlp.gated_layers.weight": (2 * i, h),
            f"{prefix}mlp.wo.weight": (h, i),
            f"{prefix}mlp.wo.bias": (h,),
            f"{prefix}mlp.layernorm.weight": (h,),
            f"{prefix}mlp.layernorm.bias": (h,),
        }

    def gguf_tensors(self, name: str, data: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
        """`up_gated_layer` ([up; gate]) becomes separate ffn_up and ffn_gate tensors.

        A fused ffn_up makes llama.cpp apply GELU to its first half (ggml_geglu),
        which is right for `gated_layers` = [gate; up] but would put GELU on the
        up half here. With ffn_gate given, llama.cpp computes
        GELU(gate x) * (up x), the original's `up * act(gated)`.
        """
        if not name.endswith(".mlp.up_gated_layer.weight"):
            yield from super().gguf_tensors(name, data)
            return
        layer = int(name.split(".")[2])
        tensor_names = gguf.TENSOR_NAMES
        yield tensor_names[gguf.MODEL_TENSOR.FFN_UP].format(bid=layer) + ".weight", \
            data[: self.intermediate]
        yield tensor_names[gguf.MODEL_TENSOR.FFN_GATE].format(bid=layer) + ".weight", \
            data[self.intermediate :]

    @property
    def tensor_count(self) -> int:
        """One more tensor per layer in the qk-post-norm layout (the split FFN)."""
        return len(self._names) + (self.layers if self.qk_post_norm else 0)


@register("JinaBertForSequenceClassification")
class JinaBertRerankerConverter(JinaBertConverter):
    """jina-reranker-v1-*-en: the JinaBERT encoder with BERT's pooler and a 1-label classifier.

    The original (jina-bert-implementation's JinaBertForSequenceClassification,
    a transformers BertForSequenceClassification) scores a pair as
    classifier(tanh(pooler.dense(h_CLS))). llama.cpp's jina-bert-v2 has no
    pooler: with pooling RANK it computes tanh(cls . h_CLS + b). So the
    classifier is written as `cls.weight` {n_embd, 1} and `cls.bias` {1}, the
    tensors llama.cpp's loader creates (plain llama.cpp gets its approximation),
    and the whole head, pooler included, as float32 arrays in our own metadata
    keys, which jina-edge applies in numpy to llama.cpp's CLS state. The pooler
    cannot be a tensor: llama.cpp refuses a file with tensors it does not load
    ("wrong number of tensors").
    """

    ignored_prefixes = ("cls.", "lm_head.")
    _POOLER = ("pooler.dense.weight", "pooler.dense.bias")

    def __init__(self, checkpoint: Checkpoint) -> None:
        super().__init__(checkpoint)
        if self.qk_post_norm:
            raise UnsupportedModelError(
                f"{checkpoint.path} is a JinaBERT classifier in the qk-post-norm layout; "
                "jina-edge converts the jina-reranker-v1 layout only")
        shape = checkpoint.tensor_shapes.get(self._names.get("classifier.weight", ""))
        if shape is not None and shape[0] != 1:
            raise UnsupportedModelError(
                f"{checkpoint.path} is a classifier with {shape[0]} labels; a reranker has one "
                "(its score), so this is not a model jina-edge can rerank with")

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """The encoder's tensors plus the pooler and the 1-label classifier."""
        h = self.hidden
        return {**super().expected_shapes(), "pooler.dense.weight": (h, h),
                "pooler.dense.bias": (h,), "classifier.weight": (1, h), "classifier.bias": (1,)}

    def pooling(self) -> gguf.PoolingType:
        """The head reads the first token's state."""
        return gguf.PoolingType.CLS

    def write_hparams(self, writer: gguf.GGUFWriter) -> None:
        """The encoder's hyper-parameters, then the head as float32 arrays (see the class)."""
        super().write_hparams(writer)
        head = {RERANKER_POOLER_WEIGHT: "pooler.dense.weight",
                RERANKER_POOLER_BIAS: "pooler.dense.bias",
                RERANKER_CLASSIFIER_WEIGHT: "classifier.weight",
                RERANKER_CLASSIFIER_BIAS: "classifier.bias"}
        for key, name in head.items():
            values = self.checkpoint.tensor(self._names[name]).ravel().tolist()
            writer.add_array(key, values)

    def tensors(self) -> Iterator[tuple[str, np.ndarray]]:
        """The encoder's tensors and the classifier; the pooler lives in the metadata."""
        for name, stored in self._names.items():
            if name not in self._POOLER:
                yield from self.gguf_tensors(name, self.checkpoint.tensor(stored))

    def gguf_tensors(self, name: str, data: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
        """`classifier` becomes `cls` (not `cls.output`: jina-bert-v2 loads no cls_out)."""
        if name.startswith("classifier."):
            yield gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.CLS] + name[len("classifier"):], data
            return
        yield from super().gguf_tensors(name, data)

    @property
    def tensor_count(self) -> int:
        """The pooler's two tensors are not written as tensors."""
        return len(self._names) - len(self._POOLER)
