from __future__ import annotations

import re
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jina_edge.index.chunking import (
    DEFAULT_CHUNK_TOKENS,
    DEFAULT_OVERLAP_TOKENS,
    Chunk,
    chunk_blocks,
)
from jina_edge.index.extract import Block, BlockKind, join_blocks

_TOKEN = re.compile(r"\w+|[^\w\s]")


def count(text: str) -> int:
    """A stand-in for the model tokenizer: words and punctuation marks."""
    return len(_TOKEN.findall(text))


class CountingTokenizer:
    def __init__(self) -> None:
        self.calls = 0
        self.chars = 0

    def __call__(self, text: str) -> int:
        self.calls += 1
        self.chars += len(text)
        return count(text)


def para(text: str, path: tuple[str, ...] = (), line: int | None = None,
         page: int | None = None) -> Block:
    end = None if line is None else line + text.count("\n")
    return Block(text, "paragraph", path, line, end, page)


def heading(text: str, path: tuple[str, ...], line: int | None = None) -> Block:
    return Block(text, "heading", path, line, line, None)


def code(text: str, path: tuple[str, ...] = (), line: int | None = None) -> Block:
    end = None if line is None else line + text.count("\n")
    return Block(text, "code", path, line, end, None)


def check_invariants(blocks: list[Block], chunks: list[Chunk], max_tokens: int) -> None:
    """The properties every chunking must have."""
    doc, spans = join_blocks(blocks)
    covered = [False] * len(doc)
    for c in chunks:
        assert c.text == doc[c.char_start:c.char_end]
        assert c.text.strip(), "empty or whitespace-only chunk"
        assert count(c.text) <= max_tokens or len(c.text.strip()) == 1
        for k in range(c.char_start, c.char_end):
            covered[k] = True
    for block, (s, e) in zip(blocks, spans, strict=True):
        if block.text.strip():
            assert all(covered[s:e]), f"characters of {block.text[:30]!r} are in no chunk"
    for a, b in pairwise(chunks):
        assert a.char_start < b.char_start and a.char_end < b.char_end, "not in document order"
    for c in chunks:  # no chunk ends with a heading unless it holds nothing else
        # (a heading longer than a whole chunk is cut like prose)
        kinds = ["heading" if blk.kind == "heading" and count(blk.text) <= max_tokens else "text"
                 for blk, (s, e) in zip(blocks, spans, strict=True)
                 if blk.text.strip() and s < c.char_end and e > c.char_start]
        if "text" in kinds:
            assert kinds[-1] != "heading"


def test_defaults() -> None:
    assert (DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP_TOKENS) == (256, 32)


def test_join_blocks() -> None:
    doc, spans = join_blocks([para("ab"), para(""), para("cde")])
    assert doc == "ab\n\n\n\ncde"
    assert spans == [(0, 2), (4, 4), (6, 9)]
    assert join_blocks([]) == ("", [])


def test_empty_document() -> None:
    assert chunk_blocks([], count_tokens=count) == []
    assert chunk_blocks([para("  \n "), para("")], count_tokens=count) == []


def test_small_blocks_share_a_chunk() -> None:
    blocks = [para("One two."), para("Three four."), para("Five.")]
    chunks = chunk_blocks(blocks, count_tokens=count, max_tokens=50)
    assert [c.text for c in chunks] == ["One two.\n\nThree four.\n\nFive."]


def test_headings_begin_chunks_without_overlap() -> None:
    blocks = [heading("Intro", ("Intro",), 1), para("Alpha beta gamma.", ("Intro",), 3),
              heading("Usage", ("Usage",), 5), heading("Install", ("Usage", "Install"), 7),
              para("Run the installer now.", ("Usage", "Install"), 9)]
    chunks = chunk_blocks(blocks, count_tokens=count, max_tokens=50, overlap_tokens=10)
    assert [c.text for c in chunks] == ["Intro\n\nAlpha beta gamma.",
                                        "Usage\n\nInstall\n\nRun the installer now."]
    assert chunks[1].heading_path == ("Usage", "Install")
    assert (chunks[1].line_start, chunks[1].line_end) == (5, 9)
    check_invariants(blocks, chunks, 50)


def test_fenced_code_block_stays_whole() -> None:
    body = "```python\n" + "\n".join(f"x{i} = {i}" for i in range(12)) + "\n```"
    assert count(body) < 60
    blocks = [para("Some words before the code. " * 3), code(body), para("After.")]
    chunks = chunk_blocks(blocks, count_tokens=count, max_tokens=60, overlap_tokens=8)
    assert sum(body in c.text for c in chunks) >= 1
    check_invariants(blocks, chunks, 60)


def test_heading_then_code_that_only_fits_alone() -> None:
    body = "```\n" + "\n".join(f"y{i} = {i}" for i in range(10)) + "\n```"
    n = count(body)
    blocks = [heading("Example", ("Example",)), code(body, ("Example",))]
    chunks = chunk_blocks(blocks, count_tokens=count, max_tokens=n, overlap_tokens=4)
    # The code block is not split to make room for its heading.
    assert [c.text for c in chunks] == ["Example", body]
    assert chunks[1].heading_path == ("Example",)


