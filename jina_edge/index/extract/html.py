"""HTML into blocks, with source lines, via the standard library's lenient parser."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser

from jina_edge.index.extract._common import Block, BlockKind, _collapse

_SKIP_TAGS = {"script", "style", "head", "nav", "footer", "noscript", "template", "svg"}
_HEAD_TAGS = {"head", "title", "meta", "link", "style", "script", "base", "noscript", "template"}
_BREAK_TAGS = {
    "p", "div", "section", "article", "main", "aside", "header", "blockquote", "hr", "dl",
    "dt", "dd", "figure", "figcaption", "form", "fieldset", "address", "details", "summary",
    "center", "body", "html",
}


MAX_LIST_INDENT = 8  # levels of nested lists shown by indentation

class _HTMLBlocks(HTMLParser):
    """Turns HTML into blocks; lenient, as html.parser is with broken markup."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.headings: list[tuple[int, str]] = []
        self.skip: list[str] = []  # open ignored elements
        self.skipping: Counter[str] = Counter()  # the same, counted: membership in O(1)
        self.buf: list[str] = []
        self.first: int | None = None  # source lines of the buffered text
        self.last: int | None = None
        self.heading_level = 0
        self.pre = 0
        self.lists: list[list[int]] = []  # per open ul/ol: [is_ordered, counter]
        self.items: list[str] = []
        self.table = 0
        self.rows: list[list[str]] = []

    def emit(self, kind: BlockKind, text: str) -> None:
        if text.strip():
            path = tuple(t for _, t in self.headings)
            self.blocks.append(Block(text, kind, path, self.first, self.last, None))
        self.first = self.last = None

    def take(self) -> str:
        text = "".join(self.buf)
        self.buf = []
        return text

    def flush(self) -> None:
        lines = (_collapse(x) for x in self.take().split("\n"))
        self.emit("paragraph", "\n".join(x for x in lines if x))

    def end_item(self) -> None:
        text = _collapse(self.take())
        if text and self.lists:
            ordered, counter = self.lists[-1]
            marker = f"{counter}." if ordered else "-"
            # Capped: deeply nested lists made one enormous block
            # (docs/performance.md, "Hostile documents").
            depth = min(len(self.lists) - 1, MAX_LIST_INDENT)
            self.items.append("  " * depth + f"{marker} {text}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip[-1:] == ["head"] and tag not in _HEAD_TAGS:
            self.pop_skip()  # </head> is optional: body content closes the head
        if tag in _SKIP_TAGS:
            self.skip.append(tag)
            self.skipping[tag] += 1
        if self.skip or self.pre:
            return
        if tag == "br":
            self.buf.append("\n")
        elif self.table:
            if tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th") and self.table == 1:
                self.take()
            elif tag == "table":
                self.table += 1
            else:
                self.buf.append(" ")
        elif tag in ("ul", "ol"):
            if self.lists:
                self.end_item()
            else:
                self.flush()
            self.lists.append([tag == "ol", 0])
        elif tag == "li" and self.lists:
            self.end_item()
            self.lists[-1][1] += 1
        elif self.lists:
            self.buf.append(" ")  # blocks inside a list item stay in the item
        elif tag in ("pre", "table") or (len(tag) == 2 and tag[0] == "h" and tag[1] in "123456"):
            self.flush()
            if tag == "pre":
                self.pre = 1
            elif tag == "table":
                self.table, self.rows = 1, []
            else:
                self.heading_level = int(tag[1])
        elif tag in _BREAK_TAGS:
            self.flush()

    def pop_skip(self) -> str:
        tag = self.skip.pop()
        self.skipping[tag] -= 1
        return tag

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" and not self.skip:
            self.buf.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self.skip:
            if self.skipping[tag]:
                while self.skip and self.pop_skip() != tag:
                    pass
            return
        if self.pre:
            if tag == "pre":
                self.pre = 0
                code = "\n".join(x.rstrip() for x in self.take().split("\n"))
                self.emit("code", code.strip("\n"))
            return
        if self.table:
            if tag in ("td", "th") and self.table == 1 and self.rows:
                self.rows[-1].append(_collapse(self.take()))
            elif tag == "table":
                self.table -= 1
                if not self.table:
                    self.take()
                    rows = ("\t".join(r) for r in self.rows if any(r))
                    self.emit("table", "\n".join(rows))
        elif tag in ("ul", "ol") and self.lists:
            self.end_item()
            self.lists.pop()
            if not self.lists:
                self.emit("list", "\n".join(self.items))
                self.items = []
        elif tag == "li" and self.lists:
            self.end_item()
        elif self.lists:
            pass
        elif self.heading_level and tag == f"h{self.heading_level}":
            title = _collapse(self.take())
            level, self.heading_level = self.heading_level, 0
            if title:
                while self.headings and self.headings[-1][0] >= level:
                    self.headings.pop()
                self.headings.append((level, title))
                self.emit("heading", title)
            self.first = self.last = None
        elif tag in _BREAK_TAGS:
            self.flush()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        self.buf.append(data)
        if data.strip():
            line = self.getpos()[0]
            lead = len(data) - len(data.lstrip())
            first = line + data[:lead].count("\n")
            self.first = first if self.first is None else self.first
            self.last = line + data.rstrip().count("\n")

    def finish(self) -> list[Block]:
        self.close()
        self.skip = []  # an unclosed <script> must not swallow the closing below
        self.skipping.clear()
        if self.pre:
            self.handle_endtag("pre")
        while self.table:
            self.handle_endtag("table")
        while self.lists:
            self.handle_endtag("ul")
        self.flush()
        return self.blocks


def _html_blocks(text: str) -> list[Block]:
    parser = _HTMLBlocks()
    parser.feed(text)
    return parser.finish()
