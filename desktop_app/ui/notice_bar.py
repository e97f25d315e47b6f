"""An informational bar above the chat with up to two actions (not an error)."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget


class NoticeBar(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBar")
        self.setAccessibleName("Notice")
        self.setStyleSheet(
            "#noticeBar { background: #e8f1fd; border: 1px solid #b6d0f5; border-radius: 6px; }"
            "#noticeBar QLabel { color: #17365d; }")
        self._label = QLabel(self)
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(10, 6, 6, 6)
        self._layout.addWidget(self._label, 1)
        self._buttons: list[QPushButton] = []
        self.hide()

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
        self._label.setText(message)
        self.show()

    def message(self) -> str:
        return "" if self.isHidden() else self._label.text()

    def button(self, text: str) -> QPushButton | None:
        return next((b for b in self._buttons if b.text() == text), None)
