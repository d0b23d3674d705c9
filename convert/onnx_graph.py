"""An ONNX graph of a BERT or JinaBERT v2 checkpoint, for ONNX Runtime.

Built from the Hugging Face weights with the `onnx` package (no torch), so
that ONNX Runtime can be measured on exactly the weights our GGUF holds
(benchmarks/bench_runtime.py). The graph takes `input_ids` and
`attention_mask` (int64, batch x tokens) and returns the last hidden states
(`token_states`, float32, batch x tokens x hidden); pooling is the caller's.
JinaBERT's ALiBi bias is computed in the graph from the sequence length.
Only the layouts of jina-bert-implementation and plain BERT are built.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from jina_edge.convert.reference import _read_weights, alibi_slopes
from jina_edge.errors import UnsupportedModelError

OPSET = 17  # LayerNormalization


def write_onnx(checkpoint: Path, out: Path) -> Path:
    """Write the ONNX graph of the checkpoint directory to `out` (weights inside)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    config = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    weights = _read_weights(checkpoint)
    jina = any(a.startswith("JinaBert") for a in config.get("architectures", []))
    if "encoder.layer.0.mlp.up_gated_layer.weight" in weights:
        raise UnsupportedModelError("the ONNX graph is built for the jina-bert-implementation "
                                    "layout only, not qk-post-norm (base-code)")
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    layers = int(config["num_hidden_layers"])
    inter = int(config["intermediate_size"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    head_dim = hidden // heads
    nodes: list[Any] = []
    inits: list[Any] = []
    count = [0]

    def const(value: np.ndarray, name: str | None = None) -> str:
        count[0] += 1
        name = name or f"c{count[0]}"
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(kind: str, *inputs: str, **attrs: Any) -> str:
        count[0] += 1
        out_name = f"t{count[0]}"
        nodes.append(helper.make_node(kind, list(inputs), [out_name], **attrs))
        return out_name

    def w(name: str) -> np.ndarray:
        return np.asarray(weights[name], np.float32)

    def linear(x: str, prefix: str, bias: bool = True) -> str:
        y = op("MatMul", x, const(w(prefix + ".weight").T))
        return op("Add", y, const(w(prefix + ".bias"))) if bias else y

    def norm(x: str, prefix: str) -> str:
        return op("LayerNormalization", x, const(w(prefix + ".weight")),
                  const(w(prefix + ".bias")), axis=-1, epsilon=eps)

    def gelu(x: str) -> str:  # exact GELU: 0.5 x (1 + erf(x / sqrt 2))
        e = op("Erf", op("Mul", x, const(np.float32(1 / math.sqrt(2)))))
        return op("Mul", op("Mul", x, const(np.float32(0.5))),
                  op("Add", e, const(np.float32(1.0))))

    ids, mask = "input_ids", "attention_mask"
    x = op("Gather", const(w("embeddings.word_embeddings.weight")), ids)
    x = op("Add", x, const(w("embeddings.token_type_embeddings.weight")[0]))
    n = op("Shape", ids, start=1, end=2)  # [tokens per row]
    if not jina:  # the first n position embeddings
        x = op("Add", x, op("Slice", const(w("embeddings.position_embeddings.weight")),
                            const(np.asarray([0], np.int64)), n))
    x = norm(x, "embeddings.LayerNorm")
    # Additive attention bias: padding (batch x 1 x 1 x tokens), plus ALiBi
    # (heads x tokens x tokens) for JinaBERT: -slope * |i - j|.
    keep = op("Cast", op("Unsqueeze", mask, const(np.asarray([1, 2], np.int64))),
              to=TensorProto.FLOAT)
    bias = op("Mul", op("Sub", keep, const(np.float32(1.0))), const(np.float32(1e4)))
    if jina:
        positions = op("Range", const(np.int64(0)), op("Squeeze", n), const(np.int64(1)))
        p = op("Cast", positions, to=TensorProto.FLOAT)
        distance = op("Abs", op("Sub", op("Unsqueeze", p, const(np.asarray([1], np.int64))),
                                op("Unsqueeze", p, const(np.asarray([0], np.int64)))))
        slopes = -np.asarray(alibi_slopes(heads), np.float32).reshape(heads, 1, 1)
        bias = op("Add", bias, op("Mul", distance, const(slopes)))
    split_heads = const(np.asarray([0, 0, heads, head_dim], np.int64))
    merge_heads = const(np.asarray([0, 0, hidden], np.int64))
    scale = const(np.float32(1 / math.sqrt(head_dim)))
    for layer in range(layers):
        prefix = f"encoder.layer.{layer}."

        def heads_of(name: str, x: str = x, prefix: str = prefix) -> str:
            projected = linear(x, prefix + "attention.self." + name)
            return op("Transpose", op("Reshape", projected, split_heads), perm=[0, 2, 1, 3])

        q, k, v = heads_of("query"), heads_of("key"), heads_of("value")
        scores = op("Mul", op("MatMul", q, op("Transpose", k, perm=[0, 1, 3, 2])), scale)
        attention = op("Softmax", op("Add", scores, bias), axis=-1)
        context = op("Reshape", op("Transpose", op("MatMul", attention, v), perm=[0, 2, 1, 3]),
                     merge_heads)
        a = norm(op("Add", linear(context, prefix + "attention.output.dense"), x),
                 prefix + "attention.output.LayerNorm")
        if jina:  # [gate; up]: GELU of the first half gates the second half
            h = linear(a, prefix + "mlp.gated_layers", bias=False)
            gate = op("Slice", h, const(np.asarray([0], np.int64)),
                      const(np.asarray([inter], np.int64)), const(np.asarray([-1], np.int64)))
            up = op("Slice", h, const(np.asarray([inter], np.int64)),
                    const(np.asarray([2 * inter], np.int64)), const(np.asarray([-1], np.int64)))
            x = norm(op("Add", linear(op("Mul", gelu(gate), up), prefix + "mlp.wo"), a),
                     prefix + "mlp.layernorm")
        else:
            h = gelu(linear(a, prefix + "intermediate.dense"))
            x = norm(op("Add", linear(h, prefix + "output.dense"), a),
                     prefix + "output.LayerNorm")
    nodes.append(helper.make_node("Identity", [x], ["token_states"]))
    graph = helper.make_graph(
        nodes, "jina_edge",
        [helper.make_tensor_value_info(ids, TensorProto.INT64, ["batch", "tokens"]),
         helper.make_tensor_value_info(mask, TensorProto.INT64, ["batch", "tokens"])],
        [helper.make_tensor_value_info("token_states", TensorProto.FLOAT,
                                       ["batch", "tokens", hidden])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out
