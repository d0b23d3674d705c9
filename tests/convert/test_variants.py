"""The Jina v2 variants beyond English: base-de, -es, -zh (BPE) and base-code (qk-post-norm)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import gguf
import numpy as np
import pytest
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from conftest import JINA_VARIANTS
from jina_edge import Embedder
from jina_edge.convert import convert_checkpoint
from jina_edge.convert.architectures import ArchitectureConverter
from jina_edge.convert.reference import ReferenceModel
from jina_edge.convert.verify import PROBES

Models = Callable[[str], tuple[Path, Path]]
_ORIGINAL_HOOK = ArchitectureConverter.gguf_tensors
TEXTS = [PROBES["short"], PROBES["languages"], PROBES["code"], PROBES["long"]]
# What the tokenizer files of each variant say, and what llama.cpp must be told.
EXPECTED_TOKENIZER = {
    "de": ("gpt2", "gpt-2", False),
    "es": ("gpt2", "gpt-2", False),
    "code": ("gpt2", "gpt-2", False),
    "zh": ("whitespace", "whitespace", True),
}


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _fields(path: Path) -> dict[str, object]:
    reader = gguf.GGUFReader(path)
    return {name: field.contents() for name, field in reader.fields.items()}


@pytest.mark.parametrize("variant", JINA_VARIANTS)
def test_f32_gguf_matches_the_reference_on_short_and_long_text(variant: str,
                                                               variant_models: Models) -> None:
    checkpoint, gguf_path = variant_models(variant)
    reference = ReferenceModel.from_checkpoint(checkpoint)
    with Embedder(gguf_path, device="cpu") as e:
        assert len(e.tokenize(PROBES["long"])) > 512
        for text in TEXTS:
            ids = e.tokenize(text)
            assert ids == reference.tokenize(text)
            expected = reference.token_states(ids).mean(axis=0)
            assert _cosine(e.embed(text), expected) >= 0.9999


@pytest.mark.parametrize("variant", JINA_VARIANTS)
def test_gguf_tokenizer_keys_follow_the_tokenizer_files(variant: str,
                                                        variant_models: Models) -> None:
    checkpoint, gguf_path = variant_models(variant)
    fields = _fields(gguf_path)
    model, pre, lowercase = EXPECTED_TOKENIZER[variant]
    assert fields["tokenizer.ggml.model"] == model
    assert fields["tokenizer.ggml.pre"] == pre
    assert fields["tokenizer.ggml.normalizer.lowercase"] is lowercase
    original = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
    stored = Tokenizer.from_str(str(fields["tokenizer.huggingface.json"]))
    assert stored.get_vocab(True) == original.get_vocab(True)
    # Every special id written, from the tokenizer itself (RoBERTa order here).
    for key, token in (("bos", "<s>"), ("eos", "</s>"), ("seperator", "</s>"),
                       ("unknown", "<unk>"), ("padding", "<pad>"), ("mask", "<mask>")):
        assert fields[f"tokenizer.ggml.{key}_token_id"] == original.token_to_id(token)
    merges = fields["tokenizer.ggml.merges"]
    assert isinstance(merges, list) and len(merges) > 1000
    tokens = fields["tokenizer.ggml.tokens"]
    assert isinstance(tokens, list)
    assert tokens[: original.get_vocab_size(True)] == [
        t for t, _ in sorted(original.get_vocab(True).items(), key=lambda kv: kv[1])]


# --- base-code's feed-forward: which half gets the GELU --------------------------------


def _fused_up(order: str) -> Callable[..., Iterator[tuple[str, np.ndarray]]]:
    """A converter hook writing up_gated_layer as one fused ffn_up tensor."""
    def gguf_tensors(self: ArchitectureConverter, name: str,
                     data: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
        if not name.endswith("up_gated_layer.weight"):
            yield from _ORIGINAL_HOOK(self, name, data)
            return
        half = self.intermediate
        fused = data if order == "as stored" else np.concatenate([data[half:], data[:half]])
        layer = int(name.split(".")[2])
        yield gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.FFN_UP].format(bid=layer) + ".weight", fused
    return gguf_tensors


def _split_swapped(self: ArchitectureConverter, name: str,
                   data: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """The split, with up and gate exchanged."""
    half = self.intermediate
    for gguf_name, part in _ORIGINAL_HOOK(self, name, data):
        if name.endswith("up_gated_layer.weight"):
            swapped = data[half:] if ".ffn_up." in gguf_name else data[:half]
            yield gguf_name, swapped
        else:
            yield gguf_name, part


def test_base_code_ffn_is_split_up_first(variant_models: Models) -> None:
    checkpoint, gguf_path = variant_models("code")
    tensors = {t.name: t for t in gguf.GGUFReader(gguf_path).tensors}
    fused = load_file(str(checkpoint / "model.safetensors"))[
        "encoder.layer.0.mlp.up_gated_layer.weight"]
    half = fused.shape[0] // 2
    np.testing.assert_array_equal(np.asarray(tensors["blk.0.ffn_up.weight"].data), fused[:half])
    np.testing.assert_array_equal(np.asarray(tensors["blk.0.ffn_gate.weight"].data), fused[half:])


@pytest.mark.parametrize(("writing", "right"), [
    ("split up/gate (ours)", True),
    ("fused, halves swapped", True),
    ("fused as stored (llama.cpp's own converter)", False),
    ("split with up and gate exchanged", False),
])
def test_base_code_ffn_order_decides_the_result(writing: str, right: bool,
                                                variant_models: Models, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """llama.cpp applies GELU to the first half of a fused ffn_up, or to ffn_gate.

    base-code stores [up; gate] and computes up * GELU(gate), so only a split
    (or swapped fused) tensor gives the original's result.
    """
    checkpoint, _ = variant_models("code")
    if writing.startswith("fused"):
        order = "as stored" if "as stored" in writing else "swapped"
        monkeypatch.setattr(ArchitectureConverter, "gguf_tensors", _fused_up(order))
        monkeypatch.setattr(ArchitectureConverter, "tensor_count",
                            property(lambda self: len(self._names)))
    elif "exchanged" in writing:
        monkeypatch.setattr(ArchitectureConverter, "gguf_tensors", _split_swapped)
    out = tmp_path / "code.gguf"
    convert_checkpoint(checkpoint, out, output_type="f32", verify=False)
    reference = ReferenceModel.from_checkpoint(checkpoint)
    with Embedder(out, device="cpu") as e:
        cosines = [_cosine(e.embed(t), reference.token_states(e.tokenize(t)).mean(axis=0))
                   for t in (PROBES["paragraph"], PROBES["code"])]
    if right:
        assert min(cosines) >= 0.9999
    else:
        assert max(cosines) < 0.99


def test_verification_reports_llama_cpp_token_agreement(variant_models: Models,
                                                        tmp_path: Path) -> None:
    """Our tokens decide the verdict; llama.cpp's own are information, per probe."""
    checkpoint, _ = variant_models("de")
    report = convert_checkpoint(checkpoint, tmp_path / "de.gguf", output_type="f32")
    assert report.verification is not None and report.verification.status == "ok"
    with Embedder(report.output, device="cpu") as e:
        for probe in report.verification.probes:
            text = PROBES[probe.name]
            assert probe.tokens_match
            assert probe.llama_tokens_match == (e.llama_tokenize(text) == e.tokenize(text))
    assert "llama.cpp ids" in report.verification.table()
