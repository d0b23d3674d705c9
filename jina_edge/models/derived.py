"""Files made from a model file (an engine's compiled graphs), kept in the cache by the file's key.

Engines write there and the store deletes a removed model's files, so that
neither needs to know the other. What passed a check is sealed with a key kept
in the data folder, not the cache: a file placed in the cache by anyone else
is made again rather than run.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import tempfile
from pathlib import Path

from jina_edge.config import cache_dir, home_dir
from jina_edge.models.modelfile import FILE_DIGEST_KEY, ModelFileInfo

logger = logging.getLogger(__name__)

KEY_CHARS = 32  # of the sha256 hex digest, in file names
SEAL_KEY_FILE = "seal.key"


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


def seal(digest: str) -> str:
    """The mark that says this installation checked what has `digest`."""
    return hmac.new(_seal_key(), digest.encode(), hashlib.sha256).hexdigest()


def is_sealed(digest: str, mark_file: Path) -> bool:
    """Whether `mark_file` (a regular file) holds this installation's seal of `digest`."""
    try:
        if not mark_file.is_file() or mark_file.stat().st_size > 1024:
            return False
        mark = mark_file.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return False
    return hmac.compare_digest(mark, seal(digest))


def _seal_key() -> bytes:
    path = home_dir() / SEAL_KEY_FILE
    try:
        key = path.read_bytes()
        if len(key) == 64 and all(c in b"0123456789abcdef" for c in key):
            return key
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.debug("cannot read %s (%s); sealing for this process only", path, exc)
        return _PROCESS_KEY
    try:
        # Made whole beside it, then put in place: a reader never sees half a key.
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{SEAL_KEY_FILE}.", dir=path.parent)
        with os.fdopen(fd, "wb") as f:  # mkstemp makes it readable by its owner only
            f.write(secrets.token_hex(32).encode())
        os.replace(tmp, path)
        return path.read_bytes()
    except OSError as exc:  # a read-only data folder: checks are redone in each process
        logger.debug("cannot write %s (%s); sealing for this process only", path, exc)
        return _PROCESS_KEY


_PROCESS_KEY = secrets.token_hex(32).encode()
