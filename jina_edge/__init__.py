"""jina-edge: Jina Embeddings v2 on your own machine, offline."""

from __future__ import annotations

from jina_edge.embedder import Embedder, EmbeddingResult, count_tokens, embed
from jina_edge.errors import (
    BackendError,
    CheckpointError,
    ConversionError,
    DownloadError,
    FileRefusedError,
    FolderError,
    IndexNotFoundError,
    InputTooLongError,
    InvalidModelFileError,
    JinaEdgeError,
    MissingDependencyError,
    ModelMismatchError,
    ModelNameError,
    ModelNotFoundError,
    QueryError,
    SettingError,
    UnsupportedModelError,
)
from jina_edge.index.db import Filters
from jina_edge.index.keywords import match_spans
from jina_edge.index.ranking import SEARCH_MODES, SearchMode
from jina_edge.index.search import Hit
from jina_edge.index.service import Index
from jina_edge.index.sync import SyncSettings
from jina_edge.reranker import Reranker, RerankResult

__version__ = "0.1.0"

__all__ = [
    "SEARCH_MODES",
    "BackendError",
    "CheckpointError",
    "ConversionError",
    "DownloadError",
    "Embedder",
    "EmbeddingResult",
    "FileRefusedError",
    "Filters",
    "FolderError",
    "Hit",
    "Index",
    "IndexNotFoundError",
    "InputTooLongError",
    "InvalidModelFileError",
    "JinaEdgeError",
    "MissingDependencyError",
    "ModelMismatchError",
    "ModelNameError",
    "ModelNotFoundError",
    "QueryError",
    "RerankResult",
    "Reranker",
    "SearchMode",
    "SettingError",
    "SyncSettings",
    "UnsupportedModelError",
    "__version__",
    "count_tokens",
    "embed",
    "match_spans",
]
