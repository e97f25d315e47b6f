"""Open the chats file whatever state it is in, and say in a sentence what happened.

``open_chat_store`` never raises and never writes into a damaged file:
- sound (or new): opened as usual; a full disk is mentioned (saving resumes by
  itself once there is room);
- damaged: the file and its ``-wal``/``-shm`` are copied aside under a dated name
  first, then what can be read is recovered into a new file put in its place (a
  damaged search index is rebuilt from the messages; nothing else is lost);
- a journal that is not the file's own (a backup put back beside a killed
  session's journal, a journal from another file): set aside with a copy of the
  file, and the file opened as it is;
- read-only file or folder, full disk, locked: the chats are copied into memory,
  so they stay readable and the chat goes on, but nothing is saved;
- written by a newer Scalpel, or unreadable: left as it is; an empty store in memory.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import asdict, dataclass
from errno import ENOSPC
from pathlib import Path

from .failures import (ChatStoreError, ChatStoreFullError, ChatStoreLockedError,
                       disk_full, file_writable, read_only_reason)
from .health import Diagnosis, State, connect_read_only, diagnose
from .salvage import replace_file, salvage, set_aside
from .schema import LATEST_VERSION
from .store import ChatStore
from .wal_file import sidecar

log = logging.getLogger(__name__)

NOT_SAVED = "Chats are not being saved: "


@dataclass(frozen=True)
class StoreOpening:
    """How the chats file was opened: what the window and ``scalpel chat`` tell the person."""
    saving: bool = True            # new messages are written to the chats file
    problem: str = ""              # the sentence to show ("" when all is well)
    kept_copy: str | None = None   # where the file as it was is kept
    recovered_chats: int | None = None
    recovered_messages: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "StoreOpening":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def open_chat_store(path: Path) -> tuple[ChatStore, StoreOpening]:
    """The store for ``path`` and how it was opened (see the module's docstring)."""
    path = Path(path)
    if str(path) == ":memory:":
        return ChatStore(path), StoreOpening()
    try:
        found = diagnose(path)
        if found.state in (State.DAMAGED, State.SEARCH_DAMAGED):
            return _recover(path, found)
        if found.state == State.STRAY_JOURNAL:
            return _set_journal_aside(path, found)
        if found.state == State.NEWER:
            return _in_memory(None, f"{path} was written by a newer version of Scalpel "
                                    f"(schema {found.version}; this one reads up to "
                                    f"{LATEST_VERSION}), so it was left as it is. Update "
                                    "Scalpel to see your chats and keep new ones.")
        if found.state == State.UNREADABLE:
            return _in_memory(None, f"Scalpel cannot read {path} ({found.reason}). Check the "
                                    "file's permissions, then restart Scalpel.")
        return _open_as_usual(path)
    except OSError as exc:  # the folder itself cannot be read or written
        log.warning("could not open the chats file %s: %s", path, exc)
        return _in_memory(None, f"{path} cannot be used ({exc.strerror or exc}). Check that "
                                "folder's permissions, then restart Scalpel.")
    except Exception as exc:  # noqa: BLE001 - whatever happened, the window must open
        log.exception("could not open the chats file %s", path)
        return _in_memory(None, f"{path} could not be opened ({type(exc).__name__}; details "
                                "are in the log). Restart Scalpel to try again.")


def _open_as_usual(path: Path) -> tuple[ChatStore, StoreOpening]:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not file_writable(path):
        return _read_only_copy(path, f"{read_only_reason(path)}.", "make it writable")
    try:
        store = ChatStore(path)
    except ChatStoreFullError:
        return _read_only_copy(path, f"the disk that holds {path.parent} is full.",
                               "free some space on that disk")
    except ChatStoreLockedError:
        return _read_only_copy(path, f"{path} is held locked by another program.",
                               "close that program")
    except ChatStoreError as exc:
        return _in_memory(None, f"{exc}.")
    if disk_full(path.parent):
        return store, StoreOpening(problem=f"The disk that holds your chats ({path.parent}) is "
                                           "full: new messages cannot be saved until you free "
                                           "some space on it.")
    return store, StoreOpening()


def _recover(path: Path, found: Diagnosis) -> tuple[ChatStore, StoreOpening]:
    what = ("The search index in your chats file was damaged"
            if found.state == State.SEARCH_DAMAGED else "Your chats file was damaged")
    try:
        copy = set_aside(path, label="damaged")
    except OSError as exc:
        log.warning("no copy of the damaged chats file %s: %s", path, exc)
        return _read_only_copy(path, f"your chats file is damaged ({found.reason}), and there "
                                     f"is no room to keep a copy of it before repairing it "
                                     f"({exc.strerror or exc}).", "free some space",
                               diagnosis=found)
    kept = f"A copy of it as it was is kept as {copy.name} in {path.parent}."
    new = path.with_name(path.name + ".recovering")
    try:
        _remove_set(new)
        target = ChatStore(new)
        saved = salvage(path, target, with_journal=not found.without_journal)
        target.close()
        replace_file(new, path)
        store = ChatStore(path)
    except (OSError, ChatStoreError) as exc:
        log.warning("could not recover the chats file %s: %s", path, exc)
        _remove_set(new)
        full = isinstance(exc, ChatStoreFullError) or getattr(exc, "errno", None) == ENOSPC
        return _read_only_copy(path, f"your chats file is damaged ({found.reason}) and could "
                                     f"not be repaired ({exc}). {kept}",
                               "free some space on that disk" if full
                               else "check that folder's permissions", diagnosis=found)
    if not (saved.chats or saved.messages):
        problem = (f"{what} ({found.reason}), and no chat could be read from it, so a new, "
                   f"empty chats file was started. {kept}")
    elif found.state == State.SEARCH_DAMAGED and saved.whole:
        problem = (f"{what} ({found.reason}); it was rebuilt from your messages and nothing "
                   f"was lost. {kept}")
    else:
        some = "" if saved.whole else (" (parts of the file could not be read: anything "
                                       "missing is still in the copy)")
        problem = (f"{what} ({found.reason}). The {saved.chats} chats and {saved.messages} "
                   f"messages that could be read were recovered into a new chats file{some}. "
                   f"{kept}")
    return store, StoreOpening(problem=problem, kept_copy=str(copy),
                               recovered_chats=saved.chats, recovered_messages=saved.messages)


def _set_journal_aside(path: Path, found: Diagnosis) -> tuple[ChatStore, StoreOpening]:
    """A journal that is not the file's own: keep it (with the file) aside, use the file."""
    journal = sidecar(path, "-wal").name
    try:
        copy = set_aside(path, label="journal")
        for suffix in ("-wal", "-shm"):
            sidecar(path, suffix).unlink(missing_ok=True)
    except OSError as exc:
        return _read_only_copy(path, f"a leftover journal beside your chats file ({journal}) "
                                     f"does not belong to it ({found.reason}), and it could "
                                     f"not be set aside ({exc.strerror or exc}).",
                               "free some space", diagnosis=found)
    store, opening = _open_as_usual(path)
    problem = (f"A leftover journal beside your chats file ({journal}) did not belong to it "
               f"({found.reason}), so it was set aside as {sidecar(copy, '-wal').name} in "
               f"{path.parent} and your chats file was opened as it is.")
    return store, StoreOpening(saving=opening.saving,
                               problem=" ".join(p for p in (problem, opening.problem) if p),
                               kept_copy=str(copy))


def _read_only_copy(path: Path, cause: str, fix: str, *,
                    diagnosis: Diagnosis | None = None) -> tuple[ChatStore, StoreOpening]:
    """The chats copied into memory (what can be read, for a damaged file): they stay
    readable and the chat goes on; nothing is saved."""
    store = None
    if path.exists():
        try:
            if diagnosis is None:
                with contextlib.closing(connect_read_only(path)) as db:
                    store = ChatStore.copy_in_memory(db)
            else:
                store = ChatStore(Path(":memory:"))
                salvage(path, store, with_journal=not diagnosis.without_journal)
            store.list_chats()  # readable as this Scalpel reads it
        except Exception:  # noqa: BLE001 - whatever the file holds, the window must open
            log.warning("could not copy the chats from %s", path, exc_info=True)
            store = None
    readable = store is not None and bool(store.list_chats())
    shown = "Your earlier chats can be read, but new ones" if readable else "New chats"
    return _in_memory(store, f"{cause} {shown} last only until Scalpel closes: {fix}, then "
                             "restart Scalpel.")


def _in_memory(store: ChatStore | None, reason: str) -> tuple[ChatStore, StoreOpening]:
    return (store or ChatStore(Path(":memory:")),
            StoreOpening(saving=False, problem=NOT_SAVED + reason))


def _remove_set(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        sidecar(path, suffix).unlink(missing_ok=True)
