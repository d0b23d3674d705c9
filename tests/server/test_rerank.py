"""POST /v1/rerank (Jina's Rerank API shape) through httpx and the `cohere` client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cohere
import httpx
import pytest

from jina_edge import Embedder, Reranker
from jina_edge.server.app import LOOPBACK_NAMES, BackgroundServer, create_app

WINDOW = 64
MAX_INPUTS = 4
KEY = "s3cret-key"
QUERY = "How was the pump sized?"
DOCUMENTS = ["We sized the pump for twelve litres per minute.", "She opened a bakery.",
             "Pumps move water."]


@pytest.fixture(scope="module")
def models(jina_tiny_gguf: Path, reranker_gguf: Path) -> Iterator[tuple[Embedder, Reranker]]:
    with Embedder(jina_tiny_gguf, device="cpu", threads=2) as e, \
            Reranker(reranker_gguf, device="cpu", threads=2, max_tokens=WINDOW) as r:
        yield e, r


@pytest.fixture(scope="module")
def url(models: tuple[Embedder, Reranker]) -> Iterator[str]:
    app = create_app(models[0], reranker=models[1], max_inputs=MAX_INPUTS,
                     trusted_hosts=LOOPBACK_NAMES)
    with BackgroundServer(app) as server:
        yield server.url


def post(url: str, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{url}/v1/rerank", json=body, timeout=30, **kwargs)


def error_of(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    return str(error["message"])


def test_the_answer_has_jina_s_shape_and_the_model_s_scores(
        url: str, models: tuple[Embedder, Reranker]) -> None:
    reranker = models[1]
    response = post(url, {"model": reranker.model_name, "query": QUERY,
                          "documents": [DOCUMENTS[0], {"text": DOCUMENTS[1]}, DOCUMENTS[2]]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == reranker.model_name
    expected = reranker.rerank(QUERY, DOCUMENTS)
    assert [r["index"] for r in body["results"]] == [e.index for e in expected]
    for got, want in zip(body["results"], expected, strict=True):
        assert got["relevance_score"] == pytest.approx(want.score, abs=1e-6)
        assert got["document"] == {"text": DOCUMENTS[want.index]}  # return_documents: true
    tokens = sum(len(reranker.tokenize_pair(QUERY, d)) for d in DOCUMENTS)
    assert body["usage"] == {"total_tokens": tokens, "prompt_tokens": tokens}


def test_top_n_and_return_documents(url: str) -> None:
    body = post(url, {"query": QUERY, "documents": DOCUMENTS, "top_n": 2,
                      "return_documents": False}).json()
    assert len(body["results"]) == 2 and "document" not in body["results"][0]
    everything = post(url, {"query": QUERY, "documents": DOCUMENTS}).json()
    assert body["results"] == [{k: v for k, v in r.items() if k != "document"}
                               for r in everything["results"][:2]]
    assert body["usage"] == everything["usage"]  # every document was run


def test_health_names_the_reranker(url: str, models: tuple[Embedder, Reranker]) -> None:
    assert httpx.get(f"{url}/health").json()["reranker"] == models[1].model_name


@pytest.mark.parametrize(("body", "status", "code", "words"), [
    ({"query": QUERY, "documents": []}, 422, "invalid_input", "documents is an empty list"),
    ({"query": QUERY, "documents": "one string"}, 422, "invalid_input", "documents must"),
    ({"query": QUERY, "documents": ["a", " "]}, 422, "invalid_input", "documents[1] is empty"),
    ({"query": QUERY, "documents": [{"url": "x"}]}, 422, "invalid_input", "without a text"),
    ({"query": "", "documents": ["a"]}, 422, "invalid_input", "query"),
    ({"query": QUERY, "documents": ["a"] * 5}, 413, "too_many_inputs", "at most 4"),
    ({"query": QUERY, "documents": ["a"], "top_n": 0}, 422, "invalid_request", "top_n"),
    ({"model": "jina-reranker-v2-base-multilingual", "query": QUERY, "documents": ["a"]}, 404,
     "model_not_found", "reranks with"),
])
def test_bad_requests_are_refused_by_name(url: str, body: dict[str, Any], status: int, code: str,
                                          words: str) -> None:
    assert words in error_of(post(url, body), status, code)


def test_a_pair_over_the_window_needs_truncate(url: str) -> None:
    long = " ".join(f"word{i}" for i in range(100))
    message = error_of(post(url, {"query": QUERY, "documents": ["a", long]}), 422,
                       "input_too_long")
    assert "documents[1]" in message and "truncate=true" in message
    cut = post(url, {"query": QUERY, "documents": ["a", long], "truncate": True})
    assert cut.status_code == 200
    assert cut.json()["usage"]["total_tokens"] <= 2 * WINDOW


def test_the_cohere_client_reranks_against_it(url: str,
                                              models: tuple[Embedder, Reranker]) -> None:
    client = cohere.Client(base_url=url, api_key="unused")
    response = client.rerank(query=QUERY, documents=DOCUMENTS, top_n=2, return_documents=True)
    expected = models[1].rerank(QUERY, DOCUMENTS, top_n=2)
    assert [r.index for r in response.results] == [e.index for e in expected]
    assert response.results[0].relevance_score == pytest.approx(expected[0].score, abs=1e-6)
    assert response.results[0].document is not None
    assert response.results[0].document.text == DOCUMENTS[expected[0].index]


def test_without_a_reranker_the_endpoint_says_how_to_get_one(
        models: tuple[Embedder, Reranker]) -> None:
    with BackgroundServer(create_app(models[0])) as server:
        message = error_of(post(server.url, {"query": QUERY, "documents": ["a"]}), 404,
                           "model_not_found")
        assert "--reranker" in message
        search = httpx.post(f"{server.url}/v1/search", json={"query": "q", "rerank": True})
        assert "--reranker" in error_of(search, 404, "model_not_found")


def test_the_api_key_and_the_host_header_apply(models: tuple[Embedder, Reranker],
                                               url: str) -> None:
    body = {"query": QUERY, "documents": ["a"]}
    assert error_of(post(url, body, headers={"Host": "evil.example"}), 421, "untrusted_host")
    with BackgroundServer(create_app(models[0], reranker=models[1], api_key=KEY)) as server:
        assert error_of(post(server.url, body), 401, "missing_api_key")
        ok = post(server.url, body, headers={"Authorization": f"Bearer {KEY}"})
        assert ok.status_code == 200


def test_search_reranks_with_the_served_reranker(models: tuple[Embedder, Reranker],
                                                 tmp_path: Path) -> None:
    from jina_edge.index.service import Index

    notes = tmp_path / "notes"
    notes.mkdir()
    for i, text in enumerate(DOCUMENTS):
        (notes / f"{i}.md").write_text(text + " pump")
    with Index(tmp_path / "i.db", embedder=models[0]) as index:
        index.add(notes)
        index.sync()
    app = create_app(models[0], reranker=models[1], indexes={"notes": tmp_path / "i.db"})
    with BackgroundServer(app) as server:
        body = {"query": "pump", "mode": "keyword", "passages": True}
        plain = httpx.post(f"{server.url}/v1/search", json=body, timeout=30).json()["data"]
        ranked = httpx.post(f"{server.url}/v1/search", json={**body, "rerank": True},
                            timeout=30).json()["data"]
    assert all(hit["rerank_score"] is None for hit in plain)
    scores = [hit["rerank_score"] for hit in ranked]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
