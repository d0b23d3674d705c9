"""Model families: what each encoder layout is, in one place per family.

A family is one checkpoint layout: the Hugging Face architecture names its
config.json may carry, the name of each of its tensors, the config values it
needs and the GGUF architecture it becomes. Its tensors are named by *role*,
and a role is the GGUF tensor name llama.cpp gives it (`attn_q`,
`ffn_down`, ...): the converter, the numpy reference, the ONNX graph, the
model-file checks, the test fixtures and the catalogue all read these records
and know each role's meaning themselves. A layout made of known roles is one
new module here (docs/model-families.md); a new role needs its math in the
reference and the ONNX graph, written independently.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Dims", "Family", "FAMILIES", "family", "family_of", "family_of_gguf",
           "gguf_architectures", "gguf_roles", "hf_architectures", "tensor_shapes"]

FeedForward = Literal["gelu", "geglu", "geglu-up-first"]
Shape = tuple[int, ...]

# The roles, by where they sit. Each has a weight and, unless it is in
# UNBIASED, a bias; the shape of each is in `tensor_shapes`.
EMBEDDING_ROLES = ("token_embd", "position_embd", "token_types", "token_embd_norm")
LAYER_ROLES = ("attn_q", "attn_k", "attn_v", "attn_q_norm", "attn_k_norm", "attn_output",
               "attn_output_norm", "attn_norm_2", "ffn_up", "ffn_down", "layer_output_norm")
HEAD_ROLES = ("pooler", "cls")
# Roles stored without a bias; the gated feed-forward's up matrix has none in
# the GEGLU layouts (see Family.feed_forward).
UNBIASED = ("token_embd", "position_embd", "token_types")
# Heads an embedding model carries from pre-training and does not use.
UNUSED_HEAD_PREFIXES = ("pooler.", "cls.", "lm_head.")
UNUSED_NAMES = ("embeddings.position_ids",)

# The tensors every BERT-like family shares, under BERT's names.
BERT_EMBEDDINGS = {
    "token_embd": "embeddings.word_embeddings",
    "token_types": "embeddings.token_type_embeddings",
    "token_embd_norm": "embeddings.LayerNorm",
}
BERT_ATTENTION = {
    "attn_q": "attention.self.query",
    "attn_k": "attention.self.key",
    "attn_v": "attention.self.value",
    "attn_output": "attention.output.dense",
    "attn_output_norm": "attention.output.LayerNorm",
}


@dataclass(frozen=True)
class Family:
    """One checkpoint layout.

    Attributes:
        name: the family's name (catalogue entries name it).
        summary: one line for people.
        source: the public modelling code the layout follows.
        hf_architectures: `architectures` values of config.json that may hold
            it; several families may share one, told apart by their tensors.
        gguf_architecture: llama.cpp's architecture name for it.
        embeddings: role -> Hugging Face tensor name (without ".weight").
        layer: role -> name inside `encoder.layer.N.`. `attn_q_norm` /
            `attn_k_norm` are LayerNorms on the full Q and K projections;
            `attn_norm_2` a LayerNorm over x + the attention block's output.
        head: role -> name of a classification head: `pooler` (BERT's
            tanh(dense)) and `cls` (a one-label classifier) make a reranker.
        feed_forward: "gelu" (up, GELU, down), "geglu" (`ffn_up` is
            [gate; up], GELU(gate) * up) or "geglu-up-first" ([up; gate]).
        config: config.json key -> the values the family's code supports
            (None: the key may be absent).
        pooling: "mean" or "cls" (what the model was trained with).
        tokenizer_pre: llama.cpp's pre-tokenizer name for BPE vocabularies
            that do not say theirs.
    """

    name: str
    summary: str
    source: str
    hf_architectures: tuple[str, ...]
    gguf_architecture: str
    embeddings: dict[str, str]
    layer: dict[str, str]
    feed_forward: FeedForward
    head: dict[str, str] = field(default_factory=dict)
    config: dict[str, tuple[object, ...]] = field(default_factory=dict)
    pooling: Literal["mean", "cls"] = "mean"
    tokenizer_pre: str = "default"

    @property
    def positions(self) -> Literal["absolute", "alibi"]:
        """Learned absolute positions, or ALiBi (no position tensor)."""
        return "absolute" if "position_embd" in self.embeddings else "alibi"

    @property
    def is_reranker(self) -> bool:
        """Whether the family scores pairs through a classification head."""
        return "cls" in self.head

    def hf_name(self, role: str, layer: int | None = None) -> str:
        """The Hugging Face name (without .weight / .bias) of a role, in `layer` for layer roles."""
        if layer is not None:
            return f"encoder.layer.{layer}.{self.layer[role]}"
        return self.embeddings.get(role) or self.head[role]

    def has(self, role: str) -> bool:
        """Whether the family's tensors include `role`."""
        return role in self.embeddings or role in self.layer or role in self.head

    def biased(self, role: str) -> bool:
        """Whether the role has a bias next to its weight."""
        return role not in UNBIASED and not (role == "ffn_up" and self.feed_forward != "gelu")


