"""Text extraction: turn a file into structural blocks in reading order.

`extract(path)` reads a file once, within a size limit, and returns a `Document`
of `Block`s (headings, paragraphs, code, lists, tables) with their heading path
and location (source lines for text-like formats, the page for PDF). Anything
wrong with the file raises `ExtractionError` with a short reason for the UI, so
that one bad file never stops an indexing run.

For text-like formats (text, markdown, rst, code) every non-heading block's text
has exactly one line per source line from `line_start` to `line_end`, so a
chunker can map a line inside a block back to the file.
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import re
import stat
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal
from xml.etree import ElementTree

from jina_edge.errors import JinaEdgeError

logger = logging.getLogger(__name__)

# Bytes. Above this a file is skipped unread: a 2 GB log must never be loaded
# into memory, least of all on a 4 GB Raspberry Pi.
DEFAULT_MAX_FILE_BYTES = 50_000_000
# Bytes sniffed for a NUL to call a file binary (the same window git uses).
_BINARY_SNIFF_BYTES = 8192
# Share of control characters above which a non-UTF-8 file is not Latin-1 text.
_MAX_CONTROL_SHARE = 0.02
# Bytes: cap on the decompressed word/document.xml, against zip bombs.
_MAX_DOCX_XML_BYTES = 200_000_000
_PDFIUM_LOCK = threading.Lock()

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


@dataclass(frozen=True)
class Document:
    """The blocks of one file; `language` is set for source code only."""

    path: Path
    file_type: str
    language: str | None
    blocks: list[Block]


class ExtractionError(JinaEdgeError):
    """A file that cannot be indexed; `reason` is a short sentence for the UI."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


# Source code and config/markup formats, by extension, with their language.
_CODE_LANGUAGES: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript",
    ".cjs": "javascript", ".jsx": "javascript", ".ts": "typescript", ".tsx": "typescript",
    ".java": "java", ".c": "c", ".h": "c", ".cpp": "cpp", ".cc": "cpp", ".cxx": "cpp",
    ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp", ".cs": "csharp", ".go": "go", ".rs": "rust",
    ".rb": "ruby", ".php": "php", ".swift": "swift", ".kt": "kotlin", ".kts": "kotlin",
    ".scala": "scala", ".groovy": "groovy", ".gradle": "groovy", ".sh": "shell",
    ".bash": "shell", ".zsh": "shell", ".fish": "fish", ".ps1": "powershell",
    ".bat": "batch", ".cmd": "batch", ".sql": "sql", ".r": "r", ".m": "objectivec",
    ".mm": "objectivec", ".lua": "lua", ".pl": "perl", ".pm": "perl", ".hs": "haskell",
    ".ml": "ocaml", ".mli": "ocaml", ".fs": "fsharp", ".ex": "elixir", ".exs": "elixir",
    ".erl": "erlang", ".clj": "clojure", ".cljs": "clojure", ".dart": "dart", ".jl": "julia",
    ".zig": "zig", ".nim": "nim", ".f90": "fortran", ".vb": "vbnet", ".proto": "protobuf",
    ".graphql": "graphql", ".tf": "hcl", ".vue": "vue", ".svelte": "svelte", ".css": "css",
    ".scss": "scss", ".sass": "sass", ".less": "less", ".toml": "toml", ".yaml": "yaml",
    ".yml": "yaml", ".ini": "ini", ".cfg": "ini", ".conf": "ini", ".json": "json",
    ".jsonc": "json", ".xml": "xml", ".tex": "latex", ".bib": "bibtex",
}

SUPPORTED_SUFFIXES: dict[str, str] = {
    ".txt": "text", ".text": "text", ".log": "text", ".csv": "text", ".tsv": "text",
    ".md": "markdown", ".markdown": "markdown", ".rst": "rst",
    ".html": "html", ".htm": "html", ".xhtml": "html", ".pdf": "pdf", ".docx": "docx",
    **dict.fromkeys(_CODE_LANGUAGES, "code"),
}


