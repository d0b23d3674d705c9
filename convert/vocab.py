"""The tokenizer of a checkpoint: the original for jina-edge, a GGUF vocabulary for llama.cpp.

jina-edge tokenizes with the Hugging Face `tokenizers` library from the
checkpoint's own tokenizer.json, which the converter stores in the GGUF under
the spec's key `tokenizer.huggingface.json`. The GGUF's `tokenizer.ggml.*`
keys are written as well, so that the file runs in plain llama.cpp; which of
llama.cpp's tokenizers they select follows from what the tokenizer files say
(model type, pre-tokenizer, normalizer, post-processor), never from a hash of
sample output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
from tokenizers import Tokenizer
from tokenizers.implementations.bert_wordpiece import BertWordPieceTokenizer

from jina_edge.convert.checkpoint import read_json
from jina_edge.errors import CheckpointError, UnsupportedModelError
from jina_edge.models.tokenizer_json import check_tokenizer_json, probe_once

# llama.cpp's WPM tokenizer marks a word-initial piece with this prefix and
# strips "##" from continuations (llama-vocab.cpp, LLAMA_VOCAB_TYPE_WPM).
WORD_START = "\u2581"
# Hugging Face pads embedding matrices to a multiple of 64 rows at most; a
# larger gap means the vocabulary belongs to another model.
MAX_PADDING_ROWS = 63
# llama.cpp's tokenizer models (tokenizer.ggml.model) for the tokenizers we convert.
WORDPIECE_MODEL = "bert"
BYTE_LEVEL_BPE_MODEL = "gpt2"
WHITESPACE_BPE_MODEL = "whitespace"
# Normalizer switches llama.cpp reads (llama-vocab.cpp; gguf-py has no writer for them).
KEY_LOWERCASE = "tokenizer.ggml.normalizer.lowercase"
KEY_STRIP_ACCENTS = "tokenizer.ggml.normalizer.strip_accents"
# Special tokens by role, and their names when the tokenizer files do not say.
DEFAULT_SPECIAL_NAMES = {
    "WordPiece": {"unk": "[UNK]", "pad": "[PAD]", "mask": "[MASK]"},
    "BPE": {"unk": "<unk>", "pad": "<pad>", "mask": "<mask>"},
}


@dataclass(frozen=True)
class Vocabulary:
    """What the converter writes about the tokenizer.

    Attributes:
        model: llama.cpp's tokenizer model ("bert", "gpt2" or "whitespace").
        pre: llama.cpp's pre-tokenizer name, or None for the architecture's own.
        tokens: the vocabulary in id order, padded to the embedding rows.
        token_types: GGUF token type of each token.
        merges: BPE merges as "left right" (empty for WordPiece).
        special_ids: token id by role: cls, sep, unk, pad and, where the
            vocabulary has one, mask.
        lowercase: whether the normalizer lowercases.
        strip_accents: whether the normalizer strips accents.
        hf_json: the Hugging Face tokenizer, as compact JSON.
    """

    model: str
    pre: str | None
    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    special_ids: dict[str, int]
    lowercase: bool
    strip_accents: bool
    hf_json: str

    def gguf_tokens(self) -> list[str]:
        """The pieces as llama.cpp's tokenizer of this model expects them."""
        if self.model != WORDPIECE_MODEL:
            return list(self.tokens)
        out = []
        for token, kind in zip(self.tokens, self.token_types, strict=True):
            if kind in (gguf.TokenType.CONTROL, gguf.TokenType.UNUSED):
                out.append(token)
            elif token.startswith("##"):
                out.append(token[2:])
            else:
                out.append(WORD_START + token)
        return out


def read_vocabulary(root: Path, *, embedding_rows: int) -> Vocabulary:
    """Read the tokenizer files of a checkpoint and pad to the embedding matrix.

    Raises:
        UnsupportedModelError: for a tokenizer llama.cpp has no counterpart of
            (Unigram, WordLevel, a BPE that is neither byte-level nor
            whitespace-split), naming what was found.
        CheckpointError: when the files are missing, damaged or disagree with
            the weights.
    """
    tokenizer_config = read_json(root / "tokenizer_config.json", what="tokenizer config",
                                 required=False)
    tokenizer, structure = _load_tokenizer(root, tokenizer_config, embedding_rows)
    model = _part(root, structure, "model")
    model_type = str(model.get("type", "WordPiece"))
    pre_types = _types(structure.get("pre_tokenizer"))
    gguf_model, pre = _llama_tokenizer(root, model_type, pre_types, tokenizer_config)

    vocab = tokenizer.get_vocab(with_added_tokens=True)
    tokens = [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])]
    if sorted(vocab.values()) != list(range(len(tokens))):
        raise CheckpointError(f"the vocabulary in {root / 'tokenizer.json'} has gaps in its ids")
    if len(tokens) > embedding_rows or embedding_rows - len(tokens) > MAX_PADDING_ROWS:
        only = "only " if len(tokens) > embedding_rows else ""
        raise CheckpointError(
            f"the tokenizer of {root} has {len(tokens)} tokens but the embedding matrix has "
            f"{only}{embedding_rows} rows: the tokenizer files belong to another model"
        )
    special_ids = _special_ids(root, tokenizer, model, model_type, tokenizer_config)
    control = set(special_ids.values()) | _added_special_ids(root, structure)
    types = [
        int(gguf.TokenType.CONTROL) if i in control else int(gguf.TokenType.NORMAL)
        for i in range(len(tokens))
    ]
    for i in range(len(tokens), embedding_rows):
        tokens.append(f"[PAD{i}]")
        types.append(int(gguf.TokenType.UNUSED))
    lowercase, strip_accents = _normalizer_switches(root, structure)
    return Vocabulary(
        model=gguf_model,
        pre=pre,
        tokens=tokens,
        token_types=types,
        merges=_merges(root, model) if model_type == "BPE" else [],
        special_ids=special_ids,
        lowercase=lowercase,
        strip_accents=strip_accents,
        hf_json=tokenizer.to_str(),
    )


