"""Reading a Hugging Face checkpoint directory: config, weights, tokenizer files.

Everything that can be wrong with a checkpoint on disk is found here and
reported as a `CheckpointError` that names the file and what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open

from jina_edge.errors import CheckpointError

SINGLE_WEIGHTS_FILE = "model.safetensors"
SHARD_INDEX_FILE = "model.safetensors.index.json"
HASH_BLOCK_BYTES = 1 << 20
FLOAT_DTYPES = ("F32", "F16", "BF16")
# The largest float16: weights beyond it overflow f16 and the f16 scales of
# every quantized type, and no trained encoder has them.
MAX_WEIGHT = 65504.0


@dataclass
class Checkpoint:
    """A checkpoint directory whose config and weight headers were read and checked.

    Tensors are read lazily, one at a time, so a base-size model never sits in
    memory twice.
    """

    path: Path
    config: dict[str, Any]
    weight_files: list[Path]
    tensor_files: dict[str, Path]
    tensor_shapes: dict[str, tuple[int, ...]]
    tensor_dtypes: dict[str, str]
    source_repo: str | None = None
    source_revision: str | None = None
    _sha256: str | None = field(default=None, repr=False)

    @property
    def architecture(self) -> str:
        """The first entry of config.json's "architectures" ('' when absent)."""
        archs = self.config.get("architectures") or [""]
        if not isinstance(archs, list) or not isinstance(archs[0], str):
            raise CheckpointError(f"config.json of {self.path}: 'architectures' must be a list "
                                  f'such as ["JinaBertForMaskedLM"], not {archs!r:.80}')
        return archs[0]

    def tensor(self, name: str) -> np.ndarray:
        """Load one tensor as a float32 array, refusing NaN or Inf values."""
        path = self.tensor_files[name]
        dtype = self.tensor_dtypes.get(name)
        if dtype not in FLOAT_DTYPES:  # only weights are read: integer buffers are ignored
            raise CheckpointError(f"tensor {name!r} in {path} is stored as {dtype!r}; jina-edge "
                                  f"converts weights stored as {', '.join(FLOAT_DTYPES)}")
        try:
            with safe_open(str(path), framework="numpy") as f:
                data = f.get_tensor(name)
        except (SafetensorError, OSError, ValueError, TypeError) as exc:
            data = _read_raw_tensor(path, name, exc)
        array = np.asarray(data, dtype=np.float32)
        if not np.isfinite(array).all():
            raise CheckpointError(
                f"tensor {name!r} in {path} holds NaN or Inf values; the checkpoint is "
                "damaged or was saved after a diverged training run. Download it again."
            )
        largest = float(np.abs(array).max(initial=0.0))
        if largest > MAX_WEIGHT:
            raise CheckpointError(
                f"tensor {name!r} in {path} holds values up to {largest:.3g}; trained encoders "
                f"stay within ±{MAX_WEIGHT:g} (the float16 range), so the checkpoint is "
                "damaged. Download it again."
            )
        return array

    def names(self) -> Iterator[str]:
        """Tensor names in file order."""
        return iter(self.tensor_shapes)

    def sha256(self) -> str:
        """sha256 of the weights: of the single file, or of the shards concatenated in order."""
        if self._sha256 is None:
            digest = hashlib.sha256()
            for path in self.weight_files:
                with open(path, "rb") as f:
                    while block := f.read(HASH_BLOCK_BYTES):
                        digest.update(block)
            self._sha256 = digest.hexdigest()
        return self._sha256


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Open a Hugging Face model directory and check that its files are whole.

    Raises:
        CheckpointError: when the directory, config.json or the weights are
            missing, unreadable, truncated or inconsistent.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise CheckpointError(
            f"{root} is not a directory; give the folder that holds config.json and "
            "model.safetensors (a Hugging Face checkpoint)"
        )
    config = read_json(root / "config.json", what="model config")
    weight_files = _weight_files(root)
    tensor_files: dict[str, Path] = {}
    tensor_shapes: dict[str, tuple[int, ...]] = {}
    tensor_dtypes: dict[str, str] = {}
    for weights in weight_files:
        for name, (shape, dtype) in _read_header(weights).items():
            if name in tensor_files:
                raise CheckpointError(f"tensor {name!r} appears in two weight files of {root}")
            tensor_files[name] = weights
            tensor_shapes[name] = shape
            tensor_dtypes[name] = dtype
    repo, revision = _hub_origin(root)
    return Checkpoint(
        path=root,
        config=config,
        weight_files=weight_files,
        tensor_files=tensor_files,
        tensor_shapes=tensor_shapes,
        tensor_dtypes=tensor_dtypes,
        source_repo=repo,
        source_revision=revision,
    )


