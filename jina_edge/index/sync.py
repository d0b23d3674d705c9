"""Keeping an index in step with the files on disk.

A sync walks every root, compares size and mtime (then the content hash) with
what the index holds, and re-reads only what changed. Each file is committed in
its own transaction, so a sync killed at any moment leaves a consistent index
and the next one carries on without redoing finished files. A root whose drive
is missing is marked unavailable, never wiped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jina_edge.config import SETTINGS, get
from jina_edge.embedder import Embedder
from jina_edge.errors import SettingError
from jina_edge.index.chunking import (
    DEFAULT_CHUNK_TOKENS,
    DEFAULT_OVERLAP_TOKENS,
    chunk_blocks,
)
from jina_edge.index.db import ChunkRecord, FileRecord, IndexDB, Root
from jina_edge.index.extract import (
    DEFAULT_MAX_FILE_BYTES,
    SUPPORTED_SUFFIXES,
    ExtractionError,
    extract,
    file_type_of,
    open_regular_file,
    unsupported_reason,
)
from jina_edge.index.ignore import IgnoreRules

logger = logging.getLogger(__name__)

DEFAULT_LATE_CHUNKING_TOKENS: int = SETTINGS["late_chunking_tokens"].default
HASH_BLOCK_BYTES = 1 << 20
# Files read before their chunks are embedded together (see _embed_and_write).
FILES_PER_BATCH = 16
# Tokens embedded between two progress reports and looks at the cancel flag:
# a few seconds of work at most, so progress moves and a cancel is heard soon
# (measured: see docs/performance.md, "Figures behind constants in the code").
EMBED_STEP_TOKENS = 4096
CHARS_PER_TOKEN = 4  # English prose in WordPiece; only used to size the steps
# The ETA: the embedding rate sampled at most every RATE_SAMPLE_S and smoothed
# over about RATE_SMOOTHING_S, shown once measured for ETA_WARMUP_S. Measured
# from the start of the sync, the rate counted the scan, loading the model and
# building its graph, and the first ETA promised hours.
RATE_SAMPLE_S = 1.0
SCAN_REPORT_S = 0.25  # how often the scan reports the files found so far
RATE_SMOOTHING_S = 30.0
ETA_WARMUP_S = 10.0
DEFAULT_MAX_FILE_PASSAGES: int = SETTINGS["max_file_passages"].default
# Each file also gets one vector of its opening, this many tokens (search.py
# ranks files with it; 512 is the window of the whole-file baseline it was
# measured against, docs/performance.md "Search quality").
OPENING_TOKENS = 512
# Embedding jobs besides a chunk's index: the whole document (late chunking),
# the file's opening.
LATE, OPENING = -1, -2


@dataclass(frozen=True)
class SyncSettings:
    """How files are chosen and cut into chunks."""

    chunk_tokens: int = DEFAULT_CHUNK_TOKENS
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS
    late_chunking_tokens: int = DEFAULT_LATE_CHUNKING_TOKENS  # 0 turns late chunking off
    include_hidden: bool = False
    patterns: tuple[str, ...] = ()
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_file_passages: int = DEFAULT_MAX_FILE_PASSAGES

    @property
    def chunkable(self) -> bool:
        """Whether these sizes can cut a text: a chunk longer than what it repeats."""
        return 0 <= self.overlap_tokens < self.chunk_tokens

    @classmethod
    def from_config(cls) -> SyncSettings:
        """Settings from JINA_EDGE_* variables and the config file (shared with the GUI)."""
        settings = cls(**{f.name: get(f.name) for f in dataclasses.fields(cls)})
        if not settings.chunkable:  # every file would fail, at every sync
            raise SettingError(
                f"chunk_tokens is {settings.chunk_tokens} and overlap_tokens "
                f"{settings.overlap_tokens}: a chunk must be longer than the overlap it "
                "repeats; raise JINA_EDGE_CHUNK_TOKENS or lower JINA_EDGE_OVERLAP_TOKENS")
        return settings


@dataclass(frozen=True)
class SyncProgress:
    """Where a sync is, for a progress bar or widget.

    While scanning, `files_total` is the files found so far and `current` the
    folder. Then files count every file of the index's folders (known from the
    scan), so a sync that resumes after a cancel starts where the last one
    stopped, not at zero; `current` is the file whose passages are being
    embedded. `share_done` (0 to 1) only grows: the files' sizes, each counted
    as its passages are embedded. Passages count what this sync embeds:
    `chunks_total` is exact once every changed file has been read, estimated
    before that from the passages per byte of each file type read so far.
    `eta_s` is None until the rate has been measured for `ETA_WARMUP_S`.
    """

    stage: str                  # "scan", "index" or "done"
    files_done: int
    files_total: int
    current: Path | None
    chunks_done: int
    chunks_total: int
    chunks_per_s: float
    eta_s: float | None
    share_done: float = 0.0


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
    next_report = 0.0  # when the scan says next how many files it found
    for root in roots:
        if root.paused:
            continue
        if not root.path.is_dir():
            db.update_root(root, available=False)
            report.unavailable_roots.append(root.path)
            logger.warning("%s is not available; its entries are kept", root.path)
            continue
        db.update_root(root, available=True)
        if progress is not None:
            progress(SyncProgress("scan", 0, report.unchanged + len(work), root.path, 0, 0,
                                  0.0, None))
        rules = IgnoreRules(root.path, patterns=settings.patterns,
                            include_hidden=settings.include_hidden,
                            max_file_bytes=settings.max_file_bytes)
        known = {r.path: r for r in db.files(root)}
        seen: set[Path] = set()
        for path in rules.walk():
            if progress is not None and time.monotonic() >= next_report:
                next_report = time.monotonic() + SCAN_REPORT_S
                progress(SyncProgress("scan", 0, report.unchanged + len(work), root.path, 0, 0,
                                      0.0, None))
            try:
                st = path.stat()
            except OSError:
                continue  # vanished between listing and stat
            if storable_path(path) != path:
                rules.left_out.append((path, UNSTORABLE_NAME))
                continue
            seen.add(path)
            record = known.get(path)
            # A file that failed (unreadable, vanished, a model error) is tried again.
            if (record is not None and record.size == st.st_size and record.status != "failed"
                    and record.mtime_ns == st.st_mtime_ns and record.id not in stale):
                report.unchanged += 1
                continue
            work.append((root, path, st, record))
        for path, reason in [*rules.left_out, *rules.errors]:
            storable = storable_path(path)
            seen.add(storable)
            _record_left_out(db, root, storable, reason, known.get(storable), report)
        for path, record in known.items():
            if path not in seen:
                gone_all.append(record)
                if record.sha256 and record.status == "indexed":
                    gone.setdefault(record.sha256, []).append(record)

    meter = _Meter(progress, files_total=report.unchanged + len(work),
                   work=[(path, st.st_size) for _, path, st, _ in work])
    pending: list[_Prepared] = []
    paused: set[int] = set()  # roots paused while this sync runs: their files wait
    for root, path, st, record in work:
        meter.current = path
        meter.notify(report)
        if cancel is not None and cancel.is_set():
            report.cancelled = True
            break
        if root.id in paused or _paused_now(db, root):
            paused.add(root.id)
            continue
        try:
            prepared = _prepare_file(db, embedder, settings, root, path, st, record, gone,
                                     stale, report)
        except OSError as exc:  # vanished or unreadable mid-way: record and go on
            _write_failure(db, root, path, st, str(exc), report)
            prepared = None
        except Exception as exc:  # a bug must not stop the run; the file says what happened
            logger.exception("indexing %s failed", path)
            _write_failure(db, root, path, st, f"{type(exc).__name__}: {exc}", report)
            prepared = None
        meter.file_read(path, st.st_size, len(prepared.records) if prepared else 0)
        if prepared is not None:
            pending.append(prepared)
        else:  # skipped, failed or moved: done
            meter.bytes_done += st.st_size
        if len(pending) >= FILES_PER_BATCH:
            _embed_and_write(db, embedder, pending, report, meter, cancel)
            pending = []
    _embed_and_write(db, embedder, pending, report, meter, cancel)
    if not report.cancelled:
        # A record that was moved now has another path; the rest left the disk.
        leftovers = [r for r in gone_all
                     if (current := db.file(r.path)) is not None and current.id == r.id]
        db.delete_files(leftovers)
        report.removed = len(leftovers)
        for root in roots:
            if root.path.is_dir() and not root.paused and root.id not in paused:
                db.update_root(root, last_sync=time.time())
    meter.current = None
    meter.notify(report, stage="done")
    return report


def _paused_now(db: IndexDB, root: Root) -> bool:
    """Whether `root` was paused since the sync read it (by the app, or another process)."""
    current = db.root_for(root.path)
    return current is None or current.paused


def _kind(path: Path) -> str:
    """A file's type by its name, for the passages-per-byte estimate (no reading)."""
    return SUPPORTED_SUFFIXES.get(path.suffix.lower(), "text")


