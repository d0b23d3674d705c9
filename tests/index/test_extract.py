"""Tests for jina_edge.index.extract: every format, exact locations, every bad input."""

from __future__ import annotations

import contextlib
import io
import os
import random
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from jina_edge.errors import JinaEdgeError
from jina_edge.index import extract as extract_mod
from jina_edge.index.extract import (
    DEFAULT_MAX_FILE_BYTES,
    SUPPORTED_SUFFIXES,
    Block,
    Document,
    ExtractionError,
    extract,
    file_type_of,
)


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def spans(doc: Document) -> list[tuple[str, int | None, int | None]]:
    return [(b.kind, b.line_start, b.line_end) for b in doc.blocks]


def reason(path: Path, **kwargs: Any) -> str:
    with pytest.raises(ExtractionError) as info:
        extract(path, **kwargs)
    assert info.value.path == path
    assert isinstance(info.value, JinaEdgeError)
    return info.value.reason


def check_line_invariant(path: Path, doc: Document, *, readable: bool = False) -> None:
    """Non-heading blocks of text-like formats hold one line per source line.

    Code blocks hold exactly their source lines; so does everything else unless
    `readable` (Markdown, reST), where markup is taken out line by line.
    """
    source = path.read_text(encoding="utf-8").splitlines()
    for block in doc.blocks:
        assert block.line_start is not None and block.line_end is not None
        assert block.page is None
        if block.kind == "heading":
            continue
        lines = block.text.split("\n")
        assert len(lines) == block.line_end - block.line_start + 1, block
        for got, src in zip(lines, source[block.line_start - 1 : block.line_end], strict=True):
            if readable and block.kind != "code":
                assert src.strip() or not got.strip()  # a blank line stays blank
            else:
                assert " ".join(got.split()) == " ".join(src.split())


# --- file types ------------------------------------------------------------------------


def test_file_type_of() -> None:
    assert file_type_of(Path("a/NOTES.MD")) == "markdown"
    assert file_type_of(Path("x.py")) == "code"
    assert file_type_of(Path("x.yml")) == "code"
    assert file_type_of(Path("report.pdf")) == "pdf"
    assert file_type_of(Path("page.htm")) == "html"
    assert file_type_of(Path("Makefile")) is None
    assert file_type_of(Path(".bashrc")) is None
    assert file_type_of(Path("photo.jpg")) is None
    assert SUPPORTED_SUFFIXES[".rst"] == "rst"
    assert all(s.startswith(".") and s == s.lower() for s in SUPPORTED_SUFFIXES)
    assert DEFAULT_MAX_FILE_BYTES == 50_000_000


def test_files_without_an_extension_are_text_by_their_content(tmp_path: Path) -> None:
    # README, LICENSE, NEWS and the like were "unsupported file type" (issue 30).
    readme = write(tmp_path, "README", "Pump manual\n\nThe pump moves twelve litres.\n")
    news = write(tmp_path, "NEWS", "Version 2 \u2014 caf\u00e9 edition\n".encode("cp1252"))
    cut = write(tmp_path, "LICENSE", ("x" * 8191 + "\u00e9 more").encode())  # é cut by the sniff
    program = write(tmp_path, "tool", b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)))
    assert [file_type_of(p) for p in (readme, news, cut, program)] == ["text", "text", "text",
                                                                        None]
    assert "twelve litres" in " ".join(b.text for b in extract(readme).blocks)
    assert "unsupported" in reason(program)
    assert file_type_of(tmp_path / "missing") is None


def test_unsupported_type_is_an_error(tmp_path: Path) -> None:
    assert "unsupported" in reason(write(tmp_path, "a.jpg", b"\xff\xd8"))


# --- plain text -------------------------------------------------------------------------