def file_type_of(path: Path) -> str | None:
    """Returns the file type for `path`'s extension, or None if unsupported."""
    return SUPPORTED_SUFFIXES.get(path.suffix.lower())


def extract(path: Path, *, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Document:
    """Reads and parses one file into blocks.

    Args:
        path: The file.
        max_bytes: Files larger than this many bytes are refused unread.

    Raises:
        ExtractionError: The file is unsupported, too large, unreadable or damaged.
    """
    file_type = file_type_of(path)
    if file_type is None:
        raise ExtractionError(path, f"unsupported file type '{path.suffix or path.name}'")
    data = _read_bytes(path, max_bytes)
    language = _CODE_LANGUAGES.get(path.suffix.lower()) if file_type == "code" else None
    if not data:
        return Document(path, file_type, language, [])
    try:
        if file_type == "pdf":
            blocks = _pdf_blocks(path, data)
        elif file_type == "docx":
            blocks = _docx_blocks(path, data)
        else:
            text = _decode(path, data)
            if file_type == "html":
                blocks = _html_blocks(text)
            else:
                lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
                if lines[-1] == "":
                    lines.pop()  # the final newline ends the last line, it adds none
                parse = {"markdown": _markdown_blocks, "rst": _rst_blocks}.get(file_type)
                if parse is not None:
                    blocks = parse(lines)
                elif file_type == "code":
                    blocks = _code_blocks(lines, python=language == "python")
                else:
                    blocks = _text_blocks(lines)
    except ExtractionError:
        raise
    except Exception as exc:
        # The promise is that one odd file never stops an indexing run, so even a
        # parser bug becomes a skipped file; the traceback goes to the log.
        logger.warning("parsing %s failed", path, exc_info=True)
        raise ExtractionError(path, f"{file_type} parser failed: {exc!r}") from exc
    return Document(path, file_type, language, blocks)


# --- reading and decoding -------------------------------------------------------------


def _format_bytes(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:g} MB"
    return f"{n / 1000:g} kB" if n >= 1000 else f"{n} bytes"


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    too_large = f"file larger than the {_format_bytes(max_bytes)} limit"
    try:
        st = os.stat(path)
        # Stat first: opening a FIFO or device would block or never end.
        if not stat.S_ISREG(st.st_mode):
            raise ExtractionError(path, "not a regular file")
        if st.st_size > max_bytes:
            raise ExtractionError(path, too_large)
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)  # the file may have grown since the stat
    except FileNotFoundError:
        raise ExtractionError(path, "file vanished while reading") from None
    except PermissionError:
        raise ExtractionError(path, "permission denied") from None
    except IsADirectoryError:
        raise ExtractionError(path, "not a regular file") from None
    except OSError as exc:
        raise ExtractionError(path, f"cannot read file: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise ExtractionError(path, too_large)
    return data


_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def _decode(path: Path, data: bytes) -> str:
    # BOMs first: UTF-16/32 text is full of NUL bytes, which otherwise mean binary.
    for bom, codec in (
        (b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
        (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"),
    ):
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(codec)
            except UnicodeDecodeError:
                raise ExtractionError(path, f"not valid {codec.upper()} text") from None
    if b"\x00" in data[:_BINARY_SNIFF_BYTES]:
        raise ExtractionError(path, "binary file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:  # five bytes are undefined in cp1252 but not in Latin-1
        text = data.decode("latin-1")
    if len(_CONTROL_RE.findall(text)) > _MAX_CONTROL_SHARE * len(text):
        raise ExtractionError(path, "not valid UTF-8 or Latin-1 text")
    return text


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


def _text_blocks(lines: list[str]) -> list[Block]:
    out = _Lines(lines)
    start = 0
    for i, line in enumerate(lines + [""]):
        if not line.strip():
            out.span(start, i - 1, "paragraph")
            start = i + 1
    return out.blocks


_LIST_ITEM_RE = re.compile(r"^\s*(?:[-*+\u2022]|\d{1,9}[.)]|#\.)(?:\s|$)")


def _list_end(lines: list[str], i: int) -> int:
    """Returns the last line of the list starting at line i.

    A list goes on through items, indented or lazy continuation lines, and blank
    lines that are followed by another item or an indented line.
    """
    end = i
    j = i + 1
    while j < len(lines):
        line = lines[j]
        if not line.strip():
            j += 1
            continue
        after_blank = not lines[j - 1].strip()
        if _LIST_ITEM_RE.match(line) or line[:1] in (" ", "\t"):
            end = j
        elif after_blank or _ATX_RE.match(line) or _FENCE_RE.match(line):
            break
        else:
            end = j  # a lazy continuation of the item's paragraph
        j += 1
    return end


def _indented_end(lines: list[str], i: int, base: int) -> int:
    """Returns the last line of the block indented deeper than `base` after line i."""
    end = i
    for j in range(i + 1, len(lines)):
        if lines[j].strip():
            if _indent(lines[j]) <= base:
                break
            end = j
    return end


# --- Markdown -------------------------------------------------------------------------

_ATX_RE = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]|$)")
_FENCE_RE = re.compile(r"^( {0,3})(`{3,}|~{3,})")
_SETEXT_RE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_BREAK_RE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_TABLE_CELL_RULE_RE = re.compile(r"\s*:?-+:?\s*")


# Regexes here are kept free of nested or adjacent unbounded repeats: a file with
# a 50 MB line must not stall indexing with quadratic backtracking.
def _atx_title(line: str, hashes: str) -> str:
    title = line.lstrip(" ")[len(hashes) :].strip()
    closed = title.rstrip("#")
    if not closed or closed[-1] in " \t":  # "## Title ##": drop the closing hashes
        title = closed.strip()
    return title


def _is_table_rule(line: str) -> bool:
    cells = line.strip().strip("|").split("|")
    return "|" in line and all(_TABLE_CELL_RULE_RE.fullmatch(c) for c in cells)


def _markdown_blocks(lines: list[str]) -> list[Block]:
    out = _Lines(lines)
    n = len(lines)
    i = 0
    if n and lines[0].rstrip() in ("---", "+++"):  # YAML or TOML front matter
        closers = ("---", "...") if lines[0].rstrip() == "---" else ("+++",)
        close = next((j for j in range(1, n) if lines[j].rstrip() in closers), None)
        if close is not None:
            i = close + 1
    para = -1  # first line of the paragraph being collected, or -1
    while i < n:
        line = lines[i]
        fence = _FENCE_RE.match(line)
        if fence and fence.group(2)[0] == "`" and "`" in line[fence.end():]:
            fence = None  # ```code``` on one line is inline code, not a fence
        atx = _ATX_RE.match(line)
        item = _LIST_ITEM_RE.match(line)
        if not line.strip():
            if para >= 0:
                out.span(para, i - 1, "paragraph")
            para = -1
        elif para >= 0 and _SETEXT_RE.match(line):
            title = " ".join(lines[para:i])
            out.heading(1 if line.strip()[0] == "=" else 2, title, para, i)
            para = -1
        elif fence or atx or _BREAK_RE.match(line) or (
            item and (para < 0 or re.match(r"^\s*([-*+]|1[.)])\s+\S", line))
        ) or (i + 1 < n and "|" in line and "|" in lines[i + 1]
              and _is_table_rule(lines[i + 1])):
            if para >= 0:
                out.span(para, i - 1, "paragraph")
                para = -1
            if fence:
                mark = fence.group(2)
                close_re = re.compile(r"^ {0,3}" + re.escape(mark[0]) + f"{{{len(mark)},}}[ \t]*$")
                end = next((j for j in range(i + 1, n) if close_re.match(lines[j])), n - 1)
                out.span(i, end, "code")
                i = end
            elif atx:
                out.heading(len(atx.group(1)), _atx_title(line, atx.group(1)), i, i)
            elif _BREAK_RE.match(line):
                pass  # a thematic break separates blocks and holds no text
            elif item:
                end = _list_end(lines, i)
                out.span(i, end, "list")
                i = end
            else:
                end = next((j - 1 for j in range(i + 2, n) if "|" not in lines[j]), n - 1)
                out.span(i, end, "table")
                i = end
        elif para < 0 and (line[:1] == "\t" or line.startswith("    ")):
            end = _indented_end(lines, i, 3)
            out.span(i, end, "code")
            i = end
        elif para < 0:
            para = i
        i += 1
    if para >= 0:
        out.span(para, n - 1, "paragraph")
    return out.blocks


# --- reStructuredText -----------------------------------------------------------------

_ADORN_RE = re.compile(r"^([!-/:-@\[-`{-~])\1+\s*$")
_CODE_DIRECTIVE_RE = re.compile(r"^\s*\.\.\s+(?:code-block|code|sourcecode)::")


def _rst_blocks(lines: list[str]) -> list[Block]:
    out = _Lines(lines)
    styles: list[tuple[str, bool]] = []  # title styles in order of first use = levels
    n = len(lines)

    def title_at(i: int) -> tuple[str, str, bool, int] | None:
        """(title, char, overlined, last line) if a section title starts at line i."""
        line = lines[i].rstrip()
        nxt = lines[i + 1].rstrip() if i + 1 < n else ""
        if _ADORN_RE.match(line) and i + 2 < n and lines[i + 1].strip():
            under = lines[i + 2].rstrip()
            title = lines[i + 1].strip()
            if under[:1] == line[0] and _ADORN_RE.match(under) and len(line) >= len(title):
                return title, line[0], True, i + 2
        is_text = line and not line[0].isspace() and not _ADORN_RE.match(line)
        # docutils accepts a short underline (with a warning) once it has 4 characters.
        if is_text and _ADORN_RE.match(nxt) and (len(nxt) >= len(line) or len(nxt) >= 4):
            return line, nxt[0], False, i + 1
        return None

    para = -1
    literal_base: int | None = None  # indentation of a paragraph that ended in "::"
    i = 0
    while i < n:
        line = lines[i]
        if not line.strip():
            if para >= 0:
                directive = lines[para].lstrip().startswith("..")  # ".. note::" is no literal
                if lines[i - 1].rstrip().endswith("::") and not directive:
                    literal_base = _indent(lines[para])
                if "".join(lines[para:i]).strip() != "::":
                    out.span(para, i - 1, "paragraph")
            para = -1
            i += 1
            continue
        if literal_base is not None and para < 0 and _indent(line) > literal_base:
            end = _indented_end(lines, i, literal_base)
            out.span(i, end, "code")
            literal_base = None
            i = end + 1
            continue
        literal_base = None
        title = title_at(i) if para < 0 else None
        if title is not None:
            text, char, over, last = title
            if (char, over) not in styles:
                styles.append((char, over))
            out.heading(styles.index((char, over)), text, i, last)
            i = last
        elif para < 0 and _CODE_DIRECTIVE_RE.match(line):
            end = _indented_end(lines, i, _indent(line))
            out.span(i, end, "code")
            i = end
        elif para < 0 and _LIST_ITEM_RE.match(line):
            end = _list_end(lines, i)
            out.span(i, end, "list")
            i = end
        elif para < 0 and _ADORN_RE.match(line) and len(line.strip()) >= 4:
            pass  # a transition: a horizontal rule between paragraphs
        elif para < 0:
            para = i
        i += 1
    if para >= 0:
        out.span(para, n - 1, "paragraph")
    return out.blocks


# --- source code ----------------------------------------------------------------------

_PY_DEF_RE = re.compile(r"^\s*(?:async\s+)?(def|class)\s+(\w+)")
_PY_TOPLEVEL_RE = re.compile(r"^(?:@|(?:async\s+)?def\s|class\s)")


def _code_blocks(lines: list[str], *, python: bool) -> list[Block]:
    """Splits code at blank lines, keeping definitions and bracketed spans whole.

    Python blocks split at blank lines unless inside a function body (so a class
    splits into its methods) and carry their enclosing class/def names; other
    languages split at blank lines outside braces.
    """
    out = _Lines(lines)
    depth = 0  # open brackets (braces only, outside Python)
    in_string = False  # inside a Python triple-quoted string
    scopes: list[tuple[int, str]] = []  # enclosing Python (indent, "def name")
    start = 0
    block_path: tuple[str, ...] | None = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            if depth > 0 or in_string:
                continue
            nxt = next((lines[j] for j in range(i + 1, len(lines)) if lines[j].strip()), None)
            if python and nxt is not None:
                inner = [s for s in scopes if s[0] < _indent(nxt)]
                if any(name.startswith("def ") for _, name in inner):
                    continue  # a blank line inside a function body
            out.span(start, i - 1, "code", block_path or ())
            start, block_path = i + 1, None
            continue
        if not python:
            depth = max(0, depth + line.count("{") - line.count("}"))
            continue
        if not in_string and depth > 0 and _PY_TOPLEVEL_RE.match(line):
            depth = 0  # a top-level def resyncs a count thrown off by a bracket in a string
        if not in_string and depth == 0:
            # A line that starts a statement: its indentation is meaningful.
            ind = _indent(line)
            while scopes and scopes[-1][0] >= ind:
                scopes.pop()
            m = _PY_DEF_RE.match(line)
            if m:
                scopes.append((ind, f"{m.group(1)} {m.group(2)}"))
            if block_path is None and stripped[0] not in "@#":
                block_path = tuple(name for _, name in scopes)
        quotes = line.count('"""') + line.count("'''")
        if quotes % 2:
            in_string = not in_string
        elif not in_string:
            code = line.split("#", 1)[0] if "'" not in line and '"' not in line else line
            depth = max(0, depth + sum(code.count(c) for c in "([{")
                        - sum(code.count(c) for c in ")]}"))
    if block_path is None:
        block_path = tuple(name for _, name in scopes) if python else ()
    out.span(start, len(lines) - 1, "code", block_path)
    return out.blocks


# --- HTML -----------------------------------------------------------------------------

_SKIP_TAGS = {"script", "style", "head", "nav", "footer", "noscript", "template", "svg"}
_HEAD_TAGS = {"head", "title", "meta", "link", "style", "script", "base", "noscript", "template"}
_BREAK_TAGS = {
    "p", "div", "section", "article", "main", "aside", "header", "blockquote", "hr", "dl",
    "dt", "dd", "figure", "figcaption", "form", "fieldset", "address", "details", "summary",
    "center", "body", "html",
}


class _HTMLBlocks(HTMLParser):
    """Turns HTML into blocks; lenient, as html.parser is with broken markup."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.headings: list[tuple[int, str]] = []
        self.skip: list[str] = []  # open ignored elements
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
            self.items.append("  " * (len(self.lists) - 1) + f"{marker} {text}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip[-1:] == ["head"] and tag not in _HEAD_TAGS:
            self.skip.pop()  # </head> is optional: body content closes the head
        if tag in _SKIP_TAGS:
            self.skip.append(tag)
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

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" and not self.skip:
            self.buf.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self.skip:
            if tag in self.skip:
                while self.skip and self.skip.pop() != tag:
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


# --- PDF ------------------------------------------------------------------------------

_SENTENCE_END = tuple('.!?:;"\u201d)')


def _pdf_paragraphs(text: str) -> Iterator[str]:
    """Splits a page's text at blank lines and at short lines that end a sentence."""
    text = _CONTROL_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " "))
    lines = [_collapse(x) for x in text.split("\n")]
    longest = max((len(x) for x in lines), default=0)
    para: list[str] = []
    for line in lines + [""]:
        if line:
            para.append(line)
        # pdfium emits no blank lines between paragraphs: a last line is usually short.
        if para and (not line or (line.endswith(_SENTENCE_END) and len(line) < 0.7 * longest)):
            yield "\n".join(para)
            para = []


