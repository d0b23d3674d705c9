"""A local HTTP server speaking Jina's and OpenAI's embeddings APIs, plus search over an index.

The HTTP plumbing: endpoints, auth, limits, threads; request rules are in `api.py`.
Keep it safe by default: it binds 127.0.0.1 and then answers only loopback Host
headers (against DNS rebinding), and a non-loopback address needs an API key
unless `insecure=True`. docs/architecture.md has each endpoint's decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from jina_edge.config import get
from jina_edge.embedder import Embedder
from jina_edge.engines import Device
from jina_edge.errors import JinaEdgeError, MissingDependencyError, SettingError
from jina_edge.reranker import Reranker

try:
    import h11
    import uvicorn
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from pydantic import BaseModel, ValidationError
    from starlette.exceptions import HTTPException
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
    from uvicorn.protocols.http.h11_impl import H11Protocol
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise MissingDependencyError(
        "the server needs FastAPI and uvicorn: pip install 'jina-edge[server]'"
    ) from exc

from jina_edge.server import ollama
from jina_edge.server.api import (
    ApiError,
    EmbeddingService,
    EmbeddingsRequest,
    SearchRequest,
    error_body,
    named_indexes,
)
from jina_edge.server.rerank import RerankRequest, RerankService

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_BODY_BYTES = 2 * 1024 * 1024  # bytes of one request body
MAX_INPUTS = 512  # texts in one embeddings request
MAX_QUEUED = 64  # requests admitted beyond those running; more get 503
WORKER_THREADS = 2  # one decodes while the other tokenizes or writes JSON
HEADER_TIMEOUT_S = 10.0  # to send the request line and headers, once connected
BODY_TIMEOUT_S = 30.0  # to send the whole body once the headers are in (2 MiB: ~70 KB/s)
PUBLIC_PATHS = frozenset({"/health"})  # answered without the API key
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) only accepts connections from this machine."""
    host = host.strip("[]")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


def _error(path: str, status: int, body: dict[str, Any],
           headers: Mapping[str, str] | None = None) -> Response:
    """An error response in the shape of the API that `path` belongs to."""
    if path.startswith(ollama.OLLAMA_PREFIX):
        body = ollama.ollama_error(body)
    return _json(status, body, headers)