def test_text_paragraphs_and_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "notes.txt", "\n\nFirst   para\n  line two \n\n\n\nSecond\n")
    doc = extract(path)
    assert (doc.file_type, doc.language) == ("text", None)
    assert spans(doc) == [("paragraph", 3, 4), ("paragraph", 8, 8)]
    assert doc.blocks[0] == Block("First para\nline two", "paragraph", (), 3, 4, None)
    check_line_invariant(path, doc)


def test_text_line_endings_and_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "w.txt", b"\xef\xbb\xbfone\r\ntwo\r\n\r\nthree\rfour")
    doc = extract(path)
    assert [(b.text, b.line_start, b.line_end) for b in doc.blocks] == [
        ("one\ntwo", 1, 2),
        ("three\nfour", 4, 5),
    ]


def test_utf16_with_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "u.txt", "\ufeffGrüße\n\nzwei".encode("utf-16-le"))
    assert [b.text for b in extract(path).blocks] == ["Grüße", "zwei"]


def test_latin1_text_decodes(tmp_path: Path) -> None:
    path = write(tmp_path, "l.log", "café résumé naïve\n€ price\n".encode("cp1252"))
    assert extract(path).blocks[0].text == "café résumé naïve\n€ price"


def test_empty_file_has_no_blocks(tmp_path: Path) -> None:
    for name in ("e.txt", "e.md", "e.pdf", "e.docx", "e.py"):
        doc = extract(write(tmp_path, name, b""))
        assert doc.blocks == []


# --- Markdown ---------------------------------------------------------------------------

MARKDOWN = """\
---
title: x
---
# Install

Intro text
wraps here.

## Linux

```bash
apt install x

echo done
```

- one
- two
  continued

- three

| a | b |
|---|---|
| 1 | 2 |

Setext title
============

~~~
# not a heading
~~~

Sub
---
    indented code
text after
# Other
"""


def test_markdown_structure(tmp_path: Path) -> None:
    path = write(tmp_path, "doc.md", MARKDOWN)
    doc = extract(path)
    assert doc.file_type == "markdown"
    got = [(b.kind, b.heading_path, b.line_start, b.line_end) for b in doc.blocks]
    assert got == [
        ("heading", ("Install",), 4, 4),
        ("paragraph", ("Install",), 6, 7),
        ("heading", ("Install", "Linux"), 9, 9),
        ("code", ("Install", "Linux"), 11, 15),
        ("list", ("Install", "Linux"), 17, 21),
        ("table", ("Install", "Linux"), 23, 25),
        ("heading", ("Setext title",), 27, 28),
        ("code", ("Setext title",), 30, 32),
        ("heading", ("Setext title", "Sub"), 34, 35),
        ("code", ("Setext title", "Sub"), 36, 36),
        ("paragraph", ("Setext title", "Sub"), 37, 37),
        ("heading", ("Other",), 38, 38),
    ]
    assert doc.blocks[0].text == "Install"
    assert doc.blocks[3].text == "```bash\napt install x\n\necho done\n```"
    assert doc.blocks[4].text == "- one\n- two\n  continued\n\n- three"
    assert doc.blocks[5].text == "a  b\n\n1  2"  # cells spaced apart, the rule row empty
    check_line_invariant(path, doc, readable=True)


def test_markdown_unclosed_fence_runs_to_end(tmp_path: Path) -> None:
    doc = extract(write(tmp_path, "f.md", "# A\n```\ncode\n\n# still code\n"))
    assert spans(doc) == [("heading", 1, 1), ("code", 2, 5)]


def test_markdown_heading_levels_pop(tmp_path: Path) -> None:
    doc = extract(write(tmp_path, "h.md", "# A\n## B\n### C\n## D\ntext\n# E ##\n"))
    paths = [b.heading_path for b in doc.blocks]
    assert paths == [("A",), ("A", "B"), ("A", "B", "C"), ("A", "D"), ("A", "D"), ("E",)]


def test_markdown_hash_without_space_is_text(tmp_path: Path) -> None:
    doc = extract(write(tmp_path, "t.md", "#hashtag here\n"))
    assert spans(doc) == [("paragraph", 1, 1)]


