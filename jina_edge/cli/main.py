"""The `jina-edge` command line: a thin adapter over the Python API."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np

from jina_edge.cli.index import index_group, search
from jina_edge.cli.terminal import SafeFormatter, echo, shown, styled
from jina_edge.config import (
    SETTINGS,
    cache_dir,
    config_path,
    home_dir,
    load_config,
    resolve,
)
from jina_edge.embedder import Embedder
from jina_edge.encoder import LONG_INPUT_POLICIES
from jina_edge.errors import JinaEdgeError
from jina_edge.index.service import default_index_path
from jina_edge.models.installed import default_model_name, default_reranker_name

SIGPIPE_STATUS = 128 + 13  # what a shell reports for a program that SIGPIPE ended


class _Group(click.Group):
    """Turns every JinaEdgeError into a one-line error and exit status 1.

    Anything else that escapes is a bug or a case not yet handled: it is one
    line too, saying so, unless --verbose asks for the traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except JinaEdgeError as exc:
            raise click.ClickException(shown(str(exc))) from exc
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:
            # The reader went away (`jina-edge search ... | head`): stop quietly, as
            # a program killed by SIGPIPE does, and keep Python's final flush silent.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(SIGPIPE_STATUS)
        except Exception as exc:
            if ctx.params.get("verbose"):
                raise
            raise click.ClickException(shown(
                f"unexpected {type(exc).__name__}: {exc} (run again with --verbose to see "
                "where, and please report it)")) from exc


# What each stage of a pull or import is doing, as its bar says it.
STAGE_LABELS = {"download": "downloading", "write": "converting", "quantize": "quantizing",
                "verify": "checking against the original"}


