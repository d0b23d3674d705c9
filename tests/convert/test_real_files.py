"""The synthetic checkpoints follow the real files (issue 31), in tests/fixtures/realfiles.

Each variant carries its model's real config.json (dimensions cut), the real
dtype and vocabulary size, and a tokenizer of the real structure whose ids on
the reference cases (the texts transformers.js checks the real tokenizers
against, with their real tokens and ids) are the real ones. The rerankers are
checked as published, end to end: convert and verify, `models import`,
`rerank`, `/v1/rerank`, `search --rerank` and `models pull`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from safetensors import safe_open
from tokenizers import Tokenizer

from jina_edge import Embedder, Reranker
from jina_edge.cli.main import main
from jina_edge.convert import convert_checkpoint
from jina_edge.convert.architectures import converter_for
from jina_edge.convert.checkpoint import load_checkpoint
from jina_edge.convert.reference import ReferenceModel
from jina_edge.convert.synthetic import (
    REALFILES_DIR,
    REFERENCE_FILE,
    SHAPES,
    VARIANTS,
    reference_cases,
    write_checkpoint,
)
from jina_edge.models.catalog import catalog_model
from jina_edge.models.modelfile import read_model_file

Models = Callable[[str], tuple[Path, Path]]
SHAPE = SHAPES["tiny-12-heads"]
DIMENSIONS = {"hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
              "max_position_embeddings", "model_max_length"}
# Each model with reference ids, and the variant whose tokenizer gives them (base-zh
# and the rerankers share their tokenizer files).
REFERENCE_VARIANT = {
    "jina-embeddings-v2-base-de": "de",
    "jina-embeddings-v2-base-code": "code",
    "jina-reranker-v1-tiny-en": "reranker",
    "jina-embeddings-v2-base-zh": "zh",
}
CASES = [(folder, name) for folder in REFERENCE_VARIANT
         for name in json.loads((REALFILES_DIR / folder / REFERENCE_FILE).read_text("utf-8"))]
QUERY = "How was the pump sized?"
DOCUMENTS = ["We sized the pump for twelve litres per minute.", "She opened a bakery.",
             "Pumps move water."]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory, variant_models: Models,
                jina_12_heads: Path, reranker_checkpoint: Path) -> Callable[[str], Path]:
    """A checkpoint of each variant, shared with the other tests where one exists."""
    made: dict[str, Path] = {"en": jina_12_heads, "reranker": reranker_checkpoint}

    def get(variant: str) -> Path:
        if variant not in made:
            if variant in ("de", "es", "zh", "code"):
                made[variant] = variant_models(variant)[0]
            else:
                made[variant] = write_checkpoint(tmp_path_factory.mktemp(variant), shape=SHAPE,
                                                 variant=variant, seed=41)
        return made[variant]

    return get


def _encode(tokenizer: Tokenizer, case: dict[str, object]) -> tuple[list[str], list[int]]:
    """Tokens (less the special ones around them) and ids, as the reference files hold them."""
    pair = case.get("text_pair")
    encoding = tokenizer.encode(case["text"], pair) if pair else tokenizer.encode(case["text"])
    tokens = [t for t, special in zip(encoding.tokens, encoding.special_tokens_mask, strict=True)
              if not special]
    return tokens, encoding.ids


# --- config, dtype, vocabulary size ---------------------------------------------------


@pytest.mark.parametrize("variant", [v for v in VARIANTS if VARIANTS[v].config is not None])
def test_the_config_is_the_real_one_with_only_the_dimensions_cut(
        variant: str, checkpoints: Callable[[str], Path]) -> None:
    checkpoint = checkpoints(variant)
    real = json.loads((REALFILES_DIR / str(VARIANTS[variant].config) / "config.json").read_text())
    config = json.loads((checkpoint / "config.json").read_text())
    assert list(config) == list(real)  # the real keys in the real order
    assert {key for key in real if config[key] != real[key]} <= DIMENSIONS
    dtype = np.float16 if real.get("torch_dtype") == "float16" else np.float32
    with safe_open(str(checkpoint / "model.safetensors"), framework="numpy") as f:
        names = list(f.keys())
        assert all(f.get_tensor(name).dtype == dtype for name in names)
        prefix = "bert." if variant.startswith("reranker") else ""
        rows = f.get_tensor(f"{prefix}embeddings.word_embeddings.weight").shape[0]
    assert rows == real["vocab_size"]  # the real vocabulary size, not cut
    entries = Tokenizer.from_file(str(checkpoint / "tokenizer.json")).get_vocab_size(True)
    assert entries == rows if VARIANTS[variant].tokenizer != "wordpiece" else rows - entries < 64


def test_the_rerankers_are_as_published(checkpoints: Callable[[str], Path]) -> None:
    turbo = "jinaai/jina-reranker-v1-turbo-en--"
    for variant, remote in (("reranker", ""), ("reranker-turbo", turbo)):
        config = json.loads((checkpoints(variant) / "config.json").read_text())
        assert config["architectures"] == ["JinaBertModel"]  # not the class the weights fit
        assert config["auto_map"]["AutoModelForSequenceClassification"] == (
            f"{remote}modeling_bert.JinaBertForSequenceClassification")
        assert config["torch_dtype"] == "float16"
        with safe_open(str(checkpoints(variant) / "model.safetensors"), framework="numpy") as f:
            names = set(f.keys())
        assert {"classifier.weight", "classifier.bias", "bert.pooler.dense.weight"} <= names
        assert all(n.startswith("bert.") for n in names if not n.startswith("classifier."))


# Each catalogue model whose checkpoint a variant copies.
CATALOGUE_VARIANT = {v.model: name for name, v in VARIANTS.items() if v.model is not None}


@pytest.mark.parametrize("model", CATALOGUE_VARIANT)
def test_each_catalogue_model_is_recognised_as_the_family_its_entry_names(
        model: str, checkpoints: Callable[[str], Path]) -> None:
    checkpoint = load_checkpoint(checkpoints(CATALOGUE_VARIANT[model]))
    assert converter_for(checkpoint).family.name == catalog_model(model).family
    assert ReferenceModel.from_checkpoint(checkpoint.path).family.name == (
        catalog_model(model).family)


@pytest.mark.parametrize("model", [m for m in CATALOGUE_VARIANT
                                   if not CATALOGUE_VARIANT[m].startswith("reranker")])
def test_each_catalogue_embedding_model_imports_verifies_and_embeds_from_the_cli(
        model: str, checkpoints: Callable[[str], Path]) -> None:
    """`models import` converts and verifies against the reference; `embed` gives its vector.

    (The rerankers go the same way in the tests below, through `rerank`.)
    """
    checkpoint = checkpoints(CATALOGUE_VARIANT[model])
    runner = CliRunner()
    name = f"real-{model}"
    imported = runner.invoke(main, ["models", "import", str(checkpoint), "--name", name,
                                    "--type", "f32"])
    assert imported.exit_code == 0, imported.output
    assert "OK:" in runner.invoke(main, ["models", "info", name]).output
    text = "Die Pumpe förderte 12 Liter pro Minute; def pump(): return 12"
    embedded = runner.invoke(main, ["embed", "-m", name, text])
    assert embedded.exit_code == 0, embedded.output
    vector = np.asarray(json.loads(embedded.output)["embedding"])
    assert float(vector @ ReferenceModel.from_checkpoint(checkpoint).embed(text)) > 0.9999


# --- tokenizer structures --------------------------------------------------------------


def test_base_de_is_plain_byte_level_bpe(checkpoints: Callable[[str], Path]) -> None:
    """GPT-2's split regex, spaces kept as Ġ; a Whitespace split in front gives other ids."""
    structure = json.loads((checkpoints("de") / "tokenizer.json").read_text())
    assert structure["normalizer"] is None
    assert structure["pre_tokenizer"] == {"type": "ByteLevel", "add_prefix_space": False,
                                          "trim_offsets": True, "use_regex": True}
    assert structure["model"]["type"] == "BPE"


