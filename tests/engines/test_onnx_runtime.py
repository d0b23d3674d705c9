"""The ONNX Runtime engine: built from the GGUF, llama.cpp's vectors, cached, refused cleanly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from jina_edge import Embedder, engines
from jina_edge.config import cache_dir
from jina_edge.convert import convert_checkpoint
from jina_edge.engines import onnx_graph, onnx_runtime
from jina_edge.engines.cpu import int8_weight_type
from jina_edge.errors import BackendError, UnsupportedModelError

TEXTS = ["hello", "The pump moves twelve litres of water per minute.",
         "Die Häuser am Fluss wurden 1870 gebaut. " * 8, "a b c " * 40]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


@pytest.mark.parametrize("fixture", ["jina_tiny_gguf", "jina_12_heads_gguf", "bert_tiny_gguf"])
def test_onnx_runtime_gives_llama_cpps_vectors(fixture: str,
                                               request: pytest.FixtureRequest) -> None:
    gguf = request.getfixturevalue(fixture)
    with Embedder(gguf) as fast, Embedder(gguf, engine="llama.cpp") as plain:
        assert (fast.engine, plain.engine) == ("onnxruntime", "llama.cpp")
        assert _cosines(fast.embed(TEXTS), plain.embed(TEXTS)).min() > 0.99999
        spans = [(0, 5), (6, 40)]
        late = _cosines(fast.embed_late_chunks(TEXTS[2], spans),
                        plain.embed_late_chunks(TEXTS[2], spans))
        assert late.min() > 0.99999


@pytest.mark.parametrize("forced", [None, "u8"])
def test_real_minilm_q8_0_holds_q8_0_quality_on_the_graph_it_gets(
        minilm_dir: Path, tmp_path: Path, builds: list[Path],
        monkeypatch: pytest.MonkeyPatch, forced: str | None) -> None:
    # None: the graph this CPU gets (int8 where its int8 kernel is exact, else
    # float32); "u8": the int8 graph with uint8 weights, exact on every CPU.
    monkeypatch.setenv("JINA_EDGE_CACHE", str(tmp_path))  # built here, not by another test
    if forced:
        monkeypatch.setattr(onnx_runtime, "int8_weight_type", lambda: forced)
    weights = forced or int8_weight_type()
    gguf = convert_checkpoint(minilm_dir, tmp_path / "m.gguf", output_type="q8_0",
                              verify=False).output
    f32 = convert_checkpoint(minilm_dir, tmp_path / "m32.gguf", output_type="f32",
                             verify=False).output
    texts = [*TEXTS, "Where is the spare key for the shed?", "Tomorrow will be sunny and warm.",
             "The invoice was paid twice by mistake.", "for i in range(10): print(i * i)",
             "Our cat sleeps on the warm laptop every afternoon.", "Kubernetes restarts the pod.",
             "Reading glasses, a pencil and an old map lay on the desk."]
    with (Embedder(gguf) as fast, Embedder(gguf, engine="llama.cpp") as plain,
          Embedder(f32, engine="llama.cpp") as exact):
        assert fast.engine == "onnxruntime"
        assert [b.name.rsplit("-v", 1)[1].split("-", 1)[1] for b in builds] == [
            f"int8-{weights}.onnx" if weights else "f32.onnx"]
        truth = exact.embed(texts)
        ours, theirs = _cosines(fast.embed(texts), truth), _cosines(plain.embed(texts), truth)
    # q8_0's bar: a mean of 0.999 (llama.cpp's own q8_0: 0.9997 here); a text of
    # a word or two moves most (0.9989 for "hello", where llama.cpp has 0.9991).
    assert ours.mean() > 0.999 and ours.min() > 0.998
    assert ours.mean() > theirs.mean() - 0.0005


@pytest.fixture
def int8_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """The int8 graph tried first on any CPU: uint8 weights, which every CPU multiplies exactly."""
    monkeypatch.setattr(onnx_runtime, "int8_weight_type", lambda: "u8")


@pytest.fixture
def own_gguf(jina_tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
             ) -> Callable[[str], Path]:
    """The tiny JinaBERT as a GGUF of a type, with a graph cache of this test's own."""
    monkeypatch.setenv("JINA_EDGE_CACHE", str(tmp_path))
    return lambda output_type: convert_checkpoint(jina_tiny, tmp_path / f"t-{output_type}.gguf",
                                                  output_type=output_type, verify=False).output


