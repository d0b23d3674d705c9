"""ONNX Runtime as the CPU engine, on a graph built from the same GGUF.

On CPUs without fast bf16 (most laptops), ONNX Runtime's fp32 kernels run
short and medium texts 1.4-1.8x faster than llama.cpp's q8_0, and, with the
graph's attention in query blocks, long ones too: an 8,191-token window of
small-en size in about 0.6x llama.cpp's time and half its peak memory
(benchmarks/bench_runtime.py).

The graph is built once from the GGUF (its weights dequantized,
convert/onnx_graph.py), checked against llama.cpp on probe texts, and cached
(`jina_edge.config.cache_dir`) by the GGUF's content hash.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from filelock import FileLock

from jina_edge.config import cache_dir, write_bytes_atomic
from jina_edge.errors import BackendError, UnsupportedModelError

logger = logging.getLogger(__name__)

BATCH_TOKENS = 8192  # padded tokens per run
BATCH_SEQUENCES = 32
# ONNX Runtime keeps the memory of its largest run for the next; after runs
# wider than this it gives it back (an arena for every run costs 30-40% speed).
SHRINK_AFTER_TOKENS = 512
MAX_PADDING = 1.5  # the longest of a run is at most this many times its shortest
GRAPH_VERSION = 3  # bump when convert/onnx_graph.py changes what it writes
# Probe texts and the least cosine to llama.cpp's vectors of the same GGUF.
PROBES = ("hello", "The pump moves twelve litres of water per minute.",
          "Die Häuser am Fluss wurden 1870 gebaut; 软件包 can be installed with apt-get. " * 4)
MIN_COSINE = 0.999


class OnnxBackend:
    """A GGUF's weights in an ONNX Runtime session: token states for short windows."""

    def __init__(self, graph: Path, n_embd: int, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(graph), options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise BackendError(f"ONNX Runtime could not load {graph}: {exc}") from exc
        self.n_embd = n_embd
        self._ort = ort

    def token_states(self, sequences: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Each sequence's final hidden states, the sequences padded into one run."""
        width = max(len(s) for s in sequences)
        ids = np.zeros((len(sequences), width), np.int64)
        mask = np.zeros((len(sequences), width), np.int64)
        for row, seq in enumerate(sequences):
            ids[row, :len(seq)] = seq
            mask[row, :len(seq)] = 1
        options = None
        if width > SHRINK_AFTER_TOKENS:  # give a long run's memory back (short runs reuse it)
            options = self._ort.RunOptions()
            options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        states = self._session.run(None, {"input_ids": ids, "attention_mask": mask}, options)[0]
        return [np.asarray(states[row, :len(seq)], np.float32)
                for row, seq in enumerate(sequences)]


def batches(lengths: Sequence[int]) -> list[list[int]]:
    """Indices in runs of similar length, so that little of each run is padding."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out: list[list[int]] = []
    for i in order:
        run = out[-1] if out else []
        if (run and len(run) < BATCH_SEQUENCES and (len(run) + 1) * lengths[i] <= BATCH_TOKENS
                and lengths[i] <= MAX_PADDING * lengths[run[0]]):
            run.append(i)
        else:
            out.append([i])
    return out


def open_for(gguf: Path, file_sha256: str, n_embd: int, threads: int,
             probes: Sequence[Sequence[int]], expected: Sequence[np.ndarray]) -> OnnxBackend | None:
    """The ONNX Runtime engine for a GGUF, built and checked on first use; None if it cannot be.

    `expected` are llama.cpp's token states of the `probes` (token ids): the
    engine is used only when its mean-pooled vectors agree on every probe.
    """
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    folder = cache_dir() / "onnx"
    graph = folder / f"{file_sha256[:32]}-v{GRAPH_VERSION}.onnx"
    # A graph built from this file that failed the check: later loads go
    # straight to llama.cpp instead of building it again (seconds, and GBs at
    # the base size). Delete the file to have it tried again.
    refused = graph.with_suffix(".refused")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(graph) + ".lock", timeout=600):
            if refused.exists():
                logger.debug("llama.cpp only: %s",
                             refused.read_text(encoding="utf-8", errors="replace").strip())
                return None
            fresh = not graph.exists()
            if fresh:
                _build(gguf, graph)
            backend = _checked(graph, n_embd, threads, probes, expected)
            if backend is None and not fresh:  # a damaged cache: build it once more
                logger.warning("the cached ONNX graph %s does not work; building it again",
                               graph)
                _build(gguf, graph)
                backend = _checked(graph, n_embd, threads, probes, expected)
            if backend is None:
                write_bytes_atomic(refused, f"the ONNX graph of {gguf} failed the check against "
                                   "llama.cpp's vectors\n".encode())
                graph.unlink(missing_ok=True)
    except UnsupportedModelError as exc:
        logger.debug("llama.cpp only: %s", exc)
        return None
    except (OSError, BackendError, TimeoutError) as exc:
        logger.warning("ONNX Runtime engine unavailable, using llama.cpp only: %s", exc)
        return None
    return backend


def _build(gguf: Path, graph: Path) -> None:
    from jina_edge.convert.onnx_graph import write_onnx_from_gguf

    logger.info("building the ONNX Runtime graph of %s (once)", gguf)
    write_onnx_from_gguf(gguf, graph)


def _checked(graph: Path, n_embd: int, threads: int, probes: Sequence[Sequence[int]],
             expected: Sequence[np.ndarray]) -> OnnxBackend | None:
    try:
        backend = OnnxBackend(graph, n_embd, threads)
        states = backend.token_states(probes)
    except (BackendError, ValueError, RuntimeError) as exc:
        logger.debug("the ONNX graph %s does not run: %s", graph, exc)
        return None
    cosines = [_cosine(a.mean(axis=0), b.mean(axis=0)) for a, b in zip(states, expected,
                                                                          strict=True)]
    if min(cosines) < MIN_COSINE:
        logger.warning("ONNX graph %s disagrees with llama.cpp (cosine %.5f); using llama.cpp "
                       "only", graph, min(cosines))
        return None
    return backend


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))
