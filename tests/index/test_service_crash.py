"""kill -9 in the middle of a sync, then sync again: consistent, and finished work is kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from jina_edge.index.db import IndexDB
from jina_edge.index.service import Index

SYNC_SCRIPT = """
import sys
from jina_edge.index.service import Index
index = Index(sys.argv[1], model=sys.argv[2])
index.add(sys.argv[3])
index.sync()
"""
FILES = 150


def test_kill_during_sync_then_resume(tmp_path: Path, jina_tiny_gguf: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(FILES):
        body = "\n\n".join(f"Note {i}, paragraph {j}: the valve {i * j} was checked." for j in
                           range(40))
        (folder / f"note{i:03}.md").write_text(f"# Note {i}\n\n{body}\n")
    db_path = tmp_path / "index.db"
    proc = subprocess.Popen([sys.executable, "-c", SYNC_SCRIPT, str(db_path), str(jina_tiny_gguf),
                             str(folder)])
    killed_at = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if db_path.exists():
            done = IndexDB(db_path).counts().get("files_indexed", 0)
            if done >= 20:
                os.kill(proc.pid, signal.SIGKILL)
                killed_at = done
                break
        time.sleep(0.05)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL, "the sync finished before it could be killed"
    assert 20 <= killed_at < FILES

    db = IndexDB(db_path)
    assert db.check_integrity() == []
    survivors = db.counts()["files_indexed"]
    assert survivors >= killed_at

    index = Index(db_path, model=jina_tiny_gguf)
    report = index.sync()
    assert report.unchanged == survivors  # finished files were not redone
    assert report.indexed == FILES - survivors
    assert index.db.check_integrity() == []
    assert index.db.counts()["files_indexed"] == FILES
    key = index.embedder.model_key
    assert index.db.files_missing_vectors(key) == set()
    hits = index.search("valve checked note 7", mode="keyword", k=50)
    assert len({h.path for h in hits}) > 1
