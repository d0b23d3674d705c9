"""Links swapped in after the walk checked a file, or after it was indexed: nothing from
outside the indexed folder is read, by a sync, by MCP's read or by the app's preview.

Each swap is made between the walk and the reads (sync), or after the sync (read)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jina_edge import JinaEdgeError
from jina_edge.index import sync
from jina_edge.index.service import Index
from jina_edge.mcp_server import IndexTools

SECRET = "zanzibar root password"


def _file_to_symlink(notes: Path, outside: Path) -> None:
    (notes / "a.txt").unlink()
    (notes / "a.txt").symlink_to(outside / "secret.txt")


def _folder_to_symlink(notes: Path, outside: Path) -> None:
    shutil.rmtree(notes / "sub")
    (notes / "sub").symlink_to(outside)


def _file_to_hard_link(notes: Path, outside: Path) -> None:
    (notes / "a.txt").unlink()
    os.link(outside / "secret.txt", notes / "a.txt")


SWAPS: dict[str, Callable[[Path, Path], None]] = {
    "a file becomes a symlink out": _file_to_symlink,
    "a folder becomes a symlink out": _folder_to_symlink,
}


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    notes, outside = tmp_path / "notes", tmp_path / "outside"
    (notes / "sub").mkdir(parents=True)
    outside.mkdir()
    (notes / "a.txt").write_text("apples and pears\n")
    (notes / "sub" / "secret.txt").write_text("nothing to see\n")
    (notes / "b.txt").write_text("bananas\n")
    (outside / "secret.txt").write_text(f"{SECRET}\n")
    return notes, outside


def _swapping_walk(swap: Callable[[], None]) -> Callable[..., Iterator[Path]]:
    real = sync.IgnoreRules.walk

    def walk(self: sync.IgnoreRules) -> Iterator[Path]:
        yield from real(self)
        swap()  # the walk checked every file; the reads come after

    return walk


@pytest.mark.parametrize("swap", list(SWAPS))
def test_a_link_swapped_in_during_a_sync_is_not_followed(
        swap: str, folders: tuple[Path, Path], tmp_path: Path, jina_tiny_gguf: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    notes, outside = folders
    monkeypatch.setattr(sync.IgnoreRules, "walk",
                        _swapping_walk(lambda: SWAPS[swap](notes, outside)))
    with Index(tmp_path / "i.db", model=str(jina_tiny_gguf)) as index:
        index.add(notes)
        report = index.sync()
        assert report.failed == 1
        assert index.search("zanzibar", mode="keyword") == []
        assert index.search("bananas", mode="keyword")  # the rest was indexed
        [(path, status, reason)] = [p for p in index.problems() if p[1] == "failed"]
        assert "leads outside" in reason, reason


SWAPS_AFTER = {**SWAPS, "a file becomes a hard link out": _file_to_hard_link}


@pytest.mark.parametrize("swap", list(SWAPS_AFTER))
def test_reading_an_indexed_file_swapped_since_is_refused(
        swap: str, folders: tuple[Path, Path], tmp_path: Path, jina_tiny_gguf: Path) -> None:
    notes, outside = folders
    with Index(tmp_path / "i.db", model=str(jina_tiny_gguf)) as index:
        index.add(notes)
        index.sync()
        target = notes / ("sub/secret.txt" if "folder" in swap else "a.txt")
        assert "nothing to see" in IndexTools(index).read(str(notes / "sub/secret.txt"))["text"]
        SWAPS_AFTER[swap](notes, outside)
        with pytest.raises(JinaEdgeError, match="refused") as refused:
            IndexTools(index).read(str(target))
        assert SECRET not in str(refused.value)
        with pytest.raises(JinaEdgeError, match="refused"):
            index.read_file(target)  # what the app's preview reads through


def test_an_edited_file_is_read_again_after_a_sync(folders: tuple[Path, Path], tmp_path: Path,
                                                   jina_tiny_gguf: Path) -> None:
    notes, _ = folders
    with Index(tmp_path / "i.db", model=str(jina_tiny_gguf)) as index:
        index.add(notes)
        index.sync()
        (notes / "a.txt").write_text("apples, pears and plums\n")
        with pytest.raises(JinaEdgeError, match="changed since it was indexed; sync"):
            index.read_file(notes / "a.txt")
        index.sync()
        assert "plums" in IndexTools(index).read(str(notes / "a.txt"))["text"]
