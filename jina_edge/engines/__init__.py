"""Inference engines: what runs a GGUF's weights, and the one place an engine is chosen.

Each engine turns token sequences into per-token hidden states (`Engine`);
pooling, windows and long-input policies are the embedder's. llama.cpp
(llama_cpp.py) loads every model, tokenizes with llama.cpp's own tokenizer and
runs on the GPU; ONNX Runtime (onnx_runtime.py) runs a graph built from the
same GGUF (onnx_graph.py) on the CPU, in int8 where this CPU's kernels are
exact (cpu.py). `open_engines` picks from the model file, the device and the CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, TypeAlias

import numpy as np

from jina_edge.engines.batching import RunLimits, plan_runs
from jina_edge.errors import BackendError, JinaEdgeError

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
        runner: the engine that embeds (`llama` itself, or ONNX Runtime).
        llama: the model in llama.cpp: its own tokenizer, and the vectors
            another engine is checked against.
        name: the runner's name, "llama.cpp" or "onnxruntime".
        device: "cpu" or "gpu".
    """

    runner: Engine
    llama: TokenizingEngine
    name: EngineName
    device: Literal["cpu", "gpu"]

    def close(self) -> None:
        """Close both engines."""
        if self.runner is not self.llama:
            self.runner.close()
        self.llama.close()


def open_engines(path: Path, info: ModelFileInfo, *, window: int, threads: int,
                 device: Device, engine: EngineName, flash_attention: bool,
                 tokenize: Callable[[str], list[int]] | None) -> Engines:
    """Load a GGUF into the engine that suits it, this device and this CPU.

    llama.cpp always loads it (GPU offload, its tokenizer, the reference
    vectors). On the CPU, unless `engine` is "llama.cpp", ONNX Runtime runs
    it when its graph gives llama.cpp's vectors on the probe texts; a
    quantized file gets the int8 graph where this CPU's int8 kernel is exact.
    `tokenize`: the model's own tokenizer (None: llama.cpp's).

    Raises:
        BackendError: when `engine` is "onnxruntime" and ONNX Runtime cannot run the model.
        JinaEdgeError: when `device` is "gpu" and llama.cpp has no GPU backend.
    """
    from jina_edge.engines import onnx_runtime
    from jina_edge.engines.llama_cpp import (
        MAX_PACKED_SEQUENCES,
        PACK_TOKENS,
        LlamaCppEngine,
        LlamaCppSettings,
    )
    from jina_edge.models.derived import file_key

    gpu = _use_gpu(device)
    llama = LlamaCppEngine(path, LlamaCppSettings(
        max_tokens=window, batch_tokens=max(PACK_TOKENS, window),
        max_sequences=MAX_PACKED_SEQUENCES, threads=threads, gpu=gpu,
        flash_attention=flash_attention))
    engines = Engines(llama, llama, "llama.cpp", "gpu" if gpu else "cpu")
    if engine == "llama.cpp" or gpu:
        return engines
    own = tokenize or llama.tokenize
    probes = [own(t)[:window] for t in onnx_runtime.PROBES]
    try:
        expected = llama.token_states(probes)
        fast = onnx_runtime.open_for(
            path, file_key(path, info), llama.n_embd, threads, probes, expected,
            quantized=info.file_type not in FLOAT_FILE_TYPES,
            tokenize=lambda text: own(text)[:window])
    except BaseException:
        llama.close()
        raise
    if fast is not None:
        return Engines(fast, llama, "onnxruntime", "cpu")
    if engine == "onnxruntime":
        llama.close()
        raise BackendError(f"ONNX Runtime cannot run {path} (see the log); "
                           "use engine='llama.cpp' or 'auto'")
    return engines


def _use_gpu(device: Device) -> bool:
    if device == "cpu":
        return False
    from jina_edge.engines.llama_cpp import gpu_available

    available = gpu_available()
    if device == "gpu" and not available:
        raise JinaEdgeError(
            "device='gpu' but this llama-cpp-python was built without a GPU backend; "
            "reinstall it with CMAKE_ARGS='-DGGML_METAL=on' (Apple) or "
            "'-DGGML_CUDA=on', or use device='cpu'"
        )
    return available