def test_heading_is_glued_to_the_first_piece_of_a_long_paragraph() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(40))
    blocks = [heading("Title", ("Title",)), para(text, ("Title",))]
    chunks = chunk_blocks(blocks, count_tokens=count, max_tokens=40, overlap_tokens=8)
    assert chunks[0].text.startswith("Title\n\nSentence number 0")
    assert len(chunks) > 2
    check_invariants(blocks, chunks, 40)


def test_long_code_block_splits_at_lines() -> None:
    body = "\n".join(f"value_{i} = compute({i}, {i + 1})" for i in range(100))
    blocks = [code(body, line=10)]
    chunks = chunk_blocks(blocks, count_tokens=count, max_tokens=64, overlap_tokens=0)
    assert len(chunks) > 1
    for c in chunks:  # every cut is at a line start
        assert c.char_start == 0 or body[c.char_start - 1] == "\n"
        assert c.line_start is not None and c.line_end is not None
        assert c.text.rstrip("\n").count("\n") + 1 == c.line_end - c.line_start + 1
    check_invariants(blocks, chunks, 64)


def test_five_thousand_word_paragraph() -> None:
    words = [f"w{i}" for i in range(5000)]
    for i in range(11, 5000, 17):
        words[i] += "."
    text = " ".join(words)
    blocks = [para("Before.", line=1), para(text, line=3), para("After.", line=5)]
    tokenizer = CountingTokenizer()
    max_tokens, overlap = 128, 24
    chunks = chunk_blocks(blocks, count_tokens=tokenizer, max_tokens=max_tokens,
                          overlap_tokens=overlap)
    check_invariants(blocks, chunks, max_tokens)
    doc, _ = join_blocks(blocks)
    assert len(chunks) > 5000 // max_tokens
    middle = chunks[1:-1]
    for a, b in pairwise(middle):
        shared = doc[b.char_start:a.char_end]
        assert b.char_start < a.char_end, "continuation without overlap"
        assert 0 < count(shared) <= overlap
        assert shared[0] == "w" and doc[b.char_start - 2] == "."  # starts at a sentence
    # Pieces end at sentence boundaries, not mid-sentence.
    for c in middle[:-1]:
        assert c.text.rstrip().endswith(".")
    # The tokenizer is not called once per word: a handful of calls per chunk, on
    # chunk-sized text (plus one call on the whole block).
    assert tokenizer.calls < 20 * len(chunks)
    assert tokenizer.chars < 40 * len(doc)


def test_line_numbers_of_pieces_are_exact() -> None:
    source_lines = [f"Line {n} says something about item {n}." for n in range(1, 201)]
    text = "\n".join(source_lines)
    first_line = 40  # the block starts on line 40 of its file
    blocks = [para(text, ("Notes",), line=first_line)]
    chunks = chunk_blocks(blocks, count_tokens=count, max_tokens=50, overlap_tokens=12)
    check_invariants(blocks, chunks, 50)
    for c in chunks:
        first = c.text.strip().splitlines()[0]
        last = c.text.strip().splitlines()[-1]
        # Each piece starts and ends on whole lines here (line and sentence ends coincide).
        assert first in source_lines and last in source_lines
        assert c.line_start == first_line + source_lines.index(first)
        assert c.line_end == first_line + source_lines.index(last)


def test_cut_inside_a_line_reports_that_line() -> None:
    # One long line between two short ones: pieces inside it all report line 2.
    long_line = " ".join(f"word{i}" for i in range(300))
    text = f"first line\n{long_line}\nlast line"
    chunks = chunk_blocks([para(text, line=1)], count_tokens=count, max_tokens=40,
                          overlap_tokens=0)
    # Line boundaries come before word boundaries: the short first line is cut off whole.
    assert chunks[0].text == "first line\n" and (chunks[0].line_start, chunks[0].line_end) == (1, 1)
    assert all((c.line_start, c.line_end) == (2, 2) for c in chunks[1:-1])
    assert chunks[-1].line_end == 3


def test_text_without_spaces_is_cut_between_characters() -> None:
    text = "漢字" * 200  # no spaces, no sentence marks: one "word" of 400 characters
    cjk_count = len  # one token per character
    chunks = chunk_blocks([para(text)], count_tokens=cjk_count, max_tokens=100,
                          overlap_tokens=0)
    assert [len(c.text) for c in chunks] == [100, 100, 100, 100]


def test_metadata_page_and_unknown_lines() -> None:
    blocks = [para("On page one.", ("A",), page=1), para("On page two.", ("A",), page=2)]
    chunks = chunk_blocks(blocks, count_tokens=count, max_tokens=50)
    assert len(chunks) == 1
    assert chunks[0].page == 1 and chunks[0].line_start is None and chunks[0].line_end is None


def test_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        chunk_blocks([para("x")], count_tokens=count, max_tokens=0)
    with pytest.raises(ValueError, match="overlap_tokens"):
        chunk_blocks([para("x")], count_tokens=count, max_tokens=10, overlap_tokens=10)


