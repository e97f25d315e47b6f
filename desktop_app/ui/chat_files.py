"""Chat ▸ Export/Import: one chat as Markdown or JSON, every chat as a backup, and the chats
of another chats file (the copy kept of a damaged one, an old one) read back in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from PySide6.QtWidgets import QFileDialog, QWidget

from ..core.chats import ChatStore, ChatStoreError
from ..core.chats.transfer import (export_all, export_json, export_markdown, import_all,
                                   import_chats_file, import_json, is_chats_file,
                                   read_chat_file)

FILTERS = {"md": "Markdown (*.md)", "json": "Scalpel chat (*.json)"}
IMPORT_FILTER = ("Scalpel chats (*.json *.sqlite3);;Scalpel chat or backup (*.json);;"
                 "Chats file (*.sqlite3);;All files (*)")


class ChatFiles:
    """Asks for a file name (unless given one) and reports problems through ``report``."""

    def __init__(self, parent: QWidget, store: ChatStore, *,
                 report: Callable[[str], None]) -> None:
        self._parent = parent
        self._store = store
        self._report = report

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
        return self._write(Path(path), text)

    def export_everything(self, path: str | None = None) -> Path | None:
        path = path or self._ask_save("Back up all chats", "scalpel-chats-backup.json",
                                      FILTERS["json"])
        if not path:
            return None
        data = export_all(self._store)
        return self._write(Path(path), json.dumps(data, indent=2, ensure_ascii=False))

    def import_file(self, path: str | None = None) -> list[int]:
        """Import one chat or a backup; returns the new chat ids (none on failure)."""
        if not path:
            path, _ = QFileDialog.getOpenFileName(self._parent, "Import chats", str(Path.home()),
                                                  IMPORT_FILTER)
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
        path, _ = QFileDialog.getSaveFileName(self._parent, title, str(Path.home() / name),
                                              filter_)
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