class _StageProgress:
    """Renders progress(stage, done, total) callbacks as one bar per stage.

    Callbacks may come from several threads (parallel downloads).
    """

    def __init__(self) -> None:
        self._stage: str | None = None
        self._bar: Any = None
        self._done = 0
        self._lock = threading.Lock()

    def __call__(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            self._show(stage, done, total)

    def _show(self, stage: str, done: int, total: int) -> None:
        if stage != self._stage:
            self.close()
            self._stage = stage
            self._bar = click.progressbar(length=max(total, 1),
                                          label=STAGE_LABELS.get(stage, stage), file=sys.stderr)
            self._bar.__enter__()
            self._done = 0
        if total > self._bar.length:
            self._bar.length = total  # the download total grows as files start
        if done > self._done:
            self._bar.update(done - self._done)
            self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
            self._stage = None


@click.group(cls=_Group)
@click.version_option(package_name="jina-edge")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens, llama.cpp included.")
def main(verbose: bool) -> None:
    """Jina Embeddings v2 on your own machine, offline."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    # The one-time build of a model's graph on first use takes seconds to
    # minutes: say so, rather than look hung.
    logging.getLogger("jina_edge.engines.onnx_runtime").setLevel(logging.INFO)


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--out", "output", required=True, type=click.Path(path_type=Path),
              help="The GGUF file to write.")
@click.option("--type", "output_type", default="f16", show_default=True,
              help="f32, f16, bf16, q8_0, q6_k, q5_k_m, q4_k_m or q4_0.")
@click.option("--name", default=None, help="Model name recorded in the file.")
@click.option("--no-verify", is_flag=True, help="Skip the comparison with the reference.")
def convert(source: Path, output: Path, output_type: str, name: str | None,
            no_verify: bool) -> None:
    """Convert a Hugging Face checkpoint directory SOURCE into a GGUF file."""
    from jina_edge.convert import convert_checkpoint

    progress = _StageProgress()
    try:
        report = convert_checkpoint(source, output, output_type=output_type,
                                    verify=not no_verify, model_name=name, progress=progress)
    finally:
        progress.close()
    if report.verification is not None:
        echo(report.verification.table())
        if report.verification.status == "warn":
            click.echo(styled(f"warning: {report.verification.message}", fg="yellow"), err=True)
    size_mb = report.size_bytes / 1e6
    echo(f"wrote {report.output} ({report.output_type}, {size_mb:.1f} MB)")


def _model_options(fn: Any, model_help: str = "Installed model name or GGUF file (default: "
                                               "the default model).") -> Any:
    for name in ("threads", "device", "max_tokens"):
        fn = setting_option(name)(fn)
    return click.option("-m", "--model", default=None, help=model_help)(fn)


def setting_option(name: str) -> Any:
    """The option --NAME for a setting: its type, range and help from `SETTINGS`.

    Its default is None, so that an option not given leaves the setting's
    variable, config file and default to decide.
    """
    spec = SETTINGS[name]
    types = {"whole": click.IntRange(spec.minimum, spec.maximum),
             "choice": click.Choice(spec.choices)}
    default = "" if spec.default is None else f" [setting {name!r}, default: {spec.default}]"
    return click.option("--" + name.replace("_", "-"), type=types.get(spec.kind), default=None,
                        help=spec.help[0].upper() + spec.help[1:] + "." + default)


def _reranker_options(fn: Any) -> Any:
    return _model_options(fn, "Installed reranker name or GGUF file (default: the installed "
                              "reranker).")


def _stdin_lines() -> list[str]:
    """Standard input as lines of UTF-8 text, whatever the locale says (bad bytes become U+FFFD)."""
    if sys.stdin.isatty():
        echo("reading texts from standard input, one per line; end with Ctrl-D", err=True)
    return _lines(sys.stdin.buffer.read())


def _lines(data: bytes) -> list[str]:
    """Bytes as lines of UTF-8 text (bad bytes become U+FFFD), without a final empty line."""
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


@main.command()
@click.argument("texts", nargs=-1)
@_model_options
@click.option("--long-input", type=click.Choice(LONG_INPUT_POLICIES), default="truncate",
              show_default=True, help="What to do with texts longer than the window.")
@click.option("--npy", type=click.Path(path_type=Path), default=None,
              help="Write the vectors to this .npy file instead of printing JSON lines.")
@click.option("--no-normalize", is_flag=True, help="Return raw mean-pooled vectors.")
def embed(texts: tuple[str, ...], model: str | None, max_tokens: int | None, device: str | None,
          threads: int | None, long_input: str, npy: Path | None, no_normalize: bool) -> None:
    """Embed TEXTS (or, with none given, each line of standard input).

    Prints one JSON object per text: index, tokens, truncated, chunks, embedding.
    """
    items = list(texts) or _stdin_lines()
    with Embedder.from_config(model, max_tokens=max_tokens, device=device,  # type: ignore[arg-type]
                              threads=threads, long_input=long_input) as embedder:  # type: ignore[arg-type]
        result = embedder.embed_result(items, normalize=not no_normalize)
    if npy is not None:
        np.save(npy, result.vectors)
        echo(f"wrote {len(items)} vectors of {result.vectors.shape[1]} dims to {npy}",
                   err=True)
        return
    for i, vector in enumerate(result.vectors):
        echo(json.dumps({
            "index": i,
            "tokens": result.n_tokens[i],
            "truncated": result.truncated[i],
            "chunks": result.n_chunks[i],
            "embedding": [round(float(x), 7) for x in vector],
        }))


@main.command()
@click.argument("query")
@click.argument("documents", nargs=-1)
@_reranker_options
@click.option("--file", "document_file", type=click.File("rb"), default=None,
              help="Read the documents from this file, one per line ('-': standard input).")
@click.option("--top-n", type=click.IntRange(min=1), default=None,
              help="Print only the N best documents.")
@click.option("--long-input", type=click.Choice(LONG_INPUT_POLICIES), default="truncate",
              show_default=True,
              help="What to do with a query and document longer than the window together.")
def rerank(query: str, documents: tuple[str, ...], model: str | None, max_tokens: int | None,
           device: str | None, threads: int | None, document_file: Any, top_n: int | None,
           long_input: str) -> None:
    """Score DOCUMENTS (or the lines of --file, or of standard input) for QUERY with a reranker.

    Prints one JSON object per document, best first: index, relevance_score,
    logit, tokens, truncated, chunks, document. The model is a cross-encoder
    such as jina-reranker-v1-turbo-en (default: the installed reranker).
    """
    from jina_edge.reranker import Reranker

    if documents and document_file is not None:
        raise click.ClickException("give documents as arguments or with --file, not both")
    if document_file is not None:
        items = _lines(document_file.read())
    else:
        items = list(documents) or _stdin_lines()
    if not query.strip():
        raise click.ClickException("the query is empty")
    if not items:
        raise click.ClickException("no documents: give them as arguments, with --file, or on "
                               "standard input, one per line")
    empty = next((i for i, text in enumerate(items) if not text.strip()), None)
    if empty is not None:
        raise click.ClickException(f"document {empty} is empty or only whitespace")
    with Reranker.from_config(model, max_tokens=max_tokens, device=device,  # type: ignore[arg-type]
                              threads=threads, long_input=long_input) as reranker:  # type: ignore[arg-type]
        results = reranker.rerank(query, items, top_n=top_n)
    for r in results:
        echo(json.dumps({
            "index": r.index,
            "relevance_score": round(r.score, 7),
            "logit": round(r.logit, 6),
            "tokens": r.n_tokens,
            "truncated": r.truncated,
            "chunks": r.n_chunks,
            "document": items[r.index],
        }, ensure_ascii=False))


@main.command("count-tokens")
@click.argument("texts", nargs=-1, required=True)
@_model_options
def count_tokens(texts: tuple[str, ...], model: str | None, max_tokens: int | None,
                 device: str | None, threads: int | None) -> None:
    """Print how many tokens each of TEXTS takes ([CLS] and [SEP] included)."""
    with Embedder.from_config(model, max_tokens=max_tokens, device="cpu",
                              threads=threads) as embedder:
        for text in texts:
            echo(str(embedder.count_tokens(text)))


@main.group()
def models() -> None:
    """Pull, import, list and remove models."""


@models.command("list")
def models_list() -> None:
    """Show the models known by name and the installed ones."""
    from jina_edge.models.catalog import catalog_models
    from jina_edge.models.installed import default_model_name, find_installed, list_installed

    installed = list_installed()
    default = find_installed(default_model_name())
    echo("Installed:")
    if not installed:
        echo("  (none: `jina-edge models pull` fetches the default model)")
    for m in installed:
        mark = "*" if default is not None and m.path == default.path else " "
        source = m.manifest.get("source", {})
        origin = source.get("repo") or source.get("path") or "?"
        kind = ("reranker" if m.manifest.get("kind") == "reranker"
                else f"{m.manifest.get('dim', '?'):>4} dims")
        echo(f" {mark}{m.name:<38} {m.size_bytes / 1e6:>8.1f} MB  {kind:<9}  {origin}")
    echo("\nAvailable to pull:")
    for entry in catalog_models():
        kind = "reranker" if entry.kind == "reranker" else f"{entry.dim:>4} dims"
        echo(f"  {entry.model_id:<30} {kind:<9}  {entry.max_tokens:>5} tokens  "
                   f"{entry.license:<10} {entry.description}")


@models.command("info")
@click.argument("name")
def models_info(name: str) -> None:
    """Show a model's GGUF metadata and the verification recorded when it was installed."""
    from jina_edge.models.store import model_info

    installed, info = model_info(name)
    rows = [
        ("file", str(info.path)),
        ("name", info.name),
        ("architecture", info.architecture),
        ("kind", info.kind),
        ("type", info.file_type),
        ("dimensions", str(info.embedding_length)),
        ("max tokens", str(info.context_length)),
        ("layers / heads", f"{info.block_count} / {info.head_count}"),
        ("pooling", info.pooling),
        ("tokenizer", info.tokenizer),
        ("size", f"{info.size_bytes / 1e6:.1f} MB"),
    ]
    for key in ("jina_edge.source.repository", "jina_edge.source.revision",
                "jina_edge.source.sha256", "jina_edge.converter_version"):
        if key in info.metadata:
            rows.append((key.removeprefix("jina_edge."), str(info.metadata[key])))
    for key, value in rows:
        echo(f"{key:<22} {value}")
    verification = installed.manifest.get("verification") if installed else None
    if verification:
        from jina_edge.convert.verify import ProbeResult, Verification

        probes = [ProbeResult(**p) for p in verification["probes"]]
        table = Verification(verification["output_type"], probes, verification["status"],
                             verification["message"]).table()
        echo("\nverification at install:\n" + table)


@models.command("pull")
@click.argument("name", default="jina-embeddings-v2-small-en")
@click.option("--type", "output_type", default="q8_0", show_default=True,
              help="f32, f16, bf16, q8_0, q6_k, q5_k_m, q4_k_m or q4_0.")
@click.option("--revision", default=None, help="Commit, branch or tag (default: pinned).")
@click.option("--force", is_flag=True, help="Convert again even if installed.")
def models_pull(name: str, output_type: str, revision: str | None, force: bool) -> None:
    """Download NAME (a catalogue name or org/repo), convert, verify and install it."""
    from jina_edge.models.store import pull

    progress = _StageProgress()
    try:
        installed = pull(name, output_type=output_type, revision=revision, force=force,
                         progress=progress)
    finally:
        progress.close()
    echo(f"installed {installed.name} ({installed.size_bytes / 1e6:.1f} MB)"
         + _verified(installed.manifest.get("verification")))


@models.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", default=None, help="Name to install it under.")
@click.option("--type", "output_type", default="q8_0", show_default=True,
              help="Type to convert a checkpoint folder to (a GGUF keeps its own).")
def models_import(path: Path, name: str | None, output_type: str) -> None:
    """Install a checkpoint folder (converted, verified) or a GGUF file (checked)."""
    from jina_edge.models.store import import_model

    progress = _StageProgress()
    try:
        installed = import_model(path, name=name, output_type=output_type, progress=progress)
    finally:
        progress.close()
    echo(f"installed {installed.name} ({installed.size_bytes / 1e6:.1f} MB)"
         + _verified(installed.manifest.get("verification")))


def _verified(verification: dict[str, Any] | None) -> str:
    """What the check against the checkpoint proved, for the line that says it is installed."""
    if not verification:
        return ""  # a GGUF file: checked, not compared with a checkpoint
    probes = verification.get("probes") or []
    same = all(p.get("tokens_match", True) for p in probes)
    return (f"; checked against the original on {len(probes)} texts: "
            f"{verification.get('message', '')}" + (", same tokens" if same else ""))


@models.command("remove")
@click.argument("name")
def models_remove(name: str) -> None:
    """Remove an installed model (NAME or NAME:TYPE)."""
    from jina_edge.models.store import remove

    removed, freed = remove(name)
    echo(f"removed {removed.name}" + (f" and its ONNX Runtime graphs ({freed / 1e6:.0f} MB)"
                                            if freed else ""))


@models.command("default")
@click.argument("name")
def models_default(name: str) -> None:
    """Make an installed model the default."""
    from jina_edge.models.store import set_default

    installed = set_default(name)
    echo(f"default model: {installed.name}")


@main.command()
@_model_options
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback needs --api-key or --insecure.")
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--api-key", default=None,
              help="Require 'Authorization: Bearer KEY' (default: $JINA_EDGE_API_KEY).")
