"""Import arrows point one way: engines sit below their users, and the model store knows none."""

from __future__ import annotations

import ast
from pathlib import Path

import jina_edge

PACKAGE = Path(jina_edge.__file__).parent


def _imports(folder: Path) -> dict[str, set[str]]:
    """Each module file under `folder` -> the jina_edge modules it imports (anywhere in it)."""
    out: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
        out[str(path.relative_to(PACKAGE))] = {n for n in names if n.startswith("jina_edge")}
    return out


def test_the_model_store_imports_no_engine() -> None:
    for module, names in _imports(PACKAGE / "models").items():
        assert not [n for n in names if n.startswith("jina_edge.engines")], module


def test_engines_import_nothing_that_uses_them() -> None:
    above = ("jina_edge.embedder", "jina_edge.reranker", "jina_edge.index", "jina_edge.server",
             "jina_edge.cli", "jina_edge.gui", "jina_edge.mcp_server", "jina_edge.models.store",
             "jina_edge.integrations")
    for module, names in _imports(PACKAGE / "engines").items():
        assert not [n for n in names if n.startswith(above)], module
