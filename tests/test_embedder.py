"""The runtime on real (tiny, generated) GGUFs through llama.cpp."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gguf
import numpy as np
import pytest

import jina_edge
from jina_edge import (
    Embedder,
    InputTooLongError,
    InvalidModelFileError,
    ModelNotFoundError,
)
from jina_edge.convert.reference import ReferenceModel
from jina_edge.convert.verify import PROBES

TEXTS = [
    "The pump was sized for twelve litres per minute.",
    "short",
    PROBES["paragraph"],
    "Another sentence, with punctuation; and numbers 1234.",
    "",
]


def assert_same_vectors(a: np.ndarray, b: np.ndarray) -> None:
    """Equal up to flash attention's f16 rounding, which depends on the batch."""
    assert a.shape == b.shape
    assert float(np.min(np.sum(a * b, axis=-1))) >= 0.99999
    np.testing.assert_allclose(a, b, atol=5e-4)


def test_batched_equals_one_at_a_time(embedder: Embedder) -> None:
    batched = embedder.embed(TEXTS * 3)
    single = np.stack([embedder.embed(t) for t in TEXTS * 3])
    assert_same_vectors(batched, single)


def test_batched_equals_one_at_a_time_exactly_without_flash_attention(
    jina_tiny_gguf: Path,
) -> None:
    with Embedder(jina_tiny_gguf, device="cpu", flash_attention=False) as e:
        batched = e.embed(TEXTS * 3)
        single = np.stack([e.embed(t) for t in TEXTS * 3])
    np.testing.assert_allclose(batched, single, atol=2e-6)


def test_shapes_dtype_and_norm(embedder: Embedder) -> None:
    one = embedder.embed("hello")
    many = embedder.embed(["hello", "world"])
    assert one.shape == (embedder.dim,) and one.dtype == np.float32
    assert many.shape == (2, embedder.dim) and many.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(many, axis=1), 1.0, rtol=1e-5)
    raw = embedder.embed("hello", normalize=False)
    assert abs(float(np.linalg.norm(raw)) - 1.0) > 1e-3


@pytest.mark.parametrize("text", [
    "",
    "   \n\t  ",
    "\x00\x01\x02 control \x1b[31m characters \x7f",
    "emoji 🙂🚀👩‍👩‍👧 and flags 🇵🇹",
    "東京タワーは1958年に完成した。漢字とかなの混じった文。",
    "lone surrogate \udcff from surrogateescape",
    "x" * 100_000,
    "word " * 20_000,
])
def test_awkward_inputs_give_finite_unit_vectors(embedder: Embedder, text: str) -> None:
    result = embedder.embed_result([text])
    assert np.isfinite(result.vectors).all()
    assert abs(float(np.linalg.norm(result.vectors[0])) - 1.0) < 1e-4
    assert result.n_tokens[0] >= 2


def test_counting_and_tokens(embedder: Embedder) -> None:
    assert embedder.tokenize("Hello world") == [101, 7592, 2088, 102]
    assert embedder.count_tokens("") == 2
    assert jina_edge.count_tokens("Hello world", model=embedder.model_path) == 4


def test_long_input_policies_with_a_small_window(jina_tiny_gguf: Path) -> None:
    text = PROBES["long"]
    with Embedder(jina_tiny_gguf, device="cpu", max_tokens=128) as e:
        assert e.max_tokens == 128
        n = e.count_tokens(text)
        with pytest.raises(InputTooLongError) as info:
            e.embed(text, long_input="error")
        assert info.value.n_tokens == n and info.value.max_tokens == 128
        cut = e.embed_result([text], long_input="truncate")
        assert cut.truncated == [True] and cut.n_tokens == [n]
        chunked = e.embed_result([text], long_input="chunk")
        assert chunked.n_chunks[0] == -(-(n - 2 - 126) // (126 - 31)) + 1
    with Embedder(jina_tiny_gguf, device="cpu") as full:
        whole = full.embed(text)
    # Chunking keeps the whole text in view; truncation keeps only the head.
    assert float(chunked.vectors[0] @ whole) > float(cut.vectors[0] @ whole)


def test_late_chunking_equals_pooling_reference_states_over_spans(
    jina_12_heads: Path, jina_12_heads_gguf: Path
) -> None:
    text = PROBES["paragraph"]
    reference = ReferenceModel.from_checkpoint(jina_12_heads)
    # Spans at sentence boundaries, in characters.
    ends = [i + 1 for i, ch in enumerate(text) if ch == "." and i + 1 < len(text)]
    starts = [0, *(e + 1 for e in ends)]
    spans = list(zip(starts, [*ends, len(text)], strict=True))
    with Embedder(jina_12_heads_gguf, device="cpu") as e:
        ids = e.tokenize(text)
        vectors = e.embed_late_chunks(text, spans)
        states = reference.token_states(ids)
        position = 1
        for (start, end), vector in zip(spans, vectors, strict=True):
            n = len(e.tokenize(text[start:end])) - 2
            expected = states[position : position + n].mean(axis=0)
            position += n
            assert float(vector @ expected / np.linalg.norm(expected)) >= 0.9999
        assert position == len(ids) - 1


def test_one_embedder_from_many_threads(embedder: Embedder) -> None:
    expected = embedder.embed(TEXTS)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: embedder.embed(TEXTS), range(12)))
    for got in results:
        assert_same_vectors(got, expected)


