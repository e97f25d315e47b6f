"""Chat stores damaged the ways issue 20 found, built for the tests in
test_chat_store_damage.py. Each builder takes the path of ``chats.sqlite3`` (its folder
exists) and leaves the damage there; ``read_only`` marks files or folders immutable
(``chattr +i``: the tests run as root, which ignores permission bits) through a callback
the test undoes.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

from desktop_app.core.chats import ChatStore

REPO = Path(__file__).resolve().parent.parent
PAGE = 4096


def fill(store: ChatStore, chats: int, tag: str, *, words: int = 60) -> None:
    for i in range(chats):
        chat = store.create_chat(title=f"{tag} chat {i}")
        question = store.add_message(chat.id, parent_id=None, role="user",
                                     content=f"{tag} question {i} " + "lorem ipsum " * words)
        store.add_message(chat.id, parent_id=question.id, role="assistant",
                          content=f"{tag} answer {i} " + "dolor sit " * words)


def sound(db: Path, chats: int = 30, tag: str = "old") -> None:
    """Chats written and the store closed as usual (no journal left)."""
    store = ChatStore(db)
    fill(store, chats, tag)
    store.close()


def killed_session(db: Path, tag: str, chats: int) -> None:
    """A process that writes chats and dies without closing: its -wal stays."""
    code = (f"import os, sys; sys.path[:0] = [{str(REPO)!r}, {str(REPO / 'tests')!r}]\n"
            "from pathlib import Path\nfrom damaged_stores import fill\n"
            "from desktop_app.core.chats import ChatStore\n"
            f"fill(ChatStore(Path({str(db)!r})), {chats}, {tag!r})\nos._exit(0)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def garbage(db: Path) -> None:
    db.write_bytes(random.Random(1).randbytes(64 * 1024))


def truncated(db: Path) -> None:
    sound(db)
    os.truncate(db, db.stat().st_size // 2)


def garbage_in_pages(db: Path) -> None:
    """200 chats; 900 random bytes inside three pages, the header intact."""
    sound(db, 200)
    data = bytearray(db.read_bytes())
    noise = random.Random(2)
    pages = len(data) // PAGE
    for page in (3, pages // 2, pages - 2):
        data[page * PAGE + 100:page * PAGE + 1000] = noise.randbytes(900)
    db.write_bytes(bytes(data))


def search_index(db: Path) -> None:
    """The tables whole; the FTS index's own record says a format this SQLite refuses."""
    sound(db)
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE messages_fts_config SET v = 99 WHERE k = 'version'")
    connection.close()


def newer(db: Path) -> None:
    sound(db)
    with sqlite3.connect(db) as connection:
        connection.execute("PRAGMA user_version = 99")
    connection.close()


def truncated_with_journal(db: Path) -> None:
    """A killed session's -wal beside a main file cut to half."""
    sound(db, 40)
    killed_session(db, "killed", 10)
    os.truncate(db, db.stat().st_size // 2)


def older_file_newer_journal(db: Path) -> None:
    """A copy of the file from two sessions ago put back beside the last one's -wal."""
    sound(db, 20, "first")
    older = db.read_bytes()
    sound(db, 20, "second")
    killed_session(db, "killed", 5)
    db.write_bytes(older)


def backup_beside_stale_journal(db: Path) -> None:
    """A backup of the chats file restored over it while a killed session's -wal stayed."""
    sound(db, 20, "lost")
    killed_session(db, "killed", 5)
    backup = db.with_name("backup.sqlite3")
    sound(backup, 15, "restored")
    db.write_bytes(backup.read_bytes())
    backup.unlink()


def foreign_journal(db: Path) -> None:
    """Another store's -wal beside this one."""
    sound(db, 20, "mine")
    other = db.parent / "other" / "chats.sqlite3"
    other.parent.mkdir()
    killed_session(other, "foreign", 3)
    Path(str(db) + "-wal").write_bytes(Path(str(other) + "-wal").read_bytes())


def journal_without_file(db: Path) -> None:
    """The chats file deleted by hand; the -wal of a killed session left behind."""
    killed_session(db, "gone", 5)
    db.unlink()


def immutable(path: Path, undo: list[Path]) -> None:
    """``chattr +i``: not even root can write (tests run as root)."""
    result = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        import pytest
        pytest.skip(f"chattr +i is not available here: {result.stderr.strip()}")
    undo.append(path)


def set_writable(paths: list[Path]) -> None:
    for path in paths:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def snapshot(db: Path) -> dict[str, bytes]:
    """The bytes of the chats file and its journal files, by suffix."""
    return {suffix: Path(str(db) + suffix).read_bytes() for suffix in ("", "-wal")
            if Path(str(db) + suffix).exists()}