@click.option("--insecure", is_flag=True,
              help="Allow a non-loopback --host without an API key.")
@click.option("--index", "indexes", multiple=True, metavar="[NAME=]PATH",
              help="An index /v1/search may search, chosen by name in requests (repeat it; "
                   "the first is the default; default: the user's default index).")
@click.option("--max-body-bytes", type=int, default=2 * 1024 * 1024, show_default=True,
              help="Larger request bodies get 413.")
@click.option("--max-inputs", type=int, default=512, show_default=True,
              help="More texts per request get 413.")
@click.option("--max-queued", type=int, default=64, show_default=True,
              help="Requests waiting beyond those running; more get 503.")
@click.option("--served-model-name", "served_model_names", multiple=True, metavar="NAME",
              help="Another model name requests may send (repeat it), e.g. the fixed name "
                   "an OpenAI or Ollama client asks for.")
@click.option("--reranker", default=None, metavar="MODEL",
              help="Also load this reranker (installed name or GGUF file) for POST /v1/rerank.")
def serve(model: str | None, max_tokens: int | None, device: str | None, threads: int | None,
          host: str, port: int, api_key: str | None, insecure: bool, indexes: tuple[str, ...],
          max_body_bytes: int, max_inputs: int, max_queued: int,
          served_model_names: tuple[str, ...], reranker: str | None) -> None:
    """Serve a model over HTTP: Jina-, OpenAI- and Ollama-compatible embeddings, and search.

    POST /v1/embeddings, GET /v1/models, GET /health, POST /v1/search,
    POST /v1/rerank (with --reranker, Jina's Rerank API);
    Ollama's POST /api/embed, POST /api/embeddings, GET /api/tags.
    Needs the server extra: pip install 'jina-edge[server]'.
    """
    from jina_edge.server.app import serve as run_server  # raises the pip line without the extra

    run_server(model, host=host, port=port, api_key=api_key, insecure=insecure,
               indexes=indexes, max_body_bytes=max_body_bytes, max_inputs=max_inputs,
               max_queued=max_queued, threads=threads, max_tokens=max_tokens, device=device,
               served_model_names=served_model_names, reranker=reranker)


