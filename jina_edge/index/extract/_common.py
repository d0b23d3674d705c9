"""Shared pieces of text extraction: the block type, the error, line helpers.

Every format module builds `Block`s and raises `ExtractionError`; the text-like
formats (text, markdown, rst, code) collect them over source lines with `_Lines`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from jina_edge.errors import JinaEdgeError

BlockKind = Literal["heading", "paragraph", "code", "list", "table"]


@dataclass(frozen=True)
class Block:
    """One structural block of a document, in reading order."""

    text: str
    kind: BlockKind
    heading_path: tuple[str, ...]
    line_start: int | None
    line_end: int | None
    page: int | None


class ExtractionError(JinaEdgeError):
    """A file that cannot be indexed; `reason` is a short sentence for the UI."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


_SEPARATOR = "\n\n"  # between blocks in a document's text


def join_blocks(blocks: Sequence[Block]) -> tuple[str, list[tuple[int, int]]]:
    """Join block texts with blank lines.

    Returns:
        The document text and each block's (start, end) character span in it.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    for i, block in enumerate(blocks):
        if i:
            pos += len(_SEPARATOR)
        spans.append((pos, pos + len(block.text)))
        pos += len(block.text)
    return _SEPARATOR.join(b.text for b in blocks), spans



_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")


# --- building blocks from source lines ------------------------------------------------


def _collapse(line: str) -> str:
    return " ".join(line.split())


def _keep_indent(line: str) -> str:
    body = line.lstrip()
    return line[: len(line) - len(body)] + " ".join(body.split()) if body else ""


def _indent(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())


class _Lines:
    """Collects blocks over 0-based source lines, tracking the heading path."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.blocks: list[Block] = []
        self.headings: list[tuple[int, str]] = []

    def path(self) -> tuple[str, ...]:
        return tuple(title for _, title in self.headings)

    def heading(self, level: int, title: str, start: int, end: int) -> None:
        title = _collapse(title)
        if not title:
            return
        while self.headings and self.headings[-1][0] >= level:
            self.headings.pop()
        self.headings.append((level, title))
        self.blocks.append(Block(title, "heading", self.path(), start + 1, end + 1, None))

    def span(self, start: int, end: int, kind: BlockKind, path: tuple[str, ...] | None = None,
             ) -> None:
        """Adds lines start..end (inclusive) as one block, minus blank edge lines."""
        while start <= end and not self.lines[start].strip():
            start += 1
        while end >= start and not self.lines[end].strip():
            end -= 1
        if start > end:
            return
        norm: Callable[[str], str] = (
            str.rstrip if kind == "code" else _keep_indent if kind == "list" else _collapse)
        text = "\n".join(norm(line) for line in self.lines[start : end + 1])
        self.blocks.append(Block(text, kind, self.path() if path is None else path,
                                 start + 1, end + 1, None))
