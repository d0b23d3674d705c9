"""A fake Hugging Face Hub on 127.0.0.1, for tests that download for real without the internet.

It imitates the parts of huggingface.co that ``huggingface_hub`` (2.4) uses to download a model
repository with ``snapshot_download`` / ``hf_hub_download`` / ``HfApi``:

* ``GET /api/models/{repo_id}`` and ``GET /api/models/{repo_id}/revision/{revision}``: model info
  with ``sha`` and ``siblings`` (sizes, blob ids and LFS info with ``?blobs=true``; ``expand=...``
  keeps only the listed properties);
* ``GET /api/models/{repo_id}/tree/{revision}[/{path}]?recursive=...``: the file listing
  ``snapshot_download`` reads (one page, no ``Link`` header);
* ``POST /api/models/{repo_id}/paths-info/{revision}``: ``HfApi.get_paths_info``;
* ``HEAD`` / ``GET /{repo_id}/resolve/{revision}/{path}``: the file itself, with the headers the
  client reads: ``ETag`` (git blob sha1 of a regular file, sha256 of an LFS file),
  ``X-Repo-Commit``, ``Content-Length`` and, for LFS files, ``X-Linked-Etag`` / ``X-Linked-Size``.
  ``Range`` requests get ``206`` with ``Content-Range`` (``416`` if unsatisfiable).

The real hub redirects LFS downloads to a CDN and announces Xet storage with ``X-Xet-*`` headers;
this fake does neither, so the client always takes the plain HTTP path against this server.
Errors carry the hub's ``X-Error-Code`` header so that ``huggingface_hub`` raises its own classes:
``RepoNotFound`` -> ``RepositoryNotFoundError``, ``RevisionNotFound`` -> ``RevisionNotFoundError``,
``EntryNotFound`` -> ``RemoteEntryNotFoundError`` (a subclass of ``EntryNotFoundError``).

A file is stored as LFS when its name has a typical weights suffix or it is larger than
``FakeHub.lfs_min_size`` (10 MiB, like the hub's limit for plain git files).

Files are read into memory by ``add_repo``: later changes to the folder are not seen.

Usage::

    with FakeHub() as hub:
        sha = hub.add_repo("org/model", folder)
        path = snapshot_download("org/model", cache_dir=tmp, endpoint=hub.endpoint)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".onnx", ".pt", ".pth", ".h5", ".msgpack",
                ".ckpt", ".npz", ".npy", ".tar", ".gz", ".zip")
_DATE = "2024-01-01T00:00:00.000Z"
_CHUNK = 1 << 20
_FLIP = bytes(255 - i for i in range(256))  # byte translation table used by corrupt()


class Request(NamedTuple):
    """One request seen by the hub; header names are lower-case."""

    method: str
    path: str  # as sent: percent-encoded, with the query string
    headers: dict[str, str]


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob with this content (what the hub calls a file's ``oid``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class HubFile:
    """A file of one commit, with the identifiers the hub reports for it."""

    path: str
    data: bytes
    lfs: bool
    sha256: str
    blob_id: str  # git sha1 of the blob in the repository: of the LFS pointer for an LFS file

    @classmethod
    def make(cls, path: str, data: bytes, lfs: bool) -> HubFile:
        sha256 = hashlib.sha256(data).hexdigest()
        stored = _lfs_pointer(sha256, len(data)) if lfs else data
        return cls(path, data, lfs, sha256, git_blob_sha1(stored))

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.blob_id

    def lfs_info(self) -> dict[str, object]:
        return {"oid": self.sha256, "size": self.size,
                "pointerSize": len(_lfs_pointer(self.sha256, self.size))}


def _lfs_pointer(sha256: str, size: int) -> bytes:
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\n"
            f"size {size}\n").encode()


@dataclass
class _Repo:
    commits: dict[str, dict[str, HubFile]] = field(default_factory=dict)  # sha -> path -> file
    branches: dict[str, str] = field(default_factory=dict)  # branch -> sha


class HubError(Exception):
    """An error response: status, ``X-Error-Code`` and message."""

    def __init__(self, status: int, code: str | None, message: str,
                 commit: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.commit = commit


class FakeHub:
    """An imitation of huggingface.co serving local folders, in a background thread."""

    lfs_min_size = 10 * 1024 * 1024

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._repos: dict[str, _Repo] = {}
        self._requests: list[Request] = []
        self._fail_after: dict[str, tuple[int, int]] = {}  # path -> (n_bytes, times left)
        self._corrupt: set[str] = set()
        self._token: str | None = None
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.hub = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeHub:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            kwargs={"poll_interval": 0.05},
                                            name="fake-hub", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- content ----------------------------------------------------------------------------

    def add_repo(self, repo_id: str, folder: Path, revision: str | None = None,
                 branch: str = "main") -> str:
        """Serve every file under ``folder`` as ``repo_id`` at commit ``revision``.

        ``branch`` then points at that commit (adding another commit to the same repository
        moves the branch). Without ``revision`` the commit sha is derived from the content.
        Returns the commit sha.
        """
        files: dict[str, HubFile] = {}
        for file in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            rel = file.relative_to(folder).as_posix()
            data = file.read_bytes()
            lfs = rel.endswith(LFS_SUFFIXES) or len(data) > self.lfs_min_size
            files[rel] = HubFile.make(rel, data, lfs)
        if revision is None:
            digest = hashlib.sha1(repo_id.encode())
            for f in files.values():
                digest.update(f"{f.path}\0{f.blob_id}\0".encode())
            revision = digest.hexdigest()
        if not re.fullmatch(r"[0-9a-f]{40}", revision):
            raise ValueError(f"revision must be a 40-hex commit sha, got {revision!r}")
        with self._lock:
            repo = self._repos.setdefault(repo_id, _Repo())
            repo.commits[revision] = files
            repo.branches[branch] = revision
        return revision

    # -- failure injection and inspection ---------------------------------------------------

    def fail_after(self, filename: str, n_bytes: int, times: int = 1) -> None:
        """The next ``times`` GETs of ``filename`` send ``n_bytes`` of the body, then hang up."""
        with self._lock:
            self._fail_after[filename] = (n_bytes, times)

    def corrupt(self, filename: str) -> None:
        """From now on serve other bytes of the same length, with the original ETag/sha256."""
        with self._lock:
            self._corrupt.add(filename)

    def clear_failures(self) -> None:
        with self._lock:
            self._fail_after.clear()
            self._corrupt.clear()

    def require_token(self, token: str | None) -> None:
        """Answer 401 to requests without ``Authorization: Bearer <token>`` (None: no auth)."""
        with self._lock:
            self._token = token

    @property
    def requests(self) -> list[Request]:
        """A copy of the requests seen so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- used by the handler ----------------------------------------------------------------

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def _check_auth(self, headers: dict[str, str]) -> None:
        with self._lock:
            token = self._token
        if token is None:
            return
        given = headers.get("authorization")
        if given is None:
            raise HubError(401, "RepoNotFound", "Invalid username or password.")
        if given != f"Bearer {token}":
            raise HubError(401, None, "Invalid credentials in Authorization header")

    def _files(self, repo_id: str, revision: str) -> tuple[str, dict[str, HubFile]]:
        with self._lock:
            repo = self._repos.get(repo_id)
            if repo is None:
                raise HubError(404, "RepoNotFound", "Repository not found")
            sha = repo.branches.get(revision, revision)
            if sha not in repo.commits:
                raise HubError(404, "RevisionNotFound", "Invalid rev id: " + revision)
            return sha, repo.commits[sha]

    def _default_branch(self, repo_id: str) -> str:
        with self._lock:
            repo = self._repos.get(repo_id)
            if repo is None or "main" in repo.branches or not repo.branches:
                return "main"
            return next(iter(repo.branches))

    def _is_private(self) -> bool:
        with self._lock:
            return self._token is not None

    def _take_failure(self, filename: str) -> int | None:
        with self._lock:
            if filename not in self._fail_after:
                return None
            n_bytes, times = self._fail_after[filename]
            if times <= 1:
                del self._fail_after[filename]
            else:
                self._fail_after[filename] = (n_bytes, times - 1)
            return n_bytes

    def _is_corrupt(self, filename: str) -> bool:
        with self._lock:
            return filename in self._corrupt


