"""The models jina-edge knows by name: data, not code."""

from __future__ import annotations

from dataclasses import dataclass

from jina_edge.errors import ModelNotFoundError
from jina_edge.families import family

DEFAULT_MODEL_ID = "jina-embeddings-v2-small-en"
# The reranker used when none is named and several or none are installed.
DEFAULT_RERANKER_ID = "jina-reranker-v1-turbo-en"
# Files a checkpoint needs; a missing optional one is skipped.
CHECKPOINT_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
)
REQUIRED_FILES = ("config.json", "model.safetensors")


@dataclass(frozen=True)
class CatalogModel:
    """A model jina-edge can pull by name.

    Attributes:
        model_id: the name users type.
        repo: Hugging Face repository.
        revision: the commit pulled, pinned so that a name always means the
            same weights ("main" where no public source pins one: see the
            entry's comment).
        dim: embedding dimensions.
        max_tokens: the model's window.
        license: SPDX identifier of the weights' licence.
        family: the model family (jina_edge.families) of its checkpoint.
        sha256: known sha256 of model.safetensors at that revision, or None
            (the hub's own LFS hash is checked in every case).
        description: one line for `models list`.
        layers: encoder layers, where the entry states them.
        on_hub: False for a model whose weights are not published on the
            hub (it can only be imported from a copy).
    """

    model_id: str
    repo: str
    revision: str
    dim: int
    max_tokens: int
    license: str
    family: str
    sha256: str | None = None
    description: str = ""
    layers: int | None = None
    on_hub: bool = True

    @property
    def kind(self) -> str:
        """What the model does, as its family says.

        "embedding", or "reranker" for a cross-encoder that scores (query,
        document) pairs (`dim` is then its hidden size).
        """
        return "reranker" if family(self.family).is_reranker else "embedding"


