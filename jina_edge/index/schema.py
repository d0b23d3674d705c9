"""The index database's schema: its migrations, applied in order (PRAGMA user_version)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

from jina_edge.index.keywords import index_form

_KEYWORDS_V2_COLUMNS = """
ALTER TABLE chunks ADD COLUMN fts_text TEXT;     -- text as the full-text index reads it, if other
ALTER TABLE chunks ADD COLUMN fts_heading TEXT;  -- the same for heading
"""
_KEYWORDS_V2_INDEX = """
DROP TRIGGER chunks_ai;
DROP TRIGGER chunks_ad;
DROP TABLE chunks_fts;
CREATE VIEW chunks_fts_source AS
    SELECT id, coalesce(fts_text, text) AS text, coalesce(fts_heading, heading) AS heading
    FROM chunks;
CREATE VIRTUAL TABLE chunks_fts USING fts5(
    text, heading, content='chunks_fts_source', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text, heading) VALUES
        (new.id, coalesce(new.fts_text, new.text), coalesce(new.fts_heading, new.heading));
END;
CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text, heading) VALUES
        ('delete', old.id, coalesce(old.fts_text, old.text),
         coalesce(old.fts_heading, old.heading));
END;
INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild');
"""


def _keywords_v2(conn: sqlite3.Connection) -> None:
    """Migration 4: the full-text index reads CJK text split into characters, unstemmed.

    See jina_edge/index/keywords.py. Chunks written before get their index forms here.
    """
    for statement in statements(_KEYWORDS_V2_COLUMNS):
        conn.execute(statement)
    last = 0
    while rows := conn.execute("SELECT id, text, heading FROM chunks WHERE id > ? ORDER BY id "
                               "LIMIT 10000", (last,)).fetchall():
        forms = [(index_form(text), index_form(heading), cid) for cid, text, heading in rows]
        conn.executemany("UPDATE chunks SET fts_text = ?, fts_heading = ? WHERE id = ?",
                         [form for form in forms if form[0] or form[1]])
        last = rows[-1][0]
    for statement in statements(_KEYWORDS_V2_INDEX):
        conn.execute(statement)


MIGRATIONS: tuple[str | Callable[[sqlite3.Connection], None], ...] = (
    # 1: roots, files, chunks with their full text search, vectors per model.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE roots (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        added REAL NOT NULL,
        last_sync REAL,
        paused INTEGER NOT NULL DEFAULT 0,
        available INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        root_id INTEGER NOT NULL REFERENCES roots(id) ON DELETE CASCADE,
        path TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        sha256 TEXT,
        file_type TEXT,
        status TEXT NOT NULL,           -- indexed | skipped | failed
        reason TEXT,                    -- why skipped or failed
        indexed_at REAL NOT NULL,
        available INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX files_root ON files(root_id);
    CREATE INDEX files_sha ON files(sha256);
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY,
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        ord INTEGER NOT NULL,
        text TEXT NOT NULL,
        heading TEXT NOT NULL DEFAULT '',
        line_start INTEGER,
        line_end INTEGER,
        page INTEGER,
        vector_key TEXT NOT NULL        -- what the vector depends on (text, or document+span)
    );
    CREATE INDEX chunks_file ON chunks(file_id);
    CREATE INDEX chunks_key ON chunks(vector_key);
    CREATE TABLE vectors (
        chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        vec BLOB NOT NULL,              -- int8 codes (float32 before migration 3)
        PRIMARY KEY (chunk_id, model)
    );
    CREATE VIRTUAL TABLE chunks_fts USING fts5(
        text, heading, content='chunks', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.id, new.text, new.heading);
    END;
    CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
        INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)
        VALUES ('delete', old.id, old.text, old.heading);
    END;
    """,
    # 2: every search asks whether any file sits on an unavailable drive.
    """
    CREATE INDEX files_available ON files(available);
    """,
    # 3: vectors stored as int8 with one scale each (a quarter of the size); rows
    # written before have no scale and stay float32 (see `_decode_vectors`).
    """
    ALTER TABLE vectors ADD COLUMN scale REAL;
    """,
    # 4: the full-text index reads CJK text split into characters and no longer stems.
    _keywords_v2,
    # 5: one vector per file and model, of the file's opening (search.py ranks files
    # with it). Files written before have none; the next sync embeds it.
    """
    CREATE TABLE file_vectors (
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        vec BLOB NOT NULL,              -- int8 codes, like vectors
        scale REAL NOT NULL,
        PRIMARY KEY (file_id, model)
    );
    """,
    # 6: Markdown and reStructuredText passages hold the text a reader sees, without
    # the markup: the next sync reads those files again.
    """
    UPDATE files SET sha256 = NULL, mtime_ns = 0 WHERE file_type IN ('markdown', 'rst');
    """,
)


def statements(script: str) -> Iterator[str]:
    """Split a migration into statements (triggers contain ';' inside BEGIN ... END)."""
    buffer = ""
    for line in script.splitlines():
        stripped = line.split("--", 1)[0].rstrip()
        if not stripped.strip():
            continue
        buffer += stripped + "\n"
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    if buffer.strip():
        yield buffer.strip()