# -- JSON documents -------------------------------------------------------------------------

def _model_info(repo_id: str, sha: str, files: dict[str, HubFile], blobs: bool,
                expand: list[str], private: bool) -> dict[str, object]:
    siblings: list[dict[str, object]] = []
    for f in files.values():
        sibling: dict[str, object] = {"rfilename": f.path}
        if blobs:
            sibling.update(size=f.size, blobId=f.blob_id)
            if f.lfs:
                info = f.lfs_info()
                sibling["lfs"] = {"sha256": f.sha256, "size": f.size,
                                  "pointerSize": info["pointerSize"]}
        siblings.append(sibling)
    author = repo_id.split("/")[0] if "/" in repo_id else None
    info_doc: dict[str, object] = {
        "_id": hashlib.md5(repo_id.encode()).hexdigest()[:24], "id": repo_id,
        "modelId": repo_id, "author": author, "sha": sha, "lastModified": _DATE,
        "createdAt": _DATE, "private": private, "disabled": False, "gated": False,
        "downloads": 0, "likes": 0, "tags": [], "siblings": siblings,
    }
    if expand:
        info_doc = {k: v for k, v in info_doc.items() if k in ("_id", "id") or k in expand}
    return info_doc


def _entry(f: HubFile, sha: str, expand: bool) -> dict[str, object]:
    doc: dict[str, object] = {"type": "file", "oid": f.blob_id, "size": f.size, "path": f.path}
    if f.lfs:
        doc["lfs"] = f.lfs_info()
    if expand:
        doc["lastCommit"] = {"id": sha, "title": "Upload", "date": _DATE}
    return doc