# Revisions are the ones the MTEB leaderboard evaluated
# (embeddings-benchmark/mteb, mteb/models/*.py), where it pins one.
_MODELS = (
    CatalogModel(
        model_id="jina-embeddings-v2-small-en",
        repo="jinaai/jina-embeddings-v2-small-en",
        revision="44e7d1d6caec8c883c2d4b207588504d519788d0",
        dim=512, max_tokens=8192, license="apache-2.0", family="jina-bert-v2",
        description="Jina v2 small, English, 33M parameters, 8k tokens (default)",
    ),
    CatalogModel(
        model_id="jina-embeddings-v2-base-en",
        repo="jinaai/jina-embeddings-v2-base-en",
        revision="6e85f575bc273f1fd840a658067d0157933c83f0",
        dim=768, max_tokens=8192, license="apache-2.0", family="jina-bert-v2",
        description="Jina v2 base, English, 137M parameters, 8k tokens",
    ),
    # MTEB has no pinned revision for the four bilingual/code models (its results
    # for them are "external", reported by Jina), so these come from elsewhere.
    CatalogModel(
        model_id="jina-embeddings-v2-base-de",
        repo="jinaai/jina-embeddings-v2-base-de",
        # No public source seen pins a commit of this repository: "main".
        revision="main",
        dim=768, max_tokens=8192, license="apache-2.0", family="jina-bert-v2",
        description="Jina v2 base, German and English, 161M parameters, 8k tokens",
    ),
    CatalogModel(
        model_id="jina-embeddings-v2-base-es",
        repo="jinaai/jina-embeddings-v2-base-es",
        # No public source seen pins a commit of this repository: "main".
        revision="main",
        dim=768, max_tokens=8192, license="apache-2.0", family="jina-bert-v2-qk-norm",
        description="Jina v2 base, Spanish and English, 161M parameters, 8k tokens",
    ),
    CatalogModel(
        model_id="jina-embeddings-v2-base-zh",
        repo="jinaai/jina-embeddings-v2-base-zh",
        # The commit a third-party release manifest pins, with the README's sha256
        # (GitHub code search: "jina-embeddings-v2-base-zh/resolve/998b9133...").
        revision="998b9133910ffcb127a7bff233f41db6ed9be4d2",
        dim=768, max_tokens=8192, license="apache-2.0", family="jina-bert-v2",
        description="Jina v2 base, Chinese and English, 161M parameters, 8k tokens",
    ),
    CatalogModel(
        model_id="jina-embeddings-v2-base-code",
        repo="jinaai/jina-embeddings-v2-base-code",
        # The commit several third-party projects pin, with file hashes (e.g. a nix
        # fetchurl of ".../jina-embeddings-v2-base-code/resolve/516f4baf...").
        revision="516f4baf13dec4ddddda8631e019b5737c8bc250",
        dim=768, max_tokens=8192, license="apache-2.0", family="jina-bert-v2-qk-post-norm",
        description="Jina v2 base, source code and English, 161M parameters, 8k tokens",
    ),
    CatalogModel(
        model_id="all-minilm-l6-v2",
        repo="sentence-transformers/all-MiniLM-L6-v2",
        revision="8b3219a92973c328a8e22fadcfa821b5dc75636a",
        dim=384, max_tokens=512, license="apache-2.0", family="bert",
        description="BERT family: small and fast, 512 tokens",
    ),
    CatalogModel(
        model_id="bge-small-en-v1.5",
        repo="BAAI/bge-small-en-v1.5",
        revision="5c38ec7c405ec4b44b94cc5a9bb96e735b38267a",
        dim=384, max_tokens=512, license="mit", family="bert",
        description="BERT family: strong small retriever, 512 tokens",
    ),
    # Jina's cross-encoders (layers and widths from their model cards). No public
    # source seen pins commits of these repositories: "main".
    CatalogModel(
        model_id="jina-reranker-v1-turbo-en",
        repo="jinaai/jina-reranker-v1-turbo-en",
        revision="main",
        dim=384, max_tokens=8192, license="apache-2.0", family="jina-reranker-v1",
        layers=6,
        description="Jina reranker v1 turbo, English, 6 layers, 37.8M parameters, 8k tokens",
    ),
    CatalogModel(
        model_id="jina-reranker-v1-tiny-en",
        repo="jinaai/jina-reranker-v1-tiny-en",
        revision="main",
        dim=384, max_tokens=8192, license="apache-2.0", family="jina-reranker-v1",
        layers=4,
        description="Jina reranker v1 tiny, English, 4 layers, 33.0M parameters, 8k tokens",
    ),
    CatalogModel(
        # The model card: "Currently, the jina-reranker-v1-base-en model is not
        # available on Hugging Face. You can access it via the Jina AI Reranker API."
        model_id="jina-reranker-v1-base-en",
        repo="jinaai/jina-reranker-v1-base-en",
        revision="main",
        dim=768, max_tokens=8192, license="apache-2.0", family="jina-reranker-v1",
        layers=12, on_hub=False,
        description="Jina reranker v1 base, English, 12 layers, 137M parameters, 8k tokens "
                    "(weights not on the hub: import a copy)",
    ),
)


def catalog_models(kind: str | None = None) -> list[CatalogModel]:
    """Every model known by name (of one kind, if given), the default first."""
    return [m for m in _MODELS if kind is None or m.kind == kind]


def find_catalog_model(name: str) -> CatalogModel | None:
    """The catalogue entry for a model id or repository name (case-insensitive)."""
    key = name.strip().lower()
    for model in _MODELS:
        if key in (model.model_id.lower(), model.repo.lower()):
            return model
    return None


def catalog_model(name: str) -> CatalogModel:
    """Like `find_catalog_model`, but an unknown name is an error listing the known ones.

    Raises:
        ModelNotFoundError: for a name not in the catalogue.
    """
    model = find_catalog_model(name)
    if model is None:
        known = ", ".join(m.model_id for m in _MODELS)
        raise ModelNotFoundError(
            f"{name!r} is not in the catalogue (known: {known}); for another checkpoint "
            "use `jina-edge models import PATH`"
        )
    return model