class _Guard:
    """Checks the Host header and the API key, caps the body's size and time, before the app runs.

    A plain ASGI middleware, so that an unauthorised or oversized request is
    refused before its body is read into memory.
    """

    def __init__(self, app: ASGIApp, *, api_key: str | None, max_body_bytes: int,
                 body_timeout_s: float, trusted_hosts: Collection[str] | None) -> None:
        self.app = app
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.trusted_hosts = trusted_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refusal(scope["path"], headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        body = bytearray()
        more = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout_s
        while more:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                await self._too_slow(scope["path"])(scope, receive, send)
                return
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                await self._too_large(scope["path"])(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _refusal(self, path: str, headers: dict[str, str]) -> Response | None:
        if self.trusted_hosts is not None:
            host = headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name.strip("[]") not in self.trusted_hosts:
                return _error(path, 421, error_body(
                    f"this server only answers requests addressed to {sorted(self.trusted_hosts)}"
                    f", not {host!r}", type="invalid_request_error", code="untrusted_host"))
        if self.api_key is not None and path not in PUBLIC_PATHS:
            given = headers.get("authorization", "")
            scheme, _, key = given.partition(" ")
            if not given or scheme.lower() != "bearer":
                return _error(path, 401, error_body(
                    "missing API key: send the header 'Authorization: Bearer KEY'",
                    type="authentication_error", code="missing_api_key"),
                    {"WWW-Authenticate": "Bearer"})
            if not hmac.compare_digest(key.strip().encode(), self.api_key.encode()):
                return _error(path, 401, error_body("invalid API key", type="authentication_error",
                                             code="invalid_api_key"),
                             {"WWW-Authenticate": "Bearer"})
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            return self._too_large(path)
        return None

    def _too_slow(self, path: str) -> Response:
        return _error(path, 408, error_body(
            f"the request body did not arrive within {self.body_timeout_s:g} s",
            type="invalid_request_error", code="body_timeout"), {"Connection": "close"})

    def _too_large(self, path: str) -> Response:
        return _error(path, 413, error_body(
            f"the request body is larger than {self.max_body_bytes} bytes; send fewer or "
            "shorter texts per request", type="invalid_request_error", code="body_too_large"))


class _HeaderDeadline(H11Protocol):
    """uvicorn's h11 protocol with a deadline for the request headers.

    uvicorn bounds only idle keep-alive connections; a client that sends its
    headers a byte at a time would hold the connection (and a file descriptor)
    forever. This one is closed when its headers are not complete within
    `header_timeout_s` of connecting or of the previous response.
    """

    header_timeout_s = HEADER_TIMEOUT_S
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()  # the headers are in; the body has its own deadline

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_timeout_s, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def server_config(app: ASGIApp, *, host: str, port: int, log_level: str = "info",
                  header_timeout_s: float = HEADER_TIMEOUT_S) -> uvicorn.Config:
    """How uvicorn runs the app: h11 with a deadline for request headers.

    No cap on connections: with the deadlines (headers, then body) a slow
    client holds one only briefly, and a cap would let a few hundred of them
    turn every other request away.
    """
    class Protocol(_HeaderDeadline):
        pass

    Protocol.header_timeout_s = header_timeout_s
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, http=Protocol,
                          lifespan="on")


class _Workers:
    """A small thread pool with admission control: a bounded queue, then 503."""

    def __init__(self, threads: int, max_queued: int) -> None:
        self.threads = threads
        self.limit = threads + max_queued
        self._admitted = 0
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[[], T]) -> T:
        with self._lock:
            if self._admitted >= self.limit:
                raise ApiError(503, f"the server is busy ({self._admitted} requests running or "
                               "queued); retry shortly", type="server_error", code="overloaded")
            self._admitted += 1
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="jina-edge")
            pool = self._pool
        try:
            future: Future[T] = pool.submit(fn)
        except BaseException:
            self._release(None)
            raise
        # Released when the work ends, not when a client disconnects mid-way:
        # the bound counts work actually in the pool.
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def _release(self, _: object) -> None:
        with self._lock:
            self._admitted -= 1

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


