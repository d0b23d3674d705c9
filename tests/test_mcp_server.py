"""`jina-edge mcp`, driven by the official MCP SDK's own client over stdio."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from jina_edge import JinaEdgeError
from jina_edge.index.service import Index
from jina_edge.mcp_server import MAX_READ_CHARS, IndexTools

CATS = "# Cats\n\nThe cat sat on the warm mat all afternoon.\n\n## Food\n\nCats eat fish.\n"
BOATS = "# Boats\n\nA sailing boat crossed the windy harbour.\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, jina_tiny_gguf: Path) -> tuple[Path, Path]:
    """(index database, its folder): three notes, one secret kept out by the ignore rules."""
    base = tmp_path_factory.mktemp("mcp")
    notes = base / "notes"
    notes.mkdir()
    (notes / "cats.md").write_text(CATS)
    (notes / "boats.md").write_text(BOATS)
    (notes / "bread.txt").write_text("Knead the dough, let it rise, then bake.\n")
    (notes / ".env").write_text("API_KEY=hunter2\n")  # hidden: not indexed
    (base / "outside.txt").write_text("not in any indexed folder\n")
    (notes / "link.txt").symlink_to(base / "outside.txt")
    path = base / "index.db"
    with Index(path, model=str(jina_tiny_gguf)) as index:
        index.add(notes)
        index.sync()
    return path, notes


@pytest.fixture
def tools(built: tuple[Path, Path], jina_tiny_gguf: Path) -> Iterator[IndexTools]:
    with Index(built[0], model=str(jina_tiny_gguf)) as index:
        yield IndexTools(index)


def test_search_gives_files_with_passages_and_locations(tools: IndexTools,
                                                        built: tuple[Path, Path]) -> None:
    with Index(built[0]) as index:
        want = index.search("warm mat", k=2, mode="keyword")
    got = tools.search("warm mat", k=2, mode="keyword")
    assert [f["path"] for f in got["files"]] == [str(h.path) for h in want]
    first = got["files"][0]
    assert first["path"] == str(built[1] / "cats.md")
    passage = first["passages"][0]
    assert passage["line_start"] == want[0].passages[0].line_start
    assert "warm" in passage["snippet"] and passage["heading"] == want[0].passages[0].heading
    assert tools.search("bake", mode="keyword", file_types=["markdown"])["files"] == []
    nothing = tools.search("xyzzy", mode="keyword")
    assert nothing["files"] == [] and nothing["note"].startswith("No matches.")
    assert tools.search("bake", mode="keyword", modified_after="2999-01-01")["files"] == []


def test_read_a_passage_or_the_whole_file(tools: IndexTools, built: tuple[Path, Path]) -> None:
    cats = str(built[1] / "cats.md")
    passage = tools.search("fish", mode="keyword")["files"][0]["passages"][0]
    part = tools.read(cats, line_start=passage["line_start"], line_end=passage["line_end"])
    assert "Cats eat fish." in part["text"] and "warm mat" not in part["text"]
    whole = tools.read(cats)
    for line in ("The cat sat on the warm mat all afternoon.", "Cats eat fish."):
        assert line in whole["text"]
    assert whole["truncated"] is False and len(whole["text"]) < MAX_READ_CHARS


@pytest.mark.parametrize(("name", "message"), [
    ("outside", "not inside the index's folders"),
    (".env", "is not an indexed file"),
    ("link.txt", "symbolic link"),
    ("relative", "not an absolute path"),
    ("missing.md", "is not an indexed file"),
])
def test_read_refuses_any_other_path(tools: IndexTools, built: tuple[Path, Path], name: str,
                                     message: str) -> None:
    notes = built[1]
    path = {"outside": str(notes.parent / "outside.txt"), "relative": "notes/cats.md",
            }.get(name, str(notes / name))
    with pytest.raises(JinaEdgeError, match=message):
        tools.read(path)
    with pytest.raises(JinaEdgeError, match="not inside"):
        tools.read(str(notes / ".." / "outside.txt"))


def test_bad_arguments_get_one_sentence(tools: IndexTools, built: tuple[Path, Path]) -> None:
    with pytest.raises(JinaEdgeError, match="not a date"):
        tools.search("x", modified_after="last week")
    with pytest.raises(JinaEdgeError, match="empty"):
        tools.search("  ")
    with pytest.raises(JinaEdgeError, match="no text at that location"):
        tools.read(str(built[1] / "cats.md"), line_start=500)


def test_status_counts_the_folder(tools: IndexTools, built: tuple[Path, Path]) -> None:
    status = tools.status()
    [folder] = status["folders"]
    assert folder["path"] == str(built[1])
    assert folder["files_indexed"] == 3 and folder["passages"] >= 3
    assert status["file_types"] == {"markdown": 2, "text": 1}


# -- the real command, through the SDK's client ---------------------------------------


def _call(index: Path, home: Path, steps: Any) -> Any:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "jina_edge.cli", "mcp", "--index", str(index)],
        env={"JINA_EDGE_HOME": str(home), "JINA_EDGE_THREADS": "1",
             "PATH": os.environ.get("PATH", "")})

    async def session() -> Any:
        async with Client(params) as client:
            return await steps(client)

    return asyncio.run(session())


def _data(result: Any) -> Any:
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


def test_the_sdk_client_over_stdio(built: tuple[Path, Path], tmp_path: Path) -> None:
    index, notes = built

    async def steps(client: Client) -> dict[str, Any]:
        listed = await client.list_tools()
        found = await client.call_tool("search", {"query": "cat on a warm mat", "k": 2})
        hit = _data(found)["files"][0]
        passage = hit["passages"][0]
        read = await client.call_tool("read", {"path": hit["path"],
                                               "line_start": passage["line_start"],
                                               "line_end": passage["line_end"]})
        refused = await client.call_tool("read", {"path": str(notes / ".env")})
        bad_mode = await client.call_tool("search", {"query": "x", "mode": "fuzzy"})
        status = await client.call_tool("index_status", {})
        return {"tools": sorted(t.name for t in listed.tools), "hit": hit,
                "read": _data(read), "refused": refused, "bad_mode": bad_mode,
                "status": _data(status)}

    out = _call(index, tmp_path, steps)
    assert out["tools"] == ["index_status", "read", "search"]
    assert out["hit"]["path"] == str(notes / "cats.md")
    assert "warm mat" in out["read"]["text"]
    assert out["refused"].is_error and "not an indexed file" in out["refused"].content[0].text
    assert out["bad_mode"].is_error
    assert out["status"]["folders"][0]["files_indexed"] == 3


def test_a_missing_index_is_one_line(tmp_path: Path) -> None:
    import subprocess

    done = subprocess.run([sys.executable, "-m", "jina_edge.cli", "mcp", "--index",
                           str(tmp_path / "none.db")], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 1
    none = tmp_path / "none.db"
    assert done.stderr.strip().splitlines() == [
        f"Error: there is no index at {none}: `jina-edge index add FOLDER --index {none}` "
        f"makes it, then `jina-edge index sync --index {none}` fills it"]
    assert not (tmp_path / "none.db").exists()
