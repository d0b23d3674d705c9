from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from jina_edge.index.ignore import BUILTIN_IGNORES, DEFAULT_MAX_FILE_BYTES, IgnoreRules


def _touch(root: Path, *rels: str, content: str = "x") -> None:
    for rel in rels:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def _walk(rules: IgnoreRules) -> list[str]:
    return [p.relative_to(rules.root).as_posix() for p in rules.walk()]


def test_builtin_ignores_and_sorted_output(tmp_path: Path) -> None:
    _touch(tmp_path, "b.md", "a/z.txt", "a.txt", "a/b/c.txt",
           "node_modules/pkg/index.js", "src/__pycache__/m.cpython-311.pyc", "src/m.py",
           "build/out.txt", "notes/build/x.txt", "doc.pyc", "Thumbs.db", "proj.egg-info/PKG-INFO",
           "~$report.docx", "report.docx")
    assert _walk(IgnoreRules(tmp_path)) == ["a/b/c.txt", "a/z.txt", "a.txt", "b.md",
                                            "report.docx", "src/m.py"]


def test_walk_agrees_with_explain(tmp_path: Path) -> None:
    _touch(tmp_path, ".gitignore", content="*.log\nsub/gen/\n")
    _touch(tmp_path, "a.log", "keep.txt", "sub/gen/x.txt", "sub/y.txt", ".hidden/z.txt",
           "node_modules/q.js")
    rules = IgnoreRules(tmp_path)
    walked = set(rules.walk())
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert rules.explain(path).included == (path in walked), path


def test_explain_reasons(tmp_path: Path) -> None:
    _touch(tmp_path, ".gitignore", content="# comment\nbuild-out/\n*.log\n")
    _touch(tmp_path, "build-out/x.txt", "a.log", "node_modules/m.js", ".secret", "ok.md",
           "data/.cache/c.txt")
    rules = IgnoreRules(tmp_path, patterns=["*.bak"])
    _touch(tmp_path, "old.bak")

    v = rules.explain(tmp_path / "build-out" / "x.txt")
    assert not v.included
    assert v.reason == (f"inside an ignored folder 'build-out/': ignored by .gitignore pattern "
                        f"'build-out/' ({tmp_path / '.gitignore'})")
    assert rules.explain(tmp_path / "a.log").reason.startswith(
        "ignored by .gitignore pattern '*.log'")
    assert rules.explain(tmp_path / "node_modules" / "m.js").reason == (
        "inside an ignored folder 'node_modules/': built-in ignore 'node_modules/'")
    assert rules.explain(tmp_path / ".secret").reason == (
        "hidden (starts with '.'); hidden files are off")
    assert rules.explain(tmp_path / "old.bak").reason == "your pattern '*.bak'"
    assert rules.explain(tmp_path / "ok.md").reason == "included"
    assert rules.explain(tmp_path / "data" / ".cache" / "c.txt").reason.startswith(
        "inside an ignored folder 'data/.cache/'")
    assert rules.explain(tmp_path.parent / "elsewhere.txt").reason.startswith("outside the root")
    assert rules.explain(tmp_path / "missing.txt").reason == "'missing.txt' does not exist"
    assert rules.explain(tmp_path) .included


def test_nested_gitignore_is_relative_to_its_folder_and_negation_works(tmp_path: Path) -> None:
    _touch(tmp_path, ".gitignore", content="*.log\n")
    # "/gen" is anchored to sub/, not to the root; "!keep.log" overrides the root's "*.log".
    _touch(tmp_path, "sub/.gitignore", content="/gen\n!keep.log\n")
    _touch(tmp_path, "gen", "sub/gen", "sub/deeper/gen", "sub/keep.log", "sub/drop.log",
           "other/keep.log")
    assert _walk(IgnoreRules(tmp_path)) == ["gen", "sub/deeper/gen", "sub/keep.log"]
    assert "re-included by .gitignore pattern '!keep.log'" in IgnoreRules(tmp_path).explain(
        tmp_path / "sub" / "keep.log").reason


def test_no_reinclusion_inside_an_excluded_folder_but_star_patterns_allow_it(
        tmp_path: Path) -> None:
    # gitignore(5): "It is not possible to re-include a file if a parent directory of that
    # file is excluded"; "dir/*" excludes the contents, not the folder, so "!" works there.
    _touch(tmp_path, ".gitignore", content="a/\n!a/keep\nb/*\n!b/keep\n")
    _touch(tmp_path, "a/keep", "a/drop", "b/keep", "b/drop")
    assert _walk(IgnoreRules(tmp_path)) == ["b/keep"]


def test_git_info_exclude(tmp_path: Path) -> None:
    _touch(tmp_path, ".git/info/exclude", content="private.txt\n")
    _touch(tmp_path, "private.txt", "public.txt")
    assert _walk(IgnoreRules(tmp_path)) == ["public.txt"]
    assert _walk(IgnoreRules(tmp_path, use_gitignore=False)) == ["private.txt", "public.txt"]


def test_use_gitignore_off(tmp_path: Path) -> None:
    _touch(tmp_path, ".gitignore", content="*.txt\n")
    _touch(tmp_path, "a.txt")
    assert _walk(IgnoreRules(tmp_path)) == []
    assert _walk(IgnoreRules(tmp_path, use_gitignore=False)) == ["a.txt"]


