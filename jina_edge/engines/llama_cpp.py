"""The one module that talks to llama.cpp (through llama-cpp-python's C bindings).

It owns the native model and context, runs one decode at a time and hands back
per-token hidden states as numpy arrays; pooling and long-input handling live
in `jina_edge.embedder`, which groups sequences with `batching.plan_runs`.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from jina_edge.engines.batching import RunLimits
from jina_edge.errors import BackendError, InvalidModelFileError

logger = logging.getLogger(__name__)
native_logger = logging.getLogger("jina_edge.llama_cpp")

# llama.cpp's CPU backend runs its threads under OpenMP, whose default is to
# spin while waiting; on a machine that is busy with other work the spinning
# threads steal the cores the working ones need. Passive waiting is faster on a
# busy machine and no slower on an idle one (measured: see docs/performance.md,
# "What each llama.cpp lever gave"). libgomp reads this when llama.cpp's
# libraries load, so it must be set before the first `import llama_cpp`; a
# value the user set is kept.
OMP_WAIT_POLICY = "PASSIVE"
# Most tokens packed into one decode. Packing many sequences makes llama.cpp
# attend over the whole micro-batch under a mask, so cost grows with the
# square of the packed length, and this many was fastest on the CPU (measured:
# see docs/performance.md, "What each llama.cpp lever gave").
PACK_TOKENS = 512
MAX_PACKED_SEQUENCES = 64

_init_lock = threading.Lock()
_initialised = False
_log_callback: Any = None  # kept alive for as long as llama.cpp may call it


@dataclass(frozen=True)
class LlamaCppSettings:
    """llama.cpp settings the embedder chose.

    Attributes:
        max_tokens: longest sequence, in tokens; llama.cpp's micro-batch.
        batch_tokens: most tokens in one decode (sum over its sequences).
        max_sequences: most sequences in one decode.
        threads: CPU threads for a decode.
        gpu: offload every layer to the GPU backend llama.cpp was built with.
        flash_attention: use flash attention (exact, far less memory).
    """

    max_tokens: int
    batch_tokens: int
    max_sequences: int
    threads: int
    gpu: bool = False
    flash_attention: bool = True


def gpu_available() -> bool:
    """True when llama.cpp was built with a GPU backend (Metal, CUDA, Vulkan ...)."""
    llama_cpp = _llama()
    return bool(llama_cpp.llama_supports_gpu_offload())


def quantize_model(source: os.PathLike[str], target: os.PathLike[str], ftype: int, *,
                   threads: int) -> int:
    """Run llama.cpp's quantizer (`ftype` is a llama_ftype); returns its status, 0 = success."""
    llama_cpp = _llama()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    return int(llama_cpp.llama_model_quantize(os.fsencode(source), os.fsencode(target),
                                              ctypes.byref(params)))


def _llama() -> Any:
    """Import llama_cpp, initialise its backend once and route its log to `logging`."""
    global _initialised, _log_callback
    os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)
    import llama_cpp

    with _init_lock:
        if not _initialised:

            @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
            def forward(level: int, text: bytes, user_data: Any) -> None:
                # llama.cpp is chatty at load time; keep it at DEBUG unless it errors.
                message = text.decode("utf-8", "replace").rstrip()
                if message:
                    native_logger.log(logging.ERROR if level == 4 else logging.DEBUG, message)

            _log_callback = forward
            llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))
            llama_cpp.llama_backend_init()
            _initialised = True
    return llama_cpp


def uses_amx(llama_cpp: Any) -> bool:
    """Whether this build of llama.cpp hands a model's weights to AMX kernels on this CPU.

    Those kernels crash on the first decode (llama.cpp issue 20824, seen on a
    Sapphire-Rapids-class Xeon), so models load without them.
    """
    return b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info()


