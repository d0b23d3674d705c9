"""The `jina-edge` command line, through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from jina_edge import Embedder
from jina_edge.cli.main import main


def test_convert_prints_the_verification_table(jina_tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.gguf"
    result = CliRunner().invoke(main, ["convert", str(jina_tiny), "--out", str(out),
                                       "--type", "q8_0"])
    assert result.exit_code == 0, result.output
    assert "probe" in result.output and "cosine" in result.output
    assert "OK:" in result.output
    assert out.is_file()


def test_convert_refusal_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["convert", str(tmp_path), "--out",
                                       str(tmp_path / "m.gguf")])
    assert result.exit_code == 1
    assert result.output.startswith("Error: no config.json")
    assert "Traceback" not in result.output


def test_embed_prints_json_lines(jina_tiny_gguf: Path) -> None:
    result = CliRunner().invoke(main, ["embed", "-m", str(jina_tiny_gguf), "hello", "world"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["index"] for r in rows] == [0, 1]
    assert rows[0]["tokens"] == 3 and rows[0]["truncated"] is False
    with Embedder(jina_tiny_gguf, device="cpu") as e:
        expected = e.embed("hello")
    np.testing.assert_allclose(rows[0]["embedding"], expected, atol=1e-6)


def test_embed_reads_stdin_and_writes_npy(jina_tiny_gguf: Path, tmp_path: Path) -> None:
    out = tmp_path / "v.npy"
    result = CliRunner().invoke(main, ["embed", "-m", str(jina_tiny_gguf), "--npy", str(out)],
                                input="first line\nsecond line\nthird\n")
    assert result.exit_code == 0, result.output
    assert np.load(out).shape == (3, 32)


def test_embed_error_policy_reports_token_count(jina_tiny_gguf: Path) -> None:
    result = CliRunner().invoke(main, ["embed", "-m", str(jina_tiny_gguf), "--max-tokens", "16",
                                       "--long-input", "error", "word " * 40])
    assert result.exit_code == 1
    assert "42 tokens" in result.output


def test_count_tokens(jina_tiny_gguf: Path) -> None:
    result = CliRunner().invoke(main, ["count-tokens", "-m", str(jina_tiny_gguf),
                                       "Hello world", ""])
    assert result.output.split() == ["4", "2"]


def test_missing_model_names_the_next_step() -> None:
    result = CliRunner().invoke(main, ["embed", "hello"])
    assert result.exit_code == 1
    assert "jina-edge models pull" in result.output


def test_settings_from_the_config_file_apply(jina_tiny_gguf: Path) -> None:
    from jina_edge.config import save_config

    save_config({"max_tokens": 16})
    result = CliRunner().invoke(main, ["embed", "-m", str(jina_tiny_gguf), "--long-input",
                                       "error", "word " * 40])
    assert result.exit_code == 1 and "at most 16" in result.output
    # An option beats the config file.
    ok = CliRunner().invoke(main, ["embed", "-m", str(jina_tiny_gguf), "--max-tokens", "64",
                                   "--long-input", "error", "word " * 40])
    assert ok.exit_code == 0, ok.output


def test_bad_config_values_of_a_checkpoint_are_one_line(
        jina_tiny: Path, tmp_path: Path) -> None:
    import json
    import shutil

    from click.testing import CliRunner

    broken = tmp_path / "ck"
    shutil.copytree(jina_tiny, broken)
    config = json.loads((broken / "config.json").read_text())
    for key, value in (("layer_norm_eps", "x"), ("layer_norm_eps", -1),
                       ("type_vocab_size", "two")):
        (broken / "config.json").write_text(json.dumps({**config, key: value}))
        args = ["convert", str(broken), "--out", str(tmp_path / "out.gguf")]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, result.output
        assert result.output.count("\n") == 1 and key in result.output
        assert not (tmp_path / "out.gguf").exists()


def test_an_unexpected_error_is_one_line_unless_verbose(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import jina_edge.models.catalog

    def bug() -> None:
        raise KeyError("a case nobody handled")

    monkeypatch.setattr(jina_edge.models.catalog, "catalog_models", bug)
    result = CliRunner().invoke(main, ["models", "list"])
    last = result.output.strip().splitlines()[-1]  # after what the command printed so far
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert last.startswith("Error: unexpected KeyError") and "--verbose" in last
    verbose = CliRunner().invoke(main, ["--verbose", "models", "list"])
    assert isinstance(verbose.exception, KeyError)  # the traceback, for a bug report


def test_stdin_is_read_as_utf8_whatever_the_locale(jina_tiny_gguf: Path) -> None:
    import subprocess
    import sys

    env = {**__import__("os").environ, "PYTHONIOENCODING": "ascii", "LC_ALL": "C"}
    done = subprocess.run([sys.executable, "-m", "jina_edge.cli", "embed", "-m",
                           str(jina_tiny_gguf)], input=b"h\xffllo\nw\xc3\xb6rld\r\n",
                          capture_output=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    with Embedder(jina_tiny_gguf, device="cpu") as e:
        expected = e.embed(["h\ufffdllo", "w\u00f6rld"])
    np.testing.assert_allclose([r["embedding"] for r in rows], expected, atol=1e-6)


@pytest.mark.parametrize("args, message", [
    (["embed", "--threads", "10000", "hi"], "1<=x<=512"),
    (["search", "x", "-k", "0"], "x>=1"),
])
def test_out_of_range_options_are_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert message in result.output


def test_rerank_prints_json_lines_best_first(reranker_gguf: Path, tmp_path: Path) -> None:
    from jina_edge import Reranker

    docs = ["We sized the pump for twelve litres.", "A bakery in Lisbon.", "Pumps move water."]
    result = CliRunner().invoke(main, ["rerank", "-m", str(reranker_gguf), "pump size", *docs])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    with Reranker(reranker_gguf, device="cpu") as r:
        expected = r.rerank("pump size", docs)
    assert [row["index"] for row in rows] == [e.index for e in expected]
    assert [row["document"] for row in rows] == [docs[e.index] for e in expected]
    assert rows[0]["relevance_score"] == pytest.approx(expected[0].score, abs=1e-6)
    assert {"logit", "tokens", "truncated", "chunks"} <= set(rows[0])
    listed = tmp_path / "docs.txt"
    listed.write_text("\n".join(docs) + "\n")
    from_file = CliRunner().invoke(main, ["rerank", "-m", str(reranker_gguf), "pump size",
                                          "--file", str(listed), "--top-n", "2"])
    assert from_file.output.splitlines() == result.output.splitlines()[:2]
    from_stdin = CliRunner().invoke(main, ["rerank", "-m", str(reranker_gguf), "pump size"],
                                    input="\n".join(docs) + "\n")
    assert from_stdin.output == result.output


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["q", "a", "  "], None, "document 1 is empty"),
    (["q"], "", "no documents"),
    (["  ", "a"], None, "the query is empty"),
])
def test_rerank_bad_input_is_one_line(reranker_gguf: Path, args: list[str], stdin: str | None,
                                      message: str) -> None:
    result = CliRunner().invoke(main, ["rerank", "-m", str(reranker_gguf), *args], input=stdin)
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {message}") and result.output.count("\n") == 1


def test_rerank_with_an_embedding_model_is_one_line(jina_tiny_gguf: Path,
                                                    reranker_gguf: Path) -> None:
    wrong = CliRunner().invoke(main, ["rerank", "-m", str(jina_tiny_gguf), "q", "d"])
    assert wrong.exit_code == 1 and "is an embedding model" in wrong.output
    assert wrong.output.count("\n") == 1
    embed = CliRunner().invoke(main, ["embed", "-m", str(reranker_gguf), "q"])
    assert embed.exit_code == 1 and "is a reranker" in embed.output


def test_an_imported_reranker_checkpoint_is_listed_as_one(reranker_checkpoint: Path) -> None:
    runner = CliRunner()
    imported = runner.invoke(main, ["models", "import", str(reranker_checkpoint), "--name", "rr",
                                    "--type", "f16"])
    assert imported.exit_code == 0, imported.output
    listed = runner.invoke(main, ["models", "list"]).output
    assert any(line.strip().startswith("rr:f16") and "reranker" in line
               for line in listed.splitlines())
    assert "jina-reranker-v1-turbo-en" in listed
    info = runner.invoke(main, ["models", "info", "rr"]).output
    assert "kind" in info and "reranker" in info and "score Δ" in info
    made_default = runner.invoke(main, ["models", "default", "rr"])
    assert made_default.exit_code == 0
    ranked = runner.invoke(main, ["rerank", "q", "a document"])  # the default reranker
    assert ranked.exit_code == 0, ranked.output
    embedded = runner.invoke(main, ["embed", "q"])  # the default embedding model is unchanged
    assert "jina-embeddings-v2-small-en" in embedded.output


def test_the_first_use_of_a_model_says_its_graph_is_being_built(
        jina_tiny_gguf: Path, tmp_path: Path) -> None:
    # The first use built and checked an ONNX graph in silence: seconds for a
    # small model, minutes for a base one, which looked hung (issue 29).
    import os
    import subprocess
    import sys

    env = {**os.environ, "JINA_EDGE_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "jina_edge.cli", "embed", "-m", str(jina_tiny_gguf), "hi"]
    first = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    assert "preparing" in first.stderr and "(once" in first.stderr
    again = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    assert "preparing" not in again.stderr


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    # `jina-edge search ... | head` printed "unexpected BrokenPipeError ... please report it".
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    done = subprocess.run([sys.executable, "-m", "jina_edge.cli", "models", "list"],
                          stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
    os.close(write_end)
    assert done.stderr == "" and done.returncode == 128 + 13
