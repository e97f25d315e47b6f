"""The documents index's schema, as numbered, append-only migrations in ``PRAGMA
user_version`` (the same scheme as the chat store's, core/chats/schema.py, whose
``migrate`` runs them: one transaction each, a newer file refused).

Files belong to one collection each (the same file in two collections is two rows):
removing a collection or a folder is then a plain cascade. Vectors are keyed by chunk
*and* embedding model, so two models' vectors are never mixed; the FTS5 table is an
external-content index of the chunks kept in step by triggers. A collection's
``generation`` changes with its files and vectors (triggers again, whoever writes), so
search keeps a collection's vector matrix in memory until it really changed.
"""

from __future__ import annotations

import sqlite3

from ..chats import schema as _chat_schema

MIGRATIONS: list[tuple[int, str]] = [
    (1, """
CREATE TABLE collections (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    embedding_model TEXT,
    created_at REAL NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0  -- bumped when its files or vectors change
);
CREATE TABLE folders (
    id INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    UNIQUE (collection_id, path)
);
CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT,
    status TEXT NOT NULL CHECK (status IN ('indexed', 'problem')),
    problem_kind TEXT,
    problem TEXT,
    pages INTEGER NOT NULL DEFAULT 0,
    chunks INTEGER NOT NULL DEFAULT 0,
    indexed_at REAL NOT NULL,
    UNIQUE (collection_id, path)
);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: search caches key on ids
    file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    page INTEGER,
    heading TEXT,
    line_start INTEGER NOT NULL,
    line_end INTEGER NOT NULL,
    section INTEGER NOT NULL,
    start INTEGER NOT NULL
);
CREATE INDEX chunks_by_file ON chunks(file_id, ordinal);
CREATE TABLE vectors (
    chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (chunk_id, model)
) WITHOUT ROWID;
CREATE INDEX vectors_by_model ON vectors(model);
CREATE VIRTUAL TABLE chunks_fts USING fts5(
    text, heading, content='chunks', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.id, new.text, new.heading);
END;
CREATE TRIGGER files_generation BEFORE DELETE ON files BEGIN
    UPDATE collections SET generation = generation + 1 WHERE id = old.collection_id;
END;
CREATE TRIGGER vectors_generation AFTER INSERT ON vectors BEGIN
    UPDATE collections SET generation = generation + 1 WHERE id = (SELECT f.collection_id
        FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.id = new.chunk_id);
END;
CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)
        VALUES ('delete', old.id, old.text, old.heading);
END;
"""),
]

LATEST_VERSION = MIGRATIONS[-1][0]


def migrate(connection: sqlite3.Connection) -> int:
    """Bring ``connection`` (autocommit) up to LATEST_VERSION, each migration in its own
    transaction under the write lock (another process may be migrating too); a file
    written by a newer Scalpel is refused, never altered."""
    current = _chat_schema.schema_version(connection)
    if current > LATEST_VERSION:
        raise sqlite3.DatabaseError(f"the documents index was written by a newer Scalpel "
                                    f"(version {current}; this one reads {LATEST_VERSION})")
    return _chat_schema.migrate(connection, up_to=LATEST_VERSION, migrations=MIGRATIONS)
