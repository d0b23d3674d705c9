"""`models pull` for real, against a fake Hugging Face hub on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from hub_server import FakeHub
from huggingface_hub import file_download

import jina_edge
from jina_edge import DownloadError, ModelNotFoundError
from jina_edge.convert.synthetic import Shape, write_checkpoint
from jina_edge.models import store
from jina_edge.models.catalog import catalog_model
from jina_edge.models.installed import find_installed, list_installed, models_dir

SMALL_EN = catalog_model("jina-embeddings-v2-small-en")
# A checkpoint whose weights are over 10 MiB, the chunk huggingface_hub resumes from.
RESUMABLE = Shape(hidden=128, layers=1, heads=4, intermediate=256)


@pytest.fixture
def hub(jina_tiny: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A fake hub serving the tiny JinaBERT as small-en at the catalogue's revision."""
    monkeypatch.setattr(file_download, "time", SimpleNamespace(sleep=lambda s: None))
    with FakeHub() as fake:
        fake.add_repo(SMALL_EN.repo, jina_tiny, revision=SMALL_EN.revision)
        monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
        yield fake


def _file_gets(hub: FakeHub) -> list[str]:
    return [r.path for r in hub.requests if r.method == "GET" and "/resolve/" in r.path]


def _nothing_installed() -> None:
    assert list_installed() == []
    folder = models_dir() / SMALL_EN.model_id
    assert not folder.exists() or not any(p.suffix == ".gguf" for p in folder.iterdir())


