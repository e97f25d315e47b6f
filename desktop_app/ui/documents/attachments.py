"""Files attached to a chat: screened at once, kept in the chat's own collection.

Attaching (the paperclip, Ctrl+Shift+A, or files dropped on the conversation or the
message box) puts the files in a collection of their own, "Attachments of chat 12",
added to the chat's documents (``ChatSession.set_documents``) and indexed in the
background; the chat stays usable and answers from what is indexed so far.

A chat not yet created gets "Attachments of a new chat (date time)": the session keeps
a new chat's documents until the chat is created and then saves them with it, so the
name needs no renaming, and attaching again to the same chat reuses whichever
attachments collection it already has.

Before anything is stored, each path is screened on the GUI thread (a stat per path):
a format the core does not read is refused by name with its reason, and so is a path
the policy keeps out; the rest go on.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from PySide6.QtCore import QEvent, QObject, Signal

from ...core.documents import DocumentProblemError, path_refusal
from ...core.documents.readers import kind_of
from ...core.documents.scan import normalize
from ...core.errors import ScalpelError
from .controller import DocumentsController
from ..event_kinds import kind as event_kind

log = logging.getLogger(__name__)

PREFIX = "Attachments of "


def attachments_name(chat_id: int | None, *, now: Callable[[], float] = time.time) -> str:
    if chat_id is not None:
        return f"{PREFIX}chat {chat_id}"
    return f"{PREFIX}a new chat ({time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now()))})"


def is_attachments(name: str) -> bool:
    return name.startswith(PREFIX)


@dataclass(frozen=True)
class Screened:
    accepted: tuple[str, ...] = ()    # normalized paths
    refused: tuple[str, ...] = ()     # one sentence per refused path, naming it


def screen(paths: Iterable[str], policy) -> Screened:
    """Which ``paths`` may be attached, and why the others may not."""
    accepted, refused = [], []
    for raw in paths:
        path = normalize(raw)
        name = Path(path).name or path
        if not os.path.exists(path):
            refused.append(f"{name}: it does not exist (moved or deleted?)")
            continue
        refusal = path_refusal(policy, path)
        if refusal:
            refused.append(f"{name}: {refusal}")
            continue
        if not os.path.isdir(path):
            try:
                kind_of(path)
            except DocumentProblemError as exc:
                refused.append(str(exc))
                continue
        accepted.append(path)
    return Screened(tuple(dict.fromkeys(accepted)), tuple(refused))


def session_documents(session) -> tuple[str, ...]:
    return tuple(getattr(session, "documents", ()) or ())


class Attachments(QObject):
    """Attach files to the open chat, and take attachments off it."""
    changed = Signal()   # the chat's documents changed (attached, removed, chosen)

    def __init__(self, controller: DocumentsController, session, *,
                 report_error: Callable[[str], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller, self.session = controller, session
        self._report_error = report_error
        self._attaching: set[str] = set()   # collections made, not yet the chat's

    def attach(self, paths: Iterable[str]) -> Screened:
        """Screen ``paths``; the refused are reported at once, the rest attached."""
        if not self.controller.enabled:
            sentence = f"Attaching files is turned off: {self.controller.refusal}."
            self._report_error(sentence)
            return Screened((), (sentence,))
        screened = screen(paths, self.controller.services.policy)
        if screened.refused:
            self._report_error("Not attached:\n" + "\n".join(screened.refused))
        if screened.accepted:
            name = self.collection_name()
            fresh = name not in session_documents(self.session)
            store, model = self.controller.store, self.controller.embedding_model_id()
            self._attaching.add(name)

            def add() -> str:
                chosen = _unused(store, name) if fresh else name
                self._attaching.add(chosen)
                collection_id = store.ensure_collection(chosen, embedding_model=model)
                for path in screened.accepted:
                    store.add_folder(collection_id, path)
                return chosen
            self.controller.submit(add, self._attached, on_error=self._failed(name))
        return screened

    def _failed(self, name: str) -> Callable[[str], None]:
        def failed(message: str) -> None:
            self._attaching.discard(name)
            self._report_error(message)
        return failed

    def collection_name(self) -> str:
        """The open chat's attachments collection (the one it has, or a new name)."""
        existing = [n for n in session_documents(self.session) if is_attachments(n)]
        return existing[0] if existing else attachments_name(self.session.chat_id)

    def _attached(self, name: str) -> None:
        self.use(session_documents(self.session) + (name,))
        self._attaching.clear()
        self.controller.request([name])
        self.controller.refresh()

    def use(self, names: Iterable[str]) -> bool:
        """Set the open chat's documents; False (and said) when the session refuses."""
        try:
            self.session.set_documents(list(dict.fromkeys(names)))
        except ScalpelError as exc:
            self._report_error(str(exc))
            return False
        self.changed.emit()
        return True

    def drop_collection(self, name: str) -> None:
        """Take a collection out of the chat (the collection itself stays)."""
        self.use(n for n in session_documents(self.session) if n != name)

    def detach_file(self, collection: str, path: str) -> None:
        """Take one attached file out of its chat's collection (the file stays on disk)."""
        store = self.controller.store

        def remove() -> None:
            store.remove_folder(store.ensure_collection(collection), path)
        self.controller.submit(remove, lambda _: self._detached(), on_error=self._report_error)

    def _detached(self) -> None:
        self.controller.refresh()
        self.changed.emit()


    def forget_orphans(self, chat_store) -> None:
        """Drop the index of attachments no chat uses any more (a deleted chat's, a new
        chat's never sent); the files stay on disk. On the executor, after any attach."""
        store, in_play = self.controller.store, set(session_documents(self.session))

        def forget() -> list[str]:
            used = in_play | set(session_documents(self.session)) | self._attaching
            for chat in chat_store.list_chats():
                used.update(chat_store.chat_documents(chat.id))
            gone = [info.name for info in store.collections()
                    if is_attachments(info.name) and info.name not in used]
            for name in gone:
                store.remove_collection(name)
            return gone
        if self.controller.enabled:
            self.controller.submit(forget, lambda gone: gone and self.controller.refresh())


def _unused(store, name: str) -> str:
    """``name``, or "name 2", "name 3"… if a collection has it already (a chat id reused
    after a deletion, two new chats in one second)."""
    chosen, number = name, 2
    while store.collection(chosen) is not None:
        chosen, number = f"{name} {number}", number + 1
    return chosen


class FileDrops(QObject):
    """Files dropped on a widget (the conversation, the message box) are attached."""

    def __init__(self, attach: Callable[[list[str]], object], parent: QObject | None = None
                 ) -> None:
        super().__init__(parent)
        self._attach = attach

    def watch(self, widget) -> None:
        target = widget.viewport() if hasattr(widget, "viewport") else widget
        target.setAcceptDrops(True)
        target.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt naming
        kind = event_kind(event)
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop):
            paths = _local_files(event.mimeData())
            if not paths:
                return False   # text dropped on the message box stays text
            event.acceptProposedAction()
            if kind == QEvent.Type.Drop:
                self._attach(paths)
            return True
        return False


def _local_files(mime) -> list[str]:
    if mime is None or not mime.hasUrls():
        return []
    urls = mime.urls()
    if not urls or not all(url.isLocalFile() for url in urls):
        return []
    return [url.toLocalFile() for url in urls]
