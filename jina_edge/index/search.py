"""Search over an index: files ranked on absolute evidence, each with its best passages.

Meaning (standard deviations above a query's background) and words (idf-weighted
coverage, BM25) are on a fixed scale, so a query with no good match finds nothing
(the relevance floor). The weights and floors were tuned on some sets and checked on
held-out ones: rerun benchmarks/bench_search_quality.py before changing them.
docs/architecture.md has the rules in full.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
import re
import threading
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

import numpy as np

from jina_edge.embedder import Embedder
from jina_edge.errors import QueryError
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
from jina_edge.index.vectors import VectorSearch

if TYPE_CHECKING:
    from jina_edge.reranker import Reranker

SearchMode: TypeAlias = Literal["hybrid", "semantic", "keyword"]
SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "semantic", "keyword")
# What a query may be: its cost grows with its words (each a lookup) and its
# length (what is embedded is cut to the query window anyway).
MAX_QUERY_CHARS = 10_000
MAX_QUERY_WORDS = 32  # distinct words that count as keywords; the rest are ignored
MAX_WORD_CHARS = 64
# How deep each ranking is read.
CANDIDATES = 200
# Semantic evidence: z (standard deviations above the background) mapped
# linearly from Z_NONE (no evidence) to Z_FULL (full evidence). The start
# rises towards Z_NONE_UNKNOWN with the share of the query's words that the
# index holds nowhere: a made-up word's pieces pull the query's vector
# towards passages that share them, whatever they mean.
Z_NONE = 3.0
Z_NONE_UNKNOWN = 4.5
Z_FULL = 7.0
# Shares of the two kinds of evidence in the hybrid score.
MEANING_WEIGHT = 0.6
WORDS_WEIGHT = 0.4
PHRASE_BONUS = 0.25  # of the words evidence, for a passage holding the query as a phrase
COMMON = 10_000  # passages: a word in more is common (see docs/architecture.md)
# A query has results when a file scores FLOOR (the relevance floor). When
# one scores NEAR_OPEN, a file whose best passage stands NEAR_Z deviations
# above the background is a result too, ranked on its evidence: a real
# question's answer can fall just short of the floor. NEAR_OPEN keeps that for
# clear matches: a query of made-up words but one that the index holds (German
# manual pages have "quux") passes the floor on that word alone, and opening
# the near files to it flooded the results (docs/performance.md, "The relevance
# floor, and what was tried").
FLOOR = 0.1
NEAR_OPEN = 0.2
NEAR_Z = 2.5
# Ranking files: the best passage's z counts this much beside the whole file's
# z, and in hybrid mode the words evidence (0 to 1.25) counts as this many
# standard deviations.
PASSAGE_Z_SHARE = 0.5
FILE_WORDS_Z = 4.0
# SQLite FTS5's bm25() parameters, to put a passage's score on a 0-1 scale.
BM25_K1 = 1.2
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
    """What one query found about one passage."""

    z: float | None = None  # semantic: standard deviations above the background
    terms: set[str] = field(default_factory=set)  # query words it holds
    phrase: bool = False
    bm25: float = 0.0  # FTS5's bm25 of the passage, as a share of the most it could be
    keyword_rank: int | None = None
    semantic_rank: int | None = None
    path: str = ""  # its file
    sha256: str | None = None  # its file's content hash
    file_id: int = 0


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
        found = self._gather(query_, mode, filters or Filters())
        weights = _weights(mode)
        by_file: dict[str, list[int]] = defaultdict(list)
        for cid, evidence in found.items():
            by_file[evidence.path].append(cid)
        file_z = self._file_z(query_, {e.file_id for e in found.values()})
        scored = []  # (score, path, its passages best first, passage scores, strength)
        for path, cids in by_file.items():
            passage = {cid: _passage_score(found[cid], query_, mode) for cid in cids}
            terms = set().union(*(found[cid].terms for cid in cids)) | query_.named.get(path, set())
            zs = [z for c in cids if (z := found[c].z) is not None]
            best_z = max(zs) if zs else None
            words = query_.coverage(terms) + PHRASE_BONUS * any(found[c].phrase for c in cids)
            strength = weights[0] * query_.meaning(best_z, bool(terms)) + weights[1] * words
            if strength >= FLOOR or (weights[0] and best_z is not None and best_z >= NEAR_Z):
                bm25 = max(found[c].bm25 for c in cids)
                score = _file_score(best_z, file_z.get(found[cids[0]].file_id), words, bm25, mode)
                scored.append((score, path, sorted(cids, key=lambda c: -passage[c]), passage,
                               strength))
        strongest = max((item[4] for item in scored), default=0.0)
        if strongest < FLOOR:
            return []
        weak = strongest < NEAR_OPEN  # a weak match: only the files that pass
        ranked = sorted((item[:4] for item in scored if not weak or item[4] >= FLOOR),
                        key=lambda item: -item[0])
        # The k best, each content once: a copy of a listed file goes with it.
        listed: list[tuple[float, str, list[int], dict[int, float]]] = []
        copies: dict[str, list[str]] = {}  # content hash -> paths after the first
        for item in ranked:
            sha = found[item[2][0]].sha256
            if sha is not None and sha in copies:
                copies[sha].append(item[1])
            elif len(listed) < k:
                listed.append(item)
                if sha is not None:
                    copies[sha] = []
        shown = {path: [c for c in cids if passage[c] > 0 or found[c].terms][:PASSAGES_PER_FILE]
                 or cids[:1] for _, path, cids, passage in listed}
        hits = self._hits({c: passage[c] for _, path, _, passage in listed for c in shown[path]},
                          found, query_)
        out = []
        for score, path, cids, passage in listed:
            sha = found[cids[0]].sha256
            more = sum(1 for c in cids[len(shown[path]):] if passage[c] > 0 or found[c].terms)
            out.append(FileHit(Path(path), score,
                               [hits[c] for c in shown[path] if c in hits], more,
                               [Path(p) for p in copies.get(sha, [])] if sha else []))
        return out

    def passages(self, query: str, *, k: int = 10, mode: SearchMode = "hybrid",
                 filters: Filters | None = None) -> list[Hit]:
        """The k best passages for `query`, whatever file they are in."""
        query_ = _Query(query)
        found = self._gather(query_, mode, filters or Filters())
        weights = _weights(mode)
        passing = [cid for cid, e in found.items()
                   if _score(query_.meaning(e.z, bool(e.terms)), query_.coverage(e.terms), e.phrase,
                             weights)
                   >= FLOOR]
        scores = {cid: _passage_score(found[cid], query_, mode) for cid in passing}
        best = sorted(passing, key=lambda c: -scores[c])[:k]
        hits = self._hits({c: scores[c] for c in best}, found, query_)
        return [hits[c] for c in best if c in hits]

    def _gather(self, query: _Query, mode: SearchMode, filters: Filters) -> dict[int, _Evidence]:
        """Every candidate passage with its evidence."""
        if mode not in SEARCH_MODES:
            raise ValueError(f"mode must be one of {SEARCH_MODES}, not {mode!r}")
        found: dict[int, _Evidence] = {}
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
            query.weigh(self.db.chunk_count())
            for evidence in found.values():
                evidence.bm25 = query.bm25_share(evidence.bm25)
        if mode in ("hybrid", "semantic") and query.text.strip():
            for rank, (cid, z) in enumerate(self._semantic(query, filters), start=1):
                evidence = found.setdefault(cid, _Evidence())
                evidence.z = z
                evidence.semantic_rank = rank
        files = self.db.chunk_files(list(found))
        # Empty or markup-only passages never rank (their vector is the model's
        # idea of nothing, which a nonsense query resembles). A passage holding a
        # query word has words; the others are read to see.
        texts = self.db.chunk_texts([c for c in found if not query.terms_in(c)])
        kept = {}
        for cid, evidence in found.items():
            evidence.terms = query.terms_in(cid)
            if cid in files and (evidence.terms or _WORD.search(texts.get(cid, ""))):
                evidence.file_id, evidence.path, evidence.sha256 = files[cid]
                kept[cid] = evidence
        return kept

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

    def _hits(self, scores: dict[int, float], found: dict[int, _Evidence],
              query: _Query) -> dict[int, Hit]:
        """The passages shown (chunk id -> score), read and highlighted, by chunk id."""
        rows = self.db.chunk_rows(list(scores))
        out = {}
        for cid, row in rows.items():
            spans = match_spans(row.text, query.text) if found[cid].terms else []
            snippet, highlights = make_snippet(row.text, spans)
            out[cid] = Hit(path=row.file_path, line_start=row.line_start, line_end=row.line_end,
                           page=row.page, heading=row.heading, score=scores[cid], text=row.text,
                           snippet=snippet, highlights=highlights,
                           keyword_rank=found[cid].keyword_rank,
                           semantic_rank=found[cid].semantic_rank)
        return out


class _Query:
    """A query's words, their weights, and the FTS5 queries made from them."""

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
        self.weights = {t: 1.0 for t in self.terms}
        self._bm25_most = 0.0  # see `bm25_share`
        # The passages holding each word; None for a common word.
        self.holders: dict[str, set[int] | None] = {}
        self.holding_all: set[int] = set()  # passages known to hold every word
        self.named: dict[str, set[str]] = {}  # file path -> the query words its name holds
        # The share of the words that the index holds nowhere (None: not yet
        # known; then `meaning` reads it from holders and names, once they are in).
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
        """Find the passages holding each word, up to `COMMON` of them."""
        for term in self.terms:
            ids = db.keyword_matches(self.fts_term(term), COMMON + 1, filters)
            self.holders[term] = set(ids) if len(ids) <= COMMON else None

    def meaning(self, z: float | None, holds_a_word: bool = True) -> float:
        """Semantic evidence on a 0-1 scale (see `Z_NONE`).

        `holds_a_word`: whether the passage or file holds a query word. One that
        does not, for a query with words the index lacks, needs the most.
        """
        if z is None:
            return 0.0
        if self.unknown_share is None:
            named = set().union(*self.named.values())
            unknown = [t for t, ids in self.holders.items()
                       if ids is not None and not ids and t not in named]
            self.unknown_share = len(unknown) / len(self.terms) if self.terms else 1.0
        share = self.unknown_share if holds_a_word else math.ceil(self.unknown_share)
        start = Z_NONE + (Z_NONE_UNKNOWN - Z_NONE) * share
        return min(1.0, max(0.0, (z - start) / (Z_FULL - start)))

    def terms_in(self, cid: int) -> set[str]:
        """The query words that a passage holds (common words only when all are)."""
        if cid in self.holding_all:
            return set(self.terms)
        return {t for t, ids in self.holders.items() if ids is not None and cid in ids}

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

    def weigh(self, total: int) -> None:
        """Weigh each word by its rarity among the `total` passages (idf); common ones 0."""
        rare = self.rare
        for term in self.terms:
            ids = self.holders.get(term)
            if ids is None and rare:
                self.weights[term] = 0.0
                continue
            n = COMMON if ids is None else len(ids)
            self.weights[term] = math.log(1 + max(total - n + 0.5, 0.5) / (n + 0.5))
            # A word of `fts_candidates`: FTS5's idf, and a count's most, k1 + 1.
            self._bm25_most += (BM25_K1 + 1) * max(math.log((total - n + 0.5) / (n + 0.5)), 1e-6)

    def bm25_share(self, score: float) -> float:
        """A passage's FTS5 bm25 (negated: higher is better) as a share of the most it can be.

        Each word of `fts_candidates` adds at most (k1 + 1) x its idf, however often it occurs.
        """
        return min(1.0, score / self._bm25_most) if self._bm25_most > 0 else 0.0

    def coverage(self, terms: set[str]) -> float:
        """The weighted share of the query's words among `terms` (0 to 1)."""
        if not terms:
            return 0.0
        total = sum(self.weights.values())
        return sum(self.weights[t] for t in terms if t in self.weights) / total if total else 0.0

    def name_terms(self, path: Path) -> set[str]:
        """The query words a file's name holds (the last one also as a prefix)."""
        names = {fold(w) for w in words(path.stem)}
        found = {t for t in self.terms
                 if fold(t) in names or (t.endswith("s") and fold(t[:-1]) in names)}
        last = fold(self.terms[-1]) if self.terms else ""
        if self.prefix and any(w.startswith(last) for w in names):
            found.add(self.terms[-1])
        return found


