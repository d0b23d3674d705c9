"""Installed models: list them, and resolve a model argument to its GGUF file.

This sits below the embedder, which resolves names through it; installing and
removing models, which needs the converter, is `jina_edge.models.store`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jina_edge.config import get, home_dir, write_json_atomic
from jina_edge.errors import InvalidModelFileError, ModelNotFoundError
from jina_edge.models.catalog import DEFAULT_MODEL_ID, DEFAULT_RERANKER_ID, find_catalog_model

logger = logging.getLogger(__name__)
HASH_BLOCK_BYTES = 1 << 20

# Every GGUF type the store installs, in the order a bare model name prefers
# them when several are installed.
TYPE_PREFERENCE = ("q8_0", "bf16", "f16", "f32", "q6_k", "q5_k_m", "q4_k_m", "q4_0")


@dataclass(frozen=True)
class InstalledModel:
    """A model in the store."""

    model_id: str
    output_type: str
    path: Path
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        """The full name, "model_id:type"."""
        return f"{self.model_id}:{self.output_type}"

    @property
    def size_bytes(self) -> int:
        """Size of the GGUF on disk."""
        return self.path.stat().st_size


def models_dir() -> Path:
    """Where installed models live."""
    return home_dir() / "models"


def list_installed() -> list[InstalledModel]:
    """Every installed model, sorted by name."""
    root = models_dir()
    found = []
    for manifest_path in sorted(root.glob("*/*.json")):
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a damaged manifest: the model shows as not installed
        gguf = manifest_path.with_suffix(".gguf")
        if gguf.is_file() and isinstance(manifest, dict):
            found.append(InstalledModel(
                model_id=str(manifest.get("model_id", manifest_path.parent.name)),
                output_type=str(manifest.get("output_type", "unknown")),
                path=gguf,
                manifest=manifest,
            ))
    return found


def split_name(name: str) -> tuple[str, str | None]:
    """Split "id:type", "id-type" or "id" into (id, type or None)."""
    key = name.strip()
    if ":" in key:
        model_id, _, output_type = key.rpartition(":")
        return model_id, output_type.lower()
    for output_type in TYPE_PREFERENCE:
        if key.lower().endswith("-" + output_type):
            return key[: -len(output_type) - 1], output_type
    return key, None


def find_installed(name: str) -> InstalledModel | None:
    """The installed model a name designates, or None."""
    model_id, output_type = split_name(name)
    entry = find_catalog_model(model_id)
    if entry is not None:
        model_id = entry.model_id
    candidates = [m for m in list_installed() if m.model_id.lower() == model_id.lower()]
    if output_type is not None:
        candidates = [m for m in candidates if m.output_type == output_type]
    if not candidates:
        return None

    def rank(m: InstalledModel) -> int:
        order = TYPE_PREFERENCE
        return order.index(m.output_type) if m.output_type in order else len(order)

    return min(candidates, key=rank)


def default_model_name() -> str:
    """The model used when none is given.

    $JINA_EDGE_MODEL or the config's "model"; else the one installed embedding
    model (so `models import` then `index sync` just works), else the catalogue's.
    """
    configured = get("model")
    if configured:
        return str(configured)
    installed = sorted({m.name for m in list_installed()
                        if m.manifest.get("kind", "embedding") != "reranker"})
    if len(installed) == 1:
        return installed[0]
    return DEFAULT_MODEL_ID


def default_reranker_name() -> str:
    """The reranker used when none is named.

    $JINA_EDGE_RERANKER or the config's "reranker"; else the installed
    reranker (DEFAULT_RERANKER_ID when several are); else DEFAULT_RERANKER_ID,
    whose absence resolving then reports with the command that installs it.
    """
    configured = get("reranker")
    if configured:
        return str(configured)
    installed = sorted({m.model_id for m in list_installed()
                        if m.manifest.get("kind") == "reranker"})
    if len(installed) == 1:
        return installed[0]
    return DEFAULT_RERANKER_ID


def resolve_model(model: str | os.PathLike[str] | None = None) -> Path:
    """The GGUF file for a model argument: a path, an installed name, or None (the default).

    Raises:
        ModelNotFoundError: with the exact command that installs the model.
    """
    name = default_model_name() if model is None else os.fspath(model)
    path = Path(name).expanduser()
    try:
        if path.is_file():
            return path.absolute()  # an index or a log that keeps it works from anywhere
    except OSError:  # a name longer than the system allows for a file name
        pass
    installed = find_installed(name)
    if installed is not None:
        check_intact(installed)
        return installed.path
    if name.endswith(".gguf") or os.sep in name and not find_catalog_model(name):
        raise ModelNotFoundError(f"no model file at {path}")
    model_id, output_type = split_name(name)
    type_flag = f" --type {output_type}" if output_type else ""
    if find_catalog_model(model_id) is not None:
        raise ModelNotFoundError(
            f"model {name!r} is not installed; run `jina-edge models pull {model_id}{type_flag}` "
            "(or, offline, `jina-edge models import PATH` with a checkpoint folder or GGUF)"
        )
    raise ModelNotFoundError(
        f"no model named {name!r} is installed (see `jina-edge models list`); install it with "
        f"`jina-edge models import PATH --name {model_id}`"
    )


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(HASH_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def file_signature(path: Path) -> list[int]:
    """What changes whenever a file is written through the file system.

    ctime cannot be set back by anyone but the kernel, so a rewrite that keeps
    the size and resets the mtime still changes the signature.
    """
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def check_intact(model: InstalledModel) -> None:
    """Refuse an installed GGUF whose bytes differ from those installed.

    The manifest holds the sha256 of the GGUF and the file's signature when it
    was last hashed. Loading compares the signature (one stat); only when it
    differs (the file was written, copied or restored) is the file hashed
    again, so a damaged or swapped file is caught before llama.cpp reads it.
    Damage beneath the file system (which leaves the signature as it was) is
    left to the file system's own checksums. A manifest from before digests
    were recorded gets one now.

    Raises:
        InvalidModelFileError: when the bytes changed, with the command that
            installs the model again.
    """
    manifest = model.manifest
    signature = file_signature(model.path)
    if manifest.get("sha256") and manifest.get("signature") == signature:
        return
    actual = file_sha256(model.path)
    expected = manifest.get("sha256")
    if expected and actual != expected:
        raise InvalidModelFileError(
            f"the installed model {model.name} changed on disk since it was installed "
            f"({model.path} no longer has its recorded sha256); remove it with `jina-edge "
            f"models remove {model.name}` and install it again")
    try:
        write_json_atomic(model.path.with_suffix(".json"),
                          {**manifest, "sha256": actual, "signature": signature})
    except OSError as exc:  # a read-only store: the file is hashed on every load
        logger.debug("cannot record the digest of %s: %s", model.path, exc)
