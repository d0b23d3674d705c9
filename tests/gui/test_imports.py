"""The app's imports: no cycle among its modules, and only the library's public API (issue 34).

Every import statement counts, inside functions too: a lazy import hides a
cycle from Python, not from whoever reads the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import jina_edge
import jina_edge.gui

GUI = Path(jina_edge.gui.__path__[0])
PACKAGE = "jina_edge.gui"
# Library modules the app may use, and the names it may take from them (None: any public one).
PUBLIC: dict[str, set[str] | None] = {
    "jina_edge": set(jina_edge.__all__),
    "jina_edge.config": None,
    "jina_edge.models.catalog": None,
    "jina_edge.models.installed": None,
    "jina_edge.models.store": None,
    "jina_edge.index.service": {"default_index_path"},
    "jina_edge.index.extract": {"SUPPORTED_SUFFIXES", "FILE_TYPE_LABELS"},
}


def _imports() -> dict[str, list[tuple[str, str | None]]]:
    """Each app module -> (module, name or None) for each import in it."""
    out: dict[str, list[tuple[str, str | None]]] = {}
    for path in sorted(GUI.glob("*.py")):
        module = PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"
        found: list[tuple[str, str | None]] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found += [(a.name, None) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0 and node.module, f"{module}: a relative import"
                found += [(node.module, a.name) for a in node.names]
        out[module] = found
    return out


def _app_module(module: str, name: str | None) -> str | None:
    """The app module an import names (`from jina_edge.gui import settings` too), or None."""
    if name is not None and (GUI / f"{name}.py").is_file() and module == PACKAGE:
        return f"{PACKAGE}.{name}"
    return module if module.startswith(PACKAGE + ".") else None


def test_the_app_has_no_import_cycle() -> None:
    graph = {m: {t for mod, name in found if (t := _app_module(mod, name)) and t != m}
             for m, found in _imports().items()}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        assert module not in path, " -> ".join([*path[path.index(module):], module])
        if module in done:
            return
        for target in graph[module]:
            visit(target, [*path, module])
        done.add(module)

    for module in graph:
        visit(module, [])


def test_the_app_uses_only_the_public_library_api() -> None:
    for module, found in _imports().items():
        for target, name in found:
            if target.split(".")[0] != "jina_edge" or target.startswith(PACKAGE):
                continue
            if target == "jina_edge.models" and name is not None:  # `from ... import store`
                target, name = f"{target}.{name}", None
            assert target in PUBLIC, f"{module} imports {target}"
            allowed = PUBLIC[target]
            if name is not None:
                assert not name.startswith("_"), f"{module} imports {target}.{name}"
                assert allowed is None or name in allowed, f"{module} imports {target}.{name}"
