"""Embed one probe set with some GGUFs, or compare two such runs (x86 against emulated ARM).

    python same_vectors.py embed OUT.npz MODEL.gguf...   vectors and token ids per model
    python same_vectors.py compare X86.npz ARM.npz       one row per model: cosine, ids equal

The probe set is the converter's verification probes (short, unicode, code, a
paragraph, a text of about 1,300 tokens), so the thresholds that verification
applies to a quantized type apply here too. `compare` exits 1 when token ids
differ, f32 falls below 1 - 1e-5, or a type falls below its verification
threshold.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from jina_edge import Embedder
from jina_edge.convert.verify import FAIL_BELOW, PROBES, WARN_BELOW

F32_TOLERANCE = 1e-5  # 1 - cosine; the kernels differ (NEON against AVX), the maths not


def embed(out: Path, models: list[Path]) -> None:
    """Write vectors and token ids of every probe for every model to one .npz."""
    texts = list(PROBES.values())
    arrays: dict[str, np.ndarray] = {}
    for path in models:
        # llama.cpp: the engine a Pi runs (install.sh), and the kernels that differ by CPU.
        with Embedder(path, max_tokens=2048, threads=1, engine="llama.cpp") as embedder:
            arrays[f"{path.stem}/vectors"] = embedder.embed(texts)
            for i, text in enumerate(texts):
                arrays[f"{path.stem}/ids/{i}"] = np.array(embedder.tokenize(text), np.int64)
    np.savez(out, **arrays)


def compare(first: Path, second: Path) -> bool:
    """Print one row per model (worst cosine over the probes, ids equal); True if all pass."""
    a, b = np.load(first), np.load(second)
    names = sorted({key.split("/")[0] for key in a.files})
    ok = True
    print(f"{'model':<24} {'min cosine':>12} {'1 - cosine':>11} {'ids equal':>9}  verdict")
    for name in names:
        va, vb = a[f"{name}/vectors"], b[f"{name}/vectors"]
        cosine = float(np.min(np.sum(va * vb, axis=1)
                              / (np.linalg.norm(va, axis=1) * np.linalg.norm(vb, axis=1))))
        ids = [k for k in a.files if k.startswith(f"{name}/ids/")]
        same_ids = all(np.array_equal(a[k], b[k]) for k in ids)
        kind = name.rsplit("-", 1)[-1]
        floor = 1 - F32_TOLERANCE if kind == "f32" else FAIL_BELOW.get(kind, WARN_BELOW.get(kind))
        passed = same_ids and floor is not None and cosine >= floor
        ok = ok and passed
        print(f"{name:<24} {cosine:>12.8f} {1 - cosine:>11.2e} {str(same_ids):>9}  "
              f"{'ok' if passed else 'FAIL'} (needs >= {floor})")
    return ok


def main(argv: list[str]) -> int:
    """Command line; see the module docstring."""
    if len(argv) >= 3 and argv[0] == "embed":
        embed(Path(argv[1]), [Path(p) for p in argv[2:]])
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        return 0 if compare(Path(argv[1]), Path(argv[2])) else 1
    print("usage: same_vectors.py embed OUT.npz MODEL.gguf... | compare A.npz B.npz",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
