"""The index database: the only module that talks to SQLite.

One SQLite file per index, in WAL mode so that searches (readers) and one sync
(the writer) run at once across processes, with a busy timeout instead of
"database is locked" errors. The schema evolves through numbered migrations
recorded in the database. Each file is written in one transaction, so a crash
or kill leaves every file either fully indexed in its old state or its new one.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jina_edge.errors import IndexDatabaseError
from jina_edge.index.keywords import index_form
from jina_edge.index.schema import MIGRATIONS, statements

# How long a connection waits for another process's write before failing.
BUSY_TIMEOUT_MS = 60_000
# Ids per `IN (...)` list: far below SQLite's limit on parameters (32,766).
ID_BATCH = 500

@dataclass(frozen=True)
class Root:
    """A folder the index covers."""

    id: int
    path: Path
    last_sync: float | None
    paused: bool
    available: bool


@dataclass(frozen=True)
class FileRecord:
    """What the index knows about one file."""

    id: int
    root_id: int
    path: Path
    size: int
    mtime_ns: int
    sha256: str | None
    file_type: str | None
    status: str
    reason: str | None
    available: bool


@dataclass(frozen=True)
class ChunkRecord:
    """A chunk to store: its text, location and what its vector depends on."""

    text: str
    heading: str
    line_start: int | None
    line_end: int | None
    page: int | None
    vector_key: str


@dataclass(frozen=True)
class ChunkRow:
    """A stored chunk with its file, for search results."""

    id: int
    file_path: Path
    file_type: str | None
    mtime_ns: int
    text: str
    heading: str
    line_start: int | None
    line_end: int | None
    page: int | None
    file_sha256: str | None = None


@dataclass(frozen=True)
class Filters:
    """Search filters; None means no restriction."""

    folder: Path | None = None
    file_types: tuple[str, ...] | None = None
    modified_after: float | None = None   # seconds since the epoch
    modified_before: float | None = None

# A file's name in SQL: its path after the last separator (rtrim drops from the
# end every character that is not a separator).
_FILE_NAME = ("substr(f.path, "
              "length(rtrim(f.path, replace(replace(f.path, '/', ''), '\\', ''))) + 1)")


class IndexDB:
    """An open index database. Use one per thread (SQLite connections are not shared)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        if self.path.exists() and not self.path.is_file():
            raise IndexDatabaseError(f"{self.path} is not a file; an index is a file such as "
                                     "~/notes.db")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                         isolation_level=None, check_same_thread=False)
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._refuse_foreign()
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise IndexDatabaseError(
                f"cannot open the index {self.path}: {exc}. If the file is damaged, move it "
                "away and sync again to rebuild it"
            ) from exc
        self._lock = threading.RLock()
        self._chunk_count: tuple[int, int] | None = None  # (generation, passages)

    # -- schema ---------------------------------------------------------------

    def _refuse_foreign(self) -> None:
        """Leave another program's SQLite database alone (no tables added, no WAL)."""
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        tables = self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if version == 0 and tables:
            self._conn.close()
            raise IndexDatabaseError(f"{self.path} is a database of another program, not a "
                                     "jina-edge index; give the index another path")

    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise IndexDatabaseError(
                f"{self.path} was written by a newer jina-edge (schema {version}); upgrade"
            )
        for number in range(version, len(MIGRATIONS)):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if self._conn.execute("PRAGMA user_version").fetchone()[0] == number:
                    self._apply(MIGRATIONS[number])
                    self._conn.execute(f"PRAGMA user_version = {number + 1}")
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def _apply(self, migration: str | Callable[[sqlite3.Connection], None]) -> None:
        if callable(migration):
            migration(self._conn)
            return
        for statement in statements(migration):
            self._conn.execute(statement)

    @property
    def schema_version(self) -> int:
        """The number of migrations applied."""
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One unit of work: all of it is written, or none of it."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _run(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    # -- meta -----------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A value from the meta table."""
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str | None) -> None:
        """Set (or, with None, delete) a meta value."""
        if value is None:
            self._run("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self._run("INSERT INTO meta(key, value) VALUES (?, ?) "
                      "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    # -- roots ----------------------------------------------------------------

    def add_root(self, path: Path) -> Root:
        """Add a folder (no-op if present)."""
        self._run("INSERT OR IGNORE INTO roots(path, added) VALUES (?, ?)",
                  (str(path), time.time()))
        root = self.root_for(path)
        if root is None:  # pragma: no cover - just inserted
            raise IndexDatabaseError(f"could not add {path}")
        return root

    def remove_root(self, root: Root) -> None:
        """Remove a folder and everything indexed under it."""
        with self.transaction():
            self._run("DELETE FROM roots WHERE id = ?", (root.id,))  # its files go with it
            self._bump_generation()

    def roots(self) -> list[Root]:
        """All folders, in the order they were added."""
        return [_root(r) for r in self._query(
            "SELECT id, path, last_sync, paused, available FROM roots ORDER BY id")]

    def root_for(self, path: Path) -> Root | None:
        """The root with exactly this path."""
        rows = self._query("SELECT id, path, last_sync, paused, available FROM roots "
                           "WHERE path = ?", (str(path),))
        return _root(rows[0]) if rows else None

    def update_root(self, root: Root, *, last_sync: float | None = None,
                    paused: bool | None = None, available: bool | None = None) -> None:
        """Change a root's sync time, paused flag or availability."""
        if last_sync is not None:
            self._run("UPDATE roots SET last_sync = ? WHERE id = ?", (last_sync, root.id))
        if paused is not None:
            self._run("UPDATE roots SET paused = ? WHERE id = ?", (int(paused), root.id))
        if available is not None:
            self._run("UPDATE roots SET available = ? WHERE id = ?", (int(available), root.id))
            self._run("UPDATE files SET available = ? WHERE root_id = ?",
                      (int(available), root.id))

    # -- files ----------------------------------------------------------------

    def files(self, root: Root | None = None) -> list[FileRecord]:
        """Every file record (of one root)."""
        sql = ("SELECT id, root_id, path, size, mtime_ns, sha256, file_type, status, reason, "
               "available FROM files")
        rows = (self._query(sql + " WHERE root_id = ? ORDER BY path", (root.id,)) if root
                else self._query(sql + " ORDER BY path"))
        return [_file(r) for r in rows]

    def file(self, path: Path) -> FileRecord | None:
        """The record of one file."""
        rows = self._query("SELECT id, root_id, path, size, mtime_ns, sha256, file_type, status, "
                           "reason, available FROM files WHERE path = ?", (str(path),))
        return _file(rows[0]) if rows else None

    def write_file(self, root: Root, path: Path, *, size: int, mtime_ns: int, sha256: str | None,
                   file_type: str | None, status: str, reason: str | None,
                   chunks: Sequence[ChunkRecord] = (),
                   vectors: dict[str, np.ndarray] | None = None,
                   file_vectors: dict[str, np.ndarray] | None = None) -> int:
        """Replace everything known about a file in one transaction; returns its id.

        `vectors` maps a model key to a float32 array with one row per chunk,
        `file_vectors` a model key to the vector of the whole file's opening.
        """
        with self.transaction():
            self._run("DELETE FROM files WHERE path = ?", (str(path),))
            cursor = self._run(
                "INSERT INTO files(root_id, path, size, mtime_ns, sha256, file_type, status, "
                "reason, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (root.id, str(path), size, mtime_ns, sha256, file_type, status, reason,
                 time.time()))
            file_id = int(cursor.lastrowid or 0)
            chunk_ids = []
            for ord_, chunk in enumerate(chunks):
                cursor = self._run(
                    "INSERT INTO chunks(file_id, ord, text, heading, line_start, line_end, page, "
                    "vector_key, fts_text, fts_heading) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (file_id, ord_, chunk.text, chunk.heading, chunk.line_start, chunk.line_end,
                     chunk.page, chunk.vector_key, index_form(chunk.text),
                     index_form(chunk.heading)))
                chunk_ids.append(int(cursor.lastrowid or 0))
            for model, matrix in (vectors or {}).items():
                if len(matrix) != len(chunk_ids):
                    raise ValueError(f"{len(matrix)} vectors for {len(chunk_ids)} chunks")
                codes, scales = encode_vectors(matrix)
                with self._lock:
                    self._conn.executemany(
                        "INSERT INTO vectors(chunk_id, model, vec, scale) VALUES (?, ?, ?, ?)",
                        [(cid, model, code.tobytes(), float(scale)) for cid, code, scale
                         in zip(chunk_ids, codes, scales, strict=True)])
            for model, vector in (file_vectors or {}).items():
                codes, scales = encode_vectors(vector[None, :])
                self._run("INSERT INTO file_vectors(file_id, model, vec, scale) "
                          "VALUES (?, ?, ?, ?)",
                          (file_id, model, codes[0].tobytes(), float(scales[0])))
            self._bump_generation()
            return file_id

    def move_file(self, record: FileRecord, root: Root, new_path: Path, mtime_ns: int) -> None:
        """Record that a file was moved or renamed: its chunks and vectors stay."""
        with self.transaction():
            self._run("DELETE FROM files WHERE path = ? AND id != ?", (str(new_path), record.id))
            self._run("UPDATE files SET path = ?, root_id = ?, mtime_ns = ?, available = 1 "
                      "WHERE id = ?", (str(new_path), root.id, mtime_ns, record.id))
            self._bump_generation()

    def touch_file(self, record: FileRecord, mtime_ns: int) -> None:
        """A file whose mtime changed but whose content did not."""
        self._run("UPDATE files SET mtime_ns = ? WHERE id = ?", (mtime_ns, record.id))

    def delete_files(self, records: Sequence[FileRecord]) -> None:
        """Forget files (and their chunks and vectors) in one transaction."""
        if not records:
            return
        with self.transaction():
            for r in records:
                self._run("DELETE FROM files WHERE id = ?", (r.id,))
            self._bump_generation()

    def chunk_count(self) -> int:
        """Passages in the index (counted again only after a change: counting is slow at 1M)."""
        generation = self.generation()
        if self._chunk_count is None or self._chunk_count[0] != generation:
            count = int(self._query("SELECT count(*) FROM chunks")[0][0])
            self._chunk_count = (generation, count)
        return self._chunk_count[1]

    def files_missing_vectors(self, model: str) -> set[int]:
        """Ids of indexed files with a chunk, or the file itself, lacking a vector from `model`."""
        return {int(r[0]) for r in self._query(
            "SELECT DISTINCT c.file_id FROM chunks c LEFT JOIN vectors v "
            "ON v.chunk_id = c.id AND v.model = ? WHERE v.chunk_id IS NULL "
            "UNION SELECT f.id FROM files f WHERE f.status = 'indexed' AND EXISTS "
            "(SELECT 1 FROM chunks c WHERE c.file_id = f.id) AND NOT EXISTS "
            "(SELECT 1 FROM file_vectors fv WHERE fv.file_id = f.id AND fv.model = ?)",
            (model, model))}

    def drop_vectors_except(self, model: str) -> None:
        """Delete the vectors of every other model (after a model change completed)."""
        with self.transaction():
            self._run("DELETE FROM vectors WHERE model != ?", (model,))
            self._run("DELETE FROM file_vectors WHERE model != ?", (model,))
            self._bump_generation()

    def known_vectors(self, model: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors already computed for these vector keys with this model (reuse on re-chunk)."""
        out: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for part, marks in _id_batches(unique):
            rows = self._query(
                "SELECT c.vector_key, v.vec, v.scale FROM chunks c JOIN vectors v "
                f"ON v.chunk_id = c.id WHERE v.model = ? AND c.vector_key IN ({marks})",
                (model, *part))
            out.update(zip((str(r[0]) for r in rows), _decode_vectors([r[1:] for r in rows]),
                           strict=True))
        return out

    # -- reading for search ---------------------------------------------------

    def _bump_generation(self) -> None:
        self._run("INSERT INTO meta(key, value) VALUES ('generation', '1') ON CONFLICT(key) "
                  "DO UPDATE SET value = CAST(value AS INTEGER) + 1")

    def generation(self) -> int:
        """A number that changes whenever chunks or vectors change (for caches)."""
        value = self.get_meta("generation")
        return int(value) if value else 0

    def all_vectors(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, float32 matrix) of every vector of `model`."""
        rows = self._query("SELECT chunk_id, vec, scale FROM vectors WHERE model = ? "
                           "ORDER BY chunk_id", (model,))
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        return ids, _decode_vectors([r[1:] for r in rows])

    def vectors_for(self, model: str, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, float32 matrix) of the given chunks' vectors of `model`."""
        rows = []
        for part, marks in _id_batches(ids):
            rows += self._query(f"SELECT chunk_id, vec, scale FROM vectors WHERE model = ? "
                                f"AND chunk_id IN ({marks})", (model, *part))
        return (np.asarray([r[0] for r in rows], np.int64).reshape(-1),
                _decode_vectors([r[1:] for r in rows]))

    def file_vectors(self, model: str, file_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The vectors of `model` of these files' openings, by file id (a file may have none)."""
        out: dict[int, np.ndarray] = {}
        for part, marks in _id_batches(file_ids):
            rows = self._query(f"SELECT file_id, vec, scale FROM file_vectors WHERE model = ? "
                               f"AND file_id IN ({marks})", [model, *part])
            if rows:
                out.update(zip((int(r[0]) for r in rows), _decode_vectors([r[1:] for r in rows]),
                               strict=True))
        return out

    def models_with_vectors(self) -> dict[str, int]:
        """Model key -> number of vectors stored."""
        return {str(m): int(n) for m, n in self._query(
            "SELECT model, COUNT(*) FROM vectors GROUP BY model")}

    def keyword_search(self, fts_query: str, limit: int,
                       filters: Filters) -> list[tuple[int, float]]:
        """(chunk id, bm25 score; lower is better) for an FTS5 query, best first."""
        rows = self._matching(fts_query, "bm25(chunks_fts, 1.0, 0.5) AS score",
                              "ORDER BY score LIMIT ?", limit, filters)
        return [(int(r[0]), float(r[1])) for r in rows]

    def keyword_matches(self, fts_query: str, limit: int, filters: Filters) -> list[int]:
        """Ids of up to `limit` chunks matching an FTS5 query, unranked.

        Several times cheaper per match than `keyword_search`, which scores each one.
        """
        return [int(r[0]) for r in self._matching(fts_query, "NULL", "LIMIT ?", limit, filters)]

    def _matching(self, fts_query: str, column: str, tail: str, limit: int,
                  filters: Filters) -> list[Any]:
        """(chunk id, `column`) rows of the chunks an FTS5 query matches."""
        if self._unfiltered(filters):
            # Joining every match to its file is slow at a million chunks
            # (docs/performance.md, "Index: indexing and search speed"); skip it
            # when nothing filters.
            sql = f"SELECT rowid, {column} FROM chunks_fts WHERE chunks_fts MATCH ? {tail}"
            params: list[Any] = []
        else:
            where, params = _filter_sql(filters)
            sql = (f"SELECT chunks_fts.rowid, {column} FROM chunks_fts "
                   "JOIN chunks c ON c.id = chunks_fts.rowid JOIN files f ON f.id = c.file_id "
                   f"WHERE chunks_fts MATCH ? {where} {tail}")
        try:
            return self._query(sql, (fts_query, *params, limit))
        except sqlite3.OperationalError:
            return []  # a query FTS5 cannot parse matches nothing

    def _unfiltered(self, filters: Filters) -> bool:
        """True when no filter is set and every file is on an available drive."""
        return filters == Filters() and not self._query(
            "SELECT 1 FROM files WHERE available = 0 LIMIT 1")

    def allowed_chunks(self, filters: Filters) -> set[int] | None:
        """Chunk ids passing the filters and on available drives (None: all of them)."""
        if self._unfiltered(filters):
            return None
        where, params = _filter_sql(filters)
        return {int(r[0]) for r in self._query(
            f"SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE 1 {where}",
            params)}

    def chunk_rows(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        """Chunks with their file, by id."""
        out: dict[int, ChunkRow] = {}
        paths: dict[str, Path] = {}  # one Path per file
        for part, marks in _id_batches(ids):
            for r in self._query(
                    "SELECT c.id, f.path, f.file_type, f.mtime_ns, c.text, c.heading, "
                    "c.line_start, c.line_end, c.page, f.sha256 FROM chunks c JOIN files f "
                    f"ON f.id = c.file_id WHERE c.id IN ({marks})", part):
                path = paths.get(r[1]) or paths.setdefault(r[1], Path(r[1]))
                out[int(r[0])] = ChunkRow(int(r[0]), path, r[2], int(r[3]), r[4], r[5],
                                          r[6], r[7], r[8], r[9])
        return out

    def chunk_files(self, ids: Sequence[int]) -> dict[int, tuple[int, str, str | None]]:
        """(file id, path, sha256) of chunks, by id: what ranking needs, without the texts."""
        out: dict[int, tuple[int, str, str | None]] = {}
        for part, marks in _id_batches(ids):
            for cid, file_id, path, sha in self._query(
                    "SELECT c.id, f.id, f.path, f.sha256 FROM chunks c JOIN files f "
                    f"ON f.id = c.file_id WHERE c.id IN ({marks})", part):
                out[int(cid)] = (int(file_id), str(path), sha)
        return out

    def chunk_texts(self, ids: Sequence[int]) -> dict[int, str]:
        """The texts of chunks, by id."""
        out: dict[int, str] = {}
        for part, marks in _id_batches(ids):
            for cid, text in self._query(f"SELECT id, text FROM chunks WHERE id IN ({marks})",
                                         part):
                out[int(cid)] = str(text)
        return out

    def files_named_like(self, word: str, filters: Filters, limit: int) -> list[tuple[int, Path]]:
        """(first chunk id, path) of the first `limit` indexed files whose name contains `word`.

        Any case; the name only, not the folders above it.
        """
        where, params = _filter_sql(filters)
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._query(
            "SELECT (SELECT c.id FROM chunks c WHERE c.file_id = f.id ORDER BY c.ord LIMIT 1), "
            f"f.path FROM files f WHERE f.status = 'indexed' AND {_FILE_NAME} LIKE ? ESCAPE '\\' "
            f"{where} ORDER BY f.id LIMIT ?", (f"%{escaped}%", *params, limit))
        return [(int(r[0]), Path(r[1])) for r in rows if r[0] is not None]

    def file_type_counts(self) -> dict[str, int]:
        """Indexed files by type (markdown, pdf, code, ...)."""
        return {str(t): int(n) for t, n in self._query(
            "SELECT file_type, COUNT(*) FROM files WHERE status = 'indexed' "
            "AND file_type IS NOT NULL GROUP BY file_type ORDER BY COUNT(*) DESC")}

    def counts(self) -> dict[str, int]:
        """Numbers for `index status`: files by status, chunks, vectors."""
        out = {f"files_{s}": int(n) for s, n in self._query(
            "SELECT status, COUNT(*) FROM files GROUP BY status")}
        out["chunks"] = int(self._query("SELECT COUNT(*) FROM chunks")[0][0])
        out["files_unavailable"] = int(self._query(
            "SELECT COUNT(*) FROM files WHERE available = 0")[0][0])
        return out

    def check_integrity(self) -> list[str]:
        """Problems found by SQLite's and FTS5's own checks, plus orphaned rows ([] = sound)."""
        problems = [str(r[0]) for r in self._query("PRAGMA integrity_check") if r[0] != "ok"]
        try:
            self._run("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as exc:
            problems.append(f"full-text index: {exc}")
        orphans = self._query("SELECT COUNT(*) FROM chunks c LEFT JOIN files f "
                              "ON f.id = c.file_id WHERE f.id IS NULL")[0][0]
        if orphans:
            problems.append(f"{orphans} chunks without a file")
        return problems

    def root_counts(self, root: Root) -> dict[str, int]:
        """Files by status and chunks of one root."""
        out = {f"files_{s}": int(n) for s, n in self._query(
            "SELECT status, COUNT(*) FROM files WHERE root_id = ? GROUP BY status", (root.id,))}
        out["chunks"] = int(self._query(
            "SELECT COUNT(*) FROM chunks c JOIN files f ON f.id = c.file_id "
            "WHERE f.root_id = ?", (root.id,))[0][0])
        return out


def encode_vectors(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows as int8 codes and one float scale each: row ≈ codes * scale.

    Each row's largest component maps to ±127. For unit vectors a cosine moves
    very little (docs/performance.md, "Search quality", has what it changed).
    """
    data = np.asarray(matrix, np.float32).reshape(len(matrix), -1)
    peak = np.abs(data).max(axis=1) if data.size else np.zeros(len(data), np.float32)
    scales = np.where(peak > 0, peak / 127, 1.0).astype(np.float32)
    codes = np.clip(np.rint(data / scales[:, None]), -127, 127).astype(np.int8)
    return codes, scales


def _decode_vectors(rows: Sequence[tuple[bytes, float | None]]) -> np.ndarray:
    """A float32 matrix from stored (vec, scale) pairs; a row without a scale is float32."""
    if not rows:
        return np.zeros((0, 0), np.float32)
    if all(scale is not None for _, scale in rows):
        codes = np.frombuffer(b"".join(blob for blob, _ in rows), np.int8).reshape(len(rows), -1)
        scales = np.fromiter((scale for _, scale in rows), np.float32, count=len(rows))
        return codes.astype(np.float32) * scales[:, None]
    return np.stack([np.frombuffer(blob, "<f4").astype(np.float32) if scale is None
                     else np.frombuffer(blob, np.int8).astype(np.float32) * np.float32(scale)
                     for blob, scale in rows])


def _id_batches(values: Sequence[Any]) -> Iterator[tuple[list[Any], str]]:
    """`values` in parts small enough for one `IN (...)`, each with its placeholders."""
    for start in range(0, len(values), ID_BATCH):
        part = list(values[start : start + ID_BATCH])
        yield part, ",".join("?" * len(part))


def _filter_sql(filters: Filters) -> tuple[str, list[Any]]:
    clauses: list[str] = ["f.available = 1"]
    params: list[Any] = []
    if filters.folder is not None:
        folder = str(filters.folder).rstrip(os.sep)
        clauses.append("(f.path = ? OR f.path LIKE ? ESCAPE '\\')")
        escaped = folder.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params += [folder, escaped + os.sep + "%"]
    if filters.file_types:
        clauses.append(f"f.file_type IN ({','.join('?' * len(filters.file_types))})")
        params += list(filters.file_types)
    if filters.modified_after is not None:
        clauses.append("f.mtime_ns >= ?")
        params.append(_ns(filters.modified_after))
    if filters.modified_before is not None:
        clauses.append("f.mtime_ns < ?")
        params.append(_ns(filters.modified_before))
    return " AND " + " AND ".join(clauses), params


def _ns(seconds: float) -> int:
    """Seconds as SQLite's int64 nanoseconds (a date in year 9999 would overflow them)."""
    return max(-(2**63), min(2**63 - 1, int(seconds * 1e9)))


def _root(r: Any) -> Root:
    return Root(int(r[0]), Path(r[1]), r[2], bool(r[3]), bool(r[4]))


def _file(r: Any) -> FileRecord:
    return FileRecord(int(r[0]), int(r[1]), Path(r[2]), int(r[3]), int(r[4]), r[5], r[6], r[7],
                      r[8], bool(r[9]))
