"""An MCP server over an index: `jina-edge mcp` (extra: `pip install "jina-edge[mcp]"`).

Three tools, for an assistant that should find and read a person's files:

- `search`: query, k, mode and filters -> files, each with its best passages
  (snippet, heading, lines or page);
- `read`: the text of a file the index holds, or of one passage of it (its
  lines, or its page), as the index extracted it;
- `index_status`: the folders, their counts, the model, the last sync.

`IndexTools` does the work in plain Python; `create_server` puts it on the
official SDK's `MCPServer`. `read` opens only files that the index holds as
indexed, inside its folders, and not through a symbolic link out of them: a
client can never make it read another path (an `.env` the ignore rules kept
out of the index included). A bad argument is a tool error with one sentence
saying what to send instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from jina_edge.errors import JinaEdgeError, MissingDependencyError, QueryError
from jina_edge.index.db import Filters
from jina_edge.index.ranking import SEARCH_MODES, SearchMode
from jina_edge.index.service import Index

try:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from pydantic import Field
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise MissingDependencyError(
        "the MCP server needs the mcp package: pip install 'jina-edge[mcp]'"
    ) from exc

MAX_K = 50  # results per search
MAX_READ_CHARS = 100_000  # characters one `read` returns; more: ask for lines or a page
SERVER_NAME = "jina-edge"
DEFAULT_HTTP_PORT = 8765


def _timestamp(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise QueryError(f"{name}={value!r} is not a date; send one like 2026-01-31 "
                            "or 2026-01-31T18:00") from None


class IndexTools:
    """What the MCP tools do, over one open index.

    Args:
        index: the index to search and read.
    """

    def __init__(self, index: Index) -> None:
        self.index = index

    def search(self, query: str, *, k: int = 10, mode: SearchMode = "hybrid",
               folder: str | None = None, file_types: list[str] | None = None,
               modified_after: str | None = None,
               modified_before: str | None = None) -> dict[str, Any]:
        """The k best files for `query`, with their best passages and where they are.

        Raises:
            JinaEdgeError: for an empty query, a bad mode or date, or an unusable index.
        """
        if not query.strip():
            raise QueryError("the query is empty; send some words to search for")
        if mode not in SEARCH_MODES:
            raise QueryError(f"mode={mode!r}; use one of {', '.join(SEARCH_MODES)}")
        filters = Filters(
            folder=Path(os.path.abspath(Path(folder).expanduser())) if folder else None,
            file_types=tuple(file_types) if file_types else None,
            modified_after=_timestamp(modified_after, "modified_after"),
            modified_before=_timestamp(modified_before, "modified_before"))
        files = self.index.search(query, k=k, mode=mode, filters=filters)
        found: dict[str, Any] = {"query": query, "mode": mode, "files": [
            {"path": str(hit.path), "score": round(hit.score, 4),
             "passages": [{"line_start": p.line_start, "line_end": p.line_end, "page": p.page,
                           "heading": p.heading, "snippet": p.snippet,
                           "score": round(p.score, 4)} for p in hit.passages],
             "more_passages": hit.more, "also_at": [str(p) for p in hit.also_at],
             "since_indexed": hit.since_indexed}
            for hit in files]}
        if not files:  # an agent should not read [] as "the files say nothing about it"
            found["note"] = self.index.no_results_hint(mode)
        return found

    def read(self, path: str, *, line_start: int | None = None, line_end: int | None = None,
             page: int | None = None) -> dict[str, Any]:
        """The text of an indexed file, or of its lines line_start..line_end, or of one page.

        Raises:
            JinaEdgeError: for a path the index does not hold, or one it cannot read.
        """
        document = self.index.read_file(path)
        file, blocks = document.path, document.blocks
        if page is not None:
            blocks = [b for b in blocks if b.page == page]
        if line_start is not None or line_end is not None:
            first, last = line_start or 1, line_end or line_start or 1
            if last < first:
                raise QueryError(f"line_end={last} is before line_start={first}")
            blocks = [b for b in blocks if b.line_start is not None and b.line_end is not None
                      and b.line_start <= last and b.line_end >= first]
        if not blocks and (page is not None or line_start is not None or line_end is not None):
            raise QueryError(f"{file} has no text at that location; give the lines or the "
                                "page a search result shows")
        text = "\n\n".join(b.text for b in blocks)
        truncated = len(text) > MAX_READ_CHARS
        return {"path": str(file), "line_start": blocks[0].line_start if blocks else None,
                "line_end": blocks[-1].line_end if blocks else None, "page": page,
                "text": text[:MAX_READ_CHARS], "truncated": truncated}

    def status(self) -> dict[str, Any]:
        """The index's folders with their counts, and the model it embeds with."""
        folders = [{"path": str(s.path), "available": s.available, "paused": s.paused,
                    "last_sync": datetime.fromtimestamp(s.last_sync).isoformat(
                        timespec="seconds") if s.last_sync else None,
                    "files_indexed": s.files_indexed, "files_skipped": s.files_skipped,
                    "files_failed": s.files_failed, "passages": s.chunks}
                   for s in self.index.status()]
        return {"index": str(self.index.path), "model": self.index.model_name,
                "file_types": self.index.file_types(), "folders": folders}


