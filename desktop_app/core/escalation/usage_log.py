"""Where each answer came from, logged on this computer: the "where answers came from" view.

One row per answer in a small SQLite file in the data folder (``Paths.usage_log_file``):
when, where ("local" | "remote"), the model, the task's preset, the endpoint (remote), the
tokens sent and received, why it escalated, and the chat. Each ``record`` is one
transaction (all or nothing); the file is bounded (rows older than ``KEEP_DAYS`` and
beyond ``MAX_ROWS`` are dropped as new ones come).

The log must never stop an answer: a damaged file is set aside (``.bad``) and a new one
started; a folder that cannot be written loses the row. Either way a warning goes to the
log and the answer goes on. Reading a log that does not exist creates nothing.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

WHERE = ("local", "remote")
KEEP_DAYS = 400
MAX_ROWS = 200_000
DAY_S = 86_400.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('local', 'remote')),
    model TEXT NOT NULL,
    preset_id TEXT,
    endpoint TEXT,
    tokens_sent INTEGER NOT NULL DEFAULT 0,
    tokens_received INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    chat_id INTEGER
);
CREATE INDEX IF NOT EXISTS answers_at ON answers (at);
"""


@dataclass(frozen=True)
class UsageRow:
    """Answers from one model in one place over the period."""
    where: str
    model: str
    answers: int
    tokens_sent: int
    tokens_received: int

    def to_dict(self) -> dict[str, Any]:
        return {"where": self.where, "model": self.model, "answers": self.answers,
                "tokens_sent": self.tokens_sent, "tokens_received": self.tokens_received}


@dataclass(frozen=True)
class UsageSummary:
    days: int
    rows: tuple[UsageRow, ...]

    @property
    def answers(self) -> int:
        return sum(r.answers for r in self.rows)

    @property
    def remote_answers(self) -> int:
        return sum(r.answers for r in self.rows if r.where == "remote")

    @property
    def tokens_left(self) -> int:
        """Tokens that left this computer: everything sent to a remote model."""
        return sum(r.tokens_sent for r in self.rows if r.where == "remote")

    @property
    def remote_share(self) -> float:
        return self.remote_answers / self.answers if self.answers else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"days": self.days, "answers": self.answers,
                "remote_answers": self.remote_answers,
                "remote_share": round(self.remote_share, 4), "tokens_left": self.tokens_left,
                "by_model": [r.to_dict() for r in self.rows]}


class UsageLog:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.Lock()
        self.warning: str | None = None   # the last problem, for a status line

    # -- writing ------------------------------------------------------------------------------
    def record(self, *, where: str, model: str, preset_id: str | None = None,
               endpoint: str | None = None, tokens_sent: int = 0, tokens_received: int = 0,
               reason: str | None = None, chat_id: int | None = None) -> bool:
        """Log one answer; False (and a warning in the log) when it could not be."""
        if where not in WHERE:
            raise ValueError(f"where must be 'local' or 'remote', not {where!r}")
        row = (self.clock(), where, model, preset_id, endpoint if where == "remote" else None,
               max(0, int(tokens_sent)), max(0, int(tokens_received)), reason, chat_id)
        with self._lock:
            for attempt in (1, 2):
                try:
                    self._insert(row)
                    return True
                except sqlite3.DatabaseError as exc:
                    if attempt == 1 and _damaged(exc) and self._set_aside(exc):
                        continue  # a fresh file in its place, once
                    self._warn(f"could not log where an answer came from in {self.path} "
                               f"({exc}); the answer is not affected")
                except OSError as exc:
                    self._warn(f"could not log where an answer came from in {self.path} "
                               f"({exc.strerror or exc}); the answer is not affected")
                return False
        return False

    def _insert(self, row: tuple) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=5)
        try:
            with connection:   # one transaction: the row and the pruning, or nothing
                connection.executescript(_SCHEMA)
                connection.execute(
                    "INSERT INTO answers (at, origin, model, preset_id, endpoint, tokens_sent,"
                    " tokens_received, reason, chat_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
                connection.execute("DELETE FROM answers WHERE at < ?",
                                   (row[0] - KEEP_DAYS * DAY_S,))
                connection.execute("DELETE FROM answers WHERE id <= "
                                   "(SELECT MAX(id) FROM answers) - ?", (MAX_ROWS,))
        finally:
            connection.close()

    def _set_aside(self, exc: Exception) -> bool:
        backup = self.path.with_name(self.path.name + ".bad")
        try:
            os.replace(self.path, backup)
            for suffix in ("-journal", "-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
        except OSError:
            return False
        self._warn(f"the answer-origin log {self.path} was damaged ({exc}); it was moved to "
                   f"{backup} and a new one started")
        return True

    # -- reading ------------------------------------------------------------------------------
    def summary(self, days: int) -> UsageSummary:
        """Answers per place and model over the last ``days`` days (empty if unreadable)."""
        since = self.clock() - days * DAY_S
        rows = self._query(
            "SELECT origin, model, COUNT(*), SUM(tokens_sent), SUM(tokens_received) FROM "
            "answers WHERE at >= ? GROUP BY origin, model ORDER BY origin, COUNT(*) DESC",
            (since,))
        return UsageSummary(days, tuple(UsageRow(r[0], r[1], r[2], r[3] or 0, r[4] or 0)
                                        for r in rows))

    def remote_share(self, days: int = 30) -> float:
        return self.summary(days).remote_share

    def _query(self, sql: str, params: tuple) -> list[tuple]:
        if not self.path.exists():
            return []
        try:
            connection = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True, timeout=5)
            try:
                return connection.execute(sql, params).fetchall()
            finally:
                connection.close()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            self._warn(f"could not read the answer-origin log {self.path} ({exc})")
        except sqlite3.DatabaseError as exc:
            self._warn(f"the answer-origin log {self.path} cannot be read ({exc}); it will be "
                       "replaced when the next answer is logged")
        return []

    def _warn(self, message: str) -> None:
        self.warning = message
        log.warning(message)


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    """Not a database, malformed: worth replacing (a lock or a full disk is not)."""
    text = str(exc).lower()
    return not isinstance(exc, sqlite3.OperationalError) or "malformed" in text \
        or "not a database" in text
