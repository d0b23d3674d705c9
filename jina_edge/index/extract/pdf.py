"""PDF into blocks, one page at a time, via pypdfium2 (an optional dependency)."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jina_edge.index.extract._common import _CONTROL_RE, Block, ExtractionError, _collapse

logger = logging.getLogger(__name__)

_PDFIUM_LOCK = threading.Lock()
MAX_UNREADABLE_PAGES_IN_A_ROW = 20

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
        unreadable = 0
        try:
            for index in range(len(pdf)):
                if unreadable >= MAX_UNREADABLE_PAGES_IN_A_ROW:
                    # pdfium trusts the page count a file declares, so a tiny file
                    # claiming a million pages takes long (docs/performance.md,
                    # "Hostile documents"): stop at a long run of pages that are
                    # not there.
                    logger.warning("%s: pages %d-%d unreadable; the rest (of %d declared) "
                                   "not tried", path, index - unreadable + 1, index, len(pdf))
                    break
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
                except pdfium.PdfiumError as exc:
                    if not unreadable:
                        logger.warning("%s: page %d unreadable (%s)", path, index + 1, exc)
                    unreadable += 1
                    texts.append(None)  # keep the readable pages of a damaged file
                else:
                    unreadable = 0
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
