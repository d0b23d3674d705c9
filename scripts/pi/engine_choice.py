"""The engine and int8 graph a quantized GGUF runs on here, and whether it holds q8_0's bar.

    python engine_choice.py MODEL-q8_0.gguf MODEL-f32.gguf

Prints the CPU, the engine, the int8 graph's weight type, and the cosine of
the quantized file's vectors (default engine) to the f32 file's (llama.cpp)
over the converter's probe texts; exits 1 below the bar. Run by
arm64-guest.sh on the emulated Pi (quality and choice only: emulated speed
means nothing), and anywhere else by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from jina_edge import Embedder
from jina_edge.convert.verify import PROBES
from jina_edge.engines.cpu import int8_weight_type, this_cpu

MIN_MEAN_COSINE = 0.999  # q8_0's bar (docs/performance.md)


def main(quantized: Path, f32: Path) -> int:
    """Print the choice and its quality; 1 when the mean cosine is under the bar."""
    texts = list(PROBES.values())
    with Embedder(quantized, max_tokens=2048) as fast, \
            Embedder(f32, max_tokens=2048, engine="llama.cpp") as exact:
        cosines = np.sum(fast.embed(texts) * exact.embed(texts), axis=1)
        engine = fast.engine
    cpu = this_cpu()
    print(f"CPU: {cpu.model} ({cpu.machine}; {' '.join(cpu.flags) or 'no flags read'})")
    graph = "int8" if int8_weight_type() else "float32"
    print(f"{quantized.name}: engine {engine}, {graph} graph for quantized files, "
          f"cosine to f32 mean {cosines.mean():.5f} min {cosines.min():.5f} "
          f"over {len(texts)} probe texts")
    return 0 if cosines.mean() >= MIN_MEAN_COSINE else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
