"""Chats and their messages in SQLite: WAL, small transactions, branches, full-text search.

Messages form a tree (``parent_id``): regenerating an answer or editing a
question adds a sibling, and a chat shows the path from its root to its
``current_leaf_id``. WAL with ``synchronous=NORMAL`` means a committed
transaction survives the app being killed; the file is never left corrupt.
Several windows or processes may open the same file.
"""

from __future__ import annotations

import contextlib
import logging
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .failures import ChatStoreError, ChatStoreNewerError, is_busy, open_error, write_error
from .schema import LATEST_VERSION, migrate, schema_version
from .search_hits import HIT_END, HIT_START, SearchHit, markers_absent_from, split_marked


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatSummary:
    id: int
    title: str
    preset_id: str | None
    model: str | None
    created_at: float
    updated_at: float
    message_count: int


UNNAMED_MODEL = "Assistant"  # an answer's speaker before the model answering it is known


@dataclass(frozen=True)
class StoredMessage:
    id: int
    chat_id: int
    parent_id: int | None
    role: str
    content: str
    model: str | None
    preset_id: str | None
    stats: dict | None
    status: str
    created_at: float
    finished_at: float | None


BUSY_TIMEOUT_MS = 10_000  # how long a write waits for another window's or process's write

_MESSAGE_COLUMNS = ("id, chat_id, parent_id, role, content, model, preset_id, stats, status, "
                    "created_at, finished_at")