def test_pull_downloads_converts_verifies_and_embeds_offline(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    stages: set[str] = set()
    installed = store.pull(progress=lambda stage, done, total: stages.add(stage))
    assert installed.name == "jina-embeddings-v2-small-en:q8_0"
    assert stages >= {"download", "write", "verify"}
    manifest = json.loads(installed.path.with_suffix(".json").read_text())
    assert manifest["source"]["repo"] == SMALL_EN.repo
    assert manifest["source"]["revision"] == SMALL_EN.revision
    assert manifest["verification"]["status"] == "ok"
    hub.close()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert jina_edge.embed("works offline").shape == (32,)


@pytest.mark.parametrize("model_id", ["jina-embeddings-v2-base-de", "jina-embeddings-v2-base-es",
                                      "jina-embeddings-v2-base-zh", "jina-embeddings-v2-base-code"])
def test_pull_of_each_bilingual_and_code_model(model_id: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Each is served in its own layout (tokenizer, base-code's layers) at the pinned revision."""
    entry = catalog_model(model_id)
    variant = model_id.rsplit("-", 1)[-1]
    checkpoint = write_checkpoint(tmp_path / variant, shape=Shape(32, 2, 4, 64), variant=variant)
    monkeypatch.setattr(file_download, "time", SimpleNamespace(sleep=lambda s: None))
    with FakeHub() as fake:
        pinned = entry.revision if len(entry.revision) == 40 else None
        fake.add_repo(entry.repo, checkpoint, revision=pinned)
        monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
        installed = store.pull(model_id, output_type="f32")
    manifest = json.loads(installed.path.with_suffix(".json").read_text())
    assert manifest["source"]["repo"] == entry.repo
    assert manifest["source"]["requested_revision"] == entry.revision
    assert manifest["verification"]["status"] == "ok"
    assert manifest["dim"] == 32
    vector = jina_edge.embed("Größe 尺寸 def f(): pass", model=model_id)
    assert vector.shape == (32,)


def test_second_pull_is_a_no_op_and_force_reuses_the_cache(hub: FakeHub) -> None:
    store.pull()
    hub.clear_requests()
    store.pull()
    assert hub.requests == []
    store.pull(force=True)
    assert _file_gets(hub) == []  # every file came from the Hugging Face cache


def test_pull_of_another_type_reuses_the_download(hub: FakeHub) -> None:
    store.pull(output_type="q8_0")
    hub.clear_requests()
    store.pull(output_type="f16")
    assert _file_gets(hub) == []
    assert sorted(m.name for m in list_installed()) == [
        "jina-embeddings-v2-small-en:f16", "jina-embeddings-v2-small-en:q8_0"]


def test_dropped_connection_is_resumed_with_a_range_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_download, "time", SimpleNamespace(sleep=lambda s: None))
    checkpoint = write_checkpoint(tmp_path / "ck", shape=RESUMABLE)
    assert (checkpoint / "model.safetensors").stat().st_size > 11 * 2**20
    with FakeHub() as hub:
        hub.add_repo("someone/bigger", checkpoint)
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        hub.fail_after("model.safetensors", 11 * 2**20)
        installed = store.pull("someone/bigger")
        ranges = [r.headers.get("range") for r in hub.requests
                  if r.method == "GET" and r.path.endswith("model.safetensors")]
    assert installed.name == "bigger:q8_0"
    assert ranges[0] is None and ranges[-1] == f"bytes={10 * 2**20}-"


def test_connection_that_keeps_dropping_installs_nothing_then_pull_again_works(
    hub: FakeHub,
) -> None:
    hub.fail_after("model.safetensors", 1000, times=100)
    with pytest.raises(DownloadError, match="pull again"):
        store.pull()
    _nothing_installed()
    hub.clear_failures()
    assert store.pull().name == "jina-embeddings-v2-small-en:q8_0"


def test_hash_mismatch_is_refused_and_the_bad_file_dropped(hub: FakeHub) -> None:
    hub.corrupt("model.safetensors")
    with pytest.raises(DownloadError, match="corrupt"):
        store.pull()
    _nothing_installed()
    hub.clear_failures()
    assert store.pull().name == "jina-embeddings-v2-small-en:q8_0"


def test_server_down(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    # Without the reachability probe this would spend ~45 s in huggingface_hub's
    # retries (with time.sleep); the probe makes it answer at once, without them.
    slept: list[float] = []
    monkeypatch.setattr(file_download, "time", SimpleNamespace(sleep=slept.append))
    with pytest.raises(DownloadError, match="cannot be reached.*models import PATH") as caught:
        store.pull()
    assert caught.value.offline and slept == []
    _nothing_installed()


def test_offline_mode_without_a_cache_says_so(hub: FakeHub,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DownloadError, match="HF_HUB_OFFLINE"):
        store.pull()
    assert hub.requests == []


def test_wrong_revision_and_unknown_repository(hub: FakeHub) -> None:
    with pytest.raises(DownloadError, match="revision 'v9' .* does not exist"):
        store.pull(revision="v9")
    with pytest.raises(DownloadError, match="not found"):
        store.pull("nobody/nothing")
    with pytest.raises(ModelNotFoundError, match="not in the catalogue"):
        store.pull("no-such-model")
    _nothing_installed()


def test_a_failed_pull_keeps_what_was_installed(hub: FakeHub, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    first = store.pull()
    before = first.path.read_bytes()
    # A fresh Hugging Face cache, so that the forced pull downloads again.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "fresh"))
    hub.corrupt("model.safetensors")
    with pytest.raises(DownloadError):
        store.pull(force=True)
    assert find_installed("jina-embeddings-v2-small-en:q8_0") is not None
    assert first.path.read_bytes() == before


def test_interrupt_during_conversion_leaves_nothing_half_installed(hub: FakeHub) -> None:
    def interrupt(stage: str, done: int, total: int) -> None:
        if stage == "write" and done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.pull(progress=interrupt)
    _nothing_installed()
    folder = models_dir() / SMALL_EN.model_id
    assert not folder.exists() or list(folder.iterdir()) == []
    assert store.pull().name == "jina-embeddings-v2-small-en:q8_0"


def test_token_is_sent_when_set(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    hub.require_token("s3cret")
    with pytest.raises(DownloadError):
        store.pull()
    monkeypatch.setenv("HF_TOKEN", "s3cret")
    assert store.pull().name == "jina-embeddings-v2-small-en:q8_0"


def test_cli_pull_shows_progress_and_installs(hub: FakeHub) -> None:
    from click.testing import CliRunner

    from jina_edge.cli.main import main

    result = CliRunner().invoke(main, ["models", "pull", "--type", "f16"])
    assert result.exit_code == 0, result.output
    assert "downloading" in result.output and "checking against the original" in result.output
    assert "installed jina-embeddings-v2-small-en:f16" in result.output
    assert "same tokens" in result.output
