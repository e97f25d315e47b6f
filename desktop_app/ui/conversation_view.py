"""The conversation: user turns and streamed answers, Markdown once complete.

Streaming text is appended at the end of the document with a cursor (an
incremental layout of the last block), never by re-rendering the whole
conversation. When an answer completes, just that answer's range is replaced
by its Markdown rendering.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QTextBlockFormat, QTextCharFormat, QTextCursor, QPalette
from PySide6.QtWidgets import QTextBrowser, QWidget


class ConversationView(QTextBrowser):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conversation")
        self.setAccessibleName("Conversation")
        self.setOpenExternalLinks(False)
        self.setOpenLinks(False)
        self.setUndoRedoEnabled(False)
        self.document().setDocumentMargin(14)
        self._answer_start: int | None = None
        self._streamed_chars = 0
        self._placeholder = True
        self._show_placeholder()

    # -- turns ---------------------------------------------------------------
    def add_user_message(self, text: str) -> None:
        self._clear_placeholder()
        self._insert_heading("You")
        self._insert_body_plain(text)

    def begin_answer(self, speaker: str) -> None:
        self._clear_placeholder()
        self._insert_heading(speaker)
        cursor = self._end_cursor()
        cursor.insertBlock(self._body_block_format(), QTextCharFormat())
        self._answer_start = cursor.position()
        self._streamed_chars = 0
        self._scroll_to_bottom()  # a new answer is always shown; streaming then follows it

    def append_answer_text(self, text: str) -> None:
        if self._answer_start is None or not text:
            return
        follow = self._is_scrolled_to_bottom()
        self._end_cursor().insertText(text)
        self._streamed_chars += len(text)
        if follow:
            self._scroll_to_bottom()

    def finish_answer(self, markdown: str, *, note: str | None = None) -> None:
        """Replace the streamed plain text with its Markdown rendering."""
        if self._answer_start is None:
            return
        follow = self._is_scrolled_to_bottom()
        cursor = self._end_cursor()
        cursor.setPosition(self._answer_start, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        if markdown.strip():
            cursor.insertMarkdown(markdown)
        if note:
            self._insert_note(note)
        self._answer_start = None
        if follow:
            self._scroll_to_bottom()

    def add_note(self, text: str) -> None:
        self._clear_placeholder()
        self._insert_note(text)

    def clear_conversation(self) -> None:
        self.clear()
        self._answer_start = None
        self._show_placeholder()

    def streamed_text_length(self) -> int:
        return self._streamed_chars

    # -- formatting ------------------------------------------------------------
    def _end_cursor(self) -> QTextCursor:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        return cursor

    def _insert_heading(self, speaker: str) -> None:
        cursor = self._end_cursor()
        block = QTextBlockFormat()
        block.setTopMargin(14 if not self.document().isEmpty() else 0)
        fmt = QTextCharFormat()
        fmt.setFontWeight(QFont.Weight.Bold)
        fmt.setForeground(self.palette().color(QPalette.ColorRole.Link))
        if self.document().isEmpty():
            cursor.setBlockFormat(block)
            cursor.setCharFormat(fmt)
        else:
            cursor.insertBlock(block, fmt)
        cursor.insertText(speaker, fmt)

    @staticmethod
    def _body_block_format() -> QTextBlockFormat:
        block = QTextBlockFormat()
        block.setTopMargin(2)
        return block

    def _insert_body_plain(self, text: str) -> None:
        cursor = self._end_cursor()
        cursor.insertBlock(self._body_block_format(), QTextCharFormat())
        cursor.insertText(text)
        self._scroll_to_bottom()

    def _insert_note(self, text: str) -> None:
        cursor = self._end_cursor()
        fmt = QTextCharFormat()
        fmt.setFontItalic(True)
        fmt.setForeground(self.palette().color(QPalette.ColorRole.PlaceholderText))
        cursor.insertBlock(self._body_block_format(), fmt)
        cursor.insertText(text, fmt)

    def _show_placeholder(self) -> None:
        self._placeholder = True
        self.setHtml(
            "<div style='margin-top:40px' align='center'>"
            "<p style='font-size:15pt'><b>Ask anything. It stays on this computer.</b></p>"
            "<p>Answers come from the model you pick above, running locally. "
            "Nothing you type is sent anywhere.</p></div>")

    def _clear_placeholder(self) -> None:
        if self._placeholder:
            self.clear()
            self._placeholder = False

    def _is_scrolled_to_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - 4

    def _scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt naming
        if event.key() == Qt.Key.Key_Escape:
            event.ignore()  # let the window's Stop shortcut have it
            return
        super().keyPressEvent(event)