# --- reStructuredText -------------------------------------------------------------------

RST = """\
=====
Guide
=====

Intro paragraph.

Install
-------

Run this::

    pip install x

    x --help

Back to text.

.. code-block:: python

   print("hi")

Linux
~~~~~

- item one
- item two

Usage
-----

.. note:: A note.

Last.
"""


def test_rst_structure(tmp_path: Path) -> None:
    path = write(tmp_path, "guide.rst", RST)
    doc = extract(path)
    got = [(b.kind, b.heading_path, b.line_start, b.line_end) for b in doc.blocks]
    assert got == [
        ("heading", ("Guide",), 1, 3),
        ("paragraph", ("Guide",), 5, 5),
        ("heading", ("Guide", "Install"), 7, 8),
        ("paragraph", ("Guide", "Install"), 10, 10),
        ("code", ("Guide", "Install"), 12, 14),
        ("paragraph", ("Guide", "Install"), 16, 16),
        ("code", ("Guide", "Install"), 18, 20),
        ("heading", ("Guide", "Install", "Linux"), 22, 23),
        ("list", ("Guide", "Install", "Linux"), 25, 26),
        ("heading", ("Guide", "Usage"), 28, 29),
        ("paragraph", ("Guide", "Usage"), 31, 31),
        ("paragraph", ("Guide", "Usage"), 33, 33),
    ]
    assert doc.blocks[4].text == "    pip install x\n\n    x --help"
    assert doc.blocks[3].text == "Run this:"
    assert doc.blocks[-2].text == "A note."
    check_line_invariant(path, doc, readable=True)


# --- source code ------------------------------------------------------------------------

PYTHON = '''\
"""Module doc.

More doc at column 0.
"""

import os


class Store:
    """A store."""

    root = "x"

    def pull(self, name):
        data = {

            "a": 1,
        }

        return data

    @property
    def size(self):
        return 1


async def main():
    x = 1

    def inner():
        pass

    return x
'''


def test_python_blocks_and_paths(tmp_path: Path) -> None:
    path = write(tmp_path, "store.py", PYTHON)
    doc = extract(path)
    assert (doc.file_type, doc.language) == ("code", "python")
    got = [(b.heading_path, b.line_start, b.line_end) for b in doc.blocks]
    assert got == [
        ((), 1, 4),
        ((), 6, 6),
        (("class Store",), 9, 10),
        (("class Store",), 12, 12),
        (("class Store", "def pull"), 14, 20),
        (("class Store", "def size"), 22, 24),
        (("def main",), 27, 33),
    ]
    assert all(b.kind == "code" for b in doc.blocks)
    assert doc.blocks[4].text.startswith("    def pull(self, name):\n        data = {\n\n")
    check_line_invariant(path, doc)


def test_brace_language_splits_at_depth_zero(tmp_path: Path) -> None:
    src = "// head\n\nfunction f() {\n  let a = 1;\n\n  return a;\n}\n\nconst b = 2;\n"
    path = write(tmp_path, "app.JS", src)
    doc = extract(path)
    assert doc.language == "javascript"
    assert spans(doc) == [("code", 1, 1), ("code", 3, 7), ("code", 9, 9)]
    assert all(b.heading_path == () for b in doc.blocks)
    check_line_invariant(path, doc)


def test_config_formats_are_code(tmp_path: Path) -> None:
    doc = extract(write(tmp_path, "c.yaml", "a: 1\n\nb:\n  - 2\n"))
    assert (doc.file_type, doc.language) == ("code", "yaml")
    assert spans(doc) == [("code", 1, 1), ("code", 3, 4)]
    assert doc.blocks[1].text == "b:\n  - 2"


# --- HTML -------------------------------------------------------------------------------

