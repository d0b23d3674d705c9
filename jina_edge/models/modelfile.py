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
import math
import mmap
import os
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from jina_edge import families
from jina_edge.errors import InvalidModelFileError, ModelNotFoundError

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
# The GGUF spec's key for the Hugging Face tokenizer.json, which the converter
# stores and the runtime tokenizes with (files made elsewhere may lack it).
TOKENIZER_JSON_KEY = "tokenizer.huggingface.json"
# llama.cpp's tokenizer models our converter writes: WordPiece, byte-level BPE,
# whitespace-split BPE.
TOKENIZER_MODELS = ("bert", "gpt2", "whitespace")
DIGEST_PLACEHOLDER = "unsealed".ljust(64, "-")
HASH_BLOCK_BYTES = 1 << 20
# A reranker's head (jina-reranker-v1: classifier(tanh(pooler(h_CLS)))) as float32
# arrays, row-major: llama.cpp's jina-bert-v2 has no pooler tensor, so the converter
# stores it here and the runtime applies it (see jina_edge.convert.architectures).
RERANKER_PREFIX = "jina_edge.reranker."
RERANKER_POOLER_WEIGHT = RERANKER_PREFIX + "pooler.weight"  # hidden x hidden (out, in)
RERANKER_POOLER_BIAS = RERANKER_PREFIX + "pooler.bias"  # hidden
RERANKER_CLASSIFIER_WEIGHT = RERANKER_PREFIX + "classifier.weight"  # hidden
RERANKER_CLASSIFIER_BIAS = RERANKER_PREFIX + "classifier.bias"  # 1
# llama.cpp's name for a classifier head (the converter's `classifier`).
CLS_TENSOR = "cls.weight"
MAX_HEAD_WEIGHT = 65504.0  # the float16 range, as for a checkpoint's weights


@dataclass(frozen=True)
class RerankerHead:
    """A cross-encoder's head as stored in its GGUF, float64, checked."""

    pooler_weight: np.ndarray  # (hidden, hidden), out x in
    pooler_bias: np.ndarray  # (hidden,)
    classifier_weight: np.ndarray  # (hidden,)
    classifier_bias: float


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
    tokenizer_json: str | None = field(default=None, repr=False)
    n_vocab: int = 0
    kind: str = "embedding"  # or "reranker"
    reranker_head: RerankerHead | None = field(default=None, repr=False)

    @property
    def tokenizer(self) -> str:
        """Which tokenizer the runtime uses for this file, in words."""
        if self.tokenizer_json is not None:
            return "Hugging Face tokenizers (the original's tokenizer.json, stored in the file)"
        return f"llama.cpp's own ({self.metadata.get('tokenizer.ggml.model')}; no tokenizer.json " \
               "in the file)"


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
    header = _read_header(file)
    for name, (dims, kind, offset) in header.tensors.items():
        end = header.data_offset + offset + _tensor_bytes(file, name, dims, kind)
        if offset % 32 or end > size:
            raise InvalidModelFileError(
                f"{file} is truncated or damaged: tensor {name} needs bytes up to {end}, the "
                f"file has {size}. Convert or download it again"
            )
    metadata = {k: v for k, v in header.fields.items() if not isinstance(v, list)}
    tokenizer_json = metadata.pop(TOKENIZER_JSON_KEY, None)
    if tokenizer_json is not None and not isinstance(tokenizer_json, str):
        raise InvalidModelFileError(f"{file}: {TOKENIZER_JSON_KEY} is not a string; it is "
                                    "damaged. Convert it again")
    arch = str(metadata.get("general.architecture", ""))
    supported = families.gguf_architectures()
    if arch not in supported:
        raise InvalidModelFileError(
            f"{file} holds a {arch or 'model of unknown architecture'}, not an embedding "
            f"model jina-edge runs (supported: {', '.join(supported)})"
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
    if metadata.get("tokenizer.ggml.model") not in TOKENIZER_MODELS:
        raise InvalidModelFileError(
            f"{file} has a {metadata.get('tokenizer.ggml.model')!r} tokenizer; jina-edge runs "
            f"the tokenizer models {', '.join(TOKENIZER_MODELS)}"
        )
    _check_consistency(file, header, metadata, arch, embedding_length, head_count)
    head = _reranker_head(file, header, embedding_length)
    is_reranker = head is not None or CLS_TENSOR in header.tensors
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
        data_offset=header.data_offset,
        metadata=metadata,
        tokenizer_json=tokenizer_json,
        n_vocab=len(header.fields["tokenizer.ggml.tokens"]),
        kind="reranker" if is_reranker else "embedding",
        reranker_head=head,
    )


