"""Is the chats file sound? Looked at read-only, before anything writes to it.

SQLite folds a journal (``-wal``) into its file at the first checkpoint and then
deletes it, so a damaged file opened for writing is damaged for good. This module
only reads: the main file and its journal through a read-only connection (SQLite
may rebuild the ``-shm`` index, which holds no data), or the main file alone as
``immutable`` (no journal, no locks, nothing created). The checks:
``PRAGMA integrity_check`` (every page and index; ~25 ms for 10,000 messages),
the tables Scalpel needs, the search index's virtual table, the schema version,
and whether a leftover journal belongs to the file (``wal_file``).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from .failures import is_busy
from .schema import LATEST_VERSION
from .wal_file import SQLITE_MAGIC, check_wal

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 2.0  # how long a look waits out another program's lock
NEEDED_COLUMNS = {
    "chats": {"id", "title", "preset_id", "model", "created_at", "updated_at",
              "current_leaf_id"},
    "messages": {"id", "chat_id", "parent_id", "role", "content", "model", "preset_id",
                 "stats", "status", "created_at", "finished_at"},
}


class State(Enum):
    NEW = "new"                      # no file yet (or an empty one): a new store
    SOUND = "sound"
    DAMAGED = "damaged"              # keep a copy, then recover what can be read
    SEARCH_DAMAGED = "search"        # the tables read whole; only the search index is bad
    STRAY_JOURNAL = "stray-journal"  # the file is sound; its journal belongs elsewhere
    NEWER = "newer"                  # written by a newer Scalpel: left as it is
    UNREADABLE = "unreadable"        # the file cannot be opened at all (permissions)
    BUSY = "busy"                    # another program holds it locked: not a sign of damage


@dataclass(frozen=True)
class Diagnosis:
    state: State
    reason: str = ""              # what is wrong, as a phrase ("its pages are damaged: ...")
    without_journal: bool = False  # read the main file alone (its journal is not its own)
    version: int = 0


def diagnose(path: Path) -> Diagnosis:
    """What state the chats file at ``path`` is in; never writes to it or its journal."""
    journal = check_wal(path)
    if not path.exists() or path.stat().st_size == 0:
        if journal is not None:
            return Diagnosis(State.STRAY_JOURNAL, journal.reason, without_journal=True)
        return Diagnosis(State.NEW)
    if journal is not None and not journal.belongs:
        alone = examine(path, with_journal=False)
        if alone.state in (State.SOUND, State.NEWER, State.UNREADABLE, State.BUSY):
            state = State.STRAY_JOURNAL if alone.state == State.SOUND else alone.state
            return Diagnosis(state, alone.reason or journal.reason, without_journal=True,
                             version=alone.version)
        return Diagnosis(alone.state, alone.reason, without_journal=True)
    found = examine(path, with_journal=journal is not None)
    if journal is not None and found.state in (State.DAMAGED, State.SEARCH_DAMAGED):
        # A journal written for another copy of the file damages this one; alone, the
        # file is sound (a backup put back while a killed session's journal stayed).
        alone = examine(path, with_journal=False)
        if alone.state == State.SOUND:
            return Diagnosis(State.STRAY_JOURNAL, f"the file reads as damaged with it and "
                             f"sound without it: {found.reason}",
                             without_journal=True)
    return found


def examine(path: Path, *, with_journal: bool) -> Diagnosis:
    """Open ``path`` read-only (with its journal, or the main file alone) and check it."""
    try:
        with open(path, "rb") as file:
            if not file.read(16).startswith(SQLITE_MAGIC):
                return Diagnosis(State.DAMAGED, "it is not an SQLite database")
    except OSError as exc:
        return Diagnosis(State.UNREADABLE, exc.strerror or str(exc))
    try:
        with contextlib.closing(connect_read_only(path, with_journal=with_journal)) as db:
            return _checked(db)
    except sqlite3.Error as exc:
        name = getattr(exc, "sqlite_errorname", "") or ""
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or is_busy(exc):
            return Diagnosis(State.BUSY, str(exc))  # another program's lock, not damage
        if name.startswith(("SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_PERM", "SQLITE_AUTH")):
            return Diagnosis(State.UNREADABLE, str(exc))
        return Diagnosis(State.DAMAGED, f"SQLite cannot read it: {exc}")


def connect_read_only(path: Path, *, with_journal: bool = True) -> sqlite3.Connection:
    """A connection that cannot change ``path`` or its journal. With the journal, SQLite
    needs the ``-shm`` index (it creates one if it can); where it cannot (a read-only
    folder, a full disk), the file is read alone, as ``immutable``."""
    uri = path.resolve().as_uri()
    if with_journal:
        try:
            db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=READ_TIMEOUT_S,
                                 check_same_thread=False)
            db.execute("PRAGMA schema_version").fetchone()  # opens the file for real
            return db
        except sqlite3.OperationalError as exc:
            name = getattr(exc, "sqlite_errorname", "")
            if not name.startswith(("SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_READONLY")):
                raise
            log.info("reading %s without its journal index (%s)", path, exc)
    return sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=READ_TIMEOUT_S,
                           check_same_thread=False)


def _checked(db: sqlite3.Connection) -> Diagnosis:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > LATEST_VERSION:
        return Diagnosis(State.NEWER, version=version)
    problems = [line.strip() for row in db.execute("PRAGMA integrity_check(5)").fetchall()
                for line in str(row[0]).splitlines() if not line.startswith("***")]
    if problems != ["ok"]:
        log.warning("integrity_check: %s", "; ".join(problems))  # the detail, for the log
        return Diagnosis(State.DAMAGED, "some of its pages are damaged", version=version)
    tables = {name: {row[1] for row in db.execute(f"PRAGMA table_info({name})")}
              for name in NEEDED_COLUMNS}
    if version >= 1:
        for name, columns in NEEDED_COLUMNS.items():
            if not columns <= tables[name]:
                return Diagnosis(State.DAMAGED, f"its '{name}' table is missing or incomplete",
                                 version=version)
    elif any(tables.values()):
        return Diagnosis(State.DAMAGED, "it holds tables of another program", version=version)
    if version >= 2:
        try:
            db.execute("SELECT rowid FROM messages_fts WHERE messages_fts MATCH "
                       "'scalpelhealthprobe' LIMIT 1").fetchall()
            db.execute("SELECT count(*) FROM messages_fts_docsize").fetchone()
        except sqlite3.DatabaseError as exc:
            return Diagnosis(State.SEARCH_DAMAGED, f"SQLite says: {exc}",
                             version=version)
    return Diagnosis(State.SOUND, version=version)
