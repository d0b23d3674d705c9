"""Settings from the command line, the environment and the config file: bad values are one
line naming where they came from, never a traceback."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jina_edge.config import SETTINGS, config_path, get
from jina_edge.errors import JinaEdgeError


def test_whole_numbers_come_from_each_source_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text(json.dumps({"threads": 3}))
    assert get("threads") == 3
    monkeypatch.setenv("JINA_EDGE_THREADS", "2")
    assert get("threads") == 2
    assert get("threads", 5) == 5


@pytest.mark.parametrize(("source", "value", "said"), [
    ("env", "abc", "JINA_EDGE_THREADS='abc' is not a whole number"),
    ("env", "0", "JINA_EDGE_THREADS='0' must be at least 1"),
    ("config", "many", "config file's 'threads'"),
    ("config", 2.5, "is not a whole number"),
    ("config", True, "is not a whole number"),
])
def test_bad_whole_numbers_name_their_source(monkeypatch: pytest.MonkeyPatch, source: str,
                                             value: object, said: str) -> None:
    if source == "env":
        monkeypatch.setenv("JINA_EDGE_THREADS", str(value))
    else:
        config_path().parent.mkdir(parents=True, exist_ok=True)
        config_path().write_text(json.dumps({"threads": value}))
    with pytest.raises(JinaEdgeError, match=said):
        get("threads")


def test_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    assert get("device") == "auto"
    monkeypatch.setenv("JINA_EDGE_DEVICE", "tpu")
    with pytest.raises(JinaEdgeError, match="JINA_EDGE_DEVICE='tpu' must be one of auto, cpu, gpu"):
        get("device")


@pytest.mark.parametrize(("env", "args"), [
    ({"JINA_EDGE_THREADS": "abc"}, ["embed", "hi"]),
    ({"JINA_EDGE_DEVICE": "tpu"}, ["embed", "hi"]),
    ({"JINA_EDGE_MAX_FILE_BYTES": "-1"}, ["index", "sync"]),
    ({}, ["embed", "--max-tokens", "5", "hi"]),
    ({}, ["embed", "--model", "x" * 300, "hi"]),
    ({}, ["search", "pump", "--after", "9999-01-01"]),
])
def test_the_cli_says_one_line(env: dict[str, str], args: list[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    done = subprocess.run([sys.executable, "-m", "jina_edge.cli", *args], capture_output=True,
                          text=True, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1, 2)  # 2: click's usage error, with its usage line
    lines = done.stderr.strip().splitlines()
    assert not lines or lines[-1].startswith("Error: "), done.stderr


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("JINA_EDGE_HOME", "relative-home", "a relative path"),
    ("JINA_EDGE_HOME", "~no-such-user-here/x", "the home of a user this system does not have"),
    ("JINA_EDGE_CACHE", "cache", "a relative path"),
    ("JINA_EDGE_CACHE", "~no-such-user-here", "the home of a user this system does not have"),
])
def test_an_odd_folder_in_the_environment_is_refused_in_one_line(
        variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], jina_tiny_gguf: Path) -> None:
    from click.testing import CliRunner

    from jina_edge.cli.main import main
    from jina_edge.gui.app import main as gui_main

    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(main, ["embed", "-m", str(jina_tiny_gguf), "hello"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith(f"Error: {variable} is {value!r}, {message}")
    assert gui_main(["jina-edge-gui"]) == 1
    assert capsys.readouterr().err.startswith(f"error: {variable} is {value!r}, {message}")


def test_a_config_file_nested_too_deeply_is_refused_in_one_line() -> None:
    from click.testing import CliRunner

    from jina_edge.cli.main import main

    (Path(os.environ["JINA_EDGE_HOME"]) / "config.json").write_text("[" * 100_000)
    result = CliRunner().invoke(main, ["models", "list"])
    assert result.exit_code == 1
    assert "nests too deeply" in result.output and result.output.count("\n") == 1


@pytest.mark.parametrize(("config", "message"), [
    ({"patterns": 5}, "'patterns' .* must be a list of strings"),
    ({"patterns": ["*.log", 3]}, "'patterns' .* must be a list of strings"),
    ({"include_hidden": []}, "'include_hidden' .* must be true or false"),
    ({"include_hidden": "maybe"}, "'include_hidden' .* must be true or false"),
    ({"chunk_tokens": "x"}, "'chunk_tokens' .* is not a whole number"),
    ({"max_file_passages": 0}, "'max_file_passages' .* must be at least 1"),
])
def test_a_config_key_of_the_wrong_type_is_one_line(config: dict[str, object], message: str,
                                                    tmp_path: Path) -> None:
    from click.testing import CliRunner

    from jina_edge.cli.main import main

    config_path().write_text(json.dumps(config))
    result = CliRunner().invoke(main, ["index", "add", str(tmp_path), "--index",
                                       str(tmp_path / "i.db")])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("Error: the config file's ")
    assert re.search(message, result.output), result.output


def test_the_apps_settings_show_defaults_for_values_of_the_wrong_type() -> None:
    from jina_edge.gui.settings import load_settings

    config_path().write_text(json.dumps({"threads": "many", "chunk_tokens": [1],
                                         "patterns": 5, "device": 7}))
    values = load_settings()
    assert (values["threads"], values["chunk_tokens"], values["patterns"],
            values["device"]) == (0, 256, [], "auto")


# -- the registry --------------------------------------------------------------

def test_every_setting_is_read_from_each_source_in_order(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    """For each kind: the default, then the config file, the variable, the argument."""
    samples = {"whole": (3, "4", 5), "choice": None, "bool": (True, "no", True),
               "list": (["a"], "b, c", ("d",)), "text": ("x", "y", "z"),
               "path": ("/c.db", "/e.db", "/a.db"), "folder": ("/c", "/e", "/a"),
               "mapping": ({"n": "/c.db"}, None, {"m": "/a.db"})}
    for spec in SETTINGS.values():
        if spec.name == "home":
            continue  # the config file is in it: the odd-folder tests above read it
        sample = samples[spec.kind] or (*spec.choices[1:3], spec.choices[0])
        if spec.kind == "bool":
            sample = (not spec.default, "yes" if spec.default else "no", not spec.default)
        if spec.minimum is not None and spec.kind == "whole":
            sample = tuple(spec.minimum + i + 1 for i in range(3))
        monkeypatch.delenv(spec.variable, raising=False)
        config_path().write_text("{}")
        assert get(spec.name) == spec.default, spec.name
        config_path().write_text(json.dumps({spec.name: sample[0]}))
        from_file = get(spec.name)
        assert from_file == spec.check(sample[0], "test") != spec.default, spec.name
        if sample[1] is not None:
            monkeypatch.setenv(spec.variable, str(sample[1]))
            from_variable = get(spec.name)
            assert from_variable != from_file, spec.name
        assert get(spec.name, sample[2]) == spec.check(sample[2], "test"), spec.name
        monkeypatch.delenv(spec.variable, raising=False)
    config_path().write_text("{}")


def test_the_registry_agrees_with_the_engines() -> None:
    from jina_edge.engines import DEVICES, ENGINE_NAMES

    assert SETTINGS["device"].choices == DEVICES
    assert SETTINGS["engine"].choices == ENGINE_NAMES


def test_a_name_not_registered_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        get("no_such_setting")


def test_the_settings_command_lists_every_setting_and_where_it_comes_from(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from jina_edge.cli.main import main

    config_path().write_text(json.dumps({"chunk_tokens": 128, "patterns": ["*.log"],
                                         "max_file_passages": "many"}))
    monkeypatch.setenv("JINA_EDGE_DEVICE", "cpu")
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"config file: {config_path()}"
    named = {line.split(" = ")[0]: line for line in lines[1:] if not line.startswith(" ")}
    assert set(named) == set(SETTINGS)
    assert named["chunk_tokens"] == "chunk_tokens = 128  [config file]"
    assert named["patterns"] == 'patterns = ["*.log"]  [config file]'
    assert named["device"] == 'device = "cpu"  [JINA_EDGE_DEVICE]'
    assert named["overlap_tokens"] == "overlap_tokens = 32  [default]"
    assert "is not a whole number" in named["max_file_passages"]  # said, and the rest listed
    assert named["home"] == f'home = "{os.environ["JINA_EDGE_HOME"]}"  [JINA_EDGE_HOME]'


def test_the_settings_command_says_once_that_the_config_file_is_broken() -> None:
    from click.testing import CliRunner

    from jina_edge.cli.main import main

    config_path().write_text("{bad")
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("Error: cannot read the config file")


def test_a_commands_option_takes_its_range_from_the_registry(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from jina_edge.cli.main import main

    result = CliRunner().invoke(main, ["embed", "--threads", "0", "hi"])
    assert result.exit_code == 2 and "1<=x<=512" in result.output
    monkeypatch.setitem(SETTINGS, "threads",
                        dataclasses.replace(SETTINGS["threads"], maximum=3))
    import importlib

    import jina_edge.cli.main

    try:
        reloaded = importlib.reload(jina_edge.cli.main)
        result = CliRunner().invoke(reloaded.main, ["embed", "--threads", "4", "hi"])
        assert result.exit_code == 2 and "1<=x<=3" in result.output
    finally:
        monkeypatch.undo()
        importlib.reload(jina_edge.cli.main)
