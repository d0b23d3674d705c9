"""`jina-edge index ...` and `jina-edge search`: the file index from the command line."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import click

from jina_edge.cli.terminal import echo, shown, styled


def _index_options(fn: Any) -> Any:
    fn = click.option("--model", default=None,
                      help="Model name or GGUF file (default: the default model).")(fn)
    fn = click.option("--index", "index_path", type=click.Path(path_type=Path), default=None,
                      help="Index database (default: the user's default index).")(fn)
    return fn


def _open_index(index_path: Path | None, model: str | None, reranker: str | None = None,
                *, create: bool = False) -> Any:
    """The index; only `index add` makes one where there is none."""
    from jina_edge.index.service import Index

    if create:
        return Index(index_path, model=model, reranker=reranker)
    return Index.open_existing(index_path, model=model, reranker=reranker)


@click.group("index")
def index_group() -> None:
    """Index folders and keep the index up to date."""


@index_group.command("add")
@click.argument("folders", nargs=-1, required=True, type=click.Path(path_type=Path))
@_index_options
def index_add(folders: tuple[Path, ...], index_path: Path | None, model: str | None) -> None:
    """Add FOLDERS to the index (run `jina-edge index sync` to read them)."""
    with _open_index(index_path, model, create=True) as index:
        for folder in folders:
            root = index.add(folder)
            echo(f"added {root.path}")


@index_group.command("remove")
@click.argument("folders", nargs=-1, required=True, type=click.Path(path_type=Path))
@_index_options
def index_remove(folders: tuple[Path, ...], index_path: Path | None, model: str | None) -> None:
    """Remove FOLDERS and everything indexed from them."""
    with _open_index(index_path, model) as index:
        for folder in folders:
            index.remove(folder)
            echo(f"removed {folder}")


def _print_report(report: Any) -> None:
    echo(f"indexed {report.indexed}, unchanged {report.unchanged}, moved {report.moved}, "
               f"removed {report.removed}, skipped {report.skipped}, failed {report.failed}; "
               f"{report.chunks} new chunks")
    for path in report.unavailable_roots:
        click.echo(styled(f"warning: {path} is not available (drive unplugged?); its entries "
                          "are kept", fg="yellow"), err=True)


PROGRESS_STEPS = 1000


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@index_group.command("sync")
@_index_options
def index_sync(index_path: Path | None, model: str | None) -> None:
    """Read new and changed files, forget deleted ones. Ctrl-C stops cleanly."""
    cancel = threading.Event()
    bar: Any = None

    def progress(p: Any) -> None:
        # One unit, one ETA: the bar is the share of the files' bytes embedded
        # (known from the scan, only grows); the ETA is the sync's own.
        nonlocal bar
        if p.stage == "index" and bar is None and p.files_total:
            bar = click.progressbar(length=PROGRESS_STEPS, label="indexing", file=sys.stderr,
                                    show_eta=False,
                                    item_show_func=lambda item: item and shown(item))
            bar.__enter__()
        if bar is not None and p.stage == "index":
            eta = f", about {_duration(p.eta_s)} left" if p.eta_s is not None else ""
            name = p.current.name if p.current else ""
            bar.current_item = (f"{p.files_done}/{p.files_total} files, {p.chunks_done} "
                                f"passages{eta} {name[:40]}")
            bar.update(int(p.share_done * PROGRESS_STEPS) - bar.pos)

    with _open_index(index_path, model) as index:
        try:
            report = index.sync(progress=progress, cancel=cancel)
        except KeyboardInterrupt:
            if bar is not None:
                bar.__exit__(None, None, None)
            echo("\ncancelled; files finished so far are kept. Run sync again to go on.",
                       err=True)
            raise SystemExit(130) from None
        if bar is not None:
            bar.update(bar.length - bar.pos)
            bar.__exit__(None, None, None)
    _print_report(report)
    if report.failed:  # as rsync does for a partial transfer: scripts must see it
        echo(f"Error: {report.failed} file(s) could not be indexed; `jina-edge index status` "
             "says why. They are tried again at the next sync", err=True)
        raise SystemExit(1)


@index_group.command("model")
@click.argument("new_model", required=False)
@click.option("--index", "index_path", type=click.Path(path_type=Path), default=None,
              help="Index database (default: the user's default index).")
def index_model(new_model: str | None, index_path: Path | None) -> None:
    """Show the model the index embeds with, or switch it to NEW_MODEL."""
    with _open_index(index_path, None) as index:
        if new_model is None:
            echo(f"{index.model_name} ({index.db.chunk_count()} passages)")
            return
        old = index.model_name
        passages = index.use_model(new_model)
    if passages:
        echo(f"the index now embeds with {index.model_name}: the next `jina-edge index "
                   f"sync` embeds all {passages} passages again; until it is done, searches "
                   f"use the vectors of {old}")
    else:
        echo(f"the index now embeds with {index.model_name}")


@index_group.command("watch")
@_index_options
def index_watch(index_path: Path | None, model: str | None) -> None:
    """Sync now and whenever files change, until Ctrl-C."""
    stop = threading.Event()
    with _open_index(index_path, model) as index:
        echo(f"watching {len(index.roots())} folder(s); Ctrl-C to stop", err=True)
        try:
            index.watch(stop, lambda: _print_report(index.sync(cancel=stop)))
        except KeyboardInterrupt:
            stop.set()


@index_group.command("status")
@_index_options
def index_status(index_path: Path | None, model: str | None) -> None:
    """Show each folder with its files, chunks and last sync."""
    import datetime

    with _open_index(index_path, model) as index:
        echo(f"index: {index.path}")
        running = index.sync_running()
        if running:
            echo("a sync is running now: the counts below grow as it goes")
        for r in index.status():
            when = (datetime.datetime.fromtimestamp(r.last_sync).isoformat(" ", "seconds")
                    if r.last_sync else "running now" if running else "never")
            state = "unavailable" if not r.available else "paused" if r.paused else "ok"
            echo(f"{r.path}  [{state}] files {r.files_indexed} indexed, {r.files_skipped} "
                       f"skipped, {r.files_failed} failed; {r.chunks} chunks; last sync {when}")
        for path, status, reason in index.problems():
            echo(f"  {status}: {path}: {reason}")
        waiting = index.files_to_embed()
        echo(f"model: {index.model_name}; " + (
            "its file is missing" if waiting is None else
            f"{waiting} files to embed: run `jina-edge index sync`" if waiting else
            "every indexed file embedded"))


@index_group.command("explain")
@click.argument("path", type=click.Path(path_type=Path))
@_index_options
def index_explain(path: Path, index_path: Path | None, model: str | None) -> None:
    """Say why PATH is or is not indexed."""
    with _open_index(index_path, model) as index:
        echo(index.explain(path))


@click.command()
@click.argument("query")
@_index_options
@click.option("--mode", type=click.Choice(["hybrid", "semantic", "keyword"]), default="hybrid",
              show_default=True)
@click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many results.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of results.")
@click.option("--passages", is_flag=True, help="List passages instead of files.")
@click.option("--folder", type=click.Path(path_type=Path), default=None,
              help="Only results under this folder.")
@click.option("--type", "file_types", multiple=True,
              help="Only these file types (markdown, pdf, code, ...); repeatable.")
@click.option("--after", default=None, help="Only files modified on or after YYYY-MM-DD.")
@click.option("--before", default=None, help="Only files modified before YYYY-MM-DD.")
@click.option("--rerank/--no-rerank", default=None,
              help="Order the best results with a reranker (default: the \"rerank\" setting, "
                   "off).")
@click.option("--reranker", default=None, metavar="MODEL",
              help="The reranker for --rerank (default: the installed one).")
def search(query: str, index_path: Path | None, model: str | None, mode: str, k: int,
           as_json: bool, passages: bool, folder: Path | None, file_types: tuple[str, ...],
           after: str | None, before: str | None, rerank: bool | None,
           reranker: str | None) -> None:
    """Search the index for QUERY, by meaning and by keyword.

    Lists the best files, each with its best passages (--passages: the best
    passages, whatever their file); when nothing is relevant, what that means.
    With --rerank, the best 20 (JINA_EDGE_RERANK_DEPTH) are ordered by a
    cross-encoder such as jina-reranker-v1-turbo-en.
    """
    import datetime

    from jina_edge.index.db import Filters

    def day(value: str | None) -> float | None:
        if value is None:
            return None
        try:
            return datetime.datetime.fromisoformat(value).timestamp()
        except ValueError as exc:
            raise click.BadParameter(f"{value!r} is not a date like 2024-05-31") from exc

    filters = Filters(folder=Path(os.path.abspath(folder)) if folder else None,
                      file_types=file_types or None, modified_after=day(after),
                      modified_before=day(before))
    with _open_index(index_path, model, reranker) as index:
        if passages:
            hits = index.search_passages(query, k=k, mode=mode, filters=filters, rerank=rerank)
        else:
            files = index.search(query, k=k, mode=mode, filters=filters, rerank=rerank)
        hint = "" if (hits if passages else files) else index.no_results_hint(mode)
    if as_json:
        rows = hits if passages else files
        echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    if hint:
        echo(hint)
    if passages:
        for h in hits:
            click.echo(styled(f"{h.path}  {_where(h)}  {h.score:.3f}{_reranked(h)}", bold=True))
            _print_passage(h)
        return
    for f in files:
        click.echo(styled(f"{f.path}  {f.score:.3f}{_reranked(f)}", bold=True))
        if f.since_indexed:
            click.secho(f"  ({f.since_indexed} since it was indexed: `jina-edge index sync` "
                        "updates the index)", fg="red")
        for h in f.passages:
            _print_passage(h)
        if f.more:
            echo(f"  … {f.more} more matching passage{'s' * (f.more != 1)}")
        for other in f.also_at:
            echo(f"  same content: {other}")


def _reranked(result: Any) -> str:
    return "" if result.rerank_score is None else f"  reranker {result.rerank_score:.3f}"


def _where(hit: Any) -> str:
    return (f"page {hit.page}" if hit.page else
            f"lines {hit.line_start}-{hit.line_end}" if hit.line_start else "")


def _print_passage(hit: Any) -> None:
    place = "  ".join(x for x in (_where(hit), hit.heading) if x)
    echo(f"  {place}:" if place else "  —")
    click.echo("    " + _highlight(hit.snippet, hit.highlights))


def _highlight(text: str, spans: list[tuple[int, int]]) -> str:
    out, pos = [], 0
    for start, end in spans:
        out.append(shown(text[pos:start]))
        out.append(styled(text[start:end], fg="yellow", bold=True))
        pos = end
    out.append(shown(text[pos:]))
    return "".join(out)
