"""Source code into blocks, keeping definitions and bracketed spans whole."""

from __future__ import annotations

import re

from jina_edge.index.extract._common import Block, _indent, _Lines

_PY_DEF_RE = re.compile(r"^\s*(?:async\s+)?(def|class)\s+(\w+)")
_PY_TOPLEVEL_RE = re.compile(r"^(?:@|(?:async\s+)?def\s|class\s)")


def _code_blocks(lines: list[str], *, python: bool) -> list[Block]:
    """Splits code at blank lines, keeping definitions and bracketed spans whole.

    Python blocks split at blank lines unless inside a function body (so a class
    splits into its methods) and carry their enclosing class/def names; other
    languages split at blank lines outside braces.
    """
    out = _Lines(lines)
    depth = 0  # open brackets (braces only, outside Python)
    in_string = False  # inside a Python triple-quoted string
    scopes: list[tuple[int, str]] = []  # enclosing Python (indent, "def name")
    start = 0
    block_path: tuple[str, ...] | None = None
    # Indentation of the next non-blank line after each line, precomputed so that
    # long runs of blank lines stay linear; -1 = none.
    next_indent = [-1] * (len(lines) + 1)
    if python:
        for j in range(len(lines) - 1, -1, -1):
            after = lines[j + 1] if j + 1 < len(lines) else ""
            next_indent[j] = _indent(after) if after.strip() else next_indent[j + 1]
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            if depth > 0 or in_string:
                continue
            if python and next_indent[i] >= 0:
                inner = [s for s in scopes if s[0] < next_indent[i]]
                if any(name.startswith("def ") for _, name in inner):
                    continue  # a blank line inside a function body
            out.span(start, i - 1, "code", block_path or ())
            start, block_path = i + 1, None
            continue
        if not python:
            depth = max(0, depth + line.count("{") - line.count("}"))
            continue
        if not in_string and depth > 0 and _PY_TOPLEVEL_RE.match(line):
            depth = 0  # a top-level def resyncs a count thrown off by a bracket in a string
        if not in_string and depth == 0:
            # A line that starts a statement: its indentation is meaningful.
            ind = _indent(line)
            while scopes and scopes[-1][0] >= ind:
                scopes.pop()
            m = _PY_DEF_RE.match(line)
            if m:
                scopes.append((ind, f"{m.group(1)} {m.group(2)}"))
            if block_path is None and stripped[0] not in "@#":
                block_path = tuple(name for _, name in scopes)
        quotes = line.count('"""') + line.count("'''")
        if quotes % 2:
            in_string = not in_string
        elif not in_string:
            code = line.split("#", 1)[0] if "'" not in line and '"' not in line else line
            depth = max(0, depth + sum(code.count(c) for c in "([{")
                        - sum(code.count(c) for c in ")]}"))
    if block_path is None:
        block_path = tuple(name for _, name in scopes) if python else ()
    out.span(start, len(lines) - 1, "code", block_path)
    return out.blocks
