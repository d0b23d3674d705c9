"""The one error hierarchy of jina-edge.

Every error a user can cause derives from `JinaEdgeError`; its message names the
bad value and the next step. The CLI turns these into one-line errors.
"""

from __future__ import annotations


class JinaEdgeError(Exception):
    """Base class of every error jina-edge raises on purpose."""


class ModelNotFoundError(JinaEdgeError):
    """A model name or path that does not lead to a model file."""


class CheckpointError(JinaEdgeError):
    """A Hugging Face checkpoint directory that cannot be read or is damaged."""


class UnsupportedModelError(JinaEdgeError):
    """An architecture or tokenizer that jina-edge does not handle (yet)."""


class ConversionError(JinaEdgeError):
    """A conversion that failed, including one that failed verification."""


class InvalidModelFileError(JinaEdgeError):
    """A GGUF file that is truncated, corrupt or not an embedding model."""


class InputTooLongError(JinaEdgeError):
    """A text longer than the model's window under the "error" policy."""

    def __init__(self, message: str, *, n_tokens: int, max_tokens: int) -> None:
        super().__init__(message)
        self.n_tokens = n_tokens
        self.max_tokens = max_tokens


class DownloadError(JinaEdgeError):
    """A model could not be downloaded: no network, unknown repository or revision, bad hash.

    `offline` is true when the hub could not be reached at all, so that an app
    can say so in its own words.
    """

    def __init__(self, message: str, *, offline: bool = False) -> None:
        super().__init__(message)
        self.offline = offline


class IndexDatabaseError(JinaEdgeError):
    """An index database that cannot be opened, or was written by a newer version."""


class BackendError(JinaEdgeError):
    """llama.cpp refused or failed an operation."""


class SettingError(JinaEdgeError):
    """A bad value in the config file, a JINA_EDGE_* variable or an option."""


class ModelNameError(JinaEdgeError):
    """A name that cannot be given to an installed model."""


class IndexNotFoundError(JinaEdgeError):
    """No index database where one was named (or at the default place)."""


class FolderError(JinaEdgeError):
    """A folder that cannot be added to, removed from or paused in an index."""


class ModelMismatchError(JinaEdgeError):
    """An index embedded with another model than the one asked for."""


class QueryError(JinaEdgeError):
    """A search query, mode or filter that cannot be searched for."""


class FileRefusedError(JinaEdgeError):
    """A file an index will not read: not indexed, outside its folders, or changed since."""


class MissingDependencyError(JinaEdgeError):
    """An optional dependency is not installed; the message has the pip line."""
