"""The index database's schema migrations and integrity checks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from jina_edge.errors import IndexDatabaseError
from jina_edge.index.db import MIGRATIONS, IndexDB


def test_a_database_of_an_older_schema_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "i.db"
    IndexDB(path).close()
    # Make it look like a database written before migration 2.
    conn = sqlite3.connect(path)
    conn.execute("DROP INDEX files_available")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    db = IndexDB(path)
    assert db.schema_version == len(MIGRATIONS) == 2
    assert db.check_integrity() == []
    conn = sqlite3.connect(path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "files_available" in names


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "i.db"
    IndexDB(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(IndexDatabaseError, match="newer jina-edge"):
        IndexDB(path)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "i.db"
    path.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(IndexDatabaseError, match="move it away"):
        IndexDB(path)


def test_another_programs_database_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE visits (url TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(IndexDatabaseError, match="another program"):
        IndexDB(path)
    assert path.read_bytes() == before  # no tables added, not switched to WAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.sqlite"]


def test_a_path_that_is_not_a_file_is_refused(tmp_path: Path) -> None:
    for path in (tmp_path, Path("/dev/null")):
        with pytest.raises(IndexDatabaseError, match="is not a file"):
            IndexDB(path)
