"""The HTTP server, through real clients (openai, httpx) against uvicorn on 127.0.0.1."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FakeBackend
from jina_edge import Embedder, JinaEdgeError
from jina_edge.index.service import Index
from jina_edge.server.app import (
    LOOPBACK_NAMES,
    BackgroundServer,
    create_app,
    is_loopback,
    serve,
)

WINDOW = 128  # tokens: a short window makes "too long" cheap to reach
MAX_INPUTS = 8
MAX_BODY = 64 * 1024
KEY = "s3cret-key"
TEXTS = ["the cat sat on the mat", "a quick brown fox", "embeddings on the edge",
         "late chunking keeps context"]


@pytest.fixture(scope="module")
def model(jina_tiny_gguf: Path) -> Iterator[Embedder]:
    with Embedder(jina_tiny_gguf, device="cpu", max_tokens=WINDOW, threads=2) as e:
        yield e


@pytest.fixture(scope="module")
def url(model: Embedder) -> Iterator[str]:
    app = create_app(model, max_inputs=MAX_INPUTS, max_body_bytes=MAX_BODY,
                     trusted_hosts=LOOPBACK_NAMES)
    with BackgroundServer(app) as server:
        yield server.url


@pytest.fixture(scope="module")
def secured_url(model: Embedder) -> Iterator[str]:
    with BackgroundServer(create_app(model, api_key=KEY)) as server:
        yield server.url


@pytest.fixture(scope="module")
def name(model: Embedder) -> str:
    assert model.info is not None
    return model.info.name


def post(url: str, body: Any, **kwargs: Any) -> Any:
    return httpx.post(f"{url}/v1/embeddings", json=body, timeout=30, **kwargs)


def vectors_of(response: Any) -> list[Any]:
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [d["index"] for d in data] == list(range(len(data)))
    assert all(d["object"] == "embedding" for d in data)
    return [d["embedding"] for d in data]


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"] and error["type"]
    return dict(error)


def long_text(words: int) -> str:
    return " ".join(f"word{i % 50}" for i in range(words))


# -- OpenAI's client ----------------------------------------------------------


def test_openai_client_default_base64_decodes_to_the_model_vectors(
        url: str, model: Embedder, name: str) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    one = client.embeddings.create(model=name, input="hello world")
    np.testing.assert_array_equal(np.asarray(one.data[0].embedding, np.float32),
                                  model.embed("hello world"))
    assert one.model == name
    assert one.usage.total_tokens == one.usage.prompt_tokens == model.count_tokens("hello world")

    many = client.embeddings.create(model=name, input=TEXTS)
    got = np.asarray([d.embedding for d in many.data], np.float32)
    np.testing.assert_array_equal(got, model.embed(TEXTS))
    assert many.usage.total_tokens == sum(model.count_tokens(t) for t in TEXTS)


def test_openai_client_float_format_and_models_list(url: str, model: Embedder,
                                                    name: str) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    response = client.embeddings.create(model=name, input=TEXTS[:2], encoding_format="float")
    got = np.asarray([d.embedding for d in response.data], np.float32)
    np.testing.assert_array_equal(got, model.embed(TEXTS[:2]))
    assert [m.id for m in client.models.list()] == [name]


def test_openai_client_sees_auth_errors(secured_url: str, model: Embedder, name: str) -> None:
    wrong = openai.OpenAI(base_url=f"{secured_url}/v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.embeddings.create(model=name, input="x")
    right = openai.OpenAI(base_url=f"{secured_url}/v1", api_key=KEY, max_retries=0)
    got = right.embeddings.create(model=name, input="x").data[0].embedding
    np.testing.assert_array_equal(np.asarray(got, np.float32), model.embed("x"))


# -- Jina's request format ----------------------------------------------------


def test_jina_input_objects_and_model_names(url: str, model: Embedder, name: str) -> None:
    body = {"model": name, "input": [{"text": t} for t in TEXTS]}
    np.testing.assert_array_equal(np.asarray(vectors_of(post(url, body)), np.float32),
                                  model.embed(TEXTS))
    assert model.model_path is not None
    for alias in (model.model_path.name, str(model.model_path), None):
        assert post(url, {"model": alias, "input": "x"}).status_code == 200
    assert_error(post(url, {"model": "jina-embeddings-v3", "input": "x"}), 404,
                 "model_not_found")


def test_embedding_types_have_the_documented_values(url: str, model: Embedder) -> None:
    expected = model.embed(TEXTS).astype(np.float64)
    int8 = np.clip(np.round(expected * 127), -127, 127)
    bits = np.packbits(expected > 0, axis=1).astype(int)
    cases = {
        "float": expected.astype(np.float32),
        "int8": int8,
        "uint8": int8 + 128,
        "ubinary": bits,
        "binary": bits - 128,
    }
    for kind, want in cases.items():
        got = vectors_of(post(url, {"input": TEXTS, "embedding_type": kind}))
        np.testing.assert_array_equal(np.asarray(got), want, err_msg=kind)
    ubinary = np.asarray(vectors_of(post(url, {"input": TEXTS, "embedding_type": "ubinary"})))
    assert ubinary.shape == (len(TEXTS), model.dim // 8)
    np.testing.assert_array_equal(np.unpackbits(ubinary.astype(np.uint8), axis=1).astype(bool),
                                  expected > 0)
    for field in ("embedding_type", "encoding_format"):
        got = vectors_of(post(url, {"input": TEXTS, field: "base64"}))
        decoded = np.stack([np.frombuffer(base64.b64decode(s), "<f4") for s in got])
        np.testing.assert_array_equal(decoded, expected.astype(np.float32))


def test_normalized_false_returns_raw_vectors(url: str, model: Embedder) -> None:
    got = np.asarray(vectors_of(post(url, {"input": TEXTS, "normalized": False})), np.float32)
    want = model.embed(TEXTS, normalize=False)
    np.testing.assert_array_equal(got, want)
    assert not np.allclose(np.linalg.norm(want, axis=1), 1.0)
    assert_error(post(url, {"input": "x", "normalized": False, "embedding_type": "int8"}),
                 400, "invalid_encoding")


def test_truncate_false_refuses_a_long_input_with_its_token_count(
        url: str, model: Embedder) -> None:
    text = long_text(300)
    n = model.count_tokens(text)
    assert n > WINDOW
    error = assert_error(post(url, {"input": ["short", text]}), 422, "input_too_long")
    assert f"input[1] has {n} tokens" in error["message"]
    assert str(WINDOW) in error["message"]

    response = post(url, {"input": ["short", text], "truncate": True})
    got = np.asarray(vectors_of(response), np.float32)
    np.testing.assert_array_equal(got, model.embed(["short", text], long_input="truncate"))
    assert response.json()["usage"]["total_tokens"] == model.count_tokens("short") + WINDOW


def test_a_request_of_more_tokens_than_the_limit_is_refused_before_it_runs(
        url: str, model: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Within the body cap, 500 long texts cut to the window ran for minutes on a base model."""
    from jina_edge.server import api

    monkeypatch.setattr(api, "MAX_REQUEST_TOKENS", 3 * WINDOW)
    texts = [long_text(300)] * 4
    error = assert_error(post(url, {"input": texts, "truncate": True}), 422, "too_many_tokens")
    assert f"hold {4 * WINDOW:,} tokens" in error["message"]
    assert post(url, {"input": texts[:3], "truncate": True}).status_code == 200


