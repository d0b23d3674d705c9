"""Hostile tokenizer.json files, in a GGUF and in a checkpoint: each is refused in one line,
on every load path, before a text reaches it; what is accepted is bounded.

Generated from the tiny test model's own tokenizer.json; a seeded generator adds
random normalizer chains (tokenizer.json's most expressive part)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_hostile_gguf import rewrite

from jina_edge.errors import InvalidModelFileError
from jina_edge.models.modelfile import TOKENIZER_JSON_KEY, read_model_file
from jina_edge.models.tokenizer_json import (
    MAX_EXPANSION,
    MAX_INSERTED_CHARS,
    ModelTokenizer,
    check_tokenizer_json,
    probe_in_child,
)

Edit = Callable[[dict[str, Any]], Any]


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "Lowercase"}
    for _ in range(depth):
        node = {"type": "Sequence", "normalizers": [node]}
    return node


def _replace(pattern: str, content: str, regex: bool = False) -> dict[str, Any]:
    return {"type": "Replace", "pattern": {"Regex" if regex else "String": pattern},
            "content": content}


def _template(specials: int) -> dict[str, Any]:
    return {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}] * specials
            + [{"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [101], "tokens": ["[CLS]"]}}}


# What each edit does, and words of the one-line refusal. Each class of the
# issue (expansion, regex, Prepend, ids, post-processor) and variants of it.
REFUSED_AT_LOAD: dict[str, tuple[Edit, str]] = {
    "Replace every character by 16, twice": (lambda t: t.update(normalizer={
        "type": "Sequence", "normalizers": [_replace(".", "x" * 16, True)] * 2}),
        "times longer"),
    "Replace a word by itself 3 times": (lambda t: t.update(normalizer=_replace(
        "secret", "secret" * 3)), "characters"),
    "Replace after BertNormalizer": (lambda t: t.update(normalizer={
        "type": "Sequence", "normalizers": [t["normalizer"], _replace("a", "a" * 16)]}),
        "times longer"),
    "many small Replaces": (lambda t: t.update(normalizer={
        "type": "Sequence", "normalizers": [_replace("a", "aa")] * 30}), "times longer"),
    "Replace with an empty pattern": (lambda t: t.update(normalizer=_replace("", "x")),
                                      "pattern is empty"),
    "a 1 MB Prepend": (lambda t: t.update(normalizer={"type": "Prepend",
                                                      "prepend": "x" * 1_000_000}),
                       "1,000,000 characters"),
    "a Precompiled normalizer": (lambda t: t.update(normalizer={
        "type": "Precompiled", "precompiled_charsmap": "AAAA"}), "Precompiled normalizer"),
    "a regex that does not compile": (lambda t: t.update(pre_tokenizer={
        "type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated",
        "invert": False}), "cannot read it"),
    "a 1 MB Metaspace replacement": (lambda t: t.update(pre_tokenizer={
        "type": "Metaspace", "replacement": "x" * 1_000_000, "prepend_scheme": "always",
        "split": True}), "replacement"),
    "a vocabulary id past the model": (lambda t: t["model"]["vocab"].update(
        {"zzzz": 10**6}), "outside the model"),
    "a negative vocabulary id": (lambda t: t["model"]["vocab"].update({"zzzz": -1}),
                                 "outside the model"),
    "an added token id 10^12": (lambda t: t["added_tokens"][0].update(id=10**12),
                                "outside the model"),
    "an added token id as text": (lambda t: t["added_tokens"][0].update(id="abc"),
                                  "outside the model"),
    "a post-processor adding 5000 tokens": (lambda t: t.update(post_processor=_template(5000)),
                                            "special tokens"),
    "a post-processor id past the model": (lambda t: t["post_processor"]["special_tokens"][
        "[CLS]"].update(ids=[10**9]), "outside the model"),
    "normalizers nested 200 deep": (lambda t: t.update(normalizer=_nested(200)), "nested"),
    "a WordPiece word limit of 10^9": (lambda t: t["model"].update(
        max_input_chars_per_word=10**9), "max_input_chars_per_word"),
    "the model a string": (lambda t: t.update(model="WordPiece"), "model without a type"),
    "the normalizer a list": (lambda t: t.update(normalizer=[]), "normalizer without a type"),
    "an unknown model": (lambda t: t["model"].update(type="Magic"), "Magic model"),
}

# Bounded on paper, fatal on some text: only running it shows it.
REFUSED_BY_THE_PROBE: dict[str, tuple[Edit, str]] = {
    "a regex that backtracks": (lambda t: t.update(pre_tokenizer={
        "type": "Split", "pattern": {"Regex": "(a+)+$"}, "behavior": "Isolated",
        "invert": False}), "fails on a run of 'a'"),
    "a regex that backtracks on spaces": (lambda t: t.update(pre_tokenizer={
        "type": "Split", "pattern": {"Regex": "(\\s*)*[^\\s]$"}, "behavior": "Isolated",
        "invert": False}), "fails on a run of"),
    "a Replace regex that backtracks": (lambda t: t.update(normalizer=_replace(
        "(\\w+\\s?)+$", "z", True)), "fails on a run of"),
}


@pytest.fixture(scope="module")
def base(jina_tiny_gguf: Path) -> tuple[str, int]:
    info = read_model_file(jina_tiny_gguf)
    assert info.tokenizer_json is not None
    return info.tokenizer_json, info.n_vocab


def _edited(text: str, edit: Edit) -> str:
    data = json.loads(text)
    edit(data)
    return json.dumps(data)


def test_the_real_tokenizer_passes_both_checks(base: tuple[str, int]) -> None:
    text, n_vocab = base
    ModelTokenizer(text, n_vocab)
    probe_in_child(text, n_vocab)


@pytest.mark.parametrize("case", list(REFUSED_AT_LOAD))
def test_an_unbounded_tokenizer_is_refused_before_it_runs(case: str,
                                                          base: tuple[str, int]) -> None:
    edit, words = REFUSED_AT_LOAD[case]
    with pytest.raises(ValueError, match=words):
        ModelTokenizer(_edited(base[0], edit), base[1])


@pytest.mark.parametrize("case", list(REFUSED_BY_THE_PROBE))
def test_a_tokenizer_that_fails_on_hostile_text_is_refused_by_the_probe(
        case: str, base: tuple[str, int]) -> None:
    edit, words = REFUSED_BY_THE_PROBE[case]
    text = _edited(base[0], edit)
    ModelTokenizer(text, base[1])  # passes the checks on paper
    with pytest.raises(ValueError, match=words):
        probe_in_child(text, base[1])


def test_a_probe_that_hangs_or_dies_is_an_error(base: tuple[str, int],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="did not finish the probe texts"):
        probe_in_child(base[0], base[1], timeout=0.01)
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with pytest.raises(ValueError, match="crashed on the probe texts .exit code 1"):
        probe_in_child(base[0], base[1])


def _random_normalizer(rng: random.Random) -> dict[str, Any]:
    def word() -> str:
        return "".join(rng.choice("ab .é中") for _ in range(rng.randint(1, 3)))

    def one() -> dict[str, Any]:
        kind = rng.choice(["Replace", "RegexReplace", "Prepend", "NFKC", "NFD", "Lowercase",
                           "Strip", "BertNormalizer"])
        if kind == "Replace":
            return _replace(word(), word() * rng.randint(0, 8))
        if kind == "RegexReplace":
            return _replace(rng.choice([".", "a*", "\\s", "[a ]+"]), word() * rng.randint(0, 6),
                            True)
        if kind == "Prepend":
            return {"type": "Prepend", "prepend": word() * rng.randint(0, 8)}
        if kind == "Strip":
            return {"type": "Strip", "strip_left": True, "strip_right": True}
        if kind == "BertNormalizer":
            return {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                    "strip_accents": None, "lowercase": True}
        return {"type": kind}

    return {"type": "Sequence", "normalizers": [one() for _ in range(rng.randint(1, 4))]}


@pytest.mark.parametrize("seed", range(4))
def test_what_passes_the_checks_is_bounded(seed: int, base: tuple[str, int]) -> None:
    """Random normalizer chains: refused, or no text made over MAX_EXPANSION times longer."""
    from tokenizers import Tokenizer

    rng = random.Random(seed)
    accepted = refused = 0
    for _ in range(50):
        normalizer = _random_normalizer(rng)
        text = _edited(base[0], lambda t, n=normalizer: t.update(normalizer=n))
        try:
            check_tokenizer_json(text, base[1])
        except ValueError:
            refused += 1
            continue
        accepted += 1
        run = Tokenizer.from_str(text).normalizer
        for probe in ("ab .é中" * 50, "a" * 300, " " * 300, "\ufdfa" * 100, "中" * 300):
            longest = MAX_EXPANSION * len(probe) + MAX_INSERTED_CHARS
            assert len(run.normalize_str(probe)) <= longest, normalizer
    assert accepted and refused  # the generator reaches both sides


@pytest.fixture(scope="module")
def hostile_ggufs(tmp_path_factory: pytest.TempPathFactory, jina_tiny_gguf: Path,
                  base: tuple[str, int]) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile-tokenizers")
    cases = {**REFUSED_AT_LOAD, **REFUSED_BY_THE_PROBE}
    return {name: rewrite(jina_tiny_gguf, folder / f"{i}.gguf",
                          {TOKENIZER_JSON_KEY: _edited(base[0], edit)})
            for i, (name, (edit, _)) in enumerate(cases.items())}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    # In a child: a crash there shows as a negative return code, not a dead test run.
    return subprocess.run([sys.executable, "-m", "jina_edge.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_no_hostile_tokenizer_in_a_gguf_runs_crashes_or_gets_installed(
        hostile_ggufs: dict[str, Path]) -> None:
    for case, path in hostile_ggufs.items():
        for args in (["embed", "--model", str(path), "a" * 5000 + "b"],
                     ["models", "import", str(path), "--name", "hostile"]):
            done = _cli(*args)
            assert done.returncode == 1, (case, args, done.returncode, done.stderr[-500:])
            assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: "), \
                (case, done.stderr)
            assert "tokenizer.json" in done.stderr, (case, done.stderr)
    assert "hostile" not in _cli("models", "list").stdout


def test_the_python_api_refuses_it_by_path(hostile_ggufs: dict[str, Path]) -> None:
    from jina_edge import Embedder

    for path in hostile_ggufs.values():
        with pytest.raises(InvalidModelFileError, match="tokenizer.json"):
            Embedder(path)


@pytest.mark.parametrize("case", ["Replace a word by itself 3 times", "a regex that backtracks",
                                  "an added token id 10^12"])
def test_a_checkpoint_with_a_hostile_tokenizer_is_not_imported(
        case: str, jina_tiny: Path, tmp_path: Path) -> None:
    checkpoint = tmp_path / "ck"
    shutil.copytree(jina_tiny, checkpoint)
    path = checkpoint / "tokenizer.json"
    edit, words = {**REFUSED_AT_LOAD, **REFUSED_BY_THE_PROBE}[case]
    path.write_text(_edited(path.read_text(encoding="utf-8"), edit), encoding="utf-8")
    done = _cli("models", "import", str(checkpoint), "--name", "hostile", "--type", "f32")
    assert done.returncode == 1, (done.returncode, done.stderr[-500:])
    assert done.stderr.count("\n") == 1 and "tokenizer.json" in done.stderr, done.stderr
    assert words.split("'")[0] in done.stderr
