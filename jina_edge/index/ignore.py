"""Which files under an index root get indexed: .gitignore files, built-in and user patterns.

Precedence follows git's own order (gitignore(5), "PATTERN FORMAT"): sources are
consulted from lowest to highest priority and the last pattern that matches wins,
so a `!pattern` in a higher source re-includes what a lower one excluded:

    built-in list  <  .git/info/exclude  <  .gitignore (root first, nearest last)  <  user patterns

As in git, nothing inside an excluded folder can be re-included: the walk never
descends into it. Hidden names are a separate switch; only the user's own `!`
patterns override it, because a repository's `.gitignore` re-including, say,
`.env.example` says nothing about whether this user wants hidden files indexed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pathspec

from jina_edge.config import SETTINGS

BUILTIN_IGNORES: tuple[str, ...] = (
    # Version control. No trailing slash on ".git": in submodules and worktrees it is a file.
    ".git",
    ".hg/",
    ".svn/",
    ".bzr/",
    # Dependency trees: third-party code, often hundreds of thousands of files.
    "node_modules/",
    "bower_components/",
    "__pypackages__/",
    # Virtual environments by their usual names. Any folder holding pyvenv.cfg or
    # conda-meta/ is also skipped (see _ENV_MARKERS); "env/" is not listed by name
    # because people use it for their own configuration notes.
    ".venv/",
    "venv/",
    # Caches and compiled files.
    "__pycache__/",
    "*.py[cod]",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".tox/",
    ".nox/",
    ".cache/",
    ".gradle/",
    ".sass-cache/",
    ".parcel-cache/",
    ".next/",
    ".nuxt/",
    ".terraform/",
    # Jupyter keeps an older copy of every notebook here: indexing it duplicates results.
    ".ipynb_checkpoints/",
    # Build output: generated from sources that are indexed anyway. A user who keeps
    # documents in a folder called "build" can re-include it with the pattern "!build/".
    "build/",
    "dist/",
    "target/",
    "*.egg-info/",
    ".eggs/",
    # Editor and IDE state.
    ".idea/",
    ".vscode/",
    "*.swp",
    "*.swo",
    "*~",
    # Emacs lock files are dangling symlinks named ".#file".
    ".#*",
    # Office "owner" lock files (~$report.docx) are not documents and fail to parse.
    "~$*",
    "*.tmp",
    # Operating-system litter: Finder and Explorer metadata, trash folders on
    # removable drives (.Trash-1000, .Trashes), recycle bins and volume metadata.
    ".DS_Store",
    "Thumbs.db",
    "desktop.ini",
    ".Trash*",
    "$RECYCLE.BIN/",
    "System Volume Information/",
    ".Spotlight-V100/",
    ".fseventsd/",
    # Syncthing keeps old versions of every synced file here: duplicates again.
    ".stversions/",
)

# Files whose presence marks a folder as a virtual environment, whatever its name:
# venv writes pyvenv.cfg (PEP 405); conda environments have a conda-meta folder.
_ENV_MARKERS: tuple[str, ...] = ("pyvenv.cfg", "conda-meta")

DEFAULT_MAX_FILE_BYTES: int = SETTINGS["max_file_bytes"].default


@dataclass(frozen=True)
class Verdict:
    """Whether a path is indexed, and a sentence saying why."""

    included: bool
    reason: str


@dataclass(frozen=True)
class _Source:
    """One list of gitignore-style patterns, anchored at a folder under the root."""

    spec: pathspec.GitIgnoreSpec
    base: str  # folder of the patterns, relative to the root, POSIX, "" for the root
    label: str  # how a reason names the pattern, with "{}" for the pattern text
    verb: str = ""  # put before the label when the pattern excludes: "ignored by "

    def check(self, rel: str) -> tuple[bool, str] | None:
        """(excluded, pattern) of the last matching pattern for `rel`, or None."""
        if not self.spec.patterns:
            return None
        if self.base:
            if not rel.startswith(self.base + "/"):
                return None
            rel = rel[len(self.base) + 1 :]
        result = self.spec.check_file(rel)
        if result.include is None or result.index is None:
            return None
        pattern = getattr(self.spec.patterns[result.index], "pattern", "?")
        return bool(result.include), str(pattern).strip()


class IgnoreRules:
    """The ignore rules of one index root.

    Args:
        root: the folder being indexed.
        patterns: the user's gitignore-style patterns, relative to the root.
        include_hidden: index names starting with "." too.
        max_file_bytes: larger files are skipped.
        use_gitignore: honour .gitignore files and .git/info/exclude.
    """

    def __init__(self, root: Path, *, patterns: Sequence[str] = (), include_hidden: bool = False,
                 max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, use_gitignore: bool = True) -> None:
        self.root = Path(os.path.abspath(root))
        self.include_hidden = include_hidden
        self.max_file_bytes = max_file_bytes
        self.use_gitignore = use_gitignore
        self.errors: list[tuple[Path, str]] = []  # (path, why): unreadable, by the last walk
        self.left_out: list[tuple[Path, str]] = []  # (file, why): problems, by the last walk
        self._builtin = _Source(pathspec.GitIgnoreSpec.from_lines(BUILTIN_IGNORES), "",
                                "built-in ignore '{}'")
        self._user = _Source(pathspec.GitIgnoreSpec.from_lines(list(patterns)), "",
                             "your pattern '{}'")
        self._real_root = self.root.resolve()
        self._builtin_cache: dict[str, tuple[bool, str] | None] = {}
        self._folder_sources: dict[str, tuple[_Source, ...]] = {}

    # -- public -------------------------------------------------------------------------

    def explain(self, path: Path) -> Verdict:
        """Say whether `path` (a file or folder) is indexed and why.

        Every folder between the root and `path` is checked first, so a file in an
        ignored folder is reported as such.
        """
        rel_parts = self._relative_parts(path)
        if rel_parts is None:
            return Verdict(False, f"outside the root {self.root}")
        if not rel_parts:
            return Verdict(True, "included (the root itself)")
        chain: tuple[_Source, ...] = self._sources_of(self.root, "")
        for depth in range(len(rel_parts)):
            rel = "/".join(rel_parts[: depth + 1])
            abs_path = self.root.joinpath(*rel_parts[: depth + 1])
            last = depth == len(rel_parts) - 1
            try:
                st = os.lstat(abs_path)
            except FileNotFoundError:
                return Verdict(False, f"'{rel}' does not exist")
            except OSError as exc:
                return Verdict(False, f"cannot be read: {exc.strerror or exc}")
            is_dir = stat.S_ISDIR(st.st_mode)
            reason = self._excluded(rel, abs_path, st, chain)
            if reason is not None:
                if last:
                    return Verdict(False, reason)
                return Verdict(False, f"inside an ignored folder '{rel}/': {reason}")
            if not last:
                if not is_dir:
                    return Verdict(False, f"'{rel}' is not a folder")
                chain = self._sources_of(abs_path, rel, chain)
        note = self._reincluded_by(rel_parts, chain)
        return Verdict(True, f"included ({note})" if note else "included")

    def walk(self) -> Iterator[Path]:
        """Yield every included regular file under the root, sorted by path components.

        Ignored folders are pruned, not descended into. Folder symlinks are never
        followed (so there are no loops); file symlinks are yielded when their target
        lies inside the root. Unreadable folders are recorded in `errors` and skipped.
        """
        self.errors = []
        self.left_out = []
        self._folder_sources.clear()  # .gitignore files may have changed since the last walk
        root_entries = self._scan(self.root)
        if root_entries is None:
            return
        # A stack of (folder, its relative path, the sources that apply inside it, entries
        # left to visit): depth-first with sorted entries gives sorted output.
        root_chain = self._sources_of(self.root, "", (), frozenset(e.name for e in root_entries))
        stack = [(self.root, "", root_chain, iter(root_entries))]
        while stack:
            folder_rel, chain, entries = stack[-1][1], stack[-1][2], stack[-1][3]
            entry = next(entries, None)
            if entry is None:
                stack.pop()
                continue
            rel = f"{folder_rel}/{entry.name}" if folder_rel else entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                self.errors.append((Path(entry.path), exc.strerror or str(exc)))
                continue
            reason = self._excluded(rel, entry.path, st, chain)
            if reason is not None:
                # Left out by a pattern or as hidden: the person's choice. Left out as
                # a problem (too large, not a regular file, a symlink out of the root
                # or broken): listed, so that nothing is dropped silently.
                if not stat.S_ISDIR(st.st_mode) and reason == self._problem(entry.path, st):
                    self.left_out.append((Path(entry.path), reason))
                continue
            abs_path = Path(entry.path)
            if stat.S_ISDIR(st.st_mode):
                sub = self._scan(abs_path)
                if sub is not None:
                    names = frozenset(e.name for e in sub)
                    chain = self._sources_of(abs_path, rel, chain, names)
                    stack.append((abs_path, rel, chain, iter(sub)))
            else:
                yield abs_path

    # -- rules --------------------------------------------------------------------------

    def _excluded(self, rel: str, abs_path: str | Path, st: os.stat_result,
                  chain: tuple[_Source, ...]) -> str | None:
        """Why `rel` itself is excluded (its parents are checked by the caller), or None."""
        is_dir = stat.S_ISDIR(st.st_mode)
        match = self._match(rel + "/" if is_dir else rel, chain)
        if match is not None and match[0]:
            return match[1]
        user_reincluded = match is not None and match[2] is self._user
        name = rel.rsplit("/", 1)[-1]
        if not self.include_hidden and name.startswith(".") and not user_reincluded:
            return "hidden (starts with '.'); hidden files are off"
        if is_dir:
            for marker in _ENV_MARKERS:
                if not user_reincluded and os.path.lexists(os.path.join(abs_path, marker)):
                    return f"a virtual environment (contains {marker})"
            return None
        return self._problem(abs_path, st)

    def _problem(self, path: str | Path, st: os.stat_result) -> str | None:
        """Why a non-folder entry cannot be indexed whatever the patterns say, or None."""
        if stat.S_ISLNK(st.st_mode):
            return self._symlink_problem(Path(path))
        return self._file_problem(st)

    def _file_problem(self, st: os.stat_result) -> str | None:
        """Why a file (or a symlink's target) with this stat is left out, or None."""
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        if st.st_size > self.max_file_bytes:
            return (f"larger than the {_human_bytes(self.max_file_bytes)} limit "
                    f"({_human_bytes(st.st_size)})")
        return None

    def _symlink_problem(self, link: Path) -> str | None:
        try:
            target = link.resolve(strict=True)
            st = os.stat(target)
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop on Python < 3.13
            return "broken symlink"
        if stat.S_ISDIR(st.st_mode):
            return "symlink to a folder (folder symlinks are not followed)"
        if target != self._real_root and self._real_root not in target.parents:
            return "symlink pointing outside the root"
        return self._file_problem(st)

    def _match(self, rel: str, chain: tuple[_Source, ...]) -> tuple[bool, str, _Source] | None:
        """The deciding pattern across all sources: (excluded, reason, source)."""
        found: tuple[bool, str, _Source] | None = None
        for source in (self._builtin, *chain, self._user):
            hit = self._check_builtin(rel) if source is self._builtin else source.check(rel)
            if hit is not None:
                label = source.label.format(hit[1])
                found = (hit[0], source.verb + label if hit[0] else label, source)
        return found

    def _check_builtin(self, rel: str) -> tuple[bool, str] | None:
        # No built-in pattern contains a "/" before its end, so by gitignore's rules each
        # matches a name at any depth: the answer depends on the last component alone, and
        # names repeat (README.md, __init__.py), so a cache saves most of the walk's time.
        name = rel[rel.rstrip("/").rfind("/") + 1 :]
        if name not in self._builtin_cache:
            if len(self._builtin_cache) > 100_000:
                self._builtin_cache.clear()
            self._builtin_cache[name] = self._builtin.check(name)
        return self._builtin_cache[name]

    def _reincluded_by(self, rel_parts: Sequence[str], chain: tuple[_Source, ...]) -> str | None:
        """Name the `!` pattern that re-included a path, for `explain`."""
        rel = "/".join(rel_parts)
        is_dir = self.root.joinpath(*rel_parts).is_dir()
        match = self._match(rel + "/" if is_dir else rel, chain)
        if match is not None and not match[0]:
            return f"re-included by {match[1]}"
        return None

    # -- pattern sources ----------------------------------------------------------------

    def _sources_of(self, folder: Path, rel: str, parent: tuple[_Source, ...] = (),
                    names: frozenset[str] | None = None) -> tuple[_Source, ...]:
        """The sources that apply inside `folder`: its parent's plus its own files.

        `names`, the folder's entries when the caller has listed it, saves two failed
        opens per folder on the walk.
        """
        if not self.use_gitignore or (names is not None and not {".git", ".gitignore"} & names):
            return parent
        cached = self._folder_sources.get(rel)
        if cached is not None:
            return cached
        own: list[_Source] = []
        # .git/info/exclude ranks below .gitignore files, so it goes first.
        for file, label in ((folder / ".git" / "info" / "exclude", ".git/info/exclude"),
                            (folder / ".gitignore", ".gitignore")):
            lines = self._read_lines(file)
            if lines:
                own.append(_Source(pathspec.GitIgnoreSpec.from_lines(lines), rel,
                                   f"{label} pattern '{{}}' ({file})", "ignored by "))
        chain = (*parent, *own)
        # Only `explain` revisits folders; the walk visits each once, so caching every
        # folder would only cost memory on big trees.
        if own or not rel:
            self._folder_sources[rel] = chain
        return chain

    def _read_lines(self, file: Path) -> list[str]:
        try:
            with open(file, encoding="utf-8", errors="replace") as fh:
                return fh.read().splitlines()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            # Absent, or .git is a file (submodule, worktree), or a folder named .gitignore.
            return []
        except OSError as exc:
            self.errors.append((file, exc.strerror or str(exc)))
            return []

    # -- helpers ------------------------------------------------------------------------

    def _scan(self, folder: Path) -> list[os.DirEntry[str]] | None:
        try:
            with os.scandir(folder) as it:
                return sorted(it, key=lambda e: e.name)
        except OSError as exc:
            self.errors.append((folder, exc.strerror or str(exc)))
            return None

    def _relative_parts(self, path: Path) -> tuple[str, ...] | None:
        absolute = Path(os.path.abspath(path))
        for base in (self.root, self._real_root):
            try:
                return absolute.relative_to(base).parts
            except ValueError:
                continue
        return None


def _human_bytes(n: int) -> str:
    """Decimal units, as file managers show them: 50_000_000 -> '50 MB'."""
    size = float(n)
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            if unit == "bytes":
                return f"{n} bytes"
            text = f"{size:.1f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
        size /= 1000
    raise AssertionError("unreachable")
