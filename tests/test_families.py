"""The model-family registry: every family is unambiguous and speaks llama.cpp's names."""

from __future__ import annotations

import gguf
import pytest

from jina_edge import families
from jina_edge.families import FAMILIES, Dims, Family, family_of, tensor_shapes
from jina_edge.models.catalog import catalog_models

GGUF_NAMES = set(gguf.TENSOR_NAMES.values())


@pytest.mark.parametrize("name", FAMILIES)
def test_each_family_is_told_apart_from_the_others_by_its_own_tensors(name: str) -> None:
    fam = FAMILIES[name]
    names = tensor_shapes(fam, Dims(8, 16, 2, 10))
    for arch in fam.hf_architectures:
        assert family_of([arch], names) is fam
    assert family_of([arch], {f"bert.{n}" for n in names}) is fam  # a wrapper's names


@pytest.mark.parametrize("name", FAMILIES)
def test_each_role_is_a_tensor_llama_cpp_knows(name: str) -> None:
    fam = FAMILIES[name]
    assert fam.gguf_architecture in gguf.MODEL_ARCH_NAMES.values()
    for role in [*fam.embeddings, *fam.head]:
        assert role in GGUF_NAMES or role == "pooler"  # the pooler goes into metadata
    for role in fam.layer:
        assert f"blk.{{bid}}.{role}" in GGUF_NAMES
    if fam.feed_forward == "geglu-up-first":  # written split, as ffn_up and ffn_gate
        assert "blk.{bid}.ffn_gate" in GGUF_NAMES


def test_the_catalogue_names_registered_families_only() -> None:
    assert {m.family for m in catalog_models()} <= set(FAMILIES)
    assert {m.model_id for m in catalog_models("reranker")} == {
        m.model_id for m in catalog_models() if FAMILIES[m.family].is_reranker}


def test_a_family_with_an_unknown_role_or_a_taken_name_is_refused() -> None:
    bert = FAMILIES["bert"]
    odd = Family(**{**bert.__dict__, "name": "odd", "layer": {**bert.layer, "ffn_x": "x"}})
    with pytest.raises(ValueError, match="unknown roles"):
        families.register(odd)
    with pytest.raises(ValueError, match="duplicate name"):
        families.register(bert)
    assert "odd" not in FAMILIES


def test_an_unknown_architecture_has_no_family() -> None:
    assert family_of(["XLMRobertaModel"], {"embeddings.word_embeddings.weight"}) is None


def test_every_family_has_a_test_checkpoint_and_every_checkpoint_a_family() -> None:
    """A family's tests run on its variants (the ONNX graph test takes one of each)."""
    from jina_edge.convert.synthetic import VARIANTS

    assert {v.family for v in VARIANTS.values()} == set(FAMILIES)
    assert {v.model for v in VARIANTS.values()} <= {m.model_id for m in catalog_models()}
