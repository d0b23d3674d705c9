"""Reading and checking a GGUF model file before llama.cpp ever sees it.

llama.cpp aborts the whole process on some malformed files (a GGML_ASSERT
cannot be caught); everything that can be checked from the header is checked
here first and refused with the key and value named: sizes before anything is
parsed, then the architecture's keys (only those BERT-family encoders have,
each in range and consistent with the tensor shapes), and a vocabulary of
unique tokens, one per embedding row.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
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
# The converter records the sha256 of the whole file it wrote under this key:
# the key is written with the placeholder, the file hashed, then the placeholder
# overwritten in place by the digest (same length: no offset moves). To check,
# hash the file with the placeholder put back. It covers metadata and tokens
# as well as the weights.
FILE_DIGEST_KEY = "jina_edge.file_sha256"
DIGEST_PLACEHOLDER = "unsealed".ljust(64, "-")
HASH_BLOCK_BYTES = 1 << 20


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
    data_offset: int = 0
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
    _check_header_sizes(file)
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
    _check_consistency(file, reader, metadata, arch, embedding_length, head_count)
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
        data_offset=int(reader.data_offset),
        metadata=metadata,
    )


def _sha256_with_placeholder(path: Path, data_offset: int, value: str) -> str:
    """sha256 of the file with `value` in its header replaced by the placeholder."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        header = f.read(data_offset)
        at = header.find(value.encode())
        if at < 0 or header.find(value.encode(), at + 1) >= 0:
            raise InvalidModelFileError(f"{path}: its {FILE_DIGEST_KEY} is not where it "
                                        "should be; it is damaged. Copy or convert it again")
        digest.update(header[:at] + DIGEST_PLACEHOLDER.encode() + header[at + len(value):])
        while block := f.read(HASH_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def seal_file_digest(path: Path) -> None:
    """Replace the digest placeholder in a GGUF's header by the file's sha256."""
    info = read_model_file(path)
    value = _sha256_with_placeholder(path, info.data_offset, DIGEST_PLACEHOLDER)
    with open(path, "r+b") as f:
        f.seek(f.read(info.data_offset).find(DIGEST_PLACEHOLDER.encode()))
        f.write(value.encode())
        f.flush()
        os.fsync(f.fileno())


def check_file_digest(info: ModelFileInfo) -> None:
    """Refuse a GGUF that differs from what its converter wrote, by one bit anywhere.

    Files made elsewhere carry no digest and pass; a damaged copy of a file
    jina-edge made (a bad download, a failing card) does not.

    Raises:
        InvalidModelFileError: naming the file and what to do.
    """
    expected = info.metadata.get(FILE_DIGEST_KEY)
    if not isinstance(expected, str) or expected == DIGEST_PLACEHOLDER:
        return
    if _sha256_with_placeholder(info.path, info.data_offset, expected) != expected:
        raise InvalidModelFileError(
            f"{info.path} is damaged or was edited: it differs from the file its converter "
            f"wrote ({FILE_DIGEST_KEY}); copy or convert it again")


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


# Sizes beyond anything an embedding model needs; checked before gguf-py parses
# the header (it builds one numpy view per array element: a 5M-element array
# took 50 s and 3.6 GB).
MAX_KV_COUNT = 4096
MAX_TENSOR_COUNT = 65_536
MAX_ARRAY_ITEMS = 1 << 20  # vocabularies are ~30k-250k tokens
MAX_STRING_BYTES = 1 << 20
# llama.cpp's LLAMA_MAX_LAYERS: more layers abort at load (llama-model.cpp).
MAX_LAYERS = 512
MAX_CONTEXT = 1 << 20
# Heads narrower than this are no model's (trained BERT-family encoders have 32-128
# dimensions per head; the tests' 12-head toy has 4). It catches absurd head counts
# (256 heads gave other vectors, silently); a plausible wrong count cannot be seen
# from the tensors, which have the same shapes whatever it is.
MIN_HEAD_DIM = 4
# The `<arch>.` keys llama.cpp reads for bert / jina-bert-v2; any other key asks for a
# feature these encoders lack (experts, rope scaling, MTP layers), and some of those
# abort llama.cpp at load.
ARCH_KEYS = frozenset({
    "context_length", "embedding_length", "block_count", "feed_forward_length",
    "attention.head_count", "attention.head_count_kv", "attention.layer_norm_epsilon",
    "attention.causal", "attention.key_length", "attention.value_length", "pooling_type",
    "vocab_size",
})
_FIXED_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9


def _check_header_sizes(file: Path) -> None:
    """Walk the key-value section without parsing values, refusing oversized counts."""
    import struct

    def bad(what: str) -> InvalidModelFileError:
        return InvalidModelFileError(f"{file} is not a GGUF jina-edge can read: {what}")

    try:
        with open(file, "rb") as f:
            def read(fmt: str) -> int:
                data = f.read(struct.calcsize(fmt))
                if len(data) != struct.calcsize(fmt):
                    raise bad("the header is truncated")
                return int(struct.unpack("<" + fmt, data)[0])

            def skip_string() -> None:
                length = read("Q")
                if length > MAX_STRING_BYTES:
                    raise bad(f"a string of {length} bytes")
                f.seek(length, 1)

            f.seek(8)  # magic and version
            tensors, kvs = read("Q"), read("Q")
            if tensors > MAX_TENSOR_COUNT or kvs > MAX_KV_COUNT:
                raise bad(f"{tensors} tensors and {kvs} metadata keys")
            for _ in range(kvs):
                skip_string()
                kind = read("I")
                if kind == _ARRAY:
                    item, count = read("I"), read("Q")
                    if count > MAX_ARRAY_ITEMS:
                        raise bad(f"an array of {count} items")
                    if item == _STRING:
                        for _ in range(count):
                            skip_string()
                    elif item in _FIXED_SIZES:
                        f.seek(count * _FIXED_SIZES[item], 1)
                    else:
                        raise bad(f"an array of value type {item}")
                elif kind == _STRING:
                    skip_string()
                elif kind in _FIXED_SIZES:
                    f.seek(_FIXED_SIZES[kind], 1)
                else:
                    raise bad(f"value type {kind}")
    except OSError as exc:
        raise InvalidModelFileError(f"cannot read {file}: {exc}") from exc


def _check_consistency(file: Path, reader: gguf.GGUFReader, metadata: dict[str, Any],
                       arch: str, embedding_length: int, head_count: int) -> None:
    """The architecture's keys against each other and the tensors; the vocabulary."""

    def refuse(what: str) -> InvalidModelFileError:
        return InvalidModelFileError(f"{file}: {what}; it is damaged or not a model jina-edge "
                                     "runs (convert the checkpoint again)")

    unknown = sorted(k for k in metadata if k.startswith(f"{arch}.")
                     and k[len(arch) + 1:] not in ARCH_KEYS)
    if unknown:
        raise refuse(f"{unknown[0]} = {metadata[unknown[0]]!r} is not a setting of {arch} "
                     "encoders")
    shapes = {t.name: [int(d) for d in t.shape] for t in reader.tensors}
    blocks = metadata.get(f"{arch}.block_count")
    layers = {int(n.split(".")[1]) for n in shapes if n.startswith("blk.")
              and n.split(".")[1].isdigit()}
    if not isinstance(blocks, int) or not 0 < blocks <= MAX_LAYERS \
            or layers != set(range(blocks)):
        raise refuse(f"{arch}.block_count = {blocks!r} but the file has {len(layers)} layers "
                     f"(at most {MAX_LAYERS})")
    embd = shapes.get("token_embd.weight")
    if embd is None or len(embd) != 2 or embd[0] != embedding_length:
        raise refuse(f"{arch}.embedding_length = {embedding_length} does not match "
                     f"token_embd.weight {embd}")
    if embedding_length // head_count < MIN_HEAD_DIM:
        raise refuse(f"{arch}.attention.head_count = {head_count} leaves "
                     f"{embedding_length // head_count} dimensions per head")
    for key in ("attention.key_length", "attention.value_length"):
        value = metadata.get(f"{arch}.{key}")
        if value is not None and value != embedding_length // head_count:
            raise refuse(f"{arch}.{key} = {value!r}, not {embedding_length // head_count}")
    kv_heads = metadata.get(f"{arch}.attention.head_count_kv")
    if kv_heads is not None and kv_heads != head_count:
        raise refuse(f"{arch}.attention.head_count_kv = {kv_heads!r}, not {head_count}")
    ffn = metadata.get(f"{arch}.feed_forward_length")
    down = shapes.get("blk.0.ffn_down.weight")
    if not isinstance(ffn, int) or down is None or down[0] != ffn:
        raise refuse(f"{arch}.feed_forward_length = {ffn!r} does not match "
                     f"blk.0.ffn_down.weight {down}")
    eps = metadata.get(f"{arch}.attention.layer_norm_epsilon")
    if not isinstance(eps, float) or not 0 < eps < 1:  # NaN fails both comparisons
        raise refuse(f"{arch}.attention.layer_norm_epsilon = {eps!r}")
    context = metadata.get(f"{arch}.context_length")
    if not isinstance(context, int) or context > MAX_CONTEXT:
        raise refuse(f"{arch}.context_length = {context!r}")
    field_ = reader.fields.get("tokenizer.ggml.tokens")
    if field_ is None or not field_.types or field_.types[-1] != gguf.GGUFValueType.STRING:
        raise refuse("it has no token list (tokenizer.ggml.tokens)")
    try:
        tokens = [bytes(field_.parts[i]) for i in field_.data]
    except (IndexError, ValueError) as exc:
        raise refuse("its token list is damaged") from exc
    if len(tokens) != embd[1]:
        raise refuse(f"{len(tokens)} tokens for {embd[1]} embedding rows")
    twice = next((t for t, n in Counter(tokens).items() if n > 1), None)
    if twice is not None:
        raise refuse(f"the token {twice.decode('utf-8', 'replace')!r} is listed twice")
    for key, value in metadata.items():
        if key.startswith("tokenizer.ggml.") and key.endswith("_token_id") and (
                not isinstance(value, int) or not 0 <= value < len(tokens)):
            raise refuse(f"{key} = {value!r} is not a token")
