"""The Hugging Face tokenizer.json a model carries, checked and bounded before any text reaches it.

A tokenizer.json is code-like input: its normalizers rewrite text, its regexes
run on every text, its ids index the embedding table. `ModelTokenizer` refuses
one whose worst case is unbounded (see `check_tokenizer_json`) and turns the
tokenizers library's panics into errors; `probe_once` runs it on hostile texts
in a child process, with a time and memory limit, before this process does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Collection, Iterator
from typing import Any

from tokenizers import Encoding, Tokenizer

from jina_edge.config import cache_dir, write_bytes_atomic
from jina_edge.errors import BackendError
from jina_edge.models.derived import is_sealed, seal

logger = logging.getLogger(__name__)

MAX_JSON_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 32  # nesting of the JSON; real ones are under 10 deep
MAX_SEQUENCE = 32  # components in one Sequence
MAX_EXPANSION = 32  # how many times longer the normalizers may make a text, at worst
MAX_INSERTED_CHARS = 16  # a Prepend, a Metaspace replacement, a subword prefix
MAX_REPLACEMENT_CHARS = 16
MAX_WORD_CHARS = 1000  # WordPiece's per-word limit: its cost grows with its square
MAX_SPECIAL_TOKENS = 8  # added by the post-processor around one text or a pair
MAX_TOKEN_CHARS = 256  # an added token's text

# How many characters one character can become, at worst: NFKC maps U+FDFA to 18,
# NFD a Greek letter to 4, BertNormalizer spaces out CJK (3), lowercasing İ gives 2.
_NORMALIZER_GROWTH = {
    "NFC": 3, "NFD": 4, "NFKC": 18, "NFKD": 18, "Lowercase": 3, "Strip": 1,
    "StripAccents": 1, "Nmt": 1, "ByteLevel": 4, "BertNormalizer": 12,
}
_PRE_TOKENIZERS = {"BertPreTokenizer", "ByteLevel", "CharDelimiterSplit", "Metaspace",
                   "Whitespace", "WhitespaceSplit", "Sequence", "Split", "Punctuation",
                   "Digits", "UnicodeScripts"}
_MODELS = {"BPE", "WordPiece", "WordLevel", "Unigram"}
_POST_PROCESSORS = {"BertProcessing", "RobertaProcessing", "ByteLevel", "TemplateProcessing",
                    "Sequence"}

PROBE_TIMEOUT_S = 120.0
PROBE_MEMORY_BYTES = 4 * 1024**3
PROBE_RUN_CHARS = 20_000
MAX_PROBE_LITERALS = 256  # strings of the tokenizer's own probed, patterns first
# Runs of each kind of character, and of the mixes regexes trip on.
_PROBE_RUNS = ("a", "A", "é", "1", " ", ".", "-", "'", "中", "\u0301", "😀", "\ufdfa", "İ",
               "\t", "\n", "a1", "a ", "a.", " a", "a'", "1.", "aA1 .", "\x00", "\ufffd")
_PROBE_ENDS = ("!", "b", " ", "1", "\n", "中")


class ModelTokenizer:
    """A model's tokenizer.json, refused when unbounded, whose failures are errors.

    Raises:
        ValueError: saying what is wrong with the tokenizer.json.
    """

    def __init__(self, text: str, n_vocab: int) -> None:
        check_tokenizer_json(text, n_vocab)
        try:
            tokenizer = Tokenizer.from_str(text)
        except BaseException as exc:  # the library raises plain Exception, or panics
            _reraise_interrupts(exc)
            raise ValueError(f"the tokenizers library cannot read it ({_first_line(exc)})") from exc
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self._tokenizer = tokenizer

    def encode(self, text: str, pair: str | None = None, *,
               add_special_tokens: bool = True) -> Encoding:
        """The text's (or pair's) encoding.

        Raises:
            BackendError: when the tokenizer fails on it (a regex giving up, say).
        """
        try:
            return self._tokenizer.encode(text, pair, add_special_tokens=add_special_tokens)
        except BaseException as exc:
            _reraise_interrupts(exc)
            raise BackendError(
                f"the model's tokenizer failed on this text ({_first_line(exc)}); its "
                "tokenizer.json is broken: convert the model again") from exc

    def vocab_size(self) -> int:
        """Tokens the tokenizer knows, added tokens included."""
        return int(self._tokenizer.get_vocab_size(with_added_tokens=True))


def check_tokenizer_json(text: str, n_vocab: int) -> dict[str, Any]:
    """The parsed tokenizer.json, when its cost on any text is bounded and its ids fit the model.

    Refused: an oversized or too deeply nested file; a component jina-edge does
    not know the worst case of; normalizers that can make a text more than
    MAX_EXPANSION times longer; a post-processor adding more than
    MAX_SPECIAL_TOKENS tokens; an id outside the model's `n_vocab` rows.

    Raises:
        ValueError: saying which part is refused and why.
    """
    if len(text) > MAX_JSON_BYTES:
        raise ValueError(f"is {len(text):,} characters long; jina-edge reads up to "
                         f"{MAX_JSON_BYTES:,}")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"is not JSON jina-edge can read ({_first_line(exc)})") from exc
    if not isinstance(data, dict):
        raise ValueError("is not a JSON object")
    depth = _depth(data)
    if depth > MAX_DEPTH:
        raise ValueError(f"is nested {depth} levels deep; jina-edge reads up to {MAX_DEPTH}")
    growth = _growth(data.get("normalizer"))
    if growth > MAX_EXPANSION:
        raise ValueError(f"has normalizers that can make a text {growth:,} times longer; "
                         f"jina-edge allows {MAX_EXPANSION}")
    _check_pre_tokenizer(data.get("pre_tokenizer"))
    _check_model(data.get("model"), n_vocab)
    _check_added_tokens(data.get("added_tokens"), n_vocab)
    _check_post_processor(data.get("post_processor"), n_vocab)
    return data


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _reraise_interrupts(exc: BaseException) -> None:
    # pyo3's PanicException derives from BaseException; Ctrl-C must still stop.
    if isinstance(exc, (KeyboardInterrupt, SystemExit, MemoryError)):
        raise exc


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) \
            else ()
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _component(value: Any, what: str,
               known: Collection[str] | None = None) -> tuple[str, dict[str, Any]]:
    """(type, the component); refused without a type, or of a type not in `known`."""
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise ValueError(f"has a {what} without a type")
    if known is not None and value["type"] not in known:
        raise ValueError(f"has a {value['type']} {what}, which jina-edge does not run")
    return value["type"], value


def _items(component: dict[str, Any], key: str, what: str) -> list[Any]:
    items = component.get(key)
    if not isinstance(items, list):
        raise ValueError(f"has a {what} Sequence without its list")
    if len(items) > MAX_SEQUENCE:
        raise ValueError(f"has a {what} Sequence of {len(items)}; jina-edge reads up to "
                         f"{MAX_SEQUENCE}")
    return items


def _text(component: dict[str, Any], key: str, limit: int, what: str) -> str:
    value = component.get(key) or ""
    if not isinstance(value, str):
        raise ValueError(f"has a {what} whose {key} is not text")
    if len(value) > limit:
        raise ValueError(f"has a {what} whose {key} is {len(value):,} characters; "
                         f"jina-edge allows {limit}")
    return value


def _pattern(component: dict[str, Any], what: str) -> tuple[str, str]:
    """("String" or "Regex", the pattern) of a Replace or Split."""
    pattern = component.get("pattern")
    if not isinstance(pattern, dict) or len(pattern) != 1:
        raise ValueError(f"has a {what} without a pattern")
    (kind, value), = pattern.items()
    if kind not in ("String", "Regex") or not isinstance(value, str) or not value:
        raise ValueError(f"has a {what} whose pattern is empty or not a String or Regex")
    if len(value) > MAX_REPLACEMENT_CHARS * 16:
        raise ValueError(f"has a {what} whose pattern is {len(value):,} characters")
    return kind, value


def _growth(normalizer: Any) -> int:
    """How many times longer the normalizer can make a text, at worst."""
    if normalizer is None:
        return 1
    kind, component = _component(normalizer, "normalizer")
    if kind == "Sequence":
        total = 1
        for item in _items(component, "normalizers", "normalizer"):
            total *= _growth(item)
            if total > MAX_EXPANSION:
                break
        return total
    if kind == "Replace":
        pattern_kind, pattern = _pattern(component, "Replace normalizer")
        content = _text(component, "content", MAX_REPLACEMENT_CHARS, "Replace normalizer")
        if pattern_kind == "String":
            return max(1, -(-len(content) // len(pattern)))
        return 1 + len(content)  # a regex may match the empty string between characters
    if kind == "Prepend":
        _text(component, "prepend", MAX_INSERTED_CHARS, "Prepend normalizer")
        return 1 + MAX_INSERTED_CHARS  # once per text, but a text may be one character
    if kind not in _NORMALIZER_GROWTH:
        raise ValueError(f"has a {kind} normalizer, which jina-edge does not run (it cannot "
                         "bound what it does to a text)")
    return _NORMALIZER_GROWTH[kind]


def _check_pre_tokenizer(pre: Any) -> None:
    if pre is None:
        return
    kind, component = _component(pre, "pre-tokenizer", _PRE_TOKENIZERS)
    if kind == "Sequence":
        for item in _items(component, "pretokenizers", "pre-tokenizer"):
            _check_pre_tokenizer(item)
    elif kind == "Split":
        _pattern(component, "Split pre-tokenizer")
    elif kind == "Metaspace":
        _text(component, "replacement", MAX_INSERTED_CHARS, "Metaspace pre-tokenizer")


def _check_id(value: Any, n_vocab: int, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < n_vocab:
        raise ValueError(f"gives {what} the id {value!r}, outside the model's {n_vocab:,} tokens")


def _check_model(model: Any, n_vocab: int) -> None:
    kind, component = _component(model, "model", _MODELS)
    vocab = component.get("vocab")
    if kind == "Unigram":
        if not isinstance(vocab, list) or len(vocab) > n_vocab:
            raise ValueError(f"has a Unigram vocabulary that is not a list of up to "
                             f"{n_vocab:,} pieces")
    else:
        if not isinstance(vocab, dict):
            raise ValueError(f"has a {kind} model without its vocabulary")
        for token, token_id in vocab.items():
            _check_id(token_id, n_vocab, repr(token[:40]))
    if kind == "BPE" and component.get("dropout") not in (None, 0, 0.0):
        raise ValueError("has BPE dropout, which makes the same text give other tokens")
    for key in ("continuing_subword_prefix", "end_of_word_suffix"):
        _text(component, key, MAX_INSERTED_CHARS, f"{kind} model")
    if kind == "WordPiece":
        limit = component.get("max_input_chars_per_word", 100)
        if not isinstance(limit, int) or not 0 < limit <= MAX_WORD_CHARS:
            raise ValueError(f"has a WordPiece max_input_chars_per_word of {limit!r}; "
                             f"jina-edge allows 1 to {MAX_WORD_CHARS}")


def _check_added_tokens(added: Any, n_vocab: int) -> None:
    if added is None:
        return
    if not isinstance(added, list) or len(added) > n_vocab:
        raise ValueError(f"has added_tokens that are not a list of up to {n_vocab:,}")
    for token in added:
        if not isinstance(token, dict):
            raise ValueError("has an added token that is not an object")
        content = _text(token, "content", MAX_TOKEN_CHARS, "added token")
        _check_id(token.get("id"), n_vocab, f"the added token {content[:40]!r}")


def _check_post_processor(post: Any, n_vocab: int) -> None:
    if post is None:
        return
    kind, component = _component(post, "post-processor", _POST_PROCESSORS)
    if kind == "Sequence":
        for item in _items(component, "processors", "post-processor"):
            _check_post_processor(item, n_vocab)
    elif kind in ("BertProcessing", "RobertaProcessing"):
        for key in ("sep", "cls"):
            pair = component.get(key)
            if not isinstance(pair, list) or len(pair) != 2:
                raise ValueError(f"has a {kind} post-processor without its {key} token")
            _check_id(pair[1], n_vocab, f"the {key} token")
    elif kind == "TemplateProcessing":
        for key in ("single", "pair"):
            template = component.get(key) or []
            if not isinstance(template, list) or len(template) > 2 + MAX_SPECIAL_TOKENS:
                raise ValueError(f"has a template ({key}) of more than "
                                 f"{MAX_SPECIAL_TOKENS} special tokens")
        specials = component.get("special_tokens") or {}
        if not isinstance(specials, dict) or len(specials) > MAX_SPECIAL_TOKENS:
            raise ValueError(f"has more than {MAX_SPECIAL_TOKENS} special tokens in its template")
        for name, special in specials.items():
            ids = special.get("ids") if isinstance(special, dict) else None
            if not isinstance(ids, list) or not 0 < len(ids) <= MAX_SPECIAL_TOKENS:
                raise ValueError(f"has the template token {str(name)[:40]!r} with "
                                 f"no ids or more than {MAX_SPECIAL_TOKENS}")
            for token_id in ids:
                _check_id(token_id, n_vocab, f"the template token {str(name)[:40]!r}")


# -- the probe in a child process ----------------------------------------------


def probe_texts(data: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(what, text) pairs that make a tokenizer show its worst: long runs and its own patterns."""
    for run in _PROBE_RUNS:
        yield f"a run of {run!r}", run * (PROBE_RUN_CHARS // len(run))
        for end in _PROBE_ENDS:  # a regex that backtracks fails to match at the end
            yield f"a run of {run!r} ending {end!r}", run * (PROBE_RUN_CHARS // len(run)) + end
    for literal in _literals(data):
        times = PROBE_RUN_CHARS // (len(literal) + 1)
        yield f"{literal[:20]!r} repeated", (literal + " ") * times
        yield f"{literal[:20]!r} repeated without spaces", literal * times


def _literals(data: dict[str, Any]) -> list[str]:
    """Strings the tokenizer looks for, with their characters: its patterns, then added tokens.

    At most MAX_PROBE_LITERALS: the patterns (what rewrites or splits text) come
    first, so a tokenizer with thousands of added tokens cannot push them out.
    """
    parts = [data.get(key) for key in ("normalizer", "pre_tokenizer", "post_processor")]
    found = _strings(parts, ("String", "Regex", "content", "prepend"))
    found += _strings(data.get("added_tokens") or [], ("content",))
    ordered = list(dict.fromkeys(s for text in found
                                 for s in (text, *(c for c in text if not c.isspace()))))
    return ordered[:MAX_PROBE_LITERALS]


def _strings(value: Any, keys: tuple[str, ...]) -> list[str]:
    """Every non-empty string under one of `keys`, anywhere in `value`, in document order."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in reversed(item.items()):
                if key in keys and isinstance(child, str) and child:
                    found.append(child)
                else:
                    stack.append(child)
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return found


def _probe(text: str, n_vocab: int) -> str | None:
    """What goes wrong when the tokenizer runs on the probe texts; None when nothing does."""
    try:
        tokenizer = ModelTokenizer(text, n_vocab)
    except ValueError as exc:
        return str(exc)
    for what, probe in probe_texts(json.loads(text)):
        try:
            encoding = tokenizer.encode(probe)
            tokenizer.encode(probe[:1000], probe[:1000])
        except BackendError as exc:
            return f"fails on {what} ({_first_line(exc.__cause__ or exc)})"
        if len(encoding.ids) > len(probe) * 4 + MAX_SPECIAL_TOKENS:
            return f"makes {len(encoding.ids):,} tokens of {what} ({len(probe):,} characters)"
    return None


def probe_in_child(text: str, n_vocab: int, *, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Run the tokenizer on hostile texts in a child process, bounded in time and memory.

    Raises:
        ValueError: saying what went wrong (a refusal, a failure, a crash, a timeout).
    """
    command = [sys.executable, "-m", "jina_edge.models.tokenizer_json", str(n_vocab)]
    try:
        done = subprocess.run(command, input=text, capture_output=True, text=True,
                              encoding="utf-8", timeout=timeout, check=False,
                              preexec_fn=_limit_memory if os.name == "posix" else None,
                              env={**os.environ, "RUST_BACKTRACE": "0"})
    except subprocess.TimeoutExpired as exc:
        raise ValueError(f"did not finish the probe texts in {timeout:.0f} s") from exc
    if done.returncode == 0:
        return
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode == 3 and lines:
        raise ValueError(lines[-1])
    why = f"signal {-done.returncode}" if done.returncode < 0 else f"exit code {done.returncode}"
    raise ValueError(f"crashed on the probe texts ({why}; with memory limited to "
                     f"{PROBE_MEMORY_BYTES // 1024**3} GiB)")


def probe_once(text: str, n_vocab: int) -> None:
    """`probe_in_child`, unless this installation probed the same tokenizer.json before.

    Raises:
        ValueError: as `probe_in_child`.
    """
    digest = hashlib.sha256(f"{n_vocab}:{text}".encode()).hexdigest()
    mark = cache_dir() / "tokenizers" / f"{digest[:32]}.passed"
    if is_sealed(digest, mark):
        return
    probe_in_child(text, n_vocab)
    try:
        write_bytes_atomic(mark, (seal(digest) + "\n").encode())
    except OSError as exc:  # a read-only cache: the probe runs again next time
        logger.debug("cannot write %s: %s", mark, exc)


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (PROBE_MEMORY_BYTES, PROBE_MEMORY_BYTES))


def _main() -> int:
    problem = _probe(sys.stdin.read(), int(sys.argv[1]))
    if problem is None:
        return 0
    print(problem)
    return 3


if __name__ == "__main__":
    sys.exit(_main())
