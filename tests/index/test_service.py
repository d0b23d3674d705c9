"""The file index with the fake backend: sync, incremental updates, bad files, search."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import jina_edge.index.ranking
import jina_edge.index.search
import jina_edge.index.sync
from conftest import FakeBackend
from jina_edge import Embedder, JinaEdgeError
from jina_edge.index.db import Filters
from jina_edge.index.service import KEY_CHUNKING, Index
from jina_edge.index.sync import SyncProgress, SyncSettings

PUMP = """# Greenhouse

## Pump

We sized the pump for a peak flow of twelve litres per minute, with a
pressure head of three metres.

## Lights

The LED panels run for sixteen hours a day.
"""


def _embedder(dim: int = 8) -> Embedder:
    return Embedder(backend=FakeBackend(max_tokens=512, n_embd=dim))


def _synced_index(tmp_path: Path, folder: Path) -> Index:
    """An index of `folder` with the fake embedder, synced."""
    index = Index(tmp_path / "i.db", embedder=_embedder())
    index.add(folder)
    index.sync()
    return index


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "greenhouse.md").write_text(PUMP)
    (folder / "shopping.txt").write_text("Buy eggs, milk and bread.\n")
    (folder / "code.py").write_text(
        "def flow_rate(litres, minutes):\n    return litres / minutes\n")
    return folder


@pytest.fixture
def index(tmp_path: Path, notes: Path) -> Index:
    ix = Index(tmp_path / "index.db", embedder=_embedder())
    ix.add(notes)
    ix.sync()
    return ix


def _count_extractions(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    seen: list[Path] = []
    real = jina_edge.index.sync.extract

    def counting(path: Path, **kwargs: int) -> object:
        seen.append(path)
        return real(path, **kwargs)

    monkeypatch.setattr(jina_edge.index.sync, "extract", counting)
    return seen


@pytest.fixture
def no_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake backend's vectors mean nothing: let every passage count as a match."""
    import jina_edge.index.ranking

    monkeypatch.setattr(jina_edge.index.ranking, "Z_NONE", -1e9)
    monkeypatch.setattr(jina_edge.index.ranking, "Z_NONE_UNKNOWN", -1e9)
    monkeypatch.setattr(jina_edge.index.ranking, "FLOOR", -1.0)


def test_search_finds_the_passage_with_its_location(index: Index) -> None:
    # The fake backend's vectors mean nothing, so rank by keyword here.
    files = index.search("pump litres", k=3, mode="keyword")
    assert files[0].path.name == "greenhouse.md"
    assert files[0].to_dict()["passages"][0]["path"] == str(files[0].path)
    top = files[0].passages[0]
    assert top.path.name == "greenhouse.md"
    assert top.heading == "Greenhouse > Pump"
    assert (top.line_start, top.line_end) == (1, 6)  # both headings open the chunk
    assert "twelve litres" in top.text
    assert any(top.snippet[s:e].lower() == "pump" for s, e in top.highlights)
    assert top.keyword_rank == 1
    as_json = top.to_dict()
    assert as_json["path"].endswith("greenhouse.md") and "snippet" in as_json


def test_modes(index: Index, no_floor: None) -> None:
    keyword = index.search("eggs", mode="keyword")
    assert [h.path.name for h in keyword] == ["shopping.txt"]
    assert all(h.passages[0].semantic_rank is None for h in keyword)
    semantic = index.search_passages("eggs", mode="semantic", k=10)
    assert all(h.keyword_rank is None for h in semantic)
    assert len(semantic) == index.db.counts()["chunks"]
    with pytest.raises(ValueError):
        index.search("x", mode="fuzzy")  # type: ignore[arg-type]


