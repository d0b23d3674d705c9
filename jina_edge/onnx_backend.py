"""ONNX Runtime as the CPU engine, on a graph built from the same GGUF.

On CPUs without fast bf16 (most laptops), ONNX Runtime's fp32 kernels run
short and medium texts 1.4-1.8x faster than llama.cpp's q8_0, and, with the
graph's attention in query blocks, each steep ALiBi head reading only the keys
within its reach, and subnormal floats flushed to zero, long ones too
(benchmarks/bench_runtime.py has the figures).

The graph is built once from the GGUF (its weights dequantized,
convert/onnx_graph.py), checked against llama.cpp on probe texts, and cached
(`jina_edge.config.cache_dir`) by the GGUF's content hash. A quantized GGUF
(q8_0, q4_k_m, ...) gets the int8 graph, which ran short and medium texts
1.3-1.6x as fast as the float32 one at q8_0's quality (an AMX Xeon); if that fails the check, the
float32 graph is tried next.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from filelock import FileLock

from jina_edge.config import cache_dir, write_bytes_atomic
from jina_edge.errors import BackendError, UnsupportedModelError
from jina_edge.models.modelfile import FILE_DIGEST_KEY, ModelFileInfo

logger = logging.getLogger(__name__)

BATCH_TOKENS = 8192  # padded tokens per run
BATCH_SEQUENCES = 32
# ONNX Runtime keeps the memory of its largest run for the next; after runs
# wider than this it gives it back (an arena for every run costs 30-40% speed).
SHRINK_AFTER_TOKENS = 512
MAX_PADDING = 1.5  # the longest of a run is at most this many times its shortest
GRAPH_VERSION = 5  # bump when convert/onnx_graph.py changes what it writes
# Probe texts and the least cosine to llama.cpp's vectors of the same GGUF.
PROBES = ("hello", "The pump moves twelve litres of water per minute.",
          "Die Häuser am Fluss wurden 1870 gebaut; 软件包 can be installed with apt-get. " * 4)
MIN_COSINE = 0.999
# The bar for either graph of a quantized file (q8_0, ...): llama.cpp rounds its
# activations to 8 bits, so on a text of a few tokens it is 0.998-0.999 from
# float64 (all-MiniLM-L6-v2: "hello" 0.9991), and 0.9986 from the float32
# graph of the same file (base-en size, random weights), while the int8 graph
# rounds its own way ("hello" 0.9989); a wrong graph is far off (0.56 seen).
# Quality over many texts is the benchmark's to show (bench_runtime.py --quality).
MIN_COSINE_QUANTIZED = 0.998
# Texts whose activations set the int8 graph's smoothing (convert/onnx_graph.py):
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


class OnnxBackend:
    """A GGUF's weights in an ONNX Runtime session: token states for short windows."""

    def __init__(self, graph: Path, n_embd: int, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # A far key's ALiBi weight underflows to a subnormal float, and x86 CPUs
        # compute with those at a fraction of the speed: at 8,191 tokens this
        # took the small-en graph from 20 to 6.5 s, with the same vectors.
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
        # Waiting threads sleep instead of spinning, as llama.cpp's do here
        # (OMP_WAIT_POLICY): beside two busy processes the int8 engine kept
        # 49% / 52% / 50% of its idle speed on 64x128 / 32x512 / mixed, against
        # 42% / 49% / 39% spinning; idle speed was the same within noise.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
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
        try:
            states = self._session.run(None, {"input_ids": ids, "attention_mask": mask},
                                       options)[0]
        except Exception as exc:  # onnxruntime raises its own exception types
            raise BackendError(f"ONNX Runtime failed on {len(sequences)} sequences of up to "
                               f"{width} tokens: {exc}") from exc
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
             probes: Sequence[Sequence[int]], expected: Sequence[np.ndarray], *,
             quantized: bool = False, tokenize: Callable[[str], list[int]] | None = None
             ) -> OnnxBackend | None:
    """The ONNX Runtime engine for a GGUF, built and checked on first use; None if it cannot be.

    `expected` are llama.cpp's token states of the `probes` (token ids): the
    engine is used only when its mean-pooled vectors agree on every probe.
    `quantized`: try the int8 graph first, its smoothing measured on
    `CALIBRATION`, tokenized with `tokenize` when the graph is built.
    """
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    bar = MIN_COSINE_QUANTIZED if quantized else MIN_COSINE
    for int8 in (True, False) if quantized and tokenize else (False,):
        backend = _open_graph(gguf, file_sha256, n_embd, threads, probes, expected,
                              tokenize if int8 else None, bar)
        if backend is not None:
            return backend
    return None


