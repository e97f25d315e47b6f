"""Chat ▸ Export/Import: one chat as Markdown or JSON, every chat as a backup, and the chats
of another chats file (the copy kept of a damaged one, an old one) read back in.

A file written is announced with its full path and a "Show in folder" button (a person
who accepted a dialog's default name otherwise has to guess where it went); the dialogs
open in the last folder used (``file_dialogs.FolderMemory``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from PySide6.QtWidgets import QWidget

from ..core.chats import ChatStore, ChatStoreError
from ..core.chats.transfer import (export_all, export_json, export_markdown, import_all,
                                   import_chats_file, import_json, is_chats_file,
                                   read_chat_file)
from .file_dialogs import FolderMemory, show_in_folder

FILTERS = {"md": "Markdown (*.md)", "json": "Scalpel chat (*.json)"}
IMPORT_FILTER = ("Scalpel chats (*.json *.sqlite3);;Scalpel chat or backup (*.json);;"
                 "Chats file (*.sqlite3);;All files (*)")


Announce = Callable[[str, list[tuple[str, Callable[[], None]]]], None]


class ChatFiles:
    """Asks for a file name (unless given one) and reports problems through ``report``;
    a file written is announced through ``announce`` (message, buttons)."""

    def __init__(self, parent: QWidget, store: ChatStore, *,
                 report: Callable[[str], None], announce: Announce | None = None,
                 folders: FolderMemory | None = None) -> None:
        self._parent = parent
        self._store = store
        self._report = report
        self._announce = announce
        self.folders = folders or FolderMemory()
        self.last_written: Path | None = None

    def configure(self, *, announce: Announce | None = None,
                  folders: FolderMemory | None = None) -> None:
        """The window's notice bar and the settings-backed folder memory, once it has them."""
        self._announce = announce or self._announce
        self.folders = folders or self.folders

    def export_chat(self, chat_id: int | None, kind: str, path: str | None = None) -> Path | None:
        if chat_id is None:
            self._report("This chat is empty; there is nothing to export yet.")
            return None
        title = self._store.get_chat(chat_id).title
        path = path or self._ask_save(f"Export “{title}”", _file_name(title, kind), FILTERS[kind])
        if not path:
            return None
        text = (export_markdown(self._store, chat_id) if kind == "md"
                else json.dumps(export_json(self._store, chat_id), indent=2, ensure_ascii=False))
        return self._written(self._write(Path(path), text), f"Exported “{title}”")

    def export_everything(self, path: str | None = None) -> Path | None:
        path = path or self._ask_save("Back up all chats", "scalpel-chats-backup.json",
                                      FILTERS["json"])
        if not path:
            return None
        data = export_all(self._store)
        count = len(data.get("chats", [])) if isinstance(data, dict) else 0
        return self._written(self._write(Path(path), json.dumps(data, indent=2,
                                                                ensure_ascii=False)),
                             f"Backed up {count} chat{'s' * (count != 1)}")

    def import_file(self, path: str | None = None) -> list[int]:
        """Import one chat or a backup; returns the new chat ids (none on failure)."""
        if not path:
            path = self.folders.open_file(self._parent, "Import chats", IMPORT_FILTER)
            if not path:
                return []
        if is_chats_file(Path(path)):  # a chats file: a copy set aside, an old one
            try:
                return [chat.id for chat in import_chats_file(self._store, Path(path))]
            except ChatStoreError as exc:
                self._report(f"{Path(path).name}: {exc}.")
                return []
        try:
            data = read_chat_file(Path(path))
        except ChatStoreError as exc:
            self._report(f"{exc}.")
            return []
        try:
            if isinstance(data, dict) and data.get("format") == "scalpel-backup":
                return [chat.id for chat in import_all(self._store, data)]
            return [import_json(self._store, data).id]
        except ChatStoreError as exc:
            self._report(f"{Path(path).name}: {exc}")
            return []

    def _ask_save(self, title: str, name: str, filter_: str) -> str:
        return self.folders.save_file(self._parent, title, name, filter_)

    def _written(self, path: Path | None, what: str) -> Path | None:
        if path is not None:
            self.last_written = path
            if self._announce is not None:
                self._announce(f"{what} to {path}",
                               [("Show in folder", lambda: show_in_folder(path))])
        return path

    def _write(self, path: Path, text: str) -> Path | None:
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            self._report(f"Could not write {path}: {exc.strerror or exc}")
            return None
        return path


def _file_name(title: str, kind: str) -> str:
    safe = "".join(c if c.isalnum() or c in " -_" else "_" for c in title).strip() or "chat"
    return f"{safe[:60]}.{kind}"