def test_a_quantized_file_falls_back_to_the_float_graph(
        own_gguf: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch,
        builds: list[Path], int8_everywhere: None) -> None:
    gguf = own_gguf("q8_0")
    real = onnx_runtime._checked

    def int8_disagrees(graph: Path, *args: object) -> onnx_runtime.OnnxRuntimeEngine | None:
        return None if "-int8-" in graph.name else real(graph, *args)

    monkeypatch.setattr(onnx_runtime, "_checked", int8_disagrees)
    for _ in range(2):  # the refusal is remembered: the int8 graph is built once
        with Embedder(gguf) as e:
            assert e.engine == "onnxruntime"
    assert [b.name.split("-")[2] for b in builds] == ["int8", "f32.onnx"]


def test_every_window_runs_on_onnx_runtime_long_ones_in_query_blocks(
        jina_tiny_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jina_edge.engines import onnx_graph

    seen: list[int] = []
    real = onnx_runtime.OnnxRuntimeEngine.token_states

    def counting(self: onnx_runtime.OnnxRuntimeEngine,
                 sequences: list[list[int]]) -> list[np.ndarray]:
        seen.extend(len(s) for s in sequences)
        return real(self, sequences)

    monkeypatch.setenv("JINA_EDGE_CACHE", str(tmp_path))  # a graph built for this test
    monkeypatch.setattr(onnx_graph, "QUERY_BLOCK", 16)  # the long texts span several blocks
    with Embedder(jina_tiny_gguf) as fast, Embedder(jina_tiny_gguf, engine="llama.cpp") as plain:
        monkeypatch.setattr(onnx_runtime.OnnxRuntimeEngine, "token_states", counting)
        vectors = fast.embed(TEXTS)
        assert sorted(seen) == sorted(len(fast.tokenize(t)) for t in TEXTS)
        assert max(seen) > 3 * 16
        assert _cosines(vectors, plain.embed(TEXTS)).min() > 0.99999


def test_an_int8_graph_that_cannot_be_calibrated_falls_back_to_the_float_graph(
        own_gguf: Callable[[str], Path], builds: list[Path], int8_everywhere: None) -> None:
    # onnxruntime's own exception types went past every handler: loading the
    # model crashed with InvalidArgument instead of using another engine.
    gguf = own_gguf("q8_0")
    with Embedder(gguf, engine="llama.cpp") as plain:
        probes = [plain.tokenize(t) for t in TEXTS]
        expected = plain._engines.llama.token_states(probes)
        backend = onnx_runtime.open_for(gguf, "a" * 64, plain.dim, 1, probes, lambda: expected,
                                        quantized=True, tokenize=lambda text: [10**6])
    assert backend is not None  # token id 1,000,000 has no embedding: int8 is refused
    assert [b.name.split("-")[2] for b in builds] == ["int8", "f32.onnx"]
    assert builds[0].with_suffix(".refused").exists()
    with pytest.raises(BackendError, match="ONNX Runtime failed"):
        backend.token_states([[10**6]])


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The graphs built while a test runs."""
    built: list[Path] = []
    real: Callable[..., bool] = onnx_runtime._build

    def counting(source: Path, graph: Path, *args: object) -> bool:
        built.append(graph)
        return real(source, graph, *args)

    monkeypatch.setattr(onnx_runtime, "_build", counting)
    return built


def test_the_graph_is_built_once_and_a_damaged_one_is_rebuilt(
        jina_tiny: Path, tmp_path: Path, builds: list[Path]) -> None:
    gguf = convert_checkpoint(jina_tiny, tmp_path / "t.gguf", output_type="f16",
                              verify=False).output
    with Embedder(gguf) as first:
        expected = first.embed(TEXTS)
    with Embedder(gguf) as second:
        assert second.engine == "onnxruntime"
    assert len(builds) == 1
    builds[0].write_bytes(b"not an onnx graph")  # a damaged cache file
    with Embedder(gguf) as third:
        assert third.engine == "onnxruntime"
        assert np.allclose(third.embed(TEXTS), expected, atol=1e-6)
    assert len(builds) == 2
    assert builds[0].parent.is_relative_to(cache_dir())


def test_a_graph_that_passed_is_not_checked_again_unless_it_changed(
        jina_tiny: Path, bert_tiny_gguf: Path, tmp_path: Path, builds: list[Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINA_EDGE_CACHE", str(tmp_path / "cache"))  # no graph built before
    gguf = convert_checkpoint(jina_tiny, tmp_path / "t.gguf", output_type="f32",
                              verify=False).output
    with Embedder(gguf) as first:
        expected = first.embed(TEXTS)
    references: list[Path] = []
    real = engines._reference_states
    monkeypatch.setattr(engines, "_reference_states",
                        lambda path, probes: references.append(path) or real(path, probes))
    with Embedder(gguf) as second:
        assert second.engine == "onnxruntime" and references == []
    with Embedder(bert_tiny_gguf):  # another model's graph put in this one's place
        pass
    other = next(p for p in builds[0].parent.glob("*.onnx") if p != builds[0])
    builds[0].write_bytes(other.read_bytes())
    with Embedder(gguf) as third:
        assert third.engine == "onnxruntime"
        assert np.allclose(third.embed(TEXTS), expected, atol=1e-6)
    # The swapped graph failed the check and was rebuilt (the reference computed once).
    assert references == [bert_tiny_gguf, gguf]
    assert builds[2:] == [builds[0]]


def test_a_graph_placed_in_the_cache_by_someone_else_is_built_again_not_run(
        own_gguf: Callable[[str], Path], tmp_path: Path, builds: list[Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Even one that answers the probes: it could encode other texts into its vectors."""
    import hashlib
    import shutil

    gguf = own_gguf("f32")
    with Embedder(gguf) as first:
        expected = first.embed(TEXTS)
    graph = builds[0]
    planted = tmp_path / "elsewhere"
    shutil.copytree(graph.parent, planted)
    # Another installation's cache (its own seal key), copied in whole, with the
    # plain digest an older version wrote beside the graph.
    monkeypatch.setenv("JINA_EDGE_HOME", str(tmp_path / "other-home"))
    monkeypatch.setenv("JINA_EDGE_CACHE", str(tmp_path / "other-cache"))
    shutil.copytree(planted, graph_dir := tmp_path / "other-cache" / graph.parent.name)
    for seal in graph_dir.glob("*.passed"):
        seal.write_text(hashlib.sha256(graph.read_bytes()).hexdigest() + "\n")
    with Embedder(gguf) as second:
        assert second.engine == "onnxruntime"
        assert np.allclose(second.embed(TEXTS), expected, atol=1e-6)
    assert len(builds) == 2 and builds[1].is_relative_to(tmp_path / "other-cache")
    with Embedder(gguf) as third:  # what it built and sealed itself it trusts
        assert third.engine == "onnxruntime"
    assert len(builds) == 2


def test_a_new_graph_version_deletes_the_old_ones(
        own_gguf: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch,
        builds: list[Path]) -> None:
    gguf = own_gguf("f16")
    with Embedder(gguf):
        pass
    old = builds[0]
    other = old.with_name("0" * 32 + old.name[32:])  # another file's graph
    other.write_bytes(old.read_bytes())
    monkeypatch.setattr(onnx_runtime, "GRAPH_VERSION", onnx_runtime.GRAPH_VERSION + 1)
    with Embedder(gguf) as e:
        assert e.engine == "onnxruntime"
    assert len(builds) == 2 and builds[1].exists()
    assert not old.exists() and other.exists()


def test_an_old_graph_that_cannot_be_deleted_does_not_stop_the_engine(
        own_gguf: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch,
        builds: list[Path]) -> None:
    gguf = own_gguf("f16")
    with Embedder(gguf):
        pass
    stuck = builds[0].with_name(builds[0].name.replace(
        f"-v{onnx_runtime.GRAPH_VERSION}-", "-v1-"))
    stuck.mkdir()  # a folder where an old graph was: unlink fails
    monkeypatch.setattr(onnx_runtime, "GRAPH_VERSION", onnx_runtime.GRAPH_VERSION + 1)
    with Embedder(gguf) as e:
        assert e.engine == "onnxruntime"
    assert stuck.is_dir()


def test_base_codes_layout_runs_on_onnx_runtime_with_llama_cpps_vectors(
        variant_models: Callable[[str], tuple[Path, Path]]) -> None:
    """qk-post-norm: Q/K norms, the second residual norm and the [up; gate] feed-forward."""
    _, gguf = variant_models("code")
    with Embedder(gguf) as fast, Embedder(gguf, engine="llama.cpp") as plain:
        assert (fast.engine, plain.engine) == ("onnxruntime", "llama.cpp")
        assert _cosines(fast.embed(TEXTS), plain.embed(TEXTS)).min() > 0.99999


def test_a_model_without_a_graph_stays_on_llama_cpp(
        bert_tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JINA_EDGE_CACHE", str(tmp_path / "cache"))  # no graph built before

    def no_graph(*args: object, **kwargs: object) -> Path:
        raise UnsupportedModelError("no ONNX graph for a model with blk.0.something_new")

    monkeypatch.setattr(onnx_graph, "write_onnx_from_gguf", no_graph)
    with Embedder(bert_tiny_gguf) as e:
        assert e.engine == "llama.cpp"
    with pytest.raises(BackendError, match="ONNX Runtime cannot run .*engine='llama.cpp'"):
        Embedder(bert_tiny_gguf, engine="onnxruntime")


def test_a_graph_that_disagrees_with_the_reference_is_not_used_nor_built_again(
        bert_tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch, builds: list[Path],
        tmp_path: Path) -> None:
    monkeypatch.setenv("JINA_EDGE_CACHE", str(tmp_path / "cache"))  # no graph passed before
    monkeypatch.setattr(onnx_runtime, "MIN_COSINE", 1.5)  # no graph can agree this well
    for _ in range(2):
        with Embedder(bert_tiny_gguf) as e:
            assert e.engine == "llama.cpp"
    assert len(builds) == 1
    assert not builds[0].exists()  # no use keeping it
    builds[0].with_suffix(".refused").write_bytes(b"\xff\xfe")  # a damaged note
    with Embedder(bert_tiny_gguf) as e:
        assert e.engine == "llama.cpp"
    assert len(builds) == 1


@pytest.mark.parametrize("where", [".onnx", ".refused", ".passed"])
@pytest.mark.parametrize("what", ["fifo", "symlink"])
def test_a_fifo_or_a_link_in_the_cache_is_removed_not_read(
        where: str, what: str, jina_tiny: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import subprocess
    import sys

    monkeypatch.setenv("JINA_EDGE_CACHE", str(tmp_path / "cache"))
    gguf = convert_checkpoint(jina_tiny, tmp_path / "t.gguf", output_type="f32",
                              verify=False).output
    with Embedder(gguf) as e:  # builds the graph, so its place in the cache is known
        expected = e.embed(TEXTS)
    [graph] = (tmp_path / "cache").rglob("*.onnx")
    target = graph.with_suffix(where)
    target.unlink(missing_ok=True)
    if what == "fifo":
        os.mkfifo(target)
    else:
        secret = tmp_path / "elsewhere"
        secret.write_text("not the cache's")
        target.symlink_to(secret)
    # In a child with a deadline: reading a FIFO would wait forever.
    code = ("import sys, numpy as np; from jina_edge import Embedder\n"
            f"e = Embedder({str(gguf)!r}); print(e.engine)\n"
            f"np.save(sys.argv[1], e.embed({TEXTS!r}))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "v.npy")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "onnxruntime"
    assert np.allclose(np.load(tmp_path / "v.npy"), expected, atol=1e-6)
    assert not target.is_symlink() and not target.is_fifo()


def test_a_data_folder_that_cannot_be_written_still_runs_models(
        own_gguf: Callable[[str], Path], builds: list[Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The seal key cannot be stored (a read-only data folder): checks hold for this process."""
    from jina_edge.models import derived

    gguf = own_gguf("f32")
    blocked = tmp_path / "a-file"
    blocked.write_text("")  # a folder cannot be made under a file: like a read-only home
    monkeypatch.setattr(derived, "home_dir", lambda: blocked / "home")
    with Embedder(gguf) as first:
        expected = first.embed(TEXTS)
        assert first.engine == "onnxruntime"
    with Embedder(gguf) as second:  # sealed with this process's key: not built again
        assert second.engine == "onnxruntime"
        assert np.allclose(second.embed(TEXTS), expected, atol=1e-6)
    assert len(builds) == 1
