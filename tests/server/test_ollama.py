"""Ollama's embedding API on `jina-edge serve`, through the real `ollama` client package."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import ollama
import openai
import pytest

from jina_edge import Embedder
from jina_edge.server.app import LOOPBACK_NAMES, BackgroundServer, create_app

WINDOW = 128
MAX_INPUTS = 4
MAX_BODY = 16 * 1024
KEY = "s3cret-key"
ALIAS = "nomic-embed-text"  # a fixed name a client might insist on
TEXTS = ["the cat sat on the mat", "a quick brown fox", "embeddings on the edge"]


@pytest.fixture(scope="module")
def model(jina_tiny_gguf: Path) -> Iterator[Embedder]:
    with Embedder(jina_tiny_gguf, device="cpu", max_tokens=WINDOW, threads=2) as e:
        yield e


@pytest.fixture(scope="module")
def url(model: Embedder) -> Iterator[str]:
    app = create_app(model, max_inputs=MAX_INPUTS, max_body_bytes=MAX_BODY,
                     trusted_hosts=LOOPBACK_NAMES, served_model_names=[ALIAS])
    with BackgroundServer(app) as server:
        yield server.url


@pytest.fixture(scope="module")
def name(model: Embedder) -> str:
    assert model.info is not None
    return model.info.name


def long_text(words: int) -> str:
    return " ".join(f"word{i % 50}" for i in range(words))


def refused(call: object, status: int) -> str:
    """Run `call`, expect the client's ResponseError with `status`, return its message."""
    with pytest.raises(ollama.ResponseError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.status_code == status, caught.value
    assert isinstance(caught.value.error, str)  # Ollama's {"error": "message"}, not an object
    return caught.value.error


def test_embed_gives_the_model_unit_vectors(url: str, model: Embedder, name: str) -> None:
    client = ollama.Client(host=url)
    response = client.embed(model=name, input=TEXTS)
    np.testing.assert_allclose(np.asarray(response.embeddings, np.float32), model.embed(TEXTS),
                               rtol=0, atol=1e-7)
    assert response.model == name
    assert client.embed(model=ALIAS, input="x").model == ALIAS  # echoed, as Ollama does
    assert response.prompt_eval_count == sum(model.count_tokens(t) for t in TEXTS)
    assert response.total_duration is not None and response.total_duration > 0
    assert response.load_duration == 0

    one = client.embed(model=name, input="hello world")
    assert len(one.embeddings) == 1
    np.testing.assert_allclose(one.embeddings[0], model.embed("hello world"), atol=1e-7)


def test_older_embeddings_call_gives_the_raw_vector(url: str, model: Embedder,
                                                    name: str) -> None:
    got = np.asarray(ollama.Client(host=url).embeddings(model=name, prompt="hello world")
                     .embedding, np.float32)
    raw = model.embed("hello world", normalize=False)
    np.testing.assert_allclose(got, raw, atol=1e-6)
    assert abs(float(np.linalg.norm(raw)) - 1.0) > 1e-3  # so the test tells the two apart


def test_tags_list_every_served_name(url: str, model: Embedder, name: str) -> None:
    listed = ollama.Client(host=url).list().models
    assert [m.model for m in listed] == [name, ALIAS]
    assert model.info is not None
    assert all(m.size == model.info.size_bytes for m in listed)
    assert listed[0].details is not None and listed[0].details.format == "gguf"


def test_model_names_latest_tag_and_served_names(url: str, model: Embedder, name: str) -> None:
    client = ollama.Client(host=url)
    expected = model.embed("x")
    for given in (name, f"{name}:latest", ALIAS, f"{ALIAS}:latest"):
        np.testing.assert_allclose(client.embed(model=given, input="x").embeddings[0],
                                   expected, atol=1e-7)
    message = refused(lambda: client.embed(model="all-minilm", input="x"), 404)
    assert "'all-minilm'" in message and repr(name) in message and repr(ALIAS) in message
    refused(lambda: client.embeddings(model="all-minilm", prompt="x"), 404)


def test_served_names_reach_the_openai_endpoints_too(url: str, model: Embedder,
                                                     name: str) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    got = client.embeddings.create(model=ALIAS, input="x", encoding_format="float")
    np.testing.assert_allclose(got.data[0].embedding, model.embed("x"), atol=1e-7)
    assert [m.id for m in client.models.list()] == [name, ALIAS]
    with pytest.raises(openai.NotFoundError, match=ALIAS):
        client.embeddings.create(model="text-embedding-3-small", input="x")


def test_truncate_defaults_to_true_and_false_refuses(url: str, model: Embedder) -> None:
    client = ollama.Client(host=url)
    text = long_text(300)
    n = model.count_tokens(text)
    assert n > WINDOW
    cut = client.embed(model=ALIAS, input=["short", text])
    np.testing.assert_allclose(np.asarray(cut.embeddings, np.float32),
                               model.embed(["short", text], long_input="truncate"), atol=1e-7)
    assert cut.prompt_eval_count == model.count_tokens("short") + WINDOW
    message = refused(lambda: client.embed(model=ALIAS, input=["short", text], truncate=False), 422)
    assert f"input[1] has {n} tokens" in message

    legacy = client.embeddings(model=ALIAS, prompt=text).embedding
    np.testing.assert_allclose(legacy, model.embed(text, normalize=False, long_input="truncate"),
                               atol=1e-6)


def test_options_and_keep_alive_are_accepted(url: str, model: Embedder) -> None:
    response = ollama.Client(host=url).embed(model=ALIAS, input="x", keep_alive="5m",
                                             options={"num_ctx": 2048, "num_thread": 1})
    np.testing.assert_allclose(response.embeddings[0], model.embed("x"), atol=1e-7)


def test_bad_input_gets_one_clear_message(url: str, model: Embedder) -> None:
    client = ollama.Client(host=url)
    assert "at most 4" in refused(lambda: client.embed(model=ALIAS, input=["a"] * 5), 413)
    assert "empty" in refused(lambda: client.embed(model=ALIAS, input=[]), 422)
    assert "input[1] is empty" in refused(lambda: client.embed(model=ALIAS, input=["a", "  "]), 422)
    assert "prompt is empty" in refused(lambda: client.embeddings(model=ALIAS, prompt=""), 422)
    message = refused(lambda: client.embed(model=ALIAS, input="x", dimensions=8), 400)
    assert f"{model.dim}-dimensional" in message
    assert "larger than" in refused(lambda: client.embed(model=ALIAS, input="x " * MAX_BODY), 413)


def test_foreign_host_header_is_refused_in_ollama_shape(url: str) -> None:
    response = httpx.post(f"{url}/api/embed", json={"input": "x"},
                          headers={"Host": "evil.example"}, timeout=10)
    assert response.status_code == 421
    assert "evil.example" in response.json()["error"]


def test_api_key_applies_to_the_ollama_endpoints(model: Embedder) -> None:
    with BackgroundServer(create_app(model, api_key=KEY, served_model_names=[ALIAS])) as server:
        assert "missing API key" in refused(lambda: ollama.Client(host=server.url).list(), 401)
        wrong = ollama.Client(host=server.url, headers={"Authorization": "Bearer nope"})
        assert "invalid API key" in refused(lambda: wrong.embed(model=ALIAS, input="x"), 401)
        right = ollama.Client(host=server.url, headers={"Authorization": f"Bearer {KEY}"})
        got = right.embed(model=ALIAS, input="x").embeddings[0]
        np.testing.assert_allclose(got, model.embed("x"), atol=1e-7)


def test_async_client(url: str, model: Embedder) -> None:
    response = asyncio.run(ollama.AsyncClient(host=url).embed(model=ALIAS, input=TEXTS[:2]))
    np.testing.assert_allclose(np.asarray(response.embeddings, np.float32),
                               model.embed(TEXTS[:2]), atol=1e-7)


def test_the_command_line_server_with_served_names(jina_tiny_gguf: Path, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "JINA_EDGE_HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-m", "jina_edge.cli", "models", "import",
                    str(jina_tiny_gguf), "--name", "tiny"], env=env, check=True,
                   capture_output=True)
    command = [sys.executable, "-m", "jina_edge.cli", "serve", "-m", "tiny",
               "--port", str(port), "--threads", "1", "--served-model-name", "a",
               "--served-model-name", "b:v1"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    client = ollama.Client(host=f"http://127.0.0.1:{port}", timeout=10)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                listed = client.list().models
                break
            except ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        # The installed name it was started with answers too, then the served names.
        assert [m.model for m in listed][1:] == ["tiny", "a", "b:v1"]
        assert len(client.embed(model="tiny", input="x").embeddings[0]) == 32
        with Embedder(jina_tiny_gguf, device="cpu") as local:
            np.testing.assert_allclose(client.embed(model="b:v1", input="x").embeddings[0],
                                       local.embed("x"), atol=1e-6)
        assert "'c'" in refused(lambda: client.embed(model="c", input="x"), 404)
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0


@pytest.mark.parametrize("path", ["/api/embed", "/api/embeddings"])
def test_a_body_sent_without_a_json_content_type_is_read_as_json(
        url: str, model: Embedder, name: str, path: str) -> None:
    """As Ollama's own docs write it: `curl URL -d '{...}'`, which sends a form's type."""
    field = "input" if path == "/api/embed" else "prompt"
    body = json.dumps({"model": name, field: "hello"})
    got = httpx.post(url + path, content=body, timeout=60,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert got.status_code == 200, got.text
    if field == "input":
        np.testing.assert_allclose(got.json()["embeddings"][0], model.embed("hello"), atol=1e-6)
    else:  # the old endpoint's vectors are not normalised, as Ollama's
        np.testing.assert_allclose(got.json()["embedding"], model.embed("hello", normalize=False),
                                   atol=1e-5)
    bad = httpx.post(url + path, content=b"{not json", timeout=60)
    assert bad.status_code == 422
