"""The chat list: newest first, grouped by date, with full-text search across every chat.

Chats sit under headings as in the other chat apps: Today, Yesterday, Previous 7 days,
then one per month ("October", "March 2025" for an earlier year). A heading is a list row
that cannot be selected, so arrow keys and clicks pass over it and it never opens a chat.

While the search box has text the list shows the matching messages instead
(chat title, then the snippet with only the matched words in bold, everything
else shown as the text it is); choosing one
opens that chat at that message. F2 or a double-click renames a chat in
place; Del or the context menu deletes it after a confirmation.
"""

from __future__ import annotations

import html
import time
from typing import Callable

from PySide6.QtCore import QEvent, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (QLabel, QLineEdit, QListWidget, QListWidgetItem, QMenu,
                               QMessageBox, QPushButton, QVBoxLayout, QWidget)

from .plain_text import ask, plain_tip

CHAT_ROLE = Qt.ItemDataRole.UserRole
MESSAGE_ROLE = Qt.ItemDataRole.UserRole + 1
SEARCH_DELAY_MS = 200


def when(timestamp: float, now: float | None = None) -> str:
    """A short, friendly date: "14:05", "Yesterday", "Tue", "3 Mar", "3 Mar 2024"."""
    now = time.time() if now is None else now
    then, today = time.localtime(timestamp), time.localtime(now)
    days = (time.mktime(today[:3] + (0, 0, 0, 0, 0, -1)) -
            time.mktime(then[:3] + (0, 0, 0, 0, 0, -1))) / 86400
    if days < 1:
        return time.strftime("%H:%M", then)
    if days < 2:
        return "Yesterday"
    if days < 7:
        return time.strftime("%a", then)
    if then.tm_year == today.tm_year:
        return f"{then.tm_mday} {time.strftime('%b', then)}"
    return f"{then.tm_mday} {time.strftime('%b %Y', then)}"


def date_group(timestamp: float, now: float | None = None) -> str:
    """The heading a chat last changed at ``timestamp`` is listed under."""
    now = time.time() if now is None else now
    then, today = time.localtime(timestamp), time.localtime(now)
    days = round((time.mktime(today[:3] + (0, 0, 0, 0, 0, -1)) -
                  time.mktime(then[:3] + (0, 0, 0, 0, 0, -1))) / 86400)
    if days <= 0:
        return "Today"
    if days == 1:
        return "Yesterday"
    if days <= 7:
        return "Previous 7 days"
    if then.tm_year == today.tm_year:
        return time.strftime("%B", then)
    return time.strftime("%B %Y", then)


