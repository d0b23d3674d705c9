"""An ONNX graph of a BERT-family encoder, for ONNX Runtime, built with `onnx` (no torch).

Built from a checkpoint or a GGUF; it maps `input_ids` and `attention_mask` to the
last hidden states (`token_states`). For quantized GGUFs the int8 graph quantizes
weights per output channel and activations per token, with SmoothQuant factors;
the feed-forward down projection stays float32. docs/architecture.md has why.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jina_edge import families
from jina_edge.convert.reference import _read_weights, alibi_slopes
from jina_edge.engines.cpu import WeightType
from jina_edge.errors import BackendError, UnsupportedModelError

OPSET = 17  # LayerNormalization
# Queries per block of JinaBERT's attention: as fast as larger blocks on long
# inputs, with less memory (measured: see docs/performance.md, "Figures behind
# constants in the code").
QUERY_BLOCK = 256
# JinaBERT's heads of steep ALiBi slopes read only keys within ALIBI_REACH /
# slope tokens (_head_groups); one that reaches MAX_REACH reads every key.
# Only inputs longer than BANDED_FROM tokens take that path: below, a group's
# own matmuls cost more than the keys they skip (measured: see docs/performance.md,
# "Steep heads read only the keys in their reach").
ALIBI_REACH = 80.0
MAX_REACH = 4096
BANDED_FROM = 2048
SMOOTHING = 0.5  # SmoothQuant's alpha: s = range(x)^a / range(W)^(1-a)


def write_onnx(checkpoint: Path, out: Path) -> Path:
    """Write the ONNX graph of the checkpoint directory to `out` (weights inside).

    Raises:
        UnsupportedModelError: for a checkpoint of no registered family.
    """
    config = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    hf = _read_weights(checkpoint)
    family = families.family_of(config.get("architectures") or [], hf)
    if family is None:
        raise UnsupportedModelError(f"no model family for {checkpoint}")
    layers, inter = int(config["num_hidden_layers"]), int(config["intermediate_size"])
    weights: dict[str, np.ndarray] = {}
    for role in family.embeddings:
        for kind in ("weight", "bias"):
            if f"{family.hf_name(role)}.{kind}" in hf:
                weights[f"{role}.{kind}"] = hf[f"{family.hf_name(role)}.{kind}"]
    for layer in range(layers):
        for role in family.layer:
            for kind in ("weight", "bias"):
                name = f"{family.hf_name(role, layer)}.{kind}"
                if name in hf:
                    weights[f"blk.{layer}.{role}.{kind}"] = hf[name]
        if family.feed_forward == "geglu-up-first":  # [up; gate] -> [gate; up]
            up = weights[f"blk.{layer}.ffn_up.weight"]
            weights[f"blk.{layer}.ffn_up.weight"] = np.concatenate([up[inter:], up[:inter]])
    shape = _Shape(family.positions == "alibi", int(config["hidden_size"]),
                   int(config["num_attention_heads"]), layers, inter,
                   float(config.get("layer_norm_eps", 1e-12)))
    return _save(_model(weights, shape), out)


# GGUF tensors the graph does not read: a reranker's classifier, whose head the
# runtime applies to the token states itself.
_UNREAD = ("cls.",)


def write_onnx_from_gguf(gguf_path: Path, out: Path, *, int8: WeightType | None = None,
                         calibration: Sequence[Sequence[int]] = ()) -> Path:
    """Write the ONNX graph of a GGUF embedding model to `out`, its weights dequantized.

    `int8`: the int8 graph (see docs/architecture.md) with weights of this
    type, its activation ranges measured on `calibration` (token ids of a few
    texts, at least one); None: the float32 graph.

    Raises:
        UnsupportedModelError: for an architecture or tensor the graph does not cover.
    """
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(gguf_path)
    arch = str(bytes(reader.fields["general.architecture"].parts[-1]), "utf-8")
    if arch not in families.gguf_architectures():
        raise UnsupportedModelError(f"no ONNX graph for the {arch!r} architecture")

    def number(key: str) -> float:
        return float(reader.fields[f"{arch}.{key}"].parts[-1][0])

    known = {*families.EMBEDDING_ROLES, *families.LAYER_ROLES, "ffn_gate"}
    weights: dict[str, np.ndarray] = {}
    for tensor in reader.tensors:
        if tensor.name.startswith(_UNREAD):
            continue
        stem = tensor.name.rsplit(".", 1)[0]
        role = stem.split(".", 2)[2] if stem.startswith("blk.") else stem
        if role not in known:
            raise UnsupportedModelError(f"no ONNX graph for a model with {tensor.name}")
        values = dequantize(tensor.data, tensor.tensor_type)
        weights[tensor.name] = np.asarray(values, np.float32).reshape(
            [int(d) for d in reversed(tensor.shape)])
    layers = int(number("block_count"))
    for layer in range(layers):  # llama.cpp's GELU(gate) * up, as one [gate; up] matrix
        gate = weights.pop(f"blk.{layer}.ffn_gate.weight", None)
        if gate is not None:
            up = f"blk.{layer}.ffn_up.weight"
            weights[up] = np.concatenate([gate, weights[up]])
    shape = _Shape("position_embd.weight" not in weights, int(number("embedding_length")),
                   int(number("attention.head_count")), layers,
                   int(number("feed_forward_length")), number("attention.layer_norm_epsilon"))
    if int8 is None:
        return _save(_model(weights, shape), out)
    if not calibration:
        raise ValueError("the int8 graph needs calibration texts")
    ranges = _activation_ranges(weights, shape, calibration)
    return _save(_model(weights, shape, ranges, weight_type=int8), out)


@dataclass(frozen=True)
class _Shape:
    """The numbers a graph is built from; `alibi`: ALiBi, no position embeddings."""

    alibi: bool
    hidden: int
    heads: int
    layers: int
    inter: int
    eps: float


def _activation_ranges(weights: dict[str, np.ndarray], shape: _Shape,
                       calibration: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
    """Each smoothed matmul's largest input magnitude per channel, over the calibration texts."""
    import onnxruntime as ort

    model = _model(weights, shape, expose_inputs=True)
    ranges: dict[str, np.ndarray] = {}
    try:
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()][1:]
        runs = [session.run(names, {"input_ids": feed, "attention_mask": np.ones_like(feed)})
                for feed in (np.asarray([ids], np.int64) for ids in calibration)]
    except Exception as exc:  # onnxruntime raises its own exception types
        raise BackendError(f"the calibration texts did not run through the graph: {exc}") from exc
    for outputs in runs:  # one text a run: no padding among the measured tokens
        for name, value in zip(names, outputs, strict=True):
            biggest = np.abs(value).reshape(-1, value.shape[-1]).max(axis=0)
            ranges[name] = np.maximum(ranges.get(name, biggest), biggest)
    return ranges


