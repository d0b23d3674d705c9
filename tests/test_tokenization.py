"""Tokens equal the original Hugging Face tokenizer's, for every model, on fuzz corpora.

The runtime tokenizes with the tokenizer.json the converter stored in the GGUF;
these tests compare it with the `tokenizers` library fed the checkpoint's own
file, on real German, Spanish and Chinese text (Debian's translated manual
pages, installed by scripts/install-dev), source code and hand-made traps.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from pathlib import Path

import gguf
import numpy as np
import pytest
from click.testing import CliRunner
from tokenizers import Tokenizer

from jina_edge import Embedder
from jina_edge.cli.main import main as cli
from jina_edge.convert import convert_checkpoint
from jina_edge.convert.reference import ReferenceModel

Models = Callable[[str], tuple[Path, Path]]
MAN = Path("/usr/share/man")
PIECES_PER_CORPUS = 400
LINES_PER_PIECE = 3
LONG_WORD = "Donaudampfschifffahrtsgesellschaftskapitänswitwenrentenversicherung" * 2
TRAPS = [
    LONG_WORD,  # over 100 characters: one [UNK] in WordPiece
    "x" * 101, "ab" * 50 + " short",
    "\ue000\U0010fffd\u0378 unassigned and private-use characters \ufffd",
    "rare 𠀋𪚥𰻞 and common 你好 characters",
    "mixed: Größe, ñandú, 東京タワー, Москва, αβγ, عربى, हिन्दी, 한국어",
    "Gro\u0308\u00dfe Mu\u0308ller a\u0300 la cafe\u0301 (NFD)",
    "Größe Müller à la café (NFC)",
    "emoji 🙂👍🏽 👨‍👩‍👧 🇩🇪 ❤️ flags and ZWJ",
    "tabs\tand  multiple   spaces\t\t end ",
    "\n\nnewlines\r\nand\rreturns\n", "   leading spaces", "trailing spaces   ",
    "", " ", "\t", "UPPER lower MiXeD ÄÖÜ", "don't won't it's we'll",
    "ﬁ ligature, Ｆｕｌｌｗｉｄｔｈ, ① ², ½",
]


def _man_pages(folder: str) -> list[str]:
    """Text of the translated manual pages in /usr/share/man/<folder>, in pieces."""
    pages = sorted((MAN / folder).glob("man*/*.gz"))
    if not pages:
        pytest.fail(f"no manual pages in {MAN / folder}: run scripts/install-dev (it installs "
                    "manpages-de, manpages-es and manpages-zh)")
    lines: list[str] = []
    for page in pages:
        text = gzip.decompress(page.read_bytes()).decode("utf-8", "replace")
        # Roff requests carry no language; keep the text lines, escapes included.
        lines.extend(line for line in text.splitlines() if line and not line.startswith("."))
        if len(lines) > PIECES_PER_CORPUS * LINES_PER_PIECE * 4:
            break
    step = max(1, len(lines) // (PIECES_PER_CORPUS * LINES_PER_PIECE))
    picked = lines[::step]
    return ["\n".join(picked[i:i + LINES_PER_PIECE])
            for i in range(0, len(picked), LINES_PER_PIECE)][:PIECES_PER_CORPUS]


def _source_code() -> list[str]:
    root = Path(__file__).resolve().parents[1]
    lines = [line for path in sorted((root / "jina_edge").rglob("*.py"))
             for line in path.read_text(encoding="utf-8").splitlines()]
    return ["\n".join(lines[i:i + 6]) for i in range(0, len(lines), 40)][:PIECES_PER_CORPUS]


CORPORA: dict[str, Callable[[], list[str]]] = {
    "German": lambda: _man_pages("de"),
    "Spanish": lambda: _man_pages("es"),
    "Chinese": lambda: _man_pages("zh_CN") + _man_pages("zh_TW"),
    "source code": _source_code,
    "traps": lambda: TRAPS,
}
MODELS = ("en", "de", "es", "zh", "code")


def _original(checkpoint: Path) -> Tokenizer:
    """The checkpoint's tokenizer.json in the tokenizers library, never cut or padded."""
    tokenizer = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _model(variant: str, variant_models: Models, jina_12_heads: Path,
           jina_12_heads_gguf: Path) -> tuple[Path, Path]:
    if variant == "en":
        return jina_12_heads, jina_12_heads_gguf
    return variant_models(variant)