def test_non_additive_tokenizer_never_exceeds_the_limit() -> None:
    # Counts a blank line between blocks as 3 tokens: the sum of block counts lies.
    def tokenizer(text: str) -> int:
        return count(text) + 3 * text.count("\n\n")

    blocks = [para(f"Block {i} has five tokens.") for i in range(30)]
    chunks = chunk_blocks(blocks, count_tokens=tokenizer, max_tokens=20, overlap_tokens=5)
    assert all(tokenizer(c.text) <= 20 for c in chunks)


_WORDS = st.sampled_from(["alpha", "beta", "gamma", "delta", "x", "42", "naïve", "e.g.",
                          "end.", "stop!", "why?", "(paren)", "def", "return", "=", "-"])


@st.composite
def _block(draw: st.DrawFn) -> Block:
    kind: BlockKind = draw(st.sampled_from(
        ["heading", "paragraph", "paragraph", "code", "list", "table"]))
    n_lines = 1 if kind == "heading" else draw(st.integers(1, 12))
    lines = []
    for _ in range(n_lines):
        words = draw(st.lists(_WORDS, min_size=0, max_size=25))
        indent = draw(st.sampled_from(["", "", "  "])) if kind == "code" else ""
        lines.append(indent + " ".join(words))
    # Stray leading or trailing whitespace, as extractors sometimes leave.
    text = draw(st.sampled_from(["", " ", "\n"])) + "\n".join(lines) \
        + draw(st.sampled_from(["", " ", "\n"]))
    line = draw(st.one_of(st.none(), st.integers(1, 500)))
    end = None if line is None else line + text.count("\n")
    return Block(text, kind, (kind,), line, end, draw(st.one_of(st.none(), st.integers(1, 9))))


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(blocks=st.lists(_block(), max_size=12), max_tokens=st.integers(1, 60),
       overlap=st.integers(0, 20))
def test_properties(blocks: list[Block], max_tokens: int, overlap: int) -> None:
    overlap = min(overlap, max_tokens - 1)
    chunks = chunk_blocks(blocks, count_tokens=count, max_tokens=max_tokens,
                          overlap_tokens=overlap)
    check_invariants(blocks, chunks, max_tokens)
    assert chunks == chunk_blocks(blocks, count_tokens=count, max_tokens=max_tokens,
                                  overlap_tokens=overlap)
    doc, spans = join_blocks(blocks)
    for block, (s, e) in zip(blocks, spans, strict=True):
        if block.kind in ("code", "list", "table") and block.text.strip() \
                and count(block.text) <= max_tokens:
            # Whole, in some chunk, unless only its heading(s) could not come along.
            assert any(c.char_start <= s and e <= c.char_end for c in chunks), block
        if block.kind == "heading" and block.text.strip() and count(block.text) <= max_tokens:
            starting = [c for c in chunks if c.char_start <= s < c.char_end]
            assert starting, "heading not in any chunk"
            # A heading is never preceded by anything but other headings in its chunk.
            before = doc[starting[0].char_start:s]
            assert all(b.kind == "heading" for b, (bs, be) in zip(blocks, spans, strict=True)
                       if b.text.strip() and starting[0].char_start <= bs and be <= s), before
    for a, b in pairwise(chunks):
        if b.char_start < a.char_end:  # overlap: a proper tail of the previous chunk
            assert a.char_start < b.char_start
            assert count(doc[b.char_start:a.char_end]) <= overlap
    heading_starts = {s for b, (s, _) in zip(blocks, spans, strict=True)
                      if b.kind == "heading" and b.text.strip() and count(b.text) <= max_tokens}
    for c in chunks:
        if any(c.char_start <= s < c.char_end for s in heading_starts):
            assert c.char_start in heading_starts, "a chunk with a heading starts before it"
        if c.line_start is not None:
            assert c.line_end is not None and c.line_start <= c.line_end


PASTED_IMAGE = "![image](data:image/png;base64," + "iVBORw0KGgo" * 15_000 + ")"


@pytest.mark.parametrize("text", ["b" * 400_000,  # one line without a space
                                  f"# Note\n\n{PASTED_IMAGE}\n\nAfter the image.\n"])
def test_text_without_spaces_is_chunked_in_linear_work(text: str) -> None:
    from jina_edge.index.chunking import MAX_CHARS_PER_TOKEN

    read: list[int] = []

    def count(t: str) -> int:  # like WordPiece: a long word is one [UNK]
        read.append(len(t))
        return sum(1 if len(w) > 100 else max(1, len(w) // 4) for w in t.split())

    blocks = [Block(part, "paragraph", (), 1, 1, None) for part in text.split("\n\n")]
    chunks = chunk_blocks(blocks, count_tokens=count, max_tokens=256, overlap_tokens=32)
    assert all(len(c.text) <= 256 * MAX_CHARS_PER_TOKEN for c in chunks)
    assert sum(c.text.count("b") for c in chunks) >= text.count("b")  # nothing dropped
    assert sum(read) < 100 * len(text)  # each character is tokenized a bounded number of times