def _pdf_page_texts(path: Path, data: bytes) -> list[str | None]:
    """Text of each page, None for a page pdfium could not read."""
    try:
        # Loaded untyped on purpose: pypdfium2 ships no type information.
        pdfium: Any = importlib.import_module("pypdfium2")
    except ImportError:
        raise ExtractionError(path, "PDF support needs pypdfium2: pip install pypdfium2") from None
    # pdfium is not thread-safe, not even across documents, and the indexer
    # extracts in worker threads (pypdfium2 docs, "Incompatibility with Threading").
    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if "password" in str(exc).lower():
                raise ExtractionError(path, "PDF is password-protected") from None
            raise ExtractionError(path, f"PDF parser failed: {exc}") from None
        texts: list[str | None] = []
        try:
            for index in range(len(pdf)):
                try:
                    page = pdf[index]
                    try:
                        textpage = page.get_textpage()
                        try:
                            texts.append(textpage.get_text_range())
                        finally:
                            textpage.close()
                    finally:
                        page.close()
                except pdfium.PdfiumError:
                    logger.warning("%s: page %d unreadable", path, index + 1, exc_info=True)
                    texts.append(None)  # keep the readable pages of a damaged file
        finally:
            pdf.close()  # pdfium memory is not garbage-collected promptly otherwise
    return texts


