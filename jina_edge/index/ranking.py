"""Ranking: what search found, scored on a fixed scale, and the relevance floor.

Retrieval (search.py) hands over typed, immutable evidence: each passage's
`Candidate`, each file's `FileCandidate` and the query's `QueryStats`. The
functions here are pure: the same evidence always ranks the same way, and a
weight or floor is changed in this module alone. The rules in words are in
docs/architecture.md; rerun benchmarks/bench_search_quality.py before changing
a constant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, TypeAlias

SearchMode: TypeAlias = Literal["hybrid", "semantic", "keyword"]
SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "semantic", "keyword")

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
# Passages: a word in more is common (see docs/architecture.md). Retrieval
# lists no more holders of a word than this; a common word weighs as if in
# this many passages.
COMMON = 10_000
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
# z, and in hybrid mode the words evidence (0 to 1 + PHRASE_BONUS) counts as
# this many standard deviations.
PASSAGE_Z_SHARE = 0.5
FILE_WORDS_Z = 4.0
# SQLite FTS5's bm25() parameters, to put a passage's score on a 0-1 scale.
BM25_K1 = 1.2


@dataclass(frozen=True)
class Candidate:
    """What one query found about one passage.

    Attributes:
        z: its cosine to the query in standard deviations above the query's
            background; None when semantic search did not reach it.
        terms: the query words it holds.
        phrase: whether it holds the query as a phrase.
        bm25: FTS5's bm25 of it, as a share of the most the query could score (0 to 1).
    """

    z: float | None = None
    terms: frozenset[str] = frozenset()
    phrase: bool = False
    bm25: float = 0.0


@dataclass(frozen=True)
class QueryStats:
    """What ranking needs to know about the query itself, once retrieval is done.

    Attributes:
        weights: each query word's weight (idf), in the query's order.
        unknown_share: the share of the query's words that the index holds nowhere.
        bm25_most: the most FTS5's bm25 can score for the query (0: not known).
    """

    weights: Mapping[str, float]
    unknown_share: float = 0.0
    bm25_most: float = 0.0


@dataclass(frozen=True)
class FileCandidate:
    """One file with evidence: its passages' candidates and its own.

    Attributes:
        path: the file.
        passages: (chunk id, candidate) of its passages that search found, in
            the order found (ties keep it).
        z: its whole-file vector's z on the passages' background (None: none).
        name_terms: the query words its name holds.
    """

    path: str
    passages: tuple[tuple[int, Candidate], ...]
    z: float | None = None
    name_terms: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RankedFile:
    """A file that passed: its score and its passages' scores, best first."""

    path: str
    score: float
    passages: tuple[tuple[int, float], ...]


def unknown_share(terms: Sequence[str], holders: Mapping[str, int | None],
                  named: AbstractSet[str]) -> float:
    """The share of `terms` that no passage holds and no file's name holds.

    `holders`: word -> how many passages hold it (None: more than `COMMON`);
    `named`: the words that some file's name holds.
    """
    unknown = [t for t, n in holders.items() if n is not None and n == 0 and t not in named]
    return len(unknown) / len(terms) if terms else 1.0


def query_stats(terms: Sequence[str], unknown: float,
                holders: Mapping[str, int | None] | None = None,
                total: int = 0) -> QueryStats:
    """The query's `QueryStats`: each word weighed by its rarity among the `total` passages.

    `holders`: word -> how many passages hold it (None: more than `COMMON`). A
    common word weighs 0 when the query has a rarer one. Without `holders`
    (no keyword search) every word weighs 1 and bm25 is not known.
    """
    if holders is None:
        return QueryStats(MappingProxyType({t: 1.0 for t in terms}), unknown, 0.0)
    weights = {t: 1.0 for t in terms}
    most = 0.0
    rare = [t for t in terms if holders.get(t) is not None]
    for term in terms:
        count = holders.get(term)
        if count is None and rare:
            weights[term] = 0.0
            continue
        n = COMMON if count is None else count
        weights[term] = math.log(1 + max(total - n + 0.5, 0.5) / (n + 0.5))
        # A word FTS5 is asked for: its idf, and a count's most, k1 + 1.
        most += (BM25_K1 + 1) * max(math.log((total - n + 0.5) / (n + 0.5)), 1e-6)
    return QueryStats(MappingProxyType(weights), unknown, most)


def bm25_share(score: float, most: float) -> float:
    """A passage's FTS5 bm25 (negated: higher is better) as a share of `most`, the most it can be.

    Each word FTS5 is asked for adds at most (k1 + 1) x its idf, however often it occurs.
    """
    return min(1.0, score / most) if most > 0 else 0.0


def meaning_evidence(z: float | None, unknown: float, holds_a_word: bool = True) -> float:
    """Semantic evidence on a 0-1 scale (see `Z_NONE`).

    `unknown`: the share of the query's words the index holds nowhere.
    `holds_a_word`: whether the passage or file holds a query word. One that
    does not, for a query with words the index lacks, needs the most.
    """
    if z is None:
        return 0.0
    share = unknown if holds_a_word else math.ceil(unknown)
    start = Z_NONE + (Z_NONE_UNKNOWN - Z_NONE) * share
    return min(1.0, max(0.0, (z - start) / (Z_FULL - start)))