def _tokenize(llama_cpp: Any, vocab: Any, text: str) -> list[int]:
    """llama.cpp's token ids of `text`, with its special tokens around them."""
    data = text.encode("utf-8", "replace")
    capacity = len(data) + 8
    while True:
        buffer = (llama_cpp.llama_token * capacity)()
        n = llama_cpp.llama_tokenize(vocab, data, len(data), buffer, capacity, True, False)
        if n >= 0:
            return list(buffer[:n])
        capacity = -n


class LlamaCppTokenizer:
    """llama.cpp's own tokenizer of a GGUF: its vocabulary loaded, not its weights."""

    def __init__(self, model_path: str | os.PathLike[str]) -> None:
        llama_cpp = _llama()
        self._llama_cpp = llama_cpp
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        self._model = llama_cpp.llama_model_load_from_file(os.fsencode(model_path), params)
        if not self._model:
            raise InvalidModelFileError(f"llama.cpp could not read the vocabulary of {model_path}")
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self._lock = threading.Lock()

    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text` with [CLS]/[SEP], as plain llama.cpp makes them."""
        with self._lock:
            if self._model is None:
                raise BackendError("this tokenizer was closed")
            return _tokenize(self._llama_cpp, self._vocab, text)

    def close(self) -> None:
        """Free the vocabulary."""
        with self._lock:
            if self._model is not None:
                self._llama_cpp.llama_model_free(self._model)
                self._model = None


class LlamaCppEngine:
    """A GGUF embedding model loaded into llama.cpp with one context.

    Safe to share between threads: decodes are serialised by a lock.
    """

    def __init__(self, model_path: str | os.PathLike[str], settings: LlamaCppSettings) -> None:
        llama_cpp = _llama()
        self._llama_cpp = llama_cpp
        self._lock = threading.Lock()
        self._model: Any = None
        self._ctx: Any = None
        self._batch: Any = None
        model_params = llama_cpp.llama_model_default_params()
        model_params.n_gpu_layers = -1 if settings.gpu else 0
        model_params.use_extra_bufts = not uses_amx(llama_cpp)
        model = llama_cpp.llama_model_load_from_file(os.fsencode(model_path), model_params)
        if not model:
            raise InvalidModelFileError(
                f"llama.cpp could not load {model_path}; convert it again with "
                "`jina-edge convert` (run with --verbose to see llama.cpp's reason)"
            )
        self._model = model
        self._vocab = llama_cpp.llama_model_get_vocab(model)
        self.n_embd = int(llama_cpp.llama_model_n_embd(model))
        self.max_tokens = settings.max_tokens
        self.max_batch_tokens = max(settings.batch_tokens, settings.max_tokens)
        self.max_sequences = settings.max_sequences
        self.limits = RunLimits(tokens=min(PACK_TOKENS, self.max_batch_tokens),
                                sequences=self.max_sequences)

        params = llama_cpp.llama_context_default_params()
        # An encoder keeps no KV cache: every sequence must fit one micro-batch
        # and the context must hold the whole decode (measured: docs/performance.md,
        # "What each llama.cpp lever gave").
        params.n_ctx = self.max_batch_tokens
        params.n_batch = self.max_batch_tokens
        params.n_ubatch = self.max_batch_tokens
        params.n_seq_max = self.max_sequences
        params.kv_unified = True
        params.n_threads = settings.threads
        params.n_threads_batch = settings.threads
        params.embeddings = True
        # Per-token states out; pooling is done in numpy so that pooled vectors,
        # chunk vectors and late chunking all come from one code path.
        params.pooling_type = llama_cpp.LLAMA_POOLING_TYPE_NONE
        params.attention_type = llama_cpp.LLAMA_ATTENTION_TYPE_NON_CAUSAL
        params.flash_attn_type = (
            llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
            if settings.flash_attention
            else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        params.no_perf = True
        ctx = llama_cpp.llama_init_from_model(model, params)
        if not ctx:
            self.close()
            raise BackendError(
                f"llama.cpp could not create a context of {self.max_batch_tokens} tokens for "
                f"{model_path}; lower max_tokens or free some memory"
            )
        self._ctx = ctx
        self._batch = llama_cpp.llama_batch_init(self.max_batch_tokens, 0, 1)

    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text` with [CLS]/[SEP]; special-token text is not parsed."""
        with self._lock:
            self._check_open()
            return _tokenize(self._llama_cpp, self._vocab, text)

    def token_states(self, sequences: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Run one decode over `sequences` and return each one's final hidden states.

        Raises:
            BackendError: when the sequences exceed the context or llama.cpp fails.
        """
        total = sum(len(s) for s in sequences)
        if not sequences or total == 0:
            return [np.zeros((0, self.n_embd), np.float32) for _ in sequences]
        if len(sequences) > self.max_sequences or total > self.max_batch_tokens:
            raise BackendError(
                f"{len(sequences)} sequences / {total} tokens exceed this context "
                f"({self.max_sequences} / {self.max_batch_tokens})"
            )
        longest = max(len(s) for s in sequences)
        if longest > self.max_tokens:
            raise BackendError(f"a sequence of {longest} tokens exceeds {self.max_tokens}")
        llama_cpp = self._llama_cpp
        with self._lock:
            self._check_open()
            batch = self._batch
            i = 0
            for seq_id, seq in enumerate(sequences):
                for pos, token in enumerate(seq):
                    batch.token[i] = token
                    batch.pos[i] = pos
                    batch.n_seq_id[i] = 1
                    batch.seq_id[i][0] = seq_id
                    batch.logits[i] = 1
                    i += 1
            batch.n_tokens = total
            memory = llama_cpp.llama_get_memory(self._ctx)
            if memory:
                llama_cpp.llama_memory_clear(memory, True)
            status = llama_cpp.llama_decode(self._ctx, batch)
            if status != 0:
                raise BackendError(f"llama_decode failed with status {status} on {total} tokens")
            states = self._read_outputs(total)
        out = []
        start = 0
        for seq in sequences:
            out.append(states[start : start + len(seq)])
            start += len(seq)
        return out

    def _read_outputs(self, total: int) -> np.ndarray:
        llama_cpp = self._llama_cpp
        first = llama_cpp.llama_get_embeddings_ith(self._ctx, 0)
        last = llama_cpp.llama_get_embeddings_ith(self._ctx, total - 1)
        if not first or not last:
            raise BackendError("llama.cpp returned no token embeddings")
        step = self.n_embd * ctypes.sizeof(ctypes.c_float)
        first_addr = ctypes.cast(first, ctypes.c_void_p).value or 0
        last_addr = ctypes.cast(last, ctypes.c_void_p).value or 0
        if last_addr - first_addr == (total - 1) * step:
            # Outputs are stored in batch order: copy them in one go.
            return np.array(np.ctypeslib.as_array(first, shape=(total, self.n_embd)), np.float32)
        rows = np.empty((total, self.n_embd), np.float32)
        for j in range(total):
            ptr = llama_cpp.llama_get_embeddings_ith(self._ctx, j)
            rows[j] = np.ctypeslib.as_array(ptr, shape=(self.n_embd,))
        return rows

    def _check_open(self) -> None:
        if self._ctx is None:
            raise BackendError("this model was closed; create a new Embedder")

    def close(self) -> None:
        """Free the context and the model; safe to call twice."""
        llama_cpp = self._llama_cpp
        with self._lock:
            if self._batch is not None:
                llama_cpp.llama_batch_free(self._batch)
                self._batch = None
            if self._ctx is not None:
                llama_cpp.llama_free(self._ctx)
                self._ctx = None
            if self._model is not None:
                llama_cpp.llama_model_free(self._model)
                self._model = None

    def __del__(self) -> None:
        # At interpreter shutdown the native library, and even modules, may be gone.
        try:  # noqa: SIM105 - contextlib itself may be gone
            self.close()
        except Exception:  # noqa: BLE001
            pass
