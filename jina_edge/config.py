"""Every setting (`SETTINGS`), how one resolves (`get`), and where jina-edge keeps its files.

A setting resolves as: function argument > ``JINA_EDGE_<NAME>`` environment
variable > the config file > its default. The CLI's options, the server, the
desktop app's settings dialog and `jina-edge settings` all read `SETTINGS`.
Nothing is created at import.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

import platformdirs

from jina_edge.errors import SettingError

APP_NAME = "jina-edge"
ENV_PREFIX = "JINA_EDGE_"
HOME_ENV = "JINA_EDGE_HOME"
CONFIG_FILE = "config.json"


def config_path() -> Path:
    """The config file: in $JINA_EDGE_HOME when set, else the platform's config folder."""
    home = os.environ.get(HOME_ENV)
    if home:
        return folder(home, HOME_ENV) / CONFIG_FILE
    return Path(platformdirs.user_config_dir(APP_NAME)) / CONFIG_FILE


def folder(value: object, origin: str) -> Path:
    """A folder setting as an absolute path (~ expanded).

    Raises:
        JinaEdgeError: for a relative path (it would mean another folder in every
            working directory) or a ~user that does not exist.
    """
    try:
        path = Path(str(value)).expanduser()
    except RuntimeError as exc:  # ~name of no user
        raise SettingError(f"{origin} is {value!r}, the home of a user this system does "
                            "not have; give an absolute path") from exc
    if not path.is_absolute():
        raise SettingError(f"{origin} is {value!r}, a relative path; give an absolute one "
                            "(it would name another folder in every working directory)")
    return path


def load_config() -> dict[str, Any]:
    """The config file's settings ({} when there is none).

    Raises:
        JinaEdgeError: when the file exists but is not valid JSON.
    """
    path = config_path()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SettingError(f"cannot read the config file {path}: {exc}; fix or delete it") from exc
    except RecursionError as exc:
        raise SettingError(f"the config file {path} nests too deeply to be a config file; "
                            "fix or delete it") from exc
    if not isinstance(data, dict):
        raise SettingError(f"the config file {path} must hold a JSON object")
    return data


def save_config(updates: dict[str, Any]) -> None:
    """Merge `updates` into the config file (a None value removes a key), atomically."""
    path = config_path()
    data = load_config()
    for key, value in updates.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    write_json_atomic(path, data)


MAX_THREADS = 512  # ggml's GGML_MAX_N_THREADS
MIN_MAX_TOKENS = 8  # the shortest window worth running: [CLS], a few tokens, [SEP]

Kind: TypeAlias = Literal["text", "path", "folder", "whole", "choice", "bool", "list",
                          "mapping"]


@dataclass(frozen=True)
class Setting:
    """One setting: its key, type, default, and where it shows.

    Attributes:
        name: the config file's key; the environment variable is JINA_EDGE_<NAME>.
        kind: how a value is read and checked: text, path (~ expanded), folder (an
            absolute path), whole (a whole number in [minimum, maximum]), choice,
            bool, list (of strings; comma-separated in a variable), mapping (name: text).
        help: what it does, in a line (`jina-edge settings`, option help, the app's tooltip).
        default: the value when none is set; None where it is worked out where it
            is used (`help` says how).
        minimum, maximum: a whole number's range (None: open).
        choices: a choice's values.
        label: shown in the desktop app's settings dialog under this label ("": not there).
        unit: shown after a whole number in the app.
    """

    name: str
    kind: Kind
    help: str
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    label: str = ""
    unit: str = ""

    @property
    def variable(self) -> str:
        """The environment variable that sets it."""
        return ENV_PREFIX + self.name.upper()

    def check(self, value: Any, origin: str, source: str | None = None) -> Any:
        """`value` as this setting's type.

        Args:
            value: as given, read from a variable or from the config file.
            origin: where the value came from, with the value, for messages
                ("JINA_EDGE_THREADS='abc'").
            source: the same without the value ("JINA_EDGE_HOME"), for folders.

        Raises:
            SettingError: naming `origin` and what a good value is.
        """
        if self.kind == "whole":
            return _whole(value, origin, self.minimum, self.maximum)
        if self.kind == "choice":
            if str(value) not in self.choices:
                raise SettingError(f"{origin} must be one of {', '.join(self.choices)}")
            return str(value)
        if self.kind == "bool":
            return _yes_or_no(value, origin)
        if self.kind == "list":
            return _strings(value, origin)
        if self.kind == "mapping":
            if not isinstance(value, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                raise SettingError(f"{origin} must be an object of name: text, e.g. "
                                   '{"notes": "~/notes.db"}')
            return dict(value)
        if not isinstance(value, str | os.PathLike):
            raise SettingError(f"{origin} must be text")
        if self.kind == "folder":
            return folder(value, source or origin)
        if self.kind == "path":
            return Path(value).expanduser()
        return str(value)


SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("home", "folder", "data folder: models, indexes (default: the platform's)"),
    Setting("cache", "folder", "files made from others, safe to delete, such as ONNX graphs "
            "(default: the platform's cache folder)"),
    Setting("model", "text", "default model: an installed name or a GGUF file (default: the "
            "one installed embedding model, else jina-embeddings-v2-small-en)", label="Model"),
    Setting("reranker", "text", "default reranker (default: the installed one, else "
            "jina-reranker-v1-turbo-en)"),
    Setting("threads", "whole", "CPU threads (default: the physical cores)", minimum=1,
            maximum=MAX_THREADS, label="Threads"),
    Setting("device", "choice", "where models run", default="auto",
            choices=("auto", "cpu", "gpu"), label="Device"),
    Setting("engine", "choice", "CPU engine: auto is ONNX Runtime when its graph gives the "
            "reference's vectors, else llama.cpp", default="auto",
            choices=("auto", "llama.cpp", "onnxruntime")),
    Setting("max_tokens", "whole", "longest sequence to run, which caps memory (default: the "
            "model's window)", minimum=MIN_MAX_TOKENS),
    # Retrieves about as well as smaller chunks, with fewer of them (docs/performance.md,
    # "Chunk size").
    Setting("chunk_tokens", "whole", "passage size in model tokens; an index keeps that of its "
            "first sync", default=256, minimum=8, maximum=8192, label="Chunk size",
            unit="tokens"),
    Setting("overlap_tokens", "whole", "model tokens a passage repeats from the one before",
            default=32, minimum=0),
    # Attention's cost grows with the square of the length (docs/performance.md).
    Setting("late_chunking_tokens", "whole", "longest document embedded whole, its passages "
            "pooled from it (0: off)", default=2048, minimum=0),
    Setting("patterns", "list", "files to leave out, in gitignore syntax, one a line",
            default=(), label="Ignore patterns"),
    Setting("include_hidden", "bool", "index hidden files and folders", default=False),
    Setting("index", "path", "default index database (default: <home>/indexes/default.db)",
            label="Index file"),
    # A 2 GB log must never be read into memory, least of all on a 4 GB Raspberry Pi.
    # At least 1: a limit of 0 would leave every file out, and a sync then forgets the index.
    Setting("max_file_bytes", "whole", "larger files are skipped unread, saying so",
            default=50_000_000, minimum=1),
    # A 50 MB HTML page of short paragraphs makes millions: hours of embedding for one file.
    Setting("max_file_passages", "whole", "a file whose text makes more passages is skipped, "
            "saying so", default=20_000, minimum=1),
    Setting("rerank", "bool", "searches order their best results with the reranker",
            default=False),
    Setting("rerank_depth", "whole", "how many of the best results a reranked search scores",
            default=20, minimum=1, maximum=200),
    Setting("api_key", "text", "the key the HTTP server asks for (default: none)"),
    Setting("server_indexes", "mapping", "the indexes the HTTP server searches, "
            '{"name": "path"} (default: the default index)'),
    Setting("watch", "bool", "desktop app: watch the folders for changes", default=True),
    Setting("watch_on_login", "bool", "desktop app: start `jina-edge index watch` at login "
            "(Linux)", default=False, label="Start watching my folders when I log in"),
)}