class ChatSidebar(QWidget):
    chat_selected = Signal(int)
    hit_selected = Signal(int, int)        # chat id, message id
    new_chat_requested = Signal()
    rename_requested = Signal(int, str)
    delete_requested = Signal(int)

    def __init__(self, *, search: Callable[[str], list], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(200)
        self._search = search
        self._filling = False
        self.search_box = QLineEdit()
        self.search_box.setAccessibleName("Search chats")
        self.search_box.setPlaceholderText("Search all chats (Ctrl+F)")
        self.search_box.setClearButtonEnabled(True)
        self.new_button = QPushButton("New chat")
        self.new_button.setAccessibleName("New chat")
        self.new_button.setAccessibleDescription("Starts an empty chat (Ctrl+N)")
        self.search_box.setAccessibleDescription(
            "Finds messages in every chat as you type; Esc clears")
        self.chats = QListWidget()
        self.chats.setAccessibleName("Chats")
        self.chats.setAccessibleDescription("Your chats, newest first, under date headings; "
                                            "F2 renames, Delete deletes")
        self.chats.setWordWrap(True)
        self.chats.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.results = QListWidget()
        self.results.setAccessibleName("Search results")
        self.results.setAccessibleDescription("Messages that match the search; Enter opens "
                                              "the chat at that message")
        self.results.setWordWrap(True)
        self.results.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.search_box, self.new_button):
            layout.addWidget(widget)
        layout.addWidget(self.chats, 1)
        layout.addWidget(self.results, 1)
        self._timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._timer.timeout.connect(self.run_search)
        self._connect()

    def _connect(self) -> None:
        self.search_box.textChanged.connect(lambda _t: self._timer.start())
        self.search_box.returnPressed.connect(self.run_search)
        self.new_button.clicked.connect(self.new_chat_requested)
        self.chats.currentItemChanged.connect(self._on_chat_item)
        self.chats.itemChanged.connect(self._on_renamed)
        self.chats.customContextMenuRequested.connect(self._context_menu)
        self.results.itemActivated.connect(self._on_hit)
        self.results.itemClicked.connect(self._on_hit)
        for keys, widget, slot in (
                (QKeySequence(Qt.Key.Key_F2), self.chats, self.rename_current),
                (QKeySequence(QKeySequence.StandardKey.Delete), self.chats, self.delete_current),
                (QKeySequence(Qt.Key.Key_Escape), self.search_box, self.search_box.clear)):
            # Only while that widget has focus: Esc elsewhere stops an answer, Del edits text.
            QShortcut(keys, widget, activated=slot, context=Qt.ShortcutContext.WidgetShortcut)

    # -- chats ------------------------------------------------------------------------
    def set_chats(self, chats: list, *, current_id: int | None,
                  now: float | None = None) -> None:
        self._filling = True
        try:
            self.chats.clear()
            group = None
            for chat in chats:
                heading = date_group(chat.updated_at, now)
                if heading != group:
                    group = heading
                    self.chats.addItem(self._heading(heading))
                item = QListWidgetItem(chat.title)
                item.setData(CHAT_ROLE, chat.id)
                item.setToolTip(plain_tip(
                    f"{chat.title}\n{when(chat.updated_at)} · "
                    f"{chat.message_count} message{'s' * (chat.message_count != 1)}"))
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                self.chats.addItem(item)
                if chat.id == current_id:
                    self.chats.setCurrentItem(item)
            if current_id is None:
                self.chats.setCurrentRow(-1)
        finally:
            self._filling = False

    def _heading(self, text: str) -> QListWidgetItem:
        item = QListWidgetItem(text)
        item.setFlags(Qt.ItemFlag.NoItemFlags)  # not selectable, not editable, skipped
        font = item.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 0.9)
        item.setFont(font)
        # the palette's muted text, not the disabled colour (too faint on dark themes)
        item.setForeground(self.palette().color(QPalette.ColorRole.PlaceholderText))
        return item

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # the theme changed: recolour headings
            colour = self.palette().color(QPalette.ColorRole.PlaceholderText)
            for row in range(self.chats.count()):
                if self.chats.item(row).data(CHAT_ROLE) is None:
                    self.chats.item(row).setForeground(colour)

    def headings(self) -> list[str]:
        return [self.chats.item(row).text() for row in range(self.chats.count())
                if self.chats.item(row).data(CHAT_ROLE) is None]

    def chat_titles(self) -> list[str]:
        return [self.chats.item(row).text() for row in range(self.chats.count())
                if self.chats.item(row).data(CHAT_ROLE) is not None]

    def select_chat(self, chat_id: int) -> None:
        """Make chat ``chat_id`` the current row (it opens, as a click would)."""
        for row in range(self.chats.count()):
            if self.chats.item(row).data(CHAT_ROLE) == chat_id:
                self.chats.setCurrentRow(row)
                return

    def current_chat_id(self) -> int | None:
        item = self.chats.currentItem()
        return item.data(CHAT_ROLE) if item else None

    @Slot(QListWidgetItem, QListWidgetItem)
    def _on_chat_item(self, item: QListWidgetItem | None, _previous) -> None:
        if item is not None and not self._filling and item.data(CHAT_ROLE) is not None:
            self.chat_selected.emit(item.data(CHAT_ROLE))

    def rename_current(self) -> None:
        item = self.chats.currentItem()
        if item is not None and item.data(CHAT_ROLE) is not None:
            self.chats.editItem(item)

    @Slot(QListWidgetItem)
    def _on_renamed(self, item: QListWidgetItem) -> None:
        if not self._filling and item.data(CHAT_ROLE) is not None:
            title = item.text().strip()
            if title:
                self.rename_requested.emit(item.data(CHAT_ROLE), title)

    def delete_current(self) -> None:
        item = self.chats.currentItem()
        if item is not None and item.data(CHAT_ROLE) is not None \
                and self._confirm_delete(item.text()):
            self.delete_requested.emit(item.data(CHAT_ROLE))

    def _confirm_delete(self, title: str) -> bool:
        buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
        answer = ask(self, "Delete chat", f"Delete the chat “{title}”? This cannot be undone.",
                     buttons, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _context_menu(self, position) -> None:
        item = self.chats.itemAt(position)
        if item is None or item.data(CHAT_ROLE) is None:
            return
        menu = QMenu(self)
        menu.addAction("Rename…", self.rename_current)
        menu.addAction("Delete…", self.delete_current)
        menu.exec(self.chats.viewport().mapToGlobal(position))

    # -- search -------------------------------------------------------------------------
    def focus_search(self) -> None:
        self.search_box.setFocus()
        self.search_box.selectAll()

    @Slot()
    def run_search(self) -> None:
        self._timer.stop()
        text = self.search_box.text().strip()
        searching = bool(text)
        self.chats.setVisible(not searching)
        self.results.setVisible(searching)
        self.results.clear()
        if not searching:
            return
        hits = self._search(text)
        for hit in hits:
            item = QListWidgetItem()
            item.setData(CHAT_ROLE, hit.chat_id)
            item.setData(MESSAGE_ROLE, hit.message_id)
            item.setToolTip(plain_tip(hit.chat_title))
            self.results.addItem(item)
            label = _rich_label(f"<b>{html.escape(hit.chat_title)}</b><br>{snippet_html(hit)}")
            item.setSizeHint(label.sizeHint())
            self.results.setItemWidget(item, label)
        if not hits:
            empty = QListWidgetItem(f"No messages match “{text}”")
            empty.setFlags(Qt.ItemFlag.NoItemFlags)
            self.results.addItem(empty)

    @Slot(QListWidgetItem)
    def _on_hit(self, item: QListWidgetItem) -> None:
        chat_id = item.data(CHAT_ROLE)
        if chat_id is not None:
            self.hit_selected.emit(chat_id, item.data(MESSAGE_ROLE))


def snippet_html(hit) -> str:
    """A search hit's snippet as rich text: every piece escaped, only the matches bold."""
    return "".join(f"<b>{html.escape(text)}</b>" if matched else html.escape(text)
                   for text, matched in hit.parts())


def _rich_label(markup: str) -> QLabel:
    label = QLabel(markup)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setContentsMargins(4, 3, 4, 3)
    label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
    return label
