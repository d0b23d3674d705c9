"""Inference engines: what runs a GGUF's weights, and the one place an engine is chosen.

Each engine turns token sequences into per-token hidden states (`Engine`);
pooling, windows and long-input policies are the embedder's. ONNX Runtime
(onnx_runtime.py) runs a graph built from the GGUF (onnx_graph.py) on the CPU,
in int8 where this CPU's kernels are exact (cpu.py): the default, installed
with jina-edge. llama.cpp (llama_cpp.py, the `llama` extra) runs the GGUF
itself, on a GPU or Metal too, and tokenizes files made elsewhere that carry
no tokenizer.json. `open_engines` picks from the model file, the device and
what is installed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, TypeAlias

import numpy as np

from jina_edge.engines.batching import RunLimits, plan_runs
from jina_edge.errors import BackendError, MissingDependencyError

if TYPE_CHECKING:
    from jina_edge.models.modelfile import ModelFileInfo

EngineName: TypeAlias = Literal["auto", "llama.cpp", "onnxruntime"]
ENGINE_NAMES: tuple[EngineName, ...] = ("auto", "llama.cpp", "onnxruntime")
Device: TypeAlias = Literal["auto", "cpu", "gpu"]
DEVICES: tuple[Device, ...] = ("auto", "cpu", "gpu")
# GGUF types whose weights are not quantized: ONNX Runtime runs them in float32,
# the others in int8; "unknown" (a file made elsewhere) as float.
FLOAT_FILE_TYPES = ("f32", "f16", "bf16", "unknown")

__all__ = ["DEVICES", "ENGINE_NAMES", "Device", "Engine", "EngineName", "Engines", "RunLimits",
           "TokenizingEngine", "open_engines", "plan_runs"]


class Engine(Protocol):
    """What the embedder needs from an inference engine."""

    n_embd: int
    limits: RunLimits

    def token_states(self, sequences: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Final hidden states, one (n_tokens, n_embd) float32 array per sequence."""
        ...

    def close(self) -> None:
        """Free native memory."""
        ...


