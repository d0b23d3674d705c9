"""Hugging Face checkpoint -> GGUF converter, with verification against a numpy reference."""

from __future__ import annotations

from jina_edge.convert.architectures import supported_architectures
from jina_edge.convert.converter import ConversionReport, convert_checkpoint
from jina_edge.convert.quantize import OUTPUT_TYPES
from jina_edge.convert.verify import Verification, verify_model

__all__ = [
    "OUTPUT_TYPES",
    "ConversionReport",
    "Verification",
    "convert_checkpoint",
    "supported_architectures",
    "verify_model",
]
