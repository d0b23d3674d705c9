"""The ONNX graph the benchmark gives ONNX Runtime computes what the reference computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from jina_edge.convert import onnx_graph
from jina_edge.convert.onnx_graph import write_onnx
from jina_edge.convert.reference import ReferenceModel
from jina_edge.convert.synthetic import SHAPES, write_checkpoint


@pytest.mark.parametrize(("family", "block"), [("jina", None), ("jina", 16), ("bert", None)])
def test_onnx_graph_matches_the_reference(tmp_path: Path, family: str, block: int | None,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    if block is not None:  # JinaBERT's queries in blocks of 16: 4 blocks, the last one padded
        monkeypatch.setattr(onnx_graph, "QUERY_BLOCK", block)
    checkpoint = write_checkpoint(tmp_path / family, shape=SHAPES["tiny"], family=family)
    session = ort.InferenceSession(str(write_onnx(checkpoint, tmp_path / "m.onnx")),
                                   providers=["CPUExecutionProvider"])
    reference = ReferenceModel.from_checkpoint(checkpoint)
    texts = ["hello world", "pumps move water uphill " * 12]
    tokens = [reference.tokenize(t) for t in texts]
    width = max(map(len, tokens))
    assert block is None or 3 * block < width < 4 * block
    ids = np.zeros((2, width), np.int64)
    mask = np.zeros((2, width), np.int64)
    for row, t in enumerate(tokens):  # the short text padded: the mask must hide the padding
        ids[row, :len(t)] = t
        mask[row, :len(t)] = 1
    states = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    for row, t in enumerate(tokens):
        expected = reference.token_states(t)
        assert np.abs(states[row, :len(t)] - expected).max() < 1e-4