def _folder_entry(path: str, sha: str) -> dict[str, object]:
    oid = hashlib.sha1(f"tree {sha} {path}".encode()).hexdigest()
    return {"type": "directory", "oid": oid, "size": 0, "path": path}


def _folders(files: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for path in files:
        parts = path.split("/")[:-1]
        out.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return out


def _tree(files: dict[str, HubFile], sha: str, base: str, recursive: bool,
          expand: bool) -> list[dict[str, object]]:
    folders = _folders(files)
    if base and base not in folders:
        raise HubError(404, "EntryNotFound", f"{base} does not exist on this revision",
                       commit=sha)
    prefix = base + "/" if base else ""

    def wanted(path: str) -> bool:
        return path.startswith(prefix) and (recursive or "/" not in path[len(prefix):])

    out = [_folder_entry(p, sha) for p in sorted(folders) if wanted(p)]
    out += [_entry(f, sha, expand) for p, f in files.items() if wanted(p)]
    return out


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single ``bytes=`` range; None if it cannot be satisfied."""
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if m is None or m.group(1) == m.group(2) == "":
        return None
    first, last = m.groups()
    if first == "":
        start, end = max(size - int(last), 0), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        return None
    return start, end


_API = re.compile(r"/api/models/(?P<repo>[^/]+(?:/[^/]+)?)"
                  r"(?:/(?P<kind>revision|tree|paths-info)/(?P<rev>[^/]+)(?:/(?P<sub>.*))?)?")
_RESOLVE = re.compile(r"/(?P<repo>[^/]+(?:/[^/]+)?)/resolve/(?P<rev>[^/]+)/(?P<file>.+)")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeHub/1.0"

    @property
    def hub(self) -> FakeHub:
        return self.server.hub  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # keep test output clean

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch("HEAD")

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.hub._record(Request(method, self.path, headers))
        body = b""
        if "content-length" in headers:
            body = self.rfile.read(int(headers["content-length"]))
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        try:
            self.hub._check_auth(headers)
            api = _API.fullmatch(url.path)
            resolve = _RESOLVE.fullmatch(url.path)
            if api and method in ("GET", "POST"):
                self._api(method, api, query, body)
            elif resolve and method in ("GET", "HEAD"):
                self._resolve(method, resolve["repo"], unquote(resolve["rev"]),
                              unquote(resolve["file"]), headers)
            else:
                raise HubError(404, None, "Not Found")
        except HubError as e:
            self._error(e, method)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _api(self, method: str, m: re.Match[str], query: dict[str, list[str]],
             body: bytes) -> None:
        repo_id, kind = m["repo"], m["kind"]
        revision = unquote(m["rev"]) if m["rev"] else self.hub._default_branch(repo_id)
        sha, files = self.hub._files(repo_id, revision)
        flag = query.get("expand", ["false"])[0].lower() == "true"
        doc: object
        if kind is None or kind == "revision":
            if m["sub"]:
                raise HubError(404, None, "Not Found")
            expand = query.get("expand", []) + query.get("expand[]", [])
            blobs = query.get("blobs", ["false"])[0].lower() == "true"
            doc = _model_info(repo_id, sha, files, blobs, expand, self.hub._is_private())
        elif kind == "tree" and method == "GET":
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            doc = _tree(files, sha, unquote(m["sub"] or "").strip("/"), recursive, flag)
        elif kind == "paths-info" and method == "POST":
            form = parse_qs(body.decode())
            flag = form.get("expand", ["false"])[0].lower() == "true"
            folders = _folders(files)
            found: list[dict[str, object]] = []
            for path in (p.strip("/") for p in form.get("paths", [])):
                if path in files:
                    found.append(_entry(files[path], sha, flag))
                elif path in folders:
                    found.append(_folder_entry(path, sha))
            doc = found
        else:
            raise HubError(404, None, "Not Found")
        data = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Repo-Commit", sha)
        self.end_headers()
        self.wfile.write(data)

    def _resolve(self, method: str, repo_id: str, revision: str, filename: str,
                 headers: dict[str, str]) -> None:
        sha, files = self.hub._files(repo_id, revision)
        f = files.get(filename)
        if f is None:
            raise HubError(404, "EntryNotFound", "Entry not found", commit=sha)
        start, end, status = 0, f.size - 1, 200
        if "range" in headers and method == "GET":
            wanted = _parse_range(headers["range"], f.size)
            if wanted is None:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{f.size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            (start, end), status = wanted, 206
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{f.etag}"')
        self.send_header("X-Repo-Commit", sha)
        if f.lfs:
            self.send_header("X-Linked-Etag", f'"{f.sha256}"')
            self.send_header("X-Linked-Size", str(f.size))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{f.size}")
        self.end_headers()
        if method == "HEAD":
            return
        body = memoryview(f.data)[start:end + 1]
        cut = self.hub._take_failure(filename)
        corrupt = self.hub._is_corrupt(filename)
        if cut is not None:
            body = body[:cut]
        for i in range(0, len(body), _CHUNK):
            chunk = body[i:i + _CHUNK]
            self.wfile.write(bytes(chunk).translate(_FLIP) if corrupt else chunk)
        if cut is not None:
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def _error(self, e: HubError, method: str) -> None:
        data = json.dumps({"error": e.message}).encode()
        self.send_response(e.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if e.code:
            self.send_header("X-Error-Code", e.code)
        self.send_header("X-Error-Message", e.message)
        if e.commit:
            self.send_header("X-Repo-Commit", e.commit)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)