class _Meter:
    """Counts a sync's work and turns it into SyncProgress with a rate and an ETA.

    The ETA is the passages left over a rate smoothed over the last
    `RATE_SMOOTHING_S` of embedding (loading the model is not counted). Until
    every file is read, the passages left are estimated per file type: a PDF
    holds far fewer passages per byte than a text file, so one ratio for all
    swung the total by half as the mix of files read changed.
    """

    def __init__(self, progress: ProgressCallback | None, *, files_total: int,
                 work: Sequence[tuple[Path, int]]) -> None:
        self.progress = progress
        self.files_total = files_total
        self.bytes_total = sum(size for _, size in work)
        self.bytes_done = 0.0  # see SyncProgress.share_done
        self.unread: dict[str, int] = {}  # file type -> bytes not read yet
        for path, size in work:
            self.unread[_kind(path)] = self.unread.get(_kind(path), 0) + size
        self.read: dict[str, tuple[int, int]] = {}  # file type -> (bytes, passages) read
        self.current: Path | None = None
        self.embedded = 0  # passages embedded (a file's count once it is written)
        self.rate: float | None = None  # passages per second, smoothed
        self.measured_s = 0.0  # how long the rate has been measured
        self.last: tuple[float, int] | None = None  # (time, passages) of the last sample

    def file_read(self, path: Path, size: int, chunks: int) -> None:
        kind = _kind(path)
        self.unread[kind] -= size
        read_bytes, read_chunks = self.read.get(kind, (0, 0))
        self.read[kind] = (read_bytes + size, read_chunks + chunks)

    def chunks_total(self) -> int:
        read_bytes = sum(b for b, _ in self.read.values())
        read_chunks = sum(c for _, c in self.read.values())
        overall = read_chunks / read_bytes if read_bytes else 0.0
        estimate = float(read_chunks)
        for kind, left in self.unread.items():
            kind_bytes, kind_chunks = self.read.get(kind, (0, 0))
            estimate += left * (kind_chunks / kind_bytes if kind_bytes else overall)
        return round(estimate)

    def _measure(self, chunks: int) -> None:
        now = time.monotonic()
        if self.last is None:
            if chunks:  # the first passages: the model is loaded, the clock starts
                self.last = (now, chunks)
            return
        elapsed = now - self.last[0]
        if elapsed < RATE_SAMPLE_S or elapsed <= 0:
            return
        rate = (chunks - self.last[1]) / elapsed
        weight = 1 - math.exp(-elapsed / RATE_SMOOTHING_S)
        self.rate = rate if self.rate is None else self.rate + weight * (rate - self.rate)
        self.measured_s += elapsed
        self.last = (now, chunks)

    def notify(self, report: SyncReport, stage: str = "index") -> None:
        if self.progress is None:
            return
        files_done = report.indexed + report.unchanged + report.moved + report.skipped \
            + report.failed
        self._measure(self.embedded)
        total = max(self.chunks_total(), report.chunks)
        eta: float | None = None
        if stage == "done":
            eta = 0.0
        elif self.rate and self.measured_s >= ETA_WARMUP_S:
            eta = max(0, total - max(self.embedded, report.chunks)) / self.rate
        share = 1.0 if stage == "done" or not self.bytes_total else \
            min(1.0, self.bytes_done / self.bytes_total)
        self.progress(SyncProgress(stage, files_done, self.files_total, self.current,
                                   report.chunks, total, self.rate or 0.0, eta, share))


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
    opening: np.ndarray | None = None  # the vector of its first OPENING_TOKENS
    missing: int = 0  # embedding jobs still to run for this file
    jobs: int = 0  # embedding jobs in all

    @property
    def opening_is_chunk(self) -> bool:
        """Whether the file is one chunk of the same words: its vector is the file's too."""
        return len(self.records) == 1 and self.records[0].text.split() == self.text.split()

    def tokens(self, job: int) -> int:
        """A cheap estimate of the tokens one job embeds (a chunk's index, LATE or OPENING)."""
        text = self.text if job < 0 else self.records[job].text
        estimate = len(text) // CHARS_PER_TOKEN + 2
        return min(estimate, OPENING_TOKENS) if job == OPENING else estimate


