"""Search over an index: retrieval of the candidate passages, and the results built from them.

A query's words are looked up with SQLite FTS5 (the passages holding each, BM25,
the phrase, the files named so) and its vector is compared with the passages'
(z above the query's background). What was found goes, as typed evidence, to
ranking.py, which scores it and applies the relevance floor; this module keeps
each file's content once, cuts the list and reads the passages shown.
docs/architecture.md has the rules in full.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import re
import threading
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from jina_edge.embedder import Embedder
from jina_edge.errors import QueryError
from jina_edge.index import ranking
from jina_edge.index.background import background_vectors
from jina_edge.index.db import Filters, IndexDB
from jina_edge.index.keywords import (
    PREFIX_MIN_CHARS,
    STOP_WORDS,
    content_terms,
    fold,
    fts_string,
    is_cjk,
    match_spans,
    words,
)
from jina_edge.index.ranking import SEARCH_MODES, SearchMode
from jina_edge.index.vectors import VectorSearch

if TYPE_CHECKING:
    from jina_edge.reranker import Reranker

# What a query may be: its cost grows with its words (each a lookup) and its
# length (what is embedded is cut to the query window anyway).
MAX_QUERY_CHARS = 10_000
MAX_QUERY_WORDS = 32  # distinct words that count as keywords; the rest are ignored
MAX_WORD_CHARS = 64
# How deep each ranking is read.
CANDIDATES = 200
PASSAGES_PER_FILE = 3
NAME_MATCH_LIMIT = 200
SNIPPET_CHARS = 240
SNIPPET_SLACK = 20  # how far a snippet's edges may move to reach a word boundary
_WORD = re.compile(r"\w+", re.UNICODE)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Hit:
    """One passage.

    Attributes:
        path: the file.
        line_start, line_end: line range of the passage (text-like files).
        page: page of the passage (PDF).
        heading: headings above the passage, joined with " > ".
        score: the passage's relevance (0 to about 1; higher is better).
        text: the whole passage.
        snippet: a short excerpt around the matching words.
        highlights: (start, end) character spans in `snippet` of the words that matched.
        keyword_rank, semantic_rank: 1-based rank in each ranking (None: absent).
        rerank_score: a cross-encoder's score of (query, passage), 0 to 1, when the
            search was reranked (see `rerank`).
    """

    path: Path
    line_start: int | None
    line_end: int | None
    page: int | None
    heading: str
    score: float
    text: str
    snippet: str
    highlights: list[tuple[int, int]] = field(default_factory=list)
    keyword_rank: int | None = None
    semantic_rank: int | None = None
    rerank_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        data = asdict(self)
        data["path"] = str(self.path)
        return data


@dataclass(frozen=True)
class FileHit:
    """One file: its score, its best passages, and where else the same content is.

    Attributes:
        path: the file.
        score: the file's relevance (0 to about 1 for strong evidence; higher is better).
        passages: its best matching passages, best first (at most 3).
        more: how many more of its passages matched.
        also_at: other files with identical content.
        rerank_score: a cross-encoder's score of its best passage, when reranked.
        since_indexed: "deleted" or "changed" when the file on disk no longer is
            what was indexed (the next sync updates it); None when it still is.
    """

    path: Path
    score: float
    passages: list[Hit]
    more: int = 0
    also_at: list[Path] = field(default_factory=list)
    rerank_score: float | None = None
    since_indexed: Literal["deleted", "changed"] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {"path": str(self.path), "score": self.score,
                "passages": [p.to_dict() for p in self.passages], "more": self.more,
                "also_at": [str(p) for p in self.also_at], "rerank_score": self.rerank_score,
                "since_indexed": self.since_indexed}


@dataclass
class _Evidence:
    """What one query is finding about one passage, while candidates are gathered."""

    z: float | None = None  # semantic: standard deviations above the background
    phrase: bool = False
    bm25: float = 0.0  # FTS5's bm25 of the passage, negated: higher is better
    keyword_rank: int | None = None
    semantic_rank: int | None = None


@dataclass(frozen=True)
class _Found:
    """A candidate passage: its evidence for ranking, and where it is."""

    candidate: ranking.Candidate
    path: str  # its file
    sha256: str | None  # its file's content hash
    file_id: int
    keyword_rank: int | None
    semantic_rank: int | None


class Searcher:
    """Searches one index with one model; caches the vector matrix between queries."""

    def __init__(self, db: IndexDB, embedder: Embedder | None) -> None:
        self.db = db
        self.embedder = embedder
        self._lock = threading.Lock()
        self._vectors: VectorSearch | None = None
        self._background: tuple[str, np.ndarray] | None = None  # (model, vectors)

    def files(self, query: str, *, k: int = 10, mode: SearchMode = "hybrid",
              filters: Filters | None = None) -> list[FileHit]:
        """The k best files for `query`, each with its best passages; [] when nothing passes."""
        query_ = _Query(query)
        stats, found = self._gather(query_, mode, filters or Filters())
        by_file: dict[str, list[int]] = defaultdict(list)
        for cid, passage in found.items():
            by_file[passage.path].append(cid)
        file_z = self._file_z(query_, {p.file_id for p in found.values()})
        candidates = [ranking.FileCandidate(path, tuple((c, found[c].candidate) for c in cids),
                                            file_z.get(found[cids[0]].file_id),
                                            query_.named.get(path, frozenset()))
                      for path, cids in by_file.items()]
        # The k best, each content once: a copy of a listed file goes with it.
        listed: list[ranking.RankedFile] = []
        copies: dict[str, list[str]] = {}  # content hash -> paths after the first
        for file in ranking.rank_files(candidates, stats, mode):
            sha = found[file.passages[0][0]].sha256
            if sha is not None and sha in copies:
                copies[sha].append(file.path)
            elif len(listed) < k:
                listed.append(file)
                if sha is not None:
                    copies[sha] = []
        # Shown: the passages with evidence, best first (the best one when none has).
        shown = {file.path: [c for c, score in file.passages
                             if score > 0 or found[c].candidate.terms][:PASSAGES_PER_FILE]
                 or [file.passages[0][0]] for file in listed}
        scores = {file.path: dict(file.passages) for file in listed}
        hits = self._hits({c: scores[file.path][c] for file in listed for c in shown[file.path]},
                          found, query_)
        out = []
        for file in listed:
            sha = found[file.passages[0][0]].sha256
            more = sum(1 for c, score in file.passages[len(shown[file.path]):]
                       if score > 0 or found[c].candidate.terms)
            out.append(FileHit(Path(file.path), file.score,
                               [hits[c] for c in shown[file.path] if c in hits], more,
                               [Path(p) for p in copies.get(sha, [])] if sha else []))
        return out

    def passages(self, query: str, *, k: int = 10, mode: SearchMode = "hybrid",
                 filters: Filters | None = None) -> list[Hit]:
        """The k best passages for `query`, whatever file they are in."""
        query_ = _Query(query)
        stats, found = self._gather(query_, mode, filters or Filters())
        best = ranking.rank_passages([(c, p.candidate) for c, p in found.items()], stats,
                                     mode)[:k]
        hits = self._hits(dict(best), found, query_)
        return [hits[c] for c, _ in best if c in hits]

    def _gather(self, query: _Query, mode: SearchMode,
                filters: Filters) -> tuple[ranking.QueryStats, dict[int, _Found]]:
        """What ranking needs of the query, and every candidate passage with its evidence."""
        if mode not in SEARCH_MODES:
            raise ValueError(f"mode must be one of {SEARCH_MODES}, not {mode!r}")
        found: dict[int, _Evidence] = {}
        weighed: tuple[dict[str, int | None], int] | None = None  # (holder counts, passages)
        if mode == "semantic" and query.terms:
            # All or nothing: semantic search is asked for when the words differ
            # (synonyms), so one word the index lacks says little there.
            known = any(self.db.keyword_matches(query.fts_term(t), 1, filters)
                        for t in query.terms)
            query.unknown_share = 0.0 if known else 1.0
        if mode in ("hybrid", "keyword") and query.terms:
            query.find_holders(self.db, filters)
            # BM25 over the words that are not common: equal scores keep this order.
            ranked = self.db.keyword_search(query.fts_candidates(), CANDIDATES, filters)
            for rank, (cid, score) in enumerate(ranked, start=1):
                evidence = found.setdefault(cid, _Evidence())
                evidence.keyword_rank, evidence.bm25 = rank, -score
            if not query.rare:  # every word common: the candidates hold them all
                query.holding_all = {cid for cid, _ in ranked}
            if len(query.terms) > 1:
                for cid, _ in self.db.keyword_search(query.fts_phrase(), CANDIDATES, filters):
                    found.setdefault(cid, _Evidence()).phrase = True
            for cid in self._named(query, filters):
                found.setdefault(cid, _Evidence())  # a file the query names is a candidate
            weighed = (query.holder_counts(), self.db.chunk_count())
        if mode in ("hybrid", "semantic") and query.text.strip():
            for rank, (cid, z) in enumerate(self._semantic(query, filters), start=1):
                evidence = found.setdefault(cid, _Evidence())
                evidence.z = z
                evidence.semantic_rank = rank
        unknown = query.unknown_share
        if unknown is None:
            unknown = ranking.unknown_share(query.terms, query.holder_counts(),
                                            set().union(*query.named.values()))
        stats = ranking.query_stats(query.terms, unknown, *(weighed or ()))
        files = self.db.chunk_files(list(found))
        # Empty or markup-only passages never rank (their vector is the model's
        # idea of nothing, which a nonsense query resembles). A passage holding a
        # query word has words; the others are read to see.
        texts = self.db.chunk_texts([c for c in found if not query.terms_in(c)])
        kept = {}
        for cid, evidence in found.items():
            terms = query.terms_in(cid)
            if cid in files and (terms or _WORD.search(texts.get(cid, ""))):
                file_id, path, sha256 = files[cid]
                candidate = ranking.Candidate(evidence.z, terms, evidence.phrase,
                                              ranking.bm25_share(evidence.bm25, stats.bm25_most))
                kept[cid] = _Found(candidate, path, sha256, file_id, evidence.keyword_rank,
                                   evidence.semantic_rank)
        return stats, kept

    def _file_z(self, query: _Query, file_ids: set[int]) -> dict[int, float]:
        """File id -> z of its whole-file vector, on the background of the passages' z."""
        if query.vector is None or query.background is None or self.embedder is None:
            return {}
        vectors = self.db.file_vectors(self.embedder.model_key, sorted(file_ids))
        if not vectors:
            return {}
        ids = list(vectors)
        cosines = np.stack([vectors[i] for i in ids]) @ query.vector
        return dict(zip(ids, query.z(cosines).tolist(), strict=True))

    def _named(self, query: _Query, filters: Filters) -> list[int]:
        """The first passage of each file whose name holds a query word (see `_Query.named`)."""
        out = []
        for term in query.terms:
            for cid, path in self.db.files_named_like(term, filters, NAME_MATCH_LIMIT):
                terms = query.name_terms(path)
                if term in terms:
                    query.named[str(path)] = terms
                    out.append(cid)
        return out

    def _semantic(self, query: _Query, filters: Filters) -> list[tuple[int, float]]:
        """(chunk id, z) of the nearest passages; the query keeps its vector and background."""
        if self.embedder is None:
            return []
        with self._lock:
            if self._vectors is None or self._vectors.model != self.embedder.model_key:
                self._vectors = VectorSearch(self.db, self.embedder.model_key)
            vectors = self._vectors
        query.vector = self.embedder.embed(query.text)
        found = vectors.search(query.vector, CANDIDATES, self.db.allowed_chunks(filters))
        if not found:
            return []
        query.background = vectors.background(query.vector, self._background_vectors)
        zs = query.z(np.asarray([cos for _, cos in found]))
        return [(cid, float(z)) for (cid, _), z in zip(found, zs, strict=True)]

    def _background_vectors(self) -> np.ndarray:
        """The vectors a small index borrows for its background (index/background.py)."""
        assert self.embedder is not None
        key = self.embedder.model_key
        with self._lock:
            if self._background is None or self._background[0] != key:
                self._background = (key, background_vectors(self.embedder))
            return self._background[1]

    def _hits(self, scores: dict[int, float], found: dict[int, _Found],
              query: _Query) -> dict[int, Hit]:
        """The passages shown (chunk id -> score), read and highlighted, by chunk id."""
        rows = self.db.chunk_rows(list(scores))
        out = {}
        for cid, row in rows.items():
            spans = match_spans(row.text, query.text) if found[cid].candidate.terms else []
            snippet, highlights = make_snippet(row.text, spans)
            out[cid] = Hit(path=row.file_path, line_start=row.line_start, line_end=row.line_end,
                           page=row.page, heading=row.heading, score=scores[cid], text=row.text,
                           snippet=snippet, highlights=highlights,
                           keyword_rank=found[cid].keyword_rank,
                           semantic_rank=found[cid].semantic_rank)
        return out


