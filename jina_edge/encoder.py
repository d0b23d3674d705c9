"""The encoder embedders and rerankers share: load a GGUF, tokenize, cut into windows, run.

`Encoder` is the only place a model is loaded (`jina_edge.engines` picks the
engine); `Embedder` pools its token states into vectors, `Reranker` scores
them with a classifier head.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

import numpy as np

from jina_edge.config import MAX_THREADS, MIN_MAX_TOKENS, get
from jina_edge.engines import (
    DEVICES,
    ENGINE_NAMES,
    Device,
    EngineName,
    Engines,
    TokenizingEngine,
    llama_cpp_installed,
    open_engines,
    plan_runs,
)
from jina_edge.errors import InvalidModelFileError
from jina_edge.models.installed import resolve_model
from jina_edge.models.modelfile import ModelFileInfo, read_model_file
from jina_edge.models.tokenizer_json import ModelTokenizer, probe_once

if TYPE_CHECKING:
    from jina_edge.engines.llama_cpp import LlamaCppTokenizer

logger = logging.getLogger(__name__)

LongInputPolicy: TypeAlias = Literal["truncate", "error", "chunk"]
LONG_INPUT_POLICIES: tuple[LongInputPolicy, ...] = ("truncate", "error", "chunk")
# Overlap between consecutive windows under the "chunk" policy, in tokens.
CHUNK_OVERLAP_TOKENS = 64

EncoderT = TypeVar("EncoderT", bound="Encoder")


class Encoder:
    """A loaded model: its file, tokenizer and engine, run on windows of token ids.

    Args:
        model: an installed model name, a path to a GGUF file, or None for the
            default one (`default_model` says which).
        max_tokens: the longest sequence to run, in tokens (default: the model's
            window); lower it to cap memory on small machines.
        long_input: what to do with longer input: "truncate", "error" or "chunk".
        device: "auto" (GPU when llama.cpp, the `llama` extra, is installed with
            one), "cpu" or "gpu".
        threads: CPU threads (default: the physical cores).
        flash_attention: exact and far lighter on memory for long inputs.
        engine: on the CPU, "auto" (ONNX Runtime when its graph gives the
            numpy reference's vectors of the file, else llama.cpp where
            installed), "llama.cpp" or "onnxruntime" (an error when it cannot
            run the model).
        backend: an object implementing `jina_edge.engines.TokenizingEngine`, for tests.

    One Encoder may be used from several threads; decodes run one at a time.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        max_tokens: int | None = None,
        long_input: LongInputPolicy = "truncate",
        device: Device = "auto",
        threads: int | None = None,
        flash_attention: bool = True,
        engine: EngineName = "auto",
        backend: TokenizingEngine | None = None,
    ) -> None:
        if long_input not in LONG_INPUT_POLICIES:
            raise ValueError(f"long_input must be one of {LONG_INPUT_POLICIES}, not {long_input!r}")
        if device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, not {device!r}")
        if engine not in ENGINE_NAMES:
            raise ValueError(f"engine must be one of {ENGINE_NAMES}, not {engine!r}")
        self.long_input: LongInputPolicy = long_input
        self.info: ModelFileInfo | None = None
        self.pooling = "mean"
        # The original's tokenizer, from the tokenizer.json in the GGUF; None:
        # llama.cpp's own (a GGUF made elsewhere, or a test backend).
        self._tokenizer: ModelTokenizer | None = None
        self._llama_tokenizer: LlamaCppTokenizer | None = None  # made on first use
        if backend is None:
            self.model_path: Path | None = resolve_model(
                self.default_model() if model is None else model)
            self.info = read_model_file(self.model_path)
            self._check_model(self.info)
            self.pooling = self.info.pooling
            self._tokenizer = _hf_tokenizer(self.info)
            window = self.info.context_length
            if max_tokens is not None:
                if max_tokens < MIN_MAX_TOKENS:
                    raise ValueError(f"max_tokens must be at least {MIN_MAX_TOKENS}, "
                                     f"not {max_tokens}")
                window = min(window, max_tokens)
            if threads is not None and not 1 <= threads <= MAX_THREADS:
                raise ValueError(f"threads must be between 1 and {MAX_THREADS}, not {threads}")
            tokenizer = self._tokenizer
            self._engines = open_engines(
                self.model_path, self.info, window=window, threads=threads or physical_cores(),
                device=device, engine=engine, flash_attention=flash_attention,
                tokenize=None if tokenizer is None else lambda t: list(tokenizer.encode(t).ids))
        else:
            self.model_path = None
            self._engines = Engines(backend, backend, "llama.cpp", "cpu", backend.n_embd,
                                    backend.max_tokens)
        self.device = self._engines.device
        self.engine: EngineName = self._engines.name
        self.dim = self._engines.n_embd
        self.max_tokens = self._engines.max_tokens

    @classmethod
    def from_config(cls: type[EncoderT], model: str | os.PathLike[str] | None = None, *,
                    threads: int | None = None, max_tokens: int | None = None,
                    device: Device | None = None, engine: EngineName | None = None,
                    long_input: LongInputPolicy = "truncate") -> EncoderT:
        """One with threads, device, engine and max_tokens from the settings.

        Each resolves as argument > JINA_EDGE_* > config file > default; the
        CLI, the server and the GUI all load models this way.
        """
        settings: dict[str, Any] = {
            name: get(name, value) for name, value in
            (("threads", threads), ("max_tokens", max_tokens), ("device", device),
             ("engine", engine))
        }
        return cls(model, long_input=long_input, **settings)

    def default_model(self) -> str | None:
        """The model loaded when none is named (None: the default embedding model)."""
        return None

    def _check_model(self, info: ModelFileInfo) -> None:
        """Refuse a model file of the wrong kind for this class."""

    # -- tokens ---------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text` including [CLS] and [SEP] (or <s> and </s>).

        They come from the model's original Hugging Face tokenizer when the
        GGUF carries it (every file jina-edge converts), else from llama.cpp's.
        """
        text = check_text(text)
        if self._tokenizer is None:
            assert self._engines.llama is not None  # open_engines loads it for such a file
            return self._engines.llama.tokenize(text)
        return list(self._tokenizer.encode(text).ids)

    def llama_tokenize(self, text: str) -> list[int] | None:
        """Token ids from llama.cpp's own tokenizer, as plain llama.cpp users get them.

        None when llama.cpp (the `llama` extra) is not installed.
        """
        text = check_text(text)
        if self._engines.llama is not None:
            return self._engines.llama.tokenize(text)
        if self.model_path is None or not llama_cpp_installed():
            return None
        if self._llama_tokenizer is None:
            from jina_edge.engines.llama_cpp import LlamaCppTokenizer

            self._llama_tokenizer = LlamaCppTokenizer(self.model_path)
        return self._llama_tokenizer.tokenize(text)

    def count_tokens(self, text: str) -> int:
        """How many tokens `text` takes, [CLS] and [SEP] included."""
        return len(self.tokenize(text))

    # -- running --------------------------------------------------------------

    def token_states(self, windows: Sequence[Sequence[int]]) -> Iterator[tuple[int, np.ndarray]]:
        """(index, token states) of every window, in runs the engine takes."""
        runner = self._engines.runner
        lists = [list(w) for w in windows]
        for run in plan_runs([len(w) for w in lists], runner.limits):
            yield from zip(run, runner.token_states([lists[i] for i in run]), strict=True)

    def pool_windows(self, windows: Sequence[Sequence[int]]) -> np.ndarray:
        """Pooled (unnormalised) state of every window, in order, as the GGUF pools."""
        out = np.zeros((len(windows), self.dim), np.float32)
        for i, states in self.token_states(windows):
            if self.pooling == "cls":
                out[i] = np.asarray(states[0], np.float32)
            else:
                out[i] = np.asarray(states.mean(axis=0, dtype=np.float64), np.float32)
        return out

    # -- lifetime -------------------------------------------------------------

    def close(self) -> None:
        """Free the native model."""
        self._engines.close()
        if self._llama_tokenizer is not None:
            self._llama_tokenizer.close()

    def __enter__(self: EncoderT) -> EncoderT:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def window_starts(length: int, room: int) -> list[int]:
    """Where each window of `room` tokens starts over a body of `length`, overlapping.

    The overlap is CHUNK_OVERLAP_TOKENS, at most a quarter of the window; the
    last window reaches the end.
    """
    step = room - min(CHUNK_OVERLAP_TOKENS, room // 4)
    starts = []
    for start in range(0, max(length, 1), step):
        starts.append(start)
        if start + room >= length:
            break
    return starts


def physical_cores() -> int:
    """Physical CPU cores (hyper-threads make llama.cpp slower, not faster)."""
    try:
        import psutil

        cores = psutil.cpu_count(logical=False)
    except ImportError:  # pragma: no cover - psutil is a dependency
        cores = None
    return int(cores or os.cpu_count() or 1)


def _hf_tokenizer(info: ModelFileInfo) -> ModelTokenizer | None:
    """The Hugging Face tokenizer a GGUF carries, checked, then probed once in a child.

    Raises:
        InvalidModelFileError: when it is unbounded, unreadable or names ids the
            model has no embedding rows for.
    """
    if info.tokenizer_json is None:
        return None
    try:
        tokenizer = ModelTokenizer(info.tokenizer_json, info.n_vocab)
        probe_once(info.tokenizer_json, info.n_vocab)
        return tokenizer
    except ValueError as exc:
        raise InvalidModelFileError(f"{info.path}: its tokenizer.json {exc}; it is damaged, "
                                    "edited or made elsewhere. Convert it again") from exc


def check_text(text: object) -> str:
    """`text` as a str both tokenizers take; TypeError for anything else."""
    if isinstance(text, bytes):
        raise TypeError(
            "texts must be str, not bytes; decode them first, e.g. "
            "data.decode('utf-8', errors='replace')"
        )
    if not isinstance(text, str):
        raise TypeError(f"texts must be str, not {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (from errors="surrogateescape") are not text either
        # tokenizer takes; each becomes "?", so character offsets stay put.
        return text.encode("utf-8", "replace").decode("utf-8")
    return text
