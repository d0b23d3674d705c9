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

import codecs
import hashlib
import logging
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from jina_edge.config import SETTINGS
from jina_edge.index.extract._common import (
    _CONTROL_RE,
    Block,
    BlockKind,
    ExtractionError,
    join_blocks,
)
from jina_edge.index.extract.code import _code_blocks
from jina_edge.index.extract.docx import _docx_blocks
from jina_edge.index.extract.html import _html_blocks
from jina_edge.index.extract.markup import _markdown_blocks, _rst_blocks, _text_blocks
from jina_edge.index.extract.pdf import _pdf_blocks

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "FILE_TYPE_LABELS",
    "SUPPORTED_SUFFIXES",
    "Block",
    "BlockKind",
    "Document",
    "ExtractionError",
    "extract",
    "file_type_of",
    "LeadsOutsideError",
    "join_blocks",
    "open_regular_file",
    "unsupported_reason",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_FILE_BYTES: int = SETTINGS["max_file_bytes"].default  # larger files are skipped unread
# Bytes sniffed for a NUL to call a file binary (the same window git uses).
_BINARY_SNIFF_BYTES = 8192
# Share of control characters above which a non-UTF-8 file is not Latin-1 text.
_MAX_CONTROL_SHARE = 0.02


@dataclass(frozen=True)
class Document:
    """The blocks of one file; `language` is set for source code only."""

    path: Path
    file_type: str
    language: str | None
    blocks: list[Block]

    @property
    def text(self) -> str:
        """The blocks' text joined with blank lines, as chunk offsets count it."""
        return join_blocks(self.blocks)[0]


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
# Each file type as people call it (the desktop app's type filter).
FILE_TYPE_LABELS: dict[str, str] = {
    "markdown": "Markdown", "text": "Plain text", "pdf": "PDF", "docx": "Word documents",
    "html": "Web pages", "rst": "reStructuredText", "code": "Source code"}


def file_type_of(path: Path) -> str | None:
    """Returns the file type for `path`'s extension, or None if unsupported.

    A file without an extension (README, LICENSE, NEWS, Makefile) is text when
    its first bytes are: no NUL, and UTF-8 or mostly printable.
    """
    if not path.suffix:
        return "text" if _looks_like_text(path) else None
    return SUPPORTED_SUFFIXES.get(path.suffix.lower())


def unsupported_reason(path: Path) -> str:
    """Why a file of no supported type is left out."""
    return f"unsupported file type '{path.suffix or path.name}'"


def _looks_like_text(path: Path) -> bool:
    """Whether the file's first bytes decode as the text reader (`_decode`) decodes them."""
    try:
        with open_regular_file(path) as f:
            head = f.read(_BINARY_SNIFF_BYTES)
    except OSError:
        return False
    if not head:
        return False
    if b"\x00" not in head:
        try:  # not final: the window may cut the last character in two
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
            return True
        except UnicodeDecodeError:
            pass
    try:
        _decode(path, head)
    except ExtractionError:
        return False
    return True


def extract(path: Path, *, max_bytes: int = DEFAULT_MAX_FILE_BYTES,
            inside: Path | None = None, sha256: str | None = None) -> Document:
    """Reads and parses one file into blocks.

    Args:
        path: The file.
        max_bytes: Files larger than this many bytes are refused unread.
        inside: The folder the file must really lie in (see `open_regular_file`).
        sha256: The content the file must have (what was indexed), if given.

    Raises:
        ExtractionError: The file is unsupported, too large, unreadable or damaged.
    """
    file_type = file_type_of(path)
    if file_type is None:
        raise ExtractionError(path, unsupported_reason(path))
    data = _read_bytes(path, max_bytes, inside)
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ExtractionError(path, "it changed since it was indexed; sync the index first")
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


class LeadsOutsideError(PermissionError):
    """The file opened is not under the folder it was found in."""


def open_regular_file(path: Path, *, inside: Path | None = None) -> BinaryIO:
    """Open `path` for reading only if it is a regular file, without ever blocking.

    A stat before the open is not enough: a FIFO swapped in between made a sync
    block forever (holding the index's sync lock). O_NONBLOCK makes opening a
    FIFO return at once, and fstat on the open descriptor says what it is.
    With `inside`, the file actually opened must lie under that folder: a
    symlink swapped in for the file, or for a folder on the way, after the
    walk checked it, is refused rather than read.

    Raises:
        IsADirectoryError: for anything but a regular file (a FIFO, a device).
        LeadsOutsideError: for a file that turned out to lie outside `inside`.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise IsADirectoryError(f"{path} is not a regular file")
        if inside is not None and not _opened_inside(fd, st, path, inside):
            raise LeadsOutsideError(f"{path} leads outside {inside}")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _opened_inside(fd: int, st: os.stat_result, path: Path, folder: Path) -> bool:
    """Whether the open file `fd` is one under `folder` (its real path, whatever led to it)."""
    real_folder = Path(os.path.realpath(folder))
    opened: str | None = None
    try:
        if sys.platform == "darwin":
            import fcntl

            opened = fcntl.fcntl(fd, fcntl.F_GETPATH, bytes(1024)).rstrip(b"\0").decode()
        elif sys.platform.startswith("linux"):
            opened = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        opened = None
    if opened is not None:
        return Path(opened).is_relative_to(real_folder)
    # Elsewhere: where the path leads now, and that it is still the file opened.
    real = Path(os.path.realpath(path))
    try:
        now = os.stat(real)
    except OSError:
        return False
    return real.is_relative_to(real_folder) and (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)


def _read_bytes(path: Path, max_bytes: int, inside: Path | None) -> bytes:
    too_large = f"file larger than the {_format_bytes(max_bytes)} limit"
    try:
        st = os.stat(path)
        # Stat first: opening a FIFO or device would block or never end.
        if not stat.S_ISREG(st.st_mode):
            raise ExtractionError(path, "not a regular file")
        if st.st_size > max_bytes:
            raise ExtractionError(path, too_large)
        with open_regular_file(path, inside=inside) as f:
            data = f.read(max_bytes + 1)  # the file may have grown since the stat
    except FileNotFoundError:
        raise ExtractionError(path, "file vanished while reading") from None
    except LeadsOutsideError:
        raise ExtractionError(path, f"it now leads outside {inside} (a link changed); "
                              "not read") from None
    except PermissionError:
        raise ExtractionError(path, "permission denied") from None
    except IsADirectoryError:
        raise ExtractionError(path, "not a regular file") from None
    except OSError as exc:
        raise ExtractionError(path, f"cannot read file: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise ExtractionError(path, too_large)
    return data


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
