"""base-es's layout (issue 31): LayerNorms on the query and key projections.

jina-embeddings-v2-base-es runs the remote code jinaai/jina-bert-v2-qk-devlin-norm-1e-2:
the jina-bert-implementation layers (`mlp.gated_layers`, `mlp.wo`, `mlp.layernorm`)
with `attention.self.layer_norm_q` / `layer_norm_k` over the full Q and K
projections, after their Linear and before the split into heads. The GGUF
carries them as llama.cpp's `blk.N.attn_q_norm` / `attn_k_norm`, which its
jina-bert-v2 graph applies at that point; the ONNX graph must too.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import gguf
import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from jina_edge import Embedder
from jina_edge.convert import ConversionReport, convert_checkpoint
from jina_edge.convert.architectures import ArchitectureConverter
from jina_edge.convert.reference import ReferenceModel
from jina_edge.convert.synthetic import SHAPES, write_checkpoint
from jina_edge.convert.verify import PROBES, verify_model
from jina_edge.engines.onnx_graph import write_onnx_from_gguf
from jina_edge.engines.onnx_runtime import OnnxRuntimeEngine
from jina_edge.errors import CheckpointError, ConversionError
from jina_edge.models.modelfile import read_model_file

SHAPE = SHAPES["tiny-12-heads"]
TEXTS = [PROBES["short"], PROBES["paragraph"], PROBES["code"], PROBES["long"]]
NORMS = ("layer_norm_q", "layer_norm_k")
GGUF_NORMS = ("attn_q_norm", "attn_k_norm")
# jinaai/jina-embeddings-v2-base-es's config.json, key for key.
BASE_ES_KEYS = [
    "_name_or_path", "architectures", "attention_probs_dropout_prob", "attn_implementation",
    "auto_map", "classifier_dropout", "emb_pooler", "feed_forward_type",
    "gradient_checkpointing", "hidden_act", "hidden_dropout_prob", "hidden_size",
    "initializer_range", "intermediate_size", "layer_norm_eps", "max_position_embeddings",
    "model_max_length", "model_type", "num_attention_heads", "num_hidden_layers",
    "pad_token_id", "position_embedding_type", "torch_dtype", "transformers_version",
    "type_vocab_size", "use_cache", "vocab_size",
]
REMOTE_CODE = "jinaai/jina-bert-v2-qk-devlin-norm-1e-2"
_ORIGINAL_HOOK = ArchitectureConverter.gguf_tensors


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def es_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("es"), shape=SHAPE, variant="es", seed=31)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory,
              es_checkpoint: Path) -> Callable[[str], ConversionReport]:
    """The es checkpoint converted (and verified) to a type, once each."""
    made: dict[str, ConversionReport] = {}

    def get(output_type: str) -> ConversionReport:
        if output_type not in made:
            out = tmp_path_factory.mktemp("gguf") / f"es-{output_type}.gguf"
            made[output_type] = convert_checkpoint(es_checkpoint, out, output_type=output_type)
        return made[output_type]

    return get


@pytest.fixture
def tiny_es(tmp_path: Path) -> Path:
    return write_checkpoint(tmp_path / "ck", shape=SHAPES["tiny"], variant="es", seed=3)


def _checkpoint_tensors(checkpoint: Path) -> dict[str, np.ndarray]:
    return {name: np.asarray(t, np.float32)
            for name, t in load_file(str(checkpoint / "model.safetensors")).items()}


def test_the_es_fixture_has_base_es_config_and_norms(es_checkpoint: Path) -> None:
    config = json.loads((es_checkpoint / "config.json").read_text())
    assert list(config) == BASE_ES_KEYS
    assert config["architectures"] == ["JinaBertForMaskedLM"]
    assert config["_name_or_path"] == REMOTE_CODE
    assert all(v.startswith(f"{REMOTE_CODE}--") for v in config["auto_map"].values())
    assert (config["emb_pooler"], config["feed_forward_type"],
            config["position_embedding_type"]) == ("mean", "geglu", "alibi")
    with safe_open(str(es_checkpoint / "model.safetensors"), framework="numpy") as f:
        assert f.get_tensor("embeddings.LayerNorm.weight").dtype == np.float16  # torch_dtype
    tensors = _checkpoint_tensors(es_checkpoint)
    for layer in range(SHAPE.layers):
        p = f"encoder.layer.{layer}."
        assert f"{p}mlp.gated_layers.weight" in tensors  # base-en's feed-forward
        for norm in NORMS:
            weight, bias = (tensors[f"{p}attention.self.{norm}.{k}"] for k in ("weight", "bias"))
            assert weight.shape == bias.shape == (SHAPE.hidden,)
            # Far from the identity: skipping them must show.
            assert np.abs(weight - 1).max() > 0.5 and np.abs(bias).max() > 0.5
    assert not any("up_gated_layer" in n or "layer_norm_1" in n for n in tensors)


@pytest.mark.parametrize("output_type", ["f32", "q8_0"])
def test_es_converts_verifies_and_carries_llama_cpps_norm_tensors(
        output_type: str, converted: Callable[[str], ConversionReport],
        es_checkpoint: Path) -> None:
    report = converted(output_type)
    assert report.verification is not None and report.verification.status == "ok"
    assert read_model_file(report.output).architecture == "jina-bert-v2"
    stored = {t.name: t for t in gguf.GGUFReader(report.output).tensors}
    source = _checkpoint_tensors(es_checkpoint)
    for layer in range(SHAPE.layers):
        for norm, gguf_norm in zip(NORMS, GGUF_NORMS, strict=True):
            for kind in ("weight", "bias"):
                tensor = stored[f"blk.{layer}.{gguf_norm}.{kind}"]
                assert list(tensor.shape) == [SHAPE.hidden]
                np.testing.assert_array_equal(
                    np.asarray(tensor.data),
                    source[f"encoder.layer.{layer}.attention.self.{norm}.{kind}"])
    # The jina-bert-implementation layout, not base-code's.
    assert not any(".ffn_gate." in n or ".attn_norm_2." in n for n in stored)
    assert len(stored) == len(source)


@pytest.mark.parametrize("output_type", ["f32", "q8_0"])
@pytest.mark.parametrize("engine", ["onnxruntime", "llama.cpp"])
def test_both_engines_give_the_references_vectors(
        engine: str, output_type: str, converted: Callable[[str], ConversionReport],
        es_checkpoint: Path) -> None:
    path = converted(output_type).output
    assert "blk.0.attn_q_norm.weight" in {t.name for t in gguf.GGUFReader(path).tensors}
    reference = ReferenceModel.from_checkpoint(es_checkpoint)
    bar = 0.9999 if output_type == "f32" else 0.999
    with Embedder(path, device="cpu", engine=engine) as e:
        assert e.engine == engine
        for text in TEXTS:
            ids = e.tokenize(text)
            assert ids == reference.tokenize(text)
            assert _cosine(e.embed(text), reference.token_states(ids).mean(axis=0)) > bar


# Not K's bias: it adds q . b to every score of a query alike, which softmax cancels.
@pytest.mark.parametrize(("norm", "kind"), [("layer_norm_q", "weight"), ("layer_norm_q", "bias"),
                                            ("layer_norm_k", "weight")])
def test_the_reference_applies_each_norm(norm: str, kind: str, es_checkpoint: Path,
                                         tmp_path: Path) -> None:
    checkpoint = Path(shutil.copytree(es_checkpoint, tmp_path / "ck"))
    ids = ReferenceModel.from_checkpoint(checkpoint).tokenize(PROBES["paragraph"])
    before = ReferenceModel.from_checkpoint(checkpoint).token_states(ids)
    tensors = load_file(str(checkpoint / "model.safetensors"))
    tensors[f"encoder.layer.0.attention.self.{norm}.{kind}"] *= -1
    save_file(tensors, str(checkpoint / "model.safetensors"))
    after = ReferenceModel.from_checkpoint(checkpoint).token_states(ids)
    assert np.abs(after - before).max() > 1e-2


def _dropping(fragment: str) -> Callable[..., Iterator[tuple[str, np.ndarray]]]:
    """A converter hook that leaves out the checkpoint tensors whose name holds `fragment`."""
    def gguf_tensors(self: ArchitectureConverter, name: str,
                     data: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
        if fragment not in name:
            yield from _ORIGINAL_HOOK(self, name, data)
    return gguf_tensors


_without_norms = _dropping(".attention.self.layer_norm_")


def _zeroed_norms(self: ArchitectureConverter, name: str,
                  data: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    for gguf_name, values in _ORIGINAL_HOOK(self, name, data):
        zeroed = any(f".{norm}." in gguf_name for norm in GGUF_NORMS)
        yield gguf_name, np.zeros_like(values) if zeroed else values


@pytest.mark.parametrize("damage", ["removed", "zeroed"])
def test_a_gguf_with_the_norms_removed_or_zeroed_fails_verification(
        damage: str, es_checkpoint: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if damage == "removed":
        monkeypatch.setattr(ArchitectureConverter, "gguf_tensors", _without_norms)
    else:
        monkeypatch.setattr(ArchitectureConverter, "gguf_tensors", _zeroed_norms)
    out = tmp_path / "es.gguf"
    with pytest.raises(ConversionError, match="verification failed"):
        convert_checkpoint(es_checkpoint, out, output_type="f32")
    assert not out.exists()
    convert_checkpoint(es_checkpoint, out, output_type="f32", verify=False)
    names = {t.name for t in gguf.GGUFReader(out).tensors}
    assert ("blk.0.attn_q_norm.weight" in names) == (damage == "zeroed")
    verification = verify_model(out, es_checkpoint, "f32")
    assert verification.status == "fail"
    assert verification.min_cosine < 0.99


def test_without_the_norms_both_engines_give_clearly_other_vectors(
        es_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fixture's norms matter: a runtime that skipped them could not pass the tests above."""
    monkeypatch.setattr(ArchitectureConverter, "gguf_tensors", _without_norms)
    out = convert_checkpoint(es_checkpoint, tmp_path / "es.gguf", output_type="f32",
                             verify=False).output
    reference = ReferenceModel.from_checkpoint(es_checkpoint)
    for engine in ("onnxruntime", "llama.cpp"):
        with Embedder(out, device="cpu", engine=engine) as e:
            assert e.engine == engine
            cosines = [_cosine(e.embed(t), reference.token_states(e.tokenize(t)).mean(axis=0))
                       for t in TEXTS]
        assert max(cosines) < 0.99, engine


