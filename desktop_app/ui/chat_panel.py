"""The chat area: the chat list on the left; the conversation and message box on the right.

It wires the sidebar, the chat store and the chat controller together and owns
the message box's modes (sending, or resending an edited message). Problems go
to ``report_error``, the window's one place for them.

The chat list can be hidden (Ctrl+B, View ▸ Show chat list) to give the conversation
the whole width; Tab goes through the panel as it reads on screen: search, New chat, the
chat list, the conversation (and the links in it), the message box, Send.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (QApplication, QHBoxLayout, QMessageBox, QPushButton, QSplitter,
                               QVBoxLayout, QWidget)

from ..core.chats import ChatStoreError
from ..core.errors import ScalpelError
from .chat_controller import ChatController
from .chat_files import ChatFiles
from .sidebar import ChatSidebar
from .conversation_view import ConversationView
from .prompt_input import PromptInput
from .session_bridge import SessionBridge


class ChatPanel(QSplitter):
    chat_opened = Signal(object)   # ChatSummary of a chat the person opened
    sidebar_toggled = Signal(bool)  # the chat list shown (True) or hidden

    def __init__(self, bridge: SessionBridge, *, report_error: Callable[[str], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setObjectName("chatSplitter")
        self._store = bridge.session.store
        self._report_error = report_error
        self.editing: int | None = None  # the message being edited, if any
        self._placeholder = ""           # the message box's hint when not editing
        self.sidebar = ChatSidebar(search=self._search)
        self.view = ConversationView()
        self.prompt = PromptInput()
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("sendButton")
        self.send_button.setAccessibleName("Send or stop")
        self.send_button.setAccessibleDescription(
            "Sends the message (Enter); while an answer is written, stops it (Esc)")
        self.prompt.setAccessibleDescription(
            "Your message: Enter sends it, Shift+Enter starts a new line")
        self.view.setAccessibleDescription(
            "The messages of this chat; Tab moves through its buttons and links, "
            "Enter activates one")
        self.send_button.setDefault(True)
        self.chat = ChatController(bridge, self.view, report_error=report_error,
                                   restore_prompt=self._restore_prompt, parent=self)
        self.files = ChatFiles(self, self._store, report=report_error)
        self._lay_out()
        self._connect()
        self.refresh_chats()

    def _lay_out(self) -> None:
        input_row = QHBoxLayout()
        input_row.addWidget(self.prompt, 1)
        input_row.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)
        right = QWidget()
        layout = QVBoxLayout(right)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addLayout(input_row)
        self.addWidget(self.sidebar)
        self.addWidget(right)
        self.setStretchFactor(1, 1)
        self.setSizes([240, 760])
        self.setChildrenCollapsible(False)
        self.tab_chain = (self.sidebar.search_box, self.sidebar.new_button, self.sidebar.chats,
                          self.sidebar.results, self.view, self.prompt, self.send_button)
        chain = self.tab_chain
        for first, second in zip(chain, chain[1:]):
            QWidget.setTabOrder(first, second)

    # -- the chat list shown or hidden ------------------------------------------------
    def sidebar_shown(self) -> bool:
        return not self.sidebar.isHidden()

    def set_sidebar_shown(self, shown: bool) -> None:
        if shown == self.sidebar_shown():
            return
        focus = QApplication.focusWidget()
        if not shown and focus is not None and self.sidebar.isAncestorOf(focus):
            self.prompt.setFocus()  # focus must not stay on a hidden widget
        self.sidebar.setVisible(shown)
        self.sidebar_toggled.emit(shown)

    def toggle_sidebar(self) -> None:
        self.set_sidebar_shown(not self.sidebar_shown())

    def _connect(self) -> None:
        self.prompt.submitted.connect(self.send)
        self.send_button.clicked.connect(self._send_or_stop)
        self.chat.chats_changed.connect(self.refresh_chats)
        self.chat.edit_requested.connect(self._begin_edit)
        self.chat.delete_requested.connect(self._delete_message)
        self.sidebar.chat_selected.connect(self.open_chat)
        self.sidebar.hit_selected.connect(lambda chat, message: self.open_chat(chat, message))
        self.sidebar.new_chat_requested.connect(self.new_chat)
        self.sidebar.rename_requested.connect(self._rename_chat)
        self.sidebar.delete_requested.connect(self._delete_chat)

    # -- chats -------------------------------------------------------------------------
    def refresh_chats(self) -> None:
        self.sidebar.set_chats(self._store.list_chats(), current_id=self.chat.chat_id)

    @Slot(int)
    def open_chat(self, chat_id: int, at_message: int | None = None) -> bool:
        try:
            summary = self._store.get_chat(chat_id)
        except ChatStoreError as exc:
            self._report_error(str(exc))
            self.refresh_chats()
            return False
        if not self.chat.open_chat(chat_id, at_message=at_message):
            self.refresh_chats()  # put the selection back on the chat still open
            return False
        self._cancel_edit()
        self.refresh_chats()
        self.chat_opened.emit(summary)
        return True

    def new_chat(self) -> None:
        self._cancel_edit()
        self.chat.new_chat()
        self.refresh_chats()
        self.prompt.setFocus()

    def set_placeholder(self, text: str) -> None:
        """The message box's hint (the task's); edit mode shows its own until it ends."""
        self._placeholder = text
        if self.editing is None:
            self.prompt.setPlaceholderText(text)

    def _rename_chat(self, chat_id: int, title: str) -> None:
        try:
            self._store.rename_chat(chat_id, title)
        except ChatStoreError as exc:
            self._report_error(str(exc))
        self.refresh_chats()

    def _delete_chat(self, chat_id: int) -> None:
        if chat_id == self.chat.chat_id and self.chat.answering:
            self._report_error("Stop the answer first (Esc), then delete the chat.")
            return
        try:
            self.chat.session.delete_chat(chat_id)
        except ScalpelError as exc:
            self._report_error(str(exc))
        self.refresh_chats()

    def _search(self, text: str):
        return self._store.search(text)

    # -- the message box -----------------------------------------------------------------
    @Slot(str)
    def send(self, text: str) -> None:
        if self.chat.send(text, replacing=self.editing):
            self.prompt.take_text()
            self._cancel_edit()

    @Slot()
    def _send_or_stop(self) -> None:
        if self.chat.answering:
            self.chat.stop()
        else:
            self.send(self.prompt.toPlainText())

    def _restore_prompt(self, text: str) -> None:
        if not self.prompt.toPlainText().strip():
            self.prompt.setPlainText(text)

    @Slot(int, str)
    def _begin_edit(self, message_id: int, text: str) -> None:
        self.editing = message_id
        self.prompt.setPlainText(text)
        self.prompt.setFocus()
        self.send_button.setText("Resend")
        self.prompt.setPlaceholderText("Editing a message: Enter sends the new version (the old "
                                       "one stays a click away); Esc cancels.")

    def cancel_edit_or_stop(self) -> None:
        """Esc: leave edit mode if editing, else stop the answer."""
        if self.editing is not None and not self.chat.answering:
            self.prompt.take_text()
            self._cancel_edit()
        else:
            self.chat.stop()

    def _cancel_edit(self) -> None:
        if self.editing is not None:
            self.editing = None
            self.send_button.setText("Stop" if self.chat.answering else "Send")
            self.prompt.setPlaceholderText(self._placeholder)

    def _delete_message(self, message_id: int) -> None:
        if self._confirm("Delete message", "Delete this message and everything after it in "
                         "this branch? This cannot be undone."):
            self.chat.delete_message(message_id)

    def _confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes
