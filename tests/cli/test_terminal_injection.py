"""Terminal injection: what came from a file or a model is shown escaped, never obeyed.

Escape sequences (clear screen, window title, OSC 8 links, 8-bit CSI), cursor
moves and bidirectional overrides ride in on file names, passages, a model's
name and a refused architecture; every command that prints them is checked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from jina_edge.cli.main import main
from jina_edge.cli.terminal import shown
from jina_edge.convert.synthetic import SHAPES, write_checkpoint

PAYLOADS = ("\x1b[2J", "\x1b]0;pwned\x07", "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",
            "\x9b31m", "\r", "\x08\x08", "\u202e", "\x00")
# What a terminal would obey: nothing of it may reach the output raw.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _clean(output: str) -> None:
    # click.style's own escapes are ours; no test here asks for colour.
    assert not RAW.search(output), repr(output[:300])


@pytest.fixture
def evil_index(tmp_path: Path, jina_tiny_gguf: Path) -> tuple[list[str], Path]:
    notes = tmp_path / "notes"
    notes.mkdir()
    for i, payload in enumerate(PAYLOADS):
        name = f"pump{i}{payload}.md".replace("\x00", "0").replace("/", "-")
        (notes / name).write_text(f"# Pump {payload} heading\n\nThe pump {payload} moves water.\n")
    common = ["--index", str(tmp_path / "i.db"), "--model", str(jina_tiny_gguf)]
    runner = CliRunner()
    assert runner.invoke(main, ["index", "add", str(notes), *common]).exit_code == 0
    synced = runner.invoke(main, ["index", "sync", *common])
    assert synced.exit_code == 0, synced.output
    _clean(synced.output)
    return common, notes


def test_search_status_and_explain_show_file_names_and_passages_escaped(
        evil_index: tuple[list[str], Path]) -> None:
    common, notes = evil_index
    runner = CliRunner()
    for args in (["search", "pump water", "--mode", "keyword"], ["search", "pump", "--passages"],
                 ["search", "pump", "--json"], ["index", "status"]):
        result = runner.invoke(main, [*args, *common])
        assert result.exit_code == 0, result.output
        _clean(result.output)
        if args[0] == "search":
            assert "\\u001b" in result.output  # shown, not dropped
    data = json.loads(runner.invoke(main, ["search", "pump", "--json", *common]).output)
    assert any("\x1b" in row["path"] for row in data)  # JSON keeps the real name, escaped
    for path in notes.iterdir():
        explained = runner.invoke(main, ["index", "explain", str(path), *common])
        _clean(explained.output)


def test_a_models_name_and_a_refused_architecture_are_shown_escaped(
        jina_tiny: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    name = "evil\x1b]0;pwned\x07\x1b[2J\u202e"
    out = tmp_path / "m.gguf"
    converted = runner.invoke(main, ["convert", str(jina_tiny), "--out", str(out), "--type",
                                     "f32", "--no-verify", "--name", name])
    assert converted.exit_code == 0, converted.output
    imported = runner.invoke(main, ["models", "import", str(out), "--name", "evil"])
    assert imported.exit_code == 0, imported.output
    for args in (["models", "info", "evil"], ["models", "list"]):
        result = runner.invoke(main, args)
        _clean(result.output)
    assert shown(name) in runner.invoke(main, ["models", "info", "evil"]).output
    odd = write_checkpoint(tmp_path / "odd", shape=SHAPES["tiny"])
    config = json.loads((odd / "config.json").read_text())
    config["architectures"] = ["\x1b[2J\x1b]0;pwned\x07Bert"]
    (odd / "config.json").write_text(json.dumps(config))
    refused = runner.invoke(main, ["convert", str(odd), "--out", str(tmp_path / "o.gguf")])
    assert refused.exit_code == 1 and "supported architectures" in refused.output
    _clean(refused.output)
    assert "\\u001b[2J" in refused.output


@pytest.mark.parametrize("payload", PAYLOADS)
def test_shown_escapes_every_payload_and_keeps_the_rest(payload: str) -> None:
    text = f"ok {payload} ünïcödé 中文\ttab\nline"
    assert not RAW.search(shown(text).replace("\t", "").replace("\n", ""))
    assert json.loads(json.dumps(shown(text), ensure_ascii=False)) == shown(text)
    assert "ünïcödé 中文\ttab\nline" in shown(text)
