"""The window's documents, installed by one call from the main window.

``install_documents(window, services)`` adds, without the main window knowing more:
- Chat ▸ Documents… (Ctrl+Shift+D): the Documents window (window.py);
- Chat ▸ Attach files… (Ctrl+Shift+A), a paperclip beside the message box, and files
  dropped on the conversation or the message box (attachments.py);
- Chat ▸ Choose documents for this chat…, and the bar above the message box that shows
  the documents in play (input_bar.py);
- the sources links under grounded answers (``links``: sources_view.SourceLinks),
  connected to the view when it offers a ``source_link_clicked`` signal;
- indexing on its worker and the folder watcher while the window is open, stopped
  when it closes (controller.py).
"""

from __future__ import annotations

import importlib
import logging
import sqlite3
import threading

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QBoxLayout, QFileDialog, QMenu, QToolButton

from ...core.resources import resource_path
from ..event_kinds import is_close_of

log = logging.getLogger(__name__)

# The documents core needs numpy and SQLite work; the window must open without either
# (tests/test_layers.py). They are imported, and the store opened, on a short-lived
# thread while the window shows; the rest is built on the GUI thread once that is done.
HEAVY = ("desktop_app.ui.documents.controller", "desktop_app.ui.documents.window",
         "desktop_app.ui.documents.input_bar", "desktop_app.ui.sources_view")


