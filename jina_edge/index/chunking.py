"""Blocks -> chunks sized in model tokens, following the document's structure.

A chunk is a contiguous character range of the document text (the block texts
joined by blank lines), so its text is a substring that can be located and
highlighted. Token counts are always taken on the exact chunk text, so no chunk
exceeds the limit. docs/architecture.md has the splitting rules.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from jina_edge.config import SETTINGS
from jina_edge.index.extract import Block, join_blocks

DEFAULT_CHUNK_TOKENS: int = SETTINGS["chunk_tokens"].default  # model tokens, without [CLS]/[SEP]
DEFAULT_OVERLAP_TOKENS: int = SETTINGS["overlap_tokens"].default
# Most characters per model token in a chunk. English prose averages 4-5, code 3-4,
# long compound words 6-8: only runs without spaces or punctuation reach this.
MAX_CHARS_PER_TOKEN = 10

_ATOMIC_KINDS = frozenset({"code", "list", "table"})

# Boundaries are the positions where a new unit starts, so cut pieces tile a block
# exactly: trailing whitespace stays with the piece before the cut.
_LINE = re.compile(r"\n+")
_SENTENCE = re.compile(r"[.!?…]+[\"'”’)\]]*\s+|[。！？]+[”’」』）]*\s*")
_WORD = re.compile(r"\s+")
_VISIBLE = re.compile(r"\S")
_PATTERNS = {"line": _LINE, "sentence": _SENTENCE, "word": _WORD}
_PROSE_LEVELS = ("sentence", "line", "word", "char")
_STRUCTURED_LEVELS = ("line", "sentence", "word", "char")


@dataclass(frozen=True)
class Chunk:
    """A passage to embed: a character range of the document text and where it came from.

    `heading_path` is that of the chunk's own text (not of the overlap it starts with);
    `line_start`/`line_end` span all of its text, overlap included; `page` is the page
    of its first block.
    """

    text: str
    char_start: int
    char_end: int
    heading_path: tuple[str, ...]
    line_start: int | None
    line_end: int | None
    page: int | None


def chunk_blocks(blocks: Sequence[Block], *, count_tokens: Callable[[str], int],
                 max_tokens: int = DEFAULT_CHUNK_TOKENS,
                 overlap_tokens: int = DEFAULT_OVERLAP_TOKENS) -> list[Chunk]:
    """Cut a document's blocks into chunks of at most `max_tokens` model tokens.

    Args:
        blocks: the document's blocks in reading order.
        count_tokens: the model's token count of a text, without special tokens.
        max_tokens: the most tokens in one chunk.
        overlap_tokens: the most tokens a chunk repeats from the previous one.

    Returns:
        The chunks in document order; their text is `join_blocks(blocks)[0][start:end]`.

    Raises:
        ValueError: if max_tokens < 1 or overlap_tokens is negative or not below max_tokens.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    if not 0 <= overlap_tokens < max_tokens:
        raise ValueError(f"overlap_tokens must be in [0, max_tokens={max_tokens}), "
                         f"got {overlap_tokens}")
    return _Chunker(blocks, count_tokens, max_tokens, overlap_tokens).run()


