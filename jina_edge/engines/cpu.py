"""This CPU: what it is called and what its integer kernels compute exactly.

On x86 without VNNI a uint8 x int8 product saturates at 16 bits, so the int8
graph runs only where one small such product comes out exact: asking the kernel,
not reading CPU flags, holds for CPUs and builds not seen yet.
docs/architecture.md has why; docs/performance.md the measurements.
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

import numpy as np

WeightType: TypeAlias = Literal["s8", "u8"]
WEIGHT_TYPES: tuple[WeightType, ...] = ("s8", "u8")


@dataclass(frozen=True)
class CpuInfo:
    """What benchmarks print next to a figure.

    Attributes:
        model: the CPU's model name, or the machine type when the system does not say.
        machine: `platform.machine()`, lower-case.
        flags: the integer-kernel flags the system reports, of those that decide speed.
    """

    model: str
    machine: str
    flags: tuple[str, ...]


# /proc/cpuinfo flags that decide which integer and float kernels ONNX Runtime runs.
KERNEL_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16",
                "amx_int8", "asimddp", "i8mm", "sve")


@functools.lru_cache(maxsize=1)
def this_cpu() -> CpuInfo:
    """This machine's CPU, from /proc/cpuinfo where there is one."""
    return read_cpu(Path("/proc/cpuinfo"))


def read_cpu(cpuinfo: Path) -> CpuInfo:
    """The CPU as a Linux /proc/cpuinfo describes it (the machine type alone elsewhere)."""
    machine = platform.machine().lower()
    names: dict[str, str] = {}
    flags = set[str]()
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "model"):
            names.setdefault(key, value.strip())
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    # x86's "model" is a number; a Raspberry Pi's names the board.
    board = names.get("model", "")
    model = names.get("model name") or ("" if board.isdigit() else board)
    return CpuInfo(model or platform.processor() or machine, machine,
                   tuple(f for f in KERNEL_FLAGS if f in flags))


@functools.lru_cache(maxsize=1)
def int8_weight_type() -> WeightType | None:
    """The int8 graph's weight type on this CPU: "s8" where uint8 x int8 is exact, else None.

    None: no int8 graph beats the float32 graph at q8_0's quality here.
    Decided once per process, by one small product whose pairs overflow 16 bits.
    """
    return "s8" if matmul_is_exact("s8") else None


def matmul_is_exact(weights: WeightType) -> bool:
    """Whether ONNX Runtime's integer matmul with weights of this type is exact on this CPU."""
    a, b = _probe_operands()
    return bool(np.array_equal(integer_matmul(a, b, weights), (a.astype(np.int64) - 128) @ b))


def integer_matmul(a: np.ndarray, b: np.ndarray, weights: WeightType) -> np.ndarray:
    """ONNX Runtime's MatMulInteger of uint8 `a` (zero point 128) by `b` stored as `weights`.

    `b` holds int8 values; "u8" stores them as uint8 around 128, as the int8 graph does.
    """
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    stored = (b.astype(np.int16) + 128).astype(np.uint8) if weights == "u8" else b.astype(np.int8)
    inits = [numpy_helper.from_array(stored, "b"), numpy_helper.from_array(np.uint8(128), "az")]
    names = ["a", "b", "az"]
    if weights == "u8":
        inits.append(numpy_helper.from_array(np.uint8(128), "bz"))
        names.append("bz")
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", names, ["y"])], "probe",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, list(a.shape))],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [a.shape[0], b.shape[1]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"a": a})[0])


def _probe_operands() -> tuple[np.ndarray, np.ndarray]:
    """Activations and weights near the top of their ranges: every pair of products overflows."""
    rng = np.random.default_rng(0)
    return (rng.integers(200, 256, (8, 64)).astype(np.uint8),
            rng.integers(100, 128, (64, 16)).astype(np.int64))
