"""The types gguf-py writes are llama.cpp's, byte for byte; the others need the llama extra."""

from __future__ import annotations

from pathlib import Path

import gguf
import pytest

from jina_edge.convert import convert_checkpoint, quantize
from jina_edge.convert.quantize import WRITTEN_DIRECTLY, quantize_file
from jina_edge.errors import ConversionError


@pytest.mark.parametrize("output_type", sorted(set(WRITTEN_DIRECTLY) - {"f32"}))
@pytest.mark.parametrize("fixture", ["jina_tiny", "jina_12_heads"])  # rows of 32 and 48
def test_a_type_gguf_py_writes_is_what_llama_cpps_quantizer_writes(
        output_type: str, fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="llama.cpp is what the bytes are compared with")
    checkpoint = request.getfixturevalue(fixture)
    f32 = convert_checkpoint(checkpoint, tmp_path / "f32.gguf", output_type="f32",
                             verify=False).output
    ours = convert_checkpoint(checkpoint, tmp_path / "ours.gguf", output_type=output_type,
                              verify=False).output
    quantize_file(f32, tmp_path / "llama.gguf", output_type)
    theirs = {t.name: t for t in gguf.GGUFReader(tmp_path / "llama.gguf").tensors}
    mine = {t.name: t for t in gguf.GGUFReader(ours).tensors}
    assert mine.keys() == theirs.keys()
    for name, tensor in mine.items():
        assert tensor.tensor_type == theirs[name].tensor_type, name
        assert tensor.data.tobytes() == theirs[name].data.tobytes(), name
    assert {t.tensor_type for t in mine.values()} > {gguf.GGMLQuantizationType.F32}


def test_a_type_only_llama_cpp_writes_names_the_extra_when_it_is_missing(
        jina_tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quantize, "llama_cpp_installed", lambda: False)
    with pytest.raises(ConversionError, match=r"q4_k_m needs .*pip install 'jina-edge\[llama\]'"):
        convert_checkpoint(jina_tiny, tmp_path / "m.gguf", output_type="q4_k_m")
    assert not (tmp_path / "m.gguf").exists()
    converted = convert_checkpoint(jina_tiny, tmp_path / "m.gguf", output_type="q8_0")
    assert converted.verification is not None and converted.verification.status == "ok"