def _head_groups(slopes: np.ndarray) -> list[tuple[int, int, int | None]]:
    """(first head, end head, reach) of each group of JinaBERT's heads.

    ALiBi takes slope * distance from a score, so a key further than
    ALIBI_REACH / slope weighs at most e**-ALIBI_REACH against the query's own
    position unless its score beats that one's by nearly as much: it adds
    nothing a float32 sum can hold. A head of a steep slope reads only the keys
    within its reach (None: every key); those reading every key go together.
    """
    groups: list[tuple[int, int, int | None]] = []
    for h, slope in enumerate(slopes):
        steps = math.ceil(ALIBI_REACH / slope)
        reach = steps if steps < MAX_REACH else None
        if groups and reach is None and groups[-1][2] is None:
            groups[-1] = (groups[-1][0], h + 1, None)
        else:
            groups.append((h, h + 1, reach))
    return groups


def _save(model: Any, out: Path) -> Path:
    import onnx

    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(out)  # never a half-written graph under the real name
    return out


def _model(weights: dict[str, np.ndarray], shape: _Shape,
           ranges: dict[str, np.ndarray] | None = None, *, weight_type: WeightType = "s8",
           expose_inputs: bool = False) -> Any:
    """The graph: float32 without `ranges`; int8 with them (activation ranges by matmul).

    `expose_inputs`: the inputs of the matmuls that int8 smooths are outputs too,
    named as `ranges` keys them (for `_activation_ranges`).
    """
    from onnx import TensorProto, helper, numpy_helper

    alibi, hidden, heads, layers = shape.alibi, shape.hidden, shape.heads, shape.layers
    inter, eps = shape.inter, shape.eps

    head_dim = hidden // heads
    nodes: list[Any] = []
    inits: list[Any] = []
    count = [0]

    def const(value: np.ndarray, name: str | None = None) -> str:
        count[0] += 1
        name = name or f"c{count[0]}"
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(kind: str, *inputs: str, into: list[Any] | None = None, **attrs: Any) -> str:
        count[0] += 1
        out_name = f"t{count[0]}"
        (nodes if into is None else into).append(
            helper.make_node(kind, list(inputs), [out_name], **attrs))
        return out_name

    def i64(*values: int) -> str:
        return const(np.asarray(values, np.int64))

    def w(name: str) -> np.ndarray:
        return np.asarray(weights[name], np.float32)

    exposed: list[Any] = []

    def linear(x: str, prefix: str, bias: bool = True, *, int8: bool = False,
               smooth: bool = False) -> str:
        return matmul(x, w(prefix + ".weight"), w(prefix + ".bias") if bias else None, prefix,
                      int8=int8, smooth=smooth)

    def matmul(x: str, weight: np.ndarray, bias: np.ndarray | None, key: str, *,
               int8: bool, smooth: bool) -> str:
        """The tokens x in matrix x times weight (out x in) transposed, plus bias.

        `int8` (with `ranges`): in int8; `smooth`: x's spread moved into the
        weights first (x is a LayerNorm's output), `key` naming its range.
        """
        if expose_inputs and smooth:
            nodes.append(helper.make_node("Identity", [x], [key]))
            exposed.append(helper.make_tensor_value_info(key, TensorProto.FLOAT, [None, hidden]))
        if ranges is None or not int8:
            y = op("MatMul", x, const(weight.T))
        else:
            if smooth:
                spread = np.maximum(ranges[key], 1e-5) ** SMOOTHING / np.maximum(
                    np.abs(weight).max(axis=0), 1e-8) ** (1 - SMOOTHING)
                x = op("Mul", x, const((1 / spread).astype(np.float32)))
                weight = weight * spread
            y = int8_matmul(x, weight)
        return y if bias is None else op("Add", y, const(bias))

    def int8_matmul(x: str, weight: np.ndarray) -> str:
        """`matmul` without bias, x rounded per token and weight per output channel.

        Both symmetric: x in uint8 around 128, the weight in int8 or, for
        `weight_type` "u8", in uint8 around 128 (cpu.py says when each is exact).
        """
        channel = np.abs(weight).max(axis=1) / 127
        channel[channel == 0] = 1
        q = np.round(weight / channel[:, None]).astype(np.int8).T
        biggest = op("ReduceMax", op("Abs", x), axes=[-1], keepdims=1)  # tokens x 1
        token = op("Mul", op("Max", biggest, const(np.float32(1e-30))), const(np.float32(1 / 127)))
        flat = op("Reshape", token, i64(-1))
        zero = op("Expand", const(np.uint8(128)), op("Shape", flat))
        quantized = op("QuantizeLinear", x, flat, zero, axis=0)
        if weight_type == "u8":
            y = op("MatMulInteger", quantized, const((q.astype(np.int16) + 128).astype(np.uint8)),
                   const(np.uint8(128)), const(np.uint8(128)))
        else:
            y = op("MatMulInteger", quantized, const(q), const(np.uint8(128)))
        # Channel scales first: onnxruntime fuses MatMulInteger, Cast and a Mul
        # into one op that takes the Mul's factor for per-channel scales (a
        # tokens x channels factor there gave wrong vectors, onnxruntime 1.32).
        y = op("Mul", op("Cast", y, to=TensorProto.FLOAT), const(channel.astype(np.float32)))
        return op("Mul", y, token)

    def norm(x: str, prefix: str) -> str:
        return op("LayerNormalization", x, const(w(prefix + ".weight")),
                  const(w(prefix + ".bias")), axis=-1, epsilon=eps)

    def qk_norm(x: str, prefix: str) -> str:
        """The Q or K projection x through its LayerNorm `prefix`, where the model has one.

        As llama.cpp: a norm whose weight the file holds is applied, with its
        bias where there is one.
        """
        if prefix + ".weight" not in weights:
            return x
        bias = weights.get(prefix + ".bias")
        return op("LayerNormalization", x, const(w(prefix + ".weight")),
                  const(np.zeros(hidden, np.float32) if bias is None else w(prefix + ".bias")),
                  axis=-1, epsilon=eps)

    def gelu(x: str) -> str:  # exact GELU: 0.5 x (1 + erf(x / sqrt 2))
        e = op("Erf", op("Mul", x, const(np.float32(1 / math.sqrt(2)))))
        return op("Mul", op("Mul", x, const(np.float32(0.5))),
                  op("Add", e, const(np.float32(1.0))))

    ids, mask = "input_ids", "attention_mask"
    x = op("Gather", const(w("token_embd.weight")), ids)
    x = op("Add", x, const(w("token_types.weight")[0]))
    n = op("Shape", ids, start=1, end=2)  # [tokens per row]
    if not alibi:  # the first n position embeddings
        x = op("Add", x, op("Slice", const(w("position_embd.weight")),
                            const(np.asarray([0], np.int64)), n))
    # Tokens x hidden from here on: a token's int8 scale is one row's.
    x = op("Reshape", norm(x, "token_embd_norm"), i64(-1, hidden))
    # Additive attention bias: padding (batch x 1 x 1 x tokens) for BERT; for
    # JinaBERT, ALiBi's -slope * |i - j| made for one block of queries at a
    # time, a padding key's distance made huge (one pass over the block's
    # heads x queries x keys instead of two).
    padding = op("Sub", const(np.float32(1.0)), op("Cast", mask, to=TensorProto.FLOAT))
    bias = op("Mul", op("Unsqueeze", padding, i64(1, 2)), const(np.float32(-1e4)))
    split_heads = op("Concat", op("Shape", ids), i64(heads, head_dim), axis=0)
    merge_heads = i64(-1, hidden)
    scale = const(np.float32(1 / math.sqrt(head_dim)))
    if alibi:
        # Queries in blocks of QUERY_BLOCK (fewer tokens: one block of all), so a
        # block's scores are heads x block x tokens, never heads x tokens x tokens
        # (8,192 tokens: 2 GB per layer for small-en's 8 heads).
        block = op("Min", n, i64(QUERY_BLOCK))
        blocks = op("Div", op("Sub", op("Add", n, block), i64(1)), block)  # ceil(n / block)
        padded = op("Mul", blocks, block)
        p = op("Cast", op("Range", const(np.int64(0)), op("Squeeze", padded), const(np.int64(1))),
               to=TensorProto.FLOAT)
        key_positions = op("Slice", p, i64(0), n)
        query_positions = op("Reshape", p, op("Concat", blocks, block, axis=0))
        slopes = np.asarray(alibi_slopes(heads), np.float32)
        head_groups = _head_groups(slopes)
        long_input = op("Squeeze", op("Greater", n, i64(BANDED_FROM)))  # a boolean scalar
        key_far = op("Mul", op("Unsqueeze", padding, i64(1)), const(np.float32(1e9)))  # b x 1 x n
        query_pad = op("Concat", i64(0, 0, 0, 0, 0, 0), op("Sub", padded, n), i64(0), axis=0)
        to_blocks = op("Concat", i64(0, 0), blocks, block, i64(head_dim), axis=0)
        from_blocks = i64(0, 0, -1, head_dim)

    def attend(q: str, k: str, v: str) -> str:
        """Attention of q, k, v (batch x heads x tokens x head_dim)."""
        k_t = op("Transpose", k, perm=[0, 1, 3, 2])
        if not alibi:
            scores = op("Mul", op("MatMul", q, k_t), scale)
            return op("MatMul", op("Softmax", op("Add", scores, bias), axis=-1), v)
        q_blocks = op("Reshape", op("Pad", op("Mul", q, scale), query_pad), to_blocks)
        every: list[tuple[int, int, int | None]] = [(0, heads, None)]
        if head_groups == every:
            nodes.extend(scan(q_blocks, k_t, v, every))
            out = nodes[-1].output[0]
        else:  # long inputs: each steep head reads only the keys within its reach
            branches = {}
            for name, groups in (("then", head_groups), ("else", every)):
                scanned = scan(q_blocks, k_t, v, groups)
                branches[f"{name}_branch"] = helper.make_graph(
                    scanned, f"{name}{count[0]}", [],
                    [helper.make_tensor_value_info(scanned[-1].output[0], TensorProto.FLOAT,
                                                   None)])
            out = op("If", long_input, **branches)
        return op("Slice", op("Reshape", out, from_blocks), i64(0), n, i64(2))

    def scan(q_blocks: str, k_t: str, v: str,
             groups: list[tuple[int, int, int | None]]) -> list[Any]:
        """The nodes of attention block by block, the Scan's output last.

        `groups` are (first head, end head, reach) as `_head_groups` makes them.
        """
        outer: list[Any] = []  # nodes before the Scan: each group's keys and values
        body: list[Any] = []
        q_block, position = f"qb{count[0]}", f"qp{count[0]}"
        first = op("Cast", op("Slice", position, i64(0), i64(1), into=body), to=TensorProto.INT64,
                   into=body)  # the block's first query
        full: str | None = None  # distance to every key (b x 1 x block x n), made once
        contexts = []
        for h0, h1, reach in groups:
            q_g, k_g, v_g = q_block, k_t, v
            if len(groups) > 1:
                heads_ = (i64(h0), i64(h1), i64(1))
                q_g = op("Slice", q_block, *heads_, into=body)
                k_g = op("Slice", k_t, *heads_, into=outer)
                v_g = op("Slice", v, *heads_, into=outer)
            if reach is None:  # every key
                if full is None:
                    distance = op("Abs", op("Sub", op("Unsqueeze", position, i64(1), into=body),
                                            key_positions, into=body), into=body)
                    full = op("Unsqueeze", op("Add", distance, key_far, into=body), i64(1),
                              into=body)
                distance = full
            else:  # the keys within `reach` of the block
                lo = op("Max", op("Sub", first, i64(reach), into=body), i64(0), into=body)
                hi = op("Min", op("Add", first, op("Add", block, i64(reach), into=body),
                                  into=body), n, into=body)
                near = op("Slice", key_positions, lo, hi, into=body)
                distance = op("Abs", op("Sub", op("Unsqueeze", position, i64(1), into=body),
                                        near, into=body), into=body)
                distance = op("Unsqueeze", op("Add", distance,
                                              op("Slice", key_far, lo, hi, i64(2), into=body),
                                              into=body), i64(1), into=body)
                k_g = op("Slice", k_g, lo, hi, i64(3), into=body)
                v_g = op("Slice", v_g, lo, hi, i64(2), into=body)
            alibi = op("Mul", distance, const(-slopes[h0:h1].reshape(-1, 1, 1)), into=body)
            scores = op("Add", op("MatMul", q_g, k_g, into=body), alibi, into=body)
            contexts.append(op("MatMul", op("Softmax", scores, axis=-1, into=body), v_g,
                               into=body))
        context = contexts[0] if len(contexts) == 1 else op("Concat", *contexts, axis=1,
                                                            into=body)
        graph = helper.make_graph(
            body, f"block{count[0]}",
            [helper.make_tensor_value_info(q_block, TensorProto.FLOAT, None),
             helper.make_tensor_value_info(position, TensorProto.FLOAT, None)],
            [helper.make_tensor_value_info(context, TensorProto.FLOAT, None)])
        op("Scan", q_blocks, query_positions, body=graph, num_scan_inputs=2,
           scan_input_axes=[2, 0], scan_output_axes=[2], into=outer)
        return outer

    for layer in range(layers):
        prefix = f"blk.{layer}."

        # Queries, keys and values in one matmul.
        names = [f"{prefix}attn_{part}" for part in "qkv"]
        qkv = matmul(x, np.concatenate([w(n + ".weight") for n in names]),
                     np.concatenate([w(n + ".bias") for n in names]), prefix + "attn_qkv",
                     int8=True, smooth=True)

        def heads_of(part: int, qkv: str = qkv, prefix: str = prefix) -> str:
            projected = op("Slice", qkv, i64(part * hidden), i64((part + 1) * hidden), i64(-1))
            if part < 2:  # Q and K normalised over the full width, where the model says so
                projected = qk_norm(projected, prefix + f"attn_{'qk'[part]}_norm")
            return op("Transpose", op("Reshape", projected, split_heads), perm=[0, 2, 1, 3])

        context = op("Reshape", op("Transpose", attend(heads_of(0), heads_of(1), heads_of(2)),
                                   perm=[0, 2, 1, 3]), merge_heads)
        a = norm(op("Add", linear(context, prefix + "attn_output", int8=True), x),
                 prefix + "attn_output_norm")
        if prefix + "attn_norm_2.weight" in weights:  # a second residual norm over x + a
            a = norm(op("Add", a, x), prefix + "attn_norm_2")
        up = prefix + "ffn_up"
        if w(up + ".weight").shape[0] == 2 * inter:  # [gate; up]: GELU(gate) * up
            h = linear(a, up, bias=up + ".bias" in weights, int8=True, smooth=True)
            gate = op("Slice", h, i64(0), i64(inter), i64(-1))
            h = op("Mul", gelu(gate), op("Slice", h, i64(inter), i64(2 * inter), i64(-1)))
        else:
            h = gelu(linear(a, up, int8=True, smooth=True))
        x = norm(op("Add", linear(h, prefix + "ffn_down"), a), prefix + "layer_output_norm")
    states = op("Concat", op("Shape", ids), i64(hidden), axis=0)
    nodes.append(helper.make_node("Reshape", [x, states], ["token_states"]))
    graph = helper.make_graph(
        nodes, "jina_edge",
        [helper.make_tensor_value_info(ids, TensorProto.INT64, ["batch", "tokens"]),
         helper.make_tensor_value_info(mask, TensorProto.INT64, ["batch", "tokens"])],
        [helper.make_tensor_value_info("token_states", TensorProto.FLOAT,
                                       ["batch", "tokens", hidden]), *exposed],
        inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
