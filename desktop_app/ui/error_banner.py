"""The one place the window shows problems: a dismissible banner above the chat."""

from __future__ import annotations

from PySide6.QtWidgets import QToolButton, QWidget

from .themed_bar import ThemedBar


class ErrorBanner(ThemedBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("error", "errorBanner", "Problem", parent)
        close = QToolButton(self)
        close.setText("✕")
        close.setAutoRaise(True)
        close.setAccessibleName("Dismiss problem")
        close.clicked.connect(self.hide)
        self._layout.addWidget(close)

    def show_message(self, message: str) -> None:
        self._show_text(message)