def _load_tokenizer(root: Path, tokenizer_config: dict[str, Any],
                    embedding_rows: int) -> tuple[Tokenizer, dict[str, Any]]:
    """The Hugging Face tokenizer, padding and truncation off, and its JSON structure.

    tokenizer.json is what Hugging Face's fast tokenizers run; a checkpoint with
    only a WordPiece vocab.txt gets the BERT tokenizer built from it, as
    transformers builds it. A tokenizer.json is checked, then run on hostile
    texts in a child process, before this process runs it.
    """
    vocab_txt = root / "vocab.txt"
    if vocab_txt.is_file():
        _refuse_repeats(vocab_txt)
    path = root / "tokenizer.json"
    structure = read_json(path, what="tokenizer", required=False)
    if structure:
        for key in ("model", "normalizer", "pre_tokenizer", "post_processor"):
            _part(root, structure, key)
        _added_special_ids(root, structure)
        text = path.read_text(encoding="utf-8")
        try:
            check_tokenizer_json(text, embedding_rows)
            probe_once(text, embedding_rows)
        except ValueError as exc:
            raise CheckpointError(f"{path} {exc}; jina-edge does not convert it") from exc
        tokenizer = Tokenizer.from_str(text)
    else:
        tokenizer, structure = _bert_from_vocab_txt(root, vocab_txt, tokenizer_config)
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer, structure


def _bert_from_vocab_txt(root: Path, vocab_txt: Path,
                         tokenizer_config: dict[str, Any]) -> tuple[Tokenizer, dict[str, Any]]:
    tokenizer_class = str(tokenizer_config.get("tokenizer_class", "BertTokenizer"))
    if not tokenizer_class.startswith("BertTokenizer"):
        raise UnsupportedModelError(
            f"{root} has a {tokenizer_class} without tokenizer.json; jina-edge reads such "
            "tokenizers from tokenizer.json. Save it with transformers: "
            "AutoTokenizer.from_pretrained(PATH).save_pretrained(PATH)"
        )
    if not vocab_txt.is_file():
        raise CheckpointError(
            f"no vocab.txt or tokenizer.json in {root}: the tokenizer files are missing"
        )
    lowercase = bool(tokenizer_config.get("do_lower_case", True))
    text = BertWordPieceTokenizer(str(vocab_txt), lowercase=lowercase).to_str()
    return Tokenizer.from_str(text), json.loads(text)


def _llama_tokenizer(root: Path, model_type: str, pre_types: list[str],
                     tokenizer_config: dict[str, Any]) -> tuple[str, str | None]:
    """llama.cpp's tokenizer model and pre-tokenizer for what the files describe."""
    found = (f"a {tokenizer_config.get('tokenizer_class', 'tokenizer')} with a {model_type} "
             f"model and pre-tokenizer {'+'.join(pre_types) or 'none'}")
    if model_type == "WordPiece":
        return WORDPIECE_MODEL, None
    if model_type == "BPE" and "ByteLevel" in pre_types:
        # Byte-level BPE (RoBERTa, GPT-2): llama.cpp's "gpt-2" pre-tokenizer is the
        # regex ByteLevel splits with.
        return BYTE_LEVEL_BPE_MODEL, "gpt-2"
    if model_type == "BPE" and {"Whitespace", "WhitespaceSplit"} & set(pre_types):
        # Raw Unicode pieces split at whitespace (jina-embeddings-v2-base-zh);
        # llama.cpp has a tokenizer for exactly this (PR #18756).
        return WHITESPACE_BPE_MODEL, "whitespace"
    raise UnsupportedModelError(
        f"{root} has {found}; jina-edge converts WordPiece (BERT), byte-level BPE "
        "(RoBERTa) and whitespace-split BPE tokenizers"
    )


def _types(part: object) -> list[str]:
    """The component types of a normalizer or pre-tokenizer, Sequences flattened."""
    if not isinstance(part, dict):
        return []
    kind = str(part.get("type", ""))
    if kind != "Sequence":
        return [kind]
    members = part.get("pretokenizers") or part.get("normalizers") or []
    return [t for member in members for t in _types(member)]