class DocumentsUi(QObject):
    _warmed = Signal()

    def __init__(self, window, services, *, watch_interval: float = 5.0) -> None:
        super().__init__(window)
        self._window, self._services = window, services
        self._watch_interval = watch_interval
        self.session = window.chat.session
        self.controller = self.attachments = self.bar = self.links = self.drops = None
        self.unavailable: str | None = None   # why documents cannot be used, if so
        self.documents_window = None
        self.picker = None
        self._opened = None          # (store, owned) opened by the warm-up thread
        self._closing = False
        self._add_actions()
        self._add_clip(window.panel)
        window.installEventFilter(self)
        self._warmed.connect(self._build)
        self._warm = threading.Thread(target=self._warm_up, name="scalpel-documents-start",
                                      daemon=True)
        self._warm.start()

    @property
    def ready(self) -> bool:
        return self.controller is not None

    def _warm_up(self) -> None:
        try:
            for name in HEAVY:
                importlib.import_module(name)
            from ...core.documents import documents_refusal
            from .controller import open_store
            if documents_refusal(self._services.policy) is None:
                self._opened = open_store(self._services)
        except Exception:  # built on the GUI thread anyway, where the error is shown
            log.exception("documents: preparing failed")
        self._warmed.emit()

    def _ensure_ready(self) -> bool:
        if not self.ready:
            self._warm.join()
            self._build()
        if not self.ready and self.unavailable:
            self._window.show_error(self.unavailable)
        return self.ready

    def _build(self) -> None:
        if self.ready:
            return
        if self._closing:   # closed while preparing: nothing to start
            if self._opened is not None and self._opened[1]:
                self._opened[0].close()
            self._opened = None
            return
        from ..sources_view import SourceLinks, message_sources
        from .attachments import Attachments, FileDrops
        from .controller import DocumentsController
        from .input_bar import DocumentsBar

        window, services = self._window, self._services
        try:
            controller = DocumentsController(services, window.bridge.engine,
                                             watch_interval=self._watch_interval,
                                             opened=self._opened, parent=self)
        except (OSError, sqlite3.Error) as exc:   # an unwritable data folder, say
            log.warning("documents: the index cannot be opened: %s", exc)
            self.unavailable = (f"Your documents' index cannot be opened ({exc}); check that "
                                "Scalpel's data folder can be written, then restart Scalpel.")
            for action in (self.attach_action, self.choose_action):
                action.setEnabled(False)
                action.setToolTip(self.unavailable)
            return
        self.controller = controller
        self.attachments = Attachments(self.controller, self.session,
                                       report_error=window.show_error, parent=self)
        self.links = SourceLinks(window, lambda mid: message_sources(services.chat_store, mid),
                                 report=window.show_error)
        refusal = self.controller.refusal
        for action in (self.attach_action, self.choose_action):
            action.setEnabled(refusal is None)
            if refusal:
                action.setToolTip(f"Turned off: {refusal}")
        self.bar = DocumentsBar(self.attachments, choose=lambda: self.choose_collections())
        if self._column is not None:
            self._column.insertWidget(self._row_index, self.bar)
        self.drops = FileDrops(self.attach, parent=self)
        self.drops.watch(window.panel.view)
        self.drops.watch(window.panel.prompt)
        window.bridge.chat_shown.connect(lambda _event: self.bar.refresh())
        progress = getattr(window.bridge, "answer_progress", None)
        if progress is not None:
            progress.connect(self.bar.show_answer_progress)
            for done in (window.bridge.answer_finished, window.bridge.answer_failed):
                done.connect(self.bar.clear_answer_progress)
        clicked = getattr(window.panel.view, "source_link_clicked", None)
        if clicked is not None:
            clicked.connect(self.links.handle)
        window.listing.changed.connect(self._models_changed)
        chats = services.chat_store
        window.bridge.chats_changed.connect(lambda: self.attachments.forget_orphans(chats))
        self.controller.start()
        self.attachments.forget_orphans(chats)

    # -- menus, the paperclip -------------------------------------------------------------
    def _add_actions(self) -> None:
        window = self._window
        self.documents_action = QAction("&Documents…", window)
        self.documents_action.setShortcut(QKeySequence("Ctrl+Shift+D"))
        self.documents_action.setToolTip("Your own documents: collections of folders that "
                                         "chats can answer from (Ctrl+Shift+D)")
        self.documents_action.triggered.connect(lambda: self.open_documents())
        self.attach_action = QAction("&Attach files…", window)
        self.attach_action.setShortcut(QKeySequence("Ctrl+Shift+A"))
        self.attach_action.setToolTip("Attach files to this chat (Ctrl+Shift+A)")
        self.attach_action.triggered.connect(lambda: self.attach())
        self.choose_action = QAction("C&hoose documents for this chat…", window)
        self.choose_action.triggered.connect(lambda: self.choose_collections())
        actions = (self.documents_action, self.attach_action, self.choose_action)
        menu = _menu(window, "&Chat")
        if menu is not None:
            menu.addSeparator()
            for action in actions:
                menu.addAction(action)
        else:
            for action in actions:
                window.addAction(action)

    def _add_clip(self, panel) -> None:
        self.clip = QToolButton()
        self.clip.setObjectName("attachButton")
        self.clip.setDefaultAction(self.attach_action)
        self.clip.setIcon(QIcon(str(resource_path("icons", "attach.svg"))))
        self.clip.setAccessibleName("Attach files")
        self._column, self._row_index, row = _input_row(panel.prompt)
        if row is not None:
            row.insertWidget(row.indexOf(panel.prompt) + 1, self.clip)
        else:  # a layout this installer does not know: the menu and shortcut still work
            log.warning("documents: the message box's row was not found")

    # -- what the person does ------------------------------------------------------------
    def open_documents(self):
        if not self._ensure_ready():
            return None
        if self.documents_window is None:
            from .window import DocumentsWindow
            self.documents_window = DocumentsWindow(
                self.controller, download=self._window._download_entry, parent=self._window)
        self.documents_window.show()
        self.documents_window.raise_()
        self.documents_window.activateWindow()
        return self.documents_window

    def attach(self, paths: list[str] | None = None):
        """Attach ``paths`` (None: ask for them) to the open chat; the screening result."""
        if not self._ensure_ready():
            return None
        if paths is None:
            paths, _ = QFileDialog.getOpenFileNames(
                self._window, "Attach files to this chat", "",
                "Documents (*.txt *.text *.md *.markdown *.rst *.html *.htm *.pdf *.docx);;"
                "All files (*)")
            if not paths:
                return None
        return self.attachments.attach(paths)

    def choose_collections(self, chosen: list[str] | None = None):
        """Open the picker (or, with ``chosen``, set the chat's collections to those plus
        its attachments still ticked)."""
        if not self._ensure_ready():
            return None
        from .attachments import is_attachments, session_documents
        from .input_bar import CollectionPicker, offered_collections

        in_play = session_documents(self.session)
        if chosen is None:
            names = [c.name for c in self.controller.listing.collections]
            self.picker = CollectionPicker(offered_collections(names, in_play), in_play,
                                           parent=self._window)
            self.picker.accepted.connect(lambda: self.choose_collections(self.picker.chosen()))
            self.picker.open()
            return self.picker
        kept = [n for n in in_play if is_attachments(n) and n in chosen]
        named = [n for n in chosen if not is_attachments(n)]
        self.attachments.use([*named, *kept])
        return None

    def _models_changed(self, *_args) -> None:
        if self.documents_window is not None and self.controller.enabled:
            self.documents_window.update_embedding_note()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt naming
        if is_close_of(watched, self._window, event):
            self._closing = True
            if self.controller is not None:
                self.controller.shutdown()   # before the window's engine goes
        return False


def _menu(window, title: str) -> QMenu | None:
    for action in window.menuBar().actions():
        if action.text() == title:
            return action.menu()
    return None


def _input_row(prompt):
    """(the column holding the message box's row, the row's index in it, the row)."""
    container = prompt.parentWidget()
    column = container.layout() if container is not None else None
    if not isinstance(column, QBoxLayout):
        return None, -1, None
    for index in range(column.count()):
        row = column.itemAt(index).layout()
        if isinstance(row, QBoxLayout) and row.indexOf(prompt) >= 0:
            return column, index, row
    return None, -1, None


def install_documents(window, services) -> DocumentsUi:
    return DocumentsUi(window, services)