@pytest.mark.parametrize("variant", ["zh", "reranker", "reranker-turbo"])
def test_base_zh_and_the_rerankers_lowercase_split_at_whitespace_and_keep_raw_pieces(
        variant: str, checkpoints: Callable[[str], Path]) -> None:
    structure = json.loads((checkpoints(variant) / "tokenizer.json").read_text())
    assert structure["normalizer"] == {"type": "Lowercase"}
    assert structure["pre_tokenizer"] == {"type": "Whitespace"}
    model = structure["model"]
    assert model["type"] == "BPE" and model["unk_token"] == "<unk>" and not model["fuse_unk"]
    assert model["vocab"]["\u0000"] == 5  # a raw control character, as in the real one
    assert not any(t.startswith("Ġ") and len(t) > 1 for t in model["vocab"])  # not byte-level


def test_base_code_carries_its_real_tokenizer_config(checkpoints: Callable[[str], Path]) -> None:
    real = REALFILES_DIR / "jina-embeddings-v2-base-code" / "tokenizer_config.json"
    assert (checkpoints("code") / "tokenizer_config.json").read_bytes() == real.read_bytes()


# --- the real ids on the reference cases -------------------------------------------------


@pytest.mark.parametrize(("model", "case"), CASES)
def test_the_tokenizer_gives_the_real_tokens_and_ids(model: str, case: str,
                                                     checkpoints: Callable[[str], Path]) -> None:
    reference = reference_cases([REALFILES_DIR / model])[case]
    checkpoint = checkpoints(REFERENCE_VARIANT[model])
    tokenizer = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
    tokens, ids = _encode(tokenizer, reference)
    assert tokens == reference["tokens"]
    assert ids == reference["ids"]