def test_module_level_embed_loads_once(jina_tiny_gguf: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINA_EDGE_MODEL", str(jina_tiny_gguf))
    first = jina_edge.embed(["one", "two"])
    assert first.shape[0] == 2
    from jina_edge import embedder as module

    loaded = dict(module._default_embedders)
    jina_edge.embed("three")
    assert module._default_embedders == loaded


def test_module_level_embed_resolves_the_model_once(jina_tiny_gguf: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Later calls read neither the config file nor the manifests (issue 34)."""
    from jina_edge import embedder as module

    monkeypatch.setenv("JINA_EDGE_MODEL", str(jina_tiny_gguf))
    jina_edge.embed("one")
    resolved: list[object] = []
    real = module.resolve_model
    monkeypatch.setattr(module, "resolve_model", lambda m: resolved.append(m) or real(m))
    for _ in range(3):
        assert jina_edge.embed("two").ndim == 1
        assert jina_edge.count_tokens("two") > 2
    assert resolved == []
    monkeypatch.chdir(jina_tiny_gguf.parent)  # a relative path means another file elsewhere
    jina_edge.embed("three", model=jina_tiny_gguf.name)
    jina_edge.embed("four", model=jina_tiny_gguf.name)
    assert resolved == [jina_tiny_gguf.name]


def test_no_model_says_what_to_do() -> None:
    with pytest.raises(ModelNotFoundError,
                       match="jina-edge models pull jina-embeddings-v2-small-en"):
        Embedder()
    with pytest.raises(ModelNotFoundError, match="no model file"):
        Embedder("/nonexistent/model.gguf")


def test_random_file_renamed_gguf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "random.gguf"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(InvalidModelFileError, match="not a GGUF"):
        Embedder(path)


def test_truncated_gguf_is_refused_before_llama_cpp(jina_tiny_gguf: Path, tmp_path: Path) -> None:
    data = jina_tiny_gguf.read_bytes()
    for keep in (100, len(data) // 2, len(data) - 10):
        path = tmp_path / f"cut{keep}.gguf"
        path.write_bytes(data[:keep])
        with pytest.raises(InvalidModelFileError):
            Embedder(path)


def test_gguf_of_a_non_embedding_model_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "llama.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((8, 4), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(InvalidModelFileError, match="llama"):
        Embedder(path)


def test_gpu_request_without_gpu_backend_is_a_clear_error(jina_tiny_gguf: Path) -> None:
    from jina_edge.engines.llama_cpp import gpu_available

    if gpu_available():
        with Embedder(jina_tiny_gguf, device="gpu") as e:
            assert e.device == "gpu"
    else:
        with pytest.raises(jina_edge.JinaEdgeError, match="GPU"):
            Embedder(jina_tiny_gguf, device="gpu")
        with Embedder(jina_tiny_gguf, device="auto") as e:
            assert e.device == "cpu"


def test_closed_embedder_says_so(jina_tiny_gguf: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copy(jina_tiny_gguf, tmp_path / "m.gguf"))
    e = Embedder(copy, device="cpu")
    e.close()
    e.close()
    with pytest.raises(jina_edge.BackendError, match="closed"):
        e.embed("hello")


def test_the_full_8192_token_window_runs_and_one_more_token_is_refused(
    jina_tiny_gguf: Path,
) -> None:
    with Embedder(jina_tiny_gguf, device="cpu", long_input="error") as e:
        assert e.max_tokens == 8192
        fits = "a " * 8190  # 8,190 words of one token + [CLS] + [SEP]
        assert e.count_tokens(fits) == 8192
        assert np.isfinite(e.embed(fits)).all()
        with pytest.raises(InputTooLongError) as info:
            e.embed(fits + "a")
        assert info.value.n_tokens == 8193
