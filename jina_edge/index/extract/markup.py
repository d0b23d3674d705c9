"""Plain text, Markdown and reStructuredText into blocks, one line per source line."""

from __future__ import annotations

import re

from jina_edge.index.extract._common import Block, _indent, _Lines

# --- plain text and lists -------------------------------------------------------------


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