def _prepare_file(db: IndexDB, embedder: Embedder, settings: SyncSettings, root: Root,
                  path: Path, st: os.stat_result, record: FileRecord | None,
                  gone: dict[str, list[FileRecord]], stale: set[int],
                  report: SyncReport) -> _Prepared | None:
    """Read and chunk a new or changed file; None when nothing is left to embed.

    A file whose content did not change, a moved file and a file that cannot be
    read are dealt with here directly.
    """
    file_type = file_type_of(path)
    if file_type is None:  # known before reading it: a photo is not hashed only to be skipped
        db.write_file(root, path, size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=None,
                      file_type=None, status="skipped", reason=unsupported_reason(path))
        report.skipped += 1
        return None
    sha = file_sha256(path, settings.max_file_bytes, inside=root.path)
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
    try:
        document = extract(path, max_bytes=settings.max_file_bytes, inside=root.path)
    except ExtractionError as exc:
        db.write_file(root, path, size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=sha,
                      file_type=file_type, status="skipped", reason=exc.reason)
        report.skipped += 1
        return None
    chunks = chunk_blocks(document.blocks, count_tokens=lambda t: _count_body_tokens(embedder, t),
                          max_tokens=settings.chunk_tokens, overlap_tokens=settings.overlap_tokens)
    if len(chunks) > settings.max_file_passages:
        db.write_file(root, path, size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=sha,
                      file_type=file_type, status="skipped",
                      reason=f"{len(chunks):,} passages, over the limit of "
                      f"{settings.max_file_passages:,} per file (JINA_EDGE_MAX_FILE_PASSAGES)")
        report.skipped += 1
        return None
    text = document.text
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
                     report: SyncReport, meter: _Meter, cancel: threading.Event | None) -> None:
    """Embed a batch of files together, then write each in its own transaction.

    Embedding the chunks of several small files in one call lets the embedder
    pack them into shared decodes (about twice as fast per file for short
    notes); each file is still committed on its own. Vectors already in the
    index for the same chunk text (or document and span) are reused.

    The work runs in steps of about EMBED_STEP_TOKENS, each followed by a
    progress report and a look at `cancel`: a cancelled sync stops within a
    step and writes the files whose vectors are complete.
    """
    steps: list[list[tuple[_Prepared, int]]] = [[]]  # (file, chunk index, LATE or OPENING)
    step_tokens = 0
    for item in batch:
        known = db.known_vectors(embedder.model_key, [r.vector_key for r in item.records])
        item.vectors = np.zeros((len(item.records), embedder.dim), np.float32)
        if item.late and not all(r.vector_key in known for r in item.records):
            jobs: list[tuple[_Prepared, int]] = [(item, LATE)]
        else:
            jobs = []
            for i, r in enumerate(item.records):
                if r.vector_key in known:
                    item.vectors[i] = known[r.vector_key]
                else:
                    jobs.append((item, i))
        if item.records and not item.opening_is_chunk:
            jobs.append((item, OPENING))
        item.missing = item.jobs = len(jobs)
        for job in jobs:
            tokens = item.tokens(job[1])
            if steps[-1] and step_tokens + tokens > EMBED_STEP_TOKENS:
                steps.append([])
                step_tokens = 0
            steps[-1].append(job)
            step_tokens += tokens
    written = 0

    def write(item: _Prepared) -> None:
        _write_indexed(db, embedder, item, report)
        if not item.jobs:  # nothing to embed: its share is done now
            meter.bytes_done += item.st.st_size
            meter.embedded += len(item.records)

    for step in steps:
        if written < len(batch):
            meter.current = batch[written].path
        texts = [(item, i) for item, i in step if i >= 0]
        if texts:
            fresh = embedder.embed([item.records[i].text for item, i in texts],
                                   long_input="truncate")
            for (item, i), vector in zip(texts, fresh, strict=True):
                if item.vectors is not None:
                    item.vectors[i] = vector
        openings = [item for item, kind in step if kind == OPENING]
        if openings:
            vectors = embedder.embed_openings([item.text for item in openings], OPENING_TOKENS)
            for item, vector in zip(openings, vectors, strict=True):
                item.opening = vector
        for item, kind in step:
            if kind == LATE:
                item.vectors = _late_chunk_vectors(embedder, item)
            item.missing -= 1
            meter.bytes_done += item.st.st_size / item.jobs
            meter.embedded += len(item.records) if kind == LATE else kind >= 0
        # Write every file that is now complete, in batch order.
        while written < len(batch) and batch[written].missing <= 0:
            write(batch[written])
            written += 1
        meter.notify(report)
        if cancel is not None and cancel.is_set() and written < len(batch):
            report.cancelled = True
            return
    for item in batch[written:]:
        write(item)