class _Chunker:
    """The state of one chunking pass; `run` is the whole algorithm."""

    def __init__(self, blocks: Sequence[Block], count_tokens: Callable[[str], int],
                 max_tokens: int, overlap_tokens: int) -> None:
        self.blocks = blocks
        self.doc, self.spans = join_blocks(blocks)
        self.starts = [s for s, _ in self.spans]
        # A run without spaces (a pasted base64 image, minified code) can hold many
        # characters per token (WordPiece makes a 100+ character word one [UNK]).
        # Longer texts count as too long without being tokenized: a chunk holds at
        # most MAX_CHARS_PER_TOKEN visible characters per token, and every count
        # reads a bounded text, so chunking stays linear in the document.
        max_chars = max_tokens * MAX_CHARS_PER_TOKEN

        def count(text: str) -> int:
            # Whitespace costs no tokens, and the chunker relies on that (a run of
            # blank lines must fit wherever it falls): only visible characters count.
            if len(text) > max_chars and sum(map(len, text.split())) > max_chars:
                return max_tokens + 1
            return count_tokens(text)

        self.count = count
        self.max = max_tokens
        self.overlap = overlap_tokens
        self.chunks: list[Chunk] = []
        self._block_tokens: dict[int, int] = {}
        self._boundaries: dict[tuple[int, str], Sequence[int]] = {}
        self._newlines: dict[int, list[int]] = {}
        # The chunk being built: doc[start:end], `tokens` exact; start < 0 when none is open.
        self.start = -1
        self.end = -1
        self.tokens = 0
        self.has_content = False  # holds more than headings
        self.content_start = -1  # where the chunk's own text begins (after any overlap)
        # Whether the next chunk may start with the tail of the last one: not at the
        # start of the document, nor after a heading-only chunk.
        self.may_overlap = False

    # -- the pass ------------------------------------------------------------------------

    def run(self) -> list[Chunk]:
        for i, block in enumerate(self.blocks):
            if not block.text.strip():
                continue
            # A heading longer than a whole chunk is not a heading anyone searches for;
            # treat it as prose so that it can be cut.
            if block.kind == "heading" and self._tokens_of(i) <= self.max:
                self._add_heading(i)
            else:
                self._add_block(i)
        self._flush()
        return self.chunks

    def _add_heading(self, i: int) -> None:
        bs, be = self.spans[i]
        if self.has_content:
            self._flush()
        if self.start >= 0:  # headings only so far: glue this one to them if it fits
            if self._fits(self.start, be):
                return
            self._flush()  # a run of headings larger than a chunk: the rare exception
        self._open(bs, bs, 0)
        self._fits(bs, be)

    def _add_block(self, i: int) -> None:
        bs, be = self.spans[i]
        t = self._tokens_of(i)
        if self.start >= 0:
            if self.tokens + t <= self.max and self._fits(self.start, be):
                self.has_content = True
                return
            if self.has_content:
                self._flush()
            elif t <= self.max and self.blocks[i].kind in _ATOMIC_KINDS:
                # Headings followed by a code block, list or table that fits alone but not
                # with them: the block stays whole and the headings become their own
                # chunk (the block's heading_path still names them).
                self._flush()
            else:
                self._split(i, bs)
                return
        # A new chunk. Never split a block that fits alone to make room for overlap.
        budget = min(self.overlap, self.max - t) if t <= self.max else self.overlap
        self._open_continuation(bs, budget)
        if t <= self.max and self._fits(self.start, be):
            self.has_content = True
            return
        if t <= self.max and self.start < bs:  # overlap + block miscounted as fitting
            self._open(bs, bs, 0)
            if self._fits(bs, be):
                self.has_content = True
                return
        self._split(i, bs)

    def _split(self, i: int, p: int) -> None:
        """Cut block i from position p on into pieces; the last one stays open."""
        _, be = self.spans[i]
        levels = _PROSE_LEVELS if self.blocks[i].kind in ("paragraph", "heading") \
            else _STRUCTURED_LEVELS
        while p < be:
            visible = _VISIBLE.search(self.doc, p, be)
            if visible is None:  # only trailing whitespace left: it costs nothing
                self._extend_to(be)
                return
            if self.start < 0:
                self._open_continuation(p, self.overlap)
            # Keep a prefix (glued headings or overlap) only when the piece after it can
            # end at a boundary of the block's preferred kind; else drop the prefix first.
            end = self._take(i, p, levels[:1])
            if end is None and self.start < p:
                if self.content_start == p:  # the prefix is overlap: drop it
                    self._open(p, p, 0)
                else:  # the prefix is glued headings: they become their own chunk
                    self._flush()
                    self._open(p, p, 0)
                end = self._take(i, p, levels[:1])
            if end is None:
                end = self._take(i, p, levels[1:])
            if end is None:  # not even one character fits: take it anyway
                end = p + 1
            self.end = end
            self.tokens = self.count(self.doc[self.start:end])
            self.has_content = True
            if end < be:
                self._flush()
            p = end

    # -- the open chunk ------------------------------------------------------------------

    def _open(self, start: int, content_start: int, tokens: int) -> None:
        self.start, self.end, self.tokens = start, content_start, tokens
        self.content_start = content_start
        self.has_content = False

    def _open_continuation(self, content_start: int, budget: int) -> None:
        """Open a chunk at content_start, preceded by the last chunk's tail if allowed."""
        self._open(content_start, content_start, 0)
        if not (self.may_overlap and self.chunks and budget > 0):
            return
        prev = self.chunks[-1]
        found = self._overlap_start(prev.char_start, prev.char_end, budget)
        if found is not None:
            self.start, self.tokens = found

    def _extend_to(self, end: int) -> None:
        """Give whitespace up to `end` to the open chunk, or else to the last chunk."""
        if self.start >= 0:
            self.end = end
        elif self.chunks:
            last = self.chunks[-1]
            self.chunks[-1] = replace(last, text=self.doc[last.char_start:end], char_end=end)

    def _fits(self, start: int, end: int) -> bool:
        """Extend the open chunk to `end` if doc[start:end] is within the limit."""
        tokens = self.count(self.doc[start:end])
        if tokens > self.max:
            return False
        self.end, self.tokens = end, tokens
        return True

    def _flush(self) -> None:
        if self.start < 0:
            return
        s, e = self.start, self.end
        self.may_overlap = self.has_content
        self.start = -1
        if not self.doc[s:e].strip():
            # Only whitespace left (never expected, as cuts keep trailing whitespace with
            # the piece before them): give it to the previous chunk, which stays within
            # the limit because whitespace costs no tokens.
            self._extend_to(e)
            return
        self.chunks.append(self._make_chunk(s, e))

    # -- cutting -------------------------------------------------------------------------

    def _take(self, i: int, p: int, levels: Sequence[str]) -> int | None:
        """The farthest boundary after p, at the coarsest level where doc[start:c] fits."""
        _, be = self.spans[i]
        # A piece must hold more than whitespace: only bounds past its first visible character.
        visible = _VISIBLE.search(self.doc, p, be)
        first_visible = visible.start() if visible else be
        for level in levels:
            bounds = self._bounds(i, level)
            lo_idx = bisect.bisect_right(bounds, first_visible)
            hi_idx = bisect.bisect_right(bounds, be)
            if lo_idx >= hi_idx:
                continue
            best = self._gallop(i, bounds, lo_idx, hi_idx)
            if best is not None:
                return best
        return None

    def _gallop(self, i: int, bounds: Sequence[int], lo_idx: int, hi_idx: int) -> int | None:
        """The last bound in bounds[lo_idx:hi_idx] that fits, or None.

        A galloping search from an estimate; token counts grow with the end position,
        so `fits` is monotone.
        """
        start = self.start

        def fits(k: int) -> bool:
            return self.count(self.doc[start:bounds[k]]) <= self.max

        bs, be = self.spans[i]
        chars_per_token = max(1.0, (be - bs) / max(1, self._tokens_of(i)))
        guess = bisect.bisect_right(bounds, start + int((self.max - 0.5) * chars_per_token)) - 1
        guess = min(max(guess, lo_idx), hi_idx - 1)
        step = 1
        if fits(guess):
            good, bad = guess, hi_idx
            while good + step < hi_idx:
                if not fits(good + step):
                    bad = good + step
                    break
                good += step
                step *= 2
        else:
            good, bad = lo_idx - 1, guess
            while bad - step >= lo_idx:
                if fits(bad - step):
                    good = bad - step
                    break
                bad -= step
                step *= 2
        while bad - good > 1:
            mid = (good + bad) // 2
            if fits(mid):
                good = mid
            else:
                bad = mid
        return bounds[good] if good >= lo_idx else None

    def _overlap_start(self, prev_start: int, prev_end: int,
                       budget: int) -> tuple[int, int] | None:
        """(position, tokens) of the longest tail of the previous chunk within `budget`.

        The tail starts at a sentence or line boundary, or a word boundary if none fits.
        """
        first = max(0, bisect.bisect_right(self.starts, prev_start) - 1)
        last = bisect.bisect_left(self.starts, prev_end)
        for levels in (("sentence", "line"), ("word",)):
            candidates: set[int] = set()
            for j in range(first, last):
                # Overlap that starts with a heading would read as a new section.
                if not self.blocks[j].text.strip() or self.blocks[j].kind == "heading":
                    continue
                if levels[0] == "sentence":
                    candidates.add(self.spans[j][0])
                for level in levels:
                    bounds = self._bounds(j, level)
                    lo = bisect.bisect_right(bounds, prev_start)
                    hi = bisect.bisect_left(bounds, prev_end)
                    candidates.update(bounds[lo:hi])
            best: tuple[int, int] | None = None
            for c in sorted((c for c in candidates if prev_start < c < prev_end), reverse=True):
                tail = self.doc[c:prev_end]
                if not tail.strip():
                    continue
                tokens = self.count(tail)
                if tokens > budget:
                    break
                best = (c, tokens)
            if best is not None:
                return best
        return None

    # -- per-block caches ----------------------------------------------------------------

    def _tokens_of(self, i: int) -> int:
        if i not in self._block_tokens:
            self._block_tokens[i] = self.count(self.blocks[i].text)
        return self._block_tokens[i]

    def _bounds(self, i: int, level: str) -> Sequence[int]:
        """Sorted boundaries of one level in block i (document positions), ending at its end."""
        key = (i, level)
        if key not in self._boundaries:
            bs, be = self.spans[i]
            if level == "char":
                self._boundaries[key] = range(bs + 1, be + 1)
            else:
                found = [bs + m.end() for m in _PATTERNS[level].finditer(self.blocks[i].text)]
                if not found or found[-1] != be:
                    found.append(be)
                self._boundaries[key] = found
        return self._boundaries[key]

    # -- metadata ------------------------------------------------------------------------

    def _make_chunk(self, s: int, e: int) -> Chunk:
        first = max(0, bisect.bisect_right(self.starts, s) - 1)
        last = bisect.bisect_left(self.starts, e)
        inside: list[tuple[int, int, int]] = []  # (block, first, last non-space char)
        for j in range(first, last):
            bs, be = self.spans[j]
            a, z = max(s, bs), min(e, be)
            piece = self.doc[a:z]
            stripped = piece.lstrip()
            if not stripped:
                continue
            a += len(piece) - len(stripped)
            z -= len(piece) - len(piece.rstrip())
            inside.append((j, a, z - 1))
        # The heading path of the chunk's own text, not of the overlap it starts with.
        own = [t for t in inside if t[2] >= self._content_start_of(s, e)] or inside
        heading_block = next((j for j, _, _ in own if self.blocks[j].kind != "heading"),
                             own[0][0])
        lines = [(self._line(j, a), self._line(j, z)) for j, a, z in inside]
        known = [(lo, hi) for lo, hi in lines if lo is not None and hi is not None]
        return Chunk(
            text=self.doc[s:e], char_start=s, char_end=e,
            heading_path=self.blocks[heading_block].heading_path,
            line_start=min(lo for lo, _ in known) if known else None,
            line_end=max(hi for _, hi in known) if known else None,
            page=self.blocks[inside[0][0]].page,
        )

    def _content_start_of(self, s: int, e: int) -> int:
        """Where the chunk being flushed stops repeating the previous one."""
        return self.content_start if s <= self.content_start <= e else s

    def _line(self, j: int, pos: int) -> int | None:
        """The 1-based source line of document position `pos` inside block j."""
        block = self.blocks[j]
        if block.line_start is None:
            return None
        if j not in self._newlines:
            bs, _ = self.spans[j]
            self._newlines[j] = [bs + m.start() for m in re.finditer("\n", block.text)]
        line = block.line_start + bisect.bisect_left(self._newlines[j], pos)
        # Extractors may rejoin wrapped lines; never point past the block's last line.
        return min(line, block.line_end) if block.line_end is not None else line
