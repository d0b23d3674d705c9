"""A personal file index: folders, sync, search. The service the CLI and the GUI share."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from filelock import FileLock, Timeout

from jina_edge.config import get, home_dir
from jina_edge.embedder import Embedder, model_key
from jina_edge.errors import (
    FileRefusedError,
    FolderError,
    IndexNotFoundError,
    JinaEdgeError,
    ModelMismatchError,
    ModelNotFoundError,
)
from jina_edge.index.db import Filters, IndexDB, Root
from jina_edge.index.extract import Document, ExtractionError, extract, file_type_of
from jina_edge.index.ignore import IgnoreRules
from jina_edge.index.ranking import SearchMode
from jina_edge.index.search import FileHit, Hit, Searcher, rerank
from jina_edge.index.sync import ProgressCallback, SyncReport, SyncSettings, sync_roots
from jina_edge.index.vectors import EXACT_LIMIT, VectorSearch
from jina_edge.index.watch import (
    DEBOUNCE_SECONDS,
    MAX_WAIT_SECONDS,
    RESCAN_SECONDS,
    watch_changes,
)
from jina_edge.models.installed import default_model_name, find_installed, resolve_model
from jina_edge.models.modelfile import read_model_file
from jina_edge.reranker import Reranker

logger = logging.getLogger(__name__)
ResultT = TypeVar("ResultT", Hit, FileHit)

KEY_MODEL = "model"          # meta: the model key the searchable vectors come from
KEY_MODEL_PATH = "model_path"  # meta: the GGUF that made them, to embed queries with
QUERY_MAX_TOKENS = 512  # longer queries are cut (truncate policy)
KEY_CHUNKING = "chunking"  # meta: the chunking of the first sync, as JSON
CHUNKING_FIELDS = ("chunk_tokens", "overlap_tokens", "late_chunking_tokens")
KEY_MODEL_NAME = "model_name"  # meta: the model syncs embed with (installed name or GGUF path)


def rerank_enabled(argument: bool | None = None) -> bool:
    """Whether searches rerank: argument > JINA_EDGE_RERANK > config "rerank" > off."""
    return bool(get("rerank", argument))


def model_reference(model: str | os.PathLike[str] | None) -> str:
    """What an index remembers for a model argument: a GGUF path or an installed name.

    The path is absolute and the name carries its type, so that later changes
    of the working folder or of the default model do not change what it means
    (a name that is not installed stays as given).
    """
    name = default_model_name() if model is None else os.fspath(model)
    path = Path(name).expanduser()
    with contextlib.suppress(OSError):
        if path.is_file():
            return str(path.absolute())
    installed = find_installed(name)
    return installed.name if installed is not None else name


def _key_of(model: str) -> str | None:
    """The vector-space key of a model argument (None: it leads to no model file)."""
    try:
        return model_key(read_model_file(resolve_model(model)))
    except JinaEdgeError:
        return None


def default_index_path() -> Path:
    """The user's default index: $JINA_EDGE_INDEX, config "index", or <data>/indexes/default.db."""
    configured: Path | None = get("index")
    return configured if configured is not None else home_dir() / "indexes" / "default.db"


@dataclass(frozen=True)
class RootStatus:
    """One folder's state for `index status` and the GUI."""

    path: Path
    available: bool
    paused: bool
    last_sync: float | None
    files_indexed: int
    files_skipped: int
    files_failed: int
    chunks: int