def _reranker_head(file: Path, header: _Header, hidden: int) -> RerankerHead | None:
    """The head a reranker GGUF of ours carries (None: it has none), every array checked.

    Raises:
        InvalidModelFileError: for a missing, misshapen, non-float or non-finite
            part, or a key under the reranker prefix that is none of its parts.
    """
    sizes = {RERANKER_POOLER_WEIGHT: hidden * hidden, RERANKER_POOLER_BIAS: hidden,
             RERANKER_CLASSIFIER_WEIGHT: hidden, RERANKER_CLASSIFIER_BIAS: 1}
    present = [key for key in header.fields if key.startswith(RERANKER_PREFIX)]
    if not present:
        return None

    def refuse(what: str) -> InvalidModelFileError:
        return InvalidModelFileError(f"{file}: {what}; the reranker head is damaged. Convert "
                                     "the checkpoint again")

    unknown = sorted(set(present) - set(sizes))
    if unknown:
        raise refuse(f"{unknown[0]} is not a part of a reranker head")
    arrays = {}
    for key, size in sizes.items():
        values = header.fields.get(key)
        if not isinstance(values, list) or len(values) != size:
            found = len(values) if isinstance(values, list) else values
            raise refuse(f"{key} must hold {size} numbers for {hidden} dimensions, not {found!r}")
        array = np.asarray(values)
        if array.dtype.kind != "f":
            raise refuse(f"{key} holds {array.dtype} values, not float32")
        if not np.isfinite(array).all() or np.abs(array).max() > MAX_HEAD_WEIGHT:
            raise refuse(f"{key} holds NaN, infinite or out-of-range values")
        arrays[key] = array.astype(np.float64)
    for name, dims in ((CLS_TENSOR, [hidden]), ("cls.bias", [1])):
        found_dims = header.tensors.get(name, (None,))[0]
        # llama.cpp's quantizer drops trailing dimensions of 1 ({n_embd, 1} -> {n_embd}).
        if found_dims is not None and (found_dims[:1] != dims or set(found_dims[1:]) - {1}):
            raise refuse(f"the tensor {name} has the shape {found_dims}, not {dims + [1]}")
    return RerankerHead(
        pooler_weight=arrays[RERANKER_POOLER_WEIGHT].reshape(hidden, hidden),
        pooler_bias=arrays[RERANKER_POOLER_BIAS],
        classifier_weight=arrays[RERANKER_CLASSIFIER_WEIGHT],
        classifier_bias=float(arrays[RERANKER_CLASSIFIER_BIAS][0]),
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


# Sizes beyond anything an embedding model needs; checked before gguf-py parses
# the header (it builds one numpy view per array element, so a huge array is
# slow and memory-hungry: docs/performance.md, "Hostile documents").
MAX_KV_COUNT = 4096
MAX_TENSOR_COUNT = 65_536
MAX_ARRAY_ITEMS = 1 << 20  # vocabularies are ~30k-250k tokens
MAX_STRING_BYTES = 1 << 20
# A tokenizer.json is one string: ~0.5 MB for BERT's WordPiece, a few MB for a
# 61k-token BPE with its merges, 17 MB for XLM-R's 250k Unigram.
MAX_TOKENIZER_JSON_BYTES = 32 << 20
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
# GGUF value types: struct formats of the scalars, and the two others.
_SCALAR_FORMATS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q",
                   11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9



@dataclass(frozen=True)
class _Header:
    """A GGUF header as read: metadata values and tensor infos."""

    fields: dict[str, Any]  # scalars as Python values, arrays as lists (strings as bytes)
    string_arrays: set[str]  # keys whose value is an array of strings
    tensors: dict[str, tuple[list[int], int, int]]  # name -> (dims, ggml type, offset)
    data_offset: int


def _read_header(file: Path) -> _Header:
    """Read the header with every count and length capped before it is used.

    Our own reader: gguf-py builds one numpy view per value (slow on a real
    vocabulary, ruinous on a huge array: docs/performance.md, "Hostile
    documents"), and every load of a model reads this header.
    """
    def bad(what: str) -> InvalidModelFileError:
        return InvalidModelFileError(f"{file} is not a GGUF jina-edge can read: {what}; it is "
                                     "damaged or truncated")

    try:
        with open(file, "rb") as f:
            # Mapped, not read: only the header's pages are touched (a Pi's SD card is slow).
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as exc:
        raise InvalidModelFileError(f"cannot read {file}: {exc}") from exc
    try:
        return _parse_header(data, bad)
    finally:
        data.close()


def _parse_header(data: mmap.mmap, bad: Callable[[str], InvalidModelFileError]) -> _Header:
    at = 0

    def take(fmt: str) -> Any:
        nonlocal at
        size = struct.calcsize(fmt)
        if at + size > len(data):
            raise bad("the header is truncated")
        value = struct.unpack_from("<" + fmt, data, at)[0]
        at += size
        return value

    def string(limit: int = MAX_STRING_BYTES) -> bytes:
        nonlocal at
        length = take("Q")
        if length > limit:
            raise bad(f"a string of {length} bytes")
        if at + length > len(data):
            raise bad("the header is truncated")
        value = data[at:at + length]
        at += length
        return bytes(value)

    def value(kind: int) -> Any:
        if kind == _STRING:
            return string()
        if kind in _SCALAR_FORMATS:
            return take(_SCALAR_FORMATS[kind])
        raise bad(f"value type {kind}")

    version = take("4xI")
    if version not in (2, 3):
        raise bad(f"GGUF version {version} (jina-edge reads versions 2 and 3)")
    n_tensors, n_kvs = take("Q"), take("Q")
    if n_tensors > MAX_TENSOR_COUNT or n_kvs > MAX_KV_COUNT:
        raise bad(f"{n_tensors} tensors and {n_kvs} metadata keys")
    fields: dict[str, Any] = {}
    string_arrays: set[str] = set()
    for _ in range(n_kvs):
        try:
            key = string().decode("utf-8")
        except UnicodeDecodeError:
            raise bad("a metadata key that is not UTF-8") from None
        if key in fields:
            raise bad(f"the key {key} appears twice")
        kind = take("I")
        if kind == _ARRAY:
            item, count = take("I"), take("Q")
            if count > MAX_ARRAY_ITEMS:
                raise bad(f"an array of {count} items")
            if item in _SCALAR_FORMATS:  # read in one go: a vocabulary's scores are 30k floats
                size = struct.calcsize(_SCALAR_FORMATS[item]) * count
                if at + size > len(data):
                    raise bad("the header is truncated")
                fields[key] = list(struct.unpack_from(f"<{count}{_SCALAR_FORMATS[item]}", data, at))
                at += size
            elif item == _STRING:
                fields[key] = [string() for _ in range(count)]
                string_arrays.add(key)
            else:
                raise bad(f"an array of value type {item}")
        elif kind == _STRING and key == TOKENIZER_JSON_KEY:
            fields[key] = string(MAX_TOKENIZER_JSON_BYTES)
        else:
            fields[key] = value(kind)
        if isinstance(fields[key], bytes):
            try:
                fields[key] = fields[key].decode("utf-8")
            except UnicodeDecodeError:
                raise bad(f"the value of {key} is not UTF-8") from None
    tensors: dict[str, tuple[list[int], int, int]] = {}
    for _ in range(n_tensors):
        name = string().decode("utf-8", errors="replace")
        n_dims = take("I")
        if not 1 <= n_dims <= 4:
            raise bad(f"tensor {name} has {n_dims} dimensions")
        dims = [take("Q") for _ in range(n_dims)]
        kind, offset = take("I"), take("Q")
        if name in tensors:
            raise bad(f"the tensor {name} appears twice")
        tensors[name] = (dims, kind, offset)
    alignment = fields.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise bad(f"general.alignment = {alignment!r}")
    return _Header(fields, string_arrays, tensors, -(-at // alignment) * alignment)


def _tensor_bytes(file: Path, name: str, dims: list[int], kind: int) -> int:
    try:
        block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(kind)]
    except (ValueError, KeyError):
        raise InvalidModelFileError(f"{file}: tensor {name} has the unknown type {kind}; it is "
                                    "damaged or from a newer llama.cpp") from None
    elements = math.prod(dims)
    if elements <= 0 or dims[0] % block:
        raise InvalidModelFileError(f"{file}: tensor {name} has the shape {dims}, which its "
                                    "type cannot hold; it is damaged")
    return elements // block * size


def _misshapen(shapes: dict[str, list[int]], hidden: int, ffn: int) -> list[str]:
    """The tensors whose shape (GGUF order: columns first) their role does not allow.

    llama.cpp asserts on some of these in the middle of a decode, which ends
    the whole process; a tensor of no known role is left to its loader.
    """
    vector, square = ([hidden],), ([hidden, hidden],)
    allowed: dict[str, tuple[list[int], ...]] = {
        "attn_q.weight": square, "attn_k.weight": square, "attn_v.weight": square,
        "attn_output.weight": square,
        "ffn_up.weight": ([hidden, ffn], [hidden, 2 * ffn]), "ffn_up.bias": ([ffn], [2 * ffn]),
        "ffn_gate.weight": ([hidden, ffn],), "ffn_down.weight": ([ffn, hidden],),
        "cls.weight": ([hidden], [hidden, 1]), "cls.bias": ([1],),
    }
    wrong = []
    for name, dims in shapes.items():
        role = name.split(".", 2)[2] if name.startswith("blk.") else name
        if role in allowed:
            ok = dims in allowed[role]
        elif role.endswith(".bias") or role.endswith("norm.weight") or role.endswith(
                "norm_2.weight"):
            ok = dims in vector
        elif role in ("token_types.weight", "position_embd.weight"):
            ok = len(dims) == 2 and dims[0] == hidden
        else:
            continue
        if not ok:
            wrong.append(name)
    return wrong


def _check_consistency(file: Path, header: _Header, metadata: dict[str, Any],
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
    shapes = {name: dims for name, (dims, _, _) in header.tensors.items()}
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
    wrong = _misshapen(shapes, embedding_length, ffn)
    if wrong:
        raise refuse(f"tensor {wrong[0]} has shape {shapes[wrong[0]]}, which a model of "
                     f"{embedding_length} dimensions and a feed-forward of {ffn} cannot have")
    eps = metadata.get(f"{arch}.attention.layer_norm_epsilon")
    if not isinstance(eps, float) or not 0 < eps < 1:  # NaN fails both comparisons
        raise refuse(f"{arch}.attention.layer_norm_epsilon = {eps!r}")
    context = metadata.get(f"{arch}.context_length")
    if not isinstance(context, int) or context > MAX_CONTEXT:
        raise refuse(f"{arch}.context_length = {context!r}")
    if "tokenizer.ggml.tokens" not in header.string_arrays:
        raise refuse("it has no token list (tokenizer.ggml.tokens)")
    tokens: list[bytes] = header.fields["tokenizer.ggml.tokens"]
    if len(tokens) != embd[1]:
        raise refuse(f"{len(tokens)} tokens for {embd[1]} embedding rows")
    twice = next((t for t, n in Counter(tokens).items() if n > 1), None)
    if twice is not None:
        raise refuse(f"the token {twice.decode('utf-8', 'replace')!r} is listed twice")
    for key, value in metadata.items():
        if key.startswith("tokenizer.ggml.") and key.endswith("_token_id") and (
                not isinstance(value, int) or not 0 <= value < len(tokens)):
            raise refuse(f"{key} = {value!r} is not a token")