class TokenizingEngine(Engine, Protocol):
    """An engine that loads the model itself: llama.cpp, or a test's fake of it."""

    max_tokens: int

    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text`, with [CLS] and [SEP]."""
        ...


@dataclass
class Engines:
    """The engines of one loaded model.

    Attributes:
        runner: the engine that embeds (ONNX Runtime, or `llama`).
        llama: the model in llama.cpp, where it is loaded: its own tokenizer.
        name: the runner's name, "llama.cpp" or "onnxruntime".
        device: "cpu" or "gpu".
        n_embd: width of the token states.
        max_tokens: the longest sequence the runner takes.
    """

    runner: Engine
    llama: TokenizingEngine | None
    name: EngineName
    device: Literal["cpu", "gpu"]
    n_embd: int
    max_tokens: int

    def close(self) -> None:
        """Close both engines."""
        if self.runner is not self.llama:
            self.runner.close()
        if self.llama is not None:
            self.llama.close()


LLAMA_EXTRA = "pip install 'jina-edge[llama]'"


def llama_cpp_installed() -> bool:
    """Whether the llama.cpp engine (llama-cpp-python, the `llama` extra) can be loaded."""
    return importlib.util.find_spec("llama_cpp") is not None


def open_engines(path: Path, info: ModelFileInfo, *, window: int, threads: int,
                 device: Device, engine: EngineName, flash_attention: bool,
                 tokenize: Callable[[str], list[int]] | None) -> Engines:
    """Load a GGUF into the engine that suits it, this device and what is installed.

    On the CPU, unless `engine` is "llama.cpp", ONNX Runtime runs it when its
    graph gives the numpy reference's vectors of the same file on the probe
    texts (checked once per graph); a quantized file gets the int8 graph where
    this CPU's int8 kernel is exact. llama.cpp runs it on a GPU, when asked
    for, or when the graph cannot be used. `tokenize`: the model's own
    tokenizer (None: the file has none, and llama.cpp's is needed).

    Raises:
        BackendError: when `engine` is "onnxruntime" and ONNX Runtime cannot run
            the model, or llama.cpp is needed and not installed.
        MissingDependencyError, BackendError: when `device` is "gpu" and no llama.cpp
            with a GPU backend is there.
    """
    gpu = _use_gpu(device)
    if engine == "llama.cpp" or gpu or tokenize is None:
        return _open_llama(path, info, window=window, threads=threads, gpu=gpu,
                           flash_attention=flash_attention, why=_why_llama(engine, gpu))
    from jina_edge.engines import onnx_runtime
    from jina_edge.models.derived import file_key

    probes = [tokenize(t)[:window] for t in onnx_runtime.PROBES]
    fast = onnx_runtime.open_for(
        path, file_key(path, info), info.embedding_length, threads, probes,
        lambda: _reference_states(path, probes),
        quantized=info.file_type not in FLOAT_FILE_TYPES,
        tokenize=lambda text: tokenize(text)[:window])
    if fast is not None:
        return Engines(fast, None, "onnxruntime", "cpu", info.embedding_length, window)
    if engine == "onnxruntime" or not llama_cpp_installed():
        extra = "" if llama_cpp_installed() else f" (the llama.cpp engine: {LLAMA_EXTRA})"
        raise BackendError(f"ONNX Runtime cannot run {path} (see the log); "
                           f"use engine='llama.cpp'{extra}")
    return _open_llama(path, info, window=window, threads=threads, gpu=False,
                       flash_attention=flash_attention, why="")


def _why_llama(engine: EngineName, gpu: bool) -> str:
    if gpu:
        return "the GPU"
    if engine == "llama.cpp":
        return "engine='llama.cpp'"
    return "a model file without tokenizer.json"


def _open_llama(path: Path, info: ModelFileInfo, *, window: int, threads: int, gpu: bool,
                flash_attention: bool, why: str) -> Engines:
    if not llama_cpp_installed():
        raise BackendError(f"{why} needs the llama.cpp engine, which is not installed: "
                           f"{LLAMA_EXTRA}")
    from jina_edge.engines.llama_cpp import (
        MAX_PACKED_SEQUENCES,
        PACK_TOKENS,
        LlamaCppEngine,
        LlamaCppSettings,
    )

    llama = LlamaCppEngine(path, LlamaCppSettings(
        max_tokens=window, batch_tokens=max(PACK_TOKENS, window),
        max_sequences=MAX_PACKED_SEQUENCES, threads=threads, gpu=gpu,
        flash_attention=flash_attention))
    return Engines(llama, llama, "llama.cpp", "gpu" if gpu else "cpu", llama.n_embd,
                   llama.max_tokens)


def _reference_states(path: Path, probes: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """The numpy reference's token states of the probes, from the GGUF's own weights."""
    from jina_edge.convert.reference import ReferenceModel

    try:
        reference = ReferenceModel.from_gguf(path)
    except ValueError as exc:
        raise BackendError(f"no reference to check the ONNX graph against: {exc}") from exc
    return [reference.token_states(ids) for ids in probes]


def _use_gpu(device: Device) -> bool:
    if device == "cpu" or (device == "auto" and not llama_cpp_installed()):
        return False
    if not llama_cpp_installed():
        raise MissingDependencyError(f"device='gpu' needs the llama.cpp engine: {LLAMA_EXTRA} "
                            "(built for your GPU), or use device='cpu'")
    from jina_edge.engines.llama_cpp import gpu_available

    available = gpu_available()
    if device == "gpu" and not available:
        raise BackendError(
            "device='gpu' but this llama-cpp-python was built without a GPU backend; "
            "reinstall it with CMAKE_ARGS='-DGGML_METAL=on' (Apple) or "
            "'-DGGML_CUDA=on', or use device='cpu'"
        )
    return available

