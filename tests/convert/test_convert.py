"""Conversion of generated checkpoints: parity with the reference, metadata, output types."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from jina_edge import Embedder
from jina_edge.convert import OUTPUT_TYPES, convert_checkpoint
from jina_edge.convert.converter import KEY_CONVERTER_VERSION, KEY_SOURCE_SHA256
from jina_edge.convert.reference import ReferenceModel
from jina_edge.convert.synthetic import SHAPES, write_checkpoint
from jina_edge.convert.verify import PROBES
from jina_edge.models.modelfile import read_model_file

LONG_TEXT = PROBES["long"]  # well over 512 tokens


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("fixture", ["jina_tiny", "jina_12_heads"])
def test_f32_gguf_matches_the_reference_on_short_and_long_text(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    checkpoint: Path = request.getfixturevalue(fixture)
    gguf_path: Path = request.getfixturevalue(f"{fixture}_gguf")
    reference = ReferenceModel.from_checkpoint(checkpoint)
    with Embedder(gguf_path, device="cpu") as e:
        for text in ["Hello world!", PROBES["paragraph"], LONG_TEXT]:
            ids = e.tokenize(text)
            assert ids == reference.tokenize(text)
            expected = reference.token_states(ids).mean(axis=0)
            assert _cosine(e.embed(text), expected) >= 0.9999
        assert len(e.tokenize(LONG_TEXT)) > 512


def test_long_text_states_match_per_token(jina_12_heads: Path, jina_12_heads_gguf: Path) -> None:
    """Every token past position 512 is right, not only the pooled mean."""
    reference = ReferenceModel.from_checkpoint(jina_12_heads)
    with Embedder(jina_12_heads_gguf, device="cpu") as e:
        ids = e.tokenize(LONG_TEXT)
        spans = [(i, i + 1) for i in range(0, len(ids) - 2, 97)]
        got = e.embed_late_chunks(LONG_TEXT, spans, unit="token")
    states = reference.token_states(ids)
    for (start, _), vector in zip(spans, got, strict=True):
        assert _cosine(vector, states[start + 1]) >= 0.9999


def test_bert_gguf_matches_the_reference(bert_tiny: Path, bert_tiny_gguf: Path) -> None:
    reference = ReferenceModel.from_checkpoint(bert_tiny)
    with Embedder(bert_tiny_gguf, device="cpu") as e:
        assert e.max_tokens == 512
        for text in ["Hello world!", PROBES["paragraph"]]:
            ids = e.tokenize(text)
            assert ids == reference.tokenize(text)
            assert _cosine(e.embed(text), reference.token_states(ids).mean(axis=0)) >= 0.9999


def test_qk_post_norm_checkpoint_converts_and_matches(tmp_path: Path) -> None:
    checkpoint = write_checkpoint(tmp_path / "ck", shape=SHAPES["tiny"], variant="code", seed=5)
    report = convert_checkpoint(checkpoint, tmp_path / "m.gguf", output_type="f32")
    assert report.verification is not None and report.verification.status == "ok"
    assert report.verification.min_cosine >= 0.9999


def test_sharded_checkpoint_gives_the_same_file_contents(tmp_path: Path) -> None:
    single = write_checkpoint(tmp_path / "one", shape=SHAPES["tiny"], seed=7)
    sharded = write_checkpoint(tmp_path / "three", shape=SHAPES["tiny"], seed=7, shards=3)
    assert (sharded / "model.safetensors.index.json").is_file()
    a = convert_checkpoint(single, tmp_path / "a.gguf", output_type="f32", verify=False)
    b = convert_checkpoint(sharded, tmp_path / "b.gguf", output_type="f32", verify=False)
    with Embedder(a.output, device="cpu") as ea, Embedder(b.output, device="cpu") as eb:
        np.testing.assert_array_equal(ea.embed(PROBES["paragraph"]), eb.embed(PROBES["paragraph"]))


def test_metadata_records_origin_and_settings(jina_tiny: Path, tmp_path: Path) -> None:
    report = convert_checkpoint(
        jina_tiny, tmp_path / "m.gguf", output_type="q8_0", model_name="tiny-test",
        source_repo="jinaai/jina-embeddings-v2-small-en", source_revision="abc123",
    )
    info = read_model_file(report.output)
    assert info.architecture == "jina-bert-v2"
    assert info.name == "tiny-test"
    assert info.pooling == "mean"
    assert info.context_length == 8192
    assert info.file_type == "q8_0"
    meta = info.metadata
    assert meta["jina-bert-v2.attention.causal"] is False
    assert meta["tokenizer.ggml.model"] == "bert"
    assert meta["tokenizer.ggml.pre"] == "jina-v2-en"
    assert meta["tokenizer.ggml.bos_token_id"] == 101  # [CLS]
    assert meta["tokenizer.ggml.seperator_token_id"] == 102  # [SEP]
    assert meta["tokenizer.ggml.unknown_token_id"] == 100
    assert meta["tokenizer.ggml.padding_token_id"] == 0
    assert meta["tokenizer.ggml.mask_token_id"] == 103
    assert meta["jina_edge.source.repository"] == "jinaai/jina-embeddings-v2-small-en"
    assert meta["jina_edge.source.revision"] == "abc123"
    weights = (jina_tiny / "model.safetensors").read_bytes()
    assert meta[KEY_SOURCE_SHA256] == hashlib.sha256(weights).hexdigest()
    assert meta[KEY_CONVERTER_VERSION]


def test_hub_cache_snapshot_gives_repo_and_revision(tmp_path: Path) -> None:
    snapshot = tmp_path / "models--jinaai--jina-embeddings-v2-small-en" / "snapshots" / "f00d"
    write_checkpoint(snapshot, shape=SHAPES["tiny"])
    report = convert_checkpoint(snapshot, tmp_path / "m.gguf", output_type="f32", verify=False)
    meta = read_model_file(report.output).metadata
    assert meta["jina_edge.source.repository"] == "jinaai/jina-embeddings-v2-small-en"
    assert meta["jina_edge.source.revision"] == "f00d"


@pytest.mark.parametrize("output_type", sorted(OUTPUT_TYPES))
def test_every_output_type_converts_and_verifies(
    output_type: str, jina_12_heads: Path, tmp_path: Path
) -> None:
    report = convert_checkpoint(jina_12_heads, tmp_path / "m.gguf", output_type=output_type)
    assert report.output.is_file()
    assert report.verification is not None
    assert report.verification.status != "fail"
    assert all(p.tokens_match for p in report.verification.probes)
    assert list(tmp_path.iterdir()) == [report.output]  # no temporary files left


def test_bert_cls_pooling_from_sentence_transformers_config(tmp_path: Path) -> None:
    checkpoint = write_checkpoint(tmp_path / "ck", shape=SHAPES["tiny"], variant="bert", seed=3)
    (checkpoint / "1_Pooling").mkdir()
    (checkpoint / "1_Pooling" / "config.json").write_text(
        '{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}'
    )
    report = convert_checkpoint(checkpoint, tmp_path / "m.gguf", output_type="f32")
    assert read_model_file(report.output).pooling == "cls"
    assert report.verification is not None and report.verification.status == "ok"
    reference = ReferenceModel.from_checkpoint(checkpoint)
    with Embedder(report.output, device="cpu") as e:
        ids = e.tokenize("a pooled sentence")
        assert _cosine(e.embed("a pooled sentence"), reference.token_states(ids)[0]) >= 0.9999


def test_progress_callback_reports_every_stage(jina_tiny: Path, tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    convert_checkpoint(jina_tiny, tmp_path / "m.gguf", output_type="q8_0",
                       progress=lambda stage, done, total: calls.append((stage, done, total)))
    stages = list(dict.fromkeys(stage for stage, _, _ in calls))
    assert stages == ["write", "verify"]  # gguf-py writes q8_0 itself
    calls.clear()
    convert_checkpoint(jina_tiny, tmp_path / "k.gguf", output_type="q4_k_m",
                       progress=lambda stage, done, total: calls.append((stage, done, total)))
    stages = list(dict.fromkeys(stage for stage, _, _ in calls))
    assert stages == ["write", "quantize", "verify"]  # llama.cpp's quantizer
    for stage in stages:
        last = [c for c in calls if c[0] == stage][-1]
        assert last[1] == last[2] > 0


def test_verification_runs_on_the_configured_engine(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # The Raspberry Pi kit configures llama.cpp alone: an ONNX Runtime graph costs
    # a float32 copy of the weights, and under the emulated Pi 4 importing
    # onnxruntime crashed the import.
    from jina_edge.engines import onnx_runtime

    monkeypatch.setenv("JINA_EDGE_ENGINE", "llama.cpp")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("verification opened ONNX Runtime")

    monkeypatch.setattr(onnx_runtime, "open_for", refuse)
    checkpoint = write_checkpoint(tmp_path / "jina", shape=SHAPES["tiny"])
    report = convert_checkpoint(checkpoint, tmp_path / "m.gguf", output_type="f32")
    assert report.verification is not None and report.verification.status == "ok"