def _pdf_blocks(path: Path, data: bytes) -> list[Block]:
    texts = _pdf_page_texts(path, data)
    blocks = [
        Block(para, "paragraph", (), None, None, number)
        for number, text in enumerate(texts, 1)
        for para in _pdf_paragraphs(text or "")
    ]
    if blocks:
        return blocks
    if not texts:
        raise ExtractionError(path, "PDF has no pages")
    if None in texts:
        raise ExtractionError(path, "PDF parser failed: no readable page")
    raise ExtractionError(
        path, "PDF has no text layer (scanned?); run OCR on it to make it searchable")


# --- DOCX -----------------------------------------------------------------------------


def _local(tag: str) -> str:
    """Tag or attribute name without its namespace (transitional and strict OOXML)."""
    return tag.rsplit("}", 1)[-1]


def _attr(el: ElementTree.Element, name: str) -> str | None:
    return next((v for k, v in el.attrib.items() if _local(k) == name), None)


def _child(el: ElementTree.Element, *names: str) -> ElementTree.Element | None:
    for name in names:
        found = next((c for c in el if _local(c.tag) == name), None)
        if found is None:
            return None
        el = found
    return el


def _docx_text(el: ElementTree.Element) -> str:
    parts: list[str] = []
    for child in el:
        name = _local(child.tag)
        if name == "Fallback":
            continue  # mc:Fallback repeats what mc:Choice already holds
        if name == "t":
            parts.append(child.text or "")
        elif name == "tab":
            parts.append("\t")
        elif name in ("br", "cr"):
            parts.append("\n")
        elif name == "noBreakHyphen":
            parts.append("-")
        elif name == "p" and parts:
            parts.append("\n" + _docx_text(child))
        else:
            parts.append(_docx_text(child))
    return "".join(parts)


