"""Which chunk size retrieves best? Recall@10 and MRR of hybrid search per chunk size.

The corpus is the one of tests/test_search_quality.py, but one Markdown file
per module (each function's docstring under its own heading), so chunking
matters: a hit counts when its passage sits under or holds the heading of a right answer.

    python benchmarks/bench_chunk_size.py --sizes 128,256,512
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "index"))

from test_search_quality import QUERIES, write_corpus  # noqa: E402

from jina_edge.embedder import Embedder  # noqa: E402
from jina_edge.index.service import Index  # noqa: E402
from jina_edge.index.sync import SyncSettings  # noqa: E402


def module_files(docs: Path, out: Path) -> None:
    """Group the one-file-per-function corpus into one Markdown file per module."""
    modules: dict[str, list[str]] = {}
    for path in sorted(docs.glob("*.txt")):
        name = path.stem
        module = name.rsplit(".", 1)[0]
        body = path.read_text().split("\n\n", 1)[-1]
        modules.setdefault(module, []).append(f"## {name}\n\n{body}")
    for module, sections in modules.items():
        (out / f"{module}.md").write_text(f"# {module}\n\n" + "\n\n".join(sections))


def _holds(heading: str, text: str, targets: list[str]) -> bool:
    """A passage answers when it sits under, or contains, a right answer's heading."""
    lines = set(text.split("\n"))
    return heading.split(" > ")[-1] in targets or any(t in lines for t in targets)


def evaluate(index: Index) -> tuple[float, float]:
    found, reciprocal = 0, 0.0
    for query, targets in QUERIES.items():
        hits = index.search(query, k=10, passages=True)  # it measures passages
        rank = next((i + 1 for i, h in enumerate(hits) if _holds(h.heading, h.text, targets)),
                    None)
        if rank:
            found += 1
            reciprocal += 1 / rank
    return found / len(QUERIES), reciprocal / len(QUERIES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="128,256,512")
    parser.add_argument("--model", required=True, help="GGUF to embed with")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="jina-edge-chunks-"))
    (work / "docs").mkdir()
    (work / "modules").mkdir()
    write_corpus(work / "docs")
    module_files(work / "docs", work / "modules")
    embedder = Embedder(args.model)
    print("| chunk tokens | chunks | recall@10 | MRR | index time |")
    print("|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        settings = SyncSettings(chunk_tokens=size, overlap_tokens=min(32, size // 8),
                                late_chunking_tokens=0)
        index = Index(work / f"chunks-{size}.db", embedder=embedder, settings=settings)
        index.add(work / "modules")
        t0 = time.perf_counter()
        report = index.sync()
        recall, mrr = evaluate(index)
        print(f"| {size} | {report.chunks} | {recall:.3f} | {mrr:.3f} "
              f"| {time.perf_counter() - t0:.0f} s |", flush=True)


if __name__ == "__main__":
    main()