@pytest.mark.parametrize("model", ["jina-embeddings-v2-base-de", "jina-embeddings-v2-base-code",
                                   "jina-embeddings-v2-base-zh"])
def test_the_gguf_tokenizes_the_reference_cases_as_the_real_tokenizer(
        model: str, variant_models: Models) -> None:
    _, gguf_path = variant_models(REFERENCE_VARIANT[model])
    variant = VARIANTS[REFERENCE_VARIANT[model]]
    cases = reference_cases([REALFILES_DIR / f for f in variant.reference])
    with Embedder(gguf_path, device="cpu") as e:
        for case in cases.values():
            if "text_pair" not in case:
                assert e.tokenize(case["text"]) == case["ids"]


def test_the_reranker_gguf_pairs_the_reference_cases_as_the_real_tokenizer(
        reranker_gguf: Path) -> None:
    cases = list(reference_cases([REALFILES_DIR / "jina-reranker-v1-tiny-en"]).values())
    with Reranker(reranker_gguf, device="cpu") as reranker:
        for query, document in zip(cases, cases[1:], strict=False):
            # <s> query </s></s> document </s>
            assert reranker.tokenize_pair(query["text"], document["text"]) == [
                *query["ids"], 2, *document["ids"][1:]]


# What plain llama.cpp's own tokenizer makes of the reference cases, from the GGUF's
# vocabulary (information for those who run the files in llama.cpp; jina-edge runs
# the original tokenizer). The whitespace tokenizer drops a character it has no
# token for where the original gives <unk> (CURRENCY's "₣", MULTIBYTE_EMOJIS's "👁"
# and tag characters), and it reads the NUL token (id 5) as an empty string, so
# CONTROL_TOKENS loses it. Byte-level BPE agrees everywhere.
LLAMA_CPP_DIFFERS = {"de": set(), "code": set(),
                     "zh": {"CONTROL_TOKENS", "CURRENCY", "MULTIBYTE_EMOJIS"}}


@pytest.mark.parametrize("variant", LLAMA_CPP_DIFFERS)
def test_what_llama_cpps_own_tokenizer_makes_of_the_reference_cases(
        variant: str, variant_models: Models) -> None:
    _, gguf_path = variant_models(variant)
    cases = reference_cases([REALFILES_DIR / f for f in VARIANTS[variant].reference])
    with Embedder(gguf_path, device="cpu") as e:
        differ = {name for name, case in cases.items()
                  if "text_pair" not in case and e.llama_tokenize(case["text"]) != case["ids"]}
    assert differ == LLAMA_CPP_DIFFERS[variant]


# --- rerankers as published, end to end ---------------------------------------------------


def _assert_as_published(checkpoint: Path) -> None:
    config = json.loads((checkpoint / "config.json").read_text())
    tokenizer = json.loads((checkpoint / "tokenizer.json").read_text())
    assert config["architectures"] == ["JinaBertModel"] and config["torch_dtype"] == "float16"
    assert tokenizer["pre_tokenizer"] == {"type": "Whitespace"}


