"""Quantization through llama.cpp's own quantizer (fast, exact upstream formats)."""

from __future__ import annotations

import os
from pathlib import Path

from gguf import LlamaFileType

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


def quantize_file(source: Path, target: Path, output_type: str, *, threads: int = 0) -> None:
    """Quantize an f32 GGUF into `target` with llama.cpp's quantizer.

    Raises:
        ConversionError: when llama.cpp reports a failure.
    """
    from jina_edge.engines.llama_cpp import quantize_model

    status = quantize_model(source, target, int(OUTPUT_TYPES[check_output_type(output_type)]),
                            threads=threads or (os.cpu_count() or 1))
    if status != 0:
        raise ConversionError(
            f"llama.cpp could not quantize {source} to {output_type} (status {status}); "
            "check free disk space, or choose another --type"
        )