def _components(part: object) -> list[dict[str, Any]]:
    if not isinstance(part, dict):
        return []
    if part.get("type") != "Sequence":
        return [part]
    members = part.get("pretokenizers") or part.get("normalizers") or []
    return [c for member in members for c in _components(member)]


def _normalizer_switches(root: Path, structure: dict[str, Any]) -> tuple[bool, bool]:
    """(lowercase, strip_accents) as the normalizer does them."""
    lowercase = strip_accents = False
    for part in _components(structure.get("normalizer")):
        kind = part.get("type")
        if kind == "Lowercase":
            lowercase = True
        elif kind == "StripAccents":
            strip_accents = True
        elif kind == "BertNormalizer":
            lowercase = lowercase or bool(part.get("lowercase", True))
            accents = part.get("strip_accents")
            # None: follow lowercase, as the original BERT does.
            strip_accents = strip_accents or bool(lowercase if accents is None else accents)
    return lowercase, strip_accents


def _special_ids(root: Path, tokenizer: Tokenizer, model: dict[str, Any], model_type: str,
                 tokenizer_config: dict[str, Any]) -> dict[str, int]:
    """Token id by role; [CLS]/[SEP] (or <s>/</s>) are what the post-processor adds."""
    wrapped = tokenizer.encode("", add_special_tokens=True)
    if len(wrapped.ids) != 2:
        raise UnsupportedModelError(
            f"the tokenizer of {root} wraps a text in {len(wrapped.ids)} special tokens "
            f"({' '.join(wrapped.tokens) or 'none'}); jina-edge runs encoders whose "
            "post-processor adds one before and one after, like [CLS] ... [SEP] or <s> ... </s>"
        )
    ids = {"cls": wrapped.ids[0], "sep": wrapped.ids[1]}
    names = dict(DEFAULT_SPECIAL_NAMES.get(model_type, DEFAULT_SPECIAL_NAMES["BPE"]))
    if isinstance(model.get("unk_token"), str):
        names["unk"] = model["unk_token"]
    special_map = read_json(root / "special_tokens_map.json", what="special tokens map",
                            required=False)
    for source in (special_map, tokenizer_config):
        for role in names:
            value = source.get(f"{role}_token")
            if isinstance(value, dict):
                value = value.get("content")
            if isinstance(value, str):
                names[role] = value
    for role, name in names.items():
        token_id = tokenizer.token_to_id(name)
        if token_id is None and role != "mask":
            raise CheckpointError(
                f"the tokenizer of {root} has no {role} token ({name!r} is not in the "
                "vocabulary); an encoder's tokenizer needs an unknown and a padding token"
            )
        if token_id is not None:
            ids[role] = token_id
    return ids


def _merges(root: Path, model: dict[str, Any]) -> list[str]:
    """BPE merges as llama.cpp stores them: "left right"."""
    out = []
    for merge in model.get("merges") or []:
        pair = merge.split(" ") if isinstance(merge, str) else merge
        if not (isinstance(pair, list) and len(pair) == 2
                and all(isinstance(p, str) and p and " " not in p for p in pair)):
            raise CheckpointError(
                f"{root / 'tokenizer.json'} has the merge {merge!r:.60}; a BPE merge joins two "
                "pieces without spaces. The file is damaged or not a BPE tokenizer"
            )
        out.append(f"{pair[0]} {pair[1]}")
    return out


def _part(root: Path, tokenizer_json: dict[str, Any], key: str) -> dict[str, Any]:
    """One section of tokenizer.json as an object ({} when absent or null)."""
    value = tokenizer_json.get(key) or {}
    if not isinstance(value, dict):
        raise CheckpointError(f"{root / 'tokenizer.json'} is damaged: its {key!r} is "
                              f"{type(value).__name__}, not an object")
    return value


def _refuse_repeats(vocab_txt: Path) -> None:
    """Two lines with one token would make its id ambiguous (llama.cpp aborts on them)."""
    try:
        lines = vocab_txt.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"cannot read {vocab_txt}: {exc}") from exc
    if lines and lines[-1] == "":
        lines.pop()
    first_line: dict[str, int] = {}
    for line, token in enumerate((t.rstrip("\r") for t in lines), start=1):
        if token in first_line:
            raise CheckpointError(
                f"{vocab_txt} lists {token!r} twice (lines {first_line[token]} and {line}); "
                "each token must appear once. Restore the original file")
        first_line[token] = line


def _added_special_ids(root: Path, tokenizer_json: dict[str, Any]) -> set[int]:
    entries = tokenizer_json.get("added_tokens") or []
    if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("id"), int) for e in entries):
        raise CheckpointError(f"{root / 'tokenizer.json'} is damaged: its 'added_tokens' "
                              "must be a list of objects with an integer 'id'")
    return {entry["id"] for entry in entries if entry.get("special")}
