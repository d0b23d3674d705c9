"""jina-reranker-v1 checkpoints: conversion, the head, and scores against the reference."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import gguf
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from tokenizers import Tokenizer

from jina_edge import Reranker
from jina_edge.convert import convert_checkpoint
from jina_edge.convert.architectures import ArchitectureConverter
from jina_edge.convert.reference import ReferenceModel
from jina_edge.convert.synthetic import SHAPES, write_checkpoint
from jina_edge.convert.verify import PROBES, RERANK_QUERY
from jina_edge.errors import CheckpointError, UnsupportedModelError
from jina_edge.models.modelfile import (
    RERANKER_CLASSIFIER_BIAS,
    RERANKER_CLASSIFIER_WEIGHT,
    RERANKER_POOLER_BIAS,
    RERANKER_POOLER_WEIGHT,
    read_model_file,
)

DOCUMENTS = [PROBES["short"], PROBES["unicode"], PROBES["code"], PROBES["long"]]


def _fields(path: Path) -> dict[str, object]:
    reader = gguf.GGUFReader(path)
    return {name: field.contents() for name, field in reader.fields.items()}


def test_f32_scores_and_token_ids_match_the_reference(reranker_checkpoint: Path,
                                                      reranker_gguf: Path) -> None:
    reference = ReferenceModel.from_checkpoint(reranker_checkpoint)
    with Reranker(reranker_gguf, device="cpu", long_input="error") as reranker:
        assert len(reranker.tokenize_pair(RERANK_QUERY, PROBES["long"])) > 512
        results = reranker.score(RERANK_QUERY, DOCUMENTS)
        for document, result in zip(DOCUMENTS, results, strict=True):
            ids = reranker.tokenize_pair(RERANK_QUERY, document)
            assert ids == reference.tokenize_pair(RERANK_QUERY, document)
            assert result.logit == pytest.approx(reference.score(ids), abs=0.02)
            assert result.score == pytest.approx(1 / (1 + np.exp(-result.logit)))
    logits = [r.logit for r in results]
    assert max(logits) - min(logits) > 0.1  # the probes do not all score alike


def test_pairs_are_joined_as_roberta_does(reranker_checkpoint: Path, reranker_gguf: Path) -> None:
    """<s> query </s></s> document </s>, with each text tokenized on its own."""
    tokenizer = Tokenizer.from_file(str(reranker_checkpoint / "tokenizer.json"))
    s, e = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    query, document = "Who sized the pump?", "We sized the pump for twelve litres."
    own = [tokenizer.encode(t, add_special_tokens=False).ids for t in (query, document)]
    with Reranker(reranker_gguf, device="cpu") as reranker:
        assert reranker.tokenize_pair(query, document) == [s, *own[0], e, e, *own[1], e]


def test_the_gguf_has_cls_tensors_for_llama_cpp_and_the_whole_head_in_metadata(
        reranker_checkpoint: Path, reranker_gguf: Path) -> None:
    tensors = {t.name: t for t in gguf.GGUFReader(reranker_gguf).tensors}
    assert "cls.output.weight" not in tensors and not any("pooler" in n for n in tensors)
    weights = load_file(str(reranker_checkpoint / "model.safetensors"))
    assert list(tensors["cls.weight"].shape) == [48, 1]
    np.testing.assert_array_equal(np.asarray(tensors["cls.weight"].data).ravel(),
                                  weights["classifier.weight"].ravel())
    info = read_model_file(reranker_gguf)
    assert info.kind == "reranker" and info.pooling == "cls"
    head = info.reranker_head
    assert head is not None
    np.testing.assert_array_equal(head.pooler_weight, weights["bert.pooler.dense.weight"])
    np.testing.assert_array_equal(head.pooler_bias, weights["bert.pooler.dense.bias"])
    np.testing.assert_array_equal(head.classifier_weight, weights["classifier.weight"][0])
    assert head.classifier_bias == float(weights["classifier.bias"][0])


def test_quantizing_keeps_the_head(reranker_checkpoint: Path, reranker_gguf: Path,
                                   tmp_path: Path) -> None:
    report = convert_checkpoint(reranker_checkpoint, tmp_path / "q.gguf", output_type="q8_0")
    assert report.verification is not None and report.verification.status == "ok"
    assert all(p.score_error is not None and p.score_error < 0.15
               for p in report.verification.probes)
    quantized, f32 = (read_model_file(p).reranker_head for p in (report.output, reranker_gguf))
    assert quantized is not None and f32 is not None
    np.testing.assert_array_equal(quantized.pooler_weight, f32.pooler_weight)
    assert "score Δ" in report.verification.table()


def _without_pooler(self: ArchitectureConverter, writer: gguf.GGUFWriter) -> None:
    """The head as llama.cpp runs it: no pooler (an identity matrix, no bias)."""
    classifier = self.checkpoint.tensor(self._names["classifier.weight"])
    bias = self.checkpoint.tensor(self._names["classifier.bias"])
    for key, values in ((RERANKER_POOLER_WEIGHT, np.eye(self.hidden)),
                        (RERANKER_POOLER_BIAS, np.zeros(self.hidden)),
                        (RERANKER_CLASSIFIER_WEIGHT, classifier), (RERANKER_CLASSIFIER_BIAS, bias)):
        writer.add_array(key, values.ravel().tolist())


def test_verification_fails_a_head_without_the_pooler(reranker_checkpoint: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ArchitectureConverter, "write_head", _without_pooler)
    report = convert_checkpoint(reranker_checkpoint, tmp_path / "bad.gguf", output_type="f32",
                                verify=False)
    from jina_edge.convert.verify import verify_model

    verification = verify_model(report.output, reranker_checkpoint, "f32")
    assert verification.status == "fail"
    assert "scores differ" in verification.message
    assert verification.min_cosine > 0.9999  # the encoder is right; only the head is not


def _rank_pooling_score(path: Path, ids: list[int]) -> float:
    """What plain llama.cpp gives for a pair with --pooling rank (llama-server's /v1/rerank)."""
    from jina_edge.engines.llama_cpp import _llama

    llama_cpp = _llama()
    model_params = llama_cpp.llama_model_default_params()
    model_params.n_gpu_layers = 0
    model = llama_cpp.llama_model_load_from_file(str(path).encode(), model_params)
    params = llama_cpp.llama_context_default_params()
    params.n_ctx = params.n_batch = params.n_ubatch = 512
    params.embeddings = True
    params.pooling_type = llama_cpp.LLAMA_POOLING_TYPE_RANK
    params.attention_type = llama_cpp.LLAMA_ATTENTION_TYPE_NON_CAUSAL
    ctx = llama_cpp.llama_init_from_model(model, params)
    batch = llama_cpp.llama_batch_init(512, 0, 1)
    try:
        for i, token in enumerate(ids):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, i, 1
            batch.seq_id[i][0], batch.logits[i] = 0, 1
        batch.n_tokens = len(ids)
        assert llama_cpp.llama_decode(ctx, batch) == 0
        return float(llama_cpp.llama_get_embeddings_seq(ctx, 0)[0])
    finally:
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(ctx)
        llama_cpp.llama_model_free(model)


def test_plain_llama_cpp_rank_pooling_skips_the_pooler(reranker_checkpoint: Path,
                                                       reranker_gguf: Path) -> None:
    """llama.cpp's RANK pooling on our file: tanh(w_c . h_CLS + b), not the original's score."""
    reference = ReferenceModel.from_checkpoint(reranker_checkpoint)
    with Reranker(reranker_gguf, device="cpu") as reranker:
        ids = reranker.tokenize_pair(RERANK_QUERY, PROBES["paragraph"])
        logits, states = reranker.score_ids([ids])
        head = reranker.info.reranker_head
    assert head is not None
    rank = _rank_pooling_score(reranker_gguf, ids)
    h = states[0].astype(np.float64)
    assert rank == pytest.approx(np.tanh(h @ head.classifier_weight + head.classifier_bias),
                                 abs=1e-4)
    assert abs(rank - reference.score(ids)) > 0.1
    assert float(logits[0]) == pytest.approx(reference.score(ids), abs=0.02)


@pytest.fixture
def layout(tmp_path: Path, reranker_checkpoint: Path) -> Iterator[Path]:
    out = tmp_path / "ck"
    out.mkdir()
    for f in reranker_checkpoint.iterdir():
        (out / f.name).write_bytes(f.read_bytes())
    yield out


def _edit_weights(checkpoint: Path, edit: dict[str, np.ndarray | None]) -> None:
    path = checkpoint / "model.safetensors"
    tensors = load_file(str(path))
    for name, value in edit.items():
        if value is None:
            tensors.pop(name)
        else:
            tensors[name] = value
    save_file(tensors, str(path))


def test_a_classifier_with_two_labels_is_refused(layout: Path, tmp_path: Path) -> None:
    _edit_weights(layout, {"classifier.weight": np.zeros((2, 48), np.float32),
                           "classifier.bias": np.zeros(2, np.float32)})
    with pytest.raises(UnsupportedModelError, match="2 labels"):
        convert_checkpoint(layout, tmp_path / "x.gguf")


def test_a_reranker_without_its_pooler_is_refused(layout: Path, tmp_path: Path) -> None:
    _edit_weights(layout, {"bert.pooler.dense.weight": None})
    with pytest.raises(CheckpointError, match="pooler.dense.weight"):
        convert_checkpoint(layout, tmp_path / "x.gguf")


def test_the_synthetic_reranker_has_the_real_layout(reranker_checkpoint: Path) -> None:
    config = json.loads((reranker_checkpoint / "config.json").read_text())
    # As published (jina-reranker-v1-tiny-en's config.json): the bare model named.
    assert config["architectures"] == ["JinaBertModel"]
    assert config["torch_dtype"] == "float16" and config["vocab_size"] == 61056
    assert "id2label" not in config  # as the real ones: users pass num_labels=1
    tensors = load_file(str(reranker_checkpoint / "model.safetensors"))
    assert {"bert.pooler.dense.weight", "classifier.weight",
            "bert.encoder.layer.0.mlp.gated_layers.weight"} <= set(tensors)
    assert all(t.dtype == np.float16 for t in tensors.values())
    assert RERANKER_POOLER_WEIGHT.startswith("jina_edge.")


def test_real_reranker_sizes_give_the_published_parameter_count() -> None:
    """turbo: 37,771,777 parameters (safetensors metadata) with a 61,056-token vocabulary."""
    shape = SHAPES["reranker-turbo"]
    h, inter = shape.hidden, shape.intermediate
    per_layer = 4 * (h * h + h) + 2 * 2 * h + 2 * inter * h + inter * h + h
    total = 61056 * h + 2 * h + 2 * h + shape.layers * per_layer + h * h + h + h + 1
    assert total == 37_771_777


def test_tiny_size_checkpoint_converts(tmp_path: Path) -> None:
    """The real tiny-en dimensions (384 wide, 12 heads of 32), short window to stay quick."""
    checkpoint = write_checkpoint(tmp_path / "ck", shape=SHAPES["reranker-tiny"],
                                  variant="reranker", max_positions=128)
    report = convert_checkpoint(checkpoint, tmp_path / "t.gguf", output_type="f16")
    assert report.verification is not None and report.verification.status == "ok"


def test_a_reranker_whose_config_names_the_classifier_converts_as_a_reranker(
        layout: Path, tmp_path: Path) -> None:
    # The published config.json files name the bare JinaBertModel (the fixture's, and
    # tests/convert/test_real_files.py); one saved from the loaded
    # JinaBertForSequenceClassification names that class.
    config = json.loads((layout / "config.json").read_text())
    assert config["architectures"] == ["JinaBertModel"]
    config["architectures"] = ["JinaBertForSequenceClassification"]
    (layout / "config.json").write_text(json.dumps(config))
    report = convert_checkpoint(layout, tmp_path / "r.gguf", output_type="f32")
    assert report.verification is not None and report.verification.status == "ok"
    assert read_model_file(tmp_path / "r.gguf").kind == "reranker"