def test_resync_reads_nothing_unchanged(index: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _count_extractions(monkeypatch)
    report = index.sync()
    assert seen == [] and report.unchanged == 3 and report.indexed == 0


def test_touched_file_is_hashed_not_reread(index: Index, notes: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _count_extractions(monkeypatch)
    later = time.time() + 10
    os.utime(notes / "shopping.txt", (later, later))
    report = index.sync()
    assert seen == [] and report.unchanged == 3


def test_changed_file_embeds_only_new_chunks(index: Index, notes: Path) -> None:
    backend = index.embedder._engines.llama
    assert isinstance(backend, FakeBackend)
    index.settings = SyncSettings(late_chunking_tokens=0, chunk_tokens=12, overlap_tokens=0)
    (notes / "long.md").write_text("\n\n".join(f"Paragraph {i} talks about topic {i} in a "
                                               "few words." for i in range(6)))
    index.sync()
    backend.decodes.clear()
    text = (notes / "long.md").read_text().replace("Paragraph 5", "Paragraph five")
    (notes / "long.md").write_text(text)
    report = index.sync()
    assert report.indexed == 1
    # The changed chunk, and the file's opening (its whole-file vector).
    assert sum(len(d) for d in backend.decodes) == 2


def test_deleted_file_leaves_the_index(index: Index, notes: Path) -> None:
    (notes / "shopping.txt").unlink()
    report = index.sync()
    assert report.removed == 1
    assert index.search("eggs", mode="keyword") == []


def test_moved_file_is_recognised_by_its_content(index: Index, notes: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (notes / "archive").mkdir()
    shutil.move(notes / "greenhouse.md", notes / "archive" / "greenhouse-2024.md")
    seen = _count_extractions(monkeypatch)
    report = index.sync()
    assert report.moved == 1 and report.removed == 0 and seen == []
    assert index.search("pump", mode="keyword")[0].path == notes / "archive" / "greenhouse-2024.md"


def test_missing_drive_is_not_wiped(index: Index, notes: Path, tmp_path: Path) -> None:
    before = index.db.counts()["chunks"]
    notes.rename(tmp_path / "unplugged")
    report = index.sync()
    assert report.unavailable_roots == [notes]
    assert index.db.counts()["chunks"] == before
    assert index.status()[0].available is False
    assert index.search("pump", mode="keyword") == []  # not offered while unavailable
    (tmp_path / "unplugged").rename(notes)
    report = index.sync()
    assert report.unchanged == 3 and index.status()[0].available is True
    assert index.search("pump", mode="keyword")


def test_bad_files_are_recorded_and_never_stop_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "mess"
    folder.mkdir()
    (folder / "garbage.txt").write_bytes(bytes(range(256)) * 50)
    (folder / "empty.md").write_bytes(b"")
    (folder / "latin1.txt").write_bytes("caf\xe9 cr\xe8me br\xfbl\xe9e".encode("latin-1"))
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    (folder / "secret.md").write_text("top secret")
    (folder / "good.md").write_text("# Fine\n\nA readable note about kites.")
    real_open = os.open

    def deny(file: object, *args: object, **kwargs: object) -> object:
        if str(file).endswith("secret.md"):  # as root, chmod 000 would not stop a read
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", deny)
    ix = Index(tmp_path / "i.db", embedder=_embedder())
    ix.add(folder)
    report = ix.sync()
    status = {p.name: (s, r) for p, s, r in ix.problems()}
    assert status["garbage.txt"][0] == "skipped" and "binary" in status["garbage.txt"][1]
    assert status["broken.pdf"][0] == "skipped" and "PDF" in status["broken.pdf"][1]
    assert status["secret.md"][0] == "failed" and "Permission" in status["secret.md"][1]
    assert "empty.md" not in status and "latin1.txt" not in status
    assert report.indexed == 3
    assert ix.search("crème brûlée", mode="keyword")[0].path.name == "latin1.txt"
    assert ix.search("kites", mode="keyword")[0].path.name == "good.md"


def test_file_that_disappears_while_being_read(index: Index, notes: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (notes / "fleeting.md").write_text("here for a moment")
    real = jina_edge.index.sync.extract

    def vanish(path: Path, **kwargs: int) -> object:
        if path.name == "fleeting.md":
            path.unlink()
        return real(path, **kwargs)

    monkeypatch.setattr(jina_edge.index.sync, "extract", vanish)
    report = index.sync()
    assert report.skipped + report.failed == 1
    assert index.sync().removed == 1


def test_explain(index: Index, notes: Path) -> None:
    (notes / ".hidden.md").write_text("hidden")
    (notes / "node_modules").mkdir()
    (notes / "node_modules" / "x.md").write_text("dependency")
    (notes / "photo.jpg").write_bytes(b"\xff\xd8")
    (notes / "new.md").write_text("new")
    assert index.explain(notes / "greenhouse.md") == "indexed (markdown)"
    assert "hidden" in index.explain(notes / ".hidden.md")
    assert "node_modules" in index.explain(notes / "node_modules" / "x.md")
    assert "not a supported file type" in index.explain(notes / "photo.jpg")
    assert "run `jina-edge index sync`" in index.explain(notes / "new.md")
    assert "not inside an indexed folder" in index.explain("/etc/hosts")


def test_filters(index: Index, notes: Path, tmp_path: Path, no_floor: None) -> None:
    other = tmp_path / "work"
    other.mkdir()
    (other / "pump-notes.md").write_text("The pump at work is bigger.")
    old = time.time() - 400 * 86400
    os.utime(other / "pump-notes.md", (old, old))
    index.add(other)
    index.sync()
    names = lambda hits: sorted(h.path.name for h in hits)  # noqa: E731
    assert names(index.search("pump", mode="keyword")) == ["greenhouse.md", "pump-notes.md"]
    assert names(index.search("pump", mode="keyword", filters=Filters(folder=other))) == [
        "pump-notes.md"]
    assert names(index.search("pump", filters=Filters(file_types=("code",)))) == ["code.py"]
    recent = Filters(modified_after=time.time() - 86400)
    assert names(index.search("pump", mode="keyword", filters=recent)) == ["greenhouse.md"]
    older = Filters(modified_before=time.time() - 86400)
    assert names(index.search("pump", mode="semantic", filters=older)) == ["pump-notes.md"]


def test_overlapping_folders_are_refused(index: Index, notes: Path) -> None:
    (notes / "sub").mkdir()
    with pytest.raises(JinaEdgeError, match="already inside"):
        index.add(notes / "sub")
    with pytest.raises(JinaEdgeError, match="contains the indexed folder"):
        index.add(notes.parent)
    with pytest.raises(JinaEdgeError, match="not a folder"):
        index.add(notes / "nothing")


def test_remove_folder_forgets_its_files(index: Index, notes: Path) -> None:
    index.remove(notes)
    assert index.db.counts()["chunks"] == 0
    assert index.search("pump") == []


def _unsynced_notes(tmp_path: Path, count: int) -> tuple[Index, Path]:
    """An index of a folder of `count` short notes, added but not synced."""
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(count):
        (folder / f"note-{i:02}.md").write_text(f"Note number {i} about pumps.\n")
    ix = Index(tmp_path / "i.db", embedder=_embedder())
    ix.add(folder)
    return ix, folder


def test_cancel_stops_between_files_and_the_next_sync_goes_on(tmp_path: Path) -> None:
    ix, _ = _unsynced_notes(tmp_path, 10)
    cancel = threading.Event()
    reading: list[Path] = []

    def progress(p: SyncProgress) -> None:
        if p.stage == "index" and p.current not in reading:
            reading.append(p.current)  # type: ignore[arg-type]
            if len(reading) == 5:  # four files read, the fifth is next
                cancel.set()

    first = ix.sync(progress=progress, cancel=cancel)
    assert first.cancelled and first.indexed == 4
    second = ix.sync()
    assert second.indexed == 6 and second.unchanged == 4


def test_progress_reports_files_and_rates(index: Index, notes: Path) -> None:
    for i in range(3):
        (notes / f"extra{i}.md").write_text(f"extra note {i}")
    seen: list[SyncProgress] = []
    index.sync(progress=seen.append)
    stages = [p.stage for p in seen]
    assert stages[0] == "scan" and stages[-1] == "done" and "index" in stages
    last_index = [p for p in seen if p.stage == "index"][-1]
    # Files count the whole index (3 unchanged + 3 new), passages what this sync embedded.
    assert last_index.files_total == 6 and last_index.current is not None
    assert seen[-1].files_done == 6 and seen[-1].chunks_done == seen[-1].chunks_total == 3


def test_changing_the_model_keeps_old_vectors_until_complete(index: Index, tmp_path: Path,
                                                             notes: Path) -> None:
    old_key = index.embedder.model_key
    new = Index(index.path, embedder=_embedder(dim=6))
    assert new.embedder.model_key != old_key
    cancel = threading.Event()
    cancel.set()  # stop before any file: nothing re-embedded yet
    new.sync(cancel=cancel)
    assert index.db.get_meta("model") == old_key
    assert set(new.db.models_with_vectors()) == {old_key}
    new.sync()
    assert new.db.get_meta("model") == new.embedder.model_key
    assert set(new.db.models_with_vectors()) == {new.embedder.model_key}
    hybrid = new.search("pump")
    assert "greenhouse.md" in [h.path.name for h in hybrid]
    assert all(h.passages[0].semantic_rank is not None for h in hybrid)


def test_reader_and_writer_at_once(index: Index, notes: Path) -> None:
    for i in range(30):
        (notes / f"bulk{i}.md").write_text(f"bulk note {i} about pumps and valves")
    writer = Index(index.path, embedder=_embedder())
    errors: list[BaseException] = []

    def write() -> None:
        try:
            writer.sync()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    reader = Index(index.path, embedder=_embedder())
    while thread.is_alive():
        reader.search("pump")
    thread.join()
    assert errors == []
    assert len(reader.search("bulk valves", mode="keyword", k=50)) == 30


def test_sync_builds_the_vector_graph_of_a_large_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_floor: None
) -> None:
    import jina_edge.index.service
    import jina_edge.index.vectors
    from jina_edge.index.vectors import VectorSearch

    monkeypatch.setattr(jina_edge.index.service, "EXACT_LIMIT", 5)
    monkeypatch.setattr(jina_edge.index.vectors, "EXACT_LIMIT", 5)
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(12):
        (folder / f"n{i}.md").write_text(f"note {i} about topic {i}")
    ix = Index(tmp_path / "i.db", embedder=_embedder())
    ix.add(folder)
    ix.sync()
    graph = VectorSearch(ix.db, ix.embedder.model_key).graph_path()
    assert graph.exists()  # built by the sync, not left to the first search
    assert len(ix.search("topic", mode="semantic", k=20)) == 12


def _long_notes(folder: Path, files: int, paragraphs: int) -> None:
    folder.mkdir()
    for f in range(files):
        text = "\n\n".join(f"Paragraph {p} of note {f} says something about pumps and valves."
                           for p in range(paragraphs))
        (folder / f"note{f}.md").write_text(text)


def _chunky_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Index:
    # Small chunks, no late chunking and small embedding steps: many steps per batch.
    monkeypatch.setattr(jina_edge.index.sync, "EMBED_STEP_TOKENS", 64)
    settings = SyncSettings(chunk_tokens=32, overlap_tokens=0, late_chunking_tokens=0)
    return Index(tmp_path / "i.db", embedder=_embedder(), settings=settings)


def test_progress_moves_while_passages_are_embedded(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _long_notes(tmp_path / "notes", files=3, paragraphs=20)
    ix = _chunky_index(tmp_path, monkeypatch)
    monkeypatch.setattr(jina_edge.index.sync, "ETA_WARMUP_S", 0.0)
    monkeypatch.setattr(jina_edge.index.sync, "RATE_SAMPLE_S", 0.0)
    ix.add(tmp_path / "notes")
    seen: list[SyncProgress] = []
    report = ix.sync(progress=seen.append)
    steps = [p for p in seen if p.stage == "index"]
    # All three files are read before their one batch is embedded: the passage
    # count must still move step by step, with a total that is already right.
    done = [p.chunks_done for p in steps]
    assert done == sorted(done) and len({d for d in done if 0 < d < report.chunks}) > 0
    after_reading = [p for p in steps if p.chunks_done > 0]
    assert all(p.chunks_total == report.chunks for p in after_reading)
    assert all(p.eta_s is not None for p in after_reading[1:])  # the first starts the clock
    # The bar only grows, moves within the batch, and the label follows the embedding.
    shares = [p.share_done for p in steps]
    assert shares == sorted(shares) and len({s for s in shares if 0 < s < 1}) > 2
    embedding = [p.current for p in steps if p.chunks_done > 0]
    assert len(set(embedding)) > 1 and all(p is not None for p in embedding)
    assert seen[-1].stage == "done" and seen[-1].chunks_done == report.chunks
    assert seen[-1].share_done == 1.0


def test_the_scan_counts_files_as_it_finds_them(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # The first half minute of a big sync said only "Indexing..." (issue 30).
    monkeypatch.setattr(jina_edge.index.sync, "SCAN_REPORT_S", 0.0)
    _long_notes(tmp_path / "notes", files=5, paragraphs=1)
    ix = Index(tmp_path / "i.db", embedder=_embedder())
    ix.add(tmp_path / "notes")
    seen: list[SyncProgress] = []
    ix.sync(progress=seen.append)
    found = [p.files_total for p in seen if p.stage == "scan"]
    assert found == sorted(found) and found[0] == 0 and found[-1] >= 4
    assert all(p.current == tmp_path / "notes" for p in seen if p.stage == "scan")


def test_the_passages_left_are_estimated_per_file_type(monkeypatch: pytest.MonkeyPatch) -> None:
    # One ratio for all files swung the total by half as the mix read changed (issue 30).
    from jina_edge.index.sync import SyncReport, _Meter

    work = [(Path("a.pdf"), 100_000), (Path("b.txt"), 1_000), (Path("c.pdf"), 100_000),
            (Path("d.txt"), 1_000), (Path("e.txt"), 1_000)]
    meter = _Meter(None, files_total=5, work=work)
    meter.file_read(Path("a.pdf"), 100_000, 10)
    meter.file_read(Path("b.txt"), 1_000, 10)
    assert meter.chunks_total() == 50  # each type at its own passages per byte

    # The ETA's rate starts with the first passages: loading the model is not work.
    clock = [0.0]
    monkeypatch.setattr(jina_edge.index.sync.time, "monotonic", lambda: clock[0])
    seen: list[SyncProgress] = []
    meter = _Meter(seen.append, files_total=5, work=work)
    for t, chunks in ((0, 0), (100, 10), (101, 20), (111, 120)):
        clock[0] = t
        meter.embedded = chunks
        meter.notify(SyncReport())
    assert abs(seen[-1].chunks_per_s - 10.0) < 1e-6
    assert seen[1].eta_s is None  # not measured long enough yet


def test_cancel_stops_within_a_batch_and_keeps_the_finished_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _long_notes(tmp_path / "notes", files=3, paragraphs=20)
    ix = _chunky_index(tmp_path, monkeypatch)
    ix.add(tmp_path / "notes")
    cancel = threading.Event()
    read_all: list[bool] = []

    def progress(p: SyncProgress) -> None:
        if p.stage == "index" and p.chunks_done and not read_all:
            read_all.append(p.chunks_total > 0)
        if p.stage == "index" and p.files_done >= 1:
            cancel.set()  # the first file is written: stop

    first = ix.sync(progress=progress, cancel=cancel)
    assert read_all == [True]  # the three files were one batch, read before embedding
    assert first.cancelled and first.indexed == 1
    resumed: list[SyncProgress] = []
    second = ix.sync(progress=resumed.append)
    assert second.indexed == 2 and second.unchanged == 1
    first_step = next(p for p in resumed if p.stage == "index")
    assert (first_step.files_done, first_step.files_total) == (1, 3)  # totals survive a resume


def test_a_file_name_that_is_not_utf8_is_listed_not_fatal(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    with open(os.fsencode(folder) + b"/bad\xff.txt", "w") as f:
        f.write("old file")
    (folder / "good.txt").write_text("pump")
    ix = Index(tmp_path / "i.db", embedder=_embedder())
    ix.add(folder)
    report = ix.sync()
    assert (report.indexed, report.skipped) == (1, 1)
    assert ix.search("pump", mode="keyword")[0].path.name == "good.txt"
    [(path, status, reason)] = ix.problems()
    assert path.name == "bad\ufffd.txt" and status == "skipped" and "UTF-8" in reason
    again = ix.sync()  # stable: nothing re-read, nothing removed
    assert (again.indexed, again.skipped, again.removed, again.unchanged) == (0, 0, 0, 2)


def test_what_the_walk_leaves_out_as_a_problem_is_listed(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "note.md").write_text("pump notes")
    (folder / "big.log").write_text("x" * 5000)
    os.mkfifo(folder / "pipe.txt")
    outside = tmp_path / "outside.md"
    outside.write_text("elsewhere")
    (folder / "link.md").symlink_to(outside)
    (folder / "broken.md").symlink_to(tmp_path / "nothing-here.md")
    (folder / "node_modules").mkdir()  # left out by a pattern: the person's choice, not listed
    (folder / "node_modules" / "lib.js").write_text("x")
    ix = Index(tmp_path / "i.db", embedder=_embedder(),
               settings=SyncSettings(max_file_bytes=1000))
    ix.add(folder)
    report = ix.sync()
    problems = {p.name: reason for p, _, reason in ix.problems()}
    assert set(problems) == {"big.log", "pipe.txt", "link.md", "broken.md"}, problems
    assert report.indexed == 1 and report.skipped == 4
    again = ix.sync()
    assert (again.skipped, again.removed, again.unchanged) == (0, 0, 5)


def test_the_chunking_of_the_first_sync_stays(tmp_path: Path, notes: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINA_EDGE_CHUNK_TOKENS", "64")
    first = Index(tmp_path / "i.db", embedder=_embedder())
    first.add(notes)
    first.sync()
    assert first.settings.chunk_tokens == 64
    monkeypatch.setenv("JINA_EDGE_CHUNK_TOKENS", "128")  # the config changes later
    assert Index(tmp_path / "i.db", embedder=_embedder()).settings.chunk_tokens == 64
    assert Index(tmp_path / "new.db", embedder=_embedder()).settings.chunk_tokens == 128


def test_duplicates_show_once_and_names_are_searched(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    (folder / "copy").mkdir(parents=True)
    text = "We sized the pump for twelve litres per minute.\n"
    (folder / "pump.md").write_text(text)
    (folder / "copy" / "pump.md").write_text(text)
    (folder / "2024-05-02 retro.txt").write_text("What went well: the build got faster.\n")
    (folder / "forms.txt").write_text("Fill in the form; its format is fixed.\n")
    index = _synced_index(tmp_path, folder)
    found = index.search("pump litres", mode="keyword")
    assert len(found) == 1
    assert {found[0].path, *found[0].also_at} == {folder / "pump.md", folder / "copy" / "pump.md"}
    assert [f.path.name for f in index.search("retro", mode="keyword")] == ["2024-05-02 retro.txt"]
    assert index.search("xyzzy frobnicate quux", mode="keyword") == []
    hit = index.search("the litres", mode="keyword")[0].passages[0]
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["litres"]  # "the" is a stop word
    hit = index.search("form ", mode="keyword")[0].passages[0]  # a finished word: no prefix
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["form"]  # not "format"



def test_a_name_matches_and_a_folder_name_does_not(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # The files of a folder named like the query word used to fill the lookup's
    # limit, so that the file named so could be left out.
    monkeypatch.setattr(jina_edge.index.search, "NAME_MATCH_LIMIT", 2)
    folder = tmp_path / "notes"
    (folder / "retro").mkdir(parents=True)
    for i in range(3):
        (folder / "retro" / f"{i}.txt").write_text(f"Note {i} about the build.\n")
    (folder / "retro" / "zz.txt").write_text("Old stuff.\n")
    (folder / "zz retro.txt").write_text("What went well: the build got faster.\n")
    index = _synced_index(tmp_path, folder)
    assert [f.path.name for f in index.search("retro", mode="keyword")] == ["zz retro.txt"]

def test_a_common_word_counts_only_when_the_query_has_no_rarer_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jina_edge.index.ranking, "COMMON", 3)  # a word in more than 3 passages
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(5):
        (folder / f"water{i}.txt").write_text(f"Water note {i}: the tank holds water.\n")
    (folder / "both.txt").write_text("The pump moves water.\n")
    (folder / "pump.txt").write_text("The pump is blue.\n")
    index = _synced_index(tmp_path, folder)
    # "water" is common: the rare word picks the files, and both hold it equally.
    found = index.search("pump water ", mode="keyword")
    assert {f.path.name for f in found} == {"both.txt", "pump.txt"}
    assert found[0].score == pytest.approx(found[1].score)
    # Only common words: the files holding all of them.
    assert {f.path.name for f in index.search("tank water ", mode="keyword")} == {
        f"water{i}.txt" for i in range(5)}


def test_keyword_mode_ranks_every_word_first_then_bm25(tmp_path: Path) -> None:
    """A short passage about a word ranks above a long one that mentions a rarer word once."""
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(10):
        (folder / f"day{i}.txt").write_text(f"Notes on day {i} about tomatoes.\n")
    (folder / "pump-a.txt").write_text("The old pump leaks.\n")
    (folder / "pump-b.txt").write_text("A pump for the pond.\n")
    (folder / "pumps.txt").write_text("pump pump pump\n")
    (folder / "valve.txt").write_text(" ".join(f"word{i}" for i in range(60)) + " valve\n")
    (folder / "both.txt").write_text("The pump and the valve.\n")
    index = _synced_index(tmp_path, folder)
    # The share of words ranked valve.txt second: "valve" is the rarer word.
    found = index.search("pump valve", mode="keyword")
    assert [f.path.name for f in found[:2]] == ["both.txt", "pumps.txt"]
    assert "valve.txt" in [f.path.name for f in found[2:]]
    assert found[0].score > found[1].score > found[2].score
    passages = index.search_passages("pump valve", mode="keyword")
    assert [h.path.name for h in passages[:2]] == ["both.txt", "pumps.txt"]


def test_a_file_about_the_query_ranks_above_a_file_with_the_same_passage_in_passing(
        tmp_path: Path, no_floor: None) -> None:
    """The whole-file vector: the same passage counts for more in a file that is about it."""
    folder = tmp_path / "docs"
    folder.mkdir()
    passage = "zeta eta theta iota"
    (folder / "about.txt").write_text(passage + "\n")
    (folder / "manual.txt").write_text("\n\n".join(
        [*(f"w{i} x{i} y{i} z{i}" for i in range(30)), passage]) + "\n")
    ix = Index(tmp_path / "index.db", embedder=_embedder())
    ix.settings = SyncSettings(late_chunking_tokens=0, chunk_tokens=6, overlap_tokens=0)
    ix.add(folder)
    ix.sync()
    # Both hold the passage as a chunk of its own, with the same vector and words.
    for mode in ("semantic", "hybrid"):
        hits = ix.search(passage, mode=mode)
        assert [h.path.name for h in hits[:2]] == ["about.txt", "manual.txt"]
        assert [p.text for p in hits[1].passages[:1]] == [passage]
        assert hits[0].score > hits[1].score


def test_a_file_of_one_chunk_is_embedded_once_and_has_a_file_vector(
        tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "note.txt").write_text("Buy eggs and milk on the way home.\n")
    embedder = _embedder()
    backend = embedder._engines.llama
    assert isinstance(backend, FakeBackend)
    ix = Index(tmp_path / "index.db", embedder=embedder)
    ix.add(folder)
    ix.sync()
    assert sum(len(d) for d in backend.decodes) == 1
    record = ix.db.file(folder / "note.txt")
    assert record is not None
    file_vector = ix.db.file_vectors(embedder.model_key, [record.id])[record.id]
    _, chunk_vectors = ix.db.all_vectors(embedder.model_key)
    assert np.allclose(file_vector, chunk_vectors[0], atol=1e-2)
    assert ix.db.files_missing_vectors(embedder.model_key) == set()


def test_a_folder_paused_during_a_sync_stops_being_indexed(tmp_path: Path) -> None:
    # Pause said "paused" while the running sync went on indexing the folder (issue 30).
    index, folder = _unsynced_notes(tmp_path, 40)
    other = Index(tmp_path / "i.db", embedder=_embedder())  # the app's own connection
    seen: list[int] = []

    def progress(p: object) -> None:
        seen.append(1)
        if len(seen) == 5:
            other.pause(folder)

    report = index.sync(progress=progress)
    assert 0 < report.indexed < 40 and not report.cancelled
    assert [s.paused for s in index.status()] == [True]
    other.pause(folder, False)
    assert index.sync().indexed == 40 - report.indexed  # the rest, once resumed


def test_results_say_when_their_file_changed_or_was_deleted_after_indexing(
        index: Index, notes: Path) -> None:
    assert index.search("eggs", mode="keyword")[0].since_indexed is None
    (notes / "shopping.txt").write_text("Buy eggs, milk, bread and tea.\n")
    found = index.search("eggs", mode="keyword")[0]
    assert found.since_indexed == "changed" and found.to_dict()["since_indexed"] == "changed"
    (notes / "shopping.txt").unlink()
    assert index.search("eggs", mode="keyword")[0].since_indexed == "deleted"
    index.sync()
    assert index.search("eggs", mode="keyword") == []


def test_an_empty_result_says_what_it_means(tmp_path: Path, notes: Path) -> None:
    index = Index(tmp_path / "i.db", embedder=_embedder())
    assert index.no_results_hint("hybrid").startswith("Nothing is indexed yet")
    index.add(notes)
    assert "index is incomplete (1 of 1 folders" in index.no_results_hint("hybrid")
    index.sync()
    assert index.no_results_hint("hybrid") == "No matches. Try other words, or the semantic mode."
    assert index.no_results_hint("keyword").endswith("or the hybrid mode.")


def test_markdown_read_before_readable_text_is_read_again(tmp_path: Path, notes: Path) -> None:
    import sqlite3

    (notes / "links.md").write_text("See the [**pump manual**](https://example.com/pump).\n")
    _synced_index(tmp_path, notes).close()
    # As an index written before migration 6 holds it: the raw Markdown.
    conn = sqlite3.connect(tmp_path / "i.db")
    conn.execute("UPDATE chunks SET text = ? WHERE file_id = (SELECT id FROM files "
                 "WHERE path LIKE '%links.md')", ("See the [**pump manual**](https://e).",))
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()
    index = Index(tmp_path / "i.db", embedder=_embedder())
    index.sync()
    hit = index.search("manual", mode="keyword")[0].passages[0]
    assert hit.text == "See the pump manual."


@pytest.mark.parametrize(("chunk", "overlap"), [("32", None), ("16", "16"), ("8", "20")])
def test_chunk_sizes_that_cut_nothing_are_refused_before_any_file_fails(
        chunk: str, overlap: str | None, tmp_path: Path, notes: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Before, every file failed at every sync (a traceback each) and sync exited 0.
    monkeypatch.setenv("JINA_EDGE_CHUNK_TOKENS", chunk)
    if overlap is not None:
        monkeypatch.setenv("JINA_EDGE_OVERLAP_TOKENS", overlap)
    with pytest.raises(JinaEdgeError, match="a chunk must be longer than the overlap"):
        Index(tmp_path / "i.db", embedder=_embedder())


def test_an_index_that_remembered_sizes_that_cut_nothing_takes_the_configured_ones(
        tmp_path: Path, notes: Path) -> None:
    index = Index(tmp_path / "i.db", embedder=_embedder())
    index.db.set_meta(KEY_CHUNKING, json.dumps(
        {"chunk_tokens": 32, "overlap_tokens": 32, "late_chunking_tokens": 0}))
    index.close()
    reopened = Index(tmp_path / "i.db", embedder=_embedder())
    reopened.add(notes)
    report = reopened.sync()
    assert report.failed == 0 and report.indexed == 3
    assert json.loads(reopened.db.get_meta(KEY_CHUNKING) or "")["chunk_tokens"] != 32


def test_a_file_of_more_passages_than_the_limit_is_skipped_saying_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 50 MB HTML page of short paragraphs made millions of passages: a sync without end."""
    monkeypatch.setenv("JINA_EDGE_MAX_FILE_PASSAGES", "5")
    monkeypatch.setenv("JINA_EDGE_CHUNK_TOKENS", "16")
    monkeypatch.setenv("JINA_EDGE_OVERLAP_TOKENS", "0")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "huge.html").write_text("".join(f"<h2>part {i}</h2><p>{'word ' * 20}</p>"
                                             for i in range(50)))
    (notes / "small.md").write_text("a short note about otters\n")
    with Index(tmp_path / "i.db", embedder=Embedder(backend=FakeBackend())) as index:
        index.add(notes)
        report = index.sync()
        assert (report.indexed, report.skipped) == (1, 1)
        [(path, status, reason)] = index.problems()
        assert path.name == "huge.html" and status == "skipped"
        assert "over the limit of 5 per file" in reason


def test_a_file_of_no_supported_type_is_skipped_without_being_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first sync read every photo in full only to skip it."""
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "photo.jpg").write_bytes(b"\xff\xd8\xff" + bytes(100_000))
    (notes / "note.md").write_text("a note about otters\n")
    read: list[str] = []
    real = jina_edge.index.sync.file_sha256
    monkeypatch.setattr(jina_edge.index.sync, "file_sha256",
                        lambda path, *a, **kw: read.append(path.name) or real(path, *a, **kw))
    with Index(tmp_path / "i.db", embedder=Embedder(backend=FakeBackend())) as index:
        index.add(notes)
        report = index.sync()
        assert (report.indexed, report.skipped) == (1, 1)
        assert index.problems() == [(notes / "photo.jpg", "skipped",
                                     "unsupported file type '.jpg'")]
    assert read == ["note.md"]
