"""Reading and checking a GGUF model file before llama.cpp ever sees it.

llama.cpp aborts the whole process on some malformed files; everything that can
be checked from the header (magic, metadata, tensor extents, architecture) is
checked here first, with gguf-py's reader, and refused with a clear message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf

from jina_edge.errors import InvalidModelFileError, ModelNotFoundError

# Architectures whose GGUF this runtime can run, as llama.cpp names them.
SUPPORTED_ARCHITECTURES = ("jina-bert-v2", "bert")
POOLING_NAMES = {int(gguf.PoolingType.MEAN): "mean", int(gguf.PoolingType.CLS): "cls"}
FILE_TYPE_NAMES = {
    0: "f32", 1: "f16", 2: "q4_0", 3: "q4_1", 7: "q8_0", 8: "q5_0", 9: "q5_1", 10: "q2_k",
    11: "q3_k_s", 12: "q3_k_m", 13: "q3_k_l", 14: "q4_k_s", 15: "q4_k_m", 16: "q5_k_s",
    17: "q5_k_m", 18: "q6_k", 32: "bf16",
}


@dataclass(frozen=True)
class ModelFileInfo:
    """What a GGUF embedding model file says about itself."""

    path: Path
    architecture: str
    name: str
    embedding_length: int
    context_length: int
    block_count: int
    head_count: int
    pooling: str
    file_type: str
    size_bytes: int
    metadata: dict[str, Any] = field(default_factory=dict)


def read_model_file(path: str | os.PathLike[str]) -> ModelFileInfo:
    """Read and check a GGUF file's header without loading its weights.

    Raises:
        ModelNotFoundError: when the file does not exist.
        InvalidModelFileError: when it is not a whole GGUF of a supported
            embedding model.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise ModelNotFoundError(f"no model file at {file}")
    size = file.stat().st_size
    with open(file, "rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        raise InvalidModelFileError(
            f"{file} is not a GGUF file (it starts with {magic!r}); convert a checkpoint "
            "with `jina-edge convert`"
        )
    try:
        reader = gguf.GGUFReader(file)
    except Exception as exc:  # gguf-py raises bare ValueError/IndexError/struct errors
        raise InvalidModelFileError(
            f"{file} is a damaged or truncated GGUF ({type(exc).__name__}: {exc}); "
            "convert or download it again"
        ) from exc
    for tensor in reader.tensors:
        end = int(tensor.data_offset) + int(tensor.n_bytes)
        if end > size:
            raise InvalidModelFileError(
                f"{file} is truncated: tensor {tensor.name} needs {end} bytes, the file has "
                f"{size}. Convert or download it again"
            )
    metadata = _scalar_fields(reader)
    arch = str(metadata.get("general.architecture", ""))
    if arch not in SUPPORTED_ARCHITECTURES:
        raise InvalidModelFileError(
            f"{file} holds a {arch or 'model of unknown architecture'}, not an embedding "
            f"model jina-edge runs (supported: {', '.join(SUPPORTED_ARCHITECTURES)})"
        )

    def need_int(key: str) -> int:
        value = metadata.get(f"{arch}.{key}")
        if not isinstance(value, int) or value <= 0:
            raise InvalidModelFileError(f"{file} lacks a valid {arch}.{key} ({value!r})")
        return value

    embedding_length = need_int("embedding_length")
    head_count = need_int("attention.head_count")
    if embedding_length % head_count:
        raise InvalidModelFileError(
            f"{file}: embedding length {embedding_length} is not a multiple of the "
            f"head count {head_count}"
        )
    pooling_id = metadata.get(f"{arch}.pooling_type", int(gguf.PoolingType.MEAN))
    if pooling_id not in POOLING_NAMES:
        raise InvalidModelFileError(
            f"{file} asks for pooling type {pooling_id}; jina-edge supports mean and CLS"
        )
    if metadata.get("tokenizer.ggml.model") != "bert":
        raise InvalidModelFileError(
            f"{file} has a {metadata.get('tokenizer.ggml.model')!r} tokenizer; jina-edge runs "
            "WordPiece ('bert') vocabularies"
        )
    return ModelFileInfo(
        path=file,
        architecture=arch,
        name=str(metadata.get("general.name", file.stem)),
        embedding_length=embedding_length,
        context_length=need_int("context_length"),
        block_count=need_int("block_count"),
        head_count=head_count,
        pooling=POOLING_NAMES[int(pooling_id)],
        file_type=FILE_TYPE_NAMES.get(int(metadata.get("general.file_type", -1)), "unknown"),
        size_bytes=size,
        metadata=metadata,
    )


def _scalar_fields(reader: gguf.GGUFReader) -> dict[str, Any]:
    """Every non-array metadata field as a Python value."""
    out: dict[str, Any] = {}
    for name, fld in reader.fields.items():
        if not fld.types or fld.types[0] == gguf.GGUFValueType.ARRAY:
            continue
        try:
            value = fld.contents()
        except (UnicodeDecodeError, ValueError, IndexError) as exc:
            raise InvalidModelFileError(f"{reader.data.filename}: field {name} is damaged") from exc
        if hasattr(value, "item"):
            value = value.item()
        out[name] = value
    return out
