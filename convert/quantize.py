"""Output types: written by gguf-py as the tensors are written, or by llama.cpp's quantizer.

gguf-py writes f32, f16, bf16 and q8_0 itself, byte for byte as llama.cpp's
quantizer does (tests/convert/test_quantize.py compares them). The others need
llama.cpp (the `llama` extra): the k-quants, and q4_0, whose token embedding
llama.cpp stores as q6_k, which gguf-py cannot write.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, LlamaFileType
from gguf.quants import quantize

from jina_edge.engines import LLAMA_EXTRA, llama_cpp_installed
from jina_edge.errors import ConversionError

# Output types offered to users, by the names llama.cpp's tools use.
OUTPUT_TYPES: dict[str, LlamaFileType] = {
    "f32": LlamaFileType.ALL_F32,
    "f16": LlamaFileType.MOSTLY_F16,
    "bf16": LlamaFileType.MOSTLY_BF16,
    "q8_0": LlamaFileType.MOSTLY_Q8_0,
    "q6_k": LlamaFileType.MOSTLY_Q6_K,
    "q5_k_m": LlamaFileType.MOSTLY_Q5_K_M,
    "q4_k_m": LlamaFileType.MOSTLY_Q4_K_M,
    "q4_0": LlamaFileType.MOSTLY_Q4_0,
}


# The types gguf-py writes, with the type of each quantized tensor.
WRITTEN_DIRECTLY: dict[str, GGMLQuantizationType] = {
    "f32": GGMLQuantizationType.F32,
    "f16": GGMLQuantizationType.F16,
    "bf16": GGMLQuantizationType.BF16,
    "q8_0": GGMLQuantizationType.Q8_0,
}
# Tensors llama.cpp's quantizer keeps in float32 whatever the type (BERT's
# position and token-type embeddings, besides every norm and 1-D tensor).
_KEPT_F32 = ("position_embd.weight", "token_types.weight")
_BLOCK_ELEMENTS = {GGMLQuantizationType.Q8_0: 32}


def tensor_data(name: str, data: np.ndarray,
                output_type: str) -> tuple[np.ndarray, GGMLQuantizationType]:
    """One tensor as `output_type` stores it, with its GGML type, by llama.cpp's rules.

    Matrices take the type, unless their rows do not divide into its blocks
    (float16 then); vectors, norms and the tensors in _KEPT_F32 stay float32.
    """
    target = WRITTEN_DIRECTLY[output_type]
    if (data.ndim < 2 or data.shape[0] == 1 or name in _KEPT_F32
            or name.endswith("_norm.weight") or target == GGMLQuantizationType.F32):
        return data, GGMLQuantizationType.F32
    if data.shape[-1] % _BLOCK_ELEMENTS.get(target, 1):
        target = GGMLQuantizationType.F16
    return quantize(data, target), target


def check_output_type(name: str) -> str:
    """Normalise an output type name ("Q8_0" -> "q8_0") or refuse it.

    Raises:
        ConversionError: for an unknown type, listing the known ones.
    """
    key = name.strip().lower()
    if key not in OUTPUT_TYPES:
        raise ConversionError(
            f"unknown output type {name!r}; choose one of {', '.join(OUTPUT_TYPES)}"
        )
    return key


def require_quantizer(output_type: str) -> None:
    """Refuse a type that needs llama.cpp's quantizer where it is not installed.

    Raises:
        ConversionError: naming the extra and the types that need none.
    """
    if output_type not in WRITTEN_DIRECTLY and not llama_cpp_installed():
        raise ConversionError(f"--type {output_type} needs llama.cpp's quantizer: {LLAMA_EXTRA}; "
                              f"or choose one of {', '.join(WRITTEN_DIRECTLY)}")


def quantize_file(source: Path, target: Path, output_type: str, *, threads: int = 0) -> None:
    """Quantize an f32 GGUF into `target` with llama.cpp's quantizer.

    Raises:
        ConversionError: when llama.cpp reports a failure or is not installed.
    """
    require_quantizer(output_type)
    from jina_edge.engines.llama_cpp import quantize_model

    status = quantize_model(source, target, int(OUTPUT_TYPES[check_output_type(output_type)]),
                            threads=threads or (os.cpu_count() or 1))
    if status != 0:
        raise ConversionError(
            f"llama.cpp could not quantize {source} to {output_type} (status {status}); "
            "check free disk space, or choose another --type"
        )
