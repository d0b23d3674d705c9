"""Markdown and reST extract to the text a reader sees, line for line with the source."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from conftest import FakeBackend
from jina_edge import Embedder
from jina_edge.index.extract import Document, extract
from jina_edge.index.service import Index

README = """\
<p align="center">
  <img src="docs/logo.png" alt="Pumpkin logo" width="200">
</p>

<!-- badges: keep this list short -->
[![Build Status](https://ci.example.com/badge.svg)](https://ci.example.com)

# **Pumpkin** — a _tiny_ greenhouse controller

Pumpkin keeps **seedlings** warm. Read the [setup guide](https://x.example/s_u?a=1&amp;b=2 "Setup")
or see ![the wiring diagram](img/wiring.png) and the [FAQ][faq].
Call `read_sensor(opts)` with a snake_case_name; it computes 2*3 and a * b.<br>
Salt &amp; pepper&nbsp;included, AT&T stays. Read the [**calibration guide**](https://example.com/calibration_guide).

## Install ##

> **Note:** needs Python 3.10 or later.
> See the [docs](https://example.com/docs).

```bash
pip install **pumpkin** # [not](a-link) <b>kept</b> &amp;
```

| Option | Meaning |
|--------|:-------:|
| `--warm` | keep **warm** |
| [`--dry`](#dry) | no &lt;changes&gt; |

---

<details>
<summary>Advanced usage</summary>

- Use *emphasis* and __strong__ in items
- A [link in a list](https://example.com/list)

</details>

<!--
A comment over

several lines
-->
Final words: run `pumpkin add <folder>`, or pumpkin add <folder>.

[faq]: https://example.com/faq "Frequently asked"
[1]: http://example.com/one
"""

# What a reader of the rendered README sees, block by block, with its source lines.
README_BLOCKS = [
    ("paragraph", 2, 2, "Pumpkin logo"),
    ("paragraph", 6, 6, "Build Status"),
    ("heading", 8, 8, "Pumpkin — a tiny greenhouse controller"),
    ("paragraph", 10, 13,
     "Pumpkin keeps seedlings warm. Read the setup guide\n"
     "or see the wiring diagram and the FAQ.\n"
     "Call read_sensor(opts) with a snake_case_name; it computes 2*3 and a * b.\n"
     "Salt & pepper included, AT&T stays. Read the calibration guide."),
    ("heading", 15, 15, "Install"),
    ("paragraph", 17, 18, "Note: needs Python 3.10 or later.\nSee the docs."),
    ("code", 20, 22,
     "```bash\npip install **pumpkin** # [not](a-link) <b>kept</b> &amp;\n```"),
    ("table", 24, 27, "Option  Meaning\n\n--warm  keep warm\n--dry  no <changes>"),
    ("paragraph", 32, 32, "Advanced usage"),
    ("list", 34, 35, "- Use emphasis and strong in items\n- A link in a list"),
    ("paragraph", 44, 44, "Final words: run pumpkin add <folder>, or pumpkin add <folder>."),
]

MARKUP = ["**", "__", "](", "![", "<img", "<p", "</p>", "<br>", "<details", "<summary",
          "<!--", "-->", "&amp;", "&nbsp;", "&lt;", "|---", "| ", "## ", "> ", "[faq]",
          "example.com", "http"]


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def words(text: str) -> set[str]:
    return set(re.findall(r"[^\W_]+", text))


def check_lines_map_to_source(path: Path, doc: Document) -> None:
    """Each line of a block's text comes from the source line it stands for."""
    source = path.read_text(encoding="utf-8").splitlines()
    for block in doc.blocks:
        assert block.line_start is not None and block.line_end is not None
        lines = source[block.line_start - 1 : block.line_end]
        if block.kind == "heading":
            assert words(block.text) <= words(" ".join(lines)), block
            continue
        got = block.text.split("\n")
        assert len(got) == len(lines), block
        for shown, src in zip(got, lines, strict=True):
            assert words(shown) <= words(src), (shown, src)
        if block.kind == "code":
            assert got == [line.rstrip() for line in lines]


def test_readme_reads_as_the_rendered_text(tmp_path: Path) -> None:
    path = write(tmp_path, "README.md", README)
    doc = extract(path)
    got = [(b.kind, b.line_start, b.line_end, b.text) for b in doc.blocks]
    assert got == README_BLOCKS
    prose = "\n".join(b.text for b in doc.blocks if b.kind != "code")
    for mark in MARKUP:
        assert mark not in prose, mark
    check_lines_map_to_source(path, doc)
    paths = {b.heading_path for b in doc.blocks[3:]}
    assert paths == {("Pumpkin — a tiny greenhouse controller",),
                     ("Pumpkin — a tiny greenhouse controller", "Install")}


def test_headings_stay_on_their_source_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "README.md", README)
    source = README.splitlines()
    for block in extract(path).blocks:
        if block.kind == "heading":
            assert block.line_start is not None
            assert block.text.split()[-1] in source[block.line_start - 1]


def test_fenced_and_indented_code_stay_verbatim(tmp_path: Path) -> None:
    text = ("Intro with **bold**.\n\n"
            "~~~python\nx = a_b * c  # **not bold** [x](y) &amp; <br>\n~~~\n\n"
            "    indented **code** &amp; <b>x</b>\n\n"
            "- step one:\n  ```sh\n  echo **hi** [a](b)\n  ```\n- step *two*\n")
    path = write(tmp_path, "code.md", text)
    doc = extract(path)
    got = [(b.kind, b.line_start, b.line_end, b.text) for b in doc.blocks]
    assert got == [
        ("paragraph", 1, 1, "Intro with bold."),
        ("code", 3, 5, "~~~python\nx = a_b * c  # **not bold** [x](y) &amp; <br>\n~~~"),
        ("code", 7, 7, "    indented **code** &amp; <b>x</b>"),
        ("list", 9, 13, "- step one:\n  ```sh\n  echo **hi** [a](b)\n  ```\n- step two"),
    ]
    check_lines_map_to_source(path, doc)


def test_code_spans_keep_their_content(tmp_path: Path) -> None:
    path = write(tmp_path, "spans.md",
                 "Use `**kwargs`, `a_b_c`, ``x ` y``, `<br>` and `&amp;` as written.\n")
    assert extract(path).blocks[0].text == "Use **kwargs, a_b_c, x ` y, <br> and &amp; as written."


@pytest.mark.parametrize(("source", "shown"), [
    ("snake_case_name and __dunder__ and a_b", "snake_case_name and dunder and a_b"),
    ("2*3 and 2 * 3 * 4 and *.py or *.txt", "2*3 and 2 * 3 * 4 and *.py or *.txt"),
    ("***both*** and ~~gone~~ and ~5 min", "both and gone and ~5 min"),
    (r"\*not em\* and \[not a link\](x)", "*not em* and [not a link](x)"),
    ("[![CI](https://ci/badge.svg)](https://ci) <https://example.com/a_b_> <me@example.com>",
     "CI https://example.com/a_b_ me@example.com"),
    ("<kbd>Ctrl</kbd>+<kbd>C</kbd>, a<br/>b, x < y > z", "Ctrl+C, a b, x < y > z"),
    ("add <folder>, List<String>, [ ] not a link, [^1] a note", None),
    ("&copy; &#169; &#xA9; and AT&T and &nope", "© © © and AT&T and &nope"),
])
def test_inline_markup(tmp_path: Path, source: str, shown: str | None) -> None:
    doc = extract(write(tmp_path, "one.md", source + "\n"))
    assert [b.text for b in doc.blocks] == [source if shown is None else shown]


def test_markup_over_several_lines_keeps_the_line_count(tmp_path: Path) -> None:
    text = ("A **bold\nspan** and a [link\ntext](https://x.example) and `code\nspan`, an\n"
            "<img src=\"x.png\"\n     alt=\"wide\"> image <!-- and a\ncomment --> here.\n")
    path = write(tmp_path, "multi.md", text)
    doc = extract(path)
    assert len(doc.blocks) == 1
    assert doc.blocks[0].text.split("\n") == [
        "A bold", "span and a link", "text and code span", ", an", "wide", "image", "here."]
    assert (doc.blocks[0].line_start, doc.blocks[0].line_end) == (1, 7)


def test_a_paragraph_of_only_markup_leaves_no_block(tmp_path: Path) -> None:
    text = ("# Title\n\n<div align=\"center\">\n  <a href=\"x\"><img src=\"y.svg\"></a>\n</div>\n\n"
            "[a]: https://a.example\n[b]: <https://b.example> 'B'\n\n<!-- x -->\n\nText.\n")
    doc = extract(write(tmp_path, "only.md", text))
    assert [(b.kind, b.line_start, b.text) for b in doc.blocks] == [
        ("heading", 1, "Title"), ("paragraph", 12, "Text.")]


def test_quotes_alerts_and_quoted_headings(tmp_path: Path) -> None:
    text = "> [!WARNING]\n> Do **not** unplug.\n> > nested\n\n> ## Quoted heading\n> body\n"
    doc = extract(write(tmp_path, "quote.md", text))
    assert [(b.line_start, b.line_end, b.text) for b in doc.blocks] == [
        (1, 3, "Warning\nDo not unplug.\nnested"), (5, 6, "Quoted heading\nbody")]


RST = """\
.. This is a comment
   spanning two lines.

==========
 Pumpkin
==========

Pumpkin keeps **seedlings** warm. Call ``read_sensor(**opts)`` or
:func:`pumpkin.read <pumpkin.sensors.read>` and :class:`~pumpkin.Greenhouse`.
See the `setup guide <https://example.com/setup>`_ and Setup_ for more [1]_.

Using ``snake_case`` names
--------------------------

.. note:: Back up the config_file first.

.. image:: docs/logo.png
   :alt: Logo
   :width: 200

Run this::

    pip install **pumpkin**

.. _Setup: https://example.com/setup
.. [1] A footnote.
"""


def test_rst_reads_as_the_rendered_text(tmp_path: Path) -> None:
    path = write(tmp_path, "guide.rst", RST)
    doc = extract(path)
    got = [(b.kind, b.line_start, b.line_end, b.text) for b in doc.blocks]
    assert got == [
        ("heading", 4, 6, "Pumpkin"),
        ("paragraph", 8, 10,
         "Pumpkin keeps seedlings warm. Call read_sensor(**opts) or\n"
         "pumpkin.read and Greenhouse.\nSee the setup guide and Setup for more."),
        ("heading", 12, 13, "Using snake_case names"),
        ("paragraph", 15, 15, "Back up the config_file first."),
        ("paragraph", 21, 21, "Run this:"),
        ("code", 23, 23, "    pip install **pumpkin**"),
        ("paragraph", 26, 26, "A footnote."),
    ]
    assert doc.blocks[2].heading_path == ("Pumpkin", "Using snake_case names")
    check_lines_map_to_source(path, doc)


@pytest.mark.parametrize("line", [
    " _a" * 100_000, " **a" * 100_000, "<!--" * 100_000, "` `` ```" * 30_000,
    "[a](" * 100_000, "[a](" + " " * 200_000, "<a x=\"" * 100_000, "-:a" * 100_000,
    "a-" * 100_000, "`" + " a <" * 100_000 + "`", "``a " * 100_000, "_" + "a_b" * 100_000,
])
def test_long_lines_of_unclosed_markup_stay_linear(tmp_path: Path, line: str) -> None:
    # Quadratic backtracking took minutes on these; linear work takes well under a second.
    for name in ("long.md", "long.rst"):
        path = write(tmp_path, name, line + "\n")
        started = time.perf_counter()
        doc = extract(path)
        assert time.perf_counter() - started < 10
        assert all(b.text.count("\n") == 0 for b in doc.blocks)


def test_search_snippets_and_the_preview_show_readable_text(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    readme = write(folder, "README.md", README)
    index = Index(tmp_path / "i.db", embedder=Embedder(backend=FakeBackend(max_tokens=512,
                                                                           n_embd=8)))
    index.add(folder)
    index.sync()
    files = index.search("calibration", k=3, mode="keyword")
    assert [f.path.name for f in files] == ["README.md"]
    top = files[0].passages[0]
    assert "Read the calibration guide." in top.snippet
    assert any(top.snippet[s:e].lower() == "calibration" for s, e in top.highlights)
    for mark in ("**", "](", "calibration_guide", "<img", "<!--", "&amp;", "|---"):
        assert mark not in top.snippet, mark
        assert mark not in top.text, mark
    assert top.line_start is not None and top.line_end is not None
    assert top.line_start <= 13 <= top.line_end  # the line the words are on
    # The preview shows the document as extracted and finds the passage in it.
    document = extract(readme).text
    assert top.text[:40] in document