def _open_graph(gguf: Path, file_sha256: str, n_embd: int, threads: int,
                probes: Sequence[Sequence[int]], expected: Sequence[np.ndarray],
                tokenize: Callable[[str], list[int]] | None, bar: float) -> OnnxBackend | None:
    """One graph of the GGUF, built and checked on first use: int8 with `tokenize`, else float.

    It is used when its vectors of the probes agree with `expected` to `bar`.
    """
    folder = cache_dir() / "onnx"
    int8 = tokenize is not None
    kind = "int8" if int8 else "f32"
    graph = folder / f"{file_sha256[:32]}-v{GRAPH_VERSION}-{kind}.onnx"
    # A graph built from this file that failed the check: later loads go
    # straight to the next graph or llama.cpp instead of building it again
    # (seconds, and GBs at the base size). Delete the file to have it tried again.
    refused = graph.with_suffix(".refused")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(graph) + ".lock", timeout=600):
            if refused.exists():
                logger.debug("llama.cpp only: %s",
                             refused.read_text(encoding="utf-8", errors="replace").strip())
                return None
            fresh = not graph.exists()
            if fresh:  # graphs of other GRAPH_VERSIONs are dead weight (90 MB each at small-en)
                forget_graphs(file_sha256, keep_version=GRAPH_VERSION)
            built = _build(gguf, graph, tokenize) if fresh else True
            backend = _checked(graph, n_embd, threads, probes, expected, bar) if built else None
            if backend is None and not fresh:  # a damaged cache: build it once more
                logger.warning("the cached ONNX graph %s does not work; building it again",
                               graph)
                backend = (_checked(graph, n_embd, threads, probes, expected, bar)
                           if _build(gguf, graph, tokenize) else None)
            if backend is None:
                write_bytes_atomic(refused, f"the {kind} ONNX graph of {gguf} failed the check "
                                   "against llama.cpp's vectors\n".encode())
                graph.unlink(missing_ok=True)
    except UnsupportedModelError as exc:
        logger.debug("llama.cpp only: %s", exc)
        return None
    except (OSError, BackendError, TimeoutError) as exc:
        logger.warning("ONNX Runtime engine unavailable, using llama.cpp only: %s", exc)
        return None
    return backend


def graph_key(gguf: Path, info: ModelFileInfo) -> str:
    """What names a GGUF's graphs in the cache.

    The digest our converter sealed into it; for a GGUF made elsewhere, its place, size and time.
    """
    key = str(info.metadata.get(FILE_DIGEST_KEY, ""))
    if not key:
        st = gguf.stat()
        key = hashlib.sha256(f"{gguf.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()
    return key


def forget_graphs(file_key: str, *, keep_version: int | None = None) -> int:
    """Delete the cached graphs and refusals of the GGUF with this key, but `keep_version`'s.

    Returns the bytes freed; a file that cannot be deleted is left (only space is lost).
    """
    freed = 0
    for path in (cache_dir() / "onnx").glob(f"{file_key[:32]}-v*"):
        if path.name.startswith(f"{file_key[:32]}-v{keep_version}-"):
            continue
        try:
            size = path.stat().st_size
            path.unlink()
            freed += size
        except OSError as exc:
            logger.debug("could not delete the graph %s: %s", path, exc)
    return freed


def _build(gguf: Path, graph: Path, tokenize: Callable[[str], list[int]] | None) -> bool:
    """Build the graph; False (logged) when this file's graph cannot be built."""
    from jina_edge.convert.onnx_graph import write_onnx_from_gguf

    logger.info("building the %s ONNX Runtime graph of %s (once)",
                "float32" if tokenize is None else "int8", gguf)
    calibration = [tokenize(t) for t in CALIBRATION] if tokenize is not None else []
    try:
        write_onnx_from_gguf(gguf, graph, int8=tokenize is not None, calibration=calibration)
    except BackendError as exc:
        logger.warning("could not build the ONNX graph of %s: %s", gguf, exc)
        return False
    return True


def _checked(graph: Path, n_embd: int, threads: int, probes: Sequence[Sequence[int]],
             expected: Sequence[np.ndarray], bar: float) -> OnnxBackend | None:
    try:
        backend = OnnxBackend(graph, n_embd, threads)
        states = backend.token_states(probes)
    except (BackendError, ValueError, RuntimeError) as exc:
        logger.debug("the ONNX graph %s does not run: %s", graph, exc)
        return None
    cosines = [_cosine(a.mean(axis=0), b.mean(axis=0)) for a, b in zip(states, expected,
                                                                          strict=True)]
    if min(cosines) < bar:
        logger.warning("ONNX graph %s disagrees with llama.cpp (cosine %.5f); not using it",
                       graph, min(cosines))
        return None
    return backend


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))
