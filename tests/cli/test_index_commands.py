"""`jina-edge index ...` and `jina-edge search` through click's runner, with a real tiny model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from jina_edge.cli.main import main


def test_index_and_search_from_the_command_line(tmp_path: Path, jina_tiny_gguf: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "pump.md").write_text("# Pump\n\nWe sized the pump for twelve litres per minute.\n")
    (notes / "junk.txt").write_bytes(b"\x00\x01\x02" * 100)
    common = ["--index", str(tmp_path / "i.db"), "--model", str(jina_tiny_gguf)]
    runner = CliRunner()
    assert runner.invoke(main, ["index", "add", str(notes), *common]).exit_code == 0
    synced = runner.invoke(main, ["index", "sync", *common])
    assert synced.exit_code == 0, synced.output
    assert "indexed 1" in synced.output and "skipped 1" in synced.output
    found = runner.invoke(main, ["search", "pump litres", "--json", "-k", "3", *common])
    files = json.loads(found.output)
    assert files[0]["path"] == str(notes / "pump.md")
    assert {"path", "score", "passages", "more", "also_at"} <= set(files[0])
    passage = files[0]["passages"][0]
    assert {"path", "line_start", "line_end", "page", "score", "snippet"} <= set(passage)
    passages = runner.invoke(main, ["search", "pump", "--json", "--passages", *common])
    assert json.loads(passages.output)[0]["snippet"] == passage["snippet"]
    nonsense = runner.invoke(main, ["search", "xyzzy frobnicate quux", *common])
    assert nonsense.output.strip() == "No matches. Try other words, or the semantic mode."
    plain = runner.invoke(main, ["search", "pump", "--mode", "keyword", *common])
    assert "lines 1-3" in plain.output
    status = runner.invoke(main, ["index", "status", *common])
    assert "1 indexed, 1 skipped" in status.output and "binary" in status.output
    explained = runner.invoke(main, ["index", "explain", str(notes / "junk.txt"), *common])
    assert explained.output.startswith("skipped:")
    folder = runner.invoke(main, ["index", "explain", str(notes), *common])
    assert folder.output.startswith("a folder: 1 files in it indexed, 1 skipped or failed")
    bad_date = runner.invoke(main, ["search", "pump", "--after", "last week", *common])
    assert bad_date.exit_code == 2 and "not a date" in bad_date.output
    removed = runner.invoke(main, ["index", "remove", str(notes), *common])
    assert removed.exit_code == 0
    assert runner.invoke(main, ["search", "pump", "--json", *common]).output.strip() == "[]"


def test_index_add_of_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["index", "add", str(tmp_path / "nope"), "--index",
                                       str(tmp_path / "i.db")])
    assert result.exit_code == 1 and result.output.startswith("Error:")


def test_the_index_remembers_its_model_and_switches_only_when_told(
        tmp_path: Path, jina_tiny_gguf: Path, jina_12_heads_gguf: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "pump.md").write_text("We sized the pump for twelve litres per minute.\n")
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(jina_tiny_gguf, work / "m.gguf")
    index = ["--index", str(tmp_path / "i.db")]
    runner = CliRunner()
    monkeypatch.chdir(work)  # a relative model path, as a person types it
    assert runner.invoke(main, ["index", "add", str(notes), *index, "--model", "m.gguf"]
                         ).exit_code == 0
    monkeypatch.chdir(tmp_path)  # elsewhere, no --model, and no default model installed
    synced = runner.invoke(main, ["index", "sync", *index])
    assert synced.exit_code == 0, synced.output
    assert "indexed 1" in synced.output
    found = runner.invoke(main, ["search", "pump", "--json", *index])
    assert json.loads(found.output)[0]["path"] == str(notes / "pump.md")
    shown = runner.invoke(main, ["index", "model", *index])
    assert shown.output.strip() == f"{work / 'm.gguf'} (1 passages)"

    other = runner.invoke(main, ["index", "sync", *index, "--model", str(jina_12_heads_gguf)])
    assert other.exit_code == 1
    assert f"jina-edge index model {jina_12_heads_gguf}" in other.output  # nothing re-embedded

    switched = runner.invoke(main, ["index", "model", str(jina_12_heads_gguf), *index])
    assert switched.exit_code == 0, switched.output
    assert "embeds all 1 passages again" in switched.output
    status = runner.invoke(main, ["index", "status", *index])
    assert status.output.splitlines()[-1] == (f"model: {jina_12_heads_gguf}; 1 files to embed: "
                                              "run `jina-edge index sync`")
    resynced = runner.invoke(main, ["index", "sync", *index])
    assert resynced.exit_code == 0, resynced.output
    shown = runner.invoke(main, ["index", "model", *index])
    assert shown.output.startswith(str(jina_12_heads_gguf))
    status = runner.invoke(main, ["index", "status", *index])
    assert status.output.splitlines()[-1] == (f"model: {jina_12_heads_gguf}; "
                                              "every indexed file embedded")
    found = runner.invoke(main, ["search", "pump", "--json", *index])
    assert json.loads(found.output)[0]["path"] == str(notes / "pump.md")


def test_a_file_that_fails_makes_sync_exit_1_and_is_tried_again(
        tmp_path: Path, jina_tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jina_edge.index import sync

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "ok.md").write_text("herons wade in the shallows\n")
    (notes / "flaky.md").write_text("kingfishers dive for fish\n")
    real = sync.file_sha256
    broken = {"flaky.md"}

    def flaky(path: Path, *args: object, **kwargs: object) -> str | None:
        if path.name in broken:
            raise OSError(f"{path}: Input/output error")  # a disk that failed to read once
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sync, "file_sha256", flaky)
    common = ["--index", str(tmp_path / "i.db"), "--model", str(jina_tiny_gguf)]
    runner = CliRunner()
    runner.invoke(main, ["index", "add", str(notes), *common])
    first = runner.invoke(main, ["index", "sync", *common])
    assert first.exit_code == 1 and "failed 1" in first.output
    assert first.output.strip().endswith("tried again at the next sync")
    broken.clear()  # the same file, same size and time: read again, now it works
    second = runner.invoke(main, ["index", "sync", *common])
    assert second.exit_code == 0 and "indexed 1" in second.output, second.output
    found = runner.invoke(main, ["search", "kingfishers", "--mode", "keyword", *common])
    assert "flaky.md" in found.output


def test_a_file_growing_while_it_is_hashed_stops_at_the_limit(tmp_path: Path) -> None:
    from jina_edge.index import sync

    grows = tmp_path / "grows.log"
    grows.write_bytes(b"x" * 1000)
    real_open = sync.open_regular_file

    class Growing:  # every read finds the file longer, as `yes > file` makes it
        def __init__(self, f: object) -> None:
            self.f = f

        def read(self, n: int) -> bytes:
            return b"y" * min(n, 4096)

        def __enter__(self) -> Growing:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()  # type: ignore[attr-defined]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sync, "open_regular_file",
                      lambda path, **kw: Growing(real_open(path, **kw)))
        assert sync.file_sha256(grows, 100_000) is None  # too large now, not a hang
    assert sync.file_sha256(grows, 100_000) is not None


@pytest.mark.parametrize("args", [["search", "pump"], ["search", "pump", "--passages"],
                                  ["index", "status"], ["index", "sync"],
                                  ["index", "explain", "."], ["index", "model"]])
@pytest.mark.parametrize("where", ["default", "typo"])
def test_reading_an_index_that_is_not_there_says_so_and_makes_none(
        args: list[str], where: str, tmp_path: Path) -> None:
    """A typo'd --index used to make an empty database there and say "no results"."""
    from jina_edge.index.service import default_index_path

    path = tmp_path / "nope.db" if where == "typo" else default_index_path()
    extra = ["--index", str(path)] if where == "typo" else []
    result = CliRunner().invoke(main, [*args, *extra])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"Error: there is no index at {path}: `jina-edge index add")
    assert not path.exists()


def test_models_import_says_what_it_checked(tmp_path: Path, jina_tiny: Path) -> None:
    result = CliRunner().invoke(main, ["models", "import", str(jina_tiny), "--name", "tiny",
                                       "--type", "f32"])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("installed tiny:f32 (") and "checked against the original on " in last
    assert re.search(r"lowest cosine (0\.99|1\.0)\d* \(>= 0\.99", last)
    assert last.endswith("same tokens")


def test_index_status_during_a_sync_says_one_is_running(tmp_path: Path,
                                                        jina_tiny_gguf: Path) -> None:
    from filelock import FileLock

    notes = tmp_path / "notes"
    notes.mkdir()
    common = ["--index", str(tmp_path / "i.db"), "--model", str(jina_tiny_gguf)]
    runner = CliRunner()
    runner.invoke(main, ["index", "add", str(notes), *common])
    with FileLock(str(tmp_path / "i.db") + ".sync.lock"):  # what a running sync holds
        during = runner.invoke(main, ["index", "status", *common]).output
    assert "a sync is running now" in during and "last sync running now" in during
    after = runner.invoke(main, ["index", "status", *common]).output
    assert "running" not in after and "last sync never" in after

