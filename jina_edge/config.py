"""Where jina-edge keeps its files and how settings resolve.

A setting resolves as: function argument > ``JINA_EDGE_<NAME>`` environment
variable > the config file > the built-in default. Nothing is created at import.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

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


def setting(name: str, argument: Any = None, *, default: Any = None) -> Any:
    """Resolve a setting: argument > JINA_EDGE_<NAME> > config file > default."""
    if argument is not None:
        return argument
    env = os.environ.get(ENV_PREFIX + name.upper())
    if env:
        return env
    value = load_config().get(name)
    return default if value is None else value


def _source(name: str) -> str:
    """Where a setting given by no argument came from: its variable, or the config file."""
    env = ENV_PREFIX + name.upper()
    return env if os.environ.get(env) else f"the config file's {name!r} ({config_path()})"


def _origin(name: str, argument: Any) -> str:
    """Where a setting's value came from, as the person would write it."""
    if argument is not None:
        return f"{name.replace('_', '-')} {argument!r}"
    env = ENV_PREFIX + name.upper()
    if os.environ.get(env):
        return f"{env}={os.environ[env]!r}"
    return f"the config file's {name!r} ({config_path()})"


def int_setting(name: str, argument: Any = None, *, default: int | None, minimum: int,
                maximum: int | None = None) -> int | None:
    """A whole-number setting (see `setting`), checked against its range.

    Raises:
        JinaEdgeError: naming where the bad value came from.
    """
    value = setting(name, argument, default=default)
    if value is None:
        return None
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(value)
        number = int(value)
    except (TypeError, ValueError):
        raise SettingError(f"{_origin(name, argument)} is not a whole number") from None
    if number < minimum or (maximum is not None and number > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise SettingError(f"{_origin(name, argument)} must be at least {minimum}{upper}")
    return number


def choice_setting(name: str, argument: Any = None, *, default: str,
                   choices: tuple[str, ...]) -> str:
    """A setting that is one of `choices` (see `setting`).

    Raises:
        JinaEdgeError: naming where the bad value came from and the choices.
    """
    value = str(setting(name, argument, default=default))
    if value not in choices:
        raise SettingError(f"{_origin(name, argument)} must be one of {', '.join(choices)}")
    return value


def list_setting(name: str, *, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A list of strings: a JSON list in the config file, comma-separated in a variable.

    Raises:
        JinaEdgeError: for any other value, naming where it came from.
    """
    value = setting(name, default=default)
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(",") if p.strip())
    if not isinstance(value, list | tuple) or not all(isinstance(p, str) for p in value):
        raise SettingError(f"{_origin(name, None)} must be a list of strings, e.g. "
                            '["*.log", "build/"]')
    return tuple(value)


def bool_setting(name: str, *, default: bool = False) -> bool:
    """A yes/no setting: true/false in the config file; 1, true, yes or on in a variable.

    Raises:
        JinaEdgeError: for any other value, naming where it came from.
    """
    value = setting(name, default=default)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if isinstance(value, str) and text in ("1", "true", "yes", "on", "0", "false", "no", "off",
                                           ""):
        return text in ("1", "true", "yes", "on")
    raise SettingError(f"{_origin(name, None)} must be true or false")


def home_dir() -> Path:
    """The data folder (models, indexes): $JINA_EDGE_HOME, config "home" or the platform's."""
    home = setting("home", default=platformdirs.user_data_dir(APP_NAME))
    return folder(home, _source("home"))


def cache_dir() -> Path:
    """Files made from others, safe to delete: $JINA_EDGE_CACHE, config "cache", or the OS's."""
    cache = setting("cache", default=platformdirs.user_cache_dir(APP_NAME))
    return folder(cache, _source("cache"))


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
