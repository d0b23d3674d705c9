"""The index database's schema migrations and integrity checks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from jina_edge.errors import IndexDatabaseError
from jina_edge.index.db import ChunkRecord, IndexDB, encode_vectors
from jina_edge.index.schema import MIGRATIONS


def _first_schema_db(path: Path) -> None:
    """A database as the first release wrote it: schema 1, float32 vectors."""
    conn = sqlite3.connect(path)
    conn.executescript(str(MIGRATIONS[0]))
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO roots(id, path, added) VALUES (1, '/notes', 0)")
    conn.execute("INSERT INTO files(id, root_id, path, size, mtime_ns, status, indexed_at) "
                 "VALUES (1, 1, '/notes/a.txt', 1, 1, 'indexed', 0)")
    conn.execute("INSERT INTO chunks(id, file_id, ord, text, vector_key) "
                 "VALUES (1, 1, 0, 'old passage', 'text:old')")
    conn.execute("INSERT INTO vectors(chunk_id, model, vec) VALUES (1, 'm', ?)",
                 (np.asarray([0.6, -0.8, 0.0], "<f4").tobytes(),))
    conn.commit()
    conn.close()


def test_a_database_of_the_first_schema_is_migrated_and_keeps_its_vectors(
        tmp_path: Path) -> None:
    path = tmp_path / "i.db"
    _first_schema_db(path)
    db = IndexDB(path)
    assert db.schema_version == len(MIGRATIONS) == 6
    assert db.check_integrity() == []
    conn = sqlite3.connect(path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "files_available" in names
    # The float32 vector written before reads back exactly; new ones are int8.
    ids, matrix = db.all_vectors("m")
    assert ids.tolist() == [1]
    assert np.array_equal(matrix, np.asarray([[0.6, -0.8, 0.0]], np.float32))
    root = db.add_root(tmp_path)
    db.write_file(root, tmp_path / "b.txt", size=1, mtime_ns=1, sha256=None, file_type="text",
                  status="indexed", reason=None,
                  chunks=[ChunkRecord("new passage", "", 1, 1, None, "text:new")],
                  vectors={"m": np.asarray([[0.0, 0.6, 0.8]], np.float32)})
    ids, matrix = db.all_vectors("m")
    assert ids.tolist()[0] == 1 and len(ids) == 2
    assert np.allclose(matrix[1], [0.0, 0.6, 0.8], atol=0.8 / 127 / 2 + 1e-7)
    stored = {r[0]: len(r[1]) for r in conn.execute("SELECT chunk_id, vec FROM vectors")}
    assert stored[1] == 12 and stored[int(ids[1])] == 3  # float32 kept, int8 written


def test_a_file_indexed_before_whole_file_vectors_is_due_for_its_own(tmp_path: Path) -> None:
    path = tmp_path / "i.db"
    _first_schema_db(path)
    db = IndexDB(path)
    old = db.file(Path("/notes/a.txt"))
    assert old is not None
    assert db.files_missing_vectors("m") == {old.id}  # its chunk has a vector, the file none
    root = db.add_root(tmp_path)
    new = db.write_file(root, tmp_path / "b.txt", size=1, mtime_ns=1, sha256=None,
                        file_type="text", status="indexed", reason=None,
                        chunks=[ChunkRecord("new passage", "", 1, 1, None, "text:new")],
                        vectors={"m": np.asarray([[0.0, 0.6, 0.8]], np.float32)},
                        file_vectors={"m": np.asarray([0.0, 0.8, 0.6], np.float32)})
    assert db.files_missing_vectors("m") == {old.id}
    assert db.files_missing_vectors("other") == {old.id, new}
    stored = db.file_vectors("m", [old.id, new])
    assert list(stored) == [new]
    assert np.allclose(stored[new], [0.0, 0.8, 0.6], atol=0.8 / 127 / 2 + 1e-7)
    db.drop_vectors_except("other")
    assert db.file_vectors("m", [new]) == {}


def test_int8_vectors_keep_cosines_within_the_stated_bound() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((500, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[:50] + 0.5 * rng.standard_normal((50, 512)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    codes, scales = encode_vectors(vectors)
    assert codes.dtype == np.int8 and codes.shape == vectors.shape
    decoded = codes.astype(np.float32) * scales[:, None]
    assert np.abs(queries @ decoded.T - queries @ vectors.T).max() < 0.005
    assert np.array_equal(encode_vectors(decoded)[0], codes)  # re-encoding a reused vector is exact


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


def test_the_passage_count_follows_every_change(tmp_path: Path) -> None:
    db = IndexDB(tmp_path / "i.db")
    root = db.add_root(tmp_path)
    chunks = [ChunkRecord("a passage", "", 1, 1, None, "k1"),
              ChunkRecord("another", "", 2, 2, None, "k2")]
    db.write_file(root, tmp_path / "a.txt", size=1, mtime_ns=1, sha256=None, file_type="text",
                  status="indexed", reason=None, chunks=chunks, vectors={})
    assert db.chunk_count() == 2
    db.remove_root(root)  # its files and passages go with it
    assert db.chunk_count() == 0