class ChatStore:
    def __init__(self, path: Path) -> None:
        """Open (or create) the chats file. Raises a ChatStoreError by cause: full disk,
        read-only file or folder, locked, damaged, or written by a newer Scalpel
        (``opening.open_chat_store`` turns each into a store the window can still use)."""
        self.file = Path(path)
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = None
        try:
            self._db = sqlite3.connect(self.file, timeout=BUSY_TIMEOUT_MS / 1000,
                                       isolation_level=None, check_same_thread=False)
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _use_wal(self._db)
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            # Deleted chats and messages are overwritten, not left readable in free pages
            # (a person who deletes a chat expects its words gone from the disk).
            self._db.execute("PRAGMA secure_delete = ON")
            found = schema_version(self._db)
            if found > LATEST_VERSION:
                raise ChatStoreNewerError(
                    f"{self.file} was written by a newer Scalpel (schema {found}, this one "
                    f"knows up to {LATEST_VERSION}); update Scalpel")
            with self._lock:
                migrate(self._db)
        except (sqlite3.Error, ChatStoreError) as exc:
            if self._db is not None:
                self._db.close()
            if isinstance(exc, ChatStoreError):
                raise
            raise open_error(self.file, exc) from exc

    @classmethod
    def copy_in_memory(cls, source: sqlite3.Connection) -> "ChatStore":
        """A store in memory holding a copy of ``source``: the chats stay readable (and
        the chat goes on) where the file cannot be written; nothing is saved."""
        store = cls(Path(":memory:"))
        with store._lock:
            source.backup(store._db)
            migrate(store._db)
        return store

    @property
    def schema_version(self) -> int:
        return schema_version(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def transaction(self):
        """A write transaction for bulk work (import): all of it commits, or none."""
        return self._write()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. SQLite's failures (a full disk, a read-only file) come
        out as a ChatStoreError that says what happened and what to do."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise write_error(self.file, exc) from exc

    def _read(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- chats -----------------------------------------------------------------------
    def create_chat(self, *, title: str = "New chat", preset_id: str | None = None,
                    model: str | None = None) -> ChatSummary:
        now = time.time()
        with self._write() as db:
            chat_id = db.execute(
                "INSERT INTO chats (title, preset_id, model, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?)", (title.strip() or "New chat", preset_id, model,
                                           now, now)).lastrowid
        return self.get_chat(chat_id)

    def list_chats(self) -> list[ChatSummary]:
        rows = self._read(
            "SELECT c.id, c.title, c.preset_id, c.model, c.created_at, c.updated_at, "
            "(SELECT count(*) FROM messages m WHERE m.chat_id = c.id) "
            "FROM chats c ORDER BY c.updated_at DESC, c.id DESC")
        return [ChatSummary(*row) for row in rows]

    def get_chat(self, chat_id: int) -> ChatSummary:
        rows = self._read(
            "SELECT c.id, c.title, c.preset_id, c.model, c.created_at, c.updated_at, "
            "(SELECT count(*) FROM messages m WHERE m.chat_id = c.id) FROM chats c WHERE c.id = ?",
            (chat_id,))
        if not rows:
            raise ChatStoreError(f"that chat no longer exists (id {chat_id})")
        return ChatSummary(*rows[0])

    def rename_chat(self, chat_id: int, title: str) -> None:
        if not title.strip():
            raise ChatStoreError("a chat needs a title; the name was left unchanged")
        with self._write() as db:
            db.execute("UPDATE chats SET title = ? WHERE id = ?", (title.strip(), chat_id))

    def set_chat_task(self, chat_id: int, *, preset_id: str | None, model: str | None) -> None:
        with self._write() as db:
            db.execute("UPDATE chats SET preset_id = ?, model = ? WHERE id = ?",
                       (preset_id, model, chat_id))

    def set_keep_local(self, chat_id: int, keep: bool) -> None:
        """Mark a chat "Keep on this computer": it is never sent to another model."""
        with self._write() as db:
            db.execute("UPDATE chats SET keep_local = ? WHERE id = ?", (int(keep), chat_id))

    def keep_local(self, chat_id: int) -> bool:
        rows = self._read("SELECT keep_local FROM chats WHERE id = ?", (chat_id,))
        return bool(rows and rows[0][0])

    def set_chat_documents(self, chat_id: int, names: list[str]) -> None:
        """The document collections a chat answers from (core/documents)."""
        with self._write() as db:
            db.execute("UPDATE chats SET documents = ? WHERE id = ?",
                       (json.dumps(list(names)) if names else None, chat_id))

    def chat_documents(self, chat_id: int) -> list[str]:
        rows = self._read("SELECT documents FROM chats WHERE id = ?", (chat_id,))
        try:
            names = json.loads(rows[0][0]) if rows and rows[0][0] else []
        except ValueError:
            return []
        return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []

    def delete_chat(self, chat_id: int) -> None:
        with self._write() as db:
            db.execute("DELETE FROM chats WHERE id = ?", (chat_id,))
        self._checkpoint()

    def _checkpoint(self) -> None:
        """Make deleted words unreadable on disk. secure_delete zeroes freed pages, but the
        search index (FTS5, SQLite 3.40 has no secure-delete for it) keeps a deleted
        message's words in older segments until they are merged: merge them ('optimize',
        ~35 ms for 600 messages here), then fold the write-ahead log into the file and
        empty it, so the old pages do not linger in ``-wal``."""
        try:
            with self._lock:
                self._db.execute("INSERT INTO messages_fts(messages_fts) VALUES('optimize')")
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:   # busy (another window reading): done later
            log.info("deleted text not scrubbed yet: %s", exc)

    # -- messages --------------------------------------------------------------------
    def add_message(self, chat_id: int, *, parent_id: int | None, role: str, content: str,
                    model: str | None = None, preset_id: str | None = None,
                    stats: dict | None = None, status: str = "complete") -> StoredMessage:
        now = time.time()
        with self._write() as db:
            if parent_id is not None:
                owner = db.execute("SELECT chat_id FROM messages WHERE id = ?",
                                   (parent_id,)).fetchone()
                if owner is None or owner[0] != chat_id:
                    raise ChatStoreError("a reply must follow a message of the same chat")
            message_id = db.execute(
                f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES "
                "(NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (chat_id, parent_id, role, content, model, preset_id, _json(stats), status,
                 now, None if status == "partial" else now)).lastrowid
            db.execute("UPDATE chats SET current_leaf_id = ?, updated_at = ? WHERE id = ?",
                       (message_id, now, chat_id))
        return self.message(message_id)

    def update_message(self, message_id: int, *, content: str, status: str,
                       stats: dict | None = None, model: str | None = None,
                       preset_id: str | None = None) -> None:
        """Set an answer's text and status (and stats, model, task when given)."""
        now = time.time()
        with self._write() as db:
            db.execute("UPDATE messages SET content = ?, status = ?, stats = coalesce(?, stats), "
                       "model = coalesce(?, model), preset_id = coalesce(?, preset_id), "
                       "finished_at = ? WHERE id = ?",
                       (content, status, _json(stats), model, preset_id,
                        None if status == "partial" else now, message_id))
            db.execute("UPDATE chats SET updated_at = ? WHERE id = "
                       "(SELECT chat_id FROM messages WHERE id = ?)", (now, message_id))

    def message(self, message_id: int) -> StoredMessage:
        rows = self._read(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,))
        if not rows:
            raise ChatStoreError(f"that message no longer exists (id {message_id})")
        return _message(rows[0])

    def delete_message(self, message_id: int, *, scrub: bool = True) -> int | None:
        """Remove the message and everything after it; the chat shows the nearest branch,
        whose last message is returned. ``scrub``: make its words unreadable on disk at
        once (a person's delete; not for an answer taken back after a failure)."""
        gone = self.message(message_id)
        with self._write() as db:
            db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            leaf = self._newest_leaf_under(db, gone.chat_id, gone.parent_id)
            db.execute("UPDATE chats SET current_leaf_id = ? WHERE id = ?", (leaf, gone.chat_id))
        if scrub:
            self._checkpoint()
        return leaf

    def _children(self, db: sqlite3.Connection, chat_id: int, parent_id: int | None) -> list[int]:
        if parent_id is None:
            rows = db.execute("SELECT id FROM messages WHERE chat_id = ? AND parent_id IS NULL "
                              "ORDER BY created_at, id", (chat_id,)).fetchall()
        else:
            rows = db.execute("SELECT id FROM messages WHERE parent_id = ? ORDER BY created_at, id",
                              (parent_id,)).fetchall()
        return [row[0] for row in rows]

    def _newest_leaf_under(self, db: sqlite3.Connection, chat_id: int,
                           start: int | None) -> int | None:
        """Follow the newest child down from ``start`` (None: the chat's roots)."""
        node = start
        while children := self._children(db, chat_id, node):
            node = children[-1]
        return node

    def path(self, chat_id: int) -> list[StoredMessage]:
        """The branch the chat was last left on (its ``current_leaf_id``)."""
        return self.path_to(self.current_leaf_id(chat_id))

    def path_to(self, leaf_id: int | None) -> list[StoredMessage]:
        """The messages from the chat's start down to ``leaf_id``. A window or process
        keeps its own leaf, so another one moving the chat's branch does not move its."""
        if leaf_id is None:
            return []
        rows = self._read(
            f"WITH RECURSIVE up(id) AS (SELECT ? "
            f"UNION ALL SELECT m.parent_id FROM messages m JOIN up ON m.id = up.id "
            f"WHERE m.parent_id IS NOT NULL) "
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id IN (SELECT id FROM up) "
            f"ORDER BY created_at, id", (leaf_id,))
        return [_message(row) for row in rows]

    def siblings(self, message_id: int) -> list[StoredMessage]:
        message = self.message(message_id)
        with self._lock:
            ids = self._children(self._db, message.chat_id, message.parent_id)
        return [self.message(i) for i in ids]

    def switch_to(self, message_id: int) -> list[StoredMessage]:
        message = self.message(message_id)
        with self._write() as db:
            leaf = self._newest_leaf_under(db, message.chat_id, message.id)
            db.execute("UPDATE chats SET current_leaf_id = ? WHERE id = ?",
                       (leaf, message.chat_id))
        return self.path_to(leaf)

    def all_messages(self, chat_id: int) -> list[StoredMessage]:
        """Every message of the chat, all branches, oldest first."""
        rows = self._read(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE chat_id = ? "
                          "ORDER BY created_at, id", (chat_id,))
        return [_message(row) for row in rows]

    def current_leaf_id(self, chat_id: int) -> int | None:
        rows = self._read("SELECT current_leaf_id FROM chats WHERE id = ?", (chat_id,))
        return rows[0][0] if rows else None

    def interrupted(self, chat_id: int) -> list[StoredMessage]:
        rows = self._read(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE chat_id = ? AND "
                          "status = 'partial' ORDER BY created_at, id", (chat_id,))
        return [_message(row) for row in rows]

    # -- search and health --------------------------------------------------------------
    def search(self, query: str, *, limit: int = 50) -> list[SearchHit]:
        words = [w.replace('"', '""') for w in query.split()]
        if not words:
            return []
        # Each word quoted (no FTS syntax from the person) and as a prefix: "pelican" finds
        # "pelicans".
        match = " ".join(f'"{w}"*' for w in words)
        rows = self._read(
            "SELECT m.chat_id, c.title, m.id, m.role, "
            "snippet(messages_fts, 0, ?, ?, '…', 12), instr(m.content, ?) + instr(m.content, ?) "
            "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
            "JOIN chats c ON c.id = m.chat_id WHERE messages_fts MATCH ? "
            "ORDER BY m.created_at DESC LIMIT ?",
            (HIT_START, HIT_END, HIT_START, HIT_END, match, limit))
        hits = []
        for chat_id, title, message_id, role, marked, holds_a_marker in rows:
            start, end = HIT_START, HIT_END
            if holds_a_marker:  # mark this message's matches with characters it lacks
                content = self._read("SELECT content FROM messages WHERE id = ?", (message_id,))
                start, end = markers_absent_from(content[0][0] if content else "")
                again = self._read(
                    "SELECT snippet(messages_fts, 0, ?, ?, '…', 12) FROM messages_fts "
                    "WHERE messages_fts MATCH ? AND rowid = ?", (start, end, match, message_id))
                if not again:
                    continue  # deleted meanwhile
                marked = again[0][0]
            hits.append(SearchHit(chat_id, title, message_id, role,
                                  *split_marked(marked, start, end)))
        return hits

    def integrity_ok(self) -> bool:
        return self._read("PRAGMA integrity_check")[0][0] == "ok"


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch to WAL. SQLite answers "database is locked" at once, without waiting out the
    busy timeout, when several connections open a new file together: retry a while."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _json(value: dict | None) -> str | None:
    return None if value is None else json.dumps(value)


def _message(row: tuple) -> StoredMessage:
    values = list(row)
    values[7] = json.loads(values[7]) if values[7] else None
    return StoredMessage(*values)
