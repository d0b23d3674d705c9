"""Plain text, Markdown and reStructuredText into blocks, one line per source line.

Markdown and reStructuredText blocks hold what a reader of the rendered page sees:
links as their text, images as their alt text, no emphasis, quote or heading
markers, no HTML tags or comments, entities decoded. Code stays as written. The
markup is removed line by line, so every source line still gives one line of text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Collection

from jina_edge.index.extract._common import (
    Block,
    BlockKind,
    _collapse,
    _indent,
    _keep_indent,
    _Lines,
)

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
    refs = _reference_labels(lines)
    out = _ReadableLines(lines, lambda text: _md_inline(text, refs),
                         lambda source, kind: _md_prose(source, kind, refs))
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
        elif _COMMENT_START_RE.match(line):  # an HTML comment, maybe over many lines
            if para >= 0:
                out.span(para, i - 1, "paragraph")
                para = -1
            opened = line.find("<!--") + 4
            end = next((j for j in range(i, n)
                        if "-->" in (lines[j][opened:] if j == i else lines[j])), n - 1)
            # What follows "-->" on its line is shown; the comment is not.
            out.add(i, end, "paragraph", _drop_comments("\n".join(lines[i : end + 1])).split("\n"))
            i = end
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
    out = _ReadableLines(lines, _rst_inline, _rst_prose)
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


# --- readable text --------------------------------------------------------------------
#
# Every function here keeps the number of lines: markup over several lines leaves its
# line breaks behind, so a block's text still has one line per source line. The
# regexes keep the rule above: no nested or adjacent unbounded repeats that could
# backtrack quadratically, and every unbounded run stops at a delimiter.


class _ReadableLines(_Lines):
    """`_Lines` whose headings and prose blocks hold readable text, code kept as written.

    `inline` turns one piece of text (a heading's title) into what a reader sees;
    `prose` does so for the source lines of a non-code block, line for line.
    """

    def __init__(self, lines: list[str], inline: Callable[[str], str],
                 prose: Callable[[list[str], BlockKind], list[str]]) -> None:
        super().__init__(lines)
        self.inline = inline
        self.prose = prose

    def heading(self, level: int, title: str, start: int, end: int) -> None:
        super().heading(level, self.inline(title), start, end)

    def span(self, start: int, end: int, kind: BlockKind, path: tuple[str, ...] | None = None,
             ) -> None:
        if kind == "code":
            super().span(start, end, kind, path)
        else:
            self.add(start, end, kind, self.lines[start : end + 1], path)

    def add(self, start: int, end: int, kind: BlockKind, source: list[str],
            path: tuple[str, ...] | None = None) -> None:
        """Adds `source`, the text of lines start..end, as one block of readable text.

        Lines left empty at either edge (a comment, a link definition) are left out.
        """
        shown = self.prose(source, kind)
        if len(shown) != len(source):  # never lose the way back to the source lines
            shown = source
        norm: Callable[[str], str] = (
            _keep_indent if kind == "list" else str.strip if kind == "table" else _collapse)
        texts = [norm(line) for line in shown]
        first, last = 0, len(texts) - 1
        while first <= last and not texts[first]:
            first += 1
        while last >= first and not texts[last]:
            last -= 1
        if first > last:
            return
        self.blocks.append(Block("\n".join(texts[first : last + 1]), kind,
                                 self.path() if path is None else path,
                                 start + first + 1, start + last + 1, None))


_HOLD_RE = re.compile("\ufdd0([0-9]+)\ufdd1")  # noncharacters: never in real text


class _Held:
    """Pieces taken out of the text while markup is removed (code, escaped characters)."""

    def __init__(self) -> None:
        self.pieces: list[str] = []

    def hold(self, piece: str, newlines: int = 0) -> str:
        """A placeholder for `piece`, followed by the line breaks it stood for."""
        self.pieces.append(piece)
        return f"\ufdd0{len(self.pieces) - 1}\ufdd1" + "\n" * newlines

    def restore(self, text: str) -> str:
        def back(m: re.Match[str]) -> str:
            k = int(m.group(1))
            return self.pieces[k] if k < len(self.pieces) else m.group()

        return _HOLD_RE.sub(back, text)


def _keeping_lines(shown: str, replaced: str) -> str:
    """`shown`, with the line breaks of the `replaced` markup that it lacks."""
    return shown + "\n" * max(0, replaced.count("\n") - shown.count("\n"))


def _group_1(m: re.Match[str]) -> str:
    return _keeping_lines(m.group(1) or "", m.group())


def _emphasis_re(mark: str) -> re.Pattern[str]:
    """Emphasis by `mark` (`**`, `_`, `~~`...) around text; the mark only at word edges.

    Stricter than CommonMark on purpose: snake_case, 2*3*4 and file globs stay.
    """
    c = re.escape(mark[0])
    m = re.escape(mark)
    alnum = r"[^\W_]"
    return re.compile(
        rf"(?<!{alnum})(?<!{c}){m}(?=[^\s{c}])"  # opener: not inside a word, then no space
        rf"((?:[^{c}]|(?<={alnum}){c}(?={alnum}))+?)"  # the mark only inside words
        rf"(?<=[^\s{c}]){m}(?!{alnum})(?!{c})")


_ENTITY_RE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def _decode_entities(text: str) -> str:
    """Named and numeric character references; CommonMark needs the ';' (AT&T stays)."""
    return _ENTITY_RE.sub(lambda m: html.unescape(m.group()), text)


def _drop_comments(text: str) -> str:
    """Text without its HTML comments (an unclosed one runs to the end), lines kept."""
    out: list[str] = []
    pos = 0
    while (start := text.find("<!--", pos)) >= 0:
        close = text.find("-->", start + 4)
        end = len(text) if close < 0 else close + 3
        out += [text[pos:start], "\n" * text.count("\n", start, end)]
        pos = end
    out.append(text[pos:])
    return "".join(out)


# --- Markdown inline markup -----------------------------------------------------------

_MD_ESCAPE_RE = re.compile(r"\\([!-/:-@\[-`{-~])")
_HARD_BREAK_RE = re.compile(r"\\(?=\n)")
_AUTOLINK_RE = re.compile(
    r"<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*|[^\s<>@]+@[A-Za-z0-9][^\s<>@]*)>")
_BARE_URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>]+")
_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)(\s[^<>]*)?/?>")
_ALT_RE = re.compile(r"""\salt\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'/>]+))""", re.IGNORECASE)
_INLINE_TAGS = frozenset((
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "del", "dfn", "em", "font", "i",
    "img", "ins", "kbd", "mark", "q", "s", "samp", "small", "span", "strike", "strong", "sub",
    "sup", "time", "tt", "u", "var", "wbr"))
# HTML seen in READMEs, removed even bare. Any other <name> goes only with attributes
# ("<source srcset=...>") or as a closing tag: "<folder>", "<input>", "List<T>" stay.
_HTML_TAGS = _INLINE_TAGS | frozenset((
    "article", "aside", "audio", "big", "blockquote", "br", "caption", "center", "col",
    "colgroup", "dd", "details", "div", "dl", "dt", "figcaption", "figure", "footer", "h1",
    "h2", "h3", "h4", "h5", "h6", "header", "hr", "iframe", "li", "main", "nav", "ol", "p",
    "picture", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "ul", "video"))
_LINK_DEST = r"(?:<[^<>\n]*>|(?:[^\s()<>]|\([^\s()]*\))+)"
_LINK_TITLE = r"""(?:"[^"]*"|'[^']*'|\([^()]*\))"""
_LINK_TAIL = rf"\]\(\s*(?:{_LINK_DEST}(?:\s+{_LINK_TITLE})?\s*|{_LINK_TITLE}\s*)?\)"
_IMAGE_RE = re.compile(r"!\[([^\[\]]*)" + _LINK_TAIL)
_LINK_RE = re.compile(r"\[([^\[\]]*)" + _LINK_TAIL)
_REF_LINK_RE = re.compile(r"!?\[([^\[\]]*)\]\[[^\[\]]{0,999}\]")
_SHORTCUT_RE = re.compile(r"!?\[([^\[\]^][^\[\]]*)\](?![(:\[])")
_MD_EMPHASIS = tuple(_emphasis_re(m) for m in ("***", "___", "**", "__", "~~", "*", "_"))
_QUOTE_RE = re.compile(r"^(?: {0,3}>[ \t]?)+")
_REF_DEF_RE = re.compile(
    r"^ {0,3}\[([^\]^\n][^\]\n]{0,998})\]:[ \t]*(?:<[^<>\n]*>|\S+)"
    r"""(?:[ \t]+(?:"[^"\n]*"|'[^'\n]*'|\([^()\n]*\)))?[ \t]*$""")
_ALERT_RE = re.compile(r"^\s*\[!(NOTE|TIP|IMPORTANT|WARNING|CAUTION)\]\s*$", re.IGNORECASE)
_COMMENT_START_RE = re.compile(r"^ {0,3}<!--")
_TABLE_PIPE_RE = re.compile(r"(?<!\\)\|")


def _label(text: str) -> str:
    return " ".join(text.split()).casefold()


def _reference_labels(lines: list[str]) -> frozenset[str]:
    """The labels of the document's link reference definitions ("[label]: url")."""
    return frozenset(_label(m.group(1)) for line in lines if (m := _REF_DEF_RE.match(line)))


def _hold_code_spans(text: str, held: _Held) -> str:
    """Code spans held as their content: a backtick run up to the next run as long."""
    runs = [(m.start(), m.end()) for m in re.finditer(r"`+", text)]
    following: list[int | None] = [None] * len(runs)  # the next run of the same length
    last: dict[int, int] = {}
    for k in range(len(runs) - 1, -1, -1):
        size = runs[k][1] - runs[k][0]
        following[k] = last.get(size)
        last[size] = k
    out: list[str] = []
    pos = k = 0
    while k < len(runs):
        close = following[k]
        start, end = runs[k]
        if close is None or (start and text[start - 1] == "\\"):  # \` is a backtick
            k += 1
            continue
        body = text[end : runs[close][0]]
        code = body.replace("\n", " ")
        if len(code) > 2 and code[0] == " " == code[-1] and code.strip():
            code = code[1:-1]
        out += [text[pos:start], held.hold(code, body.count("\n"))]
        pos = runs[close][1]
        k = close + 1
    out.append(text[pos:])
    return "".join(out)


def _tag_text(m: re.Match[str]) -> str:
    """An HTML tag gone: an image leaves its alt text, a block element a space."""
    closing, name, attrs = m.group(1), m.group(2).lower(), m.group(3) or ""
    if not closing and name not in _HTML_TAGS and "=" not in attrs:
        return m.group()  # a placeholder in prose: "add <folder>"
    shown = ""
    if name == "img":
        alt = _ALT_RE.search(m.group())
        shown = next((g for g in alt.groups() if g is not None), "") if alt else ""
        shown = f" {shown} " if shown else ""
    elif name not in _INLINE_TAGS:
        shown = " "
    return _keeping_lines(shown, m.group())


def _md_inline(text: str, refs: Collection[str] = ()) -> str:
    """Markdown text as a reader sees it: markup removed, line breaks kept."""
    held = _Held()
    text = _hold_code_spans(text, held)
    text = _MD_ESCAPE_RE.sub(lambda m: held.hold(m.group(1)), text)
    text = _HARD_BREAK_RE.sub("", text)
    text = _drop_comments(text)
    text = _AUTOLINK_RE.sub(lambda m: held.hold(_decode_entities(m.group(1))), text)
    text = _TAG_RE.sub(_tag_text, text)
    text = _IMAGE_RE.sub(_group_1, text)
    text = _LINK_RE.sub(_group_1, text)
    text = _REF_LINK_RE.sub(_group_1, text)
    text = _SHORTCUT_RE.sub(
        lambda m: m.group(1) if _label(m.group(1)) in refs else m.group(), text)
    text = _BARE_URL_RE.sub(lambda m: held.hold(_decode_entities(m.group())), text)
    for emphasis in _MD_EMPHASIS:
        text = emphasis.sub(r"\1", text)
    return held.restore(_decode_entities(text))


def _fence_of(line: str) -> str | None:
    """The fence ("```", "~~~~") that the line opens, if it opens one."""
    fence = _FENCE_RE.match(line.lstrip())
    if fence is None:
        return None
    mark = fence.group(2)
    if mark[0] == "`" and "`" in line.lstrip()[fence.end() :]:
        return None  # ```code``` on one line is inline code
    return mark


def _closes(line: str, fence: str) -> bool:
    body = line.strip()
    return len(body) >= len(fence) and body == fence[0] * len(body)


def _md_prose(source: list[str], kind: BlockKind, refs: Collection[str]) -> list[str]:
    """The readable text of a paragraph, list or table, one line per source line."""
    if kind == "table":
        return ["" if _is_table_rule(line) else _table_row(line, refs) for line in source]
    shown: list[str] = []
    run: list[str] = []  # prose lines, cleaned together: markup may span lines

    def flush() -> None:
        if run:
            shown.extend(_md_inline("\n".join(run), refs).split("\n"))
            run.clear()

    fence: str | None = None  # the fence of a code block inside a list or quote
    for line in source:
        quoted = _QUOTE_RE.match(line)
        if quoted:
            line = line[quoted.end() :]
        if fence is not None:
            shown.append(line)
            if _closes(line, fence):
                fence = None
            continue
        fence = _fence_of(line)
        atx = _ATX_RE.match(line) if quoted else None
        if fence is not None:
            flush()
            shown.append(line)
        elif atx:  # a heading inside a quote
            flush()
            shown.append(_md_inline(_atx_title(line, atx.group(1)), refs))
        elif _REF_DEF_RE.match(line):
            run.append("")
        else:
            alert = _ALERT_RE.match(line)
            run.append(alert.group(1).capitalize() if alert else line)
    flush()
    return shown


def _table_row(line: str, refs: Collection[str]) -> str:
    """A table row's cells, readable, spaced apart instead of between pipes."""
    cells = _TABLE_PIPE_RE.split(line.strip())
    if cells and not cells[0].strip():
        cells = cells[1:]
    if cells and not cells[-1].strip():
        cells = cells[:-1]
    return "  ".join(c for c in (_collapse(_md_inline(cell, refs)) for cell in cells) if c)


# --- reStructuredText inline markup ---------------------------------------------------

_RST_LITERAL_RE = re.compile(r"``(?=\S)((?:[^`]|`(?!`))+?)(?<=\S)``(?!`)")
_RST_ESCAPE_RE = re.compile(r"\\(\S)")
_RST_ROLE = r":[A-Za-z][\w+.:-]{0,63}:"  # bounded: "-:a-:a-:a..." stays linear
_RST_INTERPRETED_RE = re.compile(
    rf"(?<![\w`])(?:{_RST_ROLE})?`(?=[^\s`])([^`]+?)(?<=\S)`(?:{_RST_ROLE}|__?)?(?![\w`])")
_RST_REFERENCE_RE = re.compile(r"(?<![\w\\.+:-])([^\W_](?:[^\W_]|[-.+:_](?=[^\W_]))*)__?(?!\w)")
_RST_FOOTNOTE_REF_RE = re.compile(r"[ \t]?\[(?:[0-9]+|#[\w-]*|\*|[A-Za-z][\w.-]*)\]_(?!\w)")
_RST_EMPHASIS = tuple(_emphasis_re(m) for m in ("**", "*"))
_RST_DIRECTIVE_RE = re.compile(r"^\s*\.\.\s+(?:\|[^|]+\|\s+)?([\w:+.-]+)::(?:\s+(.*))?$")
_RST_EXPLICIT_RE = re.compile(r"^\s*\.\.(?:\s|$)")
_RST_FOOTNOTE_RE = re.compile(r"^\s*\.\.\s+\[[^\]]+\]\s+(.*)$")
_RST_ANONYMOUS_TARGET_RE = re.compile(r"^\s*__\s+\S")
_RST_OPTION_RE = re.compile(r"^\s+:[\w -]+:(?:\s|$)")
# Directives whose argument is prose ("..  note:: Back up first."); others' are paths.
_RST_PROSE_DIRECTIVES = frozenset((
    "admonition", "attention", "caution", "danger", "error", "hint", "important", "note", "tip",
    "warning", "seealso", "topic", "rubric", "sidebar"))


def _rst_interpreted(m: re.Match[str]) -> str:
    body = m.group(1)
    if body.endswith(">") and (lt := body.rfind("<")) >= 0:  # `text <url>`_, :doc:`a <b>`
        body = body[:lt].rstrip() or body[lt + 1 : -1]
    if body[:1] == "~":  # :func:`~a.b.c` shows "c"
        body = body[1:].rsplit(".", 1)[-1]
    elif body[:1] == "!":
        body = body[1:]
    return _keeping_lines(body, m.group())


def _rst_inline(text: str) -> str:
    """Text of reStructuredText as a reader sees it: markup removed, line breaks kept."""
    held = _Held()
    text = _RST_LITERAL_RE.sub(
        lambda m: held.hold(m.group(1).replace("\n", " "), m.group(1).count("\n")), text)
    text = _RST_ESCAPE_RE.sub(lambda m: held.hold(m.group(1)), text)
    text = _RST_INTERPRETED_RE.sub(_rst_interpreted, text)
    text = _RST_FOOTNOTE_REF_RE.sub("", text)
    text = _RST_REFERENCE_RE.sub(r"\1", text)
    for emphasis in _RST_EMPHASIS:
        text = emphasis.sub(r"\1", text)
    return held.restore(text)


def _rst_prose(source: list[str], kind: BlockKind) -> list[str]:
    """The readable text of a paragraph or list, one line per source line.

    Comments, hyperlink targets and substitution definitions go; a directive keeps
    its argument only when that is prose (a note), never its options.
    """
    lines: list[str] = []
    comment: int | None = None  # indentation of the comment whose body this may be
    options = False  # right after a directive: its ":option: value" lines
    for line in source:
        if comment is not None and line.strip() and _indent(line) > comment:
            lines.append("")
            continue
        comment = None
        if options and _RST_OPTION_RE.match(line):
            lines.append("")
            continue
        options = False
        directive = _RST_DIRECTIVE_RE.match(line)
        footnote = _RST_FOOTNOTE_RE.match(line)
        if directive:
            name = directive.group(1).rsplit(":", 1)[-1].lower()
            lines.append(directive.group(2) or "" if name in _RST_PROSE_DIRECTIVES else "")
            options = True
        elif footnote:
            lines.append(footnote.group(1))
        elif _RST_EXPLICIT_RE.match(line) or _RST_ANONYMOUS_TARGET_RE.match(line):
            lines.append("")  # a comment, a hyperlink target ".. _name: url", "__ url"
            comment = _indent(line)
        elif line.rstrip().endswith("::"):  # "Run this::" reads "Run this:"
            body = line.rstrip()[:-2]
            lines.append(body + ":" if body.strip() and not body[-1].isspace() else body)
        else:
            lines.append(line)
    return _rst_inline("\n".join(lines)).split("\n")