# Settings whose default is worked out when used: what it is now.
_WORKED_OUT: dict[str, Callable[[], Any]] = {
    "home": home_dir, "cache": cache_dir, "index": default_index_path,
    "model": default_model_name, "reranker": default_reranker_name}


@main.command("settings")
def settings_command() -> None:
    """List every setting: its value, where the value comes from, and what it does.

    Set one with JINA_EDGE_<NAME>, or as a key of the config file (its path is
    the first line).
    """
    load_config()  # a file that cannot be read is one error, not one a setting
    echo(f"config file: {config_path()}")
    for name, spec in SETTINGS.items():
        try:
            value, source = resolve(name)
            if value is None and name in _WORKED_OUT:
                value = _WORKED_OUT[name]()
            shown_value = "(automatic)" if value is None else json.dumps(
                list(value) if isinstance(value, tuple) else
                str(value) if isinstance(value, Path) else value)
        except JinaEdgeError as exc:  # one bad value must not hide the others
            shown_value, source = "(bad value)", str(exc)
        echo(f"{name} = {shown_value}  [{source}]")
        echo(f"    {spec.help}")


@main.command("mcp")
@click.option("--index", "index_path", type=click.Path(path_type=Path), default=None,
              help="Index database (default: the user's default index).")
@click.option("--model", default=None,
              help="Model for queries (default: the one the index was built with).")
@click.option("--http", "http_port", type=click.IntRange(1, 65535), default=None,
              metavar="PORT", help="Serve streamable HTTP on 127.0.0.1:PORT instead of stdio.")
def mcp(index_path: Path | None, model: str | None, http_port: int | None) -> None:
    """Serve the index to an MCP client: tools search, read and index_status.

    Speaks MCP over standard input and output (how MCP clients start a local
    server), or streamable HTTP on 127.0.0.1 with --http. Needs the mcp extra:
    pip install 'jina-edge[mcp]'.
    """
    from jina_edge.mcp_server import run  # raises the pip line without the extra

    run(index_path, model=model, http_port=http_port)


main.add_command(index_group)
main.add_command(search)