def read_json(path: Path, *, what: str, required: bool = True) -> dict[str, Any]:
    """A JSON object from a checkpoint file ({} for a missing optional file).

    Raises:
        CheckpointError: when a required file is missing, or a file is unreadable
            or not a JSON object.
    """
    if not path.is_file():
        if not required:
            return {}
        raise CheckpointError(f"no {path.name} in {path.parent}: the {what} is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError as exc:
        raise CheckpointError(f"{path} is nested too deeply to be a {what} file") from exc
    except (OSError, ValueError) as exc:  # ValueError: bad UTF-8 or JSON
        raise CheckpointError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} does not hold a JSON object")
    return data


def _weight_files(root: Path) -> list[Path]:
    index = root / SHARD_INDEX_FILE
    if index.is_file():
        weight_map = read_json(index, what="shard index").get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointError(f"{index} has no weight_map")
        files = [root / name for name in dict.fromkeys(str(v) for v in weight_map.values())]
        missing = [p.name for p in files if not p.is_file()]
        if missing:
            raise CheckpointError(
                f"{index} lists shards that are not in {root}: {', '.join(missing)}; "
                "the download is incomplete"
            )
        return files
    single = root / SINGLE_WEIGHTS_FILE
    if single.is_file():
        return [single]
    if any(root.glob("*.bin")):
        raise CheckpointError(
            f"{root} has only PyTorch .bin weights; jina-edge reads safetensors. Download "
            "the model.safetensors file of the same repository"
        )
    raise CheckpointError(
        f"no {SINGLE_WEIGHTS_FILE} or {SHARD_INDEX_FILE} in {root}: the weights are missing"
    )


def _read_header(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """Tensor shapes and dtypes from a safetensors header, after checking the file is complete."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
            if size < 8 or header_len <= 0 or 8 + header_len > size:
                raise CheckpointError(f"{path} is truncated or not a safetensors file")
            header = json.loads(f.read(header_len))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad UTF-8 or JSON
        raise CheckpointError(f"{path} is not a readable safetensors file: {exc}") from exc
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} is not a safetensors file: its header is not an object")
    shapes: dict[str, tuple[tuple[int, ...], str]] = {}
    data_len = size - 8 - header_len
    for name, info in header.items():
        if name == "__metadata__":
            continue
        shape, (start, end), dtype = _tensor_entry(path, name, info)
        if end > data_len:
            raise CheckpointError(
                f"{path} is truncated: tensor {name!r} ends at byte {end} of the data but "
                f"the file holds only {data_len}. Download it again"
            )
        shapes[name] = (shape, dtype)
    return shapes


def _tensor_entry(path: Path, name: str,
                  info: object) -> tuple[tuple[int, ...], tuple[int, int], str]:
    """Shape, data offsets and dtype of one header entry, checked."""
    def is_count(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    if not isinstance(info, dict):
        raise CheckpointError(f"{path} is damaged: the entry of tensor {name!r} is not an object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not (isinstance(shape, list) and all(is_count(d) for d in shape)
            and isinstance(offsets, list) and len(offsets) == 2
            and all(is_count(o) for o in offsets) and offsets[0] <= offsets[1]):
        raise CheckpointError(f"{path} is damaged: tensor {name!r} has no valid shape and "
                              "data_offsets. Download it again")
    if not isinstance(dtype, str):
        raise CheckpointError(f"{path} is damaged: tensor {name!r} has no dtype")
    return tuple(shape), (offsets[0], offsets[1]), dtype


def _read_raw_tensor(path: Path, name: str, cause: Exception) -> np.ndarray:
    """Decode a tensor numpy cannot load directly (bfloat16) from the raw bytes."""
    with open(path, "rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(header_len))
        info = header[name]
        if info["dtype"] != "BF16":
            raise CheckpointError(f"cannot read tensor {name!r} from {path}: {cause}") from cause
        start, end = info["data_offsets"]
        f.seek(8 + header_len + start)
        raw = np.frombuffer(f.read(end - start), dtype="<u2")
    # bfloat16 is the upper half of a float32.
    shape = tuple(int(d) for d in info["shape"])
    return np.asarray((raw.astype(np.uint32) << 16).view(np.float32)).reshape(shape)


def _hub_origin(root: Path) -> tuple[str | None, str | None]:
    """Repository and revision when the directory is a Hugging Face cache snapshot."""
    resolved = root.resolve()
    parts = resolved.parts
    if len(parts) >= 3 and parts[-2] == "snapshots" and parts[-3].startswith("models--"):
        repo = parts[-3][len("models--") :].replace("--", "/")
        return repo, parts[-1]
    return None, None
