"""The chat database's schema, as numbered migrations tracked in ``PRAGMA user_version``.

Each migration runs in its own transaction; a database written by a newer
Scalpel (a higher version than the last one here) is refused, never altered.
Several windows or processes may open a new file at once: each migration takes
the write lock first and then checks the version again, so only one of them
applies it (the others find it done).
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[tuple[int, str]] = [
    (1, """
CREATE TABLE chats (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    preset_id TEXT,
    model TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    current_leaf_id INTEGER
);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content TEXT NOT NULL,
    model TEXT,
    preset_id TEXT,
    stats TEXT,
    status TEXT NOT NULL DEFAULT 'complete'
        CHECK (status IN ('complete', 'partial', 'cancelled', 'failed')),
    created_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX messages_by_chat ON messages(chat_id);
CREATE INDEX messages_by_parent ON messages(parent_id);
CREATE INDEX chats_by_update ON chats(updated_at);
"""),
    (2, """
CREATE VIRTUAL TABLE messages_fts USING fts5(
    content, content='messages', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
    INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
END;
INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');
"""),
    (3, """
ALTER TABLE chats ADD COLUMN keep_local INTEGER NOT NULL DEFAULT 0;
"""),
    (4, """
ALTER TABLE chats ADD COLUMN documents TEXT;
"""),
]

LATEST_VERSION = MIGRATIONS[-1][0]


def schema_version(connection: sqlite3.Connection) -> int:
    return connection.execute("PRAGMA user_version").fetchone()[0]


def migrate(connection: sqlite3.Connection, *, up_to: int = LATEST_VERSION,
            migrations: list[tuple[int, str]] = MIGRATIONS) -> int:
    """Apply the migrations the database lacks (each atomically); return the new version.
    ``migrations``: another database's own list (the documents index uses this too).

    ``connection`` must be in autocommit mode (``isolation_level=None``).
    """
    current = schema_version(connection)
    for version, script in migrations:
        if current < version <= up_to:
            connection.execute("BEGIN IMMEDIATE")  # waits for another migrating connection
            try:
                current = schema_version(connection)  # read again, under the write lock
                if current < version:
                    for statement in _statements(script):
                        connection.execute(statement)
                    connection.execute(f"PRAGMA user_version = {version}")
                    current = version
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
    return current


def _statements(script: str):
    """The SQL statements of ``script``, whole (a trigger's body stays in one piece)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement.strip()
            statement = ""
    if statement.strip():
        yield statement  # incomplete: let SQLite say what is wrong
