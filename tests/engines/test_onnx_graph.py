"""The ONNX graphs compute what the reference computes (int8: within q8_0-like error)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from jina_edge.convert import convert_checkpoint
from jina_edge.convert.reference import ReferenceModel, alibi_slopes
from jina_edge.convert.synthetic import SHAPES, VARIANTS, write_checkpoint
from jina_edge.engines import onnx_graph
from jina_edge.engines.cpu import WEIGHT_TYPES, int8_weight_type, integer_matmul
from jina_edge.engines.onnx_graph import write_onnx, write_onnx_from_gguf

FIRST_OF_EACH_FAMILY = list({v.family: name for name, v in reversed(VARIANTS.items())}.values())


# One variant of each family, and the query-block and long-input paths.
@pytest.mark.parametrize(("variant", "block", "banded"),
                         [(v, None, False) for v in FIRST_OF_EACH_FAMILY]
                         + [("en", 16, False), ("en", 16, True), ("code", 16, True)])
def test_onnx_graph_matches_the_reference(tmp_path: Path, variant: str, block: int | None,
                                          banded: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    repeats = 12
    if block is not None:  # JinaBERT's queries in blocks of 16: 4 blocks, the last one padded
        monkeypatch.setattr(onnx_graph, "QUERY_BLOCK", block)
    if banded:  # the long-input path: heads 0 and 1 (of 4) read 80 and 320 keys of 500
        monkeypatch.setattr(onnx_graph, "BANDED_FROM", 64)
        monkeypatch.setattr(onnx_graph, "ALIBI_REACH", 20.0)
        assert onnx_graph._head_groups(alibi_slopes(4)) == [(0, 1, 80), (1, 2, 320),
                                                            (2, 3, 1280), (3, 4, None)]
        repeats = 100
    checkpoint = write_checkpoint(tmp_path / variant, shape=SHAPES["tiny"], variant=variant)
    session = ort.InferenceSession(str(write_onnx(checkpoint, tmp_path / "m.onnx")),
                                   providers=["CPUExecutionProvider"])
    reference = ReferenceModel.from_checkpoint(checkpoint)
    texts = ["hello world", "pumps move water uphill " * repeats]
    tokens = [reference.tokenize(t) for t in texts]
    width = max(map(len, tokens))
    assert block is None or banded or 3 * block < width < 4 * block
    assert not banded or width > 400
    ids = np.zeros((2, width), np.int64)
    mask = np.zeros((2, width), np.int64)
    for row, t in enumerate(tokens):  # the short text padded: the mask must hide the padding
        ids[row, :len(t)] = t
        mask[row, :len(t)] = 1
    states = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    for row, t in enumerate(tokens):
        expected = reference.token_states(t)
        assert np.abs(states[row, :len(t)] - expected).max() < 1e-4


# uint8 weights, which every CPU multiplies exactly, and int8 where this CPU
# does (it gets the int8 graph); int8 saturates on x86 without VNNI (cpu.py).
@pytest.mark.parametrize("weights", sorted({int8_weight_type() or "u8", "u8"}))
@pytest.mark.parametrize("variant", ["en", "bert", "code"])
def test_int8_graph_stays_close_to_the_reference(tmp_path: Path, variant: str,
                                                 weights: str) -> None:
    # Found: onnxruntime fuses MatMulInteger, Cast and Mul into one op that took a
    # per-token factor for per-channel scales; such a graph was at cosine 0.56.
    checkpoint = write_checkpoint(tmp_path / variant, shape=SHAPES["tiny"], variant=variant)
    gguf = convert_checkpoint(checkpoint, tmp_path / "m.gguf", output_type="q8_0",
                              verify=False).output
    reference = ReferenceModel.from_checkpoint(checkpoint)
    texts = ["hello world", "pumps move water uphill " * 12, "a quiet evening by the lake"]
    calibration = [reference.tokenize(t) for t in ["the cat sat on the mat", "error 404 " * 9]]
    graph = write_onnx_from_gguf(gguf, tmp_path / "m.onnx", int8=weights,  # type: ignore[arg-type]
                                 calibration=calibration)
    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    kinds = {node.op_type for node in onnx.load(str(graph)).graph.node}
    assert {"MatMulInteger", "MatMul"} <= kinds  # int8, and the down projection in float
    for text in texts:
        ids = np.asarray([reference.tokenize(text)], np.int64)
        got = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
        a, b = got.mean(axis=0), reference.token_states(ids[0].tolist()).mean(axis=0)
        assert a @ b / np.linalg.norm(a) / np.linalg.norm(b) > 0.995


@pytest.mark.parametrize("weights", WEIGHT_TYPES)
def test_the_weight_type_chosen_for_this_cpu_multiplies_exactly(weights: str) -> None:
    # The cause of int8's lost quality on AVX2: uint8 x int8 pairs summed into
    # saturating 16 bits. uint8 weights, and int8 where this CPU gets the int8
    # graph, give a product whose pairs overflow 16 bits exactly; elsewhere
    # int8 is off by exactly that saturation.
    rng = np.random.default_rng(1)
    a = rng.integers(129, 256, (32, 96)).astype(np.uint8)  # activations, zero point 128
    b = rng.integers(-127, 128, (96, 24))
    b[:, ::2] = rng.integers(90, 128, (96, 12))  # half the columns near the top of int8
    got = integer_matmul(a, b, weights)  # type: ignore[arg-type]
    exact = (a.astype(np.int64) - 128) @ b
    if weights == "u8" or weights == int8_weight_type():
        assert np.array_equal(got, exact)
    else:
        pairs = (a.astype(np.int64)[:, :, None] * b[None]).reshape(32, 48, 2, 24).sum(axis=2)
        saturated = pairs.clip(-32768, 32767).sum(axis=1) - 128 * b.sum(axis=0)
        assert np.array_equal(got, saturated)


def test_int8_graph_needs_calibration(tmp_path: Path) -> None:
    checkpoint = write_checkpoint(tmp_path / "jina", shape=SHAPES["tiny"])
    gguf = convert_checkpoint(checkpoint, tmp_path / "m.gguf", output_type="q8_0",
                              verify=False).output
    with pytest.raises(ValueError, match="calibration"):
        write_onnx_from_gguf(gguf, tmp_path / "m.onnx", int8="s8")