HTML = """\
<!DOCTYPE html>
<html><head><title>T</title><style>p {color: red}</style>
<script>var x = "<p>no</p>";</script></head>
<body>
<nav><a href="/">Home</a></nav>
<h1>Guide &amp; more</h1>
<p>First
   para&nbsp;here.</p>
<h2>Setup</h2>
<ul><li>one</li>
<li>two <b>bold</b><ul><li>nested</li></ul></li></ul>
<pre>  code line
    indented</pre>
<table><tr><th>k</th><th>v</th></tr>
<tr><td>a</td><td>1</td></tr></table>
<blockquote>Quoted</blockquote>
<footer>copyright</footer>
<p>Unclosed <i>markup
</body></html>
"""


def test_html_structure(tmp_path: Path) -> None:
    doc = extract(write(tmp_path, "page.html", HTML))
    got = [(b.kind, b.text, b.heading_path, b.line_start, b.line_end) for b in doc.blocks]
    assert got == [
        ("heading", "Guide & more", ("Guide & more",), 6, 6),
        ("paragraph", "First\npara here.", ("Guide & more",), 7, 8),
        ("heading", "Setup", ("Guide & more", "Setup"), 9, 9),
        ("list", "- one\n- two bold\n  - nested", ("Guide & more", "Setup"), 10, 11),
        ("code", "  code line\n    indented", ("Guide & more", "Setup"), 12, 13),
        ("table", "k\tv\na\t1", ("Guide & more", "Setup"), 14, 15),
        ("paragraph", "Quoted", ("Guide & more", "Setup"), 16, 16),
        ("paragraph", "Unclosed markup", ("Guide & more", "Setup"), 18, 18),
    ]


def test_html_without_closing_head_and_broken_markup(tmp_path: Path) -> None:
    doc = extract(write(tmp_path, "b.htm", "<head><title>t</title><p>Body text<p>more</x></<<>"))
    assert [b.text for b in doc.blocks][:2] == ["Body text", "more"]
    junk_inputs = (
        "<", "<!", "<![CDATA[", "</", "<a b='", "&#xZZ;", "<table><td>x",
        "<table><tr><td>x<script>", "<ul><li>a<pre>b<style>",  # once looped forever
    )
    for junk in junk_inputs:
        extract(write(tmp_path, "j.html", junk))  # must not raise


# --- PDF --------------------------------------------------------------------------------


def make_pdf(pages: list[list[str]]) -> bytes:
    """A minimal valid PDF with Helvetica text lines per page (empty list = no text)."""
    objs = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    kids = []
    n = 4
    for lines in pages:
        shown = [ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for ln in lines]
        ops = "BT /F1 12 Tf 14 TL 72 720 Td " + " ".join(f"({ln}) Tj T*" for ln in shown) + " ET"
        stream = ops.encode("latin-1")
        objs[n] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)
        objs[n + 1] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % n
        )
        kids.append(n + 1)
        n += 2
    refs = b" ".join(b"%d 0 R" % k for k in kids)
    objs[2] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (refs, len(kids))
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for k in sorted(objs):
        offsets[k] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (k, objs[k])
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % n
    for k in range(1, n):
        out += b"%010d 00000 n \n" % offsets[k]
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (n, xref)
    return bytes(out)


def test_pdf_pages_and_paragraphs(tmp_path: Path) -> None:
    pdf = make_pdf(
        [
            [
                "The first paragraph is long enough to fill a whole line of text,",
                "and it ends here.",
                "A second paragraph (with parentheses) starts on this line and",
                "ends now.",
            ],
            [],
            ["Third page text"],
        ]
    )
    doc = extract(write(tmp_path, "r.pdf", pdf))
    assert doc.file_type == "pdf"
    got = [(b.kind, b.text, b.page, b.line_start, b.heading_path) for b in doc.blocks]
    assert got == [
        (
            "paragraph",
            "The first paragraph is long enough to fill a whole line of text,\nand it ends here.",
            1,
            None,
            (),
        ),
        (
            "paragraph",
            "A second paragraph (with parentheses) starts on this line and\nends now.",
            1,
            None,
            (),
        ),
        ("paragraph", "Third page text", 3, None, ()),
    ]