@pytest.mark.parametrize("variant", ["reranker", "reranker-turbo"])
def test_an_as_published_reranker_converts_and_verifies(
        variant: str, checkpoints: Callable[[str], Path], tmp_path: Path) -> None:
    _assert_as_published(checkpoints(variant))
    report = convert_checkpoint(checkpoints(variant), tmp_path / "r.gguf", output_type="f16")
    assert report.verification is not None and report.verification.status == "ok", (
        report.verification and report.verification.table())
    info = read_model_file(report.output)
    assert info.kind == "reranker" and info.reranker_head is not None


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    for i, text in enumerate(DOCUMENTS):
        (folder / f"{i}.md").write_text(text + " pump")
    return folder


def test_an_as_published_reranker_imported_ranks_on_every_entry_point(
        reranker_checkpoint: Path, jina_tiny_gguf: Path, notes: Path, tmp_path: Path) -> None:
    from jina_edge.server.app import BackgroundServer, create_app

    _assert_as_published(reranker_checkpoint)
    runner = CliRunner()
    imported = runner.invoke(main, ["models", "import", str(reranker_checkpoint),
                                    "--name", "published", "--type", "f16"])
    assert imported.exit_code == 0, imported.output
    info = runner.invoke(main, ["models", "info", "published"]).output
    assert "reranker" in info and "OK:" in info
    # jina-edge rerank
    ranked = runner.invoke(main, ["rerank", "-m", "published", QUERY, *DOCUMENTS])
    assert ranked.exit_code == 0, ranked.output
    rows = [json.loads(line) for line in ranked.output.splitlines()]
    with Reranker("published", device="cpu") as reranker, \
            Embedder(jina_tiny_gguf, device="cpu") as embedder:
        expected = reranker.rerank(QUERY, DOCUMENTS)
        assert [r["index"] for r in rows] == [e.index for e in expected]
        scores = [e.score for e in expected]
        assert max(scores) - min(scores) > 1e-3  # the documents do not all score alike
        # POST /v1/rerank
        with BackgroundServer(create_app(embedder, reranker=reranker)) as server:
            body = httpx.post(f"{server.url}/v1/rerank", timeout=30,
                              json={"query": QUERY, "documents": DOCUMENTS}).json()
    assert [r["index"] for r in body["results"]] == [e.index for e in expected]
    assert [r["relevance_score"] for r in body["results"]] == pytest.approx(scores, abs=1e-6)
    # jina-edge search --rerank
    common = ["--index", str(tmp_path / "i.db"), "--model", str(jina_tiny_gguf)]
    assert runner.invoke(main, ["index", "add", str(notes), *common]).exit_code == 0
    assert runner.invoke(main, ["index", "sync", *common]).exit_code == 0
    found = runner.invoke(main, ["search", "pump", "--mode", "keyword", "--rerank",
                                 "--reranker", "published", *common])
    assert found.exit_code == 0, found.output
    assert len(re.findall(r"reranker 0\.\d+", found.output)) == len(DOCUMENTS)


@pytest.fixture
def turbo_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The fake hub of tests/models serving an as-published turbo checkpoint."""
    from huggingface_hub import file_download

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "models"))
    from hub_server import FakeHub

    from jina_edge.models.catalog import catalog_model

    entry = catalog_model("jina-reranker-v1-turbo-en")
    checkpoint = write_checkpoint(tmp_path / "turbo", shape=SHAPE, variant="reranker-turbo",
                                  seed=43)
    _assert_as_published(checkpoint)
    monkeypatch.setattr(file_download, "time", SimpleNamespace(sleep=lambda s: None))
    with FakeHub() as fake:
        fake.add_repo(entry.repo, checkpoint)
        monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
        yield fake


def test_models_pull_jina_reranker_v1_turbo_en(turbo_hub: object) -> None:
    runner = CliRunner()
    pulled = runner.invoke(main, ["models", "pull", "jina-reranker-v1-turbo-en", "--type", "f16"])
    assert pulled.exit_code == 0, pulled.output
    assert "installed jina-reranker-v1-turbo-en:f16" in pulled.output
    from jina_edge.models.installed import find_installed

    installed = find_installed("jina-reranker-v1-turbo-en")
    assert installed is not None
    manifest = json.loads(installed.path.with_suffix(".json").read_text())
    assert manifest["kind"] == "reranker" and manifest["verification"]["status"] == "ok"
    ranked = runner.invoke(main, ["rerank", QUERY, *DOCUMENTS])  # the default reranker
    assert ranked.exit_code == 0, ranked.output
    assert len(ranked.output.splitlines()) == len(DOCUMENTS)
