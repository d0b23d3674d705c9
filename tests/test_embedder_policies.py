"""Embedder logic on the fake backend: policies, batching, pooling, late chunking."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from conftest import FakeBackend
from jina_edge import BackendError, Embedder, InputTooLongError


def _words(n: int, prefix: str = "w") -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


def test_one_string_gives_a_vector_and_a_list_gives_a_matrix(fake_backend: FakeBackend) -> None:
    e = Embedder(backend=fake_backend)
    one = e.embed("hello world")
    many = e.embed(["hello world", "other words here"])
    assert one.shape == (8,) and one.dtype == np.float32
    assert many.shape == (2, 8) and many.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(many, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(one, many[0], rtol=1e-6)


def test_mean_pooling_matches_the_states(fake_backend: FakeBackend) -> None:
    e = Embedder(backend=fake_backend)
    ids = fake_backend.tokenize("alpha beta gamma")
    states = fake_backend.token_states([ids])[0]
    raw = e.embed("alpha beta gamma", normalize=False)
    np.testing.assert_allclose(raw, states.mean(axis=0), rtol=1e-6)


def test_batched_equals_one_at_a_time_and_order_is_kept(fake_backend: FakeBackend) -> None:
    e = Embedder(backend=fake_backend)
    texts = [_words(n, prefix=f"t{n}_") for n in (3, 14, 1, 7, 0, 9)]
    batched = e.embed(texts)
    single = np.stack([e.embed(t) for t in texts])
    np.testing.assert_allclose(batched, single, rtol=1e-6)


def test_packing_respects_the_token_budget() -> None:
    backend = FakeBackend(max_tokens=300)
    e = Embedder(backend=backend)
    backend.decodes.clear()
    e.embed([_words(198)] * 5)  # 200 tokens each
    assert all(sum(d) <= 512 for d in backend.decodes)
    assert sum(len(d) for d in backend.decodes) == 5


def test_error_policy_raises_with_the_token_count(fake_backend: FakeBackend) -> None:
    e = Embedder(backend=fake_backend, long_input="error")
    with pytest.raises(InputTooLongError) as info:
        e.embed(["short", _words(20)])
    assert info.value.n_tokens == 22
    assert info.value.max_tokens == 16
    assert "22 tokens" in str(info.value)


def test_truncate_keeps_the_head_and_reports_it(fake_backend: FakeBackend,
                                                caplog: pytest.LogCaptureFixture) -> None:
    e = Embedder(backend=fake_backend, long_input="truncate")
    long_text = _words(30)
    result = e.embed_result([long_text, "short text"])
    assert result.truncated == [True, False]
    assert result.n_tokens == [32, 4]
    assert "truncated" in caplog.text
    head = _words(14)  # 14 words + [CLS] + [SEP] = the 16-token window
    np.testing.assert_allclose(result.vectors[0], e.embed(head), rtol=1e-6)


def test_chunk_policy_averages_overlapping_windows(fake_backend: FakeBackend) -> None:
    e = Embedder(backend=fake_backend, long_input="chunk")
    words = [f"w{i}" for i in range(30)]
    result = e.embed_result([" ".join(words)])
    assert result.n_chunks == [3] and result.truncated == [False]
    # room = 14 content tokens, overlap = 14 // 4 = 3, so windows start at 0, 11, 22.
    windows = [" ".join(words[s : s + 14]) for s in (0, 11, 22)]
    expected = np.mean([e.embed(w) for w in windows], axis=0)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(result.vectors[0], expected, rtol=1e-5)


def test_policy_can_be_chosen_per_call(fake_backend: FakeBackend) -> None:
    e = Embedder(backend=fake_backend, long_input="error")
    assert e.embed(_words(40), long_input="chunk").shape == (8,)


def test_late_chunking_by_token_spans_pools_the_whole_document_states(
    fake_backend: FakeBackend,
) -> None:
    e = Embedder(backend=fake_backend)
    text = "one two three four five six"
    ids = fake_backend.tokenize(text)
    states = fake_backend.token_states([ids])[0]
    vectors = e.embed_late_chunks(text, [(0, 2), (2, 6)], unit="token", normalize=False)
    np.testing.assert_allclose(vectors[0], states[1:3].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(vectors[1], states[3:7].mean(axis=0), rtol=1e-6)


def test_late_chunking_by_character_spans(fake_backend: FakeBackend) -> None:
    e = Embedder(backend=fake_backend)
    text = "one two three four"
    by_char = e.embed_late_chunks(text, [(0, 7), (8, 18)])
    by_token = e.embed_late_chunks(text, [(0, 2), (2, 4)], unit="token")
    np.testing.assert_allclose(by_char, by_token, rtol=1e-6)
    # Context matters: a chunk embedded alone differs from its late-chunked vector.
    assert float(by_char[0] @ e.embed("one two")) < 0.9999


def test_late_chunking_refuses_bad_spans_and_long_documents(fake_backend: FakeBackend) -> None:
    e = Embedder(backend=fake_backend)
    with pytest.raises(ValueError):
        e.embed_late_chunks("one two", [(3, 3)])
    with pytest.raises(ValueError):
        e.embed_late_chunks("one two", [(0, 99)])
    with pytest.raises(ValueError):
        e.embed_late_chunks("one two", [(0, 5)], unit="token")
    with pytest.raises(InputTooLongError):
        e.embed_late_chunks(_words(20), [(0, 5)])


def test_bytes_and_non_strings_are_refused_clearly(fake_backend: FakeBackend) -> None:
    e = Embedder(backend=fake_backend)
    with pytest.raises(TypeError, match="decode"):
        e.embed([b"\xff\xfe bytes"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="str"):
        e.embed([3])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        Embedder(backend=fake_backend, long_input="drop")  # type: ignore[arg-type]


def test_close_closes_the_backend(fake_backend: FakeBackend) -> None:
    with Embedder(backend=fake_backend):
        pass
    assert fake_backend.closed


def test_empty_list_gives_an_empty_matrix(fake_backend: FakeBackend) -> None:
    assert Embedder(backend=fake_backend).embed([]).shape == (0, 8)


class BrokenBackend(FakeBackend):
    """A model whose states are NaN (a damaged weight) or zero (zeroed norms) for one word."""

    def __init__(self, value: float) -> None:
        super().__init__(max_tokens=64)
        self.value = value

    def token_states(self, sequences: Sequence[Sequence[int]]) -> list[np.ndarray]:
        out = super().token_states(sequences)
        poison = self._word_id("poison")
        for seq, states in zip(sequences, out, strict=True):
            if poison in seq:
                states[:] = self.value
        return out


@pytest.mark.parametrize(("value", "what"), [(float("nan"), "NaN"), (float("inf"), "NaN or"),
                                             (0.0, "all-zero")])
def test_vectors_that_are_not_finite_and_unit_length_fail_the_call(value: float,
                                                                   what: str) -> None:
    embedder = Embedder(backend=BrokenBackend(value))
    assert np.isfinite(embedder.embed(["fine words"])).all()
    with pytest.raises(BackendError, match=f"{what}.*text 1"):
        embedder.embed(["fine words", "poison here"])
    with pytest.raises(BackendError, match=what):
        embedder.embed_late_chunks("poison here", [(0, 6)])


def test_a_mapping_is_not_a_list_of_texts() -> None:
    embedder = Embedder(backend=FakeBackend(max_tokens=64))
    with pytest.raises(TypeError, match="not dict"):
        embedder.embed({"a": 1})  # type: ignore[call-overload]