@pytest.mark.parametrize("corpus", CORPORA)
@pytest.mark.parametrize("variant", MODELS)
def test_token_ids_equal_the_tokenizers_library(variant: str, corpus: str,
                                                variant_models: Models, jina_12_heads: Path,
                                                jina_12_heads_gguf: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint, gguf_path = _model(variant, variant_models, jina_12_heads, jina_12_heads_gguf)
    original = _original(checkpoint)
    texts = CORPORA[corpus]()
    assert len(texts) >= (len(TRAPS) if corpus == "traps" else 100)
    with Embedder(gguf_path, device="cpu") as e:
        differ = [t for t in texts if e.tokenize(t) != original.encode(t).ids]
        llama_differ = sum(e.llama_tokenize(t) != original.encode(t).ids for t in texts)
    with capsys.disabled():
        print(f"\n{variant:>4} {corpus:<11}: {len(texts) - len(differ)}/{len(texts)} identical; "
              f"llama.cpp's own tokenizer {len(texts) - llama_differ}/{len(texts)}")
    assert differ == []


def test_a_word_over_100_characters_is_one_unknown_token_as_in_wordpiece(
        jina_12_heads_gguf: Path, jina_12_heads: Path) -> None:
    """The fix: llama.cpp's WPM splits such a word into pieces; BERT's WordPiece does not."""
    original = _original(jina_12_heads)
    expected = original.encode(LONG_WORD).ids
    assert original.id_to_token(expected[1]) == "[UNK]" and len(expected) == 3
    with Embedder(jina_12_heads_gguf, device="cpu") as e:
        assert e.tokenize(LONG_WORD) == expected
        assert e.count_tokens(LONG_WORD) == 3
        assert e.llama_tokenize(LONG_WORD) != expected  # what the old runtime used


@pytest.mark.parametrize("variant", ["zh", "code"])
def test_counts_truncation_and_chunks_use_the_original_tokenizer(
        variant: str, variant_models: Models) -> None:
    checkpoint, gguf_path = variant_models(variant)
    original = _original(checkpoint)
    text = _source_code()[3] + " 水泵的尺寸合适，北京是中国的首都。" * 4
    ids = original.encode(text).ids
    with Embedder(gguf_path, device="cpu", max_tokens=16) as e:
        result = e.embed_result([text], long_input="truncate")
        assert result.n_tokens == [len(ids)] and result.truncated == [True]
        assert len(ids) > 16 and e.count_tokens(text) == len(ids)
        chunked = e.embed_result([text], long_input="chunk")
        step = 14 - min(64, 14 // 4)  # the window's body minus the overlap
        assert chunked.n_chunks == [-(-(len(ids) - 2 - 14) // step) + 1]


@pytest.mark.parametrize("variant", ["zh", "code"])
def test_late_chunking_spans_follow_the_tokenizer_offsets(variant: str,
                                                          variant_models: Models) -> None:
    checkpoint, gguf_path = variant_models(variant)
    original = _original(checkpoint)
    reference = ReferenceModel.from_checkpoint(checkpoint)
    text = "北京是中国的首都。def mean(xs): return sum(xs)  # 平均值\nLa bomba funciona."
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+\s*", text)]
    encoding = original.encode(text)
    states = reference.token_states(encoding.ids)
    with Embedder(gguf_path, device="cpu") as e:
        vectors = e.embed_late_chunks(text, spans)
    for (start, end), vector in zip(spans, vectors, strict=True):
        inside = [i for i, ((a, _), special) in enumerate(
            zip(encoding.offsets, encoding.special_tokens_mask, strict=True))
            if not special and start <= a < end]
        expected = states[inside].mean(axis=0)
        assert float(vector @ expected / np.linalg.norm(expected)) >= 0.9999


def test_a_gguf_without_tokenizer_json_falls_back_to_llama_cpp(
        jina_12_heads: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files made elsewhere carry no tokenizer.json; `models info` says which one runs."""
    add_string = gguf.GGUFWriter.add_string
    monkeypatch.setattr(gguf.GGUFWriter, "add_string", lambda self, key, value: None
                        if key == gguf.Keys.Tokenizer.HF_JSON else add_string(self, key, value))
    out = tmp_path / "elsewhere.gguf"
    convert_checkpoint(jina_12_heads, out, output_type="f32", verify=False)
    monkeypatch.undo()
    with Embedder(out, device="cpu") as e:
        assert e.info is not None and e.info.tokenizer_json is None
        assert e.tokenize("Hello world, again") == e.llama_tokenize("Hello world, again")
    ours = tmp_path / "ours.gguf"
    convert_checkpoint(jina_12_heads, ours, output_type="f32", verify=False)
    runner = CliRunner()
    fallback = runner.invoke(cli, ["models", "info", str(out)])
    original = runner.invoke(cli, ["models", "info", str(ours)])
    assert fallback.exit_code == 0 and original.exit_code == 0, fallback.output + original.output
    assert re.search(r"tokenizer\s+llama\.cpp's own", fallback.output)
    assert re.search(r"tokenizer\s+Hugging Face tokenizers", original.output)