def _late_chunk_vectors(embedder: Embedder, item: _Prepared) -> np.ndarray:
    """The chunks' vectors from the whole document; chunk by chunk where that cannot be.

    A chunk cut out of one long token (a 5 MB run of letters is one unknown
    word) holds no token of its own, so the document cannot give it a vector.
    """
    try:
        return embedder.embed_late_chunks(item.text, item.spans)
    except ValueError as exc:
        logger.info("%s: chunk by chunk instead of late chunking (%s)", item.path, exc)
        return embedder.embed([r.text for r in item.records], long_input="truncate")


def _write_indexed(db: IndexDB, embedder: Embedder, item: _Prepared, report: SyncReport) -> None:
    opening = item.vectors[0] if item.opening_is_chunk and item.vectors is not None \
        else item.opening
    db.write_file(item.root, item.path, size=item.st.st_size, mtime_ns=item.st.st_mtime_ns,
                  sha256=item.sha, file_type=item.file_type, status="indexed", reason=None,
                  chunks=item.records,
                  vectors=({embedder.model_key: item.vectors}
                           if item.records and item.vectors is not None else None),
                  file_vectors=({embedder.model_key: opening} if opening is not None else None))
    report.indexed += 1
    report.chunks += len(item.records)


UNSTORABLE_NAME = "the file name is not valid UTF-8; rename the file to index it"


