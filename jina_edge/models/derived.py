"""Files made from a model file (an engine's compiled graphs), kept in the cache by the file's key.

Engines write there and the store deletes a removed model's files, so that
neither needs to know the other.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from jina_edge.config import cache_dir
from jina_edge.models.modelfile import FILE_DIGEST_KEY, ModelFileInfo

logger = logging.getLogger(__name__)

KEY_CHARS = 32  # of the sha256 hex digest, in file names


def derived_dir() -> Path:
    """The folder of derived files ("onnx": where the first engine that made any put them)."""
    return cache_dir() / "onnx"


def file_key(gguf: Path, info: ModelFileInfo) -> str:
    """What names a GGUF's derived files.

    The digest our converter sealed into it; for a GGUF made elsewhere, its place, size and time.
    """
    key = str(info.metadata.get(FILE_DIGEST_KEY, ""))
    if not key:
        st = gguf.stat()
        key = hashlib.sha256(f"{gguf.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()
    return key


def derived_path(key: str, name: str) -> Path:
    """Where the derived file `name` of the model file with this key lives."""
    return derived_dir() / f"{key[:KEY_CHARS]}-{name}"


def forget_derived(key: str, *, keep: str | None = None) -> int:
    """Delete the derived files of the model file with this key, but those whose name starts `keep`.

    Returns the bytes freed; a file that cannot be deleted is left (only space is lost).
    """
    freed = 0
    for path in derived_dir().glob(f"{key[:KEY_CHARS]}-*"):
        if keep is not None and path.name.startswith(f"{key[:KEY_CHARS]}-{keep}"):
            continue
        try:
            size = path.stat().st_size
            path.unlink()
            freed += size
        except OSError as exc:
            logger.debug("could not delete %s: %s", path, exc)
    return freed