def _weights(mode: SearchMode) -> tuple[float, float]:
    """(meaning, words) shares of the score in each mode."""
    return {"keyword": (0.0, 1.0), "semantic": (1.0, 0.0),
            "hybrid": (MEANING_WEIGHT, WORDS_WEIGHT)}[mode]


def _score(meaning: float, coverage: float, phrase: bool, weights: tuple[float, float]) -> float:
    """The (meaning, words) evidence of a passage or a file, weighted for the mode."""
    return weights[0] * meaning + weights[1] * (coverage + PHRASE_BONUS * phrase)


def _keyword_score(words: float, bm25: float) -> float:
    """Keyword mode's rank (0 to 1): holding every word (or the phrase) first, then BM25.

    BM25 alone ranked the answer higher than the share of words did (the Debian
    FAQ set: docs/performance.md, "Search quality"), and a match of every word
    still comes before a match of some.
    """
    return 0.5 * (words >= 1 - 1e-9) + 0.5 * bm25


def _file_score(best_z: float | None, file_z: float | None, words: float, bm25: float,
                mode: SearchMode) -> float:
    """A file's rank: meaning from its best passage and whole-file vector, and words.

    Meaning is in standard deviations, unclipped: the evidence of two vectors
    adds up, and a clear winner stays ahead. Scaled so that z `Z_FULL` on both
    and every word give 1. Keyword mode: `_keyword_score` of its best passage's bm25.
    """
    meaning = PASSAGE_Z_SHARE * max(best_z or 0.0, 0.0) + max(file_z or 0.0, 0.0)
    full = (PASSAGE_Z_SHARE + 1) * Z_FULL
    if mode == "keyword":
        return _keyword_score(words, bm25)
    if mode == "semantic":
        return meaning / full
    return (meaning + FILE_WORDS_Z * words) / (full + FILE_WORDS_Z)


def _passage_score(evidence: _Evidence, query: _Query, mode: SearchMode) -> float:
    if mode == "keyword":
        return _keyword_score(query.coverage(evidence.terms) + PHRASE_BONUS * evidence.phrase,
                              evidence.bm25)
    return _score(query.meaning(evidence.z, bool(evidence.terms)), query.coverage(evidence.terms),
                  evidence.phrase,
                  _weights(mode))


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
