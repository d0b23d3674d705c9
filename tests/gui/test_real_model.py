"""End to end with a real (tiny, random-weight) GGUF through llama.cpp."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jina_edge.index.service import Index


def test_index_and_search_with_the_tiny_gguf(qtbot: Any, make_window: Any, notes: Path,
                                             index_path: Path, jina_tiny_gguf: Path,
                                             monkeypatch: Any) -> None:
    import jina_edge.index.ranking

    # Random weights give no meaning to pass the relevance floor: let every passage count.
    monkeypatch.setattr(jina_edge.index.ranking, "Z_NONE", -1e9)
    monkeypatch.setattr(jina_edge.index.ranking, "Z_NONE_UNKNOWN", -1e9)
    monkeypatch.setattr(jina_edge.index.ranking, "FLOOR", -1.0)
    window = make_window(lambda: Index(index_path, model=str(jina_tiny_gguf)))
    with qtbot.waitSignal(window.folders_controller.sync_finished, timeout=60_000) as blocker:
        window.folders_controller.add_folders([str(notes)])
    assert blocker.args[0].indexed == 3
    assert window.error_label.text() == ""
    page = window.search_page
    for mode in ("keyword", "hybrid", "semantic"):
        page.mode.setCurrentText(mode)
        page.query.clear()
        with qtbot.waitSignal(window.search_controller.results_changed, timeout=60_000,
                              check_params_cb=bool):
            qtbot.keyClicks(page.query, "litres per minute")
        names = [page.model.hit(i).path.name for i in range(page.model.rowCount())]
        assert names, mode
        if mode != "semantic":  # random weights: only the keyword side is meaningful
            assert names[0] == "greenhouse.md", mode
