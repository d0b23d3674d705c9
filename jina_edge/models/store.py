"""The model store: pull, import, remove models, and choose the default.

Layout under the data folder (`jina_edge.config.home_dir()`)::

    models/<model_id>/<model_id>-<type>.gguf    the model
    models/<model_id>/<model_id>-<type>.json    its manifest: origin, verification
    models/.<model_id>.lock                     held while installing or removing

A model counts as installed only once its manifest is written, after the GGUF
is complete and verified, so an interrupted pull leaves nothing half-installed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from filelock import FileLock

from jina_edge.config import get, save_config, write_json_atomic
from jina_edge.errors import (
    CheckpointError,
    ConversionError,
    DownloadError,
    InvalidModelFileError,
    JinaEdgeError,
    ModelNameError,
    ModelNotFoundError,
)
from jina_edge.models.catalog import (
    CHECKPOINT_FILES,
    DEFAULT_MODEL_ID,
    REQUIRED_FILES,
    CatalogModel,
    catalog_model,
    find_catalog_model,
)
from jina_edge.models.derived import file_key, forget_derived
from jina_edge.models.installed import (
    InstalledModel,
    file_sha256,
    file_signature,
    find_installed,
    list_installed,
    models_dir,
    resolve_model,
    split_name,
)
from jina_edge.models.modelfile import ModelFileInfo, check_file_digest, read_model_file
from jina_edge.models.tokenizer_json import probe_once

ProgressCallback = Callable[[str, int, int], None]

DEFAULT_PULL_TYPE = "q8_0"
# Besides CHECKPOINT_FILES, what a pull fetches when the repository has it.
EXTRA_PATTERNS = ("model-*.safetensors", "model.safetensors.index.json", "1_Pooling/config.json")
DEFAULT_HUB = "https://huggingface.co"
HUB_PROBE_TIMEOUT_S = 3.0
PROBE_TEXT = "jina-edge checks that this model runs."
PROBE_QUERY = "Does this model run?"
PROBE_TIMEOUT_S = 300.0
MAX_NAME = 100
_MODEL_NAME = re.compile(rf"[A-Za-z0-9_-][A-Za-z0-9_.-]{{0,{MAX_NAME - 1}}}")
_SHA256_NAME = re.compile(r"[0-9a-f]{64}")


@contextmanager
def _locked(model_id: str) -> Iterator[None]:
    """Serialise installs and removals of one model across processes."""
    root = models_dir()
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f".{model_id}.lock")):
        try:
            yield
        finally:
            with contextlib.suppress(OSError):  # not empty, or not there: keep it
                (root / model_id).rmdir()  # a failed install leaves no empty folder


def _target(model_id: str, output_type: str) -> Path:
    return models_dir() / model_id / f"{model_id}-{output_type}.gguf"


def _write_manifest(gguf: Path, model_id: str, output_type: str, source: dict[str, Any],
                    verification: dict[str, Any] | None) -> InstalledModel:
    from jina_edge import __version__

    info = read_model_file(gguf)
    signature = file_signature(gguf)
    manifest = {
        "model_id": model_id,
        "output_type": output_type,
        "file": gguf.name,
        "size_bytes": gguf.stat().st_size,
        "sha256": file_sha256(gguf),
        "signature": signature,
        "architecture": info.architecture,
        "kind": info.kind,
        "dim": info.embedding_length,
        "max_tokens": info.context_length,
        "pooling": info.pooling,
        "source": source,
        "source_sha256": info.metadata.get("jina_edge.source.sha256"),
        "verification": verification,
        "installed": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "jina_edge_version": __version__,
    }
    write_json_atomic(gguf.with_suffix(".json"), manifest)
    return InstalledModel(model_id, output_type, gguf, manifest)


def _install_checkpoint(
    checkpoint: Path, model_id: str, output_type: str, source: dict[str, Any],
    progress: ProgressCallback | None,
) -> InstalledModel:
    from jina_edge.convert import convert_checkpoint

    target = _target(model_id, output_type)
    report = convert_checkpoint(
        checkpoint, target, output_type=output_type, model_name=model_id,
        source_repo=source.get("repo"), source_revision=source.get("revision"),
        progress=progress,
    )
    verification = report.verification.to_dict() if report.verification else None
    return _write_manifest(target, model_id, output_type, source, verification)


def pull(
    name: str = DEFAULT_MODEL_ID,
    *,
    output_type: str = DEFAULT_PULL_TYPE,
    revision: str | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> InstalledModel:
    """Download a checkpoint from the Hugging Face hub, convert, verify and install it.

    Downloads go through huggingface_hub: its cache (files already there are
    reused), resume, HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE all apply.

    Args:
        name: a catalogue name (`jina-edge models list`) or a repository "org/name".
        output_type: the GGUF type to install (q8_0 by default).
        revision: a commit, branch or tag (default: the catalogue's pinned one,
            or "main" for a repository outside the catalogue).
        force: convert again even when this model and type are installed.
        progress: called as progress(stage, done, total); stages "download"
            (bytes), then the converter's.

    Raises:
        DownloadError: no network, unknown repository or revision, bad hash.
        ConversionError, CheckpointError, UnsupportedModelError: from converting.
    """
    from jina_edge.convert.quantize import check_output_type

    output_type = check_output_type(output_type)
    entry = find_catalog_model(name)
    if entry is None and "/" not in name:
        catalog_model(name)  # raises, listing the known names
    if entry is not None and not entry.on_hub:
        raise ModelNotFoundError(
            f"{entry.model_id} is not published on the Hugging Face hub; if you have its "
            f"checkpoint, install it with `jina-edge models import PATH --name {entry.model_id}`")
    if entry is not None:
        repo, model_id = entry.repo, entry.model_id
        revision = revision or entry.revision
    else:
        repo, model_id = name, name.rsplit("/", 1)[-1].lower()
        revision = revision or "main"
    with _locked(model_id):
        existing = find_installed(f"{model_id}:{output_type}")
        if existing is not None and not force:
            return existing
        snapshot = _download(repo, revision, progress)
        _check_download(snapshot, repo, entry)
        source = {"kind": "pull", "repo": repo, "revision": snapshot.name,
                  "requested_revision": revision}
        return _install_checkpoint(snapshot, model_id, output_type, source, progress)


def hub_reachable(endpoint: str) -> bool:
    """True when a TCP connection to the hub opens within HUB_PROBE_TIMEOUT_S.

    Without it an offline pull spends a long time in huggingface_hub's retries
    before saying anything (docs/performance.md, "Figures behind constants").
    Behind a proxy the hub is not dialled directly, so the probe is left to the
    download itself.
    """
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    url = urlsplit(endpoint)
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=HUB_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def _download(repo: str, revision: str, progress: ProgressCallback | None) -> Path:
    """snapshot_download with our file list, errors turned into DownloadError."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    # huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE once, at import; read
    # them at call time so that a setting made after import is honoured too.
    endpoint = os.environ.get("HF_ENDPOINT") or None
    kwargs: dict[str, Any] = {"endpoint": endpoint}
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    unreachable = not offline and not hub_reachable(endpoint or DEFAULT_HUB)
    if offline or unreachable:
        kwargs["local_files_only"] = True  # the cache may still hold it
    if progress is not None:
        kwargs["tqdm_class"] = _progress_bridge(progress)
    try:
        folder = snapshot_download(
            repo, revision=revision,
            allow_patterns=[*CHECKPOINT_FILES, *EXTRA_PATTERNS], **kwargs,
        )
    except GatedRepoError as exc:
        raise DownloadError(
            f"{repo} needs you to accept its terms on the Hugging Face website and a token "
            "(set HF_TOKEN)"
        ) from exc
    except RevisionNotFoundError as exc:
        raise DownloadError(
            f"revision {revision!r} of {repo} does not exist on the hub; check the revision "
            "or leave it out to get the pinned one"
        ) from exc
    except RepositoryNotFoundError as exc:
        raise DownloadError(
            f"repository {repo} was not found on the hub (or is private: set HF_TOKEN)"
        ) from exc
    except LocalEntryNotFoundError as exc:
        raise DownloadError(
            f"cannot download {repo}: the Hugging Face hub cannot be reached and the files "
            "are not in the local cache. Check the network (and HF_ENDPOINT / HF_HUB_OFFLINE), "
            "or copy the checkpoint folder from another machine and run "
            "`jina-edge models import PATH`", offline=True,
        ) from exc
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DownloadError(
                f"the disk is full while downloading {repo}; free some space and pull again "
                "(files already downloaded are kept)"
            ) from exc
        raise DownloadError(f"downloading {repo} failed: {exc}") from exc
    except Exception as exc:  # httpx and huggingface_hub raise many network error types
        raise DownloadError(
            f"downloading {repo} failed ({type(exc).__name__}: {exc}); pull again (files "
            "already downloaded are kept), or use `jina-edge models import PATH` with a "
            "checkpoint copied from elsewhere"
        ) from exc
    root = Path(folder)
    missing = [f for f in REQUIRED_FILES if not (root / f).is_file()]
    if missing and not (root / "model.safetensors.index.json").is_file():
        raise DownloadError(f"{repo}@{revision} has no {', '.join(missing)}; it is not a "
                            "checkpoint jina-edge can convert")
    return root


