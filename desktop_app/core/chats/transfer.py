"""Chats out and in: Markdown to read or share, JSON to back up and restore (branches kept),
and the chats of another chats file (a damaged one's copy, an old one) read back in."""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..json_files import MAX_BYTES_CHATS, JsonFileError, read_json_file
from .salvage import salvage
from .store import UNNAMED_MODEL, ChatStore, ChatStoreError, ChatSummary
from .wal_file import SQLITE_MAGIC

CHAT_FORMAT, BACKUP_FORMAT, VERSION = "scalpel-chat", "scalpel-backup", 1
# JSON may carry "\ud800"-style escapes of lone surrogates, which are not text: SQLite
# cannot store them as UTF-8. Each becomes U+FFFD, as undecodable bytes do elsewhere.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_TEXT_FIELDS = ("title", "content", "model", "preset_id")
_FIELDS = ("id", "parent_id", "role", "content", "model", "preset_id", "stats", "status",
           "created_at", "finished_at")


def export_markdown(store: ChatStore, chat_id: int) -> str:
    """The chat's current branch as Markdown."""
    chat = store.get_chat(chat_id)
    lines = [f"# {chat.title}", ""]
    for message in store.path(chat_id):
        speaker = "You" if message.role == "user" else (message.model or UNNAMED_MODEL)
        lines += [f"**{speaker}:**", "", message.content]
        if message.status == "partial":
            lines += ["", "*(interrupted)*"]
        elif message.status == "cancelled":
            lines += ["", "*(stopped)*"]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def export_json(store: ChatStore, chat_id: int) -> dict[str, Any]:
    """Every message of the chat (all branches) and which one is shown."""
    chat = store.get_chat(chat_id)
    messages = store.all_messages(chat_id)
    return {
        "format": CHAT_FORMAT, "version": VERSION,
        "chat": {"title": chat.title, "preset_id": chat.preset_id, "model": chat.model,
                 "created_at": chat.created_at, "updated_at": chat.updated_at},
        "messages": [{name: getattr(m, name) for name in _FIELDS} for m in messages],
        "current_leaf_id": store.current_leaf_id(chat_id),
    }


def import_json(store: ChatStore, data: Any) -> ChatSummary:
    """Add one exported chat as a new chat, all or nothing."""
    chat, messages, leaf = _checked(data)
    with store.transaction() as db:
        chat_id = db.execute(
            "INSERT INTO chats (title, preset_id, model, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (chat["title"], chat.get("preset_id"), chat.get("model"), chat["created_at"],
             chat["updated_at"])).lastrowid
        new_ids: dict[int, int] = {}
        for m in messages:
            if m.get("parent_id") is not None and m["parent_id"] not in new_ids:
                raise ChatStoreError("the file's messages are out of order (a reply comes "
                                     "before its question)")
            new_ids[m["id"]] = db.execute(
                "INSERT INTO messages (chat_id, parent_id, role, content, model, preset_id, "
                "stats, status, created_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (chat_id, new_ids.get(m.get("parent_id")), m["role"], m["content"],
                 m.get("model"), m.get("preset_id"), _stats_text(m.get("stats")),
                 m.get("status") or "complete", m["created_at"], m.get("finished_at"))).lastrowid
        db.execute("UPDATE chats SET current_leaf_id = ? WHERE id = ?",
                   (new_ids.get(leaf), chat_id))
    return store.get_chat(chat_id)


def export_all(store: ChatStore) -> dict[str, Any]:
    return {"format": BACKUP_FORMAT, "version": VERSION,
            "chats": [export_json(store, chat.id) for chat in reversed(store.list_chats())]}


def import_all(store: ChatStore, data: Any) -> list[ChatSummary]:
    if not isinstance(data, dict) or data.get("format") != BACKUP_FORMAT:
        raise ChatStoreError("this is not a Scalpel backup (the format marker is missing)")
    chats = data.get("chats")
    if not isinstance(chats, list):
        raise ChatStoreError("the backup has no list of chats")
    for chat in chats:
        _checked(chat)  # all checked before any is added
    return [import_json(store, chat) for chat in chats]


def import_chats_file(store: ChatStore, path: Path) -> list[ChatSummary]:
    """Add every chat that can be read from another Scalpel chats file (a copy set aside
    after damage, an old ``chats.sqlite3`` from a backup) as new chats, branches kept.
    The file is only read: with its ``-wal`` beside it, as SQLite would read it, and
    past damage from its pages (``salvage``)."""
    path = Path(path)
    if store.file != Path(":memory:") and path.resolve() == store.file.resolve():
        raise ChatStoreError("that is the chats file Scalpel is using; its chats are "
                             "already here")
    found = ChatStore(Path(":memory:"))
    try:
        with tempfile.TemporaryDirectory(prefix="scalpel-import-") as folder:
            copy = Path(folder) / "chats.sqlite3"  # read from a copy: nothing appears beside
            for suffix in ("", "-wal"):             # the person's file (SQLite's -shm index)
                if Path(str(path) + suffix).exists():
                    shutil.copyfile(str(path) + suffix, str(copy) + suffix)
            salvage(copy, found)
        chats = export_all(found)
    except OSError as exc:
        raise ChatStoreError(f"it could not be read ({exc.strerror or exc})") from exc
    finally:
        found.close()
    if not chats["chats"]:
        raise ChatStoreError("no chat could be read from it")
    return import_all(store, chats)


