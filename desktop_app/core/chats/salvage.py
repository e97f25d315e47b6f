"""A damaged chats file: keep a copy, read what can be read, put a sound file in its place.

``set_aside`` copies the file with its ``-wal``/``-shm`` under a dated name, as one set
SQLite can open again exactly as it was. ``salvage`` reads chats and messages row
range by row range: a range that hits a damaged page is halved until the readable
rows around the damage are in (Python's sqlite3 has no ``.recover``), and writes
them, ids and branches kept, into a new store, whose search index the triggers
build afresh; past damage SQL cannot read through, the rows come from the pages
themselves (``page_scan``). ``replace_file`` puts that store in place with no journal of the
old file left beside it, so SQLite can never fold one into it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .health import connect_read_only
from .page_scan import scan_rows
from .store import ChatStore
from .wal_file import sidecar

log = logging.getLogger(__name__)

SIDECARS = ("-wal", "-shm", "-journal")
MAX_QUERIES = 100_000        # range reads per table before the rest counts as unreadable
MAX_SECONDS = 20.0
_CHAT_COLUMNS = ("id", "title", "preset_id", "model", "created_at", "updated_at",
                 "current_leaf_id")
_MESSAGE_COLUMNS = ("id", "chat_id", "parent_id", "role", "content", "model", "preset_id",
                    "stats", "status", "created_at", "finished_at")
_ROLES, _STATUSES = ("system", "user", "assistant"), ("complete", "partial", "cancelled",
                                                      "failed")


@dataclass(frozen=True)
class Salvaged:
    chats: int
    messages: int
    whole: bool          # every row was read (no range hit damage)


def set_aside(path: Path, *, label: str, when: datetime | None = None) -> Path:
    """Copy ``path`` and its journal files to ``<stem>-<label>-<date><suffix>`` (and the
    same name with ``-wal``/``-shm``) beside it; returns the copy of the main file.
    Raises OSError (a full disk: nothing is left half-copied)."""
    stamp = (when or datetime.now()).strftime("%Y-%m-%d-%H%M%S")
    target = path.with_name(f"{path.stem}-{label}-{stamp}{path.suffix}")
    n = 1
    while any(sidecar(target, s).exists() for s in ("", *SIDECARS)):
        n += 1
        target = path.with_name(f"{path.stem}-{label}-{stamp}-{n}{path.suffix}")
    made: list[Path] = []
    try:
        for suffix in ("", *SIDECARS):
            source = sidecar(path, suffix)
            if source.exists():
                made.append(_copy_durably(source, sidecar(target, suffix)))
    except OSError:
        for copy in made:
            copy.unlink(missing_ok=True)
        raise
    return target


def _copy_durably(source: Path, target: Path) -> Path:
    partial = target.with_name(target.name + ".part")
    try:
        shutil.copyfile(source, partial)
        with open(partial, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def replace_file(new: Path, path: Path) -> None:
    """Put the closed store ``new`` at ``path``; the old file's journal files go first,
    so none is ever beside the new file (a crash in between leaves the old file alone,
    and its copy set aside)."""
    for suffix in SIDECARS:
        sidecar(path, suffix).unlink(missing_ok=True)
    for suffix in SIDECARS:
        sidecar(new, suffix).unlink(missing_ok=True)
    os.replace(new, path)
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder; its renames are durable anyway
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def salvage(path: Path, target: ChatStore, *, with_journal: bool = True) -> Salvaged:
    """Copy every readable chat and message of the file at ``path`` (with its journal, or
    alone) into the empty ``target``: what SQLite reads, then, past damage, what the
    pages hold (``page_scan``)."""
    found: dict[str, dict[int, tuple]] = {"chats": {}, "messages": {}}
    whole = False
    try:
        with contextlib.closing(connect_read_only(path, with_journal=with_journal)) as db:
            whole = True
            for table, columns in (("chats", _chat_columns(db)),
                                   ("messages", _MESSAGE_COLUMNS)):
                rows, complete = read_rows(db, table, columns)
                found[table].update((row[0], row) for row in rows)
                whole = whole and complete
    except sqlite3.Error as exc:  # not even the schema reads: the pages are all there is
        log.warning("SQLite cannot read %s (%s); reading its pages", path, exc)
    if not whole:
        for table, rows in scan_rows(path, with_journal=with_journal).items():
            for rowid, row in rows.items():
                found[table].setdefault(rowid, row)
    return _write(target, [found["chats"][k] for k in sorted(found["chats"])],
                  [found["messages"][k] for k in sorted(found["messages"])], whole)


def _write(target: ChatStore, chats: list[tuple], messages: list[tuple],
           whole: bool) -> Salvaged:
    leaves: dict[int, int | None] = {}
    kept = 0
    with target.transaction() as db:
        for row in chats:
            chat = dict(zip(_CHAT_COLUMNS, row))
            if isinstance(chat["id"], int):
                extra = row[len(_CHAT_COLUMNS):]   # keep_local (v3), documents (v4)
                db.execute("INSERT INTO chats (id, title, preset_id, model, created_at, "
                           "updated_at, keep_local, documents) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (chat["id"], _text(chat["title"]) or "Recovered chat",
                            _text(chat["preset_id"]), _text(chat["model"]),
                            _number(chat["created_at"]), _number(chat["updated_at"]),
                            1 if extra[:1] and extra[0] else 0,
                            _text(extra[1]) if len(extra) > 1 else None))
                leaves[chat["id"]] = chat["current_leaf_id"]
        ids: set[int] = set()
        for row in messages:
            m = dict(zip(_MESSAGE_COLUMNS, row))
            if not isinstance(m["id"], int) or not isinstance(m["chat_id"], int) \
                    or m["role"] not in _ROLES or _text(m["content"]) is None:
                continue
            if m["chat_id"] not in leaves:  # its chat's row was lost: a chat to hold it
                db.execute("INSERT INTO chats (id, title, created_at, updated_at) "
                           "VALUES (?, ?, ?, ?)", (m["chat_id"], "Recovered messages",
                                                   _number(m["created_at"]),
                                                   _number(m["created_at"])))
                leaves[m["chat_id"]] = None
            db.execute(
                "INSERT INTO messages (id, chat_id, parent_id, role, content, model, preset_id, "
                "stats, status, created_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (m["id"], m["chat_id"], m["parent_id"] if m["parent_id"] in ids else None,
                 m["role"], _text(m["content"]), _text(m["model"]), _text(m["preset_id"]),
                 _text(m["stats"]), m["status"] if m["status"] in _STATUSES else "complete",
                 _number(m["created_at"]), m["finished_at"] if _is_number(m["finished_at"])
                 else None))
            ids.add(m["id"])
            kept += 1
        for chat_id, leaf in leaves.items():
            if leaf not in ids:  # the chat's last message was lost: its newest one
                found = db.execute("SELECT id FROM messages WHERE chat_id = ? ORDER BY "
                                   "created_at DESC, id DESC LIMIT 1", (chat_id,)).fetchone()
                leaf = found[0] if found else None
            db.execute("UPDATE chats SET current_leaf_id = ? WHERE id = ?", (leaf, chat_id))
    return Salvaged(len(leaves), kept, whole)


def _chat_columns(db: sqlite3.Connection) -> tuple[str, ...]:
    """The chats columns to read: with ``keep_local`` (version 3) and ``documents``
    (version 4) when the file has them, so a chat kept on this computer stays kept, and
    keeps its documents, after a salvage."""
    try:
        names = {row[1] for row in db.execute("PRAGMA table_info(chats)")}
    except sqlite3.DatabaseError:
        names = set()
    added = tuple(name for name in ("keep_local", "documents") if name in names)
    return (*_CHAT_COLUMNS, *added) if added[:1] == ("keep_local",) else _CHAT_COLUMNS


def read_rows(db: sqlite3.Connection, table: str,
              columns: tuple[str, ...]) -> tuple[list[tuple], bool]:
    """The readable rows of ``table`` by rowid, and whether that is all of them."""
    select = f"SELECT {', '.join(columns)} FROM {table}"
    try:
        return db.execute(select + " ORDER BY rowid").fetchall(), True
    except sqlite3.DatabaseError:
        pass
    rows: list[tuple] = []
    ranges = [(1, _top_rowid(db, table))]
    queries, deadline = 0, time.monotonic() + MAX_SECONDS
    while ranges and queries < MAX_QUERIES and time.monotonic() < deadline:
        low, high = ranges.pop()
        queries += 1
        try:
            rows += db.execute(select + " WHERE rowid BETWEEN ? AND ?", (low, high)).fetchall()
        except sqlite3.DatabaseError:
            if low < high:
                middle = (low + high) // 2
                ranges += [(middle + 1, high), (low, middle)]
    return sorted(rows, key=lambda row: row[0]), False


def _top_rowid(db: sqlite3.Connection, table: str) -> int:
    """The highest rowid, from the table or, past damage, from what points into it."""
    hints = [f"SELECT max(rowid) FROM {table}"]
    if table == "messages":
        hints += ["SELECT max(id) FROM messages_fts_docsize",
                  "SELECT max(current_leaf_id) FROM chats"]
    else:
        hints += ["SELECT max(chat_id) FROM messages INDEXED BY messages_by_chat"]
    found = [1]
    for sql in hints:
        try:
            value = db.execute(sql).fetchone()[0]
        except sqlite3.DatabaseError:
            continue
        if isinstance(value, int):
            found.append(value)
    return max(found) + 64  # rows added after the last hint could read


def _text(value) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value) -> float:
    return float(value) if _is_number(value) else 0.0
