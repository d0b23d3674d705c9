"""The fake hub against the real huggingface_hub client (2.4), and what that client does.

Facts about huggingface_hub 2.4.0 established here (they matter for jina_edge.models.store):

* Endpoint: ``HF_ENDPOINT`` is read once, at import, into ``huggingface_hub.constants.ENDPOINT``
  (and ``HUGGINGFACE_CO_URL_TEMPLATE``). Setting the variable later changes nothing; pass
  ``endpoint=`` to every call. Patching ``constants.ENDPOINT`` is a trap: ``HfApi`` follows it,
  but ``hf_hub_url`` / ``hf_hub_download`` still build https://huggingface.co URLs, even when
  given ``endpoint=``. A subprocess started with ``HF_ENDPOINT`` in its environment works.
* Offline: ``HF_HUB_OFFLINE`` is likewise read at import into ``constants.HF_HUB_OFFLINE``;
  tests patch that constant. Offline, a cached snapshot is returned with no request at all.
* snapshot_download: ``GET /api/models/{id}/revision/{rev}`` (skipped when rev is a commit sha),
  ``GET /api/models/{id}/tree/{sha}?recursive=true&expand=false``, then per file a ``HEAD`` and
  a ``GET`` of ``/{id}/resolve/{sha}/{path}``. The tree listing is cached in
  ``<cache>/models--org--name/trees/<sha>.json``.
* Blobs are named by the ETag: git blob sha1 for a regular file, sha256 for an LFS file.
* huggingface_hub never checks content against the sha256 / ETag, only the size.
* A dropped connection is retried inside the same call (sleep 1 s, up to 5 retries without
  progress) with ``Range: bytes=<k*10 MiB>-``: the body is read in 10 MiB chunks, and bytes after
  the last complete chunk are dropped. The partial file is deleted when the call fails, so a
  second call starts again from byte 0: there is no resume across calls.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx2
import pytest
from hub_server import FakeHub, git_blob_sha1
from huggingface_hub import HfApi, RepoFile, constants, file_download, hf_hub_download, hf_hub_url
from huggingface_hub import snapshot_download as _snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    IncompleteSnapshotError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

REPO = "jinaai/tiny-test"
CHUNK = constants.DOWNLOAD_CHUNK_SIZE  # 10 MiB
BIG = "weights/big.dat"  # LFS because it is larger than 10 MiB
SMALL_LFS = "model.safetensors"  # LFS because of its suffix
FILES = {
    "config.json": b'{"model_type": "bert"}\n',
    "tokenizer/vocab.txt": b"[PAD]\n[UNK]\nhello\n",
    SMALL_LFS: random.Random(1).randbytes(4096),
    BIG: random.Random(2).randbytes(CHUNK + 1024 * 1024),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    for name, data in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.fixture
def hub(folder: Path) -> Iterator[FakeHub]:
    with FakeHub() as server:
        server.add_repo(REPO, folder)
        yield server


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "hf-cache"


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    # http_get sleeps 1 s before each retry; record instead of waiting.
    calls: list[float] = []
    monkeypatch.setattr(file_download, "time", SimpleNamespace(sleep=calls.append))
    return calls


def snapshot(hub: FakeHub, cache: Path, **kwargs: object) -> Path:
    return Path(_snapshot_download(REPO, cache_dir=cache, endpoint=hub.endpoint,  # type: ignore[call-overload]
                                   **kwargs))


def download(hub: FakeHub, cache: Path, filename: str, **kwargs: object) -> Path:
    return Path(hf_hub_download(REPO, filename, cache_dir=cache, endpoint=hub.endpoint,  # type: ignore[call-overload]
                                **kwargs))


def file_gets(hub: FakeHub, filename: str) -> list[dict[str, str]]:
    return [r.headers for r in hub.requests
            if r.method == "GET" and r.path.endswith("/" + filename)]


def raw(hub: FakeHub, method: str, path: str,
        headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    host, port = hub.endpoint.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def blob_dir(cache: Path) -> Path:
    return cache / "models--jinaai--tiny-test" / "blobs"


# -- downloads ------------------------------------------------------------------------------

def test_snapshot_download_gives_identical_bytes(hub: FakeHub, cache: Path,
                                                 folder: Path) -> None:
    sha = hub.add_repo(REPO, folder)
    path = snapshot(hub, cache, revision="main")
    assert path == cache / "models--jinaai--tiny-test" / "snapshots" / sha
    for name, data in FILES.items():
        assert (path / name).read_bytes() == data
    refs = cache / "models--jinaai--tiny-test" / "refs" / "main"
    assert refs.read_text() == sha
    # Blob names are the ETags: sha256 for LFS files, the git blob sha1 for the others.
    assert sorted(p.name for p in blob_dir(cache).iterdir()) == sorted(
        [hashlib.sha256(FILES[BIG]).hexdigest(), hashlib.sha256(FILES[SMALL_LFS]).hexdigest(),
         git_blob_sha1(FILES["config.json"]), git_blob_sha1(FILES["tokenizer/vocab.txt"])])
    paths = [r.path for r in hub.requests]
    assert paths[:2] == [f"/api/models/{REPO}/revision/main",
                         f"/api/models/{REPO}/tree/{sha}?recursive=true&expand=false"]
    assert sorted(paths[2:]) == sorted(2 * [f"/{REPO}/resolve/{sha}/{name}" for name in FILES])


def test_allow_patterns_fetch_only_matching_files(hub: FakeHub, cache: Path) -> None:
    path = snapshot(hub, cache, allow_patterns=["*.json", "tokenizer/*"])
    assert sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()) == [
        "config.json", "tokenizer/vocab.txt"]
    assert file_gets(hub, BIG) == [] and file_gets(hub, SMALL_LFS) == []


def test_hf_hub_download_by_branch_and_by_sha(hub: FakeHub, cache: Path, folder: Path) -> None:
    sha = hub.add_repo(REPO, folder)
    assert download(hub, cache, "config.json").read_bytes() == FILES["config.json"]
    assert download(hub, cache, BIG, revision=sha).read_bytes() == FILES[BIG]
    assert [r.path for r in hub.requests if r.method == "HEAD"] == [
        f"/{REPO}/resolve/main/config.json", f"/{REPO}/resolve/{sha}/{BIG}"]


def test_second_snapshot_only_asks_for_the_revision(hub: FakeHub, cache: Path) -> None:
    first = snapshot(hub, cache)
    hub.clear_requests()
    assert snapshot(hub, cache) == first
    assert [(r.method, r.path) for r in hub.requests] == [
        ("GET", f"/api/models/{REPO}/revision/main")]


def test_a_new_commit_moves_the_branch(hub: FakeHub, cache: Path, tmp_path: Path) -> None:
    old = snapshot(hub, cache)
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "config.json").write_bytes(b"{}")
    sha = hub.add_repo(REPO, tmp_path / "v2", revision="b" * 40)
    assert sha == "b" * 40
    new = snapshot(hub, cache)
    assert new.name == sha != old.name
    assert (new / "config.json").read_bytes() == b"{}"
    assert (old / "config.json").read_bytes() == FILES["config.json"]


# -- HTTP details ---------------------------------------------------------------------------

def test_head_headers_of_regular_and_lfs_files(hub: FakeHub, folder: Path) -> None:
    sha = hub.add_repo(REPO, folder)
    plain = raw(hub, "HEAD", f"/{REPO}/resolve/main/config.json")
    assert plain.status == 200
    assert plain.getheader("ETag") == f'"{git_blob_sha1(FILES["config.json"])}"'
    assert plain.getheader("X-Repo-Commit") == sha
    assert plain.getheader("Content-Length") == str(len(FILES["config.json"]))
    assert plain.getheader("X-Linked-Etag") is None
    lfs = raw(hub, "HEAD", f"/{REPO}/resolve/{sha}/{BIG}")
    digest = hashlib.sha256(FILES[BIG]).hexdigest()
    assert lfs.getheader("ETag") == lfs.getheader("X-Linked-Etag") == f'"{digest}"'
    assert lfs.getheader("X-Linked-Size") == str(len(FILES[BIG]))
    for response in (plain, lfs):
        assert response.getheader("Location") is None
        assert not [h for h, _ in response.getheaders() if h.lower().startswith("x-xet")]


def test_range_requests(hub: FakeHub) -> None:
    url = f"/{REPO}/resolve/main/config.json"
    size = len(FILES["config.json"])
    part = raw(hub, "GET", url, {"Range": "bytes=2-6"})
    assert (part.status, part.getheader("Content-Range")) == (206, f"bytes 2-6/{size}")
    assert part.getheader("Content-Length") == "5"
    tail = raw(hub, "GET", url, {"Range": "bytes=-3"})
    assert tail.getheader("Content-Range") == f"bytes {size - 3}-{size - 1}/{size}"
    beyond = raw(hub, "GET", url, {"Range": f"bytes={size}-"})
    assert (beyond.status, beyond.getheader("Content-Range")) == (416, f"bytes */{size}")


def test_tree_and_model_info_documents(hub: FakeHub) -> None:
    api = HfApi(endpoint=hub.endpoint)
    info = api.model_info(REPO, files_metadata=True)
    by_name = {s.rfilename: s for s in info.siblings or []}
    assert sorted(by_name) == sorted(FILES)
    lfs = by_name[BIG].lfs
    assert lfs is not None and lfs.sha256 == hashlib.sha256(FILES[BIG]).hexdigest()
    assert by_name["config.json"].lfs is None
    assert api.model_info(REPO, expand=["sha"]).siblings is None
    top = {e.path for e in api.list_repo_tree(REPO)}
    assert top == {"config.json", SMALL_LFS, "tokenizer", "weights"}
    [entry] = api.get_paths_info(REPO, [BIG, "missing", "nope/"])
    assert isinstance(entry, RepoFile) and entry.size == len(FILES[BIG])
    assert entry.lfs is not None and entry.lfs.sha256 == hashlib.sha256(FILES[BIG]).hexdigest()


# -- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("repo", "revision", "filename", "error"), [
    ("jinaai/nope", "main", "config.json", RepositoryNotFoundError),
    (REPO, "v9", "config.json", RevisionNotFoundError),
    (REPO, "c" * 40, "config.json", RevisionNotFoundError),
    (REPO, "main", "nope.bin", EntryNotFoundError),
])
def test_not_found(hub: FakeHub, cache: Path, repo: str, revision: str, filename: str,
                   error: type[Exception]) -> None:
    # RemoteEntryNotFoundError is both an HfHubHTTPError and an EntryNotFoundError.
    with pytest.raises(error) as caught:
        hf_hub_download(repo, filename, revision=revision, cache_dir=cache,
                        endpoint=hub.endpoint)
    assert isinstance(caught.value, HfHubHTTPError)
    assert caught.value.response.status_code == 404
    if error is not EntryNotFoundError:
        with pytest.raises(error):
            _snapshot_download(repo, revision=revision, cache_dir=cache, endpoint=hub.endpoint)


def test_server_down_uses_the_cache_or_raises(hub: FakeHub, cache: Path,
                                              tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(LocalEntryNotFoundError) as caught:
        _snapshot_download(REPO, cache_dir=tmp_path / "empty", endpoint=dead)
    assert isinstance(caught.value.__cause__, httpx2.ConnectError)
    path = snapshot(hub, cache)
    assert Path(_snapshot_download(REPO, cache_dir=cache, endpoint=dead)) == path


# -- failure injection ----------------------------------------------------------------------

def test_dropped_connection_resumes_with_range_in_the_same_call(
        hub: FakeHub, cache: Path, sleeps: list[float]) -> None:
    hub.fail_after(BIG, CHUNK + 5000)
    path = snapshot(hub, cache)
    assert (path / BIG).read_bytes() == FILES[BIG]
    # One 10 MiB chunk arrived before the drop; the 5000 bytes after it were thrown away.
    assert [h.get("range") for h in file_gets(hub, BIG)] == [None, f"bytes={CHUNK}-"]
    assert sleeps == [1]


def test_drop_before_a_full_chunk_restarts_from_zero(
        hub: FakeHub, cache: Path, sleeps: list[float]) -> None:
    hub.fail_after(BIG, CHUNK - 1)
    assert download(hub, cache, BIG).read_bytes() == FILES[BIG]
    assert [h.get("range") for h in file_gets(hub, BIG)] == [None, None]


def test_no_resume_across_calls(hub: FakeHub, cache: Path, sleeps: list[float]) -> None:
    # The hub hangs up before any body byte until huggingface_hub gives up.
    hub.fail_after(SMALL_LFS, 0, times=100)
    with pytest.raises(httpx2.RemoteProtocolError):
        download(hub, cache, SMALL_LFS)
    assert len(file_gets(hub, SMALL_LFS)) == 6  # first try + 5 retries without progress
    assert len(sleeps) == 5
    assert list(blob_dir(cache).iterdir()) == []  # the partial file is deleted
    hub.clear_failures()
    hub.clear_requests()
    assert download(hub, cache, SMALL_LFS).read_bytes() == FILES[SMALL_LFS]
    assert [h.get("range") for h in file_gets(hub, SMALL_LFS)] == [None]


@pytest.mark.parametrize("filename", [SMALL_LFS, "config.json"])
def test_corrupt_content_is_not_detected_by_huggingface_hub(
        hub: FakeHub, cache: Path, filename: str) -> None:
    hub.corrupt(filename)
    path = download(hub, cache, filename)
    data = path.read_bytes()
    # Accepted silently: same size, other bytes, stored under the original ETag. The store must
    # compare sha256 itself (expected value: the LFS oid from the tree / model info, or the ETag).
    assert len(data) == len(FILES[filename]) and data != FILES[filename]
    expected_name = (hashlib.sha256(FILES[filename]).hexdigest() if filename == SMALL_LFS
                     else git_blob_sha1(FILES[filename]))
    assert path.resolve().name == expected_name


# -- offline and endpoint -------------------------------------------------------------------

def test_offline_returns_the_cached_snapshot_without_requests(
        hub: FakeHub, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = snapshot(hub, cache, revision="main")
    hub.clear_requests()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # read at import time only: no effect
    assert snapshot(hub, cache) == path
    assert len(hub.requests) == 1
    hub.clear_requests()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert snapshot(hub, cache, revision="main") == path
    assert download(hub, cache, "config.json") == path / "config.json"
    assert snapshot(hub, cache, local_files_only=True) == path
    assert hub.requests == []


def test_offline_with_a_partial_snapshot_raises(
        hub: FakeHub, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot(hub, cache, allow_patterns=["config.json"])
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert (snapshot(hub, cache, allow_patterns=["config.json"]) / "config.json").is_file()
    with pytest.raises(IncompleteSnapshotError):
        snapshot(hub, cache)
    assert hub.requests[-1].path.startswith(f"/{REPO}/resolve/")  # all from the online call


def test_hf_endpoint_is_read_at_import_only(hub: FakeHub, cache: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    imported = constants.ENDPOINT
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    assert HfApi().endpoint == imported != hub.endpoint
    assert hf_hub_url(REPO, "config.json").startswith(imported)
    assert hf_hub_url(REPO, "config.json", endpoint=hub.endpoint).startswith(hub.endpoint)
    # Patching the constant reaches HfApi but not the file URLs, which are built from
    # HUGGINGFACE_CO_URL_TEMPLATE. Worse, hf_hub_url then ignores endpoint= too (it only swaps
    # the prefix when the URL starts with constants.ENDPOINT): never patch constants.ENDPOINT.
    monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)
    assert HfApi().endpoint == hub.endpoint
    assert hf_hub_url(REPO, "config.json").startswith(imported)
    assert hf_hub_url(REPO, "config.json", endpoint=hub.endpoint).startswith(imported)


def test_hf_endpoint_set_before_import_is_honoured(hub: FakeHub, cache: Path) -> None:
    code = ("import sys; from huggingface_hub import snapshot_download as s; "
            f"print(s({REPO!r}, allow_patterns=['config.json']))")
    env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HUB_CACHE": str(cache),
           "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, timeout=120)
    assert Path(out.stdout.strip(), "config.json").read_bytes() == FILES["config.json"]


# -- tokens ---------------------------------------------------------------------------------

def test_token_required(hub: FakeHub, cache: Path) -> None:
    hub.require_token("s3cret")
    # token=False: never read a token from the user's machine.
    with pytest.raises(RepositoryNotFoundError) as caught:
        snapshot(hub, cache, token=False)
    assert caught.value.response.status_code == 401
    with pytest.raises(RepositoryNotFoundError):
        download(hub, cache, "config.json", token=False)
    with pytest.raises(HfHubHTTPError) as wrong:
        download(hub, cache, "config.json", token="wrong")
    assert wrong.value.response.status_code == 401
    assert not isinstance(wrong.value, RepositoryNotFoundError)
    hub.clear_requests()
    path = snapshot(hub, cache, token="s3cret")
    assert (path / BIG).read_bytes() == FILES[BIG]
    assert {r.headers.get("authorization") for r in hub.requests} == {"Bearer s3cret"}