class _Query:
    """A query's words, the passages holding them, its vector, and the FTS5 queries made."""

    def __init__(self, text: str) -> None:
        if len(text) > MAX_QUERY_CHARS:
            raise QueryError(f"the query is {len(text):,} characters long; a search takes at "
                                f"most {MAX_QUERY_CHARS:,}: search for a few of its words")
        self.text = text
        # Words no language has (a pasted hash, a run of one letter) match nothing
        # and make costly patterns; past MAX_QUERY_WORDS the rest add little.
        self.terms = [t for t in content_terms(text) if len(t) <= MAX_WORD_CHARS][:MAX_QUERY_WORDS]
        self.prefix = (bool(self.terms) and not text[-1:].isspace()
                       and len(self.terms[-1]) >= PREFIX_MIN_CHARS and not is_cjk(self.terms[-1]))
        # The passages holding each word; None for a common word.
        self.holders: dict[str, set[int] | None] = {}
        self.holding_all: set[int] = set()  # passages known to hold every word
        self.named: dict[str, frozenset[str]] = {}  # file path -> the query words its name holds
        # The share of the words that the index holds nowhere, where retrieval
        # decides it (semantic mode); None: ranking reads it from holders and names.
        self.unknown_share: float | None = None
        self.vector: np.ndarray | None = None  # its embedding, once embedded
        # Mean and standard deviation of its cosine to passages at random.
        self.background: tuple[float, float] | None = None

    def z(self, cosines: np.ndarray) -> np.ndarray:
        """Cosines to the query in standard deviations above its background."""
        assert self.background is not None
        mean, std = self.background
        return (cosines - mean) / std

    @property
    def rare(self) -> list[str]:
        """The words that are not common."""
        return [t for t in self.terms if self.holders.get(t) is not None]

    def find_holders(self, db: IndexDB, filters: Filters) -> None:
        """Find the passages holding each word, up to `ranking.COMMON` of them."""
        for term in self.terms:
            ids = db.keyword_matches(self.fts_term(term), ranking.COMMON + 1, filters)
            self.holders[term] = set(ids) if len(ids) <= ranking.COMMON else None

    def holder_counts(self) -> dict[str, int | None]:
        """Word -> how many passages hold it (None: common), for the words looked up."""
        return {t: None if ids is None else len(ids) for t, ids in self.holders.items()}

    def terms_in(self, cid: int) -> frozenset[str]:
        """The query words that a passage holds (common words only when all are)."""
        if cid in self.holding_all:
            return frozenset(self.terms)
        return frozenset(t for t, ids in self.holders.items() if ids is not None and cid in ids)

    def fts_term(self, term: str) -> str:
        star = "*" if self.prefix and term == self.terms[-1] else ""
        return fts_string(term) + star

    def fts_candidates(self) -> str:
        """Any of the rare words; all the words when every one is common."""
        rare = self.rare
        if rare:
            return " OR ".join(self.fts_term(t) for t in rare)
        return " AND ".join(self.fts_term(t) for t in self.terms)

    def fts_phrase(self) -> str:
        return fts_string(" ".join(w for w in _WORD.findall(self.text.lower())
                                   if w not in STOP_WORDS))

    def name_terms(self, path: Path) -> frozenset[str]:
        """The query words a file's name holds (the last one also as a prefix)."""
        names = {fold(w) for w in words(path.stem)}
        last = fold(self.terms[-1]) if self.terms else ""
        typed = self.prefix and any(w.startswith(last) for w in names)
        return frozenset(itertools.chain(
            (t for t in self.terms
             if fold(t) in names or (t.endswith("s") and fold(t[:-1]) in names)),
            self.terms[-1:] if typed else ()))


