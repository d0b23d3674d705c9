"""The ranking's pure functions, on evidence made by hand (no index, no model).

Expected values are worked out here from the module's constants, so a tuned
weight moves them along; what is checked is the shape of each rule.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from jina_edge.index.ranking import (
    BM25_K1,
    COMMON,
    FILE_WORDS_Z,
    FLOOR,
    MEANING_WEIGHT,
    NEAR_OPEN,
    NEAR_Z,
    PASSAGE_Z_SHARE,
    PHRASE_BONUS,
    WORDS_WEIGHT,
    Z_FULL,
    Z_NONE,
    Z_NONE_UNKNOWN,
    Candidate,
    FileCandidate,
    QueryStats,
    RankedFile,
    bm25_share,
    coverage,
    file_score,
    keyword_score,
    meaning_evidence,
    mode_weights,
    passage_score,
    passage_strength,
    query_stats,
    rank_files,
    rank_passages,
    strength,
    unknown_share,
    words_evidence,
)


def z_for(meaning: float, unknown: float = 0.0) -> float:
    """The z whose meaning is `meaning` (0 to 1), for a query with that unknown share."""
    start = Z_NONE + (Z_NONE_UNKNOWN - Z_NONE) * unknown
    return start + meaning * (Z_FULL - start)


def one_passage(path: str, cid: int, candidate: Candidate, *, z: float | None = None,
                name_terms: frozenset[str] = frozenset()) -> FileCandidate:
    return FileCandidate(path, ((cid, candidate),), z, name_terms)


# -- meaning -----------------------------------------------------------------


def test_meaning_runs_from_z_none_to_z_full() -> None:
    assert meaning_evidence(None, 0.0) == 0.0
    assert meaning_evidence(Z_NONE, 0.0) == 0.0
    assert meaning_evidence(Z_FULL, 0.0) == 1.0
    assert meaning_evidence((Z_NONE + Z_FULL) / 2, 0.0) == pytest.approx(0.5)
    assert meaning_evidence(Z_NONE - 1, 0.0) == 0.0  # clipped below
    assert meaning_evidence(Z_FULL + 5, 0.0) == 1.0  # and above


def test_unknown_words_move_the_start_towards_z_none_unknown() -> None:
    # Every word unknown: the scale starts at Z_NONE_UNKNOWN.
    assert meaning_evidence(Z_NONE_UNKNOWN, 1.0) == 0.0
    assert meaning_evidence((Z_NONE_UNKNOWN + Z_FULL) / 2, 1.0) == pytest.approx(0.5)
    # Half of them: halfway between the two starts.
    half_start = (Z_NONE + Z_NONE_UNKNOWN) / 2
    assert meaning_evidence(half_start, 0.5) == pytest.approx(0.0)
    z = (Z_NONE + Z_NONE_UNKNOWN) / 2 + 0.25
    assert meaning_evidence(z, 0.5) == pytest.approx(0.25 / (Z_FULL - half_start))
    assert meaning_evidence(z, 0.0) > meaning_evidence(z, 0.5) > meaning_evidence(z, 1.0) == 0
    assert meaning_evidence(Z_FULL, 1.0) == 1.0


def test_a_passage_holding_no_word_needs_the_most_once_a_word_is_unknown() -> None:
    z = z_for(0.5, unknown=0.25)
    assert meaning_evidence(z, 0.25) == pytest.approx(0.5)
    # Holding no query word: any unknown word puts its start at Z_NONE_UNKNOWN.
    assert meaning_evidence(z, 0.25, holds_a_word=False) == pytest.approx(
        max(0.0, (z - Z_NONE_UNKNOWN) / (Z_FULL - Z_NONE_UNKNOWN)))
    assert meaning_evidence(z, 0.25, holds_a_word=False) < meaning_evidence(z, 0.25)
    # Every word known: holding none of them asks no more.
    assert meaning_evidence(z, 0.0, holds_a_word=False) == meaning_evidence(z, 0.0)


def test_unknown_share_counts_words_no_passage_and_no_name_holds() -> None:
    terms = ["pump", "xyzzy", "quux", "data"]
    holders: dict[str, int | None] = {"pump": 3, "xyzzy": 0, "quux": 0, "data": None}
    assert unknown_share(terms, holders, set()) == 2 / 4
    assert unknown_share(terms, holders, {"quux"}) == 1 / 4  # a file is named so
    assert unknown_share(["data"], {"data": None}, set()) == 0.0  # common is known
    assert unknown_share([], {}, set()) == 1.0  # no words: nothing known


# -- words -------------------------------------------------------------------


def test_query_stats_weigh_each_word_by_its_rarity() -> None:
    total = 100
    stats = query_stats(["pump", "valve", "xyzzy"], 0.25, {"pump": 9, "valve": 1, "xyzzy": 0},
                        total)
    idf = {t: math.log(1 + (total - n + 0.5) / (n + 0.5))
           for t, n in {"pump": 9, "valve": 1, "xyzzy": 0}.items()}
    assert dict(stats.weights) == pytest.approx(idf)
    assert list(stats.weights) == ["pump", "valve", "xyzzy"]  # the query's order
    assert stats.weights["xyzzy"] > stats.weights["valve"] > stats.weights["pump"] > 0
    assert stats.unknown_share == 0.25
    # The most bm25 can score: (k1 + 1) x FTS5's idf of each word.
    most = sum((BM25_K1 + 1) * math.log((total - n + 0.5) / (n + 0.5)) for n in (9, 1, 0))
    assert stats.bm25_most == pytest.approx(most)


def test_a_common_word_weighs_nothing_beside_a_rarer_one() -> None:
    total = 3 * COMMON
    stats = query_stats(["data", "pump"], 0.0, {"data": None, "pump": 5}, total)
    assert stats.weights["data"] == 0.0 and stats.weights["pump"] > 0
    assert stats.bm25_most == pytest.approx(
        (BM25_K1 + 1) * math.log((total - 5 + 0.5) / 5.5))  # the common word is not asked for
    # Only common words: each weighs as a word in COMMON passages.
    stats = query_stats(["data", "file"], 0.0, {"data": None, "file": None}, total)
    weight = math.log(1 + (total - COMMON + 0.5) / (COMMON + 0.5))
    assert stats.weights["data"] == stats.weights["file"] == pytest.approx(weight)


def test_without_keyword_search_every_word_weighs_one() -> None:
    stats = query_stats(["pump", "valve"], 1.0)
    assert dict(stats.weights) == {"pump": 1.0, "valve": 1.0}
    assert stats.bm25_most == 0.0 and stats.unknown_share == 1.0


def test_query_stats_are_immutable() -> None:
    stats = query_stats(["pump"], 0.0, {"pump": 1}, 10)
    with pytest.raises(TypeError):
        stats.weights["pump"] = 5.0  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.unknown_share = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Candidate(z=1.0).z = 2.0  # type: ignore[misc]


def test_bm25_share_is_a_share_of_the_most_it_can_be() -> None:
    assert bm25_share(3.0, 6.0) == 0.5
    assert bm25_share(9.0, 6.0) == 1.0  # capped
    assert bm25_share(3.0, 0.0) == 0.0  # the most not known


def test_coverage_is_the_weighted_share_of_the_words() -> None:
    weights = {"pump": 3.0, "valve": 1.0}
    assert coverage({"pump"}, weights) == 0.75
    assert coverage({"valve"}, weights) == 0.25
    assert coverage({"pump", "valve"}, weights) == 1.0
    assert coverage(set(), weights) == 0.0
    assert coverage({"other"}, weights) == 0.0  # not a query word
    assert coverage({"pump"}, {"pump": 0.0}) == 0.0  # nothing weighs
    assert words_evidence({"valve"}, True, weights) == 0.25 + PHRASE_BONUS
    assert words_evidence({"valve"}, False, weights) == 0.25


def test_mode_weights_and_strength() -> None:
    assert mode_weights("keyword") == (0.0, 1.0)
    assert mode_weights("semantic") == (1.0, 0.0)
    assert mode_weights("hybrid") == (MEANING_WEIGHT, WORDS_WEIGHT)
    assert strength(0.5, 0.25, "hybrid") == pytest.approx(
        MEANING_WEIGHT * 0.5 + WORDS_WEIGHT * 0.25)
    assert strength(0.5, 0.25, "keyword") == 0.25
    assert strength(0.5, 0.25, "semantic") == 0.5
    assert strength(1.0, 1.0, "hybrid") == pytest.approx(1.0)  # full evidence


# -- scores ------------------------------------------------------------------


@pytest.mark.parametrize("every_bm25", [0.01, 0.5, 1.0])
@pytest.mark.parametrize("some_bm25", [0.0, 0.5, 0.99])
def test_keyword_score_puts_every_word_before_some_whatever_bm25(every_bm25: float,
                                                                 some_bm25: float) -> None:
    assert keyword_score(1.0, every_bm25) > keyword_score(0.9, some_bm25)
    weights = {"pump": 1.0, "valve": 1.0}
    query = QueryStats(weights)
    every = Candidate(terms=frozenset({"pump", "valve"}), bm25=every_bm25)
    some = Candidate(terms=frozenset({"valve"}), bm25=some_bm25)
    assert passage_score(every, query, "keyword") > passage_score(some, query, "keyword")


def test_keyword_score_values() -> None:
    assert keyword_score(1.0, 0.4) == 0.5 + 0.5 * 0.4
    assert keyword_score(0.5, 0.4) == 0.5 * 0.4
    # A share of words a rounding error under 1 still holds every word.
    assert keyword_score(1 - 1e-12, 0.0) == 0.5
    assert keyword_score(1 - 1e-6, 0.0) == 0.0


def test_passage_score_in_each_mode() -> None:
    query = QueryStats({"pump": 3.0, "valve": 1.0}, unknown_share=0.0)
    passage = Candidate(z=z_for(0.5), terms=frozenset({"pump"}), phrase=False, bm25=0.3)
    assert passage_score(passage, query, "semantic") == pytest.approx(0.5)
    assert passage_score(passage, query, "hybrid") == pytest.approx(
        MEANING_WEIGHT * 0.5 + WORDS_WEIGHT * 0.75)
    assert passage_score(passage, query, "keyword") == pytest.approx(0.5 * 0.3)
    # The floor is measured on the evidence, not on keyword mode's rank.
    assert passage_strength(passage, query, "keyword") == 0.75


def test_file_score_at_full_evidence_is_one_in_every_mode() -> None:
    for mode in ("keyword", "semantic", "hybrid"):
        assert file_score(Z_FULL, Z_FULL, 1.0, 1.0, mode) == pytest.approx(1.0), mode


def test_file_score_parts() -> None:
    full = (PASSAGE_Z_SHARE + 1) * Z_FULL
    # Meaning is in deviations, unclipped above and clipped at 0 below.
    assert file_score(2 * Z_FULL, 2 * Z_FULL, 0.0, 0.0, "semantic") == pytest.approx(2.0)
    assert file_score(-3.0, None, 1.0, 0.0, "semantic") == 0.0
    assert file_score(None, Z_FULL, 0.0, 0.0, "semantic") == pytest.approx(Z_FULL / full)
    assert file_score(Z_FULL, None, 0.0, 0.0, "semantic") == pytest.approx(
        PASSAGE_Z_SHARE * Z_FULL / full)
    # Hybrid: every word counts as FILE_WORDS_Z deviations.
    assert file_score(None, None, 1.0, 0.0, "hybrid") == pytest.approx(
        FILE_WORDS_Z / (full + FILE_WORDS_Z))
    # Keyword: every word first, then the best passage's bm25; z plays no part.
    assert file_score(Z_FULL, Z_FULL, 0.5, 0.6, "keyword") == pytest.approx(0.3)


# -- the floor ---------------------------------------------------------------


def test_a_file_below_the_floor_is_dropped() -> None:
    query = QueryStats({"rare": 1 - FLOOR / 2, "often": FLOOR / 2})
    weak = one_passage("weak.txt", 1, Candidate(terms=frozenset({"often"}), bm25=0.9))
    strong = one_passage("strong.txt", 2, Candidate(terms=frozenset({"rare"}), bm25=0.1))
    ranked = rank_files([weak, strong], query, "keyword")
    assert [f.path for f in ranked] == ["strong.txt"]
    assert ranked[0].score == pytest.approx(0.5 * 0.1)
    assert ranked[0].passages == ((2, pytest.approx(0.5 * 0.1)),)
    # Nothing reaches the floor: no results at all.
    assert rank_files([weak], query, "keyword") == []
    passages = rank_passages([(1, weak.passages[0][1]), (2, strong.passages[0][1])], query,
                             "keyword")
    assert [cid for cid, _ in passages] == [2]


def test_a_name_holding_a_word_counts_as_the_file_holding_it() -> None:
    query = QueryStats({"retro": 1.0})
    named = one_passage("retro.txt", 1, Candidate(), name_terms=frozenset({"retro"}))
    unnamed = one_passage("other.txt", 2, Candidate())
    ranked = rank_files([unnamed, named], query, "keyword")
    assert [f.path for f in ranked] == ["retro.txt"]
    assert ranked[0].score == 0.5  # every word, no bm25


def _near_setup(clear: float) -> list[FileCandidate]:
    """A file of meaning `clear` and one whose best passage stands just NEAR_Z out."""
    return [one_passage("clear.txt", 1, Candidate(z=z_for(clear))),
            one_passage("near.txt", 2, Candidate(z=NEAR_Z))]


def test_near_files_join_only_when_the_strongest_passes_near_open() -> None:
    query = QueryStats({})
    assert meaning_evidence(NEAR_Z, 0.0) < FLOOR  # the near file does not pass alone
    clear = (NEAR_OPEN + 1) / 2
    ranked = rank_files(_near_setup(clear), query, "semantic")
    assert [f.path for f in ranked] == ["clear.txt", "near.txt"]
    assert ranked[1].score == pytest.approx(PASSAGE_Z_SHARE * NEAR_Z / ((PASSAGE_Z_SHARE + 1)
                                                                        * Z_FULL))
    # Between the floor and NEAR_OPEN: only the file that passes.
    weak = (FLOOR + NEAR_OPEN) / 2
    assert [f.path for f in rank_files(_near_setup(weak), query, "semantic")] == ["clear.txt"]
    # Below the floor: nothing, near files included.
    assert rank_files(_near_setup(FLOOR / 2), query, "semantic") == []
    # A file just short of NEAR_Z does not join.
    short = [_near_setup(clear)[0],
             one_passage("short.txt", 3, Candidate(z=math.nextafter(NEAR_Z, -math.inf)))]
    assert [f.path for f in rank_files(short, query, "semantic")] == ["clear.txt"]


def test_keyword_mode_has_no_near_files() -> None:
    query = QueryStats({"pump": 1.0})
    files = [one_passage("pump.txt", 1, Candidate(terms=frozenset({"pump"}), bm25=0.5)),
             one_passage("near.txt", 2, Candidate(z=Z_FULL))]
    assert [f.path for f in rank_files(files, query, "keyword")] == ["pump.txt"]
    assert [f.path for f in rank_files(files, query, "hybrid")] == ["pump.txt", "near.txt"]


def test_rank_files_orders_files_and_passages_best_first() -> None:
    query = QueryStats({"pump": 1.0, "valve": 1.0})
    both = Candidate(z=z_for(0.8), terms=frozenset({"pump", "valve"}), bm25=0.2)
    one = Candidate(z=z_for(0.9), terms=frozenset({"pump"}), bm25=0.9)
    none = Candidate(z=z_for(0.1))
    files = [FileCandidate("a.txt", ((10, none), (11, one)), z=None),
             FileCandidate("b.txt", ((20, one), (21, both)), z=z_for(1.0))]
    ranked = rank_files(files, query, "hybrid")
    assert [f.path for f in ranked] == ["b.txt", "a.txt"]
    assert [cid for cid, _ in ranked[0].passages] == [21, 20]
    assert [cid for cid, _ in ranked[1].passages] == [11, 10]
    scores = dict(ranked[0].passages)
    assert scores[21] == pytest.approx(MEANING_WEIGHT * 0.8 + WORDS_WEIGHT * 1.0)
    assert scores[20] == pytest.approx(MEANING_WEIGHT * 0.9 + WORDS_WEIGHT * 0.5)
    # b.txt: its best passage's z (0.9's), its own z, and every word across its passages.
    full = (PASSAGE_Z_SHARE + 1) * Z_FULL
    want = (PASSAGE_Z_SHARE * z_for(0.9) + z_for(1.0) + FILE_WORDS_Z) / (full + FILE_WORDS_Z)
    assert ranked[0].score == pytest.approx(want)
    # Keyword mode: b.txt holds every word across its passages, with its best
    # passage's bm25; a.txt ranks on bm25 alone. Passage 21 holds both words.
    ranked = rank_files(files, query, "keyword")
    assert ranked == [RankedFile("b.txt", 0.5 + 0.5 * 0.9, ((21, 0.5 + 0.5 * 0.2), (20, 0.45))),
                      RankedFile("a.txt", 0.5 * 0.9, ((11, 0.5 * 0.9), (10, 0.0)))]


def test_ties_keep_the_order_given() -> None:
    query = QueryStats({"pump": 1.0})
    same = Candidate(terms=frozenset({"pump"}), bm25=0.5)
    files = [one_passage(f"{name}.txt", i, same) for i, name in enumerate("cab")]
    assert [f.path for f in rank_files(files, query, "keyword")] == ["c.txt", "a.txt", "b.txt"]
    passages = rank_passages([(3, same), (1, same), (2, same)], query, "keyword")
    assert [cid for cid, _ in passages] == [3, 1, 2]


def test_rank_passages_scores_and_floor() -> None:
    query = QueryStats({"pump": 1.0, "valve": 1.0}, unknown_share=0.0)
    passages = [(1, Candidate(z=z_for(0.2))),
                (2, Candidate(z=z_for(0.9), terms=frozenset({"pump"}))),
                (3, Candidate(z=z_for(FLOOR / 2)))]  # below the floor
    ranked = rank_passages(passages, query, "semantic")
    assert ranked == [(2, pytest.approx(0.9)), (1, pytest.approx(0.2))]
    ranked = rank_passages(passages, query, "hybrid")
    assert [cid for cid, _ in ranked] == [2, 1]
    assert ranked[0][1] == pytest.approx(MEANING_WEIGHT * 0.9 + WORDS_WEIGHT * 0.5)
    # Keyword mode: only passage 2 holds a word.
    assert [cid for cid, _ in rank_passages(passages, query, "keyword")] == [2]


def test_the_same_evidence_ranks_the_same_way() -> None:
    query = QueryStats({"pump": 1.0})
    files = [one_passage("a.txt", 1, Candidate(z=z_for(0.7), terms=frozenset({"pump"})))]
    first = rank_files(files, query, "hybrid")
    assert rank_files(files, query, "hybrid") == first
    assert files[0].passages[0][1].terms == frozenset({"pump"})
