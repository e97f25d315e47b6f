"""An informational bar above the chat with up to two actions (not an error)."""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QPushButton, QWidget

from .themed_bar import ThemedBar


class NoticeBar(ThemedBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("notice", "noticeBar", "Notice", parent)
        self._buttons: list[QPushButton] = []

    def show_notice(self, message: str, actions: list[tuple[str, Callable[[], None]]] = ()) -> None:
        """Show ``message`` with buttons; any button also closes the bar."""
        for button in self._buttons:
            button.hide()
            self._layout.removeWidget(button)
            button.deleteLater()
        self._buttons = []
        for text, callback in actions:
            button = QPushButton(text, self)
            button.setAccessibleName(text)
            button.clicked.connect(self.hide)
            button.clicked.connect(callback)
            self._layout.addWidget(button)
            self._buttons.append(button)
        self._show_text(message)

    def button(self, text: str) -> QPushButton | None:
        return next((b for b in self._buttons if b.text() == text), None)