@pytest.mark.parametrize("fragment", ["layer_norm_q.bias", "layer_norm_k."])
def test_the_onnx_graph_applies_what_a_gguf_has_as_llama_cpp_does(
        fragment: str, es_checkpoint: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A file made elsewhere may hold a norm's weight without its bias, or a Q norm alone."""
    monkeypatch.setattr(ArchitectureConverter, "gguf_tensors", _dropping(fragment))
    out = convert_checkpoint(es_checkpoint, tmp_path / "es.gguf", output_type="f32",
                             verify=False).output
    names = {t.name for t in gguf.GGUFReader(out).tensors}
    assert "blk.0.attn_q_norm.weight" in names
    assert len(names) == len(_checkpoint_tensors(es_checkpoint)) - (
        SHAPE.layers if fragment.endswith("bias") else 2 * SHAPE.layers)
    graph = OnnxRuntimeEngine(write_onnx_from_gguf(out, tmp_path / "es.onnx"), SHAPE.hidden, 1)
    with Embedder(out, device="cpu") as auto, Embedder(out, engine="llama.cpp") as plain:
        for text in TEXTS:
            ids = plain.tokenize(text)
            built = graph.token_states([ids])[0].mean(axis=0)
            assert _cosine(built, plain.embed(text)) > 0.99999
        # Without K's norm the file is of no family, so no reference can check
        # its graph: it runs on llama.cpp. A norm without its bias is checked.
        assert auto.engine == ("onnxruntime" if fragment.endswith("bias") else "llama.cpp")


def test_bert_prefixed_names_convert_the_same(tiny_es: Path, tmp_path: Path) -> None:
    """Checkpoints saved from a wrapper name every tensor "bert.<name>"."""
    tensors = load_file(str(tiny_es / "model.safetensors"))
    save_file({f"bert.{name}": t for name, t in tensors.items()},
              str(tiny_es / "model.safetensors"))
    report = convert_checkpoint(tiny_es, tmp_path / "m.gguf", output_type="f32")
    assert report.verification is not None and report.verification.status == "ok"
    names = {t.name for t in gguf.GGUFReader(report.output).tensors}
    assert {f"blk.1.{norm}.{kind}" for norm in GGUF_NORMS for kind in ("weight", "bias")} <= names


# --- refusals ------------------------------------------------------------------------


def _edit(checkpoint: Path, edit: Callable[[dict[str, np.ndarray]], None]) -> None:
    path = checkpoint / "model.safetensors"
    tensors = load_file(str(path))
    edit(tensors)
    save_file(tensors, str(path))


def _refused(checkpoint: Path, out: Path, match: str) -> None:
    with pytest.raises(CheckpointError, match=match):
        convert_checkpoint(checkpoint, out, output_type="f32")
    assert not out.exists()


@pytest.mark.parametrize(("kept", "dropped"), [NORMS, NORMS[::-1]])
def test_only_one_of_the_two_norms_is_refused(kept: str, dropped: str, tiny_es: Path,
                                              tmp_path: Path) -> None:
    def drop(tensors: dict[str, np.ndarray]) -> None:
        for name in [n for n in tensors if f".{dropped}." in n]:
            del tensors[name]

    _edit(tiny_es, drop)
    _refused(tiny_es, tmp_path / "m.gguf",
             rf"lacks 4 tensor\(s\) a jina-bert-v2-qk-norm model needs, "
             rf"e\.g\. encoder\.layer\.0\.attention\.self\.{dropped}\.weight")


def test_norms_in_some_layers_only_are_refused(tiny_es: Path, tmp_path: Path) -> None:
    def drop(tensors: dict[str, np.ndarray]) -> None:
        for name in [n for n in tensors if n.startswith("encoder.layer.1.attention.self.layer_")]:
            del tensors[name]

    _edit(tiny_es, drop)
    _refused(tiny_es, tmp_path / "m.gguf",
             r"lacks 4 tensor\(s\).*encoder\.layer\.1\.attention\.self\.layer_norm_q\.weight")


@pytest.mark.parametrize("name", ["layer_norm_q.weight", "layer_norm_k.bias"])
def test_norms_of_the_wrong_shape_are_refused(name: str, tiny_es: Path, tmp_path: Path) -> None:
    hidden = SHAPES["tiny"].hidden

    def shrink(tensors: dict[str, np.ndarray]) -> None:
        full = f"encoder.layer.0.attention.self.{name}"
        tensors[full] = tensors[full][: hidden // 2].copy()

    _edit(tiny_es, shrink)
    _refused(tiny_es, tmp_path / "m.gguf",
             rf"'encoder\.layer\.0\.attention\.self\.{name}' .* has shape \[{hidden // 2}\], "
             rf"config\.json implies \[{hidden}\]")
