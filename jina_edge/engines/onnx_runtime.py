"""ONNX Runtime as the CPU engine, on a graph built from the same GGUF.

The graph is built once from the GGUF (onnx_graph.py), checked once against
the numpy reference of the same file (jina_edge.convert.reference) on probe
texts, and cached with the file's other derived files
(jina_edge/models/derived.py), with the sealed digest of the graph that passed. A
quantized GGUF (q8_0, q4_k_m, ...) gets the int8 graph where this CPU
multiplies it exactly (cpu.py), else the float32 graph; an int8 graph that
fails the check is followed by the float32 one. docs/performance.md has the
speed of each on each CPU class.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from filelock import FileLock

from jina_edge.config import write_bytes_atomic
from jina_edge.engines.batching import RunLimits
from jina_edge.engines.cpu import WeightType, int8_weight_type
from jina_edge.errors import BackendError, UnsupportedModelError
from jina_edge.models.derived import derived_path, forget_derived, is_sealed, seal

logger = logging.getLogger(__name__)

# Padded tokens and sequences per run, and the longest of a run at most this
# many times its shortest.
LIMITS = RunLimits(tokens=8192, sequences=32, max_padding=1.5)
# ONNX Runtime keeps the memory of its largest run for the next; after runs
# wider than this it gives it back (an arena for every run is much slower:
# docs/performance.md, "Figures behind constants in the code").
SHRINK_AFTER_TOKENS = 512
GRAPH_VERSION = 7  # bump when onnx_graph.py changes what it writes
# Probe texts and the least cosine to the reference's vectors of the same GGUF.
PROBES = ("hello", "The pump moves twelve litres of water per minute.",
          "Die Häuser am Fluss wurden 1870 gebaut; 软件包 can be installed with apt-get. " * 4)
MIN_COSINE = 0.999
# The bar for either graph of a quantized file (q8_0, ...): the int8 graph rounds
# its activations to 8 bits, so on a text of a few tokens it is a little further
# from the float64 reference of the same weights than a float graph; a wrong graph
# is far off (measured: see docs/performance.md, "Figures behind constants in the code").
# Quality over many texts is the benchmark's to show (bench_runtime.py --quality).
MIN_COSINE_QUANTIZED = 0.998
# Texts whose activations set the int8 graph's smoothing (onnx_graph.py):
# prose, a question, code, markup, numbers, German, Spanish, Chinese.
CALIBRATION = (
    "How do I reset the router to its factory settings without losing the Wi-Fi password?",
    "The committee approved the budget after a long debate about school repairs and bus routes.",
    "She planted tomatoes, basil and peppers along the south fence, where the sun lasts longest.",
    "def read_config(path):\n    with open(path) as f:\n        return json.load(f)",
    "SELECT name, total FROM orders WHERE created > '2024-01-01' ORDER BY total DESC LIMIT 10;",
    "<div class=\"note\"><p>Backups run nightly at 02:00; see <a href=\"/ops\">ops</a>.</p></div>",
    "Invoice 4471: 12 x M8 bolts at 0.35 EUR, 3 hinges at 4.20 EUR, total 16.80 EUR incl. VAT.",
    "Error: connection refused (errno 111) while contacting 10.0.0.12:5432 after 3 retries.",
    "Der Zug nach München fällt heute wegen Bauarbeiten aus; bitte nutzen Sie den Ersatzbus.",
    "La reunión se aplazó al jueves porque faltaban los informes del departamento de ventas.",
    "我们明天上午十点在会议室讨论新产品的发布计划。",
    "Photosynthesis converts light energy into chemical energy stored in glucose molecules.",
    "The quick brown fox jumps over the lazy dog. " * 8,
    "Chapter 3. In which the travellers reach the river, find the bridge gone, and make camp.",
)


class OnnxRuntimeEngine:
    """A GGUF's weights in an ONNX Runtime session."""

    limits = LIMITS

    def __init__(self, graph: Path, n_embd: int, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # A far key's ALiBi weight underflows to a subnormal float, and x86 CPUs
        # compute with those at a fraction of the speed (long inputs).
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
        # Waiting threads sleep instead of spinning, as llama.cpp's do here
        # (OMP_WAIT_POLICY): on a busy machine spinning threads steal the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session: ort.InferenceSession | None = None
        try:
            self._session = ort.InferenceSession(str(graph), options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise BackendError(f"ONNX Runtime could not load {graph}: {exc}") from exc
        self.n_embd = n_embd
        self._ort = ort

    def token_states(self, sequences: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Each sequence's final hidden states, the sequences padded into one run."""
        if self._session is None:
            raise BackendError("this model was closed; create a new Embedder")
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
        try:
            states = self._session.run(None, {"input_ids": ids, "attention_mask": mask},
                                       options)[0]
        except Exception as exc:  # onnxruntime raises its own exception types
            raise BackendError(f"ONNX Runtime failed on {len(sequences)} sequences of up to "
                               f"{width} tokens: {exc}") from exc
        return [np.asarray(states[row, :len(seq)], np.float32)
                for row, seq in enumerate(sequences)]

    def close(self) -> None:
        """Let the session go (ONNX Runtime frees it with the last reference)."""
        self._session = None


def open_for(gguf: Path, file_key: str, n_embd: int, threads: int,
             probes: Sequence[Sequence[int]], expected: Callable[[], Sequence[np.ndarray]],
             *, quantized: bool = False, tokenize: Callable[[str], list[int]] | None = None
             ) -> OnnxRuntimeEngine | None:
    """The ONNX Runtime engine for a GGUF, built and checked on first use; None if it cannot be.

    `expected()` gives the reference's token states of the `probes` (token
    ids), called only when a graph is to be checked: a graph is used when its
    mean-pooled vectors agree on every probe, and later loads of the graph
    that passed skip the check.
    `quantized`: try the int8 graph first where this CPU multiplies its
    weights exactly (cpu.py), its smoothing measured on `CALIBRATION`
    tokenized with `tokenize` when the graph is built.
    """
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    bar = MIN_COSINE_QUANTIZED if quantized else MIN_COSINE
    expected = functools.cache(expected)
    int8 = int8_weight_type() if quantized and tokenize is not None else None
    for kind in (int8, None) if int8 is not None else (None,):
        engine = _open_graph(gguf, file_key, n_embd, threads, probes, expected, tokenize,
                             kind, bar)
        if engine is not None:
            return engine
    return None


def graph_path(file_key: str, int8: WeightType | None) -> Path:
    """Where the graph of the model file with this key is cached: float32, or int8 of a type."""
    return derived_path(file_key, f"v{GRAPH_VERSION}-{f'int8-{int8}' if int8 else 'f32'}.onnx")


def _open_graph(gguf: Path, file_key: str, n_embd: int, threads: int,
                probes: Sequence[Sequence[int]], expected: Callable[[], Sequence[np.ndarray]],
                tokenize: Callable[[str], list[int]] | None, int8: WeightType | None,
                bar: float) -> OnnxRuntimeEngine | None:
    """One graph of the GGUF, built and checked on first use: int8 of a type, else float.

    It is used when its vectors of the probes agree with `expected` to `bar`.
    """
    graph = graph_path(file_key, int8)
    folder = graph.parent
    kind = f"int8 ({int8} weights)" if int8 else "f32"
    # A graph built from this file that failed the check: later loads go
    # straight to the next graph or llama.cpp instead of building it again
    # (seconds, and GBs at the base size). Delete the file to have it tried again.
    refused = graph.with_suffix(".refused")
    passed = graph.with_suffix(".passed")  # its digest sealed: it passed the check here
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(graph) + ".lock", timeout=600):
            for path in (graph, refused, passed):
                _forget_unless_regular(path)
            if refused.exists():
                logger.debug("no ONNX graph: %s", refused.read_bytes()[:500].decode(
                    "utf-8", "replace").strip())
                return None
            if not graph.exists():  # graphs of other GRAPH_VERSIONs are dead weight
                forget_derived(file_key, keep=f"v{GRAPH_VERSION}-")
            engine = _passed_before(graph, passed, n_embd, threads)
            if engine is None:  # none, or one this installation did not build and check
                engine = (_checked(graph, passed, n_embd, threads, probes, expected, bar)
                          if _build(gguf, graph, tokenize, int8) else None)
            if engine is None:
                write_bytes_atomic(refused, f"the {kind} ONNX graph of {gguf} failed the check "
                                   "against the reference's vectors\n".encode())
                graph.unlink(missing_ok=True)
    except UnsupportedModelError as exc:
        logger.debug("no ONNX graph: %s", exc)
        return None
    except (OSError, BackendError, TimeoutError) as exc:
        logger.warning("ONNX Runtime engine unavailable: %s", exc)
        return None
    return engine


def _build(gguf: Path, graph: Path, tokenize: Callable[[str], list[int]] | None,
           int8: WeightType | None) -> bool:
    """Build the graph; False (logged) when this file's graph cannot be built."""
    from jina_edge.engines.onnx_graph import write_onnx_from_gguf

    logger.info("preparing %s for this CPU: building its %s ONNX Runtime graph (once; "
                "seconds for a small model, minutes for a base one)", gguf.name,
                f"int8 ({int8} weights)" if int8 else "float32")
    calibration = [tokenize(t) for t in CALIBRATION] if int8 and tokenize is not None else []
    try:
        write_onnx_from_gguf(gguf, graph, int8=int8, calibration=calibration)
    except BackendError as exc:
        logger.warning("could not build the ONNX graph of %s: %s", gguf, exc)
        return False
    return True


def _forget_unless_regular(path: Path) -> None:
    """Remove what stands at `path` in the cache unless it is a plain file.

    Reading a FIFO put there would wait forever, and a link could lead anywhere;
    the cache holds only files this code wrote.

    Raises:
        OSError: when it cannot be removed (a folder in its place).
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        logger.warning("removing %s from the cache: not a file this program wrote", path)
        path.unlink()


def _passed_before(graph: Path, passed: Path, n_embd: int,
                   threads: int) -> OnnxRuntimeEngine | None:
    """The engine of the graph this installation built and checked; else None."""
    try:
        if not graph.is_file() or not is_sealed(_digest(graph), passed):
            return None
        return OnnxRuntimeEngine(graph, n_embd, threads)
    except (OSError, BackendError):
        return None


def _checked(graph: Path, passed: Path, n_embd: int, threads: int,
             probes: Sequence[Sequence[int]], expected: Callable[[], Sequence[np.ndarray]],
             bar: float) -> OnnxRuntimeEngine | None:
    """The engine, when the graph's vectors of the probes agree with the reference's."""
    passed.unlink(missing_ok=True)
    try:
        engine = OnnxRuntimeEngine(graph, n_embd, threads)
        states = engine.token_states(probes)
    except (BackendError, ValueError, RuntimeError) as exc:
        logger.debug("the ONNX graph %s does not run: %s", graph, exc)
        return None
    started = time.monotonic()
    reference = expected()
    logger.info("checked the ONNX graph of this model against the numpy reference "
                "(once: %.1f s)", time.monotonic() - started)
    cosines = [_cosine(a.mean(axis=0), b.mean(axis=0)) for a, b in zip(states, reference,
                                                                          strict=True)]
    if not min(cosines) >= bar:  # NaN fails too
        # Not the person's to fix (an int8 graph on a CPU that rounds otherwise, say):
        # the next engine takes over.
        logger.info("this model's ONNX graph disagrees with the numpy reference on this CPU "
                    "(cosine %.5f); using the next engine", min(cosines))
        return None
    write_bytes_atomic(passed, (seal(_digest(graph)) + "\n").encode())
    return engine


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))