def coverage(terms: AbstractSet[str], weights: Mapping[str, float]) -> float:
    """The weighted share of the query's words among `terms` (0 to 1)."""
    if not terms:
        return 0.0
    total = sum(weights.values())
    return sum(weights[t] for t in terms if t in weights) / total if total else 0.0


def words_evidence(terms: AbstractSet[str], phrase: bool, weights: Mapping[str, float]) -> float:
    """Words evidence (0 to 1 + `PHRASE_BONUS`): coverage, and more for the phrase."""
    return coverage(terms, weights) + PHRASE_BONUS * phrase


def mode_weights(mode: SearchMode) -> tuple[float, float]:
    """(meaning, words) shares of the score in each mode."""
    return {"keyword": (0.0, 1.0), "semantic": (1.0, 0.0),
            "hybrid": (MEANING_WEIGHT, WORDS_WEIGHT)}[mode]


def strength(meaning: float, words: float, mode: SearchMode) -> float:
    """The (meaning, words) evidence of a passage or a file, weighted for the mode.

    What the floor is measured on.
    """
    weights = mode_weights(mode)
    return weights[0] * meaning + weights[1] * words


def keyword_score(words: float, bm25: float) -> float:
    """Keyword mode's rank (0 to 1): holding every word (or the phrase) first, then BM25.

    BM25 alone ranked the answer higher than the share of words did (the Debian
    FAQ set: docs/performance.md, "Search quality"), and a match of every word
    still comes before a match of some.
    """
    return 0.5 * (words >= 1 - 1e-9) + 0.5 * bm25


def passage_strength(passage: Candidate, query: QueryStats, mode: SearchMode) -> float:
    """A passage's evidence for the floor (`strength`)."""
    return strength(meaning_evidence(passage.z, query.unknown_share, bool(passage.terms)),
                    words_evidence(passage.terms, passage.phrase, query.weights), mode)


def passage_score(passage: Candidate, query: QueryStats, mode: SearchMode) -> float:
    """A passage's rank: its `strength`; in keyword mode, `keyword_score`."""
    if mode == "keyword":
        return keyword_score(words_evidence(passage.terms, passage.phrase, query.weights),
                             passage.bm25)
    return passage_strength(passage, query, mode)


def file_score(best_z: float | None, file_z: float | None, words: float, bm25: float,
               mode: SearchMode) -> float:
    """A file's rank: meaning from its best passage and whole-file vector, and words.

    Meaning is in standard deviations, unclipped: the evidence of two vectors
    adds up, and a clear winner stays ahead. Scaled so that z `Z_FULL` on both
    and every word give 1. Keyword mode: `keyword_score` of its best passage's bm25.
    """
    meaning = PASSAGE_Z_SHARE * max(best_z or 0.0, 0.0) + max(file_z or 0.0, 0.0)
    full = (PASSAGE_Z_SHARE + 1) * Z_FULL
    if mode == "keyword":
        return keyword_score(words, bm25)
    if mode == "semantic":
        return meaning / full
    return (meaning + FILE_WORDS_Z * words) / (full + FILE_WORDS_Z)


def near(best_z: float | None, mode: SearchMode) -> bool:
    """Whether a file's best passage stands close enough (`NEAR_Z`) to join clear results."""
    return bool(mode_weights(mode)[0]) and best_z is not None and best_z >= NEAR_Z


def rank_files(files: Sequence[FileCandidate], query: QueryStats,
               mode: SearchMode) -> list[RankedFile]:
    """The files that pass the floor, best first (ties keep the given order).

    A file is measured on its best passage's meaning and the words that its
    passages and its name hold. None passes unless one reaches `FLOOR`; when
    the strongest reaches `NEAR_OPEN`, the `near` files join those that pass.
    """
    scored: list[tuple[RankedFile, float]] = []  # (file, strength)
    for file in files:
        passage = {cid: passage_score(c, query, mode) for cid, c in file.passages}
        terms = set().union(*(c.terms for _, c in file.passages)) | file.name_terms
        zs = [z for _, c in file.passages if (z := c.z) is not None]
        best_z = max(zs) if zs else None
        words = words_evidence(terms, any(c.phrase for _, c in file.passages), query.weights)
        evidence = strength(meaning_evidence(best_z, query.unknown_share, bool(terms)), words,
                            mode)
        if evidence >= FLOOR or near(best_z, mode):
            bm25 = max(c.bm25 for _, c in file.passages)
            score = file_score(best_z, file.z, words, bm25, mode)
            best = sorted(passage, key=lambda c: -passage[c])
            scored.append((RankedFile(file.path, score, tuple((c, passage[c]) for c in best)),
                           evidence))
    strongest = max((item[1] for item in scored), default=0.0)
    if strongest < FLOOR:
        return []
    weak = strongest < NEAR_OPEN  # a weak match: only the files that pass
    return sorted((file for file, evidence in scored if not weak or evidence >= FLOOR),
                  key=lambda file: -file.score)


def rank_passages(passages: Sequence[tuple[int, Candidate]], query: QueryStats,
                  mode: SearchMode) -> list[tuple[int, float]]:
    """(chunk id, score) of the passages that pass the floor, best first (ties keep the order)."""
    scores = {cid: passage_score(c, query, mode) for cid, c in passages
              if passage_strength(c, query, mode) >= FLOOR}
    return sorted(scores.items(), key=lambda item: -item[1])
