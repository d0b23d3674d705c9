"""Reranking latency: what `--rerank` adds to a search, for the top 20 and top 50 results.

Synthetic jina-reranker-v1 checkpoints of the real tiny-en and turbo-en sizes
(384 wide, 12 heads, 4 or 6 layers; random weights, which say nothing about
quality) are converted (q8_0 by default, the type `models pull` installs) and
score one query against 20 and 50 passages of about the index's chunk size
(256 tokens). A reranked search runs exactly this on top of the search itself,
whose own cost does not change; so this is the added latency per query.
Printed: median and best of --repeat runs after one warm-up, and per pair.

    python benchmarks/bench_rerank.py
    python benchmarks/bench_rerank.py --sizes reranker-turbo --types q8_0,bf16 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from jina_edge.convert import convert_checkpoint
from jina_edge.convert.synthetic import SHAPES, write_checkpoint
from jina_edge.index.chunking import DEFAULT_CHUNK_TOKENS
from jina_edge.reranker import Reranker

QUERY = "how was the greenhouse pump sized for the irrigation of the tomatoes"
DEPTHS = (20, 50)


def passages(reranker: Reranker, count: int, tokens: int) -> list[str]:
    """`count` passages of random words, each about `tokens` tokens with the query."""
    rng = np.random.default_rng(0)
    words = ["pump", "water", "flow", "litres", "minute", "greenhouse", "tomato", "irrigation",
             "valve", "pressure", "pipe", "garden", "summer", "harvest", "soil", "sensor"]
    out = []
    for _ in range(count):
        text = ""
        while len(reranker.tokenize_pair(QUERY, text)) < tokens:
            text += " " + " ".join(rng.choice(words, 16))
        out.append(text.strip())
    return out


def measure(reranker: Reranker, documents: list[str], repeat: int) -> list[float]:
    reranker.rerank(QUERY, documents)  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        reranker.rerank(QUERY, documents)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="reranker-tiny,reranker-turbo")
    parser.add_argument("--types", default="q8_0")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--tokens", type=int, default=DEFAULT_CHUNK_TOKENS,
                        help="tokens per (query, passage) pair")
    args = parser.parse_args()
    print(f"query + passage: ~{args.tokens} tokens per pair; median / best of {args.repeat} runs")
    print(f"{'model':<16} {'type':<6} {'top':>4} {'median ms':>10} {'best ms':>9} "
          f"{'ms/pair':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            checkpoint = write_checkpoint(Path(tmp) / size, shape=SHAPES[size],
                                          variant="reranker", max_positions=8192)
            for output_type in args.types.split(","):
                path = Path(tmp) / f"{size}-{output_type}.gguf"
                convert_checkpoint(checkpoint, path, output_type=output_type, verify=False)
                with Reranker(path, device="cpu", threads=args.threads,
                              max_tokens=2 * args.tokens) as reranker:
                    documents = passages(reranker, max(DEPTHS), args.tokens)
                    for depth in DEPTHS:
                        times = measure(reranker, documents[:depth], args.repeat)
                        median = statistics.median(times) * 1000
                        print(f"{size:<16} {output_type:<6} {depth:>4} {median:>10.0f} "
                              f"{min(times) * 1000:>9.0f} {median / depth:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
