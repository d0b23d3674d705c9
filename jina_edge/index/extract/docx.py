"""DOCX into blocks: word/document.xml read straight from the zip archive."""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from pathlib import Path
from xml.etree import ElementTree

from jina_edge.index.extract._common import Block, BlockKind, ExtractionError, _collapse

# Bytes: cap on the decompressed word/document.xml, against zip bombs.
# document.xml is parsed whole, and ElementTree takes many times the XML's size
# in memory; the cap keeps a parse within a small Raspberry Pi's memory and is
# well above a long book (measured: see docs/performance.md, "Hostile documents").
_MAX_DOCX_XML_BYTES = 40_000_000
# Styles only name the headings: a document whose styles.xml is larger than any
# real one is read without them rather than parsed at gigabytes.
_MAX_DOCX_STYLES_BYTES = 4_000_000


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
        with zf.open("word/styles.xml") as f:
            xml = f.read(_MAX_DOCX_STYLES_BYTES + 1)
        if len(xml) > _MAX_DOCX_STYLES_BYTES:
            return {}
        root = ElementTree.fromstring(xml)
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
        raise ExtractionError(path, f"DOCX text is over {_MAX_DOCX_XML_BYTES // 1_000_000} MB "
                              "uncompressed, too large to index")
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