def storable_path(path: Path) -> Path:
    """`path` as the index can store it: a name that is not valid UTF-8 gets U+FFFD.

    Such names (old Latin-1 archives, tools that do not check) reach Python as
    lone surrogates, which SQLite cannot hold; the file is listed as skipped
    under the replaced name instead of failing the whole sync.
    """
    text = str(path)
    fixed = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return path if fixed == text else Path(fixed)


def _record_left_out(db: IndexDB, root: Root, path: Path, reason: str,
                     record: FileRecord | None, report: SyncReport) -> None:
    """List a file (or an unreadable folder) the walk had to leave out, with why."""
    if record is not None and record.status == "skipped" and record.reason == reason:
        report.unchanged += 1
        return
    try:
        st = os.lstat(path)
        size, mtime_ns = st.st_size, st.st_mtime_ns
    except OSError:
        size = mtime_ns = 0
    db.write_file(root, path, size=size, mtime_ns=mtime_ns, sha256=None, file_type=None,
                  status="skipped", reason=reason)
    report.skipped += 1


def _write_failure(db: IndexDB, root: Root, path: Path, st: os.stat_result, reason: str,
                   report: SyncReport) -> None:
    db.write_file(root, path, size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=None,
                  file_type=file_type_of(path), status="failed", reason=reason)
    report.failed += 1


def _count_body_tokens(embedder: Embedder, text: str) -> int:
    return max(0, embedder.count_tokens(text) - 2)  # without [CLS] and [SEP]


def file_sha256(path: Path, max_bytes: int, *, inside: Path | None = None) -> str | None:
    """Content hash of a file, or None when it is (or grows while read) larger than `max_bytes`."""
    if path.stat().st_size > max_bytes:
        return None
    digest = hashlib.sha256()
    read = 0
    with open_regular_file(path, inside=inside) as f:
        while read <= max_bytes and (block := f.read(HASH_BLOCK_BYTES)):
            digest.update(block)
            read += len(block)
    return digest.hexdigest() if read <= max_bytes else None
