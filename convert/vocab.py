"""The WordPiece vocabulary of a checkpoint, as llama.cpp's "bert" tokenizer wants it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf

from jina_edge.convert.checkpoint import read_json
from jina_edge.errors import CheckpointError, UnsupportedModelError

# llama.cpp's WPM tokenizer marks a word-initial piece with this prefix and
# strips "##" from continuations (llama-vocab.cpp, LLAMA_VOCAB_TYPE_WPM).
WORD_START = "\u2581"
SPECIAL_ROLES = ("cls", "sep", "unk", "pad", "mask")
# Hugging Face pads embedding matrices to a multiple of 64 rows at most; a
# larger gap means the vocabulary belongs to another model.
MAX_PADDING_ROWS = 63


@dataclass(frozen=True)
class Vocabulary:
    """Tokens in id order with their GGUF token types and the special token ids."""

    tokens: list[str]
    token_types: list[int]
    special_ids: dict[str, int]
    lowercase: bool

    def gguf_tokens(self) -> list[str]:
        """Pieces rewritten the way llama.cpp's WordPiece tokenizer expects."""
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
        UnsupportedModelError: for a tokenizer other than WordPiece (BPE, Unigram).
        CheckpointError: when the files are missing or disagree with the weights.
    """
    tokenizer_config = read_json(root / "tokenizer_config.json", what="tokenizer config",
                                 required=False)
    tokenizer_class = str(tokenizer_config.get("tokenizer_class", "BertTokenizer"))
    tokenizer_json = read_json(root / "tokenizer.json", what="tokenizer", required=False)
    model_type = str(_part(root, tokenizer_json, "model").get("type", "WordPiece"))
    if model_type != "WordPiece" or not tokenizer_class.startswith("BertTokenizer"):
        raise UnsupportedModelError(
            f"{root} uses a {tokenizer_class} ({model_type}) tokenizer; jina-edge supports "
            "WordPiece (BertTokenizer) vocabularies for now: jina-embeddings-v2-small-en, "
            "-base-en and BERT models such as all-MiniLM-L6-v2. The BPE-vocabulary "
            "de/es/zh/code variants are not supported yet"
        )
    tokens = _read_tokens(root, tokenizer_json)
    if len(tokens) > embedding_rows:
        raise CheckpointError(
            f"the tokenizer of {root} has {len(tokens)} tokens but the embedding matrix has "
            f"only {embedding_rows} rows: the tokenizer files belong to another model"
        )
    if embedding_rows - len(tokens) > MAX_PADDING_ROWS:
        raise CheckpointError(
            f"the tokenizer of {root} has {len(tokens)} tokens but the embedding matrix has "
            f"{embedding_rows} rows: the tokenizer files belong to another model"
        )
    special_tokens = _special_tokens(root, tokenizer_config, tokenizer_json)
    index = {token: i for i, token in enumerate(tokens)}
    special_ids = {}
    for role in SPECIAL_ROLES:
        token = special_tokens.get(role)
        if token is None or token not in index:
            raise CheckpointError(
                f"the tokenizer of {root} has no {role} token ({token!r} is not in the "
                "vocabulary); a BERT tokenizer needs [CLS], [SEP], [UNK], [PAD] and [MASK]"
            )
        special_ids[role] = index[token]
    control = set(special_ids.values()) | _added_special_ids(root, tokenizer_json)
    types = [
        int(gguf.TokenType.CONTROL) if i in control else int(gguf.TokenType.NORMAL)
        for i in range(len(tokens))
    ]
    for i in range(len(tokens), embedding_rows):
        tokens.append(f"[PAD{i}]")
        types.append(int(gguf.TokenType.UNUSED))
    lowercase = bool(tokenizer_config.get("do_lower_case", True))
    normalizer = _part(root, tokenizer_json, "normalizer")
    if "lowercase" in normalizer:
        lowercase = bool(normalizer["lowercase"])
    return Vocabulary(tokens=tokens, token_types=types, special_ids=special_ids,
                      lowercase=lowercase)


def _read_tokens(root: Path, tokenizer_json: dict[str, Any]) -> list[str]:
    vocab_txt = root / "vocab.txt"
    if vocab_txt.is_file():
        try:
            lines = vocab_txt.read_text(encoding="utf-8").split("\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"cannot read {vocab_txt}: {exc}") from exc
        if lines and lines[-1] == "":
            lines.pop()
        tokens = [line.rstrip("\r") for line in lines]
        _refuse_repeats(vocab_txt, tokens)
        return tokens
    vocab = _part(root, tokenizer_json, "model").get("vocab")
    if isinstance(vocab, dict) and vocab:
        by_id = sorted(vocab.items(), key=lambda item: item[1])
        if [i for _, i in by_id] != list(range(len(by_id))):
            raise CheckpointError(
                f"the vocabulary in {root / 'tokenizer.json'} has gaps in its ids"
            )
        return [token for token, _ in by_id]
    raise CheckpointError(
        f"no vocab.txt or tokenizer.json in {root}: the tokenizer files are missing"
    )


def _part(root: Path, tokenizer_json: dict[str, Any], key: str) -> dict[str, Any]:
    """One section of tokenizer.json as an object ({} when absent or null)."""
    value = tokenizer_json.get(key) or {}
    if not isinstance(value, dict):
        raise CheckpointError(f"{root / 'tokenizer.json'} is damaged: its {key!r} is "
                              f"{type(value).__name__}, not an object")
    return value


def _refuse_repeats(vocab_txt: Path, tokens: list[str]) -> None:
    """Two lines with one token would make its id ambiguous (llama.cpp aborts on them)."""
    first_line: dict[str, int] = {}
    for line, token in enumerate(tokens, start=1):
        if token in first_line:
            raise CheckpointError(
                f"{vocab_txt} lists {token!r} twice (lines {first_line[token]} and {line}); "
                "each token must appear once. Restore the original file")
        first_line[token] = line


def _special_tokens(
    root: Path, tokenizer_config: dict[str, Any], tokenizer_json: dict[str, Any]
) -> dict[str, str]:
    found = {role: f"[{role.upper()}]" for role in SPECIAL_ROLES}
    special_map = read_json(root / "special_tokens_map.json", what="special tokens map",
                            required=False)
    for source in (special_map, tokenizer_config):
        for role in SPECIAL_ROLES:
            value = source.get(f"{role}_token")
            if isinstance(value, dict):
                value = value.get("content")
            if isinstance(value, str):
                found[role] = value
    return found


def _added_special_ids(root: Path, tokenizer_json: dict[str, Any]) -> set[int]:
    entries = tokenizer_json.get("added_tokens") or []
    if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("id"), int) for e in entries):
        raise CheckpointError(f"{root / 'tokenizer.json'} is damaged: its 'added_tokens' "
                              "must be a list of objects with an integer 'id'")
    return {entry["id"] for entry in entries if entry.get("special")}