def test_user_patterns_are_root_relative_and_override_builtins(tmp_path: Path) -> None:
    _touch(tmp_path, "build/report.md", "drafts/x.md", "notes/drafts/y.md", "a.log")
    rules = IgnoreRules(tmp_path, patterns=["/drafts/", "*.log", "!build/"])
    assert _walk(rules) == ["build/report.md", "notes/drafts/y.md"]
    assert "re-included by your pattern '!build/'" in rules.explain(tmp_path / "build").reason


def test_hidden_files(tmp_path: Path) -> None:
    _touch(tmp_path, ".obsidian/app.json", ".notes.md", "visible.md", ".git/config",
           ".venv/lib.py")
    assert _walk(IgnoreRules(tmp_path)) == ["visible.md"]
    # .git and .venv stay out even with hidden files on: they are built-in ignores.
    assert _walk(IgnoreRules(tmp_path, include_hidden=True)) == [
        ".notes.md", ".obsidian/app.json", "visible.md"]
    # The user's own "!" pattern re-includes one hidden folder without the switch.
    assert _walk(IgnoreRules(tmp_path, patterns=["!.obsidian/"])) == [
        ".obsidian/app.json", "visible.md"]


def test_root_may_itself_be_hidden(tmp_path: Path) -> None:
    root = tmp_path / ".notes"
    _touch(root, "a.md")
    assert _walk(IgnoreRules(root)) == ["a.md"]


def test_virtual_environment_detected_by_pyvenv_cfg(tmp_path: Path) -> None:
    _touch(tmp_path, "myenv/pyvenv.cfg", "myenv/lib/site.py", "condaenv/conda-meta/history",
           "condaenv/x.py", "env/notes.md")
    rules = IgnoreRules(tmp_path)
    assert _walk(rules) == ["env/notes.md"]
    assert rules.explain(tmp_path / "myenv" / "lib" / "site.py").reason == (
        "inside an ignored folder 'myenv/': a virtual environment (contains pyvenv.cfg)")


def test_size_limit(tmp_path: Path) -> None:
    _touch(tmp_path, "small.txt", content="x" * 10)
    _touch(tmp_path, "big.txt", content="x" * 2_100)
    rules = IgnoreRules(tmp_path, max_file_bytes=1_000)
    assert _walk(rules) == ["small.txt"]
    assert rules.explain(tmp_path / "big.txt").reason == "larger than the 1 kB limit (2.1 kB)"
    assert DEFAULT_MAX_FILE_BYTES == 50_000_000


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    _touch(root, "real/a.txt")
    _touch(outside, "secret.txt", "dir/b.txt")
    os.symlink(root / "real" / "a.txt", root / "link-inside.txt")
    os.symlink(outside / "secret.txt", root / "link-outside.txt")
    os.symlink(outside / "dir", root / "dir-link")
    os.symlink(root, root / "real" / "loop")  # would loop forever if followed
    os.symlink(root / "nowhere", root / "broken")
    rules = IgnoreRules(root)
    assert _walk(rules) == ["link-inside.txt", "real/a.txt"]
    assert rules.explain(root / "link-outside.txt").reason == "symlink pointing outside the root"
    assert rules.explain(root / "dir-link").reason.startswith("symlink to a folder")
    assert rules.explain(root / "dir-link" / "b.txt").reason.startswith(
        "inside an ignored folder 'dir-link/': symlink to a folder")
    assert rules.explain(root / "broken").reason == "broken symlink"


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_root_given_through_a_symlink(tmp_path: Path) -> None:
    _touch(tmp_path, "real/a.txt")
    os.symlink(tmp_path / "real", tmp_path / "alias")
    os.symlink(tmp_path / "real" / "a.txt", tmp_path / "real" / "b.txt")
    rules = IgnoreRules(tmp_path / "alias")
    assert _walk(rules) == ["a.txt", "b.txt"]
    assert rules.explain(tmp_path / "real" / "a.txt").included


@pytest.mark.skipif(sys.platform == "win32" or not hasattr(os, "mkfifo"), reason="needs mkfifo")
def test_not_a_regular_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    rules = IgnoreRules(tmp_path)
    assert _walk(rules) == []
    assert rules.explain(tmp_path / "pipe").reason == "not a regular file"


def test_unreadable_folder_is_recorded_and_skipped(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _touch(tmp_path, "a/x.txt", "locked/y.txt", "z/w.txt")
    real_scandir = os.scandir

    def scandir(path: Path) -> object:
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    rules = IgnoreRules(tmp_path)
    assert _walk(rules) == ["a/x.txt", "z/w.txt"]
    assert rules.errors == [(tmp_path / "locked", "Permission denied")]


def test_missing_root_records_an_error(tmp_path: Path) -> None:
    rules = IgnoreRules(tmp_path / "gone")
    assert _walk(rules) == []
    assert rules.errors and rules.errors[0][0] == tmp_path / "gone"


def test_builtin_list_parses_as_gitignore() -> None:
    import pathspec

    spec = pathspec.GitIgnoreSpec.from_lines(BUILTIN_IGNORES)
    assert all(p.include for p in spec.patterns)
    # IgnoreRules matches built-in patterns against names alone: valid only while none
    # has a "/" before its end (gitignore(5): such patterns match at any depth).
    assert all("/" not in p.rstrip("/") for p in BUILTIN_IGNORES)
