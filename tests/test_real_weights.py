"""Real trained weights (all-MiniLM-L6-v2): parity with the reference and quantization quality."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import numpy as np
import pytest

from jina_edge import Embedder
from jina_edge.convert import convert_checkpoint
from jina_edge.convert.reference import ReferenceModel

# Real English prose that every Python installation carries: stdlib docstrings.
_SOURCE_MODULES = (
    "argparse", "collections", "json", "logging", "pathlib", "textwrap", "unittest",
    "email.message", "http.client", "urllib.parse", "subprocess", "threading", "shutil",
    "tarfile", "zipfile", "csv", "datetime", "decimal", "fractions", "heapq", "random",
    "statistics", "string", "difflib", "inspect", "pickle", "socket", "sqlite3", "tempfile",
)


def real_sentences(count: int) -> list[str]:
    """`count` distinct sentences taken from standard-library docstrings."""
    seen: dict[str, None] = {}
    for name in _SOURCE_MODULES:
        module = importlib.import_module(name)
        objects = [module, *vars(module).values()]
        for obj in objects:
            doc = getattr(obj, "__doc__", None)
            if not isinstance(doc, str):
                continue
            for sentence in re.split(r"(?<=[.!?])\s+", " ".join(doc.split())):
                letters = sum(ch.isalpha() for ch in sentence)
                if 40 <= len(sentence) <= 300 and letters > 0.7 * len(sentence):
                    seen.setdefault(sentence)
    sentences = list(seen)
    assert len(sentences) >= count, f"only {len(sentences)} sentences found"
    step = len(sentences) / count
    return [sentences[int(i * step)] for i in range(count)]


@pytest.fixture(scope="module")
def minilm_ggufs(minilm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("minilm")
    return {
        t: convert_checkpoint(minilm_dir, out / f"minilm-{t}.gguf", output_type=t,
                              verify=False).output
        for t in ("f32", "q8_0", "q4_k_m")
    }


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    return real_sentences(300)


def _embed_all(path: Path, texts: list[str]) -> np.ndarray:
    with Embedder(path, device="cpu") as e:
        return e.embed(texts)


def test_f32_matches_the_reference_on_real_weights(
    minilm_dir: Path, minilm_ggufs: dict[str, Path], sentences: list[str]
) -> None:
    reference = ReferenceModel.from_checkpoint(minilm_dir)
    sample = sentences[::15]
    with Embedder(minilm_ggufs["f32"], device="cpu") as e:
        got = e.embed(sample)
        for text, vector in zip(sample, got, strict=True):
            ids = e.tokenize(text)
            assert ids == reference.tokenize(text)
            expected = reference.token_states(ids).mean(axis=0)
            assert float(vector @ expected / np.linalg.norm(expected)) >= 0.9999


def test_quantized_types_keep_their_quality_on_real_sentences(
    minilm_ggufs: dict[str, Path], sentences: list[str]
) -> None:
    vectors = {t: _embed_all(p, sentences) for t, p in minilm_ggufs.items()}
    q8 = np.sum(vectors["q8_0"] * vectors["f32"], axis=1)
    q4 = np.sum(vectors["q4_k_m"] * vectors["f32"], axis=1)
    print(f"\nMiniLM on {len(sentences)} sentences, mean cosine vs f32: "
          f"q8_0 {q8.mean():.5f} (min {q8.min():.5f}), "
          f"q4_k_m {q4.mean():.5f} (min {q4.min():.5f})")
    assert q8.mean() >= 0.999
    assert q4.mean() >= 0.98


def test_similar_sentences_rank_above_unrelated_ones(minilm_ggufs: dict[str, Path]) -> None:
    with Embedder(minilm_ggufs["q8_0"], device="cpu") as e:
        a, b, c = e.embed([
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "The new movie is awesome and the crowd loved it.",
        ])
    assert float(a @ b) > float(a @ c) + 0.3