def create_server(index: Index) -> MCPServer[Any]:
    """An MCP server with the search, read and index_status tools over `index`."""
    tools = IndexTools(index)
    server: MCPServer[Any] = MCPServer(
        SERVER_NAME, instructions="Search and read the user's indexed files: call search, "
        "then read a passage (path with its lines or page) or a whole file.")

    @server.tool()
    def search(query: str,
               k: Annotated[int, Field(ge=1, le=MAX_K, description="files to return")] = 10,
               mode: Annotated[Literal["hybrid", "semantic", "keyword"], Field(
                   description="hybrid (meaning and words), semantic or keyword")] = "hybrid",
               folder: Annotated[str | None, Field(
                   description="only files under this folder")] = None,
               file_types: Annotated[list[str] | None, Field(
                   description="only these types: text, markdown, rst, html, pdf, docx, "
                               "code")] = None,
               modified_after: Annotated[str | None, Field(
                   description="ISO date, e.g. 2026-01-31")] = None,
               modified_before: Annotated[str | None, Field(
                   description="ISO date")] = None) -> dict[str, Any]:
        """Search the user's indexed files by meaning and keywords.

        Returns files, best first, each with its best passages: a snippet, the
        heading above it and its location (lines, or page for PDFs).
        """
        return _tool(lambda: tools.search(query, k=k, mode=mode, folder=folder,
                                          file_types=file_types,
                                          modified_after=modified_after,
                                          modified_before=modified_before))

    @server.tool()
    def read(path: str,
             line_start: Annotated[int | None, Field(ge=1, description="first line")] = None,
             line_end: Annotated[int | None, Field(ge=1, description="last line")] = None,
             page: Annotated[int | None, Field(ge=1, description="PDF page")] = None,
             ) -> dict[str, Any]:
        """Read an indexed file's text, or one passage of it (its lines, or its page).

        Only files in the index can be read; give the path as search shows it.
        """
        return _tool(lambda: tools.read(path, line_start=line_start, line_end=line_end,
                                        page=page))

    @server.tool()
    def index_status() -> dict[str, Any]:
        """The indexed folders with their file and passage counts, and the model."""
        return _tool(tools.status)

    return server


def _tool(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a tool; a JinaEdgeError becomes a tool error carrying its one-line message."""
    try:
        return call()
    except JinaEdgeError as exc:
        raise ToolError(str(exc)) from exc


def run(index_path: str | os.PathLike[str] | None = None, *,
        model: str | os.PathLike[str] | None = None, http_port: int | None = None) -> None:
    """Serve the MCP tools over stdio, or over streamable HTTP on 127.0.0.1:`http_port`.

    Raises:
        JinaEdgeError: when the index has not been built yet.
    """
    index = Index.open_existing(index_path, model=model)
    try:
        server = create_server(index)
        if http_port is None:
            server.run("stdio")
        else:
            server.run("streamable-http", host="127.0.0.1", port=http_port)
    finally:
        index.close()