def _check_download(snapshot: Path, repo: str, entry: CatalogModel | None) -> None:
    """Check every weights file against its sha256.

    huggingface_hub checks only sizes. In its cache an LFS file is stored under
    its sha256 (the blob the snapshot links to), so the expected hash is known
    offline too; the catalogue's hash, where known, is checked as well.

    Raises:
        DownloadError: for a mismatch; the bad file is deleted from the cache
            so that the next pull downloads it again.
    """
    for weights in sorted(snapshot.glob("*.safetensors")):
        blob = weights.resolve()
        expected = {blob.name} if _SHA256_NAME.fullmatch(blob.name) else set()
        if entry is not None and entry.sha256 and weights.name == "model.safetensors":
            expected.add(entry.sha256)
        if not expected:
            continue
        actual = file_sha256(blob)
        if {actual} != expected:
            blob.unlink(missing_ok=True)
            weights.unlink(missing_ok=True)
            raise DownloadError(
                f"{weights.name} of {repo} has sha256 {actual}, expected "
                f"{' and '.join(sorted(expected))}: the download is corrupt. It was deleted "
                "from the cache; pull again"
            )


def _progress_bridge(progress: ProgressCallback) -> type:
    """A tqdm class that reports huggingface_hub's byte counts to `progress`."""
    from tqdm.auto import tqdm

    # huggingface_hub updates two byte bars (bytes transferred, bytes written)
    # from several download threads; the first byte bar speaks for both.
    lock = threading.Lock()
    reporter: list[object] = []

    class Bridge(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self._done = 0
            with lock:
                if kwargs.get("unit") == "B" and not reporter:
                    reporter.append(self)

        def update(self, n: float | None = 1) -> bool | None:
            if n and reporter and reporter[0] is self:
                with lock:
                    self._done += int(n)
                    progress("download", self._done, int(self.total or 0))
            return None

    return Bridge


def import_model(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    output_type: str = DEFAULT_PULL_TYPE,
    progress: ProgressCallback | None = None,
) -> InstalledModel:
    """Install a local checkpoint folder (converted and verified) or a ready GGUF (checked).

    Raises:
        ModelNotFoundError: when the path does not exist.
        InvalidModelFileError: for a GGUF that is damaged or not a supported
            embedding model.
    """
    from jina_edge.convert.quantize import check_output_type

    source_path = Path(path).expanduser().absolute()
    if source_path.is_dir():
        output_type = check_output_type(output_type)
        model_id = _model_id(name or checkpoint_name(source_path))
        _check_catalogue_name(model_id, _checkpoint_width(source_path))
        with _locked(model_id):
            source = {"kind": "import", "path": str(source_path)}
            return _install_checkpoint(source_path, model_id, output_type, source, progress)
    if source_path.is_file():
        info = read_model_file(source_path)  # refuses what would crash llama.cpp
        check_file_digest(info)  # a damaged copy of a GGUF jina-edge made
        probe_in_child(source_path)  # and what the header cannot show
        base = name or source_path.stem
        model_id = _model_id(split_name(base)[0] if name is None else base)
        _check_catalogue_name(model_id, None)
        with _locked(model_id):
            target = _target(model_id, info.file_type)
            _copy_atomic(source_path, target)
            source = {"kind": "import", "path": str(source_path)}
            return _write_manifest(target, model_id, info.file_type, source, None)
    raise ModelNotFoundError(
        f"{source_path} does not exist; give a checkpoint folder or a .gguf file"
    )


def probe_in_child(path: Path) -> None:
    """Load `path` and embed (or rerank) a probe text in a child process before it is installed.

    Its tokenizer.json first runs on hostile texts in a child of its own.

    llama.cpp aborts the whole process on some files no header check catches;
    in a child that is an error message instead of a dead app or server. The
    embedder refuses NaN, infinite and zero vectors, so a damaged model fails
    here too.

    Raises:
        InvalidModelFileError: saying what the child reported.
    """
    info = read_model_file(path)
    if info.tokenizer_json is not None:
        try:
            probe_once(info.tokenizer_json, info.n_vocab)
        except ValueError as exc:
            raise InvalidModelFileError(f"{path} cannot be used: its tokenizer.json {exc}. "
                                        "It is not installed; "
                                        "convert the checkpoint again") from exc
    texts = [PROBE_TEXT]
    command = [sys.executable, "-m", "jina_edge.cli", "embed"]
    if info.kind == "reranker":
        command[-1], texts = "rerank", [PROBE_QUERY, PROBE_TEXT]
    command += ["--model", str(path), "--device", "cpu", "--threads", "1", "--max-tokens", "64",
                *texts]
    # llama.cpp alone: an ONNX Runtime graph built here would be named after this
    # path, which a GGUF made elsewhere keeps its graphs by, and be left behind.
    env = {**os.environ, "JINA_EDGE_ENGINE": "llama.cpp"}
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env,
                              timeout=PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise InvalidModelFileError(f"{path} did not embed a short text within "
                                    f"{PROBE_TIMEOUT_S:.0f} s; it is not installed") from exc
    if done.returncode == 0:
        return
    if done.returncode < 0:
        why = f"llama.cpp aborted on it (signal {-done.returncode})"
    else:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        why = lines[-1].removeprefix("Error: ") if lines else f"exit code {done.returncode}"
    raise InvalidModelFileError(f"{path} cannot be used: {why}. It is not installed; convert "
                                "the checkpoint again or get another copy")


def _checkpoint_width(folder: Path) -> int | None:
    """The hidden size a checkpoint's config.json states, if it can be read."""
    from jina_edge.convert.checkpoint import read_json

    try:
        value = read_json(folder / "config.json", what="model config").get("hidden_size")
    except CheckpointError:
        return None  # the conversion says what is wrong with it
    return value if isinstance(value, int) else None


# Folder names that say nothing of the model inside: a checkpoint in one is
# named after the nearest folder above that does.
_GENERIC_FOLDERS = frozenset({"model", "models", "checkpoint", "checkpoints", "snapshots",
                              "main", "weights", "hf", "huggingface", "onnx", "final"})
_HUB_CACHE_FOLDER = re.compile(r"models--[^/]+--(?P<name>[^/]+)")  # huggingface_hub's cache


def checkpoint_name(folder: Path) -> str:
    """The name an imported checkpoint folder gets when none is given.

    The folder's own name, unless it says nothing of the model ("model", a
    snapshot's commit hash): then the nearest folder above that does, and a
    Hugging Face cache folder ("models--org--name") gives its model's name.
    config.json's `_name_or_path` is no help: the real Jina files name the
    model they were trained from there.
    """
    for part in (folder, *folder.parents):
        hub = _HUB_CACHE_FOLDER.fullmatch(part.name)
        if hub:
            return hub["name"]
        generic = part.name.lower() in _GENERIC_FOLDERS or re.fullmatch(r"[0-9a-f]{32,}",
                                                                        part.name)
        if part.name and not generic:
            return part.name
    return folder.name


def _model_id(name: str) -> str:
    """A checked model name: what `models list` shows and a model argument can name."""
    model_id = name.strip().replace(" ", "-")
    if not _MODEL_NAME.fullmatch(model_id):
        raise ModelNameError(f"{name!r} cannot be a model name; use up to {MAX_NAME} letters, "
                            "digits, '-', '_' or '.', not starting with '.'")
    return model_id


def _check_catalogue_name(model_id: str, dim: int | None) -> None:
    """An import may take a catalogue name only with that model's shape.

    Otherwise any GGUF could answer to 'jina-embeddings-v2-small-en' and become
    the default. A GGUF carries no proof of its origin, so it never may; a
    checkpoint folder (converted and verified here) may when its width matches.
    """
    entry = find_catalog_model(model_id)
    if entry is not None and dim != entry.dim:
        raise ModelNameError(f"{model_id!r} is the name of a catalogue model and this is not "
                            "that model; give the import another name with --name")


def _copy_atomic(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise ConversionError(f"the disk holding {target.parent} is full") from exc
        raise


def remove(name: str) -> tuple[InstalledModel, int]:
    """Remove an installed model (one type; a bare name removes the preferred type).

    The files engines made from it (ONNX Runtime graphs) go too, unless another
    installed model is the same file. Returns the model and the bytes of those freed.

    Raises:
        ModelNotFoundError: when nothing by that name is installed.
    """
    installed = find_installed(name)
    if installed is None:
        raise ModelNotFoundError(f"no installed model named {name!r}; see `jina-edge models list`")
    key = _file_key(installed.path)
    with _locked(installed.model_id):
        installed.path.with_suffix(".json").unlink(missing_ok=True)  # uninstalled from here on
        installed.path.unlink(missing_ok=True)
        folder = installed.path.parent
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    for setting_key in ("model", "reranker"):
        if get(setting_key) in (installed.name, installed.model_id) and find_installed(
                installed.model_id) is None:
            save_config({setting_key: None})
    if key is None or any(_file_key(other.path) == key for other in list_installed()):
        return installed, 0
    return installed, forget_derived(key)


def _file_key(gguf: Path) -> str | None:
    """What names a GGUF's derived files in the cache (None: it cannot be read)."""
    try:
        return file_key(gguf, read_model_file(gguf))
    except (JinaEdgeError, OSError):
        return None


def set_default(name: str) -> InstalledModel:
    """Make an installed model the default for every command and `jina_edge.embed`.

    A reranker becomes the default reranker instead (`jina_edge.Reranker()`,
    search with reranking).

    Raises:
        ModelNotFoundError: when it is not installed.
    """
    installed = find_installed(name)
    if installed is None:
        resolve_model(name)  # a missing name raises with the command that installs it
        raise ModelNotFoundError(
            f"{name} is a file, not an installed model; install it with "
            f"`jina-edge models import {name}` first"
        )
    if installed.manifest.get("kind") == "reranker":
        save_config({"reranker": installed.name})
    else:
        save_config({"model": installed.name})
    return installed


def model_info(name: str) -> tuple[InstalledModel | None, ModelFileInfo]:
    """Manifest (when installed) and GGUF metadata of a model name or path."""
    installed = find_installed(name)
    path = installed.path if installed is not None else resolve_model(name)
    return installed, read_model_file(path)
