"""Crafted GGUFs: each would abort llama.cpp (or silently change the vectors) and must be
refused, by name, before llama.cpp sees it. Made from the tiny test model with gguf-py."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest

from jina_edge.errors import InvalidModelFileError
from jina_edge.models.modelfile import FILE_DIGEST_KEY, read_model_file

ARCH = "jina-bert-v2"


def rewrite(src: Path, dst: Path, changes: dict[str, Any] | None = None,
            tokens: Any = None, weights: Any = None) -> Path:
    """A copy of `src` with metadata values changed or added (maybe other tokens, weights).

    The copy has no converter digest, as a file crafted elsewhere would not:
    what is wrong with it must be caught by the header checks or by running it.
    """
    changes = changes or {}
    reader = gguf.GGUFReader(src)
    writer = gguf.GGUFWriter(dst, ARCH)
    dropped = {"general.architecture", FILE_DIGEST_KEY} | set(changes)
    for name, fld in reader.fields.items():
        if name.startswith("GGUF.") or name in dropped:
            continue
        value = fld.contents()
        if name == "tokenizer.ggml.tokens" and tokens is not None:
            value = tokens(value)
        if fld.types[0] == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(name, value, fld.types[0], sub_type=fld.types[-1])
        else:
            writer.add_key_value(name, value, fld.types[0])
    for name, value in changes.items():
        if isinstance(value, np.ndarray):
            writer.add_key_value(name, list(value), gguf.GGUFValueType.ARRAY,
                                 sub_type=gguf.GGUFValueType.FLOAT32)
        elif isinstance(value, str):
            writer.add_key_value(name, value, gguf.GGUFValueType.STRING)
        elif isinstance(value, float):
            writer.add_key_value(name, value, gguf.GGUFValueType.FLOAT32)
        else:
            writer.add_key_value(name, value, gguf.GGUFValueType.UINT32)
    for tensor in reader.tensors:
        data = np.array(tensor.data)
        if weights is not None:
            data = weights(tensor.name, data)
        writer.add_tensor(tensor.name, data, raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dst


def _duplicate_first_word(tokens: list[str]) -> list[str]:
    out = list(tokens)
    out[-1] = out[-2]
    return out


# (what the metadata says, what the refusal must name); each aborted llama.cpp or
# changed the vectors before (shared/reports/hostile-input-2026-12.md, 1.1).
CASES: dict[str, tuple[dict[str, Any], Any, str]] = {
    "block_count 1000": ({f"{ARCH}.block_count": 1000}, None, "block_count"),
    "duplicate token": ({}, _duplicate_first_word, "listed twice"),
    "epsilon NaN": ({f"{ARCH}.attention.layer_norm_epsilon": float("nan")}, None, "epsilon"),
    "epsilon -1": ({f"{ARCH}.attention.layer_norm_epsilon": -1.0}, None, "epsilon"),
    "feed_forward_length 999": ({f"{ARCH}.feed_forward_length": 999}, None,
                                "feed_forward_length"),
    "key_length 7": ({f"{ARCH}.attention.key_length": 7}, None, "key_length"),
    "nextn_predict_layers": ({f"{ARCH}.nextn_predict_layers": 9}, None, "not a setting"),
    "expert_count": ({f"{ARCH}.expert_count": 4}, None, "not a setting"),
    "rope scaling": ({f"{ARCH}.rope.scaling.type": "bogus"}, None, "not a setting"),
    "256 heads": ({f"{ARCH}.attention.head_count": 16}, None, "dimensions per head"),
    "context 10^8": ({f"{ARCH}.context_length": 100_000_000}, None, "context_length"),
    "special token out of range": ({"tokenizer.ggml.unknown_token_id": 10**9}, None,
                                   "not a token"),
    "5M-item array": ({"general.junk": np.zeros(5_000_000, np.float32)}, None,
                      "array of 5000000"),
}


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory, jina_tiny_gguf: Path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("crafted")
    return {name: rewrite(jina_tiny_gguf, folder / f"{i}.gguf", changes, tokens)
            for i, (name, (changes, tokens, _)) in enumerate(CASES.items())}


def test_the_rewriter_keeps_a_good_model_good(jina_tiny_gguf: Path, tmp_path: Path) -> None:
    from jina_edge import Embedder

    path = rewrite(jina_tiny_gguf, tmp_path / "copy.gguf")
    assert read_model_file(path).block_count == read_model_file(jina_tiny_gguf).block_count
    with Embedder(path) as copy, Embedder(jina_tiny_gguf) as original:
        assert float(copy.embed("hello world") @ original.embed("hello world")) > 0.9999


@pytest.mark.parametrize("case", list(CASES))
def test_a_crafted_gguf_is_refused_with_the_key_named(case: str,
                                                      crafted: dict[str, Path]) -> None:
    with pytest.raises(InvalidModelFileError, match=CASES[case][2]):
        read_model_file(crafted[case])


def test_no_crafted_gguf_crashes_the_cli_or_gets_installed(crafted: dict[str, Path]) -> None:
    # In child processes: an abort there would show as a negative return code.
    for case, path in crafted.items():
        for args in (["embed", "--model", str(path), "hello"],
                     ["models", "import", str(path), "--name", "crafted"]):
            done = subprocess.run([sys.executable, "-m", "jina_edge.cli", *args],
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 1, (case, args, done.returncode, done.stderr[-500:])
            assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: "), \
                (case, done.stderr)
    listed = subprocess.run([sys.executable, "-m", "jina_edge.cli", "models", "list"],
                            capture_output=True, text=True, timeout=60)
    assert "crafted" not in listed.stdout


def test_import_runs_the_model_in_a_child_and_refuses_nan(jina_tiny_gguf: Path,
                                                          tmp_path: Path) -> None:
    from jina_edge.models import store
    from jina_edge.models.installed import list_installed

    def one_nan(name: str, data: np.ndarray) -> np.ndarray:
        if name == "blk.0.ffn_down.weight":
            data = data.copy()
            data.flat[0] = np.nan
        return data

    broken = rewrite(jina_tiny_gguf, tmp_path / "nan.gguf", weights=one_nan)
    read_model_file(broken)  # the header is fine: only running it shows the damage
    with pytest.raises(InvalidModelFileError, match="NaN.*not installed"):
        store.import_model(broken, name="broken")
    assert list_installed() == []
    assert store.import_model(jina_tiny_gguf, name="fine").name == "fine:f32"


@pytest.fixture(scope="module")
def good_bytes(jina_tiny_gguf: Path) -> bytes:
    return jina_tiny_gguf.read_bytes()


def test_the_header_reader_never_fails_another_way(good_bytes: bytes, tmp_path_factory:
                                                   pytest.TempPathFactory) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    folder = tmp_path_factory.mktemp("fuzz")
    header = min(len(good_bytes), 64 * 1024)  # metadata and tensor infos live up front

    @settings(max_examples=150, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(st.integers(0, header - 1), st.integers(0, 255)),
                    min_size=1, max_size=8),
           st.integers(8, len(good_bytes)))
    def check(flips: list[tuple[int, int]], length: int) -> None:
        data = bytearray(good_bytes[:length])
        for at, value in flips:
            if at < len(data):
                data[at] = value
        path = folder / "fuzzed.gguf"
        path.write_bytes(bytes(data))
        # Read, or refused with a message: any other exception fails the test.
        with contextlib.suppress(InvalidModelFileError):
            read_model_file(path)

    check()


def test_the_tokenizer_json_has_its_own_size_cap(jina_tiny_gguf: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A real tokenizer.json is several MB: over the 1 MiB cap of other strings, under its own."""
    from jina_edge.models import modelfile

    size = len(modelfile.read_model_file(jina_tiny_gguf).tokenizer_json or "")
    monkeypatch.setattr(modelfile, "MAX_STRING_BYTES", size // 2)
    assert modelfile.read_model_file(jina_tiny_gguf).tokenizer_json is not None
    monkeypatch.setattr(modelfile, "MAX_TOKENIZER_JSON_BYTES", size // 2)
    with pytest.raises(InvalidModelFileError, match="a string of"):
        modelfile.read_model_file(jina_tiny_gguf)


# A reranker's head lives in metadata arrays (jina_edge.convert.architectures): each
# is checked before it is used, and a file cut short is refused like any other.
RERANKER_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "pooler of the wrong size": ({"jina_edge.reranker.pooler.weight": np.zeros(10, np.float32)},
                                 "must hold 2304 numbers"),
    "NaN in the classifier": ({"jina_edge.reranker.classifier.weight":
                               np.full(48, np.nan, np.float32)}, "NaN"),
    "huge bias": ({"jina_edge.reranker.classifier.bias": np.array([1e30], np.float32)},
                  "out-of-range"),
    "unknown head key": ({"jina_edge.reranker.extra": np.zeros(3, np.float32)},
                         "not a part of a reranker head"),
}


@pytest.fixture(scope="module")
def crafted_rerankers(tmp_path_factory: pytest.TempPathFactory,
                      reranker_gguf: Path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("crafted-rerankers")
    made = {name: rewrite(reranker_gguf, folder / f"{i}.gguf", changes)
            for i, (name, (changes, _)) in enumerate(RERANKER_CASES.items())}
    cut = folder / "truncated.gguf"
    cut.write_bytes(reranker_gguf.read_bytes()[: reranker_gguf.stat().st_size // 2])
    made["truncated"] = cut
    return made


@pytest.mark.parametrize("case", [*RERANKER_CASES, "truncated"])
def test_a_crafted_reranker_is_refused_in_one_line(case: str,
                                                   crafted_rerankers: dict[str, Path]) -> None:
    expected = RERANKER_CASES[case][1] if case in RERANKER_CASES else "truncated"
    with pytest.raises(InvalidModelFileError, match=expected):
        read_model_file(crafted_rerankers[case])
    for args in (["rerank", "--model", str(crafted_rerankers[case]), "q", "d"],
                 ["models", "import", str(crafted_rerankers[case]), "--name", "crafted"]):
        done = subprocess.run([sys.executable, "-m", "jina_edge.cli", *args],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, (case, args, done.stderr[-500:])
        assert done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr


# A tensor one row or column off: llama.cpp asserts on some of these mid-decode
# (the process ends), so every load path must refuse them from the header.
# (One token type fewer is a model with one type: allowed, as llama.cpp reads row 0.)
MISSHAPEN = [(name, axis) for name in ("blk.0.ffn_up.weight", "blk.1.ffn_down.weight",
                                       "blk.0.attn_q.weight", "blk.1.attn_output.weight")
             for axis in (0, 1)] + [
    ("blk.0.attn_output_norm.weight", 0), ("blk.0.ffn_down.bias", 0),
    ("token_embd_norm.bias", 0), ("token_types.weight", 1)]


def _cut(target: str, axis: int) -> Any:
    def weights(name: str, data: np.ndarray) -> np.ndarray:
        if name != target:
            return data
        return data[:-1] if axis == 0 or data.ndim == 1 else data[:, :-1]
    return weights


@pytest.mark.parametrize(("target", "axis"), MISSHAPEN)
def test_a_misshapen_tensor_is_refused_on_every_load_path(target: str, axis: int,
                                                          jina_tiny_gguf: Path,
                                                          tmp_path: Path) -> None:
    from jina_edge import Embedder

    path = rewrite(jina_tiny_gguf, tmp_path / "m.gguf", weights=_cut(target, axis))
    with pytest.raises(InvalidModelFileError, match=f"tensor {target} has shape"):
        read_model_file(path)
    for engine in ("auto", "llama.cpp"):  # by path, as --model x.gguf, serve and the index do
        with pytest.raises(InvalidModelFileError, match=f"tensor {target}"):
            Embedder(path, engine=engine)  # type: ignore[arg-type]