def test_late_chunking_matches_embed_late_chunks(url: str, model: Embedder) -> None:
    document = "\n\n".join(TEXTS)
    spans, start = [], 0
    for text in TEXTS:
        spans.append((start, start + len(text)))
        start += len(text) + 2
    want = model.embed_late_chunks(document, spans)
    response = post(url, {"input": TEXTS, "late_chunking": True})
    got = np.asarray(vectors_of(response), np.float32)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-7)
    assert not np.allclose(got, model.embed(TEXTS), atol=1e-3)  # context changed them
    assert response.json()["usage"]["total_tokens"] == model.count_tokens(document)

    too_long = [long_text(50)] * 4
    for truncate in (False, True):
        error = assert_error(post(url, {"input": too_long, "late_chunking": True,
                                        "truncate": truncate}), 422, "input_too_long")
        assert "late_chunking" in error["message"]


def test_dimensions_and_task(url: str, model: Embedder) -> None:
    assert post(url, {"input": "x", "dimensions": model.dim}).status_code == 200
    assert_error(post(url, {"input": "x", "dimensions": 16}), 400, "unsupported_parameter")
    error = assert_error(post(url, {"input": "x", "task": "retrieval.query"}), 400,
                         "unsupported_parameter")
    assert error["param"] == "task"
    assert post(url, {"input": "x", "task": None, "user": "someone"}).status_code == 200