@dataclass(frozen=True)
class Dims:
    """The sizes a checkpoint's tensor shapes follow from (config.json's)."""

    hidden: int
    intermediate: int
    layers: int
    vocab_rows: int
    type_vocab: int = 2
    positions: int = 512


def tensor_shapes(family: Family, dims: Dims) -> dict[str, Shape]:
    """Every tensor of the family, Hugging Face name -> shape, in the order models store them."""
    h, i = dims.hidden, dims.intermediate
    up_rows = i if family.feed_forward == "gelu" else 2 * i
    weight_shapes = {
        "token_embd": (dims.vocab_rows, h), "position_embd": (dims.positions, h),
        "token_types": (dims.type_vocab, h), "attn_output": (h, h), "attn_q": (h, h),
        "attn_k": (h, h), "attn_v": (h, h), "ffn_up": (up_rows, h), "ffn_down": (h, i),
        "pooler": (h, h), "cls": (1, h),
    }
    bias_rows = {"ffn_up": up_rows, "cls": 1}
    shapes: dict[str, Shape] = {}

    def add(role: str, name: str) -> None:
        shapes[name + ".weight"] = weight_shapes.get(role, (h,))
        if family.biased(role):
            shapes[name + ".bias"] = (bias_rows.get(role, h),)

    for role in EMBEDDING_ROLES:
        if role in family.embeddings:
            add(role, family.embeddings[role])
    for layer in range(dims.layers):
        for role in LAYER_ROLES:
            if role in family.layer:
                add(role, family.hf_name(role, layer))
    for role in HEAD_ROLES:
        if role in family.head:
            add(role, family.head[role])
    return shapes


FAMILIES: dict[str, Family] = {}


def register(new: Family) -> Family:
    """Add a family to the registry (each family module calls it once)."""
    unknown = [role for role in (*new.embeddings, *new.layer, *new.head)
               if role not in (*EMBEDDING_ROLES, *LAYER_ROLES, *HEAD_ROLES)]
    if unknown or new.name in FAMILIES:
        raise ValueError(f"family {new.name!r}: duplicate name or unknown roles {unknown}")
    FAMILIES[new.name] = new
    return new


def family(name: str) -> Family:
    """The registered family called `name`.

    Raises:
        KeyError: naming the families there are.
    """
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"no model family {name!r}; families: {', '.join(FAMILIES)}") from None


def hf_architectures() -> list[str]:
    """Every config.json architecture name some family accepts."""
    return sorted({arch for fam in FAMILIES.values() for arch in fam.hf_architectures})


def gguf_architectures() -> list[str]:
    """Every GGUF architecture some family becomes."""
    return sorted({fam.gguf_architecture for fam in FAMILIES.values()})


def family_of(architectures: Iterable[str], tensor_names: Collection[str]) -> Family | None:
    """The family of a checkpoint, from config.json's architectures and its tensor names.

    Among the families that accept one of the architectures, the one with the
    most of its first layer's, embedding and head tensors present wins; on a
    tie, the one that needs fewer. A checkpoint that lacks some of the winner's
    tensors is still given it, so that the caller can say which are missing.
    None when no family accepts the architectures.
    """
    names = {name.removeprefix("bert.") for name in tensor_names}
    wanted = set(architectures)
    best: tuple[int, int, Family] | None = None
    for fam in FAMILIES.values():
        if not wanted.intersection(fam.hf_architectures):
            continue
        probe = list(tensor_shapes(fam, Dims(1, 1, 1, 1)))  # one layer: layer 0
        score = (sum(n in names for n in probe), -len(probe))
        if best is None or score > best[:2]:
            best = (*score, fam)
    return None if best is None else best[2]


def gguf_roles(family: Family) -> set[str]:
    """The roles of the tensors a GGUF of the family holds (the pooler lives in metadata)."""
    roles = {*family.embeddings, *family.layer, *family.head} - {"pooler"}
    if family.feed_forward == "geglu-up-first":  # written as ffn_up and ffn_gate
        roles.add("ffn_gate")
    return roles


def family_of_gguf(architecture: str, roles: Collection[str]) -> Family | None:
    """The family whose GGUF holds exactly these tensor roles; None when no family does."""
    found = set(roles)
    for fam in FAMILIES.values():
        if fam.gguf_architecture == architecture and gguf_roles(fam) == found:
            return fam
    return None


def _register_all() -> None:
    """Import every module of this package: each registers its family."""
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{module}")


_register_all()
