"""jina_edge.Reranker: ranking, long pairs, the model kinds, the default reranker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from jina_edge import Embedder, InputTooLongError, InvalidModelFileError, Reranker
from jina_edge.convert import convert_checkpoint
from jina_edge.convert.architectures import ArchitectureConverter

QUERY = "How was the pump sized?"
DOCUMENTS = ["We sized the pump for twelve litres per minute.", "She opened a bakery.",
             "The LED panels run for sixteen hours a day.", "Pumps move water."]
WINDOW = 64


@pytest.fixture(scope="module")
def reranker(reranker_gguf: Path) -> Iterator[Reranker]:
    with Reranker(reranker_gguf, device="cpu", threads=2) as r:
        yield r


@pytest.fixture(scope="module")
def short(reranker_gguf: Path) -> Iterator[Reranker]:
    with Reranker(reranker_gguf, device="cpu", threads=2, max_tokens=WINDOW) as r:
        yield r


def long_document(words: int) -> str:
    return " ".join(f"word{i % 40}" for i in range(words))


def test_rerank_orders_by_score_and_keeps_the_indices(reranker: Reranker) -> None:
    ranked = reranker.rerank(QUERY, DOCUMENTS)
    assert sorted(r.index for r in ranked) == list(range(len(DOCUMENTS)))
    assert [r.logit for r in ranked] == sorted((r.logit for r in ranked), reverse=True)
    in_order = reranker.score(QUERY, DOCUMENTS)
    assert [r.index for r in in_order] == list(range(len(DOCUMENTS)))
    for r in ranked:
        assert r == in_order[r.index]
        assert 0 < r.score < 1 and r.score == pytest.approx(1 / (1 + np.exp(-r.logit)))
        assert r.n_tokens == len(reranker.tokenize_pair(QUERY, DOCUMENTS[r.index]))
        assert not r.truncated and r.n_chunks == 1
    assert reranker.rerank(QUERY, DOCUMENTS, top_n=2) == ranked[:2]
    assert reranker.rerank(QUERY, []) == []


def test_a_pair_scores_the_same_alone_and_in_a_batch(reranker: Reranker) -> None:
    alone = [reranker.score(QUERY, [d])[0].logit for d in DOCUMENTS]
    together = [r.logit for r in reranker.score(QUERY, DOCUMENTS)]
    # Packed decodes differ only by rounding (flash attention keeps K and V in f16).
    np.testing.assert_allclose(together, alone, atol=5e-3)


def test_bad_arguments(reranker: Reranker) -> None:
    with pytest.raises(ValueError, match="top_n"):
        reranker.rerank(QUERY, DOCUMENTS, top_n=0)
    with pytest.raises(TypeError, match="list of strings"):
        reranker.rerank(QUERY, "one document")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        reranker.rerank(QUERY, [b"bytes"])  # type: ignore[list-item]


def test_error_policy_names_the_document_and_its_tokens(short: Reranker) -> None:
    with pytest.raises(InputTooLongError, match="document 1") as caught:
        short.rerank(QUERY, ["fits", long_document(200)], long_input="error")
    assert caught.value.n_tokens == len(short.tokenize_pair(QUERY, long_document(200)))
    assert caught.value.max_tokens == WINDOW


def test_truncate_cuts_the_document_not_the_query(short: Reranker) -> None:
    document = long_document(200)
    result = short.score(QUERY, [document], long_input="truncate")[0]
    assert result.truncated and result.n_chunks == 1
    assert result.n_tokens == len(short.tokenize_pair(QUERY, document))
    full = short.tokenize_pair(QUERY, document)
    # The window is the pair's start, cut to the window, with its final </s>.
    expected_window = [*full[:WINDOW - 1], full[-1]]
    assert result.logit == pytest.approx(float(short.score_ids([expected_window])[0][0]))


def test_chunk_scores_windows_and_keeps_the_best(short: Reranker) -> None:
    document = " ".join([long_document(150), "We sized the pump for twelve litres."])
    result = short.score(QUERY, [document], long_input="chunk")[0]
    assert result.n_chunks > 2 and not result.truncated
    first = short.score(QUERY, [document], long_input="truncate")[0]
    assert result.logit >= first.logit


def test_a_query_that_fills_the_window_is_an_error_whatever_the_policy(short: Reranker) -> None:
    for policy in ("truncate", "chunk"):
        with pytest.raises(InputTooLongError, match="shorten the query"):
            short.rerank(long_document(100), ["a document"], long_input=policy)


def test_an_embedding_model_is_not_a_reranker_and_vice_versa(jina_tiny_gguf: Path,
                                                             reranker_gguf: Path) -> None:
    with pytest.raises(InvalidModelFileError, match="is an embedding model.*not a reranker"):
        Reranker(jina_tiny_gguf, device="cpu")
    with pytest.raises(InvalidModelFileError, match="is a reranker.*not an embedding model"):
        Embedder(reranker_gguf, device="cpu")


def test_a_reranker_converted_without_our_head_is_refused(reranker_checkpoint: Path,
                                                          tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """As llama.cpp's own converter writes one: cls tensors, no pooler."""
    monkeypatch.setattr(ArchitectureConverter, "write_head", lambda self, writer: None)
    out = tmp_path / "elsewhere.gguf"
    convert_checkpoint(reranker_checkpoint, out, output_type="f32", verify=False)
    with pytest.raises(InvalidModelFileError, match="converted elsewhere.*pooler"):
        Reranker(out, device="cpu")
    with pytest.raises(InvalidModelFileError, match="is a reranker"):
        Embedder(out, device="cpu")


def test_the_default_reranker_is_the_installed_one(reranker_gguf: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from jina_edge.errors import ModelNotFoundError
    from jina_edge.models import store
    from jina_edge.models.installed import default_reranker_name

    with pytest.raises(ModelNotFoundError, match="models pull jina-reranker-v1-turbo-en"):
        Reranker()
    installed = store.import_model(reranker_gguf, name="my-reranker")
    assert installed.manifest["kind"] == "reranker"
    assert default_reranker_name() == "my-reranker"
    with Reranker(device="cpu") as r:
        assert r.model_path == installed.path
    monkeypatch.setenv("JINA_EDGE_RERANKER", "another")
    assert default_reranker_name() == "another"


def test_the_unpublished_base_model_cannot_be_pulled() -> None:
    from jina_edge.errors import ModelNotFoundError
    from jina_edge.models import store

    with pytest.raises(ModelNotFoundError, match="not published.*models import PATH --name"):
        store.pull("jina-reranker-v1-base-en")