def get(name: str, argument: Any = None) -> Any:
    """A setting's value: argument > JINA_EDGE_<NAME> > config file > its default, checked.

    Raises:
        KeyError: for a name not in `SETTINGS`.
        SettingError: for a bad value, naming where it came from.
    """
    return resolve(name, argument)[0]


def resolve(name: str, argument: Any = None) -> tuple[Any, str]:
    """A setting's value (see `get`) and its source: option, variable, "config file", "default".

    Raises:
        KeyError: for a name not in `SETTINGS`.
        SettingError: for a bad value, naming where it came from.
    """
    spec = SETTINGS[name]
    if argument is not None:
        option = "--" + spec.name.replace("_", "-")
        return spec.check(argument, f"{option} {argument!r}", option), option
    env = os.environ.get(spec.variable)
    if env:
        return spec.check(env, f"{spec.variable}={env!r}", spec.variable), spec.variable
    value = load_config().get(spec.name)
    if value is None:
        return spec.default, "default"
    where = f"the config file's {spec.name!r} ({config_path()})"
    return spec.check(value, where, where), "config file"


def _whole(value: Any, origin: str, minimum: int | None, maximum: int | None) -> int:
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(value)
        number = int(value)
    except (TypeError, ValueError):
        raise SettingError(f"{origin} is not a whole number") from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        lower = f"at least {minimum}" if minimum is not None else ""
        upper = f"at most {maximum}" if maximum is not None else ""
        raise SettingError(f"{origin} must be {' and '.join(filter(None, (lower, upper)))}")
    return number


def _strings(value: Any, origin: str) -> tuple[str, ...]:
    """A list of strings: a JSON list in the config file, comma-separated in a variable."""
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(",") if p.strip())
    if not isinstance(value, list | tuple) or not all(isinstance(p, str) for p in value):
        raise SettingError(f"{origin} must be a list of strings, e.g. "
                           '["*.log", "build/"]')
    return tuple(value)


def _yes_or_no(value: Any, origin: str) -> bool:
    """true/false in the config file; 1, true, yes or on (or their opposites) in a variable."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if isinstance(value, str) and text in ("1", "true", "yes", "on", "0", "false", "no", "off",
                                           ""):
        return text in ("1", "true", "yes", "on")
    raise SettingError(f"{origin} must be true or false")


def home_dir() -> Path:
    """The data folder (models, indexes): $JINA_EDGE_HOME, config "home" or the platform's."""
    home = get("home")
    return home if home is not None else Path(platformdirs.user_data_dir(APP_NAME))


def cache_dir() -> Path:
    """Files made from others, safe to delete: $JINA_EDGE_CACHE, config "cache", or the OS's."""
    cache = get("cache")
    return cache if cache is not None else Path(platformdirs.user_cache_dir(APP_NAME))


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never half of one."""
    write_bytes_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
