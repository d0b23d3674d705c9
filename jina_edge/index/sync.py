"""Keeping an index in step with the files on disk.

A sync walks every root, compares size and mtime (then the content hash) with
what the index holds, and re-reads only what changed. Each file is committed in
its own transaction, so a sync killed at any moment leaves a consistent index
and the next one carries on without redoing finished files. A root whose drive
is missing is marked unavailable, never wiped.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jina_edge.config import setting
from jina_edge.embedder import Embedder
from jina_edge.index.chunking import (
    DEFAULT_CHUNK_TOKENS,
    DEFAULT_OVERLAP_TOKENS,
    chunk_blocks,
    join_blocks,
)
from jina_edge.index.db import ChunkRecord, FileRecord, IndexDB, Root
from jina_edge.index.extract import DEFAULT_MAX_FILE_BYTES, ExtractionError, extract, file_type_of
from jina_edge.index.ignore import IgnoreRules

logger = logging.getLogger(__name__)

# Documents up to this many tokens are embedded whole and their chunks pooled
# from the document's token states (late chunking), so every chunk carries the
# document's context. Attention cost grows with the square of the length: a
# 2,048-token document costs about 1.1 s here against 0.4 s for its chunks
# alone, an 8,191-token one 11 s (README, Performance); longer documents are
# embedded chunk by chunk.
DEFAULT_LATE_CHUNKING_TOKENS = 2048
HASH_BLOCK_BYTES = 1 << 20
# Files read before their chunks are embedded together (see _embed_and_write).
FILES_PER_BATCH = 16


@dataclass(frozen=True)
class SyncSettings:
    """How files are chosen and cut into chunks."""

    chunk_tokens: int = DEFAULT_CHUNK_TOKENS
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS
    late_chunking_tokens: int = DEFAULT_LATE_CHUNKING_TOKENS  # 0 turns late chunking off
    include_hidden: bool = False
    patterns: tuple[str, ...] = ()
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    @classmethod
    def from_config(cls) -> SyncSettings:
        """Settings from JINA_EDGE_* variables and the config file (shared with the GUI)."""
        patterns = setting("patterns", default=())
        if isinstance(patterns, str):
            patterns = [p for p in patterns.split(",") if p.strip()]
        return cls(
            chunk_tokens=int(setting("chunk_tokens", default=DEFAULT_CHUNK_TOKENS)),
            overlap_tokens=int(setting("overlap_tokens", default=DEFAULT_OVERLAP_TOKENS)),
            late_chunking_tokens=int(setting("late_chunking_tokens",
                                             default=DEFAULT_LATE_CHUNKING_TOKENS)),
            include_hidden=str(setting("include_hidden", default=False)).lower()
            in ("1", "true", "yes", "on"),
            patterns=tuple(str(p) for p in patterns),
            max_file_bytes=int(setting("max_file_bytes", default=DEFAULT_MAX_FILE_BYTES)),
        )


@dataclass(frozen=True)
class SyncProgress:
    """Where a sync is, for a progress bar or widget."""

    stage: str                  # "scan", "index" or "done"
    files_done: int
    files_total: int
    current: Path | None
    chunks_done: int
    chunks_per_s: float
    eta_s: float | None


@dataclass
class SyncReport:
    """What a sync did."""

    indexed: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    moved: int = 0
    removed: int = 0
    chunks: int = 0
    unavailable_roots: list[Path] = field(default_factory=list)
    cancelled: bool = False


ProgressCallback = Callable[[SyncProgress], None]


def sync_roots(
    db: IndexDB,
    embedder: Embedder,
    roots: Sequence[Root],
    settings: SyncSettings,
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> SyncReport:
    """Bring the index up to date with the files under `roots`."""
    report = SyncReport()
    work: list[tuple[Root, Path, os.stat_result, FileRecord | None]] = []
    gone: dict[str, list[FileRecord]] = {}  # sha256 -> records whose file disappeared
    gone_all: list[FileRecord] = []
    stale = db.files_missing_vectors(embedder.model_key)
    for root in roots:
        if root.paused:
            continue
        if not root.path.is_dir():
            db.update_root(root, available=False)
            report.unavailable_roots.append(root.path)
            logger.warning("%s is not available; its entries are kept", root.path)
            continue
        db.update_root(root, available=True)
        _notify(progress, "scan", 0, 0, root.path, 0, 0.0, None)
        rules = IgnoreRules(root.path, patterns=settings.patterns,
                            include_hidden=settings.include_hidden,
                            max_file_bytes=settings.max_file_bytes)
        known = {r.path: r for r in db.files(root)}
        seen: set[Path] = set()
        for path in rules.walk():
            try:
                st = path.stat()
            except OSError:
                continue  # vanished between listing and stat
            seen.add(path)
            record = known.get(path)
            if (record is not None and record.size == st.st_size
                    and record.mtime_ns == st.st_mtime_ns and record.id not in stale):
                report.unchanged += 1
                continue
            work.append((root, path, st, record))
        for path, record in known.items():
            if path not in seen:
                gone_all.append(record)
                if record.sha256 and record.status == "indexed":
                    gone.setdefault(record.sha256, []).append(record)

    started = time.monotonic()
    pending: list[_Prepared] = []
    for done, (root, path, st, record) in enumerate(work):
        elapsed = time.monotonic() - started
        rate = report.chunks / elapsed if elapsed > 0 else 0.0
        eta = elapsed / done * (len(work) - done) if done else None
        _notify(progress, "index", done, len(work), path, report.chunks, rate, eta)
        if cancel is not None and cancel.is_set():
            report.cancelled = True
            break
        try:
            prepared = _prepare_file(db, embedder, settings, root, path, st, record, gone,
                                     stale, report)
        except OSError as exc:  # vanished or unreadable mid-way: record and go on
            _write_failure(db, root, path, st, str(exc), report)
            continue
        except Exception as exc:  # a bug must not stop the run; the file says what happened
            logger.exception("indexing %s failed", path)
            _write_failure(db, root, path, st, f"{type(exc).__name__}: {exc}", report)
            continue
        if prepared is not None:
            pending.append(prepared)
        if len(pending) >= FILES_PER_BATCH:
            _embed_and_write(db, embedder, pending, report)
            pending = []
    _embed_and_write(db, embedder, pending, report)
    if not report.cancelled:
        # A record that was moved now has another path; the rest left the disk.
        leftovers = [r for r in gone_all
                     if (current := db.file(r.path)) is not None and current.id == r.id]
        db.delete_files(leftovers)
        report.removed = len(leftovers)
        for root in roots:
            if root.path.is_dir() and not root.paused:
                db.update_root(root, last_sync=time.time())
    _notify(progress, "done", len(work), len(work), None, report.chunks, 0.0, 0.0)
    return report


def _notify(progress: ProgressCallback | None, stage: str, done: int, total: int,
            current: Path | None, chunks: int, rate: float, eta: float | None) -> None:
    if progress is not None:
        progress(SyncProgress(stage, done, total, current, chunks, rate, eta))


@dataclass
class _Prepared:
    """A file read and chunked, waiting for its vectors."""

    root: Root
    path: Path
    st: os.stat_result
    sha: str | None
    file_type: str | None
    records: list[ChunkRecord]
    text: str
    spans: list[tuple[int, int]]
    late: bool
    vectors: np.ndarray | None = None


def _prepare_file(db: IndexDB, embedder: Embedder, settings: SyncSettings, root: Root,
                  path: Path, st: os.stat_result, record: FileRecord | None,
                  gone: dict[str, list[FileRecord]], stale: set[int],
                  report: SyncReport) -> _Prepared | None:
    """Read and chunk a new or changed file; None when nothing is left to embed.

    A file whose content did not change, a moved file and a file that cannot be
    read are dealt with here directly.
    """
    sha = file_sha256(path, settings.max_file_bytes)
    if record is not None and sha is not None and record.sha256 == sha \
            and record.status == "indexed" and record.id not in stale:
        db.touch_file(record, st.st_mtime_ns)
        report.unchanged += 1
        return None
    if record is None and sha is not None and gone.get(sha):
        moved = gone[sha].pop()
        db.move_file(moved, root, path, st.st_mtime_ns)
        report.moved += 1
        return None
    file_type = file_type_of(path)
    try:
        document = extract(path, max_bytes=settings.max_file_bytes)
    except ExtractionError as exc:
        db.write_file(root, path, size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=sha,
                      file_type=file_type, status="skipped", reason=exc.reason)
        report.skipped += 1
        return None
    chunks = chunk_blocks(document.blocks, count_tokens=lambda t: _count_body_tokens(embedder, t),
                          max_tokens=settings.chunk_tokens, overlap_tokens=settings.overlap_tokens)
    text, _ = join_blocks(document.blocks)
    late = (settings.late_chunking_tokens > 0 and len(chunks) > 1 and sha is not None
            and embedder.count_tokens(text) <= min(settings.late_chunking_tokens,
                                                   embedder.max_tokens))
    records = [
        ChunkRecord(
            text=c.text,
            heading=" > ".join(c.heading_path),
            line_start=c.line_start, line_end=c.line_end, page=c.page,
            vector_key=(f"late:{sha}:{c.char_start}:{c.char_end}" if late
                        else "text:" + hashlib.sha256(c.text.encode()).hexdigest()),
        )
        for c in chunks
    ]
    return _Prepared(root, path, st, sha, file_type, records, text,
                     [(c.char_start, c.char_end) for c in chunks], late)


def _embed_and_write(db: IndexDB, embedder: Embedder, batch: list[_Prepared],
                     report: SyncReport) -> None:
    """Embed a batch of files together, then write each in its own transaction.

    Embedding the chunks of several small files in one call lets the embedder
    pack them into shared decodes (about twice as fast per file for short
    notes); each file is still committed on its own. Vectors already in the
    index for the same chunk text (or document and span) are reused.
    """
    missing: list[tuple[_Prepared, int]] = []  # (file, chunk index) to embed as text
    for item in batch:
        known = db.known_vectors(embedder.model_key, [r.vector_key for r in item.records])
        if item.late and not all(r.vector_key in known for r in item.records):
            item.vectors = embedder.embed_late_chunks(item.text, item.spans)
            continue
        item.vectors = np.zeros((len(item.records), embedder.dim), np.float32)
        for i, r in enumerate(item.records):
            if r.vector_key in known:
                item.vectors[i] = known[r.vector_key]
            else:
                missing.append((item, i))
    if missing:
        fresh = embedder.embed([item.records[i].text for item, i in missing],
                               long_input="truncate")
        for (item, i), vector in zip(missing, fresh, strict=True):
            if item.vectors is not None:
                item.vectors[i] = vector
    for item in batch:
        db.write_file(item.root, item.path, size=item.st.st_size, mtime_ns=item.st.st_mtime_ns,
                      sha256=item.sha, file_type=item.file_type, status="indexed", reason=None,
                      chunks=item.records,
                      vectors=({embedder.model_key: item.vectors}
                               if item.records and item.vectors is not None else None))
        report.indexed += 1
        report.chunks += len(item.records)


def _write_failure(db: IndexDB, root: Root, path: Path, st: os.stat_result, reason: str,
                   report: SyncReport) -> None:
    db.write_file(root, path, size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=None,
                  file_type=file_type_of(path), status="failed", reason=reason)
    report.failed += 1


def _count_body_tokens(embedder: Embedder, text: str) -> int:
    return max(0, embedder.count_tokens(text) - 2)  # without [CLS] and [SEP]


def file_sha256(path: Path, max_bytes: int) -> str | None:
    """Content hash of a file, or None when it is larger than `max_bytes`."""
    if path.stat().st_size > max_bytes:
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(HASH_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()