def test_pdf_without_text_is_scanned(tmp_path: Path) -> None:
    path = write(tmp_path, "scan.pdf", make_pdf([[], []]))
    assert reason(path).startswith("PDF has no text layer (scanned?)")


def test_pdf_without_pages(tmp_path: Path) -> None:
    # pdfium itself refuses a page tree without pages ("PDFium: Success").
    assert reason(write(tmp_path, "none.pdf", make_pdf([]))).startswith("PDF ")


def test_pdf_from_many_threads(tmp_path: Path) -> None:
    # pdfium crashes the process on concurrent calls; extract() must serialise them.
    paths = [write(tmp_path, f"p{i}.pdf", make_pdf([[f"page text {i}"]] * 20)) for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        docs = list(pool.map(extract, paths * 3))
    assert [d.blocks[0].text for d in docs] == [f"page text {i}" for i in range(8)] * 3
    assert all(len(d.blocks) == 20 for d in docs)


def test_pdf_parser_failures(tmp_path: Path) -> None:
    garbage = write(tmp_path, "g.pdf", os.urandom(3000))
    assert reason(garbage).startswith("PDF parser failed")
    good = make_pdf([["Some text here"]])
    truncated = write(tmp_path, "t.pdf", good[: len(good) // 2])
    assert reason(truncated).startswith("PDF parser failed")


# --- DOCX -------------------------------------------------------------------------------

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def para(text: str, style: str | None = None, num: bool = False) -> str:
    ppr = ""
    if style or num:
        ppr = "<w:pPr>"
        ppr += f'<w:pStyle w:val="{style}"/>' if style else ""
        ppr += '<w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr>' if num else ""
        ppr += "</w:pPr>"
    return f"<w:p>{ppr}<w:r><w:t xml:space=\"preserve\">{text}</w:t></w:r></w:p>"


def make_docx(body: str, styles: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        zf.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
            '2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
        )
        zf.writestr(
            "word/document.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{W}">'
            f"<w:body>{body}</w:body></w:document>",
        )
        if styles is not None:
            zf.writestr("word/styles.xml", f'<w:styles xmlns:w="{W}">{styles}</w:styles>')
    return buf.getvalue()


def test_docx_structure(tmp_path: Path) -> None:
    body = (
        para("Report", "Title")
        + para("Install", "Heading1")
        + para("Run the   installer.")
        + para("")
        + "<w:p><w:r><w:t>Line one</w:t><w:br/><w:t>line two</w:t></w:r></w:p>"
        + para("first", num=True)
        + para("second", num=True)
        + para("Linux", "Heading2")
        + "<w:tbl><w:tr><w:tc>" + para("k") + "</w:tc><w:tc>" + para("v") + "</w:tc></w:tr>"
        + "<w:tr><w:tc>" + para("a") + "</w:tc><w:tc>" + para("b") + para("c")
        + "</w:tc></w:tr></w:tbl>"
        + para("Usage", "Heading1")
    )
    doc = extract(write(tmp_path, "r.docx", make_docx(body)))
    got = [(b.kind, b.text, b.heading_path) for b in doc.blocks]
    assert got == [
        ("heading", "Report", ("Report",)),
        ("heading", "Install", ("Report", "Install")),
        ("paragraph", "Run the installer.", ("Report", "Install")),
        ("paragraph", "Line one\nline two", ("Report", "Install")),
        ("list", "- first\n- second", ("Report", "Install")),
        ("heading", "Linux", ("Report", "Install", "Linux")),
        ("table", "k\tv\na\tb c", ("Report", "Install", "Linux")),
        ("heading", "Usage", ("Report", "Usage")),
    ]
    assert all(b.line_start is None and b.page is None for b in doc.blocks)


def test_docx_localised_style_ids_use_styles_xml(tmp_path: Path) -> None:
    styles = (
        '<w:style w:type="paragraph" w:styleId="berschrift1">'
        '<w:name w:val="heading 1"/></w:style>'
    )
    body = para("Kapitel", "berschrift1") + para("Text")
    doc = extract(write(tmp_path, "de.docx", make_docx(body, styles)))
    assert [(b.kind, b.heading_path) for b in doc.blocks] == [
        ("heading", ("Kapitel",)),
        ("paragraph", ("Kapitel",)),
    ]


def test_docx_styles_xml_larger_than_any_real_one_is_not_parsed(tmp_path: Path) -> None:
    """A styles.xml zip bomb (a few kB in the archive) made a 3 MB DOCX take 6 GB."""
    styles = ('<w:style w:type="paragraph" w:styleId="berschrift1">'
              '<w:name w:val="heading 1"/></w:style>' + "<w:x/>" * 2_000_000)
    body = para("Kapitel", "berschrift1") + para("Text")
    docx = make_docx(body, styles)
    assert len(docx) < 200_000
    doc = extract(write(tmp_path, "bomb.docx", docx))
    # The text is all there; the headings its styles would name are not.
    assert [(b.kind, b.text) for b in doc.blocks] == [("paragraph", "Kapitel"),
                                                      ("paragraph", "Text")]


def test_docx_damaged(tmp_path: Path) -> None:
    assert "damaged DOCX" in reason(write(tmp_path, "bad.docx", b"PK\x03\x04 not really"))
    good = make_docx(para("x"))
    assert "damaged DOCX" in reason(write(tmp_path, "cut.docx", good[: len(good) // 2]))
    no_doc = tmp_path / "nodoc.docx"
    with zipfile.ZipFile(no_doc, "w") as zf:
        zf.writestr("other.xml", "<a/>")
    assert "word/document.xml" in reason(no_doc)
    bad_xml = tmp_path / "badxml.docx"
    with zipfile.ZipFile(bad_xml, "w") as zf:
        zf.writestr("word/document.xml", "<w:document><unclosed>")
    assert "damaged DOCX" in reason(bad_xml)
    ole = write(tmp_path, "enc.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    assert "password-protected" in reason(ole)


# --- bad input --------------------------------------------------------------------------


def test_binary_garbage_named_txt(tmp_path: Path) -> None:
    path = write(tmp_path, "fake.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(500))
    assert reason(path) == "binary file"


def test_undecodable_bytes_without_nul(tmp_path: Path) -> None:
    noise = bytes(range(1, 32)) * 20 + bytes(range(0x80, 0x100)) * 3
    assert reason(write(tmp_path, "n.txt", noise)) == "not valid UTF-8 or Latin-1 text"
    assert reason(write(tmp_path, "u.txt", b"\xff\xfe" + b"\x00\xd8")) == "not valid UTF-16-LE text"


def test_random_bytes_never_crash(tmp_path: Path) -> None:
    rng = random.Random(4)
    names = ["r.txt", "r.md", "r.rst", "r.py", "r.js", "r.html", "r.pdf", "r.docx"]
    for i in range(40):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        if i % 2:
            data = data.replace(b"\x00", b"")
        path = write(tmp_path, names[i % len(names)], data)
        with contextlib.suppress(ExtractionError):
            extract(path)


def test_oversized_file_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "big.log", "x" * 1000)

    def no_open(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an oversized file must not be opened")

    monkeypatch.setattr(extract_mod, "open_regular_file", no_open)
    assert reason(path, max_bytes=999) == "file larger than the 999 bytes limit"
    monkeypatch.undo()
    assert extract(path, max_bytes=1000).blocks[0].text == "x" * 1000
    sparse = tmp_path / "huge.log"
    with open(sparse, "wb") as f:
        f.truncate(DEFAULT_MAX_FILE_BYTES + 1)  # sparse: takes no disk space
    assert reason(sparse) == "file larger than the 50 MB limit"


def test_file_growing_past_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "grow.txt", "small")
    real_open = extract_mod.open_regular_file

    def growing_open(file: Path, **kwargs: Any) -> Any:
        Path(file).write_text("much larger now")
        return real_open(file, **kwargs)

    monkeypatch.setattr(extract_mod, "open_regular_file", growing_open)
    assert reason(path, max_bytes=10).startswith("file larger than")


def test_vanished_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "gone.txt", "x")
    path.unlink()
    assert reason(path) == "file vanished while reading"
    path = write(tmp_path, "racy.txt", "x")

    def vanish(file: Any, *args: Any, **kwargs: Any) -> Any:
        os.unlink(file)
        raise FileNotFoundError(2, "No such file or directory", str(file))

    monkeypatch.setattr(extract_mod, "open_regular_file", vanish)
    assert reason(path) == "file vanished while reading"


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "secret.txt", "x")
    if os.geteuid() != 0:
        path.chmod(0)
        try:
            assert reason(path) == "permission denied"
        finally:
            path.chmod(0o600)
    # As root chmod 000 does not stop reading, so fake the refusal too.
    def refuse(file: Any, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(extract_mod, "open_regular_file", refuse)
    assert reason(path) == "permission denied"


def test_directory_and_fifo_are_not_regular_files(tmp_path: Path) -> None:
    (tmp_path / "dir.txt").mkdir()
    assert reason(tmp_path / "dir.txt") == "not a regular file"
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)  # opening it would block forever
    assert reason(fifo) == "not a regular file"


def test_parser_bug_becomes_extraction_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(lines: list[str]) -> list[Block]:
        raise IndexError("bug")

    monkeypatch.setattr(extract_mod, "_text_blocks", boom)
    assert reason(write(tmp_path, "a.txt", "hi")).startswith("text parser failed")


def test_a_fifo_in_place_of_a_file_is_refused_without_blocking(tmp_path: Path) -> None:
    # A FIFO swapped in after the walk's stat used to block the sync forever; the
    # reads run in a child so that a regression fails here instead of hanging.
    import subprocess
    import sys

    fifo = tmp_path / "note.md"
    os.mkfifo(fifo)
    code = (
        "import sys; from pathlib import Path\n"
        "from jina_edge.index.extract import extract, ExtractionError\n"
        "from jina_edge.index.sync import file_sha256\n"
        "p = Path(sys.argv[1])\n"
        "try:\n    extract(p)\nexcept ExtractionError as e:\n    print('extract:', e.reason)\n"
        "try:\n    file_sha256(p, 1 << 20)\nexcept OSError as e:\n    print('hash: refused')\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.splitlines() == ["extract: not a regular file", "hash: refused"], \
        done.stderr


def test_deeply_nested_html_lists_stay_linear(tmp_path: Path) -> None:
    path = tmp_path / "nested.html"
    path.write_text("<ul><li>x" * 30_000)  # 570 KB; once one 900-million-character block
    blocks = extract(path).blocks
    assert sum(len(b.text) for b in blocks) < 30 * 30_000


def test_a_pdf_declaring_a_million_pages_stops_at_the_missing_ones(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "pages.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
                     b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1000000>>endobj\n"
                     b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>endobj\n"
                     b"trailer<</Root 1 0 R>>\n%%EOF\n")
    with pytest.raises(ExtractionError):
        extract(path)  # one empty page: nothing to index
    assert len(caplog.records) <= 2  # not a warning (with traceback) per missing page


def test_every_file_type_has_a_label_for_people() -> None:
    from jina_edge.index.extract import FILE_TYPE_LABELS

    assert set(FILE_TYPE_LABELS) == set(SUPPORTED_SUFFIXES.values()) | {"text"}