def make_snippet(text: str, spans: list[tuple[int, int]],
                 width: int = SNIPPET_CHARS) -> tuple[str, list[tuple[int, int]]]:
    """The window of `text` with the most matches, and the matches' spans in it.

    `spans` are the matches in `text`, sorted and not overlapping (none: the
    snippet is the passage's start).
    """
    start = 0
    if spans and len(text) > width:
        best = 0
        ends = [end for _, end in spans]
        for i, (s, _) in enumerate(spans):
            count = bisect.bisect_right(ends, s + width) - i  # matches in [s, s + width]
            if count > best:
                best, start = count, max(0, s - width // 5)
        # Start at a word boundary, if there is one close by (text without spaces has none).
        limit = max(0, start - SNIPPET_SLACK)
        while start > limit and not text[start - 1].isspace():
            start -= 1
    end = min(len(text), start + width)
    while end < len(text) and not text[end].isspace() and end - start < width + SNIPPET_SLACK:
        end += 1
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    # Collapse whitespace piece by piece, a match being a piece, so spans move along.
    inside = [s for s in spans if s[0] >= start and s[1] <= end]
    cuts = sorted({start, end, *(edge for span in inside for edge in span)})
    matches = set(inside)
    out = ""
    mapped: list[tuple[int, int]] = []
    for a, b in itertools.pairwise(cuts):
        piece = _SPACES.sub(" ", text[a:b])
        if not out or out.endswith(" "):
            piece = piece.lstrip(" ")
        if (a, b) in matches:
            mapped.append((len(prefix) + len(out), len(prefix) + len(out) + len(piece)))
        out += piece
    return prefix + out.rstrip() + suffix, mapped


Result = TypeVar("Result", Hit, FileHit)


def rerank(query: str, results: list[Result], reranker: Reranker) -> list[Result]:
    """`results` ordered by a cross-encoder's score of (query, passage), best first.

    A file is scored by its best passage. Each result keeps its search score
    and gets `rerank_score`; ties keep the search's order.
    """
    texts = [r.text if isinstance(r, Hit) else (r.passages[0].text if r.passages else "")
             for r in results]
    scores = [s.score for s in reranker.score(query, texts)]
    order = sorted(range(len(results)), key=lambda i: -scores[i])
    return [dataclasses.replace(results[i], rerank_score=scores[i]) for i in order]