class Index:
    """An index of a person's folders, searchable by meaning and by keyword.

    Args:
        path: the index database (default: `default_index_path()`).
        model: the model to embed with (name or GGUF path). Default: the one the
            index remembers from its first sync or `use_model`, else the default
            model. A model other than the remembered one is refused by `sync`
            (switching re-embeds everything: `use_model` says so first).
        settings: chunking and file selection.
        embedder: an Embedder to use instead of loading `model` (tests, the GUI).
        other_query_models: when the index was embedded with another model than
            this one, load that model (named in the index) for queries; False
            refuses such searches instead.
        reranker: the cross-encoder reranked searches use: a loaded Reranker, or a
            model name or GGUF path loaded on the first reranked search (default:
            the default reranker).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *,
                 model: str | os.PathLike[str] | None = None,
                 settings: SyncSettings | None = None, embedder: Embedder | None = None,
                 other_query_models: bool = True,
                 reranker: Reranker | str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_index_path()
        self.db = IndexDB(self.path)
        self.settings = settings or self._remembered_chunking(SyncSettings.from_config())
        # Resolved once: an installed name gets its type, a path its folder.
        self._model = None if model is None else model_reference(model)
        # False in a server: never load a model file that the index's own
        # metadata names (a crafted index could name any GGUF).
        self._other_query_models = other_query_models
        self._embedder = embedder
        self._query_embedder: Embedder | None = None
        self._searcher: Searcher | None = None
        self._reranker = reranker
        self._lock = threading.Lock()

    @classmethod
    def open_existing(cls, path: str | os.PathLike[str] | None = None,
                      **kwargs: Any) -> Index:
        """The index at `path` (default: the user's), refusing to make one where there is none.

        Raises:
            IndexNotFoundError: saying how to make it.
        """
        where = Path(path).expanduser() if path is not None else default_index_path()
        if not where.is_file():
            named = "" if path is None else f" --index {where}"
            raise IndexNotFoundError(
                f"there is no index at {where}: `jina-edge index add FOLDER{named}` makes it, "
                f"then `jina-edge index sync{named}` fills it")
        return cls(where, **kwargs)

    @property
    def embedder(self) -> Embedder:
        """The model files are embedded with (loaded on first use)."""
        with self._lock:
            if self._embedder is None:
                self._embedder = Embedder.from_config(resolve_model(self.model_name))
            return self._embedder

    @property
    def model_name(self) -> str:
        """The model syncs embed with: the one asked for, else the remembered, else the default."""
        if self._model is not None:
            return self._model
        if self._embedder is not None and self._embedder.model_path is not None:
            return str(self._embedder.model_path.absolute())
        return self.db.get_meta(KEY_MODEL_NAME) or model_reference(None)

    def use_model(self, model: str | os.PathLike[str]) -> int:
        """Make `model` the one this index embeds with; returns the passages to embed again.

        The next sync re-embeds every file; searches use the old vectors until it is done.
        """
        name = model_reference(model)
        key = model_key(read_model_file(resolve_model(name)))
        self.db.set_meta(KEY_MODEL_NAME, name)
        with self._lock:
            self._model = name
            if self._embedder is not None and self._embedder.model_key != key:
                self._embedder = None
        return 0 if self.db.get_meta(KEY_MODEL) in (None, key) else self.db.chunk_count()

    def _remembered_chunking(self, settings: SyncSettings) -> SyncSettings:
        """The configured settings, with the chunking the index was built with.

        Chunks cut another way would mix with the old ones file by file, so the
        chunking of the first sync stays (a new index takes the new settings).
        """
        stored = self.db.get_meta(KEY_CHUNKING)
        if stored is None:
            return settings
        try:
            values = json.loads(stored)
            remembered = dataclasses.replace(
                settings, chunk_tokens=int(values["chunk_tokens"]),
                overlap_tokens=int(values["overlap_tokens"]),
                late_chunking_tokens=int(values["late_chunking_tokens"]))
        except (ValueError, TypeError, KeyError):
            return settings  # unreadable: the configured ones
        if remembered.chunkable:
            return remembered
        # Sizes that cut nothing (an older version remembered them) indexed
        # nothing: the configured ones take their place.
        self.db.set_meta(KEY_CHUNKING, json.dumps({k: getattr(settings, k)
                                                   for k in CHUNKING_FIELDS}))
        return settings

    def _remember_model(self) -> None:
        """The first model an index is used with is the one it keeps (see `use_model`)."""
        remembered = self.db.get_meta(KEY_MODEL_NAME)
        wanted = self.model_name
        if remembered is None:
            self.db.set_meta(KEY_MODEL_NAME, wanted)
        elif remembered != wanted and _key_of(remembered) != _key_of(wanted):
            raise ModelMismatchError(
                f"the index {self.path} is embedded with {remembered}, not {wanted}; to switch, "
                f"run `jina-edge index model {wanted}` (every passage is embedded again), "
                "or leave --model out")

    # -- folders --------------------------------------------------------------

    def add(self, folder: str | os.PathLike[str]) -> Root:
        """Add a folder to the index (it is read at the next sync).

        Raises:
            JinaEdgeError: when it is not a folder, or overlaps a folder already added.
        """
        path = Path(os.path.abspath(Path(folder).expanduser()))
        if not path.is_dir():
            raise FolderError(f"{path} is not a folder")
        for root in self.db.roots():
            if path == root.path:
                return root
            if path.is_relative_to(root.path):
                raise FolderError(f"{path} is already inside the indexed folder {root.path}")
            if root.path.is_relative_to(path):
                raise FolderError(
                    f"{path} contains the indexed folder {root.path}; remove that one first "
                    f"(`jina-edge index remove {root.path}`)"
                )
        self._remember_model()
        return self.db.add_root(path)

    def remove(self, folder: str | os.PathLike[str]) -> None:
        """Remove a folder and everything indexed from it.

        Raises:
            JinaEdgeError: when the folder is not in the index.
        """
        path = Path(os.path.abspath(Path(folder).expanduser()))
        root = self.db.root_for(path)
        if root is None:
            raise FolderError(f"{path} is not in the index {self.path}")
        self.db.remove_root(root)

    def pause(self, folder: str | os.PathLike[str], paused: bool = True) -> None:
        """Pause (or resume) syncing a folder; its entries stay searchable."""
        root = self.db.root_for(Path(os.path.abspath(Path(folder).expanduser())))
        if root is None:
            raise FolderError(f"{folder} is not in the index {self.path}")
        self.db.update_root(root, paused=paused)

    def roots(self) -> list[Root]:
        """The folders in the index."""
        return self.db.roots()

    # -- sync -----------------------------------------------------------------

    def sync(self, *, progress: ProgressCallback | None = None,
             cancel: threading.Event | None = None) -> SyncReport:
        """Bring the index up to date. Only one sync runs per index at a time.

        When the model changed, files are re-embedded and searches keep using
        the old vectors until every file has new ones.
        """
        self._remember_model()
        if self.db.get_meta(KEY_CHUNKING) is None:
            self.db.set_meta(KEY_CHUNKING, json.dumps(
                {k: getattr(self.settings, k) for k in CHUNKING_FIELDS}))
        embedder = self.embedder
        with FileLock(str(self.path) + ".sync.lock"):
            report = sync_roots(self.db, embedder, self.db.roots(), self.settings,
                                progress=progress, cancel=cancel)
            key = embedder.model_key
            if (not report.cancelled and self.db.get_meta(KEY_MODEL) != key
                    and not self.db.files_missing_vectors(key)):
                self.db.set_meta(KEY_MODEL, key)
                self.db.drop_vectors_except(key)
            if self.db.get_meta(KEY_MODEL) == key:  # where the file is now, for queries
                self.db.set_meta(KEY_MODEL_PATH, str(embedder.model_path or ""))
            active = self.db.get_meta(KEY_MODEL)
            if (not report.cancelled and active is not None
                    and self.db.models_with_vectors().get(active, 0) > EXACT_LIMIT):
                # Update the HNSW graph here, in the background work, rather than
                # in the next search (the first build of 1M vectors takes minutes).
                VectorSearch(self.db, active, exact_limit=EXACT_LIMIT).prepare()
        return report

    def watch(self, stop: threading.Event, on_change: Callable[[], None], *, now: bool = True,
              debounce_s: float = DEBOUNCE_SECONDS, rescan_s: float = RESCAN_SECONDS,
              max_wait_s: float = MAX_WAIT_SECONDS) -> None:
        """Call `on_change` now (unless not `now`) and whenever the folders' files change.

        Until `stop` is set. `on_change` usually syncs. A burst of changes calls
        it once: when nothing changed for `debounce_s`, or `max_wait_s` after the
        burst began; a full rescan calls it every `rescan_s` too, to catch what
        the operating system did not report.
        """
        folders = [r.path for r in self.roots() if r.path.is_dir() and not r.paused]
        own = (str(self.path), str(self.path) + "-wal", str(self.path) + "-shm")
        watch_changes(folders, ignored=own, stop=stop, on_change=on_change, now=now,
                      debounce_s=debounce_s, rescan_s=rescan_s, max_wait_s=max_wait_s)

    def sync_running(self) -> bool:
        """Whether a sync of this index is running now (in this or another process)."""
        lock = FileLock(str(self.path) + ".sync.lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return True
        lock.release()
        return False

    # -- search ---------------------------------------------------------------

    def search(self, query: str, *, k: int = 10, mode: SearchMode = "hybrid",
               filters: Filters | None = None, rerank: bool | None = None) -> list[FileHit]:
        """The k best files for `query`, each with its best passages.

        [] when nothing passes the relevance floor (see `jina_edge.index.search`).
        With `rerank` (default: the "rerank" setting, off), the best
        max(k, rerank_depth) results are ordered by the reranker (see `reranker`).
        """
        searcher, depth, reranked = self._searcher_for(mode, k, rerank)
        files = searcher.files(query, k=depth, mode=mode, filters=filters)
        files = self._rerank(query, files)[:k] if reranked else files
        return [dataclasses.replace(f, since_indexed=self._since_indexed(f.path)) for f in files]

    def search_passages(self, query: str, *, k: int = 10, mode: SearchMode = "hybrid",
                        filters: Filters | None = None, rerank: bool | None = None) -> list[Hit]:
        """The k best passages for `query`, whatever their file (see `search`)."""
        searcher, depth, reranked = self._searcher_for(mode, k, rerank)
        hits = searcher.passages(query, k=depth, mode=mode, filters=filters)
        return self._rerank(query, hits)[:k] if reranked else hits

    def _searcher_for(self, mode: SearchMode, k: int,
                      rerank: bool | None) -> tuple[Searcher, int, bool]:
        """The searcher for `mode`, how many results to fetch, and whether to rerank them."""
        embedder = None if mode == "keyword" else self._embedder_for_queries()
        with self._lock:
            if self._searcher is None or self._searcher.embedder is not embedder:
                self._searcher = Searcher(self.db, embedder)
            searcher = self._searcher
        reranked = rerank_enabled(rerank)
        depth = k
        if reranked:
            depth = max(k, get("rerank_depth"))
        return searcher, depth, reranked

    def _since_indexed(self, path: Path) -> Literal["deleted", "changed"] | None:
        """Whether a result's file was deleted or changed after the last sync read it."""
        try:
            stat = path.stat()
        except FileNotFoundError:
            return "deleted"
        except OSError:  # unreadable now (permissions, an unplugged disk): not known to differ
            return None
        record = self.db.file(path)
        if record is not None and (stat.st_size, stat.st_mtime_ns) != (record.size,
                                                                       record.mtime_ns):
            return "changed"
        return None

    def no_results_hint(self, mode: SearchMode) -> str:
        """What an empty result means here, and what to do: one line for every interface."""
        roots = self.status()
        if not roots:
            return "Nothing is indexed yet: add a folder, and its files become searchable."
        indexed = sum(r.files_indexed for r in roots)
        unfinished = sum(1 for r in roots if r.last_sync is None)
        if unfinished:
            return (f"No matches among the {indexed} files indexed so far; the index is "
                    f"incomplete ({unfinished} of {len(roots)} folders not fully indexed "
                    "yet): sync to finish.")
        other = "semantic" if mode == "hybrid" else "hybrid"
        return f"No matches. Try other words, or the {other} mode."

    def _rerank(self, query: str, results: list[ResultT]) -> list[ResultT]:
        return rerank(query, results, self.reranker) if results else results

    @property
    def reranker(self) -> Reranker:
        """The cross-encoder reranked searches use (loaded on first use)."""
        with self._lock:
            if self._reranker is None or isinstance(self._reranker, (str, os.PathLike)):
                self._reranker = Reranker.from_config(self._reranker)
            return self._reranker

    def _embedder_for_queries(self) -> Embedder | None:
        """The model whose vectors are searchable; queries must be embedded with it."""
        active = self.db.get_meta(KEY_MODEL)
        if active is None:
            return None  # nothing embedded yet
        if self._embedder is not None and self._embedder.model_key == active:
            return self._embedder
        if not self._other_query_models:
            own = self._embedder.model_key if self._embedder is not None else "none"
            raise ModelMismatchError(
                f"the index was embedded with another model ({active}) than this one ({own}); "
                "search it with that model, or sync it again with this one")
        if self._query_embedder is None or self._query_embedder.model_key != active:
            path = self.db.get_meta(KEY_MODEL_PATH) or ""
            try:
                # A query is short: a small window loads faster and needs less memory
                # than the model's 8,192 tokens (the vectors are the same).
                self._query_embedder = Embedder.from_config(resolve_model(path or self._model),
                                                            max_tokens=QUERY_MAX_TOKENS)
            except ModelNotFoundError as exc:
                raise ModelMismatchError(
                    f"the index was embedded with {path}, which is gone; sync the index "
                    "again to re-embed it with the current model"
                ) from exc
        return self._query_embedder

    def read_file(self, file: str | os.PathLike[str]) -> Document:
        """An indexed file's document, read only if it is still the file that was indexed.

        Raises:
            JinaEdgeError: for a relative path, one outside the indexed folders or
                not indexed, one that leads outside its folder through a link, or
                one whose content changed since (a hard link swapped in, say).
        """
        path = Path(file).expanduser()
        if not path.is_absolute():
            raise FileRefusedError(f"refused: {file!r} is not an absolute path; give the path "
                                "exactly as a search result shows it")
        path = Path(os.path.abspath(path))
        roots = [r.path for r in self.db.roots()]
        root = next((r for r in roots if path.is_relative_to(r)), None)
        if root is None:
            folders = ", ".join(map(str, roots)) or "none yet"
            raise FileRefusedError(f"refused: {path} is not inside the index's folders "
                                f"({folders}); only indexed files can be read")
        if not Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root)):
            raise FileRefusedError(f"refused: {path} leads outside {root} through a symbolic link")
        record = self.db.file(path)
        if record is None or record.status != "indexed":
            raise FileRefusedError(f"refused: {path} is not an indexed file ({self.explain(path)})")
        try:
            return extract(path, max_bytes=self.settings.max_file_bytes, inside=root,
                           sha256=record.sha256)
        except ExtractionError as exc:
            raise FileRefusedError(f"refused: {exc}") from exc

    # -- status ---------------------------------------------------------------

    def explain(self, file: str | os.PathLike[str]) -> str:
        """Why a file is or is not indexed, in one sentence."""
        path = Path(os.path.abspath(Path(file).expanduser()))
        root = next((r for r in self.db.roots() if path.is_relative_to(r.path)), None)
        if root is None:
            return f"not indexed: {path} is not inside an indexed folder"
        verdict = IgnoreRules(root.path, patterns=self.settings.patterns,
                              include_hidden=self.settings.include_hidden,
                              max_file_bytes=self.settings.max_file_bytes).explain(path)
        if not verdict.included:
            return f"not indexed: {verdict.reason}"
        if path.is_dir():
            inside = [r.status for r in self.db.files() if r.path.is_relative_to(path)]
            indexed = inside.count("indexed")
            return (f"a folder: {indexed} files in it indexed, {len(inside) - indexed} skipped "
                    "or failed (`jina-edge index status` lists them)")
        if path.is_file() and file_type_of(path) is None:
            if not path.suffix:
                return "not indexed: it has no extension and is not text"
            return f"not indexed: {path.suffix} is not a supported file type"
        record = self.db.file(path)
        if record is None:
            return "not indexed yet: run `jina-edge index sync`"
        if record.status == "indexed":
            return f"indexed ({record.file_type})"
        return f"{record.status}: {record.reason}"

    def status(self) -> list[RootStatus]:
        """Each folder with its counts."""
        out = []
        for root in self.db.roots():
            counts = self.db.root_counts(root)
            out.append(RootStatus(root.path, root.available, root.paused, root.last_sync,
                                  counts.get("files_indexed", 0), counts.get("files_skipped", 0),
                                  counts.get("files_failed", 0), counts.get("chunks", 0)))
        return out

    def files_to_embed(self) -> int | None:
        """Indexed files still lacking a vector of the index's model (None: no such model file).

        After `use_model`, or an index from before whole-file vectors, until the next sync.
        """
        key = _key_of(self.model_name)
        return None if key is None else len(self.db.files_missing_vectors(key))

    def file_types(self) -> dict[str, int]:
        """Indexed files by type, most common first (for a type filter)."""
        return self.db.file_type_counts()

    def problems(self) -> list[tuple[Path, str, str]]:
        """(path, status, reason) of every skipped or failed file."""
        return [(r.path, r.status, r.reason or "") for r in self.db.files()
                if r.status != "indexed"]

    def close(self) -> None:
        """Close the database (the models stay loaded until garbage-collected)."""
        self.db.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