def create_app(embedder: Embedder, *, api_key: str | None = None,
               max_body_bytes: int = MAX_BODY_BYTES, max_inputs: int = MAX_INPUTS,
               max_queued: int = MAX_QUEUED, indexes: Mapping[str, Path] | None = None,
               trusted_hosts: Collection[str] | None = None,
               body_timeout_s: float = BODY_TIMEOUT_S,
               served_model_names: Sequence[str] = (),
               reranker: Reranker | None = None) -> FastAPI:
    """The server's ASGI app around a loaded model.

    Args:
        embedder: the model, loaded once and shared by all requests.
        api_key: when set, every endpoint but /health needs `Authorization: Bearer KEY`.
        max_body_bytes: larger request bodies get 413.
        max_inputs: more texts in one request get 413.
        max_queued: requests admitted beyond those running; more get 503.
        indexes: the indexes /v1/search may search, by name (a request names one;
            the first is the default). None: the user's default index as "default".
        trusted_hosts: host names the Host header may carry (None: any).
        body_timeout_s: a body not complete this long after its headers gets 408.
        served_model_names: more names requests may give as `model` (listed too).
        reranker: the cross-encoder /v1/rerank uses (None: that endpoint says how to
            start a server with one).
    """
    service = EmbeddingService(embedder, max_inputs=max_inputs, indexes=indexes,
                               served_model_names=served_model_names, reranker=reranker)
    reranking = RerankService(reranker, max_inputs=max_inputs)
    workers = _Workers(WORKER_THREADS, max_queued)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        workers.shutdown()
        service.close()

    # No /docs or /redoc: their pages load scripts from a CDN (dead offline, and a
    # third-party request from a local tool); /openapi.json describes the API.
    app = FastAPI(title="jina-edge", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(_Guard, api_key=api_key, max_body_bytes=max_body_bytes,
                       body_timeout_s=body_timeout_s,
                       trusted_hosts=frozenset(trusted_hosts) if trusted_hosts else None)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        headers = {"Retry-After": "1"} if exc.status == 503 else None
        return _error(request.url.path, exc.status, exc.body(), headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where or 'body'}: {first.get('msg', 'invalid request')}"
        return _error(request.url.path, 422, error_body(
            message, type="invalid_request_error", code="invalid_request", param=where or None))

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        return _error(request.url.path, exc.status_code, error_body(
            str(exc.detail), type="invalid_request_error", code=f"http_{exc.status_code}"),
            exc.headers)

    @app.exception_handler(JinaEdgeError)
    async def _library_error(request: Request, exc: JinaEdgeError) -> Response:
        logger.warning("request failed: %s", exc)
        return _error(request.url.path, 500, error_body(str(exc), type="server_error",
                                                        code="jina_edge_error"))

    @app.post("/v1/embeddings")
    async def embeddings(request: EmbeddingsRequest) -> Response:
        job = service.prepare(request)
        body = await workers.run(lambda: service.embeddings(job))
        return Response(body, media_type="application/json")

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        created = 0
        if embedder.model_path is not None and embedder.model_path.exists():
            created = int(embedder.model_path.stat().st_mtime)
        return {"object": "list", "data": [{"id": name, "object": "model",
                                            "created": created, "owned_by": "jina-edge",
                                            "dim": embedder.dim,
                                            "max_tokens": embedder.max_tokens}
                                           for name in service.listed_names]}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        status = {"status": "ok", "model": service.model_name, "dim": embedder.dim,
                  "max_tokens": embedder.max_tokens}
        if reranker is not None:
            status["reranker"] = reranker.model_name
        return status

    @app.post("/v1/rerank")
    async def rerank(request: RerankRequest) -> Response:
        job = reranking.prepare(request)
        body = await workers.run(lambda: reranking.rerank(job))
        return Response(body, media_type="application/json")

    @app.post("/v1/search")
    async def search(request: SearchRequest) -> dict[str, Any]:
        return await workers.run(lambda: service.search(request))

    @app.post("/api/embed")
    async def ollama_embed(raw: Request) -> Response:
        request = await _json_body(raw, ollama.OllamaEmbedRequest)
        job = ollama.prepare_embed(service, request)
        body = await workers.run(lambda: ollama.embed(service, job, request.model))
        return Response(body, media_type="application/json")

    @app.post("/api/embeddings")
    async def ollama_embeddings(raw: Request) -> Response:
        request = await _json_body(raw, ollama.OllamaEmbeddingsRequest)
        job = ollama.prepare_embeddings(service, request)
        body = await workers.run(lambda: ollama.embeddings(service, job))
        return Response(body, media_type="application/json")

    @app.get("/api/tags")
    async def ollama_tags() -> dict[str, Any]:
        return ollama.tags(service)

    return app


BodyT = TypeVar("BodyT", bound=BaseModel)


async def _json_body(request: Request, model: type[BodyT]) -> BodyT:
    """The body as JSON whatever its Content-Type, as Ollama reads it (`curl -d` sends a form's).

    Raises:
        RequestValidationError: answered 422 like any other bad body.
    """
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc


class BackgroundServer:
    """Runs an app with uvicorn on a thread, on 127.0.0.1 and a free port (tests, benchmarks).

    Use as a context manager; `url` is the base address, e.g. "http://127.0.0.1:41234".
    """

    def __init__(self, app: ASGIApp, *, host: str = DEFAULT_HOST,
                 header_timeout_s: float = HEADER_TIMEOUT_S) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind((host, 0))
        port = self._socket.getsockname()[1]
        self.url = f"http://{host}:{port}"
        self.server = uvicorn.Server(server_config(app, host=host, port=port,
                                                   log_level="warning",
                                                   header_timeout_s=header_timeout_s))
        self._thread = threading.Thread(target=self.server.run,
                                        kwargs={"sockets": [self._socket]}, daemon=True)

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        for _ in range(1000):
            if self.server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not self.server.started:
            raise RuntimeError("the server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()


def _server_indexes(values: Sequence[str]) -> dict[str, Path] | None:
    """The indexes named on the command line, else in the config file's "server_indexes"."""
    if values:
        return named_indexes(values)
    configured = get("server_indexes")
    if configured is None:
        return None
    return named_indexes([f"{name}={path}" for name, path in configured.items()])


def serve(model: str | os.PathLike[str] | None = None, host: str = DEFAULT_HOST,
          port: int = DEFAULT_PORT, api_key: str | None = None, *,
          max_body_bytes: int = MAX_BODY_BYTES, max_inputs: int = MAX_INPUTS,
          max_queued: int = MAX_QUEUED, indexes: Sequence[str] = (),
          insecure: bool = False, threads: int | None = None, max_tokens: int | None = None,
          device: str | None = None, log_level: str = "info",
          served_model_names: Sequence[str] = (), reranker: str | None = None) -> None:
    """Load a model once and serve it over HTTP until interrupted.

    Args:
        model: installed model name or GGUF path (default: the default model).
        host: address to bind; 127.0.0.1 unless you mean to share the model.
        port: TCP port.
        api_key: required as `Authorization: Bearer KEY` (default: $JINA_EDGE_API_KEY,
            then the config file's "api_key", else none).
        max_body_bytes: larger request bodies get 413.
        max_inputs: more texts per request get 413.
        max_queued: requests waiting beyond those running; more get 503.
        indexes: the indexes /v1/search may search: "NAME=PATH" or a PATH (named after
            its file); the first is the default. None given: the config file's
            "server_indexes" ({name: path}), else the user's default index.
        insecure: allow a non-loopback host without an API key.
        threads: CPU threads (default: JINA_EDGE_THREADS, the config file, physical cores).
        max_tokens: longest sequence to run (default: JINA_EDGE_MAX_TOKENS, the config
            file, the model's window).
        device: "auto", "cpu" or "gpu" (default: JINA_EDGE_DEVICE, the config file, auto).
        log_level: uvicorn's log level.
        served_model_names: more names requests may give as `model` (OpenAI and
            Ollama clients often send a fixed one).
        reranker: a reranker (installed name or GGUF path) for /v1/rerank; None
            serves none.

    Raises:
        JinaEdgeError: for a non-loopback host without a key (and not `insecure`),
            or a model that cannot be loaded.
    """
    key = get("api_key", api_key)
    key = str(key) if key else None
    loopback = is_loopback(host)
    if not loopback and key is None and not insecure:
        raise SettingError(
            f"refusing to serve on {host} without an API key: anyone who can reach this "
            "machine could use it. Pass --api-key KEY (or set JINA_EDGE_API_KEY), or "
            "--insecure if the network is yours alone"
        )
    with contextlib.ExitStack() as models:
        embedder = models.enter_context(Embedder.from_config(
            model, threads=threads, max_tokens=max_tokens, device=cast(Device | None, device)))
        # Run the model once before binding: a model that fails (or gives NaN)
        # must stop the server now, not pass /health and fail the first client.
        embedder.embed("jina-edge start-up probe")
        cross_encoder = None
        if reranker is not None:
            cross_encoder = models.enter_context(Reranker.from_config(
                reranker, threads=threads, max_tokens=max_tokens,
                device=cast(Device | None, device)))
            cross_encoder.rerank("jina-edge start-up probe", ["a document"])
        app = create_app(embedder, api_key=key, max_body_bytes=max_body_bytes,
                         max_inputs=max_inputs, max_queued=max_queued,
                         indexes=_server_indexes(indexes),
                         trusted_hosts=LOOPBACK_NAMES | {host.strip("[]")} if loopback else None,
                         # The name the model was started with answers too ("minilm").
                         served_model_names=[*_started_as(model), *served_model_names],
                         reranker=cross_encoder)
        logger.info("serving %s on http://%s:%d", embedder.model_key, host, port)
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C once stopped
            uvicorn.Server(server_config(app, host=host, port=port, log_level=log_level)).run()


def _started_as(model: str | os.PathLike[str] | None) -> list[str]:
    """The installed name `serve` was given, if it was one (a path answers already)."""
    if not isinstance(model, str) or model.endswith(".gguf") or os.sep in model:
        return []
    return [model]
