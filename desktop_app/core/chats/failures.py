"""What went wrong with the chats file, as typed errors whose ``str()`` a person can act on.

SQLite reports a full disk, a read-only file or folder, a lock held elsewhere and a
damaged file with its own codes (``sqlite_errorname``); each becomes the error that
says which of those it is, so the advice fits the cause: a read-only folder is never
"a file Scalpel cannot read".
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from ..errors import ScalpelError

NEARLY_FULL_BYTES = 1024 * 1024  # less than this free: the disk counts as full


class ChatStoreError(ScalpelError):
    """The chat database cannot be used, or a request on it makes no sense."""


class ChatStoreFullError(ChatStoreError):
    """The disk holding the chats is full."""


class ChatStoreReadOnlyError(ChatStoreError):
    """The chats file or its folder cannot be written."""


class ChatStoreLockedError(ChatStoreError):
    """Another program holds the chats file locked."""


class ChatStoreDamagedError(ChatStoreError):
    """The file is not an SQLite database, or its pages are damaged."""


class ChatStoreNewerError(ChatStoreError):
    """The file was written by a newer Scalpel; it is left as it is."""


def write_error(file: Path, exc: sqlite3.Error) -> ChatStoreError:
    """The sentence for a failed write to the chat database."""
    kind = _kind(file, exc)
    if kind == "full":
        return ChatStoreFullError(f"The disk is full, so the chat could not be saved. Free "
                                  f"some space on the disk that holds {file.parent} and go on.")
    if kind == "read-only":
        return ChatStoreReadOnlyError(f"{file} cannot be written (the file or its folder is "
                                      "read-only), so new messages are not saved.")
    if kind == "busy":
        return ChatStoreLockedError(f"{file} is held locked by another program; close it and "
                                    "try again")
    return ChatStoreError(f"The chat could not be saved ({exc}).")


def open_error(file: Path, exc: sqlite3.Error) -> ChatStoreError:
    """The sentence for a chats file that could not be opened, by cause."""
    kind = _kind(file, exc)
    if kind == "full":
        return ChatStoreFullError(f"the disk that holds {file.parent} is full, so {file.name} "
                                  "cannot be opened for saving; free some space on it")
    if kind == "read-only":
        return ChatStoreReadOnlyError(read_only_reason(file))
    if kind == "busy":
        return ChatStoreLockedError(f"{file} is held locked by another program; close it and "
                                    "try again")
    if kind == "denied":
        return ChatStoreError(f"Scalpel is not allowed to open {file}; check its permissions")
    return ChatStoreDamagedError(f"{file} is not a chat database Scalpel can read ({exc}); "
                                 "move it aside to start a new one")


def read_only_reason(file: Path) -> str:
    """Which of the file and its folder cannot be written."""
    if not folder_writable(file.parent):
        return f"the folder {file.parent} is read-only"
    return f"{file} is read-only"


def folder_writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def file_writable(file: Path) -> bool:
    """The file and its folder can be written (SQLite needs both, for its journal)."""
    return folder_writable(file.parent) and (not file.exists() or os.access(file, os.W_OK))


def disk_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < NEARLY_FULL_BYTES
    except OSError:
        return False


def is_busy(exc: sqlite3.Error) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _kind(file: Path, exc: sqlite3.Error) -> str:
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc).lower()
    if name.startswith("SQLITE_FULL") or "full" in text:
        return "full"
    if name.startswith("SQLITE_READONLY") or "readonly" in text or "read-only" in text:
        return "read-only"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or is_busy(exc):
        return "busy"
    if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")) and disk_full(file.parent):
        return "full"  # a full disk can surface as an I/O error (the -shm file cannot grow)
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        if not file_writable(file):
            return "read-only"
        if file.exists() and not os.access(file, os.R_OK):
            return "denied"
    if name.startswith(("SQLITE_PERM", "SQLITE_AUTH")) or "permission" in text:
        return "read-only" if not file_writable(file) else "denied"
    return "other"