# -- bad requests and limits --------------------------------------------------


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"input": []}, 422, "invalid_input"),
    ({"input": [1, 2, 3]}, 422, "invalid_input"),
    ({"input": [[101, 102]]}, 422, "invalid_input"),
    ({"input": ["ok", None]}, 422, "invalid_input"),
    ({"input": [{"image": "cat.png"}]}, 422, "invalid_input"),
    ({"input": ["ok", "  "]}, 422, "invalid_input"),
    ({"input": 42}, 422, "invalid_input"),
    ({}, 422, "invalid_request"),
    ({"input": ["x"] * (MAX_INPUTS + 1)}, 413, "too_many_inputs"),
    ({"input": "x", "embedding_type": "float16"}, 400, "invalid_encoding"),
    ({"input": "x", "embedding_type": "float", "encoding_format": "base64"}, 400,
     "invalid_encoding"),
])
def test_bad_requests_get_openai_style_errors(url: str, body: dict[str, Any], status: int,
                                              code: str) -> None:
    assert_error(post(url, body), status, code)


def test_body_size_limit_with_and_without_content_length(url: str) -> None:
    big = {"input": ["x" * (MAX_BODY // 2), "y" * (MAX_BODY // 2)]}
    assert_error(post(url, big), 413, "body_too_large")

    def chunks() -> Iterator[bytes]:  # chunked transfer: no Content-Length to check
        yield b'{"input": ["'
        for _ in range(MAX_BODY // 1024 + 1):
            yield b"z" * 1024
        yield b'"]}'

    response = httpx.post(f"{url}/v1/embeddings", content=chunks(),
                          headers={"Content-Type": "application/json"}, timeout=30)
    assert_error(response, 413, "body_too_large")


def test_invalid_json_unknown_route_and_foreign_host(url: str) -> None:
    response = httpx.post(f"{url}/v1/embeddings", content=b"{not json",
                          headers={"Content-Type": "application/json"})
    assert_error(response, 422, "invalid_request")
    assert_error(httpx.get(f"{url}/v1/nothing"), 404, "http_404")
    # DNS rebinding: a page on another origin that resolves to 127.0.0.1.
    assert_error(httpx.get(f"{url}/health", headers={"Host": "evil.example:8000"}), 421,
                 "untrusted_host")
    assert httpx.get(f"{url}/health", headers={"Host": "localhost"}).status_code == 200


def test_api_key(secured_url: str) -> None:
    body = {"input": "x"}
    assert_error(post(secured_url, body), 401, "missing_api_key")
    assert_error(post(secured_url, body, headers={"Authorization": "Bearer wrong"}), 401,
                 "invalid_api_key")
    assert_error(post(secured_url, body, headers={"Authorization": f"Basic {KEY}"}), 401,
                 "missing_api_key")
    assert post(secured_url, body, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert_error(httpx.get(f"{secured_url}/v1/models"), 401, "missing_api_key")
    assert httpx.get(f"{secured_url}/health").status_code == 200  # liveness stays public


# -- concurrency --------------------------------------------------------------


def test_concurrent_requests_all_succeed_with_the_right_vectors(url: str,
                                                                model: Embedder) -> None:
    texts = [f"request number {i} about topic {i % 5}" for i in range(16)]
    # Each request as the server runs it: packing other texts into the same
    # decode moves the float32 results in the last digits.
    want = np.stack([model.embed([t, "shared"])[0] for t in texts])

    def one(i: int) -> np.ndarray:
        with httpx.Client(timeout=60) as client:
            response = client.post(f"{url}/v1/embeddings", json={"input": [texts[i], "shared"]})
        return np.asarray(vectors_of(response)[0], np.float32)

    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(one, range(16)))
    np.testing.assert_array_equal(np.stack(got), want)


class _BlockingBackend(FakeBackend):
    """Holds every decode until released, to fill the server's workers on purpose."""

    def __init__(self) -> None:
        super().__init__(max_tokens=512)
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def token_states(self, sequences: Sequence[Sequence[int]]) -> list[np.ndarray]:
        self.entered.release()
        self.release.wait(30)
        return super().token_states(sequences)


def test_a_full_queue_answers_503_and_recovers() -> None:
    backend = _BlockingBackend()  # no lock of its own: both worker threads enter it
    app = create_app(Embedder(backend=backend), max_queued=0)
    with BackgroundServer(app) as server, ThreadPoolExecutor(2) as pool:
        held = [pool.submit(post, server.url, {"input": f"text {i}"}) for i in range(2)]
        for _ in held:
            assert backend.entered.acquire(timeout=10)
        response = post(server.url, {"input": "one too many"})
        assert_error(response, 503, "overloaded")
        assert response.headers["Retry-After"] == "1"
        assert httpx.get(f"{server.url}/health").status_code == 200  # the loop still answers
        backend.release.set()
        assert all(f.result().status_code == 200 for f in held)
        assert post(server.url, {"input": "after"}).status_code == 200


# -- models, health, search ---------------------------------------------------


def test_models_and_health(url: str, model: Embedder, name: str) -> None:
    models = httpx.get(f"{url}/v1/models").json()
    assert models["object"] == "list"
    assert models["data"][0]["id"] == name
    assert models["data"][0]["object"] == "model"
    assert models["data"][0]["dim"] == model.dim
    health = httpx.get(f"{url}/health").json()
    assert health == {"status": "ok", "model": name, "dim": model.dim, "max_tokens": WINDOW}


@pytest.fixture
def notes_index(tmp_path: Path, jina_tiny_gguf: Path) -> Path:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "cats.md").write_text("# Cats\n\nThe cat sat on the warm mat all afternoon.\n")
    (notes / "boats.md").write_text("# Boats\n\nA sailing boat crossed the windy harbour.\n")
    (notes / "bread.md").write_text("# Bread\n\nKnead the dough, let it rise, then bake.\n")
    path = tmp_path / "index.db"
    with Index(path, model=str(jina_tiny_gguf)) as index:
        index.add(notes)
        index.sync()
    return path


def test_search_named_and_default_index(model: Embedder, notes_index: Path,
                                        jina_tiny_gguf: Path, tmp_path: Path) -> None:
    with Index(notes_index, model=str(jina_tiny_gguf)) as index:
        want = [h.to_dict() for h in index.search("cat on a mat", k=2, mode="hybrid")]
    indexes = {"notes": notes_index, "later": tmp_path / "not-built-yet.db"}
    with BackgroundServer(create_app(model, indexes=indexes)) as server:
        response = httpx.post(f"{server.url}/v1/search", timeout=30,
                              json={"query": "cat on a mat", "k": 2, "index": "notes"})
        assert response.status_code == 200, response.text
        assert response.json()["index"] == "notes"  # a name; the path is not shown
        hits = response.json()["data"]
        assert [h["path"] for h in hits] == [h["path"] for h in want]
        assert [h["score"] for h in hits] == pytest.approx([h["score"] for h in want])
        # No index named: the first one configured.
        response = httpx.post(f"{server.url}/v1/search",
                              json={"query": "bread dough", "mode": "keyword"})
        assert response.json()["data"][0]["path"].endswith("bread.md")
        assert "note" not in response.json()
        nothing = httpx.post(f"{server.url}/v1/search",
                             json={"query": "xyzzy", "mode": "keyword"}).json()
        assert nothing["data"] == [] and nothing["note"].startswith("No matches.")
        later = httpx.post(f"{server.url}/v1/search", json={"query": "x", "index": "later"})
        assert_error(later, 404, "index_not_found")
        assert "not been built" in later.json()["error"]["message"]
        assert_error(httpx.post(f"{server.url}/v1/search", json={"query": "x", "k": 0}), 422,
                     "invalid_request")


def test_search_never_opens_a_path_the_client_names(model: Embedder, notes_index: Path,
                                                     tmp_path: Path) -> None:
    import sqlite3

    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    foreign = tmp_path / "history.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE visits(url)")
    before = {p: p.read_bytes() for p in (empty, foreign)}
    with BackgroundServer(create_app(model, indexes={"notes": notes_index})) as server:
        for name in (str(empty), str(foreign), str(notes_index), "/etc/passwd", "../notes",
                     "x" * 65, "missing"):
            response = httpx.post(f"{server.url}/v1/search", json={"query": "x", "index": name})
            assert response.status_code in (404, 422), (name, response.text)
            assert str(tmp_path) not in response.text  # no configured path is disclosed
    assert {p: p.read_bytes() for p in before} == before
    assert not list(tmp_path.glob("empty-*")) and not list(tmp_path.glob("history.sqlite-*"))


def test_search_refuses_an_index_of_another_model_instead_of_loading_it(
        model: Embedder, notes_index: Path, tmp_path: Path) -> None:
    import sqlite3

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 60)  # a model the index would have the server load
    with sqlite3.connect(notes_index) as db:
        db.execute("UPDATE meta SET value = 'other:f16:x' WHERE key = 'model'")
        db.execute("UPDATE meta SET value = ? WHERE key = 'model_path'", (str(bad),))
    with BackgroundServer(create_app(model, indexes={"evil": notes_index})) as server:
        response = httpx.post(f"{server.url}/v1/search",
                              json={"query": "cat", "mode": "semantic", "index": "evil"})
        assert_error(response, 409, "index_unusable")
        assert httpx.get(f"{server.url}/health").status_code == 200


def test_index_names_from_the_command_line() -> None:
    from jina_edge.server.api import named_indexes

    got = named_indexes(["notes=~/n.db", "/data/work.db"])
    assert list(got) == ["notes", "work"] and got["notes"] == Path("~/n.db").expanduser()
    with pytest.raises(JinaEdgeError, match="given twice"):
        named_indexes(["a=/x.db", "a=/y.db"])
    with pytest.raises(JinaEdgeError, match="cannot name an index"):
        named_indexes(["bad name=/x.db"])


# -- serve() ------------------------------------------------------------------


def test_is_loopback() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"):
        assert is_loopback(host)
    for host in ("0.0.0.0", "192.168.1.5", "::", "example.com"):
        assert not is_loopback(host)


def test_serve_refuses_a_public_address_without_a_key() -> None:
    with pytest.raises(JinaEdgeError, match="--api-key"):
        serve(host="0.0.0.0", port=1)


def test_serve_runs_until_interrupted(jina_tiny_gguf: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = (f"from jina_edge.server.app import serve; serve({str(jina_tiny_gguf)!r}, port={port}, "
            f"log_level='warning')")
    env = {**os.environ, "JINA_EDGE_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert health.json()["dim"] == 32
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0


def test_a_model_that_gives_nan_is_an_error_not_invalid_json() -> None:
    from conftest import FakeBackend

    class NaNBackend(FakeBackend):
        def token_states(self, sequences: Any) -> Any:
            return [s * float("nan") for s in super().token_states(sequences)]

    embedder = Embedder(backend=NaNBackend(max_tokens=64))
    with BackgroundServer(create_app(embedder)) as server:
        response = httpx.post(f"{server.url}/v1/embeddings", json={"input": ["hello"]})
    assert response.status_code == 500
    assert "NaN" in response.json()["error"]["message"]  # strict JSON: json() parses it


# -- slow and malformed clients -------------------------------------------------


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection (within the socket timeout)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_slow_headers_and_bodies_are_cut_off(model: Embedder) -> None:
    app = create_app(model, body_timeout_s=0.5)
    with BackgroundServer(app, header_timeout_s=0.5) as server:
        silent = _connect(server.url)
        trickling = _connect(server.url)
        trickling.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        slow_body = _connect(server.url)
        slow_body.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"in")
        start = time.monotonic()
        assert _read_all(silent) == b""  # closed, nothing sent
        assert _read_all(trickling) == b""
        answer = _read_all(slow_body)
        assert time.monotonic() - start < 5
        assert answer.startswith(b"HTTP/1.1 408") and b"body_timeout" in answer
        kept = _connect(server.url)  # keep-alive: the next request's headers have a deadline too
        kept.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /heal")
        assert _read_all(kept).count(b"HTTP/1.1 200") == 1
        assert httpx.get(f"{server.url}/health").status_code == 200


@st.composite
def _raw_requests(draw: st.DrawFn) -> bytes:
    """HTTP/1.1 requests that are more or less wrong: method, path, headers, body."""
    method = draw(st.sampled_from([b"GET", b"POST", b"PUT", b"OPTIONS", b"G\x00T", b""]))
    path = draw(st.sampled_from([b"/v1/embeddings", b"/v1/search", b"/health", b"/",
                                 b"/%00", b"/" + b"a" * 5000, b"*"]))
    headers = draw(st.lists(st.tuples(
        st.sampled_from([b"Host", b"Content-Length", b"Content-Type", b"Transfer-Encoding",
                         b"Authorization", b"X\x01"]),
        st.binary(max_size=40)), max_size=5))
    body = draw(st.one_of(st.binary(max_size=200), st.sampled_from([
        b'{"input": "hello"}', b'{"input": [1, 2]}', b'{"query": "x", "index": "/etc/passwd"}',
        b"[" * 2000, b'{"input": "' + b"\xff" * 50 + b'"}'])))
    if draw(st.booleans()):
        headers.insert(0, (b"Host", b"127.0.0.1"))  # past the Host check, into the app
    head = method + b" " + path + b" HTTP/1.1\r\n" + b"".join(
        name + b": " + value.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n"
        for name, value in headers)
    return head + b"\r\n" + body


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=_raw_requests())
def test_fuzzed_requests_get_an_answer_or_a_close_and_the_server_lives(
        url: str, request: bytes) -> None:
    sock = _connect(url)
    sock.settimeout(15)
    sock.sendall(request)
    sock.shutdown(socket.SHUT_WR)  # no more bytes: the server must answer or close
    answer = _read_all(sock)
    sock.close()
    if answer:
        status = int(answer.split(b" ", 2)[1])
        assert status < 500 or status == 503, answer[:300]
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200


def test_nothing_the_server_serves_loads_from_the_network(url: str) -> None:
    """No /docs or /redoc: FastAPI's pages fetch their scripts from a CDN."""
    for page in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert httpx.get(f"{url}{page}").status_code == 404
    schema = httpx.get(f"{url}/openapi.json")
    assert schema.status_code == 200 and "/v1/embeddings" in schema.json()["paths"]
    assert "cdn" not in schema.text.lower()
