"""A plain `pip install jina-edge`, without llama.cpp: everything on the CPU through ONNX Runtime.

Each command runs as a user runs it, in its own process, with llama_cpp made
unimportable there (in the wheel-only install of .ci/run it is not installed at
all). The real all-MiniLM-L6-v2 and test checkpoints of the real Jina files
are compared with the numpy reference.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from jina_edge.convert.reference import ReferenceModel
from jina_edge.convert.synthetic import SHAPES, write_checkpoint

# The console script's `main`, with llama_cpp unimportable in that process.
_WITHOUT_LLAMA = ("import sys; sys.modules['llama_cpp'] = None; sys.argv[0] = 'jina-edge'; "
                  "from jina_edge.cli.main import main; main()")
TEXT = "The pump moves twelve litres of water per minute."


def jina_edge(*args: str) -> subprocess.CompletedProcess[str]:
    """`jina-edge ARGS` in a process without llama.cpp (the test's home and cache)."""
    # Not from the checkout's folder: the installed package is what a user runs.
    return subprocess.run([sys.executable, "-c", _WITHOUT_LLAMA, *args], capture_output=True,
                          text=True, timeout=600, check=False, cwd=tempfile.gettempdir())


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def _vector(model: str, text: str) -> np.ndarray:
    return np.asarray(json.loads(_ok(jina_edge("embed", "-m", model, text)))["embedding"])


def test_the_real_minilm_imports_and_embeds_as_the_reference(minilm_dir: Path) -> None:
    imported = _ok(jina_edge("models", "import", str(minilm_dir), "--name", "minilm"))
    assert "installed minilm:q8_0" in imported
    info = _ok(jina_edge("models", "info", "minilm"))
    assert "OK:" in info and "not run" in info  # verified; llama.cpp's tokenizer not run
    reference = ReferenceModel.from_checkpoint(minilm_dir)
    texts = (TEXT, "hello", "Die Häuser am Fluss wurden 1870 gebaut.",
             "How do I reset the router without losing the Wi-Fi password?")
    cosines = [float(_vector("minilm", t) @ reference.embed(t)) for t in texts]
    # q8_0 weights, and the int8 graph's 8-bit activations: a one-word text is furthest.
    assert min(cosines) > 0.998 and np.mean(cosines) > 0.999, cosines


@pytest.mark.parametrize(("variant", "output_type"), [("en", "f16"), ("code", "bf16"),
                                                      ("es", "q8_0")])
def test_jina_checkpoints_convert_verify_and_embed(variant: str, output_type: str,
                                                   tmp_path: Path) -> None:
    checkpoint = write_checkpoint(tmp_path / variant, shape=SHAPES["tiny-12-heads"],
                                  variant=variant, seed=5)
    name = f"jina-{variant}"
    _ok(jina_edge("models", "import", str(checkpoint), "--name", name, "--type", output_type))
    expected = ReferenceModel.from_checkpoint(checkpoint).embed(TEXT)
    assert float(_vector(name, TEXT) @ expected) > (0.999 if output_type == "q8_0" else 0.9999)


def test_a_reranker_ranks_as_the_reference(tmp_path: Path) -> None:
    checkpoint = write_checkpoint(tmp_path / "reranker", shape=SHAPES["tiny-12-heads"],
                                  variant="reranker", seed=6)
    _ok(jina_edge("models", "import", str(checkpoint), "--name", "ranker", "--type", "f16"))
    documents = ["We sized the pump for twelve litres.", "She opened a bakery.", "Pumps."]
    rows = [json.loads(line) for line in
            _ok(jina_edge("rerank", "-m", "ranker", TEXT, *documents)).splitlines()]
    reference = ReferenceModel.from_checkpoint(checkpoint)
    scores = [reference.score(reference.tokenize_pair(TEXT, d)) for d in documents]
    assert [r["index"] for r in rows] == sorted(range(3), key=lambda i: -scores[i])
    assert [r["logit"] for r in rows] == pytest.approx(sorted(scores, reverse=True), abs=0.05)


def test_an_index_syncs_and_searches(minilm_dir: Path, tmp_path: Path) -> None:
    _ok(jina_edge("models", "import", str(minilm_dir), "--name", "minilm-index"))
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "pump.md").write_text("# Pump\nWe sized the pump for twelve litres per minute.\n")
    (notes / "bread.txt").write_text("Knead the dough, let it rise, bake for forty minutes.\n")
    common = ["--index", str(tmp_path / "i.db"), "--model", "minilm-index"]
    _ok(jina_edge("index", "add", str(notes), *common))
    _ok(jina_edge("index", "sync", *common))
    for mode in ("hybrid", "semantic", "keyword"):
        found = _ok(jina_edge("search", "pump flow rate", "--mode", mode, *common))
        assert found.startswith(str(notes / "pump.md")), (mode, found)


def test_what_needs_llama_cpp_says_so_in_one_line(jina_12_heads: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.gguf"
    refused = jina_edge("convert", str(jina_12_heads), "--out", str(out), "--type", "q4_k_m")
    assert refused.returncode != 0 and not out.exists()
    assert "pip install 'jina-edge[llama]'" in refused.stderr
    assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    _ok(jina_edge("convert", str(jina_12_heads), "--out", str(out), "--type", "f32"))
    gpu = jina_edge("embed", "-m", str(out), "--device", "gpu", TEXT)
    assert gpu.returncode != 0 and "pip install 'jina-edge[llama]'" in gpu.stderr
    assert "Traceback" not in gpu.stderr
