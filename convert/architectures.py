"""The converter of a checkpoint of any registered model family (jina_edge.families).

It checks the config fields and tensors the family declares and writes them
under their GGUF names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import gguf
import numpy as np

from jina_edge import families
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

# The shortest window worth converting (the runtime's smallest max_tokens).
MIN_POSITIONS = 8


def supported_architectures() -> list[str]:
    """The Hugging Face architecture names the converter accepts."""
    return families.hf_architectures()


def converter_for(checkpoint: Checkpoint) -> ArchitectureConverter:
    """The converter for a checkpoint, set for its family.

    Raises:
        UnsupportedModelError: naming what was found and what is supported.
    """
    arch = checkpoint.architecture
    family = families.family_of([arch], set(checkpoint.names()))
    if family is None:
        raise UnsupportedModelError(
            f"{checkpoint.path} holds a {arch or 'model without architectures in config.json'}"
            f"; supported architectures: {', '.join(supported_architectures())}"
        )
    return ArchitectureConverter(checkpoint, family)


class ArchitectureConverter:
    """Checks a checkpoint of one family and yields its GGUF metadata and tensors.

    Tensors are written under their role's name (jina_edge.families), which is
    llama.cpp's name for them; the "geglu-up-first" feed-forward's [up; gate]
    matrix becomes separate ffn_up and ffn_gate tensors (see `gguf_tensors`).
    A reranker's head is written as llama.cpp's `cls` tensors and, pooler
    included, as float32 arrays in our own metadata keys (see `write_head`).
    """

    def __init__(self, checkpoint: Checkpoint, family: families.Family) -> None:
        self.checkpoint = checkpoint
        self.family = family
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
        for key, allowed in family.config.items():
            value = config.get(key)
            if value not in allowed:
                supported = " or ".join(repr(v) for v in allowed if v is not None)
                raise UnsupportedModelError(
                    f"{checkpoint.path} is a {family.name} with {key} {value!r}; "
                    f"only {supported} is supported")
        self._names = self._hf_names()
        self._roles = {name: (role, layer) for role, layer, name in self._role_names()}
        classifier = self._names.get(f"{family.head.get('cls')}.weight", "")
        labels = checkpoint.tensor_shapes.get(classifier, (1,))[0]
        if labels != 1:
            raise UnsupportedModelError(
                f"{checkpoint.path} is a classifier with {labels} labels; a reranker has one "
                "(its score), so this is not a model jina-edge can rerank with")

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
        """Canonical HF name -> name in the file, without the unused heads."""
        declared = self.expected_shapes()
        names = {}
        for stored in self.checkpoint.names():
            name = stored.removeprefix("bert.")
            if name.endswith(".gamma"):
                name = name[: -len(".gamma")] + ".weight"
            elif name.endswith(".beta"):
                name = name[: -len(".beta")] + ".bias"
            if name not in declared and (name.startswith(families.UNUSED_HEAD_PREFIXES)
                                         or name in families.UNUSED_NAMES):
                continue
            names[name] = stored
        return names

    def _role_names(self) -> Iterator[tuple[str, int | None, str]]:
        """(role, layer or None, HF name) of every tensor of the family."""
        family = self.family
        for role in (*family.embeddings, *family.head):
            name = family.hf_name(role)
            for kind in ("weight", "bias"):
                yield role, None, f"{name}.{kind}"
        for layer in range(self.layers):
            for role in family.layer:
                for kind in ("weight", "bias"):
                    yield role, layer, f"{family.hf_name(role, layer)}.{kind}"

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor the family needs, with its shape, from the config."""
        dims = families.Dims(self.hidden, self.intermediate, self.layers, self.vocab_rows,
                             self.type_vocab, self.max_positions)
        return families.tensor_shapes(self.family, dims)

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
                f"{self.family.name} model needs, e.g. {', '.join(missing[:3])}; "
                "the weights are incomplete or belong to another architecture"
            )
        unknown = [n for n in self._names if n not in expected]
        if unknown:
            raise CheckpointError(
                f"{self.checkpoint.path} has tensors a {self.family.name} model does "
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
        """GGUF name and data of every tensor, in checkpoint order; the pooler goes elsewhere.

        The pooler cannot be a tensor: llama.cpp refuses a file with tensors it
        does not load ("wrong number of tensors"); `write_head` stores it.
        """
        for name, stored in self._names.items():
            if self._roles[name][0] != "pooler":
                yield from self.gguf_tensors(name, self.checkpoint.tensor(stored))

    def gguf_tensors(self, name: str, data: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
        """The GGUF tensor(s) one checkpoint tensor becomes: its role's, in its layer.

        [up; gate] becomes separate ffn_up and ffn_gate tensors: a fused
        ffn_up makes llama.cpp apply GELU to its first half (ggml_geglu), which
        is right for "geglu" = [gate; up] but would put GELU on the up half
        here. With ffn_gate given, llama.cpp computes GELU(gate x) * (up x).
        """
        role, layer = self._roles[name]
        kind = name.rsplit(".", 1)[1]
        prefix = "" if layer is None else f"blk.{layer}."
        if role == "ffn_up" and self.family.feed_forward == "geglu-up-first":
            yield f"{prefix}ffn_up.{kind}", data[: self.intermediate]
            yield f"{prefix}ffn_gate.{kind}", data[self.intermediate :]
            return
        yield f"{prefix}{role}.{kind}", data

    @property
    def tensor_count(self) -> int:
        """How many tensors `tensors()` yields."""
        split = self.layers if self.family.feed_forward == "geglu-up-first" else 0
        pooler = sum(self._roles[name][0] == "pooler" for name in self._names)
        return len(self._names) + split - pooler

    def pooling(self) -> gguf.PoolingType:
        """The family's; for an embedding model, sentence-transformers' 1_Pooling decides."""
        if self.family.pooling == "cls":
            return gguf.PoolingType.CLS
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

    def write_hparams(self, writer: gguf.GGUFWriter) -> None:
        """Write the architecture's hyper-parameters, then a reranker's head."""
        writer.add_context_length(self.max_positions)
        writer.add_embedding_length(self.hidden)
        writer.add_block_count(self.layers)
        writer.add_feed_forward_length(self.intermediate)
        writer.add_head_count(self.heads)
        writer.add_layer_norm_eps(self.layer_norm_eps)
        writer.add_causal_attention(False)
        writer.add_pooling_type(self.pooling())
        self.write_head(writer)

    def write_head(self, writer: gguf.GGUFWriter) -> None:
        """A reranker's whole head, pooler included, as float32 arrays in our own keys.

        llama.cpp's jina-bert-v2 has no pooler: with pooling RANK it computes
        tanh(cls . h_CLS + b) from the `cls` tensors (plain llama.cpp gets that
        approximation); jina-edge applies the original's
        classifier(tanh(pooler(h_CLS))) in numpy to llama.cpp's CLS state.
        """
        if not self.family.is_reranker:
            return
        head = {RERANKER_POOLER_WEIGHT: "pooler.weight", RERANKER_POOLER_BIAS: "pooler.bias",
                RERANKER_CLASSIFIER_WEIGHT: "cls.weight", RERANKER_CLASSIFIER_BIAS: "cls.bias"}
        by_role = {f"{role}.{name.rsplit('.', 1)[1]}": name
                   for name, (role, _) in self._roles.items() if role in ("pooler", "cls")}
        for key, role in head.items():
            values = self.checkpoint.tensor(self._names[by_role[role]]).ravel().tolist()
            writer.add_array(key, values)

    def write_vocab(self, writer: gguf.GGUFWriter, vocab: Vocabulary) -> None:
        """Write the tokenizer: the Hugging Face original, and llama.cpp's own keys.

        Every special id is written: llama.cpp's BPE defaults (id 11 for BOS and
        EOS) are wrong for these models. llama.cpp's WordPiece wraps a text in
        BOS ... SEP, its BPE in BOS ... EOS; both are [CLS]/<s> ... [SEP]/</s>.
        """
        writer.add_string(gguf.Keys.Tokenizer.HF_JSON, vocab.hf_json)
        writer.add_tokenizer_model(vocab.model)
        writer.add_tokenizer_pre(vocab.pre or self.family.tokenizer_pre)
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