def is_chats_file(path: Path) -> bool:
    """An SQLite file (a chats file), as opposed to a JSON export."""
    try:
        with open(path, "rb") as file:
            return file.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def read_chat_file(path: Path) -> Any:
    """The JSON of a chat export or backup, bounded in size and depth (``json_files``)."""
    try:
        return read_json_file(path, max_bytes=MAX_BYTES_CHATS)
    except JsonFileError as exc:
        raise ChatStoreError(f"{Path(path).name} could not be read as a Scalpel chat file: it "
                             f"{exc.reason}") from exc


# field -> accepted JSON types (a bool is never a number); absent optional fields are null
_NUMBER, _NULL = (int, float), type(None)
_CHAT_TYPES = {"title": (str,), "preset_id": (str, _NULL), "model": (str, _NULL),
               "created_at": (*_NUMBER, _NULL), "updated_at": (*_NUMBER, _NULL)}
_MESSAGE_TYPES = {"id": (int,), "parent_id": (int, _NULL), "role": (str,), "content": (str,),
                  "model": (str, _NULL), "preset_id": (str, _NULL), "status": (str, _NULL),
                  "created_at": _NUMBER, "finished_at": (*_NUMBER, _NULL)}
_REQUIRED = ("id", "role", "content", "created_at")


def _bad_field(record: dict, types: dict[str, tuple[type, ...]]) -> str | None:
    """The first field of ``record`` whose value has the wrong type, or None."""
    for name, kinds in types.items():
        value = record.get(name)
        if (isinstance(value, bool) or not isinstance(value, kinds)
                or isinstance(value, float) and not math.isfinite(value)
                or isinstance(value, int) and abs(value) >= 2**63):  # beyond SQLite's integers
            return name
    return None


def _checked(data: Any) -> tuple[dict, list[dict], int | None]:
    if not isinstance(data, dict) or data.get("format") != CHAT_FORMAT:
        raise ChatStoreError("this is not a Scalpel chat file (the format marker is missing)")
    if data.get("version") != VERSION:
        raise ChatStoreError(f"this chat file has version {data.get('version')!r}; this "
                             f"Scalpel reads version {VERSION}")
    chat, messages = data.get("chat"), data.get("messages")
    if not isinstance(chat, dict) or not isinstance(chat.get("title"), str):
        raise ChatStoreError("the chat file has no chat title")
    if (name := _bad_field(chat, _CHAT_TYPES)) is not None:
        raise ChatStoreError(f"the chat's '{name}' is not valid")
    if not isinstance(messages, list):
        raise ChatStoreError("the chat file has no list of messages")
    seen: set[int] = set()
    for index, m in enumerate(messages):
        if not isinstance(m, dict):
            raise ChatStoreError(f"message #{index + 1} is not an object")
        for name in _REQUIRED:
            if m.get(name) is None:
                raise ChatStoreError(f"message #{index + 1} has no valid '{name}'")
        if (name := _bad_field(m, _MESSAGE_TYPES)) is not None:
            raise ChatStoreError(f"message #{index + 1} has no valid '{name}'")
        if m["id"] in seen:
            raise ChatStoreError(f"message #{index + 1} repeats the id {m['id']}")
        seen.add(m["id"])
        if m["role"] not in ("system", "user", "assistant"):
            raise ChatStoreError(f"message #{index + 1} has an unknown role {m['role']!r}")
        if (m.get("status") or "complete") not in ("complete", "partial", "cancelled", "failed"):
            raise ChatStoreError(f"message #{index + 1} has an unknown status")
    leaf = data.get("current_leaf_id")
    if isinstance(leaf, bool) or not isinstance(leaf, (int, _NULL)):
        raise ChatStoreError("the chat file's 'current_leaf_id' is not a message id")
    for record in (chat, *messages):
        for name in _TEXT_FIELDS:
            if isinstance(record.get(name), str):
                record[name] = _LONE_SURROGATE.sub("\ufffd", record[name])
    if chat.get("created_at") is None:
        chat["created_at"] = 0.0
    if chat.get("updated_at") is None:
        chat["updated_at"] = chat["created_at"]
    return chat, messages, leaf


def _stats_text(stats: Any) -> str | None:
    return None if stats is None else json.dumps(stats)