def _docx_styles(zf: zipfile.ZipFile) -> dict[str, tuple[int | None, bool]]:
    """Maps paragraph style ids to (heading level or None, is a list style)."""
    try:
        root = ElementTree.fromstring(zf.read("word/styles.xml"))
    except (KeyError, ElementTree.ParseError):
        return {}
    styles: dict[str, tuple[int | None, bool]] = {}
    for style in root:
        style_id = _attr(style, "styleId")
        if _local(style.tag) != "style" or style_id is None:
            continue
        name_el = _child(style, "name")
        # Style ids are localised ("berschrift1"), names are not ("heading 1").
        name = (_attr(name_el, "val") or "") if name_el is not None else ""
        outline = _child(style, "pPr", "outlineLvl")
        level = _heading_level(name.replace(" ", ""))
        if level is None and outline is not None:
            value = _attr(outline, "val") or ""
            level = int(value) + 1 if value.isdigit() and int(value) < 9 else None
        styles[style_id] = (level, _child(style, "pPr", "numPr") is not None)
    return styles


def _heading_level(style: str) -> int | None:
    m = re.fullmatch(r"(?i)heading([1-9])|(title)", style)
    if not m:
        return None
    return int(m.group(1)) if m.group(1) else 0


def _docx_blocks(path: Path, data: bytes) -> list[Block]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            with zf.open("word/document.xml") as f:
                xml = f.read(_MAX_DOCX_XML_BYTES + 1)
            styles = _docx_styles(zf)
    except KeyError:
        raise ExtractionError(path, "DOCX has no word/document.xml") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError,
            NotImplementedError, zlib.error) as exc:
        if data.startswith(b"\xd0\xcf\x11\xe0"):  # an OLE file, as Word writes encrypted ones
            raise ExtractionError(path, "DOCX is password-protected or an old .doc") from None
        raise ExtractionError(path, f"damaged DOCX (bad zip archive): {exc}") from None
    if len(xml) > _MAX_DOCX_XML_BYTES:
        raise ExtractionError(path, "DOCX text is too large to index")
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise ExtractionError(path, f"damaged DOCX (bad document.xml): {exc}") from None
    body = _child(root, "body")
    blocks: list[Block] = []
    headings: list[tuple[int, str]] = []
    items: list[str] = []

    def add(kind: BlockKind, text: str) -> None:
        blocks.append(Block(text, kind, tuple(t for _, t in headings), None, None, None))

    def end_list() -> None:
        if items:
            add("list", "\n".join(items))
            items.clear()

    def walk(parent: ElementTree.Element) -> None:
        for el in parent:
            name = _local(el.tag)
            if name == "sdt":  # a content control wraps ordinary paragraphs
                content = _child(el, "sdtContent")
                if content is not None:
                    walk(content)
            elif name == "tbl":
                end_list()
                rows = []
                for tr in (c for c in el if _local(c.tag) == "tr"):
                    cells = [_collapse(_docx_text(tc)) for tc in tr if _local(tc.tag) == "tc"]
                    if any(cells):
                        rows.append("\t".join(cells))
                if rows:
                    add("table", "\n".join(rows))
            elif name == "p":
                paragraph(el)

    def paragraph(p: ElementTree.Element) -> None:
        lines = [_collapse(x) for x in _docx_text(p).split("\n")]
        text = "\n".join(x for x in lines if x)
        style_el = _child(p, "pPr", "pStyle")
        style = (_attr(style_el, "val") or "") if style_el is not None else ""
        level, list_style = styles.get(style, (_heading_level(style), False))
        outline = _child(p, "pPr", "outlineLvl")
        if level is None and outline is not None and (_attr(outline, "val") or "").isdigit():
            level = int(_attr(outline, "val") or "0") + 1
        num = _child(p, "pPr", "numPr")
        if not text:
            return
        if level is not None and level < 10:
            end_list()
            while headings and headings[-1][0] >= level:
                headings.pop()
            headings.append((level, " ".join(text.split("\n"))))
            add("heading", headings[-1][1])
        elif num is not None or list_style:
            ilvl = _child(num, "ilvl") if num is not None else None
            value = (_attr(ilvl, "val") or "") if ilvl is not None else ""
            depth = int(value) if value.isdigit() else 0
            items.append("  " * min(depth, 8) + "- " + " ".join(text.split("\n")))
        else:
            end_list()
            add("paragraph", text)

    if body is not None:
        walk(body)
    end_list()
    return blocks
